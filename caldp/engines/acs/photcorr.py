"""PHOTMODE and PHOTCORR (HSTCAL ``acs2d/photmode.c``, ``acs2d/dophot.c``; calib-acs-wfc.md §6.5).

The IMPHTTAB lookup itself is shared (:mod:`caldp.engines.common.imphttab`).
"""

from __future__ import annotations


def _filter_token(name: str, lrfwave: float) -> str:
    name = name.strip()
    if name.startswith("N/A") or name.startswith("CLEAR") or not name:
        return ""
    if name.startswith("POL"):
        tok = "POL_UV" if "UV" in name else "POL_V"
    else:
        tok = name
    if name.startswith("FR"):
        tok += "#" + _g4(lrfwave)
    return " " + tok


def _g4(x: float) -> str:
    """C ``%0.4g``."""
    return f"{x:.4g}"


def photmode(detector: str, *, obstype: str, filter1: str, filter2: str, expstart: float, lrfwave: float = -1.0) -> str:
    """The PHOTMODE string (``PhotMode``): WFC1 for both WFC chips, MJD with 4 decimals.

    >>> photmode("WFC", obstype="IMAGING", filter1="F606W", filter2="CLEAR2L", expstart=60300.25531)
    'ACS WFC1 F606W MJD#60300.2553'
    >>> photmode("HRC", obstype="CORONAGRAPHIC", filter1="CLEAR1S", filter2="POL0UV", expstart=53000.0)
    'ACS HRC CORON POL_UV MJD#53000.0000'
    """
    det = {"WFC": " WFC1", "HRC": " HRC", "SBC": " SBC"}.get(detector, "")
    s = "ACS" + det
    if obstype.startswith("CORON"):
        s += " CORON"
    s += _filter_token(filter1, lrfwave) + _filter_token(filter2, lrfwave)
    return s + f" MJD#{expstart:.4f}"
