/* caldp C kernels: ACSCCD and ACS2D per-pixel passes. See caldp/engines/common/ckernel.h.
 *
 * Each kernel is the fused form of NumPy code kept in the step modules (dqicorr, biascorr, noise,
 * postsm4, darkcorr, flshcorr, flatcorr, shadcorr), which stays the reference: the arithmetic here
 * follows it operation by operation, float32 where it is float32 (C `float`, no promotion: every
 * literal mixed with a float is written with an `f` suffix), float64 where it converts to float64.
 * Arrays are modified in place (the engines own their working arrays). Every loop runs without the
 * GIL so the engines' chip/amp/strip threads use both cores.
 */
#include "ckernel.h"

#include <math.h>
#include <string.h>

#define DQ_SATPIXEL 256u
#define DQ_BADFLAT 512u
#define DQ_ATODSAT 2048u
#define NBIAS_COLS 24

/* ------------------------------------------------------------------------------------------ */
/* Optional buffers: None gives an empty Py_buffer (obj == NULL, buf == NULL). */

static int
get_buffer(PyObject *obj, Py_buffer *b, int writable, Py_ssize_t n, Py_ssize_t size, const char *what)
{
    memset(b, 0, sizeof(*b));
    if (obj == Py_None)
        return 0;
    if (PyObject_GetBuffer(obj, b, (writable ? PyBUF_WRITABLE : 0) | PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (n >= 0 && ck_check(b, n, size, what) < 0)
        return -1;
    return 0;
}

/* Read-only reference buffers: `n` items, or a single item standing for a constant image (a
 * reference extension stored as PIXVALUE); *step is 1 or 0, the index multiplier. */
static int
get_ref(PyObject *obj, Py_buffer *b, Py_ssize_t n, Py_ssize_t size, Py_ssize_t *step, const char *what)
{
    *step = 1;
    if (get_buffer(obj, b, 0, -1, size, what) < 0)
        return -1;
    if (b->buf != NULL && b->len == size && n != 1) {
        *step = 0;
        return 0;
    }
    return b->buf != NULL ? ck_check(b, n, size, what) : 0;
}

/* Amp arrays of the post-SM4 code: the amp's pixel (i, j) is chip pixel (ny-1-i or i, nx-1-j or j). */
typedef struct {
    float *chip;
    Py_ssize_t ny, nx, ncols;
    int flip_rows, flip_cols;
} AmpView;

static inline float *
amp_row(const AmpView *v, Py_ssize_t i)
{
    return v->chip + (v->flip_rows ? v->ny - 1 - i : i) * v->nx;
}

static inline Py_ssize_t
amp_col(const AmpView *v, Py_ssize_t j)
{
    return v->flip_cols ? v->nx - 1 - j : j;
}

/* ------------------------------------------------------------------------------------------ */
/* DQICORR A-to-D saturation: DQ |= ATODSAT where SCI >= ATODSAT (the CCDTAB integer compared as
 * float32, as NumPy does with a Python int and a float32 array). Returns the non-zero DQ counts
 * before and after, which the driver logs as the number of pixels flagged. */

static PyObject *
atod_flag(PyObject *self, PyObject *args)
{
    Py_buffer sci = {0}, dq = {0};
    Py_ssize_t n;
    long long atodsat;
    if (!PyArg_ParseTuple(args, "y*w*nL", &sci, &dq, &n, &atodsat))
        return NULL;
    Py_buffer *bufs[] = {&sci, &dq};
    if (ck_check(&sci, n, 4, "sci") < 0 || ck_check(&dq, n, 2, "dq") < 0) {
        ck_release(bufs, 2);
        return NULL;
    }
    const float *s = sci.buf;
    uint16_t *d = dq.buf;
    const float limit = (float)atodsat;
    Py_ssize_t before = 0, after = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        before += d[i] != 0;
        if (s[i] >= limit)
            d[i] |= DQ_ATODSAT;
        after += d[i] != 0;
    }
    Py_END_ALLOW_THREADS
    ck_release(bufs, 2);
    return Py_BuildValue("nn", before, after);
}

/* ------------------------------------------------------------------------------------------ */
/* DQICORR's ATODSAT flag, BIASCORR and the gain conversion in one pass (dqicorr.flag_atod_saturation,
 * biascorr.subtract_bias, noise.to_electrons), after the caller has ORed the BPIXTAB rows into DQ
 * (OR commutes, so the order of the flags does not matter):
 *   DQ |= ATODSAT where raw SCI >= ATODSAT (the CCDTAB integer compared as float32, as NumPy does)
 *   SCI = f32(SCI - B) * g;  ERR = sqrt(f32(ERR*ERR) + f32(Be*Be)) * g;  DQ |= Bdq
 * g is the gain of the amp quadrant (rows < ampy: slots 2/3, else 0/1; columns < ampx the first).
 * (do_atod, atodsat): the flag and its level; bias None skips BIASCORR, do_gain 0 the conversion. Returns the number
 * of non-zero DQ values at the end of DQICORR (before the bias DQ is ORed in). */

typedef struct {
    int atod, bias, gain;
    float limit;
} BiasGain;

static Py_ssize_t
bias_gain_span(const BiasGain *o, float *s, float *e, uint16_t *d, const float *B, const float *BE,
               const uint16_t *BD, Py_ssize_t n, float g)
{
    Py_ssize_t nonzero = 0;
    for (Py_ssize_t x = 0; x < n; x++) {
        float sv = s[x], ev = e[x];
        uint16_t dv = d[x];
        if (o->atod)
            dv = (uint16_t)(dv | (sv >= o->limit ? DQ_ATODSAT : 0u));
        nonzero += dv != 0;
        if (o->bias) {
            sv = sv - B[x];
            ev = sqrtf(ev * ev + BE[x] * BE[x]);
            dv = (uint16_t)(dv | BD[x]);
        }
        if (o->gain) {
            sv = sv * g;
            ev = ev * g;
        }
        s[x] = sv;
        e[x] = ev;
        d[x] = dv;
    }
    return nonzero;
}

/* A reference row source: the array's row, or a row filled with its single value (constant). */
typedef struct {
    const void *base;
    Py_ssize_t rowstep; /* bytes between rows: 0 for a constant */
    void *tmp;
} RowSrc;

static int
row_src(RowSrc *r, const Py_buffer *b, Py_ssize_t step, Py_ssize_t nx, Py_ssize_t itemsize)
{
    r->tmp = NULL;
    r->base = b->buf;
    r->rowstep = nx * itemsize;
    if (b->buf == NULL || step != 0)
        return 0;
    r->tmp = PyMem_RawMalloc((size_t)(nx * itemsize) + 1);
    if (r->tmp == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t x = 0; x < nx; x++)
        memcpy((char *)r->tmp + x * itemsize, b->buf, (size_t)itemsize);
    r->base = r->tmp;
    r->rowstep = 0;
    return 0;
}

static inline const void *
row_at(const RowSrc *r, Py_ssize_t y, Py_ssize_t offset)
{
    return r->base == NULL ? NULL : (const char *)r->base + y * r->rowstep + offset;
}

static PyObject *
bias_gain(PyObject *self, PyObject *args)
{
    Py_buffer sci = {0}, err = {0}, dq = {0}, b = {0}, be = {0}, bd = {0};
    PyObject *ob, *obe, *obd, *ret = NULL;
    Py_ssize_t ny, nx, ampx, ampy;
    int do_gain, do_atod;
    long long atodsat;
    float g[4];
    RowSrc rb = {0}, rbe = {0}, rbd = {0};
    if (!PyArg_ParseTuple(args, "w*w*w*(pL)OOOnnnnp(ffff)", &sci, &err, &dq, &do_atod, &atodsat, &ob, &obe, &obd, &ny,
                          &nx, &ampx, &ampy, &do_gain, &g[0], &g[1], &g[2], &g[3]))
        return NULL;
    Py_buffer *bufs[] = {&sci, &err, &dq, &b, &be, &bd};
    Py_ssize_t n = ny * nx, bst, best, bdst;
    if (ck_check(&sci, n, 4, "sci") < 0 || ck_check(&err, n, 4, "err") < 0 || ck_check(&dq, n, 2, "dq") < 0 ||
        get_ref(ob, &b, n, 4, &bst, "bias") < 0 || get_ref(obe, &be, n, 4, &best, "bias err") < 0 ||
        get_ref(obd, &bd, n, 2, &bdst, "bias dq") < 0)
        goto done;
    if ((b.buf == NULL) != (be.buf == NULL) || (b.buf == NULL) != (bd.buf == NULL)) {
        PyErr_SetString(PyExc_ValueError, "bias_gain: give all three bias arrays or none");
        goto done;
    }
    if (row_src(&rb, &b, bst, nx, 4) < 0 || row_src(&rbe, &be, best, nx, 4) < 0 || row_src(&rbd, &bd, bdst, nx, 2) < 0)
        goto done;
    const BiasGain o = {do_atod, b.buf != NULL, do_gain, (float)atodsat};
    const Py_ssize_t split = ampx < 0 ? 0 : (ampx > nx ? nx : ampx);
    Py_ssize_t nonzero = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t y = 0; y < ny; y++) {
        float *s = (float *)sci.buf + y * nx, *e = (float *)err.buf + y * nx;
        uint16_t *d = (uint16_t *)dq.buf + y * nx;
        const float gl = y < ampy ? g[2] : g[0], gr = y < ampy ? g[3] : g[1];
        nonzero += bias_gain_span(&o, s, e, d, row_at(&rb, y, 0), row_at(&rbe, y, 0), row_at(&rbd, y, 0), split, gl);
        nonzero += bias_gain_span(&o, s + split, e + split, d + split, row_at(&rb, y, 4 * split),
                                  row_at(&rbe, y, 4 * split), row_at(&rbd, y, 2 * split), nx - split, gr);
    }
    Py_END_ALLOW_THREADS
    ret = PyLong_FromSsize_t(nonzero);
done:
    PyMem_RawFree(rb.tmp);
    PyMem_RawFree(rbe.tmp);
    PyMem_RawFree(rbd.tmp);
    ck_release(bufs, 6);
    return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* Full-well saturation and ERR initialisation in one pass (acsccd._fullwell, noise.init_error):
 *   DQ |= SATPIXEL where SCI > SAT over the science region (SAT read from the SATUFILE array at
 *   its own offset);  ERR = sqrt(f32(f32(max(SCI, 0) + f32(rn*rn)) + f32(ERR*ERR)))  (or rn for a
 *   BIAS target). sat may be None. Returns the number of pixels newly flagged SATPIXEL. */

/* DQ |= SATPIXEL where s > sat over one span of a row (sat_step 0: one constant value); returns the
 * number of pixels newly flagged. Branch-free so that it vectorises. */
static Py_ssize_t
flag_saturated(const float *s, uint16_t *d, const float *sat, Py_ssize_t sat_step, Py_ssize_t n)
{
    Py_ssize_t count = 0;
    if (sat_step == 0) {
        const float limit = sat[0];
        for (Py_ssize_t x = 0; x < n; x++) {
            const int hit = s[x] > limit;
            count += hit & ((d[x] & DQ_SATPIXEL) == 0);
            d[x] |= hit ? DQ_SATPIXEL : 0u;
        }
    } else {
        for (Py_ssize_t x = 0; x < n; x++) {
            const int hit = s[x] > sat[x];
            count += hit & ((d[x] & DQ_SATPIXEL) == 0);
            d[x] |= hit ? DQ_SATPIXEL : 0u;
        }
    }
    return count;
}

/* ERR over one span of a row read by one amp: sqrt(f32(f32(max(s, 0) + f32(r*r)) + f32(e*e))),
 * or r for a BIAS target. max keeps a NaN (as np.maximum). */
static void
init_error_span(const float *s, float *e, Py_ssize_t n, float r, int bias_target)
{
    if (bias_target) {
        for (Py_ssize_t x = 0; x < n; x++)
            e[x] = r;
        return;
    }
    const float r2 = r * r;
    for (Py_ssize_t x = 0; x < n; x++) {
        const float v = s[x] < 0.0f ? 0.0f : s[x];
        e[x] = sqrtf((v + r2) + e[x] * e[x]);
    }
}

/* Full-well flags and ERR of one row held in `s`/`e`/`d` (image columns c0 .. c0+n-1 of image row y). */
static Py_ssize_t
fullwell_row(const float *s, float *e, uint16_t *d, Py_ssize_t y, Py_ssize_t c0, Py_ssize_t n, const float *sa,
             Py_ssize_t sst, Py_ssize_t snx, Py_ssize_t iy0, Py_ssize_t ix0, Py_ssize_t sy0, Py_ssize_t sx0,
             Py_ssize_t ydim, Py_ssize_t xdim, Py_ssize_t ampx, Py_ssize_t ampy, const float *rn, int bias_target)
{
    Py_ssize_t nsat = 0;
    if (sa != NULL && y >= iy0 && y < iy0 + ydim) {
        const Py_ssize_t lo = ix0 > c0 ? ix0 : c0, hi = ix0 + xdim < c0 + n ? ix0 + xdim : c0 + n;
        if (hi > lo) {
            const Py_ssize_t sbase = sst ? (sy0 + y - iy0) * snx + sx0 + (lo - ix0) : 0;
            nsat = flag_saturated(s + (lo - c0), d + (lo - c0), sa + sbase, sst, hi - lo);
        }
    }
    Py_ssize_t split = ampx - c0;
    split = split < 0 ? 0 : (split > n ? n : split);
    const float rl = y < ampy ? rn[2] : rn[0], rr = y < ampy ? rn[3] : rn[1];
    init_error_span(s, e, split, rl, bias_target);
    init_error_span(s + split, e + split, n - split, rr, bias_target);
    return nsat;
}

/* Full-well saturation and ERR initialisation, in place, or (out = (sci, err, dq, y0, x0)) written
 * to new arrays holding the section [y0:y0+ony, x0:x0+onx] (the overscan trim, done in the same
 * pass instead of a copy afterwards). */
static PyObject *
fullwell_noise(PyObject *self, PyObject *args)
{
    Py_buffer sci = {0}, err = {0}, dq = {0}, sat = {0}, os = {0}, oe = {0}, od = {0};
    PyObject *osat, *oout;
    Py_ssize_t ny, nx, ampx, ampy, sny, snx, iy0, ix0, sy0, sx0, ydim, xdim, ty0 = 0, tx0 = 0, ony, onx;
    int bias_target;
    float rn[4];
    PyObject *ret = NULL;
    if (!PyArg_ParseTuple(args, "y*w*w*Onnnn(ffff)p(nn)(nn)(nn)(nn)O", &sci, &err, &dq, &osat, &ny, &nx, &ampx,
                          &ampy, &rn[0], &rn[1], &rn[2], &rn[3], &bias_target, &sny, &snx, &iy0, &ix0, &sy0, &sx0,
                          &ydim, &xdim, &oout))
        return NULL;
    Py_buffer *bufs[] = {&sci, &err, &dq, &sat, &os, &oe, &od};
    Py_ssize_t n = ny * nx, sst;
    ony = ny, onx = nx;
    if (ck_check(&sci, n, 4, "sci") < 0 || ck_check(&err, n, 4, "err") < 0 || ck_check(&dq, n, 2, "dq") < 0 ||
        get_ref(osat, &sat, sny * snx, 4, &sst, "saturation image") < 0)
        goto done;
    if (sat.buf != NULL && (iy0 < 0 || ix0 < 0 || sy0 < 0 || sx0 < 0 || ydim < 0 || xdim < 0 || iy0 + ydim > ny ||
                            ix0 + xdim > nx || sy0 + ydim > sny || sx0 + xdim > snx)) {
        PyErr_SetString(PyExc_ValueError, "fullwell_noise: saturation region outside an array");
        goto done;
    }
    if (oout != Py_None) {
        PyObject *o1, *o2, *o3;
        if (!PyArg_ParseTuple(oout, "OOO(nn)(nn)", &o1, &o2, &o3, &ty0, &tx0, &ony, &onx))
            goto done;
        if (ty0 < 0 || tx0 < 0 || ony < 0 || onx < 0 || ty0 + ony > ny || tx0 + onx > nx) {
            PyErr_SetString(PyExc_ValueError, "fullwell_noise: output section outside the image");
            goto done;
        }
        if (get_buffer(o1, &os, 1, ony * onx, 4, "out sci") < 0 || get_buffer(o2, &oe, 1, ony * onx, 4, "out err") < 0 ||
            get_buffer(o3, &od, 1, ony * onx, 2, "out dq") < 0)
            goto done;
        if (os.buf == NULL || oe.buf == NULL || od.buf == NULL) {
            PyErr_SetString(PyExc_ValueError, "fullwell_noise: give three output arrays");
            goto done;
        }
    }
    const float *sa = sat.buf;
    Py_ssize_t nsat = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < ony; r++) {
        const Py_ssize_t y = r + ty0;
        float *s = (float *)sci.buf + y * nx + tx0, *e = (float *)err.buf + y * nx + tx0;
        uint16_t *d = (uint16_t *)dq.buf + y * nx + tx0;
        if (os.buf != NULL) { /* copy the section's row, then work on the copy */
            float *s2 = (float *)os.buf + r * onx, *e2 = (float *)oe.buf + r * onx;
            uint16_t *d2 = (uint16_t *)od.buf + r * onx;
            memcpy(s2, s, (size_t)onx * 4);
            memcpy(e2, e, (size_t)onx * 4);
            memcpy(d2, d, (size_t)onx * 2);
            s = s2, e = e2, d = d2;
        }
        nsat += fullwell_row(s, e, d, y, tx0, onx, sa, sst, snx, iy0, ix0, sy0, sx0, ydim, xdim, ampx, ampy, rn,
                             bias_target);
    }
    Py_END_ALLOW_THREADS
    ret = PyLong_FromSsize_t(nsat);
done:
    ck_release(bufs, 7);
    return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* Post-SM4 bias shift of one amp (postsm4.bias_shift), straight from and back to the float32 chip.
 * The amp rows, each followed by `ngap` samples equal to the magic-square mean m1, form one
 * sequence g; the DC level follows dc[k+1] = f32-free float64 (g[k]*f)*ratio + (1-f)*dc[k] from
 * dc[0] = m1*ratio, and g' = (g - dc[k+1]*dsi) - (dc[k+1] - dc[k])*kdiff. The output is
 * f32(g' - m2) with m2 the magic-square mean of g'. The recursion is run twice (once up to the
 * magic square for m2, once to write) rather than keeping a float64 copy of the amp. */

typedef struct {
    double f, c, ratio, dsi, kdiff, dc0, xpad, m1;
    Py_ssize_t ngap;
} ShiftPars;

static double
magic_sum_input(const AmpView *v, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t c0, Py_ssize_t c1)
{
    double sum = 0.0;
    for (Py_ssize_t i = r0; i < r1; i++) {
        const float *row = amp_row(v, i);
        for (Py_ssize_t j = c0; j < c1; j++)
            sum += (double)row[amp_col(v, j)];
    }
    return sum;
}

/* Run the recursion over rows [0, nrows); if `out` is NULL sum g' over the magic square, else
 * write f32(g' - m2) to the chip. */
static double
shift_pass(const AmpView *v, const ShiftPars *p, Py_ssize_t nrows, int write, double m2, Py_ssize_t r0,
           Py_ssize_t c0, Py_ssize_t c1)
{
    double dc = p->dc0, msum = 0.0;
    for (Py_ssize_t i = 0; i < nrows; i++) {
        float *row = amp_row(v, i);
        const int magic = i >= r0;
        for (Py_ssize_t j = 0; j < v->ncols; j++) {
            const Py_ssize_t col = amp_col(v, j);
            const double g = (double)row[col];
            const double dn = (g * p->f) * p->ratio + p->c * dc;
            const double out = (g - dn * p->dsi) - (dn - dc) * p->kdiff;
            dc = dn;
            if (write)
                row[col] = (float)(out - m2);
            else if (magic && j >= c0 && j < c1)
                msum += out;
        }
        for (Py_ssize_t j = 0; j < p->ngap; j++)
            dc = p->xpad + p->c * dc;
    }
    return msum;
}

/* shift_pass for two amps of the same geometry in one loop: each recursion is a chain of dependent
 * float64 multiply-adds (latency-bound), so two independent chains share a core at almost no cost.
 * Each amp's arithmetic is exactly that of shift_pass. */
static void
shift_pass_pair(const AmpView *v, const ShiftPars *p, Py_ssize_t nrows, int write, const double *m2, Py_ssize_t r0,
                Py_ssize_t c0, Py_ssize_t c1, double *msum)
{
    const AmpView *va = &v[0], *vb = &v[1];
    const ShiftPars *pa = &p[0], *pb = &p[1];
    double dca = pa->dc0, dcb = pb->dc0, sa = 0.0, sb = 0.0;
    for (Py_ssize_t i = 0; i < nrows; i++) {
        float *rowa = amp_row(va, i), *rowb = amp_row(vb, i);
        const int magic = i >= r0;
        for (Py_ssize_t j = 0; j < va->ncols; j++) {
            const Py_ssize_t cola = amp_col(va, j), colb = amp_col(vb, j);
            const double ga = (double)rowa[cola], gb = (double)rowb[colb];
            const double dna = (ga * pa->f) * pa->ratio + pa->c * dca;
            const double dnb = (gb * pb->f) * pb->ratio + pb->c * dcb;
            const double outa = (ga - dna * pa->dsi) - (dna - dca) * pa->kdiff;
            const double outb = (gb - dnb * pb->dsi) - (dnb - dcb) * pb->kdiff;
            dca = dna;
            dcb = dnb;
            if (write) {
                rowa[cola] = (float)(outa - m2[0]);
                rowb[colb] = (float)(outb - m2[1]);
            } else if (magic && j >= c0 && j < c1) {
                sa += outa;
                sb += outb;
            }
        }
        for (Py_ssize_t j = 0; j < pa->ngap; j++) {
            dca = pa->xpad + pa->c * dca;
            dcb = pb->xpad + pb->c * dcb;
        }
    }
    msum[0] = sa;
    msum[1] = sb;
}

/* bias_shift of two amps at once (same geometry; they may share a chip array, as A and B do):
 * bias_shift_pair(chip_a, chip_b, ny, nx, ncols, (flip_rows_a, flip_cols_a), (flip_rows_b, flip_cols_b),
 *                 pars_a, pars_b, ngap, magic) -> (m2_a, m2_b). */
static PyObject *
bias_shift_pair(PyObject *self, PyObject *args)
{
    Py_buffer chip[2] = {{0}, {0}};
    AmpView v[2];
    ShiftPars p[2];
    Py_ssize_t ny, nx, ncols, r0, r1, c0, c1;
    if (!PyArg_ParseTuple(args, "w*w*nnn(pp)(pp)(ddddd)(ddddd)n(nnnn)", &chip[0], &chip[1], &ny, &nx, &ncols,
                          &v[0].flip_rows, &v[0].flip_cols, &v[1].flip_rows, &v[1].flip_cols, &p[0].f, &p[0].c,
                          &p[0].ratio, &p[0].dsi, &p[0].kdiff, &p[1].f, &p[1].c, &p[1].ratio, &p[1].dsi, &p[1].kdiff,
                          &p[0].ngap, &r0, &r1, &c0, &c1))
        return NULL;
    Py_buffer *bufs[] = {&chip[0], &chip[1]};
    if (ck_check(&chip[0], ny * nx, 4, "chip a") < 0 || ck_check(&chip[1], ny * nx, 4, "chip b") < 0) {
        ck_release(bufs, 2);
        return NULL;
    }
    if (ncols > nx || r0 < 0 || r1 > ny || r0 >= r1 || c0 < 0 || c1 > ncols || c0 >= c1) {
        ck_release(bufs, 2);
        PyErr_SetString(PyExc_ValueError, "bias_shift_pair: magic square outside the amp");
        return NULL;
    }
    const double count = (double)((r1 - r0) * (c1 - c0));
    double m2[2], sums[2];
    Py_BEGIN_ALLOW_THREADS
    for (int a = 0; a < 2; a++) {
        v[a].chip = chip[a].buf, v[a].ny = ny, v[a].nx = nx, v[a].ncols = ncols;
        p[a].ngap = p[0].ngap;
        p[a].m1 = magic_sum_input(&v[a], r0, r1, c0, c1) / count;
        p[a].dc0 = p[a].m1 * p[a].ratio;
        p[a].xpad = (p[a].m1 * p[a].f) * p[a].ratio;
    }
    shift_pass_pair(v, p, r1, 0, NULL, r0, c0, c1, sums);
    m2[0] = sums[0] / count;
    m2[1] = sums[1] / count;
    shift_pass_pair(v, p, ny, 1, m2, r0, c0, c1, sums);
    Py_END_ALLOW_THREADS
    ck_release(bufs, 2);
    return Py_BuildValue("dd", m2[0], m2[1]);
}

static PyObject *
bias_shift(PyObject *self, PyObject *args)
{
    Py_buffer chip = {0};
    AmpView v;
    ShiftPars p;
    Py_ssize_t r0, r1, c0, c1;
    if (!PyArg_ParseTuple(args, "w*nnnpp(ddddd)n(nnnn)", &chip, &v.ny, &v.nx, &v.ncols, &v.flip_rows, &v.flip_cols,
                          &p.f, &p.c, &p.ratio, &p.dsi, &p.kdiff, &p.ngap, &r0, &r1, &c0, &c1))
        return NULL;
    Py_buffer *bufs[] = {&chip};
    if (ck_check(&chip, v.ny * v.nx, 4, "chip") < 0) {
        ck_release(bufs, 1);
        return NULL;
    }
    if (v.ncols > v.nx || r0 < 0 || r1 > v.ny || r0 >= r1 || c0 < 0 || c1 > v.ncols || c0 >= c1) {
        ck_release(bufs, 1);
        PyErr_SetString(PyExc_ValueError, "bias_shift: magic square outside the amp");
        return NULL;
    }
    v.chip = chip.buf;
    const double count = (double)((r1 - r0) * (c1 - c0));
    double m1, m2;
    Py_BEGIN_ALLOW_THREADS
    m1 = magic_sum_input(&v, r0, r1, c0, c1) / count;
    p.m1 = m1;
    p.dc0 = m1 * p.ratio;
    p.xpad = (m1 * p.f) * p.ratio;
    m2 = shift_pass(&v, &p, r1, 0, 0.0, r0, c0, c1) / count;
    shift_pass(&v, &p, v.ny, 1, m2, r0, c0, c1);
    Py_END_ALLOW_THREADS
    ck_release(bufs, 1);
    return PyFloat_FromDouble(m2);
}

/* ------------------------------------------------------------------------------------------ */
/* Cross-talk (postsm4.cross_talk), in place along each row: the left half first (from the still
 * uncorrected right half), the middle column of an odd width from itself, then the right half from
 * the corrected left half; each term is f32(f64(mirror) * scale) added in float32. */

static PyObject *
cross_talk(PyObject *self, PyObject *args)
{
    Py_buffer chip = {0};
    Py_ssize_t ny, nx;
    double scale;
    if (!PyArg_ParseTuple(args, "w*nnd", &chip, &ny, &nx, &scale))
        return NULL;
    Py_buffer *bufs[] = {&chip};
    if (ck_check(&chip, ny * nx, 4, "chip") < 0) {
        ck_release(bufs, 1);
        return NULL;
    }
    float *s = chip.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t y = 0; y < ny; y++) {
        float *row = s + y * nx;
        Py_ssize_t half = nx / 2;
        for (Py_ssize_t j = 0; j < half; j++)
            row[j] = row[j] + (float)((double)row[nx - 1 - j] * scale);
        if (nx % 2) {
            row[half] = row[half] + (float)((double)row[half] * scale);
            half += 1;
        }
        for (Py_ssize_t j = half; j < nx; j++)
            row[j] = row[j] + (float)((double)row[nx - 1 - j] * scale);
    }
    Py_END_ALLOW_THREADS
    ck_release(bufs, 1);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------ */
/* Destripe row statistics (postsm4.find_good_rows) over the science columns of an amp:
 *   amp_sum = sum over rows < nsci, columns >= 24, row-major, of (f64(x) - bias_mean)
 *   row_sum[i] (i >= 1) = sum over columns >= 24 of (f64(x) - row_ref[i])
 * sequential float64 sums as HSTCAL's loops. */

static PyObject *
stripe_rows(PyObject *self, PyObject *args)
{
    Py_buffer chip = {0}, ref = {0}, rsum = {0};
    AmpView v;
    Py_ssize_t nsci;
    double bias_mean;
    if (!PyArg_ParseTuple(args, "y*nnnppy*w*nd", &chip, &v.ny, &v.nx, &v.ncols, &v.flip_rows, &v.flip_cols, &ref,
                          &rsum, &nsci, &bias_mean))
        return NULL;
    Py_buffer *bufs[] = {&chip, &ref, &rsum};
    if (ck_check(&chip, v.ny * v.nx, 4, "chip") < 0 || ck_check(&ref, v.ny, 8, "row_ref") < 0 ||
        ck_check(&rsum, v.ny, 8, "row_sum") < 0) {
        ck_release(bufs, 3);
        return NULL;
    }
    if (v.ncols > v.nx || nsci > v.ny) {
        ck_release(bufs, 3);
        PyErr_SetString(PyExc_ValueError, "stripe_rows: bad amp geometry");
        return NULL;
    }
    v.chip = chip.buf;
    const double *rr = ref.buf;
    double *rs = rsum.buf;
    double amp_sum = 0.0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < v.ny; i++) {
        const float *row = amp_row(&v, i);
        double s = 0.0;
        if (i < nsci) { /* one running sum over all rows, as HSTCAL's loop */
            for (Py_ssize_t j = NBIAS_COLS; j < v.ncols; j++) {
                const double x = (double)row[amp_col(&v, j)];
                s += x - rr[i];
                amp_sum += x - bias_mean;
            }
        } else {
            for (Py_ssize_t j = NBIAS_COLS; j < v.ncols; j++)
                s += (double)row[amp_col(&v, j)] - rr[i];
        }
        rs[i] = i > 0 ? s : 0.0;
    }
    Py_END_ALLOW_THREADS
    ck_release(bufs, 3);
    return PyFloat_FromDouble(amp_sum);
}

/* ------------------------------------------------------------------------------------------ */
/* Destripe prescan statistics on the caller's float64 copy of an amp's first `w` (>= 30) columns.
 * Every sum is sequential float64 in the order of the NumPy reference (np.cumsum). */

/* postsm4._clipped_mean: mean, then 4 passes keeping |x - mean| <= sig*std (std about the previous
 * mean); x is column `col` of the rows with use[i] != 0. */
static double
clipped_mean(const double *a, Py_ssize_t ny, Py_ssize_t w, Py_ssize_t col, const double *rowmean,
             const uint8_t *use, double sig)
{
    Py_ssize_t n = 0;
    double sum = 0.0, sq = 0.0;
    for (Py_ssize_t i = 0; i < ny; i++)
        if (use[i]) {
            sum += a[i * w + col] - rowmean[i];
            n++;
        }
    double mean = sum / (double)n;
    for (Py_ssize_t i = 0; i < ny; i++)
        if (use[i]) {
            const double d = (a[i * w + col] - rowmean[i]) - mean;
            sq += d * d;
        }
    double std = sqrt(sq / (double)(n - 1));
    for (int pass = 0; pass < 4; pass++) {
        double s_mean = 0.0, s_std = 0.0;
        Py_ssize_t nused = 0;
        for (Py_ssize_t i = 0; i < ny; i++) {
            if (!use[i])
                continue;
            const double x = a[i * w + col] - rowmean[i];
            if (fabs(x - mean) <= sig * std) {
                s_mean += x;
                s_std += (x - mean) * (x - mean);
                nused++;
            }
        }
        mean = nused ? s_mean / (double)nused : NAN;
        std = nused > 1 ? sqrt(s_std / (double)(nused - 1)) : NAN;
    }
    return mean;
}

/* postsm4.subtract_bias_columns in place: each prescan column minus its 5-sigma clipped mean of
 * (value - row mean of columns 12..23) over rows whose columns 24..29 are all < 50000. */
static PyObject *
bias_columns(PyObject *self, PyObject *args)
{
    Py_buffer amp = {0};
    Py_ssize_t ny, w;
    if (!PyArg_ParseTuple(args, "w*nn", &amp, &ny, &w))
        return NULL;
    Py_buffer *bufs[] = {&amp};
    if (ck_check(&amp, ny * w, 8, "amp prescan") < 0 || w < 30 || ny < 2) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "bias_columns: need at least 2 rows and 30 columns");
        ck_release(bufs, 1);
        return NULL;
    }
    double *a = amp.buf, *rowmean = PyMem_RawMalloc(sizeof(double) * (size_t)ny);
    uint8_t *use = PyMem_RawMalloc((size_t)ny);
    if (rowmean == NULL || use == NULL) {
        PyMem_RawFree(rowmean);
        PyMem_RawFree(use);
        ck_release(bufs, 1);
        return PyErr_NoMemory();
    }
    double means[NBIAS_COLS];
    Py_ssize_t nuse = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < ny; i++) {
        double sum = 0.0;
        for (Py_ssize_t j = 12; j < NBIAS_COLS; j++)
            sum += a[i * w + j];
        rowmean[i] = sum / 12.0;
        int ok = 1;
        for (Py_ssize_t j = 24; j < 30; j++)
            ok &= a[i * w + j] < 50000;
        use[i] = (uint8_t)ok;
        nuse += ok;
    }
    Py_END_ALLOW_THREADS
    if (nuse < 2) { /* the NumPy reference divides by n and n - 1: Python raises */
        PyMem_RawFree(rowmean);
        PyMem_RawFree(use);
        ck_release(bufs, 1);
        PyErr_SetString(PyExc_ZeroDivisionError, "float division by zero");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t j = 0; j < NBIAS_COLS; j++)
        means[j] = clipped_mean(a, ny, w, j, rowmean, use, 5.0);
    for (Py_ssize_t i = 0; i < ny; i++)
        for (Py_ssize_t j = 0; j < NBIAS_COLS; j++)
            a[i * w + j] -= means[j];
    Py_END_ALLOW_THREADS
    PyMem_RawFree(rowmean);
    PyMem_RawFree(use);
    ck_release(bufs, 1);
    Py_RETURN_NONE;
}

/* postsm4.bias_level: mean of the prescan pixels of good rows after iterative 6*(mean absolute
 * deviation) clipping, at least 6 passes and at most 11; sums column by column (columns outer). */
static PyObject *
bias_level(PyObject *self, PyObject *args)
{
    Py_buffer amp = {0}, rows = {0};
    Py_ssize_t ny, w;
    if (!PyArg_ParseTuple(args, "y*nny*", &amp, &ny, &w, &rows))
        return NULL;
    Py_buffer *bufs[] = {&amp, &rows};
    if (ck_check(&amp, ny * w, 8, "amp prescan") < 0 || ck_check(&rows, ny, 1, "good rows") < 0 || w < NBIAS_COLS) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "bias_level: need 24 columns");
        ck_release(bufs, 2);
        return NULL;
    }
    const double *a = amp.buf;
    const uint8_t *good_rows = rows.buf;
    uint8_t *good = PyMem_RawMalloc((size_t)(ny * NBIAS_COLS));
    if (good == NULL) {
        ck_release(bufs, 2);
        return PyErr_NoMemory();
    }
    double level;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t n1 = 0, n2;
    for (Py_ssize_t c = 0; c < NBIAS_COLS; c++)
        for (Py_ssize_t i = 0; i < ny; i++) {
            good[c * ny + i] = good_rows[i] != 0;
            n1 += good_rows[i] != 0;
        }
    int nits = 0;
    for (;;) {
        n2 = n1;
        nits++;
        double sum = 0.0, dev = 0.0;
        Py_ssize_t n = 0;
        for (Py_ssize_t c = 0; c < NBIAS_COLS; c++)
            for (Py_ssize_t i = 0; i < ny; i++)
                if (good[c * ny + i]) {
                    sum += a[i * w + c];
                    n++;
                }
        const double mean = n ? sum / (double)n : 0.0;
        for (Py_ssize_t c = 0; c < NBIAS_COLS; c++)
            for (Py_ssize_t i = 0; i < ny; i++)
                if (good[c * ny + i])
                    dev += fabs(a[i * w + c] - mean);
        const double adev = n ? dev / (double)n : 0.0;
        n1 = 0;
        for (Py_ssize_t c = 0; c < NBIAS_COLS; c++)
            for (Py_ssize_t i = 0; i < ny; i++) {
                uint8_t *g = &good[c * ny + i];
                *g = (uint8_t)(*g && !(fabs(a[i * w + c] - mean) > 6.0 * adev));
                n1 += *g;
            }
        if (!(nits <= 5 || (nits <= 10 && n1 < n2)))
            break;
    }
    double sum = 0.0;
    for (Py_ssize_t c = 0; c < NBIAS_COLS; c++)
        for (Py_ssize_t i = 0; i < ny; i++)
            if (good[c * ny + i])
                sum += a[i * w + c];
    level = n1 ? sum / (double)n1 : 0.0;
    Py_END_ALLOW_THREADS
    PyMem_RawFree(good);
    ck_release(bufs, 2);
    return PyFloat_FromDouble(level);
}

/* ------------------------------------------------------------------------------------------ */
/* Stripe and bias-level subtraction (postsm4.remove_stripes after `amp -= level`), written back to
 * the float32 chip:  out = f32((v - level) - interp)  with v = f64(x) for science columns and the
 * caller's prescan copy (already minus its column means and the level) for columns < 24; interp is
 * the row-mean interpolation at p = i + (j - 11.5)/denom. */

static PyObject *
stripe_apply(PyObject *self, PyObject *args)
{
    Py_buffer chip = {0}, pre = {0}, means = {0};
    AmpView v;
    double level, denom;
    if (!PyArg_ParseTuple(args, "w*nnnppy*y*dd", &chip, &v.ny, &v.nx, &v.ncols, &v.flip_rows, &v.flip_cols, &pre,
                          &means, &level, &denom))
        return NULL;
    Py_buffer *bufs[] = {&chip, &pre, &means};
    if (ck_check(&chip, v.ny * v.nx, 4, "chip") < 0 || ck_check(&pre, v.ny * NBIAS_COLS, 8, "prescan") < 0 ||
        ck_check(&means, v.ny, 8, "row means") < 0) {
        ck_release(bufs, 3);
        return NULL;
    }
    if (v.ncols > v.nx || v.ncols < NBIAS_COLS || v.ny < 2) {
        ck_release(bufs, 3);
        PyErr_SetString(PyExc_ValueError, "stripe_apply: bad amp geometry");
        return NULL;
    }
    double *offset = PyMem_RawMalloc(sizeof(double) * (size_t)v.ncols);
    if (offset == NULL) {
        ck_release(bufs, 3);
        return PyErr_NoMemory();
    }
    v.chip = chip.buf;
    const double *pr = pre.buf, *rm = means.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t j = 0; j < v.ncols; j++) /* the same (j - 11.5)/denom for every row */
        offset[j] = ((double)j - 11.5) / denom;
    for (Py_ssize_t i = 0; i < v.ny; i++) {
        float *row = amp_row(&v, i);
        const double di = (double)i;
        for (Py_ssize_t j = 0; j < v.ncols; j++) {
            const double p = di + offset[j];
            /* floor(p) clipped to [0, ny-2]: truncation equals floor for p >= 0, both clip to 0 below */
            Py_ssize_t lo = p < 0.0 ? 0 : (Py_ssize_t)p;
            if (lo > v.ny - 2)
                lo = v.ny - 2;
            const double d = p - (double)lo;
            const double interp = rm[lo] + d * (rm[lo + 1] - rm[lo]);
            const Py_ssize_t col = amp_col(&v, j);
            const double x = j < NBIAS_COLS ? pr[i * NBIAS_COLS + j] : (double)row[col] - level;
            row[col] = (float)(x - interp);
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(offset);
    ck_release(bufs, 3);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------ */
/* ACS2D per-pixel steps in one pass over rows [r0, r1): each step of `steps`, in order, is
 * (kind, scale, S, E, D) with float32 S/E and uint16 D the size of the image:
 *   0 dark:    z = t*S, ze = t*E (unscaled when t == 1); SCI -= z; ERR = sqrt(ERR² + ze²); DQ |= D.
 *              Good z (D & sdqflags == 0) summed (float64, sequential) for MEANDARK.
 *   1 flash:   z = S*t, ze = E*t, subtracted as the dark; good z summed per row into row_sum/row_n.
 *   2 flat:    F = S (div1d): F == 0 → DQ |= BADFLAT, SCI/ERR kept; else SCI/F and
 *              ERR = sqrt((ERR/F)² + (((E*SCI)/F)/F)²); DQ |= D.
 *   3 shading: F = S*k + 1 (k = scale), then as a flat with E unscaled.
 * Returns (dark sum, dark count). */

enum { STEP_DARK = 0, STEP_FLASH = 1, STEP_FLAT = 2, STEP_SHADE = 3, MAX_STEPS = 8 };

typedef struct {
    int kind;
    float scale;
    Py_buffer s, e, d;
    Py_ssize_t ss, es, ds; /* index multipliers: 0 for a constant reference array */
    /* row sources: a row of the image, or (constant array) one row filled with its value */
    const float *S, *E;
    const uint16_t *D;
    Py_ssize_t srow, erow, drow; /* row strides: nx, or 0 for a constant */
    void *tmp;
} Step;

/* SCI -= z, ERR = sqrt(ERR*ERR + ze*ze) (float32), DQ |= D along a row, z = t*S (or S when
 * unscaled); t*S and S*t are the same float32 product. */
static void
subtract_row(float *s, float *e, uint16_t *d, const float *S, const float *E, const uint16_t *D, Py_ssize_t n,
             float t, int unscaled)
{
    if (unscaled) {
        for (Py_ssize_t x = 0; x < n; x++) {
            s[x] = s[x] - S[x];
            e[x] = sqrtf(e[x] * e[x] + E[x] * E[x]);
            d[x] |= D[x];
        }
    } else {
        for (Py_ssize_t x = 0; x < n; x++) {
            const float z = t * S[x], ze = t * E[x];
            s[x] = s[x] - z;
            e[x] = sqrtf(e[x] * e[x] + ze * ze);
            d[x] |= D[x];
        }
    }
}

/* Sequential float64 sum and count of the good scaled reference values of a row (AvgSciVal order). */
static double
good_sum_row(const float *S, const uint16_t *D, Py_ssize_t n, float t, int unscaled, uint16_t sdq, int64_t *count)
{
    double sum = 0.0;
    int64_t k = 0;
    for (Py_ssize_t x = 0; x < n; x++) {
        if ((D[x] & sdq) == 0) {
            sum += (double)(unscaled ? S[x] : t * S[x]);
            k++;
        }
    }
    *count += k;
    return sum;
}

/* `zero ? a : b` without a branch (bit masks), so that loops holding divisions still vectorise. */
static inline float
select_float(int zero, float a, float b)
{
    uint32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    const uint32_t m = (uint32_t)0 - (uint32_t)zero;
    const uint32_t r = (ia & m) | (ib & ~m);
    float out;
    memcpy(&out, &r, 4);
    return out;
}

/* div1d along a row with the flat F: where F == 0 DQ |= BADFLAT and SCI/ERR stay; else SCI/F and
 * ERR = sqrt((ERR/F)² + (((E*SCI)/F)/F)²). Both results are computed and one selected (a division
 * by zero is harmless: floating-point exceptions are masked). */
static inline void
divide_pixel(float *s, float *e, uint16_t *d, float f, float fe, uint16_t D)
{
    const float sv = *s, ev = *e;
    const float q = sv / f;
    const float a = ev / f;
    const float b = ((fe * sv) / f) / f;
    const float en = sqrtf(a * a + b * b);
    const int zero = f == 0.0f;
    *s = select_float(zero, sv, q);
    *e = select_float(zero, ev, en);
    *d = (uint16_t)(*d | ((uint16_t)zero << 9) | D); /* 1 << 9 = BADFLAT */
}

static void
divide_row(float *s, float *e, uint16_t *d, const float *S, const float *E, const uint16_t *D, Py_ssize_t n)
{
    for (Py_ssize_t x = 0; x < n; x++)
        divide_pixel(s + x, e + x, d + x, S[x], E[x], D[x]);
}

/* Shading: the flat is f32(S*k) + 1 (doshad.c), the error image is used unscaled. */
static void
shade_row(float *s, float *e, uint16_t *d, const float *S, const float *E, const uint16_t *D, Py_ssize_t n, float k)
{
    for (Py_ssize_t x = 0; x < n; x++)
        divide_pixel(s + x, e + x, d + x, S[x] * k + 1.0f, E[x], D[x]);
}

static void
calib_rows(float *sci, float *err, uint16_t *dq, Py_ssize_t nx, Py_ssize_t r0, Py_ssize_t r1, const Step *steps,
           int nsteps, uint16_t sdq, double *dark_sum, Py_ssize_t *dark_n, double *row_sum, int64_t *row_n)
{
    for (Py_ssize_t y = r0; y < r1; y++) {
        float *s = sci + y * nx, *e = err + y * nx;
        uint16_t *d = dq + y * nx;
        for (int t = 0; t < nsteps; t++) { /* all steps on one row while it is in cache */
            const Step *st = &steps[t];
            const float *S = st->S + y * st->srow, *E = st->E + y * st->erow;
            const uint16_t *D = st->D + y * st->drow;
            const int unscaled = st->kind == STEP_DARK && st->scale == 1.0f; /* multk2d skips t == 1 */
            int64_t count = 0;
            switch (st->kind) {
            case STEP_DARK:
                *dark_sum += good_sum_row(S, D, nx, st->scale, unscaled, sdq, &count);
                *dark_n += (Py_ssize_t)count;
                subtract_row(s, e, d, S, E, D, nx, st->scale, unscaled);
                break;
            case STEP_FLASH:
                row_sum[y] = good_sum_row(S, D, nx, st->scale, 0, sdq, &count);
                row_n[y] = count;
                subtract_row(s, e, d, S, E, D, nx, st->scale, 0);
                break;
            case STEP_FLAT:
                divide_row(s, e, d, S, E, D, nx);
                break;
            default: /* STEP_SHADE */
                shade_row(s, e, d, S, E, D, nx, st->scale);
                break;
            }
        }
    }
}

/* Row sources of a step: the arrays themselves, or a row filled with the constant's value. */
static int
step_rows(Step *st, Py_ssize_t nx)
{
    const int nconst = (st->ss == 0) + (st->es == 0) + (st->ds == 0);
    st->tmp = NULL;
    if (nconst) {
        st->tmp = PyMem_RawMalloc((size_t)nx * 10 + 16);
        if (st->tmp == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    float *fs = st->tmp, *fe = fs + nx;
    uint16_t *fd = (uint16_t *)(fe + nx);
    st->S = st->s.buf, st->E = st->e.buf, st->D = st->d.buf;
    st->srow = st->erow = st->drow = nx;
    if (st->ss == 0) {
        for (Py_ssize_t x = 0; x < nx; x++)
            fs[x] = ((const float *)st->s.buf)[0];
        st->S = fs, st->srow = 0;
    }
    if (st->es == 0) {
        for (Py_ssize_t x = 0; x < nx; x++)
            fe[x] = ((const float *)st->e.buf)[0];
        st->E = fe, st->erow = 0;
    }
    if (st->ds == 0) {
        for (Py_ssize_t x = 0; x < nx; x++)
            fd[x] = ((const uint16_t *)st->d.buf)[0];
        st->D = fd, st->drow = 0;
    }
    return 0;
}

static PyObject *
calib2d(PyObject *self, PyObject *args)
{
    Py_buffer sci = {0}, err = {0}, dq = {0}, rsum = {0}, rn = {0};
    PyObject *osteps, *orsum, *orn;
    Py_ssize_t ny, nx, r0, r1;
    unsigned int sdq;
    Step steps[MAX_STEPS];
    int nsteps = 0;
    memset(steps, 0, sizeof(steps));
    if (!PyArg_ParseTuple(args, "w*w*w*nnnnOIOO", &sci, &err, &dq, &ny, &nx, &r0, &r1, &osteps, &sdq, &orsum, &orn))
        return NULL;
    Py_buffer *bufs[5 + 3 * MAX_STEPS] = {&sci, &err, &dq, &rsum, &rn};
    int nbufs = 5;
    const Py_ssize_t n = ny * nx;
    PyObject *ret = NULL;
    int has_flash = 0;
    if (ck_check(&sci, n, 4, "sci") < 0 || ck_check(&err, n, 4, "err") < 0 || ck_check(&dq, n, 2, "dq") < 0 ||
        get_buffer(orsum, &rsum, 1, ny, 8, "row_sum") < 0 || get_buffer(orn, &rn, 1, ny, 8, "row_n") < 0)
        goto done;
    if (r0 < 0 || r1 > ny || r0 > r1) {
        PyErr_SetString(PyExc_ValueError, "calib2d: bad row range");
        goto done;
    }
    if (!PyTuple_Check(osteps) || PyTuple_GET_SIZE(osteps) > MAX_STEPS) {
        PyErr_SetString(PyExc_ValueError, "calib2d: steps must be a tuple of at most 8 steps");
        goto done;
    }
    for (Py_ssize_t t = 0; t < PyTuple_GET_SIZE(osteps); t++) {
        Step *st = &steps[t];
        PyObject *os, *oe, *od;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(osteps, t), "ifOOO", &st->kind, &st->scale, &os, &oe, &od))
            goto done;
        nsteps = (int)t + 1;
        bufs[nbufs++] = &st->s;
        bufs[nbufs++] = &st->e;
        bufs[nbufs++] = &st->d;
        if (st->kind < STEP_DARK || st->kind > STEP_SHADE) {
            PyErr_SetString(PyExc_ValueError, "calib2d: unknown step kind");
            goto done;
        }
        if (get_ref(os, &st->s, n, 4, &st->ss, "step sci") < 0 || get_ref(oe, &st->e, n, 4, &st->es, "step err") < 0 ||
            get_ref(od, &st->d, n, 2, &st->ds, "step dq") < 0)
            goto done;
        if (st->s.buf == NULL || st->e.buf == NULL || st->d.buf == NULL) {
            PyErr_SetString(PyExc_ValueError, "calib2d: a step needs its three arrays");
            goto done;
        }
        has_flash |= st->kind == STEP_FLASH;
        if (step_rows(st, nx) < 0)
            goto done;
    }
    if (has_flash && (rsum.buf == NULL || rn.buf == NULL)) {
        PyErr_SetString(PyExc_ValueError, "calib2d: a flash step needs row_sum and row_n");
        goto done;
    }
    double dark_sum = 0.0;
    Py_ssize_t dark_n = 0;
    Py_BEGIN_ALLOW_THREADS
    calib_rows(sci.buf, err.buf, dq.buf, nx, r0, r1, steps, nsteps, (uint16_t)(sdq & 0xFFFFu), &dark_sum, &dark_n,
               has_flash ? rsum.buf : NULL, has_flash ? rn.buf : NULL);
    Py_END_ALLOW_THREADS
    ret = Py_BuildValue("dn", dark_sum, dark_n);
done:
    for (int t = 0; t < MAX_STEPS; t++)
        PyMem_RawFree(steps[t].tmp);
    ck_release(bufs, nbufs);
    return ret;
}

static PyMethodDef methods[] = {
    {"atod_flag", atod_flag, METH_VARARGS, "atod_flag(sci, dq, n, atodsat) -> (nonzero before, after)"},
    {"bias_gain", bias_gain, METH_VARARGS,
     "bias_gain(sci, err, dq, (do_atod, atodsat), bias, bias_err, bias_dq, ny, nx, ampx, ampy, do_gain, gains) -> nonzero dq"},
    {"fullwell_noise", fullwell_noise, METH_VARARGS,
     "fullwell_noise(sci, err, dq, sat, ny, nx, ampx, ampy, rn, bias_target, sat_shape, img0, sat0, dims, out) -> nsat"},
    {"bias_shift", bias_shift, METH_VARARGS,
     "bias_shift(chip, ny, nx, ncols, flip_rows, flip_cols, (f, c, ratio, dsi, kdiff), ngap, magic) -> m2"},
    {"bias_shift_pair", bias_shift_pair, METH_VARARGS,
     "bias_shift_pair(chip_a, chip_b, ny, nx, ncols, flips_a, flips_b, pars_a, pars_b, ngap, magic) -> (m2_a, m2_b)"},
    {"cross_talk", cross_talk, METH_VARARGS, "cross_talk(chip, ny, nx, scale) in place"},
    {"bias_columns", bias_columns, METH_VARARGS, "bias_columns(amp30, ny, w) in place"},
    {"bias_level", bias_level, METH_VARARGS, "bias_level(amp30, ny, w, good_rows) -> level"},
    {"stripe_rows", stripe_rows, METH_VARARGS,
     "stripe_rows(chip, ny, nx, ncols, flip_rows, flip_cols, row_ref, row_sum, nsci, bias_mean) -> amp_sum"},
    {"stripe_apply", stripe_apply, METH_VARARGS,
     "stripe_apply(chip, ny, nx, ncols, flip_rows, flip_cols, prescan, row_means, level, denom) in place"},
    {"calib2d", calib2d, METH_VARARGS,
     "calib2d(sci, err, dq, ny, nx, r0, r1, steps, sdqflags, row_sum, row_n) -> (dark sum, dark n)"},
    {NULL, NULL, 0, NULL},
};

CK_MODULE(_kernels, methods, "ACSCCD and ACS2D kernels (C kernels; the NumPy implementations are the reference).")
