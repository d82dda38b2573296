"""WFC3 data-quality bits (HSTCAL ``pkg/wfc3/include/wf3dq.h``).

UVIS and IR share the bit values; some bits mean different things on the two
detectors, so IR names are aliases of the same values.
"""

from enum import IntFlag


class DQ(IntFlag):
    GOODPIXEL = 0
    SOFTERR = 1  # Reed-Solomon decoding error
    DATALOST = 2  # data lost / fill
    DETECTORPROB = 4  # bad detector pixel; IR: spike found by CRCORR (in _ima)
    BADZERO = 8  # UVIS: masked; IR: bad zero read
    HOTPIX = 16  # hot pixel
    CTETAIL = 32  # UVIS: CTE tail
    UNSTABLE = 32  # IR: unstable (more CRs than CRCORR allows)
    WARMPIX = 64  # warm pixel
    BADBIAS = 128  # bad bias (from the BIASFILE DQ)
    SATPIXEL = 256  # full-well / IR saturated
    BADFLAT = 512  # bad flat (also where the flat is 0)
    TRAP = 1024  # UVIS: sink pixel / charge trap
    SPIKE = 1024  # IR: CR spike (internal to CRCORR)
    ATODSAT = 2048  # UVIS: A-to-D saturated
    ZEROSIG = 2048  # IR: signal in the zeroth read
    RESERVED = 4096
    CRHIT = 8192  # CR rejected (wf3rej) / IR CR hit
    HIGH_CURVATURE = 16384  # IR: internal to CRCORR
