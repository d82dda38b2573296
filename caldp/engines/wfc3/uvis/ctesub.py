"""PCTECORR on WFC3/UVIS subarrays (HSTCAL ``wf3cte/wf3cte.c``, ``subtools.c``, calwf3 3.7.x).

calwf3 corrects a subarray only when it includes physical (prescan) overscan columns. It places the
subarray into an otherwise empty full-size chip at its detector position (``Sub2Full``), marks the
pasted pixels in a mask, and runs the full-frame algorithm on the RAZ image made of that chip and
an empty other chip, with two differences:

- the bias level of each amp is the resistant mean (σ = 7.5) of the masked pixels of its prescan,
  RAZ columns 5 … 24, rows 0 … 2050, gathered column by column (``findPreScanBias``), and only the
  masked pixels are bias-subtracted and multiplied by CCDGAIN;
- the BIACFILE is subtracted from the subarray itself (``doCteBias``): a reference of the same size
  and position directly, otherwise the matching section of the full-frame reference (skipping the
  60 virtual-overscan columns past column 2072 of the chip, ``sub1dreform``); ERR and DQ are
  combined as ``sub1d`` does and stay in the ``_rac_tmp``.

The corrected pixels are cut back out (``Full2Sub``). A subarray without physical overscan (first
column ≥ 25 and last + 60 ≤ 4181 in the chip with overscan) is not corrected: calwf3 prints
"Subarray not taken with physical overscan (start finish)" / "Can't perform CTE correction" and stops
(here: EngineError with that text).

Every step reuses the full-frame pure functions of :mod:`.pctecorr`; columns of the RAZ image are
independent, so only the columns holding subarray pixels are put through ``sub_ctecor_v2c``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...common.errors import EngineError
from ..ir.blevcorr import resistant_mean
from . import pctecorr as P

log = logging.getLogger(__name__)

F32, F64 = np.float32, np.float64
P_OVRSCN = 25  # physical overscan (prescan) columns of an amp
V_OVRSCNX2 = 60  # virtual overscan columns between the two amps of a chip
CHIP_COLS = P.RAZ_COLS // 2  # 4206
PRESCAN_COLS = (5, P_OVRSCN)  # RAZ columns of each amp used by findPreScanBias
#: LTV1/LTV2 of the empty full-size chips (``CreateEmptyChip``): group 1 (chip 2, amps C/D) and
#: group 2 (chip 1, amps A/B).
FULL_LTV = {2: (25.0, 0.0), 1: (25.0, 19.0)}


def _nint(x: float) -> int:
    """HSTCAL ``NINT``: round half away from zero."""
    return int(x + 0.5) if x >= 0.0 else int(x - 0.5)


def corner(ltv1: float, ltv2: float, ltm1: float = 1.0, ltm2: float = 1.0) -> tuple[int, int]:
    """``GetCorner``/``FromLT`` with a reference pixel size of 1: the 0-based corner (x, y)."""
    bx, by = 1.0 / ltm1, 1.0 / ltm2
    return _nint((bx - 1.0) - bx * ltv1), _nint((by - 1.0) - by * ltv2)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a subarray of `shape` (rows, cols) of chip `ccdchip` sits in the full chip with
    overscan (2070 × 4206): ``start``/``finish`` as calwf3's overscan test sees them and the paste
    corner ``(x0, y0)`` (``Sub2Full``: x0 moved by 60 when it starts in amp B or D)."""

    ccdchip: int
    shape: tuple[int, int]
    start: int
    finish: int
    x0: int
    y0: int

    @property
    def has_physical_overscan(self) -> bool:
        """calwf3's test: not (``start ≥ 25`` and ``finish + 60 ≤ 4206 − 25``)."""
        return not (self.start >= P_OVRSCN and self.finish + V_OVRSCNX2 <= CHIP_COLS - P_OVRSCN)

    @property
    def message(self) -> str:
        return f"Subarray not taken with physical overscan ({self.start} {self.finish}) Can't perform CTE correction"


def placement(sci_header, shape: tuple[int, int]) -> Placement:
    """The :class:`Placement` of a subarray from its SCI header (CCDCHIP, LTV1/2, LTM1_1/LTM2_2)."""
    chip = int(sci_header.get("CCDCHIP", 1))
    sx, sy = corner(
        float(sci_header.get("LTV1", 0.0)),
        float(sci_header.get("LTV2", 0.0)),
        float(sci_header.get("LTM1_1", 1.0)),
        float(sci_header.get("LTM2_2", 1.0)),
    )
    rx, ry = corner(*FULL_LTV[2 if chip == 2 else 1])
    start = sx - rx
    x0 = start + V_OVRSCNX2 if start >= 2072 else start
    return Placement(2 if chip == 2 else 1, tuple(shape), start, start + shape[1], x0, sy - ry)


def check_placement(pl: Placement, file: str) -> None:
    """EngineError (calwf3's message) for a subarray calwf3 does not correct or cannot place."""
    if not pl.has_physical_overscan:
        raise EngineError(pl.message, file=file, keyword="LTV1")
    ny, nx = pl.shape
    if pl.x0 < 0 or pl.y0 < 0 or pl.x0 + nx > CHIP_COLS or pl.y0 + ny > P.RAZ_ROWS:
        raise EngineError(
            f"subarray ({ny}×{nx} at x0={pl.x0}, y0={pl.y0}) does not fit in the 2070×4206 chip",
            file=file,
            keyword="LTV1",
        )


def biac_section(pl: Placement, biac, biac_corner: tuple[int, int], *, file: str):
    """``doCteBias`` for a subarray: the BIACFILE (sci, err, dq) pixels matching each subarray pixel.

    `biac_corner` is the reference chip's corner (``GetCorner`` of its SCI header). Same corner and
    width: the reference as it is (``sub1d``); else the section from ``x0 = sci − ref corner``
    (+60 when x0 ≥ 2072; a subarray reaching column 2072 skips the 60 virtual-overscan columns from
    its column ``2073 − x0`` on, ``sub1dreform``), rows ``y0 …``.
    """
    ny, nx = pl.shape
    sci, err, dq = biac
    rx, ry = corner(*FULL_LTV[pl.ccdchip])
    sx, sy = rx + pl.start, ry + pl.y0  # the subarray's own corner
    if (sx, sy) == tuple(biac_corner) and sci.shape[1] == nx:
        if sci.shape[0] < ny:
            raise EngineError(f"BIACFILE has {sci.shape[0]} rows, the subarray {ny}", file=file, keyword="BIACFILE")
        return sci[:ny], err[:ny], dq[:ny]
    x0, y0 = sx - biac_corner[0], sy - biac_corner[1]
    cols = np.arange(nx)
    if x0 >= 2072:
        x0 += V_OVRSCNX2
    elif x0 + nx >= 2072:
        cols = np.where(cols >= 2073 - x0, cols + V_OVRSCNX2, cols)
    cols = cols + x0
    if x0 < 0 or y0 < 0 or y0 + ny > sci.shape[0] or cols[-1] >= sci.shape[1]:
        raise EngineError(
            f"reference file size mismatch: the subarray ({ny}×{nx} at {x0},{y0}) is outside the "
            f"BIACFILE ({sci.shape[0]}×{sci.shape[1]})",
            file=file,
            keyword="BIACFILE",
        )
    rows = slice(y0, y0 + ny)
    return sci[rows][:, cols], err[rows][:, cols], dq[rows][:, cols]


def subtract_biac(sci, err, dq, bsci, berr, bdq):
    """``sub1d``: ``sci − b``, ``sqrt(err² + b_err²)`` (float32 operands, double sqrt), ``dq | b_dq``."""
    s = (np.asarray(sci, F32) - np.asarray(bsci, F32)).astype(F32)
    e2 = (np.asarray(err, F32) * np.asarray(err, F32)).astype(F32) + (
        np.asarray(berr, F32) * np.asarray(berr, F32)
    ).astype(F32)
    e = np.sqrt(e2.astype(F32).astype(F64)).astype(F32)
    d = (np.asarray(dq).astype(np.int16) | np.asarray(bdq).astype(np.int16)).astype(np.int16)
    return s, e, d


def _full_chips(pl: Placement, sub: np.ndarray, dtype=F32) -> tuple[np.ndarray, np.ndarray]:
    """(cd, ab) full chips (2070 × 4206), zero except `sub` pasted at the placement."""
    chips = {c: np.zeros((P.RAZ_ROWS, CHIP_COLS), dtype) for c in (1, 2)}
    ny, nx = pl.shape
    chips[pl.ccdchip][pl.y0 : pl.y0 + ny, pl.x0 : pl.x0 + nx] = sub
    return chips[2], chips[1]


def prescan_bias(raz: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``findPreScanBias``: per amp the resistant mean (σ = 7.5) of the masked prescan pixels,
    RAZ columns 5 … 24, rows 0 … 2050, column by column; 0 for an amp without any. float32 (4,)."""
    out = np.zeros(P.NAMPS, F32)
    for k in range(P.NAMPS):
        c0 = k * P.AMP_COLS
        block = raz[: P.YAMP_SCI_DIM, c0 + PRESCAN_COLS[0] : c0 + PRESCAN_COLS[1]].T
        m = mask[: P.YAMP_SCI_DIM, c0 + PRESCAN_COLS[0] : c0 + PRESCAN_COLS[1]].T
        vals = block[m][: P.POSTSCAN_MAX]
        if vals.size:
            out[k] = resistant_mean(np.ascontiguousarray(vals, F32), 7.5)[0]
    return out


def wf3cte_subarray(
    raw_sci,
    pl: Placement,
    biac_sci,
    *,
    gain: float,
    expstart: float,
    model,
    pcternoi: float,
    nfor: int,
    npar: int,
) -> P.CTEResult:
    """WF3CTE on one subarray: raw DN (ny, nx) and the matching BIACFILE pixels → CTE-corrected
    raw subarray float32 (``CTEResult.cd`` holds it, ``.ab`` is None), as ``WF3cte`` does."""
    raw_sci = np.asarray(raw_sci, F32)
    ny, nx = pl.shape
    mask = P.make_raz(*_full_chips(pl, np.ones((ny, nx), bool), bool))
    raw_raz = P.make_raz(*_full_chips(pl, raw_sci))
    raz = P.make_raz(*_full_chips(pl, (raw_sci - np.asarray(biac_sci, F32)).astype(F32)))
    bias = prescan_bias(raz, mask)
    b = np.repeat(bias, P.AMP_COLS)[None, :]
    raz = np.where(mask, ((raz - b).astype(F32) * F32(gain)).astype(F32), raz)
    frac = model.scale_fraction(expstart)
    fff = P.scale_column(frac)
    rn = F32(pcternoi)
    rnoival, bkgd = F32(0), F32(0)
    if rn == 0:
        rn, rnoival, bkgd = P.find_read_noise(raz)
    cols = np.flatnonzero(mask.any(axis=0))
    log.info(
        "PCTECORR (subarray %d×%d, chip %d, x0=%d y0=%d): PCTEFRAC %.6f, PCTERNOI %.4f, prescan bias %s",
        ny,
        nx,
        pl.ccdchip,
        pl.x0,
        pl.y0,
        frac,
        rn,
        bias.tolist(),
    )
    sub_raz = np.ascontiguousarray(raz[:, cols])
    rzc = P.correct_columns(sub_raz, fff, model, rn, model.thresh, nfor, npar)
    chg = ((rzc - sub_raz).astype(F32) / F32(gain)).astype(F32)
    out = np.zeros_like(raz)
    out[:, cols] = (raw_raz[:, cols] + chg).astype(F32)
    cd, ab = P.undo_raz(out)
    chip = cd if pl.ccdchip == 2 else ab
    corrected = np.ascontiguousarray(chip[pl.y0 : pl.y0 + ny, pl.x0 : pl.x0 + nx])
    return P.CTEResult(corrected, None, frac, rn, rnoival, bkgd, bias)


def is_subarray(primary) -> bool:
    v = primary.get("SUBARRAY", False)
    return v is True or str(v).strip().upper() in ("T", "TRUE", "1")


def check_raw(raw_path) -> Placement:
    """Placement of a raw subarray's SCI,1, refused (calwf3's message) when it cannot be corrected."""
    from astropy.io import fits

    name = Path(raw_path).name
    try:
        h = fits.getheader(raw_path, ("SCI", 1))
    except (KeyError, OSError) as exc:
        raise EngineError(f"cannot read SCI,1 ({exc})", file=name, keyword="SCI") from None
    pl = placement(h, (int(h.get("NAXIS2", 0)), int(h.get("NAXIS1", 0))))
    check_placement(pl, name)
    return pl


def run_wf3cte_subarray(raw_path, out_path, *, pctetab_path, biac_path, pctetab_name=None):
    """WF3CTE on a raw subarray file: write the CTE-corrected ``_rac_tmp`` (one imset: SCI corrected,
    ERR and DQ as ``doCteBias`` left them). Raises EngineError naming the file on bad input or a
    subarray without physical overscan. Returns the result and the primary keywords written."""
    from astropy.io import fits

    from .pctetab import exposure_params, read_pctetab

    model = read_pctetab(pctetab_path)
    name = Path(raw_path).name
    with fits.open(raw_path, memmap=False) as raw:
        phdr = raw[0].header
        for sw in ("BIASCORR", "DARKCORR", "BLEVCORR"):
            if str(phdr.get(sw, "")).strip().upper() == "COMPLETE":
                raise EngineError(f"{sw} complete for input image, CTE can't be performed", file=name, keyword=sw)
        sci_hdr = raw["SCI", 1].header
        shape = (int(sci_hdr["NAXIS2"]), int(sci_hdr["NAXIS1"]))
        pl = placement(sci_hdr, shape)
        check_placement(pl, name)
        params = exposure_params(model, phdr, file=name)
        sci = P._chip(raw, "SCI", 1, shape)
        err = P._chip(raw, "ERR", 1, shape)
        dq = P._chip(raw, "DQ", 1, shape, np.int16)
        bname = Path(biac_path).name
        extver = 1 if pl.ccdchip == 2 else 2  # calwf3 reads BIACFILE imset 1 for chip 2, 2 for chip 1
        with fits.open(biac_path, memmap=False) as bf:
            try:
                bh = bf["SCI", extver].header
                bshape = (int(bh.get("NAXIS2", 0)), int(bh.get("NAXIS1", 0)))
                if bh.get("NAXIS", 0) == 0:
                    bshape = (int(bh.get("NPIX2", 0)), int(bh.get("NPIX1", 0)))
                biac = (
                    P._chip(bf, "SCI", extver, bshape),
                    P._chip(bf, "ERR", extver, bshape),
                    P._chip(bf, "DQ", extver, bshape, np.int16),
                )
            except KeyError as exc:
                raise EngineError(f"extension missing ({exc})", file=bname, keyword="BIACFILE") from None
            bcorner = corner(
                float(bh.get("LTV1", 0.0)),
                float(bh.get("LTV2", 0.0)),
                float(bh.get("LTM1_1", 1.0)),
                float(bh.get("LTM2_2", 1.0)),
            )
        binned = [float(bh.get(k, 1.0)) for k in ("LTM1_1", "LTM2_2")]
        if not all(math.isclose(b, 1.0) for b in binned):
            raise EngineError("BIAC image and input are not binned alike", file=bname, keyword="LTM1_1")
        bsec = biac_section(pl, biac, bcorner, file=bname)
        sub_sci, sub_err, sub_dq = subtract_biac(sci, err, dq, *bsec)
        res = wf3cte_subarray(
            sci,
            pl,
            bsec[0],
            gain=float(phdr["CCDGAIN"]),
            expstart=float(phdr["EXPSTART"]),
            model=model,
            pcternoi=float(phdr.get("PCTERNOI", 0.0)),
            nfor=params.nfor,
            npar=params.npar,
        )
        del sub_sci
        kw = P.cte_keywords(model, params, res)
        hdus = [fits.PrimaryHDU(header=phdr.copy())]
        for k, v in kw.items():
            hdus[0].header[k] = v
        for line in P.cte_history(model, pctetab_name or Path(pctetab_path).name):
            hdus[0].header["HISTORY"] = line
        for ename, data in (("SCI", res.cd), ("ERR", sub_err), ("DQ", sub_dq)):
            h = raw[ename, 1].header.copy()
            for card in ("BZERO", "BSCALE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "PIXVALUE", "NPIX1", "NPIX2"):
                h.remove(card, ignore_missing=True, remove_all=True)
            hdus.append(fits.ImageHDU(data, header=h, name=ename, ver=1))
    out_path = Path(out_path)
    tmp = out_path.with_name(out_path.name + ".part")
    fits.HDUList(hdus).writeto(tmp, overwrite=True)
    tmp.replace(out_path)
    return res, kw
