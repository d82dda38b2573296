"""CCD read-out model: electrons on the trimmed chip → raw DN with overscan, bias and noise.

Pure array functions; the instrument modules decide the numbers.

>>> import numpy as np
>>> from caldp.sim.geometry import ACS_WFC_SUB
>>> chip = ACS_WFC_SUB[0]
>>> e = np.full(chip.sci_shape, 200.0)
>>> raw = readout(np.random.default_rng(1), chip, e, gain=[2.0], level=[2000.0], readnoise=[0.0],
...               bias=np.zeros(chip.raw_shape))
>>> raw.dtype.name, raw.shape, int(raw[0, 0]), int(raw[0, 30])
('uint16', (512, 536), 2000, 2100)
"""

from __future__ import annotations

import numpy as np

from .geometry import Chip


def readout(
    rng: np.random.Generator,
    chip: Chip,
    electrons: np.ndarray,
    *,
    gain,
    level,
    readnoise,
    bias: np.ndarray,
    full_well: float | None = None,
) -> np.ndarray:
    """Raw uint16 DN of one chip.

    `electrons`: detected electrons on the trimmed area (after Poisson noise and cosmic rays);
    clipped at `full_well`. `gain`, `level` (DN) and `readnoise` (e⁻) per amp of ``chip.amps``;
    `bias`: bias structure in DN at raw size (the BIASFILE image). A-to-D clipped at 65535.
    """
    gain = np.asarray(gain, dtype=float)
    level = np.asarray(level, dtype=float)
    readnoise = np.asarray(readnoise, dtype=float)
    e = electrons if full_well is None else np.minimum(electrons, full_well)
    raw_amp = chip.raw_amp_index()
    sci_amp = chip.sci_amp_index()
    dn = level[raw_amp][None, :] + bias
    dn = dn + rng.standard_normal(chip.raw_shape) * (readnoise / gain)[raw_amp][None, :]
    dn[chip.raw_rows(), chip.raw_cols()] += e / gain[sci_amp][None, :]
    return np.clip(np.rint(dn), 0, 65535).astype(np.uint16)


def to_raw_frame(chip: Chip, sci: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Place a trimmed-area array into a raw-size array (overscan = `fill`)."""
    out = np.full(chip.raw_shape, fill, dtype=sci.dtype)
    out[chip.raw_rows(), chip.raw_cols()] = sci
    return out


def bias_structure(rng: np.random.Generator, shape: tuple[int, int], *, amplitude: float = 1.5) -> np.ndarray:
    """Bias pattern in DN (column-to-column offsets, a gentle row gradient, pixel noise), float32."""
    ny, nx = shape
    cols = rng.normal(0.0, amplitude, nx)
    rows = np.linspace(-amplitude, amplitude, ny)
    pattern = cols[None, :] + rows[:, None] + rng.normal(0.0, 0.3 * amplitude, shape)
    return pattern.astype(np.float32)


def flat_structure(
    rng: np.random.Generator, shape: tuple[int, int], *, p2p: float = 0.01, large: float = 0.03, motes: int = 3
) -> np.ndarray:
    """Flat field near 1: a large-scale tilt/curvature, pixel-to-pixel noise, dust-mote rings."""
    ny, nx = shape
    y = np.linspace(-1.0, 1.0, ny)[:, None]
    x = np.linspace(-1.0, 1.0, nx)[None, :]
    a, b, c = rng.uniform(-1, 1, 3) * large
    flat = 1.0 + a * x + b * y + c * (x * x + y * y - 0.66)
    flat = flat + rng.normal(0.0, p2p, shape)
    if motes:
        cy = rng.uniform(0, ny, motes)
        cx = rng.uniform(0, nx, motes)
        rad = np.minimum(rng.uniform(8, 25, motes), 0.2 * min(nx, ny))
        yy = np.arange(ny)[:, None]
        xx = np.arange(nx)[None, :]
        for k in range(motes):  # a few ring shadows, each vectorised over the image
            r = np.hypot(yy - cy[k], xx - cx[k])
            flat = flat - 0.04 * np.exp(-(((r - rad[k]) / 2.0) ** 2))
    return flat.astype(np.float32)


def dark_structure(
    rng: np.random.Generator,
    shape: tuple[int, int],
    *,
    rate: float,
    hot_fraction: float,
    hot_range: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Dark current (e⁻/s, float32) and the mask of hot pixels."""
    dark = rng.normal(rate, 0.1 * rate, shape).clip(0.0)
    hot = rng.random(shape) < hot_fraction
    dark[hot] = rng.uniform(*hot_range, int(hot.sum()))
    return dark.astype(np.float32), hot
