"""Reference images for one chip: selection and geometry (HSTCAL ``lib/detchip.c``, ``lib/findbin.c``,
``lib/getcorner.c``, ``lib/fromlt.c``; the same in ``pkg/acs`` and ``pkg/wfc3``).

- The imset of a reference image is the first SCI extension whose ``CCDCHIP`` (default 1) equals the
  science chip (``DetCCDChip``); SNKCFILE is read by EXTVER instead.
- Geometry: ``bin = NINT(1/LTMi_i)``, ``corner = NINT((bin − 1) − bin·LTVi)``. Reference and science
  are "the same size" when corners, bins and NAXIS1 agree; otherwise the science array is a
  subarray of the reference starting at ``(sci_corner − ref_corner) / ref_bin``.

Each reference file is opened once per run through :class:`RefFiles`, which keeps the open HDU
lists (headers) and reads an extension's pixels only when a chip needs them; the pixels are
converted to native float32/uint16 and the file's own copy is dropped at once, so a reference
costs memory only while a step holds its arrays. :class:`RefFiles` may be shared by threads.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import fitsfile as ff
from .errors import EngineError

log = logging.getLogger(__name__)

_DTYPES = {"SCI": np.float32, "ERR": np.float32, "DQ": np.uint16}


def nint(x: float) -> int:
    """HSTCAL's NINT: round half away from zero.

    >>> nint(2.5), nint(-2.5), nint(-0.4)
    (3, -3, 0)
    """
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def bin_and_corner(hdr) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(bin, corner)`` of an extension from LTM/LTV (``GetCorner``), x first.

    >>> bin_and_corner({"LTV1": 25.0, "LTV2": 0.0})
    ((1, 1), (-25, 0))
    """
    ltm = (float(hdr.get("LTM1_1", 1.0)), float(hdr.get("LTM2_2", 1.0)))
    ltv = (float(hdr.get("LTV1", 0.0)), float(hdr.get("LTV2", 0.0)))
    if ltm[0] <= 0 or ltm[1] <= 0:
        raise EngineError(f"(LTM1_1, LTM2_2) = ({ltm[0]:.8g}, {ltm[1]:.8g}) is invalid")
    dbin = (1.0 / ltm[0], 1.0 / ltm[1])
    corner = tuple(nint((dbin[k] - 1.0) - dbin[k] * ltv[k]) for k in range(2))
    return (nint(dbin[0]), nint(dbin[1])), corner


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a science array lies in a reference array (``FindLine``)."""

    same_size: bool
    rx: int
    ry: int
    x0: int
    y0: int


def find_line(sci_hdr, sci_nx: int, ref_hdr, ref_nx: int, *, file=None, keyword=None) -> Placement:
    """Relative placement of science and reference arrays (``lib/findbin.c: FindLine``).

    >>> find_line({"LTV1": -1000.0, "LTV2": -20.0}, 512, {"LTV1": 25.0}, 4206)
    Placement(same_size=False, rx=1, ry=1, x0=1025, y0=20)
    """
    sbin, scorner = bin_and_corner(sci_hdr)
    rbin, rcorner = bin_and_corner(ref_hdr)
    if scorner == rcorner and sbin == rbin and sci_nx == ref_nx:
        return Placement(True, 1, 1, 0, 0)
    if rbin[0] < sbin[0] or rbin[1] < sbin[1]:
        log.warning("Science image binned more than reference image")
        return Placement(False, sbin[0] // rbin[0], sbin[1] // rbin[1], 0, 0)
    if rbin[0] > sbin[0] or rbin[1] > sbin[1]:
        log.warning("Reference image binned more than science image")
        return Placement(
            False,
            rbin[0] // sbin[0],
            rbin[1] // sbin[1],
            int((scorner[0] - rcorner[0]) / rbin[0]),
            int((scorner[1] - rcorner[1]) / rbin[1]),
        )
    rx, ry = sbin[0] // rbin[0], sbin[1] // rbin[1]
    if rx * rbin[0] != sbin[0] or ry * rbin[1] != sbin[1]:
        raise EngineError("reference and science bin sizes are incompatible", file=file, keyword=keyword)
    cx, cy = scorner[0] - rcorner[0], scorner[1] - rcorner[1]
    x0, y0 = int(cx / rbin[0]), int(cy / rbin[1])
    return Placement(False, rx, ry, x0, y0)


@dataclass(slots=True)
class RefChip:
    """One imset of a reference image (arrays may be None if the caller did not ask for them)."""

    primary: ff.Header
    sci_hdr: ff.Header
    extver: int
    sci: np.ndarray | None
    err: np.ndarray | None
    dq: np.ndarray | None

    @property
    def nx(self) -> int:
        return int(self.sci_hdr.get("NAXIS1") or self.sci_hdr.get("NPIX1") or 0)


def _pixels(hdu, extname: str, shape, constant_view: bool = False) -> np.ndarray:
    """Native pixels of an extension; a null extension (NAXIS = 0) becomes PIXVALUE everywhere — as
    a read-only broadcast view of one value when `constant_view` (no memory, no pass over it)."""
    dtype = _DTYPES[extname]
    if hdu.header.get("NAXIS", 0):
        data = np.asarray(hdu.data)
        del hdu.data  # drop the HDU's cached copy; read again from the file if asked again
        return _native(data, dtype)
    hdr = hdu.header
    if "NPIX1" in hdr and "NPIX2" in hdr:
        shape = (int(hdr["NPIX2"]), int(hdr["NPIX1"]))
    value = hdr.get("PIXVALUE", 0)
    if constant_view:
        return np.broadcast_to(np.full((), value, dtype=dtype), shape)
    if value == 0:  # np.zeros maps zero pages lazily: no pass over memory for the usual null ERR/DQ
        return np.zeros(shape, dtype=dtype)
    return np.full(shape, value, dtype=dtype)


def _native(data: np.ndarray, dtype) -> np.ndarray:
    """`data` as native-order `dtype` (integers wrap modulo 2¹⁶ for DQ, as a C cast to short).

    The array read from the file is byte-swapped in place when possible (no second copy).

    >>> _native(np.array([-1, 3], ">i2"), np.uint16).tolist(), _native(np.array([1.5], ">f4"), np.float32).dtype.str
    ([65535, 3], '<f4')
    """
    dtype = np.dtype(dtype)
    same_size = data.dtype.itemsize == dtype.itemsize and data.dtype.kind in ("f" if dtype.kind == "f" else "iu")
    if same_size and data.flags.writeable and data.flags.c_contiguous:
        if not data.dtype.isnative:
            data.byteswap(inplace=True)
            data = data.view(data.dtype.newbyteorder("="))
        return data.view(dtype)
    return data.astype(dtype)


class RefFiles:
    """Open reference files once per run; hand out chips of them.

    Use as a context manager; every file opened through it is closed on exit.
    """

    def __init__(self):
        self._open: dict[Path, ff.FitsFile] = {}
        self._kept: dict[tuple, RefChip] = {}
        self._lock = threading.RLock()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        with self._lock:
            self._kept.clear()
            for hdul in self._open.values():
                hdul.close()
            self._open.clear()

    def release(self) -> None:
        """Drop the pixels kept by ``chip(..., keep=True)`` (the files stay open)."""
        with self._lock:
            self._kept.clear()

    def hdulist(self, path: Path, *, keyword: str | None = None) -> ff.FitsFile:
        path = Path(path)
        with self._lock:
            hdul = self._open.get(path)
            if hdul is None:
                try:
                    hdul = ff.open(path, uint=True)
                except (OSError, ValueError, TypeError) as exc:
                    raise EngineError(f"cannot read reference file ({exc})", file=path.name, keyword=keyword) from exc
                self._open[path] = hdul
            return hdul

    def primary(self, path: Path, *, keyword: str | None = None) -> ff.Header:
        with self._lock:
            return self.hdulist(path, keyword=keyword)[0].header

    def _sci_extensions(self, hdul) -> list[tuple[int, ff.HDU]]:
        out = []
        for hdu in hdul[1:]:
            if str(hdu.header.get("EXTNAME", "")).strip().upper() == "SCI":
                out.append((int(hdu.header.get("EXTVER", 1)), hdu))
        return sorted(out, key=lambda t: t[0])

    def chip(
        self,
        path: Path,
        chip: int | None = None,
        *,
        extver: int | None = None,
        keyword: str,
        arrays=("SCI", "ERR", "DQ"),
        group_size: int = 3,
        constant_views: bool = False,
        keep: bool = False,
    ) -> RefChip:
        """The imset whose CCDCHIP equals `chip` (first match among the first NEXTEND/`group_size`
        imsets, as HSTCAL's DetCCDChip), or the one with EXTVER `extver`.

        `constant_views`: null extensions come back as read-only broadcast views (strides 0) instead
        of filled arrays, for callers that only read them. `keep`: the chip's pixels stay in memory
        (read-only) for the next call with the same arguments, until :meth:`release` — for a
        reference used by every exposure of an association.
        """
        with self._lock:
            key = (Path(path), chip, extver, keyword, tuple(arrays), group_size, constant_views)
            if keep and key in self._kept:
                return self._kept[key]
            ref = self._chip(
                path,
                chip,
                extver=extver,
                keyword=keyword,
                arrays=arrays,
                group_size=group_size,
                constant_views=constant_views,
            )
            if keep:
                for a in (ref.sci, ref.err, ref.dq):
                    if a is not None and a.flags.writeable:
                        a.flags.writeable = False
                self._kept[key] = ref
            return ref

    def _chip(self, path, chip, *, extver, keyword, arrays, group_size, constant_views=False) -> RefChip:
        path = Path(path)
        hdul = self.hdulist(path, keyword=keyword)
        scis = self._sci_extensions(hdul)
        if extver is None:
            # DetCCDChip only looks at the first NEXTEND/3 imsets (NEXTEND defaults to 3).
            ngroups = int(hdul[0].header.get("NEXTEND", group_size)) // group_size
            scis = [(v, h) for v, h in scis if v <= ngroups]
        chosen = None
        for ver, hdu in scis:
            if extver is not None:
                if ver == extver:
                    chosen = (ver, hdu)
                    break
            elif int(hdu.header.get("CCDCHIP", 1)) == chip:
                chosen = (ver, hdu)
                break
        if chosen is None:
            what = f"EXTVER {extver}" if extver is not None else f"chip {chip}"
            raise EngineError(f"no reference data found for {what}", file=path.name, keyword=keyword)
        ver, sci_hdu = chosen
        out = {}
        try:
            sci = _pixels(sci_hdu, "SCI", None, constant_views) if "SCI" in arrays else None
            shape = (
                sci.shape
                if sci is not None
                else (int(sci_hdu.header.get("NAXIS2", 0)), int(sci_hdu.header.get("NAXIS1", 0)))
            )
            for name in ("ERR", "DQ"):
                if name not in arrays:
                    out[name] = None
                    continue
                try:
                    hdu = hdul[name, ver]
                except KeyError:
                    raise EngineError(f"imset {ver} has no {name} extension", file=path.name, keyword=keyword) from None
                out[name] = _pixels(hdu, name, shape, constant_views)
        except EngineError:
            raise
        except Exception as exc:  # truncated or malformed data
            raise EngineError(f"cannot read reference data ({exc})", file=path.name, keyword=keyword) from exc
        return RefChip(
            primary=hdul[0].header, sci_hdr=sci_hdu.header, extver=ver, sci=sci, err=out["ERR"], dq=out["DQ"]
        )


def cut_to_science(
    ref: RefChip, sci_hdr, shape: tuple[int, int], *, file=None, keyword=None, extra_x: int = 0
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """The part of `ref` that lies under a science array of `shape` (same binning required).

    `extra_x` is added to the x offset of a subarray (the BIASFILE's 60 virtual columns, §U6).
    Raises EngineError if the science array is not inside the reference or binning differs.
    """
    ny, nx = shape
    ref_nx = ref.sci.shape[1] if ref.sci is not None else ref.nx
    p = find_line(sci_hdr, nx, ref.sci_hdr, ref_nx, file=file, keyword=keyword)
    if p.rx != 1 or p.ry != 1:
        raise EngineError("reference image and input are not binned to the same pixel size", file=file, keyword=keyword)
    if p.same_size:
        x0 = y0 = 0
    else:
        x0, y0 = p.x0 + extra_x, p.y0
    arrays = []
    for a in (ref.sci, ref.err, ref.dq):
        if a is None:
            arrays.append(None)
            continue
        if x0 < 0 or y0 < 0 or y0 + ny > a.shape[0] or x0 + nx > a.shape[1]:
            raise EngineError(
                f"reference image {a.shape[1]}x{a.shape[0]} does not cover the science array {nx}x{ny} at ({x0},{y0})",
                file=file,
                keyword=keyword,
            )
        arrays.append(a[y0 : y0 + ny, x0 : x0 + nx])
    return tuple(arrays)
