"""Per-detector simulation constants and the image references shared by its exposures.

A :class:`CCDSetup` gathers the read-out constants of one detector configuration (amps, gains,
read noise, bias levels) and :func:`make_image_refs` draws the calibration images (bias
structure, dark with hot pixels, flat) once; the same arrays are written as reference files and
used to build the raw pixels, so each HSTCAL step has something measurable to remove.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .ccd import bias_structure, dark_structure, flat_structure
from .geometry import Chip


@dataclass(frozen=True, slots=True)
class CCDSetup:
    """Constants of one CCD detector configuration (per-amp dicts keyed by amp letter)."""

    instrument: str  # "acs" | "wfc3"
    detector: str  # "WFC" | "HRC" | "UVIS"
    size: str  # "small" | "full"
    chips: tuple[Chip, ...]
    aperture: str
    ccdamp: str
    ccdgain: float
    atodgn: dict
    readnse: dict
    ccdbias: dict
    full_well: float  # e⁻ where charge stops accumulating
    saturate: float  # e⁻ flagged as saturated (CCDTAB SATURATE / SATUFILE)
    dark_rate: float  # e⁻/s
    sky_rate: float  # e⁻/s
    scale: float  # arcsec/pixel
    psf_sigma: float  # pixels
    cr_rate: float = 1e-5  # events per pixel per second
    overhead: float = 0.0  # DARKTIME overhead added by ACSCCD (CCDTAB OVRHUFLS)
    flat_uses_mean_gain: bool = False  # calwf3 FLATCORR converts to e⁻ with the mean of the 4 gains
    extra: dict = field(default_factory=dict)

    @property
    def subarray(self) -> bool:
        return self.size == "small"

    @property
    def mean_gain(self) -> float:
        return float(np.float32(sum(np.float32(self.atodgn[a]) for a in "ABCD") / np.float32(4)))

    def amp_values(self, chip: Chip, table: dict) -> list[float]:
        return [float(table[a]) for a in chip.amps]


@dataclass(slots=True)
class ImageRefs:
    """Per chip (in imset order): bias pattern (raw DN), dark (e⁻/s), hot mask, flat."""

    bias: list[np.ndarray]
    dark: list[np.ndarray]
    hot: list[np.ndarray]
    flat: list[np.ndarray]


def make_image_refs(rng: np.random.Generator, setup: CCDSetup) -> ImageRefs:
    bias, dark, hot, flat = [], [], [], []
    for chip in setup.chips:
        bias.append(bias_structure(rng, chip.raw_shape))
        d, h = dark_structure(
            rng, chip.sci_shape, rate=setup.dark_rate, hot_fraction=0.002, hot_range=(20 * setup.dark_rate, 0.5)
        )
        dark.append(d)
        hot.append(h)
        flat.append(flat_structure(rng, chip.sci_shape))
    return ImageRefs(bias, dark, hot, flat)


@dataclass(slots=True)
class PixelQuirks:
    """What optional quirks add to the pixels, per chip in imset order (None: nothing): post-flash
    electrons and shutter-shading seconds on the trimmed area, a delta flat multiplying the response."""

    flash: list[np.ndarray] | None = None
    shading: list[np.ndarray] | None = None
    dflat: list[np.ndarray] | None = None
