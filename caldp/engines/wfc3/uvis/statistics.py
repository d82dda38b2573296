"""Statistics keywords of a calibrated UVIS imset (HSTCAL ``lib/dostat.c``).

The computation lives in :mod:`caldp.engines.common.stats` (one pass shared by every engine).
"""

from ...common.stats import image_statistics, write_statistics

__all__ = ["image_statistics", "write_statistics"]
