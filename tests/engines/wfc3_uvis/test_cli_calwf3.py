"""caldp-calwf3: arguments, exit codes and products in the current directory, like calwf3.e."""

import shutil

import pytest
from astropy.io import fits

from caldp.cli.calwf3 import main
from caldp.sim.naming import dataset_names

PROD, (M1, M2) = dataset_names("wfc3-uvis-asn", 0, members=2)


@pytest.fixture(scope="module")
def dataset(uvis_mini):
    return uvis_mini


def test_cli_runs_in_cwd(dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("iref", dataset["env"]["iref"])
    assert main(["-q", str(dataset["asn"])]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        f"{PROD}.tra",
        f"{PROD}_crj.fits",
        f"{PROD}_spt.fits",  # from the members' _spt files
        f"{M1}.tra",
        f"{M1}_flt.fits",
        f"{M2}.tra",
        f"{M2}_flt.fits",
    ]
    # second run refuses to overwrite: calwf3.e's generic error status
    assert main(["-q", str(dataset["asn"])]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("ERROR:") and "already exists" in err


def test_cli_keeps_intermediates_with_s(dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("iref", dataset["env"]["iref"])
    assert main(["-s", "-q", str(dataset["asn"])]) == 0
    assert (tmp_path / f"{PROD}_crj_tmp.fits").exists() and (tmp_path / f"{M2}_blv_tmp.fits").exists()


def test_cli_missing_reference_exit_115(dataset, tmp_path, monkeypatch, capsys):
    m = dataset["members"][0]
    shutil.copy(dataset["asn"].parent / f"{m}_raw.fits", tmp_path)
    with fits.open(tmp_path / f"{m}_raw.fits", mode="update") as h:
        h[0].header["CRCORR"] = "OMIT"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("iref", str(tmp_path / "nowhere") + "/")
    assert main([f"{m}_raw.fits"]) == 115
    assert "CCDTAB" in capsys.readouterr().err


def test_cli_version_and_syntax(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == "3.7.3"
    assert main(["-r"]) == 0
    assert "Current version: caldp" in capsys.readouterr().out
    assert main([]) == 2
    assert main(["-x", "a_raw.fits"]) == 2
    assert main(["a_raw.fits", "b_raw.fits"]) == 2
