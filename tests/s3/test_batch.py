"""caldp-batch with s3:// input, output and staging (the cloud layout) on the local S3 server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from caldp.messages import ERROR, PROCESSED

from .test_process import messages


def test_batch_s3_in_out_and_staging(s3_server, bucket, tmp_path):
    sim = pytest.importorskip("caldp.sim")
    result = sim.simulate(tmp_path / "sim", modes=("acs-wfc",), size="small", seed=5, count=2, tar=True)
    names = [d.name for d in result.datasets]
    client = s3_server.client()
    for ds in result.datasets:
        client.upload_file(str(ds.input_path), bucket, f"inputs/{ds.name}.tar.gz")
    listing = tmp_path / "datasets.txt"
    listing.write_text("# two simulated ACS/WFC exposures\n" + "\n".join(names) + "\n\nj9zz99zzq\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CRDS_", "CALDP_"))}
    cmd = [sys.executable, "-m", "caldp.cli.batch", str(listing), "--input", f"s3://{bucket}/inputs",
           "--output", f"s3://{bucket}/outputs", "--staging", f"s3://{bucket}/staging", "--config",
           "caldp-config-local", "--cluster", "inprocess", "--no-stage2", "--no-progress"]
    done = subprocess.run(cmd, env={**base, **result.env, **s3_server.env()}, cwd=run_dir, capture_output=True,
                          text=True, timeout=600)
    # j9zz99zzq has no input: the batch goes on with the others and exits non-zero
    assert done.returncode != 0, done.stdout[-2000:]
    state = messages(s3_server, bucket)
    assert sorted(state.get(PROCESSED, [])) == sorted(names), (state, done.stderr[-3000:])
    assert state.get(ERROR) == ["j9zz99zzq"]
    objects = s3_server.objects(bucket)
    for name in names:
        base_key = f"outputs/data/acs/{name}"
        assert objects.get(f"{base_key}/{name}_flt.fits", 0) > 0
        assert objects.get(f"{base_key}/logs/process.txt", 0) > 0
        msg = json.loads(client.get_object(Bucket=bucket, Key=f"outputs/messages/{PROCESSED}/{name}")["Body"].read())
        assert f"data/acs/{name}/{name}_flt.fits" in msg["products"]
    assert not [k for k in objects if k.startswith("staging/") and "_flt" in k], "staging is emptied on success"
    err = json.loads(client.get_object(Bucket=bucket, Key=f"outputs/messages/{ERROR}/j9zz99zzq")["Body"].read())
    assert err["exit_name"] == "S3_DOWNLOAD_ERROR"
    for name in names:
        assert name in done.stdout
