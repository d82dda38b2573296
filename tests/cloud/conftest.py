"""The emulated AWS (tests/cloud/emulator.py) as a fixture: one emulator process for the session.

Tests share it (starting one costs ~2 s), so each reads what it created as a difference: the
inventory and the containers before and after."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# both are in the test extra: the cloud tests run wherever the README's test command does (never skipped)
import dask_cloudprovider.aws  # noqa: E402,F401
import moto.server  # noqa: E402,F401
import pytest

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    """A running emulator process: its endpoint, boto3 clients, and what its runner started."""

    def __init__(self, workdir: Path, shims: bool = True):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        cmd = [sys.executable, "-m", "tests.cloud.emulator", "--port", str(self.port), "--workdir", str(workdir)]
        if not shims:
            cmd.append("--no-shims")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        self.log = open(workdir.parent / f"{workdir.name}-emulator.txt", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("ready"):
            self.stop()
            raise RuntimeError(f"the emulator did not start: {line!r}, see {self.log.name}")

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_CONFIG_FILE": "/nonexistent/aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, service: str):
        import boto3

        return boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        ).client(service, endpoint_url=self.endpoint)

    def state(self) -> dict:
        with urllib.request.urlopen(f"{self.endpoint}/_runner/state", timeout=30) as r:
            return json.load(r)

    def inventory(self) -> dict[str, list]:
        """What the account holds that a cluster run could have created."""
        ecs, iam, ec2 = self.client("ecs"), self.client("iam"), self.client("ec2")
        clusters = (
            [
                c
                for c in ecs.describe_clusters(clusters=ecs.list_clusters()["clusterArns"])["clusters"]
                if c["status"] == "ACTIVE"
            ]
            if ecs.list_clusters()["clusterArns"]
            else []
        )
        instances = [
            i["InstanceId"]
            for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] not in ("terminated", "shutting-down")
        ]
        return {
            "clusters": [c["clusterName"] for c in clusters],
            "task_definitions": ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"],
            "roles": [r["RoleName"] for r in iam.list_roles()["Roles"]],
            "instance_profiles": [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]],
            "security_groups": [
                g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] != "default"
            ],
            "instances": instances,
            "addresses": [a["PublicIp"] for a in ec2.describe_addresses()["Addresses"]],
        }

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    emu = Emulator(tmp_path_factory.mktemp("aws"))
    yield emu
    emu.stop()


@pytest.fixture
def aws(emulator, monkeypatch):
    """This process talks to the emulator (boto3 and aiobotocore read these)."""
    for key in [k for k in os.environ if k.startswith(("AWS_", "CALDP_", "CRDS"))]:
        monkeypatch.delenv(key)
    for key, value in emulator.env().items():
        monkeypatch.setenv(key, value)
    return emulator


def wait_for(predicate, timeout: float = 20.0, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()
