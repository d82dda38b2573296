"""Header keyword values as HSTIO writes them (``include/hstio.h``: float ``%#14.7E``, double ``%#20.12E``).

A value computed in float32 and written with PutKeyFlt has 8 significant digits in the file; a later
step that reads the keyword back (FLUXCORR's PHTFLAM1/2, WF3REJ's ATODGN/READNSE) sees that value,
not the full float32. Writing the same decimal text keeps caldp's products identical.

>>> hdr_float(np.float32(1.1654605e-19)), hdr_float(1.5)
(1.1654605e-19, 1.5)
>>> hdr_double(0.1 + 0.2)
0.3
>>> read_float("3.0500001")  # HSTIO parses to double, then casts to float
np.float32(3.0500002)
"""

from __future__ import annotations

import numpy as np


def hdr_float(value) -> float:
    """The value of a float keyword as written by HSTIO (float32, 8 significant digits)."""
    return float(f"{float(np.float32(value)):.7E}")


def hdr_double(value) -> float:
    """The value of a double keyword as written by HSTIO (13 significant digits)."""
    return float(f"{float(value):.12E}")


def read_float(value) -> np.float32:
    """A header keyword read with GetKeyFlt: parsed as double, cast to float32."""
    return np.float32(float(value))
