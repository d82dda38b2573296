/* caldp C kernels: WF3IR. See caldp/engines/common/ckernel.h for the conventions.
 *
 * ramp_fit: CRCORR (HSTCAL wf3ir/cridcalc.c) one pixel at a time over a band of rows of the
 * (NSAMP, ny, nx) stack. The NumPy implementation in crcorr.py (fit_pixels, _general, _final,
 * _fallback, finish_flags) is the reference: every float32 expression here is evaluated in the
 * order and precision it uses there (float where it rounds to float32, double where it widens),
 * so the products stay bit-identical to calwf3.e.
 */
#include "ckernel.h"
#include <math.h>
#include <float.h>
#include <string.h>

/* DQ bits (caldp.engines.wfc3.dq.DQ) */
#define DQ_DETECTORPROB 4
#define DQ_UNSTABLE 32
#define DQ_SATPIXEL 256
#define DQ_SPIKE 1024
#define DQ_ZEROSIG 2048
#define DQ_CRHIT 8192
#define DQ_HICURV 16384

#define MAX_CRS 4   /* the 4th CR of a pixel turns into HIGH_CURVATURE and stops the fit */
#define NPOWERS 6   /* rows of the optimum-weight table (SNR classes) */
#define MAXN 64     /* largest NSAMP handled here (WFC3/IR has at most 16); Python falls back above */

/* The vectorised row loops also get an AVX2 build chosen at load time (GCC function clones on
 * x86-64 Linux): the same IEEE operations on eight lanes (AVX2 has no fused multiply-add, and
 * -ffp-contract=off forbids contraction anyway), so the results do not depend on the clone. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define VEC_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VEC_CLONES
#endif

/* Parameters shared by every pixel of a call. */
typedef struct {
    int N;
    float thresh;       /* CRSIGMAS[0] */
    float gain;         /* mean gain */
    float invr2;        /* 1 / readnoise^2 (float, as the NumPy code rounds it) */
    float lineardark;   /* dark rate per second used in the error of a slope */
    uint16_t dqignore;  /* BADINPDQ */
    const float *wtab;  /* [NPOWERS][N + 1][N] optimum weights, from crcorr.weight_table */
} Ramp;

/* Work space of one pixel: its samples in time order, its intervals and the compacted interval. */
typedef struct {
    float y[MAXN], s[MAXN], t[MAXN], dk[MAXN];
    uint16_t q[MAXN];
    int nint, nosamp;
    int tcount[MAXN];
    int look[MAXN * MAXN];    /* [interval][position] -> sample index */
    uint16_t buf[MAXN * MAXN]; /* [interval][position] -> sample DQ; persists over iterations */
    float xs[MAXN], ys[MAXN], ss[MAXN], ds[MAXN], d[MAXN];
} Pix;

/* Split samples 1..N-1 into intervals. A sample is used when its DQ is 0 (lenient: no BADINPDQ or
 * CRHIT bit); a CR sample (DQ exactly CRHIT; lenient: any CRHIT bit) starts a new interval and is
 * its first sample; a trailing interval made only of a CR sample is dropped. With `keep`, the DQ of
 * each interval position goes to the work buffer, whose other slots keep what earlier (longer)
 * intervals left there: the spike test reads one slot past an interval's end. */
static void
intervals(Pix *p, int N, int lenient, uint16_t dqignore, int keep)
{
    const uint16_t ign = (uint16_t)(dqignore | DQ_CRHIT);
    int cur = 0, sample = 0;
    for (int k = 0; k < N; k++)
        p->tcount[k] = 0;
    for (int k = 1; k < N; k++) {
        uint16_t q = p->q[k];
        int inc = lenient ? (q & ign) == 0 : q == 0;
        int cr = !inc && (lenient ? (q & DQ_CRHIT) != 0 : q == DQ_CRHIT);
        if (cr) {
            p->tcount[cur] = sample;
            cur++;
            sample = 0;
        }
        if (cr || inc) {
            p->look[cur * N + sample] = k;
            if (keep)
                p->buf[cur * N + sample] = q;
            sample++;
        }
    }
    p->nosamp = sample == 0;
    p->nint = 0;
    if (!p->nosamp) {
        int lastk = p->look[cur * N + sample - 1];
        if (p->q[lastk] == DQ_CRHIT) {
            p->nint = cur;
        } else {
            p->tcount[cur] = sample;
            p->nint = cur + 1;
        }
    }
}

/* Gather the n samples of interval idx into xs/ys/ss/ds. */
static void
compact(Pix *p, int N, int idx, int n)
{
    const int *lk = p->look + idx * N;
    for (int j = 0; j < n; j++) {
        int k = lk[j];
        p->xs[j] = p->t[k];
        p->ys[j] = p->y[k];
        p->ss[j] = p->s[k];
        p->ds[j] = p->dk[k];
    }
}

/* Straight-line fit of the compacted interval (n >= 2), equal or optimum (SNR power-law) weights.
 * Float32 sums accumulated in sample order; samples with sigma 0 are left out. */
static void
linfit(const Pix *p, int n, int optimum, const Ramp *r, float *a_out, float *b_out, float *sigb_out)
{
    const float *x = p->xs, *y = p->ys, *s = p->ss, *dk = p->ds;
    const int N = r->N, last = n - 1;
    const float *w = NULL;
    if (optimum) {
        float sl = s[last], dyl = y[last] - y[0];
        float snr = sl > 0 ? dyl / sl : 0.0f;
        int pi = snr > 100.0f ? 0 : snr > 50.0f ? 1 : snr > 20.0f ? 2 : snr > 10.0f ? 3 : snr > 5.0f ? 4 : 5;
        w = r->wtab + ((size_t)pi * (N + 1) + n) * N;
    }
    float S = 0.0f, Sx = 0.0f, Sy = 0.0f, Sxx = 0.0f, Sxy = 0.0f;
    for (int j = 0; j < n; j++) {
        if (s[j] == 0)
            continue;
        float wt = optimum ? w[j] * r->invr2 : r->invr2;
        float xj = x[j], yj = y[j];
        S = S + wt;
        Sy = Sy + yj * wt;
        Sx = Sx + xj * wt;
        Sxx = Sxx + (xj * xj) * wt;
        Sxy = Sxy + (xj * yj) * wt;
    }
    float x0 = x[0], y0 = y[0];
    float dx = x[last] - x0, dy = y[last] - y0, ddg = dk[last] - dk[0];
    float den = S * Sxx - Sx * Sx;
    if (den < 1e-6f)
        den = 1e-6f;
    float a, b, fu, sigb;
    if (n == 2) {
        b = dy / dx;
        a = y0 - b * x0;
        float s0 = s[0] / x0, s1 = s[1] / x[1];
        sigb = (float)sqrt((double)(s0 * s0 + s1 * s1));
        fu = 0.0f;
    } else {
        b = (S * Sxy - Sx * Sy) / den;
        a = (Sxx * Sy - Sx * Sxy) / den;
        fu = (float)sqrt((double)(S / den));
        sigb = fu;
    }
    /* slope error from the Poisson, dark and read-noise terms (float32 steps, double sqrt) */
    const float g = r->gain;
    float gf = (g * fu) * dx;
    float e = (gf * gf + g * ddg) + g * dy;
    if (e > 0)
        sigb = (float)((sqrt((double)e) / (double)dx) / (double)g);
    if (!(S > 0)) {
        a = 0.0f;
        b = 0.0f;
        sigb = 1e9f;
    }
    *a_out = a;
    *b_out = b;
    *sigb_out = sigb;
}

/* Spike, then CR, then first-read spike search on the normalised residuals d of one interval of n
 * samples whose DQ (work buffer, one slot past the end readable) is tdq. Returns the kind (0 none,
 * 1 spike, 2 CR, 3 first-read spike) and its position. */
static int
reject(const float *d, int n, const uint16_t *tdq, const Ramp *r, int *at)
{
    const uint16_t mcr = (uint16_t)(r->dqignore | DQ_CRHIT);
    const uint16_t msp = (uint16_t)(mcr | DQ_SPIKE);
    float maxd = 0.0f;
    int spk = -1;
    for (int k = 2; k < n; k++) {
        if ((tdq[k - 1] & msp) || (tdq[k] & msp) || (tdq[k + 1] & msp))
            continue;
        float dm = d[k - 1];
        if ((dm - d[k - 2]) > 6.0f && (dm - d[k]) > 6.0f && d[k - 2] < 0 && d[k] < 0 && fabsf(dm) > maxd) {
            maxd = dm; /* the signed value, compared with |dm| next time (as the reference does) */
            spk = k - 1;
        }
    }
    if (spk >= 0) {
        *at = spk;
        return 1;
    }
    float prev = 0.0f, maxc = 0.0f;
    int crk = 0;
    for (int k = 1; k < n; k++) {
        if (!(tdq[k - 1] & mcr))
            prev = d[k - 1];
        if (tdq[k] & mcr)
            continue;
        float c = fabsf(d[k] - prev);
        if (c > r->thresh) {
            if (c > maxc) {
                maxc = c;
                crk = k;
            }
            prev = d[k];
        }
    }
    if (maxc != 0) {
        *at = crk;
        return 2;
    }
    if (!(tdq[0] & msp) && !(tdq[1] & msp) && fabsf(d[0] - d[1]) > r->thresh) {
        *at = 0;
        return 3;
    }
    return 0;
}

/* One rejection iteration: the first interval that rejects a sample flags it and ends the pass.
 * Returns 0 (nothing rejected or no samples: see p->nosamp), 1 (rejected), 2 (too many CRs). */
static int
detect(Pix *p, const Ramp *r, int lenient, int *ncr)
{
    const int N = r->N;
    intervals(p, N, lenient, r->dqignore, 1);
    if (p->nosamp)
        return 0;
    for (int idx = 0; idx < p->nint; idx++) {
        int n = p->tcount[idx];
        if (n <= 1)
            continue;
        compact(p, N, idx, n);
        float a, b, sigb;
        linfit(p, n, 0, r, &a, &b, &sigb);
        const uint16_t *tdq = p->buf + idx * N;
        for (int j = 0; j < n; j++) {
            int qok = lenient ? (tdq[j] & r->dqignore) == 0 : tdq[j] == 0;
            float fit = a + b * p->xs[j];
            p->d[j] = (p->ss[j] != 0 && qok) ? (p->ys[j] - fit) / p->ss[j] : 0.0f;
        }
        int at = 0;
        int kind = reject(p->d, n, tdq, r, &at);
        if (kind == 0)
            continue;
        int k = p->look[idx * N + (kind == 3 ? 0 : at)];
        if (kind != 2) {
            p->q[k] |= DQ_SPIKE;
            return 1;
        }
        p->q[k] |= DQ_CRHIT;
        if (++*ncr >= MAX_CRS) {
            p->q[k] = (uint16_t)((p->q[k] - DQ_CRHIT) | DQ_HICURV);
            return 2;
        }
        return 1;
    }
    return 0;
}

/* Final fit: optimum weights per interval, slopes combined by inverse variance (sum of weights in
 * double for multi-sample intervals, in float for single samples, as the reference). */
static int
final_fit(Pix *p, const Ramp *r, int lenient, float *sci, float *err, int *samp, float *tim)
{
    const int N = r->N;
    intervals(p, N, lenient, r->dqignore, 0);
    float itime = 0.0f, sumw = 0.0f, tot = 0.0f;
    int ns = 0;
    for (int idx = 0; idx < p->nint; idx++) {
        int n = p->tcount[idx];
        ns += idx == 0 ? n + 1 : n - 1;
        int k0 = p->look[idx * N];
        if (n > 1) {
            float dt0 = p->t[k0] - p->t[k0 > 0 ? k0 - 1 : 0];
            if (idx == 0)
                itime = itime + dt0;
            compact(p, N, idx, n);
            float a, b, sigb;
            linfit(p, n, 1, r, &a, &b, &sigb);
            float span = p->xs[n - 1] - p->xs[0];
            itime = itime + span;
            float s2 = sigb * sigb;
            if (s2 != 0) {
                sumw = (float)((double)sumw + 1.0 / (double)s2);
                tot = tot + b / s2;
            }
        } else if (n == 1 && !(p->q[k0] & DQ_CRHIT)) {
            float dt0 = p->t[k0] - p->t[k0 > 0 ? k0 - 1 : 0];
            float tk = p->t[k0];
            float b = tk != 0 ? p->y[k0] / tk : 0.0f;
            float sigb = tk != 0 ? p->s[k0] / tk : 0.0f;
            itime = itime + dt0;
            float s2 = sigb * sigb;
            if (s2 != 0) {
                sumw = sumw + 1.0f / s2;
                tot = tot + b / s2;
            }
        }
    }
    int ok = sumw > 0;
    *sci = ok ? tot / sumw : 0.0f;
    *err = ok ? (float)sqrt((double)(1.0f / sumw)) : 0.0f;
    *samp = ns;
    *tim = itime;
    return ok;
}

/* Output when the fit failed (too many CRs or no weight): difference of the first usable and last
 * clean samples (the first one counted twice when clean, as HSTCAL). */
static void
fallback(const Pix *p, const Ramp *r, float *sci, float *err, int *samp, float *tim)
{
    const int N = r->N;
    int first = 0, anyf = 0;
    for (int k = 1; k < N; k++) {
        if ((p->q[k] & r->dqignore) == 0) {
            first = k;
            anyf = 1;
            break;
        }
    }
    int ngood = anyf, last = first;
    for (int k = first; k < N; k++) {
        if (p->q[k] == 0) {
            ngood++;
            last = k;
        }
    }
    if (last == first) {
        *sci = *err = *tim = 0.0f;
        *samp = 0;
        return;
    }
    float dt = p->t[last] - p->t[first];
    *sci = (p->y[last] - p->y[first]) / dt;
    *err = (p->s[last] - p->s[first]) / dt;
    *samp = ngood;
    *tim = dt;
}

/* All of fitsamps for one pixel: rejection iterations (strict, then lenient when no sample is
 * usable), final fit or fallback. */
static void
fit_pixel(Pix *p, const Ramp *r, float *sci, float *err, int *samp, float *tim)
{
    const int N = r->N;
    int lenient = 0, ncr = 0, ferr = 0;
    memset(p->buf, 0, sizeof(uint16_t) * (size_t)N * N);
    for (;;) {
        int res = detect(p, r, lenient, &ncr);
        if (p->nosamp) {
            if (lenient) {
                *sci = 0.0f;
                *err = 1e5f;
                *samp = 0;
                *tim = 0.0f;
                return;
            }
            lenient = 1;
            ncr = 0;
            continue;
        }
        if (res == 2)
            ferr = 1;
        if (res != 1)
            break;
    }
    if (!ferr && final_fit(p, r, lenient, sci, err, samp, tim))
        return;
    fallback(p, r, sci, err, samp, tim);
}

/* ---- clean ramps, a row at a time ---------------------------------------------------------
 * Most pixels have DQ 0 in samples 1..N-1: one interval of n = N-1 samples and, usually, no
 * rejection. For those the first detection pass and the final fit are done here for a whole row
 * with the samples sample-major (rows of the row buffers: x[k*ax + c]), in loops over pixels the
 * compiler vectorises; the arithmetic per pixel is that of linfit/detect/final_fit above (the
 * work buffer of such a pixel holds only zeros, so every DQ test passes). A pixel for which this
 * pass finds a rejection, or whose fit has no weight, goes through fit_pixel instead. */
typedef struct {
    float *S, *Sx, *Sy, *Sxx, *Sxy, *a, *b, *sigb, *maxd, *maxc, *prev, *w;
    int *flag;
} RowWork;

static inline uint32_t
fbits(float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    return u;
}

static inline float
bitsf(uint32_t u)
{
    float v;
    memcpy(&v, &u, 4);
    return v;
}

/* ok ? a : b on the bits: both sides are evaluated, so GCC keeps the loop branch-free and
 * vectorises it (with a ?: on floats it sinks the arithmetic into a branch and gives up) */
static inline float
fsel(int ok, float a, float b)
{
    uint32_t m = 0u - (uint32_t)(ok != 0);
    return bitsf((fbits(a) & m) | (fbits(b) & ~m));
}

/* Weighted sums over samples 1..N-1 of every pixel of the row; w (per pixel, per sample) when
 * optimum, else the equal weight invr2. */
/* One sample's terms added to the sums of every pixel (where sigma != 0): every sum is formed,
 * then kept or not -- selects, not branches, so that it vectorises. */
static inline void
sums_add(float *restrict S, float *restrict Sx, float *restrict Sy, float *restrict Sxx, float *restrict Sxy,
         Py_ssize_t c, float xv, float yv, float sv, float wt)
{
    int ok = sv != 0;
    float nS = S[c] + wt, nSy = Sy[c] + yv * wt, nSx = Sx[c] + xv * wt;
    float nSxx = Sxx[c] + (xv * xv) * wt, nSxy = Sxy[c] + (xv * yv) * wt;
    S[c] = fsel(ok, nS, S[c]);
    Sy[c] = fsel(ok, nSy, Sy[c]);
    Sx[c] = fsel(ok, nSx, Sx[c]);
    Sxx[c] = fsel(ok, nSxx, Sxx[c]);
    Sxy[c] = fsel(ok, nSxy, Sxy[c]);
}

/* Weighted sums over samples 1..N-1 of every pixel of the row; weights wk (per sample, per pixel)
 * times invr2 when optimum, else the equal weight invr2. (Arrays as restrict parameters: taken
 * from the RowWork struct inside the function, GCC does not vectorise the loops.) */
VEC_CLONES static void
sums_rows(const float *restrict x, const float *restrict y, const float *restrict s, Py_ssize_t ax, int N,
          const float *restrict wk, float invr2, float *restrict S, float *restrict Sx, float *restrict Sy,
          float *restrict Sxx, float *restrict Sxy)
{
    for (Py_ssize_t c = 0; c < ax; c++)
        S[c] = Sx[c] = Sy[c] = Sxx[c] = Sxy[c] = 0.0f;
    for (int k = 1; k < N; k++) {
        const float *restrict xk = x + k * ax, *restrict yk = y + k * ax, *restrict sk = s + k * ax;
        if (wk) {
            const float *restrict wj = wk + (k - 1) * ax;
            for (Py_ssize_t c = 0; c < ax; c++)
                sums_add(S, Sx, Sy, Sxx, Sxy, c, xk[c], yk[c], sk[c], wj[c] * invr2);
        } else {
            for (Py_ssize_t c = 0; c < ax; c++)
                sums_add(S, Sx, Sy, Sxx, Sxy, c, xk[c], yk[c], sk[c], invr2);
        }
    }
}

static void
row_sums(const float *x, const float *y, const float *s, Py_ssize_t ax, int N, const float *wk, const Ramp *r,
         RowWork *w)
{
    sums_rows(x, y, s, ax, N, wk, r->invr2, w->S, w->Sx, w->Sy, w->Sxx, w->Sxy);
}

/* Intercept, slope and slope error of every pixel from the sums (linfit's n >= 3 branch), in two
 * loops (GCC vectorises each, not the two together). */
VEC_CLONES static void
line_rows(const float *restrict x0, const float *restrict xl, const float *restrict y0, const float *restrict yl,
          const float *restrict d0, const float *restrict dl, Py_ssize_t ax, float g, const float *restrict pS,
          const float *restrict pSx, const float *restrict pSy, const float *restrict pSxx,
          const float *restrict pSxy, float *restrict pa, float *restrict pb, float *restrict psig)
{
    for (Py_ssize_t c = 0; c < ax; c++) {
        float S = pS[c], Sx = pSx[c], Sy = pSy[c], Sxx = pSxx[c], Sxy = pSxy[c];
        float den = S * Sxx - Sx * Sx;
        den = fsel(den < 1e-6f, 1e-6f, den);
        pb[c] = (S * Sxy - Sx * Sy) / den;
        pa[c] = (Sxx * Sy - Sx * Sxy) / den;
        psig[c] = (float)sqrt((double)(S / den));
    }
    for (Py_ssize_t c = 0; c < ax; c++) {
        float dx = xl[c] - x0[c], dy = yl[c] - y0[c], ddg = dl[c] - d0[c];
        float fu = psig[c];
        float gf = (g * fu) * dx;
        float e = (gf * gf + g * ddg) + g * dy;
        float se = (float)((sqrt((double)e) / (double)dx) / (double)g);
        float sigb = fsel(e > 0, se, fu);
        int good = pS[c] > 0;
        pa[c] = fsel(good, pa[c], 0.0f);
        pb[c] = fsel(good, pb[c], 0.0f);
        psig[c] = fsel(good, sigb, 1e9f);
    }
}

static void
row_line(const float *x, const float *y, const float *dk, Py_ssize_t ax, int N, const Ramp *r, RowWork *w)
{
    line_rows(x + ax, x + (N - 1) * ax, y + ax, y + (N - 1) * ax, dk + ax, dk + (N - 1) * ax, ax, r->gain, w->S,
              w->Sx, w->Sy, w->Sxx, w->Sxy, w->a, w->b, w->sigb);
}

/* First detection pass of every pixel of the row with an all-clean interval: flag[c] = 1 when a
 * spike, CR or first-read spike would be rejected (those pixels are redone by fit_pixel). */
VEC_CLONES static void
row_detect(const float *restrict x, const float *restrict y, const float *restrict s, float *restrict d,
           Py_ssize_t ax, int N, const Ramp *r, RowWork *w)
{
    const int n = N - 1;
    const float thresh = r->thresh;
    for (int j = 0; j < n; j++) {
        const float *xk = x + (j + 1) * ax, *yk = y + (j + 1) * ax, *sk = s + (j + 1) * ax;
        float *dj = d + j * ax;
        for (Py_ssize_t c = 0; c < ax; c++) {
            float fit = w->a[c] + w->b[c] * xk[c];
            float v = (yk[c] - fit) / sk[c];
            dj[c] = fsel(sk[c] != 0, v, 0.0f);
        }
    }
    float *restrict maxd = w->maxd, *restrict maxc = w->maxc, *restrict prev = w->prev;
    int *restrict flag = w->flag;
    for (Py_ssize_t c = 0; c < ax; c++) {
        maxd[c] = 0.0f;
        maxc[c] = 0.0f;
        prev[c] = 0.0f;
        flag[c] = 0;
    }
    for (int k = 2; k < n; k++) { /* spikes */
        const float *da = d + (k - 2) * ax, *dm = d + (k - 1) * ax, *db = d + k * ax;
        for (Py_ssize_t c = 0; c < ax; c++) {
            float v = dm[c];
            int hit = ((v - da[c]) > 6.0f) & ((v - db[c]) > 6.0f) & (da[c] < 0) & (db[c] < 0) & (fabsf(v) > maxd[c]);
            maxd[c] = fsel(hit, v, maxd[c]);
            flag[c] |= hit;
        }
    }
    for (int k = 1; k < n; k++) { /* CRs */
        const float *dp = d + (k - 1) * ax, *dk = d + k * ax;
        for (Py_ssize_t c = 0; c < ax; c++) {
            prev[c] = dp[c];
            float v = fabsf(dk[c] - prev[c]);
            int big = (v > thresh) & (v > maxc[c]);
            maxc[c] = fsel(big, v, maxc[c]);
        }
    }
    for (Py_ssize_t c = 0; c < ax; c++) /* CR found, or a first-read spike */
        flag[c] |= (maxc[c] != 0) | (fabsf(d[c] - d[ax + c]) > thresh);
}

/* Final optimum-weight fit of one interval of N-1 samples for every pixel of the row. */
VEC_CLONES static void
row_final(const float *restrict x, const float *restrict y, const float *restrict s, const float *restrict dk,
          Py_ssize_t ax, int N, const Ramp *r, RowWork *w, float *restrict sci, float *restrict err,
          float *restrict itime, int *restrict ok)
{
    const int n = N - 1;
    const float *sl = s + (N - 1) * ax, *yl = y + (N - 1) * ax, *y0 = y + ax;
    /* weights: the power class of each pixel from its SNR, as six-way selects of table constants */
    for (int j = 0; j < n; j++) {
        float wp[NPOWERS];
        for (int pi = 0; pi < NPOWERS; pi++)
            wp[pi] = r->wtab[((size_t)pi * (N + 1) + n) * N + j];
        float *wj = w->w + j * ax;
        for (Py_ssize_t c = 0; c < ax; c++) {
            float dyl = yl[c] - y0[c];
            float q = dyl / sl[c];
            float snr = fsel(sl[c] > 0, q, 0.0f);
            float wv = fsel(snr > 5.0f, wp[4], wp[5]);
            wv = fsel(snr > 10.0f, wp[3], wv);
            wv = fsel(snr > 20.0f, wp[2], wv);
            wv = fsel(snr > 50.0f, wp[1], wv);
            wj[c] = fsel(snr > 100.0f, wp[0], wv);
        }
    }
    row_sums(x, y, s, ax, N, w->w, r, w);
    row_line(x, y, dk, ax, N, r, w);
    const float *t0 = x, *t1 = x + ax, *tl = x + (N - 1) * ax;
    for (Py_ssize_t c = 0; c < ax; c++) {
        float b = w->b[c], sigb = w->sigb[c];
        float s2 = sigb * sigb;
        int nz = s2 != 0;
        float sw = (float)((double)0.0f + 1.0 / (double)s2), tt = 0.0f + b / s2;
        float sumw = fsel(nz, sw, 0.0f);
        float tot = fsel(nz, tt, 0.0f);
        int good = sumw > 0;
        float sc = tot / sumw, ec = (float)sqrt((double)(1.0f / sumw));
        sci[c] = fsel(good, sc, 0.0f);
        err[c] = fsel(good, ec, 0.0f);
        itime[c] = (0.0f + (t1[c] - t0[c])) + (tl[c] - t1[c]);
        ok[c] = good;
    }
}

/* ---- row bookkeeping of ramp_fit (vectorised) ------------------------------------------- */

/* One sample of one image row into the row buffers: counts (x TIME for count rates), sigma, TIME,
 * the dark-current term and the DQ without ZEROSIG. */
VEC_CLONES static void
fill_row(const float *restrict ps, const float *restrict pe, const float *restrict pt, const uint16_t *restrict pq,
         float *restrict yk, float *restrict sk, float *restrict tk, float *restrict dkk, uint16_t *restrict qk,
         Py_ssize_t ax, int rate_units, float lineardark)
{
    if (rate_units) {
        for (Py_ssize_t c = 0; c < ax; c++) {
            yk[c] = ps[c] * pt[c];
            sk[c] = pe[c] * pt[c];
        }
    } else {
        for (Py_ssize_t c = 0; c < ax; c++) {
            yk[c] = ps[c];
            sk[c] = pe[c];
        }
    }
    for (Py_ssize_t c = 0; c < ax; c++) {
        tk[c] = pt[c];
        dkk[c] = pt[c] * lineardark;
        qk[c] = pq[c] & (uint16_t)~DQ_ZEROSIG;
    }
}

/* Per pixel of the row: special (saturated in the first read after ZSIGCORR: the zeroth read is the
 * result), keep (0xFFFF for fitted pixels), the OR of the input DQ (output DQ before the fit), the
 * zeroth read's DQ and clean (samples 1..N-1 all DQ 0, for the row functions). Returns the number of clean pixels. */
VEC_CLONES static int
classify_row(const uint16_t *restrict rq, Py_ssize_t ax, int N, int zsig_done, int fast, uint16_t *restrict anyq,
             uint16_t *restrict odq, uint16_t *restrict q0, uint16_t *restrict keep, uint8_t *restrict special,
             int *restrict clean)
{
    for (Py_ssize_t c = 0; c < ax; c++)
        anyq[c] = 0;
    for (int k = 1; k < N; k++)
        for (Py_ssize_t c = 0; c < ax; c++)
            anyq[c] |= rq[k * ax + c];
    int nclean = 0;
    for (Py_ssize_t c = 0; c < ax; c++) {
        int sp = zsig_done && (rq[ax + c] & DQ_SATPIXEL);
        special[c] = (uint8_t)sp;
        keep[c] = sp ? 0 : 0xFFFF;
        odq[c] = anyq[c] | rq[c];
        q0[c] = rq[c]; /* the output DQ of a special pixel (finish_row may change rq) */
        clean[c] = fast && !sp && anyq[c] == 0;
        nclean += clean[c];
    }
    return nclean;
}

/* Count rates back to counts (BUNIT COUNTS): rate x TIME. */
VEC_CLONES static void
scale_row(float *restrict s, float *restrict e, const float *restrict t, Py_ssize_t ax)
{
    for (Py_ssize_t c = 0; c < ax; c++) {
        s[c] = s[c] * t[c];
        e[c] = e[c] * t[c];
    }
}

/* crrej's bookkeeping after the fit (finish_flags): CRHIT carried to later samples; a
 * HIGH_CURVATURE sample before the last marks every sample (CRHIT cleared); UNSTABLE in the output
 * DQ (CRHIT cleared) where the last sample has HIGH_CURVATURE; SATPIXEL dropped from the output DQ.
 * Returns the UNSTABLE pixels among the fitted ones (keep). */
VEC_CLONES static Py_ssize_t
finish_row(uint16_t *restrict rq, Py_ssize_t ax, int N, uint16_t *restrict odq, uint16_t *restrict hcv,
           const uint16_t *restrict keep)
{
    for (Py_ssize_t c = 0; c < ax; c++)
        hcv[c] = 0;
    for (int k = 0; k < N - 1; k++) {
        const uint16_t *qa = rq + k * ax;
        uint16_t *qb = rq + (k + 1) * ax;
        for (Py_ssize_t c = 0; c < ax; c++) {
            qb[c] |= qa[c] & DQ_CRHIT;
            hcv[c] |= qa[c] & DQ_HICURV;
        }
    }
    for (int k = 0; k < N; k++) {
        uint16_t *qk = rq + k * ax;
        for (Py_ssize_t c = 0; c < ax; c++) {
            uint16_t m = hcv[c] ? 0xFFFF : 0;
            uint16_t spread = (uint16_t)((qk[c] | DQ_HICURV) & ~DQ_CRHIT);
            qk[c] = (uint16_t)((qk[c] & ~m) | (spread & m));
        }
    }
    Py_ssize_t nunst = 0;
    const uint16_t *ql = rq + (N - 1) * ax;
    for (Py_ssize_t c = 0; c < ax; c++) {
        uint16_t o = (uint16_t)(odq[c] & ~DQ_SATPIXEL);
        uint16_t m = (ql[c] & DQ_HICURV) ? 0xFFFF : 0;
        uint16_t u = (uint16_t)((o | DQ_UNSTABLE) & ~DQ_CRHIT);
        odq[c] = (uint16_t)((o & ~m) | (u & m));
        nunst += (m & keep[c]) != 0;
    }
    return nunst;
}

/* Flags of one sample back into its read: CRHIT stays, SPIKE (1024) -> DETECTORPROB (4),
 * HIGH_CURVATURE (16384) -> UNSTABLE (32); not for the special pixels (keep 0). */
VEC_CLONES static void
flags_back_row(uint16_t *restrict pq, const uint16_t *restrict qk, const uint16_t *restrict keep, Py_ssize_t ax)
{
    for (Py_ssize_t c = 0; c < ax; c++) {
        uint16_t q = qk[c];
        uint16_t add = (uint16_t)((q & DQ_CRHIT) | ((q >> 8) & DQ_DETECTORPROB) | ((q >> 9) & DQ_UNSTABLE));
        pq[c] |= add & keep[c];
    }
}

/* ramp_fit(sci, err, time, dq, out_sci, out_err, out_dq, out_samp, out_time, wtab,
 *          N, ny, nx, x0, x1, r0, r1, thresh, dqignore, gain, invr2, lineardark,
 *          rate_units, counts_out, zsig_done, sampzero) -> number of UNSTABLE pixels
 *
 * Stack arrays (N, ny, nx) in file order (plane N-1 = zeroth read); dq is updated with the CRHIT,
 * DETECTORPROB and UNSTABLE flags found. Outputs are (ny, nx) images; rows r0..r1-1 and columns
 * x0..x1-1 are written. */
static PyObject *
ramp_fit(PyObject *self, PyObject *args)
{
    Py_buffer bsci = {0}, berr = {0}, btim = {0}, bdq = {0}, bos = {0}, boe = {0}, boq = {0}, bon = {0},
              bot = {0}, bw = {0};
    Py_ssize_t N, ny, nx, x0, x1, r0, r1;
    float thresh, gain, invr2, lineardark, sampzero;
    int dqignore, rate_units, counts_out, zsig_done;
    if (!PyArg_ParseTuple(args, "y*y*y*w*w*w*w*w*w*y*nnnnnnnfifffpppf", &bsci, &berr, &btim, &bdq, &bos, &boe,
                          &boq, &bon, &bot, &bw, &N, &ny, &nx, &x0, &x1, &r0, &r1, &thresh, &dqignore, &gain,
                          &invr2, &lineardark, &rate_units, &counts_out, &zsig_done, &sampzero))
        return NULL;
    Py_buffer *all[] = {&bsci, &berr, &btim, &bdq, &bos, &boe, &boq, &bon, &bot, &bw};
    Py_ssize_t plane = ny * nx, stack = N * plane;
    if (N < 2 || N > MAXN || x0 < 0 || x1 > nx || x0 > x1 || r0 < 0 || r1 > ny || r0 > r1) {
        PyErr_SetString(PyExc_ValueError, "ramp_fit: bad sizes");
        goto fail;
    }
    if (ck_check(&bsci, stack, 4, "sci") || ck_check(&berr, stack, 4, "err") || ck_check(&btim, stack, 4, "time") ||
        ck_check(&bdq, stack, 2, "dq") || ck_check(&bos, plane, 4, "out_sci") || ck_check(&boe, plane, 4, "out_err") ||
        ck_check(&boq, plane, 2, "out_dq") || ck_check(&bon, plane, 2, "out_samp") ||
        ck_check(&bot, plane, 4, "out_time") || ck_check(&bw, NPOWERS * (N + 1) * N, 4, "wtab"))
        goto fail;
    /* one image row of the band, sample-major (sample k of pixel c at k*ax + c): the stack is swept
     * plane row by plane row, clean ramps are fitted by the row functions, the others per pixel;
     * the DQ bookkeeping runs over whole rows */
    const Py_ssize_t ax = x1 - x0;
    const size_t fa = (size_t)(ax > 0 ? ax : 1) * sizeof(float);
    size_t need = sizeof(Pix) + (size_t)N * (5 * fa + fa / 2) + 24 * fa + fa;
    char *mem = PyMem_RawMalloc(need);
    if (mem == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    Pix *p = (Pix *)mem;
    float *ry = (float *)(mem + sizeof(Pix)), *rs = ry + ax * N, *rt = rs + ax * N, *rdk = rt + ax * N;
    float *rd = rdk + ax * N; /* residuals */
    float *scratch = rd + ax * N;
    RowWork w = {scratch, scratch + ax, scratch + 2 * ax, scratch + 3 * ax, scratch + 4 * ax, scratch + 5 * ax,
                 scratch + 6 * ax, scratch + 7 * ax, scratch + 8 * ax, scratch + 9 * ax, scratch + 10 * ax,
                 rd /* optimum weights reuse the residual rows */, NULL};
    float *fsci = scratch + 11 * ax, *ferr = scratch + 12 * ax, *ftim = scratch + 13 * ax;
    w.flag = (int *)(scratch + 14 * ax);
    int *fok = (int *)(scratch + 15 * ax), *clean = (int *)(scratch + 16 * ax), *fns = (int *)(scratch + 17 * ax);
    uint16_t *anyq = (uint16_t *)(scratch + 18 * ax), *odq = (uint16_t *)(scratch + 19 * ax);
    uint16_t *hcv = (uint16_t *)(scratch + 20 * ax), *keep = (uint16_t *)(scratch + 21 * ax);
    uint16_t *q0 = (uint16_t *)(scratch + 22 * ax);
    uint16_t *rq = (uint16_t *)(scratch + 24 * ax);
    uint8_t *special = (uint8_t *)(rq + ax * N);
    const float *sci = bsci.buf, *err = berr.buf, *tim = btim.buf;
    uint16_t *dq = bdq.buf, *o_dq = boq.buf;
    float *o_sci = bos.buf, *o_err = boe.buf, *o_tim = bot.buf;
    int16_t *o_samp = bon.buf;
    Ramp r = {(int)N, thresh, gain, invr2, lineardark, (uint16_t)dqignore, bw.buf};
    Py_ssize_t nunst = 0;
    const int fast = N >= 4; /* the row functions assume linfit's n >= 3 branch */
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t row = r0; row < r1; row++) {
        const Py_ssize_t base = row * nx + x0;
        for (int k = 0; k < N; k++) {
            Py_ssize_t off = (N - 1 - k) * plane + base; /* sample k (time order) = plane N-1-k */
            fill_row(sci + off, err + off, tim + off, dq + off, ry + k * ax, rs + k * ax, rt + k * ax, rdk + k * ax,
                     rq + k * ax, ax, rate_units, lineardark);
        }
        int nclean = classify_row(rq, ax, (int)N, zsig_done, fast, anyq, odq, q0, keep, special, clean);
        if (nclean) {
            row_sums(rt, ry, rs, ax, (int)N, NULL, &r, &w);
            row_line(rt, ry, rdk, ax, (int)N, &r, &w);
            row_detect(rt, ry, rs, rd, ax, (int)N, &r, &w);
            for (Py_ssize_t c = 0; c < ax; c++)
                clean[c] = clean[c] && !w.flag[c];
            row_final(rt, ry, rs, rdk, ax, (int)N, &r, &w, fsci, ferr, ftim, fok);
        }
        for (Py_ssize_t c = 0; c < ax; c++) {
            if (special[c])
                continue;
            if (clean[c] && fok[c]) {
                fns[c] = (int)N;
                continue;
            }
            for (int k = 0; k < N; k++) {
                Py_ssize_t j = k * ax + c;
                p->y[k] = ry[j];
                p->s[k] = rs[j];
                p->t[k] = rt[j];
                p->dk[k] = rdk[j];
                p->q[k] = rq[j];
            }
            fit_pixel(p, &r, &fsci[c], &ferr[c], &fns[c], &ftim[c]);
            for (int k = 0; k < N; k++)
                rq[k * ax + c] = p->q[k];
        }
        if (counts_out)
            scale_row(fsci, ferr, ftim, ax);
        nunst += finish_row(rq, ax, (int)N, odq, hcv, keep);
        for (Py_ssize_t c = 0; c < ax; c++) {
            Py_ssize_t pos = base + c;
            if (special[c]) {
                o_sci[pos] = sci[(N - 1) * plane + pos];
                o_err[pos] = err[(N - 1) * plane + pos];
                o_dq[pos] = q0[c];
                o_samp[pos] = 1;
                o_tim[pos] = sampzero;
            } else {
                o_sci[pos] = fsci[c];
                o_err[pos] = ferr[c];
                o_dq[pos] = odq[c];
                o_samp[pos] = (int16_t)fns[c];
                o_tim[pos] = ftim[c];
            }
        }
        /* new flags back into the reads (CRHIT, SPIKE -> DETECTORPROB, HIGH_CURVATURE -> UNSTABLE) */
        for (int k = 0; k < N; k++)
            flags_back_row(dq + (N - 1 - k) * plane + base, rq + k * ax, keep, ax);
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(mem);
    ck_release(all, 10);
    return PyLong_FromSsize_t(nunst);
fail:
    ck_release(all, 10);
    return NULL;
}

/* ---- per-read passes ---------------------------------------------------------------------- */

/* Initial ERR of a read (noiscalc): f32(f32(sqrt(f64(RN^2) + |f64(f32(S*g))|)) / g). */
static inline float
noise_err(float sci, float g, float rn2)
{
    float sg = sci * g;
    float n = (float)sqrt((double)rn2 + fabs((double)sg));
    return n / g;
}

/* Noise model over a row segment of one amp. */
VEC_CLONES static void
noise_row(const float *restrict s, float *restrict e, Py_ssize_t n, float g, float rn2)
{
    for (Py_ssize_t c = 0; c < n; c++)
        e[c] = noise_err(s[c], g, rn2);
}

/* NLINCORR of one row segment of ax science pixels (area index a0 onwards) in vectorisable passes:
 * the correction factor is formed for every pixel (one pass per coefficient) and kept where the
 * pixel is not saturated, already or now (sv > NODE). Returns the saturated pixels. */
VEC_CLONES static int64_t
nlin_row(float *restrict sr, uint16_t *restrict qr, Py_ssize_t ax, Py_ssize_t a0, int zs_here,
         const float *restrict zs, const uint16_t *restrict zsdq, const uint16_t *restrict nldq,
         const float *restrict node, const float *restrict coef, Py_ssize_t apl, int ncoef, double *restrict rowbuf)
{
    double *restrict pw = rowbuf;
    float *restrict sv = (float *)(rowbuf + ax), *restrict cf = sv + ax;
    const float *z = zs_here ? zs + a0 : sr; /* sr: a dummy row when there is no zero-read signal */
    for (Py_ssize_t c = 0; c < ax; c++) {
        float v = sr[c] + z[c];
        sv[c] = fsel(zs_here, v, sr[c]);
        pw[c] = (double)sv[c];
        cf[c] = 1.0f;
    }
    for (int k = 0; k < ncoef; k++) {
        const float *ck = coef + k * apl + a0;
        if (k == 0) {
            for (Py_ssize_t c = 0; c < ax; c++)
                cf[c] = (float)((double)cf[c] + (double)ck[c]);
        } else {
            /* sv^k as exact double products: pw holds sv^1 for k = 1, then is multiplied up */
            if (k > 1)
                for (Py_ssize_t c = 0; c < ax; c++)
                    pw[c] = pw[c] * (double)sv[c];
            for (Py_ssize_t c = 0; c < ax; c++)
                cf[c] = (float)((double)cf[c] + (double)ck[c] * pw[c]);
        }
    }
    int64_t ns = 0;
    const float *nd = node + a0;
    const uint16_t *nq = nldq + a0, *zq = zs_here ? zsdq + a0 : nldq + a0;
    const uint16_t zmask = zs_here ? DQ_ZEROSIG : 0;
    for (Py_ssize_t c = 0; c < ax; c++) {
        float v = sv[c] * cf[c];
        float vz = v - z[c];
        v = fsel(zs_here, vz, v);
        uint16_t qv = (uint16_t)(qr[c] | (zq[c] & zmask) | nq[c]);
        int sat = (qv & DQ_SATPIXEL) != 0;
        int le = sv[c] <= nd[c], gt = sv[c] > nd[c];
        int ok = (!sat) & le, over = (!sat) & gt;
        sr[c] = fsel(ok, v, sr[c]);
        qr[c] = (uint16_t)(qv | (over ? DQ_SATPIXEL : 0));
        ns += sat | over;
    }
    return ns;
}

/* noise_nlin(sci, err, dq, N, ny, nx, y0, y1, x0, x1, r0, r1, noise_reads, qgain, qrn2, bx, by,
 *            ncoef, coef, node, nldq, zs, zsdq, nsat) -> None
 *
 * Noise model and NLINCORR of image rows r0..r1-1 of the (N, ny, nx) file-order stack, reads from
 * the zeroth (plane N-1) to the last, as the step-by-step NumPy code: ERR of the reads flagged in
 * noise_reads (uint8[N]); then, when ncoef > 0, the non-linearity correction in the science area
 * and SATPIXEL carried from each read to the next (whole rows). qgain/qrn2: float32[4] for the
 * quadrants (row < by, col < bx), (row < by, col >= bx), (row >= by, col < bx), (row >= by,
 * col >= bx). coef (ncoef, ay, ax), node/nldq/zs/zsdq (ay, ax) over the science area; zs empty when
 * ZSIGCORR was not done. nsat (int64[N]) accumulates the saturated pixels per read. */
static PyObject *
noise_nlin(PyObject *self, PyObject *args)
{
    Py_buffer bsci = {0}, berr = {0}, bdq = {0}, bnr = {0}, bqg = {0}, bqr = {0}, bco = {0}, bno = {0}, bnq = {0},
              bzs = {0}, bzq = {0}, bns = {0};
    Py_ssize_t N, ny, nx, y0, y1, x0, x1, r0, r1, bx, by;
    int ncoef;
    if (!PyArg_ParseTuple(args, "w*w*w*nnnnnnnnny*y*y*nniy*y*y*y*y*w*", &bsci, &berr, &bdq, &N, &ny, &nx, &y0, &y1,
                          &x0, &x1, &r0, &r1, &bnr, &bqg, &bqr, &bx, &by, &ncoef, &bco, &bno, &bnq, &bzs, &bzq, &bns))
        return NULL;
    Py_buffer *all[] = {&bsci, &berr, &bdq, &bnr, &bqg, &bqr, &bco, &bno, &bnq, &bzs, &bzq, &bns};
    Py_ssize_t plane = ny * nx, stack = N * plane, ay = y1 - y0, ax = x1 - x0, apl = ay * ax;
    int use_zs = bzs.len > 0;
    if (N < 1 || y0 < 0 || y1 > ny || y0 > y1 || x0 < 0 || x1 > nx || x0 > x1 || r0 < 0 || r1 > ny || r0 > r1 ||
        ncoef < 0) {
        PyErr_SetString(PyExc_ValueError, "noise_nlin: bad sizes");
        goto fail;
    }
    if (ck_check(&bsci, stack, 4, "sci") || ck_check(&berr, stack, 4, "err") || ck_check(&bdq, stack, 2, "dq") ||
        ck_check(&bnr, N, 1, "noise_reads") || ck_check(&bqg, 4, 4, "qgain") || ck_check(&bqr, 4, 4, "qrn2") ||
        ck_check(&bco, ncoef * apl, 4, "coef") || ck_check(&bns, N, 8, "nsat"))
        goto fail;
    if (ncoef > 0 && (ck_check(&bno, apl, 4, "node") || ck_check(&bnq, apl, 2, "nldq")))
        goto fail;
    if (use_zs && (ck_check(&bzs, apl, 4, "zs") || ck_check(&bzq, apl, 2, "zsdq")))
        goto fail;
    if (ncoef > 4) {
        PyErr_SetString(PyExc_ValueError, "noise_nlin: more than 4 coefficients (pow) not handled here");
        goto fail;
    }
    float *sci = bsci.buf, *err = berr.buf;
    uint16_t *dq = bdq.buf;
    const uint8_t *nreads = bnr.buf;
    const float *qg = bqg.buf, *qr = bqr.buf, *coef = bco.buf, *node = bno.buf, *zs = bzs.buf;
    const uint16_t *nldq = bnq.buf, *zsdq = bzq.buf;
    int64_t *nsat = bns.buf;
    double *rowbuf = PyMem_RawMalloc((size_t)(ax > 0 ? ax : 1) * (sizeof(double) + 2 * sizeof(float)));
    if (rowbuf == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t g = N - 1; g >= 0; g--) {
        float *s = sci + g * plane, *e = err + g * plane;
        uint16_t *q = dq + g * plane;
        int zs_here = use_zs && g != N - 1; /* the zeroth read already holds the zero-read signal */
        int64_t ns = 0;
        for (Py_ssize_t row = r0; row < r1; row++) {
            if (row < y0 || row >= y1)
                continue;
            const int up = row >= by;
            const Py_ssize_t a0 = (row - y0) * ax - x0; /* area index = a0 + col */
            if (nreads[g]) {
                /* two column segments of constant amp (left/right of bx): a loop the compiler vectorises */
                Py_ssize_t mid = bx < x0 ? x0 : bx > x1 ? x1 : bx;
                for (int half = 0; half < 2; half++) {
                    const float gq = qg[2 * up + half], rq = qr[2 * up + half];
                    float *sr = s + row * nx, *er = e + row * nx;
                    Py_ssize_t c0 = half ? mid : x0, c1 = half ? x1 : mid;
                    noise_row(sr + c0, er + c0, c1 - c0, gq, rq);
                }
            }
            if (ncoef == 0)
                continue;
            ns += nlin_row(s + row * nx + x0, q + row * nx + x0, ax, a0 + x0, zs_here, zs, zsdq, nldq, node, coef,
                           apl, ncoef, rowbuf);
        }
        nsat[g] += ns;
        /* saturation carries to the next read (whole rows, reference pixels too) */
        if (ncoef > 0 && g > 0) {
            uint16_t *qn = dq + (g - 1) * plane;
            for (Py_ssize_t i = r0 * nx; i < r1 * nx; i++)
                qn[i] |= q[i] & DQ_SATPIXEL;
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(rowbuf);
    ck_release(all, 12);
    Py_RETURN_NONE;
fail:
    ck_release(all, 12);
    return NULL;
}

/* Check that a dark-sized array (dny, dnx) covers the science rows and columns [0, y1) x [0, x1). */
static int
dark_check(const Py_buffer *b, Py_ssize_t dny, Py_ssize_t dnx, Py_ssize_t y1, Py_ssize_t x1, Py_ssize_t size,
           const char *what)
{
    if (dny < y1 || dnx < x1) {
        PyErr_Format(PyExc_ValueError, "%s: dark %zdx%zd smaller than the science area", what, dnx, dny);
        return -1;
    }
    return ck_check(b, dny * dnx, size, what);
}

/* A dark plane: the array (stride dnx), or a constant extension given as one value, spread over a
 * row buffer (stride 0) so the loops stay unit-stride. `owned` is that buffer (to free), or NULL. */
static int
dark_plane(const Py_buffer *b, Py_ssize_t dny, Py_ssize_t dnx, Py_ssize_t y1, Py_ssize_t x1, Py_ssize_t size,
           const char *what, const char **base, Py_ssize_t *stride, char **owned)
{
    *owned = NULL;
    if (b->len == size) {
        if (dnx < x1) {
            PyErr_Format(PyExc_ValueError, "%s: dark width %zd smaller than the science area", what, dnx);
            return -1;
        }
        *owned = PyMem_RawMalloc((size_t)(dnx > 0 ? dnx : 1) * (size_t)size);
        if (*owned == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < dnx; i++)
            memcpy(*owned + i * size, b->buf, (size_t)size);
        *base = *owned;
        *stride = 0;
        return 0;
    }
    if (dark_check(b, dny, dnx, y1, x1, size, what))
        return -1;
    *base = b->buf;
    *stride = dnx * size;
    return 0;
}

/* zsigcorr(zeroth, zeroth_dq, first, first_dq, ny, nx, y0, y1, x0, x1, zsci, zerr, node, qgain, qrn2,
 *          bx, by, zs_out, zsdq_out) -> (nsat0, nsat1)
 *
 * ZSIGCORR over the science area: zs = f32(zeroth - ZSCI); kept (ZEROSIG) where
 * zs >= f32(4 * sqrt(f32(f32(noise(zs)^2) + f32(ZERR^2)))), else 0; SATPIXEL|ZEROSIG where zs > NODE
 * (zeroth read saturated) or f32(first - ZSCI) > NODE (first read). The zeroth read gets zs added and
 * its DQ the flags, the first read's DQ SATPIXEL; zs and its DQ (area arrays) go to the outputs. */
static PyObject *
zsigcorr(PyObject *self, PyObject *args)
{
    Py_buffer b0 = {0}, bq0 = {0}, b1 = {0}, bq1 = {0}, bzs = {0}, bze = {0}, bnd = {0}, bqg = {0}, bqr = {0}, bo = {0},
              boq = {0};
    Py_ssize_t ny, nx, y0, y1, x0, x1, bx, by;
    if (!PyArg_ParseTuple(args, "w*w*y*w*nnnnnny*y*y*y*y*nnw*w*", &b0, &bq0, &b1, &bq1, &ny, &nx, &y0, &y1, &x0, &x1,
                          &bzs, &bze, &bnd, &bqg, &bqr, &bx, &by, &bo, &boq))
        return NULL;
    Py_buffer *all[] = {&b0, &bq0, &b1, &bq1, &bzs, &bze, &bnd, &bqg, &bqr, &bo, &boq};
    Py_ssize_t plane = ny * nx, ax = x1 - x0, apl = (y1 - y0) * ax;
    if (y0 < 0 || y1 > ny || y0 > y1 || x0 < 0 || x1 > nx || x0 > x1) {
        PyErr_SetString(PyExc_ValueError, "zsigcorr: bad sizes");
        goto fail;
    }
    if (ck_check(&b0, plane, 4, "zeroth") || ck_check(&bq0, plane, 2, "zeroth dq") || ck_check(&b1, plane, 4, "first") ||
        ck_check(&bq1, plane, 2, "first dq") || ck_check(&bzs, apl, 4, "zsci") || ck_check(&bze, apl, 4, "zerr") ||
        ck_check(&bnd, apl, 4, "node") || ck_check(&bqg, 4, 4, "qgain") || ck_check(&bqr, 4, 4, "qrn2") ||
        ck_check(&bo, apl, 4, "zs") || ck_check(&boq, apl, 2, "zsdq"))
        goto fail;
    float *z0 = b0.buf, *zs_out = bo.buf;
    uint16_t *q0 = bq0.buf, *q1 = bq1.buf, *zq_out = boq.buf;
    const float *f1 = b1.buf, *zsci = bzs.buf, *zerr = bze.buf, *node = bnd.buf, *qg = bqg.buf, *qr = bqr.buf;
    Py_ssize_t nsat0 = 0, nsat1 = 0;
    const uint16_t both = DQ_SATPIXEL | DQ_ZEROSIG;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t row = y0; row < y1; row++) {
        int up = row >= by;
        for (Py_ssize_t col = x0; col < x1; col++) {
            Py_ssize_t i = row * nx + col, a = (row - y0) * ax + (col - x0);
            int quad = 2 * up + (col >= bx);
            float zs = z0[i] - zsci[a];
            float e = noise_err(zs, qg[quad], qr[quad]);
            float n = (float)sqrt((double)(e * e + zerr[a] * zerr[a]));
            int sig = zs >= 4.0f * n;
            uint16_t zdq = q0[i], m0 = 0, m1 = 0;
            if (sig) {
                zdq |= DQ_ZEROSIG;
                m0 = DQ_ZEROSIG;
            } else {
                zs = 0.0f;
            }
            int sat0 = zs > node[a];
            int sat1 = !sat0 && (f1[i] - zsci[a]) > node[a];
            if (sat0 | sat1) {
                zdq |= both;
                m1 = DQ_SATPIXEL;
            }
            if (sat0)
                m0 |= both;
            nsat0 += sat0;
            nsat1 += sat1;
            zs_out[a] = zs;
            zq_out[a] = zdq;
            q0[i] |= m0;
            q1[i] |= m1;
            z0[i] = z0[i] + zs;
        }
    }
    Py_END_ALLOW_THREADS
    ck_release(all, 11);
    return Py_BuildValue("nn", nsat0, nsat0 + nsat1);
fail:
    ck_release(all, 11);
    return NULL;
}

/* DARKCORR of a row segment: S - D, ERR = sqrt(f32(E^2 + De^2)), DQ | Ddq. */
VEC_CLONES static void
dark_row(float *restrict s, float *restrict e, uint16_t *restrict q, const float *restrict ds,
         const float *restrict de, const uint16_t *restrict dd, Py_ssize_t n)
{
    for (Py_ssize_t c = 0; c < n; c++) {
        float ev = e[c];
        e[c] = (float)sqrt((double)(ev * ev + de[c] * de[c]));
        s[c] = s[c] - ds[c];
        q[c] |= dd[c];
    }
}

/* UNITCORR of a row segment: x k (unit 1, zeroth read) or / TIME, 0 where TIME is 0 (unit 2). */
VEC_CLONES static void
unit_row(float *restrict s, float *restrict e, const float *restrict t, Py_ssize_t n, int unit, float k)
{
    if (unit == 1) {
        for (Py_ssize_t c = 0; c < n; c++) {
            s[c] = s[c] * k;
            e[c] = e[c] * k;
        }
        return;
    }
    for (Py_ssize_t c = 0; c < n; c++) {
        float sq = s[c] / t[c], eq = e[c] / t[c];
        s[c] = fsel(t[c] != 0, sq, 0.0f);
        e[c] = fsel(t[c] != 0, eq, 0.0f);
    }
}

/* FLATCORR of a row segment: S/F, ERR = sqrt(f32(E^2/F^2 + S^2 Fe^2/F^4)), 0 where F = 0; DQ | flat
 * DQ. Every quotient is formed and kept or not (branch-free). */
VEC_CLONES static void
flat_row(float *restrict sa, float *restrict ea, uint16_t *restrict qa, const float *restrict fr,
         const float *restrict fer, const uint16_t *restrict fdr, Py_ssize_t n)
{
    for (Py_ssize_t c = 0; c < n; c++) {
        float sv = sa[c], e = ea[c], fv = fr[c], fev = fer[c];
        float f2 = fv * fv;
        float t1 = (e * e) / f2;
        float t2 = (((sv * sv) * fev) * fev) / (f2 * f2);
        float en = (float)sqrt((double)(t1 + t2));
        float sn = sv / fv;
        int nz = fv != 0;
        sa[c] = fsel(nz, sn, 0.0f);
        ea[c] = fsel(nz, en, 0.0f);
        qa[c] |= fdr[c];
    }
}

/* Whole row times the mean gain. */
VEC_CLONES static void
gain_row(float *restrict s, float *restrict e, Py_ssize_t n, float gain)
{
    for (Py_ssize_t c = 0; c < n; c++) {
        s[c] = s[c] * gain;
        e[c] = e[c] * gain;
    }
}

/* dark_unit(sci, err, dq, time, ny, nx, y0, y1, x0, x1, dsci, derr, ddq, dny, dnx, unit, k) -> None
 *
 * One read's science area: DARKCORR (S - D, ERR = sqrt(f32(E^2 + De^2)), DQ | Ddq) when the dark
 * arrays (dny, dnx) are not empty -- indexed with the science pixel numbers, as HSTCAL's
 * asub_noref -- then UNITCORR: unit 1 multiplies by k = f32(1/sampzero) (zeroth read), unit 2
 * divides by TIME (0 where TIME is 0), unit 0 leaves the units. */
static PyObject *
dark_unit(PyObject *self, PyObject *args)
{
    Py_buffer bsci = {0}, berr = {0}, bdq = {0}, btim = {0}, bds = {0}, bde = {0}, bdd = {0};
    Py_ssize_t ny, nx, y0, y1, x0, x1, dny, dnx;
    int unit;
    float k;
    if (!PyArg_ParseTuple(args, "w*w*w*y*nnnnnny*y*y*nnif", &bsci, &berr, &bdq, &btim, &ny, &nx, &y0, &y1, &x0, &x1,
                          &bds, &bde, &bdd, &dny, &dnx, &unit, &k))
        return NULL;
    Py_buffer *all[] = {&bsci, &berr, &bdq, &btim, &bds, &bde, &bdd};
    Py_ssize_t plane = ny * nx;
    int dark = bds.len > 0;
    if (y0 < 0 || y1 > ny || y0 > y1 || x0 < 0 || x1 > nx || x0 > x1) {
        PyErr_SetString(PyExc_ValueError, "dark_unit: bad sizes");
        goto fail;
    }
    if (ck_check(&bsci, plane, 4, "sci") || ck_check(&berr, plane, 4, "err") || ck_check(&bdq, plane, 2, "dq") ||
        ck_check(&btim, plane, 4, "time"))
        goto fail;
    const char *ds = NULL, *de = NULL, *dd = NULL;
    Py_ssize_t ss = 0, se = 0, sd = 0;
    char *own[3] = {NULL, NULL, NULL};
    if (dark && (dark_plane(&bds, dny, dnx, y1, x1, 4, "dsci", &ds, &ss, &own[0]) ||
                 dark_plane(&bde, dny, dnx, y1, x1, 4, "derr", &de, &se, &own[1]) ||
                 dark_plane(&bdd, dny, dnx, y1, x1, 2, "ddq", &dd, &sd, &own[2]))) {
        for (int i = 0; i < 3; i++)
            PyMem_RawFree(own[i]);
        goto fail;
    }
    float *sci = bsci.buf, *err = berr.buf;
    uint16_t *dq = bdq.buf;
    const float *tim = btim.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t row = y0; row < y1; row++) {
        float *restrict sr = sci + row * nx, *restrict er = err + row * nx;
        const float *restrict tr = tim + row * nx;
        if (dark)
            dark_row(sr + x0, er + x0, dq + row * nx + x0, (const float *)(ds + row * ss) + x0,
                     (const float *)(de + row * se) + x0, (const uint16_t *)(dd + row * sd) + x0, x1 - x0);
        if (unit)
            unit_row(sr + x0, er + x0, tr + x0, x1 - x0, unit, k);
    }
    Py_END_ALLOW_THREADS
    for (int i = 0; i < 3; i++)
        PyMem_RawFree(own[i]);
    ck_release(all, 7);
    Py_RETURN_NONE;
fail:
    ck_release(all, 7);
    return NULL;
}

/* meandark(dsci, ddq, dny, dnx, y0, y1, x0, x1, mask) -> (sum, n)
 *
 * MEANDARK parts: the double sum, in row-major order, of the dark over the science area where its
 * DQ has none of `mask` and the value is finite within +-FLT_MAX, and the count of those pixels. */
static PyObject *
meandark(PyObject *self, PyObject *args)
{
    Py_buffer bds = {0}, bdd = {0};
    Py_ssize_t dny, dnx, y0, y1, x0, x1;
    int mask;
    if (!PyArg_ParseTuple(args, "y*y*nnnnnni", &bds, &bdd, &dny, &dnx, &y0, &y1, &x0, &x1, &mask))
        return NULL;
    Py_buffer *all[] = {&bds, &bdd};
    const char *ds = NULL, *dd = NULL;
    Py_ssize_t ss = 0, sd = 0;
    char *own[2] = {NULL, NULL};
    if (y0 < 0 || y0 > y1 || x0 < 0 || x0 > x1 || dark_plane(&bds, dny, dnx, y1, x1, 4, "dsci", &ds, &ss, &own[0]) ||
        dark_plane(&bdd, dny, dnx, y1, x1, 2, "ddq", &dd, &sd, &own[1])) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "meandark: bad sizes");
        PyMem_RawFree(own[0]);
        PyMem_RawFree(own[1]);
        ck_release(all, 2);
        return NULL;
    }
    double sum = 0.0;
    Py_ssize_t n = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t row = y0; row < y1; row++) {
        const float *dsr = (const float *)(ds + row * ss);
        const uint16_t *ddr = (const uint16_t *)(dd + row * sd);
        for (Py_ssize_t col = x0; col < x1; col++) {
            float v = dsr[col];
            if ((ddr[col] & mask) == 0 && v > -FLT_MAX && v < FLT_MAX) {
                sum += (double)v;
                n++;
            }
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(own[0]);
    PyMem_RawFree(own[1]);
    ck_release(all, 2);
    return Py_BuildValue("dn", sum, n);
}

/* flat_gain(sci, err, dq, ny, nx, y0, y1, x0, x1, f, fe, fdq, gain) -> None
 *
 * FLATCORR of one image: science area S/F, ERR = sqrt(f32(E^2/F^2 + S^2 Fe^2/F^4)) (float steps;
 * 0 where F = 0), DQ | flat DQ; then the whole image (reference pixels too) times the mean gain. */
static PyObject *
flat_gain(PyObject *self, PyObject *args)
{
    Py_buffer bsci = {0}, berr = {0}, bdq = {0}, bf = {0}, bfe = {0}, bfd = {0};
    Py_ssize_t ny, nx, y0, y1, x0, x1;
    float gain;
    if (!PyArg_ParseTuple(args, "w*w*w*nnnnnny*y*y*f", &bsci, &berr, &bdq, &ny, &nx, &y0, &y1, &x0, &x1, &bf, &bfe,
                          &bfd, &gain))
        return NULL;
    Py_buffer *all[] = {&bsci, &berr, &bdq, &bf, &bfe, &bfd};
    Py_ssize_t plane = ny * nx, ax = x1 - x0, apl = (y1 - y0) * ax;
    if (y0 < 0 || y1 > ny || y0 > y1 || x0 < 0 || x1 > nx || x0 > x1) {
        PyErr_SetString(PyExc_ValueError, "flat_gain: bad sizes");
        goto fail;
    }
    if (ck_check(&bsci, plane, 4, "sci") || ck_check(&berr, plane, 4, "err") || ck_check(&bdq, plane, 2, "dq") ||
        ck_check(&bf, apl, 4, "flat") || ck_check(&bfe, apl, 4, "flat err") || ck_check(&bfd, apl, 2, "flat dq"))
        goto fail;
    float *sci = bsci.buf, *err = berr.buf;
    uint16_t *dq = bdq.buf;
    const float *f = bf.buf, *fe = bfe.buf;
    const uint16_t *fd = bfd.buf;
    Py_BEGIN_ALLOW_THREADS
    const Py_ssize_t ax = x1 - x0;
    for (Py_ssize_t row = 0; row < ny; row++) {
        float *restrict sr = sci + row * nx, *restrict er = err + row * nx;
        if (row >= y0 && row < y1)
            flat_row(sr + x0, er + x0, dq + row * nx + x0, f + (row - y0) * ax, fe + (row - y0) * ax,
                     fd + (row - y0) * ax, ax);
        gain_row(sr, er, nx, gain);
    }
    Py_END_ALLOW_THREADS
    ck_release(all, 6);
    Py_RETURN_NONE;
fail:
    ck_release(all, 6);
    return NULL;
}

static PyMethodDef methods[] = {
    {"ramp_fit", ramp_fit, METH_VARARGS, "CRCORR up-the-ramp fit of a band of rows of the IR stack."},
    {"noise_nlin", noise_nlin, METH_VARARGS, "Noise model and NLINCORR of a band of rows of the IR stack."},
    {"zsigcorr", zsigcorr, METH_VARARGS, "ZSIGCORR of the zeroth and first reads."},
    {"dark_unit", dark_unit, METH_VARARGS, "DARKCORR and UNITCORR of one read."},
    {"meandark", meandark, METH_VARARGS, "Sum and count of the good dark pixels over the science area."},
    {"flat_gain", flat_gain, METH_VARARGS, "FLATCORR and the mean-gain scaling of one image."},
    {NULL, NULL, 0, NULL},
};

CK_MODULE(_kernels, methods, "WF3IR kernels (C kernels; the NumPy implementations are the reference).")
