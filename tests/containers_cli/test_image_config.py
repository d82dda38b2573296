"""caldp-image-config: repository, tag and engine from the environment, a file and defaults;
the same image is caldp-batch's default cloud worker image."""

from __future__ import annotations

import pytest

from caldp.cluster.factory import ClusterOptions, cloud_cluster_kwargs
from caldp.containers import ContainerError, default_image, image_config
from caldp.exit_codes import ExitCode

from .conftest import clean_env, run


def test_defaults_work_out_of_the_box(tmp_path):
    proc = run("caldp-image-config", env=clean_env(CALDP_CONTAINER_ENGINE="podman"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    comment, *lines = proc.stdout.splitlines()
    assert comment == "# CALDP_IMAGE_REPO: default; CALDP_IMAGE_TAG: default; CALDP_CONTAINER_ENGINE: environment"
    values = dict(line.split("=", 1) for line in lines)
    assert values == {
        "CALDP_IMAGE_REPO": "localhost/caldp",
        "CALDP_IMAGE_TAG": "latest",
        "CALDP_CONTAINER_ENGINE": "podman",
        "CALDP_DOCKER_IMAGE": "localhost/caldp:latest",
    }


def test_engine_is_detected_when_unset(tmp_path):
    cfg = image_config(clean_env())
    assert cfg.engine in ("docker", "podman")
    assert cfg.sources["CALDP_CONTAINER_ENGINE"].startswith(("detected", "default"))


def test_environment_wins_over_file_over_defaults(tmp_path):
    conf = tmp_path / "image.env"
    conf.write_text(
        "# my registry\nexport CALDP_IMAGE_REPO=registry.example:5000/team/caldp\n"
        "CALDP_IMAGE_TAG=v1\nCALDP_CONTAINER_ENGINE=docker\n"
    )
    env = clean_env(CALDP_IMAGE_CONFIG=str(conf), CALDP_IMAGE_TAG="v2")
    cfg = image_config(env)
    assert (cfg.repo, cfg.tag, cfg.engine, cfg.image) == (
        "registry.example:5000/team/caldp",
        "v2",
        "docker",
        "registry.example:5000/team/caldp:v2",
    )
    assert cfg.sources == {
        "CALDP_IMAGE_REPO": f"file {conf}",
        "CALDP_IMAGE_TAG": "environment",
        "CALDP_CONTAINER_ENGINE": f"file {conf}",
    }
    # the file named on the command line; --tag wins over all
    proc = run("caldp-image-config", conf, "--tag", "v3", env=clean_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "CALDP_DOCKER_IMAGE=registry.example:5000/team/caldp:v3"
    # its output is itself a config file
    out = tmp_path / "printed.env"
    out.write_text(proc.stdout)
    assert image_config(clean_env(), out).image == "registry.example:5000/team/caldp:v3"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("CALDP_IMAGE_REPO=caldp:1\n", "is not an image repository"),
        ("CALDP_IMAGE_TAG=a/b\n", "is not an image tag"),
        ("CALDP_IMAGE=x\n", "unknown setting(s) CALDP_IMAGE"),
    ],
)
def test_bad_settings_are_one_line(tmp_path, text, reason):
    conf = tmp_path / "bad.env"
    conf.write_text(text + "CALDP_CONTAINER_ENGINE=podman\n")
    with pytest.raises(ContainerError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        image_config(clean_env(), conf)
    proc = run("caldp-image-config", conf, env=clean_env(), cwd=tmp_path)
    assert proc.returncode == ExitCode.CMDLINE_ERROR
    assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith("caldp-image-config: CMDLINE_ERROR[2]: ") and reason in proc.stderr


def test_missing_config_file(tmp_path):
    proc = run("caldp-image-config", env=clean_env(CALDP_IMAGE_CONFIG=str(tmp_path / "nope.env")), cwd=tmp_path)
    assert proc.returncode == ExitCode.CMDLINE_ERROR
    assert "cannot read the image config file" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_cloud_clusters_default_to_the_configured_image():
    env = {
        "AWS_DEFAULT_REGION": "us-east-1",
        "CALDP_IMAGE_REPO": "123.dkr.ecr.us-east-1.amazonaws.com/caldp",
        "CALDP_IMAGE_TAG": "0.3.0",
    }
    kw = cloud_cluster_kwargs("fargate", ClusterOptions(workers=1), environ=env)
    assert kw["image"] == default_image(env) == "123.dkr.ecr.us-east-1.amazonaws.com/caldp:0.3.0"
    kw = cloud_cluster_kwargs("fargate", ClusterOptions(workers=1), environ={"AWS_DEFAULT_REGION": "us-east-1"})
    assert kw["image"] == "localhost/caldp:latest"
    # CALDP_CLUSTER_IMAGE and --image still win
    kw = cloud_cluster_kwargs("fargate", ClusterOptions(workers=1), environ={**env, "CALDP_CLUSTER_IMAGE": "me/c:1"})
    assert kw["image"] == "me/c:1"
