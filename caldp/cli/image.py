"""caldp-image-config, caldp-image-build, caldp-image-push: the container image, as CALDP's scripts.

    caldp-image-config [FILE] [--tag TAG]      # print repository, tag, engine (KEY=VALUE lines)
    caldp-image-build [TAG] [--base IMAGE]     # build <repo>:<tag> from this checkout
    caldp-image-push [TAG] [--tls-verify=false]    # push <repo>:<tag> to its repository

The settings (``CALDP_IMAGE_REPO``, ``CALDP_IMAGE_TAG``, ``CALDP_CONTAINER_ENGINE``, a file
named by ``CALDP_IMAGE_CONFIG`` or ``--config``) are described in :mod:`caldp.containers`.
Failures print one line ``<command>: NAME[code]: reason`` and exit with CALDP's code.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from ..containers import BUILD_COMMAND, ContainerError, check_image, checkout_root, engine_environ, engine_path
from ..containers import image_config as _image_config
from ..exit_codes import ExitCode


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        raise SystemExit(fail(self.prog, ContainerError(message, ExitCode.CMDLINE_ERROR)))


def fail(prog: str, exc: ContainerError) -> int:
    """The one line a container command ends with when it cannot go on; its exit status."""
    print(f"{prog}: {exc.code.name}[{int(exc.code)}]: {exc.reason}", file=sys.stderr, flush=True)
    return int(exc.code)


def config_main(argv: list[str] | None = None) -> int:
    p = _Parser(
        prog="caldp-image-config",
        description="Print the image repository, tag and container engine the container commands use.",
    )
    p.add_argument("file", nargs="?", default=None, help="a KEY=VALUE file (default: $CALDP_IMAGE_CONFIG)")
    p.add_argument("--tag", default=None, help="the tag to use instead of the configured one")
    args = p.parse_args(argv)
    try:
        cfg = _image_config(path=args.file, tag=args.tag)
    except ContainerError as exc:
        return fail(p.prog, exc)
    print("\n".join(cfg.lines()))
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("tag", nargs="?", default=None, help="image tag (default: the configured CALDP_IMAGE_TAG)")
    p.add_argument("--config", default=None, help="a KEY=VALUE file of image settings (default: $CALDP_IMAGE_CONFIG)")


def build_main(argv: list[str] | None = None) -> int:
    p = _Parser(
        prog=BUILD_COMMAND,
        description="Build the configured image from this checkout (docker/build-image.sh with the configured engine).",
    )
    _common(p)
    p.add_argument("--base", default=None, help="base image to build on (default: the build script's)")
    p.add_argument("--no-cache", action="store_true", help="remake the base and build without cached layers")
    args = p.parse_args(argv)
    try:
        cfg = _image_config(path=args.config, tag=args.tag)
        chosen = not cfg.sources.get("CALDP_CONTAINER_ENGINE", "").startswith("default")
        if chosen:  # no engine at all: the build script installs podman where it can
            engine_path(cfg)
        script = checkout_root() / "docker" / "build-image.sh"
        if not script.is_file():
            raise ContainerError(
                f"{script} not found: {BUILD_COMMAND} builds from a caldp source checkout (pip install -e <checkout>)"
            )
        env = engine_environ(cfg)
        env["CALDP_IMAGE"] = cfg.image
        if chosen:
            env["CALDP_CONTAINER_ENGINE"] = cfg.engine
        cmd = ["bash", str(script)] + (["--base", args.base] if args.base else [])
        cmd += ["--no-cache"] if args.no_cache else []
        engine = cfg.engine if chosen else "the engine the build script installs"
        print(f"{p.prog}: building {cfg.image} with {engine} ({script})", file=sys.stderr, flush=True)
        status = subprocess.run(cmd, env=env, cwd=checkout_root()).returncode
        if status != 0:
            raise ContainerError(
                f"building {cfg.image} failed (docker/build-image.sh status {status}; its output is above)"
            )
        if not chosen:  # the engine may be new
            cfg = _image_config(path=args.config, tag=args.tag)
            env = engine_environ(cfg)
        check_image(cfg, env)
    except ContainerError as exc:
        return fail(p.prog, exc)
    print(cfg.image, flush=True)
    return 0


def push_main(argv: list[str] | None = None) -> int:
    p = _Parser(prog="caldp-image-push", description="Push the configured image to its repository.")
    _common(p)
    p.add_argument(
        "--tls-verify",
        default="true",
        choices=("true", "false"),
        help="podman: false for a registry without TLS (docker trusts 127.0.0.0/8 by itself)",
    )
    args = p.parse_args(argv)
    try:
        cfg = _image_config(path=args.config, tag=args.tag)
        env = engine_environ(cfg)
        check_image(cfg, env)
        cmd = [engine_path(cfg), "push"]
        if cfg.kind == "podman":
            cmd.append(f"--tls-verify={args.tls_verify}")
        cmd.append(cfg.image)
        status = subprocess.run(cmd, env=env).returncode
        if status != 0:
            raise ContainerError(f"pushing {cfg.image} failed ({cfg.engine} push status {status}; its output is above)")
    except ContainerError as exc:
        return fail(p.prog, exc)
    print(cfg.image, flush=True)
    return 0
