"""Preview images of calibrated products: JPEGs for images, PNG plots for spectra.

CALDP (caldp/create_previews.py) previews the products whose suffix is listed for the
instrument (:data:`PREVIEW_SUFFIXES`), writing ``<name>.jpg`` at full resolution and
``<name>_thumb.jpg`` at 128 px with ``fitscut --all --jpg --autoscale=99.5 --asinh-scale
--badpix``, and spectra (x1d) with ``make_hst_spec_previews``. Here the same look comes from
astropy.visualization and Pillow:

* autoscale: the 0.5th and 99.5th percentiles of the good pixels (fitscut's ``--autoscale=99.5``
  keeps 0.5 % out at each end), estimated on a regular subsample; as in fitscut, when the image
  is nearly pure noise the top is raised to ``median + 5 (median - low)``;
* stretch: asinh with fitscut's non-linearity of 3 (``AsinhStretch(a=1/3)``), black at the low
  limit and white from the 99.5th percentile up;
* pixels whose DQ has a bit of :data:`BAD_DQ` are painted :data:`BAD_RGB`; NaN (no data, as
  outside a ``_drz`` footprint) is black, as fitscut shows blanks;
* chips of a multi-chip exposure (ACS/WFC, WFC3/UVIS) are mosaicked as they sit on the
  detector: CCDCHIP 1 on top of CCDCHIP 2. North/East are not rotated up; rows are flipped
  so that FITS row 1 is at the bottom, as fitscut writes them.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.visualization import AsinhStretch
from PIL import Image

from ..engines.acs.dq import DQ

log = logging.getLogger(__name__)

#: Product suffixes previewed per instrument (CALDP's ``get_suffix``), plus the CR-combined
#: CTE-corrected ``crc`` (issue 15 asks for previews of every CTE product: flc, crc, drc).
PREVIEW_SUFFIXES: dict[str, tuple[str, ...]] = {
    "acs": ("crj", "crc", "drc", "drz", "raw", "flc", "flt"),
    "wfc3": ("crc", "drc", "drz", "flc", "flt", "ima", "raw"),
    "stis": ("x1d", "sx1", "x2d", "sx2"),  # x2d/sx2: rectified spectra, image previews
    "cos": ("x1d", "x1dsum", "x1dsum1", "x1dsum2", "x1dsum3", "x1dsum4", "flt"),  # flt: imaging only
}
THUMB_SIZE = 128
AUTOSCALE_LOW, AUTOSCALE_HIGH = 0.5, 99.5
#: fitscut's asinh non-linearity (3) as astropy's softening parameter.
ASINH_A = 1.0 / 3.0
#: DQ bits shown as bad: Reed-Solomon error, data lost/filled, bad detector pixel (same in WFC3).
BAD_DQ = int(DQ.SOFTERR | DQ.DATALOST | DQ.DETECTORPROB)
BAD_RGB = (255, 40, 40)
#: At most this many pixels go into the percentile estimate.
MAX_SAMPLES = 250_000
LUT_SIZE = 4096
JPEG_QUALITY = 75  # fitscut's default

#: LUT entry i is the stretch of i / (LUT_SIZE - 1); floored, so that only the top entry is 255.
_LUT = np.floor(AsinhStretch(a=ASINH_A)(np.linspace(0.0, 1.0, LUT_SIZE)) * 255.0 + 1e-9).astype(np.uint8)


class PreviewError(RuntimeError):
    """Some previews failed; ``made`` lists those written anyway."""

    def __init__(self, message: str, made: list[Path]):
        super().__init__(message)
        self.made = made


def product_suffix(name: str) -> str:
    """The product suffix CALDP matches: the last ``_`` part before the first dot.

    >>> product_suffix("jabc01010_drz.fits"), product_suffix("oabc01010_x1dsum3.fits.gz")
    ('drz', 'x1dsum3')
    """
    return name.split(".")[0].split("_")[-1]


def wants_preview(path: Path, instrument: str) -> bool:
    """True when CALDP previews this product for `instrument`.

    >>> wants_preview(Path("j1_flt.fits"), "acs"), wants_preview(Path("i1_ima.fits"), "acs")
    (True, False)
    >>> wants_preview(Path("i1_ima.fits"), "wfc3"), wants_preview(Path("i1_asn.fits"), "wfc3")
    (True, False)
    """
    return path.suffix == ".fits" and product_suffix(path.name) in PREVIEW_SUFFIXES.get(instrument.lower(), ())


# ---------------------------------------------------------------------------------------------
# Stretch


def autoscale_limits(
    arrays: list[np.ndarray], goods: list[np.ndarray | None], max_samples: int = MAX_SAMPLES
) -> tuple[float, float]:
    """(low, high) display limits of the good, finite pixels of `arrays` taken together.

    Percentiles AUTOSCALE_LOW/AUTOSCALE_HIGH on a regular subsample of at most ~`max_samples`
    pixels; the top is raised to ``median + 5 (median - low)`` if below it (fitscut's fix for
    noise-like images). A constant or empty image gives ``(v, v + 1)``.

    >>> low, high = autoscale_limits([np.arange(1000.0).reshape(10, 100) ** 4], [None])  # bright tail
    >>> round(low), f"{high:.4e}"
    (623, '9.7623e+11')
    >>> autoscale_limits([np.arange(1000.0).reshape(10, 100)], [None])  # flat histogram: top raised
    (4.995, 2972.02...)
    """
    total = sum(a.size for a in arrays)
    step = max(1, int(np.ceil(np.sqrt(total / max_samples))))
    samples = []
    for a, g in zip(arrays, goods, strict=True):
        s = a[::step, ::step]
        ok = np.isfinite(s)
        if g is not None:
            ok &= g[::step, ::step]
        samples.append(s[ok])
    sample = np.concatenate(samples) if samples else np.empty(0)
    if sample.size == 0:
        return 0.0, 1.0
    low, med, high = np.percentile(sample.astype(np.float64), [AUTOSCALE_LOW, 50.0, AUTOSCALE_HIGH])
    high = max(high, med + 5.0 * (med - low))
    if not high > low:
        high = low + 1.0
    return float(low), float(high)


def stretch_into(data: np.ndarray, low: float, high: float, out: np.ndarray, block: int = 1 << 18) -> None:
    """Asinh-stretch `data` between `low` and `high` into the uint8 array `out` (same shape).

    Values <= low are 0, >= high 255, NaN 0. Uses a LUT_SIZE-entry table of AsinhStretch and
    works in strips of about `block` pixels so the temporaries stay in cache.
    """
    ny, nx = data.shape
    rows = max(1, block // max(nx, 1))
    idx = np.empty((min(rows, ny), nx), np.float32)
    lut_idx = np.empty(idx.shape, np.uint16)
    offset, scale = np.float32(low), np.float32((LUT_SIZE - 1) / (high - low))
    for r0 in range(0, ny, rows):
        n = min(rows, ny - r0)
        t, k = idx[:n], lut_idx[:n]
        np.subtract(data[r0 : r0 + n], offset, out=t)
        t *= scale
        np.fmax(t, np.float32(0), out=t)  # fmax/fmin also turn NaN into 0
        np.fmin(t, np.float32(LUT_SIZE - 1), out=t)
        np.copyto(k, t, casting="unsafe")
        np.take(_LUT, k, out=out[r0 : r0 + n], mode="clip")


def bad_mask(dq: np.ndarray | None, bad_bits: int = BAD_DQ) -> np.ndarray | None:
    """Boolean mask of pixels with a `bad_bits` DQ bit, or None when `dq` is None or none is set."""
    if dq is None:
        return None
    bad = (dq.view(np.uint16) if dq.dtype == np.int16 else dq) & bad_bits
    bad = bad != 0
    return bad if bad.any() else None


def colour_bad(gray: np.ndarray, bad: np.ndarray | None) -> np.ndarray:
    """`gray` as is when nothing is bad, else an RGB copy with bad pixels in BAD_RGB."""
    if bad is None:
        return gray
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    rgb[bad] = BAD_RGB
    return rgb


def preview_stretch(data: np.ndarray, dq: np.ndarray | None = None, *, bad_bits: int = BAD_DQ) -> np.ndarray:
    """The preview rendering of one image: uint8, (ny, nx) gray or (ny, nx, 3) when DQ marks bad pixels.

    Rows stay in array order (row 0 first). Pixels at or above the 99.5th percentile of the good
    pixels are 255, those at or below the 0.5th are 0, in between an asinh curve; pixels with a
    `bad_bits` DQ bit are BAD_RGB and don't enter the percentiles.

    >>> data = np.arange(10000.0).reshape(100, 100) ** 4
    >>> img = preview_stretch(data)
    >>> img.dtype, img.shape, int(img.min()), int(img.max()), int((img == 255).sum())
    (dtype('uint8'), (100, 100), 0, 255, 50)
    >>> dq = np.zeros((100, 100), np.int16); dq[0, 0] = 4
    >>> preview_stretch(data, dq)[0, 0].tolist()
    [255, 40, 40]
    """
    data = np.asarray(data)
    bad = bad_mask(dq, bad_bits)
    low, high = autoscale_limits([data], [None if bad is None else ~bad])
    out = np.empty(data.shape, np.uint8)
    stretch_into(data, low, high, out)
    return colour_bad(out, bad)


# ---------------------------------------------------------------------------------------------
# Reading and mosaicking


@dataclass(slots=True)
class Chip:
    ccdchip: int
    sci: np.ndarray
    dq: np.ndarray | None


def _pixels(hdu) -> np.ndarray | None:
    """Image data with BSCALE/BZERO applied by us (astropy refuses to scale memory-mapped data).

    An HSTIO constant ("null") extension (NAXIS=0, NPIX1/NPIX2, PIXVALUE) becomes a full array,
    except a constant DQ of 0, which is None (nothing flagged).
    """
    data = hdu.data
    if data is None:
        hdr = hdu.header
        if "NPIX1" not in hdr or "NPIX2" not in hdr:
            return None
        value = hdr.get("PIXVALUE", 0)
        if hdu.name == "DQ":
            return None if value == 0 else np.full((hdr["NPIX2"], hdr["NPIX1"]), int(value), np.uint16)
        return np.full((hdr["NPIX2"], hdr["NPIX1"]), value, np.float32)
    bscale, bzero = hdu.header.get("BSCALE", 1), hdu.header.get("BZERO", 0)
    if bscale == 1 and bzero == 0:
        return data
    if hdu.name == "DQ":
        return (data.astype(np.int32) * int(bscale) + int(bzero)).astype(np.uint16)
    return data * np.float32(bscale) + np.float32(bzero)


def read_chips(hdul: fits.HDUList) -> list[Chip]:
    """The SCI images (and DQ) of an open file to show, in display order from top to bottom.

    Files with several CCDCHIPs give one chip each (the first SCI of that chip), CCDCHIP 1 on
    top. A STIS echelle ``_x2d``/``_sx2`` (SCI extensions of different SPORDER) gives one per order, in
    the file's order (the lowest order, highest on the detector, on top). Otherwise (drz, IR, HRC,
    ima with its reads) the first SCI alone. Open the file with :func:`open_product` (memory-mapped,
    unscaled: :func:`_pixels` scales).
    """
    chips: dict[int, Chip] = {}
    dqs = {h.ver: h for h in hdul if h.name == "DQ"}
    orders = [h.header.get("SPORDER") for h in hdul if h.name == "SCI"]
    by_order = None not in orders and len(set(orders)) > 1
    for k, h in enumerate(hdul):
        if h.name != "SCI" or h.header.get("NAXIS", 0) not in (0, 2):
            continue
        chip = k if by_order else int(h.header.get("CCDCHIP", 1))
        sci = None if chip in chips else _pixels(h)
        if sci is None:
            continue
        dq = dqs.get(h.ver)
        chips[chip] = Chip(chip, sci, None if dq is None else _pixels(dq))
    if not chips:
        first = next((h for h in hdul if h.is_image and h.data is not None and h.data.ndim == 2), None)
        if first is None:
            raise ValueError(f"{hdul.filename()} has no 2-D image")
        chips[1] = Chip(1, _pixels(first), None)
    return [chips[k] for k in sorted(chips)]


def open_product(path: Path) -> fits.HDUList:
    """Open a product once for everything a preview needs: memory-mapped, scaling left to us."""
    return fits.open(path, memmap=True, do_not_scale_image_data=True)


def mosaic_preview(chips: list[Chip]) -> tuple[np.ndarray, np.ndarray | None]:
    """Stretch the chips with common limits and stack them, first chip on top, rows flipped for display.

    Returns the uint8 gray mosaic and the bad-pixel mask (None when no pixel is bad).
    """
    bads = [bad_mask(c.dq) for c in chips]
    low, high = autoscale_limits([c.sci for c in chips], [None if b is None else ~b for b in bads])
    width = max(c.sci.shape[1] for c in chips)
    height = sum(c.sci.shape[0] for c in chips)
    gray = np.zeros((height, width), np.uint8)
    mask = np.zeros((height, width), bool) if any(b is not None for b in bads) else None
    row = 0
    for c, b in zip(chips, bads, strict=True):
        ny, nx = c.sci.shape
        stretch_into(c.sci[::-1], low, high, gray[row : row + ny, :nx])
        if b is not None:
            mask[row : row + ny, :nx] = b[::-1]
        row += ny
    return gray, mask


def preview_image(gray: np.ndarray, mask: np.ndarray | None) -> Image.Image:
    """The Pillow image: 'L' from `gray`, or 'RGB' with the `mask` pixels painted BAD_RGB."""
    img = Image.fromarray(gray)
    if mask is None:
        return img
    img = img.convert("RGB")
    img.paste(BAD_RGB, mask=Image.fromarray(mask))
    return img


def thumb_size(width: int, height: int, size: int = THUMB_SIZE) -> tuple[int, int]:
    """(w, h) with the long side `size` and the aspect ratio kept.

    >>> thumb_size(4096, 4096), thumb_size(4096, 2048), thumb_size(50, 300)
    ((128, 128), (128, 64), (21, 128))
    """
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def write_image_previews(hdul: fits.HDUList, base: str, outdir: Path) -> list[Path]:
    """``<base>.jpg`` (full resolution) and ``<base>_thumb.jpg`` (128 px) of an image product."""
    img = preview_image(*mosaic_preview(read_chips(hdul)))
    full, thumb = outdir / f"{base}.jpg", outdir / f"{base}_thumb.jpg"
    img.save(full, "JPEG", quality=JPEG_QUALITY)
    small = img.resize(thumb_size(*img.size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    small.save(thumb, "JPEG", quality=JPEG_QUALITY)
    return [full, thumb]


# ---------------------------------------------------------------------------------------------
# Spectra


def write_spectrum_previews(hdul: fits.HDUList, base: str, outdir: Path) -> list[Path]:
    """``<base>.png`` and ``<base>_thumb.png``: flux against wavelength of every row (segment/stripe/order),
    with error bands (see :mod:`caldp.tasks.preview_spectra`)."""
    from .preview_spectra import write_spectrum_previews as write

    return write(hdul, base, outdir)


# ---------------------------------------------------------------------------------------------
# Dispatch


def preview_kind(hdul: fits.HDUList, name: str = "") -> str | None:
    """'image', 'spectrum' or None, from the first extension as CALDP decides it.

    An IMAGE extension with NAXIS >= 2 (or an HSTIO constant image) is an image unless the
    instrument is COS or STIS (rootnames l…/o…); a BINTABLE other than an ASN table is a spectrum.
    """
    if len(hdul) < 2:
        return None
    h = hdul[1].header
    xtension = str(h.get("XTENSION", "")).strip()
    instr = str(hdul[0].header.get("INSTRUME", h.get("INSTRUME", name[:1]))).strip()[:1].lower()
    if xtension == "BINTABLE" and str(h.get("EXTNAME", "")).strip() != "ASN":
        return "spectrum"
    is_2d = h.get("NAXIS", 0) >= 2 or ("NPIX1" in h and "NPIX2" in h)  # HSTIO constant image too
    if xtension == "IMAGE" and is_2d and instr not in ("l", "o", "c", "s"):
        return "image"
    if xtension == "IMAGE" and is_2d and instr in ("l", "c") and hdul[0].header.get("OBSTYPE") == "IMAGING":
        return "image"  # COS NUV imaging (MIRRORA/B): the flt gets an image preview
    if xtension == "IMAGE" and is_2d and instr in ("o", "s") and product_suffix(name) in ("x2d", "sx2"):
        return "image"  # STIS 2-D rectified spectra (wavelength along x)
    return None


def preview_one(path: Path, outdir: Path) -> list[Path]:
    """The previews of one product (opened once); [] when it is neither an image nor a spectrum."""
    base = path.name.split(".")[0]
    with open_product(path) as hdul:
        kind = preview_kind(hdul, path.name)
        if kind == "image":
            return write_image_previews(hdul, base, outdir)
        if kind == "spectrum":
            return write_spectrum_previews(hdul, base, outdir)
    if product_suffix(path.name) == "flt" and path.name[:1].lower() == "l":
        log.info("No preview for %s: a COS spectroscopic image (its x1d has the preview)", path.name)
        return []
    log.warning("No preview for %s: neither an image nor a spectrum", path.name)
    return []


def create_previews(products: list[Path], outdir: Path, *, instrument: str, workers: int = 2) -> list[Path]:
    """Previews of the `products` CALDP previews for `instrument`, written to `outdir`.

    Products are rendered in `workers` threads (NumPy, astropy I/O and Pillow release the GIL).
    A failure on one product doesn't stop the others; if any failed, :class:`PreviewError`
    says which (its ``made`` lists what was written).
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    todo = [Path(p) for p in products if wants_preview(Path(p), instrument)]
    made: list[Path] = []
    failures: list[str] = []

    def run(path: Path) -> list[Path]:
        return preview_one(path, outdir)

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(todo) or 1))) as pool:
        futures = {p: pool.submit(run, p) for p in todo}
        for p, fut in futures.items():
            try:
                made += fut.result()
            except Exception as exc:  # one bad product must not stop the others
                log.error("Preview of %s failed: %s", p.name, exc)
                failures.append(f"{p.name}: {exc}")
    log.info("Made %d preview files from %d of %d products", len(made), len(todo) - len(failures), len(products))
    if failures:
        raise PreviewError(f"{len(failures)} of {len(todo)} previews failed: " + "; ".join(failures), made)
    return made
