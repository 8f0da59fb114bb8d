/*
 * test_devstats.c - loom_context_device_stats(): devices are listed with the
 * CPU (a device like the others) last, busy time and jobs grow with the jobs each device really
 * ran, a failed job counts as failed, and a card's health comes from its health op.
 *
 * The device here is written for the test: it runs Relu (slowly, so its busy
 * time is measurable) and reports made-up card registers through its health
 * op, which the test then expects to see unchanged.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/device.h"
#include "core/model.h"
#include "core/registry.h"
#include "lib/test_main.h"
#include "loom/loom.h"

#define JOB_NS 3000000 /* each device job takes at least this long */

typedef struct slow_device {
    lm_device dev;
    int fail_runs;    /* nonzero: run() fails */
    int health_fails; /* nonzero: the health op fails, as an unplugged card's would */
    uint32_t status;  /* card_status the health op reports */
} slow_device;

static bool sd_supports(lm_device *dev, const lm_node *n, loom_tensor *const *in)
{
    (void)dev;
    return strcmp(n->op_type, "Relu") == 0 && in[0]->dtype == LOOM_DTYPE_FLOAT;
}

static loom_status sd_compile(lm_device *dev, const lm_segment_desc *d, void **state)
{
    (void)dev;
    assert_int_equal(d->n_inputs, 1);
    assert_int_equal(d->n_outputs, 1);
    *state = malloc(1);
    return *state ? LOOM_OK : LOOM_ERR_NO_MEMORY;
}

static loom_status sd_run(lm_device *dev, void *state, loom_tensor *const *in,
                          loom_tensor *const *out, uint64_t deadline_ns)
{
    (void)state;
    slow_device *sd = (slow_device *)dev;
    struct timespec ts = {0, JOB_NS};
    nanosleep(&ts, NULL);
    if (sd->fail_runs)
        return LOOM_ERR_RUNTIME;
    const float *x = in[0]->data;
    float *y = out[0]->data;
    for (int64_t e = 0; e < loom_tensor_count(in[0]); e++)
        y[e] = x[e] > 0 ? x[e] : 0;
    return LOOM_OK;
}

static void sd_release(lm_device *dev, void *state)
{
    (void)dev;
    free(state);
}

static loom_status sd_health(lm_device *dev, loom_device_stats *st)
{
    slow_device *sd = (slow_device *)dev;
    if (sd->health_fails)
        return LOOM_ERR_IO;
    st->reports = LOOM_DEVICE_REPORTS_STATUS | LOOM_DEVICE_REPORTS_SENSORS;
    st->card_status = sd->status;
    st->temp_mc = 51000;
    st->power_mw = 23000;
    st->heartbeat = 7;
    st->mem_total = 1 << 20;
    return LOOM_OK;
}

static const lm_device_ops sd_ops = {
    .supports = sd_supports,
    .compile = sd_compile,
    .run = sd_run,
    .release = sd_release,
    .health = sd_health,
};

/* A context of the slow device, registered as the card "slow:0", and the CPU.
 * The test holds the registry until drop_ctx(), so the devices (and their
 * counters) are new in every test. */
static loom_context *make_ctx(slow_device *sd)
{
    assert_int_equal(lm_registry_acquire(NULL), LOOM_OK);
    memset(sd, 0, sizeof(*sd));
    sd->dev.ops = &sd_ops;
    sd->dev.props.kind = LOOM_DEVICE_CARD;
    strcpy(sd->dev.name, "slow:0");
    sd->status = LOOM_CARD_STATUS_READY | LOOM_CARD_STATUS_PROGRAMMED;
    assert_int_equal(lm_registry_add(&sd->dev), LOOM_OK);
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "slow:0";
    loom_context *ctx;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_OK);
    return ctx;
}

static void drop_ctx(loom_context *ctx)
{
    loom_context_destroy(ctx);
    lm_registry_release();
}

/* x -> Relu (device) -> Softmax (CPU) -> y. */
static loom_model *load_model(loom_context *ctx)
{
    int64_t dims[2] = {2, 4};
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 2, dims);
    ob_output(m, "y", 1);
    ob_add_node(m, "Relu", "x", "r");
    ob_add_node(m, "Softmax", "r", "y");
    return lm_load_ok(ctx, m, "relu_softmax.onnx");
}

static loom_status run_once(loom_model *m)
{
    float x[8] = {-1, 2, -3, 4, 5, -6, 7, -8};
    int64_t dims[2] = {2, 4};
    loom_tensor *in, *out = NULL;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 2, dims, x, sizeof(x), &in), LOOM_OK);
    loom_status s = loom_model_run(m, &in, 1, &out, 1);
    loom_tensor_destroy(out);
    loom_tensor_destroy(in);
    return s;
}

static loom_device_stats stats_of(loom_context *ctx, int index)
{
    loom_device_stats st = {.struct_size = sizeof(st)};
    assert_int_equal(loom_context_device_stats(ctx, index, &st), LOOM_OK);
    return st;
}

static void lists_devices_cpu_last(void **state)
{
    (void)state;
    slow_device sd;
    loom_context *ctx = make_ctx(&sd);
    assert_int_equal(loom_context_device_count(ctx), 2);
    loom_device_stats card = stats_of(ctx, 0), cpu = stats_of(ctx, 1);
    assert_string_equal(card.name, "slow:0");
    assert_int_equal(card.kind, LOOM_DEVICE_CARD);
    assert_string_equal(cpu.name, "cpu");
    assert_int_equal(cpu.kind, LOOM_DEVICE_CPU);
    assert_int_equal(cpu.healthy, 1);
    assert_int_equal(cpu.reports, 0);
    assert_true(card.busy_ns == 0 && card.jobs == 0 && cpu.jobs == 0);
    /* Bad calls are errors, not crashes. */
    loom_device_stats st = {.struct_size = sizeof(st)};
    assert_int_equal(loom_context_device_stats(ctx, 2, &st), LOOM_ERR_NOT_FOUND);
    assert_int_equal(loom_context_device_stats(ctx, -1, &st), LOOM_ERR_NOT_FOUND);
    assert_int_equal(loom_context_device_stats(ctx, 0, NULL), LOOM_ERR_INVALID_ARGUMENT);
    st.struct_size = 8;
    assert_int_equal(loom_context_device_stats(ctx, 0, &st), LOOM_ERR_INVALID_ARGUMENT);
    assert_int_equal(loom_context_device_count(NULL), 0);
    drop_ctx(ctx);
}

static void busy_and_jobs_follow_runs(void **state)
{
    (void)state;
    slow_device sd;
    loom_context *ctx = make_ctx(&sd);
    loom_model *m = load_model(ctx);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(run_once(m), LOOM_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    uint64_t wall = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)t1.tv_nsec -
                    (uint64_t)t0.tv_nsec;
    loom_device_stats card = stats_of(ctx, 0), cpu = stats_of(ctx, 1);
    assert_int_equal(card.jobs, 5);
    assert_int_equal(card.jobs_failed, 0);
    assert_true(card.busy_ns >= 5ull * JOB_NS); /* every job slept JOB_NS */
    assert_true(card.busy_ns <= wall);          /* and never more than the wall time */
    assert_int_equal(cpu.jobs, 5);              /* one stretch (Softmax) per run */
    assert_true(cpu.busy_ns > 0 && cpu.busy_ns < card.busy_ns);

    sd.fail_runs = 1;
    assert_int_equal(run_once(m), LOOM_ERR_RUNTIME);
    assert_non_null(strstr(loom_last_error(), "slow:0"));
    card = stats_of(ctx, 0);
    assert_int_equal(card.jobs, 5);
    assert_int_equal(card.jobs_failed, 1);
    loom_model_destroy(m);
    drop_ctx(ctx);
}

static void health_comes_from_the_device(void **state)
{
    (void)state;
    slow_device sd;
    loom_context *ctx = make_ctx(&sd);
    loom_device_stats card = stats_of(ctx, 0);
    assert_int_equal(card.healthy, 1);
    assert_int_equal(card.reports, LOOM_DEVICE_REPORTS_STATUS | LOOM_DEVICE_REPORTS_SENSORS);
    assert_int_equal(card.card_status, LOOM_CARD_STATUS_READY | LOOM_CARD_STATUS_PROGRAMMED);
    assert_int_equal(card.temp_mc, 51000);
    assert_int_equal(card.power_mw, 23000);
    assert_int_equal(card.heartbeat, 7);
    assert_int_equal(card.mem_total, 1 << 20);

    sd.status = LOOM_CARD_STATUS_READY | LOOM_CARD_STATUS_DEAD;
    assert_int_equal(stats_of(ctx, 0).healthy, 0);
    sd.status = LOOM_CARD_STATUS_PROGRAMMED; /* not ready */
    assert_int_equal(stats_of(ctx, 0).healthy, 0);
    sd.health_fails = 1; /* cannot be queried: unhealthy, the call itself succeeds */
    card = stats_of(ctx, 0);
    assert_int_equal(card.healthy, 0);
    assert_int_equal(card.reports, 0);
    assert_int_equal(card.temp_mc, 0);
    drop_ctx(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(lists_devices_cpu_last),
    cmocka_unit_test(busy_and_jobs_follow_runs),
    cmocka_unit_test(health_comes_from_the_device),
};

LM_TEST_MAIN(tests)
