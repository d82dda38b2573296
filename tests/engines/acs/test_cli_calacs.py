"""caldp-calacs: arguments, exit codes and products in the current directory, like calacs.e."""

from caldp.cli.calacs import main
from caldp.sim.naming import dataset_names

PROD, (M1, M2) = dataset_names("acs-wfc-asn", 0, members=2)


def test_cli_runs_in_cwd(mini, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("jref", mini["env"]["jref"])
    assert main(["-q", str(mini["asn"])]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"{PROD}.tra",
        f"{PROD}_crj.fits",
        f"{PROD}_spt.fits",  # from the members' _spt files
        f"{M1}.tra",
        f"{M1}_flt.fits",
        f"{M2}.tra",
        f"{M2}_flt.fits",
    ]
    assert main(["-q", str(mini["asn"])]) == 2
    assert "already exists" in capsys.readouterr().err


def test_cli_keeps_intermediates(mini, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("jref", mini["env"]["jref"])
    assert main(["-s", "-q", "--nthreads", "2", str(mini["asn"])]) == 0
    assert (tmp_path / f"{PROD}_crj_tmp.fits").exists() and (tmp_path / f"{M1}_blv_tmp.fits").exists()


def test_cli_version_and_syntax(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == "10.5.0"
    assert main(["-r"]) == 0
    assert "Current version: caldp" in capsys.readouterr().out
    assert main([]) == 2
    assert main(["-x", "a_raw.fits"]) == 2
