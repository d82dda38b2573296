"""BLEVCORR for post-SM4 WFC: bias shift, cross-talk, destripe (HSTCAL ``acsccd/blev_funcs_postsm4.c``;
calib-acs-wfc.md §3.6.2).

All three work on "amp arrays" (float64, amplifier at ``[0, 0]``, columns 0–23 its prescan,
rows 2048–2067 its virtual overscan) cut from the float32 chip images, and store the result back
as float32. Sums are taken in the C loop order (sequential float64) so that means agree to the
last bit. No DQ flags are read or set.
"""

from __future__ import annotations

import math

import numpy as np

from ..common.threads import parallel_map

F32 = np.float32
NBIAS_COLS = 24
NOSCN_ROWS = 20
SERIAL_FREQ = 1000.0 / 22.0
NGAP = int(SERIAL_FREQ * 3.212 + 0.5)  # 146
TIME_CONST = {"A": 37.290251, "B": 36.180001, "C": 37.867770, "D": 42.461249}
DSI_SENS = {"A": 2.9188919e-3, "B": 10.805754e-3, "C": 12.432145e-3, "D": 3.8596253e-3}
DC_RATIO = 0.3
CROSS_SCALE = 9.1e-5
MAGIC = (slice(2057, 2067), slice(13, 23))


def _seq(x: np.ndarray) -> float:
    """Sequential float64 sum of `x` in its (C) order."""
    x = np.asarray(x, np.float64).ravel()
    return float(np.cumsum(x)[-1]) if x.size else 0.0


def amp_view(chip: np.ndarray, amp: str) -> np.ndarray:
    """View of a chip image (or half of it) with `amp` at ``[0, 0]`` (``make_amp_array``).

    A/B (chip 1) are read from the top, B/D from the right; for a single-amp subarray pass the
    whole image. The view's columns cover ``chip.shape[1] // 2`` for full frames — the caller
    slices. Writing to the returned view writes the chip.
    """
    v = chip
    if amp in "AB":
        v = v[::-1]
    if amp in "BD":
        v = v[:, ::-1]
    return v


def magic_square_mean(a: np.ndarray) -> float:
    """Mean of ``a[2057:2067, 13:23]`` (row-major sequential sum / 100)."""
    return _seq(a[MAGIC]) / 100.0


def bias_shift(a: np.ndarray, amp: str) -> tuple[np.ndarray, float]:
    """Remove the signal-dependent bias shift of one amp array (``bias_shift_corr``).

    Returns the corrected float64 amp array (magic-square level removed) and that level.
    Each row is extended by 146 samples equal to the magic-square mean, the DC level is
    followed by a first-order IIR filter over the whole flattened sequence.
    """
    rows, cols = a.shape
    m1 = magic_square_mean(a)
    g = np.empty((rows, cols + NGAP), np.float64)
    g[:, :cols] = a
    g[:, cols:] = m1
    g = g.ravel()
    f = 1.0 - math.exp(-1.0 / (TIME_CONST[amp] * SERIAL_FREQ))
    dc0 = m1 * DC_RATIO
    x = g * f
    x *= DC_RATIO  # (g·f)·0.3, left to right as in C
    dc = np.empty(g.size + 1, np.float64)
    dc[0] = dc0
    from scipy.signal import lfilter  # here: importing scipy.signal costs ~0.8 s at every start

    dc[1:] = lfilter([1.0], [1.0, -(1.0 - f)], x, zi=[(1.0 - f) * dc0])[0]
    # g' = (g − dsi·dc[k+1]) − (10/22)·(dc[k+1] − dc[k]), in place
    np.multiply(dc[1:], DSI_SENS[amp], out=x)
    g -= x
    np.subtract(dc[1:], dc[:-1], out=x)
    x *= 10.0 / 22.0
    g -= x
    del x, dc
    out = g.reshape(rows, cols + NGAP)[:, :cols].copy()
    m2 = magic_square_mean(out)
    out -= m2
    return out, m2


def cross_talk(sci: np.ndarray) -> np.ndarray:
    """In-place-order cross-talk correction of a whole chip row (``cross_talk_corr``).

    ``SCI[:, j] += f32(SCI[:, nx−1−j]·9.1e-5)`` for j = 0..nx−1 in order, so the right half sees
    the already-corrected left half.

    >>> cross_talk(np.array([[1e4, 0., 0., 2e4]], F32)).tolist()
    [[10001.8203125, 0.0, 0.0, 20000.91015625]]
    """
    nx = sci.shape[1]
    half = nx // 2
    out = sci.copy()
    mirror = out[:, ::-1]
    left = out[:, :half]
    left += (mirror[:, :half].astype(np.float64) * CROSS_SCALE).astype(F32)
    if nx % 2:  # the middle column sees itself (uncorrected)
        mid = out[:, half : half + 1]
        mid += (mid.astype(np.float64) * CROSS_SCALE).astype(F32)
        half += 1
    right = out[:, half:]
    right += (out[:, ::-1][:, half:].astype(np.float64) * CROSS_SCALE).astype(F32)
    return out


def _clipped_mean(x: np.ndarray, sig: float) -> float:
    """``calc_mean_std``: mean, then 4 passes of |x − mean| ≤ sig·std with std about the previous mean."""
    n = x.size
    mean = _seq(x) / n
    std = math.sqrt(_seq((x - mean) ** 2) / (n - 1))
    for _ in range(4):
        keep = np.abs(x - mean) <= sig * std
        k = x[keep]
        nused = k.size
        s_mean = _seq(k)
        s_std = _seq((k - mean) ** 2)
        mean = s_mean / nused if nused else math.nan
        std = math.sqrt(s_std / (nused - 1)) if nused > 1 else math.nan
    return mean


def subtract_bias_columns(a: np.ndarray) -> np.ndarray:
    """Per prescan column, subtract its 5σ-clipped mean after removing each row's mean of columns
    12–23 (``bias_col_mean_std`` + ``sub_bias_col_means``); modifies and returns `a`."""
    rowmean = np.cumsum(a[:, 12:NBIAS_COLS], axis=1)[:, -1] / 12.0
    t = a[:, :NBIAS_COLS] - rowmean[:, None]
    use = np.all(a[:, 24:30] < 50000, axis=1)
    tu = t[use]
    means = np.array([_clipped_mean(tu[:, j], 5.0) for j in range(NBIAS_COLS)])
    a[:, :NBIAS_COLS] -= means
    return a


def find_good_rows(a: np.ndarray) -> np.ndarray:
    """Rows whose overscan-referenced mean is within 100 e⁻ (truncated) of the amp mean and whose
    first six science columns are ≤ 70000 (``find_good_rows``); row 0 is never good."""
    rows, cols = a.shape
    nsci = rows - NOSCN_ROWS
    bias_mean = _seq(a[:nsci, :NBIAS_COLS]) / (nsci * NBIAS_COLS)
    amp_mean = _seq(a[:nsci, NBIAS_COLS:] - bias_mean) / ((cols - NBIAS_COLS) * nsci)
    ref = row_refs(a)
    rmean = np.cumsum(a[1:, NBIAS_COLS:] - ref[1:, None], axis=1)[:, -1] / (cols - NBIAS_COLS)
    return good_rows_from(a, rmean, amp_mean)


def row_refs(a: np.ndarray) -> np.ndarray:
    """Per row i ≥ 1, the mean of the prescan of rows i and i−1 (``row_ref``; entry 0 unused, 0)."""
    pre = a[:, :NBIAS_COLS]
    ref = np.zeros(a.shape[0])
    ref[1:] = np.cumsum(pre[1:] + pre[:-1], axis=1)[:, -1] / (2 * NBIAS_COLS)
    return ref


def good_rows_from(a: np.ndarray, rmean: np.ndarray, amp_mean: float) -> np.ndarray:
    """The good-row test of :func:`find_good_rows` from the row means of rows 1.. and the amp mean;
    `a` needs only its first 30 columns."""
    diff = rmean - amp_mean
    good = np.zeros(a.shape[0], bool)
    good[1:] = ~(np.abs(np.trunc(diff)) > 100) & np.all(a[1:, 24:30] <= 70000, axis=1)
    return good


def bias_level(a: np.ndarray, good_rows: np.ndarray) -> float:
    """Mean of the prescan pixels of good rows after iterative 6·(mean absolute deviation) clipping
    (``calc_bias_mean_std``; at least 6 passes, at most 11). Sums run column by column."""
    x = a[:, :NBIAS_COLS].T  # C loops: columns outer, rows inner
    good = np.broadcast_to(good_rows[None, :], x.shape).copy()
    n1 = int(good.sum())
    nits = 0
    while True:
        n2 = n1
        nits += 1
        v = x[good]
        n1 = v.size
        mean = _seq(v) / n1 if n1 else 0.0
        adev = _seq(np.abs(v - mean)) / n1 if n1 else 0.0
        drop = good & (np.abs(x - mean) > 6.0 * adev)
        good &= ~drop
        n1 = int(good.sum())
        if not (nits <= 5 or (nits <= 10 and n1 < n2)):
            break
    v = x[good]
    return _seq(v) / n1 if n1 else 0.0


def remove_stripes(amps: dict[str, np.ndarray], good: dict[str, np.ndarray]) -> tuple[int, int]:
    """Subtract the interpolated mean prescan level of each row (``remove_stripes``), all four amps.

    A row counts for an amp if it is good and its prescan std is < 15; a row needs ≥ 2 such amps,
    else its level is 0. Returns (rows fixed, rows skipped).
    """
    order = "ABCD"
    rows, cols = amps["A"].shape
    rowmeans, fixed = stripe_means(amps, good)
    i = np.arange(rows, dtype=np.float64)[:, None]
    j = np.arange(cols, dtype=np.float64)[None, :]
    p = i + (j - 11.5) / float(cols + 146)
    lo = np.clip(np.floor(p).astype(np.int64), 0, rows - 2)
    d = p - lo
    interp = rowmeans[lo] + d * (rowmeans[lo + 1] - rowmeans[lo])
    parallel_map(lambda k: np.subtract(amps[k], interp, out=amps[k]), order)
    return fixed, rows - fixed


def stripe_means(amps: dict[str, np.ndarray], good: dict[str, np.ndarray]) -> tuple[np.ndarray, int]:
    """Row levels of :func:`remove_stripes` (0 where fewer than 2 amps count) and the rows fixed;
    updates `good` with the std test. Reads only the prescan columns of the amp arrays."""
    order = "ABCD"
    rows = amps["A"].shape[0]
    means, oks = [], []
    for k in order:
        pre = amps[k][:, :NBIAS_COLS]
        m = np.cumsum(pre, axis=1)[:, -1] / NBIAS_COLS
        s = np.sqrt(np.cumsum((pre - m[:, None]) ** 2, axis=1)[:, -1] / (NBIAS_COLS - 1))
        good[k] = good[k] & ~(s >= 15)
        means.append(m)
        oks.append(good[k])
    total = np.zeros(rows)
    num = np.zeros(rows, int)
    for m, ok in zip(means, oks, strict=True):
        total = np.where(ok, total + m, total)
        num += ok
    rowmeans = np.where(num >= 2, total / np.maximum(num, 1), 0.0)
    return rowmeans, int((num >= 2).sum())


def destripe(amps: dict[str, np.ndarray]) -> tuple[dict[str, float], tuple[int, int]]:
    """``doDestripe`` on the four float64 amp arrays (modified in place).

    Returns the bias level subtracted per amp and (rows fixed, rows skipped).
    """
    order = "ABCD"

    def columns_and_rows(k):  # each amp on its own: the amps run in threads
        subtract_bias_columns(amps[k])
        return find_good_rows(amps[k])

    good = dict(zip(order, parallel_map(columns_and_rows, order), strict=True))

    def level(k):
        lev = bias_level(amps[k], good[k])
        amps[k] -= lev
        return lev

    levels = dict(zip(order, parallel_map(level, order), strict=True))
    counts = remove_stripes(amps, good)
    return levels, counts


# --- C kernels (caldp.engines.acs._kernels): the same arithmetic straight on the float32 chips ---

MAGIC_BOUNDS = (MAGIC[0].start, MAGIC[0].stop, MAGIC[1].start, MAGIC[1].stop)


def _flips(amp: str) -> tuple[bool, bool]:
    """(rows reversed, columns reversed) of :func:`amp_view`."""
    return amp in "AB", amp in "BD"


def bias_shift_c(kern, chip: np.ndarray, amp: str, ncols: int) -> float:
    """:func:`bias_shift` of the amp `amp` of the float32 `chip` (its first `ncols` amp columns),
    written back in place by the C kernel without a float64 copy; returns the level m2."""
    ny, nx = chip.shape
    return kern.bias_shift(chip, ny, nx, ncols, *_flips(amp), _shift_pars(amp), NGAP, MAGIC_BOUNDS)


def _shift_pars(amp: str) -> tuple:
    f = 1.0 - math.exp(-1.0 / (TIME_CONST[amp] * SERIAL_FREQ))
    return (f, 1.0 - f, DC_RATIO, DSI_SENS[amp], 10.0 / 22.0)


def bias_shift_pair_c(kern, chip_a: np.ndarray, amp_a: str, chip_b: np.ndarray, amp_b: str, ncols: int):
    """:func:`bias_shift_c` of two amps at once (same chip shape; the two recursions share a core,
    each is computed exactly as alone); returns their levels (m2_a, m2_b)."""
    if chip_a.shape != chip_b.shape:
        raise ValueError("bias_shift_pair_c: the two chips differ in shape")
    ny, nx = chip_a.shape
    pa, pb = _shift_pars(amp_a), _shift_pars(amp_b)
    return kern.bias_shift_pair(chip_a, chip_b, ny, nx, ncols, _flips(amp_a), _flips(amp_b), pa, pb, NGAP, MAGIC_BOUNDS)


def cross_talk_c(kern, chip: np.ndarray) -> np.ndarray:
    """:func:`cross_talk` in place by the C kernel; returns `chip`."""
    ny, nx = chip.shape
    kern.cross_talk(chip, ny, nx, CROSS_SCALE)
    return chip


def destripe_c(kern, chips: dict[str, np.ndarray], ncols: int) -> tuple[dict[str, float], tuple[int, int]]:
    """:func:`destripe` on the float32 chips (`chips[amp]` is the chip holding `amp`), in place.

    Only the first 30 columns of each amp are copied to float64 (the prescan statistics run on them,
    in C, with the arithmetic of the NumPy functions above); the row sums over the science columns
    and the final subtraction, f32((x − level) − interp), run in C on the chips directly.
    """
    order = "ABCD"

    def stats(k):
        chip = chips[k]
        ny, nx = chip.shape
        fr, fc = _flips(k)
        a30 = amp_view(chip, k)[:, :30].astype(np.float64)
        kern.bias_columns(a30, ny, 30)  # = subtract_bias_columns(a30)
        nsci = ny - NOSCN_ROWS
        bias_mean = _seq(a30[:nsci, :NBIAS_COLS]) / (nsci * NBIAS_COLS)
        rsum = np.zeros(ny)
        amp_sum = kern.stripe_rows(chip, ny, nx, ncols, fr, fc, row_refs(a30), rsum, nsci, bias_mean)
        nsc = ncols - NBIAS_COLS
        good = good_rows_from(a30, rsum[1:] / nsc, amp_sum / (nsc * nsci))
        lev = kern.bias_level(a30, ny, 30, good.view(np.uint8))  # = bias_level(a30, good)
        a30 -= lev
        return a30, good, lev

    res = dict(zip(order, parallel_map(stats, order), strict=True))
    pre = {k: r[0] for k, r in res.items()}
    good = {k: r[1] for k, r in res.items()}
    levels = {k: r[2] for k, r in res.items()}
    rowmeans, fixed = stripe_means(pre, good)
    rows = pre["A"].shape[0]

    def apply(k):
        chip = chips[k]
        ny, nx = chip.shape
        p24 = np.ascontiguousarray(pre[k][:, :NBIAS_COLS])
        kern.stripe_apply(chip, ny, nx, ncols, *_flips(k), p24, rowmeans, levels[k], float(ncols + 146))

    parallel_map(apply, order)
    return levels, (fixed, rows - fixed)
