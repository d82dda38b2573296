"""Pieces of the fast way that change how AstroDrizzle's and the sky-cell lookup's work is done, not what
it makes: blot in forked children, footprint filters tile by tile."""

from __future__ import annotations

import os

import pytest

from caldp import stage2


class _Image:
    def __init__(self, name: str, inmemory: bool = False):
        self._filename = name
        self.inmemory = inmemory


def _write_blot(tmp_path, fail=()):
    def run_blot(images, output_wcs, params, wcsmap=None):
        for img in images:
            if img._filename in fail:
                raise ValueError(f"cannot blot {img._filename}")
            (tmp_path / f"{img._filename}.{len(images)}.{os.getpid()}").write_text(f"{output_wcs} {params} {wcsmap}")

    return run_blot


def test_parallel_blot_runs_each_image_in_a_child(tmp_path):
    images = [_Image(f"im{i}") for i in range(3)]
    stage2._parallel_blot(_write_blot(tmp_path), 2)(images, "wcs", {"p": 1}, wcsmap="m")
    made = sorted(p.name for p in tmp_path.iterdir())
    assert [m.split(".")[:2] for m in made] == [["im0", "1"], ["im1", "1"], ["im2", "1"]]  # one image per call
    assert all(int(m.split(".")[2]) != os.getpid() for m in made)  # in children
    assert {p.read_text() for p in tmp_path.iterdir()} == {"wcs {'p': 1} m"}


def test_parallel_blot_runs_serially_with_one_core_or_in_memory(tmp_path):
    stage2._parallel_blot(_write_blot(tmp_path), 1)([_Image("a"), _Image("b")], "w", {})
    stage2._parallel_blot(_write_blot(tmp_path), 2)([_Image("c", inmemory=True), _Image("d")], "w", {})
    pids = {p.name.split(".")[2] for p in tmp_path.iterdir()}
    assert pids == {str(os.getpid())} and len(list(tmp_path.iterdir())) == 4


def test_parallel_blot_failure_fails_the_step(tmp_path, capfd):
    with pytest.raises(RuntimeError, match="blot failed for im1"):
        stage2._parallel_blot(_write_blot(tmp_path, fail={"im1"}), 2)([_Image("im0"), _Image("im1")], "w", {})
    assert "cannot blot im1" in capfd.readouterr().err
