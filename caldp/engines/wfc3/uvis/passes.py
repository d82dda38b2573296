"""Fused per-chip passes of WF3CCD and WF32D: one C kernel pass where HSTCAL's step order allows,
the step functions (the NumPy reference) otherwise.

* :func:`ccd_first_pass`: error initialisation (§U2) and DQICORR's saturation flags (§U3) — both
  read the raw DN only.
* :func:`ccd_bias_pass`: BLEVCORR's subtraction of the fitted levels (§U5; the fits are NumPy),
  BIASCORR (§U6) and the full-well map (§U7), in that order per pixel.
* :func:`twod_pass`: DARKCORR (§D1) then the first flat of FLATCORR (§D2), row by row.

Each function gives bit-identical results whether the kernel module
``caldp.engines.wfc3.uvis._kernels`` is loaded or ``CALDP_KERNELS=numpy`` selects the NumPy code;
the kernels work in place (on the arrays given, when they are writable native float32/uint16).
The kernel calls and the parameter records live in :mod:`~caldp.engines.wfc3.uvis.kernelcalls`.
"""

from __future__ import annotations

import numpy as np

from . import biascorr as bias_step
from . import blevcorr as blev_step
from . import darkcorr as dark_step
from . import dqicorr as dqi_step
from . import flatcorr as flat_step
from . import fullwell as fw_step
from . import noise as noise_step
from .kernelcalls import (
    DarkPars,
    FlatPars,
    FullWellPars,
    NoisePars,
    SatPars,
    bias_pass_c,
    first_pass_c,
    kernels,
    twod_pass_c,
)


def ccd_first_pass(
    sci: np.ndarray, err: np.ndarray, dq: np.ndarray, *, noise: NoisePars | None, dqicorr: bool, sat: SatPars | None
) -> tuple[np.ndarray, np.ndarray]:
    """Error init (when `noise` is given) and DQICORR's A-to-D and scalar saturation flags (when
    `dqicorr`; the scalar test only with `sat`) on raw `sci`. Returns (err, dq).

    The kernel writes into `err` and `dq` when they are writable native arrays (callers pass arrays
    they own).
    """
    if noise is not None:
        noise_step.check_noise_pars(noise.boundary, noise.gain, noise.readnoise)
    k = kernels()
    if k is None:
        if noise is not None:
            err = noise_step.init_error(
                sci, boundary=noise.boundary, gain=noise.gain, readnoise=noise.readnoise, bias=noise.bias
            )
        if dqicorr:
            dq = dqi_step.flag_atod_saturation(sci, dq)
            if sat is not None:
                where = None if sat.mask is None else (sat.mask[0][:, None] | sat.mask[1][None, :])
                dq = dqi_step.flag_saturation_scalar(sci, dq, saturate=sat.saturate, where=where)
        return err, dq
    return first_pass_c(k, sci, err, dq, noise=noise, dqicorr=dqicorr, sat=sat)


def ccd_bias_pass(
    sci: np.ndarray,
    err: np.ndarray,
    dq: np.ndarray,
    *,
    levels: list[blev_step.AmpLevels] | None,
    bias: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    fullwell: FullWellPars | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """BLEVCORR subtraction of fitted `levels`, BIASCORR with the `bias` arrays and the full-well
    flags, each when given. Returns (sci, err, dq, pixels whose DQ BIASCORR made non-zero,
    pixels newly flagged SATPIXEL by the full-well test)."""
    k = kernels()
    if k is None:
        nbias = nsat = 0
        if levels:
            sci = blev_step.apply_levels(sci, levels)
        if bias is not None:
            n0 = int(np.count_nonzero(dq))
            sci, err, dq = bias_step.subtract_image(sci, err, dq, *bias)
            nbias = int(np.count_nonzero(dq)) - n0
        if fullwell is not None:
            n0 = int(np.count_nonzero(dq & 256))
            dq = fw_step.flag_full_well(
                sci, dq, fullwell.satmap, mean_gain=fullwell.mean_gain, regions=fullwell.regions
            )
            nsat = int(np.count_nonzero(dq & 256)) - n0
        return sci, err, dq, nbias, nsat
    return bias_pass_c(k, sci, err, dq, levels=levels, bias=bias, fullwell=fullwell)


def twod_pass(
    sci: np.ndarray,
    err: np.ndarray,
    dq: np.ndarray,
    *,
    dark: DarkPars | None,
    flat: FlatPars | None,
    out=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float | None]:
    """The scaled subtraction (`dark`) then the flat division (`flat`), each when given.

    Returns (sci, err, dq, weighted mean of the scaled reference or None, pixels newly flagged
    BADFLAT (512) by the division). `out` as for :func:`darkcorr.darkcorr` (may be the inputs).
    """
    k = kernels()
    if k is None:
        mean, nbad = None, 0
        if dark is not None:
            sci, err, dq, mean = dark_step.scaled_subtract(
                sci,
                err,
                dq,
                dark.ref,
                dark.ref_err,
                dark.ref_dq,
                k0=dark.k0,
                gain=dark.gain,
                ampx=dark.ampx,
                sdqflags=dark.sdqflags,
                out=out,
            )
            out = (sci, err, dq)
        if flat is not None:
            fs, fe = flat.flat, flat.flat_err
            if flat.mean_gain is not None:
                fs, fe = flat_step.gain_scale(fs, fe, flat.mean_gain)
            n0 = int(np.count_nonzero(dq & 512))
            sci, err, dq = flat_step.divide_flat(sci, err, dq, fs, fe, flat.flat_dq, out=out)
            nbad = int(np.count_nonzero(dq & 512)) - n0
        return sci, err, dq, mean, nbad
    sci, err, dq, m, w, nbad = twod_pass_c(k, sci, err, dq, dark=dark, flat=flat, out=out)
    mean = dark_step.weighted_mean(m, w) if dark is not None else None
    return sci, err, dq, mean, nbad
