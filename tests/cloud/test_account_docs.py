"""README.md's 'What your AWS account needs' and docker/README.md's checklist say what the code does:
every setting they name is one caldp reads, every pre-made resource caldp can take is named in both,
and the worker policy they describe is the one caldp attaches."""

from __future__ import annotations

import re
from pathlib import Path

from caldp.cluster.aws import bucket_policy

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"\bCALDP_[A-Z0-9_]+\b")


def _section(path: Path, heading: str) -> str:
    text = path.read_text()
    start = text.index(heading)
    level = heading.split(" ", 1)[0]
    rest = text[start + len(heading) :]
    end = re.search(rf"^#{{1,{len(level)}}} ", rest, flags=re.M)
    return rest[: end.start()] if end else rest


def _read_by_caldp() -> set[str]:
    return {n for p in (ROOT / "caldp").rglob("*.py") for n in NAME.findall(p.read_text())}


def _premade() -> set[str]:
    """The pre-made resources caldp/cluster takes from the environment (and then leaves alone)."""
    text = "".join(p.read_text() for p in (ROOT / "caldp" / "cluster").glob("*.py"))
    return {n for n in NAME.findall(text) if re.search(r"_(ARN|PROFILE|SECURITY_GROUPS|VPC|SUBNETS)$", n)}


README = _section(ROOT / "README.md", "## What your AWS account needs")
CHECKLIST = _section(ROOT / "docker" / "README.md", "### What the AWS account needs")


def test_checklist_is_a_checklist():
    items = re.findall(r"^- \[ \] ", CHECKLIST, flags=re.M)
    assert 5 <= len(items) <= 8, "a short list"
    for topic in ("region", "registry", "Buckets", "CRDSBUCKET", "iam:PassRole", "role"):
        assert topic in CHECKLIST, topic


def test_named_settings_are_read_by_caldp():
    read = _read_by_caldp()
    for doc in (README, CHECKLIST):
        named = set(NAME.findall(doc))
        assert named and named <= read, named - read


def test_every_premade_resource_is_documented_in_both():
    premade = _premade()
    assert {"CALDP_TASK_ROLE_ARN", "CALDP_INSTANCE_PROFILE", "CALDP_SECURITY_GROUPS"} <= premade
    for doc in (README, CHECKLIST):
        assert premade <= set(NAME.findall(doc)), premade - set(NAME.findall(doc))


def test_worker_policy_is_as_documented():
    """Read/write in the batch's buckets, read only in CRDSBUCKET, nothing else; both lists name it."""
    policy = bucket_policy(["in", "out", "staging"], read_only=["crds"])
    allowed = {}
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow"
        for resource in st["Resource"]:
            bucket = resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
            allowed.setdefault(bucket, set()).update(st["Action"])
    write = {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    assert allowed == {"in": write, "out": write, "staging": write, "crds": {"s3:ListBucket", "s3:GetObject"}}
    assert "caldp-s3" in README and "caldp-s3" in CHECKLIST
    assert "caldp-s3" in (ROOT / "caldp" / "cluster" / "aws.py").read_text()
