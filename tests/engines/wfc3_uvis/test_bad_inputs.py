"""Bad input → EngineError naming the file and the keyword, and no product left behind."""

import shutil

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.common.errors import EngineError
from caldp.engines.wfc3.calwf3 import calwf3

from . import synth

MEMBERS = ("tst01a1q", "tst01a2q")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("uvis_bad_base")
    synth.make_dataset(root)
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


# (case, file to change, change, file named in the error, keyword named in the error)
REFERENCE_CASES = [
    ("ccdtab-wrong-amp", "refs/t_ccd.fits", _set_column("CCDAMP", ["A", "A"]), "t_ccd.fits", "CCDTAB"),
    ("oscntab-wrong-amp", "refs/t_osc.fits", _set_column("CCDAMP", ["C", "C"]), "t_osc.fits", "OSCNTAB"),
    ("dark-wrong-shape", "refs/t_drk.fits", _narrow(range(1, 7)), "t_drk.fits", "DARKFILE"),
    ("dark-wrong-detector", "refs/t_drk.fits", _primary("DETECTOR", "IR"), "t_drk.fits", "DARKFILE"),
    ("flat-wrong-filter", "refs/t_pfl.fits", _primary("FILTER", "F814W"), "t_pfl.fits", "PFLTFILE"),
    ("bias-wrong-gain", "refs/t_bia.fits", _primary("CCDGAIN", 2.0), "t_bia.fits", "BIASFILE"),
    ("bias-wrong-type", "refs/t_bia.fits", _primary("FILETYPE", "DARK"), "t_bia.fits", "BIASFILE"),
    ("satufile-wrong-shape", "refs/t_sat.fits", _narrow((1, 4)), "t_sat.fits", "SATUFILE"),
    ("snkcfile-wrong-shape", "refs/t_snk.fits", _narrow((1, 4)), "t_snk.fits", "SNKCFILE"),
    ("crrejtab-missing-column", "refs/t_crr.fits", _drop_column("CRSIGMAS"), "t_crr.fits", "CRREJTAB"),
    ("bpixtab-no-sizaxis", "refs/t_bpx.fits", _drop_header("SIZAXIS1"), "t_bpx.fits", "BPIXTAB"),
]


@pytest.mark.parametrize(("case", "target", "change", "fname", "keyword"), REFERENCE_CASES, ids=lambda v: v)
def test_bad_reference(base, tmp_path, case, target, change, fname, keyword):
    work = tmp_path / case
    shutil.copytree(base, work)
    _update(work / target, change)
    with pytest.raises(EngineError) as info:
        calwf3(work / "tst01011_asn.fits", outdir=work, env={"iref": f"{work / 'refs'}/"})
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
        calwf3(work / "tst01011_asn.fits", outdir=work, env={"iref": f"{work / 'refs'}/"})
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
        calwf3(work / "tst01011_asn.fits", outdir=work, env={"iref": f"{work / 'refs'}/"})
    assert info.value.keyword == "SHADCORR"
    assert not list(work.glob("*_flt.fits")) and not list(work.glob("*_crj*.fits"))
