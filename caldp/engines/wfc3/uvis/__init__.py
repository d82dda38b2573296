"""WFC3/UVIS CCD engine: one module per calwf3 step (WF3CCD, WF3REJ, WF32D)."""
