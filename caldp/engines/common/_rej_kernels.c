/* caldp C kernels: ACSREJ and WF3REJ (cosmic-ray rejection). See ckernel.h for the conventions.
 *
 * The NumPy implementations (caldp/engines/acs/acsrej.py, caldp/engines/wfc3/uvis/wf3rej.py) are
 * the reference; these kernels compute the same float32 values in the same operation order.
 *
 * Rejection is done row by row, every iteration on a row before the next row: an iteration's
 * average at a pixel only depends on that pixel's inputs, the previous iteration's average there
 * and the HITs of the same iteration and input on the rows above (spill, promotion of excluded
 * pixels) and on the same row. Those HIT rows are kept in a small ring (`state`: niter x ninput x
 * width rows of bytes), so no whole-image temporary is needed and the raster-order promotion of
 * excluded pixels is a plain left-to-right scan. The ring is the whole state carried from one row
 * to the next: a caller may split a chip into row strips, start a strip a few rows early with an
 * empty ring, and check that the ring it reaches at the strip start equals the one the strip above
 * ends with (if not, it recomputes the strip from that ring).
 */
#include "ckernel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Let GCC turn `use ? sum + x : sum` into vector selects: the operation is then done on every
 * lane, which changes no value (only which FP exception flags get raised, and nothing reads them). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

/* The vectorised row loops also get an AVX2 build, chosen at load time (GCC function clones on
 * x86-64 Linux). AVX2 has no fused multiply-add (that is the separate FMA extension, and
 * -ffp-contract=off forbids contraction anyway): the same IEEE operations, eight lanes at once. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define VEC_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VEC_CLONES
#endif

#define SPILL 2
#define EXCLUDE 4
#define HIT 8
#define MASKDQ (SPILL | EXCLUDE | HIT)
#define CRFLAG 8192
#define MAXIN 256

/* ------------------------------------------------------------------------------ buffer lists */

typedef struct {
    Py_buffer b[MAXIN];
    Py_ssize_t n;
} BufList;

static void
buflist_release(BufList *bl)
{
    for (Py_ssize_t i = 0; i < bl->n; i++)
        PyBuffer_Release(&bl->b[i]);
    bl->n = 0;
}

/* Buffers of the `count` arrays of sequence `seq`, each `nitems` items of `itemsize` bytes. */
static int
buflist_get(PyObject *seq, BufList *bl, Py_ssize_t count, Py_ssize_t nitems, Py_ssize_t itemsize, int writable,
            const char *what)
{
    bl->n = 0;
    PyObject *fast = PySequence_Fast(seq, what);
    if (fast == NULL)
        return -1;
    if (PySequence_Fast_GET_SIZE(fast) != count || count > MAXIN) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd arrays (at most %d)", what, count, MAXIN);
        Py_DECREF(fast);
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *o = PySequence_Fast_GET_ITEM(fast, i);
        if (PyObject_GetBuffer(o, &bl->b[i], writable ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0) {
            Py_DECREF(fast);
            buflist_release(bl);
            return -1;
        }
        bl->n = i + 1;
        if (ck_check(&bl->b[i], nitems, itemsize, what) < 0) {
            Py_DECREF(fast);
            buflist_release(bl);
            return -1;
        }
    }
    Py_DECREF(fast);
    return 0;
}

/* ------------------------------------------------------------------------------------- sky */

/* Good pixels of image 0 for the sky range: count, minimum and their float32 sum taken strictly
 * in raster order (HSTCAL adds them one by one into a float; a pairwise sum would differ). */
static PyObject *
sky_sums(PyObject *self, PyObject *args)
{
    Py_buffer img = {0}, dq = {0};
    Py_ssize_t n;
    long bad;
    if (!PyArg_ParseTuple(args, "y*y*nl", &img, &dq, &n, &bad))
        return NULL;
    Py_buffer *bufs[] = {&img, &dq};
    if (ck_check(&img, n, 4, "sky_sums img") < 0 || ck_check(&dq, n, 2, "sky_sums dq") < 0) {
        ck_release(bufs, 2);
        return NULL;
    }
    const float *v = img.buf;
    const uint16_t *d = dq.buf;
    const uint16_t b = (uint16_t)(bad & 0xFFFF);
    Py_ssize_t npt = 0;
    float vmin = 0.0f, total = 0.0f;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (d[i] & b)
            continue;
        float x = v[i];
        if (npt == 0) {
            vmin = x;
            total = x; /* the running sum starts at the first value, as np.add.accumulate */
        } else {
            if (x < vmin)
                vmin = x;
            total = total + x;
        }
        npt++;
    }
    Py_END_ALLOW_THREADS
    ck_release(bufs, 2);
    return Py_BuildValue("ndd", npt, (double)vmin, (double)total);
}

/* Histogram of the pixels with DQ == 0: bin (int)f32(f32(v - lo) / width) (truncation toward
 * zero), counted when -1 < f32(v - lo)/width < nbins. */
static PyObject *
sky_hist(PyObject *self, PyObject *args)
{
    Py_buffer img = {0}, dq = {0}, hist = {0};
    Py_ssize_t n, nbins;
    float lo, width;
    if (!PyArg_ParseTuple(args, "y*y*w*nffn", &img, &dq, &hist, &n, &lo, &width, &nbins))
        return NULL;
    Py_buffer *bufs[] = {&img, &dq, &hist};
    if (ck_check(&img, n, 4, "sky_hist img") < 0 || ck_check(&dq, n, 2, "sky_hist dq") < 0 ||
        ck_check(&hist, nbins, 8, "sky_hist hist") < 0) {
        ck_release(bufs, 3);
        return NULL;
    }
    const float *v = img.buf;
    const uint16_t *d = dq.buf;
    int64_t *h = hist.buf;
    const float top = (float)nbins;
    Py_BEGIN_ALLOW_THREADS
    memset(h, 0, (size_t)nbins * sizeof(int64_t));
    if (width == 1.0f) { /* x / 1 == x exactly: skip the division (the usual one-DN bins) */
        for (Py_ssize_t i = 0; i < n; i++) {
            float x = v[i] - lo;
            if (d[i] == 0 && x > -1.0f && x < top)
                h[(int32_t)x]++;
        }
    } else {
        for (Py_ssize_t i = 0; i < n; i++) {
            float x = (v[i] - lo) / width;
            if (d[i] == 0 && x > -1.0f && x < top)
                h[(int32_t)x]++;
        }
    }
    Py_END_ALLOW_THREADS
    ck_release(bufs, 3);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------- shared row machinery */

/* Geometry shared by both rejections: row length, ring depth (ceil(radius)) and the half-width
 * of the neighbour disk on each row offset dy = 0..width (-1: no offset on that row). */
typedef struct {
    Py_ssize_t nx, width;
    const int32_t *wdy;
} Disk;

static inline Py_ssize_t
ring_slot(Py_ssize_t r, Py_ssize_t width)
{
    Py_ssize_t s = r % width;
    return s < 0 ? s + width : s;
}

/* out[x] |= h[x + dx] for every |dx| <= w (dx = 0 skipped when skip0), inside the row. */
VEC_CLONES static void
or_shifts(uint8_t *restrict out, const uint8_t *restrict h, Py_ssize_t nx, int32_t w, int skip0)
{
    for (int32_t dx = -w; dx <= w; dx++) {
        if (dx == 0 && skip0)
            continue;
        Py_ssize_t x0 = dx < 0 ? -dx : 0, x1 = dx > 0 ? nx - dx : nx;
        for (Py_ssize_t x = x0; x < x1; x++)
            out[x] |= h[x + dx];
    }
}

/* above[x]: a HIT of this ring (one iteration and input) at (r - dy, x +- dx), dy >= 1, in the disk. */
static void
dilate_above(const Disk *g, const uint8_t *ring, Py_ssize_t r, uint8_t *above)
{
    memset(above, 0, (size_t)g->nx);
    for (Py_ssize_t dy = 1; dy <= g->width; dy++) {
        if (g->wdy[dy] < 0)
            continue;
        or_shifts(above, ring + ring_slot(r - dy, g->width) * g->nx, g->nx, g->wdy[dy], 0);
    }
}

/* Per-pixel flags of one row, one iteration and one input. */
#define F_CAND 1   /* (data - ave)^2 above the rejection threshold */
#define F_EXCL 2   /* input DQ excludes the pixel */
#define F_SPOK 4   /* ACS: above the spill threshold; WF3: above the same-row spill threshold */
#define F_SUP 8    /* WF3: above the spill threshold of rows below a HIT, input DQ not 8 */
#define F_E0 16    /* WF3: excluded by BADINPDQ (not by DQ == 4) */

/* Raster-order promotion: an excluded candidate becomes a HIT when a HIT reaches it before it is
 * visited (rows above: `above`, or to its left on this row). `need_above`/`need_left` are the
 * flags the pixel must carry for each direction. */
static void
promote(uint8_t *restrict hit, const uint8_t *restrict fl, const uint8_t *restrict above, Py_ssize_t nx, int32_t w0,
        uint8_t need_above, uint8_t need_left)
{
    const uint64_t ones = 0x0101010101010101ULL;
    for (Py_ssize_t x0 = 0; x0 < nx; x0 += 8) {
        Py_ssize_t x1 = x0 + 8 < nx ? x0 + 8 : nx;
        if (x1 - x0 == 8) { /* skip 8 pixels at once when none is an excluded candidate */
            uint64_t v;
            memcpy(&v, fl + x0, 8);
            if ((v & (v >> 1) & ones) == 0)
                continue;
        }
        for (Py_ssize_t x = x0; x < x1; x++) {
            uint8_t f = fl[x];
            if ((f & (F_CAND | F_EXCL)) != (F_CAND | F_EXCL))
                continue;
            int reach = above[x] && (f & need_above) == need_above;
            if (!reach && (f & need_left) == need_left)
                for (int32_t dx = 1; dx <= w0 && dx <= x; dx++)
                    if (hit[x - dx]) {
                        reach = 1;
                        break;
                    }
            if (reach)
                hit[x] = 1;
        }
    }
}

/* Scratch rows for one call. */
typedef struct {
    float *ave, *total, *efs, *var2, *pic, *th, *sth;
    float *pics; /* n rows: each input normalised, f32(f32(data - sky) / efac), computed once per row */
    uint8_t *hit, *above, *same, *fl, *use;
    uint16_t *dq2, *dqo;
    void *block;
} Rows;

static int
rows_alloc(Rows *w, size_t nx, size_t n)
{
    w->pics = malloc(n * nx * sizeof(float) + 64);
    if (w->pics == NULL)
        return -1;
    size_t f = (size_t)nx * sizeof(float), b = (size_t)nx, s = (size_t)nx * sizeof(uint16_t);
    char *p = malloc(7 * f + 5 * b + 2 * s + 64);
    if (p == NULL) {
        free(w->pics);
        return -1;
    }
    w->block = p;
    w->ave = (float *)p;
    w->total = (float *)(p + f);
    w->efs = (float *)(p + 2 * f);
    w->var2 = (float *)(p + 3 * f);
    w->pic = (float *)(p + 4 * f);
    w->th = (float *)(p + 5 * f);
    w->sth = (float *)(p + 6 * f);
    w->dq2 = (uint16_t *)(p + 7 * f);
    w->dqo = (uint16_t *)(p + 7 * f + s);
    w->hit = (uint8_t *)(p + 7 * f + 2 * s);
    w->above = w->hit + b;
    w->same = w->above + b;
    w->fl = w->same + b;
    w->use = w->fl + b;
    return 0;
}

/* End of an iteration: ave = total / efs where some input was used; elsewhere the previous
 * average, or 0 after the last iteration (vectorised: the unused quotient is discarded). */
VEC_CLONES static void
new_average(Py_ssize_t nx, const float *restrict total, const float *restrict efs, float *restrict ave, int last)
{
    for (Py_ssize_t x = 0; x < nx; x++) {
        float q = total[x] / efs[x];
        float keep = last ? 0.0f : ave[x];
        ave[x] = efs[x] > 0.0f ? q : keep;
    }
}

static void
rows_free(Rows *w)
{
    free(w->block);
    free(w->pics);
}

/* pic = f32(f32(data - sky) / efac): the same in every iteration, so computed once per row. */
VEC_CLONES static void
normalise(Py_ssize_t nx, const float *restrict s, float *restrict pic, float sk, float e)
{
    for (Py_ssize_t x = 0; x < nx; x++)
        pic[x] = (s[x] - sk) / e;
}

/* ------------------------------------------------------------------------------- ACSREJ */

typedef struct {
    Disk g;
    Py_ssize_t n, niter;
    const float *const *sci, *const *err;
    const uint16_t *const *dq;
    const float *guess; /* NULL: minimum guess computed here */
    float *sci_out, *err_out;
    uint16_t *dq_out;
    uint8_t *const *rej_out;
    uint8_t *state; /* niter * n * width rows */
    const float *efac, *sky, *sig2;
    float scale, psig2, exptot, texpt, skysum;
    uint16_t bad;
} Acs;

/* ACS minimum initial guess of one row, one input at a time: image 0 where good else 0, then
 * where an input is lower: its value if good, else 0. Inputs with EXPTIME 0 count with efac 1. */
VEC_CLONES static void
acs_guess_input(Py_ssize_t nx, const float *restrict pic, const uint16_t *restrict d, float *restrict ave,
                uint16_t bad, int first)
{
    for (Py_ssize_t x = 0; x < nx; x++) {
        float p = pic[x];
        float v = (d[x] & bad) == 0 ? p : 0.0f;
        ave[x] = (first || p < ave[x]) ? v : ave[x];
    }
}

static void
acs_guess_min(const Acs *c, Py_ssize_t off, const float *pics, float *ave)
{
    for (Py_ssize_t k = 0; k < c->n; k++)
        acs_guess_input(c->g.nx, pics + k * c->g.nx, c->dq[k] + off, ave, c->bad, k == 0);
}

/* Rejection tests of one input on one row: candidate, spill and exclusion flags (restrict
 * parameters: the loops vectorise). */
VEC_CLONES static void
acs_tests(Py_ssize_t nx, const float *restrict pic, const float *restrict er, const float *restrict ave,
          const uint16_t *restrict d, uint8_t *restrict hit, uint8_t *restrict fl, float e, float scale, float sig2,
          float psig2, uint16_t bad)
{
    const float ef2 = e * e;
    for (Py_ssize_t x = 0; x < nx; x++) {
        float e2 = er[x] * er[x];
        float th = ave[x] * e;
        th = th < 0.0f ? 0.0f : th; /* np.maximum: NaN kept */
        th = th * scale;
        th = th * th;
        th = th + e2;
        th = th * sig2;
        th = th / ef2; /* f32(f32(sig2 * (e2 + f32(scale * pixsky)^2)) / efac^2) */
        float d2 = pic[x] - ave[x];
        d2 = d2 * d2;
        float ts = e2 * sig2;
        ts = ts / ef2;
        ts = ts * psig2;
        uint16_t dv = d[x];
        uint8_t excl = (uint8_t)(((dv & bad) != 0) & (dv != SPILL));
        uint8_t cand = (uint8_t)(d2 > th);
        hit[x] = (uint8_t)(cand & (excl ^ 1));
        fl[x] = (uint8_t)(cand * F_CAND | excl * F_EXCL | (uint8_t)(d2 > ts) * F_SPOK);
    }
}

/* Pixels used in the sum: not HIT, not SPILL (above the spill threshold, input DQ not 8, reached
 * by a HIT), not excluded, input DQ without bits 2, 4, 8. */
VEC_CLONES static void
acs_use(Py_ssize_t nx, const uint16_t *restrict d, const uint8_t *restrict fl, const uint8_t *restrict hit,
        const uint8_t *restrict above, const uint8_t *restrict same, uint8_t *restrict use)
{
    for (Py_ssize_t x = 0; x < nx; x++) {
        uint8_t f = fl[x], h = hit[x];
        uint16_t dv = d[x];
        uint8_t spill = (uint8_t)(((f & F_SPOK) != 0) & (dv != HIT) & ((above[x] | same[x]) != 0) & (h ^ 1));
        use[x] = (uint8_t)(((dv & MASKDQ) == 0) & ((f & F_EXCL) == 0) & (h ^ 1) & (spill ^ 1));
    }
}

/* total += pic * efac and efs += efac where used (the same values as adding only there). */
VEC_CLONES static void
add_used(Py_ssize_t x0, Py_ssize_t x1, const float *restrict pic, const uint8_t *restrict use, float *restrict total,
         float *restrict efs, float e)
{
    for (Py_ssize_t x = x0; x < x1; x++) {
        float t = total[x] + pic[x] * e, s = efs[x] + e;
        total[x] = use[x] ? t : total[x];
        efs[x] = use[x] ? s : efs[x];
    }
}

/* ACS last iteration: err2 += ERR^2 where used. */
VEC_CLONES static void
acs_add_var(Py_ssize_t nx, const float *restrict er, const uint8_t *restrict use, float *restrict var2)
{
    for (Py_ssize_t x = 0; x < nx; x++) {
        float v = var2[x] + er[x] * er[x];
        var2[x] = use[x] ? v : var2[x];
    }
}

/* Last iteration: rejection mask and DQ of the combination, input by input as HSTCAL's two line
 * buffers (dq2: previous input's flags, dqo: the output). */
VEC_CLONES static void
acs_dq_loop(Py_ssize_t nx, const uint16_t *restrict d, const uint8_t *restrict fl, const uint8_t *restrict hit,
            const uint8_t *restrict above, const uint8_t *restrict same, uint16_t *restrict dq2,
            uint16_t *restrict dqo, uint8_t *restrict rej)
{
    const uint16_t clear = (uint16_t)~(CRFLAG | SPILL);
    for (Py_ssize_t x = 0; x < nx; x++) {
        uint8_t f = fl[x], h = hit[x];
        uint16_t dv = d[x];
        uint8_t excl = (uint8_t)((f & F_EXCL) != 0);
        uint8_t spok8 = (uint8_t)(((f & F_SPOK) != 0) & (dv != HIT));
        uint8_t spill = (uint8_t)(spok8 & ((above[x] | same[x]) != 0) & (h ^ 1));
        uint8_t r = (uint8_t)((((dv == HIT) | (dv == SPILL)) & (excl ^ 1)) | h | spill);
        uint16_t prior = (uint16_t)(spok8 & (above[x] != 0));
        uint16_t buf = (uint16_t)((prior ? SPILL : dv) | dq2[x]) & clear;
        uint16_t sv = buf | dqo[x];
        uint16_t m = (uint16_t)-(int16_t)r; /* all ones where rejected */
        dq2[x] = (uint16_t)(buf | (CRFLAG & m));
        dqo[x] = (uint16_t)(sv & ~(CRFLAG & ~m));
        rej[x] = r;
    }
}

static Py_ssize_t
count_bytes(Py_ssize_t nx, const uint8_t *restrict b)
{
    Py_ssize_t n = 0;
    for (Py_ssize_t x = 0; x < nx; x++)
        n += b[x];
    return n;
}

static Py_ssize_t
acs_dq(const Acs *c, Py_ssize_t off, Py_ssize_t k, int out_row, Rows *w)
{
    uint8_t *rej = out_row ? c->rej_out[k] + off : w->use;
    acs_dq_loop(c->g.nx, c->dq[k] + off, w->fl, w->hit, w->above, w->same, w->dq2, w->dqo, rej);
    return out_row ? count_bytes(c->g.nx, rej) : 0;
}

/* DQ bookkeeping of an input with EXPTIME 0 in the last iteration (never used, never rejected). */
static void
acs_dq_unused(const Acs *c, Py_ssize_t off, Py_ssize_t k, int out_row, Rows *w)
{
    const uint16_t *d = c->dq[k] + off;
    const uint16_t clear = (uint16_t)~(CRFLAG | SPILL);
    for (Py_ssize_t x = 0; x < c->g.nx; x++) {
        uint16_t buf = (uint16_t)(d[x] | w->dq2[x]) & clear;
        w->dq2[x] = buf;
        w->dqo[x] = (uint16_t)((buf | w->dqo[x]) & (uint16_t)~CRFLAG);
    }
    if (out_row)
        memset(c->rej_out[k] + off, 0, (size_t)c->g.nx);
}

/* Output row: ERR = f32(sqrt(err2) * f32(exptot / efs)) (in double, as HSTCAL), 0 where nothing
 * was used; SCI = f32(ave * texpt) + skysum. */
VEC_CLONES static void
acs_out(Py_ssize_t nx, const float *restrict efs, const float *restrict var2, const float *restrict ave,
        float *restrict eo, float *restrict so, float exptot, float texpt, float skysum)
{
    for (Py_ssize_t x = 0; x < nx; x++) {
        float f = efs[x];
        float ratio = exptot / f;
        float er = (float)(sqrt((double)var2[x]) * (double)ratio);
        eo[x] = f > 0.0f ? er : 0.0f;
        so[x] = ave[x] * texpt + skysum;
    }
}

static Py_ssize_t
acs_row(const Acs *c, Py_ssize_t r, int out_row, Rows *w)
{
    const Py_ssize_t nx = c->g.nx, off = r * nx, width = c->g.width;
    const int32_t w0 = c->g.wdy[0];
    Py_ssize_t nrej = 0;
    if (nx < 1) /* checked by the caller; tells the compiler the row sizes are positive */
        return 0;
    for (Py_ssize_t k = 0; k < c->n; k++) /* inputs with EXPTIME 0 count with efac 1 in the guess */
        normalise(nx, c->sci[k] + off, w->pics + k * nx, c->sky[k], c->efac[k] != 0.0f ? c->efac[k] : 1.0f);
    if (c->guess)
        memcpy(w->ave, c->guess + off, (size_t)nx * sizeof(float));
    else
        acs_guess_min(c, off, w->pics, w->ave);
    for (Py_ssize_t it = 0; it < c->niter; it++) {
        const int last = it == c->niter - 1;
        memset(w->total, 0, (size_t)nx * sizeof(float));
        memset(w->efs, 0, (size_t)nx * sizeof(float));
        if (last) {
            memset(w->var2, 0, (size_t)nx * sizeof(float));
            memset(w->dq2, 0, (size_t)nx * sizeof(uint16_t));
            for (Py_ssize_t x = 0; x < nx; x++)
                w->dqo[x] = CRFLAG;
        }
        for (Py_ssize_t k = 0; k < c->n; k++) {
            if (!(c->efac[k] > 0.0f)) {
                if (last)
                    acs_dq_unused(c, off, k, out_row, w);
                continue;
            }
            uint8_t *ring = c->state + (it * c->n + k) * width * nx;
            if (width > 0)
                dilate_above(&c->g, ring, r, w->above);
            else
                memset(w->above, 0, (size_t)nx);
            const float *pic = w->pics + k * nx;
            acs_tests(nx, pic, c->err[k] + off, w->ave, c->dq[k] + off, w->hit, w->fl, c->efac[k], c->scale,
                      c->sig2[it], c->psig2, c->bad);
            /* ACS promotes an excluded candidate only when it is also above the spill threshold */
            promote(w->hit, w->fl, w->above, nx, w0, F_SPOK, F_SPOK);
            memset(w->same, 0, (size_t)nx);
            if (w0 >= 0)
                or_shifts(w->same, w->hit, nx, w0, 1);
            acs_use(nx, c->dq[k] + off, w->fl, w->hit, w->above, w->same, w->use);
            add_used(0, nx, pic, w->use, w->total, w->efs, c->efac[k]);
            if (last)
                acs_add_var(nx, c->err[k] + off, w->use, w->var2);
            if (last)
                nrej += acs_dq(c, off, k, out_row, w);
            if (width > 0)
                memcpy(ring + ring_slot(r, width) * nx, w->hit, (size_t)nx);
        }
        new_average(nx, w->total, w->efs, w->ave, last);
    }
    if (out_row) {
        acs_out(nx, w->efs, w->var2, w->ave, c->err_out + off, c->sci_out + off, c->exptot, c->texpt, c->skysum);
        memcpy(c->dq_out + off, w->dqo, (size_t)nx * sizeof(uint16_t));
    }
    return nrej;
}

static PyObject *
acs_reject(PyObject *self, PyObject *args)
{
    PyObject *sci_seq, *err_seq, *dq_seq, *rej_seq, *guess_obj;
    Py_buffer guess = {0}, sci_out = {0}, err_out = {0}, dq_out = {0}, state = {0}, fpar = {0}, efac = {0}, sky = {0},
              sig2 = {0}, wdy = {0};
    Py_ssize_t ny, nx, n, niter, width, r_start, r_out, r_end;
    long bad;
    if (!PyArg_ParseTuple(args, "OOOOw*w*w*Ow*y*y*y*y*y*nnnnnlnnn", &sci_seq, &err_seq, &dq_seq, &guess_obj, &sci_out,
                          &err_out, &dq_out, &rej_seq, &state, &fpar, &efac, &sky, &sig2, &wdy, &ny, &nx, &n, &niter,
                          &width, &bad, &r_start, &r_out, &r_end))
        return NULL;
    Py_buffer *bufs[] = {&guess, &sci_out, &err_out, &dq_out, &state, &fpar, &efac, &sky, &sig2, &wdy};
    BufList bsci = {.n = 0}, berr = {.n = 0}, bdq = {.n = 0}, brej = {.n = 0};
    PyObject *result = NULL;
    const Py_ssize_t npix = ny * nx;
    if (guess_obj != Py_None && PyObject_GetBuffer(guess_obj, &guess, PyBUF_SIMPLE) < 0)
        goto done;
    if ((guess_obj != Py_None && ck_check(&guess, npix, 4, "guess") < 0) ||
        ck_check(&sci_out, npix, 4, "sci_out") < 0 || ck_check(&err_out, npix, 4, "err_out") < 0 ||
        ck_check(&dq_out, npix, 2, "dq_out") < 0 || ck_check(&state, niter * n * width * nx, 1, "state") < 0 ||
        ck_check(&fpar, 5, 4, "fpar") < 0 || ck_check(&efac, n, 4, "efac") < 0 || ck_check(&sky, n, 4, "sky") < 0 ||
        ck_check(&sig2, niter, 4, "sig2") < 0 || ck_check(&wdy, width + 1, 4, "wdy") < 0)
        goto done;
    if (nx < 1 || r_start < 0 || r_start > r_out || r_out > r_end || r_end > ny || niter < 1 || n < 1 || width < 0) {
        PyErr_SetString(PyExc_ValueError, "acs_reject: bad shape, row range or iteration count");
        goto done;
    }
    if (buflist_get(sci_seq, &bsci, n, npix, 4, 0, "sci") < 0 || buflist_get(err_seq, &berr, n, npix, 4, 0, "err") < 0 ||
        buflist_get(dq_seq, &bdq, n, npix, 2, 0, "dq") < 0 || buflist_get(rej_seq, &brej, n, npix, 1, 1, "rej") < 0)
        goto done;
    {
        const float *sp[MAXIN], *ep[MAXIN];
        const uint16_t *dp[MAXIN];
        uint8_t *rp[MAXIN];
        for (Py_ssize_t k = 0; k < n; k++) {
            sp[k] = bsci.b[k].buf;
            ep[k] = berr.b[k].buf;
            dp[k] = bdq.b[k].buf;
            rp[k] = brej.b[k].buf;
        }
        const float *fp = fpar.buf;
        Acs c = {.g = {nx, width, wdy.buf},
                 .n = n,
                 .niter = niter,
                 .sci = sp,
                 .err = ep,
                 .dq = dp,
                 .guess = guess_obj != Py_None ? guess.buf : NULL,
                 .sci_out = sci_out.buf,
                 .err_out = err_out.buf,
                 .dq_out = dq_out.buf,
                 .rej_out = rp,
                 .state = state.buf,
                 .efac = efac.buf,
                 .sky = sky.buf,
                 .sig2 = sig2.buf,
                 .scale = fp[0],
                 .psig2 = fp[1],
                 .exptot = fp[2],
                 .texpt = fp[3],
                 .skysum = fp[4],
                 .bad = (uint16_t)(bad & 0xFFFF)};
        Rows w;
        if (rows_alloc(&w, (size_t)nx, (size_t)n) < 0) {
            PyErr_NoMemory();
            goto done;
        }
        Py_ssize_t nrej = 0;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t r = r_start; r < r_end; r++)
            nrej += acs_row(&c, r, r >= r_out, &w);
        Py_END_ALLOW_THREADS
        rows_free(&w);
        result = PyLong_FromSsize_t(nrej);
    }
done:
    buflist_release(&bsci);
    buflist_release(&berr);
    buflist_release(&bdq);
    buflist_release(&brej);
    ck_release(bufs, 10);
    return result;
}

/* ------------------------------------------------------------------------------- WF3REJ */

typedef struct {
    Disk g;
    Py_ssize_t n, niter;
    const float *const *img, *const *raw;
    const uint16_t *const *dq;
    const float *guess_ave, *guess_var; /* NULL: minimum guess computed here */
    float *ave_out, *err_out;
    uint16_t *dq_out;
    uint8_t *const *cr_out;
    uint8_t *state;
    const float *efac, *sky, *sig2, *gain, *nse;
    float scale, psig2, texpt, skysum;
    Py_ssize_t ampx, ampy;
    uint16_t bad;
    int minimum, scale_out;
} Wf3;

/* ``x > 0 ? x : 0`` as np.fmax(x, 0): NaN gives 0, -0 stays -0. */
static inline float
fmax0(float x)
{
    return x >= 0.0f ? x : 0.0f;
}

/* Column ranges of the two amplifier slots and their gain / noise on row r. */
typedef struct {
    Py_ssize_t x0[2], x1[2];
    float gn[2], nse[2];
} Slots;

static void
wf3_slots(const Wf3 *c, Py_ssize_t r, Slots *s)
{
    Py_ssize_t ax = c->ampx < 0 ? 0 : (c->ampx > c->g.nx ? c->g.nx : c->ampx);
    int q = (c->ampy > 0 && r < c->ampy) ? 2 : 0;
    s->x0[0] = 0;
    s->x1[0] = ax;
    s->x0[1] = ax;
    s->x1[1] = c->g.nx;
    for (int i = 0; i < 2; i++) {
        s->gn[i] = c->gain[q + i];
        s->nse[i] = c->nse[q + i];
    }
}

/* WF3 minimum initial guess on one row (slot 0 takes an input's value only if it is good, slot 1
 * takes a lower good value, and image 0 whatever its DQ — rej_init.c's asymmetry). */
/* Slot 0 (columns < ampx): where the input is lower (or it is image 0) take (value, variance)
 * if the input is good and EXPTIME > 0, else (0, 0). */
VEC_CLONES static void
wf3_guess_slot0(Py_ssize_t x0, Py_ssize_t x1, const float *restrict im, const float *restrict pic,
                const uint16_t *restrict d, float *restrict ave, float *restrict var, float e, float sk, float scale,
                float gn, float nse, uint16_t bad, int first)
{
    const float e2 = e * e;
    const int epos = e > 0.0f;
    for (Py_ssize_t x = x0; x < x1; x++) {
        float diff = im[x] - sk;
        float val = epos ? pic[x] : 0.0f; /* pic = f32(diff / e) */
        float t = scale * fmax0(diff);
        float vn = ((nse + fmax0(im[x]) / gn) + t * t) / e2;
        int ok = ((d[x] & bad) == 0) & epos;
        int take = first | (val < ave[x]);
        float a = ok ? val : 0.0f, v = ok ? vn : 0.0f;
        ave[x] = take ? a : ave[x];
        var[x] = take ? v : var[x];
    }
}

/* Slot 1: take a lower good value (image 0 whatever its DQ), its variance if EXPTIME > 0 else 0. */
VEC_CLONES static void
wf3_guess_slot1(Py_ssize_t x0, Py_ssize_t x1, const float *restrict im, const float *restrict pic,
                const uint16_t *restrict d, float *restrict ave, float *restrict var, float e, float sk, float scale,
                float gn, float nse, uint16_t bad, int first)
{
    const float e2 = e * e;
    const int epos = e > 0.0f;
    for (Py_ssize_t x = x0; x < x1; x++) {
        float diff = im[x] - sk;
        float val = epos ? pic[x] : 0.0f;
        float t = scale * fmax0(diff);
        float vn = ((nse + fmax0(im[x]) / gn) + t * t) / e2;
        int good = (d[x] & bad) == 0;
        int take = first | ((val < ave[x]) & good);
        float v = epos ? vn : 0.0f;
        ave[x] = take ? val : ave[x];
        var[x] = take ? v : var[x];
    }
}

static void
wf3_guess_min(const Wf3 *c, Py_ssize_t off, const Slots *s, const float *pics, float *ave, float *var)
{
    for (Py_ssize_t k = 0; k < c->n; k++)
        for (int q = 0; q < 2; q++)
            (q == 0 ? wf3_guess_slot0 : wf3_guess_slot1)(s->x0[q], s->x1[q], c->img[k] + off, pics + k * c->g.nx,
                                                         c->dq[k] + off, ave, var, c->efac[k], c->sky[k], c->scale,
                                                         s->gn[q], s->nse[q], c->bad, k == 0);
}

/* Thresholds of one input on columns x0..x1 (one amplifier slot): rejection `th` and same-row
 * spill `sth` (before CRTHRESH^2), from the previous average; and the normalised data `pic`. */
VEC_CLONES static void
wf3_thresholds(Py_ssize_t x0, Py_ssize_t x1, const float *restrict ave, float *restrict th, float *restrict sth,
               float e, float sk, float sig2, float scale, float gn, float nse)
{
    const float e2 = e * e;
    for (Py_ssize_t x = x0; x < x1; x++) {
        float dum = ave[x] * e + sk;
        float base = nse + fmax0(dum) / gn;
        float t = scale * fmax0(dum - sk);
        th[x] = (sig2 * (base + t * t)) / e2;
        sth[x] = (sig2 * base) / e2;
    }
}

/* First iteration after the minimum guess: both thresholds are sig2 * (guess variance). */
VEC_CLONES static void
wf3_thresholds_var(Py_ssize_t nx, const float *restrict var, float *restrict th, float *restrict sth, float sig2)
{
    for (Py_ssize_t x = 0; x < nx; x++) {
        float t = sig2 * var[x];
        th[x] = t;
        sth[x] = t;
    }
}

/* Rejection tests of one input on a row: candidate, exclusion and the two spill tests. `spv` is the
 * spill plane of the rows below a HIT: the normalised data, or the stored data on rows <= width. */
VEC_CLONES static void
wf3_tests(Py_ssize_t nx, const float *restrict pic, const float *restrict spv, const float *restrict ave,
          const float *restrict th, const float *restrict sth, const uint16_t *restrict d, uint8_t *restrict hit,
          uint8_t *restrict fl, float psig2, uint16_t bad)
{
    for (Py_ssize_t x = 0; x < nx; x++) {
        float dd = pic[x] - ave[x];
        float sq = dd * dd;
        uint16_t dv = d[x];
        uint8_t e0 = (uint8_t)(((dv & bad) != 0) & (dv != SPILL));
        uint8_t excl = (uint8_t)(e0 | (dv == EXCLUDE));
        uint8_t cand = (uint8_t)(sq > th[x]);
        uint8_t sup = (uint8_t)((sq > psig2 * spv[x]) & (dv != HIT));
        hit[x] = (uint8_t)(cand & (excl ^ 1));
        fl[x] = (uint8_t)(cand * F_CAND | excl * F_EXCL | (uint8_t)(sq > psig2 * sth[x]) * F_SPOK | sup * F_SUP |
                          e0 * F_E0);
    }
}

VEC_CLONES static void
wf3_use(Py_ssize_t nx, const uint16_t *restrict d, const uint8_t *restrict fl, const uint8_t *restrict hit,
        const uint8_t *restrict above, const uint8_t *restrict same, uint8_t *restrict use)
{
    for (Py_ssize_t x = 0; x < nx; x++) {
        uint8_t f = fl[x];
        uint8_t sb = (uint8_t)((above[x] != 0) & ((f & F_SUP) != 0));
        uint8_t sp = (uint8_t)((same[x] != 0) & ((f & F_SPOK) != 0));
        use[x] = (uint8_t)((hit[x] ^ 1) & (sb ^ 1) & ((f & F_E0) == 0) & ((d[x] & MASKDQ) == 0) & (sp ^ 1));
    }
}

/* WF3 last iteration: sum of the used pixels' variances nse + max(data, 0) / gain. */
VEC_CLONES static void
wf3_add_var(Py_ssize_t x0, Py_ssize_t x1, const float *restrict pic, const uint8_t *restrict use,
            float *restrict var2, float e, float sk, float gn, float nse)
{
    for (Py_ssize_t x = x0; x < x1; x++) {
        float v = var2[x] + (nse + fmax0(pic[x] * e + sk) / gn);
        var2[x] = use[x] ? v : var2[x];
    }
}

/* Last iteration: rejected pixels (mask HIT or SPILL) and the DQ of the combination, input by input
 * as HSTCAL's two line buffers (dq2: previous input's flags, dqo: the output). */
VEC_CLONES static void
wf3_dq_loop(Py_ssize_t nx, const uint16_t *restrict d, const uint8_t *restrict fl, const uint8_t *restrict hit,
            const uint8_t *restrict above, const uint8_t *restrict same, uint16_t *restrict dq2,
            uint16_t *restrict dqo, uint8_t *restrict cr_row)
{
    const uint16_t clear = (uint16_t)~(CRFLAG | SPILL);
    for (Py_ssize_t x = 0; x < nx; x++) {
        uint8_t f = fl[x];
        uint16_t dv = d[x];
        /* mask = HIT if hit, else SPILL if spilled on this row, else start (SPILL if spilled from
         * above, EXCLUDE if excluded, else the input DQ); rejected: mask HIT or SPILL */
        uint8_t sb = (uint8_t)((above[x] != 0) & ((f & F_SUP) != 0));
        uint8_t own = (uint8_t)((sb | ((f & F_E0) != 0)) ^ 1); /* start is the input DQ */
        uint8_t start_spill = (uint8_t)(sb | (own & (dv == SPILL)));
        uint8_t start_hit = (uint8_t)(own & (dv == HIT));
        uint8_t spilled = (uint8_t)((same[x] != 0) & ((f & F_SPOK) != 0) & (start_hit ^ 1));
        uint16_t cr = (uint16_t)(hit[x] | spilled | start_spill | start_hit);
        uint16_t b = (uint16_t)((sb ? SPILL : dv) | dq2[x]) & clear;
        uint16_t sv = b | dqo[x];
        uint16_t m = (uint16_t)-(int16_t)cr; /* all ones where rejected */
        dq2[x] = (uint16_t)(b | (CRFLAG & m));
        dqo[x] = (uint16_t)(sv & ~(CRFLAG & ~m));
        cr_row[x] = (uint8_t)cr;
    }
}

static Py_ssize_t
wf3_dq(const Wf3 *c, Py_ssize_t off, Py_ssize_t k, int out_row, Rows *w)
{
    uint8_t *cr_row = out_row ? c->cr_out[k] + off : w->use;
    wf3_dq_loop(c->g.nx, c->dq[k] + off, w->fl, w->hit, w->above, w->same, w->dq2, w->dqo, cr_row);
    return out_row ? count_bytes(c->g.nx, cr_row) : 0;
}

/* Output row: ERR = f32(sqrt(sumvar) / efs) in double, 0 where nothing was used; with scale_out
 * (combine()) SCI = f32(ave * texpt) + skysum and ERR * texpt. */
VEC_CLONES static void
wf3_out(Py_ssize_t nx, const float *restrict efs, const float *restrict var2, const float *restrict ave,
        float *restrict ao, float *restrict eo, int scale_out, float texpt, float skysum)
{
    for (Py_ssize_t x = 0; x < nx; x++) {
        float f = efs[x];
        float er = (float)(sqrt((double)var2[x]) / (double)f);
        eo[x] = f > 0.0f ? er : 0.0f;
    }
    if (scale_out)
        for (Py_ssize_t x = 0; x < nx; x++) {
            ao[x] = ave[x] * texpt + skysum;
            eo[x] = eo[x] * texpt;
        }
    else
        memcpy(ao, ave, (size_t)nx * sizeof(float));
}

static Py_ssize_t
wf3_row(const Wf3 *c, Py_ssize_t r, int out_row, Rows *w, float *var)
{
    const Py_ssize_t nx = c->g.nx, off = r * nx, width = c->g.width;
    const int32_t w0 = c->g.wdy[0];
    Py_ssize_t nrej = 0;
    Slots s;
    if (nx < 1)
        return 0;
    wf3_slots(c, r, &s);
    for (Py_ssize_t k = 0; k < c->n; k++) {
        if (c->efac[k] > 0.0f)
            normalise(nx, c->img[k] + off, w->pics + k * nx, c->sky[k], c->efac[k]);
        else /* never used (the guess takes 0 for such inputs); defined all the same */
            memset(w->pics + k * nx, 0, (size_t)nx * sizeof(float));
    }
    if (c->guess_ave) {
        memcpy(w->ave, c->guess_ave + off, (size_t)nx * sizeof(float));
        memcpy(var, c->guess_var + off, (size_t)nx * sizeof(float));
    } else {
        wf3_guess_min(c, off, &s, w->pics, w->ave, var);
    }
    for (Py_ssize_t it = 0; it < c->niter; it++) {
        const int last = it == c->niter - 1;
        memset(w->total, 0, (size_t)nx * sizeof(float));
        memset(w->efs, 0, (size_t)nx * sizeof(float));
        if (last) {
            memset(w->var2, 0, (size_t)nx * sizeof(float));
            memset(w->dq2, 0, (size_t)nx * sizeof(uint16_t));
            for (Py_ssize_t x = 0; x < nx; x++)
                w->dqo[x] = CRFLAG;
        }
        for (Py_ssize_t k = 0; k < c->n; k++) {
            if (!(c->efac[k] > 0.0f))
                continue;
            uint8_t *ring = c->state + (it * c->n + k) * width * nx;
            if (width > 0)
                dilate_above(&c->g, ring, r, w->above);
            else
                memset(w->above, 0, (size_t)nx);
            if (c->minimum && it == 0)
                wf3_thresholds_var(nx, var, w->th, w->sth, c->sig2[it]);
            else
                for (int q = 0; q < 2; q++)
                    wf3_thresholds(s.x0[q], s.x1[q], w->ave, w->th, w->sth, c->efac[k], c->sky[k], c->sig2[it],
                                   c->scale, s.gn[q], s.nse[q]);
            const float *pic = w->pics + k * nx;
            wf3_tests(nx, pic, r <= width ? c->raw[k] + off : pic, w->ave, w->th, w->sth, c->dq[k] + off,
                      w->hit, w->fl, c->psig2, c->bad);
            /* from above the pixel needs the lower-rows spill test, from the left the same-row one */
            promote(w->hit, w->fl, w->above, nx, w0, F_SUP, F_SPOK);
            memset(w->same, 0, (size_t)nx);
            if (w0 >= 0)
                or_shifts(w->same, w->hit, nx, w0, 1);
            wf3_use(nx, c->dq[k] + off, w->fl, w->hit, w->above, w->same, w->use);
            add_used(0, nx, pic, w->use, w->total, w->efs, c->efac[k]);
            if (last)
                for (int q = 0; q < 2; q++)
                    wf3_add_var(s.x0[q], s.x1[q], pic, w->use, w->var2, c->efac[k], c->sky[k], s.gn[q], s.nse[q]);
            if (last)
                nrej += wf3_dq(c, off, k, out_row, w);
            if (width > 0)
                memcpy(ring + ring_slot(r, width) * nx, w->hit, (size_t)nx);
        }
        new_average(nx, w->total, w->efs, w->ave, last);
    }
    if (out_row) {
        wf3_out(nx, w->efs, w->var2, w->ave, c->ave_out + off, c->err_out + off, c->scale_out, c->texpt, c->skysum);
        memcpy(c->dq_out + off, w->dqo, (size_t)nx * sizeof(uint16_t));
    }
    return nrej;
}

static PyObject *
wf3_reject(PyObject *self, PyObject *args)
{
    PyObject *img_seq, *raw_seq, *dq_seq, *cr_seq, *gave_obj, *gvar_obj;
    Py_buffer gave = {0}, gvar = {0}, ave_out = {0}, err_out = {0}, dq_out = {0}, state = {0}, fpar = {0}, efac = {0},
              sky = {0}, sig2 = {0}, wdy = {0}, gain = {0}, nse = {0};
    Py_ssize_t ny, nx, n, niter, width, ampx, ampy, r_start, r_out, r_end;
    long bad;
    int minimum, scale_out;
    if (!PyArg_ParseTuple(args, "OOOOOw*w*w*Ow*y*y*y*y*y*y*y*nnnnnnnlppnnn", &img_seq, &raw_seq, &dq_seq, &gave_obj,
                          &gvar_obj, &ave_out, &err_out, &dq_out, &cr_seq, &state, &fpar, &efac, &sky, &sig2, &wdy,
                          &gain, &nse, &ny, &nx, &n, &niter, &width, &ampx, &ampy, &bad, &minimum, &scale_out,
                          &r_start, &r_out, &r_end))
        return NULL;
    Py_buffer *bufs[] = {&gave, &gvar, &ave_out, &err_out, &dq_out, &state, &fpar,
                         &efac, &sky,  &sig2,    &wdy,     &gain,   &nse};
    BufList bimg = {.n = 0}, braw = {.n = 0}, bdq = {.n = 0}, bcr = {.n = 0};
    PyObject *result = NULL;
    const Py_ssize_t npix = ny * nx;
    const int given = gave_obj != Py_None;
    if (given && (PyObject_GetBuffer(gave_obj, &gave, PyBUF_SIMPLE) < 0 ||
                  PyObject_GetBuffer(gvar_obj, &gvar, PyBUF_SIMPLE) < 0))
        goto done;
    if ((given && (ck_check(&gave, npix, 4, "guess ave") < 0 || ck_check(&gvar, npix, 4, "guess var") < 0)) ||
        ck_check(&ave_out, npix, 4, "ave_out") < 0 || ck_check(&err_out, npix, 4, "err_out") < 0 ||
        ck_check(&dq_out, npix, 2, "dq_out") < 0 || ck_check(&state, niter * n * width * nx, 1, "state") < 0 ||
        ck_check(&fpar, 4, 4, "fpar") < 0 || ck_check(&efac, n, 4, "efac") < 0 || ck_check(&sky, n, 4, "sky") < 0 ||
        ck_check(&sig2, niter, 4, "sig2") < 0 || ck_check(&wdy, width + 1, 4, "wdy") < 0 ||
        ck_check(&gain, 4, 4, "gain") < 0 || ck_check(&nse, 4, 4, "nse") < 0)
        goto done;
    if (nx < 1 || r_start < 0 || r_start > r_out || r_out > r_end || r_end > ny || niter < 1 || n < 1 || width < 0) {
        PyErr_SetString(PyExc_ValueError, "wf3_reject: bad shape, row range or iteration count");
        goto done;
    }
    if (buflist_get(img_seq, &bimg, n, npix, 4, 0, "images") < 0 ||
        buflist_get(raw_seq, &braw, n, npix, 4, 0, "raws") < 0 || buflist_get(dq_seq, &bdq, n, npix, 2, 0, "dq") < 0 ||
        buflist_get(cr_seq, &bcr, n, npix, 1, 1, "crbits") < 0)
        goto done;
    {
        const float *ip[MAXIN], *rp[MAXIN];
        const uint16_t *dp[MAXIN];
        uint8_t *cp[MAXIN];
        for (Py_ssize_t k = 0; k < n; k++) {
            ip[k] = bimg.b[k].buf;
            rp[k] = braw.b[k].buf;
            dp[k] = bdq.b[k].buf;
            cp[k] = bcr.b[k].buf;
        }
        const float *fp = fpar.buf;
        Wf3 c = {.g = {nx, width, wdy.buf},
                 .n = n,
                 .niter = niter,
                 .img = ip,
                 .raw = rp,
                 .dq = dp,
                 .guess_ave = given ? gave.buf : NULL,
                 .guess_var = given ? gvar.buf : NULL,
                 .ave_out = ave_out.buf,
                 .err_out = err_out.buf,
                 .dq_out = dq_out.buf,
                 .cr_out = cp,
                 .state = state.buf,
                 .efac = efac.buf,
                 .sky = sky.buf,
                 .sig2 = sig2.buf,
                 .gain = gain.buf,
                 .nse = nse.buf,
                 .scale = fp[0],
                 .psig2 = fp[1],
                 .texpt = fp[2],
                 .skysum = fp[3],
                 .ampx = ampx,
                 .ampy = ampy,
                 .bad = (uint16_t)(bad & 0xFFFF),
                 .minimum = minimum,
                 .scale_out = scale_out};
        Rows w;
        float *var = malloc((size_t)(nx > 0 ? nx : 1) * sizeof(float));
        if (var == NULL || rows_alloc(&w, (size_t)nx, (size_t)n) < 0) {
            free(var);
            PyErr_NoMemory();
            goto done;
        }
        Py_ssize_t nrej = 0;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t r = r_start; r < r_end; r++)
            nrej += wf3_row(&c, r, r >= r_out, &w, var);
        Py_END_ALLOW_THREADS
        rows_free(&w);
        free(var);
        result = PyLong_FromSsize_t(nrej);
    }
done:
    buflist_release(&bimg);
    buflist_release(&braw);
    buflist_release(&bdq);
    buflist_release(&bcr);
    ck_release(bufs, 13);
    return result;
}

/* ------------------------------------------------------------------------------- CRMASK */

/* Input DQ after the rejection with CRMASK: CRHIT set where rejected, cleared elsewhere, on the
 * columns x < lim of each row (WF3REJ packs the mask in bytes and leaves the NX % 8 last columns). */
static void
crmask_row(Py_ssize_t lim, const uint16_t *restrict d, const uint8_t *restrict r, uint16_t *restrict o)
{
    for (Py_ssize_t x = 0; x < lim; x++)
        o[x] = r[x] ? (uint16_t)(d[x] | CRFLAG) : (uint16_t)(d[x] & (uint16_t)~CRFLAG);
}

static PyObject *
crmask(PyObject *self, PyObject *args)
{
    Py_buffer dq = {0}, rej = {0}, out = {0};
    Py_ssize_t ny, nx, lim;
    if (!PyArg_ParseTuple(args, "y*y*w*nnn", &dq, &rej, &out, &ny, &nx, &lim))
        return NULL;
    Py_buffer *bufs[] = {&dq, &rej, &out};
    if (ck_check(&dq, ny * nx, 2, "crmask dq") < 0 || ck_check(&rej, ny * nx, 1, "crmask rej") < 0 ||
        ck_check(&out, ny * nx, 2, "crmask out") < 0) {
        ck_release(bufs, 3);
        return NULL;
    }
    if (lim < 0 || lim > nx) {
        PyErr_SetString(PyExc_ValueError, "crmask: column limit outside the row");
        ck_release(bufs, 3);
        return NULL;
    }
    const uint16_t *d = dq.buf;
    const uint8_t *r = rej.buf;
    uint16_t *o = out.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t y = 0; y < ny; y++) {
        crmask_row(lim, d + y * nx, r + y * nx, o + y * nx);
        if (lim < nx && o != d)
            memcpy(o + y * nx + lim, d + y * nx + lim, (size_t)(nx - lim) * sizeof(uint16_t));
    }
    Py_END_ALLOW_THREADS
    ck_release(bufs, 3);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------ module */

static PyMethodDef methods[] = {
    {"sky_sums", sky_sums, METH_VARARGS,
     "sky_sums(img, dq, n, badinpdq) -> (npt, min, sum): good pixels of image 0, float32 raster-order sum."},
    {"sky_hist", sky_hist, METH_VARARGS,
     "sky_hist(img, dq, hist_out, n, lo, width, nbins): int64 histogram of the DQ == 0 pixels."},
    {"acs_reject", acs_reject, METH_VARARGS,
     "acs_reject(scis, errs, dqs, guess|None, sci_out, err_out, dq_out, rej_outs, state, fpar, efac, sky, sig2, "
     "wdy, ny, nx, n, niter, width, badinpdq, r_start, r_out, r_end) -> nrej: ACSREJ iterations on rows "
     "r_start..r_end (outputs from r_out on)."},
    {"wf3_reject", wf3_reject, METH_VARARGS,
     "wf3_reject(images, raws, dqs, guess_ave|None, guess_var|None, ave_out, err_out, dq_out, cr_outs, state, fpar, "
     "efac, sky, sig2, wdy, gain, nse, ny, nx, n, niter, width, ampx, ampy, badinpdq, minimum, scale_out, r_start, "
     "r_out, r_end) -> nrej: WF3REJ iterations on rows r_start..r_end (outputs from r_out on)."},
    {"crmask", crmask, METH_VARARGS,
     "crmask(dq, rej, out, ny, nx, lim): out = dq with CRHIT set where rej, cleared elsewhere, columns < lim."},
    {NULL, NULL, 0, NULL},
};

CK_MODULE(_rej_kernels, methods,
          "ACSREJ and WF3REJ (cosmic-ray rejection) kernels (C kernels; the NumPy implementations are the "
          "reference).")
