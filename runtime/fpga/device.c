/*
 * device.c - the FPGA backend: a Loom card (any shim) as a runtime device.
 *
 * What runs on the card: QLinearConv (2-D, groups, stride, pad, dilation) on
 * the QCONV CU, QLinearMatMul with constant 2-D weights on QGEMM, int8
 * MaxPool and Max(x, constant) on POOL. fuse_qdq.c turns a QDQ model's
 * Relu into Max(y, y_zero_point) after the int8 operator; when that Max
 * directly follows its producer in a segment it becomes the producer's
 * act_min instead of a command of its own.
 *
 * compile() takes the weights and biases from the process's store of device
 * copies (core/prepared.c: a BO per constant, written once per card however
 * many plans and models use it), lays out a constants BO of the segment's
 * own (requantization tables and descriptors, which depend on the shapes;
 * written once per plan) and an activation set (a BO for every non-constant value the segment
 * touches, and the command chain pointing into it). run() takes a free activation set, writes the
 * segment's inputs, submits the whole chain of START_CU commands, waits once and reads the outputs
 * back. Concurrent runs of a segment get sets of their own (up to LM_FPGA_MAX_SETS), so one run's
 * uploads and read-backs overlap another's compute on the card.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../hls/loom_cu.h"
#include "core/backend.h"
#include "core/device.h"
#include "core/env.h"
#include "core/error.h"
#include "core/prepared.h"
#include "core/log.h"
#include "core/opgeom.h"
#include "fpga.h"
#include "shim.h"
#include "visible.h"

typedef struct fpga_device {
    lm_device dev;
    lm_card *card;
    pthread_mutex_t lock;                 /* Protects programmed and cu_of_kind. */
    int programmed;                       /* 0 not yet tried, 1 ok, -1 failed */
    int cu_of_kind[LOOM_CU_KIND_MAX + 1]; /* a CU index per kind, -1 if none */
    uint64_t runs, commands, cycles;      /* totals, updated atomically */
} fpga_device;

/* ------------------------------------------------------------ programming */

static void map_cus(fpga_device *fd, const lm_card_info *info)
{
    for (int k = 0; k <= LOOM_CU_KIND_MAX; k++)
        fd->cu_of_kind[k] = -1;
    for (int i = 0; i < info->n_cus; i++) {
        uint32_t kind = info->cus[i].kind;
        if (!kind) {
            char name[64];
            snprintf(name, sizeof(name), "%s", info->cus[i].name);
            char *colon = strchr(name, ':');
            if (colon)
                *colon = 0;
            kind = loom_cu_kind_from_name(name);
        }
        if (kind >= LOOM_CU_KIND_MIN && kind <= LOOM_CU_KIND_MAX && fd->cu_of_kind[kind] < 0)
            fd->cu_of_kind[kind] = i;
    }
}

/* Maps the card's CUs; with @load_default, first programs the default xclbin
 * when the card carries none of the int8 CUs. Once per device (again after
 * fd_program()); the result is remembered. */
static bool ensure_programmed(fpga_device *fd, bool load_default)
{
    pthread_mutex_lock(&fd->lock);
    if (!fd->programmed) {
        lm_card_info *info = malloc(sizeof(*info));
        fd->programmed = -1;
        if (info && !lm_card_info_get(fd->card, info)) {
            map_cus(fd, info);
            if (load_default && fd->cu_of_kind[LOOM_CU_KIND_QCONV] < 0 &&
                fd->cu_of_kind[LOOM_CU_KIND_QGEMM] < 0) {
                const char *path = lm_card_default_xclbin();
                if (path && !lm_card_program_file(fd->card, path) &&
                    !lm_card_info_get(fd->card, info))
                    map_cus(fd, info);
            }
            if (fd->cu_of_kind[LOOM_CU_KIND_QCONV] >= 0 || fd->cu_of_kind[LOOM_CU_KIND_QGEMM] >= 0)
                fd->programmed = 1;
        }
        free(info);
    }
    bool ok = fd->programmed > 0;
    pthread_mutex_unlock(&fd->lock);
    return ok;
}

/* ------------------------------------------------------------ supports */

static bool is_q8(loom_dtype dt)
{
    return dt == LOOM_DTYPE_INT8 || dt == LOOM_DTYPE_UINT8;
}

static bool const_scalar(const loom_tensor *t, loom_dtype dt)
{
    return t && t->data && t->dtype == dt && lm_tensor_count(t) == 1;
}

/* A zero point that is per tensor, or per channel with every entry equal. */
static bool uniform_zp(const loom_tensor *z, int32_t *zp)
{
    if (!z) {
        *zp = 0;
        return true;
    }
    if (!z->data || !is_q8(z->dtype) || lm_tensor_count(z) < 1)
        return false;
    *zp = (int32_t)lm_tensor_get_i64(z, 0);
    for (int64_t i = 1; i < lm_tensor_count(z); i++)
        if (lm_tensor_get_i64(z, i) != *zp)
            return false;
    return true;
}

/* Whether the CUs' descriptors carry window @g: every extent below LOOM_CU_MAX_DIM. */
static bool window_fits(const lm_conv2d_geom *g)
{
    const int64_t v[] = {g->KH, g->KW, g->sh, g->sw, g->dh, g->dw, g->pt, g->pl, g->pb, g->pr};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        if (v[i] < 0 || v[i] >= (int64_t)LOOM_CU_MAX_DIM)
            return false;
    return true;
}

/* The window fields QCONV and POOL descriptors share (the same names in
 * different layouts), from core's geometry. */
#define DESC_WINDOW(d, g)                                                                          \
    do {                                                                                           \
        (d)->c = (uint32_t)(g)->C;                                                                 \
        (d)->h = (uint32_t)(g)->H;                                                                 \
        (d)->w = (uint32_t)(g)->W;                                                                 \
        (d)->oh = (uint32_t)(g)->OH;                                                               \
        (d)->ow = (uint32_t)(g)->OW;                                                               \
        (d)->kh = (uint32_t)(g)->KH;                                                               \
        (d)->kw = (uint32_t)(g)->KW;                                                               \
        (d)->stride_h = (uint32_t)(g)->sh;                                                         \
        (d)->stride_w = (uint32_t)(g)->sw;                                                         \
        (d)->pad_t = (uint32_t)(g)->pt;                                                            \
        (d)->pad_l = (uint32_t)(g)->pl;                                                            \
        (d)->pad_b = (uint32_t)(g)->pb;                                                            \
        (d)->pad_r = (uint32_t)(g)->pr;                                                            \
        (d)->dil_h = (uint32_t)(g)->dh;                                                            \
        (d)->dil_w = (uint32_t)(g)->dw;                                                            \
    } while (0)

static bool dims_fit(const loom_tensor *t)
{
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] <= 0 || t->dims[i] >= (int64_t)LOOM_CU_MAX_DIM)
            return false;
    return lm_tensor_count(t) > 0 && (uint64_t)lm_tensor_count(t) < LOOM_CU_MAX_ELEMS;
}

/* Every x_scale * w_scale[c] / y_scale has a requantization table entry (a
 * finite non-negative float, y_scale > 0); otherwise the CPU takes the node. */
static bool scales_fit(const loom_tensor *xs, const loom_tensor *ws, const loom_tensor *ys)
{
    const float *w = ws->data;
    struct loom_rq rq;
    for (int64_t c = 0; c < lm_tensor_count(ws); c++)
        if (loom_rq_from_qlinear(*(const float *)xs->data, w[c], *(const float *)ys->data, &rq))
            return false;
    return true;
}

static bool supports_qconv(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in < 8 || n->n_out != 1)
        return false;
    for (int i = 0; i < 8; i++)
        if (!in[i])
            return false;
    const loom_tensor *x = in[0], *w = in[3];
    if (!is_q8(x->dtype) || x->rank != 4 || !dims_fit(x) || !w->data || !is_q8(w->dtype) ||
        w->rank != 4 || !dims_fit(w))
        return false;
    if (!const_scalar(in[1], LOOM_DTYPE_FLOAT) || !const_scalar(in[6], LOOM_DTYPE_FLOAT) ||
        !const_scalar(in[2], x->dtype) || !in[7]->data || !is_q8(in[7]->dtype) ||
        lm_tensor_count(in[7]) != 1)
        return false;
    int32_t zp;
    if (!in[4]->data || in[4]->dtype != LOOM_DTYPE_FLOAT || !uniform_zp(in[5], &zp) ||
        (lm_tensor_count(in[4]) != 1 && lm_tensor_count(in[4]) != w->dims[0]))
        return false;
    if (n->n_in > 8 && in[8] &&
        (!in[8]->data || in[8]->dtype != LOOM_DTYPE_INT32 || lm_tensor_count(in[8]) != w->dims[0]))
        return false;
    if (!scales_fit(in[1], in[4], in[6]))
        return false;
    lm_conv_geom g;
    return lm_geom_conv(n, x, w, &g) == LOOM_OK && g.kdim <= (int64_t)LOOM_CU_MAX_K;
}

static bool supports_qmatmul(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in != 8 || n->n_out != 1)
        return false;
    for (int i = 0; i < 8; i++)
        if (!in[i])
            return false;
    const loom_tensor *a = in[0], *b = in[3];
    if (!is_q8(a->dtype) || a->rank < 2 || !dims_fit(a) || !b->data || !is_q8(b->dtype) ||
        b->rank != 2 || a->dims[a->rank - 1] != b->dims[0] || b->dims[0] > (int64_t)LOOM_CU_MAX_K)
        return false;
    int32_t zp;
    return const_scalar(in[1], LOOM_DTYPE_FLOAT) && const_scalar(in[6], LOOM_DTYPE_FLOAT) &&
           const_scalar(in[2], a->dtype) && in[7]->data && is_q8(in[7]->dtype) &&
           lm_tensor_count(in[7]) == 1 && in[4]->data && in[4]->dtype == LOOM_DTYPE_FLOAT &&
           (lm_tensor_count(in[4]) == 1 || lm_tensor_count(in[4]) == b->dims[1]) &&
           uniform_zp(in[5], &zp) && scales_fit(in[1], in[4], in[6]);
}

static bool supports_maxpool(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in != 1 || (n->n_out > 1 && n->out[1] >= 0) || !in[0] || !is_q8(in[0]->dtype) ||
        in[0]->rank != 4 || !dims_fit(in[0]))
        return false;
    lm_pool_geom g;
    return lm_geom_pool(n, in[0], &g) == LOOM_OK && !g.col_major &&
           g.win.k_size <= (int64_t)LOOM_CU_MAX_WINDOW;
}

static bool fd_supports(lm_device *dev, const lm_node *n, loom_tensor *const *in)
{
    fpga_device *fd = (fpga_device *)dev;
    if (n->domain && n->domain[0])
        return false;
    int kind = 0;
    bool ok = false;
    if (strcmp(n->op_type, "QLinearConv") == 0) {
        kind = LOOM_CU_KIND_QCONV;
        ok = supports_qconv(n, in);
    } else if (strcmp(n->op_type, "QLinearMatMul") == 0) {
        kind = LOOM_CU_KIND_QGEMM;
        ok = supports_qmatmul(n, in);
    } else if (strcmp(n->op_type, "MaxPool") == 0) {
        kind = LOOM_CU_KIND_POOL;
        ok = supports_maxpool(n, in);
    } else if (strcmp(n->op_type, "Max") == 0) {
        /* Max(x, c): a fused clamp, or a 1x1 max pool with act_min = c. */
        kind = LOOM_CU_KIND_POOL;
        ok = n->n_in == 2 && in[0] && in[1] && is_q8(in[0]->dtype) && dims_fit(in[0]) &&
             const_scalar(in[1], in[0]->dtype) && lm_tensor_count(in[0]) < (int64_t)LOOM_CU_MAX_DIM;
    }
    /* Programmed when discovered: a query never touches the card. */
    return ok && fd->programmed > 0 && fd->cu_of_kind[kind] >= 0;
}

/* ------------------------------------------------------------ compile */

/* Where a value lives on the card. */
typedef struct slot {
    int bo; /* SLOT_SEGMENT, SLOT_ACT or SLOT_SHARED; -1 none yet */
    uint64_t off;
    uint64_t bytes;
    const lm_card_bo *shared; /* SLOT_SHARED: the device copy of a constant */
} slot;

/* Where a command argument lives. */
enum {
    SLOT_SEGMENT, /* the segment's constants BO: descriptors, tables */
    SLOT_ACT,     /* an activation set, chosen per run */
    SLOT_SHARED,  /* a constant's BO from the process's store (core/prepared.c) */
};

/* A constant's copy on a card, shared by every segment that uses it. */
typedef struct card_const {
    lm_card *card;
    lm_card_bo bo;
} card_const;

/* Activation sets a segment keeps at most: that many runs of it can be in
 * flight, one uploading or reading back while another computes. */
#define LM_FPGA_MAX_SETS 4

/* One activation BO and the command chain that uses it. */
typedef struct act_set {
    lm_card_bo bo;
    lm_card_cmd *cmds;
    bool busy;
} act_set;

typedef struct fpga_segment {
    pthread_mutex_t lock; /* Protects n_sets and sets[].busy. */
    pthread_cond_t freed; /* signalled when a set is given back */
    lm_card_bo consts;    /* weights, bias, tables, descriptors */
    uint64_t act_bytes;   /* size of one activation set */
    int n_cmds;
    lm_card_cmd *tmpl; /* the chain; activation arguments have bo == NULL */
    int n_sets;
    act_set sets[LM_FPGA_MAX_SETS];
    int n_in, n_out;
    uint64_t *in_off, *out_off, *in_bytes, *out_bytes;
} fpga_segment;

typedef struct builder {
    lm_device *dev;
    const lm_segment_desc *d;
    slot *slots;
    uint8_t *consts; /* host image of the constants BO */
    uint64_t const_size, const_cap, act_size;
} builder;

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/* Appends @n bytes (aligned to 8) to the constants image; returns the offset or -1. */
static int64_t put_const(builder *b, const void *src, uint64_t n)
{
    uint64_t at = align_up(b->const_size, 8);
    if (at + n > b->const_cap) {
        uint64_t cap = b->const_cap ? b->const_cap : 4096;
        while (cap < at + n)
            cap *= 2;
        uint8_t *g = realloc(b->consts, cap);
        if (!g)
            return -1;
        memset(g + b->const_cap, 0, cap - b->const_cap);
        b->consts = g;
        b->const_cap = cap;
    }
    if (src)
        memcpy(b->consts + at, src, n);
    b->const_size = at + n;
    return (int64_t)at;
}

static void free_card_const(void *data)
{
    card_const *cc = data;
    lm_card_bo_free(cc->card, &cc->bo);
    free(cc);
}

/* The store's upload (lm_devconst_upload_fn): a BO of the constant's bytes. */
static loom_status upload_card_const(lm_device *dev, void *arg, void **data, size_t *bytes)
{
    const loom_tensor *c = arg;
    card_const *cc = calloc(1, sizeof(*cc));
    if (!cc)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    cc->card = ((fpga_device *)dev)->card;
    uint64_t n = (uint64_t)lm_tensor_count(c) * loom_dtype_size(c->dtype);
    loom_status s = lm_card_bo_alloc(cc->card, n ? n : 8, &cc->bo);
    if (!s && n)
        s = lm_card_bo_write(cc->card, &cc->bo, 0, c->data, n);
    if (s) {
        free_card_const(cc);
        return s;
    }
    *data = cc;
    *bytes = cc->bo.size;
    return LOOM_OK;
}

/* The slot of value @v: constants are the card's shared copies, others get
 * activation space. */
static loom_status value_slot(builder *b, int v, slot *out)
{
    if (b->slots[v].bo < 0) {
        const loom_tensor *c = b->d->constant[v];
        const loom_tensor *t = c ? c : b->d->shape[v];
        if (!t)
            return lm_error(LOOM_ERR_INVALID_MODEL, "value '%s' has no shape on the card",
                            b->d->g->values[v].name);
        uint64_t bytes = (uint64_t)lm_tensor_count(t) * loom_dtype_size(t->dtype);
        if (c) {
            void *cc;
            loom_status s = lm_devconst_get(b->dev, b->d, v, 0, upload_card_const, free_card_const,
                                            (void *)c, &cc);
            if (s)
                return s;
            b->slots[v] = (slot){SLOT_SHARED, 0, bytes, &((card_const *)cc)->bo};
        } else {
            uint64_t at = align_up(b->act_size, 64);
            b->act_size = at + (bytes ? bytes : 1);
            b->slots[v] = (slot){SLOT_ACT, at, bytes, NULL};
        }
    }
    *out = b->slots[v];
    return LOOM_OK;
}

/* The pending command list; args name BO indices until the BOs exist. */
typedef struct pcmd {
    uint32_t kind;
    int n_args;
    slot args[LM_CARD_MAX_ARGS];
} pcmd;

static int32_t zp_of(const loom_tensor *t)
{
    return t ? (int32_t)lm_tensor_get_i64(t, 0) : 0;
}

static float f32_at(const loom_tensor *t, int64_t i)
{
    return ((const float *)t->data)[lm_tensor_count(t) == 1 ? 0 : i];
}

/* Requantization table for per-channel (count) scales; returns its offset. */
static loom_status rq_table(builder *b, const lm_node *n, float xs, const loom_tensor *ws, float ys,
                            int64_t count, struct loom_cu_quant *q)
{
    int64_t entries = lm_tensor_count(ws) == 1 ? 1 : count;
    struct loom_rq *rq = calloc((size_t)entries, sizeof(*rq));
    if (!rq)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    for (int64_t c = 0; c < entries; c++)
        if (loom_rq_from_qlinear(xs, f32_at(ws, c), ys, &rq[c])) {
            free(rq);
            return lm_error(LOOM_ERR_UNSUPPORTED,
                            "node '%s': requantization scale x_scale * w_scale / y_scale = "
                            "%g * %g / %g is not a finite non-negative float (y_scale > 0)",
                            n->name, xs, f32_at(ws, c), ys);
        }
    int64_t at = put_const(b, rq, sizeof(*rq) * (size_t)entries);
    free(rq);
    if (at < 0)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    q->rq_count = (uint32_t)entries;
    q->rq_addr = (uint64_t)at; /* relocated by the constants BO's address later */
    return LOOM_OK;
}

static const loom_tensor *cval(const builder *b, const lm_node *n, int i)
{
    return i < n->n_in && n->in[i] >= 0 ? b->d->constant[n->in[i]] : NULL;
}

static const loom_tensor *shape_of(const builder *b, int v)
{
    return b->d->shape[v] ? b->d->shape[v] : b->d->constant[v];
}

/* Adds the descriptor to the constants; its rq_addr is relocated at upload. */
static loom_status put_desc(builder *b, const void *desc, uint32_t size, pcmd *pc)
{
    int64_t at = put_const(b, desc, size);
    if (at < 0)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    pc->args[0] = (slot){SLOT_SEGMENT, (uint64_t)at, size, NULL};
    pc->n_args = 1;
    return LOOM_OK;
}

static loom_status add_buf(builder *b, pcmd *pc, int v)
{
    slot s;
    loom_status st = value_slot(b, v, &s);
    if (!st)
        pc->args[pc->n_args++] = s;
    return st;
}

static void act_range(loom_dtype y, int32_t y_zp, bool clamp, int32_t clamp_lo,
                      struct loom_cu_quant *q)
{
    loom_rq_act_range(y == LOOM_DTYPE_UINT8, 0, y_zp, &q->act_min, &q->act_max);
    if (clamp && clamp_lo > q->act_min)
        q->act_min = clamp_lo < q->act_max ? clamp_lo : q->act_max;
}

static loom_status build_qconv(builder *b, const lm_node *n, int y, bool clamp, int32_t lo,
                               pcmd *pc)
{
    const loom_tensor *x = shape_of(b, n->in[0]), *w = cval(b, n, 3), *yt = shape_of(b, y);
    const loom_tensor *bias = cval(b, n, 8);
    struct loom_cu_qconv_desc d;
    memset(&d, 0, sizeof(d));
    lm_conv_geom cg;
    loom_status s = lm_geom_conv(n, x, w, &cg);
    if (s)
        return s;
    lm_conv2d_geom g = lm_geom_2d(&cg.win, cg.C, cg.M);
    if (!window_fits(&g))
        return lm_error(LOOM_ERR_UNSUPPORTED, "node '%s': window not supported", n->name);
    uint32_t flags = (x->dtype == LOOM_DTYPE_UINT8 ? LOOM_CU_F_X_U8 : 0) |
                     (w->dtype == LOOM_DTYPE_UINT8 ? LOOM_CU_F_W_U8 : 0) |
                     (yt->dtype == LOOM_DTYPE_UINT8 ? LOOM_CU_F_Y_U8 : 0) |
                     (bias ? LOOM_CU_F_BIAS : 0);
    loom_cu_hdr_init(&d.hdr, LOOM_CU_KIND_QCONV, sizeof(d), flags);
    d.q.x_zp = zp_of(cval(b, n, 2));
    uniform_zp(cval(b, n, 5), &d.q.w_zp);
    d.q.y_zp = zp_of(cval(b, n, 7));
    act_range(yt->dtype, d.q.y_zp, clamp, lo, &d.q);
    if ((s = rq_table(b, n, f32_at(cval(b, n, 1), 0), cval(b, n, 4), f32_at(cval(b, n, 6), 0),
                      w->dims[0], &d.q)))
        return s;
    d.n = (uint32_t)cg.N;
    d.m = (uint32_t)cg.M;
    d.group = (uint32_t)cg.group;
    DESC_WINDOW(&d, &g);
    pc->kind = LOOM_CU_KIND_QCONV;
    if ((s = put_desc(b, &d, sizeof(d), pc)) || (s = add_buf(b, pc, n->in[0])) ||
        (s = add_buf(b, pc, n->in[3])) || (s = add_buf(b, pc, y)))
        return s;
    return bias ? add_buf(b, pc, n->in[8]) : LOOM_OK;
}

static loom_status build_qgemm(builder *b, const lm_node *n, int y, bool clamp, int32_t lo,
                               pcmd *pc)
{
    const loom_tensor *a = shape_of(b, n->in[0]), *w = cval(b, n, 3), *yt = shape_of(b, y);
    struct loom_cu_qgemm_desc d;
    memset(&d, 0, sizeof(d));
    uint32_t flags = (a->dtype == LOOM_DTYPE_UINT8 ? LOOM_CU_F_X_U8 : 0) |
                     (w->dtype == LOOM_DTYPE_UINT8 ? LOOM_CU_F_W_U8 : 0) |
                     (yt->dtype == LOOM_DTYPE_UINT8 ? LOOM_CU_F_Y_U8 : 0);
    loom_cu_hdr_init(&d.hdr, LOOM_CU_KIND_QGEMM, sizeof(d), flags);
    d.q.x_zp = zp_of(cval(b, n, 2));
    uniform_zp(cval(b, n, 5), &d.q.w_zp);
    d.q.y_zp = zp_of(cval(b, n, 7));
    act_range(yt->dtype, d.q.y_zp, clamp, lo, &d.q);
    loom_status s = rq_table(b, n, f32_at(cval(b, n, 1), 0), cval(b, n, 4),
                             f32_at(cval(b, n, 6), 0), w->dims[1], &d.q);
    if (s)
        return s;
    d.batch = 1;
    d.k = (uint32_t)w->dims[0];
    d.n = (uint32_t)w->dims[1];
    d.m = (uint32_t)(lm_tensor_count(a) / w->dims[0]);
    d.y_stride = (uint64_t)d.m * d.n;
    pc->kind = LOOM_CU_KIND_QGEMM;
    if ((s = put_desc(b, &d, sizeof(d), pc)) || (s = add_buf(b, pc, n->in[0])) ||
        (s = add_buf(b, pc, n->in[3])))
        return s;
    return add_buf(b, pc, y);
}

/* MaxPool (int8), or Max(x, c) as a 1x1 max pool clamped below at c. */
static loom_status build_pool(builder *b, const lm_node *n, int y, bool is_max_op, pcmd *pc)
{
    const loom_tensor *x = shape_of(b, n->in[0]), *yt = shape_of(b, y);
    struct loom_cu_pool_desc d;
    memset(&d, 0, sizeof(d));
    uint32_t flags = (x->dtype == LOOM_DTYPE_UINT8 ? LOOM_CU_F_X_U8 : 0) |
                     (yt->dtype == LOOM_DTYPE_UINT8 ? LOOM_CU_F_Y_U8 : 0);
    loom_cu_hdr_init(&d.hdr, LOOM_CU_KIND_POOL, sizeof(d), flags);
    act_range(yt->dtype, 0, is_max_op, is_max_op ? zp_of(cval(b, n, 1)) : 0, &d.q);
    if (is_max_op) {
        d.n = d.c = d.h = d.oh = 1;
        d.w = d.ow = (uint32_t)lm_tensor_count(x);
        d.kh = d.kw = d.stride_h = d.stride_w = d.dil_h = d.dil_w = 1;
    } else {
        lm_pool_geom pg;
        loom_status s = lm_geom_pool(n, x, &pg);
        if (s)
            return s;
        lm_conv2d_geom g = lm_geom_2d(&pg.win, x->dims[1], x->dims[1]);
        if (!window_fits(&g))
            return lm_error(LOOM_ERR_UNSUPPORTED, "node '%s': window not supported", n->name);
        d.n = (uint32_t)x->dims[0];
        DESC_WINDOW(&d, &g);
    }
    pc->kind = LOOM_CU_KIND_POOL;
    loom_status s;
    if ((s = put_desc(b, &d, sizeof(d), pc)) || (s = add_buf(b, pc, n->in[0])))
        return s;
    return add_buf(b, pc, y);
}

/* Readers of value @v inside the segment, plus 1 if it leaves the segment. */
static int uses_of(const lm_segment_desc *d, int v)
{
    int uses = 0;
    for (int k = 0; k < d->n_nodes; k++) {
        const lm_node *n = &d->g->nodes[d->nodes[k]];
        for (int i = 0; i < n->n_in; i++)
            uses += n->in[i] == v;
    }
    for (int o = 0; o < d->n_outputs; o++)
        uses += d->outputs[o] == v;
    return uses;
}

static void fd_release(lm_device *dev, void *state)
{
    fpga_device *fd = (fpga_device *)dev;
    fpga_segment *sg = state;
    if (!sg)
        return;
    for (int i = 0; i < sg->n_sets; i++) {
        lm_card_bo_free(fd->card, &sg->sets[i].bo);
        free(sg->sets[i].cmds);
    }
    lm_card_bo_free(fd->card, &sg->consts);
    pthread_mutex_destroy(&sg->lock);
    pthread_cond_destroy(&sg->freed);
    free(sg->tmpl);
    free(sg->in_off);
    free(sg->out_off);
    free(sg->in_bytes);
    free(sg->out_bytes);
    free(sg);
}

static loom_status add_set_locked(fpga_device *fd, fpga_segment *sg);

/* The BO of a command argument in the chain's template (NULL: an activation
 * set's, filled per run). */
static const lm_card_bo *arg_bo(const fpga_segment *sg, const slot *s)
{
    return s->bo == SLOT_SEGMENT ? &sg->consts : s->bo == SLOT_SHARED ? s->shared : NULL;
}

static loom_status fd_compile(lm_device *dev, const lm_segment_desc *d, void **state)
{
    fpga_device *fd = (fpga_device *)dev;
    builder b = {.dev = dev, .d = d};
    fpga_segment *sg = calloc(1, sizeof(*sg));
    pcmd *pcs = calloc((size_t)d->n_nodes + 1, sizeof(pcmd));
    b.slots = malloc(sizeof(slot) * ((size_t)d->g->n_values + 1));
    loom_status s = LOOM_OK;
    if (!sg || !pcs || !b.slots) {
        free(sg);
        free(pcs);
        free(b.slots);
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    }
    pthread_mutex_init(&sg->lock, NULL);
    pthread_cond_init(&sg->freed, NULL);
    for (int v = 0; v < d->g->n_values; v++)
        b.slots[v].bo = -1;
    int n_pc = 0;
    for (int k = 0; k < d->n_nodes && !s; k++) {
        const lm_node *n = &d->g->nodes[d->nodes[k]];
        int y = n->out[0];
        bool is_conv = strcmp(n->op_type, "QLinearConv") == 0;
        bool is_mm = strcmp(n->op_type, "QLinearMatMul") == 0;
        bool clamp = false;
        int32_t lo = 0;
        if ((is_conv || is_mm) && k + 1 < d->n_nodes) {
            /* A following Max(y, c) that is y's only reader fuses as act_min = c. */
            const lm_node *mx = &d->g->nodes[d->nodes[k + 1]];
            if (strcmp(mx->op_type, "Max") == 0 && mx->n_in == 2 && mx->in[0] == y &&
                mx->in[1] >= 0 && d->constant[mx->in[1]] && uses_of(d, y) == 1) {
                clamp = true;
                lo = zp_of(d->constant[mx->in[1]]);
                y = mx->out[0];
                k++;
            }
        }
        pcmd *pc = &pcs[n_pc++];
        if (is_conv)
            s = build_qconv(&b, n, y, clamp, lo, pc);
        else if (is_mm)
            s = build_qgemm(&b, n, y, clamp, lo, pc);
        else if (strcmp(n->op_type, "MaxPool") == 0)
            s = build_pool(&b, n, y, false, pc);
        else if (strcmp(n->op_type, "Max") == 0)
            s = build_pool(&b, n, y, true, pc);
        else
            s = lm_error(LOOM_ERR_UNSUPPORTED, "node '%s' (%s) cannot run on %s", n->name,
                         n->op_type, dev->name);
        if (s)
            lm_error_prefix("node '%s' (%s) on %s", n->name, n->op_type, dev->name);
    }
    /* Boundary values get activation slots even if no command names them. */
    sg->n_in = d->n_inputs;
    sg->n_out = d->n_outputs;
    sg->in_off = calloc((size_t)d->n_inputs + 1, sizeof(uint64_t));
    sg->in_bytes = calloc((size_t)d->n_inputs + 1, sizeof(uint64_t));
    sg->out_off = calloc((size_t)d->n_outputs + 1, sizeof(uint64_t));
    sg->out_bytes = calloc((size_t)d->n_outputs + 1, sizeof(uint64_t));
    sg->tmpl = calloc((size_t)n_pc + 1, sizeof(lm_card_cmd));
    if (!s && (!sg->in_off || !sg->out_off || !sg->in_bytes || !sg->out_bytes || !sg->tmpl))
        s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < d->n_inputs && !s; i++) {
        slot sl;
        if (!(s = value_slot(&b, d->inputs[i], &sl))) {
            sg->in_off[i] = sl.off;
            sg->in_bytes[i] = sl.bytes;
        }
    }
    for (int o = 0; o < d->n_outputs && !s; o++) {
        slot sl;
        if (!(s = value_slot(&b, d->outputs[o], &sl))) {
            sg->out_off[o] = sl.off;
            sg->out_bytes[o] = sl.bytes;
        }
    }
    /* Allocate, relocate the descriptors' table addresses, upload once. */
    if (!s)
        s = lm_card_bo_alloc(fd->card, b.const_size ? b.const_size : 8, &sg->consts);
    sg->act_bytes = b.act_size ? b.act_size : 8;
    for (int i = 0; i < n_pc && !s; i++) {
        pcmd *pc = &pcs[i];
        struct loom_cu_quant *q = NULL;
        uint8_t *desc = b.consts + pc->args[0].off;
        if (pc->kind == LOOM_CU_KIND_QCONV)
            q = &((struct loom_cu_qconv_desc *)desc)->q;
        else if (pc->kind == LOOM_CU_KIND_QGEMM)
            q = &((struct loom_cu_qgemm_desc *)desc)->q;
        if (q && q->rq_count)
            q->rq_addr += sg->consts.dev_addr;
        lm_card_cmd *c = &sg->tmpl[i];
        c->cu_index = (uint32_t)fd->cu_of_kind[pc->kind];
        c->n_args = pc->n_args;
        for (int a = 0; a < pc->n_args; a++)
            c->args[a] = (lm_card_arg){arg_bo(sg, &pc->args[a]), pc->args[a].off};
    }
    sg->n_cmds = n_pc;
    if (!s && b.const_size)
        s = lm_card_bo_write(fd->card, &sg->consts, 0, b.consts, b.const_size);
    if (!s) /* the first activation set now: a card too small says so at compile */
        s = add_set_locked(fd, sg);
    free(b.consts);
    free(b.slots);
    free(pcs);
    if (s) {
        fd_release(dev, sg);
        return s;
    }
    *state = sg;
    return LOOM_OK;
}

/* ------------------------------------------------------------ run */

/* Allocates activation set sg->n_sets, marked busy. Called with sg->lock held
 * (or before the segment is shared). */
static loom_status add_set_locked(fpga_device *fd, fpga_segment *sg)
{
    act_set *set = &sg->sets[sg->n_sets];
    set->cmds = malloc(sizeof(lm_card_cmd) * (size_t)(sg->n_cmds + 1));
    if (!set->cmds)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status s = lm_card_bo_alloc(fd->card, sg->act_bytes, &set->bo);
    if (s) {
        free(set->cmds);
        set->cmds = NULL;
        return s;
    }
    memcpy(set->cmds, sg->tmpl, sizeof(lm_card_cmd) * (size_t)sg->n_cmds);
    for (int i = 0; i < sg->n_cmds; i++)
        for (int a = 0; a < set->cmds[i].n_args; a++)
            if (!set->cmds[i].args[a].bo)
                set->cmds[i].args[a].bo = &set->bo;
    set->busy = false;
    sg->n_sets++;
    return LOOM_OK;
}

/* A free activation set: an idle one, a new one while fewer than the
 * maximum exist and the card has room, else the next one given back. */
static act_set *take_set(fpga_device *fd, fpga_segment *sg)
{
    pthread_mutex_lock(&sg->lock);
    act_set *set = NULL;
    while (!set) {
        for (int i = 0; i < sg->n_sets && !set; i++)
            if (!sg->sets[i].busy)
                set = &sg->sets[i];
        if (!set && sg->n_sets < LM_FPGA_MAX_SETS && !add_set_locked(fd, sg))
            set = &sg->sets[sg->n_sets - 1];
        if (!set) {
            lm_error_clear(); /* out of card memory for another set: wait for one */
            pthread_cond_wait(&sg->freed, &sg->lock);
        }
    }
    set->busy = true;
    pthread_mutex_unlock(&sg->lock);
    return set;
}

static void give_set(fpga_segment *sg, act_set *set)
{
    pthread_mutex_lock(&sg->lock);
    set->busy = false;
    pthread_cond_signal(&sg->freed);
    pthread_mutex_unlock(&sg->lock);
}

static loom_status fd_run(lm_device *dev, void *state, loom_tensor *const *in,
                          loom_tensor *const *out, uint64_t deadline_ns)
{
    fpga_device *fd = (fpga_device *)dev;
    fpga_segment *sg = state;
    loom_status s = LOOM_OK;
    /* Uploads and read-backs of concurrent runs overlap the card's compute:
     * each run has an activation set of its own. */
    act_set *set = take_set(fd, sg);
    for (int i = 0; i < sg->n_in && !s; i++) {
        if (in[i]->nbytes != sg->in_bytes[i])
            s = lm_error(LOOM_ERR_SHAPE, "%s: input %d has %zu bytes, the plan %llu", dev->name, i,
                         in[i]->nbytes, (unsigned long long)sg->in_bytes[i]);
        else
            s = lm_card_bo_write(fd->card, &set->bo, sg->in_off[i], in[i]->data, in[i]->nbytes);
    }
    uint64_t cycles = 0;
    if (!s)
        s = lm_card_run(fd->card, set->cmds, sg->n_cmds, &cycles, deadline_ns);
    for (int o = 0; o < sg->n_out && !s; o++) {
        if (out[o]->nbytes != sg->out_bytes[o])
            s = lm_error(LOOM_ERR_SHAPE, "%s: output %d has %zu bytes, the plan %llu", dev->name, o,
                         out[o]->nbytes, (unsigned long long)sg->out_bytes[o]);
        else
            s = lm_card_bo_read(fd->card, &set->bo, sg->out_off[o], out[o]->data, out[o]->nbytes);
    }
    give_set(sg, set);
    if (!s) {
        uint64_t moved = 0;
        for (int i = 0; i < sg->n_in; i++)
            moved += sg->in_bytes[i];
        for (int o = 0; o < sg->n_out; o++)
            moved += sg->out_bytes[o];
        lm_busy_transfer(&dev->busy, moved, 0);
        __atomic_add_fetch(&fd->runs, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&fd->commands, (uint64_t)sg->n_cmds, __ATOMIC_RELAXED);
        __atomic_add_fetch(&fd->cycles, cycles, __ATOMIC_RELAXED);
    }
    return s;
}

static void fd_destroy(lm_device *dev)
{
    fpga_device *fd = (fpga_device *)dev;
    /* What the card did, in the cycle model's time. */
    if (fd->runs)
        lm_log(LOOM_LOG_INFO,
               "%s: %llu segment runs, %llu commands, %llu card cycles "
               "(%.3f ms modelled at %u MHz, %.1f us per run)",
               dev->name, (unsigned long long)fd->runs, (unsigned long long)fd->commands,
               (unsigned long long)fd->cycles, (double)fd->cycles / (LOOM_CU_CLOCK_MHZ * 1e3),
               LOOM_CU_CLOCK_MHZ, (double)fd->cycles / LOOM_CU_CLOCK_MHZ / (double)fd->runs);
    lm_card_close(fd->card);
    pthread_mutex_destroy(&fd->lock);
    free(fd);
}

/* The card's health as its shim reads it (loom.ko's GET_INFO, the emulated
 * card's registers); XRT reports status only. */
static loom_status fd_health(lm_device *dev, loom_device_stats *st)
{
    fpga_device *fd = (fpga_device *)dev;
    lm_card_info *info = malloc(sizeof(*info)); /* carries the CU table: keep it off the stack */
    if (!info)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status s = lm_card_info_get(fd->card, info);
    if (!s) {
        st->reports = LOOM_DEVICE_REPORTS_STATUS;
        st->card_status = (info->status & LM_CARD_READY ? LOOM_CARD_STATUS_READY : 0) |
                          (info->status & LM_CARD_PROGRAMMED ? LOOM_CARD_STATUS_PROGRAMMED : 0) |
                          (info->status & LM_CARD_DEAD ? LOOM_CARD_STATUS_DEAD : 0);
        st->mem_total = info->mem_total;
        st->mem_used = info->mem_used;
        if (strcmp(info->driver, "xrt") != 0) {
            st->reports |= LOOM_DEVICE_REPORTS_COUNTERS | LOOM_DEVICE_REPORTS_SENSORS;
            st->card_commands = info->commands;
            st->card_errors = info->errors;
            st->card_resets = info->resets;
            st->temp_mc = info->temp_mc;
            st->power_mw = info->power_mw;
            st->heartbeat = info->heartbeat;
        }
    }
    free(info);
    return s;
}

/* ------------------------------------------------------------ cost */

/* A segment's fixed cost on a card: doorbell write, the command processor
 * picking up the chain, and the completion interrupt reaching the waiter. */
#define CARD_LAUNCH_US 10.0

/* The modelled card's time for one CU command of @kind described by @desc:
 * its cycle model (hls/cu_cycles.c) at the CU clock. What the card itself
 * would take, never the emulation's wall time. */
static double cu_us(uint32_t kind, const void *desc)
{
    return (double)loom_cu_cycles(kind, desc, NULL, 0) / LOOM_CU_CLOCK_MHZ;
}

static double qconv_us(const lm_node *n, loom_tensor *const *in)
{
    struct loom_cu_qconv_desc d;
    lm_conv_geom cg;
    memset(&d, 0, sizeof(d));
    if (lm_geom_conv(n, in[0], in[3], &cg))
        return -1;
    lm_conv2d_geom g = lm_geom_2d(&cg.win, cg.C, cg.M);
    d.n = (uint32_t)cg.N;
    d.m = (uint32_t)cg.M;
    d.group = (uint32_t)cg.group;
    d.q.rq_count = (uint32_t)lm_tensor_count(in[4]);
    DESC_WINDOW(&d, &g);
    return cu_us(LOOM_CU_KIND_QCONV, &d);
}

static double qgemm_us(loom_tensor *const *in)
{
    struct loom_cu_qgemm_desc d;
    memset(&d, 0, sizeof(d));
    d.batch = 1;
    d.k = (uint32_t)in[3]->dims[0];
    d.n = (uint32_t)in[3]->dims[1];
    d.m = (uint32_t)(lm_tensor_count(in[0]) / in[3]->dims[0]);
    d.q.rq_count = (uint32_t)lm_tensor_count(in[4]);
    return cu_us(LOOM_CU_KIND_QGEMM, &d);
}

static double pool_us(const lm_node *n, loom_tensor *const *in, bool is_max_op)
{
    struct loom_cu_pool_desc d;
    memset(&d, 0, sizeof(d));
    if (is_max_op) {
        d.n = d.c = d.h = d.oh = d.kh = d.kw = 1;
        d.w = d.ow = (uint32_t)lm_tensor_count(in[0]);
        return cu_us(LOOM_CU_KIND_POOL, &d);
    }
    lm_pool_geom pg;
    if (lm_geom_pool(n, in[0], &pg))
        return -1;
    lm_conv2d_geom g = lm_geom_2d(&pg.win, in[0]->dims[1], in[0]->dims[1]);
    d.n = (uint32_t)in[0]->dims[0];
    DESC_WINDOW(&d, &g);
    return cu_us(LOOM_CU_KIND_POOL, &d);
}

/* The cycle model's time for a node the card supports; < 0 for others. */
static double fd_cost(lm_device *dev, const lm_node *n, loom_tensor *const *in)
{
    if (!fd_supports(dev, n, in))
        return -1;
    lm_error_quiet_begin();
    double us = strcmp(n->op_type, "QLinearConv") == 0 ? qconv_us(n, in)
                : strcmp(n->op_type, "QLinearMatMul") == 0
                    ? qgemm_us(in)
                    : pool_us(n, in, strcmp(n->op_type, "Max") == 0);
    lm_error_quiet_end();
    return us;
}

static void card_props(fpga_device *fd, bool emulated);

/* Loads @path and maps the CUs it carries; compiled segments keep working
 * only if the new bitstream has the same CUs at the same places, so models
 * are loaded again after it (loom.h). */
static loom_status fd_program(lm_device *dev, const char *path)
{
    fpga_device *fd = (fpga_device *)dev;
    loom_status s = lm_card_program_file(fd->card, path); /* its message names the card */
    if (s)
        return s;
    pthread_mutex_lock(&fd->lock);
    fd->programmed = 0; /* map the new CUs */
    pthread_mutex_unlock(&fd->lock);
    ensure_programmed(fd, false); /* what the operator loaded stays */
    card_props(fd, (dev->props.flags & LM_DEVICE_EMULATED) != 0);
    return LOOM_OK;
}

static const lm_device_ops fpga_ops = {
    .cost = fd_cost,
    .program = fd_program,
    .supports = fd_supports,
    .compile = fd_compile,
    .run = fd_run,
    .release = fd_release,
    .destroy = fd_destroy,
    .health = fd_health,
};

/* The card's properties, from what its shim reports. */
/* "FILE UUID" of the loaded xclbin (the file only if this process loaded it). */
static void firmware_of(const lm_card *card, const lm_card_info *info, char *buf, size_t len)
{
    static const uint8_t none[16];
    const uint8_t *u = info->xclbin_uuid;
    const char *file = strrchr(card->xclbin, '/');
    file = file ? file + 1 : card->xclbin;
    if (!(info->status & LM_CARD_PROGRAMMED) || !memcmp(u, none, sizeof(none))) {
        snprintf(buf, len, "%s", "");
        return;
    }
    snprintf(buf, len,
             "%.40s%s%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", file,
             file[0] ? " " : "", u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10],
             u[11], u[12], u[13], u[14], u[15]);
}

static void card_props(fpga_device *fd, bool emulated)
{
    lm_device_props *p = &fd->dev.props;
    lm_card_info *info = malloc(sizeof(*info)); /* carries the CU table: keep it off the stack */
    p->kind = strncmp(fd->dev.name, "xrt:", 4) == 0 ? LOOM_DEVICE_XRT : LOOM_DEVICE_CARD;
    p->numa_node = -1;
    p->numeric = LOOM_NUMERIC_INT8; /* the CUs requantize exactly as the CPU's int8 path */
    /* The modelled card (hls/loom_cu.h): a TM x TN MAC array and a DDR4
     * channel at the CU clock, on a PCIe link; a command costs its start
     * cycles, a segment its doorbell and completion interrupt. */
    p->peak_int8_gops = 2.0 * LOOM_CU_TM * LOOM_CU_TN * LOOM_CU_CLOCK_MHZ / 1e3;
    p->mem_gbps = (double)LOOM_CU_MEM_BYTES_PER_CYCLE * LOOM_CU_CLOCK_MHZ / 1e3;
    p->op_us = (double)LOOM_CU_START_CYCLES / LOOM_CU_CLOCK_MHZ;
    p->h2d_gbps = p->d2h_gbps = LM_DEFAULT_LINK_GBPS;
    p->launch_us = CARD_LAUNCH_US;
    p->flags = LM_DEVICE_AUTO | (emulated ? LM_DEVICE_EMULATED : 0);
    if (info && !lm_card_info_get(fd->card, info)) {
        snprintf(p->description, sizeof(p->description), "%s", info->board);
        snprintf(p->driver, sizeof(p->driver), "%.15s%s%.45s", info->driver,
                 info->node[0] ? ", " : "", info->node);
        firmware_of(fd->card, info, p->firmware, sizeof(p->firmware));
        p->compute_units = info->n_cus;
        p->mem_bytes = info->mem_total;
        if (strcmp(info->pci, "-") != 0)
            snprintf(p->pci_bus_id, sizeof(p->pci_bus_id), "%.15s", info->pci);
        p->numa_node = info->numa_node;
        int len = 0;
        p->features[0] = '\0';
        for (int c = 0; c < info->n_cus && len < (int)sizeof(p->features); c++)
            len += snprintf(p->features + len, sizeof(p->features) - (size_t)len, "%s%s",
                            c ? " " : "", info->cus[c].name);
    } else {
        lm_error_clear(); /* an unreadable card is still listed, and unhealthy */
    }
    free(info);
}

/* Registers @card as a device (the registry owns it from then on), programmed
 * with the default xclbin if it carries none of the int8 CUs. */
static loom_status add_card(lm_card *card, bool emulated)
{
    if (lm_registry_find(card->name)) { /* discovered before */
        lm_card_close(card);
        return LOOM_OK;
    }
    fpga_device *fd = calloc(1, sizeof(*fd));
    if (!fd) {
        lm_card_close(card);
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    }
    fd->dev.ops = &fpga_ops;
    fd->dev.priv = fd;
    snprintf(fd->dev.name, sizeof(fd->dev.name), "%s", card->name);
    fd->card = card;
    pthread_mutex_init(&fd->lock, NULL);
    if (!ensure_programmed(fd, true))
        lm_error_clear(); /* supports() then claims nothing; examine says why */
    card_props(fd, emulated);
    return lm_registry_add(&fd->dev);
}

/* How many emulated cards the registry has already. */
static int emulated_registered(void)
{
    int n = 0;
    for (int i = 0; i < lm_registry_count(); i++)
        if (lm_registry_device(i)->props.flags & LM_DEVICE_EMULATED)
            n++;
    return n;
}

/* Registers @cards[@from..@to), closing the rest after a failure and those
 * LOOM_VISIBLE_CARDS hides (after naming, so card:N stays card:N). */
static loom_status add_cards(lm_card **cards, int from, int to, bool emulated, loom_status s)
{
    for (int i = from; i < to; i++) {
        if (s || !lm_card_visible(cards[i])) {
            lm_card_close(cards[i]);
            continue;
        }
        s = add_card(cards[i], emulated);
    }
    return s;
}

/* Emulated card number @index (0: the first of the process) takes the
 * @index-th bus id of LOOM_EMULATED_CARD_PCI, so a test or a preview can put
 * it where a real card would sit in the topology. */
static void emulated_pci(lm_card *card, int index)
{
    const char *list = lm_env_str(LM_ENV_EMULATED_CARD_PCI);
    for (int i = 0; list && *list; i++) {
        size_t len = strcspn(list, ",");
        if (i == index) {
            char id[32];
            snprintf(id, sizeof(id), "%.*s", (int)(len < sizeof(id) ? len : sizeof(id) - 1), list);
            if (id[0])
                lm_card_emulated_set_pci(card, id);
            return;
        }
        list += len + (list[len] == ',');
    }
}

/* Cards through loom.ko, then emulated ones (named after those, and after
 * emulated cards discovered before), then XRT cards. */
static loom_status fpga_discover(const lm_discovery *d)
{
    lm_card *cards[LM_MAX_DEVICES];
    int n = 0, have = emulated_registered();
    loom_status s = lm_card_kernel_open_all(cards, LM_MAX_DEVICES, &n);
    s = add_cards(cards, 0, n, false, s);
    int first = n + have;
    int end = first;
    if (!s && d->emulated_cards > have)
        s = lm_card_emulated_open(d->emulated_cards - have, cards, LM_MAX_DEVICES, &end);
    for (int i = first; !s && i < end; i++)
        emulated_pci(cards[i], have + i - first);
    s = add_cards(cards, first, end, true, s);
    n = 0;
    if (!s)
        s = lm_card_xrt_open_all(cards, LM_MAX_DEVICES, &n);
    return add_cards(cards, 0, n, false, s);
}

static const char *const prefixes[] = {"card:", "xrt:", NULL};

const lm_backend lm_fpga_backend = {
    .name = "fpga",
    .prefixes = prefixes,
    .emulates = true,
    .discover = fpga_discover,
};
