/* caldp C kernels: STIS steps (calstis1, OCRREJECT, calstis4, 6 with SC2DCORR, and 7).
 * See caldp/engines/common/ckernel.h for the conventions.
 *
 * Each kernel is the fast path of a NumPy function that stays the reference (and the fallback):
 *   good_stats  basic2d.good_stats         (HSTCAL lib/dostat.c, STIS's doStat)
 *   noise_ccd, sub2d, div2d, mult2d  basic2d.init_error_ccd, subtract, divide, multiply
 *               (HSTCAL cs1/donoise.c, lib/sub2d.c, div2d.c, mult2d.c)
 *   dopp_conv   doppcorr.dopp_conv         (HSTCAL cs1/doppconv.c)
 *   bin2d_sums  binning.bin2d's sums       (HSTCAL lib/bin2d.c)
 *   unbin2d_rows binning.unbin2d's SCI/ERR  (HSTCAL lib/unbin2d.c: bilinear expansion)
 *   ocr_tests, ocr_accumulate  ocrreject._tests, _accumulate (HSTCAL cs2/crrej_loop.c's pixel arithmetic)
 *   sky_stats, sky_hist  ocrreject.sky_level's sums and histogram (HSTCAL cs2/crrej_sky.c)
 *   interp2d    x2d.interp2d                (HSTCAL cs7/interp2d.c: Interp2D, bilinear with DQ weights)
 *   cfft        fftpack.cfft's passes      (HSTCAL lib/ncarfft.f: cfftf/cfftb, radix 2, 3 and 4)
 *   sum_between waveshift.sum_between      (HSTCAL cs4/sumspec.c, esumspec.c: SumSpec's loop, FindWL)
 *   eval_inv_disp waveshift_echelle.eval_inv_disp_py (HSTCAL lib/evaldisp.c: evalDisp, evalDerivDisp,
 *               evalInvDisp with the echelle search)
 *   wave_row    x1d_echelle.wavelengths_py  (HSTCAL cs6's Wave: evalInvDisp column after column) and
 *               waveshift_echelle.edge_wavelengths_numpy (cs4/esumspec.c's PixToWl chain over edges)
 *   back_clip   x1d.back_clip_numpy         (HSTCAL cs6/background.c: CalcBack, X1DBack)
 *   fft2d       fftpack.fft2d_numpy, ifft2d_numpy (HSTCAL lib/xcfft.c over lib/ncarfft.f's passes, lanes
 *               of 4 lines, two threads)
 *   mul_shift   scatter.product_shift_numpy (HSTCAL lib/idtalg: FFTConvolve2's product, FFTShift)
 *   interp_run  scatter.interpolate_run_py (HSTCAL lib/idtalg: Interpolate along a grid)
 *   spread      scatter.spread_reference   (HSTCAL lib/idtalg: the echelle scattering of the model)
 * They compute the same float32/double values in the same operation order as the NumPy code;
 * tests/engines/stis/test_kernels_stis.py runs both and requires identical bits.
 */
#include "ckernel.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

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

/* ------------------------------------------------------------------ calstis1 pixel arithmetic */

/* noise_ccd(sci, err, bias, gain, readnoise): basic2d.init_error_ccd into `err` — value = (SCI − bias)·gain
 * (float32); ERR = (float)(sqrt((double)(value + rn²)) / gain) where value > 0, else (float)(rn / gain). */
static PyObject *
noise_ccd(PyObject *self, PyObject *args)
{
    Py_buffer sci = {0}, err = {0};
    Py_buffer *bufs[] = {&sci, &err};
    float b, g, rn;
    if (!PyArg_ParseTuple(args, "y*w*fff", &sci, &err, &b, &g, &rn))
        return NULL;
    Py_ssize_t n = sci.len / (Py_ssize_t)sizeof(float);
    if (ck_check(&sci, n, sizeof(float), "sci") || ck_check(&err, n, sizeof(float), "err")) {
        ck_release(bufs, 2);
        return NULL;
    }
    const float *S = sci.buf;
    float *E = err.buf;
    Py_BEGIN_ALLOW_THREADS
    const float rn2 = rn * rn;
    const float floor_err = (float)((double)rn / (double)g);
    for (Py_ssize_t i = 0; i < n; i++) {
        const float value = (S[i] - b) * g;
        E[i] = value > 0.0f ? (float)(sqrt((double)(value + rn2)) / (double)g) : floor_err;
    }
    Py_END_ALLOW_THREADS
    ck_release(bufs, 2);
    Py_RETURN_NONE;
}

/* sub2d(sci, err, dq, rsci, rerr, rdq): basic2d.subtract in place (float32). */
static PyObject *
sub2d(PyObject *self, PyObject *args)
{
    Py_buffer s = {0}, e = {0}, d = {0}, rs = {0}, re = {0}, rd = {0};
    Py_buffer *bufs[] = {&s, &e, &d, &rs, &re, &rd};
    if (!PyArg_ParseTuple(args, "w*w*w*y*y*y*", &s, &e, &d, &rs, &re, &rd))
        return NULL;
    Py_ssize_t n = s.len / (Py_ssize_t)sizeof(float);
    if (ck_check(&s, n, 4, "sci") || ck_check(&e, n, 4, "err") || ck_check(&d, n, 2, "dq") ||
        ck_check(&rs, n, 4, "ref sci") || ck_check(&re, n, 4, "ref err") || ck_check(&rd, n, 2, "ref dq")) {
        ck_release(bufs, 6);
        return NULL;
    }
    float *S = s.buf, *E = e.buf;
    uint16_t *D = d.buf;
    const float *RS = rs.buf, *RE = re.buf;
    const uint16_t *RD = rd.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        S[i] = S[i] - RS[i];
        const float t = E[i] * E[i] + RE[i] * RE[i];
        E[i] = sqrtf(t);
        D[i] |= RD[i];
    }
    Py_END_ALLOW_THREADS
    ck_release(bufs, 6);
    Py_RETURN_NONE;
}

/* div2d(sci, err, dq, fsci, ferr, fdq, calibdefect): basic2d.divide in place (float32). */
static PyObject *
div2d(PyObject *self, PyObject *args)
{
    Py_buffer s = {0}, e = {0}, d = {0}, fs = {0}, fe = {0}, fd = {0};
    Py_buffer *bufs[] = {&s, &e, &d, &fs, &fe, &fd};
    unsigned int defect;
    if (!PyArg_ParseTuple(args, "w*w*w*y*y*y*I", &s, &e, &d, &fs, &fe, &fd, &defect))
        return NULL;
    Py_ssize_t n = s.len / (Py_ssize_t)sizeof(float);
    if (ck_check(&s, n, 4, "sci") || ck_check(&e, n, 4, "err") || ck_check(&d, n, 2, "dq") ||
        ck_check(&fs, n, 4, "flat sci") || ck_check(&fe, n, 4, "flat err") || ck_check(&fd, n, 2, "flat dq")) {
        ck_release(bufs, 6);
        return NULL;
    }
    float *S = s.buf, *E = e.buf;
    uint16_t *D = d.buf;
    const float *FS = fs.buf, *FE = fe.buf;
    const uint16_t *FD = fd.buf, flag = (uint16_t)defect;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        const float b = FS[i];
        uint16_t q = D[i];
        if (b == 0.0f) {
            q |= flag;
        } else {
            const float a = S[i];
            const float ae = E[i] / b;
            const float be = FE[i] * a / b / b;
            S[i] = a / b;
            const float t = ae * ae + be * be;
            E[i] = sqrtf(t);
        }
        D[i] = q | FD[i];
    }
    Py_END_ALLOW_THREADS
    ck_release(bufs, 6);
    Py_RETURN_NONE;
}

/* mult2d(asci, aerr, adq, bsci, berr, bdq): basic2d.multiply in place (float32). */
static PyObject *
mult2d(PyObject *self, PyObject *args)
{
    Py_buffer s = {0}, e = {0}, d = {0}, bs = {0}, be = {0}, bd = {0};
    Py_buffer *bufs[] = {&s, &e, &d, &bs, &be, &bd};
    if (!PyArg_ParseTuple(args, "w*w*w*y*y*y*", &s, &e, &d, &bs, &be, &bd))
        return NULL;
    Py_ssize_t n = s.len / (Py_ssize_t)sizeof(float);
    if (ck_check(&s, n, 4, "a sci") || ck_check(&e, n, 4, "a err") || ck_check(&d, n, 2, "a dq") ||
        ck_check(&bs, n, 4, "b sci") || ck_check(&be, n, 4, "b err") || ck_check(&bd, n, 2, "b dq")) {
        ck_release(bufs, 6);
        return NULL;
    }
    float *S = s.buf, *E = e.buf;
    uint16_t *D = d.buf;
    const float *BS = bs.buf, *BE = be.buf;
    const uint16_t *BD = bd.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        const float a_db = S[i] * BE[i];
        const float b_da = BS[i] * E[i];
        S[i] = S[i] * BS[i];
        const float t = a_db * a_db + b_da * b_da;
        E[i] = sqrtf(t);
        D[i] |= BD[i];
    }
    Py_END_ALLOW_THREADS
    ck_release(bufs, 6);
    Py_RETURN_NONE;
}

/* dopp_conv(sci, err, dq, ny, nx, ds, kmin, kmax, d0, border): DoppConv in place, row by row.
 *
 * Output pixel x of a row is, for k = kmin … kmax in that order, a float32 sum of
 *   SCI: in[x + d0 − k] · ds[k]            (input pixels within `border` of either end are 0)
 *   ERR: in[…] · in[…] · ds[k] · ds[k], then sqrtf
 *   DQ:  the OR of in[…]
 * where an input index outside the row reads 0 — the NumPy code's zero-padded row. The loops run k
 * outer and x inner (each pixel still adds its terms in k order) and skip the terms of padding: such
 * a term is +0 (ds >= 0 and finite), and adding +0 leaves every sum as it is (a float32 sum that
 * starts at +0 is never −0). */
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
    const float *ds = dsb.buf;
    if (kmin < 0 || kmax >= nds || d0 < 0 || d0 >= nds) {
        ck_release(bufs, 4);
        PyErr_SetString(PyExc_ValueError, "dopp_conv: kmin/kmax/d0 outside ds");
        return NULL;
    }
    for (Py_ssize_t k = kmin; k <= kmax; k++) {
        if (!(ds[k] >= 0.0f && ds[k] <= 3.4e38f)) { /* the skipped padding terms must be +0 */
            ck_release(bufs, 4);
            PyErr_SetString(PyExc_ValueError, "dopp_conv: ds must be finite and >= 0");
            return NULL;
        }
    }
    float *s = sci.buf, *e = err.buf;
    uint16_t *q = dq.buf;
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
            float *restrict srow = s + j * nx, *restrict erow = e + j * nx;
            uint16_t *restrict qrow = q + j * nx;
            for (Py_ssize_t x = 0; x < nx; x++) {
                rs[x] = srow[x];
                re[x] = erow[x];
                rq[x] = qrow[x];
                srow[x] = 0.0f;
                erow[x] = 0.0f;
                qrow[x] = 0;
            }
            for (Py_ssize_t k = kmin; k <= kmax; k++) {
                const float w = ds[k];
                const Py_ssize_t off = d0 - k; /* input index = x + off */
                Py_ssize_t x0 = lo - off, x1 = hi - off;
                if (x0 < 0) x0 = 0;
                if (x1 > nx) x1 = nx;
                const float *restrict in = rs + off;
                for (Py_ssize_t x = x0; x < x1; x++)
                    srow[x] = srow[x] + in[x] * w;
                x0 = -off > 0 ? -off : 0;
                x1 = nx - off < nx ? nx - off : nx;
                const float *restrict ein = re + off;
                const uint16_t *restrict qin = rq + off;
                for (Py_ssize_t x = x0; x < x1; x++) {
                    float t = ein[x] * ein[x];
                    t = t * w;
                    t = t * w;
                    erow[x] = erow[x] + t;
                    qrow[x] |= qin[x];
                }
            }
            for (Py_ssize_t x = 0; x < nx; x++)
                erow[x] = sqrtf(erow[x]);
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

/* unbin2d_rows(sci, err, iny, inx, ii, p, q, jj, r, s, out_s, out_e, nrows, onx): binning.unbin2d's
 * SCI and ERR for `nrows` output rows: with a, b, c, d the input pixels (jj, ii), (jj, ii + 1),
 * (jj + 1, ii), (jj + 1, ii + 1) and float32 weights pr = r·p, qr = r·q, ps = s·p, qs = s·q,
 *   SCI = pr·a + qr·b + ps·c + qs·d,   ERR = sqrtf(pr·ea·ea + qr·eb·eb + ps·ec·ec + qs·ed·ed)
 * left to right. ii (int64, onx) and jj (int64, nrows) index inside the input (checked). */
static PyObject *
unbin2d_rows(PyObject *self, PyObject *args)
{
    Py_buffer sci = {0}, err = {0}, iib = {0}, pb = {0}, qb = {0}, jjb = {0}, rb = {0}, sb = {0}, os = {0}, oe = {0};
    Py_buffer *bufs[] = {&sci, &err, &iib, &pb, &qb, &jjb, &rb, &sb, &os, &oe};
    Py_ssize_t iny, inx, nrows, onx;
    if (!PyArg_ParseTuple(args, "y*y*nny*y*y*y*y*y*w*w*nn", &sci, &err, &iny, &inx, &iib, &pb, &qb, &jjb, &rb, &sb,
                          &os, &oe, &nrows, &onx))
        return NULL;
    if (ck_check(&sci, iny * inx, sizeof(float), "sci") || ck_check(&err, iny * inx, sizeof(float), "err") ||
        ck_check(&iib, onx, sizeof(int64_t), "ii") || ck_check(&pb, onx, sizeof(float), "p") ||
        ck_check(&qb, onx, sizeof(float), "q") || ck_check(&jjb, nrows, sizeof(int64_t), "jj") ||
        ck_check(&rb, nrows, sizeof(float), "r") || ck_check(&sb, nrows, sizeof(float), "s") ||
        ck_check(&os, nrows * onx, sizeof(float), "out_s") || ck_check(&oe, nrows * onx, sizeof(float), "out_e")) {
        ck_release(bufs, 10);
        return NULL;
    }
    const int64_t *ii = iib.buf, *jj = jjb.buf;
    for (Py_ssize_t x = 0; x < onx; x++) {
        if (ii[x] < 0 || ii[x] + 1 >= inx) {
            ck_release(bufs, 10);
            PyErr_SetString(PyExc_ValueError, "unbin2d_rows: column index outside the input");
            return NULL;
        }
    }
    for (Py_ssize_t m = 0; m < nrows; m++) {
        if (jj[m] < 0 || jj[m] + 1 >= iny) {
            ck_release(bufs, 10);
            PyErr_SetString(PyExc_ValueError, "unbin2d_rows: row index outside the input");
            return NULL;
        }
    }
    const float *S = sci.buf, *E = err.buf, *p = pb.buf, *q = qb.buf, *r = rb.buf, *sw = sb.buf;
    float *outs = os.buf, *oute = oe.buf;

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t m = 0; m < nrows; m++) {
        const float rr = r[m], ss = sw[m];
        const float *s0 = S + jj[m] * inx, *s1 = s0 + inx, *e0 = E + jj[m] * inx, *e1 = e0 + inx;
        float *ts = outs + m * onx, *te = oute + m * onx;
        for (Py_ssize_t x = 0; x < onx; x++) {
            const float pr = rr * p[x], qr = rr * q[x], ps = ss * p[x], qs = ss * q[x];
            const Py_ssize_t i = (Py_ssize_t)ii[x];
            float v = pr * s0[i] + qr * s0[i + 1];
            v = v + ps * s1[i];
            v = v + qs * s1[i + 1];
            ts[x] = v;
            float t1 = pr * e0[i];
            t1 = t1 * e0[i];
            float t2 = qr * e0[i + 1];
            t2 = t2 * e0[i + 1];
            float t3 = ps * e1[i];
            t3 = t3 * e1[i];
            float t4 = qs * e1[i + 1];
            t4 = t4 * e1[i + 1];
            float u = t1 + t2;
            u = u + t3;
            u = u + t4;
            te[x] = sqrtf(u);
        }
    }
    Py_END_ALLOW_THREADS

    ck_release(bufs, 10);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------- OCRREJECT */

typedef struct {
    float sig2, rog2, exp2, efac, sky, gain, scale, psig2;
} OcrConsts;

static int
ocr_consts(PyObject *args, Py_ssize_t first, OcrConsts *c)
{
    double v[8];
    for (int k = 0; k < 8; k++) {
        v[k] = PyFloat_AsDouble(PyTuple_GET_ITEM(args, first + k));
        if (v[k] == -1.0 && PyErr_Occurred())
            return -1;
    }
    c->sig2 = (float)v[0], c->rog2 = (float)v[1], c->exp2 = (float)v[2], c->efac = (float)v[3];
    c->sky = (float)v[4], c->gain = (float)v[5], c->scale = (float)v[6], c->psig2 = (float)v[7];
    return 0;
}

/* ocr_tests(sci, ave, avevar or None, pic, hitc, spill_ok, sig2, rog2, exp2, efac, sky, gain, scale,
 * psig2): ocrreject.tests_numpy per pixel in float32 — pic = (SCI − sky)/efac, d² = (pic − ave)², the
 * thresholds (sig2·avevar for the minimum guess's first iteration, else from the noise model of
 * ave·efac + sky), hitc = d² > thresh, spill_ok = !(d² <= psig2·spill threshold). */
static PyObject *
ocr_tests(PyObject *self, PyObject *args)
{
    if (PyTuple_GET_SIZE(args) != 14) {
        PyErr_SetString(PyExc_TypeError, "ocr_tests takes 14 arguments");
        return NULL;
    }
    Py_buffer sci = {0}, ave = {0}, var = {0}, pic = {0}, hit = {0}, spl = {0};
    Py_buffer *bufs[] = {&sci, &ave, &var, &pic, &hit, &spl};
    OcrConsts c;
    if (ocr_consts(args, 6, &c))
        return NULL;
    PyObject *varobj = PyTuple_GET_ITEM(args, 2);
    int have_var = varobj != Py_None;
    if (PyObject_GetBuffer(PyTuple_GET_ITEM(args, 0), &sci, PyBUF_SIMPLE) ||
        PyObject_GetBuffer(PyTuple_GET_ITEM(args, 1), &ave, PyBUF_SIMPLE) ||
        (have_var && PyObject_GetBuffer(varobj, &var, PyBUF_SIMPLE)) ||
        PyObject_GetBuffer(PyTuple_GET_ITEM(args, 3), &pic, PyBUF_WRITABLE) ||
        PyObject_GetBuffer(PyTuple_GET_ITEM(args, 4), &hit, PyBUF_WRITABLE) ||
        PyObject_GetBuffer(PyTuple_GET_ITEM(args, 5), &spl, PyBUF_WRITABLE)) {
        ck_release(bufs, 6);
        return NULL;
    }
    Py_ssize_t n = sci.len / (Py_ssize_t)sizeof(float);
    if (ck_check(&sci, n, sizeof(float), "sci") || ck_check(&ave, n, sizeof(float), "ave") ||
        (have_var && ck_check(&var, n, sizeof(float), "avevar")) || ck_check(&pic, n, sizeof(float), "pic") ||
        ck_check(&hit, n, 1, "hitc") || ck_check(&spl, n, 1, "spill_ok")) {
        ck_release(bufs, 6);
        return NULL;
    }
    const float *S = sci.buf, *A = ave.buf, *V = have_var ? var.buf : NULL;
    float *P = pic.buf;
    unsigned char *H = hit.buf, *O = spl.buf;

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        float thresh, spth;
        if (have_var) {
            thresh = c.sig2 * V[i];
            spth = thresh;
        } else {
            const float dum = A[i] * c.efac + c.sky;
            const float val = dum > 0.0f ? dum : 0.0f;
            float pixsky = dum - c.sky;
            pixsky = pixsky > 0.0f ? pixsky : 0.0f;
            const float sp = c.scale * pixsky;
            const float base = c.rog2 + val / c.gain;
            thresh = c.sig2 * (base + sp * sp) / c.exp2;
            spth = c.sig2 * base / c.exp2;
        }
        const float p = (S[i] - c.sky) / c.efac;
        const float diff = p - A[i];
        const float d2 = diff * diff;
        P[i] = p;
        H[i] = d2 > thresh;
        O[i] = !(d2 <= c.psig2 * spth);
    }
    Py_END_ALLOW_THREADS

    ck_release(bufs, 6);
    Py_RETURN_NONE;
}

/* ocr_accumulate(pic, good, total, efacsum, sumvar or None, sig2, rog2, exp2, efac, sky, gain, scale,
 * psig2): ocrreject.accumulate_numpy in place, float32 — where good: total += pic·efac, efacsum += efac
 * and (sumvar given) sumvar += rog2 + v/gain + (scale·v)² with v = max(pic·efac + sky, 0). */
static PyObject *
ocr_accumulate(PyObject *self, PyObject *args)
{
    if (PyTuple_GET_SIZE(args) != 13) {
        PyErr_SetString(PyExc_TypeError, "ocr_accumulate takes 13 arguments");
        return NULL;
    }
    Py_buffer pic = {0}, good = {0}, tot = {0}, efs = {0}, sv = {0};
    Py_buffer *bufs[] = {&pic, &good, &tot, &efs, &sv};
    OcrConsts c;
    if (ocr_consts(args, 5, &c))
        return NULL;
    PyObject *svobj = PyTuple_GET_ITEM(args, 4);
    int have_sv = svobj != Py_None;
    if (PyObject_GetBuffer(PyTuple_GET_ITEM(args, 0), &pic, PyBUF_SIMPLE) ||
        PyObject_GetBuffer(PyTuple_GET_ITEM(args, 1), &good, PyBUF_SIMPLE) ||
        PyObject_GetBuffer(PyTuple_GET_ITEM(args, 2), &tot, PyBUF_WRITABLE) ||
        PyObject_GetBuffer(PyTuple_GET_ITEM(args, 3), &efs, PyBUF_WRITABLE) ||
        (have_sv && PyObject_GetBuffer(svobj, &sv, PyBUF_WRITABLE))) {
        ck_release(bufs, 5);
        return NULL;
    }
    Py_ssize_t n = pic.len / (Py_ssize_t)sizeof(float);
    if (ck_check(&good, n, 1, "good") || ck_check(&tot, n, sizeof(float), "total") ||
        ck_check(&efs, n, sizeof(float), "efacsum") || (have_sv && ck_check(&sv, n, sizeof(float), "sumvar"))) {
        ck_release(bufs, 5);
        return NULL;
    }
    const float *P = pic.buf;
    const unsigned char *G = good.buf;
    float *T = tot.buf, *E = efs.buf, *SV = have_sv ? sv.buf : NULL;

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!G[i])
            continue;
        T[i] = T[i] + P[i] * c.efac;
        E[i] = E[i] + c.efac;
        if (SV != NULL) {
            const float dum = P[i] * c.efac + c.sky;
            const float v = dum > 0.0f ? dum : 0.0f;
            const float s = c.scale * v;
            SV[i] = SV[i] + (c.rog2 + v / c.gain + s * s);
        }
    }
    Py_END_ALLOW_THREADS

    ck_release(bufs, 5);
    Py_RETURN_NONE;
}

/* ----------------------------------------------------------------------------------- Interp2D */

static int64_t
nint64(double x)
{
    return x >= 0.0 ? (int64_t)trunc(x + 0.5) : (int64_t)trunc(x - 0.5);
}

/* interp2d(sci, err, dq, iny, inx, ix, iy, sdqflags, detectorprob, osci, oerr, odq): x2d.interp2d at
 * every point (ix, iy) (finite doubles; the input at least 2 × 2): float32 bilinear weights, zeroed for
 * a neighbour with an `sdqflags` bit and renormalised by their float sum (none left, or the sum <= 0:
 * the nearest pixel is copied), Σ w·v and Σ (w·e)·e left to right in float, the error's sqrt in
 * double; DQ the OR of the four neighbours; a point whose nearest pixel is off the image: 0, 0,
 * `detectorprob`. */
static PyObject *
interp2d(PyObject *self, PyObject *args)
{
    Py_buffer sci = {0}, err = {0}, dq = {0}, ixb = {0}, iyb = {0}, os = {0}, oe = {0}, od = {0};
    Py_buffer *bufs[] = {&sci, &err, &dq, &ixb, &iyb, &os, &oe, &od};
    Py_ssize_t iny, inx;
    int sdqflags;
    unsigned int detprob;
    if (!PyArg_ParseTuple(args, "y*y*y*nny*y*iIw*w*w*", &sci, &err, &dq, &iny, &inx, &ixb, &iyb, &sdqflags, &detprob,
                          &os, &oe, &od))
        return NULL;
    Py_ssize_t n = ixb.len / (Py_ssize_t)sizeof(double);
    if (ck_check(&sci, iny * inx, 4, "sci") || ck_check(&err, iny * inx, 4, "err") || ck_check(&dq, iny * inx, 2, "dq") ||
        ck_check(&ixb, n, 8, "ix") || ck_check(&iyb, n, 8, "iy") || ck_check(&os, n, 4, "osci") ||
        ck_check(&oe, n, 4, "oerr") || ck_check(&od, n, 2, "odq")) {
        ck_release(bufs, 8);
        return NULL;
    }
    if (iny < 2 || inx < 2) {
        ck_release(bufs, 8);
        PyErr_SetString(PyExc_ValueError, "interp2d: the input must be at least 2 x 2");
        return NULL;
    }
    const float *S = sci.buf, *E = err.buf;
    const uint16_t *D = dq.buf;
    const double *IX = ixb.buf, *IY = iyb.buf;
    float *OS = os.buf, *OE = oe.buf;
    uint16_t *OD = od.buf;
    const uint16_t mask = (uint16_t)(sdqflags & 0xFFFF);

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < n; k++) {
        const double x = IX[k], y = IY[k];
        const int64_t iix = nint64(x), iiy = nint64(y);
        if (iix < 0 || iix > inx - 1 || iiy < 0 || iiy > iny - 1) {
            OS[k] = 0.0f;
            OE[k] = 0.0f;
            OD[k] = (uint16_t)detprob;
            continue;
        }
        int64_t ii = (int64_t)trunc(x), ij = (int64_t)trunc(y);
        if (ii < 0) ii = 0;
        if (ii > inx - 2) ii = inx - 2;
        if (ij < 0) ij = 0;
        if (ij > iny - 2) ij = iny - 2;
        const float q = (float)(x - (double)ii), p = 1.0f - q;
        const float s = (float)(y - (double)ij), r = 1.0f - s;
        float w0 = p * r, w1 = q * r, w2 = p * s, w3 = q * s;
        const Py_ssize_t i00 = ij * inx + ii, i10 = i00 + 1, i01 = i00 + inx, i11 = i01 + 1;
        const uint16_t d00 = D[i00], d10 = D[i10], d01 = D[i01], d11 = D[i11];
        int nearest = 0;
        if (mask) {
            const int b0 = (d00 & mask) != 0, b1 = (d10 & mask) != 0, b2 = (d01 & mask) != 0, b3 = (d11 & mask) != 0;
            if (b0) w0 = 0.0f;
            if (b1) w1 = 0.0f;
            if (b2) w2 = 0.0f;
            if (b3) w3 = 0.0f;
            const int ngood = 4 - (b0 + b1 + b2 + b3);
            float sumw = w0 + w1;
            sumw = sumw + w2;
            sumw = sumw + w3;
            nearest = ngood == 0 || sumw <= 0.0f;
            if (ngood < 4 && !nearest) {
                w0 = w0 / sumw;
                w1 = w1 / sumw;
                w2 = w2 / sumw;
                w3 = w3 / sumw;
            }
        }
        float value, oerr;
        if (nearest) {
            const Py_ssize_t near = iiy * inx + iix;
            value = S[near];
            oerr = E[near];
        } else {
            value = w0 * S[i00] + w1 * S[i10];
            value = value + w2 * S[i01];
            value = value + w3 * S[i11];
            float t0 = w0 * E[i00], t1 = w1 * E[i10], t2 = w2 * E[i01], t3 = w3 * E[i11];
            t0 = t0 * E[i00];
            t1 = t1 * E[i10];
            t2 = t2 * E[i01];
            t3 = t3 * E[i11];
            float var = t0 + t1;
            var = var + t2;
            var = var + t3;
            oerr = var > 0.0f ? (float)sqrt((double)var) : 0.0f;
        }
        OS[k] = value;
        OE[k] = oerr;
        OD[k] = d00 | d10 | d01 | d11;
    }
    Py_END_ALLOW_THREADS

    ck_release(bufs, 8);
    Py_RETURN_NONE;
}

/* sky_stats(sci, dq) -> (npt, any_nan, vmin, total): over the pixels with DQ == 0 in raster order, their
 * number, whether one is NaN, the float32 minimum (of the others) and the float32 sum added one at a time
 * (ocrreject.sky_level's np.add.accumulate). */
static PyObject *
sky_stats(PyObject *self, PyObject *args)
{
    Py_buffer sci = {0}, dq = {0};
    Py_buffer *bufs[] = {&sci, &dq};
    if (!PyArg_ParseTuple(args, "y*y*", &sci, &dq))
        return NULL;
    Py_ssize_t n = sci.len / (Py_ssize_t)sizeof(float);
    if (ck_check(&sci, n, 4, "sci") || ck_check(&dq, n, 2, "dq")) {
        ck_release(bufs, 2);
        return NULL;
    }
    const float *S = sci.buf;
    const uint16_t *D = dq.buf;
    Py_ssize_t npt = 0;
    int any_nan = 0;
    float vmin = 0.0f, total = 0.0f;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (D[i] != 0)
            continue;
        const float v = S[i];
        if (isnan(v))
            any_nan = 1;
        else if (npt == 0 || v < vmin)
            vmin = v;
        total = npt == 0 ? v : total + v;
        npt++;
    }
    Py_END_ALLOW_THREADS
    ck_release(bufs, 2);
    return Py_BuildValue("nidd", npt, any_nan, (double)vmin, (double)total);
}

/* sky_hist(sci, dq, lo, hist): hist[trunc(v) − lo] += 1 for the DQ == 0 pixels whose truncated value
 * falls in [lo, lo + len(hist)) (non-finite values never do), as sky_level's bincount. */
static PyObject *
sky_hist(PyObject *self, PyObject *args)
{
    Py_buffer sci = {0}, dq = {0}, hb = {0};
    Py_buffer *bufs[] = {&sci, &dq, &hb};
    long long lo;
    if (!PyArg_ParseTuple(args, "y*y*Lw*", &sci, &dq, &lo, &hb))
        return NULL;
    Py_ssize_t n = sci.len / (Py_ssize_t)sizeof(float), nb = hb.len / (Py_ssize_t)sizeof(int64_t);
    if (ck_check(&sci, n, 4, "sci") || ck_check(&dq, n, 2, "dq") || ck_check(&hb, nb, 8, "hist")) {
        ck_release(bufs, 3);
        return NULL;
    }
    const float *S = sci.buf;
    const uint16_t *D = dq.buf;
    int64_t *H = hb.buf;
    Py_BEGIN_ALLOW_THREADS
    const double first = (double)lo, end = (double)lo + (double)nb;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (D[i] != 0)
            continue;
        const double t = trunc((double)S[i]);
        if (t >= first && t < end)
            H[(Py_ssize_t)(t - first)] += 1;
    }
    Py_END_ALLOW_THREADS
    ck_release(bufs, 3);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------ FFT */

/* One FFTPACK pass (passf2/3/4, passb2/3/4) on one row: cc viewed as (l1, ip, ido), ch as (ip, l1,
 * ido); twiddles w_j (j = 1 … ip − 1) at wr/wi[(j − 1)·ido + i], used when ido > 1. Float32, the
 * operations and order of fftpack.py's _pass2/_pass3/_pass4. */
static void
fft_pass(int ip, Py_ssize_t ido, Py_ssize_t l1, const float *cr, const float *ci, float *hr, float *hi,
         const float *wr, const float *wi, int forward)
{
#define CC(a, k, j, i) a[((k) * ip + (j)) * ido + (i)]
#define CH(a, j, k, i) a[((j) * l1 + (k)) * ido + (i)]
    for (Py_ssize_t k = 0; k < l1; k++) {
        for (Py_ssize_t i = 0; i < ido; i++) {
            if (ip == 2) {
                const float r1 = CC(cr, k, 0, i), r2 = CC(cr, k, 1, i);
                const float i1 = CC(ci, k, 0, i), i2 = CC(ci, k, 1, i);
                CH(hr, 0, k, i) = r1 + r2;
                CH(hi, 0, k, i) = i1 + i2;
                if (ido == 1) {
                    CH(hr, 1, k, i) = r1 - r2;
                    CH(hi, 1, k, i) = i1 - i2;
                } else {
                    const float tr2 = r1 - r2, ti2 = i1 - i2, w1r = wr[i], w1i = wi[i];
                    if (forward) {
                        CH(hi, 1, k, i) = w1r * ti2 - w1i * tr2;
                        CH(hr, 1, k, i) = w1r * tr2 + w1i * ti2;
                    } else {
                        CH(hi, 1, k, i) = w1r * ti2 + w1i * tr2;
                        CH(hr, 1, k, i) = w1r * tr2 - w1i * ti2;
                    }
                }
            } else if (ip == 3) {
                const float taur = -0.5f, taui = forward ? (float)-0.866025403784439 : (float)0.866025403784439;
                const float r1 = CC(cr, k, 0, i), r2 = CC(cr, k, 1, i), r3 = CC(cr, k, 2, i);
                const float i1 = CC(ci, k, 0, i), i2 = CC(ci, k, 1, i), i3 = CC(ci, k, 2, i);
                const float tr2 = r2 + r3;
                const float cr2 = r1 + taur * tr2;
                const float h1r = r1 + tr2;
                const float ti2 = i2 + i3;
                const float ci2 = i1 + taur * ti2;
                const float h1i = i1 + ti2;
                const float cr3 = taui * (r2 - r3);
                const float ci3 = taui * (i2 - i3);
                const float dr2 = cr2 - ci3, dr3 = cr2 + ci3, di2 = ci2 + cr3, di3 = ci2 - cr3;
                CH(hr, 0, k, i) = h1r;
                CH(hi, 0, k, i) = h1i;
                if (ido == 1) {
                    CH(hr, 1, k, i) = dr2;
                    CH(hr, 2, k, i) = dr3;
                    CH(hi, 1, k, i) = di2;
                    CH(hi, 2, k, i) = di3;
                } else {
                    const float w1r = wr[i], w1i = wi[i], w2r = wr[ido + i], w2i = wi[ido + i];
                    if (forward) {
                        CH(hi, 1, k, i) = w1r * di2 - w1i * dr2;
                        CH(hr, 1, k, i) = w1r * dr2 + w1i * di2;
                        CH(hi, 2, k, i) = w2r * di3 - w2i * dr3;
                        CH(hr, 2, k, i) = w2r * dr3 + w2i * di3;
                    } else {
                        CH(hi, 1, k, i) = w1r * di2 + w1i * dr2;
                        CH(hr, 1, k, i) = w1r * dr2 - w1i * di2;
                        CH(hi, 2, k, i) = w2r * di3 + w2i * dr3;
                        CH(hr, 2, k, i) = w2r * dr3 - w2i * di3;
                    }
                }
            } else { /* ip == 4 */
                const float r1 = CC(cr, k, 0, i), r2 = CC(cr, k, 1, i), r3 = CC(cr, k, 2, i), r4 = CC(cr, k, 3, i);
                const float i1 = CC(ci, k, 0, i), i2 = CC(ci, k, 1, i), i3 = CC(ci, k, 2, i), i4 = CC(ci, k, 3, i);
                const float ti1 = i1 - i3, ti2 = i1 + i3, ti3 = i2 + i4;
                const float tr1 = r1 - r3, tr2 = r1 + r3, tr3 = r2 + r4;
                const float tr4 = forward ? i2 - i4 : i4 - i2;
                const float ti4 = forward ? r4 - r2 : r2 - r4;
                const float h1r = tr2 + tr3, cr3 = tr2 - tr3, h1i = ti2 + ti3, ci3 = ti2 - ti3;
                const float cr2 = tr1 + tr4, cr4 = tr1 - tr4, ci2 = ti1 + ti4, ci4 = ti1 - ti4;
                CH(hr, 0, k, i) = h1r;
                CH(hi, 0, k, i) = h1i;
                if (ido == 1) {
                    CH(hr, 1, k, i) = cr2;
                    CH(hr, 2, k, i) = cr3;
                    CH(hr, 3, k, i) = cr4;
                    CH(hi, 1, k, i) = ci2;
                    CH(hi, 2, k, i) = ci3;
                    CH(hi, 3, k, i) = ci4;
                } else {
                    const float a[3] = {cr2, cr3, cr4}, b[3] = {ci2, ci3, ci4};
                    for (int j = 0; j < 3; j++) {
                        const float w_r = wr[j * ido + i], w_i = wi[j * ido + i];
                        if (forward) {
                            CH(hr, j + 1, k, i) = w_r * a[j] + w_i * b[j];
                            CH(hi, j + 1, k, i) = w_r * b[j] - w_i * a[j];
                        } else {
                            CH(hr, j + 1, k, i) = w_r * a[j] - w_i * b[j];
                            CH(hi, j + 1, k, i) = w_r * b[j] + w_i * a[j];
                        }
                    }
                }
            }
        }
    }
#undef CC
#undef CH
}

/* Every pass of one line (ar, ai: n values) with scratch lines br, bi; the result is left in ar, ai. */
static void
fft_line(float *ar, float *ai, float *br, float *bi, Py_ssize_t n, const unsigned char *fac, Py_ssize_t nf,
         const float *wr, const float *wi, int forward)
{
    float *a_r = ar, *a_i = ai, *b_r = br, *b_i = bi;
    Py_ssize_t l1 = 1, iw = 0;
    for (Py_ssize_t f = 0; f < nf; f++) {
        const int ip = fac[f];
        const Py_ssize_t l2 = ip * l1, ido = n / l2;
        fft_pass(ip, ido, l1, a_r, a_i, b_r, b_i, wr + iw, wi + iw, forward);
        float *t = a_r; a_r = b_r; b_r = t;
        t = a_i; a_i = b_i; b_i = t;
        l1 = l2;
        iw += (ip - 1) * ido;
    }
    if (a_r != ar) {
        memcpy(ar, a_r, (size_t)n * sizeof(float));
        memcpy(ai, a_i, (size_t)n * sizeof(float));
    }
}

/* cfft(re, im, batch, n, factors, wr, wi, forward): fftpack.cfft of every row of the C-contiguous
 * float32 (batch, n) arrays, in place. `factors` (a bytes object of 2s, 3s and 4s, cffti's order)
 * and the twiddles wr/wi come from fftpack.cffti. */
static PyObject *
cfft(PyObject *self, PyObject *args)
{
    Py_buffer re = {0}, im = {0}, fb = {0}, wrb = {0}, wib = {0};
    Py_buffer *bufs[] = {&re, &im, &fb, &wrb, &wib};
    Py_ssize_t batch, n;
    int forward;
    if (!PyArg_ParseTuple(args, "w*w*nny*y*y*p", &re, &im, &batch, &n, &fb, &wrb, &wib, &forward))
        return NULL;
    Py_ssize_t nw = wrb.len / (Py_ssize_t)sizeof(float);
    if (ck_check(&re, batch * n, sizeof(float), "re") || ck_check(&im, batch * n, sizeof(float), "im") ||
        ck_check(&wrb, nw, sizeof(float), "wr") || ck_check(&wib, nw, sizeof(float), "wi")) {
        ck_release(bufs, 5);
        return NULL;
    }
    const unsigned char *fac = fb.buf;
    Py_ssize_t nf = fb.len, prod = 1, need = 0;
    for (Py_ssize_t f = 0; f < nf; f++) {
        if (fac[f] != 2 && fac[f] != 3 && fac[f] != 4) {
            ck_release(bufs, 5);
            PyErr_SetString(PyExc_ValueError, "cfft: factors must be 2, 3 or 4");
            return NULL;
        }
        prod *= fac[f];
        need += (fac[f] - 1) * (n / prod);
    }
    if (prod != n || need > nw) {
        ck_release(bufs, 5);
        PyErr_SetString(PyExc_ValueError, "cfft: factors or twiddles do not match the length");
        return NULL;
    }
    float *R = re.buf, *I = im.buf;
    const float *wr = wrb.buf, *wi = wib.buf;
    int failed = 0;

    Py_BEGIN_ALLOW_THREADS
    float *work = PyMem_RawMalloc((size_t)(n > 0 ? n : 1) * 4 * sizeof(float));
    if (work == NULL) {
        failed = 1;
    } else {
        for (Py_ssize_t b = 0; b < batch; b++) {
            float *ar = work, *ai = work + n;
            for (Py_ssize_t x = 0; x < n; x++) {
                ar[x] = R[b * n + x];
                ai[x] = I[b * n + x];
            }
            fft_line(ar, ai, work + 2 * n, work + 3 * n, n, fac, nf, wr, wi, forward);
            for (Py_ssize_t x = 0; x < n; x++) {
                R[b * n + x] = ar[x];
                I[b * n + x] = ai[x];
            }
        }
    }
    PyMem_RawFree(work);
    Py_END_ALLOW_THREADS

    ck_release(bufs, 5);
    if (failed)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------------------------- SumSpec */

/* waveshift._binary_search: the interval of sorted `wl` (n values) holding x. */
static Py_ssize_t
wl_binary_search(double x, const double *wl, Py_ssize_t n)
{
    if (x < wl[0])
        return -1;
    if (x >= wl[n - 1])
        return n;
    Py_ssize_t low = 0, high = n - 1;
    while (high - low > 1) {
        Py_ssize_t k = (low + high) / 2;
        if (x < wl[k])
            high = k;
        else if (x > wl[k + 1])
            low = k;
        else
            high = low = k;
    }
    if (low < high)
        return wl[high] <= x ? high : low;
    return low;
}

/* waveshift.find_wl (FindWL): index with wl[index] < w <= wl[index + 1], searching on from `index`. */
static Py_ssize_t
find_wl(double w, const double *wl, Py_ssize_t nelem, Py_ssize_t index)
{
    if (w < wl[0])
        return -1;
    if (w > wl[nelem])
        return nelem + 1;
    if (nelem == 1 || w == wl[0])
        return 0;
    if (index < 0 || index > nelem || w <= wl[index])
        return wl_binary_search(w, wl, nelem + 1);
    Py_ssize_t i = index;
    while (i < nelem) {
        if (wl[i] < w && w <= wl[i + 1])
            break;
        i++;
    }
    return i;
}

/* sum_between(edges, flux, wl_edges, tspec): waveshift.sum_between in double — the template (nelem
 * pixels, nelem + 1 `edges`) integrated over each output pixel between consecutive `wl_edges`
 * (nwl + 1 of them); `tspec` (nwl doubles, zeroed by the caller) is written. */
static PyObject *
sum_between(PyObject *self, PyObject *args)
{
    Py_buffer eb = {0}, fb = {0}, wb = {0}, tb = {0};
    Py_buffer *bufs[] = {&eb, &fb, &wb, &tb};
    if (!PyArg_ParseTuple(args, "y*y*y*w*", &eb, &fb, &wb, &tb))
        return NULL;
    Py_ssize_t nelem = fb.len / (Py_ssize_t)sizeof(double), nwl = tb.len / (Py_ssize_t)sizeof(double);
    if (nelem < 1 || ck_check(&eb, nelem + 1, sizeof(double), "edges") || ck_check(&fb, nelem, sizeof(double), "flux") ||
        ck_check(&wb, nwl + 1, sizeof(double), "wl_edges") || ck_check(&tb, nwl, sizeof(double), "tspec")) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "sum_between: empty template");
        ck_release(bufs, 4);
        return NULL;
    }
    const double *edges = eb.buf, *flux = fb.buf, *wle = wb.buf;
    double *tspec = tb.buf;

    Py_BEGIN_ALLOW_THREADS
    double wl_left = wle[0];
    Py_ssize_t jl = find_wl(wl_left, edges, nelem, -1), jr = jl;
    for (Py_ssize_t i = 0; i < nwl; i++) {
        const double wl_right = wle[i + 1];
        jr = find_wl(wl_right, edges, nelem, jr);
        if (jr >= nelem)
            break;
        if (jl >= 0) {
            if (jl == jr) {
                tspec[i] = flux[jl] * (wl_right - wl_left);
            } else {
                double t = flux[jl] * (edges[jl + 1] - wl_left);
                for (Py_ssize_t j = jl + 1; j < jr; j++)
                    t += flux[j] * (edges[j + 1] - edges[j]);
                tspec[i] = t + flux[jr] * (wl_right - edges[jr]);
            }
        }
        jl = jr;
        wl_left = wl_right;
    }
    Py_END_ALLOW_THREADS

    ck_release(bufs, 4);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------- evalInvDisp */

/* waveshift_echelle.eval_disp for 1 <= ncoeff <= 9: the terms after c[0] in evalDisp's order. */
static double
disp_x(const double *c, int ncoeff, double m, double wl)
{
    double x = c[0];
    if (ncoeff >= 2) x = x + c[1] * m * wl;
    if (ncoeff >= 3) x = x + c[2] * m * m * wl * wl;
    if (ncoeff >= 4) x = x + c[3] * m;
    if (ncoeff >= 5) x = x + c[4] * wl;
    if (ncoeff >= 6) x = x + c[5] * m * m * wl;
    if (ncoeff >= 7) x = x + c[6] * m * wl * wl;
    if (ncoeff >= 8) x = x + c[7] * m * m * m * wl * wl * wl;
    if (ncoeff >= 9) x = x + c[8] * m * m;
    return x - 1.0;
}

/* waveshift_echelle.eval_deriv_disp for 1 <= ncoeff <= 9. */
static double
disp_deriv(const double *c, int ncoeff, double m, double wl)
{
    if (ncoeff == 1)
        return 0.0;
    double d = c[1] * m;
    if (ncoeff >= 3) d = d + c[2] * 2.0 * m * m * wl;
    if (ncoeff >= 5) d = d + c[4];
    if (ncoeff >= 6) d = d + c[5] * m * m;
    if (ncoeff >= 7) d = d + c[6] * 2.0 * m * wl;
    if (ncoeff >= 8) d = d + c[7] * 3.0 * m * m * m * wl * wl;
    return d;
}

/* evalInvDisp for 1 <= ncoeff <= 9 (c holds nine coefficients, zero past ncoeff): the status, the
 * wavelength in *wl_out and in *warn_out whether the slope is negative in first order. */
static int
inv_disp(const double *c, int ncoeff, double m, double pixel, double wl_estimate, double tolerance, double too_far,
         double wl_step, int max_iter, double *wl_out, int *warn_out)
{
    int warn = 0, status;
    double wl_test = wl_estimate;
    double x_test = disp_x(c, ncoeff, m, wl_test);
    double save_x_test = x_test;
    double slope = disp_deriv(c, ncoeff, m, wl_test);
    double x_diff = fabs(x_test - pixel);
    double wl_min = wl_test;
    if (slope <= 0.0 && m < 1.5)
        warn = 1;
    if ((slope <= 0.0 || x_diff > too_far) && m > 1.5) {
        double wl_low = 1123.0, wl_high = 3170.0, step = wl_step;
        double min_x_diff = slope <= 0.0 ? 1024.0 * 100 : x_diff;
        wl_min = wl_estimate;
        for (int pass = 0; pass < 2; pass++) {
            wl_test = wl_low;
            while (wl_test <= wl_high) {
                if (disp_deriv(c, ncoeff, m, wl_test) > 0.0) {
                    x_test = disp_x(c, ncoeff, m, wl_test);
                    x_diff = fabs(x_test - pixel);
                    if (x_diff < min_x_diff) {
                        min_x_diff = x_diff;
                        save_x_test = x_test;
                        wl_min = wl_test;
                    }
                }
                wl_test += step;
            }
            wl_low = wl_min - step;
            wl_high = wl_min + step;
            step /= 10.0;
        }
    }
    int niter = 0;
    double last = wl_min;
    x_test = save_x_test;
    wl_test = wl_min;
    for (;;) {
        slope = disp_deriv(c, ncoeff, m, wl_test);
        if (slope == 0.0) {
            status = 3;
            break;
        }
        wl_test = wl_test + (pixel - x_test) / slope;
        if (fabs(wl_test - last) < tolerance) {
            status = 0;
            break;
        }
        if (niter > max_iter) {
            status = 2;
            break;
        }
        last = wl_test;
        x_test = disp_x(c, ncoeff, m, wl_test);
        niter++;
    }
    *wl_out = wl_test;
    *warn_out = warn;
    return status;
}

/* eval_inv_disp(c, ncoeff, m, pixel, wl_estimate, tolerance, too_far, wl_step, max_iter)
 *   -> (wavelength, status, warn): waveshift_echelle.eval_inv_disp_py, double throughout; `warn` is
 *   1 where the Python logs that the slope is negative (first order). */
static PyObject *
eval_inv_disp(PyObject *self, PyObject *args)
{
    PyObject *cobj;
    int ncoeff, max_iter;
    double m, pixel, wl_estimate, tolerance, too_far, wl_step;
    if (!PyArg_ParseTuple(args, "Oiddddddi", &cobj, &ncoeff, &m, &pixel, &wl_estimate, &tolerance, &too_far, &wl_step,
                          &max_iter))
        return NULL;
    if (ncoeff < 1 || ncoeff > 9)
        return Py_BuildValue("dii", -1.0, 1, 0);
    double c[9] = {0};
    PyObject *seq = PySequence_Fast(cobj, "eval_inv_disp: coefficients must be a sequence");
    if (seq == NULL)
        return NULL;
    Py_ssize_t nc = PySequence_Fast_GET_SIZE(seq);
    if (nc < ncoeff) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "eval_inv_disp: fewer coefficients than ncoeff");
        return NULL;
    }
    for (int k = 0; k < ncoeff; k++) {
        c[k] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(seq, k));
        if (c[k] == -1.0 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);

    int warn = 0;
    double wl_test = 0.0;
    const int status = inv_disp(c, ncoeff, m, pixel, wl_estimate, tolerance, too_far, wl_step, max_iter, &wl_test, &warn);
    return Py_BuildValue("dii", wl_test, status, warn);
}

/* wave_row(c, ncoeff, m, nx, ltv, ltm, cenwave, tolerance, too_far, wl_step, max_iter, hfactor, use_h,
 *          wave, status, warn): x1d_echelle.wavelengths_py's loop (``Wave``) over the nx columns of one
 *   order — the reference pixel (i − ltv) / ltm, evalInvDisp started from CENWAVE for the first column
 *   and from the last good wavelength after, times hfactor when use_h — with each column's status and
 *   first-order warning stored for the caller's log. `c` holds nine doubles (zero past ncoeff).
 *   Optional off, chain_all: the pixels are (i + off − ltv) / ltm, and with chain_all every column starts
 *   from the one before whatever its status (waveshift_echelle.edge_wavelengths: ESumSpec's PixToWl
 *   chain over the pixel edges, off = −0.5). */
static PyObject *
wave_row(PyObject *self, PyObject *args)
{
    Py_buffer cb = {0}, wb = {0}, sb = {0}, nb = {0};
    Py_buffer *bufs[] = {&cb, &wb, &sb, &nb};
    int ncoeff, max_iter, use_h;
    Py_ssize_t nx;
    double m, ltv, ltm, est, tolerance, too_far, wl_step, hfactor, off = 0.0;
    int chain_all = 0;
    if (!PyArg_ParseTuple(args, "y*idnddddddidpw*w*w*|dp", &cb, &ncoeff, &m, &nx, &ltv, &ltm, &est, &tolerance,
                          &too_far, &wl_step, &max_iter, &hfactor, &use_h, &wb, &sb, &nb, &off, &chain_all))
        return NULL;
    if (ck_check(&cb, 9, sizeof(double), "c") || ck_check(&wb, nx, sizeof(double), "wave") ||
        ck_check(&sb, nx, sizeof(int32_t), "status") || ck_check(&nb, nx, sizeof(int32_t), "warn")) {
        ck_release(bufs, 4);
        return NULL;
    }
    const double *c = cb.buf;
    double *wave = wb.buf;
    int32_t *st = sb.buf, *wn = nb.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < nx; i++) {
        const double rpix = ((double)i + off - ltv) / ltm;
        double wl = -1.0;
        int warn = 0, status = 1;
        if (ncoeff >= 1 && ncoeff <= 9)
            status = inv_disp(c, ncoeff, m, rpix, est, tolerance, too_far, wl_step, max_iter, &wl, &warn);
        wave[i] = wl;
        if (status == 0 || chain_all)
            est = wl;
        if (use_h)
            wave[i] *= hfactor;
        st[i] = status;
        wn[i] = warn;
    }
    Py_END_ALLOW_THREADS
    ck_release(bufs, 4);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------- SC2DCORR (lib/idtalg) */

/* factors and twiddles of one FFT length as fftpack.cffti gives them; 0 when they fit. */
static int
fft_plan_ok(const Py_buffer *fb, const Py_buffer *wrb, const Py_buffer *wib, Py_ssize_t n)
{
    const unsigned char *fac = fb->buf;
    Py_ssize_t prod = 1, need = 0;
    if (wrb->len != wib->len)
        return -1;
    for (Py_ssize_t f = 0; f < fb->len; f++) {
        if (fac[f] != 2 && fac[f] != 3 && fac[f] != 4)
            return -1;
        prod *= fac[f];
        need += (fac[f] - 1) * (n / prod);
    }
    return (prod == n && need <= wrb->len / (Py_ssize_t)sizeof(float)) ? 0 : -1;
}

/* The passes of fft_pass on FFT_V lines at once: each complex position holds FFT_V lanes (one per
 * line) side by side, and every lane goes through fft_pass's float operations in its order — vector
 * adds and multiplies are the scalar IEEE operations lane by lane, so each line's bits are the same. */
#define FFT_V 4
typedef float vfloat __attribute__((vector_size(FFT_V * sizeof(float))));

static void
fft_pass_v(int ip, Py_ssize_t ido, Py_ssize_t l1, const vfloat *cr, const vfloat *ci, vfloat *hr, vfloat *hi,
           const float *wr, const float *wi, int forward)
{
#define CC(a, k, j, i) a[((k) * ip + (j)) * ido + (i)]
#define CH(a, j, k, i) a[((j) * l1 + (k)) * ido + (i)]
    const float taui_s = forward ? (float)-0.866025403784439 : (float)0.866025403784439;
    const vfloat taur = (vfloat){0} - 0.5f;
    const vfloat taui = (vfloat){0} + taui_s;
    for (Py_ssize_t k = 0; k < l1; k++) {
        for (Py_ssize_t i = 0; i < ido; i++) {
            if (ip == 2) {
                const vfloat r1 = CC(cr, k, 0, i), r2 = CC(cr, k, 1, i);
                const vfloat i1 = CC(ci, k, 0, i), i2 = CC(ci, k, 1, i);
                CH(hr, 0, k, i) = r1 + r2;
                CH(hi, 0, k, i) = i1 + i2;
                if (ido == 1) {
                    CH(hr, 1, k, i) = r1 - r2;
                    CH(hi, 1, k, i) = i1 - i2;
                } else {
                    const vfloat tr2 = r1 - r2, ti2 = i1 - i2;
                    const float w1r = wr[i], w1i = wi[i];
                    if (forward) {
                        CH(hi, 1, k, i) = w1r * ti2 - w1i * tr2;
                        CH(hr, 1, k, i) = w1r * tr2 + w1i * ti2;
                    } else {
                        CH(hi, 1, k, i) = w1r * ti2 + w1i * tr2;
                        CH(hr, 1, k, i) = w1r * tr2 - w1i * ti2;
                    }
                }
            } else if (ip == 3) {
                const vfloat r1 = CC(cr, k, 0, i), r2 = CC(cr, k, 1, i), r3 = CC(cr, k, 2, i);
                const vfloat i1 = CC(ci, k, 0, i), i2 = CC(ci, k, 1, i), i3 = CC(ci, k, 2, i);
                const vfloat tr2 = r2 + r3;
                const vfloat cr2 = r1 + taur * tr2;
                const vfloat h1r = r1 + tr2;
                const vfloat ti2 = i2 + i3;
                const vfloat ci2 = i1 + taur * ti2;
                const vfloat h1i = i1 + ti2;
                const vfloat cr3 = taui * (r2 - r3);
                const vfloat ci3 = taui * (i2 - i3);
                const vfloat dr2 = cr2 - ci3, dr3 = cr2 + ci3, di2 = ci2 + cr3, di3 = ci2 - cr3;
                CH(hr, 0, k, i) = h1r;
                CH(hi, 0, k, i) = h1i;
                if (ido == 1) {
                    CH(hr, 1, k, i) = dr2;
                    CH(hr, 2, k, i) = dr3;
                    CH(hi, 1, k, i) = di2;
                    CH(hi, 2, k, i) = di3;
                } else {
                    const float w1r = wr[i], w1i = wi[i], w2r = wr[ido + i], w2i = wi[ido + i];
                    if (forward) {
                        CH(hi, 1, k, i) = w1r * di2 - w1i * dr2;
                        CH(hr, 1, k, i) = w1r * dr2 + w1i * di2;
                        CH(hi, 2, k, i) = w2r * di3 - w2i * dr3;
                        CH(hr, 2, k, i) = w2r * dr3 + w2i * di3;
                    } else {
                        CH(hi, 1, k, i) = w1r * di2 + w1i * dr2;
                        CH(hr, 1, k, i) = w1r * dr2 - w1i * di2;
                        CH(hi, 2, k, i) = w2r * di3 + w2i * dr3;
                        CH(hr, 2, k, i) = w2r * dr3 - w2i * di3;
                    }
                }
            } else { /* ip == 4 */
                const vfloat r1 = CC(cr, k, 0, i), r2 = CC(cr, k, 1, i), r3 = CC(cr, k, 2, i), r4 = CC(cr, k, 3, i);
                const vfloat i1 = CC(ci, k, 0, i), i2 = CC(ci, k, 1, i), i3 = CC(ci, k, 2, i), i4 = CC(ci, k, 3, i);
                const vfloat ti1 = i1 - i3, ti2 = i1 + i3, ti3 = i2 + i4;
                const vfloat tr1 = r1 - r3, tr2 = r1 + r3, tr3 = r2 + r4;
                const vfloat tr4 = forward ? i2 - i4 : i4 - i2;
                const vfloat ti4 = forward ? r4 - r2 : r2 - r4;
                const vfloat h1r = tr2 + tr3, cr3 = tr2 - tr3, h1i = ti2 + ti3, ci3 = ti2 - ti3;
                const vfloat cr2 = tr1 + tr4, cr4 = tr1 - tr4, ci2 = ti1 + ti4, ci4 = ti1 - ti4;
                CH(hr, 0, k, i) = h1r;
                CH(hi, 0, k, i) = h1i;
                if (ido == 1) {
                    CH(hr, 1, k, i) = cr2;
                    CH(hr, 2, k, i) = cr3;
                    CH(hr, 3, k, i) = cr4;
                    CH(hi, 1, k, i) = ci2;
                    CH(hi, 2, k, i) = ci3;
                    CH(hi, 3, k, i) = ci4;
                } else {
                    const vfloat a[3] = {cr2, cr3, cr4}, b[3] = {ci2, ci3, ci4};
                    for (int j = 0; j < 3; j++) {
                        const float w_r = wr[j * ido + i], w_i = wi[j * ido + i];
                        if (forward) {
                            CH(hr, j + 1, k, i) = w_r * a[j] + w_i * b[j];
                            CH(hi, j + 1, k, i) = w_r * b[j] - w_i * a[j];
                        } else {
                            CH(hr, j + 1, k, i) = w_r * a[j] - w_i * b[j];
                            CH(hi, j + 1, k, i) = w_r * b[j] + w_i * a[j];
                        }
                    }
                }
            }
        }
    }
#undef CC
#undef CH
}

/* fft_line for FFT_V interleaved lines (n positions × FFT_V lanes); the result is left in ar, ai. */
static void
fft_lines_v(vfloat *ar, vfloat *ai, vfloat *br, vfloat *bi, Py_ssize_t n, const unsigned char *fac, Py_ssize_t nf,
            const float *wr, const float *wi, int forward)
{
    vfloat *a_r = ar, *a_i = ai, *b_r = br, *b_i = bi;
    Py_ssize_t l1 = 1, iw = 0;
    for (Py_ssize_t f = 0; f < nf; f++) {
        const int ip = fac[f];
        const Py_ssize_t l2 = ip * l1, ido = n / l2;
        fft_pass_v(ip, ido, l1, a_r, a_i, b_r, b_i, wr + iw, wi + iw, forward);
        vfloat *t = a_r; a_r = b_r; b_r = t;
        t = a_i; a_i = b_i; b_i = t;
        l1 = l2;
        iw += (ip - 1) * ido;
    }
    if (a_r != ar) {
        memcpy(ar, a_r, (size_t)n * sizeof(vfloat));
        memcpy(ai, a_i, (size_t)n * sizeof(vfloat));
    }
}

/* One 2-D transform's work on a share of the lines: the line pass over rows [y0, y1) or the column
 * pass over columns [x0, x1) (a thread runs one share; the shares touch disjoint lines). */
typedef struct {
    float *R, *I;
    Py_ssize_t ny, nx, lo, hi;
    int columns, forward;
    float norm;
    const unsigned char *fac;
    Py_ssize_t nf;
    const float *wr, *wi;
    int failed;
} fft2d_share;

static void *
fft2d_run_share(void *arg)
{
    fft2d_share *s = arg;
    const Py_ssize_t n = s->columns ? s->ny : s->nx;
    char *raw = malloc((size_t)n * 6 * sizeof(vfloat) + 64);
    if (raw == NULL) {
        s->failed = 1;
        return NULL;
    }
    vfloat *buf = (vfloat *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
    vfloat *gr = buf, *gi = buf + n, *sr = buf + 2 * n, *si = buf + 3 * n, *zr = buf + 4 * n, *zi = buf + 5 * n;
    float *R = s->R, *I = s->I;
    const Py_ssize_t nx = s->nx;
    int have_zero = 0;
    for (Py_ssize_t l0 = s->lo; l0 < s->hi; l0 += FFT_V) {
        const Py_ssize_t nb = s->hi - l0 < FFT_V ? s->hi - l0 : FFT_V;
        float *fr = (float *)gr, *fi = (float *)gi;
        if (s->columns) {
            for (Py_ssize_t y = 0; y < n; y++)
                for (Py_ssize_t b = 0; b < FFT_V; b++) {
                    fr[y * FFT_V + b] = b < nb ? R[y * nx + l0 + b] : 0.0f;
                    fi[y * FFT_V + b] = b < nb ? I[y * nx + l0 + b] : 0.0f;
                }
            fft_lines_v(gr, gi, sr, si, n, s->fac, s->nf, s->wr, s->wi, s->forward);
            for (Py_ssize_t y = 0; y < n; y++)
                for (Py_ssize_t b = 0; b < nb; b++) {
                    float vr = fr[y * FFT_V + b], vi = fi[y * FFT_V + b];
                    if (!s->forward) {
                        vr = vr / s->norm;
                        vi = vi / s->norm;
                    }
                    R[y * nx + l0 + b] = vr;
                    I[y * nx + l0 + b] = vi;
                }
            continue;
        }
        /* rows: all +0.0 in every line of the group -> the first such group's transform */
        int zero = 1;
        for (Py_ssize_t k = 0; k < nb * nx && zero; k++)
            zero = (((const uint32_t *)(R + l0 * nx))[k] | ((const uint32_t *)(I + l0 * nx))[k]) == 0;
        if (zero && have_zero) {
            for (Py_ssize_t b = 0; b < nb; b++) {
                memcpy(R + (l0 + b) * nx, zr, (size_t)nx * sizeof(float));
                memcpy(I + (l0 + b) * nx, zi, (size_t)nx * sizeof(float));
            }
            continue;
        }
        for (Py_ssize_t x = 0; x < nx; x++)
            for (Py_ssize_t b = 0; b < FFT_V; b++) {
                fr[x * FFT_V + b] = b < nb ? R[(l0 + b) * nx + x] : 0.0f;
                fi[x * FFT_V + b] = b < nb ? I[(l0 + b) * nx + x] : 0.0f;
            }
        fft_lines_v(gr, gi, sr, si, nx, s->fac, s->nf, s->wr, s->wi, s->forward);
        for (Py_ssize_t b = 0; b < nb; b++)
            for (Py_ssize_t x = 0; x < nx; x++) {
                R[(l0 + b) * nx + x] = fr[x * FFT_V + b];
                I[(l0 + b) * nx + x] = fi[x * FFT_V + b];
            }
        if (zero) {
            memcpy(zr, R + l0 * nx, (size_t)nx * sizeof(float));
            memcpy(zi, I + l0 * nx, (size_t)nx * sizeof(float));
            have_zero = 1;
        }
    }
    free(raw);
    return NULL;
}

/* Run the shares of one pass over lines [lo, hi): cut at a multiple of FFT_V into `nthreads` (1 or 2)
 * parts. */
static int
fft2d_pass(fft2d_share proto, Py_ssize_t lo, Py_ssize_t hi, int nthreads)
{
    fft2d_share sh[2];
    Py_ssize_t cut = nthreads > 1 ? lo + (((hi - lo) / 2 + FFT_V - 1) / FFT_V) * FFT_V : hi;
    if (cut > hi)
        cut = hi;
    sh[0] = proto;
    sh[0].lo = lo;
    sh[0].hi = cut;
    sh[1] = proto;
    sh[1].lo = cut;
    sh[1].hi = hi;
    pthread_t th;
    int threaded = cut < hi && pthread_create(&th, NULL, fft2d_run_share, &sh[1]) == 0;
    fft2d_run_share(&sh[0]);
    if (threaded)
        pthread_join(th, NULL);
    else if (cut < hi)
        fft2d_run_share(&sh[1]);
    return sh[0].failed || sh[1].failed;
}

/* fft2d(re, im, ny, nx, facx, wrx, wix, facy, wry, wiy, forward, norm, nthreads, x0, x1): fftpack.fft2d_numpy
 *   (forward) or ifft2d_numpy (backward, then every element divided by the float `norm`) in place on
 *   C-contiguous float32 (ny, nx) arrays: every line transformed, then every column — FFT_V lines at a
 *   time (fft_pass_v), the columns gathered from the rows without transposed copies, the lines (or
 *   columns) of a pass split between `nthreads` threads (1 or 2). A group of lines whose values are
 *   all +0.0 gets the transform of the first such line (the same bits: the passes are deterministic).
 *   Only columns [x0, x1) get the column pass (the others keep the line pass's values): a caller that
 *   reads only those columns skips the rest. */
static PyObject *
fft2d(PyObject *self, PyObject *args)
{
    Py_buffer re = {0}, im = {0}, fx = {0}, wrx = {0}, wix = {0}, fy = {0}, wry = {0}, wiy = {0};
    Py_buffer *bufs[] = {&re, &im, &fx, &wrx, &wix, &fy, &wry, &wiy};
    Py_ssize_t ny, nx;
    Py_ssize_t x0, x1;
    int forward, nthreads;
    float norm;
    if (!PyArg_ParseTuple(args, "w*w*nny*y*y*y*y*y*pfinn", &re, &im, &ny, &nx, &fx, &wrx, &wix, &fy, &wry, &wiy,
                          &forward, &norm, &nthreads, &x0, &x1))
        return NULL;
    if (ck_check(&re, ny * nx, sizeof(float), "re") || ck_check(&im, ny * nx, sizeof(float), "im")) {
        ck_release(bufs, 8);
        return NULL;
    }
    if (nx < 2 || ny < 2 || x0 < 0 || x1 > nx || x0 > x1 || fft_plan_ok(&fx, &wrx, &wix, nx) ||
        fft_plan_ok(&fy, &wry, &wiy, ny)) {
        ck_release(bufs, 8);
        PyErr_SetString(PyExc_ValueError, "fft2d: factors or twiddles do not match the lengths");
        return NULL;
    }
    fft2d_share rows = {re.buf, im.buf, ny, nx, 0, 0, 0, forward, norm, fx.buf, fx.len, wrx.buf, wix.buf, 0};
    fft2d_share cols = {re.buf, im.buf, ny, nx, 0, 0, 1, forward, norm, fy.buf, fy.len, wry.buf, wiy.buf, 0};
    int failed;
    Py_BEGIN_ALLOW_THREADS
    failed = fft2d_pass(rows, 0, ny, nthreads);
    if (!failed)
        failed = fft2d_pass(cols, x0, x1, nthreads);
    Py_END_ALLOW_THREADS
    ck_release(bufs, 8);
    if (failed)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* mul_shift(re, im, kr, ki, ny, nx): scatter._product and fft_shift in place — (re, im) times (kr, ki)
 *   in float (re·kr − im·ki, re·ki + im·kr), negated where row + column is odd. */
static PyObject *
mul_shift(PyObject *self, PyObject *args)
{
    Py_buffer re = {0}, im = {0}, kr = {0}, ki = {0};
    Py_buffer *bufs[] = {&re, &im, &kr, &ki};
    Py_ssize_t ny, nx;
    if (!PyArg_ParseTuple(args, "w*w*y*y*nn", &re, &im, &kr, &ki, &ny, &nx))
        return NULL;
    const Py_ssize_t n = ny * nx;
    if (ck_check(&re, n, sizeof(float), "re") || ck_check(&im, n, sizeof(float), "im") ||
        ck_check(&kr, n, sizeof(float), "kr") || ck_check(&ki, n, sizeof(float), "ki")) {
        ck_release(bufs, 4);
        return NULL;
    }
    float *R = re.buf, *I = im.buf;
    const float *KR = kr.buf, *KI = ki.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t y = 0; y < ny; y++) {
        for (Py_ssize_t x = 0; x < nx; x++) {
            const Py_ssize_t k = y * nx + x;
            const float r1 = R[k], i1 = I[k], r2 = KR[k], i2 = KI[k];
            const float a = r1 * r2, b = i1 * i2, c = r1 * i2, d = i1 * r2;
            float pr = a - b, pi = c + d;
            if ((y + x) & 1) {
                pr = -pr;
                pi = -pi;
            }
            R[k] = pr;
            I[k] = pi;
        }
    }
    Py_END_ALLOW_THREADS
    ck_release(bufs, 4);
    Py_RETURN_NONE;
}

/* scatter._linear: the line through (x1, y1), (x2, y2) at x, in double; 0 for a vertical pair. */
static double
idt_linear(double x1, double y1, double x2, double y2, double x)
{
    if (x2 != x1) {
        const double a = (y2 - y1) / (x2 - x1);
        const double b = y2 - a * x2;
        return a * x + b;
    }
    return 0.0;
}

/* scatter.interpolate for one value (`bounded`: lo/hi are the table's min and max). */
static double
idt_interpolate(double x1, Py_ssize_t begin, const double *x, const double *y, Py_ssize_t n, int bounded, double lo,
                double hi, Py_ssize_t *index)
{
    if (begin < 0) {
        *index = 0;
        return y[0];
    }
    if (begin >= n) {
        *index = n - 2;
        return y[n - 1];
    }
    if (!bounded || (lo <= x1 && x1 <= hi)) {
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_ssize_t i1 = begin + i, i2 = begin + i + 1;
            if (i2 < n && ((x[i1] <= x1 && x1 <= x[i2]) || (x[i2] <= x1 && x1 <= x[i1]))) {
                *index = i1;
                return idt_linear(x[i1], y[i1], x[i2], y[i2], x1);
            }
            i1 = begin - i;
            i2 = begin - i + 1;
            if (0 <= i1 && i2 < n && ((x[i1] <= x1 && x1 <= x[i2]) || (x[i2] <= x1 && x1 <= x[i1]))) {
                *index = i1;
                return idt_linear(x[i1], y[i1], x[i2], y[i2], x1);
            }
        }
    }
    const int low = x[1] > x[0] ? x1 < x[0] : x1 > x[0];
    if (low) {
        *index = 0;
        return idt_linear(x[0], y[0], x[1], y[1], x1);
    }
    *index = n - 2;
    return idt_linear(x[n - 1], y[n - 1], x[n - 2], y[n - 2], x1);
}

/* interp_run(xs, begin, x, y, bounded, lo, hi, out) -> index: scatter.interpolate_run_py — each of
 *   xs interpolated in (x, y), the search starting at the index the previous value returned. */
static PyObject *
interp_run(PyObject *self, PyObject *args)
{
    Py_buffer xb = {0}, tb = {0}, yb = {0}, ob = {0};
    Py_buffer *bufs[] = {&xb, &tb, &yb, &ob};
    Py_ssize_t begin;
    int bounded;
    double lo, hi;
    if (!PyArg_ParseTuple(args, "y*ny*y*pddw*", &xb, &begin, &tb, &yb, &bounded, &lo, &hi, &ob))
        return NULL;
    const Py_ssize_t m = xb.len / (Py_ssize_t)sizeof(double), n = tb.len / (Py_ssize_t)sizeof(double);
    if (ck_check(&xb, m, sizeof(double), "xs") || ck_check(&yb, n, sizeof(double), "y") ||
        ck_check(&ob, m, sizeof(double), "out")) {
        ck_release(bufs, 4);
        return NULL;
    }
    if (n < 2) {
        ck_release(bufs, 4);
        PyErr_SetString(PyExc_ValueError, "interp_run: the table needs two points");
        return NULL;
    }
    const double *xs = xb.buf, *x = tb.buf, *y = yb.buf;
    double *out = ob.buf;
    Py_ssize_t k = begin;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < m; i++)
        out[i] = idt_interpolate(xs[i], k, x, y, n, bounded, lo, hi, &k);
    Py_END_ALLOW_THREADS
    ck_release(bufs, 4);
    return PyLong_FromSsize_t(k);
}

/* spread(mod1, mod2, obj, ny, nx, last, s1, s2, ramp, eblaze, forder, worder, w_on, y_on, dydw, i1)
 *   -> 0, 1 (scattering function outside the image at a source pixel) or 2 (zero ripple):
 *   scatter.spread_reference for one order, its loops and float sums in the C's order — source pixels
 *   ipix of the extended order ascending, receiving columns ascending, each adding
 *   f·s[ilsf]·(1 − frac) to row y1 and f·s[ilsf]·frac to row y1 + 1 in double, stored as float. */
static PyObject *
spread(PyObject *self, PyObject *args)
{
    Py_buffer m1 = {0}, m2 = {0}, ob = {0}, s1b = {0}, s2b = {0}, rb = {0}, eb = {0}, fb = {0}, wb = {0},
              wonb = {0}, yonb = {0};
    Py_buffer *bufs[] = {&m1, &m2, &ob, &s1b, &s2b, &rb, &eb, &fb, &wb, &wonb, &yonb};
    Py_ssize_t ny, nx, i1;
    int last;
    double dydw;
    if (!PyArg_ParseTuple(args, "w*w*w*nnpy*y*y*y*y*y*y*y*dn", &m1, &m2, &ob, &ny, &nx, &last, &s1b, &s2b, &rb, &eb,
                          &fb, &wb, &wonb, &yonb, &dydw, &i1))
        return NULL;
    const Py_ssize_t nel = s1b.len / (Py_ssize_t)sizeof(double), nbig = eb.len / (Py_ssize_t)sizeof(float);
    const Py_ssize_t npts = wonb.len / (Py_ssize_t)sizeof(double), lsf_off = nel / 2;
    if (ck_check(&m1, ny * nx, sizeof(float), "mod1") || ck_check(&m2, ny * nx, sizeof(float), "mod2") ||
        ck_check(&ob, ny * nx, sizeof(float), "obj") || ck_check(&s1b, nel, sizeof(double), "s1") ||
        ck_check(&s2b, nel, sizeof(double), "s2") || ck_check(&rb, nel, sizeof(double), "ramp") ||
        ck_check(&fb, nbig, sizeof(float), "forder") || ck_check(&wb, nbig, sizeof(float), "worder") ||
        ck_check(&wonb, npts, sizeof(double), "w_on") || ck_check(&yonb, npts, sizeof(double), "y_on")) {
        ck_release(bufs, 11);
        return NULL;
    }
    if (i1 - lsf_off < 0 || i1 + npts - 1 + lsf_off >= nbig || npts != nx) {
        ck_release(bufs, 11);
        PyErr_SetString(PyExc_ValueError, "spread: the order and its scattering function exceed the extended grid");
        return NULL;
    }
    float *M1 = m1.buf, *M2 = m2.buf, *OB = ob.buf;
    const double *s1 = s1b.buf, *s2 = s2b.buf, *ramp = rb.buf, *w_on = wonb.buf, *y_on = yonb.buf;
    const float *eblaze = eb.buf, *forder = fb.buf, *worder = wb.buf;
    const float *eon = eblaze + i1;
    const Py_ssize_t i2 = i1 + npts - 1;
    int code = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t ipix = i1 - lsf_off; ipix <= i2 + lsf_off && code == 0; ipix++) {
        Py_ssize_t p1 = ipix - lsf_off - i1, p2 = ipix + lsf_off - i1, l1 = 0, l2 = nel - 1;
        if (p1 < 0) {
            l1 = -p1;
            p1 = 0;
        }
        if (p2 > nx - 1) {
            l2 = (nx - 1) + l2 - p2;
            p2 = nx - 1;
        }
        if (p2 < p1) {
            code = 1;
            break;
        }
        if (eblaze[ipix] == 0.0f) {
            code = 2;
            break;
        }
        const float fo = forder[ipix], eb_ = eblaze[ipix];
        const double wo = (double)worder[ipix];
        for (Py_ssize_t ixx = p1; ixx <= p2; ixx++) {
            const Py_ssize_t il = l1 + (ixx - p1);
            if (il >= l2)
                continue;
            const double y = y_on[ixx] - dydw * (w_on[ixx] - wo) + ramp[il];
            if (!(y > -1.0 && y < (double)(ny - 1)))
                continue; /* trunc(y) outside 0 … ny − 2 (or NaN) */
            const Py_ssize_t y1 = (Py_ssize_t)y;
            const double fr2 = y - (double)y1, fr1 = 1.0 - fr2;
            const double f = (double)((fo * eon[ixx]) / eb_);
            const Py_ssize_t a = y1 * nx + ixx, b = a + nx;
            M1[a] = (float)((double)M1[a] + f * s1[il] * fr1);
            M1[b] = (float)((double)M1[b] + f * s1[il] * fr2);
            M2[a] = (float)((double)M2[a] + f * s2[il] * fr1);
            M2[b] = (float)((double)M2[b] + f * s2[il] * fr2);
            if (last) {
                OB[a] = (float)((double)OB[a] + f * s2[il] * fr1);
                OB[b] = (float)((double)OB[b] + f * s2[il] * fr2);
            }
        }
    }
    Py_END_ALLOW_THREADS
    ck_release(bufs, 11);
    return PyLong_FromLong(code);
}

/* back_clip(yy, osci, flagged, nbck, nx, backord, max_clip, bad_flag, out, dqbck): x1d.back_clip_numpy
 *   (HSTCAL cs6/background.c: X1DBack's fits, CalcBack's clipping) column by column — the nbck sampled points
 *   (y, sci in double, flagged) of each column fitted (BACKORD 0: mean; 1: line) in the points' order,
 *   points off the fit by more than 3σ left out of the next pass, up to max_clip passes; a column stops
 *   when fewer than two points are kept or (after the first pass) none was clipped. out is (5, nx):
 *   bck0, bck1, vbck0, vbck1, ebck; dqbck gets bad_flag where over a third of the points were
 *   flagged or clipped in the column's last pass. Double sums in the NumPy code's order; the sum of
 *   squares of sci takes the float square of the float value, as X1DBack does. */
static PyObject *
back_clip(PyObject *self, PyObject *args)
{
    Py_buffer yb = {0}, sb = {0}, fb = {0}, ob = {0}, qb = {0};
    Py_buffer *bufs[] = {&yb, &sb, &fb, &ob, &qb};
    Py_ssize_t nbck, nx;
    int backord, max_clip, bad_flag;
    if (!PyArg_ParseTuple(args, "y*y*y*nniiiw*w*", &yb, &sb, &fb, &nbck, &nx, &backord, &max_clip, &bad_flag, &ob,
                          &qb))
        return NULL;
    if (ck_check(&yb, nbck * nx, sizeof(double), "yy") || ck_check(&sb, nbck * nx, sizeof(double), "osci") ||
        ck_check(&fb, nbck * nx, 1, "flagged") || ck_check(&ob, 5 * nx, sizeof(double), "out") ||
        ck_check(&qb, nx, sizeof(uint16_t), "dqbck")) {
        ck_release(bufs, 5);
        return NULL;
    }
    const double *Y = yb.buf, *S = sb.buf;
    const unsigned char *F = fb.buf;
    double *out = ob.buf;
    uint16_t *dqbck = qb.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t c = 0; c < nx; c++) {
        double bck0 = 0.0, bck1 = 0.0, vbck0 = 0.0, vbck1 = 0.0, ebck = 0.0;
        double sigma = DBL_MAX / 3.1;
        uint16_t dq = 0;
        for (int iclip = 1; iclip <= max_clip; iclip++) {
            double npts = 0.0, sx = 0.0, sy = 0.0, sx2 = 0.0, sy2 = 0.0, sxy = 0.0, new_sigma = 0.0;
            Py_ssize_t nf = 0, ns = 0;
            for (Py_ssize_t p = 0; p < nbck; p++) {
                const double yy = Y[p * nx + c], o = S[p * nx + c];
                const int flagged = F[p * nx + c] != 0;
                const double residual = fabs(o - (bck0 + bck1 * yy));
                const int keep = !flagged && residual <= 3.0 * sigma;
                if (keep) {
                    const float o32 = (float)o;
                    npts = npts + 1.0;
                    sx = sx + yy;
                    sy = sy + o;
                    sx2 = sx2 + yy * yy;
                    sxy = sxy + yy * o;
                    sy2 = sy2 + (double)(o32 * o32);
                    new_sigma = new_sigma + residual * residual;
                }
                nf += flagged;
                ns += !flagged && !keep;
            }
            const float frac = (float)(nf + ns) / (float)nbck;
            const uint16_t dq_it = frac > 0.33333f ? (uint16_t)bad_flag : 0;
            double c0, c1, v0, v1;
            if (backord == 1) {
                const double delta = npts * sx2 - sx * sx;
                const int okd = fabs(delta) > 0.0;
                c0 = okd ? (sx2 * sy - sx * sxy) / delta : 0.0;
                c1 = okd ? (sxy * npts - sx * sy) / delta : 0.0;
                v0 = okd ? sx2 / delta : 0.0;
                v1 = okd ? npts / delta : 0.0;
            } else {
                c0 = npts > 0.0 ? sy / npts : 0.0;
                v0 = npts > 1.0 ? (sy2 - sy * sy / npts) / (npts - 1.0) : 0.0;
                c1 = 0.0;
                v1 = 0.0;
            }
            const int more = npts > 1.0;
            const double new_sig = more ? sqrt(new_sigma / (npts - 1.0)) : sigma;
            bck0 = c0;
            bck1 = c1;
            vbck0 = v0;
            vbck1 = v1;
            dq = dq_it;
            if (more) {
                ebck = new_sig;
                sigma = new_sig;
            }
            if (!more || (ns == 0 && iclip > 1))
                break;
        }
        out[c] = bck0;
        out[nx + c] = bck1;
        out[2 * nx + c] = vbck0;
        out[3 * nx + c] = vbck1;
        out[4 * nx + c] = ebck;
        dqbck[c] = dq;
    }
    Py_END_ALLOW_THREADS
    ck_release(bufs, 5);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"good_stats", good_stats, METH_VARARGS,
     "good_stats(sci, err, dq, sdqflags) -> (n, smin, smax, ssum, emin, emax, esum, rmin, rmax, rsum)"},
    {"noise_ccd", noise_ccd, METH_VARARGS, "noise_ccd(sci, err, bias, gain, readnoise): err written"},
    {"sub2d", sub2d, METH_VARARGS, "sub2d(sci, err, dq, rsci, rerr, rdq) in place"},
    {"div2d", div2d, METH_VARARGS, "div2d(sci, err, dq, fsci, ferr, fdq, calibdefect) in place"},
    {"mult2d", mult2d, METH_VARARGS, "mult2d(asci, aerr, adq, bsci, berr, bdq) in place"},
    {"dopp_conv", dopp_conv, METH_VARARGS, "dopp_conv(sci, err, dq, ny, nx, ds, kmin, kmax, d0, border) in place"},
    {"bin2d_sums", bin2d_sums, METH_VARARGS,
     "bin2d_sums(sci, err, dq, in_ny, in_nx, x0, y0, binx, biny, out_s, out_e2, out_d, ny, nx)"},
    {"unbin2d_rows", unbin2d_rows, METH_VARARGS,
     "unbin2d_rows(sci, err, iny, inx, ii, p, q, jj, r, s, out_s, out_e, nrows, onx)"},
    {"ocr_tests", ocr_tests, METH_VARARGS,
     "ocr_tests(sci, ave, avevar, pic, hitc, spill_ok, sig2, rog2, exp2, efac, sky, gain, scale, psig2)"},
    {"ocr_accumulate", ocr_accumulate, METH_VARARGS,
     "ocr_accumulate(pic, good, total, efacsum, sumvar, sig2, rog2, exp2, efac, sky, gain, scale, psig2)"},
    {"interp2d", interp2d, METH_VARARGS,
     "interp2d(sci, err, dq, iny, inx, ix, iy, sdqflags, detectorprob, osci, oerr, odq)"},
    {"sky_stats", sky_stats, METH_VARARGS, "sky_stats(sci, dq) -> (npt, any_nan, vmin, total)"},
    {"sky_hist", sky_hist, METH_VARARGS, "sky_hist(sci, dq, lo, hist): hist counted"},
    {"cfft", cfft, METH_VARARGS, "cfft(re, im, batch, n, factors, wr, wi, forward) in place"},
    {"sum_between", sum_between, METH_VARARGS, "sum_between(edges, flux, wl_edges, tspec): tspec written"},
    {"eval_inv_disp", eval_inv_disp, METH_VARARGS,
     "eval_inv_disp(c, ncoeff, m, pixel, wl_estimate, tolerance, too_far, wl_step, max_iter) -> (wl, status, warn)"},
    {"wave_row", wave_row, METH_VARARGS,
     "wave_row(c, ncoeff, m, nx, ltv, ltm, cenwave, tol, too_far, wl_step, max_iter, hfactor, use_h, wave, status, warn)"},
    {"fft2d", fft2d, METH_VARARGS, "fft2d(re, im, ny, nx, facx, wrx, wix, facy, wry, wiy, forward, norm, nthreads, x0, x1) in place"},
    {"mul_shift", mul_shift, METH_VARARGS, "mul_shift(re, im, kr, ki, ny, nx): complex product and FFTShift in place"},
    {"interp_run", interp_run, METH_VARARGS, "interp_run(xs, begin, x, y, bounded, lo, hi, out) -> last index"},
    {"spread", spread, METH_VARARGS,
     "spread(mod1, mod2, obj, ny, nx, last, s1, s2, ramp, eblaze, forder, worder, w_on, y_on, dydw, i1) -> code"},
    {"back_clip", back_clip, METH_VARARGS,
     "back_clip(yy, osci, flagged, nbck, nx, backord, max_clip, bad_flag, out, dqbck): clipped background fits"},
    {NULL, NULL, 0, NULL},
};

CK_MODULE(_kernels, methods, "STIS kernels: calstis1, OCRREJECT, calstis4/6/7 steps (C; the NumPy code is the reference).")
