"""Stage 2: drizzlepac's ``runastrodriz`` on a calibrated ACS or WFC3 dataset, as CALDP runs it.

CALDP (``InstrumentManager.process_inputs`` in caldp/process.py) runs ``runastrodriz -n 1`` on the
association, or on the unassociated ``_raw`` file, in the directory holding the calibrated
``_flt``/``_flc`` files. runastrodriz reads DRIZCORR from the first member's ``_raw`` header,
updates the ``_flt``/``_flc`` WCS (``updatewcs``, headerlets ``*_hlet.fits``), drizzles with the
parameters of the MDRIZTAB row that fits and writes ``<product>_drz.fits`` (and ``_drc.fits``
from ``_flc`` files) and a ``<root>.tra`` trailer.

Two ways to run it (``CALDP_STAGE2``):

- ``fast`` (default): runastrodriz's own ``process()`` in a child forked from this process, so
  drizzlepac is imported once per process (warm in a batch worker) and no interpreter starts.
  The child changes to `workdir`, takes the drizzle environment and writes its output to the log,
  exactly as the command would. Two things runastrodriz repeats are done once: its sky-cell
  lookup (``add_skycell_to_header`` computes the same ``get_sky_cells`` once per SCI extension;
  here once per file, in a low-priority worker beside AstroDrizzle (:class:`SkycellJob`), and its
  declination-band search compares the extreme declinations instead of every edge pixel's) and
  AstroDrizzle's per-image steps use
  ``CALDP_STAGE2_CORES`` cores (default 2; runastrodriz ``-n``); blot also runs per image in forked
  children (:func:`_parallel_blot`) and driz_cr takes one chip per call (:func:`_chip_by_chip_driz_cr`,
  less memory); the worker's footprint filters run tile by tile (:class:`_TiledNdimage`); the final
  drizzle runs the chips of footprints that lie apart (the two chips of a WFC or UVIS exposure) in
  lanes of forked children (:mod:`caldp.stage2_final`) and the median's sections are shared with a
  forked child (:mod:`caldp.stage2_median`). Products are runastrodriz's:
  ``tests/stage2/test_stage2_modes.py`` compares both ways.
- ``runastrodriz``: ``python -m drizzlepac.runastrodriz -n 1`` as a subprocess with ``cwd=workdir``,
  the command CALDP runs.

Either way, unless the environment turns them on, the astrometry switches are forced off and
HTTP(S) goes to a closed local port, so nothing waits on MAST's astrometry database, Gaia
catalogs or IERS downloads; the run has a wall-clock limit too.
"""

from __future__ import annotations

import contextlib
import io
import logging
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from astropy.io import fits
from numpy.lib.stride_tricks import sliding_window_view

from .stage2_final import fork_call, parallel_final_drizzle
from .stage2_median import split_median

log = logging.getLogger(__name__)

#: Environment switches of runastrodriz/stwcs that reach for network astrometry services.
ASTROMETRY_SWITCHES = ("ASTROMETRY_COMPUTE_APOSTERIORI", "ASTROMETRY_APPLY_APRIORI", "ASTROMETRY_STEP_CONTROL")
#: runastrodriz's spellings of "on" (drizzlepac.util.envvar_bool_dict).
_ON = {"on", "yes", "true", "1"}
#: A proxy nobody listens on: any HTTP(S) request fails at once instead of waiting.
CLOSED_PROXY = "http://127.0.0.1:9"
#: Wall-clock limit of one runastrodriz run in seconds (CALDP_STAGE2_TIMEOUT overrides).
DEFAULT_TIMEOUT = 3600.0
PRODUCT_SUFFIXES = ("_drz.fits", "_drc.fits")
#: Lines of runastrodriz's output repeated in caldp's log when it fails.
TAIL_LINES = 20
#: Ways of running stage 2 (``CALDP_STAGE2``): forked runastrodriz.process (default) or the command.
MODES = ("fast", "runastrodriz")
#: AstroDrizzle cores of the fast way (``CALDP_STAGE2_CORES``).
DEFAULT_CORES = 2


class Stage2Error(RuntimeError):
    """runastrodriz failed; the message is one line."""


def astrometry_enabled(env: dict[str, str]) -> bool:
    """True when any astrometry switch in `env` is on (runastrodriz's values, any case).

    >>> astrometry_enabled({"ASTROMETRY_APPLY_APRIORI": "Yes"})
    True
    >>> astrometry_enabled({"ASTROMETRY_COMPUTE_APOSTERIORI": "off"}), astrometry_enabled({})
    (False, False)
    """
    return any(env.get(k, "").strip().lower() in _ON for k in ASTROMETRY_SWITCHES)


def drizzle_env(env: dict[str, str]) -> dict[str, str]:
    """The subprocess environment: `env` with astrometry off and the network closed, unless enabled.

    >>> e = drizzle_env({"jref": "/refs/", "HTTPS_PROXY": "http://proxy:3128"})
    >>> e["jref"], e["ASTROMETRY_APPLY_APRIORI"], e["HTTPS_PROXY"], e["MPLBACKEND"]
    ('/refs/', 'off', 'http://127.0.0.1:9', 'Agg')
    >>> drizzle_env({"ASTROMETRY_APPLY_APRIORI": "on"})["ASTROMETRY_COMPUTE_APOSTERIORI"]
    'off'
    """
    out = {str(k): str(v) for k, v in env.items()}
    online = astrometry_enabled(out)
    for key in ASTROMETRY_SWITCHES:
        if out.get(key, "").strip().lower() not in _ON:
            out[key] = "off"
    if not online:
        for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
            out[key] = CLOSED_PROXY
        for key in ("NO_PROXY", "no_proxy"):
            out.pop(key, None)
    out["MPLBACKEND"] = "Agg"
    out["PYTHONUNBUFFERED"] = "1"
    return out


def association_members(asn: Path) -> tuple[list[str], list[str]]:
    """(present exposure rootnames, product rootnames) of an association table, lower case."""
    with fits.open(asn) as hdul:
        tab = hdul[1].data
        names = np.char.lower(np.char.strip(tab["MEMNAME"].astype(str)))
        types = np.char.upper(np.char.strip(tab["MEMTYPE"].astype(str)))
        present = np.asarray(tab["MEMPRSNT"]).astype(bool)
    exposures = [str(n) for n, t, p in zip(names, types, present, strict=True) if t.startswith("EXP") and p]
    products = [str(n) for n, t in zip(names, types, strict=True) if t.startswith("PROD")]
    return exposures, products


def input_raw(workdir: Path, name: str) -> Path:
    """The ``_raw`` file whose primary header runastrodriz reads DRIZCORR from."""
    if name.endswith("_asn.fits"):
        exposures, _ = association_members(workdir / name)
        if not exposures:
            raise Stage2Error(f"{name} lists no present exposures")
        return workdir / f"{exposures[0]}_raw.fits"
    return workdir / name


def resolve_iraf_path(value: str, env: dict[str, str]) -> Path:
    """``jref$name.fits`` → ``<env['jref']>name.fits``; plain paths unchanged.

    >>> resolve_iraf_path("jref$x_mdz.fits", {"jref": "/crds/references/hst/"})
    PosixPath('/crds/references/hst/x_mdz.fits')
    """
    if "$" in value:
        prefix, name = value.split("$", 1)
        base = env.get(prefix) or env.get(prefix.lower()) or env.get(prefix.upper())
        if base is None:
            raise Stage2Error(f"{value}: environment variable {prefix!r} is not set")
        return Path(base) / name
    return Path(value)


def failure_reason(output: str) -> str:
    """One line saying why runastrodriz failed, picked from its output.

    The last specific ``[ERROR ...]`` line wins; then the last exception line of a traceback.

    >>> failure_reason("[INFO    ] x\\n[ERROR   ] MDRIZTAB table 'a' could not be found!\\n"
    ...                "[ERROR   ] Cannot run astrodrizzle on runastrodriz.py -n 1 a_asn.fits.\\n")
    "MDRIZTAB table 'a' could not be found!"
    >>> failure_reason("Traceback (most recent call last):\\nKeyError: \\"Keyword 'EXPNAME' not found.\\"\\n")
    'KeyError: "Keyword \\'EXPNAME\\' not found."'
    >>> failure_reason("")
    'no error message'
    """
    errors = [
        m.group(1).strip()
        for m in re.finditer(r"^\[ERROR\s*\]\s*(.*)$", output, re.MULTILINE)
        if m.group(1).strip() and not m.group(1).startswith(("#", "Cannot run astrodrizzle", "Could not complete"))
    ]
    if errors:
        return errors[-1]
    exc = re.findall(r"^(\w+(?:Error|Exception|Exit)\b:?.*)$", output, re.MULTILINE)
    if exc:
        return exc[-1].strip()
    return "no error message"


def _products(workdir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for suffix in PRODUCT_SUFFIXES for p in workdir.glob(f"*{suffix}")}


def _log_tail(output: str, max_lines: int = 6 * TAIL_LINES) -> list[str]:
    """The last lines of a run's log: its last traceback (middle elided past `max_lines`), else the last TAIL_LINES.

    Python 3.11+ tracebacks carry ``^^^^`` marker lines, so a deep drizzlepac stack outgrows a fixed
    tail and would hide the "Traceback" line that says where the failure began.
    """
    lines = output.strip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if not starts:
        return lines[-TAIL_LINES:]
    if len(lines) - starts[-1] <= max_lines:
        return lines[starts[-1] :]
    return [lines[starts[-1]], f"  ... ({len(lines) - starts[-1] - max_lines} lines, see the log)"] + lines[-max_lines:]


def _finish(workdir: Path, name: str, log_path: Path, returncode: int, before: dict, elapsed: float) -> list[Path]:
    """New products of a finished run, or :class:`Stage2Error` saying why there are none."""
    output = log_path.read_text(errors="replace")
    after = _products(workdir)
    made = [workdir / n for n in sorted(after) if before.get(n) != after[n]]
    if returncode != 0 or not made:
        tail = _log_tail(output)
        log.error("runastrodriz %s failed; last lines of %s:\n%s", name, log_path, "\n".join(tail))
        why = failure_reason(output) if returncode != 0 or "[ERROR" in output else "no _drz product written"
        raise Stage2Error(f"runastrodriz {name} (exit {returncode}): {why} (log {log_path.name})")
    log.info("runastrodriz %s made %s in %.1f s", name, ", ".join(p.name for p in made), elapsed)
    return made


def run_runastrodriz(workdir: Path, name: str, env: dict[str, str], log_path: Path, timeout: float) -> list[Path]:
    """One ``runastrodriz -n 1 <name>`` in `workdir`; its output goes to `log_path`. Returns new products."""
    cmd = [sys.executable, "-m", "drizzlepac.runastrodriz", "-n", "1", name]
    before = _products(workdir)
    log.info("Running runastrodriz -n 1 %s (log %s)", name, log_path.name)
    t0 = time.monotonic()
    with open(log_path, "w") as logf:
        try:
            proc = subprocess.run(
                cmd, cwd=workdir, env=drizzle_env(env), stdout=logf, stderr=subprocess.STDOUT, timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise Stage2Error(f"runastrodriz {name} timed out after {timeout:.0f} s (log {log_path.name})") from exc
    return _finish(workdir, name, log_path, proc.returncode, before, time.monotonic() - t0)


def calibrated_files(workdir: Path, name: str) -> list[str]:
    """The ``_flt``/``_flc`` files runastrodriz updates for `name` (those present), in its order."""
    if name.endswith("_asn.fits"):
        roots, _ = association_members(workdir / name)
    else:
        roots = [name.rsplit("_", 1)[0].lower()]
    flt = [f"{r}_flt.fits" for r in roots if (workdir / f"{r}_flt.fits").is_file()]
    flc = [f"{r}_flc.fits" for r in roots if (workdir / f"{r}_flc.fits").is_file()]
    return flt + flc


def skycell_string(filename: str) -> str | None:
    """``add_skycell_to_header``'s SKYCELL value for one file (None when it finds no sky cell)."""
    from drizzlepac.haputils import cell_utils

    skycells = cell_utils.get_sky_cells([filename])
    if not skycells:
        return None
    return "; ".join(x[8:] for x in list(skycells.keys()))


def _unsimplified(points, min_dist=None):
    """Stand-in for ``simplify_polyline.simplify`` inside the sky-cell lookup: the traced edge as it is.

    ``SkyFootprint.find_corners`` simplifies each traced edge (pure-Python Visvalingam, about half
    of a full-frame lookup) into ``xy_corners``/``corners``, which ``get_sky_cells`` never reads:
    the overlap tests use ``edge_pixels`` (``get_edges_sky``), and ``corners`` only says "traced
    already". So the SKYCELL value is the same (``tests/stage2/test_stage2_modes.py``); the only
    other effect is on drizzlepac's "Too few corners" log line. Used only in the sky-cell
    worker processes, never where S_REGION or products are computed.
    """
    return np.asarray(points)


#: Tile side and halo of :func:`tiled_filter` (the halo exceeds the reach of every filter it runs).
TILE = 128
TILE_HALO = 16


def tiled_filter(op, image: np.ndarray, reach: int, fill, inplace: bool = False) -> np.ndarray:
    """``op(image)`` for a local filter that reaches `reach` pixels, computed only where `image` varies.

    `op` must be a function of the pixels within `reach` (Chebyshev distance) of each output pixel
    and of the array's edge, as ``binary_erosion``/``binary_dilation`` (``iterations`` steps of the
    cross) and ``gaussian_filter`` (``truncate * sigma`` rounded) are. The array is cut in
    TILE x TILE tiles. A tile whose pixels within TILE_HALO around it hold one value ``v`` and
    which lies TILE_HALO or more from the array's edge gets ``fill(v)`` (the filter's value on a
    constant image; the caller computes it). Every other tile gets ``op`` run on the tile with
    TILE_HALO pixels around it (cut at the array's edge, so the edge is treated as ``op`` treats
    it), of which the tile's part is kept: its pixels see the same inputs, in the same order, as
    in ``op(image)``, so the result is the same bit for bit. The sky-cell footprints are masks of
    7000 x 7000 pixels that change value only along the chips' edges, so this runs ``op`` on a few
    percent of them.

    With `inplace` the result overwrites `image` (same dtype as the result): a row of tiles is
    written back once the next row is done, as no later tile's halo reaches it (TILE > TILE_HALO).
    """
    if reach >= TILE_HALO or image.ndim != 2:
        if inplace:
            image[...] = op(image)
            return image
        return op(image)
    ny, nx = image.shape
    h, per = TILE_HALO, TILE // TILE_HALO
    nty, ntx = -(-ny // TILE), -(-nx // TILE)
    # extremes of each whole h x h block, then of the blocks of each tile and one more on each side
    by, bx = ny // h, nx // h
    flat = image[: by * h, : bx * h]
    flat = flat.view(np.uint8) if flat.dtype == bool else flat
    rows = flat.reshape(by, h, bx * h)  # reduce the h rows of each band first: whole rows, fast
    lo = rows.min(axis=1).reshape(by, bx, h).min(axis=2)
    hi = rows.max(axis=1).reshape(by, bx, h).max(axis=2)
    constant = np.zeros((nty, ntx), bool)  # tiles near the array's edge stay False
    tile_value = np.zeros((nty, ntx), lo.dtype)
    if by >= per + 2 and bx >= per + 2:
        windows = (per + 2, per + 2)
        t_lo = sliding_window_view(lo, windows)[per - 1 :: per, per - 1 :: per].min(axis=(2, 3))
        t_hi = sliding_window_view(hi, windows)[per - 1 :: per, per - 1 :: per].max(axis=(2, 3))
        # tile ti (ti >= 1) covers blocks ti*per-1 .. ti*per+per: whole blocks, so h or more from the edge
        constant[1 : 1 + t_lo.shape[0], 1 : 1 + t_lo.shape[1]] = t_lo == t_hi
        tile_value[1 : 1 + t_lo.shape[0], 1 : 1 + t_lo.shape[1]] = t_lo
    out = image if inplace else None
    pending = None  # inplace: (y0, y1, results) of the previous row of tiles
    values = {}
    for ti, y0 in enumerate(range(0, ny, TILE)):
        y1 = min(ny, y0 + TILE)
        row = None
        for tj, x0 in enumerate(range(0, nx, TILE)):
            x1 = min(nx, x0 + TILE)
            if constant[ti, tj]:
                v = tile_value[ti, tj].item()
                if v not in values:
                    values[v] = fill(v)
                part = values[v]
            else:
                wy0, wx0 = max(0, y0 - h), max(0, x0 - h)
                window = op(image[wy0 : min(ny, y1 + h), wx0 : min(nx, x1 + h)])
                part = window[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0]
            if inplace:
                if row is None:
                    row = np.empty((y1 - y0, nx), image.dtype)
                row[:, x0:x1] = part
            else:
                if out is None:
                    out = np.empty(image.shape, np.asarray(part).dtype)
                out[y0:y1, x0:x1] = part
        if inplace:
            if pending is not None:
                image[pending[0] : pending[1]] = pending[2]
            pending = (y0, y1, row)
    if inplace and pending is not None:
        image[pending[0] : pending[1]] = pending[2]
    return out


class _Scratch(np.ndarray):
    """A fresh ``astype`` copy of a :class:`_Footprint` mask: nothing else refers to it, so the sky-cell
    worker's Gaussian smoothing may write its result into it (saves a 7000 x 7000 float32 array)."""


class _Footprint(np.ndarray):
    """A footprint mask made by the sky-cell worker's dilation; its ``astype`` copies are :class:`_Scratch`."""

    def astype(self, *args, **kwargs):
        return np.asarray(self).astype(*args, **kwargs).view(_Scratch)


class _TiledNdimage:
    """``scipy.ndimage`` for the sky-cell worker's ``cell_utils``: its erosions, dilations and Gaussian
    smoothing of footprint masks run through :func:`tiled_filter` (same results), the smoothing in
    place of its scratch input and the labels in uint8 (less memory); the rest is scipy's."""

    def __init__(self):
        from scipy import ndimage

        self._nd = ndimage

    def __getattr__(self, name):
        return getattr(self._nd, name)

    def _binary(self, func, image, kwargs):
        iterations = kwargs.get("iterations", 1)
        if set(kwargs) - {"iterations"} or not isinstance(iterations, int) or iterations < 1:
            return func(image, **kwargs)

        def fill(v):
            return func(np.full((2 * TILE_HALO + 1,) * 2, v, image.dtype), iterations=iterations)[TILE_HALO, TILE_HALO]

        return tiled_filter(lambda a: func(a, iterations=iterations), np.asarray(image), iterations, fill)

    def binary_erosion(self, image, **kwargs):
        return self._binary(self._nd.binary_erosion, image, kwargs)

    def binary_dilation(self, image, **kwargs):
        return self._binary(self._nd.binary_dilation, image, kwargs).view(_Footprint)

    def label(self, image, structure=None, output=None):
        """scipy's labels, held as uint8 while there are fewer than 256 regions (a footprint has one per chip):
        the same labels and count, a quarter of the memory of int32 (~160 MB less at the worker's peak)."""
        if structure is None and output is None:
            with contextlib.suppress(RuntimeError):  # "insufficient bit-depth": more than 255 regions
                return self._nd.label(image, output=np.uint8)
        return self._nd.label(image, structure, output)

    def gaussian_filter(self, image, sigma=None, **kwargs):
        func = self._nd.gaussian_filter
        if kwargs or not isinstance(sigma, (int, float)) or np.asarray(image).dtype != np.float32:
            return func(image, sigma, **kwargs)
        reach = int(4.0 * float(sigma) + 0.5)  # scipy's radius at the default truncate=4.0

        def fill(v):
            return func(np.full((2 * TILE_HALO + 1,) * 2, v, np.float32), sigma)[TILE_HALO, TILE_HALO]

        inplace = isinstance(image, _Scratch)
        image = np.asarray(image)
        return tiled_filter(lambda a: func(a, sigma), image, reach, fill, inplace=inplace)


def _compact_footprint(find_footprint):
    """``SkyFootprint.find_footprint`` keeping the footprint (0 or 1 after its clip) as uint8, not int16.

    Its readers in the lookup (``find_corners``' ``np.clip(...).astype(np.int16)``, ``find_edges``'
    subtraction) give the same values either way; half the memory of a 7000 x 7000 mask (~50 MB at the
    sky-cell worker's peak). Used only in the worker.
    """

    def run(self, member="total"):
        find_footprint(self, member=member)
        fp = self.footprint
        if isinstance(fp, np.ndarray) and fp.dtype == np.int16:
            self.footprint = fp.astype(np.uint8)

    return run


#: Niceness of the sky-cell worker, which runs beside AstroDrizzle and uses the core its serial steps leave idle.
SKYCELL_NICE = 5
#: Scratch copies of the ``_flt``/``_flc`` files the sky-cell worker reads (under the work directory).
SKYCELL_SNAPSHOT = ".caldp-skycells"


def _skycell_worker(names: list[str], snapdir: str, wfd: int) -> None:  # pragma: no cover - forked child
    """Body of the forked sky-cell worker: SKYCELL of each `snapdir`/name, one after the other, as JSON on `wfd`.

    One worker for all files, not one per file: a full-frame lookup holds ~0.5 GB of footprint
    masks at its peak, and this runs beside AstroDrizzle's own peak.
    """
    import json

    out: dict[str, dict] = {}
    with contextlib.suppress(OSError):
        os.nice(SKYCELL_NICE)
    try:
        os.chdir(snapdir)
        from drizzlepac.haputils import cell_utils

        cell_utils.simplify = _unsimplified
        cell_utils.ndimage = _TiledNdimage()
        cell_utils.SkyFootprint.find_footprint = _compact_footprint(cell_utils.SkyFootprint.find_footprint)
    except Exception as exc:
        out = {name: {"error": f"{type(exc).__name__}: {exc}"} for name in names}
        names = []
    for name in names:
        try:
            out[name] = {"value": skycell_string(name)}
        except Exception as exc:
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
        with contextlib.suppress(OSError):
            os.remove(name)
    data = json.dumps(out).encode()
    while data:
        data = data[os.write(wfd, data) :]
    os.close(wfd)
    os._exit(0)


class SkycellJob:
    """SKYCELL values of a run's files, computed in a forked worker while AstroDrizzle runs.

    runastrodriz looks the sky cells up (``add_skycell_to_header``: ``get_sky_cells`` once per SCI
    extension, the same answer each time) right after ``updatewcs`` and before AstroDrizzle, and
    writes them into each SCI header after S_REGION. The value depends only on the files' WCS,
    which AstroDrizzle does not change, and the only product that reads it before the end is the
    final drizzle (its ``_drz`` SCI header copies the first input's SCI header). So :meth:`start`
    copies the files as they are then (AstroDrizzle rewrites their headers and DQ later) and forks
    one low-priority worker that looks them up one after the other on the copies; :meth:`write`
    waits for it just before the final drizzle and makes runastrodriz's header edits, in its order.
    """

    def __init__(self, files: list[str]):
        self.files = list(files)
        self.snapdir = Path(SKYCELL_SNAPSHOT).resolve()
        self.names: list[str] = []  # the files the worker looks up (those that exist at the start)
        self.worker: tuple[int, int] | None = None  # (pid, read end of its pipe) while it runs
        self.values: dict[str, str | None] = {}
        self.errors: dict[str, str] = {}
        self.pending: list[str] = []  # files add_skycell_to_header was called for, in call order
        self.started = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        shutil.rmtree(self.snapdir, ignore_errors=True)
        self.snapdir.mkdir()
        self.names = [name for name in self.files if os.path.exists(name)]
        for name in self.names:
            shutil.copyfile(name, self.snapdir / name)
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the worker ends in os._exit
            try:
                os.close(rfd)
                _skycell_worker(self.names, str(self.snapdir), wfd)
            finally:
                os._exit(70)
        os.close(wfd)
        self.worker = (pid, rfd)

    def collect(self) -> None:
        """Wait for the worker; its values in :attr:`values`, failures in :attr:`errors`."""
        import json

        if self.worker is None:
            return
        pid, rfd = self.worker
        chunks = []
        while chunk := os.read(rfd, 65536):
            chunks.append(chunk)
        os.close(rfd)
        os.waitpid(pid, 0)
        try:
            out = json.loads(b"".join(chunks) or b"{}")
        except ValueError:
            out = {}
        for name in self.names:
            got = out.get(name, {})
            if "value" in got:
                self.values[name] = got["value"]
            else:
                self.errors[name] = got.get("error", "sky-cell worker died")
        self.worker = None
        shutil.rmtree(self.snapdir, ignore_errors=True)

    def write(self) -> None:
        """runastrodriz's SKYCELL header edits for the files it asked for (waits for the worker)."""
        if not self.pending:
            return
        from drizzlepac.haputils import processing_utils
        from stsci.tools.fileutil import countExtn

        t0 = time.monotonic()
        self.collect()
        plog = logging.getLogger("drizzlepac.haputils.processing_utils")
        # The run's own log (the child's stdout): how long the final drizzle waited for the worker.
        print(
            f"[caldp] sky cells of {len(self.values)} file(s): worker started {t0 - self.started:.1f} s "
            f"before the final drizzle, which waited {time.monotonic() - t0:.1f} s for them",
            flush=True,
        )
        pending, self.pending = self.pending, []
        for image_filename in pending:
            if image_filename not in self.values and image_filename not in self.errors:
                self.values[image_filename] = skycell_string(image_filename)  # not a file of the run
            hdu, closefits = processing_utils._process_input(image_filename)
            numext = countExtn(hdu, extname="SCI")
            if numext and image_filename in self.errors:  # runastrodriz would have failed here too
                raise RuntimeError(f"sky cells of {image_filename}: {self.errors[image_filename]}")
            value = self.values.get(image_filename)
            for extver in range(1, numext + 1):
                sciext = ("SCI", extver)
                if value is not None:
                    if "skycell" not in hdu[sciext].header:
                        hdu[sciext].header.insert(
                            "s_region", ("skycell", value, "Skycell(s) that this image occupies"), after=True
                        )
                    else:
                        hdu[sciext].header["skycell"] = (value, "Skycell(s) that this image occupies")
                else:
                    plog.error(f"No skycells found for {image_filename}.")
            if closefits:
                hdu.close()

    def add_skycell_to_header(self, image_filename, extname="SCI"):
        """Replaces ``processing_utils.add_skycell_to_header``: starts the worker, defers the edit."""
        if extname != "SCI" or not isinstance(image_filename, str):
            raise ValueError("the deferred sky-cell lookup takes a file name and the SCI extensions")
        if not self.started:
            self.start()
        self.pending.append(image_filename)

    def close(self) -> None:
        """Reap the worker if it still runs (a failed run) and remove the copies."""
        if self.worker is not None:
            pid, rfd = self.worker
            with contextlib.suppress(OSError):
                os.close(rfd)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            self.worker = None
        shutil.rmtree(self.snapdir, ignore_errors=True)


def _find_bands(self, dec) -> None:
    """``cell_utils.GridDefs._find_bands`` without its loop over every edge pixel's declination.

    The original ANDs ``d <= DEC_MAX`` and ``d >= DEC_MIN`` over each value ``d`` of `dec` (some
    10 000 edge pixels, each reading the FITS table's columns again): the same as comparing the
    largest and smallest value once (NaN compares false either way). Same bands, same order.
    """
    if not isinstance(dec, (list, np.ndarray)):
        dec = [dec]
    dec = np.asarray(dec, dtype=np.float64)
    dec_max = np.asarray(self.rings.field("dec_max"))
    dec_min = np.asarray(self.rings.field("dec_min"))
    if np.isnan(dec).any():
        inside = np.zeros(dec_max.shape, bool)
    else:
        inside = (dec.max() <= dec_max) & (dec.min() >= dec_min)
    bands = np.sort(np.unique(np.where(inside)[0]))
    self.bands = [self.rings[b] for b in bands]


def _parallel_blot(run_blot, cores: int):
    """``ablot.run_blot`` that blots the images in forked children, up to `cores` at a time.

    AstroDrizzle's blot step is serial: each chip of each image is blotted from the median image
    (``cdriz.tblot``) and written to its own ``_blt`` file, one after the other. Nothing passes
    from one image's blot to the next (the header list restarts per chip, the median is read again
    per chip), so the images are independent: each child runs the same ``run_blot`` on a one-image
    list and writes the same files. With ``in_memory`` (blotted images kept on the image objects,
    which a child could not hand back), one image or one core, the original runs as it is.
    A child that fails fails the step (``mputil.launch_and_wait``, which AstroDrizzle uses for its
    own parallel steps, would not notice).
    """

    def run(imageObjectList, *args, **kwargs):
        images = imageObjectList if isinstance(imageObjectList, list) else [imageObjectList]
        if cores < 2 or len(images) < 2 or any(getattr(img, "inmemory", False) for img in images):
            return run_blot(imageObjectList, *args, **kwargs)
        sys.stdout.flush()
        sys.stderr.flush()
        running: dict[int, str] = {}
        failed: list[str] = []

        def reap() -> None:  # the oldest child (not os.wait: the sky-cell worker is a child too)
            pid = next(iter(running))
            _, status = os.waitpid(pid, 0)
            name = running.pop(pid)
            if os.waitstatus_to_exitcode(status) != 0:
                failed.append(name)

        for img in images:
            while len(running) >= cores:
                reap()
            pid = fork_call(run_blot, [img], *args, **kwargs)
            running[pid] = str(getattr(img, "_filename", img))
        while running:
            reap()
        if failed:
            raise RuntimeError(f"blot failed for {', '.join(failed)}")

    return run


def _chip_by_chip_driz_cr(driz_cr):
    """``drizCR._driz_cr`` called once per chip, so that one chip's arrays are freed before the next.

    ``_driz_cr`` loops over an image's chips and keeps a dozen chip-sized temporaries (blot,
    derivative, noise model, masks, convolutions; ~0.35 GB for a full WFC chip) in local variables
    until the next chip's replace them, so a worker's peak holds two chips' worth. Each chip's
    computation depends only on that chip (its CR mask file is written per chip); with
    ``driz_cr_corr`` (``_crclean`` files of all chips together) or ``in_memory`` the original
    runs as it is. Each call marks only its chip as a group member (``_driz_cr`` skips the
    others), as AstroDrizzle does for chips it leaves out; the marks are put back afterwards.
    """

    def run(sciImage, virtual_outputs, paramDict):
        chips = [sciImage[f"{sciImage.scienceExt},{k}"] for k in range(1, sciImage._numchips + 1)]
        members = [chip for chip in chips if chip.group_member]
        if len(members) < 2 or paramDict.get("driz_cr_corr") or paramDict.get("inmemory"):
            return driz_cr(sciImage, virtual_outputs, paramDict)
        saved = [chip.group_member for chip in chips]
        try:
            for member in members:
                for chip in chips:
                    chip.group_member = chip is member
                driz_cr(sciImage, virtual_outputs, paramDict)
        finally:
            for chip, was in zip(chips, saved, strict=True):
                chip.group_member = was

    return run


#: What drizzlepac printed while being imported here (its loggers' stdout handlers point at it).
_import_output: io.StringIO | None = None
_import_lock = threading.Lock()


def warm_imports() -> None:
    """Import runastrodriz (and so drizzlepac, stwcs …) into this process, once.

    drizzlepac gives some loggers a stdout handler at import and logs through them at once; here
    that output goes to a buffer (the caldp console stays quiet), which the child writes to the log
    and re-points those handlers to it.
    """
    global _import_output
    with _import_lock:  # calibrate starts it on a thread; a batch worker may run several datasets
        if _import_output is not None:
            return
        t0 = time.monotonic()
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            import drizzlepac.runastrodriz  # noqa: F401
            from drizzlepac.haputils import cell_utils, processing_utils  # noqa: F401
        _import_output = buffer
        log.info("Imported drizzlepac in %.1f s", time.monotonic() - t0)


def _repoint_import_handlers(stream) -> None:
    """Handlers drizzlepac bound to the import buffer write to `stream` instead."""
    if _import_output is None:
        return
    stream.write(_import_output.getvalue())
    for logger in list(logging.Logger.manager.loggerDict.values()):
        for handler in getattr(logger, "handlers", ()):
            if isinstance(handler, logging.StreamHandler) and handler.stream is _import_output:
                handler.setStream(stream)


def _fast_child(workdir: Path, name: str, env: dict[str, str], log_path: Path, cores: int) -> None:
    """Body of the forked child: runastrodriz's ``main()`` for ``-n <cores> <name>`` in `workdir`."""
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)  # its own group: a timeout stops AstroDrizzle's workers too
    # Inherited from a daemonic Dask worker, the flag would stop AstroDrizzle's own workers.
    multiprocessing.current_process()._config["daemon"] = False
    # Forked from a thread-pool thread (Dask's threads), the pool's exit hook would make every
    # worker AstroDrizzle forks join its own thread at exit and fail (exit 1): the pool threads
    # do not exist in this process.
    import concurrent.futures.thread

    concurrent.futures.thread._threads_queues.clear()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    _repoint_import_handlers(sys.stdout)
    # A program of its own from here on, as the command would be: no inherited handlers.
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    os.chdir(workdir)
    os.environ.clear()
    os.environ.update(drizzle_env(env))
    sys.argv = ["runastrodriz.py", "-n", str(cores), name]

    from drizzlepac import ablot, adrizzle, createMedian, drizCR, runastrodriz
    from drizzlepac.haputils import cell_utils, processing_utils

    ablot.run_blot = _parallel_blot(ablot.run_blot, cores)
    drizCR._driz_cr = _chip_by_chip_driz_cr(drizCR._driz_cr)
    adrizzle.run_driz = parallel_final_drizzle(adrizzle.run_driz, cores)
    createMedian._median = split_median(createMedian._median, cores)

    job = SkycellJob(calibrated_files(Path("."), name))
    processing_utils.add_skycell_to_header = job.add_skycell_to_header
    cell_utils.GridDefs._find_bands = _find_bands
    final_drizzle, drizzle_run = adrizzle.drizFinal, runastrodriz.run_driz

    def drizFinal(*args, **kwargs):  # the SKYCELL cards are in the _flt headers before the _drz copies them
        job.write()
        return final_drizzle(*args, **kwargs)

    def run_driz(*args, **kwargs):
        out = drizzle_run(*args, **kwargs)
        job.write()  # no final drizzle ran: still written before runastrodriz's last header edits
        return out

    adrizzle.drizFinal, runastrodriz.run_driz = drizFinal, run_driz
    rlog = logging.getLogger("drizzlepac.runastrodriz")
    code = 0
    try:
        # As runastrodriz.main(): exceptions fail the run, SystemExit (NO_VIABLE_DATA …) does not.
        try:
            runastrodriz.process(name, num_cores=cores, inmemory=False, headerlets=True, align_to_gaia=True)
        finally:
            job.close()
    except Exception as exc:
        rlog.error(str(exc))
        rlog.error(f"Cannot run astrodrizzle on {' '.join(sys.argv)}.")
        import traceback

        traceback.print_exc()
        code = 1
    except BaseException:
        rlog.debug(f"Return Value: {sys.exc_info()[1]}")
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_fast(
    workdir: Path, name: str, env: dict[str, str], log_path: Path, timeout: float, cores: int = DEFAULT_CORES
) -> list[Path]:
    """runastrodriz for `name` in a forked child with warm imports (see the module docstring)."""
    warm_imports()
    before = _products(workdir)
    log.info("Running runastrodriz -n %d %s in a forked child (log %s)", cores, name, log_path.name)
    t0 = time.monotonic()
    for handler in logging.getLogger().handlers:
        handler.flush()
    # os.fork, not multiprocessing.Process: a Dask worker is a daemonic process, which
    # multiprocessing forbids to have children.
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child ends in os._exit
        try:
            _fast_child(workdir.resolve(), name, env, log_path.resolve(), cores)
        finally:
            os._exit(70)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # also done by the child; whichever runs first
    deadline = t0 + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() >= deadline:
            _kill_group(pid)
            os.waitpid(pid, 0)
            raise Stage2Error(f"runastrodriz {name} timed out after {timeout:.0f} s (log {log_path.name})")
        time.sleep(0.05)
    _kill_group(pid)  # AstroDrizzle workers left behind by a failed run
    return _finish(workdir, name, log_path, os.waitstatus_to_exitcode(status), before, time.monotonic() - t0)


def stage2_mode(env: dict[str, str]) -> str:
    """``CALDP_STAGE2`` from `env` (then the process environment): ``fast`` unless set."""
    mode = (env.get("CALDP_STAGE2") or os.environ.get("CALDP_STAGE2") or "fast").strip().lower()
    if mode not in MODES:
        raise Stage2Error(f"CALDP_STAGE2={mode!r}: expected one of {', '.join(MODES)}")
    return mode


def run_stage2(
    workdir: Path, files: list[str], *, instrument: str, env: dict, log_dir: Path, timeout: float | None = None
) -> list[Path]:
    """Drizzle the calibrated dataset in `workdir` with runastrodriz; return the ``_drz``/``_drc`` made.

    ``CALDP_STAGE2`` in `env` picks the way (``fast``, default, or ``runastrodriz``: the command).

    `files` are the stage-1 inputs (one ``_asn.fits``, or ``_raw.fits`` files); each gets its own
    runastrodriz run (CALDP passes several on one command line, where runastrodriz would take the
    last one for its ``newpath``). DRIZCORR other than PERFORM in the ``_raw`` header skips the run.
    Raises :class:`Stage2Error` (one-line message) when runastrodriz fails or writes no product.
    """
    workdir, log_dir = Path(workdir), Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    if timeout is None:
        timeout = float(env.get("CALDP_STAGE2_TIMEOUT", DEFAULT_TIMEOUT))
    mode = stage2_mode(env)
    cores = max(1, int(env.get("CALDP_STAGE2_CORES", DEFAULT_CORES)))
    products: list[Path] = []
    for name in files:
        raw = input_raw(workdir, name)
        if not raw.is_file():
            raise Stage2Error(f"{raw.name} not found for {name}")
        hdr = fits.getheader(raw)
        drizcorr = str(hdr.get("DRIZCORR", "")).strip().upper()
        if drizcorr != "PERFORM":
            log.info("Stage 2 skipped for %s: DRIZCORR=%s in %s", name, drizcorr or "(missing)", raw.name)
            continue
        mdriztab = str(hdr.get("MDRIZTAB", "N/A")).strip()
        if mdriztab.upper() in ("", "N/A"):
            raise Stage2Error(f"{raw.name} has no MDRIZTAB; runastrodriz needs one (CRDS assigns it)")
        if not resolve_iraf_path(mdriztab, env).is_file():
            raise Stage2Error(f"MDRIZTAB {mdriztab} not found at {resolve_iraf_path(mdriztab, env)}")
        root = name.rsplit("_", 1)[0]
        log_path = log_dir / f"{root}_runastrodriz.log"
        if mode == "runastrodriz":
            products += run_runastrodriz(workdir, name, env, log_path, timeout)
        else:
            products += run_fast(workdir, name, env, log_path, timeout, cores)
    log.info("Stage 2 (%s): %s", instrument, ", ".join(p.name for p in products) or "no products")
    return products
