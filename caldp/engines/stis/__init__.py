"""Built-in STIS engine: calstis (HSTCAL ``pkg/stis``) 2-D stages, CCD imaging first."""
