/* caldp C kernels: WF3CCD, WF3REJ and WF32D kernels. See caldp/engines/common/ckernel.h for the conventions. */
#include "ckernel.h"

static PyMethodDef methods[] = {
    {NULL, NULL, 0, NULL},
};

CK_MODULE(_kernels, methods, "WF3CCD, WF3REJ and WF32D kernels (C kernels; the NumPy implementations are the reference).")
