"""calstis1 (HSTCAL ``cs1/calstis1.c``, ``do2d.c``, ``getgrpinfo1.c``, ``getccdtab.c``, ``history1.c``):
basic 2-D calibration of one STIS CCD exposure in memory, imset by imset, in calstis's order —
DQICORR, BLEVCORR, error initialisation, BIASCORR, DARKCORR, FLATCORR, PHOTCORR, STATFLAG.

The thin layer: references and header keywords here, pixel arithmetic in :mod:`.dqicorr`,
:mod:`.blevcorr`, :mod:`.basic2d` and :mod:`.photcorr`. cs0.e runs calstis1 twice around the
CR-split combination (:mod:`.calstis`), with different :class:`Steps`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from ..common import fitsfile as ff
from ..common import imphttab
from ..common.errors import EngineError
from ..common.filecache import per_file_version
from ..common.hstio import Exposure, ImSet, read_exposure, section
from ..common.keywords import hdr_double, hdr_float
from ..common.refimage import nint
from ..common.refs import column, is_given, resolve
from . import basic2d, binning, blevcorr, dqicorr, photcorr, radialvel

log = logging.getLogger(__name__)

BEGIN_SIDE2 = 52091.0  # MJD after which the CCD housing temperature scales the dark
CCD_REF_TEMP = 18.0
DEFAULT_BLEV_CLIP = 5.0


@dataclass(slots=True)
class Steps:
    """Which calstis1 steps this pass performs (cs0.e's cs1_switch)."""

    dqicorr: bool = False
    blevcorr: bool = False
    biascorr: bool = False
    darkcorr: bool = False
    flatcorr: bool = False
    photcorr: bool = False
    statflag: bool = False


@dataclass(slots=True)
class CCDPars:
    atodgain: np.float32
    ccdbias: np.float32
    readnoise: np.float32
    saturate: np.float32
    blev_clip: np.float32
    pedigree: str
    descrip: str
    row: int


@dataclass(slots=True)
class Refs:
    """References of one exposure, read once and shared by the two calstis1 passes."""

    env: dict
    primary: ff.Header
    cache: dict = field(default_factory=dict)

    def path(self, keyword: str) -> Path:
        value = self.primary.get(keyword)
        if not is_given(value):
            raise EngineError("reference file is not given (N/A or missing)", keyword=keyword)
        p = resolve(value, self.env, keyword=keyword)
        if not p.is_file():
            raise EngineError(f"not found or can't open ({p})", file=str(value).strip(), keyword=keyword)
        return p

    def image(self, keyword: str) -> tuple[ImSet, ff.Header]:
        """The first imset and primary header of a reference image. A reference whose DETECTOR is
        not the science data's is an error (cs0.e does not look: it would use it)."""
        if keyword not in self.cache:
            p = self.path(keyword)
            try:
                exp = read_exposure(p)
            except EngineError as exc:
                raise EngineError(exc.message, file=exc.file or p.name, keyword=keyword) from exc
            want = str(self.primary.get("DETECTOR", "")).strip()
            have = str(exp.primary.get("DETECTOR", want)).strip()
            if have != want:
                raise EngineError(
                    f"reference file is for DETECTOR = {have}, the science data's DETECTOR is {want}",
                    file=self.primary[keyword],
                    keyword=keyword,
                )
            self.cache[keyword] = (exp.imsets[0], exp.primary)
        return self.cache[keyword]

    def table(self, keyword: str):
        """(rows, table header, primary header) of a reference table: this exposure's own copies of
        what is parsed once per version of the file (the x2d, x1d and wavecal passes build their own
        Refs and ask for the same tables again)."""
        if keyword not in self.cache:
            p = self.path(keyword)
            try:
                data, hdr, phdr = per_file_version(p, "stis-table", _read_table)
            except (OSError, IndexError, AttributeError) as exc:
                raise EngineError(f"cannot read table ({exc})", file=p, keyword=keyword) from exc
            self.cache[keyword] = (data.copy(), hdr.copy(), phdr.copy())
        return self.cache[keyword]

    def primary_header(self, keyword: str) -> ff.Header:
        """A reference table's primary header (PEDIGREE, DESCRIP for the history): from the table
        already read, else the header alone — IMPHTTAB is read by :mod:`..common.imphttab`, not here."""
        if keyword in self.cache:
            return self.cache[keyword][-1]
        key = ("primary", keyword)
        if key not in self.cache:
            p = self.path(keyword)
            try:
                self.cache[key] = ff.getheader(p, 0)
            except (OSError, IndexError) as exc:
                raise EngineError(f"cannot read header ({exc})", file=p, keyword=keyword) from exc
        return self.cache[key]


def _read_table(path: Path):
    """The first extension's rows and header and the primary header of a FITS table (kept by
    :func:`per_file_version`; callers get copies)."""
    with ff.open(path) as hdul:
        return hdul[1].data.copy(), hdul[1].header.copy(), hdul[0].header.copy()


def _col(data, name: str, keyword: str, file) -> np.ndarray:
    c = column(data, name)
    if c is None:
        raise EngineError(f"column {name} not found", file=file, keyword=keyword)
    return np.asarray(c)


def read_ccdtab(refs: Refs, primary: ff.Header) -> CCDPars:
    """``GetCCDTab``: the row matching CCDAMP, CCDGAIN, CCDOFFST, BINAXIS1/2 (first match)."""
    data, _, _ = refs.table("CCDTAB")
    f = refs.primary["CCDTAB"]
    amp = np.char.strip(_col(data, "CCDAMP", "CCDTAB", f).astype(str))
    want = (
        str(primary.get("CCDAMP", "")).strip(),
        int(primary.get("CCDGAIN", 0)),
        int(primary.get("CCDOFFST", 0)),
        int(primary.get("BINAXIS1", 1)),
        int(primary.get("BINAXIS2", 1)),
    )
    match = (
        (amp == want[0])
        & (_col(data, "CCDGAIN", "CCDTAB", f) == want[1])
        & (_col(data, "CCDOFFST", "CCDTAB", f) == want[2])
        & (_col(data, "BINAXIS1", "CCDTAB", f) == want[3])
        & (_col(data, "BINAXIS2", "CCDTAB", f) == want[4])
    )
    rows = np.flatnonzero(match)
    if rows.size == 0:
        raise EngineError(
            "matching row not found (CCDAMP {}, CCDGAIN {}, CCDOFFST {}, BINAXIS {},{})".format(*want),
            file=f,
            keyword="CCDTAB",
        )
    r = int(rows[0])
    clip = column(data, "BLEV_CLIP")
    ped, desc = column(data, "PEDIGREE"), column(data, "DESCRIP")
    return CCDPars(
        np.float32(data["ATODGAIN"][r]),
        np.float32(data["CCDBIAS"][r]),
        np.float32(data["READNSE"][r]),
        np.float32(data["SATURATE"][r]),
        np.float32(DEFAULT_BLEV_CLIP if clip is None else clip[r]),
        "" if ped is None else str(ped[r]).strip(),
        "" if desc is None else str(desc[r]).strip(),
        r,
    )


def read_bpixtab(refs: Refs, opt_elem: str):
    """BPIXTAB rows for OPT_ELEM (or ANY/no column) and the table's (SIZAXIS1, SIZAXIS2)."""
    data, hdr, _ = refs.table("BPIXTAB")
    f = refs.primary["BPIXTAB"]
    if "SIZAXIS1" not in hdr or "SIZAXIS2" not in hdr:
        raise EngineError("couldn't get SIZAXIS1/SIZAXIS2 from the table header", file=f, keyword="BPIXTAB")
    cols = [_col(data, c, "BPIXTAB", f) for c in ("PIX1", "PIX2", "LENGTH", "AXIS", "VALUE")]
    opt = column(data, "OPT_ELEM")
    rows = []
    for i in range(len(data)):
        oe = "ANY" if opt is None else str(opt[i]).strip().upper()
        if oe != "ANY" and oe != opt_elem.strip().upper():
            continue
        if int(cols[3][i]) not in (1, 2):
            raise EngineError(f"Axis = {int(cols[3][i])} in BPIXTAB, but it must be 1 or 2", file=f, keyword="BPIXTAB")
        if int(cols[2][i]) <= 0:
            raise EngineError(
                f"Length = {int(cols[2][i])} in BPIXTAB, but it must be positive", file=f, keyword="BPIXTAB"
            )
        rows.append(tuple(int(c[i]) for c in cols))
    return rows, (int(hdr["SIZAXIS1"]), int(hdr["SIZAXIS2"]))


def _corner(hdr, rsize: int = 1) -> tuple[tuple[int, int], tuple[int, int]]:
    """``GetCorner``/``FromLT``: (bin, corner) in reference pixels, x first."""
    out_bin, out_corner = [], []
    for k in (1, 2):
        ltm = float(hdr.get(f"LTM{k}_{k}", 1.0))
        ltv = float(hdr.get(f"LTV{k}", 0.0))
        dbin = rsize / ltm
        out_bin.append(nint(dbin))
        out_corner.append(nint((dbin - rsize) / 2.0 - dbin * ltv))
    return (out_bin[0], out_bin[1]), (out_corner[0], out_corner[1])


def ref_section(x: ImSet, ref: ImSet, keyword: str, file) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``FindBin`` + ``bin2d`` for an unbinned CCD: the reference pixels under the science image."""
    sbin, scorner = _corner(x.sci_hdr)
    rbin, rcorner = _corner(ref.sci_hdr)
    if sbin != (1, 1) or rbin != (1, 1):
        raise EngineError(
            "binned CCD data or references are not supported by the builtin STIS engine yet", file=file, keyword=keyword
        )
    ny, nx = x.shape
    if scorner == rcorner and ref.shape == x.shape:
        return ref.sci, ref.err, ref.dq
    x0, y0 = scorner[0] - rcorner[0], scorner[1] - rcorner[1]
    if x0 < 0 or y0 < 0 or x0 + nx > ref.shape[1] or y0 + ny > ref.shape[0]:
        raise EngineError(
            f"size mismatch: reference {ref.shape[1]}x{ref.shape[0]} does not cover the science image "
            f"({nx}x{ny} at {x0 + 1},{y0 + 1})",
            file=file,
            keyword=keyword,
        )
    sl = (slice(y0, y0 + ny), slice(x0, x0 + nx))
    return ref.sci[sl], ref.err[sl], ref.dq[sl]


def _history(primary: ff.Header, text: str) -> None:
    primary.add_history(text)


def _ref_history(primary: ff.Header, what: str, refs: Refs, keyword: str) -> None:
    """calstis1's history for a reference image step: name, PEDIGREE, DESCRIP."""
    _, rprim = refs.image(keyword)
    _history(primary, f"{what} complete ...")
    _history(primary, f"  reference image {refs.primary[keyword]}")
    _history(primary, f"    {str(rprim.get('PEDIGREE', '')).strip()}")
    _history(primary, f"    {str(rprim.get('DESCRIP', '')).strip()}")


def _table_history(primary: ff.Header, refs: Refs, keyword: str, extra: str = "") -> None:
    rprim = refs.primary_header(keyword)
    _history(primary, f"  reference table {refs.primary[keyword]}")
    _history(primary, f"    {str(rprim.get('PEDIGREE', '')).strip()}")
    _history(primary, f"    {str(rprim.get('DESCRIP', '')).strip()}")
    if extra:
        _history(primary, f"    {extra}")


#: (keyword, default) of the coordinate keywords ``BinCoords`` reads from the SCI header
COORD_KEYS = (
    ("CRPIX1", 0.0),
    ("CRPIX2", 0.0),
    ("CD1_1", 1.0),
    ("CD1_2", 0.0),
    ("CD2_1", 0.0),
    ("CD2_2", 1.0),
    ("LTM1_1", 1.0),
    ("LTM2_2", 1.0),
    ("LTV1", 0.0),
    ("LTV2", 0.0),
)


def read_coords(hdr: ff.Header):
    """(LTM, LTV, CD, CRPIX) of a SCI header as ``BinCoords`` reads them (absent keywords: identity)."""
    v = {k: float(hdr.get(k, d)) for k, d in COORD_KEYS}
    return (
        (v["LTM1_1"], v["LTM2_2"]),
        (v["LTV1"], v["LTV2"]),
        (v["CD1_1"], v["CD1_2"], v["CD2_1"], v["CD2_2"]),
        (v["CRPIX1"], v["CRPIX2"]),
    )


def write_coords(headers, ltm, ltv, cd, crpix) -> None:
    """``BinCoords``'s output: CRPIX, CD, LTV and LTM written as doubles (13 digits) into each of
    `headers`, added where missing."""
    values = (
        ("CRPIX1", crpix[0]),
        ("CD1_1", cd[0]),
        ("CD2_1", cd[2]),
        ("LTV1", ltv[0]),
        ("LTM1_1", ltm[0]),
        ("CRPIX2", crpix[1]),
        ("CD1_2", cd[1]),
        ("CD2_2", cd[3]),
        ("LTV2", ltv[1]),
        ("LTM2_2", ltm[1]),
    )
    for h in headers:
        for key, value in values:
            h[key] = hdr_double(value)


def bin_coords(imset: ImSet, src: ff.Header, offset: tuple[float, float], block=(1.0, 1.0)) -> None:
    """``BinCoords`` after ``bin2d`` (BLEVCORR's trim is a bin2d of 1×1 from the overscan corner):
    CRPIX, CD, LTV and LTM from the input SCI header `src`, updated by ``BinUpdate`` and written
    into the SCI, ERR and DQ headers."""
    ltm, ltv, cd, crpix = binning.bin_update(block, offset, *read_coords(src))
    write_coords([imset.headers[n] for n in ("SCI", "ERR", "DQ") if n in imset.headers], ltm, ltv, cd, crpix)


def is_wavecal(primary: ff.Header) -> bool:
    """``GetKeyInfo1``/``GetGrpInfo1``: a wavecal by TARGNAME (WAVELINE, WAVEHITM) or ASN_MTYP (…WAVECAL)."""
    targ = str(primary.get("TARGNAME", "")).strip().upper()
    return targ in ("WAVELINE", "WAVEHITM") or "WAVECAL" in str(primary.get("ASN_MTYP", ""))


def imset_times(imset: ImSet, primary: ff.Header, filename: str, *, keys=(), helio: bool) -> tuple[float, float, int]:
    """``Do2D``/``GetGrpInfo1``'s per-imset start, shared by the CCD and MAMA passes: the required
    SCI keywords (EXPTIME, EXPSTART, EXPEND and `keys`), a negative EXPTIME refused, V_HELIO written
    before any other check when `helio` (spectroscopic science, not a wavecal). Returns (EXPTIME,
    EXPSTART, SDQFLAGS)."""
    hdr = imset.sci_hdr
    for key in ("EXPTIME", "EXPSTART", "EXPEND", *keys):
        if key not in hdr:
            raise EngineError(f"imset {imset.extver}: keyword not found", file=filename, keyword=key)
    exptime = float(hdr["EXPTIME"])
    if exptime < 0:
        raise EngineError(f"Exposure time is invalid: {exptime:g}", file=filename, keyword="EXPTIME")
    expstart = float(hdr["EXPSTART"])
    if helio:
        mid = (expstart + float(hdr["EXPEND"])) / 2.0
        v = radialvel.radial_velocity(float(primary["RA_TARG"]), float(primary["DEC_TARG"]), mid)
        hdr["V_HELIO"] = (hdr_double(v), "heliocentric radial velocity (km/s)")
    sdqflags = int(np.int16(np.int32(hdr.get("SDQFLAGS", 32767)) & 0xFFFF).astype(np.uint16))
    return exptime, expstart, sdqflags


def flag_bad_imset(imset: ImSet, exptime: float) -> bool:
    """``Do2D``: an imset with no exposure time or constant data is marked IMSET_OK = F and not
    calibrated; True when it was."""
    if not (exptime <= 0.0 or float(imset.sci.max()) <= float(imset.sci.min())):
        return False
    why = f"exptime = {exptime:.6g}" if exptime <= 0 else f"all values = {float(imset.sci.max()):.6g}"
    log.warning("imset %d flagged as bad because %s", imset.extver, why)
    imset.sci_hdr["IMSET_OK"] = (False, "is the current imset good?")
    return True


def dqicorr_history(primary: ff.Header, refs: Refs, *, bpixtab: bool) -> None:
    """DQICORR's switch and history (first good imset)."""
    primary["DQICORR"] = "COMPLETE"
    _history(primary, "DQICORR complete ...")
    _history(primary, "  values checked for saturation")
    if bpixtab:
        _history(primary, "  DQ array initialized ...")
        _table_history(primary, refs, "BPIXTAB")


def init_error(imset: ImSet, primary: ff.Header, ncombine: int, make, *, first: bool) -> bool:
    """``doNoise``: an all-zero ERR array is replaced by ``make(sci)``; True when it was."""
    if not basic2d.error_is_dummy(imset.err):
        return False
    if ncombine > 1:
        log.warning("NCOMBINE > 1 before the error array was initialized.")
    imset.err = make(imset.sci)
    if first:
        _history(primary, "Uncertainty array initialized.")
    return True


def subtract_dark(
    imset: ImSet, arrays, ref, scale: float, factor: float, primary: ff.Header, refs: Refs, *, first: bool
) -> None:
    """``doDark`` once the dark is under the science pixels: `ref` (SCI, ERR, DQ) times `scale`
    (factor · EXPTIME / ATODGAIN) subtracted from `arrays` (SCI, ERR, DQ), MEANDARK, switch, history."""
    rs, re_, rd = ref
    rs, re_ = basic2d.scale_ref(rs, re_, scale)
    if factor != 1.0:
        log.info("Dark reference image was scaled by the factor %.6g, in addition to the exposure time.", factor)
    meandark = basic2d.median_good(rs, rd)
    basic2d.subtract(*arrays, rs, re_, rd)
    imset.sci_hdr["MEANDARK"] = (hdr_float(meandark), "mean of dark values subtracted")
    if first:
        primary["DARKCORR"] = "COMPLETE"
        _ref_history(primary, "DARKCORR", refs, "DARKFILE")


def flatcorr_history(primary: ff.Header, refs: Refs) -> None:
    """FLATCORR's switch and one history entry per flat given (first good imset)."""
    primary["FLATCORR"] = "COMPLETE"
    for key in ("PFLTFILE", "DFLTFILE", "LFLTFILE"):
        if is_given(primary.get(key)):
            _ref_history(primary, "FLATCORR", refs, key)


def calstis1(exp: Exposure, steps: Steps, refs: Refs, *, input_dir: Path | None = None) -> Exposure:
    """One calstis1 pass over every imset of `exp` (CCD imaging); returns the calibrated exposure.
    `exp` is consumed (its arrays are reused)."""
    primary = exp.primary
    detector = str(primary.get("DETECTOR", "")).strip()
    if detector != "CCD":
        raise EngineError(
            f"DETECTOR = {detector}: only the CCD is supported by the builtin STIS engine yet",
            file=exp.filename,
            keyword="DETECTOR",
        )
    obstype = str(primary.get("OBSTYPE", "")).strip()
    wavecal = is_wavecal(primary)
    ccd = read_ccdtab(refs, primary)
    sw_crcorr = str(primary.get("CRCORR", "OMIT")).strip().upper()
    out = Exposure(primary=primary, filename=exp.filename)
    ngood = 0
    for imset in exp.imsets:
        hdr = imset.sci_hdr
        helio = obstype == "SPECTROSCOPIC" and not wavecal
        exptime, expstart, sdqflags = imset_times(imset, primary, exp.filename, helio=helio)
        ncombine = max(int(hdr.get("NCOMBINE", 1)), 1)
        if flag_bad_imset(imset, exptime):
            out.imsets.append(imset)
            continue
        ngood += 1
        temperature = -1.0
        occdhtav = float(hdr.get("OCCDHTAV", -1.0))
        if occdhtav >= 0.0 and sw_crcorr != "COMPLETE":
            epc = f"{str(hdr.get('EXPNAME', '')).strip()[:8]}j_epc.fits"
            if input_dir is not None and ((input_dir / epc).is_file() or (input_dir / epc.lower()).is_file()):
                raise EngineError(
                    "EPC tables (side-2 CCD housing temperature) are not supported by the builtin STIS engine yet",
                    file=epc,
                )
            log.warning("EPCTAB `%s' not found.", epc)
        if expstart >= BEGIN_SIDE2:
            if "OCCDHTAV" in hdr:
                temperature = float(hdr["OCCDHTAV"])
            else:
                log.warning("keyword OCCDHTAV not found; no temperature correction applied to sensitivity.")
        if ngood == 1:
            primary["ATODGAIN"] = hdr_float(ccd.atodgain)
            primary["READNSE"] = hdr_float(ccd.readnoise)
            _history(primary, "CCD parameters table ...")
            _history(primary, f"  reference table {refs.primary['CCDTAB']}")
            _history(primary, f"    {ccd.pedigree}")
            _, _, cprim = refs.table("CCDTAB")
            _history(primary, f"    {str(cprim.get('DESCRIP', '')).strip()}")
            _history(primary, f"    {ccd.descrip}")
            if exp.nimsets == 1 and sw_crcorr == "PERFORM":
                log.warning("Only one imset, so CRCORR will be reset to SKIPPED.")
                primary["CRCORR"] = "SKIPPED"
        sci, err, dq = imset.sci, imset.err, imset.dq
        if steps.dqicorr:
            dqicorr.flag_saturation(sci, dq, ccd.saturate)
            ltm = (float(hdr.get("LTM1_1", 1.0)), float(hdr.get("LTM2_2", 1.0)))
            ltv = (float(hdr.get("LTV1", 0.0)), float(hdr.get("LTV2", 0.0)))
            cdelt = (1.0, 1.0)
            if obstype == "IMAGING":
                cd = [float(hdr.get(k, d)) for k, d in (("CD1_1", 1.0), ("CD1_2", 0.0), ("CD2_1", 0.0), ("CD2_2", 1.0))]
                cdelt = (math.sqrt(cd[0] ** 2 + cd[2] ** 2), math.sqrt(cd[1] ** 2 + cd[3] ** 2))
            elif obstype == "SPECTROSCOPIC":  # GetGrpInfo1: square pixels, the cross-dispersion CD element
                dispaxis = int(hdr.get("DISPAXIS", 1))
                c = float(hdr.get("CD2_2", 1.0)) if dispaxis == 1 else float(hdr.get("CD1_1", 1.0))
                cdelt = (c, c) if dispaxis in (1, 2) else cdelt
            if str(primary.get("TARGNAME", "")).strip() not in ("BIAS", "DARK"):
                warn = dqicorr.flag_filter(
                    dq, str(primary.get("APER_FOV", "")), cdelt, ltm, ltv, imaging=obstype == "IMAGING"
                )
                if warn:
                    log.warning("%s regions beyond the aperture will not be flagged.", warn)
            if is_given(primary.get("BPIXTAB")):
                rows, size = read_bpixtab(refs, str(primary.get("OPT_ELEM", "")))
                dqicorr.apply_bpixtab(dq, rows, ltv, size)
            if ngood == 1:
                dqicorr_history(primary, refs, bpixtab=is_given(primary.get("BPIXTAB")))
        if steps.blevcorr:
            binning = (int(primary.get("BINAXIS1", 1)), int(primary.get("BINAXIS2", 1)))
            res, ov = blevcorr.blevcorr(
                sci,
                dq,
                ccdamp=str(primary.get("CCDAMP", "")),
                binning=binning,
                sdqflags=sdqflags,
                ccdbias=ccd.ccdbias,
                blev_clip=ccd.blev_clip,
            )
            if ov is None:
                log.warning("Image size is too small to do BLEVCORR; bias from CCDTAB will be subtracted.")
                imset.sci = sci = res.sci
            else:
                if res.too_few:
                    log.warning(
                        "(blevcorr) %d image line%s too few overscan pixels.",
                        res.too_few,
                        " has" if res.too_few == 1 else "s have",
                    )
                if res.default_used:
                    log.warning("No bias level data, or singular fit; bias from CCDTAB will be subtracted.")
                if not res.driftcorr:
                    log.warning("(blevcorr) No virtual overscan region; no correction for slope will be applied.")
                (tx1, tx2), (ty1, ty2) = ov.trimx, ov.trimy
                ny, nx = sci.shape
                imset = section(imset, tx1, ty1, nx - tx1 - tx2, ny - ty1 - ty2)
                bin_coords(imset, hdr, (float(tx1), float(ty1)))
                imset.sci = sci = res.sci
                err, dq = imset.err, imset.dq
                hdr = imset.sci_hdr
            hdr["MEANBLEV"] = (hdr_float(res.meanblev), "mean of bias levels subtracted")
            log.info(
                "Bias level from overscan has been subtracted; mean of bias levels subtracted was %.6g.",
                np.float32(res.meanblev),
            )
            err_init_bias = 0.0
            if ngood == 1:
                primary["BLEVCORR"] = "COMPLETE"
                if ov is not None:
                    _history(primary, "BLEVCORR complete; bias level from overscan was subtracted.")
                else:
                    _history(primary, "BLEVCORR complete; bias level from CCDTAB was subtracted.")
                if not res.driftcorr:
                    _history(primary, "BLEVCORR does not include correction for drift along lines.")
                else:
                    _history(primary, "BLEVCORR includes correction for drift along lines.")
        else:
            err_init_bias = float(ccd.ccdbias)
        make_err = partial(basic2d.init_error_ccd, bias=err_init_bias, gain=ccd.atodgain, readnoise=ccd.readnoise)
        if init_error(imset, primary, ncombine, make_err, first=ngood == 1):
            err = imset.err
            log.info("Uncertainty array initialized, readnoise=%.5g, gain=%.5g", ccd.readnoise, ccd.atodgain)
        if steps.biascorr:
            ref, _ = refs.image("BIASFILE")
            rs, re_, rd = ref_section(imset, ref, "BIASFILE", refs.primary["BIASFILE"])
            rs, re_ = basic2d.scale_ref(rs, re_, float(ncombine))
            basic2d.subtract(sci, err, dq, rs, re_, rd)
            if ngood == 1:
                primary["BIASCORR"] = "COMPLETE"
                _ref_history(primary, "BIASCORR", refs, "BIASFILE")
        if steps.darkcorr:
            ref, rprim = refs.image("DARKFILE")
            under = ref_section(imset, ref, "DARKFILE", refs.primary["DARKFILE"])
            factor = basic2d.dark_factor(
                temperature, float(rprim.get("REF_TEMP", CCD_REF_TEMP)), float(rprim.get("DRK_VS_T", 0.07))
            )
            scale = factor * exptime / float(ccd.atodgain)
            subtract_dark(imset, (sci, err, dq), under, scale, factor, primary, refs, first=ngood == 1)
        if steps.flatcorr:
            _flatcorr(imset, refs, primary, first=ngood == 1)
        if ngood == 1:
            _photcorr(imset, primary, refs, ccd, steps.photcorr, temperature)
        if steps.statflag:
            st = basic2d.good_stats(imset.sci, imset.err, imset.dq, sdqflags)
            _write_stats(imset, st)
        out.imsets.append(imset)
    return out


def _flatcorr(imset: ImSet, refs: Refs, primary: ff.Header, *, first: bool) -> None:
    have = {k: is_given(primary.get(k)) for k in ("PFLTFILE", "DFLTFILE", "LFLTFILE")}
    if have["LFLTFILE"]:
        raise EngineError("low-order flats are not supported by the builtin STIS engine yet", keyword="LFLTFILE")
    if not (have["PFLTFILE"] or have["DFLTFILE"]):
        raise EngineError("FLATCORR=PERFORM but no PFLTFILE or DFLTFILE is given", keyword="PFLTFILE")
    flat = None
    for key in ("PFLTFILE", "DFLTFILE"):
        if not have[key]:
            continue
        ref, _ = refs.image(key)
        if flat is None:
            # the cached reference itself unless a delta flat is multiplied into it below
            flat = ImSet(ref.sci.copy(), ref.err.copy(), ref.dq.copy(), ref.headers) if have["DFLTFILE"] else ref
        else:
            if ref.shape != flat.shape:
                raise EngineError("Pixel-to-pixel flat and delta flat are not the same size", keyword=key)
            basic2d.multiply(flat.sci, flat.err, flat.dq, ref.sci, ref.err, ref.dq)
    fs, fe, fd = ref_section(imset, flat, "PFLTFILE", refs.primary.get("PFLTFILE"))
    basic2d.divide(imset.sci, imset.err, imset.dq, fs, fe, fd)
    if first:
        flatcorr_history(primary, refs)


def _photcorr(
    imset: ImSet,
    primary: ff.Header,
    refs: Refs,
    ccd: CCDPars | None,
    perform: bool,
    temperature: float,
    *,
    detector: str = "CCD",
):
    """PhotMode and doPhot (first good imset); `ccd` is None for the MAMAs (no A2D term)."""
    obstype = str(primary.get("OBSTYPE", "")).strip()
    cenwave = int(primary.get("CENWAVE", -1)) if obstype == "SPECTROSCOPIC" else None
    mode = photcorr.photmode(
        aperture=str(primary.get("APERTURE", "")),
        detector=detector,
        opt_elem=str(primary.get("OPT_ELEM", "")),
        ccdgain=int(primary.get("CCDGAIN", 1)),
        expstart=float(imset.sci_hdr["EXPSTART"]),
        cenwave=cenwave,
    )
    primary["PHOTMODE"] = (mode, "list of components")
    if not perform:
        return
    obsmode, found_a2d = photcorr.remove_a2d(mode)
    path = refs.path("IMPHTTAB")
    try:
        vals = imphttab.lookup(path, obsmode)
    except EngineError as exc:
        log.warning("photmode '%s' not found (%s); PHOTCORR skipped.", obsmode, exc)
        primary["PHOTCORR"] = "SKIPPED"
        return
    flam, plam, bw = vals["PHOTFLAM"], vals["PHOTPLAM"], vals["PHOTBW"]
    ok = not (flam < -9990.0 and plam < -9990.0 and bw < -9990.0)
    if found_a2d and ok and ccd is not None:
        flam *= float(ccd.atodgain)
    tdsrow = None
    if ok and is_given(primary.get("TDSTAB")):
        data, _, _ = refs.table("TDSTAB")
        f = refs.primary["TDSTAB"]
        opt = np.char.strip(np.char.upper(_col(data, "OPT_ELEM", "TDSTAB", f).astype(str)))
        rows = np.flatnonzero(opt == str(primary.get("OPT_ELEM", "")).strip().upper())
        if rows.size == 0:
            raise EngineError(
                f"matching row not found for OPT_ELEM {primary.get('OPT_ELEM')}", file=f, keyword="TDSTAB"
            )
        tdsrow = int(rows[-1])
        nwl = int(data["NWL"][tdsrow])
        wl = np.asarray(data["WAVELENGTH"][tdsrow], np.float64).ravel()[:nwl]
        if column(data, "TEMPSENS") is not None and column(data, "REFTEMP") is not None:
            sens = np.asarray(data["TEMPSENS"][tdsrow], np.float64).ravel()[:nwl]
            flam /= photcorr.temperature_factor(plam, temperature, wl, sens, float(data["REFTEMP"][tdsrow]))
    primary["PHOTFLAM"] = (hdr_float(flam), "inverse sensitivity")
    primary["PHOTZPT"] = (hdr_float(vals["PHOTZPT"]), "zero point")
    primary["PHOTPLAM"] = (hdr_float(plam), "pivot wavelength")
    primary["PHOTBW"] = (hdr_float(bw), "RMS bandwidth")
    primary["PHOTCORR"] = "COMPLETE" if ok else "SKIPPED"
    _history(primary, "PHOTCORR complete ..." if ok else "PHOTCORR skipped ...")
    _table_history(primary, refs, "IMPHTTAB")
    if tdsrow is not None:
        _table_history(primary, refs, "TDSTAB")


def _write_stats(imset: ImSet, st: basic2d.Stats) -> None:
    sh, eh = imset.headers["SCI"], imset.headers["ERR"]
    sh["NGOODPIX"] = (st.n, "number of good pixels")
    eh["NGOODPIX"] = (st.n, "number of good pixels")
    if st.n == 0:
        log.warning("All output pixels flagged as bad.")
        return
    for key, v, c in (
        ("GOODMIN", st.sci_min, "minimum good data value"),
        ("GOODMAX", st.sci_max, "maximum good data value"),
        ("GOODMEAN", st.sci_mean, "average of good data values"),
        ("SNRMIN", st.snr_min, "minimum S/N of good data values"),
        ("SNRMAX", st.snr_max, "maximum S/N of good data values"),
        ("SNRMEAN", st.snr_mean, "mean S/N of good data values"),
    ):
        sh[key] = (hdr_float(v), c)
    for key, v, c in (
        ("GOODMIN", st.err_min, "minimum sigma for good data"),
        ("GOODMAX", st.err_max, "maximum sigma for good data"),
        ("GOODMEAN", st.err_mean, "average of sigma for good data"),
    ):
        eh[key] = (hdr_float(v), c)
