"""Previews: stretch, mosaic layout, files and sizes, spectra, failure isolation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from caldp.tasks import preview as P


def star_field(shape=(200, 300), seed=3) -> np.ndarray:
    """Sky N(100, 2) with 2 % of the pixels bright (100..10000 above sky): a known heavy tail."""
    rng = np.random.default_rng(seed)
    img = rng.normal(100.0, 2.0, shape).astype(np.float32)
    n = int(0.02 * img.size)
    flat = img.reshape(-1)
    hit = rng.choice(img.size, n, replace=False)
    flat[hit] += rng.uniform(100.0, 10000.0, n).astype(np.float32)
    return img


def write_exposure(
    path: Path, chips: dict[int, np.ndarray], dqs: dict[int, np.ndarray] | None = None, instrument: str = "ACS"
) -> Path:
    """An _flt-like file: SCI/ERR/DQ per chip, EXTVER 1 = the highest CCDCHIP (as in ACS/WFC, WFC3/UVIS)."""
    hdus = [fits.PrimaryHDU(header=fits.Header({"INSTRUME": instrument}))]
    for extver, chip in enumerate(sorted(chips, reverse=True), start=1):
        sci = chips[chip]
        dq = (dqs or {}).get(chip, np.zeros(sci.shape, np.int16))
        for name, data in (("SCI", sci), ("ERR", np.ones_like(sci)), ("DQ", dq)):
            h = fits.ImageHDU(data, name=name, ver=extver)
            h.header["CCDCHIP"] = chip
            hdus.append(h)
    fits.HDUList(hdus).writeto(path)
    return path


def chips_of(path: Path) -> list[P.Chip]:
    with P.open_product(path) as hdul:
        return P.read_chips(hdul)


def jpeg(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "JPEG"
        im.verify()
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


# --- stretch --------------------------------------------------------------------------------


def test_brightest_half_percent_saturate_to_white():
    data = star_field()
    out = P.preview_stretch(data)
    assert out.dtype == np.uint8 and out.shape == data.shape
    p005, p99, p995 = np.percentile(data, [0.5, 99.0, 99.5])
    assert (out[data >= p995] == 255).all()
    assert (out[data < p99] < 255).all()
    assert 0.004 <= (out == 255).mean() <= 0.006
    assert (out[data <= p005] == 0).all()
    # monotonic in the data value
    order = np.argsort(data, axis=None)
    assert (np.diff(out.reshape(-1)[order].astype(int)) >= 0).all()


def test_asinh_curve_between_the_limits():
    """Mid-grey follows asinh(3t)/asinh(3) of t = (x - p0.5) / (p99.5 - p0.5), to one grey level."""
    data = star_field()
    lo, hi = np.percentile(data, [0.5, 99.5])
    out = P.preview_stretch(data).astype(float)
    t = np.clip((data - lo) / (hi - lo), 0, 1)
    expected = 255 * np.arcsinh(3 * t) / np.arcsinh(3)
    assert np.abs(out - expected).max() <= 1.5
    # faint parts are lifted well above a linear stretch: the asinh look
    faint = (t > 0.01) & (t < 0.1)
    assert faint.sum() > 50 and (out[faint] >= np.floor(1.3 * 255 * t[faint])).all()


def test_noise_only_image_is_not_overstretched():
    """fitscut's rule: for a noise-like image the top goes to median + 5 (median - low), so nothing is white."""
    data = np.random.default_rng(1).normal(50.0, 3.0, (100, 100))
    out = P.preview_stretch(data)
    assert out.max() < 200 and (out == 0).any()


def test_dq_flagged_pixels_are_coloured_and_ignored_by_autoscale():
    data = star_field()
    dq = np.zeros(data.shape, np.int16)
    dq[:, 10] = 4  # bad column
    data_with_hot_column = data.copy()
    data_with_hot_column[:, 10] = 1e7
    dq[50, 50] = 256  # saturated: not a "bad" bit, stays grey
    out = P.preview_stretch(data_with_hot_column, dq)
    assert out.shape == data.shape + (3,)
    assert (out[:, 10] == P.BAD_RGB).all()
    grey = np.delete(out, 10, axis=1)
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    # the flagged column didn't move the limits: the rest is rendered as without it
    ref = P.preview_stretch(np.delete(data, 10, axis=1))
    assert np.abs(grey[..., 0].astype(int) - ref.astype(int)).max() <= 1
    assert P.preview_stretch(data, np.zeros(data.shape, np.int16)).ndim == 2  # nothing bad: grey


def test_nan_is_black_not_bad():
    data = star_field()
    data[:20] = np.nan
    out = P.preview_stretch(data)
    assert out.ndim == 2 and (out[:20] == 0).all() and out[20:].max() == 255


# --- mosaic and files -------------------------------------------------------------------------


def test_two_chips_mosaic_chip1_on_top(tmp_path):
    """ACS/WFC: SCI,1 is CCDCHIP 2 (bottom), SCI,2 is CCDCHIP 1 (top); FITS row 1 at the bottom."""
    ny, nx = 64, 160
    rng = np.random.default_rng(2)
    chip1 = rng.normal(1000.0, 5.0, (ny, nx)).astype(np.float32)  # bright chip
    chip2 = rng.normal(100.0, 5.0, (ny, nx)).astype(np.float32)  # faint chip
    chip2[:8, :16] = 5000.0  # marker in chip 2's first rows, first columns
    path = write_exposure(tmp_path / "jtest01aq_flt.fits", {1: chip1, 2: chip2})
    made = P.create_previews([path], tmp_path, instrument="acs")
    assert [p.name for p in made] == ["jtest01aq_flt.jpg", "jtest01aq_flt_thumb.jpg"]
    img = jpeg(made[0])[..., 0].astype(float)
    assert img.shape == (2 * ny, nx)
    top, bottom = img[:ny], img[ny:]
    assert top[:, 40:].mean() > bottom[8:-8, 40:].mean() + 50
    assert bottom[-8:, :16].mean() > 240  # the marker: bottom-left corner
    assert bottom[:8, :16].mean() < 200


def test_preview_files_sizes_and_selection(tmp_path):
    data = star_field((90, 150))
    flt = write_exposure(tmp_path / "jtest01aq_flt.fits", {1: data, 2: data})
    drz = tmp_path / "jtest01010_drz.fits"
    fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.ImageHDU(star_field((300, 220)), name="SCI"),
            fits.ImageHDU(np.ones((300, 220), np.float32), name="WHT"),
        ]
    ).writeto(drz)
    raw = tmp_path / "jtest01aq_raw.fits"
    raw_counts = (data * 10).astype(np.uint16)  # written as int16 + BZERO 32768, as raw files are
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(raw_counts, name="SCI")]).writeto(raw)
    assert fits.getheader(raw, 1)["BZERO"] == 32768
    asn = tmp_path / "jtest01010_asn.fits"
    fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.BinTableHDU.from_columns([fits.Column(name="MEMNAME", format="14A", array=["X"])], name="ASN"),
        ]
    ).writeto(asn)
    spt = write_exposure(tmp_path / "jtest01aq_spt.fits", {1: data})
    ima = write_exposure(tmp_path / "jtest01aq_ima.fits", {1: data})  # ACS has no ima previews
    out = tmp_path / "previews"
    out.mkdir()
    made = P.create_previews([flt, drz, raw, asn, spt, ima], out, instrument="acs")
    assert sorted(p.name for p in made) == sorted(
        f"jtest01{s}{t}.jpg" for s in ("aq_flt", "010_drz", "aq_raw") for t in ("", "_thumb")
    )
    sizes = {p.name: Image.open(p).size for p in made}
    assert sizes["jtest01aq_flt.jpg"] == (150, 180)
    assert sizes["jtest01aq_flt_thumb.jpg"] == (round(150 * 128 / 180), 128)
    assert sizes["jtest01010_drz.jpg"] == (220, 300)
    assert sizes["jtest01010_drz_thumb.jpg"] == (round(220 * 128 / 300), 128)
    assert max(sizes["jtest01aq_raw_thumb.jpg"]) == 128
    for p in made:
        jpeg(p)


def test_wfc3_ima_shows_first_read_only(tmp_path):
    reads = [np.full((40, 60), v, np.float32) for v in (900.0, 500.0, 100.0)]
    hdus = [fits.PrimaryHDU(header=fits.Header({"INSTRUME": "WFC3"}))]
    for i, r in enumerate(reads, start=1):
        r = r + np.random.default_rng(i).normal(0, 1, r.shape).astype(np.float32)
        hdus += [fits.ImageHDU(r, name="SCI", ver=i), fits.ImageHDU(np.zeros(r.shape, np.int16), name="DQ", ver=i)]
    path = tmp_path / "itest01aq_ima.fits"
    fits.HDUList(hdus).writeto(path)
    made = P.create_previews([path], tmp_path, instrument="wfc3")
    assert Image.open(made[0]).size == (60, 40)


def test_dq_band_survives_jpeg_as_colour(tmp_path):
    data = star_field((96, 128))
    dq = np.zeros(data.shape, np.int16)
    dq[:, 40:56] = 4  # a 16-px wide band flagged bad
    path = write_exposure(tmp_path / "jtest01aq_flc.fits", {1: data}, {1: dq})
    made = P.create_previews([path], tmp_path, instrument="acs")
    img = jpeg(made[0]).astype(int)
    band = img[:, 43:53]
    assert (band[..., 0] - band[..., 1]).mean() > 150  # red
    rest = img[:, 70:]
    assert np.abs(rest[..., 0] - rest[..., 1]).mean() < 8  # grey


def test_scaled_integer_images_are_unscaled(tmp_path):
    """BZERO/BSCALE SCI and a uint16 (BZERO 32768) DQ: same rendering as the float/int16 file."""
    data = np.rint(star_field((64, 64))).astype(np.uint16) + np.uint16(30000)
    dq = np.zeros(data.shape, np.uint16)
    dq[:, 20:36] = 4 | 32768
    a = write_exposure(tmp_path / "jtest01aq_flt.fits", {1: data}, {1: dq})
    b = write_exposure(tmp_path / "jtest01bq_flt.fits", {1: data.astype(np.float32)}, {1: dq.view(np.int16)})
    assert fits.getheader(a, "SCI")["BZERO"] == 32768 and fits.getheader(a, "DQ")["BZERO"] == 32768
    ca, cb = chips_of(a)[0], chips_of(b)[0]
    np.testing.assert_array_equal(ca.sci, cb.sci)
    np.testing.assert_array_equal(P.bad_mask(ca.dq), P.bad_mask(cb.dq))
    assert P.bad_mask(ca.dq)[:, 20:36].all()


def test_spectrum_preview_png(tmp_path):
    wave = np.linspace(1150, 1450, 2000)
    flux = 1e-14 * (1 + 0.2 * np.sin(wave / 20))
    cols = [
        fits.Column(name="WAVELENGTH", format="2000D", array=np.stack([wave, wave + 300])),
        fits.Column(name="FLUX", format="2000E", array=np.stack([flux, flux * 0.8])),
    ]
    path = tmp_path / "ltest01abq_x1d.fits"
    fits.HDUList(
        [
            fits.PrimaryHDU(header=fits.Header({"INSTRUME": "COS", "OPT_ELEM": "G130M"})),
            fits.BinTableHDU.from_columns(cols, name="SCI"),
        ]
    ).writeto(path)
    made = P.create_previews([path], tmp_path, instrument="cos")
    assert [p.name for p in made] == ["ltest01abq_x1d.png", "ltest01abq_x1d_thumb.png"]
    with Image.open(made[1]) as im:
        assert im.format == "PNG" and im.size == (128, 128)
    with Image.open(made[0]) as im:
        assert im.format == "PNG" and im.size == (1000, 500)
        assert np.asarray(im.convert("L")).std() > 10  # something is drawn


@pytest.mark.filterwarnings("ignore::astropy.io.fits.verify.VerifyWarning")
def test_one_bad_product_does_not_stop_the_others(tmp_path):
    good = write_exposure(tmp_path / "jtest01aq_flt.fits", {1: star_field((32, 32))})
    broken = tmp_path / "jtest01bq_flt.fits"
    broken.write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    with pytest.raises(P.PreviewError, match="1 of 2 previews failed: jtest01bq_flt.fits") as exc:
        P.create_previews([broken, good], tmp_path, instrument="acs")
    assert [p.name for p in exc.value.made] == ["jtest01aq_flt.jpg", "jtest01aq_flt_thumb.jpg"]
    assert all(p.is_file() for p in exc.value.made)


def test_thumb_of_a_tiny_image_is_scaled_up_to_128(tmp_path):
    path = write_exposure(tmp_path / "jtest01aq_flt.fits", {1: star_field((20, 30))})
    made = P.create_previews([path], tmp_path, instrument="acs")
    assert Image.open(made[1]).size == (128, round(20 * 128 / 30))


def test_hstio_constant_extensions(tmp_path):
    """NAXIS=0 SCI/DQ with NPIX1/NPIX2/PIXVALUE (as HSTIO writes constant arrays): a flat grey image,
    and a constant non-zero bad DQ paints everything."""
    hdus = [fits.PrimaryHDU(header=fits.Header({"INSTRUME": "ACS"}))]
    for name, value in (("SCI", 7.0), ("ERR", 0.0), ("DQ", 0)):
        h = fits.ImageHDU(name=name, ver=1)
        h.header.update({"NPIX1": 40, "NPIX2": 30, "PIXVALUE": value, "CCDCHIP": 1})
        hdus.append(h)
    path = tmp_path / "jtest01aq_flt.fits"
    fits.HDUList(hdus).writeto(path)
    chips = chips_of(path)
    assert chips[0].sci.shape == (30, 40) and (chips[0].sci == 7).all() and chips[0].dq is None
    made = P.create_previews([path], tmp_path, instrument="acs")
    assert Image.open(made[0]).size == (40, 30)
    with fits.open(path, mode="update") as hdul:
        hdul["DQ"].header["PIXVALUE"] = 4
    assert P.bad_mask(chips_of(path)[0].dq).all()
