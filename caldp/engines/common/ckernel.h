/* Shared helpers for caldp's C kernels (one header, included by every kernel module).
 *
 * Kernels take C-contiguous native-endian buffers (NumPy arrays) through the buffer protocol and
 * check their sizes here, so a wrong call raises ValueError instead of reading past an array.
 * Every kernel releases the GIL around its loops: the engines' thread pools then use all cores.
 * Arithmetic is written in HSTCAL's order and types (float32 where HSTCAL uses float); setup.py
 * compiles with -ffp-contract=off so no multiply-add is fused.
 */
#ifndef CALDP_CKERNEL_H
#define CALDP_CKERNEL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* Check that buffer `b` holds exactly `n` items of `size` bytes; set ValueError otherwise. */
static int
ck_check(const Py_buffer *b, Py_ssize_t n, Py_ssize_t size, const char *what)
{
    if (b->len != n * size) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd items of %zd bytes, got %zd bytes", what, n, size,
                     b->len);
        return -1;
    }
    return 0;
}

/* Release every non-NULL buffer in a list (up to 16). */
static void
ck_release(Py_buffer *bufs[], int n)
{
    for (int i = 0; i < n; i++)
        if (bufs[i] != NULL && bufs[i]->obj != NULL)
            PyBuffer_Release(bufs[i]);
}

#define CK_MODULE(modname, methods, doc)                                                               \
    static struct PyModuleDef modname##_def = {PyModuleDef_HEAD_INIT, #modname, doc, -1, methods};       \
    PyMODINIT_FUNC PyInit_##modname(void) { return PyModule_Create(&modname##_def); }

#endif
