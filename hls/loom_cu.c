/*
 * The CU contract's bookkeeping: kind names, argument counts and the
 * descriptor checks the card runs before it starts a CU (see loom_cu.h).
 * Every product is formed in 64 bits against explicit limits, so a hostile
 * descriptor can neither overflow an extent nor make a CU loop forever.
 */
#include "loom_cu.h"

#include <string.h>

static const char *const kind_names[LOOM_CU_KIND_MAX + 1] = {
    [LOOM_CU_KIND_NOOP] = LOOM_CU_NAME_NOOP,   [LOOM_CU_KIND_MEMCPY] = LOOM_CU_NAME_MEMCPY,
    [LOOM_CU_KIND_VADD] = LOOM_CU_NAME_VADD,   [LOOM_CU_KIND_QGEMM] = LOOM_CU_NAME_QGEMM,
    [LOOM_CU_KIND_QCONV] = LOOM_CU_NAME_QCONV, [LOOM_CU_KIND_POOL] = LOOM_CU_NAME_POOL,
    [LOOM_CU_KIND_QADD] = LOOM_CU_NAME_QADD,
};

const char *loom_cu_kind_name(uint32_t kind)
{
    return kind >= LOOM_CU_KIND_MIN && kind <= LOOM_CU_KIND_MAX ? kind_names[kind] : NULL;
}

uint32_t loom_cu_kind_from_name(const char *name)
{
    uint32_t k;

    for (k = LOOM_CU_KIND_MIN; name && k <= LOOM_CU_KIND_MAX; k++)
        if (!strcmp(name, kind_names[k]))
            return k;
    return 0;
}

uint32_t loom_cu_nargs(uint32_t kind, uint32_t flags)
{
    switch (kind) {
    case LOOM_CU_KIND_NOOP:
        return 0;
    case LOOM_CU_KIND_MEMCPY:
        return 3;
    case LOOM_CU_KIND_VADD:
        return 4;
    case LOOM_CU_KIND_QGEMM:
    case LOOM_CU_KIND_QCONV:
        return flags & LOOM_CU_F_BIAS ? 5 : 4;
    case LOOM_CU_KIND_POOL:
        return 3;
    case LOOM_CU_KIND_QADD:
        return 4;
    }
    return 0;
}

static const struct loom_cu_arg args_memcpy[] = {{"dst", 1}, {"src", 1}, {"bytes", 0}};
static const struct loom_cu_arg args_vadd[] = {{"out", 1}, {"a", 1}, {"b", 1}, {"n", 0}};
static const struct loom_cu_arg args_qgemm[] = {
    {"desc", 1}, {"a", 1}, {"b", 1}, {"y", 1}, {"bias", 1}};
static const struct loom_cu_arg args_qconv[] = {
    {"desc", 1}, {"x", 1}, {"w", 1}, {"y", 1}, {"bias", 1}};
static const struct loom_cu_arg args_pool[] = {{"desc", 1}, {"x", 1}, {"y", 1}};
static const struct loom_cu_arg args_qadd[] = {{"desc", 1}, {"a", 1}, {"b", 1}, {"y", 1}};

#define ARGS(a) (*n = sizeof(a) / sizeof(a[0]), a)

const struct loom_cu_arg *loom_cu_args(uint32_t kind, uint32_t *n)
{
    switch (kind) {
    case LOOM_CU_KIND_MEMCPY:
        return ARGS(args_memcpy);
    case LOOM_CU_KIND_VADD:
        return ARGS(args_vadd);
    case LOOM_CU_KIND_QGEMM:
        return ARGS(args_qgemm);
    case LOOM_CU_KIND_QCONV:
        return ARGS(args_qconv);
    case LOOM_CU_KIND_POOL:
        return ARGS(args_pool);
    case LOOM_CU_KIND_QADD:
        return ARGS(args_qadd);
    }
    *n = 0;
    return NULL;
}

uint32_t loom_cu_desc_size(uint32_t kind)
{
    switch (kind) {
    case LOOM_CU_KIND_QGEMM:
        return sizeof(struct loom_cu_qgemm_desc);
    case LOOM_CU_KIND_QCONV:
        return sizeof(struct loom_cu_qconv_desc);
    case LOOM_CU_KIND_POOL:
        return sizeof(struct loom_cu_pool_desc);
    case LOOM_CU_KIND_QADD:
        return sizeof(struct loom_cu_qadd_desc);
    }
    return 0;
}

void loom_cu_hdr_init(struct loom_cu_hdr *h, uint32_t kind, uint32_t size, uint32_t flags)
{
    h->magic = LOOM_CU_DESC_MAGIC;
    h->version = LOOM_CU_DESC_VERSION;
    h->kind = (uint16_t)kind;
    h->size = size;
    h->flags = flags;
}

/* ------------------------------------------------------------- checks */

#define FAIL(msg)                                                                                  \
    do {                                                                                           \
        *why = (msg);                                                                              \
        return -1;                                                                                 \
    } while (0)

/* a * b into *r, failing past LOOM_CU_MAX_ELEMS. */
static int mul_ok(uint64_t a, uint64_t b, uint64_t *r)
{
    if (a && b > LOOM_CU_MAX_ELEMS / a)
        return 0;
    *r = a * b;
    return *r <= LOOM_CU_MAX_ELEMS;
}

static int dim_ok(uint32_t d)
{
    return d >= 1 && d <= LOOM_CU_MAX_DIM;
}

static int in_type(int32_t v, int u8)
{
    return u8 ? v >= 0 && v <= 255 : v >= -128 && v <= 127;
}

static int check_hdr(uint32_t kind, const struct loom_cu_hdr *h, uint64_t len, uint32_t allowed,
                     const char **why)
{
    if (len < sizeof(*h) || h->magic != LOOM_CU_DESC_MAGIC)
        FAIL("descriptor magic is not LCUD");
    if (h->version != LOOM_CU_DESC_VERSION)
        FAIL("descriptor version unknown");
    if (h->kind != kind)
        FAIL("descriptor is for another CU kind");
    if (h->size != loom_cu_desc_size(kind) || len < h->size)
        FAIL("descriptor size differs from its version's");
    if (h->flags & ~allowed)
        FAIL("descriptor flags unknown for this kind");
    return 0;
}

static int check_quant(const struct loom_cu_quant *q, uint32_t flags, int with_w, const char **why)
{
    if (!in_type(q->x_zp, flags & LOOM_CU_F_X_U8) || !in_type(q->y_zp, flags & LOOM_CU_F_Y_U8))
        FAIL("zero point outside its type");
    if (with_w ? !in_type(q->w_zp, flags & LOOM_CU_F_W_U8) : q->w_zp != 0)
        FAIL("weight zero point outside its type");
    if (q->act_min > q->act_max || !in_type(q->act_min, flags & LOOM_CU_F_Y_U8) ||
        !in_type(q->act_max, flags & LOOM_CU_F_Y_U8))
        FAIL("activation clamp outside the output type");
    if (q->rq_count && (q->rq_addr & 3))
        FAIL("requantization table not 4-byte aligned");
    return 0;
}

static int check_qgemm(const struct loom_cu_qgemm_desc *d, struct loom_cu_extent *e,
                       const char **why)
{
    uint64_t mk, kn, mn, t;

    if (check_quant(&d->q, d->hdr.flags, 1, why))
        return -1;
    if (!dim_ok(d->batch) || !dim_ok(d->m) || !dim_ok(d->n) || !dim_ok(d->k))
        FAIL("a GEMM dimension is zero or too large");
    if (d->k > LOOM_CU_MAX_K)
        FAIL("K exceeds the accumulator's bound");
    if (d->q.rq_count != 1 && d->q.rq_count != d->n)
        FAIL("requantization entries are neither 1 nor N");
    if (!mul_ok(d->m, d->k, &mk) || !mul_ok(d->k, d->n, &kn) || !mul_ok(d->m, d->n, &mn))
        FAIL("a GEMM operand is too large");
    if (d->batch > 1 && d->y_stride < mn)
        FAIL("output matrices overlap (y_stride < M*N)");
    e->nbufs = d->hdr.flags & LOOM_CU_F_BIAS ? 4 : 3;
    if (!mul_ok(d->batch - 1, d->a_stride, &t) || (e->bytes[0] = t + mk) > LOOM_CU_MAX_ELEMS ||
        !mul_ok(d->batch - 1, d->b_stride, &t) || (e->bytes[1] = t + kn) > LOOM_CU_MAX_ELEMS ||
        !mul_ok(d->batch - 1, d->y_stride, &t) || (e->bytes[2] = t + mn) > LOOM_CU_MAX_ELEMS)
        FAIL("a batch stride overflows");
    e->bytes[3] = (uint64_t)d->n * 4;
    e->align[0] = e->align[1] = e->align[2] = 1;
    e->align[3] = 4;
    e->rq_bytes = (uint64_t)d->q.rq_count * sizeof(struct loom_rq);
    return 0;
}

/* Output size of a window op: floor form, or with @ceil the ceil_mode form. */
static uint64_t win_out(uint32_t in, uint32_t p0, uint32_t p1, uint32_t k, uint32_t dil,
                        uint32_t stride, int ceil)
{
    uint64_t span = (uint64_t)in + p0 + p1, ext = (uint64_t)dil * (k - 1) + 1, o;

    if (ext > span)
        return 0;
    o = (span - ext) / stride + 1;
    if (ceil && (span - ext) % stride) {
        o++;
        /* the last window must start inside the input or the left pad */
        if ((o - 1) * stride >= (uint64_t)in + p0)
            o--;
    }
    return o;
}

static int check_geom(uint32_t h, uint32_t w, uint32_t kh, uint32_t kw, uint32_t sh, uint32_t sw,
                      uint32_t dh, uint32_t dw, uint32_t pt, uint32_t pl, uint32_t pb, uint32_t pr,
                      const char **why)
{
    if (!dim_ok(h) || !dim_ok(w) || !dim_ok(kh) || !dim_ok(kw))
        FAIL("a spatial dimension is zero or too large");
    if (!dim_ok(sh) || !dim_ok(sw) || !dim_ok(dh) || !dim_ok(dw))
        FAIL("stride or dilation zero or too large");
    if (pt > LOOM_CU_MAX_DIM || pl > LOOM_CU_MAX_DIM || pb > LOOM_CU_MAX_DIM ||
        pr > LOOM_CU_MAX_DIM)
        FAIL("padding too large");
    return 0;
}

static int check_qconv(const struct loom_cu_qconv_desc *d, struct loom_cu_extent *e,
                       const char **why)
{
    uint64_t t, kk;

    if (check_quant(&d->q, d->hdr.flags, 1, why))
        return -1;
    if (d->reserved[0] || d->reserved[1])
        FAIL("reserved descriptor fields are not zero");
    if (!dim_ok(d->n) || !dim_ok(d->c) || !dim_ok(d->m) || !dim_ok(d->group))
        FAIL("a conv dimension is zero or too large");
    if (check_geom(d->h, d->w, d->kh, d->kw, d->stride_h, d->stride_w, d->dil_h, d->dil_w, d->pad_t,
                   d->pad_l, d->pad_b, d->pad_r, why))
        return -1;
    if (d->c % d->group || d->m % d->group)
        FAIL("channels are not a multiple of the groups");
    if (!mul_ok((uint64_t)(d->c / d->group) * d->kh, d->kw, &kk) || kk > LOOM_CU_MAX_K)
        FAIL("K = C/group*KH*KW exceeds the accumulator's bound");
    if (d->oh != win_out(d->h, d->pad_t, d->pad_b, d->kh, d->dil_h, d->stride_h, 0) ||
        d->ow != win_out(d->w, d->pad_l, d->pad_r, d->kw, d->dil_w, d->stride_w, 0))
        FAIL("output size does not follow from input, kernel, pads, stride, dilation");
    if (d->q.rq_count != 1 && d->q.rq_count != d->m)
        FAIL("requantization entries are neither 1 nor M");
    e->nbufs = d->hdr.flags & LOOM_CU_F_BIAS ? 4 : 3;
    if (!mul_ok((uint64_t)d->n * d->c, (uint64_t)d->h * d->w, &e->bytes[0]) ||
        !mul_ok(d->m, kk, &e->bytes[1]) ||
        !mul_ok((uint64_t)d->n * d->m, (uint64_t)d->oh * d->ow, &e->bytes[2]))
        FAIL("a conv operand is too large");
    (void)t;
    e->bytes[3] = (uint64_t)d->m * 4;
    e->align[0] = e->align[1] = e->align[2] = 1;
    e->align[3] = 4;
    e->rq_bytes = (uint64_t)d->q.rq_count * sizeof(struct loom_rq);
    return 0;
}

static int check_pool(const struct loom_cu_pool_desc *d, struct loom_cu_extent *e, const char **why)
{
    int avg = !!(d->hdr.flags & LOOM_CU_F_POOL_AVG);
    uint32_t i;

    if (check_quant(&d->q, d->hdr.flags, 0, why))
        return -1;
    for (i = 0; i < 4; i++)
        if (d->reserved[i])
            FAIL("reserved descriptor fields are not zero");
    if (!dim_ok(d->n) || !dim_ok(d->c))
        FAIL("a pool dimension is zero or too large");
    if (check_geom(d->h, d->w, d->kh, d->kw, d->stride_h, d->stride_w, d->dil_h, d->dil_w, d->pad_t,
                   d->pad_l, d->pad_b, d->pad_r, why))
        return -1;
    if ((uint64_t)d->kh * d->kw > LOOM_CU_MAX_WINDOW)
        FAIL("pooling window larger than the CU's bound");
    if (d->pad_t >= (uint64_t)d->dil_h * (d->kh - 1) + 1 ||
        d->pad_b >= (uint64_t)d->dil_h * (d->kh - 1) + 1 ||
        d->pad_l >= (uint64_t)d->dil_w * (d->kw - 1) + 1 ||
        d->pad_r >= (uint64_t)d->dil_w * (d->kw - 1) + 1)
        FAIL("padding must be smaller than the window");
    if ((d->oh != win_out(d->h, d->pad_t, d->pad_b, d->kh, d->dil_h, d->stride_h, 0) &&
         d->oh != win_out(d->h, d->pad_t, d->pad_b, d->kh, d->dil_h, d->stride_h, 1)) ||
        (d->ow != win_out(d->w, d->pad_l, d->pad_r, d->kw, d->dil_w, d->stride_w, 0) &&
         d->ow != win_out(d->w, d->pad_l, d->pad_r, d->kw, d->dil_w, d->stride_w, 1)) ||
        !d->oh || !d->ow)
        FAIL("output size follows neither the floor nor the ceil rule");
    if (avg ? d->q.rq_count != d->kh * d->kw : d->q.rq_count > 1)
        FAIL("requantization entries: avg needs KH*KW, max 0 or 1");
    if (!avg && !d->q.rq_count &&
        (d->hdr.flags & LOOM_CU_F_X_U8) != ((d->hdr.flags & LOOM_CU_F_Y_U8) >> 2))
        FAIL("max pooling without requantization keeps the input type");
    if (!avg && (d->hdr.flags & LOOM_CU_F_COUNT_PAD))
        FAIL("count_include_pad is for average pooling");
    e->nbufs = 2;
    if (!mul_ok((uint64_t)d->n * d->c, (uint64_t)d->h * d->w, &e->bytes[0]) ||
        !mul_ok((uint64_t)d->n * d->c, (uint64_t)d->oh * d->ow, &e->bytes[1]))
        FAIL("a pool operand is too large");
    e->align[0] = e->align[1] = 1;
    e->rq_bytes = (uint64_t)d->q.rq_count * sizeof(struct loom_rq);
    return 0;
}

/* Bytes an operand spans: 1 + sum (dims[i] - 1) * strides[i]. */
static int span_ok(const uint32_t *dims, const uint32_t *strides, uint64_t *bytes)
{
    uint64_t s = 1, t;
    int i;

    for (i = 0; i < 4; i++) {
        if (!mul_ok(dims[i] - 1, strides[i], &t))
            return 0;
        s += t;
    }
    *bytes = s;
    return s <= LOOM_CU_MAX_ELEMS;
}

static int check_qadd(const struct loom_cu_qadd_desc *d, struct loom_cu_extent *e, const char **why)
{
    uint32_t f = d->hdr.flags;
    uint64_t n = 1;
    int i;

    if (d->reserved[0] || d->reserved[1])
        FAIL("reserved descriptor fields are not zero");
    if (!in_type(d->a_zp, f & LOOM_CU_F_X_U8) || !in_type(d->b_zp, f & LOOM_CU_F_W_U8) ||
        !in_type(d->y_zp, f & LOOM_CU_F_Y_U8))
        FAIL("zero point outside its type");
    if (d->act_min > d->act_max || !in_type(d->act_min, f & LOOM_CU_F_Y_U8) ||
        !in_type(d->act_max, f & LOOM_CU_F_Y_U8))
        FAIL("activation clamp outside the output type");
    if (d->a_mult < 0 || d->b_mult < 0 || d->shift < 1 || d->shift > 63)
        FAIL("multipliers negative or shift outside 1..63");
    for (i = 0; i < 4; i++)
        if (!dim_ok(d->dims[i]) || !mul_ok(n, d->dims[i], &n))
            FAIL("a dimension is zero or the output too large");
    e->nbufs = 3;
    if (!span_ok(d->dims, d->a_strides, &e->bytes[0]) ||
        !span_ok(d->dims, d->b_strides, &e->bytes[1]))
        FAIL("an input's strides reach too far");
    e->bytes[2] = n;
    e->align[0] = e->align[1] = e->align[2] = 1;
    e->rq_bytes = 0;
    return 0;
}

int loom_cu_check(uint32_t kind, const void *desc, uint64_t len, struct loom_cu_extent *ext,
                  const char **why)
{
    const char *dummy;
    const struct loom_cu_hdr *h = desc;

    if (!why)
        why = &dummy;
    memset(ext, 0, sizeof(*ext));
    switch (kind) {
    case LOOM_CU_KIND_QGEMM:
        if (check_hdr(kind, h, len,
                      LOOM_CU_F_X_U8 | LOOM_CU_F_W_U8 | LOOM_CU_F_Y_U8 | LOOM_CU_F_BIAS |
                          LOOM_CU_F_TRANS_B,
                      why))
            return -1;
        return check_qgemm(desc, ext, why);
    case LOOM_CU_KIND_QCONV:
        if (check_hdr(kind, h, len,
                      LOOM_CU_F_X_U8 | LOOM_CU_F_W_U8 | LOOM_CU_F_Y_U8 | LOOM_CU_F_BIAS, why))
            return -1;
        return check_qconv(desc, ext, why);
    case LOOM_CU_KIND_POOL:
        if (check_hdr(kind, h, len,
                      LOOM_CU_F_X_U8 | LOOM_CU_F_Y_U8 | LOOM_CU_F_POOL_AVG | LOOM_CU_F_COUNT_PAD,
                      why))
            return -1;
        return check_pool(desc, ext, why);
    case LOOM_CU_KIND_QADD:
        if (check_hdr(kind, h, len, LOOM_CU_F_X_U8 | LOOM_CU_F_W_U8 | LOOM_CU_F_Y_U8, why))
            return -1;
        return check_qadd(desc, ext, why);
    }
    FAIL("CU kind has no descriptor");
}
