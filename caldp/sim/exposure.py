"""Pixels of one simulated CCD exposure (any chip layout), with the truth that made them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ccd import poisson_counts, readout
from .detector import CCDSetup, ImageRefs, PixelQuirks
from .scene import Pointing, StarField, cosmic_rays, render_points, star_pixels


@dataclass(slots=True)
class ChipPixels:
    raw: np.ndarray  # uint16 raw frame
    truth_rate: np.ndarray | None  # noiseless sky + stars, e⁻/s on the trimmed area (before flat)
    star_x: np.ndarray  # 0-based trimmed-area pixel positions of every star
    star_y: np.ndarray
    wcs_cards: dict
    n_cr: int
    n_saturated: int


def chip_origin(chip) -> tuple[float, float]:
    """Focal-plane position of the trimmed area's pixel (0, 0)."""
    return chip.focal[0] + chip.corner[0], chip.focal[1] + chip.corner[1]


def simulate_ccd(
    rng: np.random.Generator,
    setup: CCDSetup,
    refs: ImageRefs,
    stars: StarField,
    pointing: Pointing,
    *,
    exptime: float,
    darktime: float,
    keep_truth: bool,
    trail=None,
    placement=None,
    quirks: PixelQuirks | None = None,
) -> list[ChipPixels]:
    """Raw frames of every chip: (sky + stars)·flat·t + dark·t_dark, Poisson, cosmic rays,
    full-well clipping, gain, bias level + structure, read noise, A-to-D. `trail(chip, electrons)`,
    if given, returns the electrons after the readout's charge transfer (CTE trails). `placement`, if
    given, holds each chip's ``distortion.ChipSolution`` (star positions and header WCS). `quirks` adds
    a delta flat (times the flat), shutter shading (seconds added to `exptime`) and post-flash electrons."""
    quirks = quirks or PixelQuirks()
    out = []
    for k, chip in enumerate(setup.chips):
        origin = chip_origin(chip)
        if placement is None:
            x, y = star_pixels(stars, pointing.wcs(origin))
        else:
            x, y = placement[k].star_pixels(stars.ra, stars.dec)
        rate = render_points(chip.sci_shape, x, y, stars.rate, sigma=setup.psf_sigma).astype(np.float32)
        rate += np.float32(setup.sky_rate)
        expected = rate * refs.flat[k]
        if quirks.dflat is not None:
            expected *= quirks.dflat[k]
        if quirks.shading is not None:
            expected *= np.float32(exptime) + quirks.shading[k]
        else:
            expected *= np.float32(exptime)
        if setup.flat_uses_mean_gain:  # so that DN·mean_gain/flat (calwf3 §D2) gives back the sky
            gains = setup.amp_values(chip, setup.atodgn)
            for sci_cols, _, amp in chip.col_segments():
                expected[:, sci_cols] *= np.float32(gains[amp] / setup.mean_gain)
        expected += refs.dark[k] * np.float32(darktime)
        if quirks.flash is not None:
            expected += quirks.flash[k]
        electrons = poisson_counts(rng, expected)
        del expected
        n_cr = int(rng.poisson(setup.cr_rate * exptime * electrons.size))
        cr, _ = cosmic_rays(rng, chip.sci_shape, n_cr)
        electrons += cr
        del cr
        if trail is not None:
            electrons = trail(chip, electrons)
        n_sat = int((electrons > setup.saturate).sum())
        raw = readout(
            rng,
            chip,
            electrons,
            gain=setup.amp_values(chip, setup.atodgn),
            level=setup.amp_values(chip, setup.ccdbias),
            readnoise=setup.amp_values(chip, setup.readnse),
            bias=refs.bias[k],
            full_well=setup.full_well,
        )
        if placement is None:
            cards = pointing.header_cards(origin, (chip.trimx[0], chip.trimy[0]))
        else:
            cards = dict(placement[k].cards)
        out.append(ChipPixels(raw, rate if keep_truth else None, x, y, cards, n_cr, n_sat))
    return out
