"""Sky scene: stars at fixed sky positions, tangent-plane WCS per exposure, PSFs and cosmic rays.

Every function is vectorised (stars are added with ``np.bincount``) and takes its random
generator explicitly, so a seed fixes every pixel.

>>> import numpy as np
>>> img = render_points((9, 9), np.array([4.0]), np.array([4.0]), np.array([100.0]), sigma=1.0)
>>> round(float(img.sum()), 3), int(np.argmax(img))
(100.0, 40)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.wcs import WCS


@dataclass(frozen=True, slots=True)
class Pointing:
    """Tangent-plane pointing: ``crval`` (deg) lands on focal-plane pixel ``crpix`` (1-based)."""

    crval: tuple[float, float]
    crpix: tuple[float, float]
    scale: float  # arcsec / pixel
    orient: float  # deg, position angle of the detector +y axis east of north

    def cd(self) -> np.ndarray:
        s = self.scale / 3600.0
        th = np.deg2rad(self.orient)
        return np.array([[-s * np.cos(th), s * np.sin(th)], [s * np.sin(th), s * np.cos(th)]])

    def shifted(self, dx: float, dy: float) -> Pointing:
        """The same sky seen after the telescope moved so that the sky shifts by (dx, dy) pixels."""
        return Pointing(self.crval, (self.crpix[0] + dx, self.crpix[1] + dy), self.scale, self.orient)

    def wcs(self, origin: tuple[float, float]) -> WCS:
        """WCS of a pixel grid whose 0-based pixel (0, 0) sits at focal-plane pixel ``origin``."""
        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.crval = list(self.crval)
        w.wcs.crpix = [self.crpix[0] - origin[0], self.crpix[1] - origin[1]]
        w.wcs.cd = self.cd()
        return w

    def header_cards(self, origin: tuple[float, float], raw_offset: tuple[float, float]) -> dict:
        """SCI-header WCS keywords; ``raw_offset`` = (trimx1, trimy1) added to CRPIX in raw files."""
        cd = self.cd()
        crpix = (self.crpix[0] - origin[0] + raw_offset[0], self.crpix[1] - origin[1] + raw_offset[1])
        return {
            "WCSAXES": 2,
            "CRPIX1": float(crpix[0]),
            "CRPIX2": float(crpix[1]),
            "CRVAL1": float(self.crval[0]),
            "CRVAL2": float(self.crval[1]),
            "CTYPE1": "RA---TAN",
            "CTYPE2": "DEC--TAN",
            "CD1_1": float(cd[0, 0]),
            "CD1_2": float(cd[0, 1]),
            "CD2_1": float(cd[1, 0]),
            "CD2_2": float(cd[1, 1]),
            "ORIENTAT": float(self.orient),
            "WCSNAME": "OPUS",
            "VAFACTOR": 1.0,
        }


@dataclass(frozen=True, slots=True)
class StarField:
    """Stars at fixed sky positions: RA, Dec (deg) and count rate (e⁻/s)."""

    ra: np.ndarray
    dec: np.ndarray
    rate: np.ndarray


def make_starfield(
    rng: np.random.Generator,
    pointing: Pointing,
    extent: tuple[float, float, float, float],
    n: int,
    rate_range: tuple[float, float],
    n_bright: int = 3,
    bright_rate: float = 5e5,
) -> StarField:
    """`n` stars uniform over focal-plane box ``extent`` = (x0, x1, y0, y1) pixels, power-law rates,
    plus `n_bright` stars bright enough to saturate."""
    x0, x1, y0, y1 = extent
    x = rng.uniform(x0, x1, n + n_bright)
    y = rng.uniform(y0, y1, n + n_bright)
    lo, hi = rate_range
    rate = lo * (hi / lo) ** rng.uniform(0.0, 1.0, n + n_bright)
    rate[n:] = bright_rate * rng.uniform(1.0, 2.0, n_bright)
    ra, dec = pointing.wcs((0.0, 0.0)).wcs_pix2world(x, y, 0)
    return StarField(np.asarray(ra), np.asarray(dec), rate)


def star_pixels(stars: StarField, wcs: WCS) -> tuple[np.ndarray, np.ndarray]:
    """0-based pixel (x, y) of every star in the grid described by `wcs`."""
    x, y = wcs.wcs_world2pix(stars.ra, stars.dec, 0)
    return np.asarray(x), np.asarray(y)


def render_points(
    shape: tuple[int, int], x: np.ndarray, y: np.ndarray, flux: np.ndarray, *, sigma: float, radius: int | None = None
) -> np.ndarray:
    """Gaussian PSFs (total `flux` each, truncated at `radius`, renormalised) on a float64 image."""
    ny, nx = shape
    r = radius if radius is not None else max(2, int(np.ceil(4 * sigma)))
    keep = (x > -r) & (x < nx + r) & (y > -r) & (y < ny + r) & (flux > 0)
    x, y, flux = x[keep], y[keep], flux[keep]
    img = np.zeros(ny * nx)
    if x.size == 0:
        return img.reshape(shape)
    off = np.arange(-r, r + 1)
    xi = np.floor(x + 0.5).astype(np.intp)[:, None, None] + off[None, None, :]
    yi = np.floor(y + 0.5).astype(np.intp)[:, None, None] + off[None, :, None]
    w = np.exp(-((xi - x[:, None, None]) ** 2 + (yi - y[:, None, None]) ** 2) / (2.0 * sigma**2))
    w /= w.sum(axis=(1, 2), keepdims=True)
    w *= flux[:, None, None]
    xi, yi = np.broadcast_arrays(xi, yi)
    inside = (xi >= 0) & (xi < nx) & (yi >= 0) & (yi < ny)
    img += np.bincount((yi * nx + xi)[inside], weights=w[inside], minlength=ny * nx)
    return img.reshape(shape)


def cosmic_rays(rng: np.random.Generator, shape: tuple[int, int], n: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` cosmic-ray events (electrons): a hit pixel plus a short random track.

    Returns (image of deposited electrons, (y, x) of every hit centre stacked as a 2×n array).
    """
    ny, nx = shape
    img = np.zeros(ny * nx)
    yc = rng.integers(0, ny, n)
    xc = rng.integers(0, nx, n)
    energy = rng.lognormal(np.log(2000.0), 0.8, n)
    length = rng.integers(1, 5, n)
    angle = rng.uniform(0, np.pi, n)
    steps = np.arange(4)
    ys = np.rint(yc[:, None] + np.sin(angle)[:, None] * steps[None, :]).astype(np.intp)
    xs = np.rint(xc[:, None] + np.cos(angle)[:, None] * steps[None, :]).astype(np.intp)
    dep = np.where(steps[None, :] < length[:, None], energy[:, None] / length[:, None], 0.0)
    ok = (ys >= 0) & (ys < ny) & (xs >= 0) & (xs < nx) & (dep > 0)
    img += np.bincount((ys * nx + xs)[ok], weights=dep[ok], minlength=ny * nx)
    return img.reshape(shape), np.stack([yc, xc])
