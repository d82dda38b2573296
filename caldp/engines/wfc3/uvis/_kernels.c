/* caldp C kernels for the WFC3/UVIS WF3CCD and WF32D stages.
 *
 * Each kernel is a single pass over a chip that does what one or several NumPy step functions do
 * (the NumPy code in the step modules is the reference; tests compare both bit for bit). Float32
 * arithmetic is written as float, double as double, in the order the NumPy code (and HSTCAL)
 * evaluates it; see caldp/engines/common/ckernel.h for the buffer conventions. All loops run
 * without the GIL.
 */
#include "ckernel.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The row loops also get an AVX2 build chosen at load time (GCC function clones on x86-64 Linux):
 * the same IEEE operations on wider lanes (AVX2 has no fused multiply-add, and -ffp-contract=off
 * forbids contraction anyway), so the results do not depend on the clone. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define VEC_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VEC_CLONES
#endif

#define DQ_SATPIXEL 256
#define DQ_BADFLAT 512
#define DQ_TRAP 1024
#define DQ_ATODSAT 2048

/* A reference image is either a full ny x nx array or a single row used for every line (a
 * constant extension passed as one row): sets *stride to nx or 0 and checks the size. */
static int
ref_rows(const Py_buffer *b, Py_ssize_t ny, Py_ssize_t nx, Py_ssize_t size, const char *what, Py_ssize_t *stride)
{
    if (b->len == ny * nx * size) {
        *stride = nx;
        return 0;
    }
    if (b->len == nx * size) {
        *stride = 0;
        return 0;
    }
    PyErr_Format(PyExc_ValueError, "%s: expected %zd or %zd items of %zd bytes, got %zd bytes", what, ny * nx, nx,
                 size, b->len);
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* WF3CCD, first pass: error initialisation (noise.init_error) and DQICORR's saturation flags. */

typedef struct {
    int do_err;
    Py_ssize_t boundary; /* first column of slot 1 */
    float g[2], r2[2], b[2];
    int sat_mode; /* 0: no scalar test, 1: whole array, 2: only where rowmask[y] or colmask[x] */
    float saturate;
    const uint8_t *rowmask, *colmask;
} InitPars;

/* ERR = f32(sqrt(f64(f32(max(f32(f32(sci - b) * g), 0) + r2))) / f64(g)): float32 up to the
 * square root, which donoise.c takes in double, as is the division by the gain. */
static inline float
noise_value(float s, float b, float g, float r2)
{
    float v = (s - b) * g;
    if (v < 0.0f) /* NaN stays NaN, as np.maximum */
        v = 0.0f;
    v = v + r2;
    return (float)(sqrt((double)v) / (double)g);
}

VEC_CLONES static void
init_rows(const float *sci, float *err, uint16_t *dq, Py_ssize_t ny, Py_ssize_t nx, const InitPars *p)
{
    const float atod = 65534.0f;
    for (Py_ssize_t y = 0; y < ny; y++) {
        const float *s = sci + y * nx;
        if (p->do_err) {
            float *e = err + y * nx;
            Py_ssize_t bx = p->boundary < 0 ? 0 : (p->boundary < nx ? p->boundary : nx);
            for (Py_ssize_t x = 0; x < bx; x++)
                e[x] = noise_value(s[x], p->b[0], p->g[0], p->r2[0]);
            for (Py_ssize_t x = bx; x < nx; x++)
                e[x] = noise_value(s[x], p->b[1], p->g[1], p->r2[1]);
        }
        if (dq == NULL)
            continue;
        uint16_t *d = dq + y * nx;
        for (Py_ssize_t x = 0; x < nx; x++)
            d[x] |= s[x] > atod ? DQ_ATODSAT : 0;
        if (p->sat_mode == 0)
            continue;
        const float sat = p->saturate;
        if (p->sat_mode == 1 || p->rowmask[y]) {
            for (Py_ssize_t x = 0; x < nx; x++)
                d[x] |= (s[x] > sat || s[x] > atod) ? DQ_SATPIXEL : 0;
        } else {
            const uint8_t *cm = p->colmask;
            for (Py_ssize_t x = 0; x < nx; x++)
                d[x] |= (cm[x] && (s[x] > sat || s[x] > atod)) ? DQ_SATPIXEL : 0;
        }
    }
}

static PyObject *
k_ccd_init(PyObject *self, PyObject *args)
{
    Py_buffer sci = {0}, err = {0}, dq = {0}, rowmask = {0}, colmask = {0};
    Py_buffer *all[] = {&sci, &err, &dq, &rowmask, &colmask};
    Py_ssize_t ny, nx;
    int do_dqi;
    InitPars p;
    if (!PyArg_ParseTuple(args, "y*w*w*nnpnffffffpify*y*", &sci, &err, &dq, &ny, &nx, &p.do_err, &p.boundary,
                          &p.g[0], &p.g[1], &p.r2[0], &p.r2[1], &p.b[0], &p.b[1], &do_dqi, &p.sat_mode,
                          &p.saturate, &rowmask, &colmask))
        return NULL;
    Py_ssize_t n = ny * nx;
    if (ck_check(&sci, n, 4, "sci") || ck_check(&err, n, 4, "err") || (do_dqi && ck_check(&dq, n, 2, "dq")) ||
        (p.sat_mode == 2 && (ck_check(&rowmask, ny, 1, "rowmask") || ck_check(&colmask, nx, 1, "colmask")))) {
        ck_release(all, 5);
        return NULL;
    }
    p.rowmask = rowmask.buf;
    p.colmask = colmask.buf;
    Py_BEGIN_ALLOW_THREADS;
    init_rows(sci.buf, err.buf, do_dqi ? dq.buf : NULL, ny, nx, &p);
    Py_END_ALLOW_THREADS;
    ck_release(all, 5);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------ */
/* WF3CCD, second pass: BLEVCORR subtraction, BIASCORR (sub1d) and the full-well map flags.     */

typedef struct {
    Py_ssize_t ny, nx, namps;
    const int64_t *regions; /* per amp: begx, endx, begy, endy */
    const double *rowbias;  /* per amp: ny values, bias(r) of the serial fit */
    const double *colbias;  /* per amp: nx values, drift at column i (zeros without drift) */
    int do_bias;
    const float *bsci, *berr;
    const uint16_t *bdq;
    Py_ssize_t bs_stride, be_stride, bd_stride; /* nx, or 0 for a constant row */
    int do_fw;
    const float *satmap;
    Py_ssize_t sat_stride;
    Py_ssize_t fw_y0, fw_y1, nfw;
    const int64_t *fw_cols; /* per region: begx, endx */
    float mean_gain;
} BiasPars;

VEC_CLONES static void
bias_rows(float *sci, float *err, uint16_t *dq, const BiasPars *p, Py_ssize_t *nbias, Py_ssize_t *nsat)
{
    const Py_ssize_t ny = p->ny, nx = p->nx;
    Py_ssize_t nb = 0, ns = 0;
    for (Py_ssize_t y = 0; y < ny; y++) {
        float *s = sci + y * nx;
        float *e = err + y * nx;
        uint16_t *d = dq + y * nx;
        /* BLEVCORR: f32((f64(sci) - bias(r)) - drift(i)) inside each amp's science region only. */
        for (Py_ssize_t a = 0; a < p->namps; a++) {
            const int64_t *r = p->regions + 4 * a;
            if (y < r[2] || y >= r[3])
                continue;
            const double bl = p->rowbias[a * ny + y];
            const double *drift = p->colbias + a * nx;
            for (Py_ssize_t x = r[0]; x < r[1]; x++)
                s[x] = (float)(((double)s[x] - bl) - drift[x]);
        }
        /* BIASCORR (sub1d): float32 difference, errors in quadrature (float32), DQ OR. */
        if (p->do_bias) {
            const float *bs = p->bsci + y * p->bs_stride, *be = p->berr + y * p->be_stride;
            const uint16_t *bd = p->bdq + y * p->bd_stride;
            for (Py_ssize_t x = 0; x < nx; x++) {
                s[x] = s[x] - bs[x];
                float t = e[x] * e[x];
                t = t + be[x] * be[x];
                e[x] = sqrtf(t);
                uint16_t old = d[x];
                d[x] = old | bd[x];
                nb += (old == 0 && d[x] != 0);
            }
        }
        /* Full-well map: sci > f32(map / mean_gain) over the first amp's rows and each region's columns. */
        if (p->do_fw && y >= p->fw_y0 && y < p->fw_y1) {
            const float *m = p->satmap + y * p->sat_stride;
            const float mg = p->mean_gain;
            for (Py_ssize_t k = 0; k < p->nfw; k++) {
                int n = 0;
                for (Py_ssize_t x = p->fw_cols[2 * k]; x < p->fw_cols[2 * k + 1]; x++) {
                    int hit = s[x] > m[x] / mg;
                    n += hit & ((d[x] & DQ_SATPIXEL) == 0);
                    d[x] |= hit ? DQ_SATPIXEL : 0;
                }
                ns += n;
            }
        }
    }
    *nbias = nb;
    *nsat = ns;
}

static int
valid_ranges(const int64_t *v, Py_ssize_t count, Py_ssize_t stride, Py_ssize_t lo_max, Py_ssize_t hi_max)
{
    /* Each (lo, hi) pair must satisfy 0 <= lo, hi <= max (empty ranges allowed). */
    for (Py_ssize_t k = 0; k < count; k++) {
        int64_t lo = v[k * stride], hi = v[k * stride + 1];
        if (hi > lo && (lo < 0 || hi > hi_max))
            return 0;
        (void)lo_max;
    }
    return 1;
}

static PyObject *
k_ccd_bias(PyObject *self, PyObject *args)
{
    Py_buffer sci = {0}, err = {0}, dq = {0}, reg = {0}, rowb = {0}, colb = {0}, bs = {0}, be = {0}, bd = {0};
    Py_buffer sat = {0}, fwc = {0};
    Py_buffer *all[] = {&sci, &err, &dq, &reg, &rowb, &colb, &bs, &be, &bd, &sat, &fwc};
    BiasPars p;
    if (!PyArg_ParseTuple(args, "w*w*w*nnny*y*y*py*y*y*py*nnny*f", &sci, &err, &dq, &p.ny, &p.nx, &p.namps, &reg,
                          &rowb, &colb, &p.do_bias, &bs, &be, &bd, &p.do_fw, &sat, &p.fw_y0, &p.fw_y1, &p.nfw, &fwc,
                          &p.mean_gain))
        return NULL;
    Py_ssize_t n = p.ny * p.nx;
    int bad = ck_check(&sci, n, 4, "sci") || ck_check(&err, n, 4, "err") || ck_check(&dq, n, 2, "dq") ||
              ck_check(&reg, 4 * p.namps, 8, "regions") || ck_check(&rowb, p.namps * p.ny, 8, "rowbias") ||
              ck_check(&colb, p.namps * p.nx, 8, "colbias");
    if (!bad && p.do_bias)
        bad = ref_rows(&bs, p.ny, p.nx, 4, "bias sci", &p.bs_stride) ||
              ref_rows(&be, p.ny, p.nx, 4, "bias err", &p.be_stride) ||
              ref_rows(&bd, p.ny, p.nx, 2, "bias dq", &p.bd_stride);
    if (!bad && p.do_fw)
        bad = ref_rows(&sat, p.ny, p.nx, 4, "satmap", &p.sat_stride) || ck_check(&fwc, 2 * p.nfw, 8, "fw columns");
    if (!bad) {
        p.regions = reg.buf;
        p.fw_cols = fwc.buf;
        /* Regions must lie inside the chip: x in [0, nx], y in [0, ny]. */
        if (!valid_ranges(p.regions, p.namps, 4, 0, p.nx) || !valid_ranges(p.regions + 2, p.namps, 4, 0, p.ny) ||
            (p.do_fw && (!valid_ranges(p.fw_cols, p.nfw, 2, 0, p.nx) || p.fw_y0 < 0 || p.fw_y1 > p.ny))) {
            PyErr_SetString(PyExc_ValueError, "ccd_bias: region outside the array");
            bad = 1;
        }
    }
    if (bad) {
        ck_release(all, 11);
        return NULL;
    }
    p.rowbias = rowb.buf;
    p.colbias = colb.buf;
    p.bsci = bs.buf;
    p.berr = be.buf;
    p.bdq = bd.buf;
    p.satmap = sat.buf;
    Py_ssize_t nbias = 0, nsat = 0;
    Py_BEGIN_ALLOW_THREADS;
    bias_rows(sci.buf, err.buf, dq.buf, &p, &nbias, &nsat);
    Py_END_ALLOW_THREADS;
    ck_release(all, 11);
    return Py_BuildValue("nn", nbias, nsat);
}

/* ------------------------------------------------------------------------------------------ */
/* Sink pixels (sinkcorr.flag_sinks), walked row by row in the upstream direction with one state */
/* per column, so the map is read once in memory order.                                        */

static Py_ssize_t
sink_rows(const float *sci, uint16_t *dq, const float *map, Py_ssize_t ny, Py_ssize_t nx, double expstart, int up,
          uint8_t *in_run, float *head)
{
    const float refdate = 50000.0f;
    Py_ssize_t newly = 0;
    memset(in_run, 0, (size_t)nx);
    for (Py_ssize_t k = 0; k < ny; k++) {
        /* k-th row in walking order; the downstream neighbour is the previous row in that order. */
        Py_ssize_t y = up ? k : ny - 1 - k;
        Py_ssize_t ydown = up ? y - 1 : y + 1;
        const float *m = map + y * nx;
        const float *s = sci + y * nx;
        uint16_t *d = dq + y * nx;
        for (Py_ssize_t x = 0; x < nx; x++) {
            float v = m[x];
            if (v >= 1.0f && v < 1000.0f) { /* trail pixel: flagged when its run starts at an active sink */
                if (in_run[x] && head[x] <= v) {
                    newly += (d[x] & DQ_TRAP) == 0;
                    d[x] |= DQ_TRAP;
                }
                continue;
            }
            in_run[x] = 0;
            if (v > refdate && expstart > (double)v) {
                in_run[x] = 1;
                head[x] = s[x];
                newly += (d[x] & DQ_TRAP) == 0;
                d[x] |= DQ_TRAP;
                if (k > 0 && map[ydown * nx + x] < 0.0f) {
                    uint16_t *dd = dq + ydown * nx + x;
                    newly += (*dd & DQ_TRAP) == 0;
                    *dd |= DQ_TRAP;
                }
            }
        }
    }
    return newly;
}

static PyObject *
k_sinks(PyObject *self, PyObject *args)
{
    Py_buffer sci = {0}, dq = {0}, map = {0};
    Py_buffer *all[] = {&sci, &dq, &map};
    Py_ssize_t ny, nx;
    double expstart;
    int up;
    if (!PyArg_ParseTuple(args, "y*w*y*nndp", &sci, &dq, &map, &ny, &nx, &expstart, &up))
        return NULL;
    Py_ssize_t n = ny * nx;
    if (ck_check(&sci, n, 4, "sci") || ck_check(&dq, n, 2, "dq") || ck_check(&map, n, 4, "sinkmap")) {
        ck_release(all, 3);
        return NULL;
    }
    uint8_t *in_run = malloc((size_t)(nx > 0 ? nx : 1));
    float *head = malloc(sizeof(float) * (size_t)(nx > 0 ? nx : 1));
    if (in_run == NULL || head == NULL) {
        free(in_run);
        free(head);
        ck_release(all, 3);
        return PyErr_NoMemory();
    }
    Py_ssize_t newly;
    Py_BEGIN_ALLOW_THREADS;
    newly = sink_rows(sci.buf, dq.buf, map.buf, ny, nx, expstart, up, in_run, head);
    Py_END_ALLOW_THREADS;
    free(in_run);
    free(head);
    ck_release(all, 3);
    return PyLong_FromSsize_t(newly);
}

/* ------------------------------------------------------------------------------------------ */
/* WF32D: scaled reference subtraction (DARKCORR, FLSHCORR: multgn1d + sub1d + line means) and  */
/* flat division (FLATCORR, SHADCORR: div1d), in place.                                          */

typedef struct {
    const float *ref, *rerr;
    const uint16_t *rdq;
    Py_ssize_t r_stride, re_stride, rd_stride; /* nx, or 0 for a constant row */
    float k[2]; /* scale of columns < ampx and >= ampx */
    Py_ssize_t ampx;
    uint16_t sdq;
    float *m, *w; /* per-line good-pixel mean of the scaled reference and good fraction */
} SubPars;

/* multgn1d + sub1d on columns [x0, x1) with one scale k; returns the good-pixel count. No
 * reduction over floats here, so the loop vectorises. */
static inline Py_ssize_t
sub_span(float *restrict s, float *restrict e, uint16_t *restrict d, const float *restrict r,
         const float *restrict re, const uint16_t *restrict rd, Py_ssize_t x0, Py_ssize_t x1, float k, uint16_t sdq)
{
    int ngood = 0;
    for (Py_ssize_t x = x0; x < x1; x++) {
        float z = k * r[x], ze = k * re[x];
        ngood += (rd[x] & sdq) == 0;
        s[x] = s[x] - z;
        float t = e[x] * e[x];
        t = t + ze * ze;
        e[x] = sqrtf(t);
        d[x] |= rd[x];
    }
    return ngood;
}

static inline void
sub_row(float *s, float *e, uint16_t *d, Py_ssize_t nx, Py_ssize_t y, const SubPars *p)
{
    const float *r = p->ref + y * p->r_stride, *re = p->rerr + y * p->re_stride;
    const uint16_t *rd = p->rdq + y * p->rd_stride;
    const Py_ssize_t ax = p->ampx < 0 ? 0 : (p->ampx < nx ? p->ampx : nx);
    Py_ssize_t ngood = sub_span(s, e, d, r, re, rd, 0, ax, p->k[0], p->sdq);
    ngood += sub_span(s, e, d, r, re, rd, ax, nx, p->k[1], p->sdq);
    /* Line mean of the scaled reference: sequential float64 sum in column order, bad pixels adding
     * +0.0 (np.cumsum of np.where), so it cannot be reordered; z is recomputed (same product). */
    double sum = 0.0;
    for (Py_ssize_t x = 0; x < nx; x++) {
        float z = (x < ax ? p->k[0] : p->k[1]) * r[x];
        double v = (rd[x] & p->sdq) == 0 ? (double)z : 0.0;
        sum = x == 0 ? v : sum + v;
    }
    p->m[y] = ngood > 0 ? (float)(sum / (double)ngood) : 0.0f;
    p->w[y] = ngood > 0 ? (float)ngood / (float)nx : 0.0f;
}

typedef struct {
    const float *f, *fe;
    const uint16_t *fd;
    Py_ssize_t f_stride, fe_stride, fd_stride;
    int scale; /* first flat: multiply by k = 1/mean_gain first (multgn1d) */
    float k;
} FlatPars;

/* `b` where the mask `m` is all ones, else `a`, by bits: a select the compiler can vectorise (a
 * conditional expression keeps the loop scalar, as the divisions it guards might trap). */
static inline float
blend(float a, float b, uint32_t m)
{
    uint32_t ua, ub, r;
    memcpy(&ua, &a, 4);
    memcpy(&ub, &b, 4);
    r = (ua & ~m) | (ub & m);
    float out;
    memcpy(&out, &r, 4);
    return out;
}

/* div1d of one row; `scale` is a constant at each call site, so the compiler makes two loops. Every
 * quotient is computed and the F == 0 pixels take their old values back through blend(). */
static inline Py_ssize_t
flat_row_impl(float *restrict s, float *restrict e, uint16_t *restrict d, Py_ssize_t nx, const float *restrict f,
              const float *restrict fe, const uint16_t *restrict fd, const int scale, const float k)
{
    int nbad = 0;
    for (Py_ssize_t x = 0; x < nx; x++) {
        float F = f[x], Fe = fe[x];
        if (scale) {
            F = k * F;
            Fe = k * Fe;
        }
        float sv = s[x], ev = e[x];
        float a = ev / F;
        float b = Fe * sv;
        b = b / F;
        b = b / F;
        float t = a * a;
        t = t + b * b;
        float q = sv / F, en = sqrtf(t);
        uint32_t zero = 0u - (uint32_t)(F == 0.0f); /* BADFLAT: SCI and ERR unchanged */
        s[x] = blend(q, sv, zero);
        e[x] = blend(en, ev, zero);
        uint16_t flag = (uint16_t)(fd[x] | (zero & DQ_BADFLAT));
        uint16_t old = d[x];
        nbad += ((old & DQ_BADFLAT) == 0) & ((flag & DQ_BADFLAT) != 0);
        d[x] = old | flag;
    }
    return nbad;
}

static inline Py_ssize_t
flat_row(float *s, float *e, uint16_t *d, Py_ssize_t nx, Py_ssize_t y, const FlatPars *p)
{
    const float *f = p->f + y * p->f_stride, *fe = p->fe + y * p->fe_stride;
    const uint16_t *fd = p->fd + y * p->fd_stride;
    if (p->scale)
        return flat_row_impl(s, e, d, nx, f, fe, fd, 1, p->k);
    return flat_row_impl(s, e, d, nx, f, fe, fd, 0, 1.0f);
}

/* The subtraction (when `sp`) then the division (when `fp`) of every row; returns the new BADFLAT count. */
VEC_CLONES static Py_ssize_t
twod_rows(float *s, float *e, uint16_t *d, Py_ssize_t ny, Py_ssize_t nx, const SubPars *sp, const FlatPars *fp)
{
    Py_ssize_t nbad = 0;
    for (Py_ssize_t y = 0; y < ny; y++) {
        if (sp != NULL)
            sub_row(s + y * nx, e + y * nx, d + y * nx, nx, y, sp);
        if (fp != NULL)
            nbad += flat_row(s + y * nx, e + y * nx, d + y * nx, nx, y, fp);
    }
    return nbad;
}

/* twod(sci, err, dq, ny, nx, do_sub, ref, rerr, rdq, k0, k1, ampx, sdq, m, w, do_flat, f, fe, fd, scale, k):
 * the subtraction then the division, row by row (each row stays in cache between the two);
 * returns the number of pixels newly flagged BADFLAT. */
static PyObject *
k_twod(PyObject *self, PyObject *args)
{
    Py_buffer sci = {0}, err = {0}, dq = {0}, r = {0}, re = {0}, rd = {0}, m = {0}, w = {0}, f = {0}, fe = {0},
              fd = {0};
    Py_buffer *all[] = {&sci, &err, &dq, &r, &re, &rd, &m, &w, &f, &fe, &fd};
    Py_ssize_t ny, nx;
    int do_sub, do_flat, sdq;
    SubPars sp;
    FlatPars fp;
    if (!PyArg_ParseTuple(args, "w*w*w*nnpy*y*y*ffniw*w*py*y*y*pf", &sci, &err, &dq, &ny, &nx, &do_sub, &r, &re,
                          &rd, &sp.k[0], &sp.k[1], &sp.ampx, &sdq, &m, &w, &do_flat, &f, &fe, &fd, &fp.scale,
                          &fp.k))
        return NULL;
    Py_ssize_t n = ny * nx;
    int bad = ck_check(&sci, n, 4, "sci") || ck_check(&err, n, 4, "err") || ck_check(&dq, n, 2, "dq");
    if (!bad && do_sub)
        bad = ref_rows(&r, ny, nx, 4, "ref", &sp.r_stride) || ref_rows(&re, ny, nx, 4, "ref err", &sp.re_stride) ||
              ref_rows(&rd, ny, nx, 2, "ref dq", &sp.rd_stride) || ck_check(&m, ny, 4, "line means") ||
              ck_check(&w, ny, 4, "line weights");
    if (!bad && do_flat)
        bad = ref_rows(&f, ny, nx, 4, "flat", &fp.f_stride) || ref_rows(&fe, ny, nx, 4, "flat err", &fp.fe_stride) ||
              ref_rows(&fd, ny, nx, 2, "flat dq", &fp.fd_stride);
    if (bad) {
        ck_release(all, 11);
        return NULL;
    }
    sp.ref = r.buf;
    sp.rerr = re.buf;
    sp.rdq = rd.buf;
    sp.sdq = (uint16_t)(sdq & 0xFFFF);
    sp.m = m.buf;
    sp.w = w.buf;
    fp.f = f.buf;
    fp.fe = fe.buf;
    fp.fd = fd.buf;
    Py_ssize_t nbad = 0;
    Py_BEGIN_ALLOW_THREADS;
    nbad = twod_rows(sci.buf, err.buf, dq.buf, ny, nx, do_sub ? &sp : NULL, do_flat ? &fp : NULL);
    Py_END_ALLOW_THREADS;
    ck_release(all, 11);
    return PyLong_FromSsize_t(nbad);
}

VEC_CLONES static void
scale_f64(float *v, Py_ssize_t n, double ratio)
{
    for (Py_ssize_t i = 0; i < n; i++)
        v[i] = (float)((double)v[i] * ratio);
}

/* FLUXCORR: x = f32(f64(x) * ratio), in place, for SCI and ERR. */
static PyObject *
k_scale64(PyObject *self, PyObject *args)
{
    Py_buffer a = {0};
    Py_buffer *all[] = {&a};
    double ratio;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "w*nd", &a, &n, &ratio))
        return NULL;
    if (ck_check(&a, n, 4, "array")) {
        ck_release(all, 1);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS;
    scale_f64(a.buf, n, ratio);
    Py_END_ALLOW_THREADS;
    ck_release(all, 1);
    Py_RETURN_NONE;
}

/* Overscan trim in place: row j of the result is made of the column pieces [lo, hi) of raw row
 * y0 + j, written to the start of the same buffer. Every destination lies at or before its source
 * and rows are done in order, so nothing is overwritten before it is copied (memmove for overlaps). */
static PyObject *
k_trim(PyObject *self, PyObject *args)
{
    Py_buffer a = {0}, pc = {0};
    Py_buffer *all[] = {&a, &pc};
    Py_ssize_t itemsize, ny, nx, y0, sizey, npieces;
    if (!PyArg_ParseTuple(args, "w*nnnnny*n", &a, &itemsize, &ny, &nx, &y0, &sizey, &pc, &npieces))
        return NULL;
    if (ck_check(&a, ny * nx, itemsize, "array") || ck_check(&pc, 2 * npieces, 8, "pieces")) {
        ck_release(all, 2);
        return NULL;
    }
    const int64_t *p = pc.buf;
    Py_ssize_t sizex = 0;
    int ok = y0 >= 0 && sizey >= 0 && y0 + sizey <= ny;
    for (Py_ssize_t k = 0; k < npieces; k++) {
        ok = ok && p[2 * k] >= 0 && p[2 * k + 1] >= p[2 * k] && p[2 * k + 1] <= nx;
        sizex += p[2 * k + 1] - p[2 * k];
    }
    if (!ok || sizex > nx) {
        PyErr_SetString(PyExc_ValueError, "trim: pieces outside the array");
        ck_release(all, 2);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS;
    char *base = a.buf;
    for (Py_ssize_t j = 0; j < sizey; j++) {
        char *dst = base + j * sizex * itemsize;
        const char *row = base + (y0 + j) * nx * itemsize;
        for (Py_ssize_t k = 0; k < npieces; k++) {
            size_t n = (size_t)(p[2 * k + 1] - p[2 * k]) * (size_t)itemsize;
            memmove(dst, row + p[2 * k] * itemsize, n);
            dst += n;
        }
    }
    Py_END_ALLOW_THREADS;
    ck_release(all, 2);
    return PyLong_FromSsize_t(sizex);
}

static PyMethodDef methods[] = {
    {"trim", k_trim, METH_VARARGS, "Overscan trim in place (rows compacted to the buffer's start); returns the width."},
    {"ccd_init", k_ccd_init, METH_VARARGS, "WF3CCD error initialisation and DQICORR saturation flags (in place)."},
    {"ccd_bias", k_ccd_bias, METH_VARARGS,
     "WF3CCD BLEVCORR subtraction, BIASCORR and full-well flags (in place); returns (newly nonzero DQ, newly SATPIXEL)."},
    {"sinks", k_sinks, METH_VARARGS, "Sink-pixel TRAP flags (in place); returns the number newly flagged."},
    {"twod", k_twod, METH_VARARGS, "WF32D scaled subtraction (dark/flash) and flat division, row by row (in place)."},
    {"scale64", k_scale64, METH_VARARGS, "x = f32(f64(x) * ratio) in place."},
    {NULL, NULL, 0, NULL},
};

CK_MODULE(_kernels, methods, "WF3CCD and WF32D kernels (C kernels; the NumPy implementations are the reference).")
