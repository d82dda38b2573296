/* caldp C kernels: ACSREJ and WF3REJ (cosmic-ray rejection) kernels. See caldp/engines/common/ckernel.h for the conventions. */
#include "ckernel.h"

static PyMethodDef methods[] = {
    {NULL, NULL, 0, NULL},
};

CK_MODULE(_rej_kernels, methods, "ACSREJ and WF3REJ (cosmic-ray rejection) kernels (C kernels; the NumPy implementations are the reference).")
