"""The final drizzle in lanes of forked children (``caldp.stage2_final``) makes the serial loop's bits.

Real ``cdriz.tdriz`` calls through ``adrizzle.do_driz`` on small TAN chips: two chips per exposure with a
gap between them (as WFC and UVIS have), exposures dithered over each other, pixels of zero weight
among them; the serial loop and the lanes must give identical SCI, WHT and context.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest

from caldp import stage2_final

adrizzle = pytest.importorskip("drizzlepac.adrizzle", reason="drizzlepac not installed")
from astropy.wcs import WCS  # noqa: E402

SCALE = 0.1  # arcsec per pixel, input and output
CRVAL = (150.0, 2.0)


def tan(crpix, shape, rot=0.0, crval=CRVAL) -> WCS:
    """A TAN WCS (CD form) of `shape` (nx, ny) pixels; ``pscale`` set as AstroDrizzle's WCS objects have it."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = crval
    w.wcs.crpix = crpix
    c, s, sc = np.cos(rot), np.sin(rot), SCALE / 3600.0
    w.wcs.cd = [[-sc * c, sc * s], [sc * s, sc * c]]
    w.pixel_shape = shape
    w.pscale = SCALE
    return w


def chip(k: int, exposure: int, rot: float = 0.4, gap: float = 24.0):
    """Chip `k` (1 or 2) of an exposure: 90 x 40 pixels, chip 2 above chip 1 with `gap` pixels between them."""
    dx, dy = 1.7 * exposure, 0.9 * exposure  # dither
    crpix = (45.5 - dx, (20.5 + gap / 2 if k == 1 else -19.5 - gap / 2) - dy)
    return SimpleNamespace(wcs=tan(crpix, (90, 40), rot), wcslin_pscale=SCALE, exposure=exposure, k=k)


def chip_data(c) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(10 * c.exposure + c.k)
    sci = rng.normal(50.0, 5.0, (40, 90)).astype(np.float32)
    wht = np.ones_like(sci)
    wht[rng.integers(0, 40, 30), rng.integers(0, 90, 30)] = 0.0  # masked pixels
    wht[:, :3] = 0.0  # a masked edge
    return sci, wht


def drizzle_all(chips, output, do_driz, np_module=np):
    """What the final ``run_driz`` does with the arrays: allocate, then each chip's do_driz in order."""
    outsci = np_module.empty(output.array_shape, dtype=np.float32)
    outsci.fill(np.nan)
    outwht = np_module.zeros(output.array_shape, dtype=np.float32)
    outctx = np_module.zeros((1,) + output.array_shape, dtype=np.int32)
    for uniqid, c in enumerate(chips, start=1):
        sci, wht = chip_data(c)
        args = (sci, c.wcs, wht, output, outsci, outwht, outctx, 1.0, "cps", 1.0)
        do_driz(*args, wcslin_pscale=SCALE, uniqid=uniqid, pixfrac=1.0, kernel="square", fillval=None, stepsize=10)
    return outsci.copy(), outwht.copy(), outctx.copy()


@pytest.fixture
def scene():
    chips = [chip(k, e) for e in range(3) for k in (1, 2)]
    output = tan((70.5, 70.5), (140, 140), rot=0.0)
    return chips, output


def test_chips_apart_make_two_lanes(scene):
    chips, output = scene
    images = [SimpleNamespace(scienceExt="SCI", returnAllChips=lambda extname, e=e: chips[2 * e : 2 * e + 2])
              for e in range(3)]  # fmt: skip
    params = {"fillval": None, "kernel": "square", "pixfrac": 1.0}
    planned, lanes = stage2_final.plan_lanes(images, output, params, cores=2)
    assert planned == chips
    assert lanes[0] != lanes[1] and lanes[0::2] == [lanes[0]] * 3 and lanes[1::2] == [lanes[1]] * 3
    # one core, a fill value or chips that touch: serially
    assert stage2_final.plan_lanes(images, output, params, cores=1) is None
    assert stage2_final.plan_lanes(images, output, {**params, "fillval": "0"}, cores=2) is None
    touching = [chip(k, e, gap=0.0) for e in range(3) for k in (1, 2)]
    images = [SimpleNamespace(scienceExt="SCI", returnAllChips=lambda extname, e=e: touching[2 * e : 2 * e + 2])
              for e in range(3)]  # fmt: skip
    assert stage2_final.plan_lanes(images, output, params, cores=2) is None


def test_footprint_groups_join_chains_and_skip_off_image():
    square = np.array([[10, 10], [30, 10], [30, 30], [10, 30]], float)
    outlines = [square, square + 15, square + 60, square + 30, square + 1000]
    # 0 and 1 overlap, 3 overlaps 1: one group; 2 alone; 4 lies off the grid (writes nothing)
    assert stage2_final.footprint_groups(outlines, (100, 100)) == [[0, 1, 3], [2], [4]]
    assert stage2_final.footprint_groups([square * np.nan], (100, 100)) is None
    assert stage2_final.deal_lanes([[0, 1, 3], [2], [4]], [5, 5, 5, 5, 5], 2) == [0, 0, 1, 0, 1]


def test_shared_numpy_allocates_output_arrays_in_shared_memory():
    shared = stage2_final._SharedNumpy((4, 5))
    a, b, c = shared.zeros((4, 5), dtype=np.float32), shared.empty((2, 4, 5), np.int32), shared.zeros((3, 3))
    assert shared.owns(a) and shared.owns(b[1]) and not shared.owns(c)
    assert not a.any() and a.flags.writeable and shared.arange(3).tolist() == [0, 1, 2]
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        a[1, 2] = 7.0
        os._exit(0)
    os.waitpid(pid, 0)
    assert a[1, 2] == 7.0


def test_lanes_make_the_serial_bits(scene):
    chips, output = scene
    serial = drizzle_all(chips, output, adrizzle.do_driz)
    assert (serial[2][0] == 0).any() and len(np.unique(serial[2])) > 4  # empty pixels, overlapping chips
    shared = stage2_final._SharedNumpy(output.array_shape)
    lanes = stage2_final._Lanes(adrizzle.do_driz, chips, [0, 1] * 3, shared, stage2_final.driz_version())
    try:
        parallel = drizzle_all(chips, output, lanes, shared)
    finally:
        lanes.close()
    for a, b in zip(serial, parallel, strict=True):
        assert a.tobytes() == b.tobytes()


def test_wrapper_runs_run_driz_with_lanes(scene, capfd):
    chips, output = scene
    images = [SimpleNamespace(scienceExt="SCI", returnAllChips=lambda extname, e=e: chips[2 * e : 2 * e + 2])
              for e in range(3)]  # fmt: skip
    params = {"fillval": None, "kernel": "square", "pixfrac": 1.0}
    serial = drizzle_all(chips, output, adrizzle.do_driz)
    got = {}

    def run_driz(imageObjectList, output_wcs, paramDict, single, build, wcsmap=None):
        got["single"] = single
        got["arrays"] = drizzle_all(chips, output_wcs, adrizzle.do_driz, adrizzle.np)

    wrapped = stage2_final.parallel_final_drizzle(run_driz, 2)
    wrapped(images, output, params, single=False, build=True)
    assert "final drizzle: 6 chips in 2 lanes" in capfd.readouterr().out
    for a, b in zip(serial, got["arrays"], strict=True):
        assert a.tobytes() == b.tobytes()
    assert adrizzle.np is np and adrizzle.do_driz.__name__ == "do_driz"  # put back
    wrapped(images, output, params, single=True, build=False)  # separate drizzle: the original
    assert got["single"] is True


def test_failing_lane_fails_the_drizzle(scene, capfd):
    chips, output = scene

    def do_driz(insci, input_wcs, *args, **kwargs):
        if input_wcs is chips[1].wcs:
            raise ValueError("broken chip")
        return adrizzle.do_driz(insci, input_wcs, *args, **kwargs)

    shared = stage2_final._SharedNumpy(output.array_shape)
    lanes = stage2_final._Lanes(do_driz, chips, [0, 1] * 3, shared, "v")
    with pytest.raises(RuntimeError, match=r"lane\(s\) \[1\]"):
        try:
            drizzle_all(chips, output, lanes, shared)
        finally:
            lanes.close()
    assert "broken chip" in capfd.readouterr().err
