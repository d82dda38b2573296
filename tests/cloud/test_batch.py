"""``caldp-batch --cluster fargate`` and ``--cluster ec2`` end to end on the emulated AWS.

Each run: 2 simulated ACS/WFC associations as ``s3://`` input, output and staging in three
buckets of the emulator's S3, CRDS rules and references published to a fourth bucket and read
by the workers with ``caldp-config-aws`` (nothing of the host's CRDS cache reaches them), the
workers' credentials coming only from the task role / instance profile caldp gives them. After
caldp-batch exits the account holds nothing the run created and no process is left.

The negative control runs the same check on an emulator whose "image" lacks the
``dask-scheduler``/``dask-worker`` shims: the check must fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import Emulator, wait_for

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from caldp.sim import simulate

    return simulate(tmp_path_factory.mktemp("sim"), modes=("acs-wfc-asn",), size="small", seed=21, count=2, tar=True)


@dataclass
class Run:
    kind: str
    done: subprocess.CompletedProcess
    names: list[str]
    buckets: dict[str, str]
    inventory_before: dict[str, list]
    containers_before: set[str]
    host_crds: str


def caldp_batch(emu: Emulator, sim, kind: str, tmp: Path, extra_env: dict | None = None) -> Run:
    """Publish the inputs and the CRDS cache to new buckets and run caldp-batch against them."""
    from caldp.crds_s3 import publish_cache

    s3 = emu.client("s3")
    tag = uuid.uuid4().hex[:8]
    buckets = {role: f"caldp-{role}-{tag}" for role in ("in", "out", "stage", "crds")}
    for b in buckets.values():
        s3.create_bucket(Bucket=b)
    names = [d.name for d in sim.datasets]
    for ds in sim.datasets:
        s3.upload_file(str(ds.input_path), buckets["in"], f"raw/{ds.name}.tar.gz")
    old = {k: os.environ.get(k) for k in emu.env()}
    os.environ.update(emu.env())  # publish_cache talks to S3 through the environment
    try:
        publish_cache(sim.env["CRDS_PATH"], f"s3://{buckets['crds']}")
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    listing = tmp / "datasets.txt"
    listing.write_text("\n".join(names) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CRDS", "CALDP_", "DASK_"))}
    env.update(emu.env(), CRDSBUCKET=f"s3://{buckets['crds']}", CALDP_CLUSTER_IMAGE="caldp:test", **(extra_env or {}))
    env.update(CALDP_HOME=str(tmp / "submitter-home"), HOME=str(tmp / "submitter-home"))
    cmd = [
        sys.executable, "-m", "caldp.cli.batch", str(listing),
        "--input", f"s3://{buckets['in']}/raw",
        "--output", f"s3://{buckets['out']}/results",
        "--staging", f"s3://{buckets['stage']}/staging",
        "--config", "caldp-config-aws",
        "--cluster", kind, "--workers", "2", "--worker-mem", "2048",
        "--no-stage2", "--no-previews", "--no-progress",
    ]  # fmt: skip
    if kind == "fargate":
        cmd += ["--worker-cpu", "1024"]
    else:
        cmd += ["--instance-type", "t3.medium"]
    before, started = emu.inventory(), {c["key"] for c in emu.state()["containers"]}
    done = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True, timeout=240)
    return Run(kind, done, names, buckets, before, started, str(sim.env["CRDS_PATH"]))


def check_run(emu: Emulator, run: Run) -> None:
    """Everything issue 21 asks of one caldp-batch run on the emulated AWS."""
    out = run.done.stdout + run.done.stderr
    assert run.done.returncode == 0, out[-4000:]
    s3 = emu.client("s3")

    def keys(bucket: str, prefix: str = "") -> list[str]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [o["Key"] for p in pages for o in p.get("Contents", [])]

    out_keys = keys(run.buckets["out"], "results/")
    for name in run.names:
        key = f"results/messages/datasets-processed/{name}"
        assert key in out_keys, (out_keys, out[-3000:])
        msg = json.loads(s3.get_object(Bucket=run.buckets["out"], Key=key)["Body"].read())
        products = [p for p in msg["products"] if p.endswith(".fits")]
        assert products, msg
        for p in products:
            assert f"results/{p}" in out_keys, (p, out_keys)
        assert any(k.endswith(f"{name}/logs/process.txt") for k in out_keys), out_keys
    assert keys(run.buckets["stage"]) == [], "the staging prefix is emptied"
    # what ran: a scheduler and 2 workers, each with the role caldp made and its bucket policy
    containers = [c for c in emu.state()["containers"] if c["key"] not in run.containers_before]
    workers = [c for c in containers if "dask-worker" in c["command"] or "distributed.cli.dask_spec" in c["command"]]
    assert len(workers) == 2, [c["command"][:4] for c in containers]
    for w in workers:
        assert w["role"], "the workers run with a task role / instance profile"
        doc = json.dumps(w["policies"].get("caldp-s3"))
        for b in ("in", "out", "stage", "crds"):
            assert f"arn:aws:s3:::{run.buckets[b]}/*" in doc, (b, doc)
        # CRDS reaches the workers from the bucket, never through the host's cache
        assert w["env"].get("CRDSBUCKET") == f"s3://{run.buckets['crds']}"
        assert not [v for v in w["env"].values() if run.host_crds in v], w["env"]
    fetched = [
        p.name
        for c in workers
        for p in (emu.workdir / "containers" / c["key"]).rglob("*.fits")
        if "crds_cache" in p.parts and "references" in p.parts
    ]
    assert fetched, "the workers fetched their references from the CRDS bucket"
    # nothing left behind: processes, and what the run created in the account
    assert wait_for(lambda: not emu.state()["alive"], 15), emu.state()["alive"]

    def leftovers() -> dict[str, list]:
        new = {k: sorted(set(v) - set(run.inventory_before[k])) for k, v in emu.inventory().items()}
        return {k: v for k, v in new.items() if v}

    assert wait_for(lambda: not leftovers(), 15), leftovers()
    assert "Traceback" not in out and "IOLoop is closed" not in out, out[-4000:]


def test_caldp_batch_fargate(aws, sim, tmp_path):
    run = caldp_batch(aws, sim, "fargate", tmp_path)
    check_run(aws, run)
    assert all("--memory-limit" in c["command"] for c in aws.state()["containers"] if c["command"][0] == "dask-worker")


def test_caldp_batch_ec2_premade_security_group(aws, sim, tmp_path):
    ec2 = aws.client("ec2")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    gid = ec2.create_security_group(GroupName="premade-dask", Description="made by the user", VpcId=vpc)["GroupId"]
    try:
        run = caldp_batch(aws, sim, "ec2", tmp_path, {"CALDP_SECURITY_GROUPS": gid})
        check_run(aws, run)
        groups = {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
        assert gid in groups, "a security group named in CALDP_SECURITY_GROUPS is left alone"
    finally:
        ec2.delete_security_group(GroupId=gid)


def test_negative_control_without_the_image_shims(sim, tmp_path, monkeypatch):
    """The same check on an image without the dask-* shims (the scheduler cannot start): it fails."""
    emu = Emulator(tmp_path / "aws-noshims", shims=False)
    try:
        run = caldp_batch(emu, sim, "fargate", tmp_path, {"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "5s"})
        with pytest.raises(AssertionError):
            check_run(emu, run)
        assert run.done.returncode != 0
        assert not emu.state()["alive"]
    finally:
        emu.stop()
