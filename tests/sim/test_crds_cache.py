"""The simulated CRDS cache: real mappings with verified checksums, bestrefs selects the simulated files."""

from __future__ import annotations

import shutil

import pytest
from astropy.io import fits

from caldp.bestrefs import assign_bestrefs, crds_environment

REF_KEYS = (
    "BIASFILE",
    "DARKFILE",
    "PFLTFILE",
    "CCDTAB",
    "OSCNTAB",
    "BPIXTAB",
    "IMPHTTAB",
    "CRREJTAB",
    "SATUFILE",
    "MDRIZTAB",
    "NLINFILE",
)


def test_layout(sim_small):
    cache = sim_small.crds_cache
    assert (cache / "references" / "hst" / "ref_cache_subdir_mode").read_text().strip() == "flat"
    config = (cache / "config" / "hst" / "server_config").read_text()
    assert "'operational_context': 'hst_0001.pmap'" in config and "'force_remote_mode': False" in config
    maps = sorted(p.name for p in (cache / "mappings" / "hst").iterdir())
    assert "hst_0001.pmap" in maps and "hst_acs_0001.imap" in maps and "hst_acs_biasfile_0001.rmap" in maps
    assert sim_small.env["CRDS_READONLY_CACHE"] == "1" and sim_small.env["jref"].endswith("/references/hst/")


def test_mappings_load_with_checksum_verification(sim_small, tmp_path, monkeypatch):
    from crds.core import exceptions, rmap

    monkeypatch.delenv("CRDS_IGNORE_MAPPING_CHECKSUM", raising=False)
    with crds_environment(sim_small.env):
        ctx = rmap.load_mapping(str(sim_small.crds_cache / "mappings" / "hst" / "hst_0001.pmap"))
        names = ctx.mapping_names()
        assert any(n.startswith("hst_wfc3_nlinfile") for n in names)
        # a tampered copy fails the sha1sum check, so verification really is on
        bad = tmp_path / "hst_acs_ccdtab_0001.rmap"
        text = (sim_small.crds_cache / "mappings" / "hst" / bad.name).read_text()
        bad.write_text(text.replace("caldp.sim", "tampered", 1))
        with pytest.raises(exceptions.ChecksumError):
            rmap.load_mapping(str(bad))


def _blank(sim_small, dest, modes, *, date_obs=None):
    """Copy the raws of `modes`, set their reference keywords to N/A; returns {raw: expected values}."""
    expected = {}
    for ds in sim_small.datasets:
        if ds.mode not in modes:
            continue
        work = dest / ds.name
        shutil.copytree(ds.input_path, work)
        for raw in sorted(work.glob("*_raw.fits")):
            with fits.open(raw, mode="update") as hdul:
                hdr = hdul[0].header
                expected[raw] = {k: hdr[k] for k in REF_KEYS if k in hdr and hdr[k] != "N/A"}
                for k in expected[raw]:
                    hdr[k] = "N/A"
                if date_obs:
                    hdr["DATE-OBS"] = date_obs
    return expected


MODES = ("acs-wfc-asn", "acs-hrc-asn", "wfc3-uvis-asn", "wfc3-ir", "wfc3-ir-asn", "acs-wfc")


@pytest.fixture(scope="module")
def bestrefs_run(sim_small, tmp_path_factory):
    """One crds bestrefs over the raws of every mode (blanked first)."""
    expected = _blank(sim_small, tmp_path_factory.mktemp("bestrefs"), MODES)
    assigned = assign_bestrefs(sorted(expected), sim_small.env)
    return expected, assigned


@pytest.mark.parametrize("mode", MODES)
def test_bestrefs_assigns_the_simulated_references(sim_small, bestrefs_run, mode):
    expected, assigned = bestrefs_run
    names = {d.name for d in sim_small.datasets if d.mode == mode}
    raws = [r for r in expected if r.parent.name in names]
    assert raws
    for raw in raws:
        assert expected[raw], "the simulator names its references in the raw header"
        for key, value in expected[raw].items():
            assert assigned[raw.name].get(key) == value, (raw.name, key)
        assert str(fits.getval(raw, "CRDS_CTX")) == "hst_0001.pmap"


def test_useafter_selects_by_date(sim_small, tmp_path):
    """An early observation date picks the early CCDTAB (UseAfter 1991), the current one the 2016 file."""
    expected = _blank(sim_small, tmp_path, ("acs-wfc",), date_obs="2004-06-01")
    raw = next(iter(expected))
    assigned = assign_bestrefs([raw], sim_small.env)
    old = assigned[raw.name]["CCDTAB"]
    assert old != expected[raw]["CCDTAB"]
    path = sim_small.crds_cache / "references" / "hst" / old.split("$")[1]
    assert fits.getval(path, "USEAFTER").startswith("1991")
