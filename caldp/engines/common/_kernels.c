/* caldp C kernels: Shared kernels (statistics). See caldp/engines/common/ckernel.h for the conventions. */
#include "ckernel.h"

static PyMethodDef methods[] = {
    {NULL, NULL, 0, NULL},
};

CK_MODULE(_kernels, methods, "Shared kernels (statistics) (C kernels; the NumPy implementations are the reference).")
