"""caldp-process-aws = caldp-process <ipppssoot> astroquery: <s3_output_path> caldp-config-aws:
MAST (the replay server), outputs and CRDS on S3 (the local S3 server), scratch in CALDP_HOME."""

from __future__ import annotations

import json

import pytest

from caldp.exit_codes import ExitCode
from caldp.messages import PROCESSED

from .conftest import clean_env, run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_process_aws_end_to_end(sim_dataset, sim_mast, s3, tmp_path):
    from caldp.crds_s3 import publish_cache

    bucket = s3.new_bucket()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in s3.env().items():
            mp.setenv(key, value)
        publish_cache(sim_dataset.crds_cache, f"s3://{bucket}/crds")
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    env = clean_env(**s3.env(), CRDSBUCKET=f"s3://{bucket}/crds", CALDP_MAST_URL=sim_mast.url, CALDP_HOME=str(home))
    name, output = sim_dataset.name, f"s3://{bucket}/batch-1"
    # (--no-stage2: drizzling is another area's; this test is about the inputs, CRDS and outputs)
    proc = run("caldp-process-aws", output, name, "--no-stage2", env=env, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]

    # the inputs came from "MAST", one request per raw/asn file
    downloads = sorted(n for method, kind, n in sim_mast.requests if kind == "download" and method == "GET")
    assert downloads == sorted(f for f in sim_dataset.files if f.endswith(("_asn.fits", "_raw.fits")))
    # the output tree and the message, in S3
    objects = s3.objects(bucket, "batch-1/")
    base = f"batch-1/data/{sim_dataset.instrument}/{name}"
    messages = sorted(k for k in objects if k.startswith("batch-1/messages/"))
    assert messages == [f"batch-1/messages/{PROCESSED}/{name}"]
    msg = json.loads(s3.client().get_object(Bucket=bucket, Key=messages[0])["Body"].read())
    assert any(p.endswith("_flt.fits") for p in msg["products"])
    assert all(objects[f"batch-1/{p}"] > 0 for p in msg["products"])
    assert {f"{base}/logs/process.txt", f"{base}/logs/process_metrics.txt"} <= set(objects)
    log_text = s3.client().get_object(Bucket=bucket, Key=f"{base}/logs/process.txt")["Body"].read().decode()
    assert "from MAST at " + sim_mast.url in log_text
    assert log_text.rstrip().endswith("EXIT - SUCCESS[0]: Processing completed successfully.")
    # CRDS's work area defaulted to $CALDP_HOME/crds_cache; scratch went to CALDP_HOME and is gone
    fetched = sorted(p.name for p in (home / "crds_cache" / "references" / "hst" / "acs").iterdir())
    assert fetched and all(p.endswith(".fits") for p in fetched)
    assert sorted(p.name for p in home.iterdir()) == ["crds_cache"]
    assert list(cwd.iterdir()) == []


def test_process_aws_needs_two_arguments(tmp_path):
    proc = run("caldp-process-aws", "s3://bucket/out", env=clean_env(), cwd=tmp_path)
    assert proc.returncode == ExitCode.CMDLINE_ERROR
    assert "caldp-process-aws takes <s3_output_path> <ipppssoot>" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_process_aws_without_crdsbucket_is_cmdline_error(tmp_path):
    """caldp-config-aws without CRDSBUCKET: caldp-process's own check, reported before any download."""
    proc = run("caldp-process-aws", "none", "j8cb010b0", env=clean_env(), cwd=tmp_path)
    assert proc.returncode == ExitCode.CMDLINE_ERROR, proc.stderr
    assert "CRDSBUCKET" in proc.stderr
