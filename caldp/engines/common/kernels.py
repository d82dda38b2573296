"""Loader for the engines' compiled kernels, with the NumPy implementations as the fallback.

Every step that has a C kernel keeps its NumPy implementation: the NumPy code is the readable
reference (and what runs if the extension was not built), the C kernel the fast path, and the
tests check that both give bit-identical results. ``CALDP_KERNELS=numpy`` forces the NumPy path
(read at each call, so a test can switch it).

>>> import os; os.environ["CALDP_KERNELS"] = "numpy"
>>> load("caldp.engines.common._kernels") is None
True
>>> del os.environ["CALDP_KERNELS"]
"""

from __future__ import annotations

import importlib
import logging
import os

import numpy as np

log = logging.getLogger(__name__)

_MODULES: dict[str, object] = {}
_WARNED: set[str] = set()


def enabled() -> bool:
    """False when ``CALDP_KERNELS`` asks for the NumPy implementations."""
    return os.environ.get("CALDP_KERNELS", "").strip().lower() not in ("numpy", "0", "off", "no")


def load(name: str):
    """The compiled module `name`, or None (NumPy fallback) if disabled or not built."""
    if not enabled():
        return None
    if name not in _MODULES:
        try:
            _MODULES[name] = importlib.import_module(name)
        except ImportError as exc:
            _MODULES[name] = None
            if name not in _WARNED:
                _WARNED.add(name)
                log.warning("C kernels %s not built (%s): using the NumPy implementation", name, exc)
    return _MODULES[name]


def c_array(a, dtype) -> np.ndarray:
    """`a` as a C-contiguous native-endian array of `dtype` (no copy when it already is one)."""
    return np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("="))
