"""Error-array initialisation for UVIS (HSTCAL ``pkg/wfc3/lib/donoise.c``; calib-wfc3.md §U2).

Runs in WF3CCD (and again in WF32D) only when the ERR array is entirely zero. Works on the raw,
untrimmed DN with the **default CCDTAB bias** (not the overscan level) and a *double* division
by the gain::

    v   = f32((sci − bias) · g);  v = max(v, 0)
    ERR = f32( sqrt(f64(f32(v + f32(r·r)))) / f64(g) )

Columns left of the amp boundary use slot 0 (amp C on chip 2, A on chip 1), the others slot 1.
"""

from __future__ import annotations

import numpy as np

from ...common.errors import EngineError
from ...common.strips import row_blocks
from .kernelcalls import NoisePars, first_pass_c, kernels

F32 = np.float32
F64 = np.float64


def noise_boundary(ampx: int, ltv1: float, trimx: tuple[int, int, int, int], nx: int) -> int:
    """Raw column where slot 1 starts (``doNoise``): ``ampx + max(LTV1, 0) + TRIMX3``, clipped.

    >>> noise_boundary(2048, 25.0, (25, 25, 30, 30), 4206)
    2103
    >>> noise_boundary(513, 0.0, (0, 0, 0, 0), 513), noise_boundary(0, 0.0, (0, 0, 0, 0), 513)
    (513, 0)
    """
    offsetx = int(ltv1) if ltv1 > 0 else 0
    bx = 0 if ampx == 0 else int(ampx + offsetx)
    bx += trimx[2]
    if bx >= nx - trimx[1] or bx > nx:
        bx = nx
    return bx


def check_noise_pars(boundary: int, gain, readnoise) -> None:
    """EngineError when a slot that is used has zero gain or read noise (``doNoise``)."""
    g = [F32(v) for v in gain]
    r2 = [F32(F32(v) * F32(v)) for v in readnoise]
    if boundary > 0 and (g[0] == 0 or r2[0] == 0):
        raise EngineError("no valid GAIN or READNOISE values to initialize ERR data", keyword="CCDTAB")
    if boundary == 0 and (g[1] == 0 or r2[1] == 0):
        raise EngineError("no valid GAIN or READNOISE values to initialize ERR data", keyword="CCDTAB")


def init_error(sci: np.ndarray, *, boundary: int, gain, readnoise, bias) -> np.ndarray:
    """ERR (float32, DN) for raw `sci` (float32 DN, 2-D).

    `gain`, `readnoise`, `bias`: (slot0, slot1) float32 values (e⁻/DN, e⁻, DN). Columns
    ``< boundary`` use slot 0. Raises EngineError when a used slot has zero gain or noise.

    >>> sci = np.array([[2500., 2600., 2400., 3000.]], np.float32)
    >>> init_error(sci, boundary=2, gain=(1.5, 2.0), readnoise=(3.0, 4.0), bias=(2500., 2500.)).tolist()
    [[2.0, 8.406347274780273, 2.0, 15.937376976013184]]
    """
    check_noise_pars(boundary, gain, readnoise)
    k = kernels()
    if k is not None:
        err, _ = first_pass_c(
            k,
            sci,
            np.empty(sci.shape, F32),
            None,
            noise=NoisePars(boundary=boundary, gain=gain, readnoise=readnoise, bias=bias),
            dqicorr=False,
            sat=None,
        )
        return err
    g = [F32(v) for v in gain]
    r2 = [F32(F32(v) * F32(v)) for v in readnoise]
    b = [F32(v) for v in bias]
    nx = sci.shape[1]
    err = np.empty(sci.shape, dtype=F32)
    for r0, r1 in row_blocks(sci.shape[0]):
        for k, sl in ((0, slice(0, boundary)), (1, slice(boundary, nx))):
            part = sci[r0:r1, sl]
            if part.size == 0:
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                v = (part - b[k]) * g[k]
                np.maximum(v, F32(0), out=v)
                v += r2[k]
                d = np.sqrt(v, dtype=F64)
                d /= F64(g[k])
                err[r0:r1, sl] = d
    return err
