/*
 * Prints the cycle model's figures for representative layers (a markdown
 * table, for hls/README.md "Throughput"): cycles, time at the CU clock and
 * the achieved MAC (or element) rate, and how fast the same C function runs
 * on this host (what the emulated card and loom-cardsim spend). `make hls-cycles`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../loom_cu.h"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Microseconds one run of the CU function takes on this host (best of a few). */
static double host_us(uint32_t kind, const void *d)
{
    static struct loom_rq rq[1024];
    struct loom_cu_extent e;
    uint8_t *buf[LOOM_CU_MAX_BUFS] = {0};
    double best = 1e30;

    if (loom_cu_check(kind, d, loom_cu_desc_size(kind), &e, NULL))
        return -1;
    for (int i = 0; i < 1024; i++)
        loom_rq_from_scale(0.001, &rq[i]);
    for (uint32_t i = 0; i < e.nbufs; i++) {
        buf[i] = malloc(e.bytes[i]);
        for (uint64_t j = 0; j < e.bytes[i]; j++)
            buf[i][j] = (uint8_t)(j * 131 + i);
    }
    for (int r = 0; r < 5; r++) {
        double t0 = now();

        if (kind == LOOM_CU_KIND_QCONV)
            loom_cu_qconv(d, rq, buf[0], buf[1], NULL, buf[2]);
        else if (kind == LOOM_CU_KIND_QGEMM)
            loom_cu_qgemm(d, rq, buf[0], buf[1], NULL, buf[2]);
        else if (kind == LOOM_CU_KIND_POOL)
            loom_cu_pool(d, rq, buf[0], buf[1]);
        else
            loom_cu_qadd(d, buf[0], buf[1], buf[2]);
        t0 = now() - t0;
        best = t0 < best ? t0 : best;
    }
    for (uint32_t i = 0; i < e.nbufs; i++)
        free(buf[i]);
    return best * 1e6;
}

static void row(const char *name, uint32_t kind, const void *d)
{
    uint64_t cyc = loom_cu_cycles(kind, d, NULL, 0), ops = loom_cu_ops(kind, d);
    double hus = host_us(kind, d);
    double us = (double)cyc / LOOM_CU_CLOCK_MHZ;
    double peak = kind == LOOM_CU_KIND_QGEMM || kind == LOOM_CU_KIND_QCONV
                      ? (double)LOOM_CU_TM * LOOM_CU_TN
                      : LOOM_CU_LANES;

    printf("| %s | %llu | %llu | %.1f | %.2f | %.0f%% | %.0f | %.2f |\n", name,
           (unsigned long long)ops, (unsigned long long)cyc, us, (double)ops / us / 1000.0,
           100.0 * (double)ops / ((double)cyc * peak), hus, (double)ops / hus / 1000.0);
}

static struct loom_cu_qconv_desc conv(uint32_t c, uint32_t hw, uint32_t m, uint32_t k, uint32_t s,
                                      uint32_t group)
{
    struct loom_cu_qconv_desc d;

    memset(&d, 0, sizeof(d));
    loom_cu_hdr_init(&d.hdr, LOOM_CU_KIND_QCONV, sizeof(d), LOOM_CU_F_BIAS);
    d.n = 1, d.c = c, d.h = d.w = hw, d.m = m, d.group = group, d.kh = d.kw = k;
    d.stride_h = d.stride_w = s, d.pad_t = d.pad_l = d.pad_b = d.pad_r = k / 2;
    d.dil_h = d.dil_w = 1;
    d.oh = d.ow = (hw + 2 * (k / 2) - k) / s + 1;
    d.q.rq_count = m;
    d.q.act_min = -128, d.q.act_max = 127;
    return d;
}

int main(void)
{
    struct loom_cu_qconv_desc c;
    struct loom_cu_qgemm_desc g;
    struct loom_cu_pool_desc p;
    struct loom_cu_qadd_desc a;

    printf("| layer | MACs / elements | cycles | us at %u MHz | G/s | of peak | host C us | host "
           "G/s |\n",
           LOOM_CU_CLOCK_MHZ);
    printf("|---|---|---|---|---|---|---|---|\n");
    c = conv(1, 28, 32, 3, 1, 1);
    row("QCONV 1->32 3x3, 28x28 (Fashion-MNIST conv1)", LOOM_CU_KIND_QCONV, &c);
    c = conv(32, 14, 64, 3, 1, 1);
    row("QCONV 32->64 3x3, 14x14 (conv2)", LOOM_CU_KIND_QCONV, &c);
    c = conv(64, 56, 64, 3, 1, 1);
    row("QCONV 64->64 3x3, 56x56 (ResNet stage 1)", LOOM_CU_KIND_QCONV, &c);
    c = conv(256, 14, 256, 3, 1, 1);
    row("QCONV 256->256 3x3, 14x14", LOOM_CU_KIND_QCONV, &c);
    c = conv(32, 112, 32, 3, 1, 32);
    row("QCONV depthwise 32 3x3, 112x112", LOOM_CU_KIND_QCONV, &c);
    c = conv(64, 56, 256, 1, 1, 1);
    row("QCONV 1x1 64->256, 56x56", LOOM_CU_KIND_QCONV, &c);

    memset(&g, 0, sizeof(g));
    loom_cu_hdr_init(&g.hdr, LOOM_CU_KIND_QGEMM, sizeof(g), LOOM_CU_F_BIAS);
    g.batch = 1, g.m = 1, g.n = 10, g.k = 3136, g.q.rq_count = 1;
    g.q.act_min = -128, g.q.act_max = 127;
    row("QGEMM 1x3136 x 3136x10 (classifier, batch 1)", LOOM_CU_KIND_QGEMM, &g);
    g.m = 1, g.n = 1000, g.k = 2048;
    row("QGEMM 1x2048 x 2048x1000 (batch 1)", LOOM_CU_KIND_QGEMM, &g);
    g.m = 256, g.n = 1024, g.k = 1024;
    row("QGEMM 256x1024 x 1024x1024", LOOM_CU_KIND_QGEMM, &g);

    memset(&p, 0, sizeof(p));
    loom_cu_hdr_init(&p.hdr, LOOM_CU_KIND_POOL, sizeof(p), 0);
    p.n = 1, p.c = 64, p.h = p.w = 28, p.oh = p.ow = 14, p.kh = p.kw = 2;
    p.stride_h = p.stride_w = 2, p.dil_h = p.dil_w = 1;
    p.q.act_min = -128, p.q.act_max = 127;
    row("POOL max 2x2/2, 64x28x28", LOOM_CU_KIND_POOL, &p);
    p.c = 2048, p.h = p.w = 7, p.oh = p.ow = 1, p.kh = p.kw = 7, p.q.rq_count = 49;
    p.hdr.flags = LOOM_CU_F_POOL_AVG;
    row("POOL global avg, 2048x7x7", LOOM_CU_KIND_POOL, &p);

    memset(&a, 0, sizeof(a));
    loom_cu_hdr_init(&a.hdr, LOOM_CU_KIND_QADD, sizeof(a), 0);
    a.dims[0] = 1, a.dims[1] = 256, a.dims[2] = 56, a.dims[3] = 56;
    a.a_strides[3] = a.b_strides[3] = 1, a.a_strides[2] = a.b_strides[2] = 56;
    a.a_strides[1] = a.b_strides[1] = 56 * 56, a.a_mult = a.b_mult = 1 << 30, a.shift = 31;
    a.act_min = -128, a.act_max = 127;
    row("QADD 256x56x56 (residual)", LOOM_CU_KIND_QADD, &a);
    return 0;
}
