"""Association tables and support (_spt) files as the archive ships them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .fitsutil import image_extension, primary, table, write


def write_asn(
    path: Path,
    asn_id: str,
    instrument: str,
    detector: str,
    members: list[str],
    *,
    memtype: str,
    product_type: str,
    product_present: bool = False,
) -> Path:
    """``<asn>_asn.fits``: one ``memtype`` row per exposure and the product row (MEMPRSNT F, as
    delivered before calibration, unless `product_present`)."""
    names = [m.upper() for m in members] + [asn_id.upper()]
    types = [memtype] * len(members) + [product_type]
    present = [True] * len(members) + [product_present]
    hdu = table({"MEMNAME": ("14A", names), "MEMTYPE": ("14A", types), "MEMPRSNT": ("L", present)}, {"EXTNAME": "ASN"})
    prim = primary(
        {
            "FILENAME": path.name,
            "FILETYPE": "ASN_TABLE",
            "TELESCOP": "HST",
            "INSTRUME": instrument,
            "DETECTOR": detector,
            "ROOTNAME": asn_id.upper(),
            "ASN_ID": asn_id.upper(),
            "ASN_TAB": path.name,
            "ASN_PROD": False,
            "TARGNAME": "CALDP-SIM-FIELD",
        }
    )
    return write([prim, hdu], path)


def write_spt(path: Path, root: str, instrument: str, detector: str, cards: dict) -> Path:
    """Support file: primary with the proposal/target keywords and a small UDL extension."""
    prim = primary(
        {
            "FILENAME": path.name,
            "FILETYPE": "SPT",
            "TELESCOP": "HST",
            "INSTRUME": instrument,
            "DETECTOR": detector,
            "ROOTNAME": root.upper(),
            **cards,
        }
    )
    udl = image_extension("UDL", 1, np.zeros((1, 16), dtype=np.int16), {"ROOTNAME": root.upper()})
    return write([prim, udl], path)
