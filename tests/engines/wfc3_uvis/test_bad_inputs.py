"""Bad input → EngineError naming the file and the keyword, and no product left behind."""

import shutil

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.common.errors import EngineError
from caldp.engines.wfc3.calwf3 import calwf3
from caldp.sim.naming import dataset_names

PROD, MEMBERS = dataset_names("wfc3-uvis-asn", 0, members=2)


@pytest.fixture(scope="module")
def base(uvis_mini, tmp_path_factory):
    """The mini association's inputs with its references in ``refs/``."""
    root = tmp_path_factory.mktemp("uvis_bad_base")
    shutil.copytree(uvis_mini["asn"].parent, root, dirs_exist_ok=True)
    shutil.copytree(uvis_mini["refdir"], root / "refs")
    return root


def _update(path, fn):
    with fits.open(path, mode="update") as h:
        fn(h)


def _set_column(name, values):
    def fn(h):
        h[1].data[name] = np.array(values)

    return fn


def _narrow(extensions, ncols=50):
    def fn(h):
        for i in extensions:
            if h[i].data is None:  # a constant (HSTIO null) extension
                h[i].header["NPIX1"] = ncols
            else:
                h[i].data = h[i].data[:, :ncols]

    return fn


def _primary(key, value):
    def fn(h):
        h[0].header[key] = value

    return fn


def _drop_column(name):
    def fn(h):
        h[1] = fits.BinTableHDU.from_columns([c for c in h[1].columns if c.name != name], header=h[1].header)

    return fn


def _drop_header(key):
    def fn(h):
        del h[1].header[key]

    return fn


# (case, change, keyword of the reference changed and named in the error)
REFERENCE_CASES = [
    ("ccdtab-wrong-amp", _set_column("CCDAMP", ["A", "A", "A"]), "CCDTAB"),
    ("oscntab-wrong-amp", _set_column("CCDAMP", ["C", "C", "C"]), "OSCNTAB"),
    ("dark-wrong-shape", _narrow(range(1, 7)), "DARKFILE"),
    ("dark-wrong-detector", _primary("DETECTOR", "IR"), "DARKFILE"),
    ("flat-wrong-filter", _primary("FILTER", "F814W"), "PFLTFILE"),
    ("bias-wrong-gain", _primary("CCDGAIN", 2.0), "BIASFILE"),
    ("bias-wrong-type", _primary("FILETYPE", "DARK"), "BIASFILE"),
    ("satufile-wrong-shape", _narrow((1, 4)), "SATUFILE"),
    ("snkcfile-wrong-shape", _narrow((1, 4)), "SNKCFILE"),
    ("crrejtab-missing-column", _drop_column("CRSIGMAS"), "CRREJTAB"),
    ("bpixtab-no-sizaxis", _drop_header("SIZAXIS1"), "BPIXTAB"),
]


@pytest.mark.parametrize(("case", "change", "keyword"), REFERENCE_CASES, ids=lambda v: v if isinstance(v, str) else "")
def test_bad_reference(base, tmp_path, case, change, keyword):
    work = tmp_path / case
    shutil.copytree(base, work)
    fname = fits.getval(work / f"{MEMBERS[0]}_raw.fits", keyword).split("$", 1)[1]
    _update(work / "refs" / fname, change)
    with pytest.raises(EngineError) as info:
        calwf3(work / f"{PROD}_asn.fits", outdir=work, env={"iref": f"{work / 'refs'}/"})
    assert info.value.keyword == keyword
    assert str(info.value.file).endswith(fname)
    assert keyword in str(info.value) and fname in str(info.value)
    assert not list(work.glob("*_flt.fits")) and not list(work.glob("*_crj*.fits")) and not list(work.glob("*.tra"))


@pytest.mark.parametrize("keyword", ["EXPTIME", "EXPSTART", "FILTER", "CCDAMP"])
def test_missing_raw_keyword(base, tmp_path, keyword):
    work = tmp_path / keyword
    shutil.copytree(base, work)
    _update(work / f"{MEMBERS[1]}_raw.fits", lambda h: h[0].header.remove(keyword))
    with pytest.raises(EngineError) as info:
        calwf3(work / f"{PROD}_asn.fits", outdir=work, env={"iref": f"{work / 'refs'}/"})
    assert info.value.keyword == keyword
    assert str(info.value.file).endswith(f"{MEMBERS[1]}_raw.fits")
    assert not list(work.glob("*_flt.fits")) and not list(work.glob("*_crj*.fits"))


def test_shadcorr_with_cr_combination_refused(base, tmp_path):
    """WF3REJ would fold the shutter shading into the exposure times (rej_loop.c): refused, not approximated."""
    work = tmp_path / "shad"
    shutil.copytree(base, work)
    for m in MEMBERS:
        _update(work / f"{m}_raw.fits", _primary("SHADCORR", "PERFORM"))
    with pytest.raises(EngineError) as info:
        calwf3(work / f"{PROD}_asn.fits", outdir=work, env={"iref": f"{work / 'refs'}/"})
    assert info.value.keyword == "SHADCORR"
    assert not list(work.glob("*_flt.fits")) and not list(work.glob("*_crj*.fits"))
