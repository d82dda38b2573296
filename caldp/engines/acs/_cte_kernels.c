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
 * The readout runs 8 columns at once, one per SIMD lane (AVX-512 where the CPU has it, else a
 * portable loop over the lanes); each lane keeps its column's operations, so the bits do not change.
 */
#include "ckernel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CTE_AVX512 1
#include <immintrin.h>
#else
#define CTE_AVX512 0
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define VEC_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VEC_CLONES
#endif

/* ------------------------------------------------------------------------- read-noise smoothing */

static inline double
clipd(double x, double lim)
{
    return x > lim ? lim : (x < -lim ? -lim : x);
}

/* find_dadjFast for pixel c of a row: o0, o1, o2 are the obs rows above, at and below it, s0, s1, s2 the
 * rsz rows (s0 NULL on the image's first row, s2 NULL on its last); `nine` (the 3x3 term) only for an
 * interior pixel, as HSTCAL's `imid` shift makes it. */
static inline float
dadj_px(const float *o0, const float *o1, const float *o2, const float *s0, const float *s1, const float *s2,
        Py_ssize_t ncols, Py_ssize_t c, double rn)
{
    const double mval = (double)s1[c];
    const double dval0 = (double)o1[c] - mval;
    double dval0u = dval0 > 1 ? 1 : (dval0 < -1 ? -1 : dval0);
    double dval9 = 0.0;
    if (c > 0 && c < ncols - 1 && s0 && s2) {
        dval9 = (double)o0[c] - (double)s0[c] + (double)o1[c] - (double)s1[c] + (double)o2[c] - (double)s2[c] +
                (double)o0[c - 1] - (double)s0[c - 1] + (double)o1[c - 1] - (double)s1[c - 1] +
                (double)o2[c - 1] - (double)s2[c - 1] + (double)o0[c + 1] - (double)s0[c + 1] +
                (double)o1[c + 1] - (double)s1[c + 1] + (double)o2[c + 1] - (double)s2[c + 1];
        dval9 = dval9 / 9.0;
    }
    const double lim = rn * 0.33;
    const double dval9u = clipd(dval9, lim);
    const double dmod1 = s0 ? (double)s0[c] - mval : 0;
    const double dmod2 = s2 ? (double)s2[c] - mval : 0;
    const double dmod1u = clipd(dmod1, lim);
    const double dmod2u = clipd(dmod2, lim);
    const double rn2 = rn * rn;
    const double w0 = dval0 * dval0 / (dval0 * dval0 + 4.0 * rn2);
    const double w9 = dval9 * dval9 / (dval9 * dval9 + 18.0 * rn2);
    const double w1 = 4 * rn2 / (dmod1 * dmod1 + 4.0 * rn2);
    const double w2 = 4 * rn2 / (dmod2 * dmod2 + 4.0 * rn2);
    return (float)(dval0u * w0 * 0.25 + dval9u * w9 * 0.25 + dmod1u * w1 * 0.25 + dmod2u * w2 * 0.25);
}

/* a / 9.0 without the divider, the same double: for a = 0 or 2^-31 <= |a| < 2^22 (the 3x3 sums of
 * col_sums; outside that range use the division). With c = RN(1/9) (9c = 1 - 2^-54), x = a/9 and u the
 * ulp of x's binade: q0 = RN(a*c) is within one u of x (|ac - x| = |x| 2^-54 < u/2, plus half an ulp of
 * rounding); r = a - 9*q0 is a multiple of u/2 below 9u in magnitude (a is a multiple of 8u, 9*q0 of
 * u/2), so the fma gives it exactly; q0 + r*c = x - (x - q0) 2^-54 lies within u 2^-54 of x, while x
 * is at least u/36 from every rounding boundary (a - 9m for a midpoint m, an odd multiple of u/2 or
 * u/4, is a nonzero multiple of u/4) — so RN(q0 + r*c) = RN(x), the quotient a / 9.0. A zero a keeps
 * its sign (the fma would give +0.0 for -0.0). Tested against the division (tests/engines/acs_cte). */
static inline __attribute__((always_inline)) double
div9(double a)
{
    const double c = 1.0 / 9.0;
    const double q0 = a * c;
    const double r = fma(-9.0, q0, a);
    const double q = fma(r, c, q0);
    return a == 0.0 ? a : q;
}

/* Interior row, columns 1..ncols-2 (rows as in dadj_px, none NULL): the same arithmetic without branches
 * (vectorisable), adjustment into `a`.
 * w1 of row r equals w2 of row r-1 bit for bit (dmod1(r) = -dmod2(r-1): rounding is symmetric, and
 * the squares are equal), so a row takes w1 from `wcarry` (when `carried`) and leaves its w2 there:
 * one double division per pixel fewer. */
static inline __attribute__((always_inline)) void
dadj_row_impl(const float *o0, const float *o1, const float *o2, const float *s0, const float *s1, const float *s2,
              const double *cs, float *a, double *wcarry, Py_ssize_t ncols, double rn, const int carried,
              const int exact9)
{
    const double lim = rn * 0.33, rn2 = rn * rn;
    for (Py_ssize_t c = 1; c < ncols - 1; c++) {
        const double mval = (double)s1[c];
        const double dval0 = (double)o1[c] - mval;
        const double dval0u = dval0 > 1 ? 1 : (dval0 < -1 ? -1 : dval0);
        double dval9;
        if (exact9) { /* the 18 terms on the 2^-31 grid: every order gives the same sum (see col_sums) */
            dval9 = (cs[c - 1] + cs[c]) + cs[c + 1];
            dval9 = div9(dval9);
        } else {
            dval9 = (double)o0[c] - (double)s0[c] + (double)o1[c] - (double)s1[c] + (double)o2[c] - (double)s2[c] +
                    (double)o0[c - 1] - (double)s0[c - 1] + (double)o1[c - 1] - (double)s1[c - 1] +
                    (double)o2[c - 1] - (double)s2[c - 1] + (double)o0[c + 1] - (double)s0[c + 1] +
                    (double)o1[c + 1] - (double)s1[c + 1] + (double)o2[c + 1] - (double)s2[c + 1];
            dval9 = dval9 / 9.0;
        }
        const double dval9u = dval9 > lim ? lim : (dval9 < -lim ? -lim : dval9);
        const double dmod1 = (double)s0[c] - mval;
        const double dmod2 = (double)s2[c] - mval;
        const double dmod1u = dmod1 > lim ? lim : (dmod1 < -lim ? -lim : dmod1);
        const double dmod2u = dmod2 > lim ? lim : (dmod2 < -lim ? -lim : dmod2);
        const double w0 = dval0 * dval0 / (dval0 * dval0 + 4.0 * rn2);
        const double w9 = dval9 * dval9 / (dval9 * dval9 + 18.0 * rn2);
        const double w1 = carried ? wcarry[c] : 4 * rn2 / (dmod1 * dmod1 + 4.0 * rn2);
        const double w2 = 4 * rn2 / (dmod2 * dmod2 + 4.0 * rn2);
        wcarry[c] = w2;
        a[c] = (float)(dval0u * w0 * 0.25 + dval9u * w9 * 0.25 + dmod1u * w1 * 0.25 + dmod2u * w2 * 0.25);
    }
}

/* `cs`: the row's column sums (col_sums) when its three difference rows are on the grid, else NULL. */
VEC_CLONES static void
dadj_row(const float *o0, const float *o1, const float *o2, const float *s0, const float *s1, const float *s2,
         const double *cs, float *a, double *wcarry, Py_ssize_t ncols, double rn, int carried)
{
    if (cs && carried)
        dadj_row_impl(o0, o1, o2, s0, s1, s2, cs, a, wcarry, ncols, rn, 1, 1);
    else if (cs)
        dadj_row_impl(o0, o1, o2, s0, s1, s2, cs, a, wcarry, ncols, rn, 0, 1);
    else if (carried)
        dadj_row_impl(o0, o1, o2, s0, s1, s2, cs, a, wcarry, ncols, rn, 1, 0);
    else
        dadj_row_impl(o0, o1, o2, s0, s1, s2, cs, a, wcarry, ncols, rn, 0, 0);
}

/* The 3x3 term's sum without its 17-addition chain. HSTCAL adds the 18 values o - s of the 3x3 block
 * one after the other (columns c, c-1, c+1; rows above, at, below). When every one of these float32
 * values is 0 or has 2^-8 <= |v| < 2^17, each is a multiple of 2^-31 and every partial sum, in any
 * order, is a multiple of 2^-31 below 18 * 2^17 < 2^22 in magnitude — a double holds it exactly, so
 * every addition is exact and every order gives the exact sum. The sign of a zero sum agrees too: in
 * round-to-nearest a sum (chain or tree) is -0.0 only when every term is -0.0. So under that condition
 * the sum may be made as differences per row (diff_row), column sums of three rows (col_sums), then
 * three column sums; a row with any value off the grid (tiny, large, NaN, infinite) keeps the chain. */
static inline __attribute__((always_inline)) uint32_t
off_grid(float v) /* nonzero unless v == 0 or 2^-8 <= |v| < 2^17 (on the float32 bits: biased exponent 119..143) */
{
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    b &= 0x7fffffffu;
    return (b != 0) & ((uint32_t)(b - 0x3b800000u) >= 0x0c800000u);
}

VEC_CLONES static int
diff_row(const float *o, const float *s, double *d, Py_ssize_t ncols)
{
    uint32_t bad = 0;
    for (Py_ssize_t c = 0; c < ncols; c++) {
        d[c] = (double)o[c] - (double)s[c];
        bad |= off_grid(o[c]) | off_grid(s[c]);
    }
    return !bad;
}

VEC_CLONES static void
col_sums(const double *d0, const double *d1, const double *d2, double *cs, Py_ssize_t ncols)
{
    for (Py_ssize_t c = 0; c < ncols; c++)
        cs[c] = (d0[c] + d1[c]) + d2[c];
}

/* -1: not decided yet (the CPU is asked on first use); set_simd(False) forces the portable code (tests). */
static int use_avx512 = -1;
/* 0: the 3x3 sums always by HSTCAL's chain (set_exact_sums, tests). */
static int exact_sums = 1;

static int
avx512_ok(void)
{
#if CTE_AVX512
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

#if CTE_AVX512
/* apply_row's eight chains of the rms sum over columns 0..n8-1 (n8 a multiple of 8) in one AVX-512
 * register: lane l adds the columns c = l (mod 8), the same additions in the same order. */
__attribute__((target("avx512f"))) static void
row_sums_avx512(const float *o, const float *s, Py_ssize_t n8, double *acc, double *cnt)
{
    __m512d a = _mm512_setzero_pd(), k = _mm512_setzero_pd();
    const __m512d lim = _mm512_set1_pd(0.1), one = _mm512_set1_pd(1.0);
    for (Py_ssize_t c = 0; c < n8; c += 8) {
        const __m256 of = _mm256_loadu_ps(o + c), sf = _mm256_loadu_ps(s + c);
        const __m512d t = _mm512_cvtps_pd(_mm256_sub_ps(of, sf));
        const __mmask8 use = _mm512_cmp_pd_mask(_mm512_abs_pd(_mm512_cvtps_pd(of)), lim, _CMP_GT_OQ) |
                             _mm512_cmp_pd_mask(_mm512_abs_pd(_mm512_cvtps_pd(sf)), lim, _CMP_GT_OQ);
        a = _mm512_add_pd(a, _mm512_maskz_mul_pd(use, t, t)); /* use ? t*t : +0.0 */
        k = _mm512_add_pd(k, _mm512_maskz_mov_pd(use, one));
    }
    _mm512_storeu_pd(acc, a);
    _mm512_storeu_pd(cnt, k);
}
#endif

/* rsz = f32(rsz + adj*0.75) on one row (o: obs, s: rsz, a: adjustment); the row's sum of (obs - rsz)^2
 * over pixels with |obs| > 0.1 or |rsz| > 0.1 and their count. The sum only feeds the stop test, so it
 * is added in eight chains here (fast); exact_row gives the reference order (sequential in columns)
 * when the test is close. */
VEC_CLONES static void
apply_row(const float *o, float *s, const float *a, Py_ssize_t ncols, double *sum, double *cnt)
{
    for (Py_ssize_t c = 0; c < ncols; c++)
        s[c] = (float)((double)s[c] + (double)a[c] * 0.75);
    double acc[8] = {0}, n[8] = {0};
    Py_ssize_t c = 0;
#if CTE_AVX512
    if (use_avx512) {
        c = ncols & ~(Py_ssize_t)7;
        row_sums_avx512(o, s, c, acc, n);
    }
#endif
    for (; c + 8 <= ncols; c += 8)
        for (int l = 0; l < 8; l++) {
            const double t = (double)(float)(o[c + l] - s[c + l]);
            const int use = fabs((double)o[c + l]) > 0.1 || fabs((double)s[c + l]) > 0.1;
            acc[l] += use ? t * t : 0.0;
            n[l] += use ? 1.0 : 0.0;
        }
    for (; c < ncols; c++) {
        const double t = (double)(float)(o[c] - s[c]);
        const int use = fabs((double)o[c]) > 0.1 || fabs((double)s[c]) > 0.1;
        acc[0] += use ? t * t : 0.0;
        n[0] += use ? 1.0 : 0.0;
    }
    *sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    *cnt = ((n[0] + n[1]) + (n[2] + n[3])) + ((n[4] + n[5]) + (n[6] + n[7]));
}

/* The row's sum in the reference order (sequential in columns). */
static double
exact_row(const float *obs, const float *rsz, Py_ssize_t ncols, Py_ssize_t r)
{
    const float *o = obs + r * ncols, *s = rsz + r * ncols;
    double acc = 0;
    for (Py_ssize_t c = 0; c < ncols; c++) {
        const double t = (double)(float)(o[c] - s[c]);
        const int use = fabs((double)o[c]) > 0.1 || fabs((double)s[c]) > 0.1;
        acc += use ? t * t : 0.0;
    }
    return acc;
}

/* smooth_round(obs, rsz (rw), edges, rowsum (w), rowcnt (w), nrows, ncols, r0, r1, rn): one round of
 * cteSmoothImage on rows r0..r1-1 — every pixel's find_dadjFast from the round's starting rsz, then
 * rsz += 0.75*adjustment — in one sweep: the adjustment of row r is made, then row r-1 (whose old values
 * row r needed) is updated; the old rows r0-1 and r1, which the neighbouring row ranges update in the
 * same round, come from `edges` ([2][ncols] float32, copied before the round). Per row the operations
 * and their order are those of a separate adjust pass and apply pass. */
static PyObject *
smooth_round(PyObject *self, PyObject *args)
{
    Py_buffer bo = {0}, bs = {0}, be = {0}, bsum = {0}, bcnt = {0};
    Py_buffer *bufs[] = {&bo, &bs, &be, &bsum, &bcnt};
    Py_ssize_t nrows, ncols, r0, r1;
    double rn;
    if (!PyArg_ParseTuple(args, "y*w*y*w*w*nnnnd", &bo, &bs, &be, &bsum, &bcnt, &nrows, &ncols, &r0, &r1, &rn))
        return NULL;
    Py_ssize_t n = nrows * ncols;
    if (ck_check(&bo, n, 4, "obs") || ck_check(&bs, n, 4, "rsz") || ck_check(&be, 2 * ncols, 4, "edges") ||
        ck_check(&bsum, nrows, 8, "rowsum") || ck_check(&bcnt, nrows, 8, "rowcnt") || r0 < 0 || r1 > nrows ||
        r0 > r1 || ncols < 3) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "smooth_round: bad row range or fewer than 3 columns");
        ck_release(bufs, 5);
        return NULL;
    }
    const float *obs = bo.buf, *above = be.buf, *below = (const float *)be.buf + ncols;
    float *rsz = bs.buf;
    double *sum = bsum.buf, *cnt = bcnt.buf;
    if (use_avx512 < 0)
        use_avx512 = avx512_ok();
    double *wcarry = malloc(ncols * sizeof(double));
    float *abuf = malloc(2 * ncols * sizeof(float));
    double *dring = malloc(4 * ncols * sizeof(double)); /* difference rows r-1, r, r+1 (slot row % 3), sums */
    if (!wcarry || !abuf || !dring) {
        free(wcarry);
        free(abuf);
        free(dring);
        ck_release(bufs, 5);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS;
    int carried = 0;
    Py_ssize_t dtag[3] = {-3, -3, -3}; /* the row each slot holds (this round's starting values) */
    int dok[3] = {0, 0, 0};
    double *csum = dring + 3 * ncols;
    for (Py_ssize_t r = r0; r < r1; r++) {
        const float *o1 = obs + r * ncols, *o0 = r > 0 ? o1 - ncols : NULL, *o2 = r < nrows - 1 ? o1 + ncols : NULL;
        const float *s1 = rsz + r * ncols;
        const float *s0 = r == 0 ? NULL : (r == r0 ? above : s1 - ncols);
        const float *s2 = r == nrows - 1 ? NULL : (r == r1 - 1 ? below : s1 + ncols);
        float *a = abuf + (r & 1) * ncols;
        if (s0 && s2) {
            /* rows r-1..r+1 still hold the round's starting values (row r-1 is updated after this row) */
            const float *orow[3] = {o0, o1, o2}, *srow[3] = {s0, s1, s2};
            int ok = exact_sums;
            for (int k = 0; k < 3 && ok; k++) {
                const Py_ssize_t rr = r - 1 + k, slot = rr % 3;
                if (dtag[slot] != rr) {
                    dok[slot] = diff_row(orow[k], srow[k], dring + slot * ncols, ncols);
                    dtag[slot] = rr;
                }
                ok &= dok[slot];
            }
            if (ok)
                col_sums(dring + ((r - 1) % 3) * ncols, dring + (r % 3) * ncols, dring + ((r + 1) % 3) * ncols, csum,
                         ncols);
            dadj_row(o0, o1, o2, s0, s1, s2, ok ? csum : NULL, a, wcarry, ncols, rn, carried);
            carried = 1;
            a[0] = dadj_px(o0, o1, o2, s0, s1, s2, ncols, 0, rn);
            a[ncols - 1] = dadj_px(o0, o1, o2, s0, s1, s2, ncols, ncols - 1, rn);
        } else {
            for (Py_ssize_t c = 0; c < ncols; c++)
                a[c] = dadj_px(o0, o1, o2, s0, s1, s2, ncols, c, rn);
            carried = 0;
        }
        if (r > r0) /* row r-1: its old values are no longer needed */
            apply_row(o1 - ncols, rsz + (r - 1) * ncols, abuf + ((r - 1) & 1) * ncols, ncols, &sum[r - 1],
                      &cnt[r - 1]);
    }
    if (r1 > r0)
        apply_row(obs + (r1 - 1) * ncols, rsz + (r1 - 1) * ncols, abuf + ((r1 - 1) & 1) * ncols, ncols, &sum[r1 - 1],
                  &cnt[r1 - 1]);
    Py_END_ALLOW_THREADS;
    free(wcarry);
    free(abuf);
    free(dring);
    ck_release(bufs, 5);
    Py_RETURN_NONE;
}

/* smooth_exact(obs, rsz, rowsum, nrows, ncols): every row's sum in the reference order. */
static PyObject *
smooth_exact(PyObject *self, PyObject *args)
{
    Py_buffer bo = {0}, bs = {0}, bsum = {0};
    Py_buffer *bufs[] = {&bo, &bs, &bsum};
    Py_ssize_t nrows, ncols;
    if (!PyArg_ParseTuple(args, "y*y*w*nn", &bo, &bs, &bsum, &nrows, &ncols))
        return NULL;
    if (ck_check(&bo, nrows * ncols, 4, "obs") || ck_check(&bs, nrows * ncols, 4, "rsz") ||
        ck_check(&bsum, nrows, 8, "rowsum")) {
        ck_release(bufs, 3);
        return NULL;
    }
    const float *obs = bo.buf, *rsz = bs.buf;
    double *sum = bsum.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t r = 0; r < nrows; r++)
        sum[r] = exact_row(obs, rsz, ncols, r);
    Py_END_ALLOW_THREADS;
    ck_release(bufs, 3);
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

/* Columns are independent, so the readout runs LANES columns at once, one per SIMD lane (GCC vector
 * extensions: 8 doubles = one AVX-512, two AVX2 or four SSE2 registers). Every lane does exactly the
 * operations of its own column in HSTCAL's order and types; selects are bitwise (exact), never
 * arithmetic. A group's arrays are [row][lane] (column-block-major). */
#define LANES 8
#define BLK 16 /* rows per block of the readout's skip / all-filled index */
typedef double vd __attribute__((vector_size(LANES * 8)));
typedef long long vi __attribute__((vector_size(LANES * 8)));

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi" /* the vector helpers are static and inlined: no ABI crosses a call */
#endif
#define VLOAD(p) (*(const vd *)(p))
#define VSTORE(p, v) (*(vd *)(p) = (v))

static inline __attribute__((always_inline)) vd
vsplat(double x)
{
    vd v;
    for (int l = 0; l < LANES; l++)
        v[l] = x;
    return v;
}

static inline __attribute__((always_inline)) vd
vsel(vi m, vd a, vd b) /* m ? a : b, lane-wise (m all ones or all zeros) */
{
    return (vd)(((vi)a & m) | ((vi)b & ~m));
}

static inline __attribute__((always_inline)) vd
vand(vi m, vd a) /* m ? a : +0.0 */
{
    return (vd)((vi)a & m);
}

/* Per-group scratch of the readout: the trap columns as doubles, the rescale factor of each row
 * (traps[i]/traps[i-1] where the density drops, else 1.0: multiplying by 1.0 is exact, so it is
 * applied on every row), the double trail profiles of one trap, and the group's block bounds. */
typedef struct {
    double *td, *rat;    /* [row][lane] */
    double *rpd, *cpd;   /* [transfer] */
    double *bmax, *bmin; /* [block][lane]: each lane's bounds */
    unsigned char *ones; /* [block][lane]: every rescale factor of the lane's block rows is 1.0 */
    long long paths[5];  /* blocks skipped, all filled, trail only, lane by lane, row by row (tests) */
} Scratch;

static void *
galloc(size_t n)
{
    void *p = NULL;
    return posix_memalign(&p, 64, n ? n : 64) == 0 ? p : NULL;
}

static int
scratch_alloc(Scratch *s, Py_ssize_t nrows)
{
    const Py_ssize_t nb = nrows / BLK + 1;
    s->td = galloc((nrows + 1) * LANES * sizeof(double));
    s->rat = galloc((nrows + 1) * LANES * sizeof(double));
    s->rpd = malloc(101 * sizeof(double));
    s->cpd = malloc(101 * sizeof(double));
    s->bmax = galloc(nb * LANES * sizeof(double));
    s->bmin = galloc(nb * LANES * sizeof(double));
    s->ones = malloc(nb * LANES);
    memset(s->paths, 0, sizeof s->paths);
    return s->td && s->rat && s->rpd && s->cpd && s->bmax && s->bmin && s->ones;
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
    free(s->ones);
}

/* The group's trap columns (float [row][lane]) as doubles and the rows' rescale factors (HSTCAL's
 * `(double)traps[i] / (double)traps[i-1]` where traps[i] < traps[i-1]). */
static void
prepare_traps(const float *traps, Py_ssize_t nrows, Scratch *s)
{
    for (Py_ssize_t k = 0; k < nrows * LANES; k++)
        s->td[k] = (double)traps[k];
    for (int l = 0; l < LANES; l++)
        s->rat[l] = 1.0;
    for (Py_ssize_t k = LANES; k < nrows * LANES; k++)
        s->rat[k] = s->td[k] < s->td[k - LANES] ? s->td[k] / s->td[k - LANES] : 1.0;
    for (Py_ssize_t b = 0; b * BLK < nrows; b++)
        for (int l = 0; l < LANES; l++) {
            int ones = 1;
            for (Py_ssize_t i = b * BLK; i < nrows && i < (b + 1) * BLK; i++)
                ones &= s->rat[i * LANES + l] == 1.0;
            s->ones[b * LANES + l] = (unsigned char)ones;
        }
}

/* Each lane's highest and lowest value of rows i0..i1-1, continuing the bounds *hi, *lo (`start`: the
 * bounds begin at row i0). The block tests ask whether every lane is below / at or above a level, so
 * the bounds stay per lane (no reduction across lanes). */
static inline __attribute__((always_inline)) void
lane_minmax(const double *col, Py_ssize_t i0, Py_ssize_t i1, vd *hi, vd *lo, int start)
{
    vd h = start ? VLOAD(col + i0 * LANES) : *hi, o = start ? h : *lo;
    for (Py_ssize_t i = i0 + (start ? 1 : 0); i < i1; i++) {
        const vd x = VLOAD(col + i * LANES);
        h = vsel(x > h, x, h);
        o = vsel(x < o, x, o);
    }
    *hi = h;
    *lo = o;
}

/* Every lane of v below q / at or above q. */
static inline int
all_lt(const double *v, double q)
{
    int r = 1;
    for (int l = 0; l < LANES; l++)
        r &= v[l] < q;
    return r;
}

static inline int
all_ge(const double *v, double q)
{
    int r = 1;
    for (int l = 0; l < LANES; l++)
        r &= v[l] >= q;
    return r;
}

/* Rows i0..i1-1 of one trap's pass, each lane (column) in HSTCAL's order with its carried state
 * (nt, trapped) — the portable version, one lane after the other (a branch-free row loop with masks
 * was slower in scalar code: its selects put a multiply and a blend on the row-to-row chain). */
static void
rows_general_lanes(double *col, Py_ssize_t i0, Py_ssize_t i1, double q, double fillw, int tlen, const Scratch *s,
                   long long *pnt, double *ptrapped)
{
    const double *td = s->td, *rat = s->rat, *rpd = s->rpd, *cpd = s->cpd;
    for (int l = 0; l < LANES; l++) {
        long long nt = pnt[l];
        double trapped = ptrapped[l];
        for (Py_ssize_t i = i0; i < i1; i++) {
            const Py_ssize_t k = i * LANES + l;
            const double pix = col[k];
            trapped = trapped * rat[k]; /* HSTCAL rescales where traps[i] < traps[i-1]; elsewhere x * 1.0 = x */
            const int inside = nt < tlen;
            const int fill = pix >= q;
            const long long t = inside ? nt : 0;
            const double a = rpd[t] * trapped, e = cpd[t] * trapped;
            const double add = inside ? a : 0.0;
            const double extra = (inside & fill) ? e : 0.0;
            const double nw = fillw * td[k];
            const double remove = fill ? nw : 0.0;
            trapped = fill ? nw : trapped;
            nt = fill ? 0 : nt + inside;
            col[k] = pix + ((add + extra) - remove);
        }
        pnt[l] = nt;
        ptrapped[l] = trapped;
    }
}

/* Rows i0..i1-1 of lane l alone, in HSTCAL's order, for blocks where few lanes fill or release: a row
 * that neither fills nor is inside the trail adds 0.0 in HSTCAL and is skipped (see the `+ 0.0` pass);
 * `ones`: every rescale factor of these rows is 1.0, so the `trapped * 1.0` is left out (exact).
 * The lane's bounds of the rows' new values into *phi, *plo. */
static inline __attribute__((always_inline)) void
rows_lane(double *col, Py_ssize_t i0, Py_ssize_t i1, int l, double q, double fillw, int tlen, const Scratch *s,
          long long *pnt, double *ptrapped, double *phi, double *plo, const int ones)
{
    const double *td = s->td, *rat = s->rat, *rpd = s->rpd, *cpd = s->cpd;
    long long nt = *pnt;
    double trapped = *ptrapped, hi = -INFINITY, lo = INFINITY;
    for (Py_ssize_t i = i0; i < i1; i++) {
        const Py_ssize_t k = i * LANES + l;
        const double pix = col[k];
        if (!ones)
            trapped = trapped * rat[k];
        double v = pix;
        if (pix >= q) {
            double add = 0.0, extra = 0.0;
            if (nt < tlen) {
                add = rpd[nt] * trapped;
                extra = cpd[nt] * trapped;
            }
            const double nw = fillw * td[k];
            v = pix + ((add + extra) - nw);
            trapped = nw;
            nt = 0;
            col[k] = v;
        } else if (nt < tlen) {
            const double add = rpd[nt] * trapped;
            v = pix + ((add + 0.0) - 0.0);
            nt++;
            col[k] = v;
        }
        hi = v > hi ? v : hi;
        lo = v < lo ? v : lo;
    }
    *pnt = nt;
    *ptrapped = trapped;
    *phi = hi;
    *plo = lo;
}

#if CTE_AVX512
/* The same rows with the eight lanes in one AVX-512 register each: masked multiplies give +0.0 where
 * HSTCAL adds 0.0, masked moves do the selects, the trail profile value of each lane is gathered. */
__attribute__((target("avx512f"))) static void
rows_general_avx512(double *col, Py_ssize_t i0, Py_ssize_t i1, double qs, double fillws, int tlens,
                    const Scratch *s, long long *pnt, double *ptrapped, double *phi, double *plo)
{
    __m512d hi = _mm512_setzero_pd(), lo = hi;
    __m512i nt = _mm512_loadu_si512(pnt);
    __m512d trapped = _mm512_loadu_pd(ptrapped);
    const __m512d q = _mm512_set1_pd(qs), fillw = _mm512_set1_pd(fillws);
    const __m512i tlen = _mm512_set1_epi64(tlens), one = _mm512_set1_epi64(1);
    const double *rpd = s->rpd, *cpd = s->cpd;
    for (Py_ssize_t i = i0; i < i1; i++) {
        const __m512d pix = _mm512_load_pd(col + i * LANES);
        trapped = _mm512_mul_pd(trapped, _mm512_load_pd(s->rat + i * LANES));
        const __mmask8 inside = _mm512_cmplt_epi64_mask(nt, tlen);
        const __mmask8 fill = _mm512_cmp_pd_mask(pix, q, _CMP_GE_OS);
        const __m512d rp = _mm512_mask_i64gather_pd(_mm512_setzero_pd(), inside, nt, rpd, 8);
        const __m512d cp = _mm512_mask_i64gather_pd(_mm512_setzero_pd(), inside & fill, nt, cpd, 8);
        const __m512d add = _mm512_maskz_mul_pd(inside, rp, trapped);
        const __m512d extra = _mm512_maskz_mul_pd(inside & fill, cp, trapped);
        const __m512d nw = _mm512_mul_pd(fillw, _mm512_load_pd(s->td + i * LANES));
        const __m512d remove = _mm512_maskz_mov_pd(fill, nw);
        trapped = _mm512_mask_mov_pd(trapped, fill, nw);
        nt = _mm512_maskz_mov_epi64((__mmask8)~fill, _mm512_mask_add_epi64(nt, inside, nt, one));
        const __m512d v = _mm512_add_pd(pix, _mm512_sub_pd(_mm512_add_pd(add, extra), remove));
        _mm512_store_pd(col + i * LANES, v);
        /* the block bounds as lane_minmax makes them: max_pd(v, hi) = v > hi ? v : hi (min likewise) */
        hi = i == i0 ? v : _mm512_max_pd(v, hi);
        lo = i == i0 ? v : _mm512_min_pd(v, lo);
    }
    _mm512_storeu_si512(pnt, nt);
    _mm512_storeu_pd(ptrapped, trapped);
    _mm512_store_pd(phi, hi);
    _mm512_store_pd(plo, lo);
}
#endif

#if CTE_AVX512
/* Rows i0..i1-1 where no lane fills (every lane's bounds below q) and every rescale factor is 1.0: the
 * lanes inside the trail only release, so trapped stays and nt counts up one per row (until tlen) — the
 * rows do not depend on each other. Same operations as rows_general_avx512 with fill false. */
__attribute__((target("avx512f"))) static void
rows_trail_avx512(double *col, Py_ssize_t i0, Py_ssize_t i1, int tlens, const Scratch *s, long long *pnt,
                  const double *ptrapped, double *phi, double *plo)
{
    const __m512i nt0 = _mm512_loadu_si512(pnt), tlen = _mm512_set1_epi64(tlens);
    const __m512d trapped = _mm512_loadu_pd(ptrapped), zero = _mm512_setzero_pd();
    __m512d hi = _mm512_set1_pd(-INFINITY), lo = _mm512_set1_pd(INFINITY);
    for (Py_ssize_t i = i0; i < i1; i++) {
        const __m512i nt = _mm512_add_epi64(nt0, _mm512_set1_epi64(i - i0));
        const __mmask8 inside = _mm512_cmplt_epi64_mask(nt, tlen);
        const __m512d pix = _mm512_load_pd(col + i * LANES);
        const __m512d rp = _mm512_mask_i64gather_pd(zero, inside, nt, s->rpd, 8);
        const __m512d add = _mm512_maskz_mul_pd(inside, rp, trapped);
        const __m512d v = _mm512_add_pd(pix, _mm512_sub_pd(_mm512_add_pd(add, zero), zero));
        _mm512_store_pd(col + i * LANES, v);
        hi = _mm512_max_pd(v, hi);
        lo = _mm512_min_pd(v, lo);
    }
    _mm512_storeu_si512(pnt, _mm512_min_epi64(_mm512_add_epi64(nt0, _mm512_set1_epi64(i1 - i0)), tlen));
    _mm512_store_pd(phi, hi);
    _mm512_store_pd(plo, lo);
}
#endif



/* Rows i0..i1-1 of a trap's pass; the lanes' bounds of these rows (as lane_minmax) into hi, lo. */
static inline void
rows_general(double *col, Py_ssize_t i0, Py_ssize_t i1, double q, double fillw, int tlen, const Scratch *s,
             long long *nt, double *trapped, double *hi, double *lo)
{
#if CTE_AVX512
    if (use_avx512) {
        rows_general_avx512(col, i0, i1, q, fillw, tlen, s, nt, trapped, hi, lo);
        return;
    }
#endif
    rows_general_lanes(col, i0, i1, q, fillw, tlen, s, nt, trapped);
    vd h, o;
    lane_minmax(col, i0, i1, &h, &o, 1);
    VSTORE(hi, h);
    VSTORE(lo, o);
}

/* Rows i0..i1-1 (i0 >= 1) where this row and the one before are filled in every lane: the trap was
 * refilled on the row before, so the state is known without the recurrence (nt = 0, trapped =
 * fillw*traps[i-1], rescaled) and the rows are independent; same operations as rows_general.
 * The lanes' bounds *hi, *lo (of the rows before) go on over these rows, as lane_minmax does. */
static inline __attribute__((always_inline)) void
rows_filled(double *col, Py_ssize_t i0, Py_ssize_t i1, vd fillw, vd rp0, vd cp0, const double *td,
            const double *rat, vd *hi, vd *lo)
{
    vd h = *hi, o = *lo;
    for (Py_ssize_t i = i0; i < i1; i++) {
        const vd t = (fillw * VLOAD(td + (i - 1) * LANES)) * VLOAD(rat + i * LANES);
        const vd add = rp0 * t, extra = cp0 * t;
        const vd x = VLOAD(col + i * LANES) + ((add + extra) - fillw * VLOAD(td + i * LANES));
        VSTORE(col + i * LANES, x);
        h = vsel(x > h, x, h);
        o = vsel(x < o, x, o);
    }
    *hi = h;
    *lo = o;
}

/* A block where at most this many lanes fill or release runs those lanes one by one (set_lane_limit). */
static int lane_limit = 2;

static inline int
all_ones(const unsigned char *o)
{
    int r = 1;
    for (int l = 0; l < LANES; l++)
        r &= o[l];
    return r;
}

/* Bit l: lane l fills (bounds at or above q) or releases (nt < tlen) in a block. */
static inline unsigned
engaged(const double *hi, const long long *nt, double q, int tlen)
{
    unsigned m = 0;
    for (int l = 0; l < LANES; l++)
        m |= (unsigned)((nt[l] < tlen) | (hi[l] >= q)) << l;
    return m;
}

/* simulateColumnReadout on a group of LANES columns ([row][lane], in place): npar passes of
 * simulatePixelReadout_v1_2.
 *
 * Per lane the traps 0..w_max(column) are HSTCAL's; the group walks the traps up to the highest
 * w_max of its lanes. A trap above a lane's w_max lies above every pixel of that column at the
 * pass's start and those pixels are untouched until the trap is done (traps go downwards), so it
 * neither fills nor releases there and only adds +0.0, which changes nothing but -0.0 -> +0.0 —
 * and that the final `+ 0.0` of the pass does anyway. The same holds for a block of rows below a
 * trap's level while no lane is releasing (nt >= tlen): HSTCAL adds 0.0 on each row, so the block
 * is skipped. A block at or above the level in every lane has every row refilled (rows_filled).
 * A block below the level in every lane whose rescale factors are all 1.0 only continues the lanes'
 * trails: trapped stays and nt counts up, so its rows are independent (rows_trail_avx512). A block
 * where at most `lane_limit` lanes fill or release runs those lanes alone (rows_lane; the other lanes
 * neither fill nor release there, so HSTCAL adds 0.0 on their rows); the rest go row by row in all
 * lanes (rows_general). Block bounds over the group are kept up to date as
 * the trap changes the pixels (with a NaN or an infinity they are made useless: nothing skipped). */
VEC_CLONES static void
sim_group(double *col, Py_ssize_t nrows, const Model *m, Scratch *s)
{
    if (m->ntraps <= 0 || nrows <= 0)
        return;
    const Py_ssize_t nb = (nrows + BLK - 1) / BLK;
    for (int shift = 0; shift < m->npar; shift++) {
        vd maxpix = vsplat(10), fin = vsplat(0.0);
        for (Py_ssize_t i = 0; i < nrows; i++) {
            const vd x = VLOAD(col + i * LANES);
            maxpix = vsel(x > maxpix, x, maxpix);
            fin = fin + (x - x); /* stays 0 unless a NaN or an infinity is met */
        }
        int finite = 1, wtop = -1;
        for (int l = 0; l < LANES; l++) {
            finite &= fin[l] == 0.0;
            int wmax = m->ntraps - 1;
            for (int w = wmax; w >= 0; w--)
                if (m->qlev[w] <= maxpix[l]) {
                    wmax = w;
                    break;
                }
            wtop = wmax > wtop ? wmax : wtop;
        }
        for (Py_ssize_t b = 0; b < nb; b++) {
            const Py_ssize_t i0 = b * BLK, i1 = i0 + BLK < nrows ? i0 + BLK : nrows;
            vd h = vsplat(INFINITY), o = vsplat(-INFINITY);
            if (finite)
                lane_minmax(col, i0, i1, &h, &o, 1);
            VSTORE(s->bmax + b * LANES, h);
            VSTORE(s->bmin + b * LANES, o);
        }
        for (int w = wtop; w >= 0; w--) {
            const double qs = m->qlev[w];
            const double fillws = m->dpde[w] / m->npar;
            const vd fillw = vsplat(fillws);
            for (int n = 0; n < m->tlen; n++) {
                s->rpd[n] = (double)m->rprof[(Py_ssize_t)n * m->pstride + w];
                s->cpd[n] = (double)m->cprof[(Py_ssize_t)n * m->pstride + w];
            }
            s->rpd[m->tlen] = s->cpd[m->tlen] = 0.0;
            const vd rp0 = vsplat(s->rpd[0]), cp0 = vsplat(s->cpd[0]);
            long long nt[LANES];
            double trapped[LANES];
            for (int l = 0; l < LANES; l++) {
                nt[l] = m->tlen;
                trapped[l] = 0.0;
            }
            int idle = 1; /* no lane releasing (nt >= tlen in every lane) */
            for (Py_ssize_t b = 0; b < nb; b++) {
                const Py_ssize_t i0 = b * BLK, i1 = i0 + BLK < nrows ? i0 + BLK : nrows;
                double *bhi = s->bmax + b * LANES, *blo = s->bmin + b * LANES;
                if (idle && all_lt(bhi, qs)) {
                    s->paths[0]++;
                    continue; /* HSTCAL adds 0.0 on each of these rows */
                }
                /* the row loops leave the new bounds of the block's rows (unused unless `finite`) */
                vd hnew, lnew;
                unsigned eng;
                if (all_ge(blo, qs)) {
                    s->paths[1]++;
                    rows_general(col, i0, i0 + 1, qs, m->dpde[w] / m->npar, m->tlen, s, nt, trapped, (double *)&hnew,
                                 (double *)&lnew);
                    if (i1 > i0 + 1) {
                        rows_filled(col, i0 + 1, i1, fillw, rp0, cp0, s->td, s->rat, &hnew, &lnew);
                        for (int l = 0; l < LANES; l++) {
                            trapped[l] = m->dpde[w] / m->npar * s->td[(i1 - 1) * LANES + l];
                            nt[l] = 0;
                        }
                    }
#if CTE_AVX512
                } else if (use_avx512 && all_lt(bhi, qs) && all_ones(s->ones + b * LANES)) {
                    s->paths[2]++;
                    rows_trail_avx512(col, i0, i1, m->tlen, s, nt, trapped, (double *)&hnew, (double *)&lnew);
#endif
                } else if (__builtin_popcount(eng = engaged(bhi, nt, qs, m->tlen)) <= lane_limit) {
                    /* few lanes fill or release here: those lanes alone, the others keep their rows and bounds */
                    s->paths[3]++;
                    double hn[LANES], ln[LANES];
                    memcpy(hn, bhi, sizeof hn);
                    memcpy(ln, blo, sizeof ln);
                    for (; eng; eng &= eng - 1) {
                        const int l = __builtin_ctz(eng);
                        if (s->ones[b * LANES + l])
                            rows_lane(col, i0, i1, l, qs, fillws, m->tlen, s, &nt[l], &trapped[l], &hn[l], &ln[l], 1);
                        else
                            rows_lane(col, i0, i1, l, qs, fillws, m->tlen, s, &nt[l], &trapped[l], &hn[l], &ln[l], 0);
                    }
                    memcpy(&hnew, hn, sizeof hn);
                    memcpy(&lnew, ln, sizeof ln);
                } else {
                    s->paths[4]++;
                    rows_general(col, i0, i1, qs, m->dpde[w] / m->npar, m->tlen, s, nt, trapped, (double *)&hnew,
                                 (double *)&lnew);
                }
                idle = 1;
                for (int l = 0; l < LANES; l++)
                    idle &= nt[l] >= m->tlen;
                if (finite) {
                    VSTORE(bhi, hnew);
                    VSTORE(blo, lnew);
                }
            }
        }
        const vd zero = vsplat(0.0);
        for (Py_ssize_t i = 0; i < nrows; i++)
            VSTORE(col + i * LANES, VLOAD(col + i * LANES) + zero); /* -0.0 -> +0.0, as HSTCAL's skipped rows */
    }
}

/* correctCROverSubtraction on lane l of a group; returns 1 if the column must be redone. */
static int
fix_crs(float *traps, const double *model, const double *observed, Py_ssize_t nrows, double thresh, int l)
{
#define MO(i) model[(i) * LANES + l]
#define OB(i) observed[(i) * LANES + l]
    int redo = 0;
    for (Py_ssize_t i = 10; i < nrows - 2; i++) {
        if (((thresh > MO(i)) && (thresh > (MO(i) - OB(i)))) ||
            (((MO(i) + MO(i + 1)) < -12.) && (MO(i) + MO(i + 1) - OB(i) - OB(i + 1) < -12.)) ||
            (((MO(i) + MO(i + 1) + MO(i + 2)) < -15.) &&
             ((MO(i) + MO(i + 1) + MO(i + 2) - OB(i) - OB(i + 1) - OB(i + 2)) < -15.))) {
            redo = 1;
            Py_ssize_t imax = i;
            for (Py_ssize_t ii = i - 10; ii <= i; ++ii)
                if ((MO(ii) - OB(ii)) > (MO(imax) - OB(imax)))
                    imax = ii;
            for (Py_ssize_t ii = imax; ii <= i; ++ii)
                traps[ii * LANES + l] *= 0.75;
        }
    }
    return redo;
#undef MO
#undef OB
}

/* inverseCTEBlur on a group: obs (double), traps (float, modified), result (double), all [row][lane];
 * `live` lanes hold real columns. A lane whose column is redone (readout-CR fix, up to 5 passes in
 * all) stays active; the others keep the result of their last pass (recomputing them with unchanged
 * traps would give the same bits, so the whole group simply runs again). */
VEC_CLONES static void
blur_group(const double *obs, float *traps, double *result, double *model, double *tmp, Py_ssize_t nrows, int live,
           const Model *m, Scratch *s)
{
    const vd rn2 = vsplat(m->rn * m->rn);
    int active[LANES];
    for (int l = 0; l < LANES; l++)
        active[l] = l < live;
    for (int pass = 0; pass < 5; pass++) {
        prepare_traps(traps, nrows, s);
        memcpy(model, obs, nrows * LANES * sizeof(double));
        for (int it = 1; it <= m->nfor - 1; ++it) {
            memcpy(tmp, model, nrows * LANES * sizeof(double));
            sim_group(model, nrows, m, s);
            for (Py_ssize_t i = 0; i < nrows; ++i) {
                vd delta = VLOAD(model + i * LANES) - VLOAD(obs + i * LANES);
                const vd delta2 = delta * delta;
                delta *= delta2 / (delta2 + rn2);
                VSTORE(model + i * LANES, VLOAD(tmp + i * LANES) - delta);
            }
        }
        memcpy(tmp, model, nrows * LANES * sizeof(double));
        sim_group(model, nrows, m, s);
        for (Py_ssize_t i = 0; i < nrows; ++i)
            VSTORE(model + i * LANES, VLOAD(tmp + i * LANES) - (VLOAD(model + i * LANES) - VLOAD(obs + i * LANES)));
        int again = 0;
        for (int l = 0; l < LANES; l++) {
            if (!active[l])
                continue;
            for (Py_ssize_t i = 0; i < nrows; i++)
                result[i * LANES + l] = model[i * LANES + l];
            active[l] = m->fix_rocr ? fix_crs(traps, model, obs, nrows, m->thresh, l) : 0;
            again |= active[l];
        }
        if (!again)
            break;
    }
}

/* Blocks per readout path over all calls since the last block_paths() (added under the GIL). */
static long long path_total[5];

static void
count_paths(const Scratch *s)
{
    for (int k = 0; k < 5; k++)
        path_total[k] += s->paths[k];
}

/* Group buffers of the readout inversion for one thread. */
typedef struct {
    double *obs, *model, *tmp, *result;
    float *traps;
    Scratch scr;
} Group;

static int
group_alloc(Group *g, Py_ssize_t nrows)
{
    const size_t n = (size_t)(nrows > 0 ? nrows : 1) * LANES;
    g->obs = galloc(n * sizeof(double));
    g->model = galloc(n * sizeof(double));
    g->tmp = galloc(n * sizeof(double));
    g->result = galloc(n * sizeof(double));
    g->traps = galloc(n * sizeof(float));
    return scratch_alloc(&g->scr, nrows) && g->obs && g->model && g->tmp && g->result && g->traps;
}

static void
group_free(Group *g)
{
    free(g->obs);
    free(g->model);
    free(g->tmp);
    free(g->result);
    free(g->traps);
    scratch_free(&g->scr);
}

/* Columns c..c+live-1 of a float [row, col] image into lanes (the unused lanes repeat the last column). */
static void
gather_cols(const float *img, Py_ssize_t nrows, Py_ssize_t ncols, Py_ssize_t c, int live, double *dst, float *fdst)
{
    for (Py_ssize_t i = 0; i < nrows; i++)
        for (int l = 0; l < LANES; l++) {
            const float v = img[i * ncols + c + (l < live ? l : live - 1)];
            if (dst)
                dst[i * LANES + l] = (double)v;
            else
                fdst[i * LANES + l] = v;
        }
}

static int
parse_model(Model *m, Py_buffer *bq, Py_buffer *bd, Py_buffer *brp, Py_buffer *bcp, Py_ssize_t pstride)
{
    const Py_ssize_t nprof = brp->len / 4;
    if (ck_check(bcp, nprof, 4, "cprof") || m->tlen < 1 || m->tlen > 100 || m->npar < 1 || m->ntraps < 0 ||
        pstride < m->ntraps || (Py_ssize_t)m->tlen * pstride > nprof || bq->len < (Py_ssize_t)m->ntraps * 8 ||
        bd->len < (Py_ssize_t)m->ntraps * 8)
        return -1;
    m->qlev = bq->buf;
    m->dpde = bd->buf;
    m->rprof = brp->buf;
    m->cprof = bcp->buf;
    m->pstride = pstride;
    return 0;
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
    if (ck_check(&bsm, n, 4, "smoothed") || ck_check(&btr, n, 4, "traps") || ck_check(&bout, n, 4, "out") ||
        c0 < 0 || c1 > ncols || c0 > c1 || parse_model(&m, &bq, &bd, &brp, &bcp, pstride)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "inverse_blur: inconsistent sizes or parameters");
        ck_release(bufs, 7);
        return NULL;
    }
    const float *sm = bsm.buf;
    float *tr = btr.buf, *out = bout.buf;
    int fail = 0;
    if (use_avx512 < 0)
        use_avx512 = avx512_ok();
    Group g;
    Py_BEGIN_ALLOW_THREADS;
    if (!group_alloc(&g, nrows))
        fail = 1;
    else
        for (Py_ssize_t c = c0; c < c1; c += LANES) {
            const int live = c1 - c < LANES ? (int)(c1 - c) : LANES;
            gather_cols(sm, nrows, ncols, c, live, g.obs, NULL);
            gather_cols(tr, nrows, ncols, c, live, NULL, g.traps);
            blur_group(g.obs, g.traps, g.result, g.model, g.tmp, nrows, live, &m, &g.scr);
            for (Py_ssize_t i = 0; i < nrows; i++)
                for (int l = 0; l < live; l++) {
                    out[i * ncols + c + l] = (float)g.result[i * LANES + l];
                    tr[i * ncols + c + l] = g.traps[i * LANES + l];
                }
        }
    Py_END_ALLOW_THREADS;
    count_paths(&g.scr);
    group_free(&g);
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
    if (ck_check(&bim, n, 4, "image") || ck_check(&btr, n, 4, "traps") || ck_check(&bout, n, 4, "out") || c0 < 0 ||
        c1 > ncols || c0 > c1 || parse_model(&m, &bq, &bd, &brp, &bcp, pstride)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "forward: inconsistent sizes or parameters");
        ck_release(bufs, 7);
        return NULL;
    }
    const float *im = bim.buf, *tr = btr.buf;
    float *out = bout.buf;
    int fail = 0;
    if (use_avx512 < 0)
        use_avx512 = avx512_ok();
    Group g;
    Py_BEGIN_ALLOW_THREADS;
    if (!group_alloc(&g, nrows))
        fail = 1;
    else
        for (Py_ssize_t c = c0; c < c1; c += LANES) {
            const int live = c1 - c < LANES ? (int)(c1 - c) : LANES;
            gather_cols(im, nrows, ncols, c, live, g.model, NULL);
            gather_cols(tr, nrows, ncols, c, live, NULL, g.traps);
            prepare_traps(g.traps, nrows, &g.scr);
            sim_group(g.model, nrows, &m, &g.scr);
            for (Py_ssize_t i = 0; i < nrows; i++)
                for (int l = 0; l < live; l++)
                    out[i * ncols + c + l] = (float)g.model[i * LANES + l];
        }
    Py_END_ALLOW_THREADS;
    count_paths(&g.scr);
    group_free(&g);
    ck_release(bufs, 7);
    if (fail)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* set_simd(flag): use the AVX-512 readout rows and smoothing sums when the CPU has them (flag true) or
 * the portable ones; returns whether AVX-512 is now used. */
static PyObject *
set_simd(PyObject *self, PyObject *args)
{
    int flag;
    if (!PyArg_ParseTuple(args, "p", &flag))
        return NULL;
    use_avx512 = flag && avx512_ok();
    return PyBool_FromLong(use_avx512);
}

/* set_lane_limit(n): blocks where at most n lanes fill or release run lane by lane (0: never; tests);
 * returns the previous limit. */
static PyObject *
set_lane_limit(PyObject *self, PyObject *args)
{
    int n, old = lane_limit;
    if (!PyArg_ParseTuple(args, "i", &n))
        return NULL;
    lane_limit = n;
    return PyLong_FromLong(old);
}

/* set_exact_sums(flag): the smoothing's 3x3 sums from column sums where exact (True, the default) or
 * always by HSTCAL's chain (False; tests); returns the previous setting. */
static PyObject *
set_exact_sums(PyObject *self, PyObject *args)
{
    int flag, old = exact_sums;
    if (!PyArg_ParseTuple(args, "p", &flag))
        return NULL;
    exact_sums = flag;
    return PyBool_FromLong(old);
}

VEC_CLONES static void
div9_many(const double *a, double *out, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        out[i] = div9(a[i]);
}

/* div_nine(a, out, n): out[i] = div9(a[i]) for n doubles (tests compare it with a / 9.0). */
static PyObject *
div_nine(PyObject *self, PyObject *args)
{
    Py_buffer ba = {0}, bo = {0};
    Py_buffer *bufs[] = {&ba, &bo};
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "y*w*n", &ba, &bo, &n))
        return NULL;
    if (ck_check(&ba, n, 8, "a") || ck_check(&bo, n, 8, "out")) {
        ck_release(bufs, 2);
        return NULL;
    }
    const double *a = ba.buf;
    double *out = bo.buf;
    Py_BEGIN_ALLOW_THREADS;
    div9_many(a, out, n);
    Py_END_ALLOW_THREADS;
    ck_release(bufs, 2);
    Py_RETURN_NONE;
}

/* block_paths(): (skipped, all filled, trail only, lane by lane, row by row) readout blocks since the last
 * call (tests: which paths a case exercised). */
static PyObject *
block_paths(PyObject *self, PyObject *args)
{
    PyObject *r = Py_BuildValue("(LLLLL)", path_total[0], path_total[1], path_total[2], path_total[3], path_total[4]);
    memset(path_total, 0, sizeof path_total);
    return r;
}

static PyMethodDef methods[] = {
    {"set_lane_limit", set_lane_limit, METH_VARARGS, "run blocks with at most n busy lanes lane by lane (tests)."},
    {"set_exact_sums", set_exact_sums, METH_VARARGS,
     "make the smoothing's 3x3 sums from column sums where that is exact (True) or always by the chain (tests)."},
    {"div_nine", div_nine, METH_VARARGS, "a / 9.0 as the smoothing's 3x3 term makes it without the divider (tests)."},
    {"block_paths", block_paths, METH_NOARGS, "readout blocks per path since the last call (tests)."},
    {"set_simd", set_simd, METH_VARARGS,
     "choose the AVX-512 (True, if the CPU has it) or the portable readout rows and smoothing sums."},
    {"smooth_round", smooth_round, METH_VARARGS,
     "one cteSmoothImage round (find_dadjFast, apply 0.75*adjustment) over rows r0..r1; per-row rms sums (fast order)."},
    {"smooth_exact", smooth_exact, METH_VARARGS, "every row's rms sum in the reference order (cteSmoothImage)."},
    {"inverse_blur", inverse_blur, METH_VARARGS, "inverseCTEBlur over columns c0..c1."},
    {"forward", forward, METH_VARARGS, "forwardModel (readout through the traps) over columns c0..c1."},
    {NULL, NULL, 0, NULL},
};

CK_MODULE(_cte_kernels, methods, "ACS/WFC pixel-based CTE correction kernels (see pctecorr.py).")
