"""STIS FUV-MAMA echelle spectroscopy (``stis-mama-echelle``: E140M, CENWAVE 1425, 0.2X0.2, ACCUM)
with its wavecal: references, CRDS entries and raw exposures as cs0.e reads them.

Formats follow the STIS data handbook and what calstis (HSTCAL ``pkg/stis``: cs0 ``wavflags.c``,
cs1, cs4 ``getdisp4.c``/``getangle4.c``/``getinang4.c``/``gettrace4.c``/``maketemplate.c``) reads:

- ``<root>_raw.fits``: one imset of low-res MAMA pixels (the Doppler/GLOBRATE keywords of
  :mod:`.stis_mama`; full 1024 × 1024, small a 1024 × 128 subarray at the detector's first row, see
  :func:`geometry`), OBSTYPE=SPECTROSCOPIC, a
  LAMBDA/ANGLE WCS, WAVECORR=PERFORM and ``WAVECAL = <root>_wav.fits``. X2DCORR, X1DCORR,
  BACKCORR, HELCORR, DISPCORR and FLUXCORR are PERFORM (cs0.e writes an ``_x2d`` with one imset per
  order on the image, in erg/s/cm²/Å/arcsec², and an ``_x1d`` with one flux-calibrated row per order),
  with PHOTTAB (the blaze-shift columns), APERTAB, PCTAB and a TDSTAB in the spectroscopic format
  (time segments and temperature: calstis6/7 apply both) — as archive E140M data (no GACTAB: CRDS
  assigns it to CCD spectra only, its rmap_relevance). SC2DCORR is
  OMIT: the scattered-light correction's ECHSCTAB/EXSTAB/CDSTAB/RIPTAB/SRWTAB/HALOTAB/TELTAB are not
  simulated (an archive E140M exposure has SC2DCORR PERFORM).
- ``<root>_wav.fits``: one imset, TARGNAME=WAVELINE, SCLAMP=LINE, the lamp lines of every order
  on the detector shifted by :data:`WAVECAL_SHIFT` pixels from where DISPTAB and SPTRCTAB put them.
- Echelle orders 86–125: DISPTAB ``x = c0 + c1·m·λ`` (one-indexed pixels, :func:`dispersion_x`),
  SPTRCTAB one row per order (A2CENTER 22 rows apart, a 3-pixel tilt across the detector), INANGTAB
  zero terms, an E140M pixel flat (the FUV-MAMA imaging flat's pixels), LAMPTAB (a line list on
  0.01 Å steps), WCPTAB (WL_TRIM1/2: calstis4 finds both shifts at once in one section), APDESTAB
  (0.2X0.2, also REF_APER), SDCTAB (calstis7 ``getsdc.c``: one row per order, the rectified grid of
  :func:`order_grid`). LAMPTAB, WCPTAB and APDESTAB have no CRDS match keys, so these tables also
  hold the first-order rows of :mod:`.stis_spec` (first), under a later USEAFTER: whichever mode is
  simulated, the best reference serves both.

>>> float(dispersion_x(MLAMBDA0 / 101, 101)) == REF_X
True
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from astropy.io import fits

from . import stis as ccd
from . import stis_mama as mama
from . import stis_spec as spec
from .ccd import poisson_counts
from .crdscache import RefEntry
from .fitsutil import F32, image_extension, imset, primary, table, write
from .products import write_spt

MODES = {"stis-mama-echelle": ("FUV-MAMA", 1, 60510.3)}
DETECTOR = "FUV-MAMA"
OPT_ELEM, CENWAVE, APERTURE, APER_FOV = "E140M", 1425, "0.2X0.2", "0.2x0.2"
USEAFTER = "2003-01-01 00:00:00"  # after stis_spec's tables: LAMPTAB/WCPTAB/APDESTAB hold both modes' rows
ORDERS = tuple(range(86, 126))
MREF = 101  # order at the detector centre
MLAMBDA0 = MREF * 1425.0  # m·λ (Å) at REF_X
MLAMBDA_PER_PIXEL = 1.5625  # Δ(m·λ) per low-res pixel (resolving power ~ 92000)
REF_X = 511.5  # zero-indexed column of MLAMBDA0
ORDER_STEP = 22.0  # rows between adjacent orders (higher orders lower on the detector)
TRACE_TILT = 3.0  # rows across the detector
CD2_2 = 0.036  # arcsec per low-res pixel across the dispersion
SLIT = (0.2, 0.2)  # arcsec (width, height)
SCLAMP, LAMPSET = "LINE", "10.0"
EXPTIME, WAV_EXPTIME = 1200.0, 30.0
#: (columns, rows): the lamp image relative to the references
WAVECAL_SHIFT = (2.3, -1.6)
LINE_SIGMA = 0.9  # pixels
SWITCHES = {
    **mama.SWITCHES,
    "RPTCORR": "OMIT",
    "PHOTCORR": "OMIT",
    "WAVECORR": "PERFORM",
    "X2DCORR": "PERFORM",
    "HELCORR": "PERFORM",
    "DISPCORR": "PERFORM",
    "X1DCORR": "PERFORM",
    "BACKCORR": "PERFORM",
    "SC2DCORR": "OMIT",  # scattered light (ECHSCTAB, EXSTAB, CDSTAB, RIPTAB, SRWTAB, …): not simulated
    "FLUXCORR": "PERFORM",  # PHOTTAB, APERTAB, PCTAB, TDSTAB as the archive applies them
}
#: the wavecal's own switches (cs0.e's wavecal chain ignores its X2DCORR for echelle data)
WAV_SWITCHES = {
    **SWITCHES,
    "DARKCORR": "OMIT",
    "DOPPCORR": "OMIT",
    "WAVECORR": "OMIT",
    "X2DCORR": "OMIT",
    "X1DCORR": "OMIT",
    "BACKCORR": "OMIT",
    "HELCORR": "OMIT",
    "DISPCORR": "OMIT",
    "FLUXCORR": "OMIT",
}
SPEC_REFS = ("LAMPTAB", "WCPTAB", "DISPTAB", "INANGTAB", "SPTRCTAB", "APDESTAB", "SDCTAB", "XTRACTAB")
#: SDCTAB's rectified grid of each order: NPIX2 rows, the trace on (one-indexed) row X2D_CRPIX2
X2D_NPIX2, X2D_CRPIX2 = 31, 16.0


def dispersion_x(wavelength, order, shift: float = 0.0):
    """Zero-indexed column of `wavelength` (Å) in spectral `order`: DISPTAB's relation + `shift`."""
    return (
        REF_X
        + (np.asarray(order, np.float64) * np.asarray(wavelength, np.float64) - MLAMBDA0) / (MLAMBDA_PER_PIXEL)
        + shift
    )


def a2center(order) -> np.ndarray:
    """One-indexed detector row of the trace of `order` at A1CENTER."""
    return 512.0 + ORDER_STEP * (MREF - np.asarray(order, np.float64))


def a2displ(x) -> np.ndarray:
    """Trace displacement (rows) at zero-indexed column `x`, the same for every order."""
    return TRACE_TILT * (np.asarray(x, np.float64) - REF_X) / 1024.0


def order_grid(order) -> tuple[np.ndarray, np.ndarray]:
    """SDCTAB's CRVAL1 (Å, the wavelength at one-indexed CRPIX1 = REF_X + 1) and CDELT1 (Å per pixel)
    of `order`: the dispersion relation's own scale."""
    m = np.asarray(order, np.float64)
    return MLAMBDA0 / m, MLAMBDA_PER_PIXEL / m


def geometry(size: str) -> tuple[tuple[int, int], float]:
    """(shape, LTV2): full as :func:`.stis_mama.geometry`; small the 1024 × 128 subarray at LTV2 = 0
    (orders 119–124). calstis7's ``ScaleWCS`` shifts an echelle order's CRPIX2 by LTV2 but keeps its
    NPIX2 (only first-order grids shrink to the subarray), so for a subarray off the first row
    cs0.e samples rows LTV2 below the orders: an all-zero ``_x2d``."""
    if size == "small":
        return (128, 1024), 0.0
    return mama.geometry(size)


def dataset_names(index: int) -> str:
    """``ocsc<vv>010``.

    >>> dataset_names(0)
    'ocsc01010'
    """
    return "ocsc" + ccd.dataset_names(index)[4:]


# ----------------------------------------------------------------------------- references


def lamp_lines(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The line lamp: wavelengths (Å, 1130–1720) and peak rates (counts/s per pixel), fixed."""
    rng = np.random.default_rng([7200, seed])
    wl = np.sort(rng.uniform(1130.0, 1720.0, 900))
    peak = rng.gamma(1.2, 6.0, wl.size) + 0.5
    return wl, np.minimum(peak, 45.0)


def lamp_template() -> tuple[np.ndarray, np.ndarray]:
    """LAMPTAB's template on 0.01 Å steps: the lines at the resolution of the spectrograph."""
    wl = np.arange(1120.0, 1730.0, 0.01)
    flux = np.full(wl.shape, 0.01)
    lw, peak = lamp_lines()
    for w0, p in zip(lw, peak, strict=True):
        sigma = LINE_SIGMA * MLAMBDA_PER_PIXEL * w0 / MLAMBDA0 * 0.8
        lo, hi = np.searchsorted(wl, [w0 - 6 * sigma, w0 + 6 * sigma])
        flux[lo:hi] += p * np.exp(-0.5 * ((wl[lo:hi] - w0) / sigma) ** 2)
    return wl, flux


def _columns(hdu: fits.BinTableHDU) -> dict:
    """``{name: (format, values)}`` of a table HDU (to merge rows of two modes)."""
    return {c.name: (c.format, np.asarray(hdu.data[c.name])) for c in hdu.columns}


def _blank(fmt: str, values: np.ndarray, n: int):
    """`n` empty rows of a column like `values` (zeros, or blank strings)."""
    if fmt.endswith("A"):
        return np.array([""] * n)
    return np.zeros((n, *np.asarray(values).shape[1:]), np.asarray(values).dtype)


def _merge(first: dict, second: dict) -> list:
    """One table with the rows of `first` then `second` (columns of either; arrays padded with zeros,
    a column one of them lacks left blank in its rows)."""
    n1 = len(next(iter(first.values()))[1])
    n2 = len(next(iter(second.values()))[1])
    names = list(first) + [k for k in second if k not in first]
    cols = {}
    for name in names:
        fmt, a = first[name] if name in first else (second[name][0], _blank(*second[name], n1))
        fmt2, b = second[name] if name in second else (fmt, _blank(fmt, a, n2))
        a, b = np.asarray(a), np.asarray(b)
        if a.ndim == 2 or b.ndim == 2:
            a2, b2 = np.atleast_2d(a), np.atleast_2d(b)
            n = max(a2.shape[1], b2.shape[1])
            out = np.zeros((a2.shape[0] + b2.shape[0], n), np.result_type(a2, b2))
            out[: a2.shape[0], : a2.shape[1]] = a2
            out[a2.shape[0] :, : b2.shape[1]] = b2
            cols[name] = (f"{n}{fmt.lstrip('0123456789')}", out)
        elif fmt.endswith("A"):
            width = max(int(fmt[:-1] or 1), int(fmt2[:-1] or 1))
            cols[name] = (f"{width}A", [str(v) for v in list(a) + list(b)])
        else:
            cols[name] = (fmt, np.concatenate([a, b]))
    return [table(cols)]


def _lamptab() -> list:
    wl, flux = lamp_template()
    n = wl.size
    mine = {
        "SCLAMP": ("8A", np.array([SCLAMP])),
        "LAMPSET": ("8A", np.array([LAMPSET])),
        "OPT_ELEM": ("8A", np.array([OPT_ELEM])),
        "NELEM": ("J", np.array([n])),
        "WAVELENGTH": (f"{n}D", wl[None, :]),
        "FLUX": (f"{n}E", flux.astype(np.float32)[None, :]),
        **spec._meta(1, "caldp.sim E140M line lamp template"),
    }
    return _merge(_columns(spec._lamptab()[0]), mine)


def _wcptab() -> list:
    mine = {
        "DETECTOR": ("8A", [DETECTOR]),
        "OPT_ELEM": ("8A", [OPT_ELEM]),
        "WL_TRIM1": ("J", [40]),
        "WL_TRIM2": ("J", [20]),
        "SP_TRIM1": ("J", [40]),
        "SP_TRIM2": ("J", [20]),
        "WL_RANGE": ("J", [61]),
        "SP_RANGE": ("J", [21]),
        "NSIG_CR": ("D", [5.0]),
        "NSIG_ILL": ("D", [3.0]),
        "MAD_REJ": ("D", [5.0]),
        "MIN_MAD": ("D", [10.0]),
        **spec._meta(1, "caldp.sim echelle wavecal parameters"),
    }
    mine = {k: (f, np.asarray(v)) for k, (f, v) in mine.items()}
    return _merge(_columns(spec._wcptab()[0]), mine)


def _apdestab() -> list:
    mine = {
        "APERTURE": ("16A", [APERTURE]),
        "WIDTH1": ("D", [SLIT[0]]),
        "WIDTH2": ("D", [SLIT[1]]),
        "OFFSET1": ("D", [0.0]),
        "OFFSET2": ("D", [0.0]),
        "ANGLE": ("D", [0.0]),
        "NBARS": ("J", [0]),
        "BAR1LOCN": ("D", [0.0]),
        "BAR1WIDTH": ("D", [0.0]),
        "BAR2LOCN": ("D", [0.0]),
        "BAR2WIDTH": ("D", [0.0]),
        "BAR3LOCN": ("D", [0.0]),
        "BAR3WIDTH": ("D", [0.0]),
        **spec._meta(1, "caldp.sim echelle aperture"),
    }
    mine = {k: (f, np.asarray(v)) for k, (f, v) in mine.items()}
    return _merge(_columns(spec._apdestab()[0]), mine)


def _disptab() -> list:
    coeff = np.zeros(10)
    coeff[1] = 1.0 / MLAMBDA_PER_PIXEL
    coeff[0] = REF_X + 1.0 - MLAMBDA0 * coeff[1]  # one-indexed pixels (evalDisp subtracts 1)
    cols = {
        "OPT_ELEM": ("8A", [OPT_ELEM]),
        "CENWAVE": ("J", [CENWAVE]),
        "A2CENTER": ("D", [512.0]),
        "NCOEFF": ("J", [2]),
        "COEFF": ("10D", coeff[None, :]),
        "REF_APER": ("16A", [APERTURE]),
        "MREF": ("J", [MREF]),
        "YREF": ("D", [512.0]),
        "A4CORR": ("D", [0.0]),
        **spec._meta(1, "caldp.sim echelle dispersion"),
    }
    return [table(cols)]


def _inangtab() -> list:
    n = len(ORDERS)
    cols = {
        "OPT_ELEM": ("8A", [OPT_ELEM] * n),
        "CENWAVE": ("J", [CENWAVE] * n),
        "SPORDER": ("J", list(ORDERS)),
        "NCOEFF1": ("J", [1] * n),
        "COEFF1": ("10D", np.zeros((n, 10))),
        "NCOEFF2": ("J", [1] * n),
        "COEFF2": ("10D", np.zeros((n, 10))),
        **spec._meta(n, "caldp.sim incidence angle (none)"),
    }
    return [table(cols)]


def _sptrctab() -> list:
    n, norders = 1024, len(ORDERS)
    displ = a2displ(np.arange(n)).astype(np.float32)
    cols = {
        "OPT_ELEM": ("8A", [OPT_ELEM] * norders),
        "CENWAVE": ("J", [CENWAVE] * norders),
        "SPORDER": ("J", list(ORDERS)),
        "A1CENTER": ("D", [512.0] * norders),
        "A2CENTER": ("D", [float(a2center(m)) for m in ORDERS]),
        "NELEM": ("J", [n] * norders),
        "A2DISPL": (f"{n}E", np.repeat(displ[None, :], norders, axis=0)),
        "MJD": ("D", [51000.0] * norders),
        "DEGPERYR": ("D", [0.0] * norders),
        **spec._meta(norders, "caldp.sim echelle traces"),
    }
    return [table(cols)]


def _sdctab() -> list:
    n = len(ORDERS)
    crval, cdelt = order_grid(np.array(ORDERS))
    cols = {
        "APERTURE": ("16A", [APERTURE] * n),
        "OPT_ELEM": ("8A", [OPT_ELEM] * n),
        "CENWAVE": ("J", [CENWAVE] * n),
        "SPORDER": ("J", list(ORDERS)),
        "A2CENTER": ("D", [float(a2center(m)) for m in ORDERS]),
        "NPIX1": ("J", [1024] * n),
        "NPIX2": ("J", [X2D_NPIX2] * n),
        "CRPIX1": ("D", [REF_X + 1.0] * n),
        "CRPIX2": ("D", [X2D_CRPIX2] * n),
        "CRVAL1": ("D", list(crval)),
        "CRVAL2": ("D", [0.0] * n),
        "CDELT1": ("D", list(cdelt)),
        "CDELT2": ("D", [CD2_2] * n),
        **spec._meta(n, "caldp.sim echelle 2-D rectification grid"),
    }
    return [table(cols)]


#: XTRACTAB per order (reference pixels): the box, background boxes midway to the next orders
X1D_EXTRSIZE, X1D_BKSIZE, X1D_BKOFFSET, X1D_MAXSRCH = 7.0, 5.0, 11.0, 5


def _xtractab() -> list:
    """XTRACTAB (calstis6 ``getextract.c``): one E140M row per order after stis-ccd-spec's rows
    (the table has no CRDS match keys, so one file serves both modes)."""
    n = len(ORDERS)
    mine = {
        "APERTURE": ("16A", [APERTURE] * n),
        "OPT_ELEM": ("8A", [OPT_ELEM] * n),
        "CENWAVE": ("J", [CENWAVE] * n),
        "SPORDER": ("I", list(ORDERS)),
        "EXTRSIZE": ("E", [X1D_EXTRSIZE] * n),
        "BK1SIZE": ("E", [X1D_BKSIZE] * n),
        "BK2SIZE": ("E", [X1D_BKSIZE] * n),
        "BK1OFFST": ("E", [-X1D_BKOFFSET] * n),
        "BK2OFFST": ("E", [X1D_BKOFFSET] * n),
        "NCOEFFSL": ("J", [1] * n),
        "SLTCOEFF": ("10D", np.zeros((n, 10))),
        "NCOEFFBK": ("J", [1] * n),
        "BKTCOEFF": ("10D", np.zeros((n, 10))),
        "BACKORD": ("I", [0] * n),
        "XTRACALG": ("12A", ["UNWEIGHTED"] * n),
        "MAXSRCH": ("I", [X1D_MAXSRCH] * n),
        **spec._meta(n, "caldp.sim echelle 1-D extraction boxes"),
    }
    mine = {k: (f, np.asarray(v)) for k, (f, v) in mine.items()}
    return _merge(_columns(spec._xtractab()[0]), mine)


#: PHOTTAB's blaze-shift parameters (calstis7 ``getabsphot.c``, ``lib/blazecorr.c``)
BLAZE = {"REFORD": MREF, "REFWAV": 1425.0, "REFY": 512.0, "REFMJD": 51000.0}
BLAZE_SLOPES = {"BSHIFT_VS_X": 0.3, "BSHIFT_VS_Y": 0.05, "BSHIFT_VS_T": 0.0002, "BSHIFT_OFFSET": 0.2}


def blaze(x) -> np.ndarray:
    """Relative echelle blaze at zero-indexed column `x` (as :func:`star_image` draws it)."""
    return np.sinc((np.asarray(x, np.float64) - REF_X) / 1100.0) ** 2


def _phottab() -> list:
    """PHOTTAB for E140M (one row per order, 2 Å steps over the order and beyond, the blaze times a
    smooth response, the blaze-shift columns REFORD … BSHIFT_OFFSET, REFY one-indexed)."""
    n = len(ORDERS)
    nel = 40
    wl = np.zeros((n, nel))
    thru = np.zeros((n, nel), np.float32)
    for k, m in enumerate(ORDERS):
        c = MLAMBDA0 / m
        wl[k] = c - 39.0 + 2.0 * np.arange(nel)
        x = REF_X + (m * wl[k] - MLAMBDA0) / MLAMBDA_PER_PIXEL
        thru[k] = (0.004 * (1.0 + 0.3 * np.cos((wl[k] - 1150.0) / 200.0)) * (blaze(x) + 0.05)).astype(np.float32)
    cols = {
        "OPT_ELEM": ("8A", [OPT_ELEM] * n),
        "CENWAVE": ("J", [CENWAVE] * n),
        "SPORDER": ("I", list(ORDERS)),
        "NELEM": ("J", [nel] * n),
        "WAVELENGTH": (f"{nel}D", wl),
        "THROUGHPUT": (f"{nel}E", thru),
        "ERROR": (f"{nel}E", (0.01 * thru).astype(np.float32)),
        **{k: ("J" if k == "REFORD" else "D", [v] * n) for k, v in BLAZE.items()},
        **{k: ("D", [v] * n) for k, v in BLAZE_SLOPES.items()},
        **spec._meta(n, "caldp.sim E140M sensitivity"),
    }
    return [table(cols)]


def _apertab() -> list:
    wl = np.array([1000.0, 1400.0, 1800.0])
    mine = {
        "APERTURE": ("16A", np.array([APERTURE])),
        "NELEM": ("J", np.array([wl.size])),
        "WAVELENGTH": (f"{wl.size}D", wl[None, :]),
        "THROUGHPUT": (f"{wl.size}E", np.array([[0.62, 0.66, 0.69]], np.float32)),
        **{k: (f, np.asarray(v)) for k, (f, v) in spec._meta(1, "caldp.sim 0.2X0.2 throughput").items()},
    }
    return _merge(_columns(spec._apertab()[0]), mine)


#: TDSTAB (GetTds, the original STIS format): E140M's sensitivity loss, percent per year in linear
#: segments starting at TDS_TIMES (MJD), and its temperature dependence; REFTEMP as the imaging row's
TDS_TIMES = (50800.0, 52500.0, 55000.0)
TDS_WL = np.array([1100.0, 1200.0, 1300.0, 1400.0, 1500.0, 1600.0, 1700.0, 1800.0])
TDS_SLOPES = np.array(
    [
        [-0.9, -1.1, -1.3, -1.4, -1.3, -1.2, -1.0, -0.9],
        [-1.8, -2.0, -2.3, -2.5, -2.2, -2.0, -1.7, -1.5],
        [-0.3, -0.35, -0.4, -0.45, -0.5, -0.45, -0.4, -0.3],
    ]
)
TDS_TEMPSENS = np.array([-0.0021, -0.0022, -0.0022, -0.0020, -0.0018, -0.0016, -0.0015, -0.0013])
#: after stis-mama-image's DATE-OBS (its TDSTAB keeps serving it when both modes share a cache)
TDS_USEAFTER = "2024-07-15 00:00:00"


def _tdstab() -> list:
    """The FUV-MAMA TDSTAB in the format calstis6/calstis7 read (``lib/gettds.c``: OPT_ELEM, NWL, NT,
    WAVELENGTH, TIME, SLOPE with TDIM = (NWL, NT), REFTEMP, TEMPSENS): E140M's row, and the imaging
    mode's MIRROR row (no time dependence, its temperature sensitivity) — TDSTAB is matched on
    DETECTOR alone, so one file serves every FUV-MAMA exposure after its USEAFTER."""
    nwl, nt = TDS_WL.size, len(TDS_TIMES)
    mwl = np.array([1150.0, 1400.0, 1700.0, 2000.0])  # stis_mama's MIRROR row
    msens = np.array([-0.0025, -0.0020, -0.0016, -0.0012])
    wl = np.zeros((2, nwl))
    wl[0, : mwl.size], wl[1] = mwl, TDS_WL
    sens = np.zeros((2, nwl))
    sens[0, : mwl.size], sens[1] = msens, TDS_TEMPSENS
    time = np.zeros((2, nt))
    time[0, 0], time[1] = 50000.0, TDS_TIMES
    slope = np.zeros((2, nt, nwl))
    slope[1] = TDS_SLOPES
    cols = [
        fits.Column(name="OPT_ELEM", format="8A", array=np.array([mama.OPT_ELEM, OPT_ELEM])),
        fits.Column(name="NWL", format="J", array=np.array([mwl.size, nwl])),
        fits.Column(name="NT", format="J", array=np.array([1, nt])),
        fits.Column(name="WAVELENGTH", format=f"{nwl}D", unit="angstrom", array=wl),
        fits.Column(name="TIME", format=f"{nt}D", unit="MJD", array=time),
        fits.Column(name="SLOPE", format=f"{nt * nwl}D", dim=f"({nwl},{nt})", unit="percent /yr", array=slope),
        fits.Column(name="REFTEMP", format="D", unit="Celsius", array=np.array([mama.TDS_REFTEMP] * 2)),
        fits.Column(name="TEMPSENS", format=f"{nwl}D", array=sens),
        fits.Column(name="PEDIGREE", format="24A", array=np.array(["INFLIGHT 01/01/2002 01/01/2026"] * 2)),
        fits.Column(name="DESCRIP", format="40A", array=np.array(["caldp.sim FUV-MAMA sensitivity vs time"] * 2)),
    ]
    return [fits.BinTableHDU.from_columns(cols)]


def _pctab() -> list:
    """PCTAB for 0.2X0.2 / 1425 (the XTRACTAB box is 7 rows): the point-source fraction per
    EXTRHEIGHT, the same for every order (calstis6 ``getpct6.c`` splines it per order)."""
    wl = np.array([1100.0, 1250.0, 1400.0, 1550.0, 1700.0, 1850.0])
    pc = np.array([[0.62, 0.64, 0.66, 0.67, 0.68, 0.68], [0.88, 0.89, 0.90, 0.905, 0.91, 0.91], [1.0] * 6], np.float32)
    return spec.pctab_rows(APERTURE, CENWAVE, wl, pc, "caldp.sim E140M point-source height correction")


# ----------------------------------------------------------------------------- SC2DCORR tables
# The scattered-light correction's references as calstis6's IDT algorithm reads them
# (``lib/idtalg/echscatread.c``); SC2DCORR stays OMIT in the default headers (the builtin engine does
# not do it yet), a test runs cs0.e with SC2DCORR = PERFORM on them.

#: ECHSCTAB: the echelle's scattering along the dispersion (per order, NELEM odd, centred)
ECHSCAT_NELEM = 201
#: EXSTAB (the cross-disperser profile the model is convolved with) and CDSTAB (the cross-dispersion
#: scattering of the halo kernels): unit-area Gaussians, NELEM and σ (pixels)
EXSCAT = (31, 4.0)
CDSCAT = (15, 2.0)
#: SRWTAB: the reference wavelength of the halo and of the telescope PSF (one: NRW = 1)
SC_REFWAVE = 1425.0
#: HALOTAB: HALDIM must equal the detector's 1024 low-res pixels (the kernels' FT is multiplied
#: element by element with the image's on a 2·nx × 2·ny grid)
HALDIM = 1024
#: TELTAB: the telescope PSF, PSFDIM² points of PSCALE arcsec (10× finer than E140M's 0.036″)
PSFDIM, PSCALE = 101, 0.0036


def _gauss(n: int, sigma: float) -> np.ndarray:
    x = np.arange(n) - n // 2
    g = np.exp(-0.5 * (x / sigma) ** 2)
    return (g / g.sum()).astype(np.float32)


def _echsctab() -> list:
    n = len(ORDERS)
    x = np.arange(ECHSCAT_NELEM) - ECHSCAT_NELEM // 2
    prof = 2.0e-4 / (1.0 + (x / 25.0) ** 2) + 3.0e-3 * np.exp(-0.5 * (x / 1.5) ** 2)
    cols = {
        "OPT_ELEM": ("8A", [OPT_ELEM] * n),
        "SPORDER": ("J", list(ORDERS)),
        "NELEM": ("J", [ECHSCAT_NELEM] * n),
        "ECHSCAT": (f"{ECHSCAT_NELEM}D", np.tile(prof, (n, 1))),
        **spec._meta(n, "caldp.sim echelle scattering function"),
    }
    return [table(cols)]


def _profile_table(column: str, nelem: int, sigma: float, what: str) -> list:
    cols = {
        "OPT_ELEM": ("8A", [OPT_ELEM]),
        "NELEM": ("J", [nelem]),
        column: (f"{nelem}E", _gauss(nelem, sigma)[None, :]),
        **spec._meta(1, what),
    }
    return [table(cols)]


def _riptab() -> list:
    """RIPTAB: each order's ripple (the blaze of :func:`blaze`) on wavelengths reaching half a free
    spectral range beyond the detector (calstis6 extends the orders to 3000 points)."""
    n, nel = len(ORDERS), 200
    x = np.linspace(-700.0, 1723.0, nel)
    m = np.array(ORDERS, np.float64)[:, None]
    wl = (MLAMBDA0 + (x[None, :] - REF_X) * MLAMBDA_PER_PIXEL) / m
    rip = np.tile(blaze(x) + 0.02, (n, 1))
    cols = {
        "OPT_ELEM": ("8A", [OPT_ELEM] * n),
        "CENWAVE": ("J", [CENWAVE] * n),
        "SPORDER": ("J", list(ORDERS)),
        "NELEM": ("J", [nel] * n),
        "WAVELENGTH": (f"{nel}D", wl),
        "RIPPLE": (f"{nel}D", rip),
        **spec._meta(n, "caldp.sim echelle ripple"),
    }
    return [table(cols)]


def _srwtab() -> list:
    waves = np.zeros((1, 3))
    waves[0, 0] = SC_REFWAVE
    cols = {
        "OPT_ELEM": ("8A", [OPT_ELEM]),
        "CENWAVE": ("J", [CENWAVE]),
        "NRW": ("J", [1]),
        "HALOWAVES": ("3D", waves),
        "PSFWAVES": ("3D", waves),
        **spec._meta(1, "caldp.sim scattering reference wavelengths"),
    }
    return [table(cols)]


def _halotab() -> list:
    """HALOTAB: the detector halo at SC_REFWAVE, a centred HALDIM² image (unit sum), exponential wings."""
    r = np.hypot(*np.meshgrid(np.arange(HALDIM) - HALDIM / 2, np.arange(HALDIM) - HALDIM / 2))
    halo = np.exp(-r / 3.0) + 2.0e-3 * np.exp(-r / 60.0)
    halo = (halo / halo.sum()).astype(np.float32)
    cols = {
        "OPT_ELEM": ("8A", [OPT_ELEM]),
        "HALOWAVE": ("D", [SC_REFWAVE]),
        "HALDIM": ("J", [HALDIM]),
        "HALO": (f"{HALDIM * HALDIM}E", halo.reshape(1, -1)),
        **spec._meta(1, "caldp.sim FUV-MAMA halo"),
    }
    return [table(cols)]


def _teltab() -> list:
    """TELTAB: HST's PSF at SC_REFWAVE, PSFDIM² points of PSCALE arcsec (core and a faint ring)."""
    r = np.hypot(*np.meshgrid(np.arange(PSFDIM) - PSFDIM // 2, np.arange(PSFDIM) - PSFDIM // 2)) * PSCALE
    psf = np.exp(-0.5 * (r / 0.012) ** 2) + 0.01 * np.exp(-0.5 * ((r - 0.08) / 0.02) ** 2)
    cols = {
        "PSFWAVE": ("D", [SC_REFWAVE]),
        "PSCALE": ("D", [PSCALE]),
        "PSFDIM": ("J", [PSFDIM]),
        "TELEPSF": (f"{PSFDIM * PSFDIM}E", (psf / psf.sum()).astype(np.float32).reshape(1, -1)),
        **spec._meta(1, "caldp.sim telescope PSF"),
    }
    return [table(cols)]


def scatter_tables() -> dict:
    """``{kind: (keyword, file name, FILETYPE, HDUs)}`` of the seven SC2DCORR tables."""
    return {
        "echsctab": ("ECHSCTAB", "s8c000eo_ech.fits", "ECHELLE SCATTERING FUNCTIONS", _echsctab()),
        "exstab": ("EXSTAB", "s8c000fo_exs.fits", "ECHELLE CROSS-DISPERSION PROFILE",
                   _profile_table("EXSCAT", *EXSCAT, "caldp.sim cross-disperser profile")),
        "cdstab": ("CDSTAB", "s8c000go_cds.fits", "CROSS-DISPERSION SCATTERING",
                   _profile_table("CDSCAT", *CDSCAT, "caldp.sim cross-dispersion scattering")),
        "riptab": ("RIPTAB", "s8c000ho_rip.fits", "ECHELLE RIPPLE TABLE", _riptab()),
        "srwtab": ("SRWTAB", "s8c000io_srw.fits", "SCATTERING REFERENCE WAVELENGTHS", _srwtab()),
        "halotab": ("HALOTAB", "s8c000jo_hal.fits", "DETECTOR HALO TABLE", _halotab()),
        "teltab": ("TELTAB", "s8c000ko_tel.fits", "TELESCOPE PSF TABLE", _teltab()),
    }  # fmt: skip


def write_references(refdir: Path, pflat: np.ndarray) -> tuple[list[RefEntry], dict[str, str]]:
    """The echelle references (and the E140M flat); returns rmap entries and raw-header values."""
    det = {"DETECTOR": DETECTOR}
    tables = {
        "lamptab": ("LAMPTAB", "s8c0001o_lmp.fits", "TEMPLATE CAL LAMP SPECTRA TABLE", _lamptab(), {}),
        "wcptab": ("WCPTAB", "s8c0002o_wcp.fits", "WAVECAL PARAMETERS TABLE", _wcptab(), {}),
        "disptab": ("DISPTAB", "s8c0003o_dsp.fits", "DISPERSION COEFFICIENTS TABLE", _disptab(), det),
        "inangtab": ("INANGTAB", "s8c0004o_iac.fits", "INCIDENCE ANGLE TABLE", _inangtab(), det),
        "sptrctab": ("SPTRCTAB", "s8c0005o_1dt.fits", "SPECTRUM TRACE TABLE", _sptrctab(), det),
        "apdestab": ("APDESTAB", "s8c0006o_apd.fits", "APERTURE DESCRIPTION TABLE", _apdestab(), {}),
        "sdctab": ("SDCTAB", "s8c0008o_sdc.fits", "2-D SPECTRUM DISTORTION TABLE", _sdctab(), det),
        "xtractab": ("XTRACTAB", "s8c0009o_1dx.fits", "1-D EXTRACTION PARAMETERS TABLE", _xtractab(), {}),
        "phottab": ("PHOTTAB", "s8c000ao_pht.fits", "PHOTOMETRIC CONVERSION TABLE", _phottab(), det),
        "apertab": ("APERTAB", "s8c000bo_apt.fits", "APERTURE THROUGHPUT TABLE", _apertab(), {}),
        "tdstab": ("TDSTAB", "s8c000co_tds.fits", "TIME DEPENDENT SENSITIVITY", _tdstab(), det),
        "pctab": ("PCTAB", "s8c000do_pct.fits", "PHOTOMETRIC CORRECTION TABLE", _pctab(), det),
        **{kind: (*v, det) for kind, v in scatter_tables().items()},
    }
    entries: list[RefEntry] = []
    refkw: dict[str, str] = {}
    for kind, (kw, name, ftype, hdus, match) in tables.items():
        detector = DETECTOR if match else "ANY"
        useafter = TDS_USEAFTER if kind == "tdstab" else USEAFTER
        mama._ref(refdir, name, ftype, hdus, f"caldp.sim STIS {kind}", USEAFTER=useafter, DETECTOR=detector)
        entries.append(RefEntry("stis", kind, name, match, useafter))
        refkw[kw] = name
    name = "s8c0007o_pfl.fits"
    mama._ref(
        refdir,
        name,
        "PIXEL-TO-PIXEL FLAT",
        imset(1, pflat, None, None, cards=mama._hires_cards(), err_value=0.004),
        "caldp.sim STIS E140M pfltfile",
        USEAFTER=USEAFTER,
        OPT_ELEM=OPT_ELEM,
        APERTURE="ANY",
    )
    match = {**det, "OPT_ELEM": OPT_ELEM, "OBSTYPE": "SPECTROSCOPIC", "CENWAVE": str(CENWAVE)}
    entries.append(RefEntry("stis", "pfltfile", name, match, USEAFTER))
    refkw["PFLTFILE"] = name
    return entries, {k: f"oref${v}" for k, v in refkw.items()}


# ----------------------------------------------------------------------------- exposures


def _order_rows(order: int, x: np.ndarray, shift_y: float) -> np.ndarray:
    """Zero-indexed row of the trace centre of `order` at columns `x`."""
    return a2center(order) - 1.0 + a2displ(x) + shift_y


def lamp_image(shape, y0: int, shift=(0.0, 0.0)) -> np.ndarray:
    """Counts per second of the line lamp through the 0.2X0.2 slit on rows y0… of the detector."""
    ny, nx = shape
    x = np.arange(nx, dtype=np.float64)
    rows = np.arange(y0, y0 + ny, dtype=np.float64)[:, None]
    half = SLIT[1] / CD2_2 / 2.0
    lw, peak = lamp_lines()
    img = np.zeros(shape)
    for m in ORDERS:
        yc = _order_rows(m, x, shift[1])
        if yc.max() + half + 3 < y0 or yc.min() - half - 3 > y0 + ny:
            continue
        xl = dispersion_x(lw, m, shift[0])
        sel = (xl > -5) & (xl < nx + 5)
        sp = (peak[sel][:, None] * np.exp(-0.5 * ((x[None, :] - xl[sel][:, None]) / LINE_SIGMA) ** 2)).sum(axis=0)
        prof = 0.5 * (np.tanh((rows - (yc - half)) / 0.5) - np.tanh((rows - (yc + half)) / 0.5))
        img += prof * (sp + 0.02)[None, :]
    return img.astype(F32)


def star_image(shape, y0: int, rng, shift=(0.0, 0.0)) -> np.ndarray:
    """Counts per second of a point source's echelle spectrum (continuum × blaze with absorption
    lines) on rows y0… of the detector."""
    ny, nx = shape
    x = np.arange(nx, dtype=np.float64)
    rows = np.arange(y0, y0 + ny, dtype=np.float64)[:, None]
    absorb = rng.uniform(1150.0, 1700.0, 60)
    img = np.zeros(shape)
    for m in ORDERS:
        yc = _order_rows(m, x, shift[1])
        if yc.max() + 8 < y0 or yc.min() - 8 > y0 + ny:
            continue
        wl = (MLAMBDA0 + (x - REF_X - shift[0]) * MLAMBDA_PER_PIXEL) / m
        cont = 0.08 * (1.0 + 0.4 * np.sin((wl - 1150.0) / 120.0))
        cont *= np.sinc((x - REF_X) / 1100.0) ** 2  # blaze
        for w0 in absorb:
            cont *= 1.0 - 0.6 * np.exp(-0.5 * ((wl - w0) / 0.05) ** 2)
        prof = np.exp(-0.5 * ((rows - yc) / 1.3) ** 2) / (1.3 * np.sqrt(2 * np.pi))
        img += prof * cont[None, :]
    return (img + 2e-4).astype(F32)


def _spec_cards(cards: dict, *, wavecal: str) -> dict:
    cards.update(
        {
            "OBSTYPE": "SPECTROSCOPIC",
            "OPT_ELEM": OPT_ELEM,
            "APERTURE": APERTURE,
            "PROPAPER": APERTURE,
            "APER_FOV": APER_FOV,
            "FILTER": "Clear",
            "CENWAVE": CENWAVE,
            "WAVECAL": wavecal,
            "LAMPSET": "0.0",
            "LFLTFILE": "N/A",
            "NRPTEXP": 1,
            "ASN_ID": "NONE",
            "ASN_TAB": "",
            "ASN_MTYP": "",
        }
    )
    return cards


def _sci_wcs(ltv2: float, mtyp: str) -> dict:
    return {
        "ASN_MTYP": mtyp,
        "WCSAXES": 2,
        "CTYPE1": "LAMBDA",
        "CTYPE2": "ANGLE",
        "CRPIX1": REF_X + 1.0,
        "CRPIX2": 512.0 + ltv2,
        "CRVAL1": float(CENWAVE),
        "CRVAL2": 0.0,
        "CD1_1": MLAMBDA_PER_PIXEL / MREF,
        "CD1_2": 0.0,
        "CD2_1": 0.0,
        "CD2_2": CD2_2 / 3600.0,
        "CUNIT1": "angstrom",
        "CUNIT2": "deg",
        "DISPAXIS": 1,
        "SHIFTA1": 0.0,
        "SHIFTA2": 0.0,
        "SPORDER": MREF,
    }


def _exposure_hdus(name, cards, shape, ltv2, rate, exptime, expstart, rng, mtyp, doppler: bool) -> list:
    counts = poisson_counts(rng, rate * np.float32(exptime) + np.float32(mama.DARK_RATE * 4 * exptime))
    raw = np.clip(np.rint(counts), 0, 65535).astype(np.uint16)
    globrate = float(raw.sum(dtype=np.float64)) / exptime
    pointing = mama.Pointing((0.0, 0.0), (512.0, 512.0), CD2_2, 0.0)
    sc = mama.sci_cards(name, shape, ltv2, pointing, expstart=expstart, globrate=globrate)
    for k in [
        k for k in sc if k.startswith(("CTYPE", "CRPIX", "CRVAL", "CD", "CUNIT", "WCS", "RA_", "DEC_", "ORIENT"))
    ]:
        del sc[k]
    sc.update({"EXPEND": expstart + exptime / 86400.0, "EXPTIME": exptime, "PLATESC": CD2_2, **_sci_wcs(ltv2, mtyp)})
    if not doppler:
        sc["DOPPON"] = False
    hdus = [primary(cards), *imset(1, raw, None, None, cards=sc)]
    for h in hdus[1:]:
        if h.header["EXTNAME"] != "SCI":
            h.header["BUNIT"] = "COUNTS" if h.header["EXTNAME"] == "ERR" else "UNITLESS"
    return hdus


def make_dataset(outdir, mode: str, index: int, size: str, seed: int, store, truth: bool):
    """One ``stis-mama-echelle`` dataset (raw, wavecal, spt) under ``outdir/inputs/<name>``; the
    references go once into `store` (the FUV-MAMA ones shared with ``stis-mama-image``)."""
    detector, _, mjd0 = MODES[mode]
    refkw, pflat = mama.mama_references(store, detector)
    ekw = store.once(("stis", detector, "echelle"), lambda: write_references(store.refdir, pflat))
    refkw = {**refkw, **ekw}
    shape, ltv2 = geometry(size)
    y0 = int(-ltv2)
    name = dataset_names(index)
    ddir = Path(outdir) / "inputs" / name
    if ddir.exists():
        shutil.rmtree(ddir)
    ddir.mkdir(parents=True)
    rng = mama._rng(seed, 20 + ("small", "full").index(size), index)
    ra, dec = float(rng.uniform(10.0, 350.0)), float(rng.uniform(-60.0, 60.0))
    lo_flat = pflat.reshape(1024, 2, 1024, 2).mean(axis=(1, 3))[y0 : y0 + shape[0]]
    rate = (star_image(shape, y0, rng, WAVECAL_SHIFT) * lo_flat).astype(F32)
    wavname = f"{name}_wav.fits"
    cards = mama.primary_cards(name, nimsets=1, mjd=mjd0, targ=(ra, dec), refkw=refkw, subarray=size == "small")
    cards.update({**SWITCHES, **ekw})  # after primary_cards' N/A for the imaging mode's unused refs
    cards.update({"TARGNAME": "CALDP-SIM-STAR", "TEXPTIME": EXPTIME, "TEXPEND": mjd0 + EXPTIME / 86400.0})
    _spec_cards(cards, wavecal=wavname)
    hdus = _exposure_hdus(name, cards, shape, ltv2, rate, EXPTIME, mjd0, rng, "", True)
    wstart = mjd0 + (EXPTIME + 60.0) / 86400.0
    wcards = mama.primary_cards(name, nimsets=1, mjd=wstart, targ=(ra, dec), refkw=refkw, subarray=size == "small")
    wcards.update({**WAV_SWITCHES, **ekw})
    _spec_cards(wcards, wavecal="N/A")
    wcards.update(
        {
            "FILENAME": wavname,
            "TARGNAME": "WAVELINE",
            "SCLAMP": SCLAMP,
            "LAMPSET": LAMPSET,
            "TEXPTIME": WAV_EXPTIME,
            "TEXPEND": wstart + WAV_EXPTIME / 86400.0,
            "ASN_MTYP": "AUTO-WAVECAL",
        }
    )
    lamp = (lamp_image(shape, y0, WAVECAL_SHIFT) * lo_flat).astype(F32)
    whdus = _exposure_hdus(name, wcards, shape, ltv2, lamp, WAV_EXPTIME, wstart, rng, "AUTO-WAVECAL", False)
    files = [
        write(hdus, ddir / f"{name}_raw.fits"),
        write(whdus, ddir / wavname),
        write_spt(ddir / f"{name}_spt.fits", name, "STIS", DETECTOR, {"PROPOSID": 17007, "EXPSTART": mjd0}),
    ]
    info = None
    if truth:
        tfile = write(
            [primary({"ROOTNAME": name.upper(), "BUNIT": "COUNTS/S"}), image_extension("SCI", 1, rate)],
            Path(outdir) / "truth" / name / f"{name}_truth.fits",
        )
        info = {"truth_file": str(tfile), "wavecal_shift": list(WAVECAL_SHIFT)}
    return name, ddir, files, info
