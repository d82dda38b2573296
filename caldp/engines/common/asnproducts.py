"""Association bookkeeping after the products are made (HSTCAL ``lib/mkspt.c``, ``calwf3/wf3table.c``,
``calwf3/wf3dth.c``).

- :func:`read_spt_inputs`: what every product SPT starts from (used by calacs's and calwf3's layouts).
- :func:`make_product_spt`: the ``<product>_spt.fits`` of a CR-SPLIT/repeat combination (WF3REJ, member
  type "") or of a dither product (WF3DTH, "PROD-DTH"). It is the first input's SPT primary header
  with FILENAME, ASN_MTYP, ROOTNAME (upper case) and OBSERVTN (ROOTNAME[6:9]) set, followed by the
  UDL/SNAP1 pairs of every input SPT (``NEXTEND // 2`` pairs each, renumbered; NEXTEND = 2 × pairs when
  any were copied). Nothing is made when the first input SPT is missing (HSTCAL only starts the file
  from the first input) or when the output exists already (HSTCAL leaves it alone).
- :func:`mark_products_present`: MEMPRSNT = T for the rows of the products made and ASN_PROD = T in
  the table's primary header (``updateAsnTable``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from . import fitsfile as ff
from .errors import EngineError
from .hstio import write_atomic

log = logging.getLogger(__name__)


def spt_name(name: str) -> str:
    """The SPT file of a product or exposure name (``MkOutName`` with the _spt suffix).

    >>> spt_name("ics401010_crj.fits"), spt_name("ics401a1q")
    ('ics401010_spt.fits', 'ics401a1q_spt.fits')
    """
    root = Path(name).name
    for suffix in ("_blv_tmp", "_crj_tmp", "_flt", "_crj", "_drz", "_flc", "_crc", "_drc"):
        root = root.replace(f"{suffix}.fits", "")
    return f"{root.removesuffix('.fits')}_spt.fits"


def read_spt_inputs(inputs: list[Path], out: Path, add_extensions) -> tuple[ff.Header, list] | None:
    """The pieces of the product SPT `out`: a copy of the first input's primary header and the extensions
    that ``add_extensions(hdul, hdus)`` appends to `hdus` from each input SPT in turn. None when `out`
    exists (HSTCAL leaves it alone) or the first input is missing (HSTCAL only starts the file from the
    first input); a missing later input is a warning. EngineError names an unreadable input."""
    if out.exists():
        return None
    if not inputs or not inputs[0].is_file():
        for p in inputs:
            if not p.is_file():
                log.warning('Can\'t find input file "%s"', p.name)
        return None
    hdus: list[ff.HDU] = []
    primary = None
    for k, path in enumerate(inputs):
        if not path.is_file():
            log.warning('Can\'t find input file "%s"', path.name)
            continue
        try:
            with ff.open(path) as hdul:
                if k == 0:
                    primary = hdul[0].header.copy()
                add_extensions(hdul, hdus)
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise EngineError(f"cannot read SPT file ({exc})", file=path.name) from exc
    return primary, hdus


def _udl_snap_pairs(hdul: ff.FitsFile, hdus: list) -> None:
    """calwf3's layout: the input's ``NEXTEND // 2`` UDL/SNAP1 pairs, renumbered."""
    for j in range(1, int(hdul[0].header.get("NEXTEND", 1)) // 2 + 1):
        udl = hdul["UDL", j]
        snap = hdul["SNAP1", j]
        extver = len(hdus) // 2 + 1
        data = None if udl.data is None else np.asarray(udl.data).astype(np.int16)
        u = ff.image_hdu(udl.header, data)
        s = ff.image_hdu(snap.header)
        for h, name in ((u, "UDL"), (s, "SNAP1")):
            h.header["EXTNAME"], h.header["EXTVER"] = name, extver
        hdus += [u, s]


def make_product_spt(inputs: list[Path], product: str, mtype: str, outdir: Path) -> Path | None:
    """Write ``<product>_spt.fits`` in `outdir` from the SPT files `inputs` (calwf3's layout); returns its
    path or None."""
    out = Path(outdir) / spt_name(product)
    pieces = read_spt_inputs(inputs, out, _udl_snap_pairs)
    if pieces is None:
        return None
    primary, hdus = pieces
    root = out.name.removesuffix("_spt.fits").upper()
    primary["FILENAME"] = out.name
    primary["ASN_MTYP"] = (mtype, "Role of the Exposure in the Association")
    primary["ROOTNAME"] = root
    primary["OBSERVTN"] = root[6:9]
    if hdus:
        primary["NEXTEND"] = len(hdus)
    phdu = ff.primary_hdu(primary)
    phdu.header.set("EXTEND", True, after="NAXIS")
    write_atomic([phdu] + hdus, out)
    log.info("Created output SPT file %s", out.name)
    return out


def mark_products_present(asn_path: Path, products: list[str]) -> None:
    """MEMPRSNT = T for the rows named in `products`, and ASN_PROD = T (``updateAsnTable``)."""
    if not products:
        return
    wanted = {p.upper() for p in products}
    try:
        hdul = ff.open(asn_path)
        table = hdul[1].data
        for hdu in hdul:
            hdu.data  # noqa: B018 -- every HDU's data read before the file is replaced
        names = {n.upper(): n for n in table.dtype.names}
        memname = table[names["MEMNAME"]]
        for row in range(len(table)):
            if str(memname[row]).strip().upper() in wanted:
                table.put(names["MEMPRSNT"], row, True)
        hdul[0].header["ASN_PROD"] = True
        ff.write(hdul, asn_path, overwrite=True)
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise EngineError(f"cannot update association table ({exc})", file=asn_path.name) from exc
