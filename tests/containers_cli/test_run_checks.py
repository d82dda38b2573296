"""caldp-docker-run-pipeline/-container before and around the engine, with a stand-in engine
(a script named podman that records its calls): the command line it gets, and every way the
run is refused with one line and CALDP's code before anything runs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from caldp.containers import HOME_IN_CONTAINER
from caldp.exit_codes import ExitCode

from .conftest import clean_env, run

FAKE_ENGINE = r"""#!/bin/sh
# stand-in for podman: records each call (arguments, then the passed variables it was asked for)
echo "CALL $*" >> "$FAKE_LOG"
case "$1 $2" in
  "image inspect")
    if [ "$FAKE_MODE" = noimage ]; then echo "Error: inspecting object: $5: image not known" >&2; exit 125; fi
    echo sha256:0123; exit 0 ;;
esac
if [ "$1" = run ]; then
  if [ "$FAKE_MODE" = broken ]; then
    echo "Error: OCI runtime error: crun: cgroups in hybrid mode not supported" >&2; exit 126
  fi
  for a in "$@"; do case "$prev" in -e) echo "ENV $a=$(printenv "$a")" >> "$FAKE_LOG";; esac; prev="$a"; done
  for a in "$@"; do last="$a"; done
  if [ "$last" = true ]; then exit 0; fi
  echo "  message   /home/caldp/run/out/messages/x" >&2
  exit "${FAKE_STATUS:-0}"
fi
exit 0
"""


@pytest.fixture
def fake(tmp_path):
    engine = tmp_path / "bin" / "podman"
    engine.parent.mkdir()
    engine.write_text(FAKE_ENGINE)
    engine.chmod(0o755)
    log = tmp_path / "engine.log"
    home = tmp_path / "home"
    (home / "run").mkdir(parents=True)
    env = clean_env(
        CALDP_CONTAINER_ENGINE=str(engine), FAKE_LOG=str(log), CALDP_HOME=str(home), CONTAINERS_CONF="/dev/null"
    )

    class Fake:
        def __init__(self):
            self.engine, self.log, self.home, self.env = engine, log, home, env

        def calls(self) -> list[str]:
            return (
                [ln[5:] for ln in self.log.read_text().splitlines() if ln.startswith("CALL ")]
                if self.log.exists()
                else []
            )

        def passed(self) -> dict[str, str]:
            lines = self.log.read_text().splitlines() if self.log.exists() else []
            return dict(ln[4:].split("=", 1) for ln in lines if ln.startswith("ENV "))

    return Fake()


def one_line(proc, prog: str, code: ExitCode, text: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: {code.name}[{int(code)}]: "), proc.stderr
    assert text in lines[0], lines[0]


def test_pipeline_command_line(fake):
    cwd = fake.home / "run"
    env = {
        **fake.env,
        "FAKE_STATUS": "23",
        "CRDS_PATH": "crds_cache",
        "CRDS_SERVER_URL": "https://x",
        "AWS_ACCESS_KEY_ID": "key",
        "CALDP_MAST_URL": "http://127.0.0.1:1",
        "CALDP_WORK": str(cwd / "w"),
        "UNRELATED": "no",
    }
    proc = run(
        "caldp-docker-run-pipeline",
        "jcs101010",
        "file:inputs",
        "file:out",
        "caldp-config-local",
        "--no-stage2",
        env=env,
        cwd=cwd,
    )
    assert proc.returncode == 23, proc.stderr  # caldp-process's status is the command's
    assert proc.stderr == f"  message   {fake.home}/run/out/messages/x\n"  # its console in host paths
    inspect, check, real = fake.calls()
    assert inspect.startswith("image inspect") and inspect.endswith("localhost/caldp:latest")
    assert check.endswith("localhost/caldp:latest true")
    user = ["--user", f"{os.getuid()}:{os.getgid()}"] if os.getuid() == 0 else ["--userns=keep-id"]
    words = real.split()
    assert words[:4] == ["run", "--rm", "--network", "host"]
    assert " ".join(user) in real
    assert f"-v {fake.home}:{HOME_IN_CONTAINER} -w {HOME_IN_CONTAINER}/run" in real
    assert real.endswith(
        "localhost/caldp:latest caldp-process jcs101010 file:inputs file:out caldp-config-local --no-stage2"
    )
    passed = fake.passed()
    assert passed == {
        "AWS_ACCESS_KEY_ID": "key",
        "CALDP_HOME": HOME_IN_CONTAINER,
        "CALDP_MAST_URL": "http://127.0.0.1:1",
        "CALDP_WORK": f"{HOME_IN_CONTAINER}/run/w",
        "CRDS_PATH": "crds_cache",
        "CRDS_SERVER_URL": "https://x",
        "HOME": HOME_IN_CONTAINER,
    }
    assert "key" not in real  # values travel in the environment, not on the command line


def test_container_default_is_a_shell(fake):
    proc = run("caldp-docker-run-container", env=fake.env, cwd=fake.home, stdin=open(os.devnull))
    assert proc.returncode == 0, proc.stderr
    real = fake.calls()[-1]
    assert real.endswith("localhost/caldp:latest bash") and " -i " in real and " -t " not in real
    proc = run("caldp-docker-run-container", "sh", "-c", "exit 3", env={**fake.env, "FAKE_STATUS": "3"}, cwd=fake.home)
    assert proc.returncode == 3 and fake.calls()[-1].endswith("sh -c exit 3")


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (
            ["jcs101010", "file:/data/in", "file:out"],
            "file:/data/in: an absolute host path does not exist in the container",
        ),
        (["jcs101010", "file:in", "file:../../elsewhere"], "file:../../elsewhere leads outside CALDP_HOME"),
        (["jcs101010", "file:in", "file:out", "/etc/caldp.env"], "/etc/caldp.env: an absolute host path"),
        (["jcs101010", "file:in", "file:out", "--workdir", "/tmp"], "/tmp: an absolute host path"),
    ],
)
def test_paths_the_container_cannot_see(fake, args, text):
    proc = run("caldp-docker-run-pipeline", *args, env=fake.env, cwd=fake.home / "run")
    one_line(proc, "caldp-docker-run-pipeline", ExitCode.CMDLINE_ERROR, text)
    assert fake.calls() == []  # refused before anything ran
    assert sorted(p.name for p in fake.home.rglob("*")) == ["run"]


def test_absolute_path_under_caldp_home_gets_its_relative_name(fake):
    proc = run(
        "caldp-docker-run-pipeline", "jcs101010", f"file:{fake.home}/run/in", env=fake.env, cwd=fake.home / "run"
    )
    one_line(proc, "caldp-docker-run-pipeline", ExitCode.CMDLINE_ERROR, "here it is file:in")


@pytest.mark.parametrize("what", ["missing", "file", "cwd-outside", "crds-outside"])
def test_bad_caldp_home(fake, tmp_path, what):
    env, cwd = dict(fake.env), fake.home
    if what == "missing":
        env["CALDP_HOME"] = str(tmp_path / "nowhere")
        text = "is not a directory (it does not exist)"
    elif what == "file":
        (tmp_path / "afile").write_text("x")
        env["CALDP_HOME"] = str(tmp_path / "afile")
        text = "is not a directory"
    elif what == "cwd-outside":
        cwd = tmp_path
        text = f"the current directory {tmp_path} is outside CALDP_HOME"
    else:
        env["CRDS_PATH"] = "/grp/crds/cache"
        text = "CRDS_PATH=/grp/crds/cache is outside CALDP_HOME"
    proc = run("caldp-docker-run-pipeline", "jcs101010", env=env, cwd=cwd)
    one_line(proc, "caldp-docker-run-pipeline", ExitCode.CMDLINE_ERROR, text)
    assert fake.calls() == []
    assert not (tmp_path / "nowhere").exists()


def test_no_engine(fake, tmp_path):
    for prog in ("caldp-docker-run-pipeline", "caldp-docker-run-container", "caldp-image-push", "caldp-image-build"):
        args = ["jcs101010"] if prog.endswith("pipeline") else []
        proc = run(prog, *args, env={**fake.env, "CALDP_CONTAINER_ENGINE": "no-such-engine"}, cwd=fake.home)
        one_line(proc, prog, ExitCode.GENERIC_ERROR, "no container engine: no-such-engine is not on PATH")
    assert sorted(p.name for p in fake.home.rglob("*")) == ["run"]


def test_image_missing_names_the_build_command(fake):
    env = {**fake.env, "FAKE_MODE": "noimage", "CALDP_IMAGE_TAG": "nope"}
    for prog in ("caldp-docker-run-pipeline", "caldp-docker-run-container", "caldp-image-push"):
        args = ["jcs101010"] if prog.endswith("pipeline") else []
        proc = run(prog, *args, env=env, cwd=fake.home)
        one_line(proc, prog, ExitCode.GENERIC_ERROR, "image localhost/caldp:nope not found in ")
        assert "build it with caldp-image-build" in proc.stderr
    assert all(c.startswith("image inspect") for c in fake.calls())


def test_engine_that_cannot_run_containers(fake):
    proc = run("caldp-docker-run-pipeline", "jcs101010", env={**fake.env, "FAKE_MODE": "broken"}, cwd=fake.home)
    one_line(
        proc,
        "caldp-docker-run-pipeline",
        ExitCode.GENERIC_ERROR,
        "cannot run containers here: Error: OCI runtime error: crun: cgroups in hybrid mode not supported",
    )
    assert fake.calls()[-1].endswith(" true")  # only the trial run: caldp-process never started
    assert sorted(p.name for p in fake.home.rglob("*")) == ["run"]


@pytest.mark.skipif(not shutil.which("docker"), reason="no docker CLI on PATH")
def test_docker_without_a_daemon(tmp_path):
    """The docker CLI where no daemon answers (as on these machines): one line naming the reason."""
    from caldp.containers import _docker_answers

    if _docker_answers(shutil.which("docker")):
        pytest.skip("the docker daemon answers here")
    proc = run("caldp-docker-run-pipeline", "jcs101010", env=clean_env(CALDP_CONTAINER_ENGINE="docker"), cwd=tmp_path)
    one_line(proc, "caldp-docker-run-pipeline", ExitCode.GENERIC_ERROR, "docker cannot run containers here: ")
    assert list(Path(tmp_path).iterdir()) == []


BUILD_SCRIPT = r"""#!/usr/bin/env bash
echo "BUILD $* image=$CALDP_IMAGE engine=${CALDP_CONTAINER_ENGINE:-unset} conf=${CONTAINERS_CONF:-unset}" >> "$FAKE_LOG"
[ "${FAKE_MODE:-}" = buildfails ] && { echo "build-image.sh: apt-get install podman failed" >&2; exit 1; }
echo "$CALDP_IMAGE"
"""


@pytest.fixture
def fake_checkout(tmp_path, monkeypatch):
    """A checkout whose docker/build-image.sh records how it was called."""
    root = tmp_path / "checkout"
    (root / "docker").mkdir(parents=True)
    (root / "docker" / "build-image.sh").write_text(BUILD_SCRIPT)
    monkeypatch.setattr("caldp.cli.image.checkout_root", lambda: root)
    return root


def test_build_runs_the_build_script(fake, fake_checkout, monkeypatch, capsys):
    from caldp.cli.image import build_main

    for key, value in {**fake.env, "CALDP_IMAGE_REPO": "registry.example/caldp"}.items():
        monkeypatch.setenv(key, value)
    assert build_main(["v9", "--base", "localhost/mybase:1"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == "registry.example/caldp:v9"
    build = [ln for ln in fake.log.read_text().splitlines() if ln.startswith("BUILD ")]
    assert build == [
        f"BUILD --base localhost/mybase:1 image=registry.example/caldp:v9 engine={fake.engine} conf=/dev/null"
    ]
    assert fake.calls() == ["image inspect --format {{.Id}} registry.example/caldp:v9"]  # checked after the build


def test_build_failure_is_one_line(fake, fake_checkout, monkeypatch, capsys):
    from caldp.cli.image import build_main

    for key, value in {**fake.env, "FAKE_MODE": "buildfails"}.items():
        monkeypatch.setenv(key, value)
    assert build_main([]) == ExitCode.GENERIC_ERROR
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (
        "caldp-image-build: GENERIC_ERROR[1]: building localhost/caldp:latest failed "
        "(docker/build-image.sh status 1; its output is above)"
    )
    assert fake.calls() == []
