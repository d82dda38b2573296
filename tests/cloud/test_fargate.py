"""FargateCluster through caldp's factory on the emulated AWS: real scheduler and workers."""

from __future__ import annotations

import json

from caldp.cluster.factory import ClusterOptions, start_cluster

from .conftest import wait_for


def test_fargate_two_workers_role_memory_and_cleanup(aws):
    iam = aws.client("iam")
    opts = ClusterOptions(
        cluster="fargate",
        workers=2,
        worker_cpu=1024,
        worker_mem_mb=2048,
        worker_env={"CRDS_OBSERVATORY": "hst"},
        data_uris=("s3://in-bucket/x", "s3://out-bucket/y", "s3://out-bucket/staging"),
    )
    before, started = aws.inventory(), {c["key"] for c in aws.state()["containers"]}
    handle = start_cluster(opts, {**aws.env(), "CALDP_CLUSTER_IMAGE": "caldp:test"})
    try:
        handle.client.wait_for_workers(2, timeout=60)
        info = handle.client.scheduler_info(n_workers=-1)["workers"]
        assert [w["resources"] for w in info.values()] == [{"memory": 2048}] * 2
        assert {w["memory_limit"] for w in info.values()} == {2048 * 2**20}
        assert handle.client.submit(lambda: __import__("os").environ["CRDS_OBSERVATORY"]).result(30) == "hst"
        ours = [c for c in aws.state()["containers"] if c["key"] not in started]
        roles = {c["role"] for c in ours if c["command"][0] == "dask-worker"}
        [role_arn] = roles
        name = role_arn.rsplit("/", 1)[-1]
        doc = iam.get_role_policy(RoleName=name, PolicyName="caldp-s3")["PolicyDocument"]
        text = json.dumps(doc)
        assert "arn:aws:s3:::in-bucket/*" in text and "arn:aws:s3:::out-bucket/*" in text
    finally:
        handle.close()
    assert wait_for(lambda: not aws.state()["alive"], 10), aws.state()["alive"]
    assert wait_for(lambda: aws.inventory() == before, 10), (before, aws.inventory())
