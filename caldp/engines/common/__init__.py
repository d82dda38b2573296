"""Pieces shared by the builtin calibration engines (ACS, WFC3 UVIS and IR).

- :mod:`.hstio`: HSTIO-style imsets (SCI/ERR/DQ[/SAMP/TIME]) with constant ("null")
  extensions, read once and written atomically.
- :mod:`.switches`: calibration switch values (PERFORM/OMIT/COMPLETE/SKIPPED).
- :mod:`.refs`: reference-file names (``jref$x.fits``), reference tables with HSTCAL's
  row-matching wildcards, PEDIGREE checks.
- :mod:`.imphttab`: IMPHTTAB photometry lookup (PHOTFLAM/PHOTPLAM/PHOTBW…).
- :mod:`.stats`: the statistics keywords (NGOODPIX, GOODMEAN, SNRMAX…).
- :mod:`.trailer`: ``.tra`` trailer files.
"""

from .errors import EngineError

__all__ = ["EngineError"]
