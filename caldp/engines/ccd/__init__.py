"""Pieces shared by the CCD engines (ACS WFC/HRC, WFC3 UVIS, later STIS CCD): CR-rejection core,
flat division; pixel-based CTE lands here too. Instrument packages import from here and from
``engines.common``, never from each other."""
