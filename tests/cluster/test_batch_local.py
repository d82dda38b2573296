"""run_batch on a LocalCluster of worker processes: a worker killed for memory (the
stand-in calacs.e SIGKILLs its worker, as the OOM killer would) is retried on the next
rung and completes; killed again, the dataset is recorded CONTAINER_MEMORY_ERROR."""

from __future__ import annotations

import dask
import distributed  # noqa: F401 -- its config defaults must exist before dask.config.set below
import pytest

from caldp.cluster.batch import run_batch

from . import kit
from .conftest import calacs_runs, message, messages


@pytest.fixture(scope="module")
def one_worker_cluster():
    """A LocalCluster with one single-threaded worker process (3 GiB, ``memory=3072``) whose
    scheduler turns a single worker death into KilledWorker."""
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(
            n_workers=1, threads_per_worker=1, memory_limit="3GiB", resources={"memory": 3072}, dashboard_address=":0"
        )
    with cluster, Client(cluster) as client:
        yield client


@pytest.mark.parametrize("kills", [1, 9])
def test_killed_worker_retried_on_the_next_rung(kit_env, inputs, tmp_path, kills, one_worker_cluster):
    names = kit.dataset_names(1)
    out = tmp_path / "out"
    counter = tmp_path / "kills"
    counter.write_text(str(kills))
    log = tmp_path / "calacs.log"
    env = {**kit_env, "FAKE_CALACS_KILLS": str(counter), "FAKE_CALACS_LOG": str(log)}
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # one death = KilledWorker
        result = run_batch(
            names,
            input_uri=inputs(names),
            output_uri=f"file:{out}",
            config="caldp-config-local",
            engine="hstcal",
            cluster="local",
            workers=1,
            threads_per_worker=1,
            memory_limit="3GiB",
            stage2=False,
            previews=False,
            workdir=str(tmp_path / "work"),
            env=env,
            progress=False,
        )
    (row,) = result.summary
    assert row["attempts"] == 2
    assert row["memory_mb"] == 3072, "the next rung (4096) clamped to the only worker's 3072 MB"
    runs = calacs_runs(log)
    assert len(runs) == 2 and runs[0][2] != runs[1][2], "second attempt on a new worker process"
    if kills == 1:
        assert result.ok and row["state"] == "datasets-processed" and row["exit_code"] == "SUCCESS"
        assert messages(out) == {"datasets-processed": names}
    else:
        assert not result.ok and row["state"] == "dataset-error"
        assert row["exit_code"] == "CONTAINER_MEMORY_ERROR"
        meta = message(out, "dataset-error", names[0])
        assert meta["exit_name"] == "CONTAINER_MEMORY_ERROR" and meta["exit_code"] == 33
        assert meta["step"] == "calibrate" and "KilledWorker" in meta["reason"]
        assert messages(out) == {"dataset-error": names}
