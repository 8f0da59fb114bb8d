/* broadcast.c - numpy broadcasting iteration and float16 staging for the elementwise kernels. */
#include <string.h>

#include "ew.h"

loom_status lm_bcast_shape(lm_kctx *k, int n, const loom_tensor *const *ins, int *rank,
                           int64_t *dims)
{
    int r = 0;
    for (int i = 0; i < n; i++) {
        if (ins[i]->rank < 0 || ins[i]->rank > LOOM_MAX_RANK)
            return lm_kinvalid(k, "input %d has rank %d, at most %d supported", i, ins[i]->rank,
                               LOOM_MAX_RANK);
        if (ins[i]->rank > r)
            r = ins[i]->rank;
    }
    for (int d = 0; d < r; d++)
        dims[d] = 1;
    for (int i = 0; i < n; i++) {
        const loom_tensor *t = ins[i];
        int lead = r - t->rank;
        for (int j = 0; j < t->rank; j++) {
            int64_t a = dims[lead + j], b = t->dims[j];
            if (b < 0)
                return lm_kinvalid(k, "input %d dim %d is negative (%lld)", i, j, (long long)b);
            if (a == b || b == 1)
                continue;
            if (a == 1) {
                dims[lead + j] = b;
                continue;
            }
            char s1[96];
            return lm_kfail(k, LOOM_ERR_SHAPE,
                            "input %d shape %s does not broadcast: dim %d is %lld, others %lld", i,
                            lm_dims_str(t->rank, t->dims, s1, sizeof(s1)), j, (long long)b,
                            (long long)a);
        }
    }
    *rank = r;
    return LOOM_OK;
}

void lm_bcast_plan(lm_bcast *p, int rank, const int64_t *dims, int n, const loom_tensor *const *ins)
{
    int64_t st[LM_BCAST_MAX_IN][LOOM_MAX_RANK];
    memset(p, 0, sizeof(*p));
    p->nin = n;
    p->total = lm_dims_count(rank, dims);
    for (int i = 0; i < n; i++) {
        const loom_tensor *t = ins[i];
        int lead = rank - t->rank;
        int64_t s = 1;
        for (int d = rank - 1; d >= 0; d--) {
            int j = d - lead;
            int64_t id = j >= 0 ? t->dims[j] : 1;
            st[i][d] = (id == 1 && dims[d] != 1) ? 0 : s;
            s *= id;
        }
    }
    /* Drop size-1 dims, then merge neighbours whose strides are contiguous for every
     * operand, so the common cases (same shape, scalar, bias per channel) become one
     * or two dims with long inner runs. */
    int nd = 0;
    for (int d = 0; d < rank; d++) {
        if (dims[d] == 1)
            continue;
        bool merge = nd > 0;
        for (int i = 0; i < n && merge; i++)
            if (p->st[i][nd - 1] != st[i][d] * dims[d])
                merge = false;
        if (merge) {
            p->dims[nd - 1] *= dims[d];
            for (int i = 0; i < n; i++)
                p->st[i][nd - 1] = st[i][d];
        } else {
            p->dims[nd] = dims[d];
            for (int i = 0; i < n; i++)
                p->st[i][nd] = st[i][d];
            nd++;
        }
    }
    if (nd == 0) {
        p->dims[0] = 1;
        for (int i = 0; i < n; i++)
            p->st[i][0] = 0;
        nd = 1;
    }
    p->nd = nd;
}

typedef struct bcast_job {
    const lm_bcast *p;
    lm_bcast_row_fn row;
    void *ctx;
} bcast_job;

static void bcast_range(void *arg, int64_t begin, int64_t end)
{
    const bcast_job *j = arg;
    const lm_bcast *p = j->p;
    int nd = p->nd, nin = p->nin;
    int64_t inner = p->dims[nd - 1];
    int inner_st[LM_BCAST_MAX_IN];
    int64_t idx[LOOM_MAX_RANK] = {0};
    int64_t off[LM_BCAST_MAX_IN];
    for (int i = 0; i < nin; i++)
        inner_st[i] = (int)p->st[i][nd - 1];

    int64_t row = begin / inner, col = begin % inner;
    for (int d = nd - 2; d >= 0; d--) {
        idx[d] = row % p->dims[d];
        row /= p->dims[d];
    }
    int64_t base[LM_BCAST_MAX_IN];
    for (int i = 0; i < nin; i++) {
        base[i] = 0;
        for (int d = 0; d < nd - 1; d++)
            base[i] += idx[d] * p->st[i][d];
    }
    int64_t pos = begin;
    while (pos < end) {
        int64_t cnt = inner - col;
        if (cnt > end - pos)
            cnt = end - pos;
        for (int i = 0; i < nin; i++)
            off[i] = base[i] + col * inner_st[i];
        j->row(j->ctx, off, pos, cnt, inner_st);
        pos += cnt;
        col = 0;
        /* Advance the odometer over the outer dims, updating offsets incrementally. */
        for (int d = nd - 2; d >= 0; d--) {
            idx[d]++;
            for (int i = 0; i < nin; i++)
                base[i] += p->st[i][d];
            if (idx[d] < p->dims[d])
                break;
            for (int i = 0; i < nin; i++)
                base[i] -= idx[d] * p->st[i][d];
            idx[d] = 0;
        }
    }
}

void lm_bcast_run(lm_kctx *k, const lm_bcast *p, double cost, lm_bcast_row_fn row, void *ctx)
{
    if (p->total <= 0)
        return;
    bcast_job j = {p, row, ctx};
    lm_parallel_for(k, p->total, cost, bcast_range, &j);
}

void lm_half_to_float_n(const uint16_t *src, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = lm_half_to_float(src[i]);
}

void lm_float_to_half_n(const float *src, uint16_t *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = lm_float_to_half(src[i]);
}

float *lm_stage_half(lm_kctx *k, const loom_tensor *t)
{
    int64_t n = lm_tensor_count(t);
    if (n < 0)
        return NULL;
    float *f = lm_kscratch(k, (size_t)(n > 0 ? n : 1) * sizeof(float));
    if (f)
        lm_half_to_float_n(t->data, f, n);
    return f;
}

#define CONV_F64(sfx, T, WU, unused)                                                               \
    case DT_##sfx: {                                                                               \
        const T *s = src;                                                                          \
        for (int64_t i = 0; i < n; i++)                                                            \
            dst[i] = (double)s[i];                                                                 \
        return true;                                                                               \
    }

bool lm_convert_to_f64(const void *src, loom_dtype sdt, double *dst, int64_t n)
{
    switch (sdt) {
        LM_FOR_NUM(CONV_F64, 0)
    case LOOM_DTYPE_BOOL: {
        const uint8_t *s = src;
        for (int64_t i = 0; i < n; i++)
            dst[i] = s[i] != 0;
        return true;
    }
    case LOOM_DTYPE_FLOAT16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++)
            dst[i] = lm_half_to_float(s[i]);
        return true;
    }
    default:
        return false;
    }
}
