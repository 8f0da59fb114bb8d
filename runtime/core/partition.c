/*
 * partition.c - lm_partition(): checks the problem, runs the exact solver
 * where its budget allows and the heuristic fallback where not, and reports
 * which ran. The problem and the solvers are described in partition.h.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "partition_internal.h"

#define DEFAULT_MAX_STATES (1L << 20)
#define DEFAULT_MAX_NODES  (1L << 21)

/* Improves @cand and keeps it in @a if it beats what @a holds (@have: @a
 * holds a feasible assignment); returns whether @a now holds one. */
static int keep_best(const lm_pp *pp, int *cand, int *a, int have)
{
    lm_part_eval ec, ea;
    if (lm_pp_eval(pp, cand, &ec))
        return have;
    lm_part_improve(pp, LM_PART_LATENCY, cand);
    lm_pp_eval(pp, cand, &ec);
    if (!have || lm_pp_eval(pp, a, &ea) || lm_part_compare(LM_PART_LATENCY, &ec, &ea) < 0)
        memcpy(a, cand, (size_t)pp->n * sizeof(int));
    return 1;
}

/* The best, each locally improved, of: HEFT (or packing by memory where it
 * runs out), the single-device plans, and under memory limits the relaxed
 * optimum @r repaired and the Lagrangian answer. */
static loom_status fallback_latency(const lm_pp *pp, long max_states, int *r, int *a,
                                    lm_part_result *res)
{
    res->algorithm = LM_PART_ALG_HEFT, res->exact = 0;
    int *c = malloc((size_t)pp->n * sizeof(int)), have = 0;
    if (!c)
        return lm_error(LOOM_ERR_NO_MEMORY, "partition: out of memory");
    loom_status s = lm_part_heft(pp, c);
    if (s)
        s = lm_part_pack(pp, c);
    if (!s)
        have = keep_best(pp, c, a, have);
    if (lm_part_try_single(pp, LM_PART_LATENCY, c, 0))
        have = keep_best(pp, c, a, have);
    if (r && !lm_part_repair(pp, r))
        have = keep_best(pp, r, a, have);
    if (pp->has_mem && !lm_part_lagrange(pp, max_states, c))
        have = keep_best(pp, c, a, have);
    free(c);
    if (!have)
        return s ? s : lm_error(LOOM_ERR_NO_MEMORY, "partition: no assignment found");
    return LOOM_OK;
}

/* Exact DP (first without the memory limits: if that optimum fits, done),
 * else the fallback. */
static loom_status solve_latency(const lm_pp *pp, long max_states, int *a, lm_part_result *res)
{
    int *r = pp->has_mem ? malloc((size_t)pp->n * sizeof(int)) : NULL;
    long states = 0;
    lm_part_eval ev;
    if (r && lm_part_relaxed_dp(pp, max_states, r, &states)) {
        free(r);
        r = NULL;
    }
    res->algorithm = LM_PART_ALG_DP, res->exact = 1, res->work = states;
    if (r && !lm_pp_eval(pp, r, &ev)) {
        memcpy(a, r, (size_t)pp->n * sizeof(int));
        free(r);
        return LOOM_OK;
    }
    int over;
    loom_status s = lm_part_dp(pp, max_states, a, &states, &over);
    res->work += states;
    if (s || !over)
        res->exact = !s;
    else
        s = fallback_latency(pp, max_states, r, a, res);
    free(r);
    return s;
}

/* Takes @cand into @a if it is feasible and better for throughput. */
static void take_if_better(const lm_pp *pp, const int *cand, int *a)
{
    lm_part_eval ec, ea;
    if (!lm_pp_eval(pp, cand, &ec) && !lm_pp_eval(pp, a, &ea) &&
        lm_part_compare(LM_PART_THROUGHPUT, &ec, &ea) < 0)
        memcpy(a, cand, (size_t)pp->n * sizeof(int));
}

/* Branch and bound from the latency answer in @a; beyond its budget, the
 * best of what it found, contiguous stages and single devices, improved. */
static loom_status solve_throughput(const lm_pp *pp, long max_nodes, int *a, lm_part_result *res)
{
    int *seed = malloc((size_t)pp->n * sizeof(int));
    if (!seed)
        return lm_error(LOOM_ERR_NO_MEMORY, "partition: out of memory");
    memcpy(seed, a, (size_t)pp->n * sizeof(int));
    int over;
    long latency_work = res->work;
    loom_status s = lm_part_bnb(pp, seed, max_nodes, a, &res->work, &over);
    res->work += latency_work;
    if (!s && !over) {
        res->algorithm = LM_PART_ALG_BNB, res->exact = 1;
    } else if (!s) {
        res->algorithm = LM_PART_ALG_STAGES, res->exact = 0;
        if (!lm_part_stages(pp, seed))
            take_if_better(pp, seed, a);
        lm_part_try_single(pp, LM_PART_THROUGHPUT, a, 1);
        lm_part_improve(pp, LM_PART_THROUGHPUT, a);
    }
    free(seed);
    return s;
}

static loom_status solve(const lm_pp *pp, const lm_part_options *opt, int *a, lm_part_result *res)
{
    loom_status s = lm_pp_precheck(pp);
    if (s)
        return s;
    long max_states = opt && opt->max_states > 0 ? opt->max_states : DEFAULT_MAX_STATES;
    long max_nodes = opt && opt->max_nodes > 0 ? opt->max_nodes : DEFAULT_MAX_NODES;
    s = solve_latency(pp, max_states, a, res);
    if (!s && opt && opt->objective == LM_PART_THROUGHPUT)
        s = solve_throughput(pp, max_nodes, a, res);
    if (!s && lm_pp_eval(pp, a, &res->eval))
        s = lm_error(LOOM_ERR_RUNTIME, "partition: a solver returned an infeasible assignment");
    return s;
}

loom_status lm_partition(const lm_part_problem *p, const lm_part_options *opt, int *device,
                         lm_part_result *res)
{
    if (!p || !res || (p->n_steps > 0 && !device))
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "partition: missing problem or result");
    memset(res, 0, sizeof(*res));
    if (opt && opt->objective != LM_PART_LATENCY && opt->objective != LM_PART_THROUGHPUT)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "partition: objective %d", (int)opt->objective);
    lm_pp pp;
    loom_status s = lm_pp_init(&pp, p);
    if (!s && pp.n == 0)
        res->algorithm = LM_PART_ALG_TRIVIAL, res->exact = 1;
    else if (!s)
        s = solve(&pp, opt, device, res);
    lm_pp_free(&pp);
    return s;
}
