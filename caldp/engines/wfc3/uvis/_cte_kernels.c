/* caldp C kernel for WFC3/UVIS pixel-based CTE (HSTCAL wf3cte.c, sub_ctecor_v2c).
 *
 * The fast path of caldp.engines.wfc3.uvis.pctecorr.correct_columns_numpy: per column, NITFOR
 * forward-model iterations of read-noise smoothing (rm_rnZ_colj) and NITPAR simulated readouts
 * (sim_colreadout_l_uvis_w), then the read-out cosmic-ray test, repeated up to 10 times. Columns
 * are independent; the caller hands each thread a list of columns. Double and float arithmetic
 * is written in the NumPy reference's (and HSTCAL's) order; -ffp-contract=off keeps it unfused.
 * The readouts run 8 columns at once, one per SIMD lane (AVX-512 where the CPU has it, else a
 * portable loop over the lanes); the smoothing and the read-out cosmic-ray test stay per column.
 * Runs without the GIL.
 */
#include "ckernel.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NTRAPS 999 /* WsMAX: rows of QPROF, width of RPROF/CPROF */
#define TDIM 60    /* trail length */
#define XAMP_SCI_DIM 2048
#define NITMAX 299

/* An AVX2 build of the vectorisable loops chosen at load time (GCC function clones, x86-64 Linux):
 * the same IEEE operations on wider lanes, no contraction (-ffp-contract=off), so the same bits. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define VEC_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define VEC_CLONES
#endif

typedef struct {
    Py_ssize_t rows;
    const double *q, *dpde;
    const float *rp, *cp; /* (TDIM, NTRAPS) */
    double rnoise, fix;
    int nfor, npar;
} CTEPars;

#define BLK 32 /* rows per block of the readout's skip index */

/* sim_colreadout_l_uvis_w with J1 = 1, J2 = rows: one readout of a column.
 *
 * A trap that is empty-handed (filled >= TDIM shifts ago, or never) changes nothing in a row below
 * its charge level except turning -0.0 into +0.0 (pixo + 0 + 0 - 0), and its ftrap is dead until
 * the next fill overwrites it. So rows 1.. are made +0.0-clean once at the start (each is visited
 * by trap 0 anyway, and every visit adds +0.0 or more: RPROF, CPROF, DPDE_W and the scaling are not
 * negative), and such rows are skipped, whole blocks of BLK rows at a time when the block's maximum
 * (kept as an upper bound while the pixels change) is below the level. `bmax`: scratch of
 * rows/BLK + 1 doubles. */
static void
readout_col(const double *pixi, double *pixo, const double *pixf, const CTEPars *p, double *bmax)
{
    const Py_ssize_t n = p->rows;
    double pmax = 10.0;
    pixo[0] = pixi[0];
    if (pixo[0] > pmax)
        pmax = pixo[0];
    for (Py_ssize_t j = 1; j < n; j++) {
        pixo[j] = pixi[j] + 0.0;
        if (pixo[j] > pmax)
            pmax = pixo[j];
    }
    const Py_ssize_t nb = (n + BLK - 1) / BLK;
    for (Py_ssize_t b = 0; b < nb; b++) {
        double m = pixo[b * BLK];
        for (Py_ssize_t j = b * BLK + 1; j < (b + 1) * BLK && j < n; j++)
            m = pixo[j] > m ? pixo[j] : m;
        bmax[b] = m;
    }
    int wf = 1;
    for (int w = 0; w < NTRAPS; w++)
        if (pmax >= p->q[w])
            wf = w;
    float rprof_t[TDIM], cprof_t[TDIM];
    for (int w = wf; w >= 0; w--) {
        for (int t = 0; t < TDIM; t++) {
            rprof_t[t] = p->rp[w + t * NTRAPS];
            cprof_t[t] = p->cp[w + t * NTRAPS];
        }
        const double qw = p->q[w];
        const double fill = p->dpde[w] / p->npar;
        double ftrap = 0.0;
        int ttrap = TDIM + 1;
        Py_ssize_t j = 1;
        while (j < n) {
            if (ttrap >= TDIM) {
                if (bmax[j / BLK] < qw) {
                    j = (j / BLK + 1) * BLK;
                    continue;
                }
                if (pixo[j] < qw) {
                    j++;
                    continue;
                }
            }
            if (j > 1 && pixf[j] < pixf[j - 1])
                ftrap = pixf[j] / pixf[j - 1] * ftrap;
            double prel_1 = 0.0, prel_2 = 0.0, pgrb_3 = 0.0;
            if (pixo[j] >= qw) {
                if (ttrap < TDIM) {
                    ttrap = ttrap + 1;
                    prel_1 = rprof_t[ttrap - 1] * ftrap;
                    prel_2 = cprof_t[ttrap - 1] * ftrap;
                }
                ftrap = fill * pixf[j];
                pgrb_3 = ftrap;
                ttrap = 0;
            } else if (ttrap < TDIM) {
                ttrap = ttrap + 1;
                prel_1 = rprof_t[ttrap - 1] * ftrap;
            }
            const double v = pixo[j] + prel_1 + prel_2 - pgrb_3;
            pixo[j] = v;
            if (v > bmax[j / BLK])
                bmax[j / BLK] = v;
            j++;
        }
    }
}

/* HSTCAL's stop test sqrt(dtot/ftot) > RNMIT, dtot the sum of rnz² over j1..j2 added in row order.
 * dtot serves only this test, so it is first summed in 32 interleaved chains (vectorised); any order of
 * summing n non-negative terms lies within (n-1)·2^-53 (relative) of the exact sum, so when that
 * sum's root is more than 1e-9 (relative) away from RNMIT the test cannot come out otherwise; only
 * near the threshold is the row-order sum computed. */
#define NCHAIN 32
VEC_CLONES static int
rms_exceeds(const double *rnz, int j1, int j2, int nflag, double rnmit)
{
    double acc[NCHAIN] = {0};
    const double *x = rnz + j1;
    const Py_ssize_t n = (Py_ssize_t)j2 - j1 + 1;
    Py_ssize_t k = 0;
    for (; k + NCHAIN <= n; k += NCHAIN)
        for (int l = 0; l < NCHAIN; l++)
            acc[l] += x[k + l] * x[k + l];
    for (; k < n; k++)
        acc[0] += x[k] * x[k];
    for (int w = NCHAIN / 2; w >= 1; w /= 2)
        for (int l = 0; l < w; l++)
            acc[l] += acc[l + w];
    const double r = sqrt(acc[0] / (double)nflag);
    if (r > rnmit * (1.0 + 1e-9))
        return 1;
    if (r < rnmit * (1.0 - 1e-9))
        return 0;
    double dtot = 0.0;
    for (int j = j1; j <= j2; j++)
        dtot = dtot + rnz[j] * rnz[j];
    return sqrt(dtot / (double)nflag) > rnmit;
}

VEC_CLONES static void
smooth_col(const double *chg, double *rnz, double *rsz, unsigned char *ffu, Py_ssize_t n, double rnmit, double *h,
           double *q)
{
    for (Py_ssize_t j = 0; j < n; j++) {
        rsz[j] = chg[j];
        rnz[j] = 0.0;
        ffu[j] = 0;
        h[j] = 0.0;
        q[j] = 0.0;
    }
    int j1 = XAMP_SCI_DIM - 1, j2 = 2;
    for (int j = 2; j <= XAMP_SCI_DIM - 1; j++)
        if (j1 == XAMP_SCI_DIM - 1 && chg[j] > 0)
            j1 = j;
    for (int j = XAMP_SCI_DIM - 1; j >= 2; j--)
        if (j2 == 2 && chg[j] > 0)
            j2 = j;
    if (j1 > j2)
        return; /* no row in range: HSTCAL's rounds change nothing (0/0 never stops them) */
    const double cap = rnmit / 5.0, ncap = -cap;
    for (int nit = 1; nit < NITMAX; nit++) {
        const double rnn = rnmit * (1.00 + 5.0 * nit / (double)(float)NITMAX);
        int nflag = 0; /* HSTCAL's count of ffu over j1..j2: every flag is set anew in each round */
        for (int j = j1; j <= j2; j++) {
            double dd = rsz[j] - (rsz[j + 1] + rsz[j - 1]) / 2.0;
            int m = fabs(dd) < rnn;
            double c = dd > cap ? cap : dd;
            c = c < ncap ? ncap : c;
            h[j] = m ? c * 0.50 : 0.0;
            q[j] = m ? c * 0.25 : 0.0;
            nflag += m;
        }
        for (int j = j1 - 1; j <= j2 + 1; j++)
            rnz[j] = ((rnz[j] - q[j - 1]) + h[j]) - q[j + 1];
        for (int j = j1; j <= j2; j++)
            rsz[j] = chg[j] - rnz[j];
        if (rms_exceeds(rnz, j1, j2, nflag, rnmit))
            return;
    }
}

/* sub_ctecor_v2c for one column: raz/fff in (double), mod out (double). */
static void
correct_col(const double *raz, double *fff, double *mod, double *work, unsigned char *ffu, const CTEPars *p)
{
    const Py_ssize_t n = p->rows;
    double *bmax = work + 6 * n; /* n / BLK + 1 values */
    double *rnz = work, *rsz = work + n, *org = work + 2 * n, *obs = work + 3 * n, *h = work + 4 * n, *q = work + 5 * n;
    int ncrx = 0, done = 0;
    while (!done) {
        ncrx = ncrx + 1;
        done = 1;
        for (Py_ssize_t j = 0; j < n; j++)
            mod[j] = raz[j];
        for (int nf = 0; nf < p->nfor; nf++) {
            smooth_col(mod, rnz, rsz, ffu, n, p->rnoise, h, q);
            memcpy(org, rsz, n * sizeof(double));
            for (int np_ = 1; np_ <= p->npar; np_++) {
                readout_col(org, obs, fff, p, bmax);
                double *t = org;
                org = obs;
                obs = t;
            }
            /* after the swap the last readout is in org */
            for (Py_ssize_t j = 0; j < n; j++) {
                double chg = org[j] - rsz[j];
                mod[j] = raz[j] - chg;
            }
        }
        if (p->fix < 0) {
            const double fix = p->fix;
            for (int j = 15; j <= 2060; j++) {
                if (mod[j] < fix && mod[j] - raz[j] < fix && mod[j] < mod[j + 1] && mod[j] < mod[j - 1]) {
                    int jmax = j;
                    for (int jj = j - 2; jj < j; jj++)
                        if (mod[jj] - raz[jj] > mod[jmax] - raz[jmax])
                            jmax = jj;
                    if (mod[jmax] - raz[jmax] > -2.5 * fix) {
                        fff[jmax] = fff[jmax] * 0.90;
                        done = ncrx >= 10;
                    }
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- eight columns per SIMD group
 *
 * The readouts dominate after the smoothing, and columns are independent: a group of LANES columns
 * is read out together, one column per lane, arrays [row][lane]. Each lane does exactly its column's
 * operations (sim_colreadout_l_uvis_w order and types); masked operations give the +0.0 HSTCAL adds
 * where nothing is released or grabbed. Smoothing and the read-out cosmic-ray test stay per column. */
#define LANES 8

typedef struct {
    double *org, *obs, *pixf, *rat; /* [row][lane] */
    double *bmax;                  /* [block] */
    double rpd[TDIM + 1], cpd[TDIM + 1];
} Group;

/* -1: not decided (the CPU is asked on first use); set_simd(False) forces the portable rows (tests). */
static int use_avx512 = -1;

static int
avx512_ok(void)
{
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

/* Rows j0..j1-1 of trap w's pass, every lane in turn (portable). ttrap/ftrap: the lanes' state. */
static double
group_rows_lanes(Group *g, Py_ssize_t j0, Py_ssize_t j1, double qw, double fill, long long *pttrap, double *pftrap)
{
    double vmax = -INFINITY;
    for (int l = 0; l < LANES; l++) {
        long long ttrap = pttrap[l];
        double ftrap = pftrap[l];
        for (Py_ssize_t j = j0; j < j1; j++) {
            const Py_ssize_t k = j * LANES + l;
            ftrap = g->rat[k] * ftrap; /* pixf[j]/pixf[j-1]*ftrap where pixf drops; elsewhere 1.0*ftrap */
            double prel_1 = 0.0, prel_2 = 0.0, pgrb_3 = 0.0;
            const double pix = g->obs[k];
            if (pix >= qw) {
                if (ttrap < TDIM) {
                    prel_1 = g->rpd[ttrap] * ftrap;
                    prel_2 = g->cpd[ttrap] * ftrap;
                }
                ftrap = fill * g->pixf[k];
                pgrb_3 = ftrap;
                ttrap = 0;
            } else if (ttrap < TDIM) {
                prel_1 = g->rpd[ttrap] * ftrap;
                ttrap = ttrap + 1;
            }
            const double v = pix + prel_1 + prel_2 - pgrb_3;
            g->obs[k] = v;
            vmax = v > vmax ? v : vmax;
        }
        pttrap[l] = ttrap;
        pftrap[l] = ftrap;
    }
    return vmax;
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
/* The same rows with the eight lanes in AVX-512 registers (masked multiplies and moves, gathers of
 * the trail profile at each lane's ttrap). */
__attribute__((target("avx512f"))) static double
group_rows_avx512(Group *g, Py_ssize_t j0, Py_ssize_t j1, double qws, double fills, long long *pttrap,
                  double *pftrap)
{
    __m512i ttrap = _mm512_loadu_si512(pttrap);
    __m512d ftrap = _mm512_loadu_pd(pftrap);
    const __m512d qw = _mm512_set1_pd(qws), fill = _mm512_set1_pd(fills), zero = _mm512_setzero_pd();
    const __m512i tdim = _mm512_set1_epi64(TDIM), one = _mm512_set1_epi64(1);
    __m512d vmax = _mm512_set1_pd(-INFINITY);
    for (Py_ssize_t j = j0; j < j1; j++) {
        const __m512d pix = _mm512_load_pd(g->obs + j * LANES);
        ftrap = _mm512_mul_pd(_mm512_load_pd(g->rat + j * LANES), ftrap);
        const __mmask8 inside = _mm512_cmplt_epi64_mask(ttrap, tdim);
        const __mmask8 grab = _mm512_cmp_pd_mask(pix, qw, _CMP_GE_OS);
        const __mmask8 both = inside & grab;
        const __m512d prel_1 =
            _mm512_maskz_mul_pd(inside, _mm512_mask_i64gather_pd(zero, inside, ttrap, g->rpd, 8), ftrap);
        const __m512d prel_2 = _mm512_maskz_mul_pd(both, _mm512_mask_i64gather_pd(zero, both, ttrap, g->cpd, 8), ftrap);
        const __m512d nw = _mm512_mul_pd(fill, _mm512_load_pd(g->pixf + j * LANES));
        ftrap = _mm512_mask_mov_pd(ftrap, grab, nw);
        const __m512d pgrb_3 = _mm512_maskz_mov_pd(grab, nw);
        ttrap = _mm512_maskz_mov_epi64((__mmask8)~grab, _mm512_mask_add_epi64(ttrap, inside, ttrap, one));
        const __m512d v = _mm512_sub_pd(_mm512_add_pd(_mm512_add_pd(pix, prel_1), prel_2), pgrb_3);
        _mm512_store_pd(g->obs + j * LANES, v);
        vmax = _mm512_mask_mov_pd(vmax, _mm512_cmp_pd_mask(v, vmax, _CMP_GT_OQ), v);
    }
    _mm512_storeu_si512(pttrap, ttrap);
    _mm512_storeu_pd(pftrap, ftrap);
    return _mm512_reduce_max_pd(vmax);
}
#define HAVE_AVX512_ROWS 1
#else
#define HAVE_AVX512_ROWS 0
#endif

/* Highest value of rows j0..j1-1 over the lanes (NaN ignored: a NaN pixel neither grabs nor, where no
 * lane releases, changes: HSTCAL's NaN + 0 + 0 - 0 is the same NaN). */
VEC_CLONES static double
group_max(const double *a, Py_ssize_t j0, Py_ssize_t j1)
{
    double m[LANES];
    for (int l = 0; l < LANES; l++)
        m[l] = -INFINITY;
    for (Py_ssize_t j = j0; j < j1; j++)
        for (int l = 0; l < LANES; l++)
            m[l] = a[j * LANES + l] > m[l] ? a[j * LANES + l] : m[l];
    double r = m[0];
    for (int l = 1; l < LANES; l++)
        r = m[l] > r ? m[l] : r;
    return r;
}

/* obs = org + 0.0 (row 0 copied), and each lane's max(10, column) in HSTCAL's order. */
VEC_CLONES static void
group_start(Group *g, Py_ssize_t n, double *pmax)
{
    for (int l = 0; l < LANES; l++) {
        g->obs[l] = g->org[l];
        pmax[l] = g->obs[l] > 10.0 ? g->obs[l] : 10.0;
    }
    for (Py_ssize_t j = 1; j < n; j++)
        for (int l = 0; l < LANES; l++) {
            const double v = g->org[j * LANES + l] + 0.0;
            g->obs[j * LANES + l] = v;
            pmax[l] = v > pmax[l] ? v : pmax[l];
        }
}

/* sim_colreadout_l_uvis_w on the group: g->org (in) -> g->obs (out), with the same skips as
 * readout_col: a block of rows below the trap level while no lane releases adds 0.0 in every lane. */
static void
readout_group(Group *g, const CTEPars *p)
{
    const Py_ssize_t n = p->rows, nb = (n + BLK - 1) / BLK;
    double pmax[LANES];
    group_start(g, n, pmax);
    for (Py_ssize_t b = 0; b < nb; b++)
        g->bmax[b] = group_max(g->obs, b * BLK, (b + 1) * BLK < n ? (b + 1) * BLK : n);
    int wtop = 1;
    for (int l = 0; l < LANES; l++) {
        int wf = 1;
        for (int w = 0; w < NTRAPS; w++)
            if (pmax[l] >= p->q[w])
                wf = w;
        wtop = wf > wtop ? wf : wtop; /* a lane's traps above its wf neither grab nor release: +0.0 only */
    }
    if (use_avx512 < 0)
        use_avx512 = avx512_ok();
    for (int w = wtop; w >= 0; w--) {
        for (int t = 0; t < TDIM; t++) {
            g->rpd[t] = (double)p->rp[w + t * NTRAPS];
            g->cpd[t] = (double)p->cp[w + t * NTRAPS];
        }
        g->rpd[TDIM] = g->cpd[TDIM] = 0.0;
        const double qw = p->q[w];
        const double fill = p->dpde[w] / p->npar;
        long long ttrap[LANES];
        double ftrap[LANES];
        for (int l = 0; l < LANES; l++) {
            ttrap[l] = TDIM + 1;
            ftrap[l] = 0.0;
        }
        int idle = 1;
        for (Py_ssize_t b = 0; b < nb; b++) {
            if (idle && g->bmax[b] < qw)
                continue;
            const Py_ssize_t j0 = b == 0 ? 1 : b * BLK, j1 = (b + 1) * BLK < n ? (b + 1) * BLK : n;
            double m;
#if HAVE_AVX512_ROWS
            if (use_avx512)
                m = group_rows_avx512(g, j0, j1, qw, fill, ttrap, ftrap);
            else
#endif
                m = group_rows_lanes(g, j0, j1, qw, fill, ttrap, ftrap);
            idle = 1;
            for (int l = 0; l < LANES; l++)
                idle &= ttrap[l] >= TDIM;
            g->bmax[b] = m > g->bmax[b] ? m : g->bmax[b]; /* an upper bound of the block (NaN ignored) */
        }
    }
}

/* The lanes' rescale factors: pixf[j]/pixf[j-1] where pixf[j] < pixf[j-1] (j > 1), else 1.0. */
static void
group_rat(Group *g, Py_ssize_t n)
{
    for (Py_ssize_t k = 0; k < 2 * LANES && k < n * LANES; k++)
        g->rat[k] = 1.0;
    for (Py_ssize_t k = 2 * LANES; k < n * LANES; k++)
        g->rat[k] = g->pixf[k] < g->pixf[k - LANES] ? g->pixf[k] / g->pixf[k - LANES] : 1.0;
}

/* sub_ctecor_v2c on `live` columns at once: raz[l], fff[l], mod[l] per lane (double, rows each);
 * work[l]: 6*rows doubles of smoothing scratch per lane. Each lane repeats its correction while its
 * read-out cosmic-ray test cuts fff (up to 10 times), as correct_col; finished lanes drop out. */
static void
correct_group(double **raz, double **fff, double **mod, double **work, unsigned char *ffu, int live, Group *g,
              const CTEPars *p)
{
    const Py_ssize_t n = p->rows;
    int active[LANES], ncrx = 0;
    for (int l = 0; l < LANES; l++)
        active[l] = l < live;
    int any = live > 0;
    while (any) {
        ncrx = ncrx + 1;
        for (int l = 0; l < LANES; l++)
            if (active[l] || ncrx == 1) { /* spare lanes get their (repeated) column's fff once */
                for (Py_ssize_t j = 0; j < n; j++) {
                    mod[l][j] = raz[l][j];
                    g->pixf[j * LANES + l] = fff[l][j];
                }
            }
        group_rat(g, n);
        for (int nf = 0; nf < p->nfor; nf++) {
            for (int l = 0; l < LANES; l++) {
                if (!active[l])
                    continue; /* the lane keeps its last data: it is read out but not used */
                double *rnz = work[l], *rsz = work[l] + n, *h = work[l] + 2 * n, *q = work[l] + 3 * n;
                smooth_col(mod[l], rnz, rsz, ffu, n, p->rnoise, h, q);
                for (Py_ssize_t j = 0; j < n; j++)
                    g->org[j * LANES + l] = rsz[j];
            }
            for (int np_ = 1; np_ <= p->npar; np_++) {
                readout_group(g, p);
                double *t = g->org;
                g->org = g->obs;
                g->obs = t;
            }
            for (int l = 0; l < LANES; l++) {
                if (!active[l])
                    continue;
                const double *rsz = work[l] + n;
                for (Py_ssize_t j = 0; j < n; j++) {
                    double chg = g->org[j * LANES + l] - rsz[j];
                    mod[l][j] = raz[l][j] - chg;
                }
            }
        }
        any = 0;
        for (int l = 0; l < LANES; l++) {
            if (!active[l])
                continue;
            int done = 1;
            if (p->fix < 0) {
                const double fix = p->fix;
                const double *md = mod[l], *rz = raz[l];
                for (int j = 15; j <= 2060; j++) {
                    if (md[j] < fix && md[j] - rz[j] < fix && md[j] < md[j + 1] && md[j] < md[j - 1]) {
                        int jmax = j;
                        for (int jj = j - 2; jj < j; jj++)
                            if (md[jj] - rz[jj] > md[jmax] - rz[jmax])
                                jmax = jj;
                        if (md[jmax] - rz[jmax] > -2.5 * fix) {
                            fff[l][jmax] = fff[l][jmax] * 0.90;
                            done = ncrx >= 10;
                        }
                    }
                }
            }
            active[l] = !done;
            any |= !done;
        }
    }
}

static void *
galloc(size_t n)
{
    void *p = NULL;
    return posix_memalign(&p, 64, n ? n : 64) == 0 ? p : NULL;
}

/* set_simd(flag): the AVX-512 readout rows when the CPU has them (flag true) or the portable ones;
 * returns whether AVX-512 is now used. */
static PyObject *
set_simd(PyObject *self, PyObject *args)
{
    int flag;
    if (!PyArg_ParseTuple(args, "p", &flag))
        return NULL;
    use_avx512 = flag && avx512_ok();
    return PyBool_FromLong(use_avx512);
}

static PyObject *
k_ctecor(PyObject *self, PyObject *args)
{
    Py_buffer raz = {0}, fff = {0}, out = {0}, cols = {0}, q = {0}, dpde = {0}, rp = {0}, cp = {0};
    Py_buffer *all[] = {&raz, &fff, &out, &cols, &q, &dpde, &rp, &cp};
    Py_ssize_t rows, ncol;
    float rnoise, fix;
    CTEPars p;
    if (!PyArg_ParseTuple(args, "y*y*w*nny*y*y*y*y*ffii", &raz, &fff, &out, &rows, &ncol, &cols, &q, &dpde, &rp, &cp,
                          &rnoise, &fix, &p.nfor, &p.npar))
        return NULL;
    Py_ssize_t nsel = cols.len / 8;
    /* fff: one column for every column (rows values) or a full (rows, ncol) image */
    const Py_ssize_t fstride = fff.len == rows * 4 ? 0 : ncol;
    if (ck_check(&raz, rows * ncol, 4, "raz") || (fstride && ck_check(&fff, rows * ncol, 4, "fff")) ||
        ck_check(&out, rows * ncol, 4, "out") || ck_check(&cols, nsel, 8, "cols") || ck_check(&q, NTRAPS, 8, "q") ||
        ck_check(&dpde, NTRAPS, 8, "dpde") || ck_check(&rp, TDIM * NTRAPS, 4, "rprof") ||
        ck_check(&cp, TDIM * NTRAPS, 4, "cprof")) {
        ck_release(all, 8);
        return NULL;
    }
    if (rows < 2062 || p.npar < 1) {
        ck_release(all, 8);
        PyErr_SetString(PyExc_ValueError, "ctecor: columns need >= 2062 rows and NITPAR >= 1");
        return NULL;
    }
    const int64_t *cl = cols.buf;
    for (Py_ssize_t k = 0; k < nsel; k++)
        if (cl[k] < 0 || cl[k] >= ncol) {
            ck_release(all, 8);
            PyErr_SetString(PyExc_ValueError, "ctecor: column index out of range");
            return NULL;
        }
    p.rows = rows;
    p.q = q.buf;
    p.dpde = dpde.buf;
    p.rp = rp.buf;
    p.cp = cp.buf;
    p.rnoise = rnoise;
    p.fix = fix;
    /* per lane: raz, fff, mod and 6 rows of smoothing scratch; per group: 4 [row][lane] arrays */
    const size_t nr = (size_t)rows;
    double *buf = galloc((9 * LANES * nr + 4 * LANES * nr + nr / BLK + 2) * sizeof(double));
    unsigned char *ffu = malloc(rows);
    if (buf == NULL || ffu == NULL) {
        free(buf);
        free(ffu);
        ck_release(all, 8);
        return PyErr_NoMemory();
    }
    const float *zr = raz.buf, *zf = fff.buf;
    float *zo = out.buf;
    Py_BEGIN_ALLOW_THREADS;
    double *craz[LANES], *cfff[LANES], *cmod[LANES], *work[LANES];
    for (int l = 0; l < LANES; l++) {
        craz[l] = buf + (9 * l) * nr;
        cfff[l] = buf + (9 * l + 1) * nr;
        cmod[l] = buf + (9 * l + 2) * nr;
        work[l] = buf + (9 * l + 3) * nr;
    }
    Group g;
    double *gb = buf + 9 * LANES * nr;
    g.org = gb;
    g.obs = gb + LANES * nr;
    g.pixf = gb + 2 * LANES * nr;
    g.rat = gb + 3 * LANES * nr;
    g.bmax = gb + 4 * LANES * nr;
    for (Py_ssize_t k0 = 0; k0 < nsel; k0 += LANES) {
        const int live = nsel - k0 < LANES ? (int)(nsel - k0) : LANES;
        for (int l = 0; l < LANES; l++) {
            const Py_ssize_t c = cl[k0 + (l < live ? l : live - 1)]; /* spare lanes repeat a column */
            for (Py_ssize_t j = 0; j < rows; j++) {
                craz[l][j] = zr[c + j * ncol];
                cfff[l][j] = fstride ? zf[c + j * ncol] : zf[j];
                g.org[j * LANES + l] = 0.0;
            }
        }
        correct_group(craz, cfff, cmod, work, ffu, live, &g, &p);
        for (int l = 0; l < live; l++) {
            const Py_ssize_t c = cl[k0 + l];
            for (Py_ssize_t j = 0; j < rows; j++)
                zo[c + j * ncol] = (float)cmod[l][j];
        }
    }
    Py_END_ALLOW_THREADS;
    free(buf);
    free(ffu);
    ck_release(all, 8);
    Py_RETURN_NONE;
}

static PyObject *
k_readout(PyObject *self, PyObject *args)
{
    Py_buffer pixi = {0}, pixf = {0}, out = {0}, q = {0}, dpde = {0}, rp = {0}, cp = {0};
    Py_buffer *all[] = {&pixi, &pixf, &out, &q, &dpde, &rp, &cp};
    Py_ssize_t rows, ncol;
    CTEPars p;
    if (!PyArg_ParseTuple(args, "y*y*w*nny*y*y*y*i", &pixi, &pixf, &out, &rows, &ncol, &q, &dpde, &rp, &cp, &p.npar))
        return NULL;
    if (ck_check(&pixi, rows * ncol, 8, "pixi") || ck_check(&pixf, rows * ncol, 8, "pixf") ||
        ck_check(&out, rows * ncol, 8, "out") || ck_check(&q, NTRAPS, 8, "q") || ck_check(&dpde, NTRAPS, 8, "dpde") ||
        ck_check(&rp, TDIM * NTRAPS, 4, "rprof") || ck_check(&cp, TDIM * NTRAPS, 4, "cprof")) {
        ck_release(all, 7);
        return NULL;
    }
    p.rows = rows;
    p.q = q.buf;
    p.dpde = dpde.buf;
    p.rp = rp.buf;
    p.cp = cp.buf;
    double *buf = malloc(4 * rows * sizeof(double));
    if (buf == NULL) {
        ck_release(all, 7);
        return PyErr_NoMemory();
    }
    const double *zi = pixi.buf, *zf = pixf.buf;
    double *zo = out.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t c = 0; c < ncol; c++) {
        for (Py_ssize_t j = 0; j < rows; j++) {
            buf[j] = zi[c + j * ncol];
            buf[rows + j] = zf[c + j * ncol];
        }
        readout_col(buf, buf + 2 * rows, buf + rows, &p, buf + 3 * rows);
        for (Py_ssize_t j = 0; j < rows; j++)
            zo[c + j * ncol] = buf[2 * rows + j];
    }
    Py_END_ALLOW_THREADS;
    free(buf);
    ck_release(all, 7);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"readout", k_readout, METH_VARARGS,
     "readout(pixi, pixf, out, rows, ncol, q, dpde, rprof, cprof, nits): one simulated readout of float64 "
     "(rows, ncol) columns (sim_colreadout_l_uvis_w)"},
    {"set_simd", set_simd, METH_VARARGS, "choose the AVX-512 (True, if the CPU has it) or the portable readout rows."},
    {"ctecor", k_ctecor, METH_VARARGS,
     "ctecor(raz, fff, out, rows, ncol, cols, q, dpde, rprof, cprof, rnoise, fix, nfor, npar): sub_ctecor_v2c on "
     "the listed columns of float32 (rows, ncol) raz/fff into out"},
    {NULL, NULL, 0, NULL},
};

CK_MODULE(_cte_kernels, methods, "WFC3/UVIS pixel-based CTE kernel (wf3cte.c sub_ctecor_v2c)")
