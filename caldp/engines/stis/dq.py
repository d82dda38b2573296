"""STIS data-quality bits (HSTCAL ``pkg/stis/include/stisdq.h``)."""

from enum import IntFlag


class DQ(IntFlag):
    GOODPIXEL = 0
    SOFTERR = 1  # Reed-Solomon decoding error
    DATALOST = 2  # data replaced by fill value
    DETECTORPROB = 4  # bad detector pixel or beyond aperture
    DATAMASKED = 8  # masked by occulting bar
    HOTPIX = 16  # hot pixel
    LARGEBLEM = 32  # large blemish
    OVERSCAN = 128  # can be used for finding bias level
    SATPIXEL = 256  # saturated pixel
    CALIBDEFECT = 512  # bad pixel in reference file; flat == 0
    SMALLBLEM = 1024  # small blemish
    X1D_BAD_BACKGROUND = 2048
    X1D_DISCARDED = 4096
    DATAREJECT = 8192  # rejected during image combination (ocrreject)
    NOT_CTI_CORR = 16384
