"""STIS CCD first-order long-slit spectroscopy (G430L, 52X0.2, CR-SPLIT=2) with its wavecal.

Formats follow the STIS data handbook, a real G750M raw header, and what calstis (HSTCAL
``pkg/stis``: cs0 ``getwavinfo.c``/``wavflags.c``, cs4 ``get*4.c``, cs7 ``get*.c``) reads:

- ``<asn>_raw.fits``: the two CR-SPLIT imsets, OBSTYPE=SPECTROSCOPIC, CENWAVE, a LAMBDA/ANGLE WCS
  in the SCI headers, WAVECORR=PERFORM and ``WAVECAL = <asn>_wav.fits``; X2DCORR, HELCORR and
  DISPCORR PERFORM (``_sx2``), X1DCORR and BACKCORR PERFORM (``_sx1``); FLUXCORR and CTECORR OMIT:
  PHOTTAB, APERTAB and PCTAB are written (FLUXCORR=PERFORM works with TDSTAB=N/A), but the shared
  TDSTAB is the imaging format, which cs0.e's spectroscopic GetTds rejects (no TIME/SLOPE/NT).
- ``<asn>_wav.fits``: one imset, TARGNAME=WAVELINE, SCLAMP=LINE (no science subtraction: cs11
  runs only for HITM lamps before 1998 Nov 9), the lamp lines shifted by :data:`WAVECAL_SHIFT`
  pixels from where DISPTAB puts them, so SHIFTA1/SHIFTA2 have a known answer.
- References besides the imaging ones (:mod:`.stis`): a G430L pixel flat, LAMPTAB (the lamp
  template), WCPTAB, DISPTAB (linear: ``x = c0 + c1·m·λ`` in one-indexed pixels), INANGTAB (zero
  incidence-angle terms), SPTRCTAB (a flat trace), APDESTAB (52X0.2 at calstis7's nominal slit
  angle with two occulting bars: the spatial shift of a long slit comes from the bars), SDCTAB (the
  2-D rectified grid cs7 gives the wavecal, which cs4 reads for first-order data). ASN_MTYP is in
  the SCI headers too (calstis7 tells a wavecal by it).

>>> float(dispersion_x(CENWAVE)) == REF_X
True
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from . import stis as ccd
from .crdscache import RefEntry
from .fitsutil import F32, image_extension, imset, primary, table, write
from .products import write_asn, write_spt

MODES = {"stis-ccd-spec": ("CCD", 2, 60411.3)}
OPT_ELEM, CENWAVE, APERTURE, APER_FOV = "G430L", 4300, "52X0.2", "52x0.2"
DISPERSION = 2.73  # Å per pixel
REF_X = 511.5  # zero-indexed detector column of CENWAVE
TRACE_Y = 512.0  # A2CENTER of the trace (one-indexed detector row)
SLIT_LENGTH, SLIT_WIDTH = 52.0, 0.2  # arcsec
REF_ANGLE = 0.315  # degrees: calstis7's nominal slit angle (no extra tilt of the dispersion)
BARS = ((-1.5, 0.45), (1.3, 0.45))  # (location, width) in arcsec from the slit centre
#: (columns, rows): the shift of the lamp image on the detector relative to the references
WAVECAL_SHIFT = (1.7, -0.8)
SCLAMP, LAMPSET = "LINE", "19.0"
WAV_EXPTIME = 3.0
LAMP_LINES = (  # (Å, e⁻/s at the peak pixel)
    (3021.0, 900.0),
    (3188.0, 500.0),
    (3344.0, 1400.0),
    (3520.0, 700.0),
    (3650.0, 2500.0),
    (3803.0, 600.0),
    (3949.0, 1800.0),
    (4046.0, 3000.0),
    (4159.0, 800.0),
    (4300.0, 1200.0),
    (4358.0, 4000.0),
    (4510.0, 900.0),
    (4609.0, 1500.0),
    (4764.0, 700.0),
    (4880.0, 2200.0),
    (5017.0, 1100.0),
    (5187.0, 600.0),
    (5341.0, 1900.0),
    (5461.0, 3500.0),
    (5606.0, 800.0),
)
LINE_SIGMA = 1.3  # pixels (slit image and line width together)

SWITCHES = {
    **ccd.SWITCHES,
    "PHOTCORR": "OMIT",
    "WAVECORR": "PERFORM",
    "X2DCORR": "PERFORM",  # calstis7 → _sx2 (issue 19)
    "HELCORR": "PERFORM",
    "DISPCORR": "PERFORM",
    "X1DCORR": "PERFORM",  # calstis6 → _sx1 (issue 19)
    "BACKCORR": "PERFORM",
}
WAV_SWITCHES = {
    **ccd.SWITCHES,
    "CRCORR": "OMIT",
    "EXPSCORR": "OMIT",
    "PHOTCORR": "OMIT",
    "X2DCORR": "PERFORM",
}
SPEC_REFS = ("LAMPTAB", "WCPTAB", "DISPTAB", "INANGTAB", "SPTRCTAB", "APDESTAB", "SDCTAB", "XTRACTAB")
#: XTRACTAB: box and background boxes (reference pixels), BACKORD, MAXSRCH (first order)
EXTRSIZE, BKSIZE, BKOFFSET, BACKORD, MAXSRCH = 7.0, 5.0, 30.0, 0, 10


def dispersion_x(wavelength, shift: float = 0.0):
    """Zero-indexed detector column of `wavelength` (Å) in first order, DISPTAB's relation + `shift`."""
    return REF_X + (np.asarray(wavelength, np.float64) - CENWAVE) / DISPERSION + shift


def dataset_names(index: int) -> str:
    """``ocs8<vv>010``.

    >>> dataset_names(0)
    'ocs801010'
    """
    return "ocs8" + ccd.dataset_names(index)[4:]


# ----------------------------------------------------------------------------- references


def _rows(cols: dict, **cards) -> list:
    return [table(cols, cards)]


def _meta(n: int, what: str) -> dict:
    return {"PEDIGREE": ("24A", ["INFLIGHT 01/01/2002 01/01/2026"] * n), "DESCRIP": ("40A", [what] * n)}


def lamp_template() -> tuple[np.ndarray, np.ndarray]:
    """LAMPTAB's template: wavelengths (Å, 0.5 Å steps) and fluxes (the lines, intrinsic width 0.8 px)."""
    wl = np.arange(2800.0, 5800.0, 0.5)
    flux = np.full(wl.shape, 2.0)
    for w0, peak in LAMP_LINES:
        flux += peak * np.exp(-0.5 * ((wl - w0) / (0.8 * DISPERSION)) ** 2)
    return wl, flux


def _lamptab() -> list:
    """The LINE lamp row and a HITM1 row (same template; a HITM wavecal before 1998 Nov 9 exercises
    calstis11's science subtraction)."""
    wl, flux = lamp_template()
    n = wl.size
    cols = {
        "SCLAMP": ("8A", [SCLAMP, "HITM1"]),
        "LAMPSET": ("8A", [LAMPSET, LAMPSET]),
        "OPT_ELEM": ("8A", [OPT_ELEM, OPT_ELEM]),
        "NELEM": ("J", [n, n]),
        "WAVELENGTH": (f"{n}D", np.repeat(wl[None, :], 2, axis=0)),
        "FLUX": (f"{n}E", np.repeat(flux.astype(np.float32)[None, :], 2, axis=0)),
        **_meta(2, "caldp.sim line lamp template"),
    }
    return _rows(cols)


def _wcptab() -> list:
    cols = {
        "DETECTOR": ("8A", ["CCD"]),
        "OPT_ELEM": ("8A", [OPT_ELEM]),
        "WL_TRIM1": ("J", [20]),
        "WL_TRIM2": ("J", [20]),
        "SP_TRIM1": ("J", [20]),
        "SP_TRIM2": ("J", [20]),
        "WL_RANGE": ("J", [41]),
        "SP_RANGE": ("J", [21]),
        "NSIG_CR": ("D", [5.0]),
        "NSIG_ILL": ("D", [3.0]),
        "MAD_REJ": ("D", [5.0]),
        "MIN_MAD": ("D", [10.0]),
        **_meta(1, "caldp.sim wavecal parameters"),
    }
    return _rows(cols)


def _disptab() -> list:
    coeff = np.zeros(10)
    coeff[0] = REF_X + 1.0 - CENWAVE / DISPERSION  # DISPTAB pixels are one-indexed (evalDisp subtracts 1)
    coeff[1] = 1.0 / DISPERSION
    cols = {
        "OPT_ELEM": ("8A", [OPT_ELEM]),
        "CENWAVE": ("J", [CENWAVE]),
        "A2CENTER": ("D", [TRACE_Y]),
        "NCOEFF": ("J", [2]),
        "COEFF": ("10D", coeff[None, :]),
        "REF_APER": ("16A", [APERTURE]),
        "MREF": ("J", [1]),
        "YREF": ("D", [TRACE_Y]),
        "A4CORR": ("D", [0.0]),
        **_meta(1, "caldp.sim linear dispersion"),
    }
    return _rows(cols)


def _inangtab() -> list:
    cols = {
        "OPT_ELEM": ("8A", [OPT_ELEM]),
        "CENWAVE": ("J", [CENWAVE]),
        "SPORDER": ("J", [1]),
        "NCOEFF1": ("J", [1]),
        "COEFF1": ("10D", np.zeros((1, 10))),
        "NCOEFF2": ("J", [1]),
        "COEFF2": ("10D", np.zeros((1, 10))),
        **_meta(1, "caldp.sim incidence angle (none)"),
    }
    return _rows(cols)


def _sptrctab() -> list:
    n = 1024
    cols = {
        "OPT_ELEM": ("8A", [OPT_ELEM]),
        "CENWAVE": ("J", [CENWAVE]),
        "SPORDER": ("J", [1]),
        "A1CENTER": ("D", [512.0]),
        "A2CENTER": ("D", [TRACE_Y]),
        "NELEM": ("J", [n]),
        "A2DISPL": (f"{n}E", np.zeros((1, n), np.float32)),
        "MJD": ("D", [51000.0]),
        "DEGPERYR": ("D", [0.0]),
        **_meta(1, "caldp.sim flat trace"),
    }
    return _rows(cols)


def _apdestab() -> list:
    """52X0.2 and its E1 pseudo-aperture (PROPAPER …E1: calstis7 appends E1 to APERTURE)."""
    names = [APERTURE, APERTURE + "E1"]
    n = len(names)
    cols = {
        "APERTURE": ("16A", names),
        "WIDTH1": ("D", [SLIT_WIDTH] * n),
        "WIDTH2": ("D", [SLIT_LENGTH] * n),
        "OFFSET1": ("D", [0.0] * n),
        "OFFSET2": ("D", [0.0] * n),
        "ANGLE": ("D", [REF_ANGLE] * n),
        "NBARS": ("J", [len(BARS)] * n),
        "BAR1LOCN": ("D", [BARS[0][0]] * n),
        "BAR1WIDTH": ("D", [BARS[0][1]] * n),
        "BAR2LOCN": ("D", [BARS[1][0]] * n),
        "BAR2WIDTH": ("D", [BARS[1][1]] * n),
        "BAR3LOCN": ("D", [0.0] * n),
        "BAR3WIDTH": ("D", [0.0] * n),
        **_meta(n, "caldp.sim aperture description"),
    }
    return _rows(cols)


def _sdctab() -> list:
    rows = [APERTURE, "ANY"]  # ANY after the specific apertures (stis-notes)
    n = len(rows)
    cols = {
        "APERTURE": ("16A", rows),
        "OPT_ELEM": ("8A", [OPT_ELEM] * n),
        "CENWAVE": ("J", [CENWAVE] * n),
        "SPORDER": ("J", [1] * n),
        "A2CENTER": ("D", [TRACE_Y] * n),
        "NPIX1": ("J", [1024] * n),
        "NPIX2": ("J", [1024] * n),
        "CRPIX1": ("D", [REF_X + 1.0] * n),
        "CRPIX2": ("D", [TRACE_Y] * n),
        "CRVAL1": ("D", [float(CENWAVE)] * n),
        "CRVAL2": ("D", [0.0] * n),
        "CDELT1": ("D", [DISPERSION] * n),
        "CDELT2": ("D", [ccd.PLATESC] * n),
        **_meta(n, "caldp.sim 2-D rectification grid"),
    }
    return _rows(cols)


def _xtractab() -> list:
    """XTRACTAB (calstis6 ``getextract.c``): the 52X0.2 G430L row, unweighted, untilted boxes."""
    cols = {
        "APERTURE": ("16A", [APERTURE]),
        "OPT_ELEM": ("8A", [OPT_ELEM]),
        "CENWAVE": ("J", [CENWAVE]),
        "SPORDER": ("I", [1]),
        "EXTRSIZE": ("E", [EXTRSIZE]),
        "BK1SIZE": ("E", [BKSIZE]),
        "BK2SIZE": ("E", [BKSIZE]),
        "BK1OFFST": ("E", [-BKOFFSET]),
        "BK2OFFST": ("E", [BKOFFSET]),
        "NCOEFFSL": ("J", [1]),
        "SLTCOEFF": ("10D", np.zeros((1, 10))),
        "NCOEFFBK": ("J", [1]),
        "BKTCOEFF": ("10D", np.zeros((1, 10))),
        "BACKORD": ("I", [BACKORD]),
        "XTRACALG": ("12A", ["UNWEIGHTED"]),
        "MAXSRCH": ("I", [MAXSRCH]),
        **_meta(1, "caldp.sim 1-D extraction boxes"),
    }
    return _rows(cols)


def _phottab() -> list:
    """PHOTTAB (calstis6/7 ``getabsphot``): the G430L first-order sensitivity, a smooth hump."""
    wl = np.arange(2800.0, 5805.0, 5.0)
    thru = 0.02 + 0.12 * np.exp(-0.5 * ((wl - 4500.0) / 900.0) ** 2)
    n = wl.size
    cols = {
        "OPT_ELEM": ("8A", [OPT_ELEM]),
        "CENWAVE": ("J", [CENWAVE]),
        "SPORDER": ("I", [1]),
        "NELEM": ("J", [n]),
        "WAVELENGTH": (f"{n}D", wl[None, :]),
        "THROUGHPUT": (f"{n}E", thru.astype(np.float32)[None, :]),
        "ERROR": (f"{n}E", (0.01 * thru).astype(np.float32)[None, :]),
        **_meta(1, "caldp.sim G430L sensitivity"),
    }
    return _rows(cols)


def _apertab() -> list:
    """APERTAB (``getapthr``): the 52X0.2 throughput against wavelength."""
    wl = np.array([1000.0, 3000.0, 5000.0, 7000.0, 11000.0])
    thr = np.array([0.70, 0.78, 0.82, 0.84, 0.85], np.float32)
    cols = {
        "APERTURE": ("16A", [APERTURE]),
        "NELEM": ("J", [wl.size]),
        "WAVELENGTH": (f"{wl.size}D", wl[None, :]),
        "THROUGHPUT": (f"{wl.size}E", thr[None, :]),
        **_meta(1, "caldp.sim aperture throughput"),
    }
    return _rows(cols)


PCT_HEIGHTS = (3, 7, 11)  # EXTRHEIGHT rows of PCTAB; MAXHGHT is the last


def pctab_rows(aperture: str, cenwave: int, wl: np.ndarray, pc: np.ndarray, what: str) -> list:
    """PCTAB (calstis7 ``getpct``, calstis6 ``getpct6``): one row per EXTRHEIGHT of
    :data:`PCT_HEIGHTS` for one aperture and CENWAVE, the point-source fraction ``pc`` (one row of
    values per height) at wavelengths ``wl``, MAXHGHT (the last height) in the table header."""
    k = len(PCT_HEIGHTS)
    cols = {
        "APERTURE": ("16A", [aperture] * k),
        "CENWAVE": ("J", [cenwave] * k),
        "EXTRHEIGHT": ("J", list(PCT_HEIGHTS)),
        "NELEM": ("J", [wl.size] * k),
        "WAVELENGTH": (f"{wl.size}D", np.tile(wl, (k, 1))),
        "THROUGHPUT": (f"{wl.size}E", pc),
        **_meta(k, what),
    }
    return _rows(cols, MAXHGHT=PCT_HEIGHTS[-1])


def _pctab() -> list:
    """The G430L box-height corrections, coarse in λ."""
    wl = np.array([2900.0, 3500.0, 4300.0, 5000.0, 5700.0])
    pc = np.array([[0.70, 0.72, 0.74, 0.73, 0.71], [0.90, 0.92, 0.93, 0.925, 0.91], [1.0] * 5], np.float32)
    return pctab_rows(APERTURE, CENWAVE, wl, pc, "caldp.sim point-source height correction")


def write_spec_references(refdir: Path, refs: ccd.Refs) -> tuple[list[RefEntry], dict[str, str]]:
    """The spectroscopic references (and the G430L flat); returns rmap entries and raw-header values."""
    spec = {"DETECTOR": "CCD", "OBSTYPE": "SPECTROSCOPIC"}
    tables = {
        "lamptab": ("LAMPTAB", "s7b0001o_lmp.fits", "TEMPLATE CAL LAMP SPECTRA TABLE", _lamptab(), {}),
        "wcptab": ("WCPTAB", "s7b0002o_wcp.fits", "WAVECAL PARAMETERS TABLE", _wcptab(), {}),
        "disptab": ("DISPTAB", "s7b0003o_dsp.fits", "DISPERSION COEFFICIENTS TABLE", _disptab(), {"DETECTOR": "CCD"}),
        "inangtab": ("INANGTAB", "s7b0004o_iac.fits", "INCIDENCE ANGLE TABLE", _inangtab(), {"DETECTOR": "CCD"}),
        "sptrctab": ("SPTRCTAB", "s7b0005o_1dt.fits", "SPECTRUM TRACE TABLE", _sptrctab(), {"DETECTOR": "CCD"}),
        "apdestab": ("APDESTAB", "s7b0006o_apd.fits", "APERTURE DESCRIPTION TABLE", _apdestab(), {}),
        "sdctab": ("SDCTAB", "s7b0007o_sdc.fits", "2-D SPECTRUM DISTORTION TABLE", _sdctab(), {"DETECTOR": "CCD"}),
        "xtractab": ("XTRACTAB", "s7b0009o_1dx.fits", "1-D EXTRACTION PARAMETERS TABLE", _xtractab(), {}),
        "phottab": ("PHOTTAB", "s7b000ao_pht.fits", "PHOTOMETRIC CONVERSION TABLE", _phottab(), {"DETECTOR": "CCD"}),
        "apertab": ("APERTAB", "s7b000bo_apt.fits", "APERTURE THROUGHPUT TABLE", _apertab(), {}),
        "pctab": ("PCTAB", "s7b000co_pct.fits", "PHOTOMETRIC CORRECTION TABLE", _pctab(), {"DETECTOR": "CCD"}),
    }
    entries: list[RefEntry] = []
    refkw: dict[str, str] = {}
    for kind, (kw, name, ftype, hdus, match) in tables.items():
        ccd._ref(refdir, name, ftype, hdus, f"caldp.sim STIS {kind}")
        entries.append(RefEntry("stis", kind, name, match, ccd.USEAFTER))
        refkw[kw] = name
    name = "s7b0008o_pfl.fits"
    ccd._ref(
        refdir,
        name,
        "PIXEL-TO-PIXEL FLAT",
        imset(1, refs.flat, None, None, cards=ccd._ref_cards(), err_value=0.002),
        "caldp.sim STIS G430L pfltfile",
        OPT_ELEM=OPT_ELEM,
        APERTURE="ANY",
    )
    match = {**spec, "OPT_ELEM": OPT_ELEM, "CENWAVE": str(CENWAVE)}
    entries.append(RefEntry("stis", "pfltfile", name, match, ccd.USEAFTER))
    refkw["PFLTFILE"] = name
    return entries, {k: f"oref${v}" for k, v in refkw.items()}


# ----------------------------------------------------------------------------- exposures


def _spec_cards(cards: dict, *, wavecal: str) -> dict:
    cards.update(
        {
            "OBSTYPE": "SPECTROSCOPIC",
            "OPT_ELEM": OPT_ELEM,
            "APERTURE": APERTURE,
            "PROPAPER": APERTURE,
            "APER_FOV": APER_FOV,
            "CENWAVE": CENWAVE,
            "WAVECAL": wavecal,
            "LAMPSET": "0.0",
        }
    )
    return cards


def _sci_wcs(geo: ccd.Geometry) -> dict:
    """LAMBDA/ANGLE WCS of a raw SCI header (calstis's x1d reads it from the _crj)."""
    ltv1, ltv2 = geo.ltv
    return {
        "WCSAXES": 2,
        "CTYPE1": "LAMBDA",
        "CTYPE2": "ANGLE",
        "CRPIX1": REF_X + 1.0 + ltv1,
        "CRPIX2": TRACE_Y + ltv2,
        "CRVAL1": float(CENWAVE),
        "CRVAL2": 0.0,
        "CD1_1": DISPERSION,
        "CD1_2": 0.0,
        "CD2_1": 0.0,
        "CD2_2": ccd.PLATESC / 3600.0,
        "CUNIT1": "angstrom",
        "CUNIT2": "deg",
        "DISPAXIS": 1,
        "SHIFTA1": 0.0,
        "SHIFTA2": 0.0,
        "SPORDER": 1,
    }


def _header_cards(name: str, geo: ccd.Geometry, *, expstart: float, exptime: float, mtyp: str) -> dict:
    # calstis7 tells a wavecal by the SCI header's ASN_MTYP
    return {
        **ccd.raw_sci_cards(name, geo.ltv, geo.raw_shape, expstart=expstart, exptime=exptime, ASN_MTYP=mtyp),
        "OCCDHTAV": ccd.OCCDHTAV,
        "PLATESC": ccd.PLATESC,
        **_sci_wcs(geo),
    }


def slit_profile(rows: np.ndarray, shift: float = 0.0) -> np.ndarray:
    """Relative illumination along the slit at detector rows `rows` (zero-indexed): one inside the
    slit, zero behind the occulting bars (edges smoothed by a one-pixel Gaussian), shifted by `shift`."""
    arcsec = (np.asarray(rows, np.float64) - (TRACE_Y - 1.0) - shift) * ccd.PLATESC
    prof = np.ones_like(arcsec)
    for loc, width in BARS:
        # fraction of a bar of `width` covering the pixel, blurred: smooth step in and out
        lo, hi = (loc - width / 2) / ccd.PLATESC, (loc + width / 2) / ccd.PLATESC
        x = arcsec / ccd.PLATESC
        inside = 0.5 * (np.tanh((x - lo) / 0.6) - np.tanh((x - hi) / 0.6))
        prof *= 1.0 - 0.97 * inside
    return prof


def lamp_image(geo: ccd.Geometry, shift=(0.0, 0.0)) -> np.ndarray:
    """Electrons per second of the line lamp through the slit on the image part of `geo`."""
    ny, nx = geo.sci_shape
    x = np.arange(nx, dtype=np.float64)
    spec = np.full(nx, 0.5)
    for w0, peak in LAMP_LINES:
        spec += peak * np.exp(-0.5 * ((x - dispersion_x(w0, shift[0])) / LINE_SIGMA) ** 2)
    rows = np.arange(geo.ycorner, geo.ycorner + ny, dtype=np.float64)
    return (slit_profile(rows, shift[1])[:, None] * spec[None, :]).astype(F32)


def star_image(geo: ccd.Geometry, rng) -> np.ndarray:
    """Electrons per second of a point-source continuum with absorption lines on the trace, plus sky."""
    ny, nx = geo.sci_shape
    x = np.arange(nx, dtype=np.float64)
    wl = CENWAVE + (x - REF_X) * DISPERSION
    cont = 150.0 * (1.0 + 0.6 * np.sin((wl - 2900.0) / 900.0)) + 20.0
    for w0 in rng.uniform(3000.0, 5600.0, 12):
        cont *= 1.0 - 0.5 * np.exp(-0.5 * ((wl - w0) / 4.0) ** 2)
    rows = np.arange(geo.ycorner, geo.ycorner + ny, dtype=np.float64)
    prof = np.exp(-0.5 * ((rows - (TRACE_Y - 1.0)) / 1.2) ** 2)
    prof /= prof.sum()
    sky = 0.3 * slit_profile(rows)[:, None] * np.ones(nx)[None, :]
    return (prof[:, None] * cont[None, :] + sky).astype(F32)


def make_dataset(outdir, mode: str, index: int, size: str, seed: int, store, truth: bool):
    """One ``stis-ccd-spec`` dataset (raw, wavecal, asn, spt) under ``outdir/inputs/<name>``; the
    references go once into `store` (the imaging ones shared with ``stis-ccd-image``)."""
    detector, nimsets, mjd0 = MODES[mode]
    refs, refkw = ccd.ccd_references(store, size)
    refkw = {**refkw, **store.once(("stis", detector, "spec"), lambda: write_spec_references(store.refdir, refs))}
    geo = ccd.geometry(size)
    name = dataset_names(index)
    ddir = Path(outdir) / "inputs" / name
    if ddir.exists():
        shutil.rmtree(ddir)
    ddir.mkdir(parents=True)
    rng = ccd._rng(seed, 10 + ("small", "full").index(size), index)
    ra, dec = float(rng.uniform(10.0, 350.0)), float(rng.uniform(-60.0, 60.0))
    rows = slice(geo.ycorner, geo.ycorner + geo.sci_shape[0])
    exptime = 300.0
    rate = star_image(geo, rng) * refs.flat[rows]
    wavname = f"{name}_wav.fits"
    cards = ccd.primary_cards(
        name, nimsets=nimsets, mjd=mjd0, exptime=exptime, targ=(ra, dec), refkw=refkw, subarray=size == "small"
    )
    cards.update(SWITCHES)
    cards["TARGNAME"] = "CALDP-SIM-STAR"
    cards["FILTER"] = "Clear"
    _spec_cards(cards, wavecal=wavname)
    hdus = [primary(cards)]
    for k in range(nimsets):
        expstart = mjd0 + k * (exptime + 60.0) / 86400.0
        raw = ccd._raw_pixels(rng, geo, refs, (rate * exptime).astype(F32), exptime)
        cards = _header_cards(name, geo, expstart=expstart, exptime=exptime, mtyp="EXP-CRJ")
        hdus += imset(k + 1, raw, None, None, cards=cards)
    # the wavecal: taken after the science, one imset
    wstart = mjd0 + nimsets * (exptime + 60.0) / 86400.0
    wcards = ccd.primary_cards(
        name, nimsets=1, mjd=wstart, exptime=WAV_EXPTIME, targ=(ra, dec), refkw=refkw, subarray=size == "small"
    )
    wcards.update(WAV_SWITCHES)
    _spec_cards(wcards, wavecal="N/A")
    wcards.update(
        {
            "FILENAME": wavname,
            "TARGNAME": "WAVELINE",
            "SCLAMP": SCLAMP,
            "LAMPSET": LAMPSET,
            "CRSPLIT": 1,
            "ASN_MTYP": "AUTO-WAVECAL",
        }
    )
    lamp = lamp_image(geo, WAVECAL_SHIFT) * refs.flat[rows]
    wraw = ccd._raw_pixels(rng, geo, refs, (lamp * WAV_EXPTIME).astype(F32), WAV_EXPTIME)
    whdus = [primary(wcards)]
    wsci = _header_cards(name, geo, expstart=wstart, exptime=WAV_EXPTIME, mtyp="AUTO-WAVECAL")
    whdus += imset(1, wraw, None, None, cards=wsci)
    for h in hdus[1:] + whdus[1:]:
        if h.header["EXTNAME"] != "SCI":
            h.header["BUNIT"] = "COUNTS" if h.header["EXTNAME"] == "ERR" else "UNITLESS"
    files = [
        write_asn(ddir / f"{name}_asn.fits", name, "STIS", "CCD", [name], memtype="EXP-CRJ", product_type="PROD-CRJ"),
        write(hdus, ddir / f"{name}_raw.fits"),
        write(whdus, ddir / wavname),
        write_spt(ddir / f"{name}_spt.fits", name, "STIS", "CCD", {"PROPOSID": 17007, "EXPSTART": mjd0}),
    ]
    info = None
    if truth:
        tfile = write(
            [
                primary({"ROOTNAME": name.upper(), "BUNIT": "ELECTRONS/S"}),
                image_extension("SCI", 1, rate.astype(F32)),
            ],
            Path(outdir) / "truth" / name / f"{name}_truth.fits",
        )
        info = {"truth_file": str(tfile), "wavecal_shift": list(WAVECAL_SHIFT)}
    return name, ddir, files, info
