"""Amp regions of a UVIS chip (HSTCAL ``lib/computelimits.c``, ``wf3ccd/doblev.c``, ``lib/parseamps.c``).

The amps of a chip are the letters of ``CD`` (chip 2) or ``AB`` (chip 1) present in CCDAMP.
For each, ``loc = letter − first letter of the chip's amps`` selects the x half
(``{0,1,0,1}[loc]``) and y half (``{0,0,1,1}[loc]``), and the science region is::

    begx = TRIMX1 + (ampx + TRIMX3 + TRIMX4)·xhalf
    endx = ampx + TRIMX1 if xhalf == 0 and ampx != 0 else NX − TRIMX2      (≤ NX)
    begy = TRIMY1 + ampy·yhalf
    endy = ampy + TRIMY1 if yhalf == 0 and ampy != 0 else NY − TRIMY2      (≤ NY)
"""

from __future__ import annotations

from dataclasses import dataclass

AMPS = "ABCD"
_XHALF = (0, 1, 0, 1)
_YHALF = (0, 0, 1, 1)


def chip_amps(ccdamp: str, chip: int) -> str:
    """Amps of `ccdamp` that read `chip` (``parseWFCamps``).

    >>> chip_amps("ABCD", 2), chip_amps("ABCD", 1), chip_amps("C", 2), chip_amps("C", 1)
    ('CD', 'AB', 'C', '')
    """
    pair = "CD" if chip == 2 else "AB"
    return "".join(a for a in pair if a in ccdamp)


@dataclass(frozen=True, slots=True)
class AmpRegion:
    """Science pixels of one amp in raw (untrimmed) 0-based coordinates, end exclusive."""

    amp: str
    index: int  # 0=A … 3=D
    xhalf: int  # 0: left half (slot 0), 1: right half (slot 1)
    begx: int
    endx: int
    begy: int
    endy: int

    @property
    def sizex(self) -> int:
        return self.endx - self.begx

    @property
    def sizey(self) -> int:
        return self.endy - self.begy


def amp_regions(ccdamp: str, chip: int, *, ampx: int, ampy: int, trimx, trimy, nx: int, ny: int) -> list[AmpRegion]:
    """Regions of the chip's amps, in the chip's amp order.

    >>> [(r.amp, r.begx, r.endx, r.begy, r.endy) for r in amp_regions(
    ...     "ABCD", 1, ampx=2048, ampy=0, trimx=(25, 25, 30, 30), trimy=(19, 0), nx=4206, ny=2070)]
    [('A', 25, 2073, 19, 2070), ('B', 2133, 4181, 19, 2070)]
    """
    amps = chip_amps(ccdamp, chip)
    out = []
    for a in amps:
        loc = AMPS.index(a) - AMPS.index(amps[0])
        xh, yh = _XHALF[loc], _YHALF[loc]
        begx = trimx[0] + (ampx + trimx[2] + trimx[3]) * xh
        endx = ampx + trimx[0] if (xh == 0 and ampx != 0) else nx - trimx[1]
        begy = trimy[0] + ampy * yh
        endy = ampy + trimy[0] if (yh == 0 and ampy != 0) else ny - trimy[1]
        out.append(AmpRegion(a, AMPS.index(a), xh, begx, min(endx, nx), begy, min(endy, ny)))
    return out
