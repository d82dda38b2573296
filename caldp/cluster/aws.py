"""The AWS side of ``--cluster fargate`` / ``--cluster ec2``: checks before anything is created,
the workers' credentials, and deleting what a run created.

dask-cloudprovider creates an ECS cluster, an execution role, a security group and two task
definitions for a FargateCluster, and deletes them only in ``weakref.finalize`` callbacks that
run after the cluster's event loop is closed (so they fail, with ``IOLoop is closed``
tracebacks). caldp therefore deletes them itself, synchronously with boto3, right after
``cluster.close()``, and detaches those callbacks. Anything named in the environment
(``CALDP_ECS_CLUSTER_ARN``, ``CALDP_EXECUTION_ROLE_ARN``, ``CALDP_TASK_ROLE_ARN``,
``CALDP_INSTANCE_PROFILE``, ``CALDP_SECURITY_GROUPS``) is used as is and left alone.

Worker credentials: Fargate workers run with a task role whose one inline policy may list,
read, write and delete objects in the buckets of the batch's input, output and staging (and read
the ``CRDSBUCKET`` one); EC2 workers get an instance profile holding such a role.

>>> check_fargate_size(1024, 8192)
>>> check_fargate_size(1024, 30720)
Traceback (most recent call last):
...
ValueError: Fargate does not accept 1024 CPU units with 30720 MB: with 1024 CPU units use 2048-8192 MB in steps of 1024
>>> bucket_names(["s3://in/a", "s3://out", "file:/tmp/x", "s3://in/b"])
['in', 'out']
"""

from __future__ import annotations

import gc
import json
import logging
import uuid
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

# AWS's table of valid Fargate task sizes: CPU units -> allowed memory (MB).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

ASSUME_ECS_TASKS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
ASSUME_EC2 = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _range_text(sizes: tuple[int, ...]) -> str:
    if len(sizes) > 2 and len({b - a for a, b in zip(sizes, sizes[1:], strict=False)}) == 1:
        return f"{sizes[0]}-{sizes[-1]} MB in steps of {sizes[1] - sizes[0]}"
    return ", ".join(map(str, sizes)) + " MB"


def check_fargate_size(cpu: int, mem: int) -> None:
    """ValueError (one line) unless AWS accepts a Fargate task of `cpu` units and `mem` MB."""
    if cpu not in FARGATE_SIZES:
        raise ValueError(f"Fargate does not accept {cpu} CPU units: use one of {', '.join(map(str, FARGATE_SIZES))}")
    if mem not in FARGATE_SIZES[cpu]:
        raise ValueError(
            f"Fargate does not accept {cpu} CPU units with {mem} MB: "
            f"with {cpu} CPU units use {_range_text(FARGATE_SIZES[cpu])}"
        )


def check_instance_type(name: str) -> None:
    """ValueError unless `name` is an EC2 instance type (botocore's list of them; no AWS call)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("ec2")
    if name not in model.shape_for("InstanceType").enum:
        raise ValueError(f"unknown EC2 instance type {name!r} (e.g. m5.2xlarge, t3.medium)")


def check_image(image: str | None) -> None:
    if not image or not image.strip() or any(c.isspace() for c in image) or image.endswith((":", "/")):
        raise ValueError(f"no usable worker image name ({image!r}): set --image or CALDP_CLUSTER_IMAGE")


def bucket_names(uris: Iterable[str]) -> list[str]:
    """The S3 buckets of `uris` (others ignored), in order, once each."""
    names = []
    for uri in uris:
        if uri and uri.startswith("s3://"):
            name = uri[5:].split("/", 1)[0]
            if name and name not in names:
                names.append(name)
    return names


def bucket_policy(buckets: Iterable[str], read_only: Iterable[str] = ()) -> dict:
    """A least-privilege policy: list/read/write/delete in `buckets`, list/read in `read_only`."""
    rw, ro = list(buckets), [b for b in read_only if b not in buckets]
    statements = []
    if rw:
        statements += [
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [f"arn:aws:s3:::{b}" for b in rw]},
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": [f"arn:aws:s3:::{b}/*" for b in rw],
            },
        ]
    if ro:
        statements += [
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [f"arn:aws:s3:::{b}" for b in ro]},
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::{b}/*" for b in ro]},
        ]
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass
class CloudResources:
    """What caldp created (or had dask-cloudprovider create) for one cloud cluster; `release`
    deletes it through the AWS API. `region`/`environ` build the boto3 clients."""

    region: str | None
    environ: Mapping[str, str] = field(default_factory=dict)
    name: str = field(default_factory=lambda: f"caldp-{uuid.uuid4().hex[:10]}")
    roles: list[str] = field(default_factory=list)  # caldp's roles (inline policy "caldp-s3")
    instance_profiles: list[str] = field(default_factory=list)
    security_groups: list[str] = field(default_factory=list)  # group ids caldp made
    keep: set[str] = field(default_factory=set)  # what the environment named: cluster, execution-role, sg

    def client(self, service: str):
        import boto3

        return boto3.session.Session(region_name=self.region).client(service)

    # -- worker credentials
    def task_role(self, buckets: list[str], read_only: list[str]) -> str:
        """Create the Fargate task role with the bucket policy; its ARN."""
        return self._role(f"{self.name}-task", ASSUME_ECS_TASKS, buckets, read_only)["Arn"]

    def instance_profile(self, buckets: list[str], read_only: list[str]) -> dict:
        """Create an instance profile (and its role) for EC2 workers; ``{"Arn": …}``."""
        iam = self.client("iam")
        role = self._role(f"{self.name}-instance", ASSUME_EC2, buckets, read_only)
        profile = iam.create_instance_profile(InstanceProfileName=role["RoleName"])["InstanceProfile"]
        self.instance_profiles.append(role["RoleName"])
        iam.add_role_to_instance_profile(InstanceProfileName=role["RoleName"], RoleName=role["RoleName"])
        return {"Arn": profile["Arn"]}

    def _role(self, name: str, trust: dict, buckets: list[str], read_only: list[str]) -> dict:
        iam = self.client("iam")
        role = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust),
            Description="caldp workers: read/write the batch's S3 buckets",
            Tags=[{"Key": "createdBy", "Value": "caldp"}],
        )["Role"]
        self.roles.append(name)
        iam.put_role_policy(
            RoleName=name, PolicyName="caldp-s3", PolicyDocument=json.dumps(bucket_policy(buckets, read_only))
        )
        return role

    def security_group(self, vpc: str | None) -> str:
        """A group letting the scheduler and workers reach each other (and the client 8786-8787)."""
        ec2 = self.client("ec2")
        if not vpc:
            vpc = next(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v.get("IsDefault"))
        gid = ec2.create_security_group(GroupName=f"{self.name}-sg", Description="caldp dask cluster", VpcId=vpc)[
            "GroupId"
        ]
        self.security_groups.append(gid)
        ec2.authorize_security_group_ingress(
            GroupId=gid,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 8786, "ToPort": 8787, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
                {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "UserIdGroupPairs": [{"GroupId": gid}]},
            ],
        )
        return gid

    # -- cleanup
    def release(self, cluster) -> None:
        """Delete what the cluster run created (never what the environment named), then detach
        dask-cloudprovider's own late cleanup of it. Every step is tried; failures are logged."""
        steps = []
        if cluster is not None:
            detach_finalizers(cluster)
            steps += self._fargate_steps(cluster)
        steps += [(f"instance profile {p}", self._delete_profile, p) for p in self.instance_profiles]
        steps += [(f"role {r}", self._delete_role, r) for r in self.roles]
        steps += [(f"security group {g}", self._delete_group, g) for g in self.security_groups]
        for what, fn, arg in steps:
            try:
                fn(arg)
                log.debug("deleted %s", what)
            except Exception as exc:  # noqa: BLE001 -- go on with the rest, say what is left
                log.warning("could not delete %s: %s", what, exc)

    def _fargate_steps(self, cluster) -> list:
        if not hasattr(cluster, "worker_task_definition_arn"):
            return []
        steps = []
        for arn in (getattr(cluster, "scheduler_task_definition_arn", None), cluster.worker_task_definition_arn):
            if arn:
                steps.append((f"task definition {arn}", self._deregister, arn))
        if "cluster" not in self.keep and getattr(cluster, "cluster_arn", None):
            steps.append((f"ECS cluster {cluster.cluster_arn}", self._delete_ecs_cluster, cluster.cluster_arn))
        if "execution-role" not in self.keep:
            steps.append(("execution role", self._delete_role, f"dask-{cluster.name}-execution-role"))
        if "sg" not in self.keep:
            steps.append(("security group", self._delete_group_named, f"dask-{cluster.name}-security-group"))
        return steps

    def _deregister(self, arn: str) -> None:
        self.client("ecs").deregister_task_definition(taskDefinition=arn)

    def _delete_ecs_cluster(self, arn: str) -> None:
        ecs = self.client("ecs")
        for task in ecs.list_tasks(cluster=arn)["taskArns"]:
            ecs.stop_task(cluster=arn, task=task)
        ecs.delete_cluster(cluster=arn)

    def _delete_role(self, name: str) -> None:
        iam = self.client("iam")
        for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=p["PolicyArn"])
        for p in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=p)
        iam.delete_role(RoleName=name)

    def _delete_profile(self, name: str) -> None:
        iam = self.client("iam")
        for role in iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]:
            iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role["RoleName"])
        iam.delete_instance_profile(InstanceProfileName=name)

    def _delete_group(self, gid: str) -> None:
        self.client("ec2").delete_security_group(GroupId=gid)

    def _delete_group_named(self, name: str) -> None:
        ec2 = self.client("ec2")
        groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"]
        for g in groups:
            ec2.delete_security_group(GroupId=g["GroupId"])


def detach_finalizers(obj) -> int:
    """Detach the ``weakref.finalize`` callbacks registered on `obj` (public ``peek``/``detach``);
    how many. dask-cloudprovider registers its resource deletion that way, to run at exit."""
    n = 0
    for f in gc.get_objects():
        if isinstance(f, weakref.finalize):
            info = f.peek()
            if info is not None and info[0] is obj:
                f.detach()
                n += 1
    return n
