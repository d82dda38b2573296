"""Products (background writes, rollback) and ReadAhead, shared by calacs and calwf3."""

import threading
import time

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.common import outputs
from caldp.engines.common.errors import EngineError
from caldp.engines.common.hstio import Exposure, ImSet, read_exposure


def _exposure(value: float) -> Exposure:
    im = ImSet(
        sci=np.full((4, 5), value, np.float32),
        err=np.ones((4, 5), np.float32),
        dq=np.zeros((4, 5), np.uint16),
        headers={n: fits.Header() for n in ("SCI", "ERR", "DQ")},
    )
    return Exposure(primary=fits.Header([("ROOTNAME", "x")]), imsets=[im])


@pytest.mark.parametrize("background", [False, True])
def test_background_writes_land_and_are_listed(tmp_path, background):
    out = outputs.Products(tmp_path, cal_ver=("1.0", "test version"), background=background, max_pending=2)
    out.claim(["a_flt.fits", "b_flt.fits"])
    out.write_later(_exposure(1.0), "a_flt.fits")
    out.write_later(_exposure(2.0), "b_flt.fits")
    out.write(_exposure(3.0), "c_crj.fits")
    out.close()
    assert sorted(p.name for p in out.written) == ["a_flt.fits", "b_flt.fits", "c_crj.fits"]
    b = read_exposure(tmp_path / "b_flt.fits")
    assert b.primary["CAL_VER"] == "1.0" and b.imsets[0].sci[0, 0] == 2.0
    with pytest.raises(EngineError, match="exists"):
        out.claim(["a_flt.fits"])


def test_failed_write_raises_and_rollback_removes_everything(tmp_path, monkeypatch):
    real = outputs.write_exposure

    def slow_then_fail(exposure, path, **kw):
        if path.name.startswith("bad"):
            time.sleep(0.05)
            raise OSError("disk full")
        return real(exposure, path, **kw)

    monkeypatch.setattr(outputs, "write_exposure", slow_then_fail)
    out = outputs.Products(tmp_path, cal_ver=("1.0", ""), background=True)
    out.write_later(_exposure(1.0), "good_flt.fits")
    out.write_later(_exposure(1.0), "bad_flt.fits")
    out.trailer("x", ["line"])
    with pytest.raises(OSError, match="disk full"):
        out.flush()
    out.rollback()
    assert list(tmp_path.iterdir()) == []


def test_at_most_max_pending_writes_wait(tmp_path, monkeypatch):
    gate = threading.Event()
    real = outputs.write_exposure

    def gated(exposure, path, **kw):
        gate.wait(5)
        return real(exposure, path, **kw)

    monkeypatch.setattr(outputs, "write_exposure", gated)
    out = outputs.Products(tmp_path, cal_ver=("1.0", ""), background=True, max_pending=1)
    out.write_later(_exposure(1.0), "a_flt.fits")
    second = threading.Thread(target=out.write_later, args=(_exposure(2.0), "b_flt.fits"))
    second.start()
    second.join(0.2)
    assert second.is_alive()  # held back until the first write ends
    gate.set()
    second.join(5)
    out.close()
    assert sorted(p.name for p in out.written) == ["a_flt.fits", "b_flt.fits"]


@pytest.mark.parametrize("background", [False, True])
def test_read_ahead_reads_each_item_once_and_raises_where_it_belongs(background):
    seen = []

    def read(x):
        seen.append(x)
        if x == 2:
            raise ValueError("bad item 2")
        return x * 10

    with outputs.ReadAhead(read, [1, 2, 3], background=background) as r:
        assert r.get(1) == 10
        with pytest.raises(ValueError, match="item 2"):
            r.get(2)
        assert r.get(3) == 30
    assert sorted(seen) == [1, 2, 3]
