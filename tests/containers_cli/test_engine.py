"""The container commands with a real engine and the built image (CI: .ci/prepare-podman.sh
builds it): the pipeline gives the native command's products, messages and logs; files belong
to the calling user; the image goes through a real registry on loopback and back.

Skipped, with the reason, where no engine can run the configured image."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from caldp.containers import ContainerError, check_engine_runs, check_image, engine_environ, image_config, run_setting
from caldp.messages import PROCESSED

from .conftest import clean_env, run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """(config, engine environment) when the configured engine runs the configured image here."""
    try:
        cfg = image_config(clean_env())
        env = engine_environ(cfg, clean_env())
        check_image(cfg, env)
        home = tmp_path_factory.mktemp("engine-check")
        check_engine_runs(cfg, run_setting({"CALDP_HOME": str(home)}, home), env)
    except ContainerError as exc:
        pytest.skip(f"no engine runs the caldp image here: {exc.reason}")
    return cfg, env


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_pipeline_matches_native(engine, sim_dataset, tmp_path):
    home = tmp_path / "home"
    (home / "inputs").mkdir(parents=True)
    shutil.copy(sim_dataset.tarball, home / "inputs")
    shutil.copytree(sim_dataset.crds_cache, home / "crds_cache")
    env = clean_env(CRDS_PATH="crds_cache")  # relative: the same cache inside and out
    args = [sim_dataset.name, "file:inputs", None, "caldp-config-local", "--no-stage2"]  # drizzling: not ours
    native = run("caldp-process", *(a or "file:native" for a in args), env=env, cwd=home)
    assert native.returncode == 0, native.stderr[-3000:]
    inside = run("caldp-docker-run-pipeline", *(a or "file:container" for a in args), env=env, cwd=home)
    assert inside.returncode == 0, inside.stderr[-3000:]
    # the same summary lines (paths as each side names them), the same files
    assert (
        inside.stderr.splitlines()[-1]
        == native.stderr.splitlines()[-1]
        == ("EXIT - SUCCESS[0]: Processing completed successfully.")
    )
    assert f"  products  {home / 'container'}/data/" in inside.stderr  # the console names host paths
    assert tree(home / "container") == tree(home / "native")
    assert (home / "container" / "messages" / PROCESSED / sim_dataset.name).is_file()
    data = Path("data") / sim_dataset.instrument / sim_dataset.name
    flts = sorted(p.name for p in (home / "native" / data).glob("*_fl[tc].fits"))
    assert flts
    for name in flts:
        with fits.open(home / "native" / data / name) as a, fits.open(home / "container" / data / name) as b:
            for ha, hb in zip(a, b, strict=True):
                if ha.data is not None:
                    assert np.array_equal(ha.data, hb.data), (name, ha.name)
    log = (home / "container" / data / "logs" / "process.txt").read_text()
    assert "EXIT - SUCCESS[0]" in log
    # written by the calling user; scratch gone; nothing else appeared in CALDP_HOME
    assert {p.stat().st_uid for p in (home / "container").rglob("*")} == {os.getuid()}
    # (CALDP_HOME is the container's $HOME: per-user caches such as .cache/matplotlib land there, as in a $HOME)
    visible = sorted(p.name for p in home.iterdir() if not p.name.startswith("."))
    assert visible == ["container", "crds_cache", "inputs", "native"]


def test_container_setting(engine, tmp_path):
    home = tmp_path / "home"
    (home / "sub").mkdir(parents=True)
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text(
        "[default]\naws_access_key_id = FROMHOMEAWS\naws_secret_access_key = secret\n"
    )
    script = (
        "id -u; pwd; echo $HOME; echo ${CALDP_PROBE:-unset} ${UNRELATED_PROBE:-unset}; touch made-inside; "
        "python -c 'import boto3; print(boto3.Session().get_credentials().access_key)'"
    )
    env = clean_env(CALDP_HOME=str(home), CALDP_PROBE="passed", UNRELATED_PROBE="leaked")
    proc = run("caldp-docker-run-container", "sh", "-c", script, env=env, cwd=home / "sub", stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    uid, pwd, homedir, probes, key = proc.stdout.split("\n")[:5]
    assert (uid, pwd, homedir, probes, key) == (
        str(os.getuid()),
        "/home/caldp/sub",
        "/home/caldp",
        "passed unset",
        "FROMHOMEAWS",
    )
    assert (home / "sub" / "made-inside").stat().st_uid == os.getuid()
    status = run("caldp-docker-run-container", "sh", "-c", "exit 7", env=env, cwd=home, stdin=subprocess.DEVNULL)
    assert status.returncode == 7


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def registry(tmp_path):
    """Debian's docker-registry serving on 127.0.0.1 from a temporary directory."""
    program = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not Path(program).is_file():
        pytest.skip("no docker-registry program (apt-get install docker-registry; .ci/prepare-registry.sh)")
    port = _free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: "
        f"{tmp_path / 'storage'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    errors = open(tmp_path / "registry.log", "wb")  # noqa: SIM115 -- closed below; its access log is long
    proc = subprocess.Popen([program, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=errors)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/v2/", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"docker-registry exited: {(tmp_path / 'registry.log').read_text()[-2000:]}")
                time.sleep(0.1)
        yield f"127.0.0.1:{port}", url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        errors.close()
        shutil.rmtree(tmp_path / "storage", ignore_errors=True)  # the pushed image's blobs


def test_push_pull_run(engine, registry, tmp_path):
    cfg, eng_env = engine
    address, url = registry
    repo, tag = f"{address}/caldp", "pushtest"
    pushed = f"{repo}:{tag}"
    engine_cmd = shutil.which(cfg.engine)
    subprocess.run([engine_cmd, "tag", cfg.image, pushed], env=eng_env, check=True)
    env = clean_env(CALDP_IMAGE_REPO=repo, CALDP_IMAGE_TAG=tag, CALDP_CONTAINER_ENGINE=cfg.engine)
    try:
        proc = run("caldp-image-push", "--tls-verify=false", env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.splitlines()[-1] == pushed
        with urllib.request.urlopen(f"{url}/v2/caldp/tags/list", timeout=10) as r:
            assert b'"pushtest"' in r.read()
        # the local name goes; the image comes back from the registry and runs
        subprocess.run([engine_cmd, "rmi", pushed], env=eng_env, check=True, capture_output=True)
        missing = run("caldp-docker-run-container", "true", env=env, cwd=tmp_path, stdin=subprocess.DEVNULL)
        assert missing.returncode == 1 and "build it with caldp-image-build" in missing.stderr
        pull = [engine_cmd, "pull"] + (["--tls-verify=false"] if cfg.kind == "podman" else []) + [pushed]
        subprocess.run(pull, env=eng_env, check=True, capture_output=True)
        ran = run(
            "caldp-docker-run-container", "caldp-process", "--help", env=env, cwd=tmp_path, stdin=subprocess.DEVNULL
        )
        assert ran.returncode == 0 and "usage: caldp-process" in ran.stdout, ran.stderr
    finally:
        subprocess.run([engine_cmd, "rmi", pushed], env=eng_env, capture_output=True)
