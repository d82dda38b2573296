"""FLATCORR (HSTCAL ``acs2d/doflat.c``, ``lib/div1d.c``; calib-acs-wfc.md §6.3).

Each flat (PFLT, then DFLT) divides the image: where the flat is 0 the pixel is flagged
CALIBDEFECT (512) and left alone, elsewhere ``SCI/F`` with the error propagated; the flat DQ
is ORed in. WFC3's BADFLAT and ACS's CALIBDEFECT are the same bit, and the division is the same
as calwf3's ``div1d``, so both use :mod:`caldp.engines.ccd.flatcorr`. ACS does not divide the first flat
by the mean gain (the image is already in electrons).
"""

from __future__ import annotations

from ..ccd.flatcorr import divide_flat

__all__ = ["divide_flat"]
