"""DQICORR: data-quality initialisation (HSTCAL ``lib/dodqi.c``; calib-acs-wfc.md §3.3).

Works on raw DN, before any other step. Flags set: ATODSAT (2048) where ``SCI >= ATODSAT``;
each applicable BPIXTAB row's VALUE along its row (AXIS=1) or column (AXIS=2); the placeholder
BPIXPLACEHOLDER (64) at ``[1, 1]`` when no BPIXTAB row applied.
"""

from __future__ import annotations

import numpy as np

from .dq import DQ


def flag_atod_saturation(sci: np.ndarray, dq: np.ndarray, atodsat: int) -> np.ndarray:
    """``DQ | ATODSAT`` where the raw value (DN) is ≥ the CCDTAB ATODSAT.

    >>> flag_atod_saturation(np.array([[10., 65535.]], np.float32), np.zeros((1, 2), np.uint16), 65535).tolist()
    [[0, 2048]]
    """
    return dq | np.where(sci >= atodsat, np.uint16(DQ.ATODSAT), np.uint16(0))


def apply_bpixtab(dq: np.ndarray, rows, ltv: tuple[float, float], *, out: np.ndarray | None = None) -> np.ndarray:
    """OR each BPIXTAB row into `dq` (``DQINormal``), clipped to the image.

    `rows`: :class:`caldp.engines.acs.tables.BadPixels`; PIX1/PIX2 are 1-based detector
    coordinates, placed at ``int(PIX - 1 + LTV)`` (LTM assumed 1). A row lying entirely outside
    the image is skipped. If no row applies, the placeholder 64 is set at ``[1, 1]``.
    `out`: the array to write (may be `dq` itself, to work in place); by default a copy.

    >>> from caldp.engines.acs.tables import BadPixels
    >>> r = BadPixels(np.array([2, 1]), np.array([1, 2]), np.array([3, 9]), np.array([1, 2]), np.array([4, 32]))
    >>> apply_bpixtab(np.zeros((3, 4), np.uint16), r, (0.0, 0.0)).tolist()
    [[0, 4, 4, 4], [32, 0, 0, 0], [32, 0, 0, 0]]
    >>> apply_bpixtab(np.zeros((3, 4), np.uint16), BadPixels(*[np.zeros(0, int)] * 5), (0.0, 0.0))[1, 1]
    np.uint16(64)
    """
    if out is None:
        out = dq.copy()
    elif out is not dq:
        out[...] = dq
    ny, nx = out.shape
    if len(rows.pix1) == 0:
        out[1, 1] |= np.uint16(DQ.BPIXPLACEHOLDER)
        return out
    for p1, p2, length, axis, value in zip(rows.pix1, rows.pix2, rows.length, rows.axis, rows.value, strict=True):
        x0 = int(p1 - 1 + ltv[0])
        y0 = int(p2 - 1 + ltv[1])
        flag = np.uint16(int(value) & 0xFFFF)
        if axis == 1:
            x1 = x0 + int(length) - 1
            if x1 < 0 or x0 >= nx or y0 < 0 or y0 >= ny:
                continue
            out[y0, max(x0, 0) : min(x1, nx - 1) + 1] |= flag
        else:
            y1 = y0 + int(length) - 1
            if x0 < 0 or x0 >= nx or y1 < 0 or y0 >= ny:
                continue
            out[max(y0, 0) : min(y1, ny - 1) + 1, x0] |= flag
    return out
