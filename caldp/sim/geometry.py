"""Detector read-out geometry of the simulated instruments (raw layout, amps, trims, WCS frame).

A :class:`Chip` is one imset of a raw CCD file: its raw size, the overscan trims, the
amplifiers reading it (left to right in raw columns) and where its trimmed science area sits
on the chip and in the focal plane (pixels). Numbers follow calib-acs-wfc.md §1.1 and
calib-wfc3.md §U0/§I0.

>>> chip = ACS_WFC_FULL[1]
>>> chip.ccdchip, chip.raw_shape, chip.sci_shape, chip.ltv
(1, (2068, 4144), (2048, 4096), (24.0, 20.0))
>>> int(chip.raw_cols()[2048]), chip.amps
(2072, 'AB')
>>> UVIS_FULL[0].sci_shape, int(UVIS_FULL[0].raw_cols()[2048])
((2051, 4096), 2133)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Chip:
    """One imset of a raw CCD/IR exposure.

    ``trimx`` = (leading, trailing, centre-left, centre-right) overscan columns, ``trimy`` =
    (bottom, top) overscan rows; ``ampx`` = first trimmed column read by the right-hand amp
    (0 when a single amp reads every column); ``corner`` = trimmed (x, y) of the science area
    on the full chip, ``focal`` = (x, y) of the chip's trimmed origin in the focal plane.
    """

    extver: int
    ccdchip: int
    amps: str
    raw_shape: tuple[int, int]
    trimx: tuple[int, int, int, int]
    trimy: tuple[int, int]
    ampx: int
    corner: tuple[int, int] = (0, 0)
    focal: tuple[float, float] = (0.0, 0.0)
    ref_border: bool = False

    @property
    def sci_shape(self) -> tuple[int, int]:
        ny, nx = self.raw_shape
        return ny - self.trimy[0] - self.trimy[1], nx - sum(self.trimx)

    @property
    def ltv(self) -> tuple[float, float]:
        """Raw LTV1, LTV2: raw pixel = detector pixel + LTV (CCD detector frame = trimmed full chip,
        IR detector frame = the full 1024 × 1024 array including its reference pixels)."""
        if self.ref_border:
            return 0.0 - self.corner[0], 0.0 - self.corner[1]
        return float(self.trimx[0] - self.corner[0]), float(self.trimy[0] - self.corner[1])

    def raw_cols(self) -> np.ndarray:
        """Raw column of every trimmed science column (skips the centre virtual overscan)."""
        j = np.arange(self.sci_shape[1])
        shift = self.trimx[0] + np.where((self.ampx > 0) & (j >= self.ampx), self.trimx[2] + self.trimx[3], 0)
        return j + shift

    def col_segments(self) -> list[tuple[slice, slice, int]]:
        """(trimmed columns, raw columns, amp index) of each contiguous science segment."""
        nx = self.sci_shape[1]
        x0 = self.trimx[0]
        if len(self.amps) == 1 or self.ampx == 0:
            return [(slice(0, nx), slice(x0, x0 + nx), 0)]
        gap = self.trimx[2] + self.trimx[3]
        return [
            (slice(0, self.ampx), slice(x0, x0 + self.ampx), 0),
            (slice(self.ampx, nx), slice(x0 + self.ampx + gap, x0 + nx + gap), 1),
        ]

    def raw_rows(self) -> slice:
        return slice(self.trimy[0], self.trimy[0] + self.sci_shape[0])

    def raw_amp_index(self) -> np.ndarray:
        """Amp index (into ``amps``) of every raw column (overscan belongs to its nearest amp)."""
        nx = self.raw_shape[1]
        if len(self.amps) == 1 or self.ampx == 0:
            return np.zeros(nx, dtype=np.intp)
        split = self.trimx[0] + self.ampx + self.trimx[2]
        return (np.arange(nx) >= split).astype(np.intp)

    def sci_amp_index(self) -> np.ndarray:
        """Amp index of every trimmed science column."""
        nx = self.sci_shape[1]
        if len(self.amps) == 1 or self.ampx == 0:
            return np.zeros(nx, dtype=np.intp)
        return (np.arange(nx) >= self.ampx).astype(np.intp)


def _wfc(extver, chip, amps, ny, nx, trimx, trimy, ampx, corner, focal):
    return Chip(extver, chip, amps, (ny, nx), trimx, trimy, ampx, corner, focal)


#: ACS/WFC focal plane: chip 2 below chip 1 with a 50-pixel gap.
_WFC_FOCAL = {2: (0.0, 0.0), 1: (0.0, 2098.0)}
ACS_WFC_FULL = (
    _wfc(1, 2, "CD", 2068, 4144, (24, 24, 0, 0), (0, 20), 2048, (0, 0), _WFC_FOCAL[2]),
    _wfc(2, 1, "AB", 2068, 4144, (24, 24, 0, 0), (20, 0), 2048, (0, 0), _WFC_FOCAL[1]),
)
#: WFC1A-512: 512 × 512 next to amp A (top left of chip 1) plus its 24 prescan columns.
ACS_WFC_SUB = (_wfc(1, 1, "A", 512, 536, (24, 0, 0, 0), (0, 0), 0, (0, 1536), _WFC_FOCAL[1]),)

#: ACS/HRC: 1024 × 1024 read by amp C, 19 prescan + 19 overscan columns, 20 virtual rows on top.
ACS_HRC_FULL = (Chip(1, 1, "C", (1044, 1062), (19, 19, 0, 0), (0, 20), 0, (0, 0), (0.0, 0.0)),)
#: HRC-512: 512 × 512 subarray at amp C with its 19 prescan columns.
ACS_HRC_SUB = (Chip(1, 1, "C", (512, 531), (19, 0, 0, 0), (0, 0), 0, (0, 0), (0.0, 0.0)),)

#: WFC3/UVIS: chip 2 (imset 1) below chip 1 (imset 2) with a 35-pixel gap.
_UVIS_FOCAL = {2: (0.0, 0.0), 1: (0.0, 2086.0)}
UVIS_FULL = (
    Chip(1, 2, "CD", (2070, 4206), (25, 25, 30, 30), (0, 19), 2048, (0, 0), _UVIS_FOCAL[2]),
    Chip(2, 1, "AB", (2070, 4206), (25, 25, 30, 30), (19, 0), 2048, (0, 0), _UVIS_FOCAL[1]),
)
#: The UVIS full-frame layout scaled down for fast tests (size ``mini``): per chip 25 prescan | 48 amp
#: A/C | 30 + 30 serial virtual | 48 amp B/D | 25 overscan columns, 51 science rows + 19 virtual.
UVIS_MINI = (
    Chip(1, 2, "CD", (70, 206), (25, 25, 30, 30), (0, 19), 48, (0, 0), _UVIS_FOCAL[2]),
    Chip(2, 1, "AB", (70, 206), (25, 25, 30, 30), (19, 0), 48, (0, 0), (0.0, 86.0)),
)
#: UVIS2-C512C-SUB: 512 × 512 at amp C (bottom left of chip 2) plus 25 prescan columns.
UVIS_SUB = (Chip(1, 2, "C", (512, 537), (25, 0, 0, 0), (0, 0), 0, (0, 0), _UVIS_FOCAL[2]),)

#: WFC3/IR: 1014 × 1014 science inside a 5-pixel reference-pixel border.
IR_FULL = (Chip(1, 1, "ABCD", (1024, 1024), (5, 5, 0, 0), (5, 5), 0, (0, 0), (0.0, 0.0), True),)
#: IRSUB256 (SQ256SUB): the central 256 × 256 plus the 5-pixel reference border.
IR_SUB = (Chip(1, 1, "ABCD", (266, 266), (5, 5, 0, 0), (5, 5), 0, (379, 379), (0.0, 0.0), True),)
