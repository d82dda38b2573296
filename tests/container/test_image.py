"""Smoke test of the worker image (docker/Dockerfile) in a container runtime.

The image is ``$CALDP_IMAGE`` (default ``localhost/caldp:latest``), the one CI builds with
docker/build-image.sh (.ci/prepare-podman.sh); when it is absent and a runtime is present, it
is built here with that script (a few minutes). Skipped, with the reason, when no runtime can
run containers. Containers run on the host network, as the image's user (uid 1000), so the
folders they write are made writable by that uid.
"""

from __future__ import annotations

import json
import operator
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("CALDP_IMAGE", "localhost/caldp:latest")
IMAGE_UID = 1000
DATASET_MODE = "acs-wfc-asn"

# Building the image (when CI has not) takes minutes; every test may be the one that does it.
pytestmark = pytest.mark.timeout(1800)


class Runtime:
    """A container engine (podman or docker) with the environment it needs."""

    def __init__(self, engine: str, env: dict[str, str]):
        self.engine, self.env = engine, env

    def cmd(self, *args: str, timeout: float = 300, check: bool = False) -> subprocess.CompletedProcess:
        proc = subprocess.run([self.engine, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{Path(self.engine).name} {' '.join(args[:3])}… failed ({proc.returncode}): "
                f"{proc.stderr.strip()[-2000:]}"
            )
        return proc

    def run(self, image: str, *command: str, opts: tuple[str, ...] = (), timeout: float = 600):
        """`command` in a new container of `image` (host network, removed afterwards)."""
        return self.cmd("run", "--rm", "--network", "host", *opts, image, *command, timeout=timeout)

    def image_exists(self, image: str) -> bool:
        return self.cmd("image", "inspect", image, timeout=120).returncode == 0


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def find_runtime() -> tuple[Runtime | None, str]:
    """The runtime to use, or None and why there is none."""
    env = dict(os.environ)
    wanted = env.get("CALDP_CONTAINER_ENGINE")
    docker, podman = shutil.which("docker"), shutil.which("podman")
    engine = shutil.which(wanted) if wanted else None
    if wanted and not engine:
        return None, f"CALDP_CONTAINER_ENGINE={wanted} is not installed"
    if not engine and docker:
        ok = (
            subprocess.run(
                [docker, "version", "--format", "{{.Server.Version}}"], capture_output=True, timeout=30
            ).returncode
            == 0
        )
        engine = docker if ok else None
    if not engine:
        engine = podman
    if not engine:
        return None, "no container runtime: neither podman nor a docker daemon (CI installs podman)"
    if "podman" in Path(engine).name and not env.get("CONTAINERS_CONF"):
        conf = subprocess.run(
            [
                "bash",
                "-c",
                '. "$1" >/dev/null && printf %s "$CONTAINERS_CONF"',
                "_",
                str(ROOT / "docker" / "podman-env.sh"),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        if conf.stdout:
            env["CONTAINERS_CONF"] = conf.stdout
    info = subprocess.run([engine, "info"], env=env, capture_output=True, text=True, timeout=120)
    if info.returncode != 0:
        return None, f"{engine} cannot run containers here: {_last_line(info.stderr)}"
    return Runtime(engine, env), ""


@pytest.fixture(scope="module")
def rt() -> Runtime:
    runtime, why = find_runtime()
    if runtime is None:
        pytest.skip(why)
    return runtime


@pytest.fixture(scope="module")
def image(rt: Runtime) -> str:
    """The image: the one already built (by CI), else built here with docker/build-image.sh."""
    if not rt.image_exists(IMAGE):
        env = dict(rt.env, CALDP_IMAGE=IMAGE, CALDP_CONTAINER_ENGINE=rt.engine)
        proc = subprocess.run(
            ["bash", str(ROOT / "docker" / "build-image.sh")], env=env, capture_output=True, text=True, timeout=1700
        )
        assert proc.returncode == 0, f"docker/build-image.sh failed: {proc.stderr.strip()[-3000:]}"
        assert proc.stdout.strip().splitlines()[-1] == IMAGE
    probe = rt.run(IMAGE, "true", timeout=300)
    if probe.returncode != 0:
        pytest.skip(f"{rt.engine} cannot run containers here: {_last_line(probe.stderr)}")
    return IMAGE


def project() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def kernel_modules() -> list[str]:
    """Every compiled kernel of the checkout (setup.py builds each caldp/**/_*kernels.c)."""
    return sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in ROOT.glob("caldp/**/_*kernels.c"))


KERNEL_CHECK = """
import importlib, sys
for name in sys.argv[1:]:
    try:
        mod = importlib.import_module(name)
    except ImportError as exc:
        print("MISSING", name, exc)
    else:
        print("LOADED", name, mod.__file__)
"""


def check_kernels(rt: Runtime, image: str) -> None:
    """AssertionError unless every kernel loads as a compiled module of the installed package
    (run from / with -P: no source tree on sys.path)."""
    names = kernel_modules()
    assert names, "no caldp/**/_*kernels.c in the checkout"
    proc = rt.run(image, "python", "-P", "-c", KERNEL_CHECK, *names, opts=("-w", "/"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = {}
    for line in proc.stdout.splitlines():
        parts = line.split(maxsplit=2)
        if parts and parts[0] == "LOADED":
            loaded[parts[1]] = parts[2]
    assert sorted(loaded) == names, f"kernels that do not load in {image}:\n{proc.stdout}"
    for name, path in loaded.items():
        assert path.startswith("/opt/caldp/") and path.endswith(".so"), f"{name} is not compiled: {path}"


def writable_by_image_user(path: Path) -> None:
    """Let the image's user (uid 1000) write under `path`, as docker/README.md says to."""
    for p in [path, *path.rglob("*")]:
        if os.getuid() == 0:
            os.chown(p, IMAGE_UID, IMAGE_UID, follow_symlinks=False)
        elif not p.is_symlink():
            p.chmod(p.stat().st_mode | 0o777 if p.is_dir() else p.stat().st_mode | 0o666)


# --- the image on its own ------------------------------------------------------------------


def test_default_command_is_caldp_process_help(rt, image):
    proc = rt.run(image)
    assert proc.returncode == 0, proc.stderr
    assert "usage: caldp-process" in proc.stdout


def test_every_caldp_cli_answers_help(rt, image):
    clis = sorted(name for name in project()["scripts"] if name.startswith("caldp-"))
    script = 'printf "%s\\n" "$@" | xargs -P 2 -I{} sh -c \'{} --help >/dev/null 2>&1 || echo "FAILED {}"\''
    proc = rt.run(image, "sh", "-c", script, "sh", *clis)
    assert proc.returncode == 0, proc.stderr
    assert "FAILED" not in proc.stdout, proc.stdout


def test_dask_cloudprovider_shims(rt, image):
    script = "dask-scheduler --help && dask-worker --help && command -v dask-scheduler && command -v dask-worker"
    proc = rt.run(image, "sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-2:] == ["/usr/local/bin/dask-scheduler", "/usr/local/bin/dask-worker"]


def test_kernels_load_from_installed_package(rt, image):
    check_kernels(rt, image)


def test_negative_control_image_without_kernels_fails_the_check(rt, image, tmp_path):
    """The kernel check is not vacuous: an image derived from this one without the .so files fails it."""
    broken = f"localhost/caldp-smoke-nokernels:{os.getpid()}"
    (tmp_path / "Containerfile").write_text(
        f"FROM {image}\nUSER root\nRUN find /opt/caldp -name '_*kernels*.so' -delete\nUSER caldp\n"
    )
    pull = ["--pull=never"] if "podman" in Path(rt.engine).name else []
    rt.cmd("build", *pull, "-t", broken, "-f", str(tmp_path / "Containerfile"), str(tmp_path), check=True)
    try:
        with pytest.raises(AssertionError, match="kernels that do not load"):
            check_kernels(rt, broken)
    finally:
        rt.cmd("rmi", "-f", broken)


def test_image_user_writes_its_folders(rt, image):
    script = (
        'id -u; for d in /work "$CRDS_PATH" "$HOME" /tmp; do '
        'touch "$d/.caldp-w" && rm "$d/.caldp-w" || echo "CANNOT $d"; done'
    )
    proc = rt.run(image, "sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split()
    assert lines[0] == str(IMAGE_UID)
    assert "CANNOT" not in proc.stdout, proc.stdout


def test_image_is_lean_and_labelled(rt, image):
    labels = json.loads(rt.cmd("image", "inspect", "--format", "{{json .Config.Labels}}", image, check=True).stdout)
    assert labels["org.opencontainers.image.version"] == project()["version"]
    assert labels.get("org.opencontainers.image.revision", "unknown") != "unknown"
    probe = (
        "command -v gcc cc x86_64-linux-gnu-gcc; ls -d /etc/pip.conf /run/caldp-build /dev/caldp-build "
        "/src 2>/dev/null; env | grep '^PIP_CONFIG_FILE'; true"
    )
    proc = rt.run(image, "sh", "-c", probe)
    assert proc.returncode == 0 and proc.stdout.strip() == "", f"build leftovers in the image: {proc.stdout}"
    history = rt.cmd("history", "--no-trunc", "--format", "{{.CreatedBy}}", image, check=True).stdout
    assert "PIP_CONFIG_FILE" not in history and "caldp-build" not in history


# --- a dataset, and a cluster made of the image ----------------------------------------------


#: A host user who is neither root nor the image's user (when the tests run as root), to check
#: that what the image writes into a mounted folder is readable and removable by its owner.
HOST_UID = os.getuid() if os.getuid() != 0 else 4321


@pytest.fixture(scope="module")
def sim() -> tuple[Path, str]:
    """One small simulated dataset (caldp-sim --modes acs-wfc-asn --size small) in a folder
    the image's user can write and any host user can reach (under the temporary folder, not
    pytest's private one); (base folder, dataset name)."""
    base = Path(tempfile.mkdtemp(prefix="caldp-container-"))
    base.chmod(0o755)
    caldp_sim = Path(sys.executable).with_name("caldp-sim")
    try:
        subprocess.run(
            [str(caldp_sim), str(base / "sim"), "--modes", DATASET_MODE, "--size", "small"],
            check=True,
            capture_output=True,
            timeout=300,
        )
        name = (base / "sim" / "datasets.txt").read_text().split()[0]
        writable_by_image_user(base)
        yield base, name
    finally:
        shutil.rmtree(base, ignore_errors=True)


def host_output_folder(path: Path) -> Path:
    """An output folder as docker/README.md says to make one: owned by the host user, a+rwx."""
    path.mkdir()
    if os.getuid() == 0:
        os.chown(path, HOST_UID, HOST_UID)
    path.chmod(0o777)
    return path


def as_host_user(script: str, *args: str) -> subprocess.CompletedProcess:
    """`sh -c script` as the host user HOST_UID (not root, not the image's user when run as root)."""
    ids = {"user": HOST_UID, "group": HOST_UID, "extra_groups": []} if os.getuid() == 0 else {}
    return subprocess.run(["sh", "-c", script, "sh", *args], capture_output=True, text=True, timeout=120, **ids)


def check_run(out: Path, name: str, stage2: bool) -> dict:
    """The products and the processed message of one dataset in `out`; returns the message."""
    message = out / "messages" / "datasets-processed" / name
    assert message.is_file(), sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    doc = json.loads(message.read_text())
    assert doc["exit_code"] == 0 and doc["state"] == "datasets-processed", doc
    data = out / "data" / "acs" / name
    products = sorted(doc["products"])
    assert products and all((out / p).is_file() for p in products), products
    names = {Path(p).name for p in products}
    assert {f"{name}_crj.fits", f"{name}_asn.fits"} <= names
    assert len([n for n in names if n.endswith("_flt.fits")]) == 2, names
    assert any(n.endswith("_drz.fits") for n in names) == stage2
    assert any(p.startswith(f"data/acs/{name}/previews/") and p.endswith(".jpg") for p in products)
    assert "EXIT - SUCCESS[0]" in (data / "logs" / "process.txt").read_text()
    with fits.open(data / f"{name}_crj.fits") as hdul:
        assert hdul[0].header["CRCORR"] == "COMPLETE" and np.isfinite(hdul["SCI"].data).all()
    return doc


def check_host_user_owns_the_output(out: Path) -> None:
    """Every file the container wrote is readable by the host user, who can remove all of it."""
    readable = as_host_user('find "$1" -type f -exec cat {} + >/dev/null', str(out))
    assert readable.returncode == 0, f"uid {HOST_UID} cannot read the outputs: {readable.stderr[-1000:]}"
    removed = as_host_user('rm -rf "$1"/* && ls -A "$1"', str(out))
    assert removed.returncode == 0 and removed.stdout == "", (
        f"uid {HOST_UID} cannot remove the outputs: {removed.stderr[-1000:]}"
    )


def test_caldp_process_in_a_container_writes_outputs_the_host_user_can_remove(rt, image, sim):
    """The image's default use (README): caldp-process as uid 1000 into a mounted a+rwx folder."""
    base, name = sim
    out = host_output_folder(base / "process-out")
    proc = rt.run(
        image,
        name,
        f"file:{base}/sim/inputs",
        f"file:{out}",
        "caldp-config-local",
        "--no-stage2",  # drizzling: another area's, and the slowest step (CI budget)
        opts=("-v", f"{base}:{base}", "-e", f"CRDS_PATH={base}/sim/crds_cache"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == "EXIT - SUCCESS[0]: Processing completed successfully."
    check_run(out, name, stage2=False)
    if os.getuid() == 0:  # rootful: uid 1000 is uid 1000 on the host (rootless maps it to a subuid)
        assert {p.stat().st_uid for p in out.rglob("*")} == {IMAGE_UID}
    check_host_user_owns_the_output(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(rt, image, sim):
    """A scheduler container and a worker container started as dask-cloudprovider starts them;
    the worker sees the dataset folder at the same path as the host. Yields the address."""
    base, _ = sim
    port, tag = free_port(), os.getpid()
    address = f"tcp://127.0.0.1:{port}"
    names = [f"caldp-smoke-scheduler-{tag}", f"caldp-smoke-worker-{tag}"]
    started = []
    try:
        rt.cmd(
            "run",
            "-d",
            "--rm",
            "--network",
            "host",
            "--name",
            names[0],
            image,
            "dask-scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--dashboard-address",
            "127.0.0.1:0",
            "--idle-timeout",
            "1800",
            check=True,
        )
        started.append(names[0])
        rt.cmd(
            "run",
            "-d",
            "--rm",
            "--network",
            "host",
            "-v",
            f"{base}:{base}",
            "--name",
            names[1],
            image,
            "dask-worker",
            address,
            "--name",
            "smoke-worker",
            "--nthreads",
            "2",
            "--resources",
            "memory=3072",
            "--memory-limit",
            "3072MiB",
            "--no-dashboard",
            "--death-timeout",
            "120",
            check=True,
        )
        started.append(names[1])
        yield address
    finally:
        for name in reversed(started):
            rt.cmd("rm", "-f", name, timeout=120)


def test_container_cluster_serves_a_client_on_the_host(cluster):
    from distributed import Client

    with Client(cluster, timeout=60) as client:
        client.wait_for_workers(1, timeout=180)
        assert client.submit(operator.add, 1, 2).result(timeout=120) == 3
        workers = client.scheduler_info()["workers"].values()
        assert [w["resources"] for w in workers] == [{"memory": 3072}]


def test_caldp_batch_on_the_container_cluster(cluster, sim):
    """caldp-batch on the host drives the container cluster; the worker (uid 1000) writes the
    products into the shared folders, the submitter (umask 000, docker/README.md) its messages."""
    base, name = sim
    out = host_output_folder(base / "batch-out")
    (base / "batch-work").mkdir(mode=0o777)
    (base / "batch-work").chmod(0o777)
    (base / "datasets.txt").write_text(name + "\n")
    env = dict(os.environ, CRDS_PATH=f"{base}/sim/crds_cache")
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("caldp-batch")),
            str(base / "datasets.txt"),
            "--cluster",
            cluster,
            "--input",
            f"file:{base}/sim/inputs",
            "--output",
            f"file:{out}",
            "--workdir",
            str(base / "batch-work"),
            "--config",
            "caldp-config-local",
            "--no-stage2",
            "--no-progress",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=lambda: os.umask(0),
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    check_run(out, name, stage2=False)
    # the products were written in the worker container, as the image's user
    if os.getuid() == 0:
        assert (out / "data" / "acs" / name / f"{name}_crj.fits").stat().st_uid == IMAGE_UID
    assert "no `memory` resource" not in proc.stderr
    check_host_user_owns_the_output(out)
