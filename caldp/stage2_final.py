"""AstroDrizzle's final drizzle on several cores, with the bits of its serial loop.

The final drizzle (``adrizzle.run_driz`` with ``single=False``) drizzles every chip of every image,
one after the other, into one output (``cdriz.tdriz``: the square kernel's overlaps added into the
output's SCI/WHT/CTX). Each output pixel's value depends on the chips that reach it and on their
order, so chips cannot simply be drizzled side by side and merged. But chips whose output
footprints are apart never reach the same pixel: the two chips of a WFC or UVIS exposure are
~40 output pixels apart, while the exposures of a CR-SPLIT stack each other. So:

- the chips are grouped by their footprints in the output frame (:func:`drizzle_lanes`: each chip's
  outline, grown by more than the kernel reaches, mapped through its WCS and filled; chips whose
  filled outlines share a pixel are in the same group), and the groups dealt to lanes;
- each chip's ``tdriz`` (``adrizzle.do_driz``; everything before it — reading the chip, sky,
  masks, weights, the DQ update of the input file — stays in the parent in AstroDrizzle's order)
  runs in a forked child that writes into the output arrays, which live in shared memory; a lane's
  next chip waits for its previous one, so within a lane the order is the serial order, and the
  lanes write disjoint pixels;
- the last chip waits for every other before it returns, so the output is complete when
  AstroDrizzle writes the ``_drz`` file right after it.

Per output pixel the same contributions arrive in the same order as in the serial loop, so the
products are the same bit for bit. Used only where that argument holds: no fill value (tdriz's
fill pass rewrites every pixel of zero weight after each chip, also the other lane's), the
default WCS mapping, two or more groups; otherwise the original runs as it is.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import sys

import numpy as np

#: Input pixels between the chip-outline points that are mapped to the output frame.
OUTLINE_STEP = 16
#: At most this many chips are grouped (one bit per chip in the footprint image); more run serially.
MAX_CHIPS = 32


def chip_outline(chip_wcs, output_wcs, nx: int, ny: int, grow: float) -> np.ndarray:
    """The chip's outline grown by `grow` input pixels, in 0-based output pixel coordinates (N x 2).

    Input pixel ``i`` (1-based) spans ``i - 0.5 .. i + 0.5``; the outline follows the grown
    rectangle's four sides, one point every OUTLINE_STEP pixels, through the chip's WCS (all its
    distortion terms) to sky and back through the output WCS, as the drizzle's mapping does.
    """
    x0, x1 = 0.5 - grow, nx + 0.5 + grow
    y0, y1 = 0.5 - grow, ny + 0.5 + grow
    xs = np.linspace(x0, x1, int(math.ceil((x1 - x0) / OUTLINE_STEP)) + 1)
    ys = np.linspace(y0, y1, int(math.ceil((y1 - y0) / OUTLINE_STEP)) + 1)
    x = np.concatenate([xs, np.full(ys.size, x1), xs[::-1], np.full(ys.size, x0)])
    y = np.concatenate([np.full(xs.size, y0), ys, np.full(xs.size, y1), ys[::-1]])
    ra, dec = chip_wcs.all_pix2world(x, y, 1)
    ox, oy = output_wcs.all_world2pix(ra, dec, 1)
    return np.column_stack([np.asarray(ox, float) - 1.0, np.asarray(oy, float) - 1.0])


def kernel_grow(kernel: str, pixfrac: float, pix_ratio: float) -> float:
    """Input pixels to grow a chip's outline by so that it holds every output pixel the kernel writes.

    A square/turbo/point input pixel reaches ``pixfrac / 2`` around its centre, a Gaussian at most
    ``max(2.5 pixfrac / 2.3548, 1.2)`` and a Lanczos kernel ``order * pixfrac`` (tdriz's ``pfo``,
    in input pixels); the output pixels it writes have centres within a pixel diagonal of that.
    Grown by three times the largest of those plus two output pixels on top.
    """
    pixfrac = max(1.0, float(pixfrac))
    reach = {"gaussian": max(2.5 * pixfrac / 2.3548, 1.2), "lanczos2": 2 * pixfrac, "lanczos3": 3 * pixfrac}
    return 3.0 * max(pixfrac, reach.get(str(kernel).lower(), 0.0)) + 2.0 + 2.0 * max(1.0, float(pix_ratio))


def footprint_groups(outlines: list[np.ndarray], shape: tuple[int, int]) -> list[list[int]] | None:
    """Chips (indices into `outlines`) in groups whose filled outlines share no pixel; None if it cannot tell.

    Each outline is filled on the output grid (PIL, pixel centres inside) and its chips' bits ORed
    into one image; a chip whose filled outline meets another's bit joins that chip's group.
    """
    from PIL import Image, ImageDraw

    if len(outlines) > MAX_CHIPS or any(not np.isfinite(o).all() for o in outlines):
        return None
    ny, nx = shape
    bits = np.zeros((ny, nx), np.uint32)
    parent = list(range(len(outlines)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for k, outline in enumerate(outlines):
        canvas = Image.new("1", (nx, ny), 0)
        ImageDraw.Draw(canvas).polygon([(float(x), float(y)) for x, y in outline], fill=1, outline=1)
        mask = np.asarray(canvas, dtype=bool)
        if not mask.any():
            continue  # off the output: tdriz writes nothing
        hit = int(np.bitwise_or.reduce(bits[mask]))
        for j in range(k):
            if hit >> j & 1:
                parent[find(j)] = find(k)
        bits[mask] |= np.uint32(1 << k)
    groups: dict[int, list[int]] = {}
    for k in range(len(outlines)):
        groups.setdefault(find(k), []).append(k)
    return sorted(groups.values())


def deal_lanes(groups: list[list[int]], sizes: list[int], lanes: int) -> list[int]:
    """Lane of each chip: the groups, largest first, each to the lane with the fewest pixels so far."""
    load = [0] * lanes
    lane_of = [0] * sum(len(g) for g in groups)
    for group in sorted(groups, key=lambda g: (-sum(sizes[k] for k in g), g[0])):
        lane = load.index(min(load))
        load[lane] += sum(sizes[k] for k in group)
        for k in group:
            lane_of[k] = lane
    return lane_of


class _SharedNumpy:
    """numpy for ``adrizzle`` during the final drizzle: output-sized ``empty``/``zeros`` in shared memory.

    ``run_driz`` allocates the output SCI, WHT and context arrays with ``np.empty``/``np.zeros``;
    these come from an anonymous shared mapping (zero-filled, as ``np.zeros``), so a forked child's
    ``tdriz`` writes where the parent reads. Everything else is numpy's.
    """

    def __init__(self, shape: tuple[int, int]):
        self._shape = tuple(int(n) for n in shape)
        self.mappings: list[mmap.mmap] = []

    def __getattr__(self, name):
        return getattr(np, name)

    def _shared(self, shape, dtype):
        dims = (shape,) if isinstance(shape, int) else tuple(int(n) for n in shape)
        if dims[-2:] != self._shape:
            return None
        dtype = np.dtype(dtype)
        size = int(np.prod(dims)) * dtype.itemsize
        buf = mmap.mmap(-1, max(size, 1), flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
        self.mappings.append(buf)
        return np.frombuffer(buf, dtype, count=int(np.prod(dims))).reshape(dims)

    def empty(self, shape, dtype=float, *args, **kwargs):
        out = None if args or kwargs else self._shared(shape, dtype)
        return np.empty(shape, dtype, *args, **kwargs) if out is None else out

    def zeros(self, shape, dtype=float, *args, **kwargs):
        out = None if args or kwargs else self._shared(shape, dtype)
        return np.zeros(shape, dtype, *args, **kwargs) if out is None else out

    def owns(self, array: np.ndarray) -> bool:
        """True when `array` is (a view of) one of the shared arrays."""
        base = array
        while isinstance(base, np.ndarray):
            base = base.base
        return any(base is m for m in self.mappings) or (
            isinstance(base, memoryview) and any(base.obj is m for m in self.mappings)
        )


def driz_version() -> str:
    """The version string ``cdriz.tdriz`` returns (run_driz_chip puts it in the header list)."""
    from drizzlepac import cdriz

    one = np.ones((2, 2), np.float32)
    out, wht = np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32)
    ctx = np.zeros((2, 2), np.int32)
    vers, _, _ = cdriz.tdriz(
        one, one, out, wht, ctx, 1, 0, 1, 1, 2, 1.0, 1.0, 1.0, "center", 1.0, "square", "cps",
        1.0, 1.0, "INDEF", 0, 0, 1, lambda x, y: (x, y),
    )  # fmt: skip
    return vers


class _Lanes:
    """Runs each chip's ``do_driz`` in a forked child of its lane (see the module docstring)."""

    def __init__(self, do_driz, chips, lane_of, shared: _SharedNumpy, version: str):
        self.do_driz = do_driz
        self.lane_of = {id(chip.wcs): lane for chip, lane in zip(chips, lane_of, strict=True)}
        self.last = id(chips[-1].wcs)
        self.shared = shared
        self.version = version
        self.running: dict[int, int] = {}  # lane -> pid of its chip being drizzled
        self.failed: list[int] = []

    def wait(self, lane: int) -> None:
        pid = self.running.pop(lane, None)
        if pid is not None:
            _, status = os.waitpid(pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                self.failed.append(lane)

    def wait_all(self) -> None:
        for lane in list(self.running):
            self.wait(lane)
        if self.failed:
            raise RuntimeError(f"final drizzle failed in lane(s) {sorted(set(self.failed))}")

    def __call__(self, insci, input_wcs, inwht, output_wcs, outsci, outwht, outcon, *args, **kwargs):
        lane = self.lane_of.get(id(input_wcs))
        shared = all(self.shared.owns(a) for a in (outsci, outwht, outcon))
        if lane is None or not shared:  # not a chip of the plan: serially, after the others
            self.wait_all()
            return self.do_driz(insci, input_wcs, inwht, output_wcs, outsci, outwht, outcon, *args, **kwargs)
        self.wait(lane)
        if id(input_wcs) == self.last:  # the output is written right after this chip
            if self.failed:
                self.wait_all()
            vers = self.do_driz(insci, input_wcs, inwht, output_wcs, outsci, outwht, outcon, *args, **kwargs)
            self.wait_all()
            return vers
        self.running[lane] = fork_call(
            self.do_driz, insci, input_wcs, inwht, output_wcs, outsci, outwht, outcon, *args, **kwargs
        )
        return self.version

    def close(self) -> None:
        """Reap children left by a failure (their writes no longer matter)."""
        for pid in self.running.values():
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)
        self.running.clear()


def plan_lanes(images, output_wcs, param_dict, cores: int) -> tuple[list, list[int]] | None:
    """(chips in drizzle order, lane of each) for the final drizzle, or None to run it serially."""
    from drizzlepac import util

    if cores < 2 or not util.is_blank(param_dict.get("fillval")):
        return None
    chips = [chip for img in images for chip in img.returnAllChips(extname=img.scienceExt)]
    if len(chips) < 2 or len({id(chip.wcs) for chip in chips}) != len(chips):
        return None
    outlines, sizes = [], []
    for chip in chips:
        nx, ny = chip.wcs.pixel_shape
        pix_ratio = output_wcs.pscale / chip.wcslin_pscale
        grow = kernel_grow(param_dict.get("kernel", "square"), param_dict.get("pixfrac", 1.0), pix_ratio)
        outlines.append(chip_outline(chip.wcs, output_wcs, int(nx), int(ny), grow))
        sizes.append(int(nx) * int(ny))
    groups = footprint_groups(outlines, tuple(output_wcs.array_shape))
    if groups is None or len(groups) < 2:
        return None
    return chips, deal_lanes(groups, sizes, min(cores, len(groups)))


def parallel_final_drizzle(run_driz, cores: int):
    """``adrizzle.run_driz`` whose final drizzle runs the chips' ``tdriz`` in lanes of forked children.

    The separate drizzle (``single=True``; AstroDrizzle runs its images in parallel itself), a
    user WCS mapping, a fill value, one core or chips whose footprints all touch run the original
    (the run's log says which way it went).
    """

    def run(imageObjectList, output_wcs, paramDict, single, build, wcsmap=None):
        from drizzlepac import adrizzle

        images = imageObjectList if isinstance(imageObjectList, list) else [imageObjectList]
        plan = None
        if not single and wcsmap is None:
            try:
                plan = plan_lanes(images, output_wcs, paramDict, cores)
                version = driz_version() if plan else None
            except Exception as exc:  # any doubt: the original, serially
                print(f"[caldp] final drizzle runs serially: {type(exc).__name__}: {exc}", flush=True)
                plan = None
        if plan is None:
            return run_driz(imageObjectList, output_wcs, paramDict, single, build, wcsmap=wcsmap)
        chips, lane_of = plan
        # The run's own log (the child's stdout), beside AstroDrizzle's lines.
        print(f"[caldp] final drizzle: {len(chips)} chips in {max(lane_of) + 1} lanes {lane_of}", flush=True)
        shared = _SharedNumpy(output_wcs.array_shape)
        lanes = _Lanes(adrizzle.do_driz, chips, lane_of, shared, version)
        saved_np, saved_do_driz = adrizzle.np, adrizzle.do_driz
        adrizzle.np, adrizzle.do_driz = shared, lanes
        try:
            out = run_driz(imageObjectList, output_wcs, paramDict, single, build, wcsmap=wcsmap)
            lanes.wait_all()
            return out
        finally:
            adrizzle.np, adrizzle.do_driz = saved_np, saved_do_driz
            lanes.close()

    return run


def fork_call(fn, *args, **kwargs) -> int:
    """Run ``fn(*args, **kwargs)`` in a forked child and return the child's pid.

    The child exits with 0 when ``fn`` returns and with 1, after printing the traceback, when it
    raises. Buffered output is flushed on both sides of the fork so that nothing is written twice.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child ends in os._exit
        code = 1
        try:
            fn(*args, **kwargs)
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    return pid
