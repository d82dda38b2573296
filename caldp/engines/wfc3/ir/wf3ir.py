"""WF3IR driver: one IR MULTIACCUM exposure raw → ``_ima`` + ``_flt`` (HSTCAL ``wf3ir/wf3ir.c``, ``doir.c``).

Thin layer: reads the raw file and the reference files once, calls the step functions in
calwf3's order (DQICORR, ZSIGCORR, BLEVCORR, ZOFFCORR, noise, NLINCORR, DARKCORR, PHOTCORR,
UNITCORR, CRCORR, FLATCORR, statistics) on the whole ``(NSAMP, ny, nx)`` stack, and writes the
products and header bookkeeping (switches COMPLETE, HISTORY, MEANBLEV, MEANDARK, PHOT*, BUNIT,
statistics). Products are written atomically and never overwrite existing files.
"""

from __future__ import annotations

import logging
import os
import resource
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...common import fitsfile as ff
from ...common import trailer
from ...common.errors import EngineError
from ...common.heap import trim_heap
from ...common.hstio import IR_EXTNAMES, Exposure, ImSet, section, write_exposure
from ...common.keywords import hdr_float
from ...common.refimage import bin_and_corner
from ...common.switches import Switch, read_switch
from ...common.threads import parallel_map
from ..ccdtab import read_ccdtab
from ..oscntab import read_oscntab
from ..reffiles import check_reference, read_crrejtab
from ..uvis.context import reference
from ..uvis.dqicorr import apply_bpixtab, select_bpix_rows
from ..version import cal_ver
from . import crcorr, darkcorr, passes, photcorr
from .blevcorr import level as blev_level
from .common import F32, Area
from .statistics import ir_statistics

log = logging.getLogger(__name__)

IR_SWITCHES = (
    "DQICORR",
    "ZSIGCORR",
    "BLEVCORR",
    "ZOFFCORR",
    "NLINCORR",
    "DARKCORR",
    "FLATCORR",
    "UNITCORR",
    "PHOTCORR",
    "CRCORR",
)


@dataclass(slots=True)
class Stack:
    """The reads of one exposure, file order (index 0 = EXTVER 1 = last read)."""

    sci: np.ndarray  # (N, ny, nx) float32
    err: np.ndarray
    dq: np.ndarray  # uint16
    samp: np.ndarray  # int16
    time: np.ndarray  # float32
    exptime: np.ndarray  # (N,) float64 SAMPTIME, reduced by ZOFFCORR


_BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wf3ir-io")


class _Clock:
    """Step timings (wall, CPU, peak RSS so far) logged at DEBUG as ``timing <step> …`` for benchmarks."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self, step: str) -> None:
        w, c = time.perf_counter(), time.process_time()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        log.debug("timing %s wall=%.4f cpu=%.4f maxrss_mb=%.1f", step, w - self.wall, c - self.cpu, rss)
        self.wall, self.cpu = w, c


def _need(hdr, key, file):
    if key not in hdr:
        raise EngineError("required keyword is missing", file=file, keyword=key)
    return hdr[key]


def _read_raw(path: Path) -> tuple[Exposure, Stack, list[str]]:
    """Read the raw MULTIACCUM file once, straight into the ``(NSAMP, ny, nx)`` stack.

    Constant (null) extensions are expanded from PIXVALUE; the imsets' arrays are views of the
    stack. Raises EngineError naming the file and keyword for a malformed exposure.
    """
    name = path.name
    try:
        hdul = ff.open(path, uint=True)
    except (OSError, ValueError, TypeError) as exc:
        raise EngineError(f"cannot read FITS file ({exc})", file=name) from exc
    with hdul, open(path, "rb") as fh:
        try:
            return _unpack_raw(hdul, name, fh)
        except EngineError:
            raise
        except Exception as exc:  # truncated data, bad headers: say which file
            raise EngineError(f"cannot read FITS file ({exc})", file=name) from exc


def _int16_plane(fh, loc: int, hdr, target: np.ndarray, buf: np.ndarray, name: str) -> bool:
    """Read a 16-bit image (BZERO 0 or 32768, BSCALE 1) from offset `loc` into float32 `target`.

    One ``readinto`` into a reused big-endian buffer and one cast: the values are what the uint16 array
    (astropy's or fitsfile's) cast to float32 gives (integers below 2**24, exact). Returns False
    (caller reads the HDU's data) for any other encoding.
    """
    bzero, bscale = hdr.get("BZERO", 0), hdr.get("BSCALE", 1)
    if hdr.get("BITPIX") != 16 or bscale != 1 or bzero not in (0, 32768) or "BLANK" in hdr:
        return False
    fh.seek(loc)
    if fh.readinto(memoryview(buf).cast("B")) != buf.nbytes:
        raise EngineError("truncated image data", file=name, keyword="NAXIS")
    if bzero:
        np.add(buf, F32(bzero), out=target, dtype=F32)
    else:
        target[...] = buf
    return True


def _unpack_raw(hdul, name: str, fh=None) -> tuple[Exposure, Stack, list[str]]:
    p = hdul[0].header.copy()
    det = str(_need(p, "DETECTOR", name)).strip().upper()
    if det != "IR":
        raise EngineError(f"DETECTOR = {det!r}; WF3IR processes IR data only", file=name, keyword="DETECTOR")
    by_key = {}
    for i, hdu in enumerate(hdul):
        if i == 0:
            continue
        ext = str(hdu.header.get("EXTNAME", "")).strip().upper()
        if ext in IR_EXTNAMES:
            by_key[(ext, int(hdu.header.get("EXTVER", 1)))] = hdu
    extvers = sorted(v for (e, v) in by_key if e == "SCI")
    nsamp = int(_need(p, "NSAMP", name))
    nextend = int(p.get("NEXTEND", 5 * len(extvers)))
    if nsamp < 2 or nextend != 5 * nsamp or len(extvers) != nsamp:
        raise EngineError(
            f"NSAMP = {nsamp}, NEXTEND = {nextend} and {len(extvers)} imsets do not agree", file=name, keyword="NSAMP"
        )
    if extvers != list(range(1, nsamp + 1)):
        raise EngineError("imsets must be EXTVER 1…NSAMP", file=name, keyword="NEXTEND")
    first = by_key[("SCI", 1)].header
    if first.get("NAXIS", 0) != 2:
        raise EngineError("SCI,1 has no data", file=name, keyword="NAXIS")
    ny, nx = int(first["NAXIS2"]), int(first["NAXIS1"])
    buf = np.empty((ny, nx), ">i2")
    N = nsamp
    # SAMP is never changed by WF3IR (CRCORR writes its own): when every read's SAMP is a constant
    # extension, as in raw files, the stack is a read-only broadcast of one value per read (no pixels)
    samp_hdus = [by_key.get(("SAMP", v)) for v in extvers]
    samp_values = None
    if all(h is not None and not h.header.get("NAXIS", 0) for h in samp_hdus):
        if all((int(h.header.get("NPIX2", ny)), int(h.header.get("NPIX1", nx))) == (ny, nx) for h in samp_hdus):
            samp_values = np.array([h.header.get("PIXVALUE", 0) for h in samp_hdus]).astype(np.int16)
    st = Stack(
        sci=np.empty((N, ny, nx), F32),
        err=np.zeros((N, ny, nx), F32),  # raw ERR/DQ are usually constant 0: zero pages, no fill
        dq=np.zeros((N, ny, nx), np.uint16),
        samp=(
            np.empty((N, ny, nx), np.int16)
            if samp_values is None
            else np.broadcast_to(samp_values[:, None, None], (N, ny, nx))
        ),
        time=np.empty((N, ny, nx), F32),
        exptime=np.zeros(N, np.float64),
    )
    exp = Exposure(primary=p, filename=name)
    bunits = []
    for g, v in enumerate(extvers):
        headers = {}
        for ext in IR_EXTNAMES:
            hdu = by_key.get((ext, v))
            if hdu is None:
                raise EngineError(f"imset {v} has no {ext} extension", file=name, keyword="NEXTEND")
            headers[ext] = hdu.header.copy()
            if ext == "SAMP" and samp_values is not None:
                continue  # already the broadcast of its PIXVALUE
            target = getattr(st, ext.lower())[g]
            h = hdu.header
            shape_ok = (h.get("NAXIS"), h.get("NAXIS1"), h.get("NAXIS2")) == (2, nx, ny)
            if shape_ok and fh is not None and target.dtype == F32:
                if _int16_plane(fh, hdu.data_offset, h, target, buf, name):
                    continue
            if hdu.header.get("NAXIS", 0):
                data = hdu.data
                if data.shape != (ny, nx):
                    raise EngineError(
                        f"imset {v}: {ext} shape {data.shape} is not {(ny, nx)}", file=name, keyword="NAXIS"
                    )
                target[...] = data
                del data
                del hdu.data
            else:
                npix = (int(hdu.header.get("NPIX2", ny)), int(hdu.header.get("NPIX1", nx)))
                if npix != (ny, nx):
                    raise EngineError(f"imset {v}: {ext} size {npix} is not {(ny, nx)}", file=name, keyword="NPIX1")
                value = hdu.header.get("PIXVALUE", 0)
                if value != 0 or ext not in ("ERR", "DQ"):
                    target[...] = value
        h = headers["SCI"]
        if "SAMPTIME" not in h:
            raise EngineError(f"imset {v} has no SAMPTIME", file=name, keyword="SAMPTIME")
        t = float(h["SAMPTIME"])
        if t < 0:
            raise EngineError(f"SAMPTIME = {t:g} is not valid (imset {v})", file=name, keyword="SAMPTIME")
        st.exptime[g] = t
        bu = str(h.get("BUNIT", "COUNTS")).strip().upper()
        if not bu.startswith(("COUNTS", "ELECTRONS")):
            raise EngineError(f"unrecognised BUNIT {bu!r}", file=name, keyword="BUNIT")
        bunits.append(bu)
        exp.imsets.append(
            ImSet(
                sci=st.sci[g], err=st.err[g], dq=st.dq[g], headers=headers, extver=v, samp=st.samp[g], time=st.time[g]
            )
        )
    return exp, st, bunits


def _ref_extension(hdul, extname: str, extver: int, file, keyword, dtype=F32):
    try:
        hdu = hdul[extname, extver]
    except KeyError:
        raise EngineError(f"no {extname},{extver} extension", file=file, keyword=keyword) from None
    if hdu.data is None:
        h = hdu.header
        return hdu.header, np.full((int(h.get("NPIX2", 0)), int(h.get("NPIX1", 0))), h.get("PIXVALUE", 0), dtype)
    return hdu.header, _hdu_array(hdu, dtype)


def _hdu_array(hdu, dtype) -> np.ndarray:
    """An image extension's pixels as a native `dtype` array (DQ as uint16, integers wrapping)."""
    data = np.asarray(hdu.data)
    if dtype is np.uint16 and data.dtype.kind not in "iu":
        out = data.astype(np.int64).astype(np.uint16)
    else:
        out = data.astype(dtype)  # integer → uint16 wraps like the int64 route
    del data
    del hdu.data  # drop the HDU's cached copy
    return out


def _offset(sci_hdr, ref_hdr) -> tuple[int, int]:
    """Corner offset of the science array inside a reference array (``GetCorner``)."""
    _, sc = bin_and_corner(sci_hdr)
    _, rc = bin_and_corner(ref_hdr)
    return sc[0] - rc[0], sc[1] - rc[1]


def _cut(arr, off, area: Area, file, keyword):
    y0, x0 = area.y0 + off[1], area.x0 + off[0]
    ny, nx = area.y1 - area.y0, area.x1 - area.x0
    if y0 < 0 or x0 < 0 or y0 + ny > arr.shape[0] or x0 + nx > arr.shape[1]:
        raise EngineError(
            f"reference {arr.shape[1]}x{arr.shape[0]} does not cover the science area", file=file, keyword=keyword
        )
    return arr[y0 : y0 + ny, x0 : x0 + nx]


def _history(primary, name: str, text: str) -> None:
    primary[name] = "COMPLETE"
    primary.add_history(text)


def wf3ir(raw_path, *, outdir, env: Mapping[str, str] | None = None, keep_intermediates: bool = False) -> list[Path]:
    """Calibrate one WFC3/IR exposure; returns the paths written (``_ima``, ``_flt``, new ``.tra``).

    References are named in the raw header (``iref$…``, resolved through `env`). Refuses to
    overwrite ``_ima``/``_flt``; on any error nothing is left behind. WF3IR writes no
    intermediate files, so `keep_intermediates` is accepted for the driver's interface only.
    Bad input raises :class:`EngineError` naming the file and keyword.
    """
    raw_path = Path(raw_path)
    outdir = Path(outdir)
    env = os.environ if env is None else env
    root = raw_path.name[: -len("_raw.fits")] if raw_path.name.endswith("_raw.fits") else raw_path.stem
    ima_path, flt_path = outdir / f"{root}_ima.fits", outdir / f"{root}_flt.fits"
    tra_path = outdir / f"{root}.tra"
    for p in (flt_path, ima_path):
        if p.exists():
            raise EngineError("output file already exists", file=p.name)
    tra_new = not tra_path.exists()
    written: list[Path] = []
    try:
        with trailer.capture("caldp.engines") as lines:
            log.info("WF3IR: %s -> %s", raw_path.name, flt_path.name)
            _calibrate(raw_path, ima_path, flt_path, env, written)
            log.info("End WF3IR %s", root)
        trailer.write_trailer(tra_path, lines, append=True)
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    return written + ([tra_path] if tra_new else [])


def _calibrate(raw_path: Path, ima_path: Path, flt_path: Path, env, written: list[Path]) -> None:
    name = raw_path.name
    clock = _Clock()
    exp, st, bunits = _read_raw(raw_path)
    clock.lap("read raw")
    p = exp.primary
    sw = {k: read_switch(p, k) for k in IR_SWITCHES}

    def do(step):
        return sw[step] is Switch.PERFORM

    N, ny, nx = st.sci.shape
    g1 = exp.imsets[0].sci_hdr
    chip = int(g1.get("CCDCHIP", 1))
    ltv = (float(g1.get("LTV1", 0.0)), float(g1.get("LTV2", 0.0)))
    ccdgain = float(_need(p, "CCDGAIN", name))
    ccd = read_ccdtab(
        reference(p, "CCDTAB", env), detector="IR", ccdamp="ABCD", ccdgain=ccdgain, ccdchip=chip, ccdofst=(0, 0, 0, 0)
    )
    for k, a in enumerate("ABCD"):
        p[f"ATODGN{a}"] = hdr_float(ccd.atodgain[k])
        p[f"READNSE{a}"] = hdr_float(ccd.readnoise[k])
    osc = read_oscntab(reference(p, "OSCNTAB", env), detector="IR", ccdamp="ABCD", ccdchip=chip, nx=nx, ny=ny)
    trimx, trimy = osc.trimx[:2], osc.trimy
    area = Area.from_trim((ny, nx), trimx, trimy)
    sl = area.sl
    sampseq = str(p.get("SAMP_SEQ", "")).strip()
    subtype = str(p.get("SUBTYPE", "")).strip()
    sampzero = float(st.exptime[N - 2]) - 0.020535
    bx = int(ccd.ampx + ltv[0] - trimx[0])  # double expression truncated to int (noiscalc.c)
    by = int(ccd.ampy + ltv[1] - trimy[0])
    amps = passes.Amps(tuple(ccd.atodgain), tuple(ccd.readnoise), bx, by)

    # Reference images that are needed more than once
    nlin = None
    if do("ZSIGCORR") or do("NLINCORR"):
        nlin = _read_nlin(reference(p, "NLINFILE", env), g1, area, (ny, nx))
    dark_info = None
    if do("DARKCORR"):
        dark_info = _dark_info(reference(p, "DARKFILE", env), sampseq, subtype)

    clock.lap("setup+references")
    # DQICORR
    if do("DQICORR"):
        path = reference(p, "BPIXTAB", env)
        with ff.open(path) as h:
            check_reference(h[0].header, filetype="BAD PIXELS", keyword="BPIXTAB", file=path.name, detector="IR")
            rows = select_bpix_rows(h[1].data, ccdamp="ABCD", ccdgain=ccdgain, chip=chip, file=path.name)
        ltm = (float(g1.get("LTM1_1", 1.0)), float(g1.get("LTM2_2", 1.0)))
        mask = apply_bpixtab(np.zeros((ny, nx), np.uint16), rows, ltv=ltv, ltm=ltm)
        st.dq |= mask[None]
        _history(p, "DQICORR", "DQICORR complete ...")
        log.info("DQICORR complete: %d pixels flagged from %s", int(np.count_nonzero(mask)), path.name)
        del mask

    clock.lap("DQICORR")
    zoff_sci = st.sci[N - 1].copy()
    zoff_dq = st.dq[N - 1].copy()
    zoff_time = st.time[N - 1].copy()
    zoff_samptime = float(st.exptime[N - 1])

    zs = None
    if do("ZSIGCORR"):
        zs = passes.zsig((st.sci, st.dq), area, nlin, amps)
        log.info("ZSIGCORR detected %d saturated pixels in 0th read", zs.nsat0)
        log.info("ZSIGCORR detected %d saturated pixels in 1st read", zs.nsat1)
        _history(p, "ZSIGCORR", "ZSIGCORR complete.")
    if nlin is not None:  # the zero-read reference signal is ZSIGCORR's only
        nlin.pop("ZSCI", None)
        nlin.pop("ZERR", None)

    clock.lap("ZSIGCORR")
    if do("BLEVCORR"):

        def _blev(a):  # in place: f32(sci - m), as blevcorr()
            m = blev_level(a, osc.biassecta, osc.biassectb, trimy)
            a -= m
            return m

        levels = parallel_map(_blev, [st.sci[g] for g in range(N - 1, -1, -1)] + [zoff_sci])
        for g, m in zip(range(N - 1, -1, -1), levels, strict=False):
            exp.imsets[g].sci_hdr["MEANBLEV"] = hdr_float(m)
        m = levels[N - 1]
        _history(p, "BLEVCORR", "BLEVCORR complete.")
        log.info("BLEVCORR complete; reference level of the last read %g", float(m))

    clock.lap("BLEVCORR")
    if do("ZOFFCORR"):
        st.sci -= zoff_sci[None]
        st.dq |= zoff_dq[None]
        st.exptime -= zoff_samptime
        st.time -= zoff_time[None]
        _history(p, "ZOFFCORR", "ZOFFCORR complete.")
    del zoff_sci, zoff_dq, zoff_time

    trim_heap()  # the earlier steps' temporaries, before the noise pass writes the whole ERR stack
    clock.lap("ZOFFCORR")
    # the dark imsets are read (headers parsed in Python) while the noise/NLINCORR kernels run
    dark_plan = dark_future = None
    if do("DARKCORR"):
        dark_plan = _dark_plan(dark_info, st.exptime, sampseq)
        dark_future = _BACKGROUND.submit(_load_darks, dark_info, dark_plan, ny, nx)
    # Noise (each read whose science-area ERR is still all zero) and NLINCORR in one sweep per band
    todo = []
    for g in range(N - 1, -1, -1):
        if np.any(st.err[g][sl] != 0):
            log.info("NOISCORR skipped: ERR already set")
            break
        todo.append(g)
    nl = None
    if do("NLINCORR"):
        nl = passes.Nlin(nlin["COEF"], nlin["NODE"], nlin["DQ"])
        if zs is not None:
            nl.zs, nl.zsdq = zs.sci, zs.dq
    nsat = _row_bands(
        ny, lambda r0, r1, ns: passes.noise_nlin((st.sci, st.err, st.dq), area, r0, r1, todo, amps, nl, ns), N
    )
    log.info("Uncertainty array initialized.")
    if nl is not None:
        for g in range(N - 1, -1, -1):
            log.info("NLINCORR detected %d saturated pixels in imset %d", int(nsat[g]), g + 1)
        _history(p, "NLINCORR", "NLINCORR complete ...")
    nlin = nl = zs = None  # NLINFILE arrays and the zero-read signal: used up

    trim_heap()  # the NLINFILE arrays' pages, before the dark frames come
    clock.lap("noise+NLINCORR")
    # DARKCORR and UNITCORR, one read at a time (PHOTCORR in between touches headers only)
    rate = [b.endswith("/S") for b in bunits]
    unit_do = do("UNITCORR") and not rate[N - 1]
    if do("DARKCORR"):
        _apply_dark(dark_plan, dark_future.result(), st, exp, area, sampzero if unit_do else None)
        dark_future = None  # the future held every dark imset until the products were written
        _history(p, "DARKCORR", "DARKCORR complete ...")
    elif unit_do:
        parallel_map(lambda g: _unit_read(st, area, g, None, sampzero), range(N - 1, -1, -1))

    trim_heap()  # the dark frames' pages, before the next step's
    clock.lap("DARKCORR+UNITCORR")
    filt = str(p.get("FILTER", "")).strip()
    mode = photcorr.photmode(filt, float(_need(p, "EXPSTART", name)))
    p["PHOTMODE"] = mode
    if do("PHOTCORR"):
        vals = photcorr.phot_values(reference(p, "IMPHTTAB", env), mode)
        for key in ("PHOTFLAM", "PHOTZPT", "PHOTPLAM", "PHOTBW", "PHOTFNU"):
            p[key] = hdr_float(vals.get(key, 0.0))
        _history(p, "PHOTCORR", "PHOTCORR complete ...")

    clock.lap("PHOTCORR")
    if do("UNITCORR"):
        if not unit_do:
            log.warning("Data already in units of countrates; UNITCORR will be skipped")
        else:
            for g in range(N - 1, -1, -1):
                rate[g] = True
                exp.imsets[g].headers["SCI"]["BUNIT"] = "COUNTS/S"
                exp.imsets[g].headers["ERR"]["BUNIT"] = "COUNTS/S"
            _history(p, "UNITCORR", "UNITCORR complete.")

    # CRCORR
    cr = None
    if do("CRCORR"):
        cr = _crcorr(
            st,
            exp,
            area,
            p,
            env,
            ccd,
            rate,
            zsig_done=sw["ZSIGCORR"] in (Switch.PERFORM, Switch.COMPLETE),
            sampzero=sampzero,
        )
        _history(p, "CRCORR", "CRCORR complete.")

    trim_heap()  # the ramp fit's work arrays, before the next step's
    clock.lap("CRCORR")
    if do("FLATCORR"):
        f, fe, fdq = _read_flat(p, env, g1, area, filt)
        targets = [(st.sci[g], st.err[g], st.dq[g]) for g in range(N - 1, -1, -1)]
        if cr is not None:
            targets.append((cr.sci, cr.err, cr.dq))

        def _flat(target):
            passes.flat_gain(*target, area, (f, fe, fdq), ccd.mean_gain)

        parallel_map(_flat, targets)
        f = fe = fdq = targets = None  # the flat field, used up
        unit = "ELECTRONS/S" if sw["UNITCORR"] in (Switch.PERFORM, Switch.COMPLETE) else "ELECTRONS"
        for im in exp.imsets + ([cr] if cr is not None else []):
            im.headers["SCI"]["BUNIT"] = unit
            im.headers["ERR"]["BUNIT"] = unit
        _history(p, "FLATCORR", "FLATCORR complete ...")

    trim_heap()  # the flat field's pages, before the next step's
    clock.lap("FLATCORR")
    sdq = int(g1.get("SDQFLAGS", 65535))
    for g, im in enumerate(exp.imsets):
        im.sci, im.err, im.dq, im.samp, im.time = st.sci[g], st.err[g], st.dq[g], st.samp[g], st.time[g]
    parallel_map(lambda im: _stats(im, sl, sdq), exp.imsets + ([cr] if cr is not None else []))

    p["CAL_VER"] = (cal_ver(), "CALWF3 code version")
    clock.lap("statistics")
    trim_heap()  # the ramp fit's and the statistics' temporaries, before the products are written
    written.append(write_exposure(exp, ima_path))
    log.info("Writing calibrated readouts to %s", ima_path.name)
    src = cr if cr is not None else exp.imsets[0]
    # the reads are written: with `st` and every view of it gone, the stacks are freed before the _flt is cut
    exp.imsets = []
    st = im = None
    flt_im = section(src, area.x0, area.y0, area.x1 - area.x0, area.y1 - area.y0)
    flt_im.extver = 1
    written.append(write_exposure(Exposure(primary=p.copy(), imsets=[flt_im]), flt_path))
    log.info("Writing final image to %s with trimx = %d,%d, trimy = %d,%d", flt_path.name, *trimx, *trimy)
    clock.lap("write products")


def _stats(im: ImSet, sl, sdq: int) -> None:
    s = ir_statistics(im.sci[sl], im.err[sl], im.dq[sl], sdq)
    for ext in ("SCI", "ERR"):
        for k, v in s[ext].items():
            im.headers[ext][k] = v if k == "NGOODPIX" else hdr_float(v)


def _read_nlin(path: Path, sci_hdr, area: Area, shape) -> dict:
    with ff.open(path) as h:
        check_reference(
            h[0].header, filetype="LINEARITY COEFFICIENTS", keyword="NLINFILE", file=path.name, detector="IR"
        )
        try:
            ncoef = int(h[0].header["NCOEF"])
            int(h[0].header["NERR"])
        except KeyError as exc:
            raise EngineError("required keyword is missing", file=path.name, keyword=str(exc.args[0])) from None
        chdr, c0 = _ref_extension(h, "COEF", 1, path.name, "NLINFILE")
        off = _offset(sci_hdr, chdr)
        c0 = _cut(c0, off, area, path.name, "NLINFILE")
        # (ncoef, ay, ax): each coefficient is cut straight into the stack NLINCORR takes (no second copy)
        out = {"COEF": np.empty((max(ncoef, 1), *c0.shape), F32)}
        out["COEF"][0] = c0
        del c0
        for k in range(2, ncoef + 1):
            ck = _ref_extension(h, "COEF", k, path.name, "NLINFILE")[1]
            out["COEF"][k - 1] = _cut(ck, off, area, path.name, "NLINFILE")
        for ext, dt in (("DQ", np.uint16), ("NODE", F32), ("ZSCI", F32), ("ZERR", F32)):
            arr = _ref_extension(h, ext, 1, path.name, "NLINFILE", dt)[1]
            out[ext] = _cut(arr, off, area, path.name, "NLINFILE").copy()
    return out


@dataclass(slots=True)
class _DarkInfo:
    path: Path
    dtimes: list[float]


def _dark_info(path: Path, sampseq: str, subtype: str) -> _DarkInfo:
    with ff.open(path) as h:
        ph = h[0].header
        check_reference(ph, filetype="DARK", keyword="DARKFILE", file=path.name, detector="IR")
        for key, sci in (("SAMP_SEQ", sampseq), ("SUBTYPE", subtype)):
            if key not in ph:
                raise EngineError("required keyword is missing", file=path.name, keyword=key)
            val = str(ph[key]).strip()
            if not sci.startswith(val):
                raise EngineError(f"{key}={val!r} does not match science data ({sci!r})", file=path.name, keyword=key)
        try:
            n = int(ph["NUMEXPOS"])
            times = [float(ph[f"EXPOS_{k}"]) for k in range(1, n + 1)]
        except KeyError as exc:
            raise EngineError("required keyword is missing", file=path.name, keyword=str(exc.args[0])) from None
    return _DarkInfo(path, times)


def _row_bands(ny: int, fn, N: int, bands: int = 8) -> np.ndarray:
    """``fn(r0, r1, counts)`` over `bands` bands of image rows on the threads; returns the summed counts (N,)."""
    edges = np.linspace(0, ny, bands + 1).astype(int)
    counts = [np.zeros(N, np.int64) for _ in range(bands)]
    parallel_map(lambda b: fn(int(edges[b]), int(edges[b + 1]), counts[b]), range(bands))
    return np.sum(counts, axis=0)


def _unit_read(st: Stack, area: Area, g: int, dark, sampzero) -> None:
    """DARKCORR (`dark` or None) and, when `sampzero` is given, UNITCORR of read `g`."""
    N = st.sci.shape[0]
    unit = 0 if sampzero is None else (1 if g == N - 1 else 2)
    passes.dark_unit(st.sci[g], st.err[g], st.dq[g], st.time[g], area, dark, unit, sampzero or 0.0)


def _dark_plan(info: _DarkInfo, exptime, sampseq: str) -> list[tuple]:
    """Dark imsets per read, zeroth read first: ``(g, kind, frame1, frame2, t1, t2, t)`` (``select_dark``)."""
    plan = []
    for g in range(len(exptime) - 1, -1, -1):
        t = float(exptime[g])
        kind, f1, f2, t1, t2 = darkcorr.select_dark(info.dtimes, t, sampseq)
        if kind == "NONE":
            raise EngineError(
                f"no dark imset with time {t:g} for imset {g + 1}", file=info.path.name, keyword="SAMP_SEQ"
            )
        plan.append((g, kind, f1, f2, t1, t2, t))
    return plan


_DISK_TYPES = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


class _Darks:
    """The dark imsets a plan uses, read one frame at a time when a read needs it (``get``).

    :func:`_load_darks` (on the background thread) parses the headers and checks every extension;
    the pixels stay in the file until :meth:`get`, which reads them with ``os.pread`` (safe from
    several threads) and drops them with the caller — so the 2·NSAMP dark arrays are never all in
    memory next to the science stack. Values are astropy's: big-endian pixels cast to native.
    """

    def __init__(self, path: Path):
        self.path = path
        self._where: dict[tuple[int, str], tuple] = {}  # (frame, ext) -> ("const", array) | ("file", ...)

    def get(self, frame: int) -> tuple:
        out = []
        with open(self.path, "rb") as fh:
            for ext, dt in (("SCI", F32), ("ERR", F32), ("DQ", np.uint16)):
                where = self._where[(frame, ext)]
                if where[0] == "const":
                    out.append(where[1])
                    continue
                _, offset, shape, disk = where
                size = int(np.prod(shape)) * np.dtype(disk).itemsize
                buf = os.pread(fh.fileno(), size, offset)
                if len(buf) != size:
                    raise EngineError("truncated dark image data", file=self.path.name, keyword="DARKFILE")
                out.append(np.frombuffer(buf, disk).reshape(shape).astype(dt))  # integer → uint16 wraps
        return tuple(out)


def _load_darks(info: _DarkInfo, plan, ny: int, nx: int) -> _Darks:
    """Where the dark imsets the plan uses lie in the DARKFILE (headers checked; pixels read by
    :meth:`_Darks.get`). A constant extension is a read-only broadcast view; an encoding other than
    plain big-endian pixels (BZERO, BSCALE, BLANK) is read through fitsfile here."""
    name = info.path.name
    frames = sorted({f for _, _, f1, f2, *_ in plan for f in (f1, f2) if f})
    out = _Darks(info.path)
    with ff.open(info.path) as h:
        index = {}  # one pass, not 42 look-ups
        for i, hdu in enumerate(h[1:], start=1):
            index[(str(hdu.name).strip().upper(), int(hdu.ver))] = (i, hdu)
        for k in frames:
            for ext, dt in (("SCI", F32), ("ERR", F32), ("DQ", np.uint16)):
                i, hdu = index.get((ext, k), (None, None))
                if hdu is None:
                    raise EngineError(f"no {ext},{k} extension", file=name, keyword="DARKFILE")
                hd = hdu.header
                if hd.get("NAXIS", 0) == 0:  # constant extension: a read-only broadcast view
                    shape = (int(hd.get("NPIX2", 0)), int(hd.get("NPIX1", 0)))
                    where = ("const", np.broadcast_to(np.asarray(hd.get("PIXVALUE", 0), dt), shape))
                elif (
                    hd.get("NAXIS") == 2
                    and hd.get("BITPIX") in _DISK_TYPES
                    and not any(key in hd for key in ("BZERO", "BSCALE", "BLANK"))
                ):
                    shape = (int(hd["NAXIS2"]), int(hd["NAXIS1"]))
                    where = ("file", hdu.data_offset, shape, _DISK_TYPES[hd["BITPIX"]])
                else:
                    a = _hdu_array(hdu, dt)
                    shape, where = a.shape, ("const", a)
                if shape[0] < ny or shape[1] < nx:
                    msg = f"dark {shape[1]}x{shape[0]} is smaller than the science data"
                    raise EngineError(msg, file=name, keyword="DARKFILE")
                # HSTCAL indexes the dark with the science pixel numbers (asub_noref): used in place
                out._where[(k, ext)] = where
    return out


def _apply_dark(plan, darks: _Darks, st: Stack, exp: Exposure, area: Area, sampzero) -> None:
    """DARKCORR (and UNITCORR when `sampzero` is given) of every read with the planned dark imsets."""

    def _sub(item):
        g, kind, f1, f2, t1, t2, t = item
        if kind == "MATCH":
            d = darks.get(f1)
        elif kind == "INTERP":
            d = darkcorr.interp(darks.get(f1), darks.get(f2), t1, t2, t)
        else:
            d = darkcorr.extrap(darks.get(f1 or f2), t1 if f1 else t2, t)
        _unit_read(st, area, g, d, sampzero)
        exp.imsets[g].sci_hdr["MEANDARK"] = hdr_float(passes.meandark(d[0], d[2], area))

    for g, kind, f1, f2, _, _, t in plan:
        if kind == "MATCH":
            log.info("DARKCORR using dark imset %2d for imset %2d with exptime=%8.6g", f1, g + 1, t)
        elif kind == "INTERP":
            log.warning(
                "DARKCORR using dark imsets %d and %d for imset %d, interpolated to exptime=%g", f1, f2, g + 1, t
            )
        else:
            log.warning("DARKCORR using dark imset %d for imset %d, extrapolated to exptime=%g", f1 or f2, g + 1, t)
    parallel_map(_sub, plan)


def _read_flat(p, env, sci_hdr, area: Area, filt: str):
    out = None
    paths = {key: reference(p, key, env, required=False) for key in ("PFLTFILE", "DFLTFILE", "LFLTFILE")}
    if not any(paths.values()):
        raise EngineError("PFLTFILE, DFLTFILE and LFLTFILE are all N/A", keyword="PFLTFILE")
    for key, ftype in (("PFLTFILE", "PIXEL-TO-PIXEL FLAT"), ("DFLTFILE", "DELTA FLAT")):
        path = paths[key]
        if path is None:
            continue
        with ff.open(path) as h:
            check_reference(h[0].header, filetype=ftype, keyword=key, file=path.name, detector="IR", filter=filt)
            hdr, s = _ref_extension(h, "SCI", 1, path.name, key)
            off = _offset(sci_hdr, hdr)
            s = _cut(s, off, area, path.name, key).copy()
            e = _cut(_ref_extension(h, "ERR", 1, path.name, key)[1], off, area, path.name, key).copy()
            d = _cut(_ref_extension(h, "DQ", 1, path.name, key, np.uint16)[1], off, area, path.name, key).copy()
        if out is None:
            out = (s, e, d)
        else:  # amul: product of flats, errors combined
            s0, e0, d0 = out
            prod = (s0 * s).astype(F32)
            t1 = ((e0 * s).astype(F32)) ** 2
            t2 = ((e * s0).astype(F32)) ** 2
            out = (prod, np.sqrt((t1 + t2).astype(F32).astype(np.float64)).astype(F32), d0 | d)
    if paths["LFLTFILE"] is not None:
        raise EngineError("large-scale flats are not supported by the builtin IR engine", keyword="LFLTFILE")
    return out


def _crcorr(
    st: Stack, exp: Exposure, area: Area, p, env, ccd, rate, *, zsig_done: bool, sampzero: float, threads=None
) -> ImSet:
    N = st.sci.shape[0]
    pars_tab = read_crrejtab(reference(p, "CRREJTAB", env), nimages=N, exptot=F32(st.exptime[0]), irramp=True)
    pars = crcorr.RampPars(
        thresh=F32(pars_tab.sigmas[0]),
        dqignore=int(pars_tab.badinpdq) & 0xFFFF,
        gain=F32(ccd.mean_gain),
        rate_units=rate[0],
        counts_out=not rate[0],
    )
    log.info("CRIDCALC using %g sigma rejection threshold", float(pars.thresh))
    log.info("               %d bad DQ mask", pars.dqignore)
    log.info("               %d max CRs for UNSTABLE", crcorr.MAX_CRS)
    g0 = exp.imsets[0]
    out = ImSet(
        sci=st.sci[0].copy(),
        err=st.err[0].copy(),
        dq=st.dq[0].copy(),
        headers={k: h.copy() for k, h in g0.headers.items()},
        extver=1,
        samp=st.samp[0].copy(),
        time=st.time[0].copy(),
    )
    ay, ax = area.y1 - area.y0, area.x1 - area.x0
    npix = ay * ax
    wtab = crcorr.weight_table(N)
    rows_per = max(1, crcorr.CHUNK // ax)
    stack = (st.sci, st.err, st.time, st.dq)
    outs = (out.sci, out.err, out.dq, out.samp, out.time)

    def chunk(r0: int) -> int:
        r1 = min(ay, r0 + rows_per)
        return crcorr.fit_rows(stack, outs, area, r0, r1, pars, wtab, zsig_done=zsig_done, sampzero=sampzero)

    starts = list(range(0, ay, rows_per))
    ncurved = sum(parallel_map(chunk, starts, max_workers=threads))
    if ncurved:
        log.info("%d pixels detected as unstable", ncurved)
    log.info("CRCORR complete: %d pixels fitted", npix)
    unit = "COUNTS/S" if rate[0] else "COUNTS"
    out.headers["SCI"]["BUNIT"] = unit
    out.headers["ERR"]["BUNIT"] = unit
    return out
