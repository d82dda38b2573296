"""Delivery of COS's gigabytes of products to a ``file:`` output: hard links, never a half-written file."""

from __future__ import annotations

import os

import pytest

from caldp.storage import Store


def test_put_file_links_on_one_filesystem(tmp_path):
    """Same filesystem: the stored file is the local file's inode (no bytes copied), no temporary left."""
    local = tmp_path / "work" / "l1_flt_a.fits"
    local.parent.mkdir()
    local.write_bytes(b"x" * 4096)
    store = Store(tmp_path / "out")
    store.put_file(local, "data/cos/l1/l1_flt_a.fits", link=True)
    dest = tmp_path / "out" / "data" / "cos" / "l1" / "l1_flt_a.fits"
    assert os.stat(dest).st_ino == os.stat(local).st_ino
    local.unlink()  # the scratch copy goes; the delivered product stays whole
    assert dest.read_bytes() == b"x" * 4096
    assert [p.name for p in dest.parent.iterdir()] == ["l1_flt_a.fits"]


def test_put_file_copies_unless_asked_to_link(tmp_path):
    """Without ``link`` the stored file is a copy: rewriting the local file afterwards leaves it alone."""
    local = tmp_path / "x"
    local.write_bytes(b"a" * 10)
    Store(tmp_path / "out").put_file(local, "k.fits")
    local.write_bytes(b"b" * 3)
    assert (tmp_path / "out" / "k.fits").read_bytes() == b"a" * 10


def test_put_file_copies_when_it_cannot_link(tmp_path, monkeypatch):
    """Another filesystem (os.link fails with EXDEV): a copy, still through a temporary name."""
    local = tmp_path / "l1_x1d.fits"
    local.write_bytes(b"y" * 100)

    def no_link(src, dst):
        raise OSError(18, "Invalid cross-device link")

    renamed = []
    real_replace = os.replace

    def replace(src, dst):
        renamed.append((os.path.basename(src), os.path.basename(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "link", no_link)
    monkeypatch.setattr(os, "replace", replace)
    Store(tmp_path / "out").put_file(local, "l1_x1d.fits", link=True)
    dest = tmp_path / "out" / "l1_x1d.fits"
    assert dest.read_bytes() == b"y" * 100 and os.stat(dest).st_ino != os.stat(local).st_ino
    assert renamed and renamed[0][0].endswith(".part") and renamed[0][1] == "l1_x1d.fits"


def test_put_file_failure_leaves_nothing(tmp_path, monkeypatch):
    """A failing copy leaves neither the product nor its temporary behind."""
    local = tmp_path / "l1_x1d.fits"
    local.write_bytes(b"z")

    def fail(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "link", fail)
    monkeypatch.setattr("shutil.copyfile", fail)
    with pytest.raises(OSError):
        Store(tmp_path / "out").put_file(local, "l1_x1d.fits")
    assert list((tmp_path / "out").iterdir()) == []


def test_staging_links_what_a_step_made(tmp_path):
    """A step's products go from its scratch directory into local staging as hard links (the
    scratch directory is discarded right after), so gigabytes of calcos output are never copied."""
    from caldp.tasks.runtime import stage_out

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    made = [scratch / "l1_corrtag_a.fits", scratch / "l1_x1d.fits"]
    for f in made:
        f.write_bytes(b"p" * 4096)
    keys = stage_out(Store(tmp_path / "staging"), made, "products")
    assert keys == ("products/l1_corrtag_a.fits", "products/l1_x1d.fits")
    for f, key in zip(made, keys, strict=True):
        assert (tmp_path / "staging" / key).stat().st_ino == f.stat().st_ino
    assert not list((tmp_path / "staging" / "products").glob(".*.part"))
