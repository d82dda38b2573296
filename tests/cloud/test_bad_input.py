"""Bad cloud input stops with one clear line before anything is created in the account."""

from __future__ import annotations

import pytest

from caldp.cluster.factory import ClusterOptions, start_cluster


@pytest.mark.parametrize(
    ("opts", "env", "message"),
    [
        (ClusterOptions(cluster="fargate", worker_cpu=1024, worker_mem_mb=30720), {}, "Fargate does not accept 1024"),
        (ClusterOptions(cluster="fargate", worker_cpu=3000, worker_mem_mb=8192), {}, "Fargate does not accept 3000"),
        (ClusterOptions(cluster="fargate"), {"AWS_DEFAULT_REGION": ""}, "needs an AWS region"),
        (ClusterOptions(cluster="ec2", image=" "), {}, "no usable worker image name"),
        (ClusterOptions(cluster="ec2", instance_type="m5.huge"), {}, "unknown EC2 instance type 'm5.huge'"),
    ],
)
def test_bad_input_creates_nothing(aws, opts, env, message):
    environ = {**aws.env(), "CALDP_CLUSTER_IMAGE": "caldp:test", **env}
    before = aws.inventory()
    with pytest.raises(ValueError, match=message) as err:
        start_cluster(opts, environ)
    assert "\n" not in str(err.value)
    assert aws.inventory() == before
