"""The stis-mama-echelle sim mode: layout, references, and cs0.e accepting it."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from caldp.sim import stis_echelle as ech

from .helpers import cs0_env, run_cs0


@pytest.fixture(scope="module")
def echelle_small(tmp_path_factory):
    """stis-ccd-spec and stis-mama-echelle in one CRDS cache (LAMPTAB, WCPTAB, APDESTAB shared)."""
    from caldp import sim

    return sim.simulate(
        tmp_path_factory.mktemp("echelle_small"), modes=["stis-ccd-spec", "stis-mama-echelle"], size="small", seed=2
    )


def test_layout(echelle_small):
    ds = echelle_small.datasets[1]
    assert (ds.mode, ds.name) == ("stis-mama-echelle", "ocsc01010")
    with fits.open(ds.input_path / f"{ds.name}_raw.fits") as raw, fits.open(ds.input_path / f"{ds.name}_wav.fits") as w:
        p, wp = raw[0].header, w[0].header
        assert (p["DETECTOR"], p["OBSTYPE"], p["OPT_ELEM"], p["CENWAVE"], p["APERTURE"]) == (
            "FUV-MAMA",
            "SPECTROSCOPIC",
            "E140M",
            1425,
            "0.2X0.2",
        )
        assert (p["WAVECORR"], p["WAVECAL"], p["X2DCORR"], p["X1DCORR"], p["BACKCORR"], p["SC2DCORR"]) == (
            "PERFORM",
            f"{ds.name}_wav.fits",
            "PERFORM",
            "PERFORM",
            "PERFORM",
            "OMIT",
        )
        assert (p["HELCORR"], p["DISPCORR"], p["FLUXCORR"], wp["X2DCORR"]) == ("PERFORM", "PERFORM", "PERFORM", "OMIT")
        assert wp["FLUXCORR"] == "OMIT"
        assert (wp["TARGNAME"], wp["SCLAMP"], wp["LAMPSET"]) == ("WAVELINE", ech.SCLAMP, ech.LAMPSET)
        for key in ech.SPEC_REFS + ("PFLTFILE",):
            assert p[key].startswith("oref$s8c") and p[key] == wp[key]
        assert raw["SCI", 1].data.shape == (128, 1024) and w["SCI", 1].header["LTV2"] == 0.0
        lamp = w["SCI", 1].data.astype(np.float64)
    # order 121's trace at the detector centre (row 71, zero-indexed) shifted by WAVECAL_SHIFT: the
    # lamp's rows peak around it
    prof = lamp.sum(axis=1)
    rows = np.arange(128)
    y121 = float(ech.a2center(121)) - 1.0
    near = np.abs(rows - (y121 + ech.WAVECAL_SHIFT[1])) <= 2
    far = np.abs(rows - (y121 + ech.WAVECAL_SHIFT[1] + ech.ORDER_STEP / 2)) <= 2
    assert prof[near].mean() > 20 * prof[far].mean()


def test_dispersion_and_traces():
    assert float(ech.dispersion_x(1425.0, 101)) == ech.REF_X
    # one pixel of m·λ per MLAMBDA_PER_PIXEL; the higher order sits ORDER_STEP rows lower
    assert float(ech.dispersion_x(1425.0 + ech.MLAMBDA_PER_PIXEL / 101, 101)) == pytest.approx(ech.REF_X + 1)
    assert float(ech.a2center(102)) == 512.0 - ech.ORDER_STEP
    cols = fits.BinTableHDU.from_columns(ech._sptrctab()[0].columns).data
    assert list(cols["SPORDER"]) == list(ech.ORDERS) and cols["A2DISPL"].shape == (len(ech.ORDERS), 1024)


def test_shared_tables_keep_the_first_order_rows_first():
    from caldp.sim import stis_spec

    lamp = ech._lamptab()[0].data
    first = stis_spec._lamptab()[0].data
    k = len(first)
    assert [s.strip() for s in lamp["OPT_ELEM"]] == [s.strip() for s in first["OPT_ELEM"]] + ["E140M"]
    n = int(first["NELEM"][0])
    assert np.array_equal(lamp["WAVELENGTH"][0][:n], first["WAVELENGTH"][0][:n]) and not lamp["FLUX"][0][n:].any()
    assert int(lamp["NELEM"][k]) == ech.lamp_template()[0].size
    for mine, theirs, col, value in (
        (ech._apdestab(), stis_spec._apdestab(), "APERTURE", ech.APERTURE),
        (ech._wcptab(), stis_spec._wcptab(), "DETECTOR", ech.DETECTOR),
    ):
        got, want = mine[0].data[col], theirs[0].data[col]
        assert [s.strip() for s in got] == [s.strip() for s in want] + [value]


def test_flux_tables_as_crds_assigns_them(echelle_small):
    """FLUXCORR's tables after bestrefs, as CRDS's type rules give them for an E140M exposure: PHOTTAB,
    APERTAB, PCTAB (spectroscopic), the echelle TDSTAB in the spectroscopic format (TIME, SLOPE with
    its TDIM, NT: what calstis6/7's GetTds read) — and GACTAB N/A (relevant to CCD spectra only)."""
    from caldp.bestrefs import assign_bestrefs
    from caldp.engines.stis import tds as tdsmod
    from caldp.engines.stis.calstis1 import Refs
    from caldp.engines.stis.x2d_io import _Table

    ds = echelle_small.datasets[1]
    raw = ds.input_path / f"{ds.name}_raw.fits"
    env = {**echelle_small.env, "CRDS_READONLY_CACHE": "1"}
    work = raw.parent.parent / "bestrefs"
    work.mkdir(exist_ok=True)
    copy = work / raw.name
    copy.write_bytes(raw.read_bytes())
    assigned = assign_bestrefs([copy], env)[copy.name]
    want = {"PHOTTAB": "s8c000ao", "APERTAB": "s8c000bo", "TDSTAB": "s8c000co", "PCTAB": "s8c000do"}
    for key, stem in want.items():
        assert assigned[key].startswith(f"oref${stem}"), (key, assigned[key])
    p = fits.getheader(copy)
    assert str(p["GACTAB"]).strip() == "N/A"
    with fits.open(echelle_small.crds_cache / "references" / "hst" / assigned["TDSTAB"].split("$")[1]) as h:
        assert h[1].header["TDIM6"] == f"({ech.TDS_WL.size},{len(ech.TDS_TIMES)})"  # SLOPE is column 6
    refs = Refs(dict(echelle_small.env), p)
    row = tdsmod.read_tds(_Table(refs, "TDSTAB"), refs.table("TDSTAB")[1], "E140M")
    assert np.array_equal(row.slope, ech.TDS_SLOPES) and np.array_equal(row.time, ech.TDS_TIMES)
    assert tdsmod.read_tds(_Table(refs, "TDSTAB"), refs.table("TDSTAB")[1], "MIRROR").slope.shape == (1, 4)


def test_merge_fills_columns_one_table_lacks():
    a = {"A": ("8A", np.array(["x"])), "N": ("J", np.array([1])), "V": ("3D", np.ones((1, 3)))}
    b = {"A": ("8A", np.array(["y", "z"])), "V": ("2D", np.full((2, 2), 2.0)), "M": ("E", np.array([5.0, 6.0]))}
    t = ech._merge(a, b)[0].data
    assert list(t["A"]) == ["x", "y", "z"] and list(t["N"]) == [1, 0, 0] and list(t["M"]) == [0, 5, 6]
    assert t["V"].tolist() == [[1, 1, 1], [2, 2, 0], [2, 2, 0]]


@pytest.mark.hstcal
def test_cs0_accepts_and_finds_the_simulated_shift(echelle_small, tmp_path):
    exe, env = cs0_env(echelle_small.env)
    for ds in echelle_small.datasets:
        work = tmp_path / ds.name
        work.mkdir()
        for f in ds.input_path.iterdir():
            (work / f.name).write_bytes(f.read_bytes())
        run_cs0(exe, env, work, f"{ds.name}_raw.fits")
    ds = echelle_small.datasets[1]
    with fits.open(tmp_path / ds.name / f"{ds.name}_flt.fits") as flt:
        h = flt["SCI", 1].header
        assert flt[0].header["WAVECORR"] == "COMPLETE"
        assert abs(h["SHIFTA1"] - ech.WAVECAL_SHIFT[0]) < 0.2 and abs(h["SHIFTA2"] - ech.WAVECAL_SHIFT[1]) < 0.2
    with fits.open(tmp_path / ds.name / f"{ds.name}_x2d.fits") as x2d:  # one imset per order on the subarray
        assert x2d[0].header["X2DCORR"] == "COMPLETE" and x2d[0].header["NEXTEND"] == 18
        assert [x2d["SCI", k].header["SPORDER"] for k in range(1, 7)] == list(range(119, 125))
        assert x2d["SCI", 1].data.shape == (ech.X2D_NPIX2, 1024)
    with fits.open(tmp_path / ds.name / f"{ds.name}_x1d.fits") as x1d:  # one row per order
        assert list(x1d[1].data["SPORDER"]) == list(range(119, 125)) and x1d[0].header["X1DCORR"] == "COMPLETE"


@pytest.mark.slow
@pytest.mark.hstcal
def test_sc2dcorr_tables_run_in_cs0(tmp_path):
    """The seven SC2DCORR tables are what calstis6's IDT algorithm reads (``echscatread.c``): bestrefs
    assigns them to the full-size echelle exposure, and cs0.e with SC2DCORR = PERFORM (the sim keeps
    OMIT: the builtin engine does not do it yet) iterates its scattered-light model and writes an
    ``_x1d`` with SC2DCORR COMPLETE, the seven tables in its history, the first extraction's GROSS and a
    background that differs from the plain run's. (cs0.e aborts on the 1024 × 128 subarray.)"""
    import shutil

    from caldp import sim
    from caldp.bestrefs import assign_bestrefs

    res = sim.simulate(tmp_path / "sim", modes=["stis-mama-echelle"], size="full", seed=1)
    (ds,) = res.datasets
    exe, env = cs0_env(res.env)
    kinds = [v[0] for v in ech.scatter_tables().values()]
    x1d = {}
    for label, sc2d in (("plain", "OMIT"), ("sc2d", "PERFORM")):
        work = tmp_path / label
        shutil.copytree(ds.input_path, work)
        raw = work / f"{ds.name}_raw.fits"
        assigned = assign_bestrefs([raw], {**res.env, "CRDS_READONLY_CACHE": "1"})[raw.name]
        assert all(assigned[k].startswith("oref$s8c000") for k in kinds), assigned
        with fits.open(raw, mode="update") as h:
            h[0].header["SC2DCORR"] = sc2d
        run_cs0(exe, env, work, raw.name)
        with fits.open(work / f"{ds.name}_x1d.fits") as h:
            x1d[label] = (h[0].header.copy(), h[1].data.copy())
    p, t = x1d["sc2d"]
    assert p["SC2DCORR"] == "COMPLETE" and len(t) == 39
    hist = list(p["HISTORY"])
    assert all(f"  reference table {assigned[k]}" in hist for k in kinds)
    assert np.array_equal(t["GROSS"], x1d["plain"][1]["GROSS"])
    assert not np.array_equal(t["BACKGROUND"], x1d["plain"][1]["BACKGROUND"])
