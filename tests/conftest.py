"""Suite-wide settings of the test process.

Garbage collection: once the tests are collected, the objects alive then (test modules, their
imports, pytest's items: ~370,000) are moved to the permanent generation (``gc.freeze``). They
live for the whole session anyway, and a full collection no longer walks them each time. CRDS
bestrefs calls ``gc.collect()`` before every header it reads: in the full suite's process one
bestrefs over six simulated modes (tests/sim/test_crds_cache.py) took 39 s, 2-4 s with the
freeze; time spent in the collector while tests/sim runs, 33 s -> 5 s. Objects created later are
collected as before (nothing the tests make is frozen).
"""

from __future__ import annotations

import gc

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    gc.collect()
    gc.freeze()
