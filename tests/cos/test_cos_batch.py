"""COS in caldp-batch next to ACS and WFC3 (one mixed datasets list, LocalCluster), and the memory
model's COS inputs (events, not bytes)."""

from __future__ import annotations

import pytest
from astropy.io import fits

from caldp.cluster import memory
from tests.cluster.conftest import messages

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_memory_model_counts_cos_events(nuv):
    result = nuv[0]
    ds = result.datasets[0]
    raws = sorted(ds.input_path.glob("*_rawtag*.fits"))
    events = sum(fits.getheader(r, "EVENTS")["NAXIS2"] for r in raws)
    measured = memory.local_input_bytes(f"file:{ds.input_path.parent}", ds.name)
    assert measured == events * memory.COS_BYTES_PER_EVENT
    est = memory.estimate(ds.name, measured)
    assert est.mode == "cos" and est.measured
    assert est.peak_mb == pytest.approx(memory.COS_BASE_MB + memory.COS_MB_PER_MEVENT * events / 1e6, abs=1.0)
    big = memory.estimate("lcs701010", 40_000_000 * memory.COS_BYTES_PER_EVENT)  # 40 M events
    assert big.mode == "cos-asn" and big.rung_mb > est.rung_mb


@pytest.mark.slow
def test_mixed_batch_on_local_cluster(tmp_path):
    """ACS, WFC3 and COS datasets in one list on a 2-worker LocalCluster: all processed, each in its
    instrument's tree, COS with its x1d and spectrum preview."""
    from caldp import sim
    from caldp.cluster.batch import run_batch

    result = sim.simulate(tmp_path / "sim", modes=("acs-wfc", "wfc3-ir", "cos-nuv"), size="small", seed=9)
    names = [d.name for d in result.datasets]
    out = tmp_path / "out"
    batch = run_batch(
        names,
        input_uri=f"file:{tmp_path / 'sim' / 'inputs'}",
        output_uri=f"file:{out}",
        config="caldp-config-local",
        engine="builtin",
        cluster="local",
        workers=2,
        threads_per_worker=1,
        stage2=False,
        workdir=str(tmp_path / "work"),
        env={"CRDS_PATH": str(result.crds_cache)},
        progress=False,
        report=False,
    )
    assert sorted(messages(out).get("datasets-processed", [])) == sorted(names), messages(out)
    rows = {r["dataset"]: r for r in batch.summary}
    cos = next(d for d in result.datasets if d.instrument == "cos")
    assert rows[cos.name]["memory_mb"] in memory.RUNGS_MB
    assert (out / "data" / "cos" / cos.name / f"{cos.name}_x1d.fits").is_file()
    assert (out / "data" / "cos" / cos.name / "previews" / f"{cos.name}_x1d.png").is_file()
    for d in result.datasets:
        assert (out / "data" / d.instrument / d.name).is_dir()
