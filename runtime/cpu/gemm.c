/*
 * gemm.c - the SGEMM driver: cache blocking, packing, ISA choice, threads.
 *
 * The Goto/BLIS structure: op(B) is packed by kc x nc blocks into nr-wide
 * column panels (kept in L2/L3), and the micro-kernel of sgemm_<isa>.c walks
 * one B panel (L1) against every mr-row panel of an mc x kc block of op(A)
 * (L2). A is only broadcast, so, as in XNNPACK, it is read in place with its
 * strides unless it was packed at plan time (constant weights); that saves
 * the transposing copy that dominated small products. The micro-kernel also applies the
 * epilogue on the last k block: alpha/beta, bias, and clamp-type activations
 * in registers; the other activations run over the tile right after, while it
 * is in L1. Constant operands can be packed once per plan (lm_sgemm_pack_*):
 * a packed operand is the concatenation of the blocks the driver would pack,
 * so using it is only pointer arithmetic.
 */
#include "gemm.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "cpu_features.h"
#include "../core/threadpool.h"

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static inline int64_t round_up(int64_t x, int64_t m)
{
    return (x + m - 1) / m * m;
}

/* ---- config choice --------------------------------------------------------- */

static const lm_sgemm_config *g_configs[4];
static pthread_once_t g_config_once = PTHREAD_ONCE_INIT;

static void choose_configs(void)
{
    const lm_cpu_features *f = lm_cpu_features_get();
    int n = 0;
    if (f->avx512f && lm_sgemm_config_avx512f.ukernel)
        g_configs[n++] = &lm_sgemm_config_avx512f;
    if (f->avx2_fma && lm_sgemm_config_avx2.ukernel)
        g_configs[n++] = &lm_sgemm_config_avx2;
    g_configs[n++] = &lm_sgemm_config_scalar;
    g_configs[n] = NULL;
    lm_log(LOOM_LOG_DEBUG, "sgemm uses %s", g_configs[0]->name);
}

const lm_sgemm_config *const *lm_sgemm_available_configs(void)
{
    pthread_once(&g_config_once, choose_configs);
    return g_configs;
}

const lm_sgemm_config *lm_sgemm_default_config(void)
{
    return lm_sgemm_available_configs()[0];
}

/* ---- packing ---------------------------------------------------------------- */

/* op(B)[pc:pc+kc, j0:j0+nc] -> nr-wide panels of kc rows, zero-padded on the
 * right so the micro-kernel never needs a column tail. */
static void pack_b(const lm_sgemm_config *cfg, bool tb, const float *B, int64_t ldb, int64_t pc,
                   int64_t kc, int64_t j0, int64_t nc, float *dst)
{
    const int NR = cfg->nr;
    for (int64_t j = 0; j < nc; j += NR, dst += kc * NR) {
        int64_t nr = min64(NR, nc - j);
        if (!tb) {
            const float *src = B + pc * ldb + j0 + j;
            if (nr == NR) {
                for (int64_t p = 0; p < kc; p++, src += ldb)
                    memcpy(dst + p * NR, src, (size_t)NR * sizeof(float));
            } else {
                for (int64_t p = 0; p < kc; p++, src += ldb) {
                    float *d = dst + p * NR;
                    memcpy(d, src, (size_t)nr * sizeof(float));
                    memset(d + nr, 0, (size_t)(NR - nr) * sizeof(float));
                }
            }
        } else {
            /* B is N x K: each of its rows is a column of the panel. */
            for (int64_t jj = 0; jj < NR; jj++) {
                if (jj < nr) {
                    const float *src = B + (j0 + j + jj) * ldb + pc;
                    for (int64_t p = 0; p < kc; p++)
                        dst[p * NR + jj] = src[p];
                } else {
                    for (int64_t p = 0; p < kc; p++)
                        dst[p * NR + jj] = 0.0f;
                }
            }
        }
    }
}

/* op(A)[i0:i0+mc, pc:pc+kc] -> mr-tall panels of kc columns, zero-padded. */
static void pack_a(const lm_sgemm_config *cfg, bool ta, const float *A, int64_t lda, int64_t i0,
                   int64_t mc, int64_t pc, int64_t kc, float *dst)
{
    const int MR = cfg->mr;
    for (int64_t i = 0; i < mc; i += MR, dst += kc * MR) {
        int64_t mr = min64(MR, mc - i);
        if (!ta && mr == MR && cfg->pack_a_panel) {
            cfg->pack_a_panel(A + (i0 + i) * lda + pc, lda, kc, dst);
        } else if (!ta && mr == MR) {
            /* Row-major A: read the MR rows side by side so the stores are
             * contiguous; the loads are MR sequential streams. */
            const float *src = A + (i0 + i) * lda + pc;
            for (int64_t p = 0; p < kc; p++) {
                float *d = dst + p * MR;
                for (int64_t ii = 0; ii < MR; ii++)
                    d[ii] = src[ii * lda + p];
            }
        } else if (!ta) {
            for (int64_t ii = 0; ii < MR; ii++) {
                if (ii < mr) {
                    const float *src = A + (i0 + i + ii) * lda + pc;
                    for (int64_t p = 0; p < kc; p++)
                        dst[p * MR + ii] = src[p];
                } else {
                    for (int64_t p = 0; p < kc; p++)
                        dst[p * MR + ii] = 0.0f;
                }
            }
        } else {
            /* A is K x M: row p of the stored matrix is column p of op(A). */
            const float *src = A + pc * lda + i0 + i;
            for (int64_t p = 0; p < kc; p++, src += lda) {
                float *d = dst + p * MR;
                memcpy(d, src, (size_t)mr * sizeof(float));
                memset(d + mr, 0, (size_t)(MR - mr) * sizeof(float));
            }
        }
    }
}

struct lm_sgemm_packed {
    const lm_sgemm_config *cfg;
    int64_t rows; /* M for A, N for B */
    int64_t K;
    int64_t pad; /* rows rounded up to mr (A) or nr (B) */
    float *data; /* kc block at pc starts at data + pc * pad */
};

/* Block (pc, r0) of a packed operand: r0 is a multiple of the panel size. */
static inline const float *packed_block(const lm_sgemm_packed *p, int64_t pc, int64_t kc,
                                        int64_t r0)
{
    return p->data + pc * p->pad + r0 * kc;
}

static lm_sgemm_packed *packed_new(const lm_sgemm_config *cfg, int64_t rows, int64_t K, int panel)
{
    lm_sgemm_packed *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->cfg = cfg;
    p->rows = rows;
    p->K = K;
    p->pad = round_up(rows, panel);
    size_t bytes = (size_t)round_up(p->pad * (K > 0 ? K : 1) * (int64_t)sizeof(float), 64);
    p->data = aligned_alloc(64, bytes);
    if (!p->data) {
        free(p);
        return NULL;
    }
    return p;
}

lm_sgemm_packed *lm_sgemm_pack_a_cfg(const lm_sgemm_config *cfg, bool ta, int64_t M, int64_t K,
                                     const float *A, int64_t lda)
{
    lm_sgemm_packed *p = packed_new(cfg, M, K, cfg->mr);
    if (!p)
        return NULL;
    for (int64_t pc = 0; pc < K; pc += cfg->kc) {
        int64_t kc = min64(cfg->kc, K - pc);
        pack_a(cfg, ta, A, lda, 0, M, pc, kc, p->data + pc * p->pad);
    }
    return p;
}

lm_sgemm_packed *lm_sgemm_pack_b_cfg(const lm_sgemm_config *cfg, bool tb, int64_t K, int64_t N,
                                     const float *B, int64_t ldb)
{
    lm_sgemm_packed *p = packed_new(cfg, N, K, cfg->nr);
    if (!p)
        return NULL;
    for (int64_t pc = 0; pc < K; pc += cfg->kc) {
        int64_t kc = min64(cfg->kc, K - pc);
        pack_b(cfg, tb, B, ldb, pc, kc, 0, N, p->data + pc * p->pad);
    }
    return p;
}

lm_sgemm_packed *lm_sgemm_pack_a(bool ta, int64_t M, int64_t K, const float *A, int64_t lda)
{
    return lm_sgemm_pack_a_cfg(lm_sgemm_default_config(), ta, M, K, A, lda);
}

lm_sgemm_packed *lm_sgemm_pack_b(bool tb, int64_t K, int64_t N, const float *B, int64_t ldb)
{
    return lm_sgemm_pack_b_cfg(lm_sgemm_default_config(), tb, K, N, B, ldb);
}

void lm_sgemm_packed_free(lm_sgemm_packed *p)
{
    if (p) {
        free(p->data);
        free(p);
    }
}

size_t lm_sgemm_packed_bytes(const lm_sgemm_packed *p)
{
    return p ? (size_t)(p->pad * p->K) * sizeof(float) : 0;
}

/* ---- per-thread packing buffers ---------------------------------------------- */

/* The buffers op(B) blocks (and op(A) blocks that cannot be read in place)
 * are packed into. Grown on demand and kept for the thread's life, so
 * steady-state inference does not allocate; freed by the key's destructor
 * when a thread exits. */
typedef struct workspace {
    float *a, *b;
    size_t a_cap, b_cap; /* in floats */
} workspace;

static pthread_key_t g_ws_key;
static pthread_once_t g_ws_once = PTHREAD_ONCE_INIT;

static void ws_free(void *v)
{
    workspace *w = v;
    free(w->a);
    free(w->b);
    free(w);
}

static void ws_key_init(void)
{
    (void)pthread_key_create(&g_ws_key, ws_free);
}

static float *ws_grow(float **buf, size_t *cap, size_t want)
{
    if (*cap >= want)
        return *buf;
    float *n = aligned_alloc(64, (want * sizeof(float) + 63) / 64 * 64);
    if (!n)
        return NULL;
    free(*buf);
    *buf = n;
    *cap = want;
    return n;
}

static workspace *ws_get(void)
{
    pthread_once(&g_ws_once, ws_key_init);
    workspace *w = pthread_getspecific(g_ws_key);
    if (!w) {
        w = calloc(1, sizeof(*w));
        if (w && pthread_setspecific(g_ws_key, w) != 0) {
            free(w);
            w = NULL;
        }
    }
    return w;
}

/* ---- the blocked product ---------------------------------------------------- */

static float load_op(bool t, const float *X, int64_t ld, int64_t r, int64_t c)
{
    return t ? X[c * ld + r] : X[r * ld + c];
}

/* C = act(beta * C + bias) over [m0, m1) x [n0, n1): the product is empty. */
static void epilogue_only(const lm_sgemm_args *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1)
{
    for (int64_t i = m0; i < m1; i++) {
        float *c = g->C + i * g->ldc;
        for (int64_t j = n0; j < n1; j++) {
            float v = g->beta == 0.0f ? 0.0f : g->beta * c[j];
            if (g->bias)
                v += g->bias_per_col ? g->bias[j] : g->bias[i];
            c[j] = v;
        }
        lm_act_apply(&g->act, c + n0, n1 - n0);
    }
}

/* Unblocked product, used only when packing buffers cannot be allocated:
 * slow, but correct, and it allocates nothing. */
static void sgemm_unpacked(const lm_sgemm_args *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1)
{
    for (int64_t i = m0; i < m1; i++) {
        float *c = g->C + i * g->ldc;
        for (int64_t j = n0; j < n1; j++) {
            float acc = 0.0f;
            for (int64_t p = 0; p < g->K; p++)
                acc += load_op(g->trans_a, g->A, g->lda, i, p) *
                       load_op(g->trans_b, g->B, g->ldb, p, j);
            float v = g->alpha * acc + (g->beta == 0.0f ? 0.0f : g->beta * c[j]);
            if (g->bias)
                v += g->bias_per_col ? g->bias[j] : g->bias[i];
            c[j] = v;
        }
        lm_act_apply(&g->act, c + n0, n1 - n0);
    }
}

/*
 * Rows [m0, m1) x columns [n0, n1) of C. m0 is a multiple of cfg->mr when A
 * is packed, n0 of cfg->nr when B is: packed blocks are addressed directly.
 */
static void sgemm_block(const lm_sgemm_config *cfg, const lm_sgemm_args *g, int64_t m0, int64_t m1,
                        int64_t n0, int64_t n1)
{
    if (m0 >= m1 || n0 >= n1)
        return;
    if (g->K <= 0 || g->alpha == 0.0f) {
        epilogue_only(g, m0, m1, n0, n1);
        return;
    }
    const int MR = cfg->mr, NR = cfg->nr;
    const int64_t KC = cfg->kc, MC = cfg->mc, NC = cfg->nc;
    const int64_t K = g->K;
    /* A is read in place unless packed at plan time, or unless its rows are
     * a multiple of 2 KiB apart: then the MR rows' lines fall into a few L1
     * sets and evict each other (a 2x slowdown at n = 512, 1024). A few rows
     * do not fill a set, and packing them wrote a whole zero-padded MR-row
     * panel (a tenth of a batch-1 Linear layer's time). */
    bool direct_a = !g->pa && ((g->lda * (int64_t)sizeof(float)) % 2048 != 0 || m1 - m0 <= 3);
    /* With one or two panels of rows each B panel is used at most twice:
     * reading B in place beats copying it (GEMV-like products, and 1x1 convs
     * projecting to 16 or 24 channels, 10-20% faster). Not when ldb is NR:
     * the micro-kernels tell a packed panel by b_rs == NR and would use
     * aligned, whole-panel loads on B. */
    bool direct_b = !g->pb && !g->trans_b && m1 - m0 <= 2 * MR && g->ldb != NR;
    float *abuf = NULL, *bbuf = NULL;
    if ((!g->pb && !direct_b) || (!g->pa && !direct_a)) {
        workspace *w = ws_get();
        bool ok = w != NULL;
        if (ok && !g->pb && !direct_b)
            ok =
                (bbuf = ws_grow(&w->b, &w->b_cap,
                                (size_t)(min64(KC, K) * round_up(min64(NC, n1 - n0), NR)))) != NULL;
        if (ok && !g->pa && !direct_a)
            ok =
                (abuf = ws_grow(&w->a, &w->a_cap,
                                (size_t)(min64(KC, K) * round_up(min64(MC, m1 - m0), MR)))) != NULL;
        if (!ok) {
            sgemm_unpacked(g, m0, m1, n0, n1);
            return;
        }
    }
    float lo = -INFINITY, hi = INFINITY;
    bool clamp_act = lm_act_as_clamp(&g->act, &lo, &hi);
    /* HardSwish in the micro-kernel's registers where it can: a call per
     * tile row cost MobileNetV3 a tenth of its pointwise convolutions. */
    bool hswish = g->act.kind == LM_ACT_HARD_SWISH && cfg->hswish;
    clamp_act = clamp_act || hswish;
    for (int64_t jc = n0; jc < n1; jc += NC) {
        int64_t nc = min64(NC, n1 - jc);
        for (int64_t pc = 0; pc < K; pc += KC) {
            int64_t kc = min64(KC, K - pc);
            bool first = pc == 0, last = pc + kc >= K;
            const float *bp;
            if (direct_b) {
                bp = g->B + pc * g->ldb + jc;
            } else if (g->pb) {
                bp = packed_block(g->pb, pc, kc, jc);
            } else {
                pack_b(cfg, g->trans_b, g->B, g->ldb, pc, kc, jc, nc, bbuf);
                bp = bbuf;
            }
            lm_sgemm_ukparams up = {
                .alpha = g->alpha,
                .beta = first ? g->beta : 1.0f,
                .lo = last && clamp_act ? lo : -INFINITY,
                .hi = last && clamp_act ? hi : INFINITY,
                .hswish = last && hswish,
                .b_rs = direct_b ? g->ldb : NR,
            };
            for (int64_t ic = m0; ic < m1; ic += MC) {
                int64_t mc = min64(MC, m1 - ic);
                const float *ap;
                int64_t a_panel; /* distance between panels of MR rows */
                if (g->pa || !direct_a) {
                    if (g->pa) {
                        ap = packed_block(g->pa, pc, kc, ic);
                    } else {
                        pack_a(cfg, g->trans_a, g->A, g->lda, ic, mc, pc, kc, abuf);
                        ap = abuf;
                    }
                    up.a_rs = 1;
                    up.a_cs = MR;
                    a_panel = kc;
                } else if (!g->trans_a) {
                    ap = g->A + ic * g->lda + pc;
                    up.a_rs = g->lda;
                    up.a_cs = 1;
                    a_panel = g->lda;
                } else {
                    ap = g->A + pc * g->lda + ic;
                    up.a_rs = 1;
                    up.a_cs = g->lda;
                    a_panel = 1;
                }
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    int nr = (int)min64(NR, nc - jr);
                    const float *bpanel = bp + (direct_b ? jr : jr * kc);
                    up.bias_col = first && g->bias && g->bias_per_col ? g->bias + jc + jr : NULL;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        int mr = (int)min64(MR, mc - ir);
                        float *c = g->C + (ic + ir) * g->ldc + jc + jr;
                        up.bias_row =
                            first && g->bias && !g->bias_per_col ? g->bias + ic + ir : NULL;
                        cfg->ukernel(kc, ap + ir * a_panel, bpanel, c, g->ldc, mr, nr, &up);
                        if (last && !clamp_act)
                            lm_act_apply_tile(&g->act, c, g->ldc, mr, nr);
                    }
                }
            }
        }
    }
}

void lm_sgemm_run_cfg(const lm_sgemm_config *cfg, const lm_sgemm_args *g)
{
    if (g->M <= 0 || g->N <= 0)
        return;
    sgemm_block(cfg, g, 0, g->M, 0, g->N);
}

void lm_sgemm_run(const lm_sgemm_args *g)
{
    const lm_sgemm_config *cfg = g->pa ? g->pa->cfg : g->pb ? g->pb->cfg : NULL;
    lm_sgemm_run_cfg(cfg ? cfg : lm_sgemm_default_config(), g);
}

/* ---- threads ----------------------------------------------------------------- */

typedef struct sgemm_split {
    const lm_sgemm_config *cfg;
    const lm_sgemm_args *g;
    bool by_rows;
    int64_t step; /* rows or columns per item, a multiple of mr / nr */
} sgemm_split;

static void sgemm_items(void *arg, int64_t begin, int64_t end)
{
    const sgemm_split *s = arg;
    if (s->by_rows)
        sgemm_block(s->cfg, s->g, begin * s->step, min64(end * s->step, s->g->M), 0, s->g->N);
    else
        sgemm_block(s->cfg, s->g, 0, s->g->M, begin * s->step, min64(end * s->step, s->g->N));
}

void lm_sgemm_run_parallel(lm_kctx *k, const lm_sgemm_args *g)
{
    if (g->M <= 0 || g->N <= 0)
        return;
    const lm_sgemm_config *cfg = g->pa ? g->pa->cfg : g->pb ? g->pb->cfg : NULL;
    cfg = cfg ? cfg : lm_sgemm_default_config();
    int threads = k ? lm_threadpool_size(k->pool) : 1;
    double flops = 2.0 * (double)g->M * (double)g->N * (double)(g->K > 0 ? g->K : 1);
    /* Below ~0.5 MFLOP (tens of microseconds) waking a thread costs more than
     * it saves. */
    if (threads <= 1 || flops < 5e5) {
        lm_sgemm_run_cfg(cfg, g);
        return;
    }
    /* One contiguous part per thread: each part packs its own copy of the
     * shared operand, so fewer, larger parts waste less. Split the dimension
     * with more panels, preferring the one whose operand is prepacked (no
     * repacking) when both have enough. */
    int64_t row_panels = (g->M + cfg->mr - 1) / cfg->mr;
    int64_t col_panels = (g->N + cfg->nr - 1) / cfg->nr;
    bool by_rows;
    if (g->pa && !g->pb && col_panels >= 2 * threads)
        by_rows = false;
    else if (g->pb && !g->pa && row_panels >= 2 * threads)
        by_rows = true;
    else
        by_rows = row_panels * cfg->mr >= col_panels * cfg->nr;
    int64_t panels = by_rows ? row_panels : col_panels;
    int64_t per = (panels + threads - 1) / threads;
    sgemm_split s = {cfg, g, by_rows, per * (by_rows ? cfg->mr : cfg->nr)};
    int64_t items = ((by_rows ? g->M : g->N) + s.step - 1) / s.step;
    /* Cost per item in ns at a few tens of GFLOP/s, only to pass the pool's
     * grain test; the split itself is already one item per thread. */
    lm_parallel_for(k, items, flops / (double)items / 20.0, sgemm_items, &s);
}

/* ---- BLAS-like wrappers -------------------------------------------------------- */

void lm_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
              int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    lm_sgemm_args g = {.trans_a = ta,
                       .trans_b = tb,
                       .M = M,
                       .N = N,
                       .K = K,
                       .alpha = alpha,
                       .beta = beta,
                       .A = A,
                       .lda = lda,
                       .B = B,
                       .ldb = ldb,
                       .C = C,
                       .ldc = ldc};
    lm_sgemm_run(&g);
}

void lm_sgemm_parallel(lm_kctx *k, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                       const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                       float *C, int64_t ldc)
{
    lm_sgemm_args g = {.trans_a = ta,
                       .trans_b = tb,
                       .M = M,
                       .N = N,
                       .K = K,
                       .alpha = alpha,
                       .beta = beta,
                       .A = A,
                       .lda = lda,
                       .B = B,
                       .ldb = ldb,
                       .C = C,
                       .ldc = ldc};
    lm_sgemm_run_parallel(k, &g);
}
