"""PHOTCORR for imaging (HSTCAL ``cs1/photmode.c``, ``cs1/dophot.c``, ``cs1/gettds1.c``, ``lib/interp1d.c``).

PHOTMODE = ``STIS <aperture> [A2D<gain>] <MIRROR|opt_elem> <detector> [<cenwave>] MJD#<expstart>``;
the A2D term is removed before the IMPHTTAB lookup (PHOTFLAM is then multiplied by ATODGAIN) and
PHOTFLAM is divided by the TDSTAB temperature factor ``1 + TEMPSENS(PHOTPLAM)·(T − REFTEMP)``.
"""

from __future__ import annotations

import numpy as np


def photmode(
    *, aperture: str, detector: str, opt_elem: str, ccdgain: int, expstart: float, cenwave: int | None = None
) -> str:
    """``PhotMode``.

    >>> photmode(aperture="50CCD", detector="CCD", opt_elem="MIRROR", ccdgain=1, expstart=60410.3)
    'STIS 50CCD A2D1 MIRROR CCD MJD#60410.3000'
    """
    parts = ["STIS", aperture.strip()]
    if detector == "CCD":
        parts.append(f"A2D{int(ccdgain)}")
    parts.append("MIRROR" if opt_elem.strip().startswith("MIR") else opt_elem.strip())
    parts.append({"NUV-MAMA": "NUVMAMA", "FUV-MAMA": "FUVMAMA", "CCD": "CCD"}[detector])
    if cenwave is not None and cenwave > 0:
        parts.append(str(int(cenwave)))
    parts.append(f"MJD#{expstart:0.4f}")
    return " ".join(parts)


def remove_a2d(mode: str) -> tuple[str, bool]:
    """``removeA2D``: the photmode without its ``A2D<n>`` word, and whether it had one.

    >>> remove_a2d("STIS 50CCD A2D1 MIRROR CCD MJD#60410.3000")
    ('STIS 50CCD MIRROR CCD MJD#60410.3000', True)
    """
    words = mode.split(" ")
    kept = [w for w in words if not w.upper().startswith("A2D")]
    return " ".join(kept), len(kept) != len(words)


def interp1d(x: float, wl: np.ndarray, f: np.ndarray) -> float:
    """``interp1d``: linear interpolation, constant beyond the ends.

    >>> round(interp1d(5000.0, np.array([4000.0, 6000.0]), np.array([-0.0026, -0.0021])), 8)
    -0.00235
    """
    n = wl.size
    if n == 1 or x <= wl[0]:
        return float(f[0])
    if x >= wl[n - 1]:
        return float(f[n - 1])
    i = int(np.clip(np.searchsorted(wl, x, side="right") - 1, 0, n - 2))
    p0 = (wl[i + 1] - x) / (wl[i + 1] - wl[i])
    p1 = 1.0 - p0
    return float(f[i] * p0 + f[i + 1] * p1)


def temperature_factor(photplam: float, temperature: float, wl, tempsens, ref_temp: float) -> float:
    """``tempFactor``: PHOTFLAM is divided by this (1 when the temperature is unknown, < 0)."""
    if temperature < 0.0:
        return 1.0
    sens = interp1d(photplam, np.asarray(wl, np.float64), np.asarray(tempsens, np.float64))
    return 1.0 + sens * (temperature - ref_temp)
