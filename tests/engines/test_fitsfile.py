"""caldp.engines.common.fitsfile against astropy.io.fits: every raw, reference and product file of
every simulator mode reads the same (header cards, keyword values and comments, data bits), what it
writes astropy reads the same and is byte-identical to astropy's ``writeto``, and header edits
place and format cards as astropy does."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.common import fitsfile as ff
from caldp.sim import crds_env, simulate
from caldp.sim.core import COS_MODES, MODES, STIS_MODES

DROPINS = {"j": "calacs", "i": "calwf3", "o": "calstis"}


@pytest.fixture(scope="module")
def simfiles(tmp_path_factory) -> list[Path]:
    """Every FITS file of a small simulation of every mode, and the built-in drop-ins' products."""
    root = tmp_path_factory.mktemp("fitsfile")
    sim = root / "sim"
    simulate(sim, modes=MODES + tuple(COS_MODES) + tuple(STIS_MODES), size="small")
    env = dict(os.environ, **crds_env(sim / "crds_cache"))
    for ds in (sim / "datasets.txt").read_text().split():
        tool = DROPINS.get(ds[0])
        if tool is None:
            continue
        wd = root / "products" / ds
        shutil.copytree(sim / "inputs" / ds, wd)
        asn = sorted(wd.glob("*_asn.fits")) or sorted(wd.glob("*_raw.fits"))
        cmd = [sys.executable, "-c", f"import sys; from caldp.cli.{tool} import main; sys.exit(main())", asn[0].name]
        run = subprocess.run(cmd, cwd=wd, env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-2000:]
    files = sorted(root.rglob("*.fits"))
    assert len(files) > 250
    return files


def _value(v):
    return None if isinstance(v, fits.card.Undefined) else v


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "US" or b.dtype.kind in "US":
        return a.dtype.kind == b.dtype.kind and bool(np.all(a == b))
    if a.dtype.newbyteorder("=") != b.dtype.newbyteorder("="):
        return False
    return a.tobytes() == b.astype(a.dtype).tobytes()


def _compare(path: Path) -> list:
    """Differences between astropy's and fitsfile's reading of `path`."""
    errs = []
    mine = ff.open(path)
    with fits.open(path, uint=True, memmap=False) as ref:
        assert len(ref) == len(mine), path
        for k, (r, m) in enumerate(zip(ref, mine, strict=True)):
            rc = [(c.keyword, _value(c.value), c.comment) for c in r.header.cards]
            mc = [(c.keyword, c.value, c.comment) for c in m.header.cards]
            if rc != mc or [type(v) for _, v, _ in rc] != [type(v) for _, v, _ in mc]:
                errs.append((path.name, k, "cards"))
            if [c.image for c in r.header.cards] != [c.image for c in m.header.cards]:
                errs.append((path.name, k, "card images"))
            rd, md = r.data, m.data
            if rd is None or md is None:
                if not (rd is None and md is None):
                    errs.append((path.name, k, "data"))
            elif isinstance(r, fits.BinTableHDU):
                errs += [(path.name, k, name) for name in rd.columns.names if not _same(rd[name], md[name])]
            elif not _same(rd, md):
                errs.append((path.name, k, "image"))
    return errs


def test_reads_every_sim_file_as_astropy(simfiles):
    errs = [e for p in simfiles for e in _compare(p)]
    assert not errs, errs[:20]


def test_writes_what_astropy_writes(simfiles, tmp_path):
    """Each file rebuilt from fitsfile's headers and data: byte-identical to astropy's ``writeto``
    of the same file, and read back the same by astropy (scaled 16-bit raw images are not written
    by fitsfile and are skipped)."""
    done = 0
    for path in simfiles:
        hdus = []
        for i, hdu in enumerate(ff.open(path)):
            if hdu.is_table:
                hdus.append(ff.table_hdu(_columns(hdu), hdu.header))
                continue
            if hdu.data is not None and hdu.data.dtype.kind == "u" and hdu.data.dtype.itemsize > 1:
                break
            hdus.append((ff.primary_hdu if i == 0 else ff.image_hdu)(hdu.header, hdu.data))
        else:
            out = tmp_path / path.name
            ff.write(hdus, out)
            buf = io.BytesIO()
            with fits.open(path, uint=True, memmap=False) as ref:
                ref.writeto(buf)
            assert out.read_bytes() == buf.getvalue(), path
            assert not _compare(out), path
            out.unlink()
            done += 1
    assert done > 200


def _columns(hdu) -> list[tuple]:
    """``table_hdu`` column specs with the physical values read from `hdu` (unscaled tables)."""
    cols = []
    for i, c in enumerate(hdu.data.columns, 1):
        assert c.scale is None
        values = hdu.data[c.name]
        if c.dim is not None:
            values = values.reshape(len(values), -1)
        extra = {"null": c.null, "zero": c.zero, "disp": c.disp, "dim": hdu.header.get(f"TDIM{i}")}
        cols.append((c.name, c.format, values, c.unit, extra))
    return cols


def test_astropy_file_with_everything(tmp_path):
    """Cards and columns the simulator does not make: CONTINUE strings, long HISTORY, undefined
    values, scaled and unsigned columns, TDIM, every image BITPIX with BSCALE/BZERO."""
    hdr = fits.Header()
    hdr["LONGSTR"] = ("word " * 40, "a comment " * 12)
    hdr["QUOTE"] = "it's"
    hdr["EMPTY"] = ""
    hdr["UNDEF"] = None
    hdr["FLT32"] = np.float32(0.1)
    hdr["BIGF"] = 1.234567890123456789e-300
    hdr["NEG"] = -7
    hdr["BOOL"] = False
    hdr["CPLX"] = complex(1.5, -2)
    hdr.add_history("h" * 170)
    hdr.add_comment("c")
    hdr.append(fits.Card("", "blank-keyword text"), end=True)
    cols = [
        fits.Column("U16", "I", bzero=32768, array=np.array([0, 65535, 40000], np.uint16)),
        fits.Column("SC", "J", array=np.array([1, 2, -4], np.int32)),  # TSCAL/TZERO set below
        fits.Column("U32", "J", bzero=2**31, array=np.array([0, 2**32 - 1, 5], np.uint32)),
        fits.Column("CUBE", "6E", dim="(3,2)", array=np.arange(18, dtype=np.float32).reshape(3, 2, 3)),
        fits.Column("FLAGS", "2L", array=np.array([[True, False], [False, False], [True, True]])),
        fits.Column("NAME", "5A", array=np.array(["a", "bb  c", ""])),
        fits.Column("B", "B", array=np.array([0, 255, 7], np.uint8)),
        fits.Column("K", "K", array=np.array([-(2**62), 0, 1], np.int64)),
        fits.Column("D", "3D", array=np.arange(9.0).reshape(3, 3)),
    ]
    hdus = [fits.PrimaryHDU(header=hdr), fits.BinTableHDU.from_columns(cols, name="TAB")]
    for bitpix, dtype in (
        (8, np.uint8),
        (16, np.int16),
        (32, np.int32),
        (64, np.int64),
        (-32, np.float32),
        (-64, np.float64),
    ):
        img = fits.ImageHDU(np.arange(-3, 9).reshape(3, 4).astype(dtype), name=f"B{abs(bitpix)}")
        hdus.append(img)
        scaled = fits.ImageHDU(np.arange(12).reshape(3, 4).astype(dtype), name="S")
        scaled.header["BSCALE"], scaled.header["BZERO"] = 0.25, -1.5
        hdus.append(scaled)
        assert scaled.header["BITPIX"] == bitpix
    path = tmp_path / "all.fits"
    fits.HDUList(hdus).writeto(path)
    fits.setval(path, "TSCAL2", value=0.5, ext=1)
    fits.setval(path, "TZERO2", value=3.0, ext=1)
    with fits.open(path, do_not_scale_image_data=True) as raw:
        assert all("BSCALE" in raw[i].header for i in range(3, len(raw), 2))
    assert not _compare(path)
    mine = ff.open(path)
    assert mine[0].header["LONGSTR"] == ("word " * 40).rstrip()
    assert mine[0].header.comments["LONGSTR"] == ("a comment " * 12).rstrip()
    assert mine["TAB"].data["U16"].dtype == np.uint16
    assert list(mine["TAB"].data["SC"]) == [3.5, 4.0, 1.0]
    assert mine["TAB"].data["CUBE"].shape == (3, 2, 3)
    with fits.open(path) as ref:
        assert mine[0].header.tostring() == ref[0].header.tostring()


@pytest.mark.parametrize(
    "edit",
    [
        lambda h: h.set("NEW", 1.5, "after", after="NAXIS"),
        lambda h: h.set("NEW", "x", before="BITPIX"),
        lambda h: h.__setitem__("EXPTIME", (2.0, "changed")),
        lambda h: h.__setitem__("EXPTIME", 1.0),  # same value and type: image kept
        lambda h: h.__setitem__("EXPTIME", 1),  # int for float: reformatted
        lambda h: h.__setitem__("TARGNAME", "A NEW NAME THAT IS LONGER " * 4),
        lambda h: h.__setitem__("ADDED", (np.float32(3.3), "a float32")),
        lambda h: h.__setitem__("ADDEDB", np.bool_(True)),
        lambda h: h.add_history("one more step " * 8),
        lambda h: h.add_history("before", before="EXPTIME"),
        lambda h: h.add_comment("a comment", after="TARGNAME"),
        lambda h: h.remove("HISTORY", remove_all=True),
        lambda h: h.remove("HISTORY"),
        lambda h: h.__delitem__("TARGNAME"),
        lambda h: h.insert(3, ("INS", 7, "inserted")),
        lambda h: h.insert("EXPTIME", ("INS2", "v"), after=True),
        lambda h: h.append(("APP", 1)),
        lambda h: h.append(("APP", 1), bottom=True),
        lambda h: h.append(("APP", 1), end=True),
        lambda h: h.append(),
        lambda h: h.comments.__setitem__("EXPTIME", "new comment"),
        lambda h: h.update({"EXPTIME": 5.0, "NEWKEY": "v"}),
        lambda h: h.__setitem__("HISTORY", "via setitem"),
        lambda h: h.__setitem__(0, False),
    ],
)
def test_header_edits_as_astropy(edit):
    text = (
        fits.Card("SIMPLE", True, "conforms").image
        + fits.Card("BITPIX", 8).image
        + fits.Card("NAXIS", 0).image
        + f"EXPTIME = {'1.000000E+00':>20} / seconds".ljust(80)
        + fits.Card("TARGNAME", "NGC1234").image
        + "HISTORY first".ljust(80)
        + "HISTORY second".ljust(80)
        + "COMMENT c".ljust(80)
        + " " * 80
        + "END".ljust(80)
    )
    text += " " * (-len(text) % 2880)
    ref, mine = fits.Header.fromstring(text), ff.Header.fromstring(text)
    assert ref.tostring() == mine.tostring()
    edit(ref)
    edit(mine)
    assert mine.tostring() == ref.tostring()
    assert [(c.keyword, _value(c.value), c.comment) for c in ref.cards] == [
        (c.keyword, c.value, c.comment) for c in mine.cards
    ]


@pytest.mark.parametrize(
    "value",
    [
        0.0,
        -0.0,
        1e-300,
        1.7976931348623157e308,
        123456789.123456789,
        np.float32(1e-7),
        np.float32(123.456),
        np.float64(2.5),
        3,
        -(2**62),
        np.int16(-5),
        np.uint16(65535),
        True,
        "",
        "x" * 68,
        "x" * 69,
        "a' b" * 30,
        "ends with blanks   ",
    ],
)
def test_card_format_as_astropy(value):
    for comment in ("", "some comment", "c" * 75):
        ref, mine = fits.Card("KEY", value, comment), ff.Card("KEY", value, comment)
        assert mine.image == ref.image
        back = ff.Card.fromstring(mine.image)
        reread = fits.Card.fromstring(ref.image)
        assert back.value == reread.value and back.comment == reread.comment


def test_memmap_and_unscaled(simfiles):
    raw = next(p for p in simfiles if p.name.endswith("_raw.fits") and p.name.startswith("j"))
    mapped = ff.open(raw, memmap=True, scale=False)[1].data
    stored = ff.open(raw, scale=False)[1].data
    scaled = ff.open(raw)[1].data
    assert isinstance(mapped, np.memmap) and mapped.dtype == np.dtype(">i2")
    assert np.array_equal(mapped, stored)
    assert np.array_equal(ff.open(raw, memmap=True)[1].data, scaled)
    assert stored.dtype == np.int16
    assert np.array_equal(stored.astype(np.int32) + 32768, scaled)
    with fits.open(raw, do_not_scale_image_data=True) as ref:
        assert _same(ref[1].data, stored)
