/* caldp C kernels: ACS/WFC pixel-based CTE correction (PCTECORR, calacs.e 10.5.0 generation 3).
 * See ../common/ckernel.h for the conventions; caldp/engines/acs/pctecorr.py is the NumPy reference
 * and these kernels give the same bits (HSTCAL ctegen2/ctegen2.c order and types).
 *
 * Images are float32 [row, col] (row-major), readout through row 0; a call handles a range of rows
 * (smoothing) or of columns (readout inversion), so the engine's thread pool can split the work.
 *
 * Speed (exact): in one trap's pass up a column, a row that is neither inside the trap's trail nor
 * filled by the pixel changes nothing (HSTCAL adds 0.0 there), so it is skipped; the only trace of
 * HSTCAL's addition is that it turns -0.0 into +0.0, which one `+ 0.0` per pass reproduces.
 */
#include "ckernel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define VEC_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VEC_CLONES
#endif

/* ------------------------------------------------------------------------- read-noise smoothing */

static inline double
clipd(double x, double lim)
{
    return x > lim ? lim : (x < -lim ? -lim : x);
}

/* find_dadjFast for pixel (r, c); `nine` says whether the 3x3 term applies (interior pixel). */
static inline float
dadj(const float *obs, const float *rsz, Py_ssize_t nrows, Py_ssize_t ncols, Py_ssize_t r, Py_ssize_t c,
     double rn)
{
    const Py_ssize_t k = r * ncols + c;
    const double mval = (double)rsz[k];
    const double dval0 = (double)obs[k] - mval;
    double dval0u = dval0 > 1 ? 1 : (dval0 < -1 ? -1 : dval0);
    double dval9 = 0.0;
    if (c > 0 && c < ncols - 1 && r > 0 && r < nrows - 1) {
        const Py_ssize_t u = k - ncols, d = k + ncols;
        dval9 = (double)obs[u] - (double)rsz[u] + (double)obs[k] - (double)rsz[k] + (double)obs[d] - (double)rsz[d] +
                (double)obs[u - 1] - (double)rsz[u - 1] + (double)obs[k - 1] - (double)rsz[k - 1] +
                (double)obs[d - 1] - (double)rsz[d - 1] + (double)obs[u + 1] - (double)rsz[u + 1] +
                (double)obs[k + 1] - (double)rsz[k + 1] + (double)obs[d + 1] - (double)rsz[d + 1];
        dval9 = dval9 / 9.0;
    }
    const double lim = rn * 0.33;
    const double dval9u = clipd(dval9, lim);
    const double dmod1 = r > 0 ? (double)rsz[k - ncols] - mval : 0;
    const double dmod2 = r < nrows - 1 ? (double)rsz[k + ncols] - mval : 0;
    const double dmod1u = clipd(dmod1, lim);
    const double dmod2u = clipd(dmod2, lim);
    const double rn2 = rn * rn;
    const double w0 = dval0 * dval0 / (dval0 * dval0 + 4.0 * rn2);
    const double w9 = dval9 * dval9 / (dval9 * dval9 + 18.0 * rn2);
    const double w1 = 4 * rn2 / (dmod1 * dmod1 + 4.0 * rn2);
    const double w2 = 4 * rn2 / (dmod2 * dmod2 + 4.0 * rn2);
    return (float)(dval0u * w0 * 0.25 + dval9u * w9 * 0.25 + dmod1u * w1 * 0.25 + dmod2u * w2 * 0.25);
}

/* Interior row r, columns 1..ncols-2: the same arithmetic without branches (vectorisable). */
VEC_CLONES static void
dadj_row(const float *obs, const float *rsz, float *adj, Py_ssize_t ncols, Py_ssize_t r, double rn)
{
    const double lim = rn * 0.33, rn2 = rn * rn;
    const float *o0 = obs + (r - 1) * ncols, *o1 = obs + r * ncols, *o2 = obs + (r + 1) * ncols;
    const float *s0 = rsz + (r - 1) * ncols, *s1 = rsz + r * ncols, *s2 = rsz + (r + 1) * ncols;
    float *a = adj + r * ncols;
    for (Py_ssize_t c = 1; c < ncols - 1; c++) {
        const double mval = (double)s1[c];
        const double dval0 = (double)o1[c] - mval;
        const double dval0u = dval0 > 1 ? 1 : (dval0 < -1 ? -1 : dval0);
        double dval9 = (double)o0[c] - (double)s0[c] + (double)o1[c] - (double)s1[c] + (double)o2[c] - (double)s2[c] +
                       (double)o0[c - 1] - (double)s0[c - 1] + (double)o1[c - 1] - (double)s1[c - 1] +
                       (double)o2[c - 1] - (double)s2[c - 1] + (double)o0[c + 1] - (double)s0[c + 1] +
                       (double)o1[c + 1] - (double)s1[c + 1] + (double)o2[c + 1] - (double)s2[c + 1];
        dval9 = dval9 / 9.0;
        const double dval9u = dval9 > lim ? lim : (dval9 < -lim ? -lim : dval9);
        const double dmod1 = (double)s0[c] - mval;
        const double dmod2 = (double)s2[c] - mval;
        const double dmod1u = dmod1 > lim ? lim : (dmod1 < -lim ? -lim : dmod1);
        const double dmod2u = dmod2 > lim ? lim : (dmod2 < -lim ? -lim : dmod2);
        const double w0 = dval0 * dval0 / (dval0 * dval0 + 4.0 * rn2);
        const double w9 = dval9 * dval9 / (dval9 * dval9 + 18.0 * rn2);
        const double w1 = 4 * rn2 / (dmod1 * dmod1 + 4.0 * rn2);
        const double w2 = 4 * rn2 / (dmod2 * dmod2 + 4.0 * rn2);
        a[c] = (float)(dval0u * w0 * 0.25 + dval9u * w9 * 0.25 + dmod1u * w1 * 0.25 + dmod2u * w2 * 0.25);
    }
}

/* rsz = f32(rsz + adj*0.75) on row r; returns the row's sum of (obs - rsz)^2 over pixels with
 * |obs| > 0.1 or |rsz| > 0.1 (sequential in columns) and their count. */
VEC_CLONES static void
apply_row(const float *obs, float *rsz, const float *adj, Py_ssize_t ncols, Py_ssize_t r, double *sum, double *cnt)
{
    const float *o = obs + r * ncols;
    float *s = rsz + r * ncols;
    const float *a = adj + r * ncols;
    for (Py_ssize_t c = 0; c < ncols; c++)
        s[c] = (float)((double)s[c] + (double)a[c] * 0.75);
    double acc = 0, n = 0;
    for (Py_ssize_t c = 0; c < ncols; c++) {
        const double t = (double)(float)(o[c] - s[c]);
        const int use = fabs((double)o[c]) > 0.1 || fabs((double)s[c]) > 0.1;
        acc += use ? t * t : 0.0;
        n += use ? 1.0 : 0.0;
    }
    *sum = acc;
    *cnt = n;
}

/* smooth_adjust(obs, rsz, adj, nrows, ncols, r0, r1, rn): adj[r0:r1] = find_dadjFast from rsz. */
static PyObject *
smooth_adjust(PyObject *self, PyObject *args)
{
    Py_buffer bo = {0}, bs = {0}, ba = {0};
    Py_buffer *bufs[] = {&bo, &bs, &ba};
    Py_ssize_t nrows, ncols, r0, r1;
    double rn;
    if (!PyArg_ParseTuple(args, "y*y*w*nnnnd", &bo, &bs, &ba, &nrows, &ncols, &r0, &r1, &rn))
        return NULL;
    Py_ssize_t n = nrows * ncols;
    if (ck_check(&bo, n, 4, "obs") || ck_check(&bs, n, 4, "rsz") || ck_check(&ba, n, 4, "adj") || r0 < 0 ||
        r1 > nrows || r0 > r1 || ncols < 3) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "smooth_adjust: bad row range or fewer than 3 columns");
        ck_release(bufs, 3);
        return NULL;
    }
    const float *obs = bo.buf, *rsz = bs.buf;
    float *adj = ba.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t r = r0; r < r1; r++) {
        if (r > 0 && r < nrows - 1) {
            dadj_row(obs, rsz, adj, ncols, r, rn);
            adj[r * ncols] = dadj(obs, rsz, nrows, ncols, r, 0, rn);
            adj[r * ncols + ncols - 1] = dadj(obs, rsz, nrows, ncols, r, ncols - 1, rn);
        } else {
            for (Py_ssize_t c = 0; c < ncols; c++)
                adj[r * ncols + c] = dadj(obs, rsz, nrows, ncols, r, c, rn);
        }
    }
    Py_END_ALLOW_THREADS;
    ck_release(bufs, 3);
    Py_RETURN_NONE;
}

/* smooth_apply(obs, rsz, adj, rowsum, rowcnt, nrows, ncols, r0, r1) */
static PyObject *
smooth_apply(PyObject *self, PyObject *args)
{
    Py_buffer bo = {0}, bs = {0}, ba = {0}, bsum = {0}, bcnt = {0};
    Py_buffer *bufs[] = {&bo, &bs, &ba, &bsum, &bcnt};
    Py_ssize_t nrows, ncols, r0, r1;
    if (!PyArg_ParseTuple(args, "y*w*y*w*w*nnnn", &bo, &bs, &ba, &bsum, &bcnt, &nrows, &ncols, &r0, &r1))
        return NULL;
    Py_ssize_t n = nrows * ncols;
    if (ck_check(&bo, n, 4, "obs") || ck_check(&bs, n, 4, "rsz") || ck_check(&ba, n, 4, "adj") ||
        ck_check(&bsum, nrows, 8, "rowsum") || ck_check(&bcnt, nrows, 8, "rowcnt") || r0 < 0 || r1 > nrows ||
        r0 > r1) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "smooth_apply: bad row range");
        ck_release(bufs, 5);
        return NULL;
    }
    const float *obs = bo.buf, *adj = ba.buf;
    float *rsz = bs.buf;
    double *sum = bsum.buf, *cnt = bcnt.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t r = r0; r < r1; r++)
        apply_row(obs, rsz, adj, ncols, r, &sum[r], &cnt[r]);
    Py_END_ALLOW_THREADS;
    ck_release(bufs, 5);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------- readout inversion */

typedef struct {
    const double *qlev, *dpde;
    const float *rprof, *cprof; /* [transfer, trap], row stride `pstride` */
    Py_ssize_t pstride;
    int ntraps, tlen, npar, nfor, fix_rocr;
    double rn, thresh;
} Model;

#define BLK 16 /* rows per block of the readout's skip / all-filled index */

/* Per-column scratch of the readout: the trap column as doubles, the rescale factor of each row
 * (traps[i]/traps[i-1] where the density drops, else 1.0: multiplying by 1.0 is exact, so it may be
 * applied on every row), the double trail profiles of one trap, and block bounds. */
typedef struct {
    double *td, *rat, *rpd, *cpd, *bmax, *bmin;
} Scratch;

static int
scratch_alloc(Scratch *s, Py_ssize_t nrows)
{
    const Py_ssize_t nb = nrows / BLK + 1;
    s->td = malloc((nrows + 1) * sizeof(double));
    s->rat = malloc((nrows + 1) * sizeof(double));
    s->rpd = malloc(101 * sizeof(double));
    s->cpd = malloc(101 * sizeof(double));
    s->bmax = malloc(nb * sizeof(double));
    s->bmin = malloc(nb * sizeof(double));
    return s->td && s->rat && s->rpd && s->cpd && s->bmax && s->bmin;
}

static void
scratch_free(Scratch *s)
{
    free(s->td);
    free(s->rat);
    free(s->rpd);
    free(s->cpd);
    free(s->bmax);
    free(s->bmin);
}

/* The trap column as doubles and the rows' rescale factors (HSTCAL's `(double)traps[i] /
 * (double)traps[i-1]` where traps[i] < traps[i-1]). */
static void
prepare_traps(const float *traps, Py_ssize_t nrows, Scratch *s)
{
    for (Py_ssize_t i = 0; i < nrows; i++)
        s->td[i] = (double)traps[i];
    if (nrows > 0)
        s->rat[0] = 1.0;
    for (Py_ssize_t i = 1; i < nrows; i++)
        s->rat[i] = s->td[i] < s->td[i - 1] ? s->td[i] / s->td[i - 1] : 1.0;
}

/* Highest and lowest of col[i0..i1-1] (finite values: the order of comparisons does not matter). */
static inline void
minmax(const double *col, Py_ssize_t i0, Py_ssize_t i1, double *phi, double *plo)
{
    Py_ssize_t i = i0;
    double hi = col[i0], lo = col[i0];
#if defined(__SSE2__)
    if (i1 - i0 >= 4) {
        __m128d h0 = _mm_loadu_pd(col + i0), h1 = _mm_loadu_pd(col + i0 + 2), l0 = h0, l1 = h1;
        for (i = i0 + 4; i + 4 <= i1; i += 4) {
            const __m128d a = _mm_loadu_pd(col + i), b = _mm_loadu_pd(col + i + 2);
            h0 = _mm_max_pd(h0, a);
            h1 = _mm_max_pd(h1, b);
            l0 = _mm_min_pd(l0, a);
            l1 = _mm_min_pd(l1, b);
        }
        double t[4];
        _mm_storeu_pd(t, _mm_max_pd(h0, h1));
        hi = t[0] > t[1] ? t[0] : t[1];
        _mm_storeu_pd(t, _mm_min_pd(l0, l1));
        lo = t[0] < t[1] ? t[0] : t[1];
    }
#endif
    for (; i < i1; i++) {
        hi = col[i] > hi ? col[i] : hi;
        lo = col[i] < lo ? col[i] : lo;
    }
    *phi = hi;
    *plo = lo;
}

/* Bounds of each BLK-row block; with a NaN or an infinity in the column the bounds are made
 * useless (-inf/+inf swapped), so that no block is skipped or taken as all filled. */
static void
block_bounds(const double *col, Py_ssize_t nrows, int finite, double *bmax, double *bmin)
{
    for (Py_ssize_t b = 0; b * BLK < nrows; b++) {
        const Py_ssize_t i0 = b * BLK, i1 = i0 + BLK < nrows ? i0 + BLK : nrows;
        if (finite)
            minmax(col, i0, i1, &bmax[b], &bmin[b]);
        else {
            bmax[b] = INFINITY;
            bmin[b] = -INFINITY;
        }
    }
}

/* Rows i0..i1-1 of one trap's pass, each row in HSTCAL's order with the state (nt, trapped)
 * carried (a branch-free version with masks was slower: its selects put a multiply and a blend on
 * the row-to-row dependency chain). */
static inline void
rows_general(double *col, Py_ssize_t i0, Py_ssize_t i1, double q, double fillw, int tlen, const Scratch *s, int *pnt,
             double *ptrapped)
{
    int nt = *pnt;
    double trapped = *ptrapped;
    const double *td = s->td, *rat = s->rat, *rpd = s->rpd, *cpd = s->cpd;
    for (Py_ssize_t i = i0; i < i1; i++) {
        const double pix = col[i];
        if (rat[i] != 1.0) /* HSTCAL: where traps[i] < traps[i-1] (elsewhere rat = 1.0, and x * 1.0 = x) */
            trapped = trapped * rat[i];
        const int inside = nt < tlen;
        const int fill = pix >= q;
        const int k = inside ? nt : 0;
        const double a = rpd[k] * trapped, e = cpd[k] * trapped;
        const double add = inside ? a : 0.0;
        const double extra = (inside & fill) ? e : 0.0;
        const double nw = fillw * td[i];
        const double remove = fill ? nw : 0.0;
        trapped = fill ? nw : trapped;
        nt = fill ? 0 : nt + inside;
        col[i] = pix + ((add + extra) - remove);
    }
    *pnt = nt;
    *ptrapped = trapped;
}

/* Rows i0..i1-1 (i0 >= 1) where this row and the one before are both filled: the trap was refilled
 * on the row before, so the state is known without the recurrence (nt = 0, trapped =
 * fillw*traps[i-1], rescaled) and the rows are independent — a vectorisable loop, same operations. */
VEC_CLONES static void
rows_filled(double *restrict col, Py_ssize_t i0, Py_ssize_t i1, double fillw, double rp0, double cp0,
            const double *restrict td, const double *restrict rat)
{
    for (Py_ssize_t i = i0; i < i1; i++) {
        const double t = (fillw * td[i - 1]) * rat[i];
        const double add = rp0 * t, extra = cp0 * t;
        col[i] = col[i] + ((add + extra) - fillw * td[i]);
    }
}

/* simulateColumnReadout: npar passes of simulatePixelReadout_v1_2 on one column (in place).
 *
 * Per trap the rows are taken a block of BLK at a time: a block below the trap's level while the trap
 * is not releasing (nt >= tlen) changes nothing but -0.0 -> +0.0 (HSTCAL adds 0.0; one `+ 0.0` per
 * pass reproduces it) and is skipped; a block entirely at or above the level has every row refilled,
 * so after its first row the rows are independent (rows_filled); other blocks go row by row. The
 * block bounds are upper/lower bounds kept up to date as the trap changes the pixels. */
static void
sim_column(double *col, Py_ssize_t nrows, const Model *m, Scratch *s)
{
    if (m->ntraps <= 0 || nrows <= 0)
        return;
    const Py_ssize_t nb = (nrows + BLK - 1) / BLK;
    for (int shift = 0; shift < m->npar; shift++) {
        double maxpix = 10, fin = 0.0;
        for (Py_ssize_t i = 0; i < nrows; i++) {
            maxpix = col[i] > maxpix ? col[i] : maxpix;
            fin = fin + (col[i] - col[i]); /* stays 0 unless a NaN or an infinity is met */
        }
        const int finite = fin == 0.0;
        int wmax = m->ntraps - 1;
        for (int w = wmax; w >= 0; w--)
            if (m->qlev[w] <= maxpix) {
                wmax = w;
                break;
            }
        block_bounds(col, nrows, finite, s->bmax, s->bmin);
        const int tlen = m->tlen;
        for (int w = wmax; w >= 0; w--) {
            const double q = m->qlev[w];
            const double fillw = m->dpde[w] / m->npar;
            for (int n = 0; n < tlen; n++) {
                s->rpd[n] = (double)m->rprof[(Py_ssize_t)n * m->pstride + w];
                s->cpd[n] = (double)m->cprof[(Py_ssize_t)n * m->pstride + w];
            }
            s->rpd[tlen] = s->cpd[tlen] = 0.0; /* rows_general reads index nt == tlen (unused) */
            int nt = tlen;
            double trapped = 0;
            for (Py_ssize_t b = 0; b < nb; b++) {
                const Py_ssize_t i0 = b * BLK, i1 = i0 + BLK < nrows ? i0 + BLK : nrows;
                if (nt >= tlen && s->bmax[b] < q)
                    continue; /* HSTCAL adds 0.0 on each of these rows */
                if (s->bmin[b] >= q) {
                    rows_general(col, i0, i0 + 1, q, fillw, tlen, s, &nt, &trapped);
                    if (i1 > i0 + 1) {
                        rows_filled(col, i0 + 1, i1, fillw, s->rpd[0], s->cpd[0], s->td, s->rat);
                        trapped = fillw * s->td[i1 - 1];
                        nt = 0;
                    }
                } else {
                    rows_general(col, i0, i1, q, fillw, tlen, s, &nt, &trapped);
                }
                if (finite)
                    minmax(col, i0, i1, &s->bmax[b], &s->bmin[b]);
            }
        }
        for (Py_ssize_t i = 0; i < nrows; i++)
            col[i] += 0.0; /* -0.0 -> +0.0, as HSTCAL's additions on skipped rows */
    }
}

/* correctCROverSubtraction on one column; returns 1 if the column must be redone. */
static int
fix_crs(float *traps, const double *mo, const double *ob, Py_ssize_t nrows, double thresh)
{
    int redo = 0;
    for (Py_ssize_t i = 10; i < nrows - 2; i++) {
        if (((thresh > mo[i]) && (thresh > (mo[i] - ob[i]))) ||
            (((mo[i] + mo[i + 1]) < -12.) && (mo[i] + mo[i + 1] - ob[i] - ob[i + 1] < -12.)) ||
            (((mo[i] + mo[i + 1] + mo[i + 2]) < -15.) &&
             ((mo[i] + mo[i + 1] + mo[i + 2] - ob[i] - ob[i + 1] - ob[i + 2]) < -15.))) {
            redo = 1;
            Py_ssize_t imax = i;
            for (Py_ssize_t ii = i - 10; ii <= i; ++ii)
                if ((mo[ii] - ob[ii]) > (mo[imax] - ob[imax]))
                    imax = ii;
            for (Py_ssize_t ii = imax; ii <= i; ++ii)
                traps[ii] *= 0.75;
        }
    }
    return redo;
}

/* inverseCTEBlur on one column: obs (double), traps (float, modified), out (double). */
static void
blur_column(const double *obs, float *traps, double *model, double *tmp, Py_ssize_t nrows, const Model *m, Scratch *s)
{
    const double rn2 = m->rn * m->rn;
    int nredo = 0, redo;
    do {
        prepare_traps(traps, nrows, s);
        memcpy(model, obs, nrows * sizeof(double));
        for (int it = 1; it <= m->nfor - 1; ++it) {
            memcpy(tmp, model, nrows * sizeof(double));
            sim_column(model, nrows, m, s);
            for (Py_ssize_t i = 0; i < nrows; ++i) {
                double delta = model[i] - obs[i];
                double delta2 = delta * delta;
                delta *= delta2 / (delta2 + rn2);
                model[i] = tmp[i] - delta;
            }
        }
        memcpy(tmp, model, nrows * sizeof(double));
        sim_column(model, nrows, m, s);
        for (Py_ssize_t i = 0; i < nrows; ++i)
            model[i] = tmp[i] - (model[i] - obs[i]);
        redo = m->fix_rocr ? fix_crs(traps, model, obs, nrows, m->thresh) : 0;
    } while (redo && ++nredo < 5);
}

/* inverse_blur(smoothed f32, traps f32 (rw), out f32 (w), nrows, ncols, c0, c1, qlev f64, dpde f64,
 *              rprof f32, cprof f32, pstride, ntraps, tlen, npar, nfor, rn, thresh, fix_rocr) */
static PyObject *
inverse_blur(PyObject *self, PyObject *args)
{
    Py_buffer bsm = {0}, btr = {0}, bout = {0}, bq = {0}, bd = {0}, brp = {0}, bcp = {0};
    Py_buffer *bufs[] = {&bsm, &btr, &bout, &bq, &bd, &brp, &bcp};
    Py_ssize_t nrows, ncols, c0, c1, pstride;
    Model m;
    if (!PyArg_ParseTuple(args, "y*w*w*nnnny*y*y*y*niiiiddi", &bsm, &btr, &bout, &nrows, &ncols, &c0, &c1, &bq, &bd,
                          &brp, &bcp, &pstride, &m.ntraps, &m.tlen, &m.npar, &m.nfor, &m.rn, &m.thresh, &m.fix_rocr))
        return NULL;
    Py_ssize_t n = nrows * ncols;
    Py_ssize_t nprof = brp.len / 4;
    if (ck_check(&bsm, n, 4, "smoothed") || ck_check(&btr, n, 4, "traps") || ck_check(&bout, n, 4, "out") ||
        ck_check(&bcp, nprof, 4, "cprof") || c0 < 0 || c1 > ncols || c0 > c1 || m.tlen < 1 || m.tlen > 100 ||
        m.npar < 1 || m.ntraps < 0 || pstride < m.ntraps || (Py_ssize_t)m.tlen * pstride > nprof ||
        bq.len < (Py_ssize_t)m.ntraps * 8 || bd.len < (Py_ssize_t)m.ntraps * 8) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "inverse_blur: inconsistent sizes or parameters");
        ck_release(bufs, 7);
        return NULL;
    }
    m.qlev = bq.buf;
    m.dpde = bd.buf;
    m.rprof = brp.buf;
    m.cprof = bcp.buf;
    m.pstride = pstride;
    const float *sm = bsm.buf;
    float *tr = btr.buf, *out = bout.buf;
    int fail = 0;
    Py_BEGIN_ALLOW_THREADS;
    double *obs = malloc(nrows * sizeof(double));
    double *model = malloc(nrows * sizeof(double));
    double *tmp = malloc(nrows * sizeof(double));
    float *tcol = calloc(nrows > 0 ? nrows : 1, sizeof(float));
    Scratch scr;
    if (!scratch_alloc(&scr, nrows) || !obs || !model || !tmp || !tcol)
        fail = 1;
    else
        for (Py_ssize_t c = c0; c < c1; c++) {
            for (Py_ssize_t i = 0; i < nrows; i++) {
                obs[i] = (double)sm[i * ncols + c];
                tcol[i] = tr[i * ncols + c];
            }
            blur_column(obs, tcol, model, tmp, nrows, &m, &scr);
            for (Py_ssize_t i = 0; i < nrows; i++) {
                out[i * ncols + c] = (float)model[i];
                tr[i * ncols + c] = tcol[i];
            }
        }
    free(obs);
    free(model);
    free(tmp);
    free(tcol);
    scratch_free(&scr);
    Py_END_ALLOW_THREADS;
    ck_release(bufs, 7);
    if (fail)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* forward(image f32, traps f32, out f32 (w), nrows, ncols, c0, c1, qlev, dpde, rprof, cprof, pstride, ntraps,
 *         tlen, npar): forwardModel, the readout of `image` through the traps (no smoothing). */
static PyObject *
forward(PyObject *self, PyObject *args)
{
    Py_buffer bim = {0}, btr = {0}, bout = {0}, bq = {0}, bd = {0}, brp = {0}, bcp = {0};
    Py_buffer *bufs[] = {&bim, &btr, &bout, &bq, &bd, &brp, &bcp};
    Py_ssize_t nrows, ncols, c0, c1, pstride;
    Model m = {0};
    if (!PyArg_ParseTuple(args, "y*y*w*nnnny*y*y*y*niii", &bim, &btr, &bout, &nrows, &ncols, &c0, &c1, &bq, &bd, &brp,
                          &bcp, &pstride, &m.ntraps, &m.tlen, &m.npar))
        return NULL;
    Py_ssize_t n = nrows * ncols;
    Py_ssize_t nprof = brp.len / 4;
    if (ck_check(&bim, n, 4, "image") || ck_check(&btr, n, 4, "traps") || ck_check(&bout, n, 4, "out") ||
        ck_check(&bcp, nprof, 4, "cprof") || c0 < 0 || c1 > ncols || c0 > c1 || m.tlen < 1 || m.tlen > 100 ||
        m.npar < 1 || m.ntraps < 0 || pstride < m.ntraps || (Py_ssize_t)m.tlen * pstride > nprof ||
        bq.len < (Py_ssize_t)m.ntraps * 8 || bd.len < (Py_ssize_t)m.ntraps * 8) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "forward: inconsistent sizes or parameters");
        ck_release(bufs, 7);
        return NULL;
    }
    m.qlev = bq.buf;
    m.dpde = bd.buf;
    m.rprof = brp.buf;
    m.cprof = bcp.buf;
    m.pstride = pstride;
    const float *im = bim.buf, *tr = btr.buf;
    float *out = bout.buf;
    int fail = 0;
    Py_BEGIN_ALLOW_THREADS;
    double *col = malloc(nrows * sizeof(double));
    float *tcol = calloc(nrows > 0 ? nrows : 1, sizeof(float));
    Scratch scr;
    if (!scratch_alloc(&scr, nrows) || !col || !tcol)
        fail = 1;
    else
        for (Py_ssize_t c = c0; c < c1; c++) {
            for (Py_ssize_t i = 0; i < nrows; i++) {
                col[i] = (double)im[i * ncols + c];
                tcol[i] = tr[i * ncols + c];
            }
            prepare_traps(tcol, nrows, &scr);
            sim_column(col, nrows, &m, &scr);
            for (Py_ssize_t i = 0; i < nrows; i++)
                out[i * ncols + c] = (float)col[i];
        }
    free(col);
    free(tcol);
    scratch_free(&scr);
    Py_END_ALLOW_THREADS;
    ck_release(bufs, 7);
    if (fail)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"smooth_adjust", smooth_adjust, METH_VARARGS, "find_dadjFast over rows r0..r1 (cteSmoothImage)."},
    {"smooth_apply", smooth_apply, METH_VARARGS, "apply 0.75*adjustment over rows r0..r1; per-row rms sums."},
    {"inverse_blur", inverse_blur, METH_VARARGS, "inverseCTEBlur over columns c0..c1."},
    {"forward", forward, METH_VARARGS, "forwardModel (readout through the traps) over columns c0..c1."},
    {NULL, NULL, 0, NULL},
};

CK_MODULE(_cte_kernels, methods, "ACS/WFC pixel-based CTE correction kernels (see pctecorr.py).")
