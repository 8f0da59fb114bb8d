/*
 * test_cpus.c - binding worker threads to a CPU list: the list parser (good
 * lists, every malformed form with its message) and a bound pool whose
 * workers run only on the listed CPU, through the internal pool and through
 * loom_context_options.cpus.
 */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "core/cpulist.h"
#include "core/threadpool.h"
#include "lib/test_main.h"

/* The lowest CPU this process may use (the tests bind to it). */
static int first_allowed_cpu(void)
{
    cpu_set_t set;
    assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set))
            return c;
    fail_msg("no CPU allowed");
    return -1;
}

static void parses_numbers_and_ranges(void **state)
{
    (void)state;
    cpu_set_t allowed, set;
    int count = -1;
    assert_int_equal(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
    char list[64];
    int c0 = first_allowed_cpu();
    snprintf(list, sizeof list, "%d", c0);
    assert_int_equal(lm_cpulist_parse(list, &set, &count), LOOM_OK);
    assert_int_equal(count, 1);
    assert_true(CPU_ISSET(c0, &set));
    /* Every allowed CPU as "a-b" ranges and singles, the form of .../cpu/online. */
    int n = CPU_COUNT(&allowed);
    if (n >= 2 && CPU_ISSET(c0 + 1, &allowed)) {
        snprintf(list, sizeof list, "%d-%d,%d", c0, c0 + 1, c0);
        assert_int_equal(lm_cpulist_parse(list, &set, &count), LOOM_OK);
        assert_int_equal(count, 2);
    }
}

static void refuses_malformed_lists(void **state)
{
    (void)state;
    static const struct {
        const char *list, *message;
    } bad[] = {
        {"", "empty"},
        {"a", "expected a CPU number at position 1"},
        {"0,", "expected a CPU number at position 3"},
        {"0,,1", "expected a CPU number at position 3"},
        {"-1", "expected a CPU number at position 1"},
        {"0-", "expected a CPU number at position 3"},
        {"0 1", "unexpected ' ' at position 2"},
        {"0;1", "unexpected ';' at position 2"},
        {"3-1", "runs backwards"},
        {"99999", "beyond the largest"},
        {"1023", "not available to this process"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cpu_set_t set;
        int count;
        if (strcmp(bad[i].list, "1023") == 0) {
            cpu_set_t allowed;
            assert_int_equal(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
            if (CPU_ISSET(1023, &allowed))
                continue;
        }
        assert_int_equal(lm_cpulist_parse(bad[i].list, &set, &count), LOOM_ERR_INVALID_ARGUMENT);
        const char *msg = loom_last_error();
        if (!strstr(msg, bad[i].message))
            fail_msg("list '%s': message '%s' does not say '%s'", bad[i].list, msg, bad[i].message);
    }
    assert_int_equal(lm_cpulist_parse(NULL, NULL, NULL), LOOM_ERR_INVALID_ARGUMENT);
}

/* Each call records the CPU of a thread other than the caller's. */
typedef struct {
    pthread_t caller;
    int cpu_seen[8];
    int worker_calls;
    pthread_mutex_t lock;
} probe;

static void record_cpu(void *arg, int64_t begin, int64_t end)
{
    probe *p = arg;
    (void)end;
    /* Hold every chunk a moment, so the caller cannot take them all itself. */
    for (volatile int64_t i = begin; i < begin + 200000; i++) {
    }
    if (pthread_equal(pthread_self(), p->caller))
        return;
    pthread_mutex_lock(&p->lock);
    if (p->worker_calls < 8)
        p->cpu_seen[p->worker_calls] = sched_getcpu();
    p->worker_calls++;
    pthread_mutex_unlock(&p->lock);
}

static void workers_run_only_on_the_listed_cpu(void **state)
{
    (void)state;
    cpu_set_t set;
    CPU_ZERO(&set);
    int c0 = first_allowed_cpu();
    CPU_SET(c0, &set);
    lm_threadpool *pool;
    assert_int_equal(lm_threadpool_create(3, &set, &pool), LOOM_OK);
    probe p = {.caller = pthread_self()};
    pthread_mutex_init(&p.lock, NULL);
    for (int round = 0; round < 50 && p.worker_calls < 8; round++)
        lm_threadpool_run(pool, 64, 1, record_cpu, &p);
    lm_threadpool_destroy(pool);
    pthread_mutex_destroy(&p.lock);
    assert_true(p.worker_calls > 0);
    for (int i = 0; i < p.worker_calls && i < 8; i++)
        assert_int_equal(p.cpu_seen[i], c0);
}

static void context_takes_a_cpu_list(void **state)
{
    (void)state;
    loom_context_options opts;
    loom_context *ctx = NULL;
    loom_context_options_init(&opts);
    char list[16];
    snprintf(list, sizeof list, "%d", first_allowed_cpu());
    opts.cpus = list;
    opts.device = "cpu";
    assert_int_equal(loom_context_create(&opts, &ctx), LOOM_OK);
    loom_context_destroy(ctx);
    opts.cpus = "0-x";
    assert_int_equal(loom_context_create(&opts, &ctx), LOOM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(loom_last_error(), "cpu list '0-x'"));
    /* An older caller's smaller struct has no cpus field: it must be ignored. */
    opts.struct_size = offsetof(loom_context_options, cpus);
    assert_int_equal(loom_context_create(&opts, &ctx), LOOM_OK);
    loom_context_destroy(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(parses_numbers_and_ranges),
    cmocka_unit_test(refuses_malformed_lists),
    cmocka_unit_test(workers_run_only_on_the_listed_cpu),
    cmocka_unit_test(context_takes_a_cpu_list),
};

LM_TEST_MAIN(tests)
