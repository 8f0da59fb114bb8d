/*
 * The cycle model of the Loom card's CUs: what one START_CU costs on the
 * modelled FPGA, from its descriptor alone. The card model reports it in the
 * completion's cycles; the planner turns it into time at LOOM_CU_CLOCK_MHZ.
 * Assumptions (hls/README.md "Throughput" gives the figures):
 *  - QGEMM/QCONV: a TM x TN MAC array, one K step per cycle per output tile;
 *    tile staging and write-back (one row of TN outputs per cycle, so TM
 *    cycles a tile) are double-buffered behind the next tile's MACs, so a
 *    tile costs max(K, TM) cycles, plus TM + TN of fill and drain per command
 *    and the requantizer's pipeline depth (LOOM_CU_RQ_LATENCY).
 *  - Depthwise QCONV: TN channels x TM pixels per cycle, one tap per cycle
 *    (max(KH*KW, TM) cycles a tile).
 *  - POOL: LOOM_CU_LANES window taps per cycle (plus the requantizer's depth
 *    when it requantizes); QADD and VADD
 *    LOOM_CU_LANES elements per cycle; MEMCPY limited by memory alone.
 *  - Memory: LOOM_CU_MEM_BYTES_PER_CYCLE for reads and writes together,
 *    overlapped with compute: a CU takes the larger of the two.
 *    QGEMM keeps a K x TN weight panel on chip when it fits in 64 KiB
 *    (else B is fetched again per row tile); A (the im2col stream for QCONV)
 *    is fetched once per output-channel tile.
 *  - LOOM_CU_START_CYCLES per command for the descriptor and completion.
 */
#include "loom_cu.h"

#define PANEL_BYTES (64u * 1024u)

static uint64_t cdiv(uint64_t a, uint64_t b)
{
    return (a + b - 1) / b;
}

static uint64_t total(uint64_t compute, uint64_t bytes)
{
    uint64_t mem = cdiv(bytes, LOOM_CU_MEM_BYTES_PER_CYCLE);

    return LOOM_CU_START_CYCLES + (compute > mem ? compute : mem);
}

/* One output tile of a K-long reduction, write-back overlapped; fill/drain once. */
static uint64_t tile_cycles(uint64_t k)
{
    return k > LOOM_CU_TM ? k : LOOM_CU_TM;
}

#define FILL_DRAIN (LOOM_CU_TM + LOOM_CU_TN + LOOM_CU_RQ_LATENCY)

static uint64_t qgemm_cycles(const struct loom_cu_qgemm_desc *d)
{
    uint64_t mt = cdiv(d->m, LOOM_CU_TM), nt = cdiv(d->n, LOOM_CU_TN);
    uint64_t tiles = d->batch * mt * nt;
    uint64_t compute = tiles * tile_cycles(d->k);
    uint64_t a = (uint64_t)d->m * d->k, b = (uint64_t)d->k * d->n, y = (uint64_t)d->m * d->n;
    uint64_t b_reads = (uint64_t)d->k * LOOM_CU_TN <= PANEL_BYTES ? 1 : mt;
    uint64_t bytes = d->batch * (a * nt + b * b_reads + y) + (uint64_t)d->n * 4 +
                     (uint64_t)d->q.rq_count * sizeof(struct loom_rq);

    return total(compute + FILL_DRAIN, bytes);
}

static uint64_t qconv_cycles(const struct loom_cu_qconv_desc *d)
{
    uint64_t P = (uint64_t)d->oh * d->ow, Cg = d->c / d->group, Mg = d->m / d->group;
    uint64_t K = Cg * d->kh * d->kw, pt = cdiv(P, LOOM_CU_TM);
    uint64_t x = (uint64_t)d->c * d->h * d->w, w = (uint64_t)d->m * K, y = (uint64_t)d->m * P;
    uint64_t compute, bytes;

    if (d->group == d->c && d->group == d->m) {
        compute = d->n * cdiv(d->c, LOOM_CU_TN) * pt * tile_cycles((uint64_t)d->kh * d->kw);
        bytes = d->n * (x + y) + w;
    } else {
        uint64_t nt = cdiv(Mg, LOOM_CU_TN);

        compute = d->n * d->group * nt * pt * tile_cycles(K);
        bytes = d->n * (x * nt + y) + w;
    }
    bytes += (uint64_t)d->m * 4 + (uint64_t)d->q.rq_count * sizeof(struct loom_rq);
    return total(compute + FILL_DRAIN, bytes);
}

static uint64_t pool_cycles(const struct loom_cu_pool_desc *d)
{
    uint64_t planes = (uint64_t)d->n * d->c, out = planes * d->oh * d->ow;
    uint64_t taps = out * d->kh * d->kw;
    uint64_t drain = d->q.rq_count ? LOOM_CU_RQ_LATENCY : 0;

    return total(cdiv(taps, LOOM_CU_LANES) + drain, planes * d->h * d->w + out);
}

static uint64_t qadd_elems(const struct loom_cu_qadd_desc *d)
{
    return (uint64_t)d->dims[0] * d->dims[1] * d->dims[2] * d->dims[3];
}

uint64_t loom_cu_ops(uint32_t kind, const void *desc)
{
    const struct loom_cu_qgemm_desc *g = desc;
    const struct loom_cu_qconv_desc *c = desc;
    const struct loom_cu_pool_desc *p = desc;

    switch (kind) {
    case LOOM_CU_KIND_QGEMM:
        return (uint64_t)g->batch * g->m * g->n * g->k;
    case LOOM_CU_KIND_QCONV:
        return (uint64_t)c->n * c->m * c->oh * c->ow * (c->c / c->group) * c->kh * c->kw;
    case LOOM_CU_KIND_POOL:
        return (uint64_t)p->n * p->c * p->oh * p->ow * p->kh * p->kw;
    case LOOM_CU_KIND_QADD:
        return qadd_elems(desc);
    }
    return 0;
}

uint64_t loom_cu_cycles(uint32_t kind, const void *desc, const uint64_t *args, uint32_t nargs)
{
    switch (kind) {
    case LOOM_CU_KIND_NOOP:
        return 1;
    case LOOM_CU_KIND_MEMCPY:
        return nargs >= 3 ? total(0, 2 * args[2]) : LOOM_CU_START_CYCLES;
    case LOOM_CU_KIND_VADD:
        return nargs >= 4 ? total(cdiv(args[3], LOOM_CU_LANES), 12 * args[3])
                          : LOOM_CU_START_CYCLES;
    case LOOM_CU_KIND_QGEMM:
        return qgemm_cycles(desc);
    case LOOM_CU_KIND_QCONV:
        return qconv_cycles(desc);
    case LOOM_CU_KIND_POOL:
        return pool_cycles(desc);
    case LOOM_CU_KIND_QADD:
        return total(cdiv(qadd_elems(desc), LOOM_CU_LANES), 3 * qadd_elems(desc));
    }
    return 1;
}
