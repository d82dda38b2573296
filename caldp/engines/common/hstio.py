"""HSTIO-style image sets, read once and written atomically.

An *imset* is the SCI, ERR, DQ (CCD) or SCI, ERR, DQ, SAMP, TIME (WFC3/IR) extensions
sharing one EXTVER. HSTIO stores an extension whose pixels are all equal as a constant
("null") extension: NAXIS=0 with NPIX1, NPIX2 and PIXVALUE; raw ERR and DQ are stored that
way, and products too whenever an ERR/DQ/SAMP/TIME array is constant. PIXVALUE holds the
value as HSTIO writes a float keyword, ``%#14.7E`` (8 significant digits; hstio.h
``floatFormat``) — calib-wfc3.md §1.2 says 7, which reads back the same for most values but
not all.

In memory: SCI and ERR are float32, DQ is uint16 (bit 32768 usable; int16 on disk),
SAMP int16, TIME float32. Raw SCI (int16 + BZERO 32768) becomes float32 on read.

Files are read and written with :mod:`caldp.engines.common.fitsfile` (no astropy: the drop-ins
start faster); headers are its :class:`~caldp.engines.common.fitsfile.Header`, which reads,
formats and places cards as astropy does. :func:`write_atomic` also takes an astropy ``HDUList``
(written by astropy) for callers that still build one.
"""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import fitsfile as ff
from .errors import EngineError
from .heap import trim_heap

CCD_EXTNAMES = ("SCI", "ERR", "DQ")
IR_EXTNAMES = ("SCI", "ERR", "DQ", "SAMP", "TIME")
_DTYPES = {"SCI": np.float32, "ERR": np.float32, "DQ": np.uint16, "SAMP": np.int16, "TIME": np.float32}
_DISK_DTYPES = {"SCI": np.float32, "ERR": np.float32, "DQ": np.int16, "SAMP": np.int16, "TIME": np.float32}
#: Keywords that describe a stored array, never copied between extensions by hand.
_STRUCTURAL = ("SIMPLE", "XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "PCOUNT", "GCOUNT",
               "BZERO", "BSCALE", "NPIX1", "NPIX2", "PIXVALUE", "EXTEND")


@dataclass(slots=True)
class ImSet:
    """One image set. Arrays are ``[row, col]``; headers are the extension headers."""

    sci: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    headers: dict[str, ff.Header]
    extver: int = 1
    samp: np.ndarray | None = None
    time: np.ndarray | None = None

    @property
    def sci_hdr(self) -> ff.Header:
        return self.headers["SCI"]

    @property
    def shape(self) -> tuple[int, int]:
        return self.sci.shape

    def array(self, extname: str) -> np.ndarray | None:
        return getattr(self, extname.lower())

    def set_all(self, keyword: str, value, comment: str | None = None) -> None:
        """Set a keyword in every extension header of this imset (e.g. BUNIT on SCI and ERR)."""
        for hdr in self.headers.values():
            hdr[keyword] = (value, comment) if comment else value


@dataclass(slots=True)
class Exposure:
    """A primary header plus its imsets, in file order."""

    primary: ff.Header
    imsets: list[ImSet] = field(default_factory=list)
    filename: str = ""

    @property
    def nimsets(self) -> int:
        return len(self.imsets)


class _Unsigned(np.ndarray):
    """A raw image's unsigned 16-bit pixels as stored (big-endian int16; value = stored + 32768),
    kept in half the memory of float32 until :func:`expand_raw` converts them."""


def _compact_ok(hdul) -> bool:
    """True if every pixel array of `hdul` is unscaled, except SCI arrays stored as unsigned 16-bit
    (int16 with BZERO = 32768, BSCALE = 1), the raw layout :func:`read_exposure` can keep compact."""
    for hdu in hdul[1:]:
        h = hdu.header
        if int(h.get("NAXIS", 0)) == 0:
            continue
        scaled = "BZERO" in h or "BSCALE" in h
        if str(h.get("EXTNAME", "")).strip().upper() == "SCI":
            if scaled and not (h.get("BITPIX") == 16 and h.get("BZERO") == 32768 and h.get("BSCALE", 1) == 1):
                return False
        elif scaled:
            return False
    return True


def expand_raw(exposure: Exposure, mapper=map) -> Exposure:
    """Convert the compact SCI arrays of a ``read_exposure(..., compact=True)`` result to float32
    (the values astropy's scaled read gives: stored + 32768, exact), in place; `mapper` may run the
    imsets on threads."""

    def one(im: ImSet) -> None:
        if isinstance(im.sci, _Unsigned):
            raw = im.sci.view(np.ndarray)
            im.sci = None
            im.sci = np.add(raw, np.float32(32768), dtype=np.float32)

    list(mapper(one, exposure.imsets))
    return exposure


def _expand(hdu, extname: str, shape: tuple[int, int] | None, path, compact: bool = False) -> np.ndarray:
    """Pixel array of an extension, expanding a constant (null) extension."""
    dtype = _DTYPES[extname]
    if hdu.data is not None:
        if compact and extname == "SCI" and hdu.header.get("BZERO") == 32768:
            return np.asarray(hdu.data).view(_Unsigned)
        return np.asarray(hdu.data).astype(dtype, copy=False)
    hdr = hdu.header
    if "NPIX1" in hdr and "NPIX2" in hdr:
        ny, nx = int(hdr["NPIX2"]), int(hdr["NPIX1"])
    elif shape is not None:
        ny, nx = shape
    else:
        raise EngineError(f"{extname} extension has no data and no NPIX1/NPIX2", file=path)
    value = hdr.get("PIXVALUE", 0)
    if value == 0:  # the usual raw ERR/DQ: zero pages from the allocator, no fill pass
        return np.zeros((ny, nx), dtype=dtype)
    return np.full((ny, nx), value, dtype=dtype)


def read_exposure(path: os.PathLike | str, *, ir: bool | None = None, compact: bool = False) -> Exposure:
    """Read every imset of an HST image file once.

    `ir` selects the 5-extension (SAMP/TIME) layout; by default it is detected from
    the presence of SAMP extensions. Raises EngineError for unreadable or malformed files.
    `compact`: raw SCI arrays stored as unsigned 16-bit stay so (half the memory of float32, for a
    read-ahead) until :func:`expand_raw`; files with other scaling are read as usual.
    """
    path = Path(path)
    try:
        hdul = ff.open(path, uint=True, scale=not compact)
        if compact and not _compact_ok(hdul):
            return read_exposure(path, ir=ir)
    except (OSError, ValueError, TypeError) as exc:
        raise EngineError(f"cannot read FITS file ({exc})", file=path.name) from exc
    try:
        primary = hdul[0].header.copy()
        by_key: dict[tuple[str, int], ff.HDU] = {}
        for hdu in hdul[1:]:
            name = str(hdu.header.get("EXTNAME", "")).strip().upper()
            if name in IR_EXTNAMES:
                by_key[(name, int(hdu.header.get("EXTVER", 1)))] = hdu
        if ir is None:
            ir = any(k[0] == "SAMP" for k in by_key)
        names = IR_EXTNAMES if ir else CCD_EXTNAMES
        extvers = sorted(v for (n, v) in by_key if n == "SCI")
        if not extvers:
            raise EngineError("no SCI extension", file=path.name)
        exposure = Exposure(primary=primary, filename=path.name)
        for ver in extvers:
            sci_hdu = by_key[("SCI", ver)]
            sci = _expand(sci_hdu, "SCI", None, path.name, compact)
            arrays, headers = {"SCI": sci}, {"SCI": sci_hdu.header.copy()}
            for name in names[1:]:
                hdu = by_key.get((name, ver))
                if hdu is None:
                    raise EngineError(f"imset {ver} has no {name} extension", file=path.name)
                arrays[name] = _expand(hdu, name, sci.shape, path.name)
                headers[name] = hdu.header.copy()
                if arrays[name].shape != sci.shape:
                    raise EngineError(
                        f"imset {ver}: {name} shape {arrays[name].shape} differs from SCI {sci.shape}",
                        file=path.name,
                    )
            exposure.imsets.append(
                ImSet(sci=arrays["SCI"], err=arrays["ERR"], dq=arrays["DQ"], headers=headers,
                      extver=ver, samp=arrays.get("SAMP"), time=arrays.get("TIME"))
            )
    except EngineError:
        raise
    except Exception as exc:  # truncated data, bad headers: say which file
        raise EngineError(f"cannot read FITS file ({exc})", file=path.name) from exc
    return exposure


def pixvalue(value) -> float | int:
    """A constant-array value as HSTIO writes it (``%#14.7E``: 8 significant digits for floats).

    >>> pixvalue(np.float32(127.937004))
    127.937
    >>> pixvalue(np.float32(22.931999))
    22.931999
    >>> pixvalue(np.uint16(8192))
    8192
    """
    if isinstance(value, (np.integer, int)):
        return int(value)
    return float(f"{float(value):.7E}")


def _clean_header(hdr) -> ff.Header:
    out = as_header(hdr)
    for key in _STRUCTURAL:
        out.remove(key, ignore_missing=True, remove_all=True)
    return out


def as_header(hdr) -> ff.Header:
    """A copy of `hdr` as a fitsfile Header (an astropy Header's cards are taken by their images)."""
    if isinstance(hdr, ff.Header):
        return hdr.copy()
    return ff.Header([ff.Card.fromstring(c.image) for c in hdr.cards])


def _is_constant(flat: np.ndarray, chunk: int = 1 << 16) -> bool:
    """True if every element equals the first, looking at a chunk at a time (a varying array —
    the usual case for SCI and ERR — is told from its first chunk, with no full-size temporary)."""
    first = flat[0]
    return all(bool(np.all(flat[i : i + chunk] == first)) for i in range(0, flat.size, chunk))


def _image_hdu(extname: str, data: np.ndarray, hdr, extver: int, *, allow_null: bool) -> ff.HDU:
    header = _clean_header(hdr)
    header["EXTNAME"] = extname
    header["EXTVER"] = extver
    disk = data.astype(_DISK_DTYPES[extname], copy=False) if extname != "DQ" else data.view(np.int16)
    flat = disk.ravel()
    if allow_null and flat.size and _is_constant(flat):
        hdu = ff.image_hdu(header)
        ny, nx = data.shape
        hdu.header["NPIX1"] = (nx, "length of constant array axis 1")
        hdu.header["NPIX2"] = (ny, "length of constant array axis 2")
        hdu.header["PIXVALUE"] = (pixvalue(data.ravel()[0]), "values of pixels in constant array")
        return hdu
    return ff.image_hdu(header, np.ascontiguousarray(disk))


def to_hdulist(exposure: Exposure, *, null_sci: bool = False) -> list[ff.HDU]:
    """The HDUs HSTIO would write (constant non-SCI arrays as null extensions)."""
    hdus = [ff.primary_hdu(_clean_header(exposure.primary))]
    for imset in exposure.imsets:
        for name in IR_EXTNAMES if imset.samp is not None else CCD_EXTNAMES:
            hdus.append(_image_hdu(name, imset.array(name), imset.headers[name], imset.extver,
                                   allow_null=(name != "SCI" or null_sci)))
    hdus[0].header["NEXTEND"] = len(hdus) - 1
    return hdus


_WRITE_CHUNK = 1 << 20


def _write_plain(hdul, path: Path) -> bool:
    """Write `hdul` as astropy's ``writeto`` would, byte for byte, without its full-size big-endian
    copy of each array: headers from astropy, data byte-swapped through a 1 MB buffer (NumPy's cast
    and the file write release the GIL, so other threads keep calibrating). Returns False, writing
    nothing, for anything but plain unscaled image arrays (the caller then uses ``writeto``)."""
    from astropy.io import fits  # an astropy HDUList: only callers that built one import astropy

    for hdu in hdul:
        if not isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU)) or "BSCALE" in hdu.header or "BZERO" in hdu.header:
            return False
        data = hdu.__dict__.get("data")  # never triggers a lazy load
        if data is not None and (not isinstance(data, np.ndarray) or data.dtype.kind not in "iuf"):
            return False
    hdul.verify("silentfix")
    hdul.update_extend()
    for hdu in hdul:
        hdu.update_header()
    buf = np.empty(_WRITE_CHUNK, np.uint8)
    with open(path, "wb") as f:
        for hdu in hdul:
            f.write(hdu.header.tostring().encode("ascii"))
            if hdu.data is not None and hdu.data.size:
                _write_data(f, hdu.data, buf)
    return True


@contextlib.contextmanager
def _atomic_target(path: Path, overwrite: bool):
    """A temporary name beside `path`, renamed into place if the block succeeds and removed
    otherwise: a crash never leaves a file at `path` that looks complete. Refuses to replace an
    existing file unless `overwrite` (HSTCAL never overwrites its products)."""
    if path.exists() and not overwrite:
        raise EngineError("output file already exists", file=path.name)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_atomic(hdul, path: os.PathLike | str, *, overwrite: bool = False) -> Path:
    """Write `hdul` — a list of :class:`~caldp.engines.common.fitsfile.HDU` or an astropy ``HDUList``
    — to a temporary name in the same directory, then rename into place (:func:`_atomic_target`)."""
    path = Path(path)
    with _atomic_target(path, overwrite) as tmp:
        if all(isinstance(hdu, ff.HDU) for hdu in hdul):
            with open(tmp, "wb") as f:
                ff.write_bytes(f, hdul)
        elif not _write_plain(hdul, tmp):
            hdul.writeto(tmp, output_verify="silentfix", checksum=False)
    return path


@functools.lru_cache(maxsize=64)
def _structural_images(shape: tuple[int, ...] | None, dtype: str | None) -> tuple[str, ...]:
    """The card images astropy puts at the top of an image extension of this shape and type
    (None: a null extension; fitsfile's layout, tested byte-identical to astropy's)."""
    data = None if shape is None else np.empty(shape, dtype)  # never touched: no pages allocated
    return tuple(c.image for c in ff.image_hdu(None, data).header.cards)


_PRIMARY_IMAGES = tuple(c.image for c in ff.primary_hdu().header.cards)  # SIMPLE BITPIX NAXIS EXTEND


def _set_card(cards: list[ff.Card], keyword: str, value, comment: str = "") -> None:
    """``header[keyword] = value`` on a card list: update in place (keeping the comment) or add."""
    for i, card in enumerate(cards):
        if card.keyword == keyword:
            cards[i] = card.copy()  # the header's own card stays as it is
            cards[i].value = value
            return
    # astropy's Header.append puts a new keyword after the last non-commentary card, not after
    # trailing HISTORY/COMMENT/blank cards
    at = len(cards)
    while at > 0 and cards[at - 1].keyword in ("", "COMMENT", "HISTORY"):
        at -= 1
    cards.insert(at, ff.Card(keyword, value, comment))


def _header_block(top: tuple[str, ...], hdr, settings: list[tuple]) -> bytes:
    if not isinstance(hdr, ff.Header):
        hdr = as_header(hdr)
    cards = [c for c in hdr.cards if c.keyword not in _STRUCTURAL]
    for setting in settings:
        _set_card(cards, *setting)
    text = "".join(top) + "".join(c.image for c in cards) + "END".ljust(80)
    text += " " * (-len(text) % 2880)
    return text.encode("ascii")


def _drop_written(part: np.ndarray) -> None:
    """Let the pages of `part` leave the process once written, when `part` lies in a mapping that
    offers it (``drop_pages``: :class:`caldp.engines.common.outputs.Parked`'s, whose pixels stay in
    their file); anything else is left alone."""
    owner = part
    while isinstance(owner, np.ndarray):
        owner = owner.base
    if isinstance(owner, memoryview):
        owner = owner.obj
    drop = getattr(owner, "drop_pages", None)
    if drop is not None:
        drop(part)


def _write_data(f, data: np.ndarray, buf: np.ndarray) -> None:
    flat = np.ascontiguousarray(data).reshape(-1)
    disk = flat.dtype.newbyteorder(">")
    step = buf.nbytes // flat.itemsize
    for i in range(0, flat.size, step):
        part = flat[i : i + step]
        out = buf[: part.nbytes].view(disk)
        out[...] = part
        f.write(out)
        _drop_written(part)
    f.write(b"\0" * (-flat.nbytes % 2880))


def _write_exposure_direct(exposure: Exposure, path: Path, release: bool = False, progress=None) -> None:
    """The bytes :func:`to_hdulist` + ``writeto`` would write, serialised directly: no header
    copies, no HDU objects, data byte-swapped through a 1 MB buffer (the cast and the write
    release the GIL). With `release` each array is let go from its imset once written; `progress`
    is called with the bytes of each array once it is written."""
    names = [IR_EXTNAMES if im.samp is not None else CCD_EXTNAMES for im in exposure.imsets]
    nextend = sum(len(n) for n in names)
    buf = np.empty(_WRITE_CHUNK, np.uint8)
    with open(path, "wb") as f:
        f.write(_header_block(_PRIMARY_IMAGES, exposure.primary, [("NEXTEND", nextend)]))
        for imset, extnames in zip(exposure.imsets, names, strict=True):
            for name in extnames:
                data = imset.array(name)
                disk = data.astype(_DISK_DTYPES[name], copy=False) if name != "DQ" else data.view(np.int16)
                settings = [("EXTNAME", name), ("EXTVER", imset.extver)]
                # a broadcast of one value (all strides 0, e.g. WF3IR's SAMP) is constant without a look
                if name != "SCI" and disk.size and (not any(disk.strides) or _is_constant(disk.ravel())):
                    ny, nx = data.shape
                    settings += [
                        ("NPIX1", nx, "length of constant array axis 1"),
                        ("NPIX2", ny, "length of constant array axis 2"),
                        ("PIXVALUE", pixvalue(data[(0,) * data.ndim]), "values of pixels in constant array"),
                    ]
                    f.write(_header_block(_structural_images(None, None), imset.headers[name], settings))
                    nbytes = data.nbytes
                    if release:
                        del data, disk
                        _release(imset, name, extnames)
                    if progress is not None:
                        progress(nbytes)
                    continue
                top = _structural_images(disk.shape, disk.dtype.str)
                f.write(_header_block(top, imset.headers[name], settings))
                _write_data(f, disk, buf)
                nbytes = data.nbytes
                if release:
                    del data, disk
                    _release(imset, name, extnames)
                if progress is not None:
                    progress(nbytes)


def _release(imset: ImSet, name: str, extnames: tuple) -> None:
    """Let an imset's array go (its memory is freed when nothing else holds it); after its last one,
    hand the freed heap back (glibc keeps chip-sized blocks freed below its raised mmap threshold)."""
    setattr(imset, name.lower(), None)
    if name == extnames[-1]:
        trim_heap()


def write_exposure(
    exposure: Exposure, path: os.PathLike | str, *, overwrite: bool = False, release: bool = False, progress=None
) -> Path:
    """Write an exposure HSTIO-style, atomically; sets FILENAME in the primary header.

    Same bytes as ``write_atomic(to_hdulist(exposure), path)`` (tested), written directly. With
    `release` the exposure is given up: each array is dropped from its imset once written (a
    product written in the background shrinks while the next one is calibrated); `progress` is
    called with the bytes of each array once written.
    """
    path = Path(path)
    exposure.primary["FILENAME"] = path.name
    with _atomic_target(path, overwrite) as tmp:
        _write_exposure_direct(exposure, tmp, release, progress)
    return path


def section(imset: ImSet, x0: int, y0: int, nx: int, ny: int) -> ImSet:
    """The sub-image ``[y0:y0+ny, x0:x0+nx]`` with LTV1/2 and CRPIX1/2 shifted like HSTIO.

    Writing a section subtracts its 0-based origin from LTV1/LTV2 and CRPIX1/CRPIX2 in
    every extension header (``hstio.c: updateWCS``).
    """
    sl = (slice(y0, y0 + ny), slice(x0, x0 + nx))
    headers = {}
    for name, hdr in imset.headers.items():
        h = hdr.copy()
        for key, off in (("LTV1", x0), ("LTV2", y0), ("CRPIX1", x0), ("CRPIX2", y0)):
            if key in h:
                h[key] = h[key] - off
        headers[name] = h
    return ImSet(
        sci=imset.sci[sl].copy(), err=imset.err[sl].copy(), dq=imset.dq[sl].copy(), headers=headers,
        extver=imset.extver,
        samp=None if imset.samp is None else imset.samp[sl].copy(),
        time=None if imset.time is None else imset.time[sl].copy(),
    )
