"""WFC3/IR MULTIACCUM: up-the-ramp reads, non-linearity, reference pixels and the IR references.

Raw layout (calib-wfc3.md §I0): NSAMP imsets SCI/ERR/DQ/SAMP/TIME, EXTVER 1 = last read,
EXTVER NSAMP = zeroth read; a 5-pixel reference border around the science area. Each read is
``ZSCI + ref-level drift + nonlinear(accumulated DN) + read noise`` with the NLINFILE
coefficients inverting the simulated non-linearity, the DARKFILE holding the cumulative dark
at every sample time, and cosmic rays hitting between two reads.

>>> seq = sample_sequence("small")
>>> seq.name, seq.nsamp, round(float(seq.times[-1]), 3)
('SPARS10', 6, 40.853)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import distortion, geometry
from .builders import (
    RefWriter,
    amp_cards,
    association_cards,
    bpixtab_columns,
    ccdtab_amp_columns,
    exposure_cards,
    exposure_time_cards,
    finish_cards,
)
from .ccd import poisson_counts
from .crdscache import RefEntry
from .fitsutil import F32, image_extension, null_extension, primary, table
from .reftables import crrejtab_hdu
from .scene import Pointing, StarField, render_points, star_pixels

FILTER = "F160W"
GAIN = 2.5
ATODGN = {"A": 2.34, "B": 2.37, "C": 2.31, "D": 2.38}
READNSE = {"A": 20.2, "B": 19.8, "C": 19.9, "D": 20.1}  # e⁻ per CDS pair
MEAN_GAIN = float(np.float32(sum(np.float32(v) for v in ATODGN.values()) / np.float32(4)))
NONLIN_BETA = 1.4e-6  # measured = F·(1 − β·F), DN
NODE_DN = 37000.0  # saturation threshold on the measured signal (NLINFILE NODE, CCDTAB SATURATE)
FULL_WELL_DN = 40000.0  # true signal where the measured ramp flattens
ZERO_LEVEL = 12000.0  # mean super-zero level, DN
READ_NOISE_E = 14.0  # per single read
IR_PHOT = {"wfc3,ir,f160w,mjd#": (1.93e-20, 15369.2, 826.3)}
IR_SWITCHES = {
    "DQICORR": "PERFORM",
    "ZSIGCORR": "PERFORM",
    "BLEVCORR": "PERFORM",
    "ZOFFCORR": "PERFORM",
    "NLINCORR": "PERFORM",
    "DARKCORR": "PERFORM",
    "FLATCORR": "PERFORM",
    "UNITCORR": "PERFORM",
    "PHOTCORR": "PERFORM",
    "CRCORR": "PERFORM",
    "RPTCORR": "OMIT",
    "DRIZCORR": "PERFORM",
}
UNUSED_REFS = (
    "ATODTAB",
    "DFLTFILE",
    "LFLTFILE",
    "IDCTAB",
    "DGEOFILE",
    "NPOLFILE",
    "D2IMFILE",
    "BIASFILE",
    "SHADFILE",
    "FLSHFILE",
)
USEAFTER = "2009-05-14 00:00:00"
#: Optional ramp cases (``simulate(quirks=…)``), at fixed science-area (y, x) pixels: ``saturation``
#: pixels saturating in the zeroth read, the first read and mid-ramp; ``cr-every-read`` a pixel hit
#: between every third pair of reads; ``spikes`` a positive and a negative one-read spike (DN).
QUIRKS = ("saturation", "cr-every-read", "spikes")
SATURATING = {"zeroth": (5, 15, 60000.0), "first": (15, 25, 30000.0), "mid": (25, 35, 1500.0)}  # DN/s
CR_EVERY_READ = (35, 45)
SPIKES = ((45, 55, 700.0), (55, 65, -700.0))


@dataclass(frozen=True, slots=True)
class SampleSequence:
    name: str
    subtype: str
    times: np.ndarray  # SAMPTIME of reads 0 (zeroth) … NSAMP−1, seconds

    @property
    def nsamp(self) -> int:
        return int(self.times.size)

    @property
    def sampzero(self) -> float:
        """Effective integration of the zeroth read (calwf3: first read time − 0.020535 s)."""
        return float(self.times[1] - 0.020535)


def sample_sequence(size: str, nsamp: int | None = None) -> SampleSequence:
    """The mode's read times; `nsamp` (≥ 2) reads of the same spacing instead of its own count."""
    if nsamp is not None and nsamp < 2:
        raise ValueError(f"nsamp must be at least 2 (a zeroth and a first read), not {nsamp}")
    if size == "small":  # IRSUB256 read in 0.853 s, SPARS10-like spacing
        n = 5 if nsamp is None else nsamp - 1
        return SampleSequence("SPARS10", "SQ256SUB", np.round(np.r_[0.0, 0.853 + 10.0 * np.arange(n)], 3))
    n = 13 if nsamp is None else nsamp - 1
    return SampleSequence("SPARS25", "FULLIMAG", np.round(np.r_[0.0, 2.932 + 25.0 * np.arange(n)], 3))


def chip_for(size: str):
    return (geometry.IR_SUB if size == "small" else geometry.IR_FULL)[0]


@dataclass(slots=True)
class IRRefs:
    zsci: np.ndarray  # 1024² super-zero (DN)
    dark_rate: np.ndarray  # 1014²-embedded 1024² dark (e⁻/s)
    flat: np.ndarray  # 1024² flat


def make_refs(rng: np.random.Generator) -> IRRefs:
    full = geometry.IR_FULL[0]
    n = full.raw_shape
    yy, xx = np.mgrid[0 : n[0], 0 : n[1]]
    zsci = (ZERO_LEVEL + 300.0 * (xx / n[1] - 0.5) + 200.0 * (yy / n[0] - 0.5) + rng.normal(0, 15.0, n)).astype(F32)
    dark = rng.normal(0.05, 0.005, n).clip(0)
    hot = rng.random(n) < 0.002
    dark[hot] = rng.uniform(1.0, 20.0, int(hot.sum()))
    glow = 0.3 * np.exp(-np.hypot(np.minimum(xx, n[1] - 1 - xx), np.minimum(yy, n[0] - 1 - yy)) / 40.0)
    dark = (dark + glow).astype(F32)
    flat = (1.0 + 0.04 * ((xx / n[1] - 0.5) ** 2 - (yy / n[0] - 0.5)) + rng.normal(0, 0.01, n)).astype(F32)
    flat[:5, :] = flat[-5:, :] = 1.0
    flat[:, :5] = flat[:, -5:] = 1.0
    return IRRefs(zsci, dark, flat)


def _section(chip, full: np.ndarray) -> np.ndarray:
    """The part of a 1024² array under a (sub)array's raw pixels."""
    x0, y0 = int(-chip.ltv[0]), int(-chip.ltv[1])
    ny, nx = chip.raw_shape
    return full[y0 : y0 + ny, x0 : x0 + nx]


def _group(extver: int, sci: np.ndarray | None, shape, *, err=0.0, dq=0, samp=0, time=0.0, cards=None, sci_value=0.0):
    """One NICMOS-style group: SCI, ERR, DQ, SAMP, TIME (None/scalars → constant extensions).

    `cards` go to SCI; the other extensions carry only the LTV/LTM geometry keywords.
    """
    geo = {k: v for k, v in (cards or {}).items() if k.startswith(("LTV", "LTM"))}
    out = [
        image_extension("SCI", extver, sci, cards)
        if sci is not None
        else null_extension("SCI", extver, shape, sci_value, cards)
    ]
    for name, value in (("ERR", err), ("DQ", dq), ("SAMP", samp), ("TIME", time)):
        if isinstance(value, np.ndarray):
            out.append(image_extension(name, extver, value, geo))
        else:
            out.append(null_extension(name, extver, shape, value, geo))
    return out


def _ccdtab() -> list:
    cols = {
        "CCDAMP": ("4A", ["ABCD"]),
        "CCDCHIP": ("J", [1]),
        "CCDGAIN": ("E", [GAIN]),
        "BINAXIS1": ("J", [1]),
        "BINAXIS2": ("J", [1]),
        **ccdtab_amp_columns(
            [{"ccdbias": dict.fromkeys("ABCD", ZERO_LEVEL), "atodgn": ATODGN, "readnse": READNSE}], ccdofst=-999
        ),
    }
    cols.update(
        {
            "AMPX": ("J", [512]),
            "AMPY": ("J", [512]),
            "SATURATE": ("E", [NODE_DN]),
            "PEDIGREE": ("24A", ["INFLIGHT"]),
            "DESCRIP": ("40A", ["caldp.sim IR CCD parameters"]),
        }
    )
    return [table(cols)]


def _oscntab() -> list:
    rows = []
    for n in (1024, 266):
        rows.append(
            {
                "CCDCHIP": 1,
                "BINX": 1,
                "BINY": 1,
                "NX": n,
                "NY": n,
                "TRIMX1": 5,
                "TRIMX2": 5,
                "TRIMX3": 0,
                "TRIMX4": 0,
                "TRIMY1": 5,
                "TRIMY2": 5,
                "BIASSECTA1": 2,
                "BIASSECTA2": 5,
                "BIASSECTB1": n - 4,
                "BIASSECTB2": n - 1,
                "BIASSECTC1": 0,
                "BIASSECTC2": 0,
                "BIASSECTD1": 0,
                "BIASSECTD2": 0,
                "VX1": 0,
                "VX2": 0,
                "VX3": 0,
                "VX4": 0,
                "VY1": 0,
                "VY2": 0,
                "VY3": 0,
                "VY4": 0,
            }
        )
    cols = {"CCDAMP": ("4A", ["ABCD"] * len(rows))}
    for key in rows[0]:
        cols[key] = ("J", [r[key] for r in rows])
    return [table(cols)]


def _bpixtab() -> list:
    rows = [
        (400, 380, 200, 2, 4),
        (520, 500, 30, 1, 32),
        (100, 100, 1, 1, 4),
        (800, 900, 50, 2, 4),
        (450, 450, 2, 1, 16),
    ]
    return [table(bpixtab_columns([(*r, 1) for r in rows]), {"SIZAXIS1": 1024, "SIZAXIS2": 1024})]


def _nlinfile(refs: IRRefs) -> list:
    cards = {"LTV1": 0.0, "LTV2": 0.0, "LTM1_1": 1.0, "LTM2_2": 1.0}
    shape = refs.zsci.shape
    b = NONLIN_BETA
    coefs = (0.0, b, 2 * b * b, 5 * b**3)  # series inverse of M = F − βF²
    hdus = [null_extension("COEF", k + 1, shape, float(np.float32(c)), cards) for k, c in enumerate(coefs)]
    hdus += [null_extension("ERR", k + 1, shape, 0.0, cards) for k in range(4)]
    hdus.append(null_extension("DQ", 1, shape, 0, cards))
    hdus.append(null_extension("NODE", 1, shape, NODE_DN, cards))
    hdus.append(image_extension("ZSCI", 1, refs.zsci, cards))
    hdus.append(null_extension("ZERR", 1, shape, 4.0, cards))
    return hdus


def write_references(
    refdir: Path, size: str, refs: IRRefs, nsamp: int | None = None
) -> tuple[list[RefEntry], dict[str, str]]:
    refs_out = RefWriter(refdir, "wfc3", "IR", size, useafter=USEAFTER, descrip="caldp.sim IR")
    add, refkw = refs_out.add, refs_out.refkw
    seq = sample_sequence(size, nsamp)
    chip = chip_for(size)

    refkw["CCDTAB"] = add("ccdtab", "ccd", "CCD PARAMETERS", _ccdtab())
    refkw["OSCNTAB"] = add("oscntab", "osc", "OVERSCAN", _oscntab())
    refkw["BPIXTAB"] = add("bpixtab", "bpx", "BAD PIXELS", _bpixtab())
    refs_out.add_standard_tables(crrejtab_hdu(ir=True), IR_PHOT, ("PHOTFLAM", "PHOTPLAM", "PHOTBW"))
    refkw["NLINFILE"] = add("nlinfile", "lin", "LINEARITY COEFFICIENTS", _nlinfile(refs), NCOEF=4, NERR=4)
    full_cards = {"LTV1": 0.0, "LTV2": 0.0, "LTM1_1": 1.0, "LTM2_2": 1.0}
    refkw["PFLTFILE"] = add(
        "pfltfile",
        "pfl",
        "PIXEL-TO-PIXEL FLAT",
        _group(1, refs.flat, refs.flat.shape, err=0.005, cards=full_cards),
        {"FILTER": FILTER, "CCDAMP": "ABCD"},
        FILTER=FILTER,
        CCDAMP="ABCD",
    )
    # cumulative dark (DN) at every sample time, cut to the (sub)array, EXTVER k ↔ EXPOS_k
    ltv = {"LTV1": chip.ltv[0], "LTV2": chip.ltv[1], "LTM1_1": 1.0, "LTM2_2": 1.0}
    dark_rate_dn = _section(chip, refs.dark_rate) / F32(MEAN_GAIN)
    dark_hdus = []
    expos = {}
    for k, t in enumerate(seq.times[::-1]):
        extver = k + 1
        expos[f"EXPOS_{extver}"] = float(t)
        sci = (dark_rate_dn * F32(t)).astype(F32)
        dark_hdus += _group(
            extver,
            sci,
            sci.shape,
            err=0.5,
            samp=int(seq.nsamp - 1 - k),
            time=float(t),
            cards={**ltv, "SAMPTIME": float(t)},
        )
    refkw["DARKFILE"] = add(
        "darkfile",
        "drk",
        "DARK",
        dark_hdus,
        {"CCDAMP": "ABCD", "CCDGAIN": f"{GAIN:.1f}", "SAMP_SEQ": seq.name, "SUBTYPE": seq.subtype},
        CCDAMP="ABCD",
        CCDGAIN=GAIN,
        SAMP_SEQ=seq.name,
        SUBTYPE=seq.subtype,
        NUMEXPOS=seq.nsamp,
        **expos,
    )
    distortion.write_references(refs_out, "IR")  # IDCTAB
    return refs_out.entries, refs_out.header_values("iref")


@dataclass(slots=True)
class IRPixels:
    reads: np.ndarray  # (NSAMP, ny, nx) uint16, in time order (index 0 = zeroth read)
    truth_rate: np.ndarray | None
    star_x: np.ndarray
    star_y: np.ndarray
    wcs_cards: dict
    n_cr: int
    n_saturated: int
    cosmic_rays: tuple = ()  # (y, x, read index, e⁻) of every hit on the science area
    drift: np.ndarray | None = None  # reference level offset of each read (DN, time order)


def simulate_ramp(
    rng: np.random.Generator,
    size: str,
    refs: IRRefs,
    stars: StarField,
    pointing: Pointing,
    *,
    sky_rate: float,
    psf_sigma: float,
    cr_rate: float,
    keep_truth: bool,
    placement=None,
    nsamp: int | None = None,
    quirks=(),
) -> IRPixels:
    """Reads of one MULTIACCUM exposure (see the module docstring). `placement`: the chip's
    ``distortion.ChipSolution`` (star positions and header WCS through the distortion model);
    `nsamp`: the number of reads; `quirks`: the ramp cases of :data:`QUIRKS`."""
    chip = chip_for(size)
    seq = sample_sequence(size, nsamp)
    ny, nx = chip.raw_shape
    sy, sx = chip.sci_shape
    origin = (float(chip.corner[0]), float(chip.corner[1]))
    if placement is None:
        x, y = star_pixels(stars, pointing.wcs(origin))
    else:
        x, y = placement.star_pixels(stars.ra, stars.dec)
    rate = render_points((sy, sx), x, y, stars.rate, sigma=psf_sigma) + sky_rate
    flat = _section(chip, refs.flat)[5:-5, 5:-5]
    dark = _section(chip, refs.dark_rate)[5:-5, 5:-5]
    e_rate = rate * flat + dark
    if "saturation" in quirks:
        for py, px_, dn_rate in SATURATING.values():
            e_rate[py, px_] = dn_rate * MEAN_GAIN
    # accumulated electrons at each read: zeroth read integrates sampzero, later reads add Δt
    dt = np.diff(np.r_[-seq.sampzero, seq.times])  # reset sampzero before the zeroth read
    steps = poisson_counts(rng, e_rate.astype(F32)[None, :, :] * dt.astype(F32)[:, None, None])
    # cosmic rays between two reads (never before the first read), persisting in later reads
    n_cr = int(rng.poisson(cr_rate * seq.times[-1] * sy * sx))
    cy, cx = rng.integers(0, sy, n_cr), rng.integers(0, sx, n_cr)
    ck = rng.integers(min(2, seq.nsamp - 1), seq.nsamp, n_cr)  # 2 unless there are only 2 reads
    ce = rng.lognormal(np.log(3000.0), 0.7, n_cr).astype(F32)
    if "cr-every-read" in quirks:
        many = np.arange(2, seq.nsamp, 3)
        cy = np.r_[cy, np.full(many.size, CR_EVERY_READ[0])]
        cx = np.r_[cx, np.full(many.size, CR_EVERY_READ[1])]
        ck = np.r_[ck, many]
        ce = np.r_[ce, np.resize(F32([7000.0, 3500.0, 9400.0, 4700.0]), many.size)].astype(F32)
    np.add.at(steps, (ck, cy, cx), ce)
    electrons = np.cumsum(steps, axis=0, dtype=F32)
    dn = electrons / F32(MEAN_GAIN)
    dn = np.minimum(dn, F32(FULL_WELL_DN))
    measured = dn * (1 - F32(NONLIN_BETA) * dn)
    if "spikes" in quirks:
        for k, (py, px_, amp) in enumerate(SPIKES):
            measured[min(3 - k, seq.nsamp - 2), py, px_] += F32(amp)
    n_sat = int((measured[-1] > NODE_DN).sum())
    drift = np.r_[0.0, rng.normal(0.0, 3.0, seq.nsamp - 1)].astype(F32)
    zsci = _section(chip, refs.zsci)
    reads = (
        zsci[None, :, :]
        + drift[:, None, None]
        + rng.standard_normal((seq.nsamp, ny, nx), dtype=F32) * F32(READ_NOISE_E / MEAN_GAIN)
    )
    reads[:, 5:-5, 5:-5] += measured
    raw = np.clip(np.rint(reads), 0, 65535).astype(np.uint16)
    cards = pointing.header_cards(origin, (5.0, 5.0)) if placement is None else dict(placement.cards)
    truth = rate.astype(F32) if keep_truth else None
    return IRPixels(raw, truth, x, y, cards, n_cr, n_sat, (cy, cx, ck, ce), drift)


def primary_cards(
    size: str,
    root: str,
    *,
    expstart: float,
    asn_id: str,
    asn_mtyp: str,
    refkw: dict,
    date_obs: str,
    time_obs: str,
    targ: tuple[float, float],
    nsamp: int | None = None,
) -> dict:
    seq = sample_sequence(size, nsamp)
    exptime = float(seq.times[-1])
    sub = size == "small"
    cards = {
        **exposure_cards("wfc3", root, f"{root.lower()}_raw.fits", nextend=5 * seq.nsamp, targ=targ, proposid=17003),
        **exposure_time_cards(date_obs, time_obs, expstart, exptime),
        "EXPFLAG": "NORMAL",
        "OBSTYPE": "IMAGING",
        "OBSMODE": "MULTIACCUM",
        "SCLAMP": "NONE",
        "NRPTEXP": 1,
        "SUBARRAY": sub,
        "DETECTOR": "IR",
        "FILTER": FILTER,
        "APERTURE": "IRSUB256" if sub else "IR",
        "PROPAPER": "IRSUB256" if sub else "IR",
        "CRSPLIT": 1,
        "CCDAMP": "ABCD",
        "CCDGAIN": GAIN,
        "BINAXIS1": 1,
        "BINAXIS2": 1,
        "SAMP_SEQ": seq.name,
        "NSAMP": seq.nsamp,
        "SAMPZERO": seq.sampzero,
        "SUBTYPE": seq.subtype,
        **association_cards(asn_id, asn_mtyp),
        **amp_cards(biaslev=False),
    }
    finish_cards(cards, IR_SWITCHES, refkw, UNUSED_REFS)
    if asn_mtyp == "EXP-RPT":  # repeats at one pointing: WF3REJ combines them into the _crj
        cards["RPTCORR"] = "PERFORM"
    return cards


def raw_hdus(size: str, pcards: dict, px: IRPixels, root: str, nsamp: int | None = None):
    seq = sample_sequence(size, nsamp)
    chip = chip_for(size)
    hdus = [primary(pcards)]
    n = seq.nsamp
    for extver in range(1, n + 1):
        k = n - extver  # time index: EXTVER 1 = last read, EXTVER NSAMP = zeroth read
        t = float(seq.times[k])
        cards = {
            "BUNIT": "COUNTS",
            "EXPNAME": root,
            "SAMPNUM": k,
            "SAMPTIME": t,
            "DELTATIM": float(t - seq.times[k - 1]) if k else 0.0,
            "ROUTTIME": pcards["EXPSTART"] + t / 86400.0,
            "CCDCHIP": 1,
            "LTV1": chip.ltv[0],
            "LTV2": chip.ltv[1],
            "LTM1_1": 1.0,
            "LTM2_2": 1.0,
            "SDQFLAGS": 31743,
            "NCOMBINE": 1,
            "PA_APER": px.wcs_cards["ORIENTAT"],
            **px.wcs_cards,
        }
        hdus += _group(extver, px.reads[k], chip.raw_shape, samp=k, time=t, cards=cards)
    return hdus
