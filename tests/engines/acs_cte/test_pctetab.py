"""PCTETAB reading (caldp/engines/acs/pctetab.py): the simulator's table reads back; bad tables raise
an EngineError naming the file and the extension/column/keyword at fault."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.acs.pctetab import N_TRAPS, read_pctetab
from caldp.engines.common.errors import EngineError
from caldp.sim import cte
from caldp.sim.fitsutil import write


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return write(cte.pctetab_hdus(), tmp_path_factory.mktemp("pctetab") / "good_cte.fits")


def test_reads_sim_table(good):
    m = read_pctetab(good)
    assert m.cte_name == "Par/Serial PixelCTE 2023" and m.cte_ver == "3.0"
    assert (m.noise_mit, m.fix_rocr, m.thresh) == (0, 1, -10.0)
    assert set(m.sets) == {"parallel", "A", "B", "C", "D"}
    par, ser = m.sets["parallel"], m.sets["C"]
    assert (par.cte_len, par.n_forward, par.n_par) == cte.PARALLEL[2:5]
    assert (ser.cte_date0, ser.cte_len) == (cte.SERIAL[0], cte.SERIAL[2])
    assert par.n_traps_used == cte.PARALLEL[5] and par.qlev.shape == (N_TRAPS,)
    assert par.rprof.shape == (100, N_TRAPS) and par.rprof.dtype == np.float32
    assert par.sens.shape == (4, 8192) and ser.extver == 4


def _broken(good, tmp_path, edit):
    with fits.open(good) as h:
        hdus = [x.copy() for x in h]
    hdus = edit(hdus) or hdus
    out = tmp_path / "bad_cte.fits"
    fits.HDUList(hdus).writeto(out)
    return out


def _drop_column(hdus, ext, name):
    t = hdus[ext]
    cols = [c for c in t.columns if c.name != name]
    new = fits.BinTableHDU.from_columns(cols, header=t.header)
    hdus[ext] = new


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda h: h[:-1], ["CPROF,5"]),
        (lambda h: _drop_column(h, 13, "QLEV_Q"), ["[13] QLEV_Q"]),
        (lambda h: _drop_column(h, 2, "SENS_1536"), ["[2] SENS_1536"]),
        (lambda h: h[0].header.__setitem__("CTE_NAME", "PixelCTE 2012"), ["CTE_NAME", "obsolete"]),
        (lambda h: h[0].header.remove("FIXROCR"), ["FIXROCR"]),
        (lambda h: h[1].header.remove("CTEDATE0"), ["[1] CTEDATE0"]),
        (lambda h: h.__setitem__(5, fits.BinTableHDU(h[5].data[:100], header=h[5].header)), ["[5] W", "100 rows"]),
    ],
    ids=[
        "missing-extension",
        "missing-qlev",
        "missing-sens",
        "obsolete-name",
        "missing-fixrocr",
        "missing-date",
        "short-qprof",
    ],
)
def test_bad_tables(good, tmp_path, edit, words):
    bad = _broken(good, tmp_path, edit)
    with pytest.raises(EngineError) as exc:
        read_pctetab(bad)
    text = str(exc.value)
    assert "bad_cte.fits" in text and "PCTETAB" in text
    for w in words:
        assert w in text, text


def test_missing_file(tmp_path):
    with pytest.raises(EngineError, match="PCTETAB"):
        read_pctetab(tmp_path / "nope_cte.fits")
