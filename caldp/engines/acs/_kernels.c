/* caldp C kernels: ACSCCD and ACS2D kernels. See caldp/engines/common/ckernel.h for the conventions. */
#include "ckernel.h"

static PyMethodDef methods[] = {
    {NULL, NULL, 0, NULL},
};

CK_MODULE(_kernels, methods, "ACSCCD and ACS2D kernels (C kernels; the NumPy implementations are the reference).")
