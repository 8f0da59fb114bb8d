/*
 * bench_gemm.c - our SGEMM against OpenBLAS, and our int8 GEMM against our
 * SGEMM, measured side by side in the same run.
 *
 * Columns: ours (operands packed per call, like OpenBLAS), OpenBLAS, their
 * ratio (> 1: ours faster); ours with the weights prepacked as a plan does
 * (A for conv shapes, B for the Linear one) and its ratio to OpenBLAS; int8 GOP/s and its speed-up
 * over our f32 GEMM, unpacked and with A prepacked.
 *
 * The machine is shared and noisy, so every figure is the best of several
 * timed repetitions, and ours and the peer's repetitions alternate so both
 * see the same background load. Nothing here gates on time: it prints.
 *
 *   bench_gemm [--quick]      (--quick: fewer repetitions, up to n = 1024)
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpu/gemm.h"
#include "cpu/qgemm.h"
#include "core/threadpool.h"

typedef struct shape {
    const char *name;
    int64_t M, N, K;
    bool weights_b; /* the constant operand is B (a Linear layer), not A (a conv) */
} shape;

/* Square sizes, then im2col GEMMs of real layers: M = output channels,
 * N = output pixels, K = input channels x kernel area (batch 1). */
static const shape shapes[] = {
    {"square 64", 64, 64, 64, false},
    {"square 128", 128, 128, 128, false},
    {"square 256", 256, 256, 256, false},
    {"square 512", 512, 512, 512, false},
    {"square 1024", 1024, 1024, 1024, false},
    {"square 2048", 2048, 2048, 2048, false},
    {"resnet18 conv1 7x7/2", 64, 12544, 147, false},
    {"resnet18 layer1 3x3", 64, 3136, 576, false},
    {"resnet18 layer2 3x3", 128, 784, 1152, false},
    {"resnet18 layer3 3x3", 256, 196, 2304, false},
    {"resnet18 layer4 3x3", 512, 49, 4608, false},
    {"resnet18 layer2 1x1/2", 128, 784, 64, false},
    {"mobilenetv2 expand 1x1", 144, 3136, 24, false},
    {"mobilenetv2 project 1x1", 24, 3136, 144, false},
    {"resnet18 fc (Gemm)", 1, 1000, 512, true},
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef void (*bench_fn)(void *ctx);

/* Seconds per call: runs enough calls to fill ~20 ms. */
static double time_once(bench_fn fn, void *ctx, int calls)
{
    double t0 = now_s();
    for (int i = 0; i < calls; i++)
        fn(ctx);
    return (now_s() - t0) / calls;
}

static int calls_for(bench_fn fn, void *ctx)
{
    double t = time_once(fn, ctx, 1); /* also the warm-up */
    int calls = (int)(0.02 / (t > 1e-9 ? t : 1e-9));
    return calls < 1 ? 1 : calls > 10000 ? 10000 : calls;
}

typedef struct sg_ctx {
    lm_kctx *k;
    const shape *s;
    const float *A, *B;
    float *C;
    const lm_sgemm_packed *pa, *pb;
} sg_ctx;

static void run_ours(void *v)
{
    sg_ctx *c = v;
    lm_sgemm_args g = {.M = c->s->M,
                       .N = c->s->N,
                       .K = c->s->K,
                       .alpha = 1.0f,
                       .A = c->A,
                       .lda = c->s->K,
                       .pa = c->pa,
                       .B = c->B,
                       .ldb = c->s->N,
                       .pb = c->pb,
                       .C = c->C,
                       .ldc = c->s->N};
    lm_sgemm_run_parallel(c->k, &g);
}

static void run_openblas(void *v)
{
    sg_ctx *c = v;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)c->s->M, (int)c->s->N, (int)c->s->K,
                1.0f, c->A, (int)c->s->K, c->B, (int)c->s->N, 0.0f, c->C, (int)c->s->N);
}

typedef struct q_ctx {
    lm_kctx *k;
    lm_qgemm_params p;
    int64_t step; /* columns per part: one part per thread */
} q_ctx;

static void qgemm_cols(void *arg, int64_t begin, int64_t end)
{
    const q_ctx *q = arg;
    int64_t n0 = begin * q->step, n1 = end * q->step < q->p.n ? end * q->step : q->p.n;
    lm_qgemm_tile(&q->p, 0, q->p.m, n0, n1);
}

/* Like lm_sgemm_run_parallel: one contiguous column part per thread, so each
 * packs its part of B once. */
static void run_q(void *v)
{
    q_ctx *q = v;
    int threads = lm_threadpool_size(q->k->pool);
    q->step = (q->p.n + threads - 1) / threads;
    q->step = (q->step + 31) / 32 * 32;
    int64_t parts = (q->p.n + q->step - 1) / q->step;
    lm_parallel_for(q->k, parts, 1e6, qgemm_cols, q);
}

static void fill(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)((i * 7919) % 2001) / 1000.0f - 1.0f;
}

int main(int argc, char **argv)
{
    /* OpenBLAS's idle workers spin for ~2^28 cycles after each call and would
     * steal the cores our next measurement runs on (the machine has two).
     * Its timeout is read from the environment when the library loads, so
     * set it and start again. */
    if (!getenv("OPENBLAS_THREAD_TIMEOUT")) {
        setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1);
        execv("/proc/self/exe", argv);
    }
    bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    int reps = quick ? 3 : 5;
    printf("bench-gemm: ours = %s, OpenBLAS core = %s\n", lm_sgemm_default_config()->name,
           openblas_get_corename());
    for (int threads = 1; threads <= 2; threads++) {
        lm_threadpool *pool;
        if (lm_threadpool_create(threads, NULL, &pool) != LOOM_OK)
            return 1;
        lm_kctx k = {.pool = pool};
        openblas_set_num_threads(threads);
        printf("\n%d thread%s: GFLOP/s (int8: GOP/s), best of %d\n", threads,
               threads > 1 ? "s" : "", reps);
        printf("%-26s %6s %6s %6s | %8s %8s %6s | %8s %6s | %8s %6s | %8s %6s\n", "shape", "M", "N",
               "K", "ours", "openblas", "ratio", "prepackW", "ratio", "int8", "x f32", "int8 pkA",
               "x f32");
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const shape *s = &shapes[si];
            if (quick && s->M * s->N * s->K > (int64_t)1 << 30)
                continue;
            float *A = malloc(sizeof(float) * (size_t)(s->M * s->K));
            float *B = malloc(sizeof(float) * (size_t)(s->K * s->N));
            float *C = malloc(sizeof(float) * (size_t)(s->M * s->N));
            uint8_t *qa = malloc((size_t)(s->M * s->K));
            int8_t *qb = malloc((size_t)(s->K * s->N));
            int32_t *qc = malloc(sizeof(int32_t) * (size_t)(s->M * s->N));
            fill(A, s->M * s->K);
            fill(B, s->K * s->N);
            for (int64_t i = 0; i < s->M * s->K; i++)
                qa[i] = (uint8_t)(i * 31);
            for (int64_t i = 0; i < s->K * s->N; i++)
                qb[i] = (int8_t)(i * 17);
            lm_sgemm_packed *pa = s->weights_b ? NULL : lm_sgemm_pack_a(false, s->M, s->K, A, s->K);
            lm_sgemm_packed *pb = s->weights_b ? lm_sgemm_pack_b(false, s->K, s->N, B, s->N) : NULL;
            sg_ctx ours = {&k, s, A, B, C, NULL, NULL}, packed = {&k, s, A, B, C, pa, pb};
            int32_t azp = 3, bzp = 0;
            q_ctx q = {&k,
                       {.m = s->M,
                        .n = s->N,
                        .k = s->K,
                        .a = qa,
                        .lda = s->K,
                        .b = qb,
                        .ldb = s->N,
                        .b_signed = true,
                        .c = qc,
                        .ldc = s->N,
                        .a_zp = &azp,
                        .b_zp = &bzp},
                       0};
            lm_qgemm_packed *qpa = lm_qgemm_pack_a(qa, s->K, false, s->M, s->K);
            q_ctx qpk = q;
            qpk.p.pa = qpa;
            int n_ours = calls_for(run_ours, &ours), n_ob = calls_for(run_openblas, &ours);
            int n_pk = calls_for(run_ours, &packed), n_q = calls_for(run_q, &q);
            int n_qpk = calls_for(run_q, &qpk);
            double t_ours = 1e9, t_ob = 1e9, t_pk = 1e9, t_q = 1e9, t_qpk = 1e9;
            for (int r = 0; r < reps; r++) {
                double t;
                if ((t = time_once(run_ours, &ours, n_ours)) < t_ours)
                    t_ours = t;
                if ((t = time_once(run_openblas, &ours, n_ob)) < t_ob)
                    t_ob = t;
                if ((t = time_once(run_ours, &packed, n_pk)) < t_pk)
                    t_pk = t;
                if ((t = time_once(run_q, &q, n_q)) < t_q)
                    t_q = t;
                if ((t = time_once(run_q, &qpk, n_qpk)) < t_qpk)
                    t_qpk = t;
            }
            double flop = 2.0 * (double)s->M * (double)s->N * (double)s->K * 1e-9;
            printf("%-26s %6lld %6lld %6lld | %8.1f %8.1f %6.2f | %8.1f %6.2f | %8.1f %6.2f | "
                   "%8.1f %6.2f\n",
                   s->name, (long long)s->M, (long long)s->N, (long long)s->K, flop / t_ours,
                   flop / t_ob, t_ob / t_ours, flop / t_pk, t_ob / t_pk, flop / t_q, t_ours / t_q,
                   flop / t_qpk, t_pk / t_qpk);
            fflush(stdout);
            lm_sgemm_packed_free(pa);
            lm_sgemm_packed_free(pb);
            lm_qgemm_packed_free(qpa);
            free(A);
            free(B);
            free(C);
            free(qa);
            free(qb);
            free(qc);
        }
        lm_threadpool_destroy(pool);
    }
    return 0;
}
