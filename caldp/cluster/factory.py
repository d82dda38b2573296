"""One factory for every Dask cluster caldp runs on.

``--cluster`` picks it:

- ``inprocess``: threads in this process (a distributed ``Client(processes=False)``, so the
  dashboard, resources and the same scheduling rules apply); for development and notebooks.
- ``local``: a ``distributed.LocalCluster`` of worker processes on this machine.
- ``tcp://HOST:PORT``: an existing scheduler (started by hand, dask-jobqueue on SLURM,
  Kubernetes, Coiled…); its workers keep the resources they were started with.
- ``fargate`` / ``ec2``: ``dask_cloudprovider.aws.FargateCluster`` / ``EC2Cluster``, built by
  :func:`cloud_cluster_kwargs` from options and the environment (``CALDP_*`` variables, see
  there), with the worker environment (CRDS settings…) passed to every worker.

Every worker caldp starts advertises ``resources={"memory": <MB>}`` (its memory limit), which
the calibrate tasks draw on (:mod:`caldp.cluster.memory`). Only this module chooses between
threads, processes and the cloud.

>>> kw = cloud_cluster_kwargs("fargate", ClusterOptions(workers=3, worker_mem_mb=8192),
...                           environ={"CALDP_CLUSTER_IMAGE": "me/caldp:1", "AWS_DEFAULT_REGION": "us-east-1"})
>>> kw["image"], kw["n_workers"], kw["worker_cpu"], kw["worker_mem"], kw["region_name"]
('me/caldp:1', 3, 2048, 8192, 'us-east-1')
>>> kw["worker_extra_args"]
['--memory-limit', '8192MiB', '--resources', 'memory=8192']

AWS specifics (checks, worker credentials, deleting what a run created) are in
:mod:`caldp.cluster.aws`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dask.utils import parse_bytes

from ..containers import default_image

log = logging.getLogger(__name__)

CLUSTER_KINDS = ("inprocess", "local", "fargate", "ec2")  # plus tcp://HOST:PORT


@dataclass(slots=True)
class ClusterOptions:
    """What the command line (or a caller) says about the cluster; None = default."""

    cluster: str = "inprocess"
    workers: int | None = None
    threads_per_worker: int | None = None
    memory_limit: str | None = None  # per worker: "4GB", "4096MiB", "auto"
    image: str | None = None  # cloud: the worker image (docker/Dockerfile)
    region: str | None = None
    worker_cpu: int | None = None  # Fargate CPU units (1024 = one vCPU)
    worker_mem_mb: int | None = None  # cloud worker memory
    adapt_min: int | None = None  # adaptive scaling bounds (cloud)
    adapt_max: int | None = None
    instance_type: str | None = None  # EC2
    worker_env: dict[str, str] = field(default_factory=dict)
    data_uris: tuple[str, ...] = ()  # cloud: the batch's input/output/staging (the workers' S3 access)
    dashboard_address: str = field(default_factory=lambda: os.environ.get("CALDP_DASHBOARD_ADDRESS", ":8787"))


@dataclass(slots=True)
class ClusterHandle:
    """A connected client, the cluster caldp created (None when it only connected), and the
    largest memory resource among the workers (None if they advertise none)."""

    client: Any
    cluster: Any
    kind: str
    memory_capacity_mb: float | None
    resources: Any = None  # cloud: caldp.cluster.aws.CloudResources, released after close

    @property
    def dashboard_link(self) -> str | None:
        try:
            return self.client.dashboard_link
        except Exception:  # noqa: BLE001 -- no dashboard (bokeh missing) is not an error
            return None

    def refresh_capacity(self) -> float | None:
        """Re-read the workers' memory resources from the scheduler (workers come and go)."""
        cap = worker_memory_capacity(self.client)
        if cap is not None or self.kind in ("tcp",):
            self.memory_capacity_mb = cap
        return self.memory_capacity_mb

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            try:
                if self.cluster is not None:
                    self.cluster.close()
            finally:
                if self.resources is not None:  # while this process can still talk to AWS
                    self.resources.release(self.cluster)


def kind_of(cluster: str) -> str:
    """``tcp`` for scheduler addresses, else the name; ValueError for anything unknown.

    >>> kind_of("tcp://10.0.0.5:8786"), kind_of("local")
    ('tcp', 'local')
    """
    if cluster.startswith(("tcp://", "tls://")):
        return "tcp"
    if cluster in CLUSTER_KINDS:
        return cluster
    raise ValueError(f"unknown cluster {cluster!r}: use inprocess, local, tcp://HOST:PORT, fargate or ec2")


def memory_mb(limit: str | int | float | None, n_workers: int = 1) -> int:
    """A worker memory limit in MB (``auto``/None: this machine's memory shared by the workers).

    >>> memory_mb("4GiB"), memory_mb("1500MB")
    (4096, 1430)
    """
    if limit in (None, "auto", 0, "0"):
        from distributed.system import MEMORY_LIMIT

        return int(MEMORY_LIMIT / max(n_workers, 1) / 2**20)
    value = parse_bytes(limit) if isinstance(limit, str) else float(limit)
    return int(value / 2**20)


def worker_memory_capacity(client) -> float | None:
    """The largest ``memory`` resource any connected worker advertises (None if none does)."""
    try:
        info = client.scheduler_info(n_workers=-1)  # newer distributed lists only some workers by default
    except TypeError:
        info = client.scheduler_info()
    caps = [w.get("resources", {}).get("memory") for w in info.get("workers", {}).values()]
    caps = [c for c in caps if c]
    return max(caps) if caps else None


def _env_int(environ: Mapping[str, str], name: str) -> int | None:
    value = environ.get(name)
    return int(value) if value not in (None, "") else None


def _env_list(environ: Mapping[str, str], name: str) -> list[str] | None:
    value = environ.get(name, "")
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def cloud_cluster_kwargs(kind: str, opts: ClusterOptions, environ: Mapping[str, str] | None = None) -> dict:
    """Constructor arguments of FargateCluster (``fargate``) or EC2Cluster (``ec2``).

    Options win over the environment: ``CALDP_CLUSTER_IMAGE``, ``AWS_DEFAULT_REGION`` /
    ``AWS_REGION``, ``CALDP_WORKER_CPU`` (Fargate units), ``CALDP_WORKER_MEM`` (MB),
    ``CALDP_WORKERS``, ``CALDP_EC2_INSTANCE_TYPE``, ``CALDP_VPC``, ``CALDP_SUBNETS`` and
    ``CALDP_SECURITY_GROUPS`` (comma separated), ``CALDP_CLUSTER_TAGS`` (k=v,k=v); pre-made
    resources: ``CALDP_ECS_CLUSTER_ARN``, ``CALDP_EXECUTION_ROLE_ARN``, ``CALDP_TASK_ROLE_ARN``
    (Fargate), ``CALDP_INSTANCE_PROFILE`` (EC2, name or ARN).
    Workers advertise ``memory=<worker memory MB>`` with the same memory limit (MiB) and get
    `opts.worker_env`. ValueError (one line) for a missing region or image, a CPU/memory pair
    Fargate does not accept, an unknown instance type: before anything is created.
    """
    from .aws import check_fargate_size, check_image, check_instance_type

    environ = os.environ if environ is None else environ
    image = opts.image or environ.get("CALDP_CLUSTER_IMAGE") or default_image(environ)  # caldp-image-config
    region = opts.region or environ.get("AWS_DEFAULT_REGION") or environ.get("AWS_REGION")
    if kind in ("fargate", "ec2"):
        check_image(image)
        if not region:
            raise ValueError(f"--cluster {kind} needs an AWS region: set --region or AWS_DEFAULT_REGION")
    n_workers = opts.workers if opts.workers is not None else _env_int(environ, "CALDP_WORKERS")
    if n_workers is None:
        n_workers = opts.adapt_min if opts.adapt_min is not None else 1
    mem = opts.worker_mem_mb or _env_int(environ, "CALDP_WORKER_MEM")
    if mem is None and opts.memory_limit not in (None, "auto"):
        mem = memory_mb(opts.memory_limit)
    mem = mem or 16384
    threads = opts.threads_per_worker
    tags = dict(t.split("=", 1) for t in _env_list(environ, "CALDP_CLUSTER_TAGS") or [] if "=" in t)
    env = dict(opts.worker_env)
    if kind == "fargate":
        cpu = opts.worker_cpu or _env_int(environ, "CALDP_WORKER_CPU") or max(1024, min(4096, 1024 * (mem // 4096)))
        check_fargate_size(cpu, mem)
        kw: dict[str, Any] = dict(
            image=image,
            n_workers=n_workers,
            worker_cpu=cpu,
            worker_mem=mem,
            worker_nthreads=threads,
            # dask-cloudprovider's own --memory-limit is int(mem/1024) GB (10^9 bytes, truncated);
            # a later one wins: the limit is exactly the advertised resource, both MiB
            worker_extra_args=["--memory-limit", f"{mem}MiB", "--resources", f"memory={mem}"],
            scheduler_cpu=1024,
            scheduler_mem=4096,
            environment=env,
            region_name=region,
            vpc=environ.get("CALDP_VPC") or None,
            subnets=_env_list(environ, "CALDP_SUBNETS"),
            security_groups=_env_list(environ, "CALDP_SECURITY_GROUPS"),
            tags=tags or None,
            cluster_name_template="caldp-{uuid}",
            cluster_arn=environ.get("CALDP_ECS_CLUSTER_ARN") or None,
            execution_role_arn=environ.get("CALDP_EXECUTION_ROLE_ARN") or None,
            task_role_arn=environ.get("CALDP_TASK_ROLE_ARN") or None,
        )
    elif kind == "ec2":
        instance = opts.instance_type or environ.get("CALDP_EC2_INSTANCE_TYPE") or "m5.2xlarge"
        scheduler_instance = environ.get("CALDP_EC2_SCHEDULER_INSTANCE_TYPE") or "t3.medium"
        check_instance_type(instance)
        check_instance_type(scheduler_instance)
        profile = environ.get("CALDP_INSTANCE_PROFILE") or None
        worker_options: dict[str, Any] = {"resources": {"memory": mem}, "memory_limit": f"{mem}MiB"}
        if threads:
            worker_options["nthreads"] = threads
        kw = dict(
            docker_image=image,
            n_workers=n_workers,
            region=region,
            worker_instance_type=instance,
            scheduler_instance_type=scheduler_instance,
            worker_options=worker_options,
            env_vars=env,
            vpc=environ.get("CALDP_VPC") or None,
            subnet_id=(_env_list(environ, "CALDP_SUBNETS") or [None])[0],
            security_groups=_env_list(environ, "CALDP_SECURITY_GROUPS"),
            instance_tags=tags or None,
            iam_instance_profile=(
                ({"Arn": profile} if profile.startswith("arn:") else {"Name": profile}) if profile else None
            ),
        )
    else:
        raise ValueError(f"{kind!r} is not a cloud cluster (fargate or ec2)")
    return {k: v for k, v in kw.items() if v is not None}


def _adapt_bounds(opts: ClusterOptions, environ: Mapping[str, str]) -> tuple[int, int] | None:
    lo = opts.adapt_min if opts.adapt_min is not None else _env_int(environ, "CALDP_ADAPT_MIN")
    hi = opts.adapt_max if opts.adapt_max is not None else _env_int(environ, "CALDP_ADAPT_MAX")
    if lo is None and hi is None:
        return None
    lo = lo or 0
    return lo, max(hi if hi is not None else lo, lo)


def start_cluster(opts: ClusterOptions, environ: Mapping[str, str] | None = None) -> ClusterHandle:
    """Start (or connect to) the cluster `opts` names and return a connected handle."""
    from distributed import Client, LocalCluster

    environ = os.environ if environ is None else environ
    kind = kind_of(opts.cluster)
    if kind == "inprocess":
        threads = opts.threads_per_worker or os.cpu_count() or 1
        mem = memory_mb(opts.memory_limit, 1)
        cluster = LocalCluster(
            processes=False,
            n_workers=1,
            threads_per_worker=threads,
            memory_limit=f"{mem}MiB",
            resources={"memory": mem},
            dashboard_address=opts.dashboard_address,
        )
        handle = ClusterHandle(Client(cluster), cluster, kind, mem)
    elif kind == "local":
        threads = opts.threads_per_worker or 1
        n = opts.workers or max(1, (os.cpu_count() or 1) // threads)
        mem = memory_mb(opts.memory_limit, n)
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=threads,
            processes=True,
            memory_limit=f"{mem}MiB",
            resources={"memory": mem},
            dashboard_address=opts.dashboard_address,
        )
        handle = ClusterHandle(Client(cluster), cluster, kind, mem)
    elif kind == "tcp":
        if opts.memory_limit or opts.threads_per_worker:
            log.warning(
                "--memory-limit/--threads-per-worker do not apply to %s: its workers keep their own", opts.cluster
            )
        client = Client(opts.cluster, timeout="30s")
        handle = ClusterHandle(client, None, kind, worker_memory_capacity(client))
        if opts.workers:
            client.wait_for_workers(opts.workers, timeout=120)
            handle.refresh_capacity()
    else:
        try:
            from dask_cloudprovider.aws import EC2Cluster, FargateCluster
        except ImportError as exc:
            raise RuntimeError("fargate/ec2 clusters need dask-cloudprovider[aws]: pip install 'caldp[cloud]'") from exc
        kwargs = cloud_cluster_kwargs(kind, opts, environ)  # checks first: nothing is created on bad input
        resources = _worker_credentials(kind, kwargs, opts, environ)
        log.info(
            "Starting a %s cluster: %s", kind, {k: v for k, v in kwargs.items() if k not in ("environment", "env_vars")}
        )
        cluster = None
        try:
            cluster = (FargateCluster if kind == "fargate" else EC2Cluster)(**kwargs)
            bounds = _adapt_bounds(opts, environ)
            if bounds:
                cluster.adapt(minimum=bounds[0], maximum=bounds[1])
            mem = kwargs.get("worker_mem") or kwargs["worker_options"]["resources"]["memory"]
            handle = ClusterHandle(Client(cluster), cluster, kind, mem, resources)
        except BaseException:
            try:
                if cluster is not None:
                    cluster.close()
            finally:
                resources.release(cluster)
            raise
    return handle


def _worker_credentials(kind: str, kwargs: dict, opts: ClusterOptions, environ: Mapping[str, str]):
    """Give the workers S3 access to the batch's buckets (Fargate: a task role; EC2: an instance
    profile) and, for EC2 without ``CALDP_SECURITY_GROUPS``, a security group; unless the
    environment names them. Updates `kwargs`; returns the CloudResources to release."""
    from .aws import CloudResources, bucket_names

    region = kwargs.get("region_name") or kwargs.get("region")
    res = CloudResources(region, environ)
    buckets = bucket_names(opts.data_uris)
    read_only = bucket_names([opts.worker_env.get("CRDSBUCKET") or environ.get("CRDSBUCKET") or ""])
    res.keep = {
        k
        for k, name in (
            ("cluster", "CALDP_ECS_CLUSTER_ARN"),
            ("execution-role", "CALDP_EXECUTION_ROLE_ARN"),
            ("sg", "CALDP_SECURITY_GROUPS"),
        )
        if environ.get(name)
    }
    try:
        if kind == "fargate" and "task_role_arn" not in kwargs:
            kwargs["task_role_arn"] = res.task_role(buckets, read_only)
        elif kind == "ec2":
            if "iam_instance_profile" not in kwargs:
                kwargs["iam_instance_profile"] = res.instance_profile(buckets, read_only)
            if "security_groups" not in kwargs:
                kwargs["security_groups"] = [res.security_group(kwargs.get("vpc"))]
    except BaseException:
        res.release(None)
        raise
    return res
