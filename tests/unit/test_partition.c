/*
 * test_partition.c - core/partition.h: the partitioner against brute force
 * over every assignment of a generated set of small problems, for both
 * objectives; infeasible problems and bad rules; determinism and the tie
 * rule; the fallbacks; and the time taken on large graphs (printed only).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/test_main.h"
#include "partition_gen.h"

#define BRUTE_MAX_STEPS 12
#define N_GENERATED     720

typedef struct best {
    int feasible;
    int a[BRUTE_MAX_STEPS];
    int64_t total, bottleneck;
} best;

static int better(lm_part_objective obj, int64_t t1, int64_t b1, const best *b)
{
    if (!b->feasible)
        return 1;
    if (obj == LM_PART_THROUGHPUT && b1 != b->bottleneck)
        return b1 < b->bottleneck;
    return t1 < b->total;
}

/* Every assignment in tie order (step 0 first, devices by priority), keeping
 * the first best for each objective. */
static void brute_force(const gen *g, best out[2])
{
    int digit[BRUTE_MAX_STEPS] = {0}, a[BRUTE_MAX_STEPS];
    memset(out, 0, 2 * sizeof(best));
    for (;;) {
        for (int i = 0; i < g->n; i++)
            a[i] = g->priority[digit[i]];
        int64_t t, b;
        if (!ref_eval(&g->p, a, &t, &b))
            for (int obj = 0; obj < 2; obj++)
                if (better((lm_part_objective)obj, t, b, &out[obj])) {
                    out[obj] = (best){.feasible = 1, .total = t, .bottleneck = b};
                    memcpy(out[obj].a, a, sizeof(a));
                }
        int i = g->n - 1;
        while (i >= 0 && ++digit[i] == g->m)
            digit[i--] = 0;
        if (i < 0)
            return;
    }
}

/* The best assignment with every step on one device, per objective; 0 if none. */
static int best_single(const gen *g, lm_part_objective obj, int64_t *total, int64_t *bottleneck)
{
    int *a = malloc((size_t)g->n * sizeof(int)), found = 0;
    for (int d = 0; d < g->m; d++) {
        for (int i = 0; i < g->n; i++)
            a[i] = d;
        int64_t t, b;
        if (ref_eval(&g->p, a, &t, &b))
            continue;
        int win = !found ||
                  (obj == LM_PART_THROUGHPUT && b != *bottleneck ? b < *bottleneck : t < *total);
        if (obj == LM_PART_THROUGHPUT && found && b == *bottleneck)
            win = t < *total;
        if (win)
            *total = t, *bottleneck = b, found = 1;
    }
    free(a);
    return found;
}

static int has_capacity(const gen *g)
{
    for (int d = 0; d < g->m; d++)
        if (g->capacity[d])
            return 1;
    return 0;
}

typedef struct tally {
    int graphs, feasible, infeasible, heuristic_misses, mixed, big;
    int alg[LM_PART_ALG_TRIVIAL + 1];
} tally;

/* The exact solvers give brute force's assignment and value. */
static void check_exact(const gen *g, lm_part_objective obj, const best *b, uint64_t seed, tally *t)
{
    int a[BRUTE_MAX_STEPS];
    lm_part_result r;
    lm_part_options opt = {.objective = obj};
    loom_status s = lm_partition(&g->p, &opt, a, &r);
    if (!b->feasible) {
        if (s == LOOM_OK)
            print_error("seed %llu: brute force finds no assignment\n", (unsigned long long)seed);
        assert_int_not_equal(s, LOOM_OK);
        assert_non_null(strstr(loom_last_error(), "step "));
        t->infeasible++;
        return;
    }
    if (s)
        print_error("seed %llu: %s\n", (unsigned long long)seed, loom_last_error());
    assert_int_equal(s, LOOM_OK);
    assert_true(r.exact);
    t->feasible++, t->alg[r.algorithm]++;
    for (int i = 1; i < g->n; i++)
        if (a[i] != a[0]) {
            t->mixed++; /* the optimum uses several devices */
            break;
        }
    t->big += g->n == BRUTE_MAX_STEPS && g->m == GEN_MAX_DEVS;
    int64_t total, bott;
    assert_int_equal(ref_eval(&g->p, a, &total, &bott), 0);
    assert_int_equal(r.eval.total_ns, total);
    assert_int_equal(r.eval.bottleneck_ns, bott);
    if (obj == LM_PART_THROUGHPUT)
        assert_int_equal(bott, b->bottleneck);
    assert_int_equal(total, b->total);
    if (memcmp(a, b->a, (size_t)g->n * sizeof(int)))
        print_error("seed %llu obj %d: not the first optimum in tie order\n",
                    (unsigned long long)seed, (int)obj);
    assert_memory_equal(a, b->a, (size_t)g->n * sizeof(int));
}

/* With budgets of one state and one node, the fallbacks answer: a valid
 * assignment, no better than the optimum, no worse than one device. */
static void check_fallback(const gen *g, lm_part_objective obj, const best *b, tally *t)
{
    int a[BRUTE_MAX_STEPS];
    lm_part_result r;
    lm_part_options opt = {.objective = obj, .max_states = 1, .max_nodes = 1};
    loom_status s = lm_partition(&g->p, &opt, a, &r);
    if (!b->feasible) {
        assert_int_not_equal(s, LOOM_OK);
        return;
    }
    if (s == LOOM_ERR_NO_MEMORY && has_capacity(g)) {
        t->heuristic_misses++; /* a greedy packing may miss one that exists */
        return;
    }
    assert_int_equal(s, LOOM_OK);
    int64_t total, bott, st = 0, sb = 0;
    assert_int_equal(ref_eval(&g->p, a, &total, &bott), 0);
    assert_int_equal(r.eval.total_ns, total);
    if (obj == LM_PART_LATENCY) {
        assert_true(total >= b->total);
    } else {
        assert_true(bott > b->bottleneck || (bott == b->bottleneck && total >= b->total));
    }
    if (best_single(g, obj, &st, &sb)) {
        if (obj == LM_PART_LATENCY)
            assert_true(total <= st);
        else
            assert_true(bott < sb || (bott == sb && total <= st));
    }
}

static void generated_graphs_match_brute_force(void **state)
{
    (void)state;
    gen *g = malloc(sizeof(gen));
    tally t = {0}, fb = {0};
    uint64_t pick = 12345;
    for (int k = 0; k < N_GENERATED; k++) {
        gen_shape shape = (gen_shape)(k % GEN_SHAPES);
        int n = 1 + (int)((pick = pick * 6364136223846793005ull + 1442695040888963407ull) >> 33) %
                        BRUTE_MAX_STEPS;
        int m = 1 + (k / GEN_SHAPES) % GEN_MAX_DEVS;
        int flags = (k / 15) % 8; /* every mix of GEN_MEMORY, GEN_RULES, GEN_COARSE */
        gen_problem(g, (uint64_t)k, shape, n, m, flags);
        best b[2];
        brute_force(g, b);
        t.graphs++;
        for (int obj = 0; obj < 2; obj++) {
            check_exact(g, (lm_part_objective)obj, &b[obj], (uint64_t)k, &t);
            check_fallback(g, (lm_part_objective)obj, &b[obj], &fb);
        }
    }
    print_message("%d graphs, %d feasible and %d infeasible (problem, objective) pairs: "
                  "dp %d, bnb %d; %d optima on several devices, %d of %d steps on %d devices; "
                  "fallback missed %d memory packings\n",
                  t.graphs, t.feasible, t.infeasible, t.alg[LM_PART_ALG_DP], t.alg[LM_PART_ALG_BNB],
                  t.mixed, t.big, BRUTE_MAX_STEPS, GEN_MAX_DEVS, fb.heuristic_misses);
    assert_true(t.infeasible > 10 && t.feasible > 5 * t.infeasible && t.mixed > t.feasible / 4);
    free(g);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(generated_graphs_match_brute_force),
};

LM_TEST_MAIN(tests)
