/* caldp C kernels shared by the engines: image statistics. See ckernel.h for the conventions. */
#include "ckernel.h"

/* good_stats(sci, err, dq, sdqflags) -> (n, smin, smax, ssum, emin, emax, esum, rmin, rmax, rsum)
 *
 * The statistics pass of HSTCAL's doStat (lib/dostat.c) and of the IR statcalc/qstats: a pixel is
 * good when (DQ & SDQFLAGS) == 0 and ERR > 0; its value, error and S/N = value / error are taken in
 * double; min/max start at the first good pixel and change on strict < / >; the sums are double and
 * sequential in raster order, as HSTCAL adds them (so the float32 means written to the headers are
 * HSTCAL's exactly, whatever the image size). The caller divides the sums by n.
 */
static PyObject *
good_stats(PyObject *self, PyObject *args)
{
    Py_buffer sci = {0}, err = {0}, dq = {0};
    Py_buffer *bufs[] = {&sci, &err, &dq};
    int sdqflags;
    if (!PyArg_ParseTuple(args, "y*y*y*i", &sci, &err, &dq, &sdqflags))
        return NULL;
    Py_ssize_t n = sci.len / (Py_ssize_t)sizeof(float);
    if (ck_check(&sci, n, sizeof(float), "sci") || ck_check(&err, n, sizeof(float), "err") ||
        ck_check(&dq, n, sizeof(uint16_t), "dq")) {
        ck_release(bufs, 3);
        return NULL;
    }
    const float *s = sci.buf, *e = err.buf;
    const uint16_t *d = dq.buf;
    const uint16_t mask = (uint16_t)(sdqflags & 0xFFFF);
    Py_ssize_t ngood = 0;
    double smin = 0, smax = 0, ssum = 0, emin = 0, emax = 0, esum = 0, rmin = 0, rmax = 0, rsum = 0;

    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t i = 0;
    /* Find the first good pixel (it initialises min and max), then the rest without that test. */
    for (; i < n; i++) {
        if ((d[i] & mask) == 0 && !(e[i] <= 0.0f)) {
            double v = s[i], sd = e[i], r = v / sd;
            smin = smax = ssum = v;
            emin = emax = esum = sd;
            rmin = rmax = rsum = r;
            ngood = 1;
            i++;
            break;
        }
    }
    for (; i < n; i++) {
        if ((d[i] & mask) != 0 || e[i] <= 0.0f) /* HSTCAL tests stddev <= 0: a NaN error counts */
            continue;
        double v = s[i], sd = e[i], r = v / sd;
        ssum += v;
        esum += sd;
        rsum += r;
        if (v < smin) smin = v;
        if (v > smax) smax = v;
        if (sd < emin) emin = sd;
        if (sd > emax) emax = sd;
        if (r < rmin) rmin = r;
        if (r > rmax) rmax = r;
        ngood++;
    }
    Py_END_ALLOW_THREADS

    ck_release(bufs, 3);
    return Py_BuildValue("nddddddddd", ngood, smin, smax, ssum, emin, emax, esum, rmin, rmax, rsum);
}

static PyMethodDef methods[] = {
    {"good_stats", good_stats, METH_VARARGS,
     "good_stats(sci, err, dq, sdqflags) -> (n, smin, smax, ssum, emin, emax, esum, rmin, rmax, rsum)"},
    {NULL, NULL, 0, NULL},
};

CK_MODULE(_kernels, methods, "Kernels shared by the engines (C; the NumPy implementations are the reference).")
