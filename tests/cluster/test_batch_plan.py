"""Planning a batch without running it: staging layout per cluster kind, resume over the
messages tree (processed and synced datasets), forwarded environment."""

from __future__ import annotations

import pytest

from caldp.cluster.batch import SKIPPED, _staging_layout, forwarded_env, run_batch
from caldp.messages import PROCESSED, SYNCED, MessageTree
from caldp.storage import Store


def test_staging_layout(tmp_path):
    staging, scratch, own = _staging_layout("local", "file:/out", str(tmp_path), None, "batch-1")
    assert staging == f"file:{tmp_path}/batch-1/staging" and scratch == f"{tmp_path}/batch-1/work"
    assert own == tmp_path / "batch-1" and own.is_dir()
    staging, scratch, own = _staging_layout("fargate", "s3://bucket/out/", None, None, "batch-2")
    assert (staging, scratch, own) == ("s3://bucket/out/caldp-staging/batch-2", "", None)
    staging, _, _ = _staging_layout("ec2", "file:/out", None, "s3://scratch/stage", "batch-3")
    assert staging == "s3://scratch/stage/batch-3"
    with pytest.raises(ValueError, match="s3:// staging"):
        _staging_layout("fargate", "file:/out", None, None, "batch-4")
    with pytest.raises(ValueError, match="s3:// staging"):
        _staging_layout("ec2", "s3://b/out", None, "file:/shared", "batch-5")


def test_resume_skips_processed_and_synced_without_a_cluster(tmp_path):
    out = tmp_path / "out"
    tree = MessageTree(Store(out))
    tree.set_state(
        "j8cb010b0",
        PROCESSED,
        exit_name="SUCCESS",
        wall=12.5,
        peak_rss_mb=800.0,
        products=["data/acs/j8cb010b0/j8cb010b0_crj.fits"],
    )
    tree.set_state("icd901010", SYNCED, exit_name="SUCCESS", products=[])
    result = run_batch(
        ["j8cb010b0", "ICD901010"],
        input_uri=f"file:{tmp_path}",
        output_uri=f"file:{out}",
        config="caldp-config-local",
        env={"CRDS_PATH": str(tmp_path)},
        cluster="tcp://127.0.0.1:1",
        workdir=str(tmp_path / "work"),
        progress=False,
    )
    assert result.ok and [r["state"] for r in result.summary] == [SKIPPED, SKIPPED]
    assert result.summary[0]["products"] == ["data/acs/j8cb010b0/j8cb010b0_crj.fits"]
    assert result.summary[0]["wall"] == 12.5 and result.summary[0]["attempts"] == 0
    assert "2 skipped" in result.table()


def test_bad_arguments_fail_before_any_work(tmp_path):
    kw = dict(input_uri=f"file:{tmp_path}", output_uri=f"file:{tmp_path}", env={"CRDS_PATH": str(tmp_path)})
    with pytest.raises(ValueError, match="invalid dataset name"):
        run_batch(["nope"], config="caldp-config-local", **kw)
    with pytest.raises(ValueError, match="WFPC2"):
        run_batch(["u2ab0101t"], config="caldp-config-local", **kw)
    with pytest.raises(ValueError, match="unknown config"):
        run_batch(["j8cb010b0"], config="caldp-config-elsewhere", **kw)
    with pytest.raises(ValueError, match="unknown cluster"):
        run_batch(["j8cb010b0"], config="caldp-config-local", cluster="slurm", **kw)
    assert not (tmp_path / "messages").exists()


def test_forwarded_environment():
    env = forwarded_env(
        {
            "CRDS_PATH": "/c",
            "CRDS_SERVER_URL": "u",
            "iref": "/c/",
            "CSYS_VER": "v1",
            "HOME": "/h",
            "PATH": "/bin",
            "CRDS_CONFIG_URI": "None",
            "AWS_SECRET_ACCESS_KEY": "x",
        }
    )
    assert env == {"CRDS_PATH": "/c", "CRDS_SERVER_URL": "u", "iref": "/c/", "CSYS_VER": "v1"}


def test_a_thousand_datasets_submit_in_under_ten_seconds(tmp_path):
    """Plan (memory estimates from input sizes), write 1,000 submitted messages and hand
    1,000 graphs to a scheduler (with no workers, so nothing runs) in < 10 s."""
    import time

    from distributed import Client, LocalCluster

    from caldp.cluster.batch import _mark_all_submitted, _plan, parse_datasets
    from caldp.cluster.memory import RUNGS_MB
    from caldp.pipeline import dataset_graph

    names = parse_datasets("\n".join(f"j{i:05d}01q" for i in range(1000)))
    kw = dict(
        input_uri=f"file:{tmp_path / 'in'}",
        output_uri=f"file:{tmp_path / 'out'}",
        config="caldp-config-local",
        staging_uri=f"file:{tmp_path / 'staging'}",
    )
    with LocalCluster(processes=False, n_workers=0, dashboard_address=":0") as cluster, Client(cluster) as client:
        t0 = time.perf_counter()
        entries, skipped = _plan(names, kw, False, RUNGS_MB)
        _mark_all_submitted([e.job for e in entries])
        futures = client.compute([dataset_graph(e.job, memory_mb=e.rung) for e in entries], optimize_graph=False)
        seconds = time.perf_counter() - t0
        client.cancel(futures)
    assert len(futures) == 1000 and not skipped
    assert len(list((tmp_path / "out" / "messages" / "dataset-submitted").iterdir())) == 1000
    assert seconds < 10, f"submitting 1,000 datasets took {seconds:.1f} s"
