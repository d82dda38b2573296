"""``caldp-batch --cluster fargate`` and ``--cluster ec2`` end to end on the emulated AWS.

Each run: 2 simulated ACS/WFC associations as ``s3://`` input, output and staging in three
buckets of the emulator's S3, CRDS rules and references published to a fourth bucket and read
by the workers with ``caldp-config-aws`` (nothing of the host's CRDS cache reaches them), the
workers' credentials coming only from the task role / instance profile caldp gives them. After
caldp-batch exits the account holds nothing the run created and no process is left.

The negative control runs the same check on an emulator whose "image" lacks the
``dask-scheduler``/``dask-worker`` shims: the check must fail.

The three runs (Fargate, EC2, negative control) are independent, so one module fixture starts
them together and the tests check each afterwards: most of a run is waiting on process starts and
AWS polling, and run one after the other they took 90 s of the cloud tests' budget. Each run's
containers are told apart by its own CRDS bucket; the account's inventory is read after all have
ended.
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


@dataclass
class Started:
    """A caldp-batch process under way (its output collected in files)."""

    kind: str
    proc: subprocess.Popen
    cmd: list[str]
    log: Path
    names: list[str]
    buckets: dict[str, str]
    host_crds: str

    def wait(self, inventory_before: dict[str, list], containers_before: set[str]) -> Run:
        try:
            self.proc.wait(timeout=240)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        out = (self.log.with_suffix(".out").read_text(), self.log.with_suffix(".err").read_text())
        done = subprocess.CompletedProcess(self.cmd, self.proc.returncode, *out)
        return Run(self.kind, done, self.names, self.buckets, inventory_before, containers_before, self.host_crds)


def start_batch(emu: Emulator, sim, kind: str, tmp: Path, extra_env: dict | None = None) -> Started:
    """Publish the inputs and the CRDS cache to new buckets and start caldp-batch against them."""
    from caldp.crds_s3 import publish_cache

    tmp.mkdir(parents=True, exist_ok=True)
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
    log = tmp / "caldp-batch"
    with open(log.with_suffix(".out"), "w") as out, open(log.with_suffix(".err"), "w") as err:
        proc = subprocess.Popen(cmd, env=env, cwd=tmp, stdout=out, stderr=err, text=True)
    return Started(kind, proc, cmd, log, names, buckets, str(sim.env["CRDS_PATH"]))


@pytest.fixture(scope="module")
def runs(emulator, sim, tmp_path_factory):
    """The three caldp-batch runs, started together, each waited for: {kind: Run}."""
    tmp = tmp_path_factory.mktemp("batch")
    ec2 = emulator.client("ec2")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    premade = ec2.create_security_group(GroupName="premade-dask", Description="made by the user", VpcId=vpc)
    no_shims = Emulator(tmp / "aws-noshims", shims=False)
    try:
        before, started = emulator.inventory(), {c["key"] for c in emulator.state()["containers"]}
        pending = [
            (emulator, start_batch(emulator, sim, "fargate", tmp / "fargate")),
            (emulator, start_batch(emulator, sim, "ec2", tmp / "ec2", {"CALDP_SECURITY_GROUPS": premade["GroupId"]})),
            (no_shims, start_batch(no_shims, sim, "fargate", tmp / "noshims",
                                   {"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "5s"})),
        ]  # fmt: skip
        done = {}
        for emu, run in pending:
            if emu is emulator:
                done[run.kind] = run.wait(before, started)
            else:
                done["noshims"] = run.wait(emu.inventory(), set())
        done["premade_group"], done["noshims_emulator"] = premade["GroupId"], no_shims
        yield done
    finally:
        for _, run in locals().get("pending", []):
            if run.proc.poll() is None:
                run.proc.kill()
        no_shims.stop()
        ec2.delete_security_group(GroupId=premade["GroupId"])


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
    crds = f"s3://{run.buckets['crds']}"
    containers = [
        c
        for c in emu.state()["containers"]
        if c["key"] not in run.containers_before and c["env"].get("CRDSBUCKET") == crds
    ]
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


def test_caldp_batch_fargate(aws, runs):
    run = runs["fargate"]
    check_run(aws, run)
    crds = f"s3://{run.buckets['crds']}"
    workers = [
        c for c in aws.state()["containers"] if c["command"][0] == "dask-worker" and c["env"].get("CRDSBUCKET") == crds
    ]
    assert workers and all("--memory-limit" in c["command"] for c in workers)


def test_caldp_batch_ec2_premade_security_group(aws, runs):
    check_run(aws, runs["ec2"])
    groups = {g["GroupId"] for g in aws.client("ec2").describe_security_groups()["SecurityGroups"]}
    assert runs["premade_group"] in groups, "a security group named in CALDP_SECURITY_GROUPS is left alone"


def test_negative_control_without_the_image_shims(runs):
    """The same check on an image without the dask-* shims (the scheduler cannot start): it fails."""
    run, emu = runs["noshims"], runs["noshims_emulator"]
    with pytest.raises(AssertionError):
        check_run(emu, run)
    assert run.done.returncode != 0
    assert not emu.state()["alive"]
