"""Statistics keywords NGOODPIX, GOODMIN/MAX/MEAN, SNRMIN/MAX/MEAN (HSTCAL ``lib/dostat.c``; calib-acs-wfc.md §6.6).

The computation lives in :mod:`caldp.engines.common.stats` (one pass shared by every engine).
"""

from ..common.stats import image_statistics, write_statistics

__all__ = ["image_statistics", "write_statistics"]
