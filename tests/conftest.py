"""Suite-wide settings of the test process.

Garbage collection: once the tests are collected, the objects alive then (test modules, their
imports, pytest's items: ~370,000) are moved to the permanent generation (``gc.freeze``). They
live for the whole session anyway, and a full collection no longer walks them each time. CRDS
bestrefs calls ``gc.collect()`` before every header it reads: in the full suite's process one
bestrefs over six simulated modes (tests/sim/test_crds_cache.py) took 39 s, 2-4 s with the
freeze; time spent in the collector while tests/sim runs, 33 s -> 5 s. Objects created later are
collected as before. The tests import more later (drizzlepac, dask.distributed, moto...: the full
suite still spent 95 s in the collector with 250,000 objects not frozen), so when a test file
starts with more than 100,000 objects tracked, the live ones are frozen too (after a collection,
before the file's fixtures exist): a handful of times per session.
"""

from __future__ import annotations

import gc

import pytest

#: Freeze again at the start of a test file once this many objects are tracked (not frozen).
REFREEZE_OBJECTS = 100_000


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    gc.collect()
    gc.freeze()


def pytest_runtest_setup(item):
    module = item.nodeid.split("::", 1)[0]
    if getattr(pytest_runtest_setup, "module", None) == module:
        return
    pytest_runtest_setup.module = module
    if len(gc.get_objects()) > REFREEZE_OBJECTS:
        gc.collect()
        gc.freeze()
