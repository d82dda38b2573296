"""caldp-process with s3:// input and output against a local S3 server.

The core tests hold whether or not a builtin engine calibrates the dataset yet: a dataset
that fails calibration still downloads from S3, delivers its logs and writes its message.
The success test needs the simulator and a builtin engine for the instrument.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from caldp import s3
from caldp.exit_codes import ExitCode
from caldp.messages import ERROR, PROCESSED

from .conftest import LocalS3

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def run_process(*args, env, cwd, timeout=600):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CRDS_", "CALDP_"))}
    return subprocess.run([sys.executable, "-m", "caldp", *map(str, args)], env={**base, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def config_for(dataset) -> tuple[str, dict]:
    """caldp-config-local on the simulator's CRDS cache; without one, the onsite config (fails bestrefs)."""
    if dataset.env:
        return "caldp-config-local", dict(dataset.env)
    return "caldp-config-onsite", {}


def get_json(server, bucket, key) -> dict:
    return json.loads(server.client().get_object(Bucket=bucket, Key=key)["Body"].read())


def messages(server, bucket, prefix="outputs") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key in server.objects(bucket, f"{prefix}/messages/"):
        state, name = key.split("/")[-2:]
        out.setdefault(state, []).append(name)
    return out


def builtin_supports(instrument: str) -> bool:
    from caldp.engines.builtin import BuiltinEngine

    return BuiltinEngine().supports(instrument)


def test_s3_in_s3_out(s3_server, bucket, dataset, tmp_path):
    s3_server.client().upload_file(str(dataset.tarball), bucket, f"inputs/{dataset.name}.tar.gz")
    config, env = config_for(dataset)
    proc = run_process(dataset.name, f"s3://{bucket}/inputs", f"s3://{bucket}/outputs", config,
                       "--no-stage2", "--no-previews", env={**s3_server.env(), **env}, cwd=tmp_path)
    objects = s3_server.objects(bucket, "outputs/")
    base = f"outputs/data/{dataset.instrument}/{dataset.name}"
    assert objects.get(f"{base}/logs/process.txt", 0) > 0, (proc.stderr[-3000:], objects)
    assert objects.get(f"{base}/logs/process_metrics.txt", 0) > 0
    log_text = s3_server.client().get_object(Bucket=bucket, Key=f"{base}/logs/process.txt")["Body"].read().decode()
    assert f"Retrieving tarfile: s3://{bucket}/inputs/{dataset.name}.tar.gz" in log_text
    assert f"Inputs: {', '.join(n for n in dataset.files if n.endswith('.fits'))}" in log_text

    states = messages(s3_server, bucket)
    assert sum(len(v) for v in states.values()) == 1, states  # exactly one state
    if proc.returncode == 0:
        assert states == {PROCESSED: [dataset.name]}
        msg = get_json(s3_server, bucket, f"outputs/messages/{PROCESSED}/{dataset.name}")
        assert msg["products"] and all(f"outputs/{p}" in objects for p in msg["products"])
        assert log_text.rstrip().endswith("EXIT - SUCCESS[0]: Processing completed successfully.")
    else:  # calibration is not there yet: the failure is reported, no product delivered
        assert proc.returncode in (ExitCode.STAGE1_ERROR, ExitCode.BESTREFS_ERROR), proc.stderr[-3000:]
        assert states == {ERROR: [dataset.name]}
        msg = get_json(s3_server, bucket, f"outputs/messages/{ERROR}/{dataset.name}")
        assert msg["exit_code"] == proc.returncode and msg["products"] == []
        assert sorted(objects) == [f"{base}/logs/process.txt", f"{base}/logs/process_metrics.txt",
                                   f"outputs/messages/{ERROR}/{dataset.name}"]
        assert f"[{proc.returncode}]" in log_text.splitlines()[-1]
    metrics = s3_server.client().get_object(Bucket=bucket, Key=f"{base}/logs/process_metrics.txt")["Body"].read()
    assert f"Exit status: {proc.returncode}" in metrics.decode()


def test_full_success(s3_server, bucket, dataset, tmp_path):
    if dataset.env is None:
        pytest.skip("needs the simulator (caldp.sim) for a calibratable dataset and its CRDS cache")
    if not builtin_supports(dataset.instrument):
        pytest.skip(f"the builtin {dataset.instrument.upper()} engine is not available yet")
    from caldp.crds_s3 import publish_cache

    # everything from S3, as CALDP runs in AWS: inputs, outputs, and CRDS (caldp-config-aws)
    s3_server.client().upload_file(str(dataset.tarball), bucket, f"in/{dataset.name}.tar.gz")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in s3_server.env().items():
            mp.setenv(key, value)
        publish_cache(dataset.crds_cache, f"s3://{bucket}/crds")
    env = {"CRDSBUCKET": f"s3://{bucket}/crds", "CRDS_PATH": str(tmp_path / "crds_cache")}
    proc = run_process(dataset.name, f"s3://{bucket}/in", f"s3://{bucket}/outputs", "caldp-config-aws",
                       "--no-stage2", env={**s3_server.env(), **env}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    fetched = sorted(p.name for p in (tmp_path / "crds_cache" / "references" / "hst" / "acs").iterdir())
    assert fetched and all(p.endswith(".fits") for p in fetched), fetched
    objects = s3_server.objects(bucket, "outputs/")
    base = f"outputs/data/{dataset.instrument}/{dataset.name}"
    msg = get_json(s3_server, bucket, f"outputs/messages/{PROCESSED}/{dataset.name}")
    assert any(p.endswith("_flt.fits") or p.endswith("_flc.fits") for p in msg["products"])
    for p in msg["products"]:
        assert objects[f"outputs/{p}"] > 0
    previews = [k for k in objects if k.startswith(f"{base}/previews/")]
    assert previews == [f"outputs/{p}" for p in msg["products"] if "/previews/" in p]
    assert {f"{base}/logs/process.txt", f"{base}/logs/process_metrics.txt"} <= set(objects)


def test_missing_input_is_s3_download_error(s3_server, bucket, tmp_path):
    proc = run_process("j8cb010b0", f"s3://{bucket}/inputs", f"s3://{bucket}/outputs", "caldp-config-onsite",
                       env=s3_server.env(), cwd=tmp_path)
    assert proc.returncode == ExitCode.S3_DOWNLOAD_ERROR, proc.stderr[-3000:]
    assert "j8cb010b0.tar.gz does not exist" in proc.stderr
    msg = get_json(s3_server, bucket, f"outputs/messages/{ERROR}/j8cb010b0")
    assert msg["exit_name"] == "S3_DOWNLOAD_ERROR" and msg["step"] == "fetch"
    assert messages(s3_server, bucket) == {ERROR: ["j8cb010b0"]}


def test_missing_output_bucket_is_s3_upload_error(s3_server, bucket, dataset, tmp_path):
    s3_server.client().upload_file(str(dataset.tarball), bucket, f"inputs/{dataset.name}.tar.gz")
    proc = run_process(dataset.name, f"s3://{bucket}/inputs", "s3://caldp-no-such-bucket/out",
                       "caldp-config-onsite", env=s3_server.env(), cwd=tmp_path)
    assert proc.returncode == ExitCode.S3_UPLOAD_ERROR, proc.stderr[-3000:]
    local = json.loads((tmp_path / "messages" / ERROR / dataset.name).read_text())  # the fallback
    assert local["exit_code"] == ExitCode.S3_UPLOAD_ERROR


def fake_calibrate(big_bytes: int):
    """A stand-in calibrate task: one _flt per raw and one big product (uploaded last)."""
    from caldp.tasks.runtime import run_step, scratch, stage_in, stage_out, staging_store

    def calibrate(record):
        def body(rec):
            store = staging_store(rec.job)
            with scratch(rec.job, "calibrate") as tmp:
                products = []
                for f in stage_in(store, rec.files, tmp):
                    if f.name.endswith("_raw.fits"):
                        products.append(tmp / f.name.replace("_raw", "_flt"))
                        shutil.copyfile(f, products[-1])
                big = tmp / f"{rec.job.dataset}_drz.fits"
                big.write_bytes(os.urandom(big_bytes))
                products.append(big)
                keys = stage_out(store, products, "products")
            return rec.next("calibrate", files=keys)

        return run_step("calibrate", record, body, ExitCode.STAGE1_ERROR)

    return calibrate


def test_server_killed_mid_upload(s3_server, dataset, tmp_path, monkeypatch, aws_env):
    """The server dies between the parts and the completion of a multipart upload:
    exit 25, the big product never appears, what did appear is complete."""
    import s3fs

    from caldp import pipeline
    from caldp.cli.process import main

    doomed = LocalS3().start()
    bucket = doomed.new_bucket()
    doomed.client().upload_file(str(dataset.tarball), bucket, f"inputs/{dataset.name}.tar.gz")
    monkeypatch.setenv("AWS_ENDPOINT_URL", doomed.endpoint)
    monkeypatch.setattr(s3, "CHUNK_SIZE", 5 * 2**20)
    monkeypatch.setattr(s3, "BACKOFF_START", 0.01)
    monkeypatch.setattr(s3, "BACKOFF_MAX", 0.02)
    monkeypatch.setattr(pipeline, "calibrate", fake_calibrate(11 * 2**20))
    monkeypatch.chdir(tmp_path)  # where the message goes when the output is unreachable
    original = s3fs.S3FileSystem._upload_file_part_concurrent
    killed = threading.Event()

    async def parts_then_kill(self, *args, **kwargs):
        out = await original(self, *args, **kwargs)
        stopper = threading.Thread(target=doomed.stop)
        stopper.start()
        stopper.join()
        killed.set()
        return out

    monkeypatch.setattr(s3fs.S3FileSystem, "_upload_file_part_concurrent", parts_then_kill)
    (tmp_path / "work").mkdir()
    code = main([dataset.name, f"s3://{bucket}/inputs", f"s3://{bucket}/outputs", "caldp-config-onsite",
                 "--no-stage2", "--no-previews", "--workdir", str(tmp_path / "work")])
    assert killed.is_set()
    assert code == ExitCode.S3_UPLOAD_ERROR
    local = json.loads((tmp_path / "messages" / ERROR / dataset.name).read_text())
    assert local["exit_name"] == "S3_UPLOAD_ERROR" and local["step"] == "upload"
    assert "failed after 4 tries" in local["reason"]

    # The server's state outlives it (moto keeps it in this process): look through a new one.
    objects = s3_server.objects(bucket, "outputs/")
    base = f"outputs/data/{dataset.instrument}/{dataset.name}"
    assert f"{base}/{dataset.name}_drz.fits" not in objects
    with tarfile.open(dataset.tarball) as tar:  # each _flt is a copy of its raw
        expected = {Path(m.name).name.replace("_raw", "_flt"): m.size for m in tar.getmembers()
                    if m.name.endswith("_raw.fits")}
    delivered = {key.rsplit("/", 1)[-1]: size for key, size in objects.items() if key.startswith(f"{base}/")}
    assert delivered and set(delivered) <= set(expected), delivered
    assert all(delivered[n] == expected[n] for n in delivered), "an object that is there is complete"
    # the final message could not reach S3 (it went to ./messages); S3 still says processing
    assert messages(s3_server, bucket) == {"dataset-processing": [dataset.name]}
    uploads = s3_server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["Key"] for u in uploads] == [f"{base}/{dataset.name}_drz.fits"]  # parts, never an object
