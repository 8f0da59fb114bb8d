/*
 * test_partition.c - core/partition.h: the partitioner against brute force
 * over every assignment of a generated set of small problems, for both
 * objectives; infeasible problems and bad rules; determinism and the tie
 * rule; the fallbacks; and the time taken on large graphs (printed only).
 */
#include <stdio.h>
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

/* The CPU runs every op of a real model: no step without a device. */
static void host_runs_all(gen *g)
{
    for (int i = 0; i < g->n; i++)
        if (g->cost[i * g->m + g->p.host] < 0)
            g->cost[i * g->m + g->p.host] = 50;
}

/* A hand-built problem: @n steps in a chain on host 0 and devices 1, 2. */
typedef struct hand {
    double cost[8 * 3], lat[9], bw[9], launch[3];
    int pin[8];
    uint8_t excluded[3];
    uint64_t cap[3], need[8];
    lm_part_value values[9];
    int cons[9][1];
    lm_part_problem p;
} hand;

static void hand_chain(hand *h, int n)
{
    memset(h, 0, sizeof(*h));
    for (int i = 0; i < 9; i++)
        h->lat[i] = 1, h->bw[i] = 1000; /* 1 µs + 1 ns per byte per hop */
    for (int i = 0; i < 8; i++)
        h->pin[i] = -1;
    for (int v = 0; v <= n; v++) { /* value v: from step v - 1 to step v */
        h->cons[v][0] = v;
        h->values[v] = (lm_part_value){.producer = v - 1,
                                       .bytes = 1000,
                                       .n_consumers = v < n,
                                       .consumers = h->cons[v],
                                       .is_output = v == n};
    }
    h->p = (lm_part_problem){.n_steps = n,
                             .n_devices = 3,
                             .host = 0,
                             .cost = h->cost,
                             .pin = h->pin,
                             .excluded = h->excluded,
                             .n_values = n + 1,
                             .values = h->values,
                             .latency = h->lat,
                             .bandwidth = h->bw,
                             .launch = h->launch,
                             .mem_capacity = h->cap,
                             .mem_need = h->need};
}

/* The cost model by hand: a hop between two cards goes through the host as
 * two hops; the host copy is paid once; outputs end on the host. */
static void objective_by_hand(void **state)
{
    (void)state;
    hand h;
    hand_chain(&h, 3);
    for (int i = 0; i < 9; i++)
        h.cost[i] = 10;
    h.launch[0] = 1, h.launch[1] = 2, h.launch[2] = 3;
    /* a second reader of step 0's output, on the host */
    static const int readers[2] = {1, 2};
    h.values[1].n_consumers = 2, h.values[1].consumers = readers;
    int a[3] = {1, 2, 0}; /* card 1, card 2, host */
    lm_part_eval ev;
    assert_int_equal(lm_part_evaluate(&h.p, a, &ev), LOOM_OK);
    /* steps 30; launches 2 + 3 + 1; hops of 2 µs: input host->1, v1 1->host
     * (once) and host->2, v2 2->host; v3 is on the host already */
    assert_int_equal(ev.step_ns, 30000);
    assert_int_equal(ev.launch_ns, 6000);
    assert_int_equal(ev.hops, 4);
    assert_int_equal(ev.hop_ns, 8000);
    assert_int_equal(ev.total_ns, 44000);
    assert_int_equal(ev.load_ns[0], 10000 + 1000 + 4000);
    assert_int_equal(ev.load_ns[1], 10000 + 2000 + 2000);
    assert_int_equal(ev.load_ns[2], 10000 + 3000 + 2000);
    assert_int_equal(ev.bottleneck_ns, 15000);
    assert_int_equal(ev.segments, 3);
    int64_t t, b;
    assert_int_equal(ref_eval(&h.p, a, &t, &b), 0);
    assert_int_equal(t, ev.total_ns);
    assert_int_equal(b, ev.bottleneck_ns);
}

static void expect_error(const lm_part_problem *p, loom_status want, const char *s1, const char *s2)
{
    int a[8];
    lm_part_result r;
    for (int obj = 0; obj < 2; obj++) {
        lm_part_options opt = {.objective = (lm_part_objective)obj};
        loom_status s = lm_partition(p, &opt, a, &r);
        if (s != want || !strstr(loom_last_error(), s1) || (s2 && !strstr(loom_last_error(), s2)))
            print_error("got %s: %s\n", loom_status_name(s), loom_last_error());
        assert_int_equal(s, want);
        assert_non_null(strstr(loom_last_error(), s1));
        if (s2)
            assert_non_null(strstr(loom_last_error(), s2));
    }
}

/* Each impossible problem is an error naming the step and the device or rule. */
static void infeasible_problems_name_the_step(void **state)
{
    (void)state;
    hand h;
    static const char *const steps[] = {"conv0", "relu1", "conv2", "fc3"};
    static const char *const devs[] = {"cpu", "card:0", "gpu:0"};
    hand_chain(&h, 4);
    h.p.step_names = steps, h.p.dev_names = devs;
    for (int i = 0; i < 12; i++)
        h.cost[i] = 5;
    h.cost[2 * 3 + 1] = -1; /* card:0 cannot run conv2 */
    h.pin[2] = 1;
    expect_error(&h.p, LOOM_ERR_INVALID_ARGUMENT, "step 2 (conv2)", "card:0, which cannot run it");
    h.pin[2] = 2, h.excluded[2] = 1;
    expect_error(&h.p, LOOM_ERR_INVALID_ARGUMENT, "step 2 (conv2)", "gpu:0, which is excluded");
    h.pin[2] = -1;
    h.cost[1 * 3 + 0] = h.cost[1 * 3 + 1] = h.cost[1 * 3 + 2] = -1;
    expect_error(&h.p, LOOM_ERR_UNSUPPORTED, "step 1 (relu1)", "no allowed device");
    h.cost[1 * 3 + 2] = 5; /* only the excluded gpu:0 could */
    expect_error(&h.p, LOOM_ERR_UNSUPPORTED, "step 1 (relu1)", "no allowed device");
    h.cost[1 * 3 + 0] = h.cost[1 * 3 + 1] = 5, h.excluded[2] = 0;
    /* memory: the host is full, cards hold 100 bytes each */
    h.cap[0] = 1, h.cap[1] = h.cap[2] = 100;
    h.need[3] = 101;
    expect_error(&h.p, LOOM_ERR_NO_MEMORY, "step 3 (fc3)", "more than the memory");
    h.need[3] = 60, h.need[2] = 60, h.need[1] = 60, h.need[0] = 0;
    expect_error(&h.p, LOOM_ERR_NO_MEMORY, "step 3 (fc3)", "out of memory");
    h.need[0] = 60, h.pin[0] = h.pin[1] = 1, h.pin[2] = h.pin[3] = 2;
    expect_error(&h.p, LOOM_ERR_NO_MEMORY, "step 1 (relu1)", "card:0");
}

/* Malformed problems and rules that match nothing are errors too. */
static void bad_problems_are_errors(void **state)
{
    (void)state;
    hand h;
    hand_chain(&h, 3);
    int a[3];
    lm_part_result r;
    int bad_priority[3] = {0, 1, 1};
    h.p.priority = bad_priority;
    assert_int_equal(lm_partition(&h.p, NULL, a, &r), LOOM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(loom_last_error(), "priority"));
    h.p.priority = NULL;
    h.pin[1] = 3;
    assert_int_equal(lm_partition(&h.p, NULL, a, &r), LOOM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(loom_last_error(), "step 1 pinned to device 3"));
    h.pin[1] = -1;
    h.cons[2][0] = 0; /* step 1's output read by step 0 */
    assert_int_equal(lm_partition(&h.p, NULL, a, &r), LOOM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(loom_last_error(), "topological"));
    h.cons[2][0] = 2;
    h.bw[0 * 3 + 1] = 0;
    assert_int_equal(lm_partition(&h.p, NULL, a, &r), LOOM_ERR_INVALID_ARGUMENT);
    h.bw[0 * 3 + 1] = 1000, h.p.host = 3;
    assert_int_equal(lm_partition(&h.p, NULL, a, &r), LOOM_ERR_INVALID_ARGUMENT);
    h.p.host = 0;
    assert_int_equal(lm_partition(&h.p, NULL, a, &r), LOOM_OK);
    int off[3] = {0, 7, 0};
    assert_int_equal(lm_part_evaluate(&h.p, off, &r.eval), LOOM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(loom_last_error(), "step 1: no device 7"));
    h.pin[2] = 1;
    assert_int_equal(lm_part_evaluate(&h.p, a, &r.eval), LOOM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(loom_last_error(), "pinned"));
    /* no steps: nothing to do */
    h.p.n_steps = 0, h.p.n_values = 0;
    assert_int_equal(lm_partition(&h.p, NULL, a, &r), LOOM_OK);
    assert_int_equal(r.algorithm, LM_PART_ALG_TRIVIAL);
}

/* Equal costs everywhere: the first device in priority order takes all. */
static void ties_go_to_priority(void **state)
{
    (void)state;
    hand h;
    hand_chain(&h, 4);
    for (int i = 0; i < 12; i++)
        h.cost[i] = 7;
    for (int i = 0; i < 9; i++)
        h.lat[i] = 0;
    h.p.bandwidth = NULL; /* free transfers: every single device ties */
    int prio[3] = {2, 0, 1};
    h.p.priority = prio;
    int a[4];
    lm_part_result r;
    for (int obj = 0; obj < 2; obj++) {
        lm_part_options opt = {.objective = (lm_part_objective)obj};
        assert_int_equal(lm_partition(&h.p, &opt, a, &r), LOOM_OK);
        for (int i = 0; i < 4; i++)
            assert_int_equal(a[i], obj == LM_PART_LATENCY ? 2 : a[i]);
    }
    /* throughput spreads the load (14 µs at most on a device); among the
     * spreads, the first in priority order */
    int want[4] = {2, 2, 0, 0};
    assert_memory_equal(a, want, sizeof(want));
}

/* A card slightly faster on every other step: with launches and transfers
 * priced, hopping there does not pay; with both free it would. */
static void no_ping_pong(void **state)
{
    (void)state;
    hand h;
    hand_chain(&h, 8);
    for (int i = 0; i < 8; i++) {
        h.cost[i * 3 + 0] = 10;
        h.cost[i * 3 + 1] = i % 2 ? 9 : 12;
        h.cost[i * 3 + 2] = -1;
    }
    h.launch[0] = h.launch[1] = 2;
    int a[8];
    lm_part_result r;
    assert_int_equal(lm_partition(&h.p, NULL, a, &r), LOOM_OK);
    assert_int_equal(r.eval.segments, 1);
    h.launch[0] = h.launch[1] = 0, h.p.latency = NULL, h.p.bandwidth = NULL;
    assert_int_equal(lm_partition(&h.p, NULL, a, &r), LOOM_OK);
    assert_int_equal(r.eval.segments, 8);
}

/* The same table gives the same assignment, exact or not. */
static void same_table_same_answer(void **state)
{
    (void)state;
    gen *g = malloc(sizeof(gen));
    int *a = malloc(GEN_MAX_STEPS * sizeof(int)), *b = malloc(GEN_MAX_STEPS * sizeof(int));
    for (int k = 0; k < 40; k++) {
        int n = k < 30 ? 12 : 200;
        gen_problem(g, 1000 + (uint64_t)k, (gen_shape)(k % GEN_SHAPES), n, 3, k % 8);
        host_runs_all(g);
        /* budgets: none (the small problems finish exact), the fallback at
         * once, and one the large problems run out of part way */
        static const long budgets[] = {0, 1, 4096};
        for (int obj = 0; obj < 2; obj++)
            for (int bi = n > 12; bi < 3; bi++) {
                lm_part_options opt = {.objective = (lm_part_objective)obj,
                                       .max_states = budgets[bi],
                                       .max_nodes = budgets[bi]};
                lm_part_result r1, r2;
                loom_status s1 = lm_partition(&g->p, &opt, a, &r1);
                loom_status s2 = lm_partition(&g->p, &opt, b, &r2);
                assert_int_equal(s1, s2);
                if (!s1)
                    assert_memory_equal(a, b, (size_t)n * sizeof(int));
            }
    }
    free(a);
    free(b);
    free(g);
}

/* The module is pure: its files include only core headers and libc. Reads
 * the source tree, so it runs from the repository root (as make unit does). */
static void includes_only_core(void **state)
{
    (void)state;
    FILE *p = popen("grep -h '^#include \"' runtime/core/partition*.[ch] 2>/dev/null", "r");
    assert_non_null(p);
    char line[256];
    int lines = 0, others = 0;
    while (fgets(line, sizeof(line), p)) {
        lines++;
        if (strcmp(line, "#include \"error.h\"\n") && strcmp(line, "#include \"loom/loom.h\"\n") &&
            strncmp(line, "#include \"partition", 19)) {
            print_error("includes %s", line);
            others++;
        }
    }
    pclose(p);
    if (!lines)
        skip();
    assert_int_equal(others, 0);
}

/* Milliseconds on @clock: wall time, and this thread's CPU time, which the
 * other jobs of a shared machine do not inflate. */
static double now_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Partitions @g for @obj, checks the answer is valid, prints the time. */
static lm_part_result timed(const gen *g, lm_part_objective obj, const char *what, int *a)
{
    lm_part_options opt = {.objective = obj};
    lm_part_result r;
    double t0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_THREAD_CPUTIME_ID);
    loom_status s = lm_partition(&g->p, &opt, a, &r);
    double ms = now_ms(CLOCK_MONOTONIC) - t0, cpu = now_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
    if (s)
        print_error("%s\n", loom_last_error());
    assert_int_equal(s, LOOM_OK);
    int64_t total, bott;
    assert_int_equal(ref_eval(&g->p, a, &total, &bott), 0);
    assert_int_equal(r.eval.total_ns, total);
    assert_int_equal(r.eval.bottleneck_ns, bott);
    print_message(
        "%s, %s: %s%s, %ld states/nodes, %.1f ms (cpu %.1f ms); total %.1f us, bottleneck %.1f us, "
        "%d segments\n",
        what, obj == LM_PART_LATENCY ? "latency" : "throughput",
        lm_part_algorithm_name(r.algorithm), r.exact ? " (exact)" : "", r.work, ms, cpu,
        total / 1e3, bott / 1e3, r.eval.segments);
    return r;
}

/* 500 steps of residual blocks on 3 devices: the DP is exact and quick. */
static void chain_of_blocks_500_steps(void **state)
{
    (void)state;
    gen *g = malloc(sizeof(gen));
    int *a = malloc(GEN_MAX_STEPS * sizeof(int));
    gen_problem(g, 500, GEN_RESIDUAL, 500, 3, 0);
    host_runs_all(g);
    lm_part_result r = timed(g, LM_PART_LATENCY, "500-step chain of blocks", a);
    assert_int_equal(r.algorithm, LM_PART_ALG_DP);
    assert_true(r.exact);
    int64_t st, sb;
    assert_true(best_single(g, LM_PART_LATENCY, &st, &sb));
    assert_true(r.eval.total_ns <= st);
    timed(g, LM_PART_THROUGHPUT, "500-step chain of blocks", a);
    /* weights on the cards, each holding a tenth of the model, so the
     * limits bind: with one card limited the DP stays exact (dominated
     * states dropped); with two the memory sums outgrow it and the
     * fallback answers */
    uint64_t sum = 0;
    for (int i = 0; i < g->n; i++)
        sum += g->need[i] = (uint64_t)(1 + i % 7) << 20;
    for (int cards = 1; cards <= 2; cards++) {
        for (int d = 0, c = 0; d < g->m; d++)
            g->capacity[d] = d != g->p.host && c++ < cards ? sum / 10 : 0;
        for (int obj = 0; obj < 2; obj++) {
            r = timed(g, (lm_part_objective)obj,
                      cards == 1 ? "500-step chain of blocks, one card holds a tenth"
                                 : "500-step chain of blocks, two cards hold a tenth each",
                      a);
            assert_true(best_single(g, (lm_part_objective)obj, &st, &sb));
            if (obj == LM_PART_LATENCY)
                assert_true(r.eval.total_ns <= st);
            else
                assert_true(r.eval.bottleneck_ns <= sb);
            if (cards == 1 && obj == LM_PART_LATENCY)
                assert_true(r.exact);
        }
    }
    free(a);
    free(g);
}

/* 300 steps of a random DAG: too wide for the DP, the fallback answers, no
 * worse than the best single device. */
static void random_dag_300_steps(void **state)
{
    (void)state;
    gen *g = malloc(sizeof(gen));
    int *a = malloc(GEN_MAX_STEPS * sizeof(int));
    gen_problem(g, 300, GEN_RANDOM, 300, 3, 0);
    host_runs_all(g);
    for (int obj = 0; obj < 2; obj++) {
        lm_part_result r = timed(g, (lm_part_objective)obj, "300-step random DAG", a);
        assert_false(r.exact);
        int64_t st, sb;
        assert_true(best_single(g, (lm_part_objective)obj, &st, &sb));
        if (obj == LM_PART_LATENCY) {
            assert_int_equal(r.algorithm, LM_PART_ALG_HEFT);
            assert_true(r.eval.total_ns <= st);
        } else {
            assert_int_equal(r.algorithm, LM_PART_ALG_STAGES);
            assert_true(r.eval.bottleneck_ns < sb ||
                        (r.eval.bottleneck_ns == sb && r.eval.total_ns <= st));
        }
    }
    free(a);
    free(g);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(generated_graphs_match_brute_force),
    cmocka_unit_test(objective_by_hand),
    cmocka_unit_test(infeasible_problems_name_the_step),
    cmocka_unit_test(bad_problems_are_errors),
    cmocka_unit_test(ties_go_to_priority),
    cmocka_unit_test(no_ping_pong),
    cmocka_unit_test(same_table_same_answer),
    cmocka_unit_test(includes_only_core),
    cmocka_unit_test(chain_of_blocks_500_steps),
    cmocka_unit_test(random_dag_300_steps),
};

LM_TEST_MAIN(tests)
