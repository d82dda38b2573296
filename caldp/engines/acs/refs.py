"""Reference images for the ACS engine, read once per run and kept only as the arrays the steps use.

Chip selection is HSTCAL's ``DetCCDChip`` (the first SCI extension among the first NEXTEND/3 imsets
whose CCDCHIP equals the science chip); the geometry helpers are shared with the WFC3 engine
(:mod:`caldp.engines.wfc3.refimage`). Unlike the WFC3 reader this cache closes each file after
reading the one chip asked for, keeps the converted arrays (not the HDU data) and can drop a file
once its step is over, which keeps a full-frame WFC association under 1 GB. A constant extension
(no data, PIXVALUE) is a read-only zero-stride view, not a full array.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from ..common.errors import EngineError
from ..wfc3.refimage import RefChip

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


def _pixels(hdu, extname: str, shape) -> np.ndarray:
    hdr = hdu.header
    if hdu.data is None:
        if "NPIX1" in hdr and "NPIX2" in hdr:
            shape = (int(hdr["NPIX2"]), int(hdr["NPIX1"]))
        value = hdr.get("PIXVALUE", 0)
        if extname == "DQ":
            value = int(value) & 0xFFFF
        # a read-only zero-stride view: no memory, and the C kernels read it as one value
        return np.broadcast_to(np.array(value, dtype=_DTYPES[extname]), shape)
    data = hdu.data  # memory-mapped: one conversion copy, the file pages are released on close
    return np.array(data, dtype=_DTYPES[extname])  # int16 DQ wraps to the same 16 bits as uint16


class RefCache:
    """Reference chips by (file, CCDCHIP); use as a context manager."""

    def __init__(self):
        self._chips: dict[tuple[Path, int, tuple], RefChip] = {}
        self._primaries: dict[Path, fits.Header] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._chips.clear()

    def primary(self, path: Path, *, keyword: str | None = None) -> fits.Header:
        path = Path(path)
        if path not in self._primaries:
            try:
                self._primaries[path] = fits.getheader(path, 0)
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
        `group_size` is the number of extensions per imset (1 for the SCI-only SNKCFILE)."""
        path = Path(path)
        key = (path, int(chip), tuple(arrays))
        if key in self._chips:
            return self._chips[key]
        try:
            with fits.open(path, memmap=True, uint=False) as hdul:
                primary = hdul[0].header.copy()
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
                sci = _pixels(sci_hdu, "SCI", None)
                out = {}
                for name in ("ERR", "DQ"):
                    if name not in arrays:
                        out[name] = None
                        continue
                    try:
                        hdu = hdul[name, ver]
                    except KeyError:
                        raise EngineError(
                            f"imset {ver} has no {name} extension", file=path.name, keyword=keyword
                        ) from None
                    out[name] = _pixels(hdu, name, sci.shape)
                    if out[name].shape != sci.shape:
                        raise EngineError(
                            f"{name} shape {out[name].shape} differs from SCI {sci.shape}",
                            file=path.name,
                            keyword=keyword,
                        )
                ref = RefChip(
                    primary=primary, sci_hdr=sci_hdu.header.copy(), extver=ver, sci=sci, err=out["ERR"], dq=out["DQ"]
                )
        except EngineError:
            raise
        except Exception as exc:  # unreadable, truncated or malformed
            raise EngineError(f"cannot read reference data ({exc})", file=path.name, keyword=keyword) from exc
        if cache:
            self._chips[key] = ref
        return ref
