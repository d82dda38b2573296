"""caldp-calstis: cs0.e's arguments, exit statuses and product placement (beside the input, or
where `outroot` says); side by side with cs0.e when HSTCAL is on PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from caldp.cli.calstis import main

from ..wfc3_uvis.productdiff import assert_products_match


@pytest.fixture
def raw_copy(stis_small, tmp_path, monkeypatch):
    """The dataset's inputs in a fresh folder, `oref` set, and the current directory elsewhere."""
    (ds,) = stis_small.datasets
    work = tmp_path / "in"
    shutil.copytree(ds.input_path, work)
    monkeypatch.setenv("oref", stis_small.env["oref"])
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return ds.name, work, elsewhere


def _new_files(folder, before):
    return sorted(p.name for p in folder.iterdir() if p.name not in before)


def test_products_beside_the_input_as_cs0(raw_copy):
    name, work, elsewhere = raw_copy
    before = {p.name for p in work.iterdir()}
    assert main(["-q", str(work / f"{name}_raw.fits")]) == 0
    assert _new_files(work, before) == [f"{name}.tra", f"{name}_crj.fits", f"{name}_flt.fits"]
    assert list(elsewhere.iterdir()) == []


def test_outroot_directory_and_name(raw_copy, capsys):
    name, work, elsewhere = raw_copy
    assert main(["-q", str(work / f"{name}_raw.fits"), "out/"]) == 2
    assert capsys.readouterr().err.strip() == "ERROR: out: output directory does not exist"
    (elsewhere / "out").mkdir()
    assert main(["-q", str(work / f"{name}_raw.fits"), "out/", "-w", "ignored_wav.fits"]) == 0
    assert sorted(p.name for p in (elsewhere / "out").iterdir()) == [
        f"{name}.tra",
        f"{name}_crj.fits",
        f"{name}_flt.fits",
    ]
    (elsewhere / "named").mkdir()
    assert main(["-q", str(work / f"{name}_raw.fits"), "named/target_raw.fits"]) == 0
    assert sorted(p.name for p in (elsewhere / "named").iterdir()) == [
        "target.tra",
        "target_crj.fits",
        "target_flt.fits",
    ]
    assert main(["-q", str(work / f"{name}_raw.fits"), "out/"]) == 2  # never overwrites
    assert "already exists" in capsys.readouterr().err


def test_version_syntax_and_errors(raw_copy, capsys):
    name, work, _ = raw_copy
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == "3.5.0"
    assert main(["-r"]) == 0 and "Current version: caldp" in capsys.readouterr().out
    assert main([]) == 2 and "syntax:  caldp-calstis" in capsys.readouterr().err
    assert main(["a_raw.fits", "b/", "c"]) == 2  # input and outroot at most
    assert main(["-w"]) == 2
    capsys.readouterr()
    assert main(["-q", str(work / "missing_raw.fits")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ERROR:") and "missing_raw.fits" in err[0]


def test_installed_command(raw_copy):
    """The console script, as a user runs it."""
    name, work, _ = raw_copy
    exe = shutil.which("caldp-calstis", path=os.path.dirname(sys.executable))
    assert exe, "caldp-calstis is installed beside this Python"
    proc = subprocess.run([exe, f"{name}_raw.fits"], cwd=work, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (work / f"{name}_flt.fits").is_file() and (work / f"{name}_crj.fits").is_file()


@pytest.mark.hstcal
def test_same_products_as_cs0(raw_copy, cs0, tmp_path):
    exe, env = cs0
    name, work, _ = raw_copy
    hst = tmp_path / "hst"
    shutil.copytree(work, hst)
    ours = subprocess.run([shutil.which("caldp-calstis", path=os.path.dirname(sys.executable)),
                           f"{name}_raw.fits"], cwd=work, env=env, capture_output=True, text=True)  # fmt: skip
    theirs = subprocess.run([exe, f"{name}_raw.fits"], cwd=hst, env=env, capture_output=True, text=True)
    assert ours.returncode == theirs.returncode == 0, (ours.stderr, theirs.stdout[-2000:])
    assert_products_match(hst, work, [f"{name}_flt.fits", f"{name}_crj.fits"])
