/*
 * partition_gen.h - random partitioning problems for test_partition.c, and
 * a reference objective written from partition.h's definition alone (not
 * from the solvers' code), for brute force.
 */
#ifndef LOOM_TESTS_PARTITION_GEN_H
#define LOOM_TESTS_PARTITION_GEN_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/partition.h"

#define GEN_MAX_STEPS  512
#define GEN_MAX_DEVS   3
#define GEN_MAX_VALUES (2 * GEN_MAX_STEPS + 4)
#define GEN_MAX_READS  4

typedef enum gen_shape {
    GEN_CHAIN,
    GEN_DIAMOND,
    GEN_RESIDUAL,
    GEN_RANDOM,
    GEN_FAN,
    GEN_SHAPES
} gen_shape;

/* What a generated problem has besides its shape. */
enum {
    GEN_MEMORY = 1, /* step memory needs, device capacities */
    GEN_RULES = 2,  /* pins and excluded devices */
    GEN_COARSE = 4, /* whole microseconds from a handful of values: many exact ties */
};

typedef struct gen {
    uint64_t rng;
    int n, m, nv;
    double cost[GEN_MAX_STEPS * GEN_MAX_DEVS];
    int pin[GEN_MAX_STEPS];
    uint8_t excluded[GEN_MAX_DEVS];
    int priority[GEN_MAX_DEVS];
    lm_part_value values[GEN_MAX_VALUES];
    int consumers[GEN_MAX_VALUES][GEN_MAX_STEPS];
    int reads[GEN_MAX_STEPS][GEN_MAX_READS]; /* values each step reads */
    int n_reads[GEN_MAX_STEPS];
    double latency[GEN_MAX_DEVS * GEN_MAX_DEVS], bandwidth[GEN_MAX_DEVS * GEN_MAX_DEVS];
    double launch[GEN_MAX_DEVS];
    uint64_t capacity[GEN_MAX_DEVS], need[GEN_MAX_STEPS];
    lm_part_problem p;
} gen;

static inline uint64_t gen_next(gen *g)
{
    /* splitmix64: one seed, the same problems on every machine */
    uint64_t z = (g->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static inline int gen_int(gen *g, int lo, int hi)
{
    return lo + (int)(gen_next(g) % (uint64_t)(hi - lo + 1));
}

static inline int gen_chance(gen *g, int percent)
{
    return gen_int(g, 1, 100) <= percent;
}

/* A new value produced by @producer (-1: graph input). */
static inline int gen_value(gen *g, int producer)
{
    int v = g->nv++;
    g->values[v] = (lm_part_value){.producer = producer, .bytes = (uint64_t)gen_int(g, 0, 400000)};
    return v;
}

static inline void gen_read(gen *g, int step, int v)
{
    if (g->n_reads[step] < GEN_MAX_READS)
        g->reads[step][g->n_reads[step]++] = v;
}

/* Step i reads the outputs of @shape's predecessors; out[i] is its output. */
static inline void gen_edges(gen *g, gen_shape shape, const int *out, int in)
{
    for (int i = 0; i < g->n; i++) {
        int prev = i ? out[i - 1] : in;
        switch (shape) {
        case GEN_CHAIN:
            gen_read(g, i, prev);
            break;
        case GEN_DIAMOND: /* 0 -> {1, 2} -> 3 -> {4, 5} -> 6 ... */
            gen_read(g, i, i % 3 == 2 && i >= 2 ? out[i - 2] : prev);
            if (i % 3 == 0 && i >= 3)
                gen_read(g, i, out[i - 2]);
            break;
        case GEN_RESIDUAL: /* x -> a -> b -> add(x, b) */
            gen_read(g, i, prev);
            if (i % 3 == 2)
                gen_read(g, i, i >= 3 ? out[i - 3] : in);
            break;
        case GEN_FAN: /* step 0 feeds all, the last reads all */
            gen_read(g, i, i ? out[0] : in);
            for (int j = 1; i == g->n - 1 && j < i && j < GEN_MAX_READS; j++)
                gen_read(g, i, out[j]);
            break;
        default: /* random DAG over earlier outputs and the input */
            for (int k = gen_int(g, 1, 3); k > 0; k--) {
                int j = gen_int(g, -1, i - 1);
                gen_read(g, i, j < 0 ? in : out[j]);
            }
            break;
        }
    }
}

static inline void gen_link_values(gen *g)
{
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->n_reads[i]; k++) {
            lm_part_value *v = &g->values[g->reads[i][k]];
            g->consumers[g->reads[i][k]][v->n_consumers++] = i;
        }
    for (int v = 0; v < g->nv; v++) {
        g->values[v].consumers = g->consumers[v];
        /* unread values are outputs; a few read ones are too */
        g->values[v].is_output = g->values[v].n_consumers == 0 || gen_chance(g, 10);
    }
}

static inline void gen_costs(gen *g, int host, int coarse)
{
    /* quarter microseconds, so rounding to ns is exercised too; or whole
     * ones from 0..3, so that many assignments tie */
    int top = coarse ? 3 : 400, unit = coarse ? 1 : 4;
    for (int i = 0; i < g->n; i++)
        for (int d = 0; d < g->m; d++) {
            int unsupported = gen_chance(g, d == host ? 3 : 15);
            g->cost[i * g->m + d] = unsupported ? -1.0 : (double)gen_int(g, 0, top) / unit;
        }
    for (int a = 0; a < g->m; a++) {
        g->launch[a] = coarse ? gen_int(g, 0, 1) : gen_int(g, 0, 60) / 4.0;
        for (int b = 0; b < g->m; b++) {
            g->latency[a * g->m + b] = coarse ? gen_int(g, 0, 2) : gen_int(g, 0, 80) / 4.0;
            g->bandwidth[a * g->m + b] = coarse ? 1e12 : gen_int(g, 1000, 20000);
        }
    }
}

static inline void gen_rules(gen *g, int host, int flags)
{
    for (int i = 0; i < g->n; i++) {
        g->pin[i] = (flags & GEN_RULES) && gen_chance(g, 8) ? gen_int(g, 0, g->m - 1) : -1;
        g->need[i] = (flags & GEN_MEMORY) ? (uint64_t)gen_int(g, 0, 100) : 0;
    }
    for (int d = 0; d < g->m; d++) {
        g->excluded[d] = (flags & GEN_RULES) && d != host && gen_chance(g, 10);
        g->capacity[d] = (flags & GEN_MEMORY) && d != host && gen_chance(g, 70)
                             ? (uint64_t)gen_int(g, 50, 60 * g->n + 50)
                             : 0;
        g->priority[d] = d;
    }
    for (int d = g->m - 1; d > 0; d--) { /* a random priority order */
        int j = gen_int(g, 0, d), t = g->priority[d];
        g->priority[d] = g->priority[j], g->priority[j] = t;
    }
}

/* Fills @g with a problem of @n steps on @m devices with GEN_* @flags; wires g->p. */
static inline void gen_problem(gen *g, uint64_t seed, gen_shape shape, int n, int m, int flags)
{
    memset(g, 0, sizeof(*g));
    g->rng = seed;
    g->n = n, g->m = m;
    int host = gen_int(g, 0, m - 1);
    int in = gen_value(g, -1);
    int out[GEN_MAX_STEPS];
    for (int i = 0; i < n; i++)
        out[i] = gen_value(g, i);
    if (gen_chance(g, 30)) /* a constant read by a late step */
        gen_read(g, n - 1, gen_value(g, -1));
    gen_edges(g, shape, out, in);
    gen_link_values(g);
    gen_costs(g, host, flags & GEN_COARSE);
    gen_rules(g, host, flags);
    g->p = (lm_part_problem){
        .n_steps = n,
        .n_devices = m,
        .host = host,
        .cost = g->cost,
        .pin = g->pin,
        .excluded = g->excluded,
        .priority = g->priority,
        .n_values = g->nv,
        .values = g->values,
        .latency = g->latency,
        .bandwidth = g->bandwidth,
        .launch = g->launch,
        .mem_capacity = g->capacity,
        .mem_need = g->need,
    };
}

/* ---- the reference objective, from partition.h's text ---- */

static inline int64_t ref_ns(double us)
{
    return (int64_t)llround(us * 1000.0);
}

static inline int64_t ref_hop(const lm_part_problem *p, int a, int b, uint64_t bytes)
{
    int m = p->n_devices;
    return ref_ns(p->latency[a * m + b] + (double)bytes / p->bandwidth[a * m + b]);
}

/* 0 and the figures if @a is feasible, -1 if not. */
static inline int ref_eval(const lm_part_problem *p, const int *a, int64_t *total,
                           int64_t *bottleneck)
{
    int m = p->n_devices, h = p->host;
    int64_t load[GEN_MAX_DEVS] = {0}, sum = 0;
    uint64_t used[GEN_MAX_DEVS] = {0};
    for (int i = 0; i < p->n_steps; i++) {
        int d = a[i];
        if (p->excluded[d] || (p->pin[i] >= 0 && p->pin[i] != d) || p->cost[i * m + d] < 0)
            return -1;
        used[d] += p->mem_need[i];
        if (p->mem_capacity[d] && used[d] > p->mem_capacity[d])
            return -1;
        int64_t c =
            ref_ns(p->cost[i * m + d]) + (i == 0 || a[i - 1] != d ? ref_ns(p->launch[d]) : 0);
        load[d] += c, sum += c;
    }
    for (int v = 0; v < p->n_values; v++) {
        const lm_part_value *val = &p->values[v];
        int src = val->producer >= 0 ? a[val->producer] : h;
        unsigned dest = val->is_output ? 1u << h : 0;
        for (int k = 0; k < val->n_consumers; k++)
            dest |= 1u << a[val->consumers[k]];
        dest &= ~(1u << src);
        if (!dest)
            continue;
        if (src != h) { /* to the host once; its copy serves the others */
            int64_t c = ref_hop(p, src, h, val->bytes);
            load[h] += c, sum += c;
        }
        for (int b = 0; b < m; b++)
            if (b != h && (dest & (1u << b))) {
                int64_t c = ref_hop(p, h, b, val->bytes);
                load[b] += c, sum += c;
            }
    }
    *total = sum, *bottleneck = 0;
    for (int d = 0; d < m; d++)
        if (load[d] > *bottleneck)
            *bottleneck = load[d];
    return 0;
}

#endif
