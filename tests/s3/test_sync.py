"""caldp-sync: processed datasets from an S3 output tree to a local directory."""

from __future__ import annotations

import json

import pytest

from caldp import s3
from caldp.cli.sync import main
from caldp.messages import ERROR, PROCESSED, SYNCED, MessageTree

FILES = {
    "j8cb010b0": {"j8cb01u2q_flt.fits": 5000, "j8cb010b0_drz.fits": 7000, "env/j8cb010b0_cal_env.txt": 10,
                  "logs/process.txt": 300, "logs/process_metrics.txt": 120, "previews/j8cb010b0_drz.png": 40},
    "idn604snq": {"idn604snq_flt.fits": 3000, "logs/process.txt": 200, "logs/process_metrics.txt": 100},
}


def instrument(ds):
    return {"j": "acs", "i": "wfc3"}[ds[0]]


@pytest.fixture
def output(bucket, tmp_path):
    """An output tree as caldp-process leaves it: two processed datasets, one failed."""
    store = s3.S3Store(f"{bucket}/out")
    tree = MessageTree(store)
    for ds, files in FILES.items():
        for name, size in files.items():
            (tmp_path / "f").write_bytes(bytes([len(name) % 256]) * size)
            store.put_file(tmp_path / "f", f"data/{instrument(ds)}/{ds}/{name}")
        products = [f"data/{instrument(ds)}/{ds}/{n}" for n in files if n.endswith(".fits")]
        tree.set_state(ds, PROCESSED, exit_code=0, products=products)
    store.write_text("data/acs/j8cb02010/logs/process.txt", "failed\n")
    tree.set_state("j8cb02010", ERROR, exit_code=23)
    return store, tree


def local_files(root, ds):
    base = root / "data" / instrument(ds) / ds
    return {p.relative_to(base).as_posix(): p.stat().st_size for p in base.rglob("*") if p.is_file()}


def test_sync_mirrors_processed_and_marks_synced(output, tmp_path):
    store, tree = output
    local = tmp_path / "local"
    assert main([store.uri, str(local)]) == 0
    for ds, files in FILES.items():
        assert local_files(local, ds) == files
        assert tree.state_of(ds) == SYNCED
        msg = json.loads((local / "messages" / SYNCED / ds).read_text())
        assert msg["synced_files"] == len(files) and msg["synced_to"] == str(local)
    assert tree.state_of("j8cb02010") == ERROR
    assert not (local / "data/acs/j8cb02010").exists(), "failed datasets are not synced"
    assert not list(local.rglob("*.part")), "no temporary file left"


def test_sync_is_idempotent_and_resumes(output, tmp_path, monkeypatch):
    store, tree = output
    local = tmp_path / "local"
    assert main([store.uri, str(local), "--dataset", "J8CB010B0"]) == 0
    assert tree.state_of("j8cb010b0") == SYNCED and tree.state_of("idn604snq") == PROCESSED

    # an earlier run that died after the files but before the message: nothing is fetched twice
    base = local / "data/wfc3/idn604snq"
    base.mkdir(parents=True)
    (base / "idn604snq_flt.fits").write_bytes(bytes([len("idn604snq_flt.fits")]) * 3000)
    (base / "logs").mkdir()
    (base / "logs/process.txt").write_bytes(b"short")  # wrong size: fetched again
    fetched = []
    real_get = s3.S3Store.get_file

    def counting_get(self, key, dest):
        fetched.append(key)
        return real_get(self, key, dest)

    monkeypatch.setattr(s3.S3Store, "get_file", counting_get)
    assert main([store.uri, str(local)]) == 0
    assert sorted(fetched) == ["data/wfc3/idn604snq/logs/process.txt", "data/wfc3/idn604snq/logs/process_metrics.txt"]
    assert local_files(local, "idn604snq") == FILES["idn604snq"]
    fetched.clear()
    assert main([store.uri, str(local)]) == 0  # nothing left to do
    assert fetched == []


def test_missing_product_is_an_error_and_stays_processed(output, tmp_path):
    store, tree = output
    store.delete("data/wfc3/idn604snq/idn604snq_flt.fits")
    assert main([store.uri, str(tmp_path / "local")]) == 26
    assert tree.state_of("idn604snq") == PROCESSED
    assert tree.state_of("j8cb010b0") == SYNCED, "the other datasets still sync"


def test_unreachable_output(aws_env, tmp_path, monkeypatch):
    monkeypatch.setattr(s3, "BACKOFF_START", 0.01)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert main(["s3://bucket/out", str(tmp_path / "local")]) == 26
