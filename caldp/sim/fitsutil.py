"""Small FITS building blocks for the simulator (HSTIO conventions, deterministic bytes).

Constant extensions are written the HSTIO way (``NAXIS=0`` with ``NPIX1``, ``NPIX2``,
``PIXVALUE``), raw SCI as unsigned 16-bit (BITPIX=16, BZERO=32768).

>>> hdu = null_extension("ERR", 1, (4, 3), 0.5)
>>> hdu.header["NPIX1"], hdu.header["NPIX2"], hdu.header["PIXVALUE"]
(3, 4, 0.5)
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from astropy.io import fits

F32 = np.float32


def header(cards: Mapping[str, object]) -> fits.Header:
    """A header from an ordered mapping; ``(value, comment)`` tuples carry comments."""
    h = fits.Header()
    for key, value in cards.items():
        if isinstance(value, tuple):
            h[key] = value
        else:
            h[key] = value
    return h


def primary(cards: Mapping[str, object]) -> fits.PrimaryHDU:
    return fits.PrimaryHDU(header=header(cards))


def null_extension(extname: str, extver: int, shape: tuple[int, int], value, cards=None) -> fits.ImageHDU:
    """An HSTIO constant extension of `shape` (ny, nx) whose every pixel is `value`."""
    hdu = fits.ImageHDU()
    hdu.header["EXTNAME"] = extname
    hdu.header["EXTVER"] = extver
    hdu.header["NPIX1"] = int(shape[1])
    hdu.header["NPIX2"] = int(shape[0])
    hdu.header["PIXVALUE"] = value
    for k, v in (cards or {}).items():
        hdu.header[k] = v
    return hdu


def image_extension(extname: str, extver: int, data: np.ndarray, cards=None) -> fits.ImageHDU:
    """An image extension; a uint16 array is stored as BITPIX=16 with BZERO=32768."""
    h = fits.Header()
    h["EXTNAME"] = extname
    h["EXTVER"] = extver
    for k, v in (cards or {}).items():
        h[k] = v
    return fits.ImageHDU(data=data, header=h, uint=True)


def imset(
    extver: int,
    sci,
    err=None,
    dq=None,
    *,
    shape=None,
    cards=None,
    err_value=0.0,
    dq_value=0,
    names=("SCI", "ERR", "DQ"),
) -> list[fits.ImageHDU]:
    """SCI, ERR, DQ of one imset; None arrays become constant extensions."""
    shape = shape or sci.shape
    out = []
    for name, data, const in zip(names, (sci, err, dq), (0.0, err_value, dq_value), strict=True):
        if data is None:
            out.append(null_extension(name, extver, shape, const, cards))
        else:
            out.append(image_extension(name, extver, data, cards))
    return out


def table(columns: Mapping[str, tuple[str, object]], cards=None) -> fits.BinTableHDU:
    """A binary table from ``{name: (format, values)}``."""
    cols = [fits.Column(name=n, format=fmt, array=np.asarray(vals)) for n, (fmt, vals) in columns.items()]
    hdu = fits.BinTableHDU.from_columns(cols)
    for k, v in (cards or {}).items():
        hdu.header[k] = v
    return hdu


def write(hdus: Iterable[fits.hdu.base._BaseHDU], path: Path) -> Path:
    """Write an HDU list (NEXTEND set on the primary); returns `path`."""
    hdul = fits.HDUList(list(hdus))
    hdul[0].header["NEXTEND"] = len(hdul) - 1
    path.parent.mkdir(parents=True, exist_ok=True)
    hdul.writeto(path, overwrite=True, output_verify="silentfix")
    return path


def write_tar_gz(directory: Path, target: Path) -> Path:
    """``target`` (.tar.gz) holding ``directory/<files>`` under ``<dirname>/``, byte-reproducible."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(directory.iterdir()):
            info = tar.gettarinfo(str(path), arcname=f"{directory.name}/{path.name}")
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o644
            with open(path, "rb") as fh:
                tar.addfile(info, fh)
    tmp = target.with_name(target.name + ".part")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buf.getvalue())
    os.replace(tmp, target)
    return target
