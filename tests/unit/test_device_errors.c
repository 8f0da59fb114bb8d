/*
 * test_device_errors.c - device faults reach the caller of loom_model_run as
 * their class (LOOM_ERR_DEVICE_LOST / _TIMEOUT / _TRANSIENT), naming the
 * device, and the device works again once the fault is gone.
 *
 * The card tests run an int8 model (QLinearConv -> Max -> QLinearConv, what a
 * QDQ model becomes after fuse_qdq) wholly on the emulated card:0, made to
 * misbehave through its fault file (LOOM_EMULATED_CARD_FAULTS). The OpenCL
 * tests inject error codes into opencl:0's runs (lm_cl_inject_error) and skip
 * when the machine has no OpenCL device. Every test runs under an alarm.
 * Needs the default xclbin ($LOOM_XCLBIN or the build's bitstreams/).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/deadline.h"
#include "core/health.h"
#include "lib/test_main.h"
#include "loom/loom.h"
#include "opencl/opencl.h"

#define LM_TEST_SECONDS 60 /* no test may take longer: a hang fails, not stalls */
#define HANG_MS         300

#include "lib/card_faults.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static loom_context *context(const char *device, int emulated)
{
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = device;
    o.num_threads = 1;
    o.emulated_cards = emulated;
    o.fail_closed = 1; /* every node on the device: a fault cannot hide on the CPU */
    loom_context *ctx = NULL;
    loom_status s = loom_context_create(&o, &ctx);
    if (s)
        print_error("%s\n", loom_last_error());
    assert_int_equal(s, LOOM_OK);
    return ctx;
}

/* x[1,4,8,8] u8 -> QLinearConv 3x3 -> Max(0) -> QLinearConv 1x1 -> y u8: two
 * commands on the card. With @float_in, x is float and a QuantizeLinear (the
 * CPU's) makes the u8 input first. */
static ob_model *int8_model_in(bool float_in)
{
    int64_t xd[4] = {1, 4, 8, 8};
    ob_model *m = ob_new(13);
    ob_input(m, "x", float_in ? LOOM_DTYPE_FLOAT : LOOM_DTYPE_UINT8, 4, xd);
    ob_output(m, "y", LOOM_DTYPE_UINT8);
    ob_init_qparams(m);
    if (float_in)
        ob_add_node(m, "QuantizeLinear", "x,s1,z", "xq");
    ob_add_int8_convs(m, float_in ? "xq" : "x", "y");
    return m;
}

static ob_model *int8_model(void)
{
    return int8_model_in(false);
}

/* The card, the model on it and an input. */
typedef struct card_rig {
    loom_context *ctx;
    loom_model *model;
    loom_tensor *x;
} card_rig;

static card_rig card_up(void)
{
    say("ok");
    card_rig r;
    r.ctx = context("card:0", 1);
    r.model = lm_load_ok(r.ctx, int8_model(), "int8");
    int64_t xd[4] = {1, 4, 8, 8};
    assert_int_equal(loom_tensor_create(LOOM_DTYPE_UINT8, 4, xd, &r.x), LOOM_OK);
    uint8_t *p = loom_tensor_data(r.x);
    for (size_t i = 0; i < loom_tensor_size(r.x); i++)
        p[i] = (uint8_t)(i * 7 + 3);
    return r;
}

static void card_down(card_rig *r)
{
    say("ok");
    loom_tensor_destroy(r->x);
    loom_model_destroy(r->model);
    loom_context_destroy(r->ctx);
}

/* One run; its output (NULL on failure) goes to *y. */
static loom_status run(card_rig *r, loom_tensor **y)
{
    *y = NULL;
    return loom_model_run(r->model, &r->x, 1, y, 1);
}

/* A run that must fail with @want, naming @device. */
static void run_fails(card_rig *r, loom_status want, const char *device)
{
    loom_tensor *y;
    loom_status s = run(r, &y);
    if (s != want)
        print_error("%s: %s\n", loom_status_name(s), loom_last_error());
    assert_int_equal(s, want);
    assert_null(y);
    assert_non_null(strstr(loom_last_error(), device));
    print_message("%s: %s\n", loom_status_name(s), loom_last_error());
}

/* A run that must succeed and give @ref's bytes (or become the reference). */
static void run_ok(card_rig *r, loom_tensor **ref)
{
    loom_tensor *y;
    loom_status s = run(r, &y);
    if (s)
        print_error("%s: %s\n", loom_status_name(s), loom_last_error());
    assert_int_equal(s, LOOM_OK);
    if (!*ref) {
        *ref = y;
        return;
    }
    assert_int_equal(loom_tensor_size(y), loom_tensor_size(*ref));
    assert_memory_equal(loom_tensor_data(y), loom_tensor_data(*ref), loom_tensor_size(y));
    loom_tensor_destroy(y);
}

/* Device @index of @r's context is in @want (loom_device_state). */
static void assert_state(card_rig *r, int index, int want)
{
    loom_device_stats st = {.struct_size = sizeof(st)};
    assert_int_equal(loom_context_device_stats(r->ctx, index, &st), LOOM_OK);
    if ((int)st.state != want)
        fail_msg("%s is %s, want %s", st.name, lm_device_state_name((int)st.state),
                 lm_device_state_name(want));
}

/* What the prober does on its own within LOOM_HEALTH_PROBE_MS: the device
 * answers, passes its known-answer test and takes work again. */
static void readmit(card_rig *r)
{
    lm_health_probe_all();
    assert_state(r, 0, LOOM_DEVICE_HEALTHY);
}

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(loom_status_name(LOOM_ERR_DEVICE_LOST), "LOOM_ERR_DEVICE_LOST");
    assert_string_equal(loom_status_name(LOOM_ERR_DEVICE_TIMEOUT), "LOOM_ERR_DEVICE_TIMEOUT");
    assert_string_equal(loom_status_name(LOOM_ERR_DEVICE_TRANSIENT), "LOOM_ERR_DEVICE_TRANSIENT");
    /* Appended after RUNTIME: the old values are ABI. */
    assert_int_equal(LOOM_ERR_DEVICE_LOST, LOOM_ERR_RUNTIME + 1);
}

/* die: every run fails DEVICE_LOST naming card:0 while the file says so;
 * after "ok" the next command resets the card and runs give the same bytes. */
static void test_card_dies_and_comes_back(void **state)
{
    (void)state;
    card_rig r = card_up();
    loom_tensor *ref = NULL;
    run_ok(&r, &ref);
    say("die");
    run_fails(&r, LOOM_ERR_DEVICE_LOST, "card:0");
    run_fails(&r, LOOM_ERR_DEVICE_LOST, "card:0");
    loom_device_stats st = {.struct_size = sizeof(st)};
    assert_int_equal(loom_context_device_stats(r.ctx, 0, &st), LOOM_OK);
    assert_string_equal(st.name, "card:0");
    assert_true(st.card_status & LOOM_CARD_STATUS_DEAD); /* and health says so */
    assert_int_equal(st.healthy, 0);
    assert_int_equal(st.state, LOOM_DEVICE_QUARANTINED); /* out of every plan */
    uint64_t quarantines = st.quarantines, readmissions = st.readmissions;
    lm_health_probe_all(); /* still dead: it does not answer, stays out */
    assert_state(&r, 0, LOOM_DEVICE_QUARANTINED);
    say("ok");
    readmit(&r);
    assert_int_equal(loom_context_device_stats(r.ctx, 0, &st), LOOM_OK);
    assert_true(st.quarantines >= quarantines);
    assert_int_equal(st.readmissions, readmissions + 1);
    run_ok(&r, &ref);
    run_ok(&r, &ref);
    loom_tensor_destroy(ref);
    card_down(&r);
}

typedef struct hung_run {
    card_rig *r;
    loom_status s;
    char error[256];
    double took;
} hung_run;

static void *run_hung(void *p)
{
    hung_run *h = p;
    loom_tensor *y;
    double t0 = now_s();
    h->s = run(h->r, &y);
    h->took = now_s() - t0;
    snprintf(h->error, sizeof(h->error), "%s", loom_last_error());
    loom_tensor_destroy(y);
    return NULL;
}

/* The end of a hang test: the hung run @h timed out saying @says; the card,
 * timed out once (suspect), retried and timed out again, is quarantined; once
 * its fault file says ok it passes its known-answer test and answers *@ref. */
static void timed_out_then_back(card_rig *r, loom_tensor **ref, const hung_run *h, const char *says)
{
    if (h->s != LOOM_ERR_DEVICE_TIMEOUT)
        print_error("%s: %s\n", loom_status_name(h->s), h->error);
    assert_int_equal(h->s, LOOM_ERR_DEVICE_TIMEOUT);
    print_message("%s: %s (%.2f s)\n", loom_status_name(h->s), h->error, h->took);
    assert_non_null(strstr(h->error, says));
    assert_state(r, 0, LOOM_DEVICE_QUARANTINED);
    say("ok");
    readmit(r);
    run_ok(r, ref);
    loom_tensor_destroy(*ref);
    card_down(r);
}

/* hang: the run fails DEVICE_TIMEOUT after the job deadline, not later; the
 * card's health stays readable meanwhile; the card was reset and works again
 * once the file says ok. */
static void test_card_hang_times_out(void **state)
{
    (void)state;
    char ms[16];
    snprintf(ms, sizeof(ms), "%d", HANG_MS);
    lm_test_setenv("LOOM_EMULATED_CARD_TIMEOUT_MS", ms);
    card_rig r = card_up();
    loom_tensor *ref = NULL;
    run_ok(&r, &ref);
    say("hang");
    hung_run h = {.r = &r};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_hung, &h), 0);
    usleep(100 * 1000);
    double t0 = now_s();
    loom_device_stats st = {.struct_size = sizeof(st)};
    assert_int_equal(loom_context_device_stats(r.ctx, 0, &st), LOOM_OK);
    assert_true(now_s() - t0 < 0.1); /* not stuck behind the hung command */
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(h.took >= HANG_MS / 1e3 * 0.9);
    assert_true(h.took < 5.0);
    timed_out_then_back(&r, &ref, &h, "card:0");
    lm_test_setenv("LOOM_EMULATED_CARD_TIMEOUT_MS", NULL);
}

/* The host's watchdog: once the segment has a measured p99, a hung card
 * fails the run at the segment's deadline (8 x p99, here the 50 ms floor),
 * long before the card's own job timeout (here 60 s, which the test's alarm
 * would not survive). */
static void test_card_hang_meets_the_segment_deadline(void **state)
{
    (void)state;
    lm_test_setenv("LOOM_EMULATED_CARD_TIMEOUT_MS", "60000");
    lm_test_setenv("LOOM_DEVICE_DEADLINE_MIN_MS", "50");
    card_rig r = card_up();
    loom_tensor *ref = NULL;
    for (int i = 0; i < LM_DEADLINE_MIN_SAMPLES; i++)
        run_ok(&r, &ref);
    say("hang");
    hung_run h = {.r = &r};
    run_hung(&h);
    timed_out_then_back(&r, &ref, &h, "the segment's deadline");
    lm_test_setenv("LOOM_EMULATED_CARD_TIMEOUT_MS", NULL);
    lm_test_setenv("LOOM_DEVICE_DEADLINE_MIN_MS", NULL);
}

/* corrupt: the card completes with an error status, which is the card's
 * own failure (LOOM_ERR_RUNTIME), not a lost device; slow: correct, later. */
static void test_card_corrupt_and_slow(void **state)
{
    (void)state;
    card_rig r = card_up();
    loom_tensor *ref = NULL;
    run_ok(&r, &ref);
    loom_device_stats st = {.struct_size = sizeof(st)};
    assert_int_equal(loom_context_device_stats(r.ctx, 0, &st), LOOM_OK);
    uint64_t errors = st.card_errors;
    say("corrupt");
    run_fails(&r, LOOM_ERR_RUNTIME, "card:0");
    assert_int_equal(loom_context_device_stats(r.ctx, 0, &st), LOOM_OK);
    assert_true(st.card_errors > errors); /* the card counted its failed command */
    assert_int_equal(st.healthy, 1);      /* and is still there */
    say("slow 50");
    double t0 = now_s();
    run_ok(&r, &ref);
    assert_true(now_s() - t0 >= 2 * 0.050 * 0.9); /* two commands, 50 ms each */
    say("no such fault"); /* unknown words are ok: a typo must not kill a card */
    run_ok(&r, &ref);
    loom_tensor_destroy(ref);
    card_down(&r);
}

static char failover_log[4096];

static void keep_log(void *user, loom_log_level level, const char *msg)
{
    (void)user, (void)level;
    size_t len = strlen(failover_log);
    snprintf(failover_log + len, sizeof(failover_log) - len, "%s\n", msg);
}

/* The card dies under a run of a context that may fall back: the run loses
 * nothing. It resumes on the CPU at the step that failed, with the values
 * computed before it, and answers bit-identically to the CPU (the int8
 * numeric class); the card is out of service, then back after its
 * known-answer test, and takes work again. */
static void test_card_failover_to_cpu(void **state)
{
    (void)state;
    say("ok");
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "cpu";
    o.num_threads = 1;
    loom_context *cpu, *card;
    assert_int_equal(loom_context_create(&o, &cpu), LOOM_OK);
    o.device = "card:0"; /* the CPU is its fallback */
    o.emulated_cards = 1;
    o.log = keep_log;
    o.log_level = LOOM_LOG_WARN;
    assert_int_equal(loom_context_create(&o, &card), LOOM_OK);
    card_rig r = {.ctx = card, .model = lm_load_ok(card, int8_model_in(true), "fo")};
    loom_model *mc = lm_load_ok(cpu, int8_model_in(true), "fo-cpu");
    int64_t xd[4] = {1, 4, 8, 8};
    assert_int_equal(loom_tensor_create(LOOM_DTYPE_FLOAT, 4, xd, &r.x), LOOM_OK);
    float *xv = loom_tensor_data(r.x);
    for (int i = 0; i < 256; i++)
        xv[i] = (float)((i * 13) % 29 - 14) * 0.05f;
    loom_tensor *ref = NULL, *y = NULL;
    assert_int_equal(loom_model_run(mc, &r.x, 1, &ref, 1), LOOM_OK);
    run_ok(&r, &ref); /* on the card: the CPU's bytes */
    loom_device_stats st = {.struct_size = sizeof(st)};
    assert_int_equal(loom_context_device_stats(card, 0, &st), LOOM_OK);
    assert_string_equal(st.name, "card:0");
    uint64_t jobs = st.jobs, failovers = st.failovers;
    assert_true(jobs > 0);
    /* Run a second time, the plan gets its replacement without the card,
     * made ahead in the background (at nice 19: on a loaded machine, give it
     * time). */
    loom_model_stats ms = {.struct_size = sizeof(ms)};
    assert_int_equal(loom_model_get_stats(r.model, &ms), LOOM_OK);
    assert_int_equal(ms.plans_spare, 0);
    run_ok(&r, &ref);
    for (int i = 0; i < 2000 && ms.plans_spare == 0; i++) {
        assert_int_equal(loom_model_get_stats(r.model, &ms), LOOM_OK);
        usleep(10000);
    }
    assert_int_equal(ms.plans_spare, 1);
    uint64_t built = ms.plans_built;

    say("die");
    failover_log[0] = '\0';
    run_ok(&r, &ref); /* answered, from the CPU */
    assert_non_null(strstr(failover_log, "card:0 failed at step 1"));
    assert_non_null(strstr(failover_log, "resuming at step 1 on cpu"));
    assert_int_equal(loom_context_device_stats(card, 0, &st), LOOM_OK);
    assert_int_equal(st.state, LOOM_DEVICE_QUARANTINED);
    assert_int_equal(st.failovers, failovers + 1);
    run_ok(&r, &ref); /* planned without the card: no fault at all */
    assert_int_equal(loom_context_device_stats(card, 0, &st), LOOM_OK);
    assert_int_equal(st.failovers, failovers + 1);
    /* Neither the resumed run nor the next one planned: the spare served. */
    assert_int_equal(loom_model_get_stats(r.model, &ms), LOOM_OK);
    assert_int_equal(ms.plans_built, built);

    say("ok");
    readmit(&r);
    assert_int_equal(loom_context_device_stats(card, 0, &st), LOOM_OK);
    jobs = st.jobs;
    run_ok(&r, &ref);
    assert_int_equal(loom_context_device_stats(card, 0, &st), LOOM_OK);
    assert_true(st.jobs > jobs); /* the card takes work again */
    /* on a plan made afresh: the card was reset while out of service */
    assert_int_equal(loom_model_get_stats(r.model, &ms), LOOM_OK);
    assert_int_equal(ms.plans_built, built + 1);
    loom_tensor_destroy(y);
    loom_tensor_destroy(ref);
    loom_model_destroy(mc);
    loom_context_destroy(cpu);
    card_down(&r);
}

/* ------------------------------------------------------------ OpenCL */

#define SKIP_WITHOUT_OPENCL()                                                                      \
    do {                                                                                           \
        lm_cl_info info_;                                                                          \
        if (lm_opencl_list(&info_, 1) < 1) {                                                       \
            print_message("no OpenCL device: skipped\n");                                          \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* x[4,16] -> Relu -> Add(x) -> y. */
static ob_model *relu_add_model(void)
{
    int64_t xd[2] = {4, 16};
    ob_model *m = ob_new(13);
    ob_input(m, "x", LOOM_DTYPE_FLOAT, 2, xd);
    ob_output(m, "y", LOOM_DTYPE_FLOAT);
    ob_add_node(m, "Relu", "x", "r");
    ob_add_node(m, "Add", "r,x", "y");
    return m;
}

/* relu_add on @ctx, and its input. */
static card_rig relu_add_on(loom_context *ctx)
{
    int64_t xd[2] = {4, 16};
    card_rig r = {.ctx = ctx, .model = lm_load_ok(ctx, relu_add_model(), "relu_add")};
    assert_int_equal(loom_tensor_create(LOOM_DTYPE_FLOAT, 2, xd, &r.x), LOOM_OK);
    float *p = loom_tensor_data(r.x);
    for (int i = 0; i < 64; i++)
        p[i] = (float)(i % 9) - 4.0f;
    return r;
}

/* relu_add, all on opencl:0. */
static card_rig opencl_up(void)
{
    return relu_add_on(context("opencl:0", -1));
}

/* Each injected code reaches loom_model_run as its class, naming opencl:0,
 * whether the enqueue or the final clFinish returns it; the next run works. */
static void test_opencl_error_classes(void **state)
{
    (void)state;
    SKIP_WITHOUT_OPENCL();
    card_rig r = opencl_up();
    loom_tensor *ref = NULL;
    run_ok(&r, &ref);
    static const struct {
        cl_int err;
        int after;
        loom_status want;
    } cases[] = {
        {CL_DEVICE_NOT_AVAILABLE, 0, LOOM_ERR_DEVICE_LOST},
        {CL_INVALID_CONTEXT, 1, LOOM_ERR_DEVICE_LOST},
        {CL_OUT_OF_RESOURCES, 0, LOOM_ERR_DEVICE_TRANSIENT},
        {CL_MEM_OBJECT_ALLOCATION_FAILURE, 2, LOOM_ERR_DEVICE_TRANSIENT},
        {CL_INVALID_KERNEL_ARGS, 0, LOOM_ERR_RUNTIME},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* "after" counts this run's calls: writes, launches, reads, finish. */
        lm_cl_inject_error(cases[i].err, cases[i].after);
        if (cases[i].want == LOOM_ERR_DEVICE_TRANSIENT) {
            /* Suspect, retried on the same device: the run succeeds. */
            run_ok(&r, &ref);
            continue;
        }
        run_fails(&r, cases[i].want, "opencl:0");
        if (cases[i].want == LOOM_ERR_DEVICE_LOST)
            readmit(&r);  /* out of service until its known-answer test passes */
        run_ok(&r, &ref); /* one shot: the device works again */
    }
    loom_tensor_destroy(ref);
    card_down(&r);
}

/* A lost OpenCL device mid-run (its second call fails) costs no run when
 * the CPU is the context's fallback: the run resumes on the CPU and answers
 * what the CPU alone answers; opencl:0 is out of service until its
 * known-answer test passes. */
static void test_opencl_failover_to_cpu(void **state)
{
    (void)state;
    SKIP_WITHOUT_OPENCL();
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "cpu";
    o.num_threads = 1;
    loom_context *cpu_ctx, *cl_ctx;
    assert_int_equal(loom_context_create(&o, &cpu_ctx), LOOM_OK);
    o.device = "opencl:0"; /* the CPU is its fallback */
    o.log = keep_log;
    o.log_level = LOOM_LOG_WARN;
    assert_int_equal(loom_context_create(&o, &cl_ctx), LOOM_OK);
    card_rig cpu = relu_add_on(cpu_ctx), cl = relu_add_on(cl_ctx);
    loom_tensor *want = NULL, *ref = NULL;
    run_ok(&cpu, &want);
    run_ok(&cl, &ref); /* on opencl:0 */
    loom_device_stats st = {.struct_size = sizeof(st)};
    assert_int_equal(loom_context_device_stats(cl_ctx, 0, &st), LOOM_OK);
    assert_string_equal(st.name, "opencl:0");
    uint64_t failovers = st.failovers;

    lm_cl_inject_error(CL_DEVICE_NOT_AVAILABLE, 1);
    failover_log[0] = '\0';
    run_ok(&cl, &want); /* answered, from the CPU: the CPU's bytes */
    assert_non_null(strstr(failover_log, "opencl:0 failed at step"));
    assert_non_null(strstr(failover_log, "on cpu"));
    assert_int_equal(loom_context_device_stats(cl_ctx, 0, &st), LOOM_OK);
    assert_int_equal(st.state, LOOM_DEVICE_QUARANTINED);
    assert_int_equal(st.failovers, failovers + 1);
    readmit(&cl);
    run_ok(&cl, &ref); /* back on opencl:0 */
    loom_tensor_destroy(want);
    loom_tensor_destroy(ref);
    card_down(&cpu);
    card_down(&cl);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_status_names, arm, disarm),
    cmocka_unit_test_setup_teardown(test_card_dies_and_comes_back, arm, disarm),
    cmocka_unit_test_setup_teardown(test_card_hang_times_out, arm, disarm),
    cmocka_unit_test_setup_teardown(test_card_hang_meets_the_segment_deadline, arm, disarm),
    cmocka_unit_test_setup_teardown(test_card_corrupt_and_slow, arm, disarm),
    cmocka_unit_test_setup_teardown(test_card_failover_to_cpu, arm, disarm),
    cmocka_unit_test_setup_teardown(test_opencl_error_classes, arm, disarm),
    cmocka_unit_test_setup_teardown(test_opencl_failover_to_cpu, arm, disarm),
};

LM_FAULT_TEST_MAIN(tests)
