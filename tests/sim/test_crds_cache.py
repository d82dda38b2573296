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
        assert any(n.startswith("hst_acs_biasfile") for n in names)
        # a tampered copy fails the sha1sum check, so verification really is on
        bad = tmp_path / "hst_acs_ccdtab_0001.rmap"
        text = (sim_small.crds_cache / "mappings" / "hst" / bad.name).read_text()
        bad.write_text(text.replace("caldp.sim", "tampered", 1))
        with pytest.raises(exceptions.ChecksumError):
            rmap.load_mapping(str(bad))


def _blank_and_assign(sim_small, tmp_path, mode, *, date_obs=None):
    ds = next(d for d in sim_small.datasets if d.mode == mode)
    work = tmp_path / ds.name
    shutil.copytree(ds.input_path, work)
    raws = sorted(work.glob("*_raw.fits"))
    expected = {}
    for raw in raws:
        with fits.open(raw, mode="update") as hdul:
            hdr = hdul[0].header
            expected[raw.name] = {k: hdr[k] for k in REF_KEYS if k in hdr and hdr[k] != "N/A"}
            for k in expected[raw.name]:
                hdr[k] = "N/A"
            if date_obs:
                hdr["DATE-OBS"] = date_obs
    assigned = assign_bestrefs(raws, sim_small.env)
    return expected, assigned, raws


@pytest.mark.parametrize("mode", ["acs-wfc-asn", "acs-hrc-asn", "acs-wfc"])
def test_bestrefs_assigns_the_simulated_references(sim_small, tmp_path, mode):
    expected, assigned, raws = _blank_and_assign(sim_small, tmp_path, mode)
    for raw in raws:
        assert expected[raw.name], "the simulator names its references in the raw header"
        for key, value in expected[raw.name].items():
            assert assigned[raw.name].get(key) == value, (raw.name, key)
        assert str(fits.getval(raw, "CRDS_CTX")) == "hst_0001.pmap"


def test_useafter_selects_by_date(sim_small, tmp_path):
    """An early observation date picks the early CCDTAB (UseAfter 1991), the current one the 2016 file."""
    expected, assigned, raws = _blank_and_assign(sim_small, tmp_path, "acs-wfc", date_obs="2004-06-01")
    old = assigned[raws[0].name]["CCDTAB"]
    assert old != expected[raws[0].name]["CCDTAB"]
    path = sim_small.crds_cache / "references" / "hst" / old.split("$")[1]
    assert fits.getval(path, "USEAFTER").startswith("1991")
