"""BLEVCORR for IR: subtract the reference-pixel level (HSTCAL ``wf3ir/blevcorr.c``, ``resistmean.c``).

The reference pixels are gathered quadrant by quadrant (calib-wfc3.md §I4): rows ``ny/2 …
ny−TRIMY2−1`` of BIASSECTA, rows ``TRIMY1 … ny/2−1`` of BIASSECTA, the same rows of BIASSECTB,
then rows ``ny/2 …`` of BIASSECTB, each row left to right. Their two-round resistant mean
(σ = 3) is subtracted from the **whole** image (reference pixels too) and written as MEANBLEV.
"""

from __future__ import annotations

import numpy as np

from .common import F32, F64, seq_sum


def _median(x: np.ndarray) -> np.float32:
    """``findRMedian``: sorted middle value, or ``f32(0.5·f32(a+b))`` for an even count."""
    n = x.size
    if n == 0:
        return F32(0)
    if n == 1:
        return F32(x[0])
    s = np.sort(x)
    if n % 2 == 0:
        return F32(0.5 * F64(F32(s[n // 2 - 1] + s[n // 2])))
    return F32(s[n // 2])


def _mean(x: np.ndarray) -> np.float32:
    return F32(seq_sum(x) / x.size) if x.size else F32(0)


def _sigma(x: np.ndarray, mean: np.float32) -> np.float32:
    """``findSigma``: float32 squares summed in float64; sqrt of the float-rounded variance."""
    n = x.size
    if n <= 1:
        return F32(0)
    sq = (x * x).astype(F32)
    var = (n / (n - 1.0)) * (seq_sum(sq) / n - F64(mean) * F64(mean))
    return F32(np.sqrt(F64(F32(var)))) if var >= 0 else F32(0)


def resistant_mean(values: np.ndarray, sigrej: float = 3.0) -> tuple[np.float32, np.float32]:
    """Two-round resistant mean and sigma of float32 `values` (``resistmean``).

    Round 1 keeps ``|x − median| ≤ σr·MAD/0.6745``; round 2 keeps ``|x − median₂| ≤ σr·s`` with
    ``s`` the truncation-corrected sigma of the round-1 survivors. Returns ``(mean, sigma)``.

    >>> m, s = resistant_mean(np.array([10., 11., 9., 10., 10., 500.], np.float32))
    >>> float(m)
    10.0
    """
    x = np.asarray(values, dtype=F32).ravel()
    if x.size == 0:
        raise ValueError("no reference pixels")
    sr = F32(sigrej)
    med = _median(x)
    absdev = np.abs((x - med).astype(F32))
    mad = F32(F64(_median(absdev)) / 0.6745)
    if mad < 1.0e-24:
        mad = F32(F64(_mean(absdev)) / 0.8)
    cut = F32(sr * mad)
    x2 = x[absdev <= cut]
    mean = _mean(x2)
    sig = _sigma(x2, mean)
    corr = -0.15405 + 0.90723 * F64(sr) - 0.23584 * F64(sr) * F64(sr) + 0.020142 * F64(sr) * F64(sr) * F64(sr)
    if sr <= 4.5:
        sig = F32(F64(sig) / corr)
    cut = F32(sr * sig)
    med2 = _median(x2)
    x3 = x2[np.abs((x2 - med2).astype(F32)) <= cut]
    mean = _mean(x3)
    sig = _sigma(x3, mean)
    if sr <= 4.5:
        sig = F32(F64(sig) / corr)
    return mean, sig


def reference_pixels(sci: np.ndarray, biassecta, biassectb, trimy) -> np.ndarray:
    """The reference pixels of one read in HSTCAL's gathering order (``blevcorr``).

    `biassecta`/`biassectb`: 0-based inclusive column ranges; `trimy`: (TRIMY1, TRIMY2).
    """
    ny = sci.shape[0]
    mid, top = ny // 2, ny - trimy[1]
    a = slice(biassecta[0], biassecta[1] + 1)
    b = slice(biassectb[0], biassectb[1] + 1)
    parts = (sci[mid:top, a], sci[trimy[0] : mid, a], sci[trimy[0] : mid, b], sci[mid:top, b])
    return np.concatenate([p.ravel() for p in parts])


def level(sci: np.ndarray, biassecta, biassectb, trimy) -> np.float32:
    """The reference level m of one read: resistant mean (σ = 3) of its reference pixels."""
    return resistant_mean(reference_pixels(sci, biassecta, biassectb, trimy), 3.0)[0]


def blevcorr(sci: np.ndarray, biassecta, biassectb, trimy) -> tuple[np.ndarray, np.float32]:
    """BLEVCORR on one read: ``(f32(sci − m), m)`` with m the resistant mean of the reference pixels."""
    m = level(sci, biassecta, biassectb, trimy)
    return (sci - m).astype(F32), m
