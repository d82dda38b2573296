"""caldp: calibrate Hubble Space Telescope datasets end to end.

The public entry points are :func:`caldp.pipeline.process_dataset` (one dataset, the
same Dask graph ``caldp-process`` runs) and :func:`caldp.cluster.batch.run_batch`
(many datasets on any Dask cluster).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("caldp")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
