"""caldp-process end to end on a simulated ACS/WFC association through real CRDS bestrefs."""

from __future__ import annotations

import shutil

import pytest
from astropy.io import fits

from .conftest import message, messages, run_process


@pytest.fixture(scope="module")
def processed(sim_acs, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("process_ok")
    ds = sim_acs.datasets[0]
    inputs = tmp / "in"
    shutil.copytree(ds.input_path, inputs)
    (inputs / f"{ds.name}_cal_env.txt").write_text("CSYS_VER=caldp-test-7\nAWSDPVER = dp-1\n")
    out = tmp / "out"
    proc = run_process(ds.name, f"file:{inputs}", f"file:{out}", "caldp-config-local",
                       env={**sim_acs.env, "AWSYSVER": "sys-2"})
    return ds, out, proc


def test_exit_and_final_line(processed):
    ds, out, proc = processed
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stderr.splitlines()[-1] == "EXIT - SUCCESS[0]: Processing completed successfully."


def test_output_tree(processed):
    ds, out, proc = processed
    ddir = out / "data" / "acs" / ds.name
    names = {p.name for p in ddir.iterdir()}
    members = [n.split("_")[0] for n in names if n.endswith("_raw.fits")]
    assert len(members) == 2
    for m in members:
        assert f"{m}_flt.fits" in names and f"{m}.tra" in names
    assert f"{ds.name}_crj.fits" in names and f"{ds.name}_asn.fits" in names
    assert not [n for n in names if n.endswith("_tmp.fits")], "intermediates only on request"
    assert (ddir / "env" / f"{ds.name}_cal_env.txt").is_file()
    log = (ddir / "logs" / "process.txt").read_text()
    assert "CRDS bestrefs" in log and log.rstrip().endswith("EXIT - SUCCESS[0]: Processing completed successfully.")
    metrics = (ddir / "logs" / "process_metrics.txt").read_text()
    assert "Exit status: 0" in metrics and "Maximum resident set size" in metrics and "Step calibrate" in metrics
    assert not list(out.rglob("*.part")), "no temporary files left behind"


def test_messages(processed):
    ds, out, proc = processed
    assert messages(out) == {"datasets-processed": [ds.name]} or (
        messages(out).get("datasets-processed") == [ds.name]
        and not any(messages(out).get(s) for s in ("dataset-error", "dataset-processing", "dataset-submitted"))
    )
    meta = message(out, "datasets-processed", ds.name)
    assert meta["exit_code"] == 0 and meta["exit_name"] == "SUCCESS"
    assert any(p.endswith("_crj.fits") for p in meta["products"])
    assert [h["state"] for h in meta["history"]][-3:] == ["dataset-submitted", "dataset-processing",
                                                          "datasets-processed"]


def test_headers_have_crds_references_and_versions(processed):
    ds, out, proc = processed
    ddir = out / "data" / "acs" / ds.name
    raw = sorted(ddir.glob("*_raw.fits"))[0]
    hdr = fits.getheader(raw)
    assert str(hdr["CRDS_CTX"]).endswith(".pmap")
    for key in ("BIASFILE", "DARKFILE", "PFLTFILE", "CCDTAB", "OSCNTAB", "BPIXTAB", "IMPHTTAB", "CRREJTAB"):
        assert str(hdr[key]).startswith("jref$"), (key, hdr[key])
    assert hdr["CSYS_VER"] == "caldp-test-7" and hdr["AWSDPVER"] == "dp-1" and hdr["AWSYSVER"] == "sys-2"
    flt = sorted(ddir.glob("*_flt.fits"))[0]
    fhdr = fits.getheader(flt)
    assert fhdr["DARKCORR"] == "COMPLETE" and fhdr["FLATCORR"] == "COMPLETE"
    assert fits.getval(flt, "BUNIT", ext=1) == "ELECTRONS"


def test_drizzled_product_log_and_previews(processed):
    ds, out, proc = processed
    ddir = out / "data" / "acs" / ds.name
    with fits.open(ddir / f"{ds.name}_drz.fits") as drz:
        assert {"SCI", "WHT", "CTX"} <= {h.name for h in drz}
    assert (ddir / "logs" / f"{ds.name}_runastrodriz.log").stat().st_size > 0
    previews = {p.name for p in (ddir / "previews").iterdir()}
    for product in [p.name for p in ddir.glob("*_f*.fits")] + [f"{ds.name}_crj.fits", f"{ds.name}_drz.fits"]:
        stem = product.removesuffix(".fits")
        if product.endswith(("_flt.fits", "_crj.fits", "_drz.fits")):
            assert {f"{stem}.jpg", f"{stem}_thumb.jpg"} <= previews, (product, previews)
    meta = message(out, "datasets-processed", ds.name)
    assert f"data/acs/{ds.name}/previews/{ds.name}_drz.jpg" in meta["products"]
