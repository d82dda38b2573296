"""BIASCORR: bias image subtraction in DN (HSTCAL ``acsccd/dobias.c``, ``lib/sub1d.c``; calib-acs-wfc.md §3.4).

The BIASFILE covers the raw array (overscan included) and is subtracted before the gain
conversion. DQ flags: the bias image's DQ is ORed in.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32


def subtract_bias(sci, err, dq, bias, bias_err, bias_dq):
    """``SCI − B``; ``ERR = sqrt(f32(ERR²) + f32(Be²))``; ``DQ | Bdq`` (all float32).

    >>> s, e, d = subtract_bias(np.array([[10.]], F32), np.zeros((1, 1), F32), np.zeros((1, 1), np.uint16),
    ...                         np.array([[4.]], F32), np.array([[3.]], F32), np.array([[128]], np.uint16))
    >>> s.tolist(), e.tolist(), d.tolist()
    ([[6.0]], [[3.0]], [[128]])
    """
    return sci - bias, np.sqrt(err * err + bias_err * bias_err), dq | bias_dq
