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

typedef struct {
    Py_ssize_t rows;
    const double *q, *dpde;
    const float *rp, *cp; /* (TDIM, NTRAPS) */
    double rnoise, fix;
    int nfor, npar;
} CTEPars;

/* sim_colreadout_l_uvis_w with J1 = 1, J2 = rows: one readout of a column. */
static void
readout_col(const double *pixi, double *pixo, const double *pixf, const CTEPars *p)
{
    const Py_ssize_t n = p->rows;
    double pmax = 10.0;
    for (Py_ssize_t j = 0; j < n; j++) {
        pixo[j] = pixi[j];
        if (pixo[j] > pmax)
            pmax = pixo[j];
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
        for (Py_ssize_t j = 1; j < n; j++) {
            /* An empty-handed trap (> TDIM shifts since filled) under its level changes nothing but
             * the sign of a zero; its ftrap is dead until the next fill overwrites it. */
            if (ttrap >= TDIM && pixo[j] < qw) {
                pixo[j] = pixo[j] + 0.0;
                continue;
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
            pixo[j] = pixo[j] + prel_1 + prel_2 - pgrb_3;
        }
    }
}

/* rm_rnZ_colj: split a column into read noise (rnz) and smooth charge (rsz). */
static void
smooth_col(const double *chg, double *rnz, double *rsz, unsigned char *ffu, Py_ssize_t n, double rnmit)
{
    for (Py_ssize_t j = 0; j < n; j++) {
        rsz[j] = chg[j];
        rnz[j] = 0.0;
        ffu[j] = 0;
    }
    int j1 = XAMP_SCI_DIM - 1, j2 = 2;
    for (int j = 2; j <= XAMP_SCI_DIM - 1; j++)
        if (j1 == XAMP_SCI_DIM - 1 && chg[j] > 0)
            j1 = j;
    for (int j = XAMP_SCI_DIM - 1; j >= 2; j--)
        if (j2 == 2 && chg[j] > 0)
            j2 = j;
    const double cap = rnmit / 5.0;
    for (int nit = 1; nit < NITMAX; nit++) {
        const double rnn = rnmit * (1.00 + 5.0 * nit / (double)(float)NITMAX);
        for (int j = j1; j <= j2; j++) {
            double dd = rsz[j] - (rsz[j + 1] + rsz[j - 1]) / 2.0;
            ffu[j] = 0;
            if (fabs(dd) < rnn) {
                if (dd > cap)
                    dd = cap;
                if (dd < -cap)
                    dd = -cap;
                rnz[j] = rnz[j] + dd * 0.50;
                rnz[j - 1] = rnz[j - 1] - dd * 0.25;
                rnz[j + 1] = rnz[j + 1] - dd * 0.25;
                ffu[j] = 1;
            }
        }
        for (int j = j1; j <= j2; j++)
            rsz[j] = chg[j] - rnz[j];
        double dtot = 0.0, ftot = 0.0;
        for (int j = j1; j <= j2; j++) {
            ftot = ftot + ffu[j];
            dtot = dtot + rnz[j] * rnz[j];
        }
        if (sqrt(dtot / ftot) > rnmit)
            return;
    }
}

/* sub_ctecor_v2c for one column: raz/fff in (double), mod out (double). */
static void
correct_col(const double *raz, double *fff, double *mod, double *work, unsigned char *ffu, const CTEPars *p)
{
    const Py_ssize_t n = p->rows;
    double *rnz = work, *rsz = work + n, *org = work + 2 * n, *obs = work + 3 * n;
    int ncrx = 0, done = 0;
    while (!done) {
        ncrx = ncrx + 1;
        done = 1;
        for (Py_ssize_t j = 0; j < n; j++)
            mod[j] = raz[j];
        for (int nf = 0; nf < p->nfor; nf++) {
            smooth_col(mod, rnz, rsz, ffu, n, p->rnoise);
            memcpy(org, rsz, n * sizeof(double));
            for (int np_ = 1; np_ <= p->npar; np_++) {
                readout_col(org, obs, fff, p);
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
    if (ck_check(&raz, rows * ncol, 4, "raz") || ck_check(&fff, rows * ncol, 4, "fff") ||
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
    double *buf = malloc(7 * rows * sizeof(double));
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
            cfff[j] = zf[c + j * ncol];
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
    double *buf = malloc(3 * rows * sizeof(double));
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
        readout_col(buf, buf + 2 * rows, buf + rows, &p);
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
