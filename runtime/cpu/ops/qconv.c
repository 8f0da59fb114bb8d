/*
 * qconv.c - ConvInteger and QLinearConv: N-D convolutions of 8-bit tensors on
 * the int8 GEMM (qgemm.h), depthwise 2-D ones directly (qdwconv.h);
 * conv_compute says which shapes take which path. QLinearConv requantizes
 * each GEMM tile once it is computed. Constant weights are packed once per
 * plan, per group (lm_q_prepare).
 */
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "../../core/env.h"
#include "../../core/opgeom.h"
#include "../qdwconv.h"
#include "../qdwconv16.h"
#include "../../core/threadpool.h"
#include "quant_common.h"

/*
 * Execution works on a chunk of images at once so that each conv costs two
 * parallel loops (im2col rows, then GEMM tiles over every image and group)
 * instead of two per image and group: depthwise convs have hundreds of groups
 * with tiny GEMMs each. "ng" below numbers (image, group) pairs in the chunk.
 */

/* Scratch allowed per chunk: more images per chunk only while it fits (tests
 * set it tiny to exercise chunking). */
#ifndef CONV_CHUNK_BYTES
#define CONV_CHUNK_BYTES ((int64_t)64 << 20)
#endif

/* im2col: row (ng, c, kernel offset), column = output position; positions in
 * the padding get the input zero point, so they contribute 0. */
typedef struct im2col_job {
    const lm_conv_geom *g;
    const uint8_t *x; /* first image of the chunk */
    uint8_t *col;     /* [ng][kdim][out_size] */
    uint8_t pad;
} im2col_job;

/* First output position in [0, n) whose input position o * s + off is >= 0,
 * and the end of those whose input position is < in: the unpadded run. */
static void inside_run(int64_t n, int64_t s, int64_t off, int64_t in, int64_t *lo, int64_t *hi)
{
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = in - off <= 0 ? 0 : (in - off + s - 1) / s;
    *lo = a < n ? a : n;
    *hi = b < *lo ? *lo : b < n ? b : n;
}

/* Every other byte of src[0, 2n): the stride-2 gather, 16 at a time with SSE2. */
static void gather_stride2(uint8_t *restrict dst, const uint8_t *restrict src, int64_t n)
{
    int64_t o = 0;
#if defined(__SSE2__)
    const __m128i even = _mm_set1_epi16(0x00FF);
    /* o + 16 < n: the 32-byte load stays within src[0, 2n - 1). */
    for (; o + 16 < n; o += 16) {
        __m128i a = _mm_and_si128(_mm_loadu_si128((const __m128i *)(src + 2 * o)), even);
        __m128i b = _mm_and_si128(_mm_loadu_si128((const __m128i *)(src + 2 * o + 16)), even);
        _mm_storeu_si128((__m128i *)(dst + o), _mm_packus_epi16(a, b));
    }
#endif
    for (; o < n; o++)
        dst[o] = src[2 * o];
}

/* Columns [a, b) of one output row of the last spatial dimension: padding
 * outside [lo, hi), input bytes inside (a copy at stride 1). The padded ends
 * are a few bytes, too short for a memset call to pay. dst is the row's
 * column 0. */
static void im2col_run(uint8_t *restrict dst, const uint8_t *restrict xr, int64_t a, int64_t b,
                       int64_t s, int64_t off, int64_t lo, int64_t hi, uint8_t pad)
{
    lo = lo < a ? a : lo > b ? b : lo;
    hi = hi < lo ? lo : hi > b ? b : hi;
    for (int64_t o = a; o < lo; o++)
        dst[o] = pad;
    if (s == 1) {
        memcpy(dst + lo, xr + lo + off, (size_t)(hi - lo));
    } else if (s == 2) {
        gather_stride2(dst + lo, xr + 2 * lo + off, hi - lo);
    } else {
        const uint8_t *src = xr + off;
        for (int64_t o = lo; o < hi; o++)
            dst[o] = src[o * s];
    }
    for (int64_t o = hi; o < b; o++)
        dst[o] = pad;
}

static void im2col_rows(void *arg, int64_t begin, int64_t end)
{
    const im2col_job *j = arg;
    const lm_conv_geom *g = j->g;
    int nsp = g->win.nsp, last = nsp - 1;
    for (int64_t r = begin; r < end; r++) {
        int64_t ng = r / g->kdim, rr = r % g->kdim;
        int64_t c = rr / g->win.k_size, kr = rr % g->win.k_size;
        int64_t kidx[LM_GEOM_MAX_SP];
        for (int d = nsp - 1; d >= 0; d--) {
            kidx[d] = kr % g->win.k[d];
            kr /= g->win.k[d];
        }
        /* channel (n * C + grp * Cg + c) of the chunk = ng * Cg + c, as C = group * Cg */
        const uint8_t *xc = j->x + (ng * g->Cg + c) * g->win.in_size;
        uint8_t *dst = j->col + r * g->win.out_size;
        /* Walk the output positions of all but the last dimension with an odometer,
         * then fill the last dimension as one run. */
        int64_t o[LM_GEOM_MAX_SP] = {0};
        int64_t olast = g->win.out[last], s = g->win.s[last];
        int64_t off = kidx[last] * g->win.d[last] - g->win.pb[last], in_last = g->win.in[last];
        int64_t outer = g->win.out_size / (olast > 0 ? olast : 1), lo, hi;
        inside_run(olast, s, off, in_last, &lo, &hi);
        for (int64_t q = 0; q < outer && olast > 0; q++) {
            bool inside = true;
            int64_t base = 0;
            for (int d = 0; d < last; d++) {
                int64_t p = o[d] * g->win.s[d] + kidx[d] * g->win.d[d] - g->win.pb[d];
                inside = inside && p >= 0 && p < g->win.in[d];
                base = base * g->win.in[d] + p;
            }
            if (!inside)
                memset(dst, j->pad, (size_t)olast);
            else
                im2col_run(dst, xc + base * in_last, 0, olast, s, off, lo, hi, j->pad);
            dst += olast;
            for (int d = last - 1; d >= 0; d--) {
                if (++o[d] < g->win.out[d])
                    break;
                o[d] = 0;
            }
        }
    }
}

typedef struct conv_job {
    const lm_conv_geom *g;
    const uint8_t *w;
    bool w_signed, x_signed;
    const uint8_t *b; /* im2col buffer, or the chunk's first image when direct */
    bool direct;
    bool tile_im2col;  /* each tile fills its own columns of b first (2-D) */
    const uint8_t *x;  /* the chunk's first image (tile_im2col) */
    int64_t ncols;     /* GEMM columns per (image, group): out_size, or oh * wp */
    int64_t tn;        /* columns per tile */
    const void **rows; /* padded: B's row pointers, kdim per (image, group) */
    int64_t wp;        /* padded: row width of the padded input, else 0 */
    uint8_t *y8;       /* padded: 8-bit outputs over that width, [ng][Mg][ncols] */
    int32_t *acc;      /* ConvInteger: the chunk's output; QLinearConv: [ng][Mg][out_size] */
    const int32_t *w_zp;
    bool w_zp_per_ch;
    const int32_t *x_zp;
    int64_t mt, nt;       /* GEMM tiles per (image, group) */
    int64_t tm;           /* rows per tile */
    const q_prepared *qp; /* W packed per group at plan time, or NULL */
    /* requantization (QLinearConv); y == NULL for ConvInteger */
    void *y; /* the chunk's output */
    bool y_signed;
    const int32_t *bias; /* NULL or [M] */
    float x_s, y_s;
    const float *w_s;
    bool w_s_per_ch;
    int32_t y_zp;
    const float *mult; /* [M]: x_s * w_s / y_s per output channel */
} conv_job;

/*
 * Columns [n0, n1) of every im2col row of (image, group) @ng, for a tile that
 * spans all output channels: written just before the GEMM packs them, they
 * are still in cache (a whole-image im2col pass first would have left them
 * in memory). 2-D only; the row layout is im2col_rows' (ldb = out_size).
 */
static void im2col_tile_2d(const lm_conv_geom *g, const uint8_t *x, uint8_t *col, uint8_t pad,
                           int64_t ng, int64_t n0, int64_t n1)
{
    int64_t ow = g->win.out[1], oy0 = n0 / ow, oy1 = (n1 - 1) / ow;
    for (int64_t rr = 0; rr < g->kdim; rr++) {
        int64_t c = rr / g->win.k_size, kr = rr % g->win.k_size;
        int64_t ky = kr / g->win.k[1], kx = kr % g->win.k[1];
        const uint8_t *xc = x + (ng * g->Cg + c) * g->win.in_size;
        uint8_t *row = col + (ng * g->kdim + rr) * g->win.out_size;
        int64_t off = kx * g->win.d[1] - g->win.pb[1], lo, hi;
        inside_run(ow, g->win.s[1], off, g->win.in[1], &lo, &hi);
        for (int64_t oy = oy0; oy <= oy1; oy++) {
            int64_t a = oy == oy0 ? n0 - oy * ow : 0, b = oy == oy1 ? n1 - oy * ow : ow;
            int64_t iy = oy * g->win.s[0] + ky * g->win.d[0] - g->win.pb[0];
            uint8_t *dst = row + oy * ow;
            if (iy < 0 || iy >= g->win.in[0])
                memset(dst + a, pad, (size_t)(b - a));
            else
                im2col_run(dst, xc + iy * g->win.in[1], a, b, g->win.s[1], off, lo, hi, pad);
        }
    }
}

/*
 * Tiles of a convolution's GEMM ([Mg] x [ncols] per image and group, @units
 * of them). Each tile packs its columns of B and reuses the weights packed
 * at plan time, so a tile spans all rows unless that leaves threads idle:
 * with T > 1 threads there should be 2T tiles, made first by narrowing the
 * columns (down to one 32-column panel, B still packed once overall), and
 * only then by splitting rows (which packs the same B columns again). Row
 * tiles are multiples of 12, column tiles of 32: every kernel's panels, so
 * the packed weights are used in place.
 */
static void conv_tiles(lm_kctx *k, const lm_conv_geom *g, int64_t ncols, int64_t units, double kdim,
                       conv_job *j, double *tile_cost)
{
    int threads = lm_threadpool_size(k->pool);
    int64_t want = threads > 1 ? (2 * (int64_t)threads + units - 1) / units : 1;
    /* Columns a tile: packed B of about 128 KiB (L2) once K is past 512;
     * wider where K is short, so that the per-call set-up (sums, zero
     * points, the kernel's configuration) is spread over more columns,
     * while threads still get 8 tiles each to balance. */
    int64_t tn = (int64_t)(131072.0 / (kdim > 1 ? kdim : 1));
    if (threads > 1 && tn > ncols / (8 * threads))
        tn = ncols / (8 * threads);
    tn = tn < MM_TN ? MM_TN : tn > 2048 ? 2048 : tn / 32 * 32;
    int64_t nt = (ncols + tn - 1) / tn;
    if (nt < want) {
        tn = ((ncols + want - 1) / want + 31) / 32 * 32;
        nt = (ncols + tn - 1) / tn;
    }
    int64_t tm = g->Mg > 0 ? g->Mg : 1;
    if (nt < want) {
        int64_t parts = (want + nt - 1) / nt;
        tm = ((g->Mg + parts - 1) / parts + 11) / 12 * 12;
    }
    j->tn = tn;
    j->nt = nt;
    j->tm = tm;
    j->mt = (g->Mg + tm - 1) / tm;
    int64_t rows = g->Mg < tm ? g->Mg : tm, cols = ncols < tn ? ncols : tn;
    /* the products, plus packing the tile's B and requantizing its C */
    *tile_cost = (double)rows * (double)cols * (kdim + 4.0) * NS_PER_MAC +
                 (double)cols * (kdim + (double)rows) * NS_PER_BYTE;
}

/* Output channel @ch's requantization parameters (quant.c's header). */
typedef struct rq_params {
    float lo, hi, mult;
    uint32_t bias;
} rq_params;

static rq_params rq_channel(const conv_job *q, int64_t ch)
{
    rq_params r;
    r.lo = (q->y_signed ? -128.0f : 0.0f) - (float)q->y_zp;
    r.hi = (q->y_signed ? 127.0f : 255.0f) - (float)q->y_zp;
    r.mult = q->x_s * q->w_s[q->w_s_per_ch ? ch : 0] / q->y_s;
    r.bias = q->bias ? (uint32_t)q->bias[ch] : 0;
    return r;
}

static void rq_apply(const conv_job *q, const rq_params *r, const int32_t *acc, void *y, int64_t n)
{
    if (q->y_signed)
        lm_q_requant_row_s8(acc, y, n, r->bias, r->mult, r->lo, r->hi, q->y_zp);
    else
        lm_q_requant_row_u8(acc, y, n, r->bias, r->mult, r->lo, r->hi, q->y_zp);
}

/* Requantizes @n accumulators of output channel @ch into 8-bit @y. */
static void requant_channel(const conv_job *q, int64_t ch, const int32_t *acc, void *y, int64_t n)
{
    rq_params r = rq_channel(q, ch);
    rq_apply(q, &r, acc, y, n);
}

/* The outputs of a tile computed over the padded width (conv_padded):
 * column oy * wp + ox is output (oy, ox) when ox < ow, else it is dropped.
 * y8 is the group's [Mg][ncols] block, y its [Mg][out_size] block. */
static void conv_compact_padded(const conv_job *j, const uint8_t *y8, uint8_t *y, int64_t m0,
                                int64_t m1, int64_t n0, int64_t n1)
{
    int64_t wp = j->wp, ow = j->g->win.out[1];
    for (int64_t i = m0; i < m1; i++)
        for (int64_t oy = n0 / wp; oy * wp < n1; oy++) {
            int64_t a = n0 - oy * wp > 0 ? n0 - oy * wp : 0;
            int64_t b = n1 - oy * wp < ow ? n1 - oy * wp : ow;
            if (b > a)
                memcpy(y + i * j->g->win.out_size + oy * ow + a, y8 + i * j->ncols + oy * wp + a,
                       (size_t)(b - a));
        }
}

static void conv_run(void *arg, int64_t begin, int64_t end)
{
    const conv_job *j = arg;
    const lm_conv_geom *g = j->g;
    for (int64_t u = begin; u < end; u++) {
        int64_t ng = u / (j->mt * j->nt), r = u % (j->mt * j->nt);
        int64_t grp = ng % g->group;
        int64_t m0 = (r / j->nt) * j->tm, n0 = (r % j->nt) * j->tn;
        int64_t m1 = m0 + j->tm < g->Mg ? m0 + j->tm : g->Mg;
        int64_t n1 = n0 + j->tn < j->ncols ? n0 + j->tn : j->ncols;
        /* output channel block (n * M + grp * Mg) of the chunk = ng * Mg */
        int64_t yoff = ng * g->Mg * g->win.out_size;
        if (j->tile_im2col)
            im2col_tile_2d(g, j->x, (uint8_t *)j->b, (uint8_t)*j->x_zp, ng, n0, n1);
        lm_qgemm_params p = {
            .m = g->Mg,
            .n = j->ncols,
            .k = g->kdim,
            .a = j->w + grp * g->Mg * g->kdim,
            .lda = g->kdim,
            .a_signed = j->w_signed,
            /* direct: the image's group channels are already [Cg][out_size] */
            .b = j->b + (j->direct ? ng * g->Cg * g->win.in_size : ng * g->kdim * g->win.out_size),
            .ldb = j->ncols,
            .b_signed = j->x_signed,
            .b_rows = j->rows ? j->rows + ng * g->kdim : NULL,
            .c = j->acc + ng * g->Mg * j->ncols,
            .ldc = j->ncols,
            .a_zp = j->w_zp + (j->w_zp_per_ch ? grp * g->Mg : 0),
            .a_zp_per_row = j->w_zp_per_ch,
            .b_zp = j->x_zp,
            .b_zp_per_col = false,
            .pa = j->qp ? j->qp->w[grp] : NULL,
        };
        /* requantized by the GEMM; over the padded width into y8 first, as
         * its dropped columns leave y no matrix of the GEMM's columns */
        lm_qgemm_requant rq;
        if (j->y) {
            rq = (lm_qgemm_requant){
                /* 8-bit: byte offsets are element offsets */
                .y = j->wp ? j->y8 + ng * g->Mg * j->ncols : (uint8_t *)j->y + yoff,
                .ldy = j->ncols,
                .y_signed = j->y_signed,
                .bias = j->bias ? j->bias + grp * g->Mg : NULL,
                .mult = j->mult + grp * g->Mg,
                .lo = (j->y_signed ? -128.0f : 0.0f) - (float)j->y_zp,
                .hi = (j->y_signed ? 127.0f : 255.0f) - (float)j->y_zp,
                .zp = j->y_zp,
            };
            p.rq = &rq;
        }
        lm_qgemm_tile(&p, m0, m1, n0, n1);
        if (j->y && j->wp)
            conv_compact_padded(j, rq.y, (uint8_t *)j->y + yoff, m0, m1, n0, n1);
    }
}

/* What ConvInteger and QLinearConv share once their inputs are validated. */
typedef struct conv_args {
    const loom_tensor *x, *w;
    int32_t x_zp;
    const int32_t *w_zp; /* one value or [M] */
    bool w_zp_per_ch;
    int32_t *out32; /* ConvInteger's output, NULL for QLinearConv */
    conv_job q;     /* requantization fields for QLinearConv */
} conv_args;

/*
 * Depthwise convolutions (one input channel per output channel, 2-D) run
 * directly (qdwconv.h) instead of as one GEMM per channel. Channels are
 * dealt to a few slots per thread; each slot owns a workspace (the widened
 * input plane, then the channel's accumulators) and runs its channels in turn.
 */
typedef struct dw_job {
    const lm_conv_geom *g;
    const conv_args *ca;
    void *y; /* QLinearConv's output, NULL for ConvInteger */
    uint8_t *scratch;
    size_t ws_bytes, slot_bytes;
    int64_t units, slots; /* units: image x channel planes */
} dw_job;

static void dw_params(const dw_job *j, int64_t nc, lm_qdw_params *p)
{
    const lm_conv_geom *g = j->g;
    const conv_args *ca = j->ca;
    int64_t ch = nc % g->C;
    *p = (lm_qdw_params){
        .x = (const uint8_t *)ca->x->data + nc * g->win.in_size,
        .h = g->win.in[0],
        .w = g->win.in[1],
        .x_signed = ca->x->dtype == LOOM_DTYPE_INT8,
        .x_zp = ca->x_zp,
        .k = (const uint8_t *)ca->w->data + ch * g->win.k_size,
        .kh = g->win.k[0],
        .kw = g->win.k[1],
        .k_signed = ca->w->dtype == LOOM_DTYPE_INT8,
        .k_zp = ca->w_zp[ca->w_zp_per_ch ? ch : 0],
        .stride = {g->win.s[0], g->win.s[1]},
        .dil = {g->win.d[0], g->win.d[1]},
        .pad = {g->win.pb[0], g->win.pb[1]},
        .oh = g->win.out[0],
        .ow = g->win.out[1],
    };
}

static void dw_slots(void *arg, int64_t begin, int64_t end)
{
    const dw_job *j = arg;
    const lm_conv_geom *g = j->g;
    for (int64_t s = begin; s < end; s++) {
        uint8_t *slot = j->scratch + s * j->slot_bytes;
        void *ws = j->ws_bytes ? slot : NULL;
        int32_t *acc = (int32_t *)(slot + j->ws_bytes);
        for (int64_t nc = s * j->units / j->slots; nc < (s + 1) * j->units / j->slots; nc++) {
            lm_qdw_params p;
            dw_params(j, nc, &p);
            if (!j->y) {
                lm_qdw_channel(&p, ws, j->ca->out32 + nc * g->win.out_size);
                continue;
            }
            lm_qdw_channel(&p, ws, acc);
            /* 8-bit output: its byte offset is the element offset */
            requant_channel(&j->ca->q, nc % g->C, acc, (uint8_t *)j->y + nc * g->win.out_size,
                            g->win.out_size);
        }
    }
}

static bool dw_applies(const lm_conv_geom *g)
{
    return g->win.nsp == 2 && g->Cg == 1 && g->Mg == 1 && !lm_env_flag(LM_ENV_QCONV_NO_DIRECT);
}

/*
 * Depthwise convolutions on CPUs with AVX-512BW run over blocks of 16
 * channels (qdwconv16.h), in bands of output rows: units are (image, block,
 * band), dealt to slots that own a scratch each like dw_job's.
 */
typedef struct dw16_job {
    lm_qdw16_args a; /* image 0's; each unit moves x and the output on */
    int64_t blocks, bands, band_rows, units, slots;
    uint8_t *scratch;
    size_t slot_bytes;
} dw16_job;

static void dw16_slots(void *arg, int64_t begin, int64_t end)
{
    const dw16_job *j = arg;
    const lm_conv2d_geom *g = &j->a.g;
    int64_t in_img = g->C * g->H * g->W, out_img = g->C * g->OH * g->OW;
    for (int64_t s = begin; s < end; s++) {
        void *ws = j->scratch + s * j->slot_bytes;
        for (int64_t u = s * j->units / j->slots; u < (s + 1) * j->units / j->slots; u++) {
            int64_t n = u / (j->blocks * j->bands), cb = u / j->bands % j->blocks;
            int64_t oy0 = u % j->bands * j->band_rows;
            int64_t oy1 = oy0 + j->band_rows < g->OH ? oy0 + j->band_rows : g->OH;
            lm_qdw16_args a = j->a;
            a.x = (const uint8_t *)a.x + n * in_img;
            if (a.out32)
                a.out32 += n * out_img;
            else
                a.y = (uint8_t *)a.y + n * out_img;
            lm_qdw16(&a, cb, oy0, oy1, ws);
        }
    }
}

/* Blocks pay a transpose per input pixel and one per output to fill every
 * lane; the per-channel kernel does four taps per instruction but wastes
 * lanes and pays per-row overheads on short rows. Measured (1 thread, 3x3,
 * us, blocks against per-channel): 7 wide 35 / 95, 14 wide 38 / 62; at
 * stride 2 from 28 wide and at stride 1 from 28 wide the per-channel kernel
 * is ahead (45 / 38, 81 / 72), and more so on wider rows. */
static bool dw16_applies(const lm_conv_geom *g)
{
    return g->win.in[1] < 24 && g->win.k[0] <= 64 && lm_qdw16_available();
}

static loom_status conv_depthwise16(lm_kctx *k, const lm_conv_geom *g, const conv_args *ca,
                                    void *yout)
{
    const conv_job *q = &ca->q;
    dw16_job j = {.a = {.g = lm_geom_2d(&g->win, g->C, g->C),
                        .x = ca->x->data,
                        .x_signed = ca->x->dtype == LOOM_DTYPE_INT8,
                        .x_zp = ca->x_zp,
                        .k = ca->w->data,
                        .k_signed = ca->w->dtype == LOOM_DTYPE_INT8,
                        .k_zp = ca->w_zp,
                        .k_zp_per_ch = ca->w_zp_per_ch,
                        .out32 = ca->out32,
                        .y = yout,
                        .y_signed = q->y_signed,
                        .y_zp = q->y_zp,
                        .x_s = q->x_s,
                        .y_s = q->y_s,
                        .w_s = q->w_s,
                        .w_s_per_ch = q->w_s_per_ch,
                        .bias = q->bias},
                  .blocks = (g->C + 15) / 16};
    j.band_rows = lm_qdw16_band_rows(&j.a.g);
    j.bands = (g->win.out[0] + j.band_rows - 1) / j.band_rows;
    j.units = g->N * j.blocks * j.bands;
    int threads = lm_threadpool_size(k->pool);
    j.slots = j.units < 4 * (int64_t)threads ? j.units : 4 * (int64_t)threads;
    j.slot_bytes = (lm_qdw16_scratch_bytes(&j.a.g) + 63) / 64 * 64;
    uint8_t *raw = lm_kscratch(k, (size_t)j.slots * j.slot_bytes + 64);
    if (!raw)
        return LOOM_ERR_NO_MEMORY;
    j.scratch = raw + (64 - (uintptr_t)raw % 64) % 64;
    /* per unit: 16 channels of its band's input packed, the taps of its
     * outputs, the outputs transposed back */
    double rows = (double)(j.band_rows < g->win.out[0] ? j.band_rows : g->win.out[0]);
    double pos = rows * (double)g->win.out[1];
    double per_unit = 16.0 * (pos * ((double)g->win.k_size * NS_PER_MAC + NS_PER_BYTE) +
                              rows * (double)(g->win.s[0] * g->win.in[1]) * NS_PER_BYTE) +
                      200.0;
    PAR(k, j.slots, (double)((j.units + j.slots - 1) / j.slots) * per_unit, dw16_slots, &j);
    return LOOM_OK;
}

static loom_status conv_depthwise(lm_kctx *k, const lm_conv_geom *g, const conv_args *ca,
                                  void *yout)
{
    dw_job j = {.g = g, .ca = ca, .y = yout, .units = g->N * g->C};
    lm_qdw_params p;
    dw_params(&j, 0, &p);
    j.ws_bytes = (lm_qdw_workspace(&p) + 63) / 64 * 64;
    /* the accumulators of one channel (QLinearConv): 4x one output plane */
    j.slot_bytes =
        j.ws_bytes + (yout ? (size_t)g->win.out_size * sizeof(int32_t) + 63 : 0) / 64 * 64;
    int threads = lm_threadpool_size(k->pool);
    j.slots = j.units < 4 * (int64_t)threads ? j.units : 4 * (int64_t)threads;
    if (j.slot_bytes > 0) {
        uint8_t *raw = lm_kscratch(k, (size_t)j.slots * j.slot_bytes + 64);
        if (!raw)
            return LOOM_ERR_NO_MEMORY;
        j.scratch = raw + (64 - (uintptr_t)raw % 64) % 64;
    }
    /* per channel: the plane, the taps (a few per instruction), requantizing */
    double per_ch =
        (double)g->win.in_size * 4.0 * NS_PER_BYTE +
        (double)g->win.out_size * ((double)g->win.k_size * 4.0 * NS_PER_MAC + NS_PER_BYTE) + 200.0;
    double cost = (double)((j.units + j.slots - 1) / j.slots) * per_ch;
    PAR(k, j.slots, cost, dw_slots, &j);
    return LOOM_OK;
}

/*
 * The padded-width form of a 2-D convolution (QLinearConv): each input plane
 * is copied once, zero-point padded and split into stride phases,
 *   P[c][py][px][qy][qx] = Xpad[qy * sy + py][qx * sx + px],
 * qy < hq = oh + (kh - 1) * dy / sy, qx < wq = ow + (kw - 1) * dx / sx. Row
 * (c, ky, kx) of the im2col matrix is then the phase plane of (ky * dy, kx *
 * dx) from offset (ky * dy / sy) * wq + kx * dx / sx on, read for oh * wq
 * columns: column oy * wq + ox is Xpad[oy * sy + ky * dy][ox * sx + kx * dx].
 * B goes to the GEMM as row pointers and no im2col is written. Columns with
 * ox >= ow read past the row; they are computed and dropped, which pays
 * while wq is close to ow (conv_padded_applies).
 */
typedef struct pad_job {
    const lm_conv_geom *g;
    const uint8_t *x;
    uint8_t *xp;
    int64_t hq, wq;
    uint8_t pad;
} pad_job;

/* One phase plane (c, py, px) per job; the row's inside run is the same for
 * all its rows. */
static void pad_planes(void *arg, int64_t begin, int64_t end)
{
    const pad_job *j = arg;
    const lm_conv_geom *g = j->g;
    int64_t sy = g->win.s[0], sx = g->win.s[1];
    for (int64_t u = begin; u < end; u++) {
        int64_t c = u / (sy * sx), py = u / sx % sy, px = u % sx;
        int64_t off = px - g->win.pb[1], lo, hi;
        inside_run(j->wq, sx, off, g->win.in[1], &lo, &hi);
        const uint8_t *xc = j->x + c * g->win.in_size;
        uint8_t *dst = j->xp + u * j->hq * j->wq;
        for (int64_t qy = 0; qy < j->hq; qy++, dst += j->wq) {
            int64_t iy = qy * sy + py - g->win.pb[0];
            if (iy < 0 || iy >= g->win.in[0])
                memset(dst, j->pad, (size_t)j->wq);
            else
                im2col_run(dst, xc + iy * g->win.in[1], 0, j->wq, sx, off, lo, hi, j->pad);
        }
    }
}

static void padded_dims(const lm_conv_geom *g, int64_t *hq, int64_t *wq)
{
    *hq = g->win.out[0] + (g->win.k[0] - 1) * g->win.d[0] / g->win.s[0];
    *wq = g->win.out[1] + (g->win.k[1] - 1) * g->win.d[1] / g->win.s[1];
}

static bool conv_padded_applies(const lm_conv_geom *g, bool direct, bool requant)
{
    if (direct || !requant || g->win.nsp != 2 || lm_env_flag(LM_ENV_QCONV_NO_DIRECT))
        return false;
    int64_t hq, wq;
    padded_dims(g, &hq, &wq);
    return wq * 3 <= g->win.out[1] * 4; /* at most 1/3 more columns (7 -> 9 pays) */
}

/* B's row pointers for @ngs (image, group) pairs: row (c, ky, kx) starts
 * in the phase plane of (ky * dy, kx * dx) at its offset (see above). */
static void conv_padded_rows(const lm_conv_geom *g, const uint8_t *xp, int64_t ngs, int64_t hq,
                             int64_t wq, const void **rows)
{
    int64_t sy = g->win.s[0], sx = g->win.s[1], plane = sy * sx * hq * wq;
    for (int64_t ng = 0; ng < ngs; ng++)
        for (int64_t c = 0; c < g->Cg; c++) {
            const uint8_t *pc = xp + (ng * g->Cg + c) * plane;
            for (int64_t ky = 0; ky < g->win.k[0]; ky++) {
                int64_t ey = ky * g->win.d[0];
                const uint8_t *py = pc + (ey % sy) * sx * hq * wq + (ey / sy) * wq;
                for (int64_t kx = 0; kx < g->win.k[1]; kx++) {
                    int64_t ex = kx * g->win.d[1];
                    *rows++ = py + (ex % sx) * hq * wq + ex / sx;
                }
            }
        }
}

static loom_status conv_padded(lm_kctx *k, const lm_conv_geom *g, conv_job *j, const conv_args *ca,
                               void *yout)
{
    int64_t hq, wq, sy = g->win.s[0], sx = g->win.s[1];
    padded_dims(g, &hq, &wq);
    int64_t ncols = g->win.out[0] * wq, slack = (g->win.k[1] - 1) * g->win.d[1] / sx + 64;
    /* per image: phase planes, row pointers, accumulators over the padded
     * width; hq, wq and the phase count are bounded by the input's extent
     * plus the kernel's, so the products stay small */
    int64_t plane = sy * sx * hq * wq, xp_img = g->C * plane, rows_img = g->group * g->kdim;
    int64_t acc_img = g->M * ncols * (int64_t)sizeof(int32_t), y8_img = g->M * ncols;
    int64_t per_img = xp_img + rows_img * (int64_t)sizeof(void *) + acc_img + y8_img;
    if (per_img > (int64_t)LM_MAX_TENSOR_BYTES)
        return lm_kfail(k, LOOM_ERR_NO_MEMORY, "padded input of %lld bytes is too large",
                        (long long)per_img);
    int64_t nb = CONV_CHUNK_BYTES / per_img;
    nb = nb < 1 ? 1 : nb > g->N ? g->N : nb;
    uint8_t *xp = lm_kscratch(k, (size_t)(nb * xp_img + slack));
    const void **rows = lm_kscratch(k, (size_t)(nb * rows_img) * sizeof(void *));
    int32_t *acc = lm_kscratch(k, (size_t)(nb * acc_img));
    uint8_t *y8 = lm_kscratch(k, (size_t)(nb * y8_img));
    if (!xp || !rows || !acc || !y8)
        return LOOM_ERR_NO_MEMORY;
    j->y8 = y8;
    j->ncols = ncols;
    j->wp = wq;
    j->rows = rows;
    j->acc = acc;
    double tile_cost;
    conv_tiles(k, g, ncols, nb * g->group, (double)g->kdim, j, &tile_cost);
    for (int64_t n0 = 0; n0 < g->N; n0 += nb) {
        int64_t cnt = g->N - n0 < nb ? g->N - n0 : nb;
        pad_job pj = {.g = g,
                      .x = (const uint8_t *)ca->x->data + n0 * g->C * g->win.in_size,
                      .xp = xp,
                      .hq = hq,
                      .wq = wq,
                      .pad = (uint8_t)ca->x_zp};
        /* ~1 ns per byte: short runs of copy and padding */
        PAR(k, cnt * g->C * sy * sx, (double)(hq * wq) + 100.0, pad_planes, &pj);
        conv_padded_rows(g, xp, cnt * g->group, hq, wq, rows);
        j->b = xp; /* unused with rows; the reference path reads rows too */
        j->y = (uint8_t *)yout + n0 * g->M * g->win.out_size;
        PAR(k, cnt * g->group * j->mt * j->nt, tile_cost, conv_run, j);
    }
    return LOOM_OK;
}

/*
 * Picks the path per shape, all bit-exact with one another (test_qconv):
 * depthwise 2-D runs directly (conv_depthwise); 1x1 stride 1 unpadded reads
 * the input as B ("direct"); other 2-D QLinearConv uses the padded phase
 * planes while their dropped columns stay small (conv_padded); the rest
 * writes im2col, per tile when a tile spans all output channels.
 * LOOM_QCONV_NO_DIRECT=1 leaves only direct 1x1 and im2col (the baseline
 * the tests compare with).
 */
static loom_status conv_compute(lm_kctx *k, const lm_conv_geom *g, conv_args *ca, void *yout)
{
    if (dw_applies(g))
        return dw16_applies(g) ? conv_depthwise16(k, g, ca, yout) : conv_depthwise(k, g, ca, yout);
    bool direct = true;
    for (int i = 0; i < g->win.nsp; i++)
        direct = direct && g->win.k[i] == 1 && g->win.s[i] == 1 && g->win.pb[i] == 0 &&
                 g->win.out[i] == g->win.in[i];
    bool requant = ca->out32 == NULL;
    conv_job j = ca->q;
    j.g = g;
    j.w = ca->w->data;
    j.w_signed = ca->w->dtype == LOOM_DTYPE_INT8;
    j.x_signed = ca->x->dtype == LOOM_DTYPE_INT8;
    j.direct = direct;
    j.w_zp = ca->w_zp;
    j.w_zp_per_ch = ca->w_zp_per_ch;
    j.x_zp = &ca->x_zp;
    j.qp = k->prepared;
    j.ncols = g->win.out_size;
    if (requant) {
        float *mult = lm_kscratch(k, (size_t)g->M * sizeof(float));
        if (!mult)
            return LOOM_ERR_NO_MEMORY;
        for (int64_t ch = 0; ch < g->M; ch++)
            mult[ch] = j.x_s * j.w_s[j.w_s_per_ch ? ch : 0] / j.y_s;
        j.mult = mult;
    }
    if (conv_padded_applies(g, direct, requant))
        return conv_padded(k, g, &j, ca, yout);

    /* Scratch per image: the im2col rows of every group, the int32 accumulators
     * before requantization. Each factor is bounded by a real tensor's size;
     * products are checked. */
    int64_t col_img = 0, acc_img = 0, per_img;
    if (!direct && (__builtin_mul_overflow(g->C, g->win.k_size, &col_img) ||
                    __builtin_mul_overflow(col_img, g->win.out_size, &col_img) ||
                    col_img > (int64_t)LM_MAX_TENSOR_BYTES))
        return lm_kfail(
            k, LOOM_ERR_NO_MEMORY,
            "im2col buffer of %lld channels x %lld kernel x %lld positions is too large",
            (long long)g->C, (long long)g->win.k_size, (long long)g->win.out_size);
    if (requant)
        acc_img = g->M * g->win.out_size * (int64_t)sizeof(int32_t); /* 4x one output image */
    per_img = col_img + acc_img;
    int64_t nb = per_img > 0 ? CONV_CHUNK_BYTES / per_img : g->N;
    nb = nb < 1 ? 1 : nb > g->N ? g->N : nb;
    uint8_t *col = NULL;
    int32_t *acc = ca->out32;
    if (col_img > 0 && !(col = lm_kscratch(k, (size_t)(nb * col_img))))
        return LOOM_ERR_NO_MEMORY;
    if (requant && acc_img > 0 && !(acc = lm_kscratch(k, (size_t)(nb * acc_img))))
        return LOOM_ERR_NO_MEMORY;

    double tile_cost;
    conv_tiles(k, g, g->win.out_size, nb * g->group, (double)g->kdim, &j, &tile_cost);
    /* A tile owning all rows owns its columns of the im2col buffer too. */
    j.tile_im2col = !direct && g->win.nsp == 2 && j.mt == 1;
    int64_t img_out = g->M * g->win.out_size; /* elements of one output image */
    for (int64_t n0 = 0; n0 < g->N; n0 += nb) {
        int64_t cnt = g->N - n0 < nb ? g->N - n0 : nb;
        const uint8_t *x = (const uint8_t *)ca->x->data + n0 * g->C * g->win.in_size;
        j.x = x;
        if (!direct && !j.tile_im2col) {
            im2col_job ij = {.g = g, .x = x, .col = col, .pad = (uint8_t)ca->x_zp};
            PAR(k, cnt * g->group * g->kdim, (double)g->win.out_size, im2col_rows, &ij);
        }
        j.b = direct ? x : col;
        j.acc = requant ? acc : ca->out32 + n0 * img_out;
        j.y = requant ? (uint8_t *)yout + n0 * img_out : NULL;
        PAR(k, cnt * g->group * j.mt * j.nt, tile_cost, conv_run, &j);
    }
    return LOOM_OK;
}

static loom_status conv_out(lm_kctx *k, const lm_conv_geom *g, loom_dtype dt, loom_tensor **y)
{
    int64_t dims[LOOM_MAX_RANK];
    dims[0] = g->N;
    dims[1] = g->M;
    for (int i = 0; i < g->win.nsp; i++)
        dims[2 + i] = g->win.out[i];
    *y = lm_kout(k, 0, dt, g->win.nsp + 2, dims);
    return *y ? LOOM_OK : LOOM_ERR_NO_MEMORY;
}

/* w_zero_point / w_scale: one value or one per output channel. */
static loom_status check_per_channel(lm_kctx *k, const char *what, const loom_tensor *t, int64_t M,
                                     bool *per_ch)
{
    *per_ch = false;
    if (!t || is_single(t))
        return LOOM_OK;
    if (t->rank == 1 && t->dims[0] == M) {
        *per_ch = true;
        return LOOM_OK;
    }
    char buf[128];
    return lm_kinvalid(k, "%s of shape %s is neither one value nor one per output channel (%lld)",
                       what, lm_dims_str(t->rank, t->dims, buf, sizeof(buf)), (long long)M);
}

loom_status lm_op_ConvInteger(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 2, 4);
    if (st != LOOM_OK)
        return st;
    const loom_tensor *x = lm_kin(k, 0), *w = lm_kin(k, 1);
    const loom_tensor *xzp = lm_kin(k, 2), *wzp = lm_kin(k, 3);
    if (!is_q8(x->dtype) || !is_q8(w->dtype))
        return lm_kunsupported(k, "x and w must be uint8 or int8, got %s and %s",
                               loom_dtype_name(x->dtype), loom_dtype_name(w->dtype));
    if ((st = check_zp(k, "x_zero_point", xzp, NULL, x->dtype)) != LOOM_OK ||
        (st = check_zp(k, "w_zero_point", wzp, NULL, w->dtype)) != LOOM_OK)
        return st;
    if (xzp && !is_single(xzp))
        return lm_kunsupported(k, "x_zero_point must be one value (per-tensor), got %lld",
                               (long long)lm_tensor_count(xzp));
    lm_conv_geom g;
    if ((st = lm_geom_conv(k->node, x, w, &g)) != LOOM_OK)
        return st;
    conv_args ca = {.x = x, .w = w};
    if ((st = check_per_channel(k, "w_zero_point", wzp, g.M, &ca.w_zp_per_ch)) != LOOM_OK)
        return st;
    loom_tensor *y;
    if ((st = conv_out(k, &g, LOOM_DTYPE_INT32, &y)) != LOOM_OK)
        return st;
    if (k->dry || lm_tensor_count(y) == 0)
        return LOOM_OK;

    const int32_t *xz = lm_q_zp_to_i32(k, xzp, NULL);
    ca.w_zp = lm_q_zp_to_i32(k, wzp, NULL);
    if (!xz || !ca.w_zp)
        return LOOM_ERR_NO_MEMORY;
    ca.x_zp = xz[0];
    ca.out32 = y->data;
    return conv_compute(k, &g, &ca, NULL);
}

loom_status lm_op_QLinearConv(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 8, 9);
    if (st != LOOM_OK)
        return st;
    const loom_tensor *x = lm_kin(k, 0), *xs = lm_kin(k, 1), *xzp = lm_kin(k, 2);
    const loom_tensor *w = lm_kin(k, 3), *ws = lm_kin(k, 4), *wzp = lm_kin(k, 5);
    const loom_tensor *ys = lm_kin(k, 6), *yzp = lm_kin(k, 7), *bias = lm_kin(k, 8);
    if (!is_q8(x->dtype) || !is_q8(w->dtype) || !is_q8(yzp->dtype))
        return lm_kunsupported(k, "x, w and y_zero_point must be uint8 or int8, got %s, %s, %s",
                               loom_dtype_name(x->dtype), loom_dtype_name(w->dtype),
                               loom_dtype_name(yzp->dtype));
    if ((st = check_scale(k, "x_scale", xs)) != LOOM_OK ||
        (st = check_scale(k, "w_scale", ws)) != LOOM_OK ||
        (st = check_scale(k, "y_scale", ys)) != LOOM_OK ||
        (st = check_zp(k, "x_zero_point", xzp, xs, x->dtype)) != LOOM_OK ||
        (st = check_zp(k, "w_zero_point", wzp, NULL, w->dtype)) != LOOM_OK ||
        (st = check_zp(k, "y_zero_point", yzp, ys, yzp->dtype)) != LOOM_OK)
        return st;
    if (!is_single(xs) || !is_single(ys))
        return lm_kinvalid(k, "x_scale and y_scale must be one value (per-tensor)");
    lm_conv_geom g;
    if ((st = lm_geom_conv(k->node, x, w, &g)) != LOOM_OK)
        return st;
    conv_args ca = {.x = x, .w = w};
    if ((st = check_per_channel(k, "w_zero_point", wzp, g.M, &ca.w_zp_per_ch)) != LOOM_OK ||
        (st = check_per_channel(k, "w_scale", ws, g.M, &ca.q.w_s_per_ch)) != LOOM_OK)
        return st;
    if (bias) {
        if (bias->dtype != LOOM_DTYPE_INT32)
            return lm_kinvalid(k, "bias must be int32, got %s", loom_dtype_name(bias->dtype));
        if (bias->rank != 1 || bias->dims[0] != g.M)
            return lm_kinvalid(k, "bias must be 1-D with %lld values (output channels)",
                               (long long)g.M);
    }
    loom_tensor *y;
    if ((st = conv_out(k, &g, yzp->dtype, &y)) != LOOM_OK)
        return st;
    if (k->dry || lm_tensor_count(y) == 0)
        return LOOM_OK;

    const int32_t *xz = lm_q_zp_to_i32(k, xzp, NULL), *yz = lm_q_zp_to_i32(k, yzp, NULL);
    ca.w_zp = lm_q_zp_to_i32(k, wzp, NULL);
    if (!xz || !yz || !ca.w_zp)
        return LOOM_ERR_NO_MEMORY;
    ca.x_zp = xz[0];
    ca.q.y_zp = yz[0];
    ca.q.y_signed = yzp->dtype == LOOM_DTYPE_INT8;
    ca.q.bias = bias ? bias->data : NULL;
    ca.q.x_s = *(const float *)xs->data;
    ca.q.y_s = *(const float *)ys->data;
    ca.q.w_s = ws->data;
    return conv_compute(k, &g, &ca, y->data);
}

loom_status lm_prepare_ConvInteger(lm_kctx *k)
{
    return lm_q_prepare(k, lm_op_ConvInteger, 1, true);
}

loom_status lm_prepare_QLinearConv(lm_kctx *k)
{
    return lm_q_prepare(k, lm_op_QLinearConv, 3, true);
}
