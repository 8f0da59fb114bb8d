/*
 * Testbench of the QGEMM CU: edge-case and random shapes (tile edges, K
 * chunks, K at its bound, batches with shared operands, B transposed,
 * int8/uint8 mixes, per-tensor and per-column scales, bias, fused clamps)
 * against a plain triple loop with the CPU backend's float32 requantization (tb.h).
 */
#include "tb.h"

struct gcase {
    uint32_t batch, m, n, k;
    int extreme; /* operands at the type's far end: the accumulator's worst case */
};

static void run_case(const struct gcase *gc, const char *name)
{
    struct loom_cu_qgemm_desc d;
    struct loom_cu_extent ext;
    const char *why = NULL;
    uint32_t flags = tb_rand() & (LOOM_CU_F_X_U8 | LOOM_CU_F_W_U8 | LOOM_CU_F_Y_U8 |
                                  LOOM_CU_F_BIAS | LOOM_CU_F_TRANS_B);
    int xu = !!(flags & LOOM_CU_F_X_U8), wu = !!(flags & LOOM_CU_F_W_U8);
    int yu = !!(flags & LOOM_CU_F_Y_U8), per_ch = tb_rand() & 1;
    uint64_t M = gc->m, N = gc->n, K = gc->k, B = gc->batch;
    int ties = tb_rand() % 4 == 0; /* scales 2^-1..2^-3: many exact halves */
    float xs = ties ? 1.0f : tb_scale() * 64, ys = ties ? 1.0f : tb_scale() * 256, *s;
    struct loom_rq *rq;
    int32_t *bias;
    uint8_t *a, *b, *y;
    uint64_t abytes, bbytes, ybytes, bad = 0;
    int ok = 1;

    memset(&d, 0, sizeof(d));
    loom_cu_hdr_init(&d.hdr, LOOM_CU_KIND_QGEMM, sizeof(d), flags);
    d.batch = gc->batch;
    d.m = gc->m;
    d.n = gc->n;
    d.k = gc->k;
    d.a_stride = B > 1 && (tb_rand() & 3) == 0 ? 0 : M * K + (tb_rand() % 3);
    d.b_stride = B > 1 && (tb_rand() & 1) ? 0 : K * N + (tb_rand() % 3);
    d.y_stride = M * N + (tb_rand() % 3);
    d.q.x_zp = gc->extreme ? (xu ? 255 : 127) : tb_zp(xu);
    d.q.w_zp = gc->extreme ? (wu ? 255 : 127) : tb_zp(wu);
    d.q.y_zp = tb_zp(yu);
    tb_act(yu, d.q.y_zp, &d.q.act_min, &d.q.act_max);
    d.q.rq_count = per_ch ? gc->n : 1;
    abytes = (B - 1) * d.a_stride + M * K;
    bbytes = (B - 1) * d.b_stride + K * N;
    ybytes = (B - 1) * d.y_stride + M * N;
    a = tb_buf(abytes, 1);
    b = tb_buf(bbytes, 1);
    y = tb_buf(ybytes, 0);
    if (gc->extreme) {
        memset(a, xu ? 0 : 0x80, abytes);
        memset(b, wu ? 0 : 0x80, bbytes);
    }
    s = malloc(N * sizeof(*s));
    rq = malloc(N * sizeof(*rq));
    bias = malloc(N * sizeof(*bias));
    for (uint64_t j = 0; j < N; j++) {
        float ws = ties ? (float)ldexp(1.0, -tb_range(1, 3)) : tb_scale() * 4;

        s[j] = xs * ws / ys;
        ok &= !loom_rq_from_qlinear(xs, ws, ys, &rq[j]);
        bias[j] = tb_range(-100000, 100000);
        if (!per_ch) {
            s[j] = s[0];
            rq[j] = rq[0];
        }
    }
    ok &= !loom_cu_check(LOOM_CU_KIND_QGEMM, &d, sizeof(d), &ext, &why);
    ok &= ext.bytes[0] == abytes && ext.bytes[1] == bbytes && ext.bytes[2] == ybytes;
    ok &= loom_cu_nargs(LOOM_CU_KIND_QGEMM, flags) == (flags & LOOM_CU_F_BIAS ? 5u : 4u);
    loom_cu_qgemm(&d, rq, a, b, (flags & LOOM_CU_F_BIAS) ? bias : NULL, y);

    for (uint64_t bi = 0; bi < B; bi++)
        for (uint64_t i = 0; i < M; i++)
            for (uint64_t j = 0; j < N; j++) {
                int64_t acc = 0;
                int32_t want, got;

                for (uint64_t k = 0; k < K; k++) {
                    uint64_t bidx = (flags & LOOM_CU_F_TRANS_B) ? j * K + k : k * N + j;

                    acc += (int64_t)(tb_val(a, bi * d.a_stride + i * K + k, xu) - d.q.x_zp) *
                           (tb_val(b, bi * d.b_stride + bidx, wu) - d.q.w_zp);
                }
                if (flags & LOOM_CU_F_BIAS)
                    acc += bias[j];
                want = tb_requant_ref(acc, s[j], d.q.y_zp, d.q.act_min, d.q.act_max);
                got = tb_val(y, bi * d.y_stride + i * N + j, yu);
                if (got != want && bad++ < 3)
                    printf("  %s: y[%llu][%llu][%llu] = %d, want %d (acc %lld)\n", name,
                           (unsigned long long)bi, (unsigned long long)i, (unsigned long long)j,
                           got, want, (long long)acc);
            }
    ok &= !bad && tb_guard_ok(y, ybytes);
    tb_check(ok, "qgemm", name);
    if (why && !ok)
        printf("  check: %s\n", why);
    free(a);
    free(b);
    free(y);
    free(s);
    free(rq);
    free(bias);
}

int main(int argc, char **argv)
{
    const uint32_t T = LOOM_CU_TM, U = LOOM_CU_TN, KT = LOOM_CU_KT;
    const struct gcase edge[] = {
        {1, 1, 1, 1, 0},
        {1, T, U, KT, 0},
        {1, T + 1, U + 1, KT + 1, 0},
        {1, T - 1, U - 1, KT - 1, 0},
        {1, 1, 100, 3 * KT, 0},
        {1, 100, 1, 7, 0},
        {3, 17, 33, 129, 0},
        {4, 5, 6, 7, 0},
        {1, 2, 3, LOOM_CU_MAX_K, 1},
        {1, 64, 10, 784, 0},
        {2, 3, 2, 5000, 1},
    };
    int nrand = argc > 1 ? atoi(argv[1]) : 200;
    char name[96];

    for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
        snprintf(name, sizeof(name), "edge b%u m%u n%u k%u%s", edge[i].batch, edge[i].m, edge[i].n,
                 edge[i].k, edge[i].extreme ? " extreme" : "");
        run_case(&edge[i], name);
    }
    for (int i = 0; i < nrand; i++) {
        struct gcase gc = {1 + tb_rand() % 3, 1 + tb_rand() % 40, 1 + tb_rand() % 40,
                           1 + tb_rand() % 300, (tb_rand() % 16) == 0};

        snprintf(name, sizeof(name), "random %d b%u m%u n%u k%u", i, gc.batch, gc.m, gc.n, gc.k);
        run_case(&gc, name);
    }
    return tb_finish("hls-qgemm");
}
