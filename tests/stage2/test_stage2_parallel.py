"""Pieces of the fast way that change how AstroDrizzle's and the sky-cell lookup's work is done, not what
it makes: blot in forked children, footprint filters tile by tile."""

from __future__ import annotations

import os

import numpy as np
import pytest
from scipy import ndimage

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


def _masks():
    """Footprint-like masks: rotated filled quadrilaterals (as the sky-cell footprints), rectangles touching
    the array's edges, a few scattered pixels, sizes that are and are not multiples of the tile."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(16)
    for k, (ny, nx) in enumerate([(700, 650), (512, 768), (333, 1001), (40, 2000), (5, 7), (1024, 1024)]):
        img = Image.new("L", (nx, ny), 0)
        for _ in range(2):
            cx, cy, a = rng.uniform(0, nx), rng.uniform(0, ny), rng.uniform(0, np.pi)
            w, h = rng.uniform(2, nx), rng.uniform(2, ny)
            c, s = np.cos(a), np.sin(a)
            pts = [(cx + u * c - v * s, cy + u * s + v * c) for u, v in ((-w, -h), (w, -h), (w, h), (-w, h))]
            ImageDraw.Draw(img).polygon([(p[0] / 2, p[1] / 2) for p in pts], outline=1, fill=1)
        m = np.array(img).astype(np.int16)
        m[: rng.integers(0, ny), : rng.integers(0, nx // 3 + 1)] = 1  # touches the top-left edges
        if k % 2:
            m[rng.random(m.shape) < 0.0005] ^= 1
        yield m


def test_tiled_filters_equal_scipy():
    tiled = stage2._TiledNdimage()
    for m in _masks():
        for iterations in (1, 3):
            for name in ("binary_erosion", "binary_dilation"):
                want = getattr(ndimage, name)(m, iterations=iterations)
                got = getattr(tiled, name)(m, iterations=iterations)
                assert got.dtype == want.dtype and np.array_equal(got, want), (name, iterations, m.shape)
                assert np.array_equal(getattr(tiled, name)(m.astype(bool)), getattr(ndimage, name)(m.astype(bool)))
        f = ndimage.binary_dilation(ndimage.binary_erosion(m, iterations=3), iterations=3).astype(np.float32)
        want, got = ndimage.gaussian_filter(f, sigma=2), tiled.gaussian_filter(f, sigma=2)
        assert got.dtype == np.float32 and np.array_equal(got.view(np.int32), want.view(np.int32)), m.shape
        # as find_corners calls it: the dilation's astype copy is smoothed in place
        scratch = tiled.binary_dilation(tiled.binary_erosion(m, iterations=3), iterations=3).astype(np.float32)
        assert isinstance(scratch, stage2._Scratch)
        got = tiled.gaussian_filter(scratch, sigma=2)
        assert np.shares_memory(got, scratch) and type(got) is np.ndarray
        assert np.array_equal(got.view(np.int32), want.view(np.int32)), m.shape


def test_tiled_filters_skip_constant_tiles():
    """A large mask that varies only along a line: most tiles are filled without running the filter."""
    m = np.zeros((2000, 1500), np.int16)
    m[:, 700:] = 1
    calls = []

    def op(a):
        calls.append(a.size)
        return ndimage.binary_erosion(a, iterations=3)

    got = stage2.tiled_filter(op, m, 3, lambda v: bool(v))
    assert np.array_equal(got, ndimage.binary_erosion(m, iterations=3))
    assert sum(calls) < m.size / 2  # the tiles along the array edge and the line
    # other arguments go to scipy as they are
    assert np.array_equal(
        stage2._TiledNdimage().binary_erosion(m, border_value=1), ndimage.binary_erosion(m, border_value=1)
    )


def test_footprint_labels_are_scipy_labels():
    tiled = stage2._TiledNdimage()
    m = np.zeros((60, 80), bool)
    m[5:20, 5:30] = m[30:50, 40:70] = True
    got, n = tiled.label(m)
    want, n_want = ndimage.label(m)
    assert got.dtype == np.uint8 and n == n_want == 2 and np.array_equal(got, want)
    assert ndimage.find_objects(got) == ndimage.find_objects(want)
    many = np.zeros((64, 64), bool)
    many[::2, ::2] = True  # 1024 regions: scipy's own int32 labels
    got, n = tiled.label(many)
    want, n_want = ndimage.label(many)
    assert got.dtype == want.dtype and n == n_want == 1024 and np.array_equal(got, want)


class _Chip:
    def __init__(self, member: bool):
        self.group_member = member


class _SciImage:
    scienceExt = "SCI"

    def __init__(self, members):
        self.chips = {f"SCI,{k}": _Chip(m) for k, m in enumerate(members, start=1)}
        self._numchips = len(members)

    def __getitem__(self, exten):
        return self.chips[exten]


def _recording_driz_cr(calls, fail_on=None):
    def driz_cr(img, virtual_outputs, params):
        members = [k for k, chip in img.chips.items() if chip.group_member]
        calls.append(members)
        if members == [fail_on]:
            raise OSError("Blotted image not found")

    return driz_cr


def test_driz_cr_runs_one_member_chip_per_call():
    calls = []
    img = _SciImage([True, False, True])
    stage2._chip_by_chip_driz_cr(_recording_driz_cr(calls))(img, {}, {"driz_cr_corr": False, "inmemory": False})
    assert calls == [["SCI,1"], ["SCI,3"]]
    assert [c.group_member for c in img.chips.values()] == [True, False, True]  # marks put back


def test_driz_cr_runs_as_it_is_with_corr_files_in_memory_or_one_chip():
    for members, params in (
        ([True, True], {"driz_cr_corr": True, "inmemory": False}),
        ([True, True], {"driz_cr_corr": False, "inmemory": True}),
        ([True, False], {"driz_cr_corr": False, "inmemory": False}),
    ):
        calls = []
        stage2._chip_by_chip_driz_cr(_recording_driz_cr(calls))(_SciImage(members), {}, params)
        assert calls == [[f"SCI,{k}" for k, m in enumerate(members, start=1) if m]]


def test_driz_cr_failure_keeps_the_marks():
    img = _SciImage([True, True])
    with pytest.raises(OSError, match="Blotted image"):
        stage2._chip_by_chip_driz_cr(_recording_driz_cr([], fail_on="SCI,2"))(img, {}, {})
    assert [c.group_member for c in img.chips.values()] == [True, True]
