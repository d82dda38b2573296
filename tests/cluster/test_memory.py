"""The memory model and rungs, and the calibrate task's memory resource on a real scheduler."""

from __future__ import annotations

import time

import pytest

from caldp.cluster import memory
from caldp.pipeline import dataset_graph
from caldp.tasks.records import Job

from . import kit


def test_model_grows_with_input_and_rounds_up_to_a_rung():
    small = memory.estimate("j8cb01u2q", input_bytes=10 * 2**20)
    large = memory.estimate("j8cb010b0", input_bytes=300 * 2**20)
    assert small.mode == "acs" and large.mode == "acs-asn"
    assert small.peak_mb < large.peak_mb
    for est in (small, large):
        assert est.rung_mb in memory.RUNGS_MB and est.rung_mb >= est.peak_mb * memory.MARGIN
        below = [r for r in memory.RUNGS_MB if r < est.rung_mb]
        assert not below or below[-1] < est.peak_mb * memory.MARGIN, "the smallest rung that fits"


def test_unmeasured_inputs_use_the_mode_default():
    est = memory.estimate("iabc01010")
    assert not est.measured and est.input_mb == memory.MODEL["wfc3-asn"].default_input_mb


def test_rung_ladder():
    assert [memory.next_rung(r) for r in memory.RUNGS_MB] == [*memory.RUNGS_MB[1:], None]
    assert memory.rung_for(10**9) == memory.RUNGS_MB[-1]
    assert memory.fit_rung(8192, None) == 8192 and memory.fit_rung(8192, 3000) == 3000


def test_local_input_sizes(tmp_path):
    names = kit.dataset_names(2)
    kit.write_inputs(tmp_path, names, npix=64)
    size = memory.local_input_bytes(f"file:{tmp_path}", names[0])
    assert size == (tmp_path / names[0] / f"{names[0]}_raw.fits").stat().st_size
    assert memory.local_input_bytes(f"file:{tmp_path}", "jzz99901q") is None
    assert memory.local_input_bytes("s3://bucket/in", names[0]) is None


def test_calibrate_task_carries_the_memory_resource(tmp_path):
    """A calibrate task asking for more memory than any worker has never starts; its fetch
    (no resource) runs. The scheduler holds the restriction the graph declared."""
    from distributed import Client, LocalCluster

    job = Job("jzz00001q", input_uri=f"file:{tmp_path}", output_uri=f"file:{tmp_path}")
    with (
        LocalCluster(
            processes=False, n_workers=1, threads_per_worker=1, resources={"memory": 1000}, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        fut = client.compute(dataset_graph(job, memory_mb=5000), optimize_graph=False)

        def restrictions(dask_scheduler):
            return {str(k): (ts.resource_restrictions, ts.state) for k, ts in dask_scheduler.tasks.items()}

        deadline = time.monotonic() + 10
        seen = {}
        while time.monotonic() < deadline and seen.get("calibrate-jzz00001q", (0, ""))[1] != "no-worker":
            seen = client.run_on_scheduler(restrictions)
            time.sleep(0.1)
        assert seen["calibrate-jzz00001q"][0] == {"memory": 5000}
        assert seen["calibrate-jzz00001q"][1] == "no-worker"
        assert not fut.done()
        fut.cancel()


@pytest.mark.parametrize("rung", [None, 512])
def test_graph_without_or_within_resources_completes(rung, tmp_path):
    from distributed import Client, LocalCluster

    job = Job("jzz00001q", input_uri=f"file:{tmp_path}", output_uri=f"file:{tmp_path}")
    with (
        LocalCluster(
            processes=False, n_workers=1, threads_per_worker=1, resources={"memory": 1000}, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        record = client.compute(dataset_graph(job, memory_mb=rung), optimize_graph=False).result(timeout=30)
    assert record.failure.step == "fetch"
