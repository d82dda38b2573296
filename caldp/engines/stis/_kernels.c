/* caldp C kernels: STIS calstis1 steps. See caldp/engines/common/ckernel.h for the conventions.
 *
 * Each kernel is the fast path of a NumPy function that stays the reference (and the fallback):
 *   good_stats  basic2d.good_stats         (HSTCAL lib/dostat.c, STIS's doStat)
 *   dopp_conv   doppcorr.dopp_conv         (HSTCAL cs1/doppconv.c)
 *   bin2d_sums  binning.bin2d's sums       (HSTCAL lib/bin2d.c)
 * They compute the same float32/double values in the same operation order as the NumPy code;
 * tests/engines/stis/test_kernels_stis.py runs both and requires identical bits.
 */
#include "ckernel.h"

#include <math.h>

/* good_stats(sci, err, dq, sdqflags)
 *   -> (n, smin, smax, ssum, emin, emax, esum, rmin, rmax, rsum)
 *
 * STIS's doStat: a pixel counts when (DQ & SDQFLAGS) == 0, except when ERR <= 0 and SCI > 0; its
 * value, error and S/N (SCI / ERR when ERR > 0, else 0) are taken in double; the sums are double and
 * sequential in raster order. Min/max start at the first counted pixel and change on strict < / >
 * (HSTCAL's rule); a NaN among the values makes that min and max NaN, as NumPy's min/max do. */
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
    int snan = 0, enan = 0, rnan = 0;

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if ((d[i] & mask) != 0)
            continue;
        double v = s[i], sd = e[i];
        if (sd <= 0.0 && v > 0.0)
            continue;
        double r = sd > 0.0 ? v / sd : 0.0;
        snan |= isnan(v);
        enan |= isnan(sd);
        rnan |= isnan(r);
        if (ngood == 0) {
            smin = smax = ssum = v;
            emin = emax = esum = sd;
            rmin = rmax = rsum = r;
            ngood = 1;
            continue;
        }
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
    if (snan) smin = smax = NAN;
    if (enan) emin = emax = NAN;
    if (rnan) rmin = rmax = NAN;
    Py_END_ALLOW_THREADS

    ck_release(bufs, 3);
    return Py_BuildValue("nddddddddd", ngood, smin, smax, ssum, emin, emax, esum, rmin, rmax, rsum);
}

/* dopp_conv(sci, err, dq, ny, nx, ds, kmin, kmax, d0, border): DoppConv in place, row by row.
 *
 * Output pixel x of a row is, for k = kmin … kmax in that order, a float32 sum of
 *   SCI: in[x + 2·d0 − k − d0] · ds[k]            (input pixels within `border` of either end are 0)
 *   ERR: in[…] · in[…] · ds[k] · ds[k], then sqrtf
 *   DQ:  the OR of in[…]
 * where an input index outside the row reads 0 — the NumPy code's zero-padded row. */
static PyObject *
dopp_conv(PyObject *self, PyObject *args)
{
    Py_buffer sci = {0}, err = {0}, dq = {0}, dsb = {0};
    Py_buffer *bufs[] = {&sci, &err, &dq, &dsb};
    Py_ssize_t ny, nx, kmin, kmax, d0, border;
    if (!PyArg_ParseTuple(args, "w*w*w*nny*nnnn", &sci, &err, &dq, &ny, &nx, &dsb, &kmin, &kmax, &d0, &border))
        return NULL;
    Py_ssize_t nds = dsb.len / (Py_ssize_t)sizeof(float);
    if (ck_check(&sci, ny * nx, sizeof(float), "sci") || ck_check(&err, ny * nx, sizeof(float), "err") ||
        ck_check(&dq, ny * nx, sizeof(uint16_t), "dq") || ck_check(&dsb, nds, sizeof(float), "ds")) {
        ck_release(bufs, 4);
        return NULL;
    }
    if (kmin < 0 || kmax >= nds || d0 < 0 || d0 >= nds) {
        ck_release(bufs, 4);
        PyErr_SetString(PyExc_ValueError, "dopp_conv: kmin/kmax/d0 outside ds");
        return NULL;
    }
    float *s = sci.buf, *e = err.buf;
    uint16_t *q = dq.buf;
    const float *ds = dsb.buf;
    int failed = 0;

    Py_BEGIN_ALLOW_THREADS
    float *rs = PyMem_RawMalloc((size_t)(nx > 0 ? nx : 1) * 2 * sizeof(float));
    uint16_t *rq = PyMem_RawMalloc((size_t)(nx > 0 ? nx : 1) * sizeof(uint16_t));
    if (rs == NULL || rq == NULL) {
        failed = 1;
    } else {
        float *re = rs + nx;
        const Py_ssize_t lo = border, hi = nx - border; /* SCI inputs outside [lo, hi) are 0 */
        for (Py_ssize_t j = 0; j < ny; j++) {
            float *srow = s + j * nx, *erow = e + j * nx;
            uint16_t *qrow = q + j * nx;
            for (Py_ssize_t x = 0; x < nx; x++) {
                rs[x] = srow[x];
                re[x] = erow[x];
                rq[x] = qrow[x];
            }
            for (Py_ssize_t x = 0; x < nx; x++) {
                float as = 0.0f, ae = 0.0f;
                uint16_t ad = 0;
                for (Py_ssize_t k = kmin; k <= kmax; k++) {
                    const Py_ssize_t src = x + d0 - k;
                    const float w = ds[k];
                    const float vs = (src >= lo && src < hi && lo < hi) ? rs[src] : 0.0f;
                    const float ve = (src >= 0 && src < nx) ? re[src] : 0.0f;
                    float t = vs * w;
                    as = as + t;
                    t = ve * ve;
                    t = t * w;
                    t = t * w;
                    ae = ae + t;
                    if (src >= 0 && src < nx)
                        ad |= rq[src];
                }
                srow[x] = as;
                erow[x] = sqrtf(ae);
                qrow[x] = ad;
            }
        }
    }
    PyMem_RawFree(rs);
    PyMem_RawFree(rq);
    Py_END_ALLOW_THREADS

    ck_release(bufs, 4);
    if (failed)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* bin2d_sums(sci, err, dq, in_ny, in_nx, x0, y0, binx, biny, out_s, out_e2, out_d, ny, nx):
 * bin2d's float32 sums over each output pixel's binx × biny inputs, added in the NumPy code's order
 * (input row offset j outer, column offset i inner): out_s = Σ SCI, out_e2 = Σ ERR·ERR, out_d = OR DQ.
 * The caller has checked the subset is inside the input; the outputs are overwritten. */
static PyObject *
bin2d_sums(PyObject *self, PyObject *args)
{
    Py_buffer sci = {0}, err = {0}, dq = {0}, os = {0}, oe = {0}, od = {0};
    Py_buffer *bufs[] = {&sci, &err, &dq, &os, &oe, &od};
    Py_ssize_t iny, inx, x0, y0, binx, biny, ny, nx;
    if (!PyArg_ParseTuple(args, "y*y*y*nnnnnnw*w*w*nn", &sci, &err, &dq, &iny, &inx, &x0, &y0, &binx, &biny, &os,
                          &oe, &od, &ny, &nx))
        return NULL;
    if (ck_check(&sci, iny * inx, sizeof(float), "sci") || ck_check(&err, iny * inx, sizeof(float), "err") ||
        ck_check(&dq, iny * inx, sizeof(uint16_t), "dq") || ck_check(&os, ny * nx, sizeof(float), "out_s") ||
        ck_check(&oe, ny * nx, sizeof(float), "out_e2") || ck_check(&od, ny * nx, sizeof(uint16_t), "out_d")) {
        ck_release(bufs, 6);
        return NULL;
    }
    if (x0 < 0 || y0 < 0 || binx < 1 || biny < 1 || x0 + nx * binx > inx || y0 + ny * biny > iny) {
        ck_release(bufs, 6);
        PyErr_SetString(PyExc_ValueError, "bin2d_sums: subset outside the input");
        return NULL;
    }
    const float *s = sci.buf, *e = err.buf;
    const uint16_t *d = dq.buf;
    float *ts = os.buf, *te = oe.buf;
    uint16_t *td = od.buf;

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t m = 0; m < ny; m++) {
        float *rs = ts + m * nx, *re = te + m * nx;
        uint16_t *rd = td + m * nx;
        for (Py_ssize_t x = 0; x < nx; x++) {
            rs[x] = 0.0f;
            re[x] = 0.0f;
            rd[x] = 0;
        }
        for (Py_ssize_t j = 0; j < biny; j++) {
            const Py_ssize_t row = (y0 + m * biny + j) * inx + x0;
            for (Py_ssize_t i = 0; i < binx; i++) {
                const float *ps = s + row + i, *pe = e + row + i;
                const uint16_t *pd = d + row + i;
                for (Py_ssize_t x = 0; x < nx; x++) {
                    const float v = pe[x * binx];
                    rs[x] = rs[x] + ps[x * binx];
                    re[x] = re[x] + v * v;
                    rd[x] |= pd[x * binx];
                }
            }
        }
    }
    Py_END_ALLOW_THREADS

    ck_release(bufs, 6);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"good_stats", good_stats, METH_VARARGS,
     "good_stats(sci, err, dq, sdqflags) -> (n, smin, smax, ssum, emin, emax, esum, rmin, rmax, rsum)"},
    {"dopp_conv", dopp_conv, METH_VARARGS, "dopp_conv(sci, err, dq, ny, nx, ds, kmin, kmax, d0, border) in place"},
    {"bin2d_sums", bin2d_sums, METH_VARARGS,
     "bin2d_sums(sci, err, dq, in_ny, in_nx, x0, y0, binx, biny, out_s, out_e2, out_d, ny, nx)"},
    {NULL, NULL, 0, NULL},
};

CK_MODULE(_kernels, methods, "STIS calstis1 kernels (C; the NumPy implementations are the reference).")
