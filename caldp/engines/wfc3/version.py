"""The calwf3 version caldp's WFC3 engine reproduces, and the CAL_VER its products carry."""

from __future__ import annotations

from ..common import driver

CALWF3_SEMANTICS = "3.7.3"


def cal_ver() -> str:
    """CAL_VER written into products."""
    return driver.cal_ver("calwf3", CALWF3_SEMANTICS)
