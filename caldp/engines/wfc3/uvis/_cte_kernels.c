/* caldp C kernel for WFC3/UVIS pixel-based CTE (HSTCAL wf3cte.c, sub_ctecor_v2c).
 *
 * The fast path of caldp.engines.wfc3.uvis.pctecorr.correct_columns_numpy: per column, NITFOR
 * forward-model iterations of read-noise smoothing (rm_rnZ_colj) and NITPAR simulated readouts
 * (sim_colreadout_l_uvis_w), then the read-out cosmic-ray test, repeated up to 10 times. Columns
 * are independent; the caller hands each thread a list of columns. Double and float arithmetic
 * is written in the NumPy reference's (and HSTCAL's) order; -ffp-contract=off keeps it unfused.
 * Groups of 8 columns run at once, one per SIMD lane (AVX-512 where the CPU has it, else a portable
 * loop over the lanes), arrays [row][lane]: the readouts and the read-noise smoothing's rounds; the
 * read-out cosmic-ray test is per column. Runs without the GIL.
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
    int finite; /* q, dpde, rprof, cprof all finite (the readout's block fast paths need it) */
} CTEPars;

#define BLK 32 /* rows per block of the readout's skip index */
#define FM_PAD 128 /* bytes after a group's rows in Smooth.fm */

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

/* ---------------------------------------------------------------- eight columns per SIMD group
 *
 * Columns are independent: a group of LANES columns is read out together, one column per lane, arrays
 * [row][lane]. Each lane does exactly its column's operations (sim_colreadout_l_uvis_w order and
 * types); masked operations give the +0.0 HSTCAL adds where nothing is released or grabbed. */
#define LANES 8

typedef struct {
    double *org, *obs, *pixf, *rat; /* [row][lane]; pixf: the lanes' fff */
    double *raz, *mod;             /* [row][lane] */
    double *bmax, *bmin;           /* [block]: upper and lower bounds of the block's values */
    int pixf_finite;               /* every pixf finite */
    int pixf_shared;               /* every lane's pixf is the shared column `Tables` are made of */
    struct Tables *tabs;           /* the all-grab rows' terms per trap (NULL: none) */
    double rpd[TDIM + 1], cpd[TDIM + 1];
} Group;

/* Where every lane grabs on every row (ROWS_ALLGRAB) and the lanes share one pixf column, a row's
 * release, flush and grab do not depend on the lane or the pixel: for row j (the previous row
 * grabbed, so ftrap was fill·pixf[j−1]) they are t[3j] = RPROF₀·(rat[j]·(fill·pixf[j−1])),
 * t[3j+1] = CPROF₀·(rat[j]·(fill·pixf[j−1])), t[3j+2] = fill·pixf[j], the same products as row by
 * row, made once per trap for every group (pixf is the same for all readouts of a column). */
#define MAX_TABLES 64
struct Tables {
    const double *pixf; /* [row]: the shared column */
    Py_ssize_t rows;
    double *t[NTRAPS];  /* per trap: NULL, or 3·rows terms */
    int made;
};

static const double *
trap_table(struct Tables *tb, const CTEPars *p, int w)
{
    if (tb->t[w] != NULL)
        return tb->t[w];
    if (tb->made >= MAX_TABLES)
        return NULL;
    double *t = malloc((size_t)tb->rows * 3 * sizeof(double));
    if (t == NULL)
        return NULL;
    const double fill = p->dpde[w] / p->npar, r0 = (double)p->rp[w], c0 = (double)p->cp[w];
    const double *pf = tb->pixf;
    t[0] = t[1] = t[2] = 0.0; /* row 0 is never an all-grab row */
    for (Py_ssize_t j = 1; j < tb->rows; j++) {
        const double rat = j > 1 && pf[j] < pf[j - 1] ? pf[j] / pf[j - 1] : 1.0;
        const double ft = rat * (fill * pf[j - 1]);
        t[3 * j] = r0 * ft;
        t[3 * j + 1] = c0 * ft;
        t[3 * j + 2] = fill * pf[j];
    }
    tb->t[w] = t;
    tb->made++;
    return t;
}

/* -1: not decided (the CPU is asked on first use); set_simd(False) forces the portable rows (tests). */
static int use_avx512 = -1;
static int use_fma = 1; /* the fused smoothing rounds (AVX-512 only); set_fma(False) for tests */

static int
avx512_ok(void)
{
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
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
 * the trail profile at each lane's ttrap). `mode` (the block's bounds decide it, see readout_group):
 *
 * ROWS_ANY: any row; ROWS_NOGRAB: no pixel of the rows reaches qw, so nothing is grabbed or flushed
 * and v = pix + prel_1 (HSTCAL's + 0.0 − 0.0 leave a value that is not −0.0 as it is; the rows are
 * never −0.0, see readout_col); ROWS_ALLGRAB: every pixel of every lane reaches qw (and all values are
 * finite), so after the first row every lane's ttrap is 0 when the next row comes: its release and
 * flush are rpd[0]·ftrap and cpd[0]·ftrap, no gathers or masks. The lanes' ftrap/ttrap are the same
 * as row by row. Returns the rows' new maximum; *pmin: their minimum. */
enum { ROWS_ANY, ROWS_NOGRAB, ROWS_ALLGRAB };

__attribute__((target("avx512f"))) static double
group_rows_avx512(Group *g, Py_ssize_t j0, Py_ssize_t j1, double qws, double fills, long long *pttrap,
                  double *pftrap, int mode, double *pmin, const double *tab)
{
    __m512i ttrap = _mm512_loadu_si512(pttrap);
    __m512d ftrap = _mm512_loadu_pd(pftrap);
    const __m512d qw = _mm512_set1_pd(qws), fill = _mm512_set1_pd(fills), zero = _mm512_setzero_pd();
    const __m512i tdim = _mm512_set1_epi64(TDIM), one = _mm512_set1_epi64(1);
    __m512d vmax = _mm512_set1_pd(-INFINITY), vmin = _mm512_set1_pd(INFINITY);
    Py_ssize_t j = j0;
    const Py_ssize_t jend = j1;
    if (mode == ROWS_NOGRAB) {
        for (; j < j1; j++) {
            const __m512d pix = _mm512_load_pd(g->obs + j * LANES);
            ftrap = _mm512_mul_pd(_mm512_load_pd(g->rat + j * LANES), ftrap);
            const __mmask8 inside = _mm512_cmplt_epi64_mask(ttrap, tdim);
            const __m512d prel_1 =
                _mm512_maskz_mul_pd(inside, _mm512_mask_i64gather_pd(zero, inside, ttrap, g->rpd, 8), ftrap);
            ttrap = _mm512_mask_add_epi64(ttrap, inside, ttrap, one);
            const __m512d v = _mm512_add_pd(pix, prel_1);
            _mm512_store_pd(g->obs + j * LANES, v);
            vmax = _mm512_mask_mov_pd(vmax, _mm512_cmp_pd_mask(v, vmax, _CMP_GT_OQ), v);
            vmin = _mm512_min_pd(v, vmin);
        }
        j1 = j0; /* done */
    } else if (mode == ROWS_ALLGRAB)
        j1 = j0 + 1; /* the first row by the general code, the others below */
    for (; j < j1; j++) {
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
        vmin = _mm512_min_pd(v, vmin);
    }
    if (mode == ROWS_ALLGRAB && tab != NULL && j < jend) {
        for (; j < jend; j++) { /* the terms of trap_table: the lanes share pixf */
            const __m512d pix = _mm512_load_pd(g->obs + j * LANES);
            const __m512d v = _mm512_sub_pd(
                _mm512_add_pd(_mm512_add_pd(pix, _mm512_set1_pd(tab[3 * j])), _mm512_set1_pd(tab[3 * j + 1])),
                _mm512_set1_pd(tab[3 * j + 2]));
            _mm512_store_pd(g->obs + j * LANES, v);
            vmax = _mm512_max_pd(v, vmax);
            vmin = _mm512_min_pd(v, vmin);
        }
        ftrap = _mm512_set1_pd(tab[3 * (jend - 1) + 2]);
        ttrap = _mm512_setzero_si512();
    } else if (mode == ROWS_ALLGRAB) {
        const __m512d r0 = _mm512_set1_pd(g->rpd[0]), c0 = _mm512_set1_pd(g->cpd[0]);
        for (; j < jend; j++) {
            const __m512d pix = _mm512_load_pd(g->obs + j * LANES);
            ftrap = _mm512_mul_pd(_mm512_load_pd(g->rat + j * LANES), ftrap);
            const __m512d prel_1 = _mm512_mul_pd(r0, ftrap), prel_2 = _mm512_mul_pd(c0, ftrap);
            ftrap = _mm512_mul_pd(fill, _mm512_load_pd(g->pixf + j * LANES));
            const __m512d v = _mm512_sub_pd(_mm512_add_pd(_mm512_add_pd(pix, prel_1), prel_2), ftrap);
            _mm512_store_pd(g->obs + j * LANES, v);
            vmax = _mm512_max_pd(v, vmax);
            vmin = _mm512_min_pd(v, vmin);
        }
        ttrap = _mm512_setzero_si512();
    }
    _mm512_storeu_si512(pttrap, ttrap);
    _mm512_storeu_pd(pftrap, ftrap);
    *pmin = _mm512_reduce_min_pd(vmin);
    return _mm512_reduce_max_pd(vmax);
}
#define HAVE_AVX512_ROWS 1
#else
#define HAVE_AVX512_ROWS 0
#endif

/* obs = org + 0.0 (row 0 copied), each lane's max(10, column) in HSTCAL's order, and per block of BLK
 * rows the highest and lowest value over the lanes (NaN ignored: a NaN pixel neither grabs nor, where
 * no lane releases, changes: HSTCAL's NaN + 0 + 0 - 0 is the same NaN; the lowest value serves only
 * where every value is finite). Returns whether every value is finite. */
VEC_CLONES static int
group_start(Group *g, Py_ssize_t n, double *pmax)
{
    long long bad[LANES]; /* a value that is NaN or infinite (v − v is not 0) */
    double mx[LANES], mn[LANES];
    for (int l = 0; l < LANES; l++) {
        const double v = g->org[l];
        g->obs[l] = v;
        pmax[l] = v > 10.0 ? v : 10.0;
        mx[l] = v > -INFINITY ? v : -INFINITY;
        mn[l] = v < INFINITY ? v : INFINITY;
        bad[l] = !(v - v == 0.0);
    }
    for (Py_ssize_t b = 0, j = 1; j < n; b++) {
        const Py_ssize_t je = (b + 1) * BLK < n ? (b + 1) * BLK : n;
        for (; j < je; j++)
            for (int l = 0; l < LANES; l++) {
                const double v = g->org[j * LANES + l] + 0.0;
                g->obs[j * LANES + l] = v;
                pmax[l] = v > pmax[l] ? v : pmax[l];
                mx[l] = v > mx[l] ? v : mx[l];
                mn[l] = v < mn[l] ? v : mn[l];
                bad[l] |= !(v - v == 0.0);
            }
        double r = mx[0], rn = mn[0];
        for (int l = 0; l < LANES; l++) {
            r = mx[l] > r ? mx[l] : r;
            rn = mn[l] < rn ? mn[l] : rn;
            mx[l] = -INFINITY;
            mn[l] = INFINITY;
        }
        g->bmax[b] = r;
        g->bmin[b] = rn;
    }
    long long any = 0;
    for (int l = 0; l < LANES; l++)
        any |= bad[l];
    return !any;
}

/* sim_colreadout_l_uvis_w on the group: g->org (in) -> g->obs (out), with the same skips as
 * readout_col: a block of rows below the trap level while no lane releases adds 0.0 in every lane. */
static void
readout_group(Group *g, const CTEPars *p)
{
    const Py_ssize_t n = p->rows, nb = (n + BLK - 1) / BLK;
    double pmax[LANES];
    /* the block fast paths need finite values (then every value stays finite: float32-sized inputs) */
    const int fin = group_start(g, n, pmax) && g->pixf_finite && p->finite;
    if (!fin)
        for (Py_ssize_t b = 0; b < nb; b++)
            g->bmin[b] = -INFINITY; /* never ROWS_ALLGRAB */
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
            double m, mn = -INFINITY;
#if HAVE_AVX512_ROWS
            if (use_avx512) {
                const int mode = g->bmax[b] < qw            ? ROWS_NOGRAB
                                 : fin && g->bmin[b] >= qw ? ROWS_ALLGRAB
                                                           : ROWS_ANY;
                const double *tab =
                    mode == ROWS_ALLGRAB && g->pixf_shared && g->tabs ? trap_table(g->tabs, p, w) : NULL;
                m = group_rows_avx512(g, j0, j1, qw, fill, ttrap, ftrap, mode, &mn, tab);
            } else
#endif
                m = group_rows_lanes(g, j0, j1, qw, fill, ttrap, ftrap);
            idle = 1;
            for (int l = 0; l < LANES; l++)
                idle &= ttrap[l] >= TDIM;
            g->bmax[b] = m > g->bmax[b] ? m : g->bmax[b]; /* an upper bound of the block (NaN ignored) */
            if (fin) /* a lower bound of the block (block 0: row 0 is not among the rows) */
                g->bmin[b] = b == 0 && g->bmin[0] < mn ? g->bmin[0] : mn;
        }
    }
}

/* The lanes' rescale factors: pixf[j]/pixf[j-1] where pixf[j] < pixf[j-1] (j > 1), else 1.0. */
static void
group_rat(Group *g, Py_ssize_t n)
{
    double z = 0.0; /* Σ 0·(pixf, rat): 0 while all are finite */
    for (Py_ssize_t k = 0; k < 2 * LANES && k < n * LANES; k++) {
        g->rat[k] = 1.0;
        z = z + 0.0 * g->pixf[k];
    }
    for (Py_ssize_t k = 2 * LANES; k < n * LANES; k++) {
        g->rat[k] = g->pixf[k] < g->pixf[k - LANES] ? g->pixf[k] / g->pixf[k - LANES] : 1.0;
        z = z + 0.0 * g->pixf[k] + 0.0 * g->rat[k];
    }
    g->pixf_finite = z == 0.0;
}

/* ---------------------------------------------------------------- read-noise smoothing, 8 columns
 *
 * rm_rnZ_colj on a group, one column per lane, arrays [row][lane]. In HSTCAL's round every dd comes
 * from rsz, which the round does not change, and rsz = chg − rnz on rows j1..j2 (chg elsewhere), so a
 * round is one pass down the rows holding the last rows in registers: dd of row k+1, then
 * rnz[k] = ((rnz[k] − q[k−1]) + h[k]) − q[k+1], h = dd/2 and q = dd/4 (dd capped at ±RNMIT/5) where
 * row k is flagged, +0.0 elsewhere (the order in which HSTCAL's row loop changes rnz[k]; rnz is never
 * −0.0, so adding a +0.0 leaves it as it is). dtot (Σ rnz² over j1..j2) is summed row after row as
 * HSTCAL does, ftot counts the flags. A lane whose column stops (sqrt(dtot/ftot) > RNMIT) is flagged
 * nowhere in later rounds, so its rnz stays as it was. `inm[k]`: the lanes with j1 <= k <= j2. */
typedef struct {
    const double *chg; /* [row][lane], in */
    double *rnz, *rsz; /* [row][lane], out */
    unsigned char *inm; /* [row] */
    unsigned char *fm;  /* [row]: the lanes flagged in the round (fused rounds); 64-byte aligned, FM_PAD more */
    Py_ssize_t rows;
    int k0, k1; /* the rows that can change: min j1 − 1 … max j2 + 1 */
    int f0, f1; /* rows k with k, k+1, k+2 in every lane's j1..j2 (f0 > f1: none) */
    int tiny;   /* some chg value is non-zero with a magnitude below 2⁻¹²⁰ (no fused rounds) */
} Smooth;

/* Each lane's j1, j2 (rm_rnZ_colj) → inm, k0, k1 for the lanes in `lanes` (others: no row); rnz = 0.
 * Returns those of them with j1 <= j2. */
static unsigned
smooth_start(Smooth *s, unsigned lanes)
{
    const Py_ssize_t n = s->rows;
    memset(s->rnz, 0, (size_t)n * LANES * sizeof(double));
    memset(s->inm, 0, (size_t)n);
    memset(s->fm, 0, (size_t)n + FM_PAD);
    long long tiny = 0;
    for (Py_ssize_t k = 0; k < n * LANES; k++) {
        const double a = fabs(s->chg[k]);
        tiny |= a > 0.0 && a < 0x1p-120;
    }
    s->tiny = tiny != 0;
    unsigned some = 0;
    int k0 = XAMP_SCI_DIM, k1 = 0, jlo = 0, jhi = XAMP_SCI_DIM;
    for (int l = 0; l < LANES; l++) {
        if (!((lanes >> l) & 1))
            continue;
        int j1 = XAMP_SCI_DIM - 1, j2 = 2;
        for (int j = 2; j <= XAMP_SCI_DIM - 1; j++)
            if (j1 == XAMP_SCI_DIM - 1 && s->chg[j * LANES + l] > 0)
                j1 = j;
        for (int j = XAMP_SCI_DIM - 1; j >= 2; j--)
            if (j2 == 2 && s->chg[j * LANES + l] > 0)
                j2 = j;
        if (j1 > j2)
            continue; /* no row in range: HSTCAL's rounds change nothing (0/0 never stops them) */
        some |= 1u << l;
        for (int j = j1; j <= j2; j++)
            s->inm[j] |= (unsigned char)(1u << l);
        k0 = j1 - 1 < k0 ? j1 - 1 : k0;
        k1 = j2 + 1 > k1 ? j2 + 1 : k1;
        jlo = j1 > jlo ? j1 : jlo;
        jhi = j2 < jhi ? j2 : jhi;
    }
    s->k0 = k0;
    s->k1 = k1;
    s->f0 = jlo;
    s->f1 = jhi - 2 < k1 ? jhi - 2 : k1;
    if (some != (1u << LANES) - 1u || s->f0 > s->f1 || s->f0 < k0) { /* a lane without rows: no full rows */
        s->f0 = k0;
        s->f1 = k0 - 1;
    }
    return some;
}

/* rsz = chg − rnz on each lane's rows j1..j2, chg elsewhere. */
static void
smooth_end(Smooth *s)
{
    for (Py_ssize_t j = 0; j < s->rows; j++)
        for (int l = 0; l < LANES; l++) {
            const Py_ssize_t k = j * LANES + l;
            s->rsz[k] = (s->inm[j] >> l) & 1 ? s->chg[k] - s->rnz[k] : s->chg[k];
        }
}

/* One round on every lane in turn (portable): the lanes' dtot and ftot added to d, f. */
static void
smooth_round_lanes(Smooth *s, unsigned alive, double rnn, double cap, double *d, double *f)
{
    const double ncap = -cap;
    const double *chg = s->chg;
    double *rnz = s->rnz;
    const unsigned char *inm = s->inm;
    for (int l = 0; l < LANES; l++) {
        if (!((alive >> l) & 1))
            continue;
        const unsigned bit = 1u << l;
#define RSZ(j) (inm[j] & bit ? chg[(j) * LANES + l] - rnz[(j) * LANES + l] : chg[(j) * LANES + l])
        double rs0 = RSZ(s->k0), rs1 = RSZ(s->k0 + 1), rz0 = rnz[s->k0 * LANES + l], rz1 = rnz[(s->k0 + 1) * LANES + l];
        double qm1 = 0.0, q0 = 0.0, h0 = 0.0, dtot = 0.0, ftot = 0.0;
        for (int k = s->k0; k <= s->k1; k++) {
            const double rz2 = rnz[(k + 2) * LANES + l];
            const double rs2 = RSZ(k + 2);
            const double dd = rs1 - (rs2 + rs0) / 2.0; /* row k+1 */
            double h1 = 0.0, q1 = 0.0;
            if ((inm[k + 1] & bit) && fabs(dd) < rnn) {
                double c = dd > cap ? cap : dd;
                c = c < ncap ? ncap : c;
                h1 = c * 0.50;
                q1 = c * 0.25;
                ftot = ftot + 1.0;
            }
            const double v = ((rz0 - qm1) + h0) - q1;
            rnz[k * LANES + l] = v;
            if (inm[k] & bit)
                dtot = dtot + v * v;
            qm1 = q0;
            q0 = q1;
            h0 = h1;
            rs0 = rs1;
            rs1 = rs2;
            rz0 = rz1;
            rz1 = rz2;
        }
#undef RSZ
        d[l] = dtot;
        f[l] = ftot;
    }
}

#if HAVE_AVX512_ROWS
/* The same round with the eight lanes in AVX-512 registers: the cap by VRANGEPD (the smaller
 * magnitude of dd and RNMIT/5 with dd's sign: the two comparisons of HSTCAL for any number).
 *
 * Rows f0..f1 (s->f0, s->f1), where rows k, k+1 and k+2 lie in every lane's j1..j2, run without the
 * row masks: there rsz = chg − rnz in every lane, every lane may be flagged (alive ones) and adds
 * its rnz² to dtot — the same operations without the three mask-register moves per row. */
#define SMOOTH_ROW(M0, M1, M2)                                                                                 \
    do {                                                                                                       \
        const __m512d c2 = _mm512_load_pd(chg + (k + 2) * LANES), rz2 = _mm512_load_pd(rnz + (k + 2) * LANES); \
        const __m512d rs2 = _mm512_mask_sub_pd(c2, (M2), c2, rz2);                                             \
        const __m512d dd = _mm512_sub_pd(rs1, _mm512_mul_pd(_mm512_add_pd(rs2, rs0), half)); /* /2.0 exactly */ \
        const __mmask8 m = _mm512_mask_cmp_pd_mask((M1), _mm512_abs_pd(dd), rnn, _CMP_LT_OQ);                  \
        const __m512d c = _mm512_range_pd(dd, cap, 0x02);                                                      \
        const __m512d h1 = _mm512_maskz_mul_pd(m, c, half), q1 = _mm512_maskz_mul_pd(m, c, quarter);          \
        ftot = _mm512_mask_add_pd(ftot, m, ftot, one);                                                         \
        const __m512d ft = ftot;                                                                               \
        ftot = ftot2;                                                                                          \
        ftot2 = ft;                                                                                            \
        const __m512d v = _mm512_sub_pd(_mm512_add_pd(_mm512_sub_pd(rz0, qm1), h0), q1);                       \
        _mm512_store_pd(rnz + k * LANES, v);                                                                   \
        dtot = _mm512_mask_add_pd(dtot, (M0), dtot, _mm512_mul_pd(v, v));                                      \
        const __m512d dt = dtot; /* two chains, alternate rows (see smooth_group) */                          \
        dtot = dtot2;                                                                                          \
        dtot2 = dt;                                                                                            \
        qm1 = q0;                                                                                              \
        q0 = q1;                                                                                               \
        h0 = h1;                                                                                               \
        rs0 = rs1;                                                                                             \
        rs1 = rs2;                                                                                             \
        rz0 = rz1;                                                                                             \
        rz1 = rz2;                                                                                             \
    } while (0)

__attribute__((target("avx512f,avx512dq"))) static void
smooth_round_avx512(Smooth *s, unsigned alive, double rnn_s, double cap_s, double *d, double *f)
{
    const double *chg = s->chg;
    double *rnz = s->rnz;
    const unsigned char *inm = s->inm;
    const __m512d rnn = _mm512_set1_pd(rnn_s), cap = _mm512_set1_pd(cap_s), half = _mm512_set1_pd(0.50),
                  quarter = _mm512_set1_pd(0.25), one = _mm512_set1_pd(1.0);
    const __mmask8 al = (__mmask8)alive, all = 0xff;
    Py_ssize_t k = s->k0;
    __m512d c0 = _mm512_load_pd(chg + k * LANES), c1 = _mm512_load_pd(chg + (k + 1) * LANES);
    __m512d rz0 = _mm512_load_pd(rnz + k * LANES), rz1 = _mm512_load_pd(rnz + (k + 1) * LANES);
    __m512d rs0 = _mm512_mask_sub_pd(c0, inm[k], c0, rz0), rs1 = _mm512_mask_sub_pd(c1, inm[k + 1], c1, rz1);
    __m512d qm1 = _mm512_setzero_pd(), q0 = qm1, h0 = qm1, dtot = qm1, dtot2 = qm1, ftot = qm1, ftot2 = qm1;
    for (; k < s->f0; k++)
        SMOOTH_ROW(inm[k], al & inm[k + 1], inm[k + 2]);
    for (; k <= s->f1; k++)
        SMOOTH_ROW(all, al, all);
    for (; k <= s->k1; k++)
        SMOOTH_ROW(inm[k], al & inm[k + 1], inm[k + 2]);
    _mm512_storeu_pd(d, _mm512_add_pd(dtot, dtot2));
    _mm512_storeu_pd(f, _mm512_add_pd(ftot, ftot2));
}
#undef SMOOTH_ROW

/* The same round with HSTCAL's products by 1/2 and 1/4 folded into fused multiply-adds (FMA):
 * dd = rs1 − (rs2 + rs0)·0.5 and rnz[k] = ((rnz[k] − c[k−1]·0.25) + c[k]·0.5) − c[k+1]·0.25, with
 * c the capped dd of a flagged row and +0.0 elsewhere (so the unflagged terms are the same ±0.0 as
 * HSTCAL's "nothing added": x − 0·0.25 is x, x + 0·0.5 is x + 0.0). A fused a·2⁻ᵏ + b rounds once,
 * the unfused one twice; they are the same number whenever the product a·2⁻ᵏ is a double.
 *
 * Why it always is here (smooth_group checks the premise): every finite value of a round lies on a
 * grid 2⁻ᴳ (a multiple of it), and rounding keeps a multiple of 2⁻ᴳ one. If every non-zero chg has
 * |chg| ≥ 2⁻¹²⁰ and RNMIT/5 ≥ 2⁻¹²⁰ (or is 0), both lie on 2⁻¹⁷² (52 bits below their exponent).
 * A round whose rsz lie on 2⁻ᴿ makes dd, c on 2⁻⁽ᴿ⁺¹⁾ and rnz on 2⁻⁽ᴿ⁺³⁾, so the next round's rsz lie
 * on 2⁻⁽ᴿ⁺³⁾: round 298 (the last) has rsz on 2⁻⁽¹⁷²⁺³·²⁹⁷⁾ = 2⁻¹⁰⁶³, its sums and c on 2⁻¹⁰⁶⁴, and a
 * multiple of 2⁻¹⁰⁶⁴ times 1/2 or 1/4 is a multiple of 2⁻¹⁰⁶⁶, a double (subnormals are multiples of
 * 2⁻¹⁰⁷⁴). Non-finite values are never flagged (c = 0). dtot: one fused v·v + dtot per row (it only
 * decides the stop test, within the tolerance smooth_rounds allows). Flags: stored per row and counted
 * per lane after the round. Six vector operations fewer per row than smooth_round_avx512. */
#define SMOOTH_ROW_FMA(M0, M1, M2)                                                                             \
    do {                                                                                                       \
        const __m512d c2 = _mm512_load_pd(chg + (k + 2) * LANES), rz2 = _mm512_load_pd(rnz + (k + 2) * LANES); \
        const __m512d rs2 = _mm512_mask_sub_pd(c2, (M2), c2, rz2);                                             \
        const __m512d dd = _mm512_fnmadd_pd(_mm512_add_pd(rs2, rs0), half, rs1);                               \
        const __mmask8 m = _mm512_mask_cmp_pd_mask((M1), _mm512_abs_pd(dd), rnn, _CMP_LT_OQ);                  \
        const __m512d cc = _mm512_maskz_range_pd(m, dd, cap, 0x02);                                            \
        fm[k + 1] = (unsigned char)m;                                                                          \
        const __m512d v =                                                                                      \
            _mm512_fnmadd_pd(cc, quarter, _mm512_fmadd_pd(c0, half, _mm512_fnmadd_pd(cm1, quarter, rz0)));     \
        _mm512_store_pd(rnz + k * LANES, v);                                                                   \
        dtot = _mm512_mask3_fmadd_pd(v, v, dtot, (M0));                                                        \
        const __m512d dt = dtot;                                                                               \
        dtot = dtot2;                                                                                          \
        dtot2 = dt;                                                                                            \
        cm1 = c0;                                                                                              \
        c0 = cc;                                                                                               \
        rs0 = rs1;                                                                                             \
        rs1 = rs2;                                                                                             \
        rz0 = rz1;                                                                                             \
        rz1 = rz2;                                                                                             \
    } while (0)

__attribute__((target("avx512f,avx512dq,avx512bw,popcnt"), noinline)) static void
smooth_round_fma(Smooth *s, unsigned alive, double rnn_s, double cap_s, double *d, double *f)
{
    const double *chg = s->chg;
    double *rnz = s->rnz;
    const unsigned char *inm = s->inm;
    unsigned char *fm = s->fm;
    const __m512d rnn = _mm512_set1_pd(rnn_s), cap = _mm512_set1_pd(cap_s), half = _mm512_set1_pd(0.50),
                  quarter = _mm512_set1_pd(0.25);
    const __mmask8 al = (__mmask8)alive, all = 0xff;
    Py_ssize_t k = s->k0;
    __m512d c0 = _mm512_load_pd(chg + k * LANES), c1 = _mm512_load_pd(chg + (k + 1) * LANES);
    __m512d rz0 = _mm512_load_pd(rnz + k * LANES), rz1 = _mm512_load_pd(rnz + (k + 1) * LANES);
    __m512d rs0 = _mm512_mask_sub_pd(c0, inm[k], c0, rz0), rs1 = _mm512_mask_sub_pd(c1, inm[k + 1], c1, rz1);
    __m512d cm1 = _mm512_setzero_pd(), dtot = cm1, dtot2 = cm1;
    c0 = cm1; /* from here on: the capped dd of rows k−1 (cm1) and k (c0) */
    for (; k < s->f0; k++)
        SMOOTH_ROW_FMA(inm[k], al & inm[k + 1], inm[k + 2]);
    for (; k <= s->f1; k++)
        SMOOTH_ROW_FMA(all, al, all);
    for (; k <= s->k1; k++)
        SMOOTH_ROW_FMA(inm[k], al & inm[k + 1], inm[k + 2]);
    _mm512_storeu_pd(d, _mm512_add_pd(dtot, dtot2));
    /* ftot per lane: the flags stored per row counted 64 rows at a time (rows outside k0+1…k1+1 are 0) */
    long long cnt[LANES] = {0};
    const Py_ssize_t kend = (s->k1 + 2 + 63) & ~(Py_ssize_t)63;
    for (Py_ssize_t r = (s->k0 + 1) & ~(Py_ssize_t)63; r < kend; r += 64) {
        const __m512i x = _mm512_load_si512(fm + r);
        for (int l = 0; l < LANES; l++)
            cnt[l] += __builtin_popcountll(_mm512_test_epi8_mask(x, _mm512_set1_epi8((char)(1 << l))));
    }
    for (int l = 0; l < LANES; l++)
        f[l] = (double)cnt[l];
}
#undef SMOOTH_ROW_FMA
#endif

/* HSTCAL's dtot of lane l: Σ rnz² over j1..j2 added in row order. */
static double
dtot_rows(const Smooth *s, int l)
{
    double dtot = 0.0;
    for (int k = s->k0; k <= s->k1; k++)
        if ((s->inm[k] >> l) & 1)
            dtot = dtot + s->rnz[k * LANES + l] * s->rnz[k * LANES + l];
    return dtot;
}

enum { ROUND_LANES, ROUND_AVX512, ROUND_FMA };

/* rm_rnZ_colj's rounds on the lanes in `alive` (after smooth_start), rounds of kind `kind`.
 *
 * The AVX-512 rounds add dtot in two chains (even and odd rows) to halve the latency of the sum (the
 * fused ones with one rounding per row). It serves only the test sqrt(dtot/ftot) > RNMIT (ftot, a
 * count, is exact either way): any order of adding n non-negative terms lies within n·2⁻⁵³ (relative)
 * of the exact sum (fused or not, while the sum is not tiny: below 2⁻⁹⁰⁰ an underflowing term could
 * count), so when the root is more than 1e-9 (relative) away from RNMIT the test comes out as with
 * HSTCAL's row-order sum; nearer (or NaN, or a tiny sum), that sum is taken. */
static void
smooth_rounds(Smooth *s, unsigned alive, double rnmit, int kind)
{
    const double cap = rnmit / 5.0;
    for (int nit = 1; nit < NITMAX && alive; nit++) {
        const double rnn = rnmit * (1.00 + 5.0 * nit / (double)(float)NITMAX);
        double d[LANES] = {0}, f[LANES] = {0};
#if HAVE_AVX512_ROWS
        if (kind == ROUND_FMA)
            smooth_round_fma(s, alive, rnn, cap, d, f);
        else if (kind == ROUND_AVX512)
            smooth_round_avx512(s, alive, rnn, cap, d, f);
        else
#endif
            smooth_round_lanes(s, alive, rnn, cap, d, f);
        for (int l = 0; l < LANES; l++) {
            if (!((alive >> l) & 1))
                continue;
            const double r = sqrt(d[l] / f[l]);
            const int stop = d[l] < 0x1p-900             ? sqrt(dtot_rows(s, l) / f[l]) > rnmit
                             : r > rnmit * (1.0 + 1e-9) ? 1
                             : r < rnmit * (1.0 - 1e-9) ? 0
                                                        : sqrt(dtot_rows(s, l) / f[l]) > rnmit;
            if (stop)
                alive &= ~(1u << l);
        }
    }
}

/* rm_rnZ_colj on the lanes in `lanes` (the others keep rnz = 0: rsz = chg): the fused AVX-512 rounds
 * where their premise holds (every non-zero chg and RNMIT/5 at least 2⁻¹²⁰, see smooth_round_fma),
 * else the unfused ones. */
static void
smooth_group(Smooth *s, unsigned lanes, double rnmit)
{
    const unsigned alive = smooth_start(s, lanes);
    const double cap = rnmit / 5.0;
    int kind = ROUND_LANES;
#if HAVE_AVX512_ROWS
    if (use_avx512)
        kind = use_fma && !s->tiny && !(cap > 0.0 && cap < 0x1p-120) && !(cap < 0.0) ? ROUND_FMA : ROUND_AVX512;
#endif
    smooth_rounds(s, alive, rnmit, kind);
    smooth_end(s);
}

/* sub_ctecor_v2c on `live` columns at once, arrays [row][lane]: g->raz (in), g->pixf (fff, cut by the
 * read-out cosmic-ray test), g->mod (out). Each lane repeats its correction while its test cuts fff
 * (up to 10 times); finished lanes keep their result (later rounds and readouts ignore them). */
static void
correct_group(int live, Group *g, Smooth *s, const CTEPars *p)
{
    const Py_ssize_t n = p->rows;
    unsigned active = (1u << live) - 1u;
    int ncrx = 0;
    if (use_avx512 < 0)
        use_avx512 = avx512_ok();
    while (active) {
        ncrx = ncrx + 1;
        for (Py_ssize_t j = 0; j < n; j++)
            for (int l = 0; l < LANES; l++)
                if ((active >> l) & 1)
                    g->mod[j * LANES + l] = g->raz[j * LANES + l];
        group_rat(g, n);
        for (int nf = 0; nf < p->nfor; nf++) {
            smooth_group(s, active, p->rnoise);
            memcpy(g->org, s->rsz, (size_t)n * LANES * sizeof(double));
            for (int np_ = 1; np_ <= p->npar; np_++) {
                readout_group(g, p);
                double *t = g->org;
                g->org = g->obs;
                g->obs = t;
            }
            for (Py_ssize_t j = 0; j < n; j++)
                for (int l = 0; l < LANES; l++)
                    if ((active >> l) & 1) {
                        const Py_ssize_t k = j * LANES + l;
                        double chg = g->org[k] - s->rsz[k];
                        g->mod[k] = g->raz[k] - chg;
                    }
        }
        for (int l = 0; l < LANES; l++) {
            if (!((active >> l) & 1))
                continue;
            int done = 1;
            if (p->fix < 0) {
                const double fix = p->fix;
                const double *md = g->mod + l, *rz = g->raz + l;
                double *ff = g->pixf + l;
#define L_(a, j) a[(j) * LANES]
                for (int j = 15; j <= 2060; j++) {
                    if (L_(md, j) < fix && L_(md, j) - L_(rz, j) < fix && L_(md, j) < L_(md, j + 1) &&
                        L_(md, j) < L_(md, j - 1)) {
                        int jmax = j;
                        for (int jj = j - 2; jj < j; jj++)
                            if (L_(md, jj) - L_(rz, jj) > L_(md, jmax) - L_(rz, jmax))
                                jmax = jj;
                        if (L_(md, jmax) - L_(rz, jmax) > -2.5 * fix) {
                            L_(ff, jmax) = L_(ff, jmax) * 0.90;
                            g->pixf_shared = 0;
                            done = ncrx >= 10;
                        }
                    }
                }
#undef L_
            }
            if (done)
                active &= ~(1u << l);
        }
    }
}

static void *
galloc(size_t n)
{
    void *p = NULL;
    return posix_memalign(&p, 64, n ? n : 64) == 0 ? p : NULL;
}

/* set_simd(flag): the AVX-512 readout rows and smoothing rounds when the CPU has them (flag true) or the
 * portable ones;
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

/* set_fma(flag): the fused AVX-512 smoothing rounds where their premise holds (True) or the unfused ones
 * always (tests); returns the flag. */
static PyObject *
set_fma(PyObject *self, PyObject *args)
{
    int flag;
    if (!PyArg_ParseTuple(args, "p", &flag))
        return NULL;
    use_fma = flag;
    return PyBool_FromLong(use_fma);
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
    double z = 0.0; /* Σ 0·x over the model: 0 while every value is finite */
    for (Py_ssize_t k = 0; k < NTRAPS; k++)
        z = z + 0.0 * p.q[k] + 0.0 * p.dpde[k];
    for (Py_ssize_t k = 0; k < TDIM * NTRAPS; k++)
        z = z + 0.0 * p.rp[k] + 0.0 * p.cp[k];
    p.finite = z == 0.0;
    /* per group: 8 [row][lane] arrays, the skip index of the readout and the smoothing's row masks */
    const size_t nr = (size_t)rows;
    const size_t fmoff = ((8 * LANES * nr + 2 * (nr / BLK + 2)) * sizeof(double) + nr + 63) & ~(size_t)63;
    double *buf = galloc(fmoff + nr + FM_PAD);
    if (buf == NULL) {
        ck_release(all, 8);
        return PyErr_NoMemory();
    }
    const float *zr = raz.buf, *zf = fff.buf;
    float *zo = out.buf;
    double *pfcol = fstride ? NULL : malloc(nr * sizeof(double));
    struct Tables *tabs = pfcol ? calloc(1, sizeof(struct Tables)) : NULL;
    Py_BEGIN_ALLOW_THREADS;
    Group g;
    Smooth sm;
    if (tabs) {
        for (Py_ssize_t j = 0; j < rows; j++)
            pfcol[j] = zf[j];
        tabs->pixf = pfcol;
        tabs->rows = rows;
    }
    g.tabs = tabs;
    const size_t a = LANES * nr;
    g.org = buf;
    g.obs = buf + a;
    g.pixf = buf + 2 * a;
    g.rat = buf + 3 * a;
    g.raz = buf + 4 * a;
    g.mod = buf + 5 * a;
    sm.rnz = buf + 6 * a;
    sm.rsz = buf + 7 * a;
    g.bmax = buf + 8 * a;
    g.bmin = g.bmax + nr / BLK + 2;
    sm.inm = (unsigned char *)(g.bmin + nr / BLK + 2);
    sm.fm = (unsigned char *)buf + fmoff; /* 64-byte aligned: buf is, fmoff is a multiple of 64 */
    sm.chg = g.mod;
    sm.rows = rows;
    for (Py_ssize_t k0 = 0; k0 < nsel; k0 += LANES) {
        const int live = nsel - k0 < LANES ? (int)(nsel - k0) : LANES;
        for (int l = 0; l < LANES; l++) {
            const Py_ssize_t c = cl[k0 + (l < live ? l : live - 1)]; /* spare lanes repeat a column */
            for (Py_ssize_t j = 0; j < rows; j++) {
                g.raz[j * LANES + l] = zr[c + j * ncol];
                g.pixf[j * LANES + l] = fstride ? zf[c + j * ncol] : zf[j];
                g.mod[j * LANES + l] = g.raz[j * LANES + l];
            }
        }
        g.pixf_shared = !fstride;
        correct_group(live, &g, &sm, &p);
        for (int l = 0; l < live; l++) {
            const Py_ssize_t c = cl[k0 + l];
            for (Py_ssize_t j = 0; j < rows; j++)
                zo[c + j * ncol] = (float)g.mod[j * LANES + l];
        }
    }
    Py_END_ALLOW_THREADS;
    if (tabs)
        for (int w = 0; w < NTRAPS; w++)
            free(tabs->t[w]);
    free(tabs);
    free(pfcol);
    free(buf);
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
    {"set_fma", set_fma, METH_VARARGS,
     "set_fma(flag): the fused AVX-512 smoothing rounds where exact (True) or the unfused ones; returns the flag."},
    {"set_simd", set_simd, METH_VARARGS, "choose the AVX-512 (True, if the CPU has it) or the portable readout rows."},
    {"ctecor", k_ctecor, METH_VARARGS,
     "ctecor(raz, fff, out, rows, ncol, cols, q, dpde, rprof, cprof, rnoise, fix, nfor, npar): sub_ctecor_v2c on "
     "the listed columns of float32 (rows, ncol) raz/fff into out"},
    {NULL, NULL, 0, NULL},
};

CK_MODULE(_cte_kernels, methods, "WFC3/UVIS pixel-based CTE kernel (wf3cte.c sub_ctecor_v2c)")
