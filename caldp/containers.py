"""The container image and engine of caldp's container commands, and how a command runs in it.

One configuration names the image every container command uses (``caldp-image-build`` makes
it, ``caldp-image-push`` pushes it, ``caldp-docker-run-*`` run it, and ``caldp-batch
--cluster fargate|ec2`` starts its workers from it):

- ``CALDP_IMAGE_REPO`` (default ``localhost/caldp``) and ``CALDP_IMAGE_TAG`` (default
  ``latest``): the image is ``<repo>:<tag>``;
- ``CALDP_CONTAINER_ENGINE``: ``docker`` or ``podman`` (or a path to one); by default docker
  when its daemon answers, else podman when installed, else docker;
- a file of ``KEY=VALUE`` lines named by ``CALDP_IMAGE_CONFIG`` (or given to the command)
  may set the same three; the environment wins over the file, the file over the defaults.

A command runs in the container with ``$CALDP_HOME`` (default: the current directory) mounted
as the container user's ``$HOME`` (:data:`HOME_IN_CONTAINER`), and the working directory the
current directory's place under it, so relative paths mean the same inside and out. Absolute
host paths do not exist in the container, so they are refused with the reason before anything
runs (an absolute path under ``$CALDP_HOME`` in a passed variable is translated).

>>> cfg = image_config({"CALDP_IMAGE_REPO": "127.0.0.1:5000/caldp", "CALDP_CONTAINER_ENGINE": "podman"})
>>> cfg.image, cfg.engine
('127.0.0.1:5000/caldp:latest', 'podman')
>>> default_image({})
'localhost/caldp:latest'
>>> container_path(Path("/data/home/run1/out"), Path("/data/home"))
'/home/caldp/run1/out'
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .config import NAMED_CONFIGS, caldp_home, parse_env_lines
from .exit_codes import ExitCode

DEFAULT_REPO = "localhost/caldp"
DEFAULT_TAG = "latest"
CONFIG_KEYS = ("CALDP_IMAGE_REPO", "CALDP_IMAGE_TAG", "CALDP_CONTAINER_ENGINE")
#: The image's user's home (docker/Dockerfile: useradd caldp), where $CALDP_HOME is mounted.
HOME_IN_CONTAINER = "/home/caldp"
#: Environment variables that pass into the container (CALDP's, CRDS's and AWS's).
PASSED_PREFIXES = ("CALDP_", "CRDS_", "AWS_")
#: Settings of the host side only (they mean nothing inside the container).
NOT_PASSED = ("CALDP_HOME", "CALDP_IMAGE_CONFIG", *CONFIG_KEYS)
BUILD_COMMAND = "caldp-image-build"
#: caldp-process options whose value is the next argument.
VALUE_OPTIONS = ("--engine", "--workdir")
#: The engine's own failures: docker and podman exit 125 (the engine), 126 (cannot invoke), 127 (not found).
ENGINE_STATUSES = (125, 126, 127)


class ContainerError(Exception):
    """A container command cannot go on: `reason` is the one line to print, `code` the exit status."""

    def __init__(self, reason: str, code: ExitCode = ExitCode.GENERIC_ERROR):
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class ImageConfig:
    repo: str
    tag: str
    engine: str
    sources: dict[str, str] = field(default_factory=dict, compare=False)  # key → default|file …|environment

    @property
    def image(self) -> str:
        return f"{self.repo}:{self.tag}"

    @property
    def kind(self) -> str:
        """``podman`` or ``docker``: which command-line dialect the engine speaks."""
        return "podman" if "podman" in Path(self.engine).name else "docker"

    def lines(self) -> list[str]:
        """``KEY=VALUE`` lines (sourceable by a shell, readable as a config file), sources as comments."""
        values = {"CALDP_IMAGE_REPO": self.repo, "CALDP_IMAGE_TAG": self.tag, "CALDP_CONTAINER_ENGINE": self.engine}
        out = ["# " + "; ".join(f"{key}: {self.sources.get(key, 'default')}" for key in values)]
        out += [f"{key}={value}" for key, value in values.items()]
        out.append(f"CALDP_DOCKER_IMAGE={self.image}")
        return out


def _file_values(path: str | os.PathLike | None, environ: Mapping[str, str]) -> tuple[dict[str, str], str]:
    path = path or environ.get("CALDP_IMAGE_CONFIG") or None
    if path is None:
        return {}, ""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ContainerError(
            f"cannot read the image config file {path}: {exc.strerror or exc}", ExitCode.CMDLINE_ERROR
        ) from None
    values = parse_env_lines(text, environ)
    unknown = sorted(set(values) - set(CONFIG_KEYS) - {"CALDP_DOCKER_IMAGE"})
    if unknown:
        raise ContainerError(
            f"{path}: unknown setting(s) {', '.join(unknown)}; use {', '.join(CONFIG_KEYS)}", ExitCode.CMDLINE_ERROR
        )
    return values, f"file {path}"


def _settings(environ: Mapping[str, str], path) -> tuple[dict[str, str], dict[str, str]]:
    values, source = _file_values(path, environ)
    settings, sources = {}, {}
    for key in CONFIG_KEYS:
        if environ.get(key):
            settings[key], sources[key] = environ[key], "environment"
        elif values.get(key):
            settings[key], sources[key] = values[key], source
    return settings, sources


def default_image(environ: Mapping[str, str] | None = None) -> str:
    """The configured image name (no engine lookup): the default worker image of caldp-batch's
    cloud clusters. A configuration file that cannot be read leaves the defaults."""
    environ = os.environ if environ is None else environ
    try:
        settings, _ = _settings(environ, None)
    except ContainerError:
        settings = {}
    return f"{settings.get('CALDP_IMAGE_REPO', DEFAULT_REPO)}:{settings.get('CALDP_IMAGE_TAG', DEFAULT_TAG)}"


def _docker_answers(docker: str) -> bool:
    try:
        return (
            subprocess.run(
                [docker, "version", "--format", "{{.Server.Version}}"], capture_output=True, timeout=15
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def detect_engine() -> tuple[str, str]:
    """(engine, why): docker when its daemon answers, else podman when installed, else docker."""
    docker, podman = shutil.which("docker"), shutil.which("podman")
    if docker and _docker_answers(docker):
        return "docker", "detected: the docker daemon answers"
    if podman:
        return "podman", "detected: podman installed" + (" (docker has no daemon)" if docker else "")
    return "docker", "default: " + ("docker has no daemon" if docker else "neither docker nor podman is installed")


def image_config(
    environ: Mapping[str, str] | None = None, path: str | os.PathLike | None = None, *, tag: str | None = None
) -> ImageConfig:
    """The configuration from `environ` (default os.environ), the file `path` or
    ``$CALDP_IMAGE_CONFIG``, and the defaults; `tag` (a command's argument) wins over all."""
    environ = os.environ if environ is None else environ
    settings, sources = _settings(environ, path)
    if tag:
        settings["CALDP_IMAGE_TAG"], sources["CALDP_IMAGE_TAG"] = tag, "command line"
    engine = settings.get("CALDP_CONTAINER_ENGINE")
    if not engine:
        engine, sources["CALDP_CONTAINER_ENGINE"] = detect_engine()
    repo = settings.get("CALDP_IMAGE_REPO", DEFAULT_REPO)
    tag_ = settings.get("CALDP_IMAGE_TAG", DEFAULT_TAG)
    if not repo or any(c.isspace() for c in repo) or ":" in repo.rsplit("/", 1)[-1]:
        raise ContainerError(
            f"CALDP_IMAGE_REPO={repo!r} is not an image repository (host[:port]/name, no tag)", ExitCode.CMDLINE_ERROR
        )
    if not tag_ or any(c in tag_ for c in ":/ \t"):
        raise ContainerError(f"CALDP_IMAGE_TAG={tag_!r} is not an image tag", ExitCode.CMDLINE_ERROR)
    return ImageConfig(repo, tag_, engine, sources)


# --- the engine ------------------------------------------------------------------------------


def checkout_root() -> Path:
    """The source checkout caldp is installed from (``docker/`` lives there)."""
    return Path(__file__).resolve().parent.parent


def engine_environ(cfg: ImageConfig, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment to run the engine with: podman gets the checkout's ``docker/podman-env.sh``
    settings (``CONTAINERS_CONF`` for this kind of machine) unless ``CONTAINERS_CONF`` is set."""
    env = dict(os.environ if environ is None else environ)
    script = checkout_root() / "docker" / "podman-env.sh"
    if cfg.kind == "podman" and not env.get("CONTAINERS_CONF") and script.is_file():
        try:
            proc = subprocess.run(
                ["bash", "-c", '. "$1" >/dev/null 2>&1; printf %s "${CONTAINERS_CONF:-}"', "_", str(script)],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired):
            proc = None
        if proc is not None and proc.stdout:
            env["CONTAINERS_CONF"] = proc.stdout
    return env


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def engine_path(cfg: ImageConfig) -> str:
    """The engine's executable; ContainerError when it is not installed."""
    found = shutil.which(cfg.engine)
    if not found:
        raise ContainerError(
            f"no container engine: {cfg.engine} is not on PATH (install podman or docker, "
            "or set CALDP_CONTAINER_ENGINE)"
        )
    return found


def check_image(cfg: ImageConfig, env: Mapping[str, str]) -> None:
    """ContainerError when the engine cannot list images or `cfg.image` is not there."""
    engine = engine_path(cfg)
    try:
        proc = subprocess.run(
            [engine, "image", "inspect", "--format", "{{.Id}}", cfg.image],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ContainerError(f"{cfg.engine} does not answer: {exc}") from None
    if proc.returncode == 0:
        return
    err = proc.stderr.lower()
    if "no such" in err or "not known" in err or "image not known" in err or "unable to find" in err:
        raise ContainerError(
            f"image {cfg.image} not found in {cfg.engine}: build it with {BUILD_COMMAND} "
            f"(or set CALDP_IMAGE_REPO/CALDP_IMAGE_TAG; see caldp-image-config)"
        )
    raise ContainerError(f"{cfg.engine} cannot run containers here: {_first_line(proc.stderr)}")


def _within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def container_path(host: Path, home: Path) -> str:
    """The container's name of `host`, a path under `home` (``$CALDP_HOME``)."""
    rel = host.relative_to(home).as_posix()
    return HOME_IN_CONTAINER if rel == "." else f"{HOME_IN_CONTAINER}/{rel}"


@dataclass
class RunSetting:
    """Where and how a command runs: host ``$CALDP_HOME``, container working directory, environment."""

    home: Path
    workdir: str
    env: dict[str, str]  # passed variables, values as the container sees them
    cwd_inside: bool


def run_setting(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> RunSetting:
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    try:
        home = caldp_home({"CALDP_HOME": environ.get("CALDP_HOME") or str(cwd)})
    except ValueError as exc:
        raise ContainerError(str(exc), ExitCode.CMDLINE_ERROR) from None
    home = home.resolve()
    here = cwd.resolve()
    inside = _within(here, home)
    env: dict[str, str] = {}
    for key, value in environ.items():
        if not key.startswith(PASSED_PREFIXES) or key in NOT_PASSED:
            continue
        if value.startswith("/") and _within(Path(value).resolve(), home):
            value = container_path(Path(value).resolve(), home)  # an absolute path under CALDP_HOME
        elif key == "CRDS_PATH" and value.startswith("/"):
            raise ContainerError(
                f"CRDS_PATH={value} is outside CALDP_HOME ({home}): the container sees only "
                f"CALDP_HOME (as {HOME_IN_CONTAINER}); put the cache under it or use a relative "
                "CRDS_PATH",
                ExitCode.CMDLINE_ERROR,
            )
        elif key == "CRDS_PATH" and not _within((here / value).resolve(), home):
            raise ContainerError(
                f"CRDS_PATH={value} leads outside CALDP_HOME ({home}), which is all the container sees",
                ExitCode.CMDLINE_ERROR,
            )
        env[key] = value
    env["CALDP_HOME"] = HOME_IN_CONTAINER
    env["HOME"] = HOME_IN_CONTAINER
    workdir = container_path(here, home) if inside else HOME_IN_CONTAINER
    return RunSetting(home, workdir, env, inside)


def check_pipeline_args(args: Sequence[str], setting: RunSetting, cwd: Path | None = None) -> None:
    """ContainerError (CMDLINE_ERROR) for caldp-process arguments that cannot mean the same in
    the container: absolute host paths, relative paths leading out of ``$CALDP_HOME``, and any
    relative path when the current directory is outside ``$CALDP_HOME``."""
    here = (Path.cwd() if cwd is None else cwd).resolve()
    if not setting.cwd_inside:
        raise ContainerError(
            f"the current directory {here} is outside CALDP_HOME ({setting.home}): run from "
            "CALDP_HOME or below it, so that relative file: paths mean the same in the "
            f"container (where CALDP_HOME is {HOME_IN_CONTAINER})",
            ExitCode.CMDLINE_ERROR,
        )
    positional, skip = [], False
    for arg in args:  # caldp-process's positionals (options with a separate value skipped)
        if not skip and not arg.startswith("-"):
            positional.append(arg)
        skip = arg in VALUE_OPTIONS
    config = positional[3] if len(positional) >= 4 and positional[3] not in NAMED_CONFIGS else None
    candidates = []
    for arg in args:
        if arg.startswith("file:"):
            candidates.append((arg, arg[len("file:") :] or "."))
        elif "=" in arg and arg.startswith("--") and arg.split("=", 1)[1].startswith("/"):
            candidates.append((arg, arg.split("=", 1)[1]))
        elif arg.startswith("/"):
            candidates.append((arg, arg))
        elif arg == config:
            candidates.append((arg, arg))  # a KEY=VALUE config file
    for arg, path in candidates:
        p = Path(path)
        if p.is_absolute():
            hint = ""
            if _within(p.resolve(), setting.home):
                rel = os.path.relpath(p.resolve(), here)
                hint = f"; here it is {arg.replace(path, rel)}" if arg.startswith("file:") else f"; here it is {rel}"
            raise ContainerError(
                f"{arg}: an absolute host path does not exist in the container, which sees only "
                f"CALDP_HOME ({setting.home}) as {HOME_IN_CONTAINER}: use a path relative to the "
                f"current directory{hint}",
                ExitCode.CMDLINE_ERROR,
            )
        if not _within((here / p).resolve(), setting.home):
            raise ContainerError(
                f"{arg} leads outside CALDP_HOME ({setting.home}), which is all the container sees",
                ExitCode.CMDLINE_ERROR,
            )


def user_options(cfg: ImageConfig) -> list[str]:
    """Run as the calling user, so files written under ``$CALDP_HOME`` belong to them: rootless
    podman maps the caller's id into the container (``--userns=keep-id``); rootful podman and
    docker run as the caller's uid:gid."""
    uid, gid = os.getuid(), os.getgid()
    if cfg.kind == "podman" and uid != 0:
        return ["--userns=keep-id"]
    return ["--user", f"{uid}:{gid}"]


def run_command(
    cfg: ImageConfig,
    setting: RunSetting,
    command: Sequence[str],
    *,
    interactive: bool,
    tty: bool,
    engine_env: Mapping[str, str],
) -> list[str]:
    """The engine's command line running `command` in the image in `setting` (variables by name:
    their values travel in the engine's environment, not on its command line)."""
    cmd = [engine_path(cfg), "run", "--rm", "--network", "host"]
    if interactive:
        cmd.append("-i")
    if tty:
        cmd.append("-t")
    cmd += user_options(cfg)
    cmd += ["-v", f"{setting.home}:{HOME_IN_CONTAINER}", "-w", setting.workdir]
    for key in sorted(setting.env):
        cmd += ["-e", key]
    cmd.append(cfg.image)
    cmd += list(command)
    return cmd


def check_engine_runs(cfg: ImageConfig, setting: RunSetting, env: Mapping[str, str]) -> None:
    """Start the image once with the same options (``true``): ContainerError with the engine's
    reason when containers cannot run here (before the real command, so nothing is half-done)."""
    cmd = run_command(cfg, setting, ["true"], interactive=False, tty=False, engine_env=env)
    try:
        proc = subprocess.run(cmd, env=dict(env), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ContainerError(f"{cfg.engine} cannot run containers here: {exc}") from None
    if proc.returncode != 0:
        raise ContainerError(f"{cfg.engine} cannot run containers here: {_first_line(proc.stderr)}")


def run_in_container(
    command: Sequence[str],
    *,
    interactive: bool,
    pipeline: bool,
    environ: Mapping[str, str] | None = None,
    config_path=None,
) -> int:
    """Run `command` in the configured image in the ``$CALDP_HOME`` setting; its exit status.
    ContainerError for anything that stops it before it starts. `pipeline`: `command` is
    caldp-process, whose arguments are checked first and which never exits 125-127 itself."""
    environ = dict(os.environ if environ is None else environ)
    setting = run_setting(environ)
    if pipeline:
        check_pipeline_args(command[1:], setting)
    cfg = image_config(environ, config_path)
    env = engine_environ(cfg, environ)
    check_image(cfg, env)
    check_engine_runs(cfg, setting, env)
    env.update(setting.env)
    tty = interactive and sys.stdin.isatty() and sys.stdout.isatty()
    cmd = run_command(cfg, setting, command, interactive=interactive, tty=tty, engine_env=env)
    try:
        if pipeline:  # caldp-process's console: where products, logs and messages are, in host paths
            status = _run_translating(cmd, env, host_paths(setting.home))
        else:
            status = subprocess.run(cmd, env=env).returncode
    except OSError as exc:
        raise ContainerError(f"cannot start {cfg.engine}: {exc}") from None
    if pipeline and status in ENGINE_STATUSES:
        raise ContainerError(f"{cfg.engine} failed to run {command[0]} in {cfg.image} (status {status})")
    return status


def host_paths(home: Path):
    """A function giving a console line with the container's paths under ``$CALDP_HOME`` as the host's.

    >>> host_paths(Path("/data/run"))("  log       /home/caldp/out/logs/process.txt and /home/caldpx")
    '  log       /data/run/out/logs/process.txt and /home/caldpx'
    """
    pattern = re.compile(rf"(?<![\w/.]){re.escape(HOME_IN_CONTAINER)}(?=/|\s|$)")
    return lambda line: pattern.sub(lambda m: str(home), line)


def _run_translating(cmd: list[str], env: Mapping[str, str], translate) -> int:
    """Run `cmd` with its stderr passed on line by line through `translate`; its status."""
    with subprocess.Popen(cmd, env=dict(env), stderr=subprocess.PIPE, text=True, errors="replace") as proc:
        for line in proc.stderr:
            sys.stderr.write(translate(line))
            sys.stderr.flush()
    return proc.returncode
