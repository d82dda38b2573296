"""COS TIME-TAG datasets and the synthetic references calcos needs (modes ``cos-fuv-asn``, ``cos-nuv``).

Each exposure is an events table (``_rawtag_a``/``_rawtag_b`` for FUV, ``_rawtag`` for NUV) made
from a source spectrum (a smooth continuum with Gaussian absorption lines, :data:`LINES`),
a uniform detector background, and the detector effects the references describe: a flat field
(events are kept with probability FLAT), a small geometric distortion (GEOFILE, added here and
removed by GEOCORR), pulse heights (source events in a Gaussian, background events uniform, so
PHACORR flags some), orbital (DOPPCORR) and heliocentric (HELCORR) Doppler shifts, and an
FP-POS step of ``FPOFFSET * STEPSIZE`` pixels along the dispersion that WAVECORR measures from
the Pt-Ne lamp flash (TAGFLASH=AUTO) recorded in the same events table.

References are written from the published table layouts that calcos reads (FILETYPE and
VCALCOS as calcos checks them; see ``docs/notes/cos.md``), named ``sc<d>a<nnnn>l_<sfx>.fits``,
and registered as :class:`caldp.sim.crdscache.RefEntry` so ``crds bestrefs`` assigns them.

Truth (``truth=True``): the source flux (erg s⁻¹ cm⁻² Å⁻¹) on a wavelength grid and the line
centres, per segment/stripe, as a dict.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.time import Time

from .crdscache import RefEntry
from .fitsutil import primary, table, write

log = logging.getLogger(__name__)

VCALCOS = "3.4"
FUV_X, FUV_Y, NUV_X, NUV_Y = 16384, 1024, 1024, 1024
NUV_X_OFFSET, NUV_EXTENDED_X = 100, 1274
#: (rest) wavelengths (Å), depth (fraction removed at the centre) and sigma (Å) of the absorption lines.
LINES = {
    "G130M": (
        (1190.42, 0.6, 0.15),
        (1206.50, 0.7, 0.15),
        (1260.42, 0.8, 0.12),
        (1334.53, 0.7, 0.12),
        (1370.13, 0.5, 0.15),
        (1393.76, 0.6, 0.12),
        (1402.77, 0.5, 0.12),
    ),
    "G185M": ((1808.00, 0.6, 0.2), (1854.72, 0.7, 0.2), (1862.79, 0.6, 0.2), (1900.0, 0.5, 0.2)),
}
SENS_PEAK = 1.0e12  # counts s⁻¹ pixel⁻¹ per (erg s⁻¹ cm⁻² Å⁻¹)
STEPSIZE = {"G130M": 52.0, "G185M": 20.0}
DOPPMAGV, ORBITPER = 7.5, 5760.0


@dataclass(frozen=True, slots=True)
class Seg:
    """One FUV segment or NUV stripe: where its spectrum falls and its dispersion solution."""

    name: str  # FUVA, FUVB, NUVA…
    b_spec: float  # PSA spectrum centre (detector row)
    b_wca: float  # WCA (lamp) spectrum centre
    c0: float  # wavelength at x = 0 (Å)
    c1: float  # Å per pixel
    x_lo: int  # active columns
    x_hi: int


@dataclass(frozen=True, slots=True)
class CosMode:
    detector: str
    opt_elem: str
    cenwave: int
    nexp: int
    segs: tuple[Seg, ...]
    flux: float  # continuum flux (erg s⁻¹ cm⁻² Å⁻¹)
    exptime: dict  # size -> seconds
    mjd: float
    program: str  # naming digit


FUV_SEGS = (
    Seg("FUVA", 480.0, 545.0, 1280.0, 0.00997, 1200, 15200),
    Seg("FUVB", 540.0, 605.0, 1123.5, 0.00997, 1000, 15000),
)
NUV_SEGS = (
    Seg("NUVA", 190.0, 465.0, 1790.0, 0.037, 0, 1024),
    Seg("NUVB", 295.0, 570.0, 1830.0, 0.037, 0, 1024),
    Seg("NUVC", 400.0, 675.0, 1870.0, 0.037, 0, 1024),
)
MODES = {
    "cos-fuv-asn": CosMode("FUV", "G130M", 1291, 2, FUV_SEGS, 6.0e-14, {"small": 60.0, "full": 900.0}, 60400.3, "7"),
    "cos-nuv": CosMode("NUV", "G185M", 1850, 1, NUV_SEGS, 3.75e-13, {"small": 60.0, "full": 900.0}, 60401.3, "8"),
    # NUV TIME-TAG imaging through MIRRORA: a few point sources (flux = brightest source's counts/s)
    "cos-nuv-image": CosMode("NUV", "MIRRORA", 0, 1, (), 400.0, {"small": 60.0, "full": 900.0}, 60402.3, "9"),
}
#: Imaging sources (x, y, fraction of the mode's rate) and their Gaussian sigma (pixels).
IMAGE_SOURCES = ((512.0, 512.0, 1.0), (380.0, 640.0, 0.3), (700.0, 300.0, 0.15), (600.0, 760.0, 0.05))
IMAGE_SIGMA = 2.0
#: Sizes: FUV background rate (counts/s/segment) and the number of FP-POS exposures.
NEXP = {"small": 2, "full": 4}
DARK_RATE = {"FUV": 40.0, "NUV": 15.0}
PSF_SIGMA_Y = {"FUV": 3.0, "NUV": 2.5}
EXTRACT_HEIGHT = {"FUV": 25, "NUV": 17}
LAMP_RATE = 4.0  # peak lamp counts/s/pixel
#: FUV stim pulse positions (x, y) and the rate of each (counts/s); STIMRATE is their sum.
STIMS = ((400.0, 950.0), (16000.0, 60.0))
STIM_RATE = 15.0


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), 7700, *keys])


def _rest_flux(mode: CosMode, wave: np.ndarray) -> np.ndarray:
    """Source flux density (erg s⁻¹ cm⁻² Å⁻¹): a gently sloped continuum with Gaussian absorption lines."""
    w0 = float(mode.cenwave)
    f = mode.flux * (1.0 + 0.3 * (wave - w0) / w0 * 10.0)
    for centre, depth, sigma in LINES[mode.opt_elem]:
        f = f * (1.0 - depth * np.exp(-0.5 * ((wave - centre) / sigma) ** 2))
    return f


def sensitivity(wave: np.ndarray, cenwave: float) -> np.ndarray:
    """FLUXTAB sensitivity (counts s⁻¹ pixel⁻¹ per erg s⁻¹ cm⁻² Å⁻¹): a broad hump round the central wavelength."""
    return SENS_PEAK * (0.5 + 0.5 * np.exp(-0.5 * ((wave - cenwave) / (0.12 * cenwave)) ** 2))


def lamp_lines(detector: str, seg: Seg, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel positions (at FPOFFSET 0) and peak rates of the lamp lines of one segment/stripe."""
    rng = _rng(seed, 1, {"FUVA": 1, "FUVB": 2, "NUVA": 3, "NUVB": 4, "NUVC": 5}[seg.name])
    n = 60 if detector == "FUV" else 14
    x = np.sort(rng.uniform(seg.x_lo + 150, seg.x_hi - 150, n))
    peak = LAMP_RATE * rng.uniform(0.2, 1.0, n)
    return x, peak


def lamp_profile(x: np.ndarray, lines: tuple[np.ndarray, np.ndarray], width: float) -> np.ndarray:
    pos, peak = lines
    out = np.zeros_like(x, dtype=np.float64)
    for p, a in zip(pos, peak, strict=True):
        near = np.abs(x - p) < 6 * width
        out[near] += a * np.exp(-0.5 * ((x[near] - p) / width) ** 2)
    return out


def geo_shift(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GEOFILE distortion (pixels) at detector (x, y): what GEOCORR subtracts."""
    dx = 0.25 * np.sin(2 * np.pi * x / FUV_X) * np.cos(np.pi * y / FUV_Y)
    dy = 0.15 * np.cos(2 * np.pi * x / FUV_X)
    return dx.astype(np.float32), dy.astype(np.float32)


def flat_value(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The FLATFILE value at detector (x, y): fixed-pattern ripple of ±3 % (events kept with this probability)."""
    return (0.97 + 0.03 * np.sin(x / 37.0) * np.cos(y / 11.0)).astype(np.float32)


#: TDSTAB: sensitivity loss since TDS_REF_TIME (MJD), piecewise linear in time between TDS_TIMES with
#: slopes (percent per year) steepening with time and towards the red end of each segment/stripe.
TDS_REF_TIME = 54900.0
TDS_TIMES = (54900.0, 56500.0, 58500.0, 62000.0)
TDS_NWL, TDS_MAXWL = 20, 32  # wavelengths used / column width (calcos reads the first NWL)
DAYS_PER_YEAR = 365.25  # calcos's constant


def tds_table(seg: Seg) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(wavelengths, slope, intercept) of a segment's TDSTAB row, as calcos reads them: the factor at time t
    (MJD) in interval i is ``(t - TDS_REF_TIME) / 365.25 * slope[i] / 100 + intercept[i]``; intercepts make
    the factor continuous and 1 at the first time."""
    n = FUV_X if seg.name.startswith("FUV") else NUV_X
    wl = np.linspace(seg.c0 - 20.0, seg.c0 + seg.c1 * n + 20.0, TDS_NWL)
    red = (wl - wl[0]) / (wl[-1] - wl[0])
    times = np.asarray(TDS_TIMES)
    slope = np.array([-(0.6 + 0.5 * i) * (0.8 + 0.4 * red) for i in range(times.size)])
    intercept = np.empty_like(slope)
    value = np.ones_like(wl)  # factor at times[i]
    for i in range(times.size):
        intercept[i] = value - (times[i] - TDS_REF_TIME) / DAYS_PER_YEAR * slope[i] / 100.0
        if i + 1 < times.size:
            value = (times[i + 1] - TDS_REF_TIME) / DAYS_PER_YEAR * slope[i] / 100.0 + intercept[i]
    return wl, slope, intercept


def tds_factor(seg: Seg, wave: np.ndarray, mjd: float) -> np.ndarray:
    """The TDSTAB factor at `wave` (Å) and time `mjd`, evaluated as calcos's ``getTdsFactors`` does
    (interval containing the time, linear interpolation in wavelength); the simulator multiplies the
    source's count rate by it and TDSCORR divides it out."""
    wl, slope, intercept = tds_table(seg)
    times = np.asarray(TDS_TIMES)
    i = int(np.searchsorted(times, mjd, side="right")) - 1
    i = min(max(i, 0), times.size - 1)
    node = (mjd - TDS_REF_TIME) / DAYS_PER_YEAR * slope[i] / 100.0 + intercept[i]
    return np.interp(wave, wl, node)


# ---------------------------------------------------------------------------------------------
# References


class _Namer:
    def __init__(self, detector: str):
        self.prefix = f"sc{detector[0].lower()}a"
        self.n = 0

    def __call__(self, sfx: str) -> str:
        self.n += 1
        return f"{self.prefix}{self.n:04d}l_{sfx}.fits"


def _ref_primary(name: str, filetype: str, detector: str, extra=None) -> fits.PrimaryHDU:
    cards = {
        "FILENAME": name,
        "FILETYPE": filetype,
        "TELESCOP": "HST",
        "INSTRUME": "COS",
        "DETECTOR": detector,
        "VCALCOS": VCALCOS,
        "USEAFTER": "Jan 01 2009 00:00:00",
        "PEDIGREE": "DUMMY 01/01/2009 01/01/2030",
        "DESCRIP": "caldp.sim synthetic reference",
        "COSCOORD": "USER",
        **(extra or {}),
    }
    return primary(cards)


def _rows(rows: list[dict], formats: dict) -> fits.BinTableHDU:
    cols = {}
    for key, fmt in formats.items():
        cols[key] = (fmt, [r[key] for r in rows])
    return table(cols)


def write_references(refdir: Path, detector: str, seed: int) -> tuple[list[RefEntry], dict[str, str]]:
    """Write every reference the PERFORM switches of a detector's modes need; returns (CRDS entries,
    KEYWORD -> file name). One set per detector, so the rmaps match on DETECTOR as the real ones do."""
    mode = next(m for m in MODES.values() if m.detector == detector)
    det = mode.detector
    fuv = det == "FUV"
    name = _Namer(det)
    refs: dict[str, tuple[str, list]] = {}  # keyword -> (file name, hdus)
    segs = mode.segs
    apertures = ("PSA", "WCA")
    # -- BPIXTAB: a few rectangles away from the spectra, DQ "poorly calibrated" detector edges
    ymax = FUV_Y if fuv else NUV_Y
    rows = []
    for s in segs if fuv else (Seg("ANY", 0, 0, 0, 0, segs[0].x_lo, segs[0].x_hi),):
        rows += [
            {"SEGMENT": s.name, "LX": s.x_lo, "LY": 0, "DX": 40, "DY": ymax, "DQ": 8},
            {"SEGMENT": s.name, "LX": s.x_hi - 40, "LY": 0, "DX": 40, "DY": ymax, "DQ": 8},
            {"SEGMENT": s.name, "LX": (s.x_lo + s.x_hi) // 3, "LY": 10, "DX": 25, "DY": 8, "DQ": 4},
        ]
    fmt = {"SEGMENT": "4A", "LX": "J", "LY": "J", "DX": "J", "DY": "J", "DQ": "J"}
    refs["BPIXTAB"] = (name("bpix"), [_rows(rows, fmt)], "DATA QUALITY INITIALIZATION TABLE")
    # -- DEADTAB: livetime against observed rate (rows per segment)
    rates = np.array([0.0, 1.0e4, 3.0e4, 1.0e5, 3.0e5])
    live = 1.0 / (1.0 + rates * 7.4e-7)
    rows = [
        {"SEGMENT": s, "OBS_RATE": float(r), "LIVETIME": float(lv)}
        for s in (("FUVA", "FUVB") if fuv else ("ANY",))
        for r, lv in zip(rates, live, strict=True)
    ]
    dead = _rows(rows, {"SEGMENT": "4A", "OBS_RATE": "E", "LIVETIME": "E"})
    dead.header["TIMESTEP"] = 10.0
    refs["DEADTAB"] = (name("dead"), [dead], "DEADTIME REFERENCE TABLE")
    # -- FLATFILE: rows round the spectra only (ORIGIN_Y), 1 elsewhere
    y0, y1 = (455, 635) if fuv else (0, NUV_Y)
    nx = FUV_X if fuv else NUV_X
    yy, xx = np.mgrid[y0:y1, 0:nx]
    flat = flat_value(xx, yy)
    del xx, yy
    hdus = []
    for s in segs if fuv else (None,):
        h = fits.ImageHDU(flat, name=s.name if fuv else "SCI")
        h.header["EXTVER"] = 1
        h.header["ORIGIN_X"] = 0
        h.header["ORIGIN_Y"] = y0
        hdus.append(h)
    refs["FLATFILE"] = (name("flat"), hdus, "FLAT FIELD REFERENCE IMAGE")
    if fuv:
        # -- BRFTAB: active area and stim positions
        rows = [
            {
                "SEGMENT": s.name,
                "SX1": STIMS[0][0],
                "SY1": STIMS[0][1],
                "SX2": STIMS[1][0],
                "SY2": STIMS[1][1],
                "XWIDTH": 20,
                "YWIDTH": 20,
                "A_LEFT": s.x_lo,
                "A_RIGHT": s.x_hi,
                "A_LOW": 360,
                "A_HIGH": 760,
                "B_LEFT": s.x_lo,
                "B_RIGHT": s.x_hi,
                "B_LOW": 360,
                "B_HIGH": 760,
            }
            for s in segs
        ]
        fmt = {
            "SEGMENT": "4A",
            "SX1": "D",
            "SY1": "D",
            "SX2": "D",
            "SY2": "D",
            "XWIDTH": "J",
            "YWIDTH": "J",
            "A_LEFT": "J",
            "A_RIGHT": "J",
            "A_LOW": "J",
            "A_HIGH": "J",
            "B_LEFT": "J",
            "B_RIGHT": "J",
            "B_LOW": "J",
            "B_HIGH": "J",
        }
        brf = _rows(rows, fmt)
        brf.header["TIMESTEP"] = 30.0
        refs["BRFTAB"] = (name("brf"), [brf], "BASELINE REFERENCE FRAME TABLE")
        # -- GEOFILE: X and Y distortion, binned 8x8
        gy, gx = np.mgrid[0:FUV_Y:8, 0:FUV_X:8].astype(np.float32)
        dx, dy = geo_shift(gx, gy)
        hdus = []
        for s in segs:
            for ver, img in ((1, dx), (2, dy)):
                h = fits.ImageHDU(img, name=s.name)
                h.header["EXTVER"] = ver
                h.header["ORIGIN_X"] = 0
                h.header["ORIGIN_Y"] = 0
                h.header["XBIN"] = 8
                h.header["YBIN"] = 8
                hdus.append(h)
        refs["GEOFILE"] = (name("geo"), hdus, "GEOMETRIC DISTORTION REFERENCE IMAGE")
        # -- PHATAB: pulse-height limits
        rows = [{"SEGMENT": s.name, "OPT_ELEM": mode.opt_elem, "LLT": 3, "ULT": 23} for s in segs]
        refs["PHATAB"] = (
            name("pha"),
            [_rows(rows, {"SEGMENT": "4A", "OPT_ELEM": "8A", "LLT": "J", "ULT": "J"})],
            "PULSE HEIGHT PARAMETERS REFERENCE TABLE",
        )
    # -- spectroscopic tables
    height = EXTRACT_HEIGHT[det]
    rows_1dx, rows_disp, rows_lamp, rows_flux = [], [], [], []
    tx = np.arange(FUV_X if fuv else NUV_X, dtype=np.float64)
    for s in segs:
        for ap in apertures:
            b = s.b_spec if ap == "PSA" else s.b_wca
            rows_1dx.append(
                {
                    "SEGMENT": s.name,
                    "OPT_ELEM": mode.opt_elem,
                    "CENWAVE": mode.cenwave,
                    "APERTURE": ap,
                    "SLOPE": 0.0,
                    "B_SPEC": b,
                    "HEIGHT": height,
                    "B_BKG1": s.b_spec - (70.0 if fuv else 45.0),
                    "B_BKG2": s.b_spec + (130.0 if fuv else 45.0),
                    "BHEIGHT": 30 if fuv else 10,
                    "BWIDTH": 101 if fuv else 31,
                }
            )
            rows_disp.append(
                {
                    "SEGMENT": s.name,
                    "OPT_ELEM": mode.opt_elem,
                    "CENWAVE": mode.cenwave,
                    "APERTURE": ap,
                    "NELEM": 2,
                    "COEFF": [s.c0, s.c1, 0.0, 0.0],
                    "D_TV03": 0.0,
                    "D": 0.0,
                }
            )
        template = lamp_profile(tx, lamp_lines(det, s, seed), 2.5 if fuv else 1.2) * 100.0
        rows_lamp.append(
            {
                "SEGMENT": s.name,
                "OPT_ELEM": mode.opt_elem,
                "CENWAVE": mode.cenwave,
                "INTENSITY": template.astype(np.float32),
            }
        )
        wgrid = np.linspace(s.c0 - 20.0, s.c0 + s.c1 * tx.size + 20.0, 400)
        rows_flux.append(
            {
                "SEGMENT": s.name,
                "OPT_ELEM": mode.opt_elem,
                "CENWAVE": mode.cenwave,
                "APERTURE": "PSA",
                "WAVELENGTH": wgrid,
                "SENSITIVITY": sensitivity(wgrid, mode.cenwave).astype(np.float32),
            }
        )
    fmt = {
        "SEGMENT": "4A",
        "OPT_ELEM": "8A",
        "CENWAVE": "J",
        "APERTURE": "4A",
        "SLOPE": "D",
        "B_SPEC": "D",
        "HEIGHT": "J",
        "B_BKG1": "D",
        "B_BKG2": "D",
        "BHEIGHT": "J",
        "BWIDTH": "J",
    }
    refs["XTRACTAB"] = (name("1dx"), [_rows(rows_1dx, fmt)], "1-D EXTRACTION PARAMETERS TABLE")
    fmt = {
        "SEGMENT": "4A",
        "OPT_ELEM": "8A",
        "CENWAVE": "J",
        "APERTURE": "4A",
        "NELEM": "J",
        "COEFF": "4D",
        "D_TV03": "D",
        "D": "D",
    }
    refs["DISPTAB"] = (name("disp"), [_rows(rows_disp, fmt)], "DISPERSION RELATION REFERENCE TABLE")
    n = tx.size
    fmt = {"SEGMENT": "4A", "OPT_ELEM": "8A", "CENWAVE": "J", "INTENSITY": f"{n}E"}
    refs["LAMPTAB"] = (name("lamp"), [_rows(rows_lamp, fmt)], "TEMPLATE CAL LAMP SPECTRA TABLE")
    rows = [
        {
            "OPT_ELEM": mode.opt_elem,
            "XC_RANGE": 100 if fuv else 40,
            "RESWIDTH": 6.0 if fuv else 3.0,
            "MAX_TIME_DIFF": 1200.0,
            "STEPSIZE": STEPSIZE[mode.opt_elem],
            "XD_RANGE": 30 if fuv else 20,
            "BOX": 13 if fuv else 5,
            "SEARCH_OFFSET": 0.0,
        }
    ]
    fmt = {
        "OPT_ELEM": "8A",
        "XC_RANGE": "J",
        "RESWIDTH": "D",
        "MAX_TIME_DIFF": "D",
        "STEPSIZE": "D",
        "XD_RANGE": "J",
        "BOX": "J",
        "SEARCH_OFFSET": "D",
    }
    refs["WCPTAB"] = (name("wcp"), [_rows(rows, fmt)], "WAVECAL PARAMETERS REFERENCE TABLE")
    fmt = {
        "SEGMENT": "4A",
        "OPT_ELEM": "8A",
        "CENWAVE": "J",
        "APERTURE": "4A",
        "WAVELENGTH": "400D",
        "SENSITIVITY": "400E",
    }
    refs["FLUXTAB"] = (name("phot"), [_rows(rows_flux, fmt)], "PHOTOMETRIC SENSITIVITY REFERENCE TABLE")

    # -- TDSTAB: time-dependent sensitivity (SLOPE/INTERCEPT are NT x MAXWL, REF_TIME in the table header)
    rows = []
    for s in segs:
        wl, slope, intercept = tds_table(s)
        pad = TDS_MAXWL - wl.size
        rows.append(
            {
                "SEGMENT": s.name,
                "OPT_ELEM": mode.opt_elem,
                "APERTURE": "PSA",
                "CENWAVE": mode.cenwave,
                "NWL": wl.size,
                "NT": len(TDS_TIMES),
                "WAVELENGTH": np.pad(wl, (0, pad)),
                "TIME": np.asarray(TDS_TIMES),
                "SLOPE": np.pad(slope, ((0, 0), (0, pad))).astype(np.float32),
                "INTERCEPT": np.pad(intercept, ((0, 0), (0, pad))).astype(np.float32),
                "PEDIGREE": "MODEL",
            }
        )
    nt = len(TDS_TIMES)
    cols = [
        fits.Column("SEGMENT", "4A", array=[r["SEGMENT"] for r in rows]),
        fits.Column("OPT_ELEM", "8A", array=[r["OPT_ELEM"] for r in rows]),
        fits.Column("APERTURE", "4A", array=[r["APERTURE"] for r in rows]),
        fits.Column("CENWAVE", "J", array=[r["CENWAVE"] for r in rows]),
        fits.Column("NWL", "J", array=[r["NWL"] for r in rows]),
        fits.Column("NT", "J", array=[r["NT"] for r in rows]),
        fits.Column("WAVELENGTH", f"{TDS_MAXWL}D", unit="Angstrom", array=np.array([r["WAVELENGTH"] for r in rows])),
        fits.Column("TIME", f"{nt}D", unit="MJD", array=np.array([r["TIME"] for r in rows])),
        fits.Column(
            "SLOPE", f"{nt * TDS_MAXWL}E", dim=f"({TDS_MAXWL},{nt})", array=np.array([r["SLOPE"] for r in rows])
        ),
        fits.Column(
            "INTERCEPT",
            f"{nt * TDS_MAXWL}E",
            dim=f"({TDS_MAXWL},{nt})",
            array=np.array([r["INTERCEPT"] for r in rows]),
        ),
        fits.Column("PEDIGREE", "8A", array=[r["PEDIGREE"] for r in rows]),
    ]
    tdshdu = fits.BinTableHDU.from_columns(cols)
    tdshdu.header["REF_TIME"] = (TDS_REF_TIME, "MJD at which the factor is 1")
    refs["TDSTAB"] = (name("tds"), [tdshdu], "TIME DEPENDENT SENSITIVITY TABLE")

    entries, refkw = [], {}
    match = {"DETECTOR": det}
    for key, (fname, hdus, filetype) in refs.items():
        extra = {"OBSTYPE": "SPECTROSCOPIC"} if key == "TDSTAB" else None
        write([_ref_primary(fname, filetype, det, extra), *hdus], refdir / fname)
        entries.append(RefEntry("cos", key.lower(), fname, dict(match)))
        refkw[key] = fname
    return entries, refkw


# ---------------------------------------------------------------------------------------------
# Exposures

#: Calibration switches of the simulated headers (see docs/notes/cos.md for each OMIT).
SWITCHES_FUV = {
    "DQICORR": "PERFORM",
    "RANDCORR": "PERFORM",
    "TEMPCORR": "PERFORM",
    "GEOCORR": "PERFORM",
    "DGEOCORR": "OMIT",
    "IGEOCORR": "PERFORM",
    "XWLKCORR": "OMIT",
    "YWLKCORR": "OMIT",
    "DEADCORR": "PERFORM",
    "FLATCORR": "PERFORM",
    "DOPPCORR": "PERFORM",
    "HELCORR": "PERFORM",
    "PHACORR": "PERFORM",
    "BRSTCORR": "OMIT",
    "BADTCORR": "OMIT",
    "HVDSCORR": "OMIT",
    "X1DCORR": "PERFORM",
    "WAVECORR": "PERFORM",
    "BACKCORR": "PERFORM",
    "FLUXCORR": "PERFORM",
    "PHOTCORR": "OMIT",
    "TDSCORR": "PERFORM",
    "TRCECORR": "OMIT",
    "ALGNCORR": "OMIT",
    "STATFLAG": True,
}
SWITCHES_IMAGE = {
    "TDSCORR": "OMIT",
    "WAVECORR": "OMIT",
    "X1DCORR": "OMIT",
    "BACKCORR": "OMIT",
    "FLUXCORR": "OMIT",
    "DOPPCORR": "OMIT",
    "HELCORR": "OMIT",
}
SWITCHES_NUV = {
    **SWITCHES_FUV,
    "RANDCORR": "OMIT",
    "TEMPCORR": "OMIT",
    "GEOCORR": "OMIT",
    "IGEOCORR": "OMIT",
    "PHACORR": "OMIT",
}
ALL_REFKEYS = (
    "FLATFILE",
    "HVTAB",
    "XWLKFILE",
    "YWLKFILE",
    "BPIXTAB",
    "GSAGTAB",
    "SPOTTAB",
    "BRFTAB",
    "GEOFILE",
    "DGEOFILE",
    "TWOZXTAB",
    "DEADTAB",
    "PHAFILE",
    "PHATAB",
    "BRSTTAB",
    "BADTTAB",
    "TRACETAB",
    "XTRACTAB",
    "LAMPTAB",
    "DISPTAB",
    "FLUXTAB",
    "IMPHTTAB",
    "PHOTTAB",
    "SPWCSTAB",
    "WCPTAB",
    "TDSTAB",
    "PROFTAB",
    "HVDSTAB",
)


def heliocentric_velocity(mjd: float, ra: float, dec: float) -> float:
    """Earth's orbital velocity (km/s) projected on the direction to the target (calcos's V_HELIO sign).

    From astropy's built-in ephemeris (no download); barycentric and heliocentric differ by < 0.02 km/s.
    """
    import astropy.units as u
    from astropy.coordinates import get_body_barycentric_posvel

    _, vel = get_body_barycentric_posvel("earth", Time(mjd, format="mjd", scale="utc"))
    v = vel.xyz.to(u.km / u.s).value
    r, d = np.radians(ra), np.radians(dec)
    n = np.array([np.cos(d) * np.cos(r), np.cos(d) * np.sin(r), np.sin(d)])
    return float(-(v @ n))


def _events_for_segment(rng, mode: CosMode, seg: Seg, *, exptime, fpoffset, expstart, v_helio, lamp, seed):
    """(time, x, y, pha) float arrays of one segment/stripe's events (unsorted)."""
    fuv = mode.detector == "FUV"
    shift = fpoffset * STEPSIZE[mode.opt_elem]
    # source: expected counts per detector column
    xcol = np.arange(seg.x_lo, seg.x_hi, dtype=np.float64)
    wave_obs = seg.c0 + seg.c1 * (xcol - shift)  # wavelength falling on column xcol
    wave_rest = wave_obs * (1.0 - v_helio / 299792.458)
    rate = _rest_flux(mode, wave_rest) * sensitivity(wave_obs, mode.cenwave)
    rate = rate * tds_factor(seg, wave_rest, expstart + exptime / 2 / 86400.0)  # TDSCORR divides it out
    counts = rng.poisson(rate * exptime)
    n = int(counts.sum())
    x = np.repeat(xcol, counts) + rng.uniform(-0.5, 0.5, n)
    y = rng.normal(seg.b_spec, PSF_SIGMA_Y[mode.detector], n)
    t = rng.uniform(0.0, exptime, n)
    pha = np.clip(np.rint(rng.normal(12.0, 3.0, n)), 0, 31)
    # orbital Doppler of the source only (DOPPCORR removes it inside the PSA region)
    wave = seg.c0 + seg.c1 * (x - shift)
    x = x + DOPPMAGV / 299792.458 * wave / seg.c1 * np.sin(2 * np.pi * t / ORBITPER)
    parts = [(t, x, y, pha)]
    # lamp flash at the WCA
    t_on, t_off = lamp
    if t_off > t_on:
        lam = lamp_profile(xcol - shift, lamp_lines(mode.detector, seg, seed), 2.5 if fuv else 1.2)
        lc = rng.poisson(lam * (t_off - t_on))
        m = int(lc.sum())
        parts.append(
            (
                rng.uniform(t_on, t_off, m),
                np.repeat(xcol, lc) + rng.uniform(-0.5, 0.5, m),
                rng.normal(seg.b_wca, PSF_SIGMA_Y[mode.detector], m),
                np.clip(np.rint(rng.normal(12.0, 3.0, m)), 0, 31),
            )
        )
    # background: uniform over the detector (FUV: per segment; NUV: spread over the three stripes' share)
    nb = rng.poisson(DARK_RATE[mode.detector] * exptime / (1 if fuv else len(mode.segs)))
    ny = FUV_Y if fuv else NUV_Y
    parts.append(
        (
            rng.uniform(0.0, exptime, nb),
            rng.uniform(seg.x_lo - (0 if fuv else 100), seg.x_hi, nb),
            rng.uniform(0, ny - 1, nb) if fuv else rng.uniform(seg.b_spec - 52, seg.b_spec + 53, nb),
            rng.integers(0, 32, nb).astype(np.float64),
        )
    )
    if fuv:  # the two stim pulses (TEMPCORR finds them where BRFTAB says: no thermal drift simulated)
        for sx, sy in STIMS:
            ns = rng.poisson(STIM_RATE * exptime)
            parts.append(
                (
                    rng.uniform(0.0, exptime, ns),
                    rng.normal(sx, 0.6, ns),
                    rng.normal(sy, 0.6, ns),
                    np.clip(np.rint(rng.normal(12.0, 3.0, ns)), 0, 31),
                )
            )
    t, x, y, pha = (np.concatenate(c) for c in zip(*parts, strict=True))
    # distortion (GEOCORR), flat (events kept with probability FLAT)
    keep = rng.uniform(0, 1, x.size) < flat_value(np.rint(x), np.rint(y))
    t, x, y, pha = t[keep], x[keep], y[keep], pha[keep]
    if fuv:
        dx, dy = geo_shift(x, y)
        x, y = x + dx, y + dy
    inside = (x >= 0) & (x < (FUV_X if fuv else NUV_X) - 0.5) & (y >= 0) & (y < ny - 0.5)
    return t[inside], x[inside], y[inside], pha[inside]


def _image_events(rng, mode: CosMode, *, exptime):
    """(time, x, y, pha) of an NUV image: Gaussian point sources plus uniform background, flat applied."""
    parts = []
    for sx, sy, frac in IMAGE_SOURCES:
        n = rng.poisson(mode.flux * frac * exptime)
        parts.append((rng.uniform(0, exptime, n), rng.normal(sx, IMAGE_SIGMA, n), rng.normal(sy, IMAGE_SIGMA, n)))
    nb = rng.poisson(DARK_RATE["NUV"] * exptime)
    parts.append((rng.uniform(0, exptime, nb), rng.uniform(0, NUV_X - 1, nb), rng.uniform(0, NUV_Y - 1, nb)))
    t, x, y = (np.concatenate(c) for c in zip(*parts, strict=True))
    keep = (rng.uniform(0, 1, x.size) < flat_value(np.rint(x), np.rint(y))) & (x >= 0) & (y >= 0)
    keep &= (x < NUV_X - 0.5) & (y < NUV_Y - 0.5)
    return t[keep], x[keep], y[keep], np.zeros(int(keep.sum()))


def _primary_cards(mode, root, asn_id, seg_name, *, fppos, expstart, exptime, targ, refkw, date_obs, time_obs):
    fuv = mode.detector == "FUV"
    switches = SWITCHES_FUV if fuv else SWITCHES_NUV
    imaging = not mode.segs
    if imaging:
        switches = {**switches, **SWITCHES_IMAGE}
    cards = {
        "FILENAME": "",
        "FILETYPE": "SCI",
        "TELESCOP": "HST",
        "INSTRUME": "COS",
        "EQUINOX": 2000.0,
        "ROOTNAME": root.upper(),
        "IMAGETYP": "TIME-TAG",
        "PRIMESI": "COS",
        "TARGNAME": "CALDP-SIM-STAR",
        "RA_TARG": targ[0],
        "DEC_TARG": targ[1],
        "PROPOSID": 17007,
        "LINENUM": "01.001",
        "PR_INV_L": "Simulator",
        "PR_INV_F": "Caldp",
        "DATE-OBS": date_obs,
        "TIME-OBS": time_obs,
        "EXPSTART": expstart,
        "EXPEND": expstart + exptime / 86400.0,
        "EXPTIME": exptime,
        "OBSTYPE": "SPECTROSCOPIC",
        "OBSMODE": "TIME-TAG",
        "EXPTYPE": "EXTERNAL/SCI",
        "DETECTOR": mode.detector,
        "SEGMENT": seg_name if fuv else "N/A",
        "SUBARRAY": False,
        "LAMPUSED": "P1",
        "LAMPSET": "Medium",
        "TAGFLASH": "AUTO",
        "LAMPPLAN": "AUTO",
        "APERTURE": "PSA",
        "PROPAPER": "PSA",
        "APER_FOV": "2.5 arcsec",
        "OPT_ELEM": mode.opt_elem,
        "CENWAVE": mode.cenwave,
        "FPPOS": fppos,
        "FPOFFSET": fppos - 3,
        "LIFE_ADJ": 4,
        "APERYPOS": "N/A",
        "COSCOORD": "USER",
        "XTRCTALG": "BOXCAR",
        "RANDSEED": -1,
        "ASN_ID": asn_id,
        "ASN_TAB": f"{asn_id.lower()}_asn.fits" if asn_id != "NONE" else "N/A",
        "ASN_MTYP": "EXP-FP" if asn_id != "NONE" else "N/A",
        "PROCTIME": 60000.0,
        "OPUS_VER": "caldp-sim",
        **switches,
    }
    if imaging:
        cards.update(
            {
                "OBSTYPE": "IMAGING",
                "TAGFLASH": "NONE",
                "LAMPUSED": "NONE",
                "LAMPPLAN": "NONE",
                "FPPOS": 3,
                "FPOFFSET": 0,
                "IMAGETYP": "TIME-TAG",
            }
        )
    for key in ALL_REFKEYS:
        cards[key] = f"lref${refkw[key]}" if key in refkw else "N/A"
    return cards


def _events_hdu(t, x, y, pha, cards) -> fits.BinTableHDU:
    cols = [
        fits.Column("TIME", "E", unit="s", array=t.astype(np.float32)),
        fits.Column("RAWX", "I", unit="pixel", array=x.astype(np.int16)),
        fits.Column("RAWY", "I", unit="pixel", array=y.astype(np.int16)),
        fits.Column("PHA", "B", array=pha.astype(np.uint8)),
    ]
    hdu = fits.BinTableHDU.from_columns(cols, name="EVENTS")
    for k, v in cards.items():
        hdu.header[k] = v
    return hdu


def _gti_hdu(exptime: float) -> fits.BinTableHDU:
    cols = [fits.Column("START", "D", unit="s", array=[0.0]), fits.Column("STOP", "D", unit="s", array=[exptime])]
    return fits.BinTableHDU.from_columns(cols, name="GTI")


def orbit_cards(epoch_mjd: float) -> dict:
    """HST's orbital elements in the _spt primary header (a circular 28.5° orbit, period ORBITPER), as
    calcos's TIMELINE reads them (distances in m, angles in revolutions, times in s since 1985.0)."""
    inc = np.radians(28.5)
    radius = 6.918e6
    return {
        "ARGPERIG": 0.0,
        "CIRVELOC": 2 * np.pi * radius / ORBITPER,
        "COSINCLI": float(np.cos(inc)),
        "ECBDX3": 0.0,
        "ECCENTRY": 0.0,
        "ECCENTX2": 0.0,
        "ECBDX4D3": 0.0,
        "EPCHTIME": (epoch_mjd - 46066.0) * 86400.0,
        "ESQDX5D2": 0.0,
        "FDMEANAN": 1.0 / ORBITPER,
        "HSTHORB": ORBITPER / 2,
        "MEANANOM": 0.0,
        "RASCASCN": 0.3,
        "RCARGPER": 0.0,
        "RCASCNRV": 0.0,
        "SDMEANAN": 0.0,
        "SEMILREC": radius,
        "SINEINCL": float(np.sin(inc)),
    }


#: Columns of a jitter table (EDPS ``_jit``; 3-second averages), in the archive's order, with their units.
JIT_COLUMNS = (
    ("Seconds", "E", "seconds"),
    ("V2_dom", "E", "arcsec"),
    ("V3_dom", "E", "arcsec"),
    ("V2_roll", "E", "arcsec"),
    ("V3_roll", "E", "arcsec"),
    ("SI_V2_AVG", "E", "arcsec"),
    ("SI_V2_RMS", "E", "arcsec"),
    ("SI_V2_P2P", "E", "arcsec"),
    ("SI_V3_AVG", "E", "arcsec"),
    ("SI_V3_RMS", "E", "arcsec"),
    ("SI_V3_P2P", "E", "arcsec"),
    ("RA", "D", "degrees"),
    ("DEC", "D", "degrees"),
    ("Roll", "D", "degrees"),
    ("LimbAng", "E", "degrees"),
    ("TermAng", "E", "degrees"),
    ("LOS_Zenith", "E", "degrees"),
    ("Latitude", "E", "degrees"),
    ("Longitude", "E", "degrees"),
    ("Mag_V1", "E", "gauss"),
    ("Mag_V2", "E", "gauss"),
    ("Mag_V3", "E", "gauss"),
    ("BrightLimb", "I", ""),
    ("FGS_flags", "I", ""),
    ("DayNight", "I", ""),
    ("Recenter", "I", ""),
    ("TakeData", "I", ""),
    ("SlewFlag", "I", ""),
)
_JIT_DTYPES = {"E": np.float32, "D": np.float64, "I": np.int16}
JIT_STEP = 3.0  # seconds per jitter-table row
JIF_BINS = 64  # jitter-image size (pixels); JIF_SCALE arcsec per pixel
JIF_SCALE = 0.002
#: Guide-star pair (V2, V3 of the dominant and roll stars, arcsec) and the pointing jitter RMS (arcsec).
GUIDE_STARS = ((-702.4, 512.8), (655.1, -488.3))
JITTER_RMS = 0.004


def jitter_name(dataset: str, is_asn: bool) -> str:
    """Root of a dataset's jitter files: the association's own name, or the exposure's with a final ``j``.

    >>> jitter_name("lcs701010", True), jitter_name("lcs801a1q", False)
    ('lcs701010', 'lcs801a1j')
    """
    return dataset if is_asn else dataset[:-1] + "j"


def _jitter_rows(rng, exp: dict, targ: tuple[float, float]) -> dict[str, np.ndarray]:
    """One exposure's jitter table: 3-s samples of guiding on the two guide stars (a slow random walk of
    the pointing with JITTER_RMS scatter), the pointing itself, and HST's circular orbit (latitude,
    longitude, day/night) as ``orbit_cards`` describes it."""
    n = int(np.ceil(exp["exptime"] / JIT_STEP)) + 1
    t = np.arange(n) * JIT_STEP
    walk = np.cumsum(rng.normal(0.0, JITTER_RMS / 4, (2, n)), axis=1)
    walk -= walk.mean(axis=1, keepdims=True)
    rms = np.abs(rng.normal(JITTER_RMS, JITTER_RMS / 5, (2, n)))
    phase = 2 * np.pi * ((exp["expstart"] - 60000.0) * 86400.0 + t) / ORBITPER
    inc = np.radians(28.5)
    lat = np.degrees(np.arcsin(np.sin(inc) * np.sin(phase)))
    lon = (np.degrees(np.arctan2(np.cos(inc) * np.sin(phase), np.cos(phase))) - 360.0 * t / 86164.0) % 360.0 - 180.0
    day = (np.cos(phase) > -0.3).astype(np.int16)
    cols: dict[str, np.ndarray] = {
        "Seconds": t,
        "V2_dom": GUIDE_STARS[0][0] + walk[0],
        "V3_dom": GUIDE_STARS[0][1] + walk[1],
        "V2_roll": GUIDE_STARS[1][0] + walk[0],
        "V3_roll": GUIDE_STARS[1][1] + walk[1],
        "SI_V2_AVG": walk[0],
        "SI_V2_RMS": rms[0],
        "SI_V2_P2P": 5.0 * rms[0],
        "SI_V3_AVG": walk[1],
        "SI_V3_RMS": rms[1],
        "SI_V3_P2P": 5.0 * rms[1],
        "RA": targ[0] + walk[0] / 3600.0 / np.cos(np.radians(targ[1])),
        "DEC": targ[1] + walk[1] / 3600.0,
        "Roll": np.full(n, 0.0),
        "LimbAng": 40.0 + 30.0 * np.cos(phase),
        "TermAng": 60.0 + 50.0 * np.sin(phase),
        "LOS_Zenith": 70.0 - 40.0 * np.cos(phase),
        "Latitude": lat,
        "Longitude": lon,
        "Mag_V1": 0.25 * np.cos(phase),
        "Mag_V2": 0.20 * np.sin(phase),
        "Mag_V3": 0.10 * np.cos(2 * phase),
        "BrightLimb": (np.cos(phase) > 0).astype(np.int16),
        "FGS_flags": np.zeros(n, np.int16),
        "DayNight": day,
        "Recenter": np.zeros(n, np.int16),
        "TakeData": np.ones(n, np.int16),
        "SlewFlag": np.zeros(n, np.int16),
    }
    return cols


def write_jitter(ddir: Path, jit_root: str, members: list[str], exposures: dict, mode: CosMode, targ, seed: int):
    """The observation logs of a dataset: ``<root>_jit.fits`` (one 3-s jitter table per exposure, EXTNAME
    ``jit``, EXPNAME the exposure's rootname ending in ``j``) and ``<root>_jif.fits`` (per exposure a 2-D
    histogram of the pointing excursions, EXTNAME ``jif``, with the jitter statistics in its header)."""
    common = {
        "TELESCOP": "HST",
        "INSTRUME": "FGS",
        "EQUINOX": 2000.0,
        "OPUS_VER": "caldp-sim",
        "ROOTNAME": jit_root,
        "TARGNAME": "CALDP-SIM-STAR",
        "PROC_TYP": "NORMAL",
        "CONFIG": f"COS/{mode.detector}",
        "PROPOSID": 17007,
        "PRIMESI": "COS",
        "GUIDECMD": "FINE LOCK",
        "GSD_ID": "0116200409",
        "GSD_FGS": "3",
        "GSR_ID": "0116200474",
        "GSR_FGS": "1",
        "GS_PRIM": "DOMINANT",
        "PREDGSEP": float(np.hypot(*np.subtract(GUIDE_STARS[0], GUIDE_STARS[1]))),
        "TNLOSSES": 0,
    }
    jit_hdus = [primary({"FILENAME": f"{jit_root}_jit.fits", "FILETYPE": "JIT", **common})]
    jif_hdus = [primary({"FILENAME": f"{jit_root}_jif.fits", "FILETYPE": "JIM", **common})]
    for k, root in enumerate(members):
        exp = exposures[root]
        rows = _jitter_rows(_rng(seed, 40 + int(mode.program), k), exp, targ)
        cols = [
            fits.Column(name, fmt, unit=unit or None, array=rows[name].astype(_JIT_DTYPES[fmt]))
            for name, fmt, unit in JIT_COLUMNS
        ]
        expname = root[:-1] + "j"
        stats = {
            "EXPNAME": expname,
            "EXPSTART": exp["expstart"],
            "EXPEND": exp["expstart"] + exp["exptime"] / 86400.0,
            "EXPTIME": exp["exptime"],
            "V2_RMS": round(float(np.sqrt(np.mean(rows["SI_V2_AVG"] ** 2 + rows["SI_V2_RMS"] ** 2))) * 1e3, 2),
            "V3_RMS": round(float(np.sqrt(np.mean(rows["SI_V3_AVG"] ** 2 + rows["SI_V3_RMS"] ** 2))) * 1e3, 2),
            "V2_P2P": round(float(np.ptp(rows["SI_V2_AVG"])) * 1e3, 2),
            "V3_P2P": round(float(np.ptp(rows["SI_V3_AVG"])) * 1e3, 2),
            "RA_AVG": float(rows["RA"].mean()),
            "DEC_AVG": float(rows["DEC"].mean()),
            "ROLL_AVG": float(rows["Roll"].mean()),
            "NLOSSES": 0,
            "NRECENT": 0,
        }
        tab = fits.BinTableHDU.from_columns(cols, name="jit")
        tab.header["EXTVER"] = k + 1
        tab.header.update(stats)
        jit_hdus.append(tab)
        edges = (np.arange(JIF_BINS + 1) - JIF_BINS / 2) * JIF_SCALE
        hist, _, _ = np.histogram2d(rows["SI_V3_AVG"], rows["SI_V2_AVG"], bins=(edges, edges))
        img = fits.ImageHDU(hist.astype(np.int32), name="jif")
        img.header["EXTVER"] = k + 1
        img.header.update(stats)
        img.header.update({"CRPIX1": JIF_BINS / 2 + 0.5, "CRPIX2": JIF_BINS / 2 + 0.5, "CRVAL1": 0.0, "CRVAL2": 0.0})
        img.header.update({"CDELT1": JIF_SCALE, "CDELT2": JIF_SCALE, "CTYPE1": "V2", "CTYPE2": "V3"})
        jif_hdus.append(img)
    return [write(jit_hdus, ddir / f"{jit_root}_jit.fits"), write(jif_hdus, ddir / f"{jit_root}_jif.fits")]


def dataset_names(mode_name: str, index: int, nexp: int) -> tuple[str, list[str]]:
    """(dataset, members): ``lcs<p><vv>010`` and ``lcs<p><vv>a<k>q``; single exposures are their own dataset.

    >>> dataset_names("cos-fuv-asn", 0, 2)
    ('lcs701010', ['lcs701a1q', 'lcs701a2q'])
    """
    from .naming import _visit

    ipppss = f"lcs{MODES[mode_name].program}{_visit(index)}"
    members = [f"{ipppss}a{k + 1}q" for k in range(nexp)]
    return (f"{ipppss}010" if mode_name.endswith("-asn") else members[0]), members


def simulate_dataset(outdir: Path, mode_name: str, index: int, size: str, seed: int, refkw: dict, truth: bool = False):
    """Write one COS dataset under ``outdir/inputs/<name>/``; returns (name, directory, files, truth or None)."""
    mode = MODES[mode_name]
    fuv = mode.detector == "FUV"
    nexp = NEXP[size] if mode_name.endswith("-asn") else 1
    name, members = dataset_names(mode_name, index, nexp)
    ddir = Path(outdir) / "inputs" / name
    if ddir.exists():
        shutil.rmtree(ddir)
    ddir.mkdir(parents=True)
    rng = _rng(seed, 10 + int(mode.program), index)
    targ = (float(rng.uniform(10, 350)), float(rng.uniform(-60, 60)))
    exptime = mode.exptime[size]
    asn_id = name.upper() if mode_name.endswith("-asn") else "NONE"
    files: list[Path] = []
    fppos_list = [1, 2, 3, 4][:nexp] if nexp > 1 else [3]
    info = {"lines": [c for c, _, _ in LINES.get(mode.opt_elem, ())], "targ": targ, "exposures": {}}
    for k, root in enumerate(members):
        expstart = mode.mjd + k * (exptime + 300.0) / 86400.0
        iso = Time(expstart, format="mjd", scale="utc").isot
        v_helio = heliocentric_velocity(expstart + exptime / 2 / 86400.0, *targ)
        fppos = fppos_list[k]
        lamp = (2.0, 2.0 + min(12.0, exptime / 4))
        for seg in mode.segs if fuv else (None,):
            segs = (seg,) if fuv else mode.segs
            ev = (
                [_image_events(_rng(seed, 10 + int(mode.program), index, k), mode, exptime=exptime)]
                if not segs
                else [
                    _events_for_segment(
                        _rng(seed, 10 + int(mode.program), index, k, j),
                        mode,
                        s,
                        exptime=exptime,
                        fpoffset=fppos - 3,
                        expstart=expstart,
                        v_helio=v_helio,
                        lamp=lamp,
                        seed=seed,
                    )
                    for j, s in enumerate(segs)
                ]
            )
            t, x, y, pha = (np.concatenate(c) for c in zip(*ev, strict=True))
            order = np.argsort(t, kind="stable")
            t, x, y, pha = t[order], x[order], y[order], pha[order]
            seg_name = seg.name if fuv else "N/A"
            suffix = f"_rawtag_{seg.name[-1].lower()}" if fuv else "_rawtag"
            path = ddir / f"{root}{suffix}.fits"
            pcards = _primary_cards(
                mode,
                root,
                asn_id,
                seg_name,
                fppos=fppos,
                expstart=expstart,
                exptime=exptime,
                targ=targ,
                refkw=refkw,
                date_obs=iso[:10],
                time_obs=iso[11:19],
            )
            pcards["FILENAME"] = path.name
            ecards = {
                "EXPTIME": exptime,
                "EXPSTART": expstart,
                "EXPEND": expstart + exptime / 86400.0,
                "PLANTIME": exptime,
                "DISPAXIS": 1 if mode.segs else 0,
                "SDQFLAGS": 8346,
                "NUMFLASH": 1 if mode.segs else 0,
                "LMP_ON1": lamp[0],
                "LMPOFF1": lamp[1],
                "LMPDUR1": lamp[1] - lamp[0],
                "DOPPON": True,
                "DOPPMAGV": DOPPMAGV,
                "DOPPZERO": expstart,
                "ORBITPER": ORBITPER,
                "RA_APER": targ[0],
                "DEC_APER": targ[1],
                "PA_APER": 0.0,
                "STIMRATE": 2 * STIM_RATE if fuv else 0.0,
                "TIMESTEP": 1.0,
            }
            full = 4 if fuv and seg.name == "FUVB" else 0  # subarray index of the full frame (A: 0-3, B: 4-7)
            ecards["NSUBARRY"] = 1
            for i in range(8):
                on = i == full
                ecards[f"CORNER{i}X"], ecards[f"CORNER{i}Y"] = (0, 0) if on else (-1, -1)
                ecards[f"SIZE{i}X"] = (FUV_X if fuv else NUV_X) if on else 0
                ecards[f"SIZE{i}Y"] = (FUV_Y if fuv else NUV_Y) if on else 0
            if fuv:
                ecards[f"EXPTIME{seg.name[-1]}"] = exptime
                ecards[f"DEVENT{seg.name[-1]}"] = float(t.size / exptime)
            else:
                ecards["MEVENTS"] = float(t.size / exptime)
            write([primary(pcards), _events_hdu(t, x, y, pha, ecards), _gti_hdu(exptime)], path)
            files.append(path)
        spt = ddir / f"{root}_spt.fits"
        write(
            [
                primary(
                    {
                        "FILENAME": spt.name,
                        "FILETYPE": "SPT",
                        "TELESCOP": "HST",
                        "INSTRUME": "COS",
                        "ROOTNAME": root.upper(),
                        "DETECTOR": mode.detector,
                        "PROPOSID": 17007,
                        "EXPSTART": expstart,
                        **orbit_cards(expstart),
                    }
                )
            ],
            spt,
        )
        files.append(spt)
        info["exposures"][root] = {"fppos": fppos, "v_helio": v_helio, "expstart": expstart, "exptime": exptime}
    files += write_jitter(ddir, jitter_name(name, asn_id != "NONE"), members, info["exposures"], mode, targ, seed)
    if asn_id != "NONE":
        from .products import write_asn

        asn = write_asn(
            ddir / f"{name}_asn.fits", name, "COS", mode.detector, members, memtype="EXP-FP", product_type="PROD-FP"
        )
        files.insert(0, asn)
    if mode.segs:
        wave = np.linspace(
            min(s.c0 for s in mode.segs), max(s.c0 + s.c1 * (FUV_X if fuv else NUV_X) for s in mode.segs), 20000
        )
        info["wave"] = wave
        info["flux"] = _rest_flux(mode, wave)
    else:
        info["sources"] = [list(src) for src in IMAGE_SOURCES]
    return name, ddir, files, info if truth else info


def simulate(
    outdir, mode_name: str = "cos-fuv-asn", size: str = "small", seed: int = 1, index: int = 0, truth: bool = False
):
    """Stand-alone: one COS dataset with its references and a CRDS cache (``caldp.sim.simulate`` does the same)."""
    from . import crdscache

    outdir = Path(outdir)
    cache = outdir / "crds_cache"
    refdir = crdscache.references_dir(cache)
    refdir.mkdir(parents=True, exist_ok=True)
    entries, refkw = write_references(refdir, MODES[mode_name].detector, seed)
    result = simulate_dataset(outdir, mode_name, index, size, seed, refkw, truth)
    crdscache.write_cache(cache, entries)
    return result, cache


def make_dataset(outdir, mode: str, index: int, size: str, seed: int, store, truth: bool):
    """``caldp.sim.simulate``'s hook: one dataset of a COS mode, its references written once per call
    into ``store`` (``store.refdir``, ``store.entries``, ``store.done``)."""
    key = ("cos", MODES[mode].detector)
    if key not in store.done:
        entries, refkw = write_references(store.refdir, MODES[mode].detector, seed)
        store.entries += entries
        store.done[key] = refkw
    name, ddir, files, info = simulate_dataset(Path(outdir), mode, index, size, seed, store.done[key], truth)
    return name, ddir, files, (info if truth else None)
