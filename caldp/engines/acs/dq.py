"""ACS data-quality bits (HSTCAL ``pkg/acs/include/acsdq.h``; calib-acs-wfc.md §7)."""

from enum import IntFlag


class DQ(IntFlag):
    GOODPIXEL = 0
    SOFTERR = 1  # Reed-Solomon decoding error
    DATALOST = 2  # data lost / fill; also ACSREJ's local SPILL code
    DETECTORPROB = 4  # bad detector pixel or column
    DATAMASKED = 8  # masked (HRC occulting bar); ACSREJ's local HIT code
    HOTPIX = 16  # hot pixel (DARKFILE DQ)
    LARGEBLEM = 32  # large blemish / warm pixel
    BPIXPLACEHOLDER = 64  # DQICORR: set at [1, 1] when no BPIXTAB row applied
    OVERSCAN = 128  # overscan (reference DQ)
    SATPIXEL = 256  # full-well saturation
    CALIBDEFECT = 512  # bad reference pixel; flat == 0
    SINK = 1024  # small blemish / sink pixel
    ATODSAT = 2048  # A-to-D saturation
    UNUSED4096 = 4096
    CRHIT = 8192  # cosmic ray rejected by ACSREJ
