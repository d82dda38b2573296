"""EC2Cluster through caldp's factory on the emulated AWS: real scheduler and workers on
"instances" (each the ``docker run`` line of its cloud-init, run through docker/entrypoint.sh)."""

from __future__ import annotations

import copy
import json

import dask
import pytest

from caldp.cluster.factory import ClusterOptions, start_cluster

from .conftest import wait_for


@pytest.fixture
def own_dask_config():
    """EC2Cluster (VMCluster) sets its TLS settings in the process-wide dask config and never
    unsets them: later clusters in this test process would speak TLS to plain-TCP schedulers."""
    saved = copy.deepcopy(dask.config.config)
    yield
    dask.config.config.clear()
    dask.config.config.update(saved)


def test_ec2_two_workers_profile_group_memory_and_cleanup(aws, own_dask_config):
    iam, ec2 = aws.client("iam"), aws.client("ec2")
    opts = ClusterOptions(
        cluster="ec2",
        workers=2,
        worker_mem_mb=1536,
        instance_type="t3.medium",
        worker_env={"CRDS_OBSERVATORY": "hst"},
        data_uris=("s3://in-bucket/x", "s3://out-bucket/y", "s3://stage-bucket/s"),
    )
    # no CALDP_SECURITY_GROUPS: caldp makes the group (dask-cloudprovider's own default group fails)
    before, earlier = aws.inventory(), {c["key"] for c in aws.state()["containers"]}
    handle = start_cluster(opts, {**aws.env(), "CALDP_CLUSTER_IMAGE": "caldp:test"})
    try:
        handle.client.wait_for_workers(2, timeout=60)
        info = handle.client.scheduler_info(n_workers=-1)["workers"]
        assert [w["resources"] for w in info.values()] == [{"memory": 1536}] * 2
        assert {w["memory_limit"] for w in info.values()} == {1536 * 2**20}
        started = {c["address"] for c in aws.state()["containers"] if c["key"] not in earlier}
        assert {w["host"] for w in info.values()} <= started  # the workers are the instances started
        assert handle.client.submit(lambda: __import__("os").environ["CRDS_OBSERVATORY"]).result(30) == "hst"
        containers = [c for c in aws.state()["containers"] if c["key"] not in earlier]
        assert len(containers) == 3  # scheduler + 2 workers
        [profile_arn] = {c["role"] for c in containers}
        profile = iam.get_instance_profile(InstanceProfileName=profile_arn.rsplit("/", 1)[-1])["InstanceProfile"]
        [role] = profile["Roles"]
        doc = json.dumps(iam.get_role_policy(RoleName=role["RoleName"], PolicyName="caldp-s3")["PolicyDocument"])
        for bucket in ("in-bucket", "out-bucket", "stage-bucket"):
            assert f"arn:aws:s3:::{bucket}/*" in doc
        groups = [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]]
        assert [g for g in groups if g.startswith("caldp-") and g not in before["security_groups"]], groups
        assert all(c["env"].get("CRDS_OBSERVATORY") == "hst" for c in containers)
    finally:
        handle.close()
    assert wait_for(lambda: not aws.state()["alive"], 10), aws.state()["alive"]
    assert wait_for(lambda: aws.inventory() == before, 10), (before, aws.inventory())
