"""The cluster factory: cloud constructor arguments (checked against dask-cloudprovider's
own signatures, no AWS), and real inprocess/local clusters with memory resources."""

from __future__ import annotations

import inspect

import pytest

from caldp.cluster.factory import ClusterOptions, _adapt_bounds, cloud_cluster_kwargs, kind_of, memory_mb, start_cluster

ENV = {
    "CALDP_CLUSTER_IMAGE": "123.dkr.ecr.us-east-1.amazonaws.com/caldp:0.3.0",
    "AWS_DEFAULT_REGION": "us-east-1",
    "CALDP_SUBNETS": "subnet-a, subnet-b",
    "CALDP_SECURITY_GROUPS": "sg-1",
    "CALDP_CLUSTER_TAGS": "project=reprocessing,owner=ops",
}
WORKER_ENV = {"CRDS_PATH": "/crds", "CRDS_SERVER_URL": "https://hst-serverless-mode.stsci.edu", "jref": "/crds/r/"}


def _bind(cls_chain, kwargs):
    """Fail if any argument is not accepted by the constructors of the class chain."""
    accepted = set()
    for cls in cls_chain:
        accepted |= set(inspect.signature(cls.__init__).parameters)
    unknown = set(kwargs) - accepted
    assert not unknown, f"arguments {unknown} not accepted by {[c.__name__ for c in cls_chain]}"


def test_fargate_arguments_from_options_and_environment():
    pytest.importorskip("dask_cloudprovider.aws")
    from dask_cloudprovider.aws.ecs import ECSCluster

    opts = ClusterOptions(
        cluster="fargate", workers=4, worker_mem_mb=16384, threads_per_worker=2, worker_env=WORKER_ENV
    )
    kw = cloud_cluster_kwargs("fargate", opts, ENV)
    assert kw["image"] == ENV["CALDP_CLUSTER_IMAGE"] and kw["region_name"] == "us-east-1"
    assert kw["n_workers"] == 4 and kw["worker_mem"] == 16384 and kw["worker_cpu"] == 4096
    assert kw["worker_nthreads"] == 2
    assert kw["worker_extra_args"] == ["--memory-limit", "16384MiB", "--resources", "memory=16384"]
    assert kw["environment"] == WORKER_ENV
    assert kw["subnets"] == ["subnet-a", "subnet-b"] and kw["security_groups"] == ["sg-1"]
    assert kw["tags"] == {"project": "reprocessing", "owner": "ops"}
    _bind([ECSCluster], kw)


def test_options_win_over_environment():
    kw = cloud_cluster_kwargs(
        "fargate", ClusterOptions(image="mine:1", region="eu-west-1", worker_cpu=1024, memory_limit="6GiB"), ENV
    )
    assert (kw["image"], kw["region_name"], kw["worker_cpu"], kw["worker_mem"]) == ("mine:1", "eu-west-1", 1024, 6144)


def test_ec2_arguments():
    pytest.importorskip("dask_cloudprovider.aws")
    from dask_cloudprovider.aws import EC2Cluster
    from dask_cloudprovider.generic.vmcluster import VMCluster

    env = {**ENV, "CALDP_EC2_INSTANCE_TYPE": "r5.4xlarge", "CALDP_WORKER_MEM": "120000"}
    kw = cloud_cluster_kwargs("ec2", ClusterOptions(cluster="ec2", workers=2, worker_env=WORKER_ENV), env)
    assert kw["docker_image"] == ENV["CALDP_CLUSTER_IMAGE"] and kw["region"] == "us-east-1"
    assert kw["worker_instance_type"] == "r5.4xlarge" and kw["n_workers"] == 2
    assert kw["worker_options"]["resources"] == {"memory": 120000}
    assert kw["env_vars"] == WORKER_ENV and kw["subnet_id"] == "subnet-a"
    _bind([EC2Cluster, VMCluster], kw)


def test_adaptive_bounds():
    assert _adapt_bounds(ClusterOptions(), {}) is None
    assert _adapt_bounds(ClusterOptions(adapt_min=1, adapt_max=20), {}) == (1, 20)
    assert _adapt_bounds(ClusterOptions(), {"CALDP_ADAPT_MAX": "50"}) == (0, 50)
    kw = cloud_cluster_kwargs("fargate", ClusterOptions(adapt_min=2, adapt_max=9), {"AWS_DEFAULT_REGION": "us-east-1"})
    assert kw["n_workers"] == 2, "an adaptive cluster starts at its minimum"


def test_cluster_names():
    assert kind_of("tcp://127.0.0.1:8786") == "tcp"
    with pytest.raises(ValueError, match="unknown cluster"):
        kind_of("kubernetes")
    with pytest.raises(ValueError, match="not a cloud cluster"):
        cloud_cluster_kwargs("local", ClusterOptions(), {})
    assert memory_mb("2GiB") == 2048 and memory_mb(None, 2) > 0


def test_inprocess_cluster_advertises_memory():
    handle = start_cluster(
        ClusterOptions(cluster="inprocess", threads_per_worker=2, memory_limit="3GiB", dashboard_address="127.0.0.1:0")
    )
    try:
        info = handle.client.scheduler_info()
        (worker,) = info["workers"].values()
        assert worker["resources"] == {"memory": 3072} and worker["nthreads"] == 2
        assert handle.memory_capacity_mb == 3072 and handle.dashboard_link.startswith("http://")
    finally:
        handle.close()
