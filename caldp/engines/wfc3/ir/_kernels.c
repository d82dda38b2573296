/* caldp C kernels: WF3IR kernels. See caldp/engines/common/ckernel.h for the conventions. */
#include "ckernel.h"

static PyMethodDef methods[] = {
    {NULL, NULL, 0, NULL},
};

CK_MODULE(_kernels, methods, "WF3IR kernels (C kernels; the NumPy implementations are the reference).")
