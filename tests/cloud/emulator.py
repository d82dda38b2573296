"""An emulated AWS for the cloud tests: moto's server on loopback plus a small container runner.

Run as its own process (``python -m tests.cloud.emulator --port N --workdir D``), so moto's
state, settings and the started "containers" belong to it alone. The runner is a WSGI
middleware around the app moto's server builds; it watches the AWS API calls:

- ``ecs:RunTask``: reads the task definition and the ``containerOverrides`` (command,
  environment), gives the task's network interface an Elastic IP (moto hands them out of
  127.0.0.0/8) and starts the command through ``docker/entrypoint.sh`` as a local process group,
  with the image's ``dask-scheduler``/``dask-worker`` shims first on PATH, bound to that address
  (``--host``), as a container's own network would. A worker's ``tcp://<private ip>`` is the
  scheduler's Elastic IP. A process that exits by itself is reported with ``StopTask``.
- ``ecs:StopTask`` / ``ecs:DeleteCluster``: kills the group(s), releases the address.
- ``ec2:RunInstances``: runs the ``docker run`` line of the cloud-init user data the same way
  (its ``-e`` pairs are the environment) on an Elastic IP; ``TerminateInstances`` kills it.

A container gets the endpoint of this emulator (what the AWS network gives a real one), the
temporary credentials of its task role / instance profile's role (``sts:AssumeRole``; none
without a role), its own HOME, and nothing of the test's environment. moto enforces no IAM
policy, so the tests read the role's policies (recorded when the container starts).
``GET /_runner/state`` answers what ran (command, environment, role and its inline policies,
pids still alive).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
ENTRYPOINT = DOCKER / "entrypoint.sh"
SHIMS = ("dask-scheduler", "dask-worker")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
ECS_TARGET = "AmazonEC2ContainerServiceV20141113."
# An Ubuntu 20.04 image as EC2Cluster looks it up (Canonical's owner id and name pattern).
AMIS = [
    {
        "ami_id": "ami-0caldp0000000001",
        "name": "ubuntu/images/hvm-ssd/ubuntu-focal-20.04-amd64-server-20240101",
        "description": "Canonical, Ubuntu, 20.04 LTS",
        "owner_id": "099720109477",
        "public": True,
        "virtualization_type": "hvm",
        "architecture": "x86_64",
        "state": "available",
        "platform": None,
        "root_device_type": "ebs",
        "root_device_name": "/dev/sda1",
        "sriov": "simple",
        "creation_date": "2024-01-01T00:00:00.000Z",
        "hypervisor": "xen",
    }
]


def write_shims(dest: Path) -> list[str]:
    """Put the image's ``dask-scheduler``/``dask-worker`` shims in `dest`, taken from docker/:
    files of those names there, else the lines of the Dockerfile that write them."""
    dest.mkdir(parents=True, exist_ok=True)
    found = []
    for name in SHIMS:
        files = [p for p in DOCKER.rglob(name) if p.is_file()]
        if files:
            text = files[0].read_text()
        else:
            pattern = r"printf\s+'([^']*)'\s*>\s*\S*/" + re.escape(name) + r"\b"
            m = re.search(pattern, (DOCKER / "Dockerfile").read_text())
            if not m:
                continue
            text = m.group(1).encode().decode("unicode_escape")
        (dest / name).write_text(text)
        (dest / name).chmod(0o755)
        found.append(name)
    return found


def _pgid_alive(pgids: set[int]) -> list[int]:
    """Pids (not zombies) in any of the process groups `pgids`."""
    alive = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) in pgids:
            alive.append(int(d.name))
    return alive


class Container:
    def __init__(self, key, cluster, command, env, role, proc, address):
        self.key, self.cluster, self.command, self.env, self.role = key, cluster, command, env, role
        self.proc, self.address, self.stopped = proc, address, False
        self.policies: dict = {}


class Runner:
    """The WSGI middleware: moto answers, this starts and stops the local "containers"."""

    def __init__(self, app, endpoint: str, workdir: Path, shim_dir: Path | None, region: str):
        self.app, self.endpoint, self.workdir, self.shim_dir, self.region = app, endpoint, workdir, shim_dir, region
        self.containers: dict[str, Container] = {}
        self.public: dict[str, str] = {}  # private ip -> Elastic IP (loopback)
        self.allocations: dict[str, str] = {}  # container key -> allocation id
        self.lock = threading.Lock()
        threading.Thread(target=self._watch, daemon=True).start()

    def client(self, service: str):
        import boto3

        return boto3.session.Session(region_name=self.region).client(service, endpoint_url=self.endpoint)

    # -- WSGI
    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/_runner/state":
            body = json.dumps(self.state()).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if environ.get("CONTENT_LENGTH"):
            raw = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        elif environ.get("wsgi.input_terminated"):  # chunked uploads (s3fs) carry no length
            raw = environ["wsgi.input"].read()
        else:
            raw = b""
        environ["wsgi.input"] = io.BytesIO(raw)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith(ECS_TARGET):
            action, request = target[len(ECS_TARGET) :], json.loads(raw or b"{}")
        else:
            form = parse_qs(raw.decode("utf-8", "replace")) if raw[:200].find(b"Action=") >= 0 else {}
            action, request = (form.get("Action") or [""])[0], form
        if action == "StopTask":
            self.stop(request.get("task", "").rsplit("/", 1)[-1])
        elif action == "DeleteCluster":
            for c in list(self.containers.values()):
                if c.cluster and c.cluster.rsplit("/", 1)[-1] == request.get("cluster", "").rsplit("/", 1)[-1]:
                    self.stop(c.key)
        elif action == "TerminateInstances":
            for k, v in request.items():
                if k.startswith("InstanceId."):
                    self.stop(v[0])
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        result = self.app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        if captured["status"].startswith("200"):
            if action == "RunTask":
                self.run_tasks(request, json.loads(body))
            elif action == "RunInstances":
                body = self.run_instances(request, body)
        headers = captured["headers"]
        if environ.get("REQUEST_METHOD") != "HEAD":  # a HEAD answer keeps the object's length
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(body))))
        start_response(captured["status"], headers)
        return [body]

    # -- ECS
    def run_tasks(self, request: dict, answer: dict) -> None:
        ecs, ec2 = self.client("ecs"), self.client("ec2")
        for task in answer.get("tasks", []):
            td = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])["taskDefinition"]
            container = td["containerDefinitions"][0]
            command = list(container.get("command") or [])
            env = {e["name"]: e["value"] for e in container.get("environment") or []}
            for o in request.get("overrides", {}).get("containerOverrides", []):
                command = list(o.get("command") or command)
                env.update({e["name"]: e["value"] for e in o.get("environment") or []})
            details = {
                d["name"]: d["value"]
                for a in task.get("attachments", [])
                if a.get("type") == "ElasticNetworkInterface"
                for d in a.get("details", [])
            }
            eni = details["networkInterfaceId"]
            [iface] = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"]
            alloc = ec2.allocate_address(Domain="vpc")
            ec2.associate_address(AllocationId=alloc["AllocationId"], NetworkInterfaceId=eni)
            key = task["taskArn"].rsplit("/", 1)[-1]
            self.allocations[key] = alloc["AllocationId"]
            self.start(
                key,
                task["clusterArn"],
                command,
                env,
                td.get("taskRoleArn"),
                iface["PrivateIpAddress"],
                alloc["PublicIp"],
            )

    # -- EC2
    def run_instances(self, request: dict, body: bytes) -> bytes:
        ec2 = self.client("ec2")
        user_data = base64.b64decode((request.get("UserData") or [""])[0]).decode()
        profile = (request.get("IamInstanceProfile.Arn") or request.get("IamInstanceProfile.Name") or [None])[0]
        for iid in re.findall(rb"<instanceId>(i-[0-9a-f]+)</instanceId>", body):
            iid = iid.decode()
            [res] = ec2.describe_instances(InstanceIds=[iid])["Reservations"]
            private = res["Instances"][0]["PrivateIpAddress"]
            alloc = ec2.allocate_address(Domain="vpc")
            ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=iid)
            self.allocations[iid] = alloc["AllocationId"]
            command, env = docker_run_line(user_data)
            self.start(iid, None, command, env, profile, private, alloc["PublicIp"])
        # moto's answer carries an unreachable public IP: drop it, so the client asks
        # DescribeInstances, which shows the Elastic IP
        return re.sub(rb"<ipAddress>[^<]*</ipAddress>", b"", body)

    # -- processes
    def role_credentials(self, key: str, arn: str | None) -> tuple[dict[str, str], dict]:
        """What a task role (Fargate) or an instance profile (EC2) gives the container: the
        role's temporary credentials (``sts:AssumeRole``, as the container credentials endpoint
        or the instance metadata would hand out) and, for the test to read, its inline policies.
        No role: no credentials at all."""
        if not arn:
            return {}, {}
        iam = self.client("iam")
        if ":instance-profile/" in arn:
            [role] = iam.get_instance_profile(InstanceProfileName=arn.rsplit("/", 1)[-1])["InstanceProfile"]["Roles"]
            arn = role["Arn"]
        name = arn.rsplit("/", 1)[-1]
        policies = {
            p: iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
            for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
        }
        c = self.client("sts").assume_role(RoleArn=arn, RoleSessionName=key[:64])["Credentials"]
        creds = {
            "AWS_ACCESS_KEY_ID": c["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
            "AWS_SESSION_TOKEN": c["SessionToken"],
        }
        return creds, policies

    def start(self, key, cluster, command, env, role, private, public) -> None:
        creds, policies = self.role_credentials(key, role)
        with self.lock:
            self.public[private] = public
            command = bind(public, [self._translate(a) for a in command])
        home = self.workdir / "containers" / key
        home.mkdir(parents=True, exist_ok=True)
        path = [str(self.shim_dir)] if self.shim_dir else []
        path += [str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]
        full_env = {
            "PATH": os.pathsep.join(path),
            "HOME": str(home),
            "TMPDIR": str(home),
            "LANG": "C.UTF-8",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            **creds,
            **env,
        }
        log = open(home / "output.txt", "wb")  # noqa: SIM115 -- the child keeps it
        proc = subprocess.Popen(
            ["sh", str(ENTRYPOINT), *command],
            env=full_env,
            cwd=home,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.containers[key] = Container(key, cluster, command, env, role, proc, public)
        self.containers[key].policies = policies

    def _translate(self, arg: str) -> str:
        for private, public in self.public.items():
            arg = re.sub(rf"(?<![\d.]){re.escape(private)}(?![\d])", public, arg)
        return arg

    def stop(self, key: str) -> None:
        c = self.containers.get(key)
        if c is None or c.stopped:
            return
        c.stopped = True
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(c.proc.pid, sig)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + wait
            while _pgid_alive({c.proc.pid}) and time.monotonic() < deadline:
                c.proc.poll()
                time.sleep(0.05)
            if not _pgid_alive({c.proc.pid}):
                break
        c.proc.poll()
        alloc = self.allocations.pop(key, None)
        if alloc:
            threading.Thread(target=self._release, args=(alloc,), daemon=True).start()

    def _release(self, alloc: str) -> None:
        ec2 = self.client("ec2")
        try:
            for a in ec2.describe_addresses(AllocationIds=[alloc])["Addresses"]:
                if a.get("AssociationId"):
                    ec2.disassociate_address(AssociationId=a["AssociationId"])
            ec2.release_address(AllocationId=alloc)
        except Exception as exc:  # noqa: BLE001 -- the emulator goes on
            print(f"emulator: releasing {alloc}: {exc}", file=sys.stderr)

    def _watch(self) -> None:
        """A container whose process ended by itself: its task is stopped, as ECS would."""
        while True:
            time.sleep(0.5)
            for c in list(self.containers.values()):
                if not c.stopped and c.proc.poll() is not None and c.cluster:
                    try:
                        self.client("ecs").stop_task(cluster=c.cluster, task=c.key, reason="Essential container exited")
                    except Exception as exc:  # noqa: BLE001
                        print(f"emulator: stopping {c.key}: {exc}", file=sys.stderr)
                        c.stopped = True

    def stop_all(self) -> None:
        for key in list(self.containers):
            self.stop(key)

    def state(self) -> dict:
        pgids = {c.proc.pid for c in self.containers.values()}
        alive = set(_pgid_alive(pgids)) if pgids else set()
        return {
            "containers": [
                {
                    "key": c.key,
                    "command": c.command,
                    "env": c.env,
                    "role": c.role,
                    "policies": c.policies,
                    "address": c.address,
                    "returncode": c.proc.poll(),
                    "stopped": c.stopped,
                }
                for c in self.containers.values()
            ],
            "alive": sorted(alive),
        }


def bind(address: str, command: list[str]) -> list[str]:
    """`command` made to listen on `address` only, as in a container's own network: ``--host``
    for ``dask scheduler``/``dask worker``; in the JSON of ``--spec`` for ``dask_spec`` (which
    takes no such option: EC2Cluster's workers)."""
    if "--spec" in command and "distributed.cli.dask_spec" in command:
        i = command.index("--spec") + 1
        spec = json.loads(command[i])
        spec.setdefault("opts", {})["host"] = address
        return command[:i] + [json.dumps(spec)] + command[i + 1 :]
    return command + ["--host", address]


def docker_run_line(user_data: str) -> tuple[list[str], dict[str, str]]:
    """The command and ``-e`` environment of the ``docker run`` line in cloud-init user data
    (a YAML document whose ``runcmd`` holds that line as one quoted string)."""
    import yaml

    for item in (yaml.safe_load(user_data) or {}).get("runcmd") or []:
        line = item if isinstance(item, str) else " ".join(map(str, item))
        if not line.lstrip().startswith("docker run"):
            continue
        words = shlex.split(line)[2:]
        env, i = {}, 0
        while i < len(words) and words[i].startswith("-"):
            opt = words[i]
            if opt in ("-e", "--env"):
                k, _, v = words[i + 1].partition("=")
                env[k] = v
                i += 2
            elif opt in ("-d", "--rm", "-it", "-t", "-i") or "=" in opt:
                i += 1
            else:
                i += 2
        return words[i + 1 :], env  # words[i] is the image
    raise ValueError("no docker run line in the user data")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--no-shims", action="store_true", help="leave the dask-* shims off the containers' PATH")
    p.add_argument("--region", default="us-east-1")
    args = p.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    amis = args.workdir / "amis.json"
    amis.write_text(json.dumps(AMIS))
    os.environ.update(MOTO_AMIS_PATH=str(amis), MOTO_IAM_LOAD_MANAGED_POLICIES="true", **CREDENTIALS)
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    shim_dir = None
    if not args.no_shims:
        shim_dir = args.workdir / "image-bin"
        if write_shims(shim_dir) != list(SHIMS):
            print("emulator: the image's dask-* shims were not found in docker/", file=sys.stderr)
            return 2
    endpoint = f"http://127.0.0.1:{args.port}"
    runner = Runner(DomainDispatcherApplication(create_backend_app), endpoint, args.workdir, shim_dir, args.region)
    server = make_server("127.0.0.1", args.port, runner, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def post(path: str, payload: dict | None = None) -> None:
        data = json.dumps(payload).encode() if payload is not None else b""
        urllib.request.urlopen(urllib.request.Request(endpoint + path, data=data, method="POST"), timeout=30).read()

    post("/moto-api/reset")
    post(
        "/moto-api/state-manager/set-transition",
        {"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1000000000}},
    )
    runner.client("ecs").put_account_setting(name="taskLongArnFormat", value="enabled")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(f"ready {endpoint}", flush=True)
    done.wait()
    runner.stop_all()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
