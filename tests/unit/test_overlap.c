/*
 * test_overlap.c - independent branches of one request run at the same time
 * (run.c: detached device segments, stream.c).
 *
 * y = Neg(x) + Abs(x): Neg runs on the mock segment device "rv:0", Abs on
 * "rv:1", the Add on the CPU. Each device's run waits, inside the run, for
 * the other's to have started: run one after the other, the first would
 * wait in vain and fail the request, so a passing run shows the overlap
 * without timing anything. A device segment is issued as soon as its
 * inputs are ready, before CPU steps the plan puts first. rv:0 has no
 * submit op, so its detached run goes through its stream (a thread of its
 * own). A detached segment that faults
 * makes the run start over on the plan without its device.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/device.h"
#include "core/error.h"
#include "core/health.h"
#include "core/model.h"
#include "core/registry.h"
#include "lib/onnx_builder.h"
#include "lib/test_main.h"
#include "loom/loom.h"

#define N 64

static atomic_int arrived; /* runs that reached the rendezvous */
static atomic_int runs[2]; /* per device */
static atomic_bool rendezvous, fault_next;

typedef struct rv_segment {
    int dev; /* 0: Neg, 1: Abs */
    int64_t count;
} rv_segment;

static int rv_index(const lm_device *dev)
{
    return dev->name[3] - '0';
}

static bool rv_supports(lm_device *dev, const lm_node *n, loom_tensor *const *in)
{
    return in[0]->dtype == LOOM_DTYPE_FLOAT && !lm_node_attr_str(n, "_loom_act", NULL) &&
           strcmp(n->op_type, rv_index(dev) ? "Abs" : "Neg") == 0;
}

static loom_status rv_compile(lm_device *dev, const lm_segment_desc *d, void **state)
{
    assert_int_equal(d->n_nodes, 1);
    rv_segment *sg = calloc(1, sizeof(*sg));
    sg->dev = rv_index(dev);
    sg->count = loom_tensor_count((loom_tensor *)d->shape[d->inputs[0]]);
    *state = sg;
    return LOOM_OK;
}

/* Waits until both devices' runs of this round have started; false after 5 s. */
static bool meet(void)
{
    int me = atomic_fetch_add(&arrived, 1) + 1, round_end = (me + 1) / 2 * 2;
    for (int i = 0; i < 5000 && atomic_load(&arrived) < round_end; i++)
        usleep(1000);
    return atomic_load(&arrived) >= round_end;
}

static loom_status rv_run(lm_device *dev, void *state, loom_tensor *const *in,
                          loom_tensor *const *out, uint64_t deadline_ns)
{
    (void)deadline_ns;
    const rv_segment *sg = state;
    atomic_fetch_add(&runs[sg->dev], 1);
    if (sg->dev == 0 && atomic_exchange(&fault_next, false))
        return lm_error(LOOM_ERR_DEVICE_LOST, "%s: fell off the bus", dev->name);
    if (atomic_load(&rendezvous) && !meet())
        return lm_error(LOOM_ERR_RUNTIME, "%s ran alone: the branches did not overlap", dev->name);
    const float *x = in[0]->data;
    float *y = out[0]->data;
    for (int64_t i = 0; i < sg->count; i++)
        y[i] = sg->dev ? (x[i] < 0 ? -x[i] : x[i]) : -x[i];
    return LOOM_OK;
}

static void rv_release(lm_device *dev, void *state)
{
    (void)dev;
    free(state);
}

static void rv_destroy(lm_device *dev)
{
    free(dev);
}

static const lm_device_ops rv_ops = {
    .supports = rv_supports,
    .compile = rv_compile,
    .run = rv_run,
    .release = rv_release,
    .destroy = rv_destroy,
};

static void add_rv(const char *name)
{
    lm_device *dev = calloc(1, sizeof(*dev));
    dev->ops = &rv_ops;
    dev->props.kind = LOOM_DEVICE_OTHER;
    strcpy(dev->name, name);
    assert_int_equal(lm_registry_add(dev), LOOM_OK);
}

/* y = Neg(x) + Abs(x); with @late, y = Neg(Floor(x)) + Ceil(Abs(x)),
 * which is the same on whole numbers: y = |x| - x. */
static loom_model *load_branches(loom_context *ctx, bool late)
{
    int64_t xd[1] = {N};
    ob_model *m = ob_new(13);
    ob_input(m, "x", LOOM_DTYPE_FLOAT, 1, xd);
    ob_output(m, "y", LOOM_DTYPE_FLOAT);
    if (late) { /* x holds whole numbers: Floor and Ceil change nothing */
        ob_add_node(m, "Floor", "x", "x2");
        ob_add_node(m, "Neg", "x2", "a");
        ob_add_node(m, "Abs", "x", "b0");
        ob_add_node(m, "Ceil", "b0", "b");
    } else {
        ob_add_node(m, "Neg", "x", "a");
        ob_add_node(m, "Abs", "x", "b");
    }
    ob_add_node(m, "Add", "a,b", "y");
    return lm_load_ok(ctx, m, late ? "late.onnx" : "branches.onnx");
}

/* Runs the model once; checks y = |x| - x. */
static void run_checked(loom_model *m, int round)
{
    float x[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)((i * 7 + round) % 11) - 5.0f;
    int64_t xd[1] = {N};
    loom_tensor *in, *out;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 1, xd, x, sizeof(x), &in), LOOM_OK);
    loom_status s = loom_model_run(m, &in, 1, &out, 1);
    if (s)
        print_error("%s\n", loom_last_error());
    assert_int_equal(s, LOOM_OK);
    const float *y = loom_tensor_data(out);
    for (int i = 0; i < N; i++)
        assert_true(y[i] == (x[i] < 0 ? -2 * x[i] : 0.0f));
    loom_tensor_destroy(out);
    loom_tensor_destroy(in);
}

/* The registry with rv:0 and rv:1, and a context on them; no plans ahead
 * (their runs would count). */
static loom_context *branches_context(void)
{
    lm_test_setenv("LOOM_PLAN_AHEAD", "0");
    assert_int_equal(lm_registry_acquire(NULL), LOOM_OK);
    add_rv("rv:0");
    add_rv("rv:1");
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "rv:0,rv:1"; /* the CPU only for what neither runs: the Add */
    loom_context *ctx;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_OK);
    return ctx;
}

static void branches_done(loom_model *m, loom_context *ctx)
{
    loom_model_destroy(m);
    loom_context_destroy(ctx);
    lm_registry_release();
    lm_test_setenv("LOOM_PLAN_AHEAD", NULL);
}

/* Runs @m 20 times with the devices meeting in every run; each device ran
 * every time. */
static void run_meeting(loom_model *m)
{
    atomic_store(&runs[0], 0);
    atomic_store(&runs[1], 0);
    atomic_store(&rendezvous, true);
    for (int round = 0; round < 20; round++)
        run_checked(m, round);
    atomic_store(&rendezvous, false);
    assert_int_equal(atomic_load(&runs[0]), 20);
    assert_int_equal(atomic_load(&runs[1]), 20);
}

static void branches_on_two_devices_overlap(void **state)
{
    (void)state;
    loom_context *ctx = branches_context();
    loom_model *m = load_branches(ctx, false);
    run_meeting(m);
    const lm_plan *p = m->plans;
    assert_int_equal(p->n_segments, 3);
    assert_true(p->segments[0].detach); /* joined by the Add, two segments on */
    assert_true(p->segments[1].detach); /* x is ready at once: issued with Neg */
    assert_int_equal(p->segments[1].issue_at, 0);
    branches_done(m, ctx);
}

/* y = Neg(Floor(x)) + Ceil(Abs(x)): the plan runs the CPU's Floor first,
 * then Abs (rv:1) and Neg (rv:0). Abs's input is ready from the start, so
 * it is issued before the Floor runs (issue_at 0), Neg's once the Floor is
 * done; the two meet. */
static void ready_segment_issued_ahead(void **state)
{
    (void)state;
    loom_context *ctx = branches_context();
    loom_model *m = load_branches(ctx, true);
    run_meeting(m);
    const lm_plan *p = m->plans;
    assert_int_equal(p->n_segments, 4); /* Floor, Abs, Neg, Ceil + Add */
    assert_string_equal(p->segments[0].dev->name, "cpu");
    assert_string_equal(p->segments[1].dev->name, "rv:1");
    assert_int_equal(p->segments[1].issue_at, 0); /* before the Floor */
    assert_true(p->segments[1].detach);
    assert_string_equal(p->segments[2].dev->name, "rv:0");
    assert_int_equal(p->segments[2].issue_at, 1); /* once the Floor is done */
    branches_done(m, ctx);
}

/* rv:0's detached run loses the device while rv:1's branch has run: the
 * request starts over without rv:0 (Neg on the CPU), and answers. */
static void detached_fault_starts_over(void **state)
{
    (void)state;
    loom_context *ctx = branches_context();
    loom_model *m = load_branches(ctx, false);
    run_checked(m, 0);
    int before0 = atomic_load(&runs[0]), before1 = atomic_load(&runs[1]);
    atomic_store(&fault_next, true);
    run_checked(m, 1);
    assert_int_equal(atomic_load(&runs[0]), before0 + 1); /* the faulting run only */
    assert_int_equal(atomic_load(&runs[1]), before1 + 2); /* before the fault, and again */
    lm_device *rv0 = lm_registry_find("rv:0");
    assert_int_equal(atomic_load(&rv0->health.failovers), 1);
    assert_false(lm_health_usable(rv0));
    branches_done(m, ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(branches_on_two_devices_overlap),
    cmocka_unit_test(ready_segment_issued_ahead),
    cmocka_unit_test(detached_fault_starts_over),
};

LM_TEST_MAIN(tests)
