"""PCTETAB reading and the per-exposure parameters: bad input → EngineError naming file and item."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.common.errors import EngineError
from caldp.engines.wfc3.uvis.pctetab import exposure_params, read_pctetab
from caldp.sim import cte_wfc3


def test_reads_the_simulated_table(model):
    assert model.name == cte_wfc3.CTE_NAME and model.ver == "2.0"
    assert (model.nfor, model.npar, model.thresh, model.ntraps) == (5, 7, -10.0, cte_wfc3.NTRAPS)
    assert model.q.shape == (999,) and model.q[cte_wfc3.NTRAPS] == 999999.0
    assert model.rprof.shape == (100, 999) and model.rprof.dtype == np.float32
    assert model.scale_fraction(57023.0) == 1.0


def _broken(tmp_path, edit):
    path = tmp_path / "bad_cte.fits"
    hdul = cte_wfc3.pctetab_hdus({})
    edit(hdul)
    hdul.writeto(path)
    return path


def _drop_column(name):
    def edit(hdul):
        t = hdul[1]
        cols = [c for c in t.columns if c.name != name]
        hdul[1] = fits.BinTableHDU.from_columns(cols, name="QPROF")

    return edit


def _short_qprof(hdul):
    hdul[1] = fits.BinTableHDU(hdul[1].data[:500], name="QPROF")


def _drop_cprof(hdul):
    del hdul["CPROF"]


def _narrow_rprof(hdul):
    hdul["RPROF"].data = hdul["RPROF"].data[:, :500].copy()


def _no_key(key):
    def edit(hdul):
        del hdul[0].header[key]

    return edit


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (_drop_column("DPDE_W"), "column DPDE_W"),
        (_short_qprof, "column W"),
        (_drop_cprof, "CPROF"),
        (_narrow_rprof, "RPROF"),
        (_no_key("PCTENPAR"), "PCTENPAR"),
        (_no_key("CTEDATE1"), "CTEDATE1"),
    ],
)
def test_bad_pctetab_names_file_and_item(tmp_path, edit, words):
    path = _broken(tmp_path, edit)
    with pytest.raises(EngineError) as exc:
        read_pctetab(path)
    assert "bad_cte.fits" in str(exc.value) and words in str(exc.value)


def test_missing_pctetab(tmp_path):
    with pytest.raises(EngineError, match="not found"):
        read_pctetab(tmp_path / "nope_cte.fits")


def test_exposure_params_overrides_and_missing_keys(model):
    hdr = fits.Header(dict(cte_wfc3.RAW_KEYS))
    p = exposure_params(model, hdr)
    assert (p.nfor, p.npar, p.tlen) == (5, 7, 60)
    assert p.header["PCTENFOR"] == 5 and p.header["CTE_NAME"] == model.name
    hdr["PCTENPAR"] = 3  # a user override (> 1) wins and is left in the header as given
    p = exposure_params(model, hdr)
    assert p.npar == 3 and "PCTENPAR" not in p.header
    del hdr["FIXROCR"]
    with pytest.raises(EngineError, match="FIXROCR"):
        exposure_params(model, hdr, file="x_raw.fits")
