"""S3Store over a local moto server: the Store operations, verification, retries, messages."""

from __future__ import annotations

import hashlib
import json

import pytest

from caldp import s3
from caldp.messages import PROCESSED, PROCESSING, SUBMITTED, MessageTree
from caldp.storage import open_store


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(s3, "BACKOFF_START", 0.01)
    monkeypatch.setattr(s3, "BACKOFF_MAX", 0.02)


def test_open_store_gives_s3store(bucket):
    store = open_store(f"s3://{bucket}/out/")
    assert isinstance(store, s3.S3Store)
    assert store.uri == f"s3://{bucket}/out"
    assert not hasattr(store, "root"), "local-staging shortcuts must not treat S3 as a directory"


def test_round_trip(bucket, s3_server, tmp_path):
    store = s3.S3Store(f"{bucket}/run1")
    local = tmp_path / "x_raw.fits"
    local.write_bytes(b"SIMPLE" * 1000)
    assert store.put_file(local, "data/acs/x/x_raw.fits") == "data/acs/x/x_raw.fits"
    store.write_text("data/acs/x/logs/process.txt", "hello\n")
    store.write_text("data/acs/xy/other.txt", "not under x/")
    assert s3_server.objects(bucket) == {
        "run1/data/acs/x/x_raw.fits": 6000,
        "run1/data/acs/x/logs/process.txt": 6,
        "run1/data/acs/xy/other.txt": 12,
    }
    info = store.info("data/acs/x/x_raw.fits")
    assert info["ETag"] == f'"{hashlib.md5(local.read_bytes()).hexdigest()}"'
    assert store.read_text("data/acs/x/logs/process.txt") == "hello\n"
    assert store.exists("data/acs/x/x_raw.fits") and not store.exists("data/acs/x/nothing")
    assert store.list("data/acs/x") == ["data/acs/x/logs/process.txt", "data/acs/x/x_raw.fits"]
    assert store.list("data/acs/x/x_raw.fits") == ["data/acs/x/x_raw.fits"]
    assert store.list("nothing") == []
    assert len(store.list()) == 3
    got = store.get_file("data/acs/x/x_raw.fits", tmp_path / "back" / "x.fits")
    assert got.read_bytes() == local.read_bytes()
    assert [p.name for p in got.parent.iterdir()] == ["x.fits"], "no temporary file left"

    store.move("data/acs/x/logs/process.txt", "data/acs/x/logs/moved.txt")
    assert store.list("data/acs/x/logs") == ["data/acs/x/logs/moved.txt"]

    store.delete("data/acs/x")  # a prefix: everything under it, nothing beside it
    assert store.list() == ["data/acs/xy/other.txt"]
    store.delete("")
    assert s3_server.objects(bucket) == {}


def test_read_missing_key_is_permanent(bucket, fast_retries):
    store = s3.S3Store(bucket)
    with pytest.raises(FileNotFoundError):
        store.read_text("nope")


def test_multipart_upload_is_verified(bucket, s3_server, tmp_path, monkeypatch):
    monkeypatch.setattr(s3, "CHUNK_SIZE", 5 * 2**20)  # S3's smallest part
    big = tmp_path / "big_flt.fits"
    big.write_bytes(bytes(range(256)) * (11 * 2**20 // 256 + 7))
    store = s3.S3Store(f"{bucket}/out")
    store.put_file(big, "data/big_flt.fits")
    info = store.info("data/big_flt.fits")
    assert info["size"] == big.stat().st_size
    assert info["ETag"].endswith('-3"'), info["ETag"]
    assert info["ETag"] == s3.multipart_etag(big, 5 * 2**20)
    store.move("data/big_flt.fits", "data/moved_flt.fits")  # size verified, new ETag accepted
    assert s3_server.objects(bucket, "out/") == {"out/data/moved_flt.fits": big.stat().st_size}


class Flaky:
    """An s3fs stand-in whose first `failures` uploads raise (as a dropped connection does)."""

    def __init__(self, fs, failures: int, corrupt: bool = False):
        self.fs, self.failures, self.corrupt, self.calls = fs, failures, corrupt, 0

    def put_file(self, local, path, **kw):
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("connection reset by peer")
        if self.corrupt:  # the bytes that arrive are not the bytes sent
            return self.fs.pipe_file(path, b"truncated")
        return self.fs.put_file(local, path, **kw)

    def __getattr__(self, name):
        return getattr(self.fs, name)


def test_upload_retried_with_backoff(bucket, tmp_path, fast_retries, caplog):
    local = tmp_path / "a.fits"
    local.write_bytes(b"a" * 100)
    flaky = Flaky(s3.filesystem(), failures=2)
    store = s3.S3Store(bucket, fs=flaky)
    store.put_file(local, "a.fits")
    assert flaky.calls == 3
    assert store.info("a.fits")["size"] == 100
    assert sum("retrying" in r.message for r in caplog.records) == 2


def test_upload_gives_up_after_bounded_tries(bucket, tmp_path, fast_retries):
    local = tmp_path / "a.fits"
    local.write_bytes(b"a" * 100)
    flaky = Flaky(s3.filesystem(), failures=99)
    with pytest.raises(s3.S3Error, match="failed after 4 tries: connection reset"):
        s3.S3Store(bucket, fs=flaky).put_file(local, "a.fits")
    assert flaky.calls == s3.TRIES == 4


def test_upload_that_does_not_verify_fails(bucket, tmp_path, fast_retries):
    local = tmp_path / "a.fits"
    local.write_bytes(b"a" * 100)
    with pytest.raises(s3.S3Error, match="size 9 after upload, expected 100"):
        s3.S3Store(bucket, fs=Flaky(s3.filesystem(), failures=0, corrupt=True)).put_file(local, "a.fits")


def test_backoff_doubles_up_to_the_cap(monkeypatch):
    sleeps = []
    monkeypatch.setattr(s3.time, "sleep", sleeps.append)

    def always():
        raise TimeoutError("slow")

    with pytest.raises(s3.S3Error):
        s3.with_retries("thing", always, tries=5)
    assert sleeps == [0.5, 1.0, 2.0, 4.0]


def test_message_tree_moves_between_states(bucket, s3_server):
    tree = MessageTree(open_store(f"s3://{bucket}/out"))
    tree.set_state("j8cb010b0", SUBMITTED, input="s3://in")
    tree.set_state("j8cb010b0", PROCESSING)
    tree.set_state("j8cb010b0", PROCESSED, exit_code=0)
    assert list(s3_server.objects(bucket)) == ["out/messages/datasets-processed/j8cb010b0"]
    msg = tree.read("j8cb010b0")
    assert msg.state == PROCESSED and msg.metadata["input"] == "s3://in"
    assert [h["state"] for h in msg.metadata["history"]] == [SUBMITTED, PROCESSING, PROCESSED]
    assert tree.datasets_in(PROCESSED) == ["j8cb010b0"]
    body = s3_server.client().get_object(Bucket=bucket, Key="out/messages/datasets-processed/j8cb010b0")
    assert json.loads(body["Body"].read())["exit_code"] == 0


def test_check_writable(bucket, aws_env):
    s3.S3Store(f"{bucket}/p").check_writable()
    with pytest.raises(FileNotFoundError):
        s3.S3Store("no-such-bucket-caldp/p").check_writable()


def test_credentials_never_logged(bucket, tmp_path, caplog, fast_retries):
    caplog.set_level("DEBUG", logger="caldp")
    local = tmp_path / "a.fits"
    local.write_bytes(b"a")
    store = s3.S3Store(bucket, fs=Flaky(s3.filesystem(), failures=1))
    store.put_file(local, "a.fits")
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("caldp"))
    assert "retrying" in ours
    assert "testing" not in ours  # the dummy key, secret and token
