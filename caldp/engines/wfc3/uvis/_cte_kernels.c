/* caldp C kernel for WFC3/UVIS pixel-based CTE (HSTCAL wf3cte.c, sub_ctecor_v2c).
 *
 * The fast path of caldp.engines.wfc3.uvis.pctecorr.correct_columns_numpy: per column, NITFOR
 * forward-model iterations of read-noise smoothing (rm_rnZ_colj) and NITPAR simulated readouts
 * (sim_colreadout_l_uvis_w), then the read-out cosmic-ray test, repeated up to 10 times. Columns
 * are independent; the caller hands each thread a list of columns. Double and float arithmetic
 * is written in the NumPy reference's (and HSTCAL's) order; -ffp-contract=off keeps it unfused.
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
    double *buf = malloc(10 * rows * sizeof(double));
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
    double *craz = buf, *cfff = buf + rows, *cmod = buf + 2 * rows, *work = buf + 3 * rows;
    for (Py_ssize_t k = 0; k < nsel; k++) {
        const Py_ssize_t c = cl[k];
        for (Py_ssize_t j = 0; j < rows; j++) {
            craz[j] = zr[c + j * ncol];
            cfff[j] = fstride ? zf[c + j * ncol] : zf[j];
        }
        correct_col(craz, cfff, cmod, work, ffu, &p);
        for (Py_ssize_t j = 0; j < rows; j++)
            zo[c + j * ncol] = (float)cmod[j];
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
    {"ctecor", k_ctecor, METH_VARARGS,
     "ctecor(raz, fff, out, rows, ncol, cols, q, dpde, rprof, cprof, rnoise, fix, nfor, npar): sub_ctecor_v2c on "
     "the listed columns of float32 (rows, ncol) raz/fff into out"},
    {NULL, NULL, 0, NULL},
};

CK_MODULE(_cte_kernels, methods, "WFC3/UVIS pixel-based CTE kernel (wf3cte.c sub_ctecor_v2c)")
