"""Reference images for the ACS engine, read once per run and kept only as the arrays the steps use.

Chip selection is HSTCAL's ``DetCCDChip`` (the first SCI extension among the first NEXTEND/3 imsets
whose CCDCHIP equals the science chip); the geometry helpers are shared with the WFC3 engine
(:mod:`caldp.engines.common.refimage`). Unlike the WFC3 reader this cache closes each file after
reading the one chip asked for, keeps the converted arrays (not the HDU data) and can drop a file
once its step is over, which keeps a full-frame WFC association under 1 GB. A constant extension
(no data, PIXVALUE) is a read-only zero-stride view, not a full array.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..common import fitsfile as ff
from ..common.errors import EngineError
from ..common.refimage import RefChip

_DTYPES = {"SCI": np.float32, "ERR": np.float32, "DQ": np.uint16}


def kernel_array(a: np.ndarray | None, dtype) -> np.ndarray | None:
    """`a` for a C kernel: C-contiguous native `dtype`, or a one-item array when `a` is a constant
    image (the zero-stride view a PIXVALUE extension is read as), which the kernels accept as such.

    >>> kernel_array(np.broadcast_to(np.float32(3), (4, 5)), np.float32).tolist()
    [3.0]
    >>> kernel_array(np.ones((2, 2), np.float32), np.float32).shape
    (2, 2)
    """
    if a is None:
        return None
    if a.size > 1 and not any(a.strides):
        return np.array([a[(0,) * a.ndim]], dtype=np.dtype(dtype).newbyteorder("="))
    return np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("="))


def _pixels_const(value, extname: str, shape) -> np.ndarray:
    """A constant extension as a read-only zero-stride view: no memory, and the C kernels read it as
    one value."""
    return np.broadcast_to(np.array(value, dtype=_DTYPES[extname]), shape)


def _pixels(hdu, extname: str, shape) -> np.ndarray:
    hdr = hdu.header
    if hdu.data is None:
        if "NPIX1" in hdr and "NPIX2" in hdr:
            shape = (int(hdr["NPIX2"]), int(hdr["NPIX1"]))
        value = hdr.get("PIXVALUE", 0)
        if extname == "DQ":
            value = int(value) & 0xFFFF
        return _pixels_const(value, extname, shape)
    data = hdu.data  # memory-mapped: one conversion copy, the file pages are released on close
    return np.array(data, dtype=_DTYPES[extname])  # int16 DQ wraps to the same 16 bits as uint16


class RefCache:
    """Reference chips by (file, CCDCHIP); use as a context manager."""

    def __init__(self):
        self._chips: dict[tuple[Path, int, tuple], RefChip] = {}
        self._primaries: dict[Path, ff.Header] = {}
        self._layouts: dict[tuple, _Layout] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._chips.clear()

    def primary(self, path: Path, *, keyword: str | None = None) -> ff.Header:
        path = Path(path)
        if path not in self._primaries:
            try:
                self._primaries[path] = ff.getheader(path, 0)
            except (OSError, ValueError, TypeError) as exc:
                raise EngineError(f"cannot read reference file ({exc})", file=path.name, keyword=keyword) from exc
        return self._primaries[path]

    def drop(self, path: Path | None) -> None:
        """Forget the arrays read from `path` (its step is over)."""
        if path is None:
            return
        for key in [k for k in self._chips if k[0] == Path(path)]:
            del self._chips[key]

    def chip(
        self, path: Path, chip: int, *, keyword: str, arrays=("SCI", "ERR", "DQ"), cache: bool = True, group_size=3
    ) -> RefChip:
        """The reference imset of `chip`; with ``cache=False`` it is read again at each call and not kept.
        `group_size` is the number of extensions per imset (1 for the SCI-only SNKCFILE).

        Where the pixels are in the file is remembered (:class:`_Layout`): a later call for the same
        chip reads them straight from the file without parsing the FITS headers again."""
        path = Path(path)
        key = (path, int(chip), tuple(arrays))
        if key in self._chips:
            return self._chips[key]
        try:
            lay = self._layouts.get((key, group_size))
            if lay is not None and lay.direct and lay.stamp == _stamp(path):
                ref = lay.load(path)
            else:
                ref, lay = self._read(path, chip, keyword=keyword, arrays=arrays, group_size=group_size)
                self._layouts[(key, group_size)] = lay
        except EngineError:
            raise
        except Exception as exc:  # unreadable, truncated or malformed
            raise EngineError(f"cannot read reference data ({exc})", file=path.name, keyword=keyword) from exc
        if cache:
            self._chips[key] = ref
        return ref

    def _read(self, path: Path, chip: int, *, keyword, arrays, group_size) -> tuple[RefChip, _Layout]:
        stamp = _stamp(path)
        with ff.open(path, memmap=True, uint=False) as hdul:
            # headers are plain objects that outlive the file: no copy (a copy parses every card)
            primary = self._primaries.get(path) or hdul[0].header
            ngroups = int(primary.get("NEXTEND", group_size)) // group_size
            found = None
            for hdu in hdul[1:]:
                h = hdu.header
                if str(h.get("EXTNAME", "")).strip().upper() != "SCI":
                    continue
                ver = int(h.get("EXTVER", 1))
                if ver <= ngroups and int(h.get("CCDCHIP", 1)) == int(chip):
                    found = (ver, hdu)
                    break
            if found is None:
                raise EngineError(f"no reference data found for chip {chip}", file=path.name, keyword=keyword)
            ver, sci_hdu = found
            plain = True  # fitsfile reads no compressed files
            parts = {"SCI": _Part.of(sci_hdu, "SCI", None, plain)}
            sci = parts["SCI"].read(path, sci_hdu)
            out = {}
            for name in ("ERR", "DQ"):
                if name not in arrays:
                    out[name] = None
                    continue
                try:
                    hdu = hdul[name, ver]
                except KeyError:
                    raise EngineError(f"imset {ver} has no {name} extension", file=path.name, keyword=keyword) from None
                parts[name] = _Part.of(hdu, name, sci.shape, plain)
                out[name] = parts[name].read(path, hdu)
                if out[name].shape != sci.shape:
                    raise EngineError(
                        f"{name} shape {out[name].shape} differs from SCI {sci.shape}",
                        file=path.name,
                        keyword=keyword,
                    )
            ref = RefChip(primary=primary, sci_hdr=sci_hdu.header, extver=ver, sci=sci, err=out["ERR"], dq=out["DQ"])
        lay = _Layout(stamp, ref.primary, ref.sci_hdr, ver, parts)
        return ref, lay


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


class _Part:
    """How to get one extension's pixels: a constant, raw big-endian bytes at a file offset (read
    with one ``readinto`` and byte-swapped in place), or through fitsfile (scaled data)."""

    __slots__ = ("extname", "shape", "value", "offset", "dtype")

    def __init__(self, extname, shape, value=None, offset=None, dtype=None):
        self.extname, self.shape, self.value, self.offset, self.dtype = extname, shape, value, offset, dtype

    @classmethod
    def of(cls, hdu, extname: str, shape, plain: bool) -> _Part:
        h = hdu.header
        if h.get("NAXIS", 0) == 0:
            if "NPIX1" in h and "NPIX2" in h:
                shape = (int(h["NPIX2"]), int(h["NPIX1"]))
            value = h.get("PIXVALUE", 0)
            if extname == "DQ":
                value = int(value) & 0xFFFF
            return cls(extname, shape, value=value)
        raw = {-32: ">f4", 16: ">i2"}.get(int(h.get("BITPIX", 0)))
        wanted = ">f4" if extname in ("SCI", "ERR") else ">i2"
        scaled = float(h.get("BSCALE", 1)) != 1 or float(h.get("BZERO", 0)) != 0
        image = str(h.get("XTENSION", "")).strip() == "IMAGE"
        if plain and raw == wanted and int(h["NAXIS"]) == 2 and not scaled and image and hdu.data_offset is not None:
            return cls(extname, (int(h["NAXIS2"]), int(h["NAXIS1"])), offset=hdu.data_offset, dtype=raw)
        return cls(extname, None)

    def read(self, path: Path, hdu=None) -> np.ndarray:
        if self.value is not None:
            return _pixels_const(self.value, self.extname, self.shape)
        if self.offset is None:
            if hdu is None:
                raise ValueError("no direct read for this extension")
            return _pixels(hdu, self.extname, None)
        raw = np.empty(self.shape, np.dtype(self.dtype))
        with open(path, "rb", buffering=0) as f:
            f.seek(self.offset)
            if f.readinto(memoryview(raw).cast("B")) != raw.nbytes:
                raise EngineError("reference file is truncated", file=path.name)
        native = raw.byteswap(inplace=True).view(raw.dtype.newbyteorder("="))
        return native.view(_DTYPES[self.extname])  # int16 DQ: the same 16 bits as uint16


class _Layout:
    """Where one reference chip's arrays are in its file (for re-reading it without parsing the headers)."""

    __slots__ = ("stamp", "primary", "sci_hdr", "extver", "parts")

    def __init__(self, stamp, primary, sci_hdr, extver, parts):
        self.stamp, self.primary, self.sci_hdr, self.extver, self.parts = stamp, primary, sci_hdr, extver, parts

    @property
    def direct(self) -> bool:
        """True if every array can be read without astropy."""
        return all(p.value is not None or p.offset is not None for p in self.parts.values())

    def load(self, path: Path) -> RefChip:
        arrays = {n: self.parts[n].read(path) if n in self.parts else None for n in ("SCI", "ERR", "DQ")}
        return RefChip(
            primary=self.primary,
            sci_hdr=self.sci_hdr,
            extver=self.extver,
            sci=arrays["SCI"],
            err=arrays["ERR"],
            dq=arrays["DQ"],
        )
