"""CR-rejection core shared by the CCD engines (ACSREJ, WF3REJ): HSTCAL ``acsrej/acsrej_sky.c``,
``wf3rej/rej_sky.c``, ``cr_mode.c``, and the neighbourhood and row-strip machinery of ``rej_loop.c``.

* :func:`sky_mode` — histogram mode of each image (float32 sequential sum for the range,
  truncation-toward-zero binning, parabolic peak; calib-wfc3.md §R4, calib-acs-wfc.md's ACSREJ).
* :func:`neighbour_offsets` / :func:`disk_halfwidths` — the disk a HIT spills onto (CRRADIUS).
* :func:`run_row_strips` — a row kernel run over row strips in threads, exactly as over the
  whole chip.

The C fast path is ``caldp.engines.common._rej_kernels`` (:data:`REJ_KERNELS`); each engine's
rejection loop (``acs.acsrej``, ``wfc3.uvis.wf3rej``) keeps its own noise model and DQ names.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ..common.kernels import c_array, load

log = logging.getLogger(__name__)

F32 = np.float32
MINVAL, MIN_BINS, MAX_BINS = -15000, 1000, 10000
INT_MAX_F = F32(2147483647.0)
REJ_KERNELS = "caldp.engines.common._rej_kernels"


# --------------------------------------------------------------------------------------- sky
def _cr_mode(hist: np.ndarray, width: F32, hmin: F32) -> F32:
    nbins = hist.size
    if nbins == 1:
        return F32(float(hmin) + 0.5 * float(width))
    if nbins == 2:
        if hist[0] > hist[1]:
            return F32(float(hmin) + 0.5 * float(width))
        if hist[1] > hist[0]:
            return F32(float(hmin) + 1.5 * float(width))
        return F32(hmin + width)
    p = int(np.argmax(hist))
    if p == 0:
        return F32(float(hmin) + 0.5 * float(width))
    if p == nbins - 1:
        return F32(float(hmin) + (nbins - 0.5) * float(width))
    dh1 = F32(F32(hist[p]) - F32(hist[p - 1]))
    dh2 = F32(F32(hist[p]) - F32(hist[p + 1]))
    denom = F32(dh1 + dh2)
    if abs(float(denom)) < 1e-20:
        return F32(float(hmin) + (p + 0.5) * float(width))
    mode = F32(p + 0.5 + 0.5 * float(F32(dh1 - dh2)) / float(denom))
    return F32(hmin + F32(mode * width))


def sky_mode(images: list[np.ndarray], dqs: list[np.ndarray], *, badinpdq: int, mapper=None) -> list[F32]:
    """Sky level of each image: histogram mode (``rej_sky.c`` with SKYSUB=mode).

    `mapper`: optional ``map``-like function used for the images' histograms (e.g. a thread map;
    the C histogram releases the GIL).

    `images` are float32 in counts (rates already multiplied by the exposure time). The
    histogram range comes from image 0's good pixels ``(DQ & BADINPDQ) == 0``; each image's
    histogram uses its pixels with ``DQ == 0``.

    Range ``[int(min), 2·int(mean + 1) − int(min)]``, padded to 1000 one-DN bins; a peak in the
    first or last bin gives that bin's midpoint, otherwise the parabola through the peak and
    its two neighbours (``cr_mode.c``).

    >>> img = np.full((20, 20), 100.25, F32); img[:5] = 101.5
    >>> [float(s) for s in sky_mode([img], [np.zeros((20, 20), np.uint16)], badinpdq=0)]
    [100.5]

    Counts 10, 200, 100, 90 in the bins of 100..103 DN: ``100 + 1.5 + 0.5·(190 − 100)/(190 + 100)``.

    >>> img = np.full((20, 20), 101, F32); img.flat[:10] = 100; img.flat[210:310] = 102; img.flat[310:] = 103
    >>> [round(float(s), 5) for s in sky_mode([img], [np.zeros((20, 20), np.uint16)], badinpdq=0)]
    [101.65517]
    """
    mod = load(REJ_KERNELS)
    if mod is not None:
        images = [c_array(im, F32) for im in images]
        dqs = [c_array(d, np.uint16) for d in dqs]
        npt, vmin, vsum = mod.sky_sums(images[0], dqs[0], images[0].size, int(badinpdq))
        data_min = min(INT_MAX_F, F32(vmin)) if npt else INT_MAX_F
        total = F32(vsum)
    else:
        bad = np.uint16(badinpdq & 0xFFFF)
        vals0 = images[0][(dqs[0] & bad) == 0].astype(F32, copy=False)
        npt = vals0.size
        data_min = min(INT_MAX_F, F32(vals0.min())) if npt else INT_MAX_F
        total = np.add.accumulate(vals0, out=vals0)[-1] if npt else F32(0)  # sequential float32 sum
    if npt == 0:
        npt = 1
    lo = MINVAL if data_min < MINVAL else int(data_min)
    mean = int(F32(F32(total / F32(npt)) + F32(1))) if total > 0 else 1
    hi = int(F32(F32(2 * mean) - F32(lo)))
    nbins = hi - lo + 1
    if nbins < MIN_BINS:
        nbins = MIN_BINS
        width = F32(1.0)
    elif nbins > MAX_BINS:
        width = F32(F32(nbins) / F32(MAX_BINS))
        nbins = MAX_BINS
    else:
        width = F32(1.0)
    hmin = F32(lo)
    if mod is not None:

        def one(k):
            hist = np.empty(nbins, np.int64)
            mod.sky_hist(images[k], dqs[k], hist, images[k].size, float(lo), float(width), nbins)
            return _cr_mode(hist, width, hmin)

        return list((mapper or map)(one, range(len(images))))
    skies = []
    for img, dq in zip(images, dqs, strict=True):
        v = img[dq == 0]
        h = (v - F32(lo)) / width
        # C: h = (int) value (truncation toward zero), counted when 0 <= h < nbins, i.e. -1 < value < nbins.
        h = h[(h > F32(-1)) & (h < F32(nbins))]
        hist = np.bincount(h.astype(np.int32), minlength=nbins)[:nbins]
        skies.append(_cr_mode(hist, width, hmin))
    return skies


# ------------------------------------------------------------------- neighbourhood, strips
def neighbour_offsets(radius: float) -> list[tuple[int, int]]:
    """(dy, dx) offsets reached by a HIT (``rej_loop``: ``f32(dx²+dy²) ≤ f32(radius²)``).

    >>> len(neighbour_offsets(2.1)), (0, 0) in neighbour_offsets(2.1)
    (13, True)
    """
    width = int(math.ceil(float(F32(radius))))
    rej2 = F32(F32(radius) * F32(radius))
    return [
        (dy, dx) for dy in range(-width, width + 1) for dx in range(-width, width + 1) if F32(dx * dx + dy * dy) <= rej2
    ]


def disk_halfwidths(radius: float) -> tuple[int, np.ndarray]:
    """Ring depth ``ceil(radius)`` and, for dy = 0..depth, the largest ``dx`` of the
    :func:`neighbour_offsets` disk on that row (−1 where the row has none), as the C kernels take them.

    >>> disk_halfwidths(2.1)
    (3, array([ 2,  1,  0, -1], dtype=int32))
    """
    width = int(math.ceil(float(F32(radius))))
    wdy = np.full(width + 1, -1, np.int32)
    for dy, dx in neighbour_offsets(radius):
        if dy >= 0:
            wdy[dy] = max(wdy[dy], dx)
    return width, wdy


def run_row_strips(run, ny: int, state_shape: tuple, nstrips: int, mapper, *, halo: int) -> int:
    """Run a row kernel over `nstrips` row strips at once, exactly as over the whole image.

    ``run(r_start, r_out, r_end, state) -> nrej`` processes rows ``r_start..r_end`` with the HIT
    ring `state` (zeros: no HIT above), writing outputs from row ``r_out`` on. Each strip after
    the first starts `halo` rows early from an empty ring; the ring it has at its first row must
    equal the one the strip above ends with, else (a long chain of promotions across the boundary)
    the strip is computed again from that ring. Returns the total of the strips' counts.
    """
    bounds = [(ny * i // nstrips, ny * (i + 1) // nstrips) for i in range(nstrips)]
    bounds = [b for b in bounds if b[1] > b[0]] or [(0, ny)]

    def strip(b):
        r0, r1 = b
        state = np.zeros(state_shape, np.uint8)
        entry = None
        if r0 > 0:
            run(max(0, r0 - halo), r0, r0, state)
            entry = state.copy()
        return entry, state, run(r0, r0, r1, state)

    done = mapper(strip, bounds) if len(bounds) > 1 else [strip(bounds[0])]
    total = done[0][2]
    state = done[0][1]
    for (r0, r1), (entry, end, nrej) in zip(bounds[1:], done[1:], strict=True):
        if not np.array_equal(entry, state):
            log.debug("rejection strip at row %d recomputed from the ring of the strip above", r0)
            end = state.copy()
            nrej = run(r0, r0, r1, end)
        total += nrej
        state = end
    return total
