"""The fetch and upload tasks against S3 (independent of calibration)."""

from __future__ import annotations

import json

import pytest

from caldp import s3
from caldp.exit_codes import ExitCode
from caldp.messages import PROCESSED
from caldp.tasks.fetch import fetch, gather_inputs
from caldp.tasks.records import Job, StepRecord
from caldp.tasks.runtime import staging_store
from caldp.tasks.upload import upload


def put_input(server, bucket, dataset, prefix="inputs"):
    server.client().upload_file(str(dataset.tarball), bucket, f"{prefix}/{dataset.name}.tar.gz")
    return f"s3://{bucket}/{prefix}"


def test_download_inputs(bucket, s3_server, dataset, tmp_path):
    uri = put_input(s3_server, bucket, dataset)
    got = s3.download_inputs(uri + "/", dataset.name, tmp_path)
    assert got == tmp_path / f"{dataset.name}.tar.gz"
    assert got.read_bytes() == dataset.tarball.read_bytes()
    with pytest.raises(FileNotFoundError, match=r"s3://.*/inputs/i9zz99zzq.tar.gz does not exist"):
        s3.download_inputs(uri, "i9zz99zzq", tmp_path)


def test_gather_inputs_from_s3(bucket, s3_server, dataset, tmp_path):
    uri = put_input(s3_server, bucket, dataset, prefix="deep/er")
    files = gather_inputs(Job(dataset.name, input_uri=uri), tmp_path)
    assert sorted(f.name for f in files) == [n for n in dataset.files if n.endswith(".fits")]
    assert not (tmp_path / f"{dataset.name}.tar.gz").exists(), "the tarball is removed once extracted"


def test_fetch_missing_tarball_is_s3_download_error(bucket, tmp_path):
    job = Job("j8cb010b0", input_uri=f"s3://{bucket}/inputs", output_uri=f"s3://{bucket}/out",
              staging_uri=f"file:{tmp_path / 'staging'}", workdir=str(tmp_path / "work"))
    record = fetch(job)
    assert record.failure.code == ExitCode.S3_DOWNLOAD_ERROR
    assert "j8cb010b0.tar.gz does not exist" in record.failure.reason


def test_fetch_unreachable_server_is_s3_download_error(bucket, tmp_path, monkeypatch):
    monkeypatch.setattr(s3, "BACKOFF_START", 0.01)
    job = Job("j8cb010b0", input_uri="s3://bucket/inputs", output_uri=f"file:{tmp_path / 'out'}",
              staging_uri=f"file:{tmp_path / 'staging'}", workdir=str(tmp_path / "work"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    record = fetch(job)
    assert record.failure.code == ExitCode.S3_DOWNLOAD_ERROR
    assert "failed after 4 tries" in record.failure.reason


def test_upload_task_delivers_tree_and_message(bucket, s3_server, tmp_path):
    out = f"s3://{bucket}/outputs"
    job = Job("j8cb010b0", output_uri=out, staging_uri=f"file:{tmp_path / 'staging'}",
              workdir=str(tmp_path / "work"))
    staging = staging_store(job)
    products = {"products/j8cb01u2q_flt.fits": b"F" * 3000, "products/j8cb010b0_cal_env.txt": b"A=1\n",
                "previews/j8cb01u2q_flt.png": b"P" * 10}
    for key, data in products.items():
        (tmp_path / "x").write_bytes(data)
        staging.put_file(tmp_path / "x", key)
    staging.write_text("logs/1-fetch.txt", "fetch log\n")
    result = upload(StepRecord(job=job, step="preview", files=tuple(products)))
    assert result.ok, result.failure
    assert s3_server.objects(bucket, "outputs/") == {
        "outputs/data/acs/j8cb010b0/j8cb01u2q_flt.fits": 3000,
        "outputs/data/acs/j8cb010b0/env/j8cb010b0_cal_env.txt": 4,
        "outputs/data/acs/j8cb010b0/previews/j8cb01u2q_flt.png": 10,
        "outputs/data/acs/j8cb010b0/logs/process.txt": pytest.approx(60, abs=40),
        "outputs/data/acs/j8cb010b0/logs/process_metrics.txt": pytest.approx(300, abs=250),
        f"outputs/messages/{PROCESSED}/j8cb010b0": pytest.approx(600, abs=500),
    }
    body = s3_server.client().get_object(Bucket=bucket, Key=f"outputs/messages/{PROCESSED}/j8cb010b0")["Body"]
    msg = json.loads(body.read())
    assert msg["exit_code"] == 0 and "data/acs/j8cb010b0/j8cb01u2q_flt.fits" in msg["products"]
    assert not staging.list(), "the staging area is cleared after a successful upload"
