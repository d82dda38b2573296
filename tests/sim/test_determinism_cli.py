"""Same seed, same bytes; tar mode; the caldp-sim command line."""

from __future__ import annotations

import hashlib
import tarfile

from astropy.io import fits

from caldp import sim
from caldp.cli.sim import main


def _digests(root):
    return {
        p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes(tmp_path):
    a = sim.simulate(tmp_path / "a", modes=("acs-wfc", "wfc3-ir"), seed=11)
    b = sim.simulate(tmp_path / "b", modes=("acs-wfc", "wfc3-ir"), seed=11)
    c = sim.simulate(tmp_path / "c", modes=("acs-wfc", "wfc3-ir"), seed=12)
    da, db, dc = _digests(tmp_path / "a"), _digests(tmp_path / "b"), _digests(tmp_path / "c")
    assert da == db
    raws = [k for k in da if k.endswith("_raw.fits")]
    assert raws and all(da[k] != dc[k] for k in raws)
    assert [d.name for d in a.datasets] == [d.name for d in b.datasets] == [d.name for d in c.datasets]


def test_tar_and_count(tmp_path):
    res = sim.simulate(tmp_path, modes=("acs-wfc",), count=2, tar=True, seed=2)
    again = sim.simulate(tmp_path / "again", modes=("acs-wfc",), count=2, tar=True, seed=2)
    assert [d.input_path.read_bytes() for d in res.datasets] == [d.input_path.read_bytes() for d in again.datasets]
    names = [d.name for d in res.datasets]
    assert len(set(names)) == 2
    for ds in res.datasets:
        assert ds.input_path == tmp_path / "inputs" / f"{ds.name}.tar.gz" and ds.input_path.is_file()
        with tarfile.open(ds.input_path) as tar:
            members = tar.getnames()
        assert f"{ds.name}/{ds.name}_raw.fits" in members and f"{ds.name}/{ds.name}_spt.fits" in members
        assert not (tmp_path / "inputs" / ds.name).exists()


def test_cli(tmp_path, capsys):
    assert main([str(tmp_path), "--modes", "acs-wfc,wfc3-ir", "--seed", "4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["jcs201a1q", "acs-wfc"] and out[1].split()[1] == "wfc3-ir"
    exports = dict(line[len("export ") :].split("=", 1) for line in out if line.startswith("export "))
    assert exports["CRDS_PATH"] == str(tmp_path / "crds_cache") and exports["jref"].endswith("references/hst/")
    assert main([str(tmp_path), "--modes", "nosuch"]) == 2
    assert "unknown mode" in capsys.readouterr().err


def test_second_call_extends_the_cache(tmp_path):
    """A later simulate() into the same directory keeps the earlier datasets' references in the rules."""
    sim.simulate(tmp_path, modes=("acs-wfc",), seed=3)
    res = sim.simulate(tmp_path, modes=("wfc3-ir",), seed=3)
    maps = tmp_path / "crds_cache" / "mappings" / "hst"
    pmap = (maps / "hst_0001.pmap").read_text()
    assert "'ACS' : 'hst_acs_0001.imap'" in pmap and "'WFC3' : 'hst_wfc3_0001.imap'" in pmap
    bias = (maps / "hst_acs_biasfile_0001.rmap").read_text()
    name = fits.getval(next((tmp_path / "inputs" / "jcs201a1q").glob("*_raw.fits")), "BIASFILE").split("$")[1]
    assert name in bias and (res.crds_cache / "references" / "hst" / name).is_file()
    assert (tmp_path / "datasets.txt").read_text().split() == ["ics501a1q"]
