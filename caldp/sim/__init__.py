"""caldp.sim: realistic synthetic HST raw datasets, their reference files and a real CRDS cache.

``simulate(outdir, modes=("acs-wfc-asn",), size="small", seed=1, count=1, tar=False, truth=False)``
writes ``outdir/inputs/<ipppssoot>/`` (``_asn.fits``, ``_raw.fits``, ``_spt.fits``; raw headers
already name their references as ``jref$…``/``iref$…``), ``outdir/crds_cache/`` (mappings,
flat references, server config) and ``outdir/datasets.txt``; it returns a :class:`SimResult`
whose ``env`` makes CRDS and HSTCAL use that cache.

Options for special cases (the engine tests use them instead of kits of their own): ``quirks``
(ACS ``sinks``/``flash``/``shading``/``delta-flat``, UVIS ``sinks``/``flash``, IR ramp cases),
``size="mini"`` (the UVIS full-frame layout scaled down), ``nsamp`` (IR reads) and ``mjd`` (EXPSTART);
:mod:`caldp.sim.calibrated` writes calibrated ``_flt`` associations for stage 2.

>>> MODES[:2]
('acs-wfc-asn', 'acs-wfc')
"""

from .core import MODE_SPECS, MODES, SIZES, SimDataset, SimResult, crds_env, simulate

__all__ = ["MODES", "MODE_SPECS", "SIZES", "SimDataset", "SimResult", "crds_env", "simulate"]
