/*
 * test_device.c - the device layer: devices come from the process's
 * registry and are shared by contexts, which select them by a priority list;
 * the planner gives supported nodes to a device in segments (the CPU is a
 * device like the others), the executor moves only boundary values between
 * host and device, and a node that only a device implements loads and runs.
 *
 * The device here is a minimal one written for the test: it runs Relu,
 * same-shape Add (with the ReLU the fusion pass may give it, as devices that
 * declare LM_DEVICE_FUSED_FORMS must) and its own op test.Negate on float
 * tensors in buffers of its own.
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/device.h"
#include "core/model.h"
#include "core/op.h"
#include "core/registry.h"
#include "lib/onnx_builder.h"
#include "lib/test_main.h"
#include "loom/loom.h"

typedef struct test_device {
    lm_device dev;
    int compiles, runs, values_in, values_out;
    /* compile() holds while block_compile is set, until released (or 10 s). */
    pthread_mutex_t lock; /* guards the fields below */
    pthread_cond_t cond;
    bool block_compile, compiling, released, cached_run_done, saw_cached_run;
} test_device;

typedef struct test_segment {
    const lm_graph *g;
    int n_nodes, *nodes;
    int n_in, n_out, *in, *out;
    float **buf; /* per value: device memory */
    int64_t *count;
} test_segment;

static bool td_supports(lm_device *dev, const lm_node *n, loom_tensor *const *in)
{
    (void)dev;
    const char *act = lm_node_attr_str(n, "_loom_act", NULL);
    if (in[0]->dtype != LOOM_DTYPE_FLOAT || (act && strcmp(act, "Relu") != 0))
        return false;
    if (strcmp(n->op_type, "Relu") == 0 || strcmp(n->op_type, "Negate") == 0)
        return true;
    return strcmp(n->op_type, "Add") == 0 && n->n_in == 2 && in[1] &&
           loom_tensor_count(in[0]) == loom_tensor_count(in[1]) && in[0]->rank == in[1]->rank;
}

static void td_release(lm_device *dev, void *state)
{
    (void)dev;
    test_segment *sg = state;
    for (int v = 0; v < sg->g->n_values; v++)
        free(sg->buf[v]);
    free(sg->buf);
    free(sg->count);
    free(sg->nodes);
    free(sg->in);
    free(sg->out);
    free(sg);
}

/* Holds a compile while the test asks for it: lets a test run cached shapes
 * while a compile is in progress. */
static void td_hold_compile(test_device *td)
{
    pthread_mutex_lock(&td->lock);
    if (td->block_compile) {
        td->compiling = true;
        pthread_cond_broadcast(&td->cond);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        while (!td->released && pthread_cond_timedwait(&td->cond, &td->lock, &until) == 0)
            ;
        td->saw_cached_run = td->cached_run_done;
    }
    pthread_mutex_unlock(&td->lock);
}

static loom_status td_compile(lm_device *dev, const lm_segment_desc *d, void **state)
{
    test_device *td = (test_device *)dev;
    td_hold_compile(td);
    test_segment *sg = calloc(1, sizeof(*sg));
    sg->g = d->g;
    sg->n_nodes = d->n_nodes;
    sg->nodes = malloc(sizeof(int) * (size_t)d->n_nodes);
    memcpy(sg->nodes, d->nodes, sizeof(int) * (size_t)d->n_nodes);
    sg->n_in = d->n_inputs;
    sg->n_out = d->n_outputs;
    sg->in = malloc(sizeof(int) * (size_t)(d->n_inputs + 1));
    sg->out = malloc(sizeof(int) * (size_t)(d->n_outputs + 1));
    memcpy(sg->in, d->inputs, sizeof(int) * (size_t)d->n_inputs);
    memcpy(sg->out, d->outputs, sizeof(int) * (size_t)d->n_outputs);
    sg->buf = calloc((size_t)d->g->n_values, sizeof(float *));
    sg->count = calloc((size_t)d->g->n_values, sizeof(int64_t));
    for (int v = 0; v < d->g->n_values; v++) {
        if (!d->shape[v])
            continue;
        sg->count[v] = loom_tensor_count((loom_tensor *)d->shape[v]);
        sg->buf[v] = calloc((size_t)sg->count[v] + 1, sizeof(float));
        if (d->constant[v]) /* "upload" constants once */
            memcpy(sg->buf[v], d->constant[v]->data, d->constant[v]->nbytes);
    }
    td->compiles++;
    *state = sg;
    return LOOM_OK;
}

static loom_status td_run(lm_device *dev, void *state, loom_tensor *const *in,
                          loom_tensor *const *out, uint64_t deadline_ns)
{
    test_device *td = (test_device *)dev;
    test_segment *sg = state;
    for (int i = 0; i < sg->n_in; i++)
        memcpy(sg->buf[sg->in[i]], in[i]->data, in[i]->nbytes);
    for (int k = 0; k < sg->n_nodes; k++) {
        const lm_node *n = &sg->g->nodes[sg->nodes[k]];
        float *y = sg->buf[n->out[0]], *a = sg->buf[n->in[0]];
        bool relu = lm_node_attr_str(n, "_loom_act", NULL) != NULL; /* Relu: td_supports */
        for (int64_t e = 0; e < sg->count[n->out[0]]; e++) {
            y[e] = n->n_in == 2                        ? a[e] + sg->buf[n->in[1]][e]
                   : strcmp(n->op_type, "Negate") == 0 ? -a[e]
                   : a[e] > 0                          ? a[e]
                                                       : 0;
            if (relu && !(y[e] > 0))
                y[e] = 0;
        }
    }
    for (int o = 0; o < sg->n_out; o++)
        memcpy(out[o]->data, sg->buf[sg->out[o]], out[o]->nbytes);
    td->runs++;
    td->values_in += sg->n_in;
    td->values_out += sg->n_out;
    return LOOM_OK;
}

static void td_destroy(lm_device *dev)
{
    test_device *td = (test_device *)dev;
    pthread_mutex_destroy(&td->lock);
    pthread_cond_destroy(&td->cond);
    free(dev);
}

static const lm_device_ops td_ops = {
    .supports = td_supports,
    .compile = td_compile,
    .run = td_run,
    .release = td_release,
    .destroy = td_destroy,
};

/* test.Negate: only the test device implements it; core knows its shapes. */
static loom_status negate_infer(lm_kctx *k)
{
    const loom_tensor *x = lm_kin(k, 0);
    if (!x || x->dtype != LOOM_DTYPE_FLOAT)
        return lm_kinvalid(k, "takes one float tensor");
    return lm_kout_like(k, 0, LOOM_DTYPE_FLOAT, x) ? LOOM_OK : LM_KOUT_FAILED;
}

static const lm_op_def test_ops[] = {
    {.domain = "test", .op_type = "Negate", .run = negate_infer, .flags = LM_OP_INFER_ONLY},
    LM_OP_END,
};

/* Holds the registry and adds the test device "test:0" to it; the registry
 * frees the device with its last release. */
static test_device *add_test_device(void)
{
    assert_int_equal(lm_registry_acquire(NULL), LOOM_OK);
    test_device *td = calloc(1, sizeof(*td));
    pthread_mutex_init(&td->lock, NULL);
    pthread_cond_init(&td->cond, NULL);
    td->dev.ops = &td_ops;
    td->dev.props.kind = LOOM_DEVICE_OTHER;
    td->dev.props.flags = LM_DEVICE_FUSED_FORMS;
    strcpy(td->dev.name, "test:0");
    assert_int_equal(lm_registry_add(&td->dev), LOOM_OK);
    return td;
}

/* x -> Relu -> Add(+b) -> Relu -> Softmax (CPU) -> Relu -> y; also z = the first Relu. */
static loom_model *load_chain(loom_context *ctx)
{
    int64_t dims[2] = {2, 4};
    float b[8] = {1, -1, 2, -2, 3, -3, 4, -4};
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 2, dims);
    ob_output(m, "y", 1);
    ob_output(m, "z", 1);
    ob_init_f32(m, "b", 2, dims, b);
    ob_add_node(m, "Relu", "x", "z");
    ob_add_node(m, "Add", "z,b", "s");
    ob_add_node(m, "Relu", "s", "r");
    ob_add_node(m, "Softmax", "r", "p");
    ob_add_node(m, "Relu", "p", "y");
    return lm_load_ok(ctx, m, "chain.onnx");
}

static void run_chain(loom_context *ctx, float y[8], float z[8])
{
    loom_model *m = load_chain(ctx);
    float x[8] = {-1, 2, -3, 4, 5, -6, 7, -8};
    int64_t dims[2] = {2, 4};
    loom_tensor *in, *out[2];
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 2, dims, x, sizeof(x), &in), LOOM_OK);
    for (int rep = 0; rep < 3; rep++) {
        assert_int_equal(loom_model_run(m, &in, 1, out, 2), LOOM_OK);
        memcpy(y, loom_tensor_data(out[0]), 8 * sizeof(float));
        memcpy(z, loom_tensor_data(out[1]), 8 * sizeof(float));
        loom_tensor_destroy(out[0]);
        loom_tensor_destroy(out[1]);
    }
    loom_tensor_destroy(in);
    loom_model_destroy(m);
}

/* Runs the chain on the CPU alone and on test:0 (with the CPU), checks the
 * answers are the same, and returns the test device (its counters). */
static test_device *chain_on_both(uint32_t flags)
{
    test_device *td = add_test_device();
    td->dev.props.flags = flags;
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "cpu";
    loom_context *cpu, *mixed;
    assert_int_equal(loom_context_create(&o, &cpu), LOOM_OK);
    o.device = "test:0";
    assert_int_equal(loom_context_create(&o, &mixed), LOOM_OK);
    float y_cpu[8], z_cpu[8], y_dev[8], z_dev[8];
    run_chain(cpu, y_cpu, z_cpu);
    run_chain(mixed, y_dev, z_dev);
    assert_memory_equal(y_cpu, y_dev, sizeof(y_cpu));
    assert_memory_equal(z_cpu, z_dev, sizeof(z_cpu));
    loom_context_destroy(cpu);
    loom_context_destroy(mixed);
    return td;
}

static void segments_match_cpu(void **state)
{
    (void)state;
    test_device *td = chain_on_both(LM_DEVICE_FUSED_FORMS);
    /* Two segments: Relu-Add(+Relu, fused) before Softmax, and the last Relu. */
    assert_int_equal(td->compiles, 2);
    assert_int_equal(td->runs, 2 * 3);
    /* Segment 1 takes x and returns z (graph output) and r (read by Softmax);
     * segment 2 takes p and returns y. s never leaves the device. */
    assert_int_equal(td->values_in, 2 * 3);
    assert_int_equal(td->values_out, 3 * 3);
    lm_registry_release();
}

/* A device that does not declare LM_DEVICE_FUSED_FORMS is offered no node a
 * fusion changed: the Add that took the Relu runs on the CPU, and the answers
 * are the CPU's. */
static void fused_nodes_skip_devices_without_fused_forms(void **state)
{
    (void)state;
    test_device *td = chain_on_both(0);
    /* The two Relus that stayed plain: x -> z and p -> y, one value each way. */
    assert_int_equal(td->compiles, 2);
    assert_int_equal(td->values_in, 2 * 3);
    assert_int_equal(td->values_out, 2 * 3);
    lm_registry_release();
}

/* With fallback off, a node the device cannot run fails the load, named. */
static void fail_closed_names_the_node(void **state)
{
    (void)state;
    add_test_device();
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "test:0";
    o.fail_closed = 1;
    loom_context *ctx;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_OK);
    assert_int_equal(loom_context_device_count(ctx), 1); /* no CPU to fall back to */
    int64_t dims[2] = {2, 4};
    ob_model *om = ob_new(13);
    ob_input(om, "x", 1, 2, dims);
    ob_output(om, "y", 1);
    ob_add_node(om, "Relu", "x", "r");
    ob_node_name(om, ob_add_node(om, "Softmax", "r", "y"), "the_softmax");
    loom_model *m = NULL;
    assert_int_equal(ob_load(om, ctx, "strict.onnx", &m), LOOM_ERR_UNSUPPORTED);
    assert_non_null(strstr(loom_last_error(), "the_softmax"));
    assert_non_null(strstr(loom_last_error(), "test:0"));
    loom_context_destroy(ctx);
    lm_registry_release();
}

/* A node whose op only the test device implements loads and runs there; on a
 * context without that device it fails at planning, naming the node. */
static void device_only_op_runs_on_its_device(void **state)
{
    (void)state;
    test_device *td = add_test_device();
    assert_int_equal(lm_op_tables_add(test_ops), LOOM_OK);
    int64_t dims[2] = {2, 4};
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "test:0";
    loom_context *ctx, *cpu;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_OK);
    o.device = "cpu";
    assert_int_equal(loom_context_create(&o, &cpu), LOOM_OK);
    ob_model *om = ob_new(13);
    ob_opset(om, "test", 1);
    ob_input(om, "x", 1, 2, dims);
    ob_output(om, "y", 1);
    ob_node_domain(om, ob_add_node(om, "Negate", "x", "n"), "test");
    ob_add_node(om, "Softmax", "n", "y"); /* the CPU's */
    loom_model *m = lm_load_ok(ctx, om, "negate.onnx");
    float x[8] = {1, 2, 3, 4, -1, -2, -3, -4}, want[8];
    loom_tensor *in, *out;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 2, dims, x, sizeof(x), &in), LOOM_OK);
    assert_int_equal(loom_model_run(m, &in, 1, &out, 1), LOOM_OK);
    assert_int_equal(td->runs, 1);
    for (int r = 0; r < 2; r++) { /* softmax of -x, by hand */
        float sum = 0;
        for (int i = 0; i < 4; i++)
            sum += expf(-x[r * 4 + i]);
        for (int i = 0; i < 4; i++)
            want[r * 4 + i] = expf(-x[r * 4 + i]) / sum;
    }
    const float *y = loom_tensor_data(out);
    for (int i = 0; i < 8; i++)
        assert_float_equal(y[i], want[i], 1e-6);
    loom_tensor_destroy(out);
    loom_model_destroy(m);

    om = ob_new(13);
    ob_opset(om, "test", 1);
    ob_input(om, "x", 1, 2, dims);
    ob_output(om, "y", 1);
    ob_node_name(om, ob_node_domain(om, ob_add_node(om, "Negate", "x", "y"), "test"), "neg");
    assert_int_equal(ob_load(om, cpu, "negate.onnx", &m), LOOM_ERR_UNSUPPORTED);
    assert_non_null(strstr(loom_last_error(), "'neg'"));
    loom_tensor_destroy(in);
    loom_context_destroy(ctx);
    loom_context_destroy(cpu);
    lm_registry_release();
}

/* Contexts share the process's devices; the device list is a priority list
 * with exclusions, the CPU appended last unless fail_closed. */
static void contexts_share_and_select_devices(void **state)
{
    (void)state;
    add_test_device();
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "test:0";
    loom_context *a, *b, *c;
    assert_int_equal(loom_context_create(&o, &a), LOOM_OK);
    o.device = "cpu,test:0";
    assert_int_equal(loom_context_create(&o, &b), LOOM_OK);
    o.device = "auto,-cpu";
    o.fail_closed = 1;
    loom_status s = loom_context_create(&o, &c); /* test:0 is not automatic: nothing left */
    if (s == LOOM_OK) { /* unless this machine has automatic accelerators */
        for (int i = 0; i < loom_context_device_count(c); i++)
            assert_ptr_not_equal(c->devices[i], lm_registry_find("cpu"));
        loom_context_destroy(c);
    } else {
        assert_int_equal(s, LOOM_ERR_NOT_FOUND);
    }
    assert_int_equal(loom_context_device_count(a), 2);
    assert_string_equal(a->devices[0]->name, "test:0");
    assert_string_equal(a->devices[1]->name, "cpu");
    assert_int_equal(loom_context_device_count(b), 2);
    assert_ptr_equal(b->devices[0], a->devices[1]); /* one CPU device for both */
    assert_ptr_equal(b->devices[1], a->devices[0]);
    assert_ptr_equal(a->pool, b->pool); /* and one worker pool */
    loom_device_info info = {.struct_size = sizeof(info)};
    assert_int_equal(loom_context_device_info(a, 1, &info), LOOM_OK);
    assert_int_equal(info.kind, LOOM_DEVICE_CPU);
    assert_true(info.numeric & LOOM_NUMERIC_INT8);
    o.device = "nosuch:0";
    o.fail_closed = 0;
    assert_int_equal(loom_context_create(&o, &c), LOOM_ERR_NOT_FOUND);
    assert_non_null(strstr(loom_last_error(), "nosuch:0"));
    o.device = "auto,-nosuch:1";
    assert_int_equal(loom_context_create(&o, &c), LOOM_ERR_NOT_FOUND);
    assert_non_null(strstr(loom_last_error(), "nosuch:1"));
    loom_context_destroy(a);
    loom_context_destroy(b);
    lm_registry_release();
    /* Every holder gone: the devices went with the last release. */
    assert_int_equal(lm_registry_count(), 0);
}

/* loom_devices_list() lists every device, the CPU last, as the process's. */
static void devices_list_ends_with_the_cpu(void **state)
{
    (void)state;
    loom_device_info info[16];
    size_t n = 0;
    for (int i = 0; i < 16; i++)
        info[i].struct_size = sizeof(info[i]);
    assert_int_equal(loom_devices_list(info, 16, &n), LOOM_OK);
    assert_true(n >= 1 && n <= 16);
    assert_string_equal(info[n - 1].name, "cpu");
    assert_int_equal(info[n - 1].kind, LOOM_DEVICE_CPU);
    assert_true(info[n - 1].mem_bytes > 0);
    assert_true(info[n - 1].automatic);
    info[0].struct_size = 8;
    assert_int_equal(loom_devices_list(info, 1, &n), LOOM_ERR_INVALID_ARGUMENT);
    assert_true(info[n - 1].compute_units >= 1);
    /* Only devices that load bitstreams can be programmed; names are checked. */
    assert_int_equal(loom_device_program("cpu", "/etc/hostname"), LOOM_ERR_UNSUPPORTED);
    assert_non_null(strstr(loom_last_error(), "cpu"));
    assert_int_equal(loom_device_program("nosuch:0", "/etc/hostname"), LOOM_ERR_NOT_FOUND);
    assert_non_null(strstr(loom_last_error(), "nosuch:0"));
    /* A CPU-only selection discovers only the CPU: no OpenCL platform opened. */
    lm_discovery cpu_only = {.devices = "cpu"};
    assert_int_equal(lm_registry_acquire(&cpu_only), LOOM_OK);
    assert_int_equal(lm_registry_count(), 1);
    assert_string_equal(lm_registry_device(0)->name, "cpu");
    lm_registry_release();
}

/* "auto" lists accelerators before the CPU whatever order the backends were
 * discovered in: a "cpu" context made first (as loomd does for its CPU
 * models) discovers only the CPU, and an "auto" context after it must still
 * put the card first. */
static void auto_order_is_priority_not_discovery(void **state)
{
    (void)state;
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "cpu";
    loom_context *cpu, *a;
    assert_int_equal(loom_context_create(&o, &cpu), LOOM_OK);
    o.device = "auto";
    o.emulated_cards = 1;
    assert_int_equal(loom_context_create(&o, &a), LOOM_OK);
    assert_true(loom_context_device_count(a) >= 2);
    assert_string_equal(a->devices[0]->name, "card:0");
    assert_string_equal(a->devices[loom_context_device_count(a) - 1]->name, "cpu");
    loom_context_destroy(a);
    loom_context_destroy(cpu);
}

/* x [N, 4] -> Relu -> y, on the test device. */
static loom_model *load_batched_relu(loom_context *ctx)
{
    int64_t dims[2] = {-1, 4};
    ob_model *om = ob_new(13);
    ob_input(om, "x", 1, 2, dims);
    ob_output(om, "y", 1);
    ob_add_node(om, "Relu", "x", "y");
    return lm_load_ok(ctx, om, "relu.onnx");
}

static loom_status run_batch(loom_model *m, int64_t n)
{
    float x[4 * 8] = {0};
    int64_t dims[2] = {n, 4};
    loom_tensor *in, *out = NULL;
    assert_int_equal(
        loom_tensor_wrap(LOOM_DTYPE_FLOAT, 2, dims, x, sizeof(float) * 4 * (size_t)n, &in),
        LOOM_OK);
    loom_status s = loom_model_run(m, &in, 1, &out, 1);
    loom_tensor_destroy(out);
    loom_tensor_destroy(in);
    return s;
}

typedef struct batch_job {
    loom_model *m;
    int64_t n;
    loom_status status;
} batch_job;

static void *run_batch_thread(void *arg)
{
    batch_job *j = arg;
    j->status = run_batch(j->m, j->n);
    return NULL;
}

/* While a new shape's segment compiles, runs of a cached shape go ahead:
 * plans are built outside the model's lock. */
static void cached_shapes_never_wait_for_a_compile(void **state)
{
    (void)state;
    test_device *td = add_test_device();
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "test:0";
    loom_context *ctx;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_OK);
    loom_model *m = load_batched_relu(ctx);
    assert_int_equal(run_batch(m, 2), LOOM_OK); /* batch 2 planned and cached */

    pthread_mutex_lock(&td->lock);
    td->block_compile = true;
    pthread_mutex_unlock(&td->lock);
    batch_job job = {m, 3, LOOM_ERR_RUNTIME};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_batch_thread, &job), 0);
    pthread_mutex_lock(&td->lock);
    while (!td->compiling)
        pthread_cond_wait(&td->cond, &td->lock);
    pthread_mutex_unlock(&td->lock);

    assert_int_equal(run_batch(m, 2), LOOM_OK); /* while batch 3 compiles */
    pthread_mutex_lock(&td->lock);
    td->cached_run_done = true;
    td->released = true;
    pthread_cond_broadcast(&td->cond);
    pthread_mutex_unlock(&td->lock);
    pthread_join(t, NULL);
    assert_int_equal(job.status, LOOM_OK);
    assert_true(td->saw_cached_run);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
    lm_registry_release();
}

/* A new plan generation replaces the cached plans at once; a run holding an
 * older plan finishes on it. */
static void plan_generations_replace_plans(void **state)
{
    (void)state;
    test_device *td = add_test_device();
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "test:0";
    loom_context *ctx;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_OK);
    loom_model *m = load_batched_relu(ctx);
    assert_int_equal(run_batch(m, 2), LOOM_OK);
    assert_int_equal(td->compiles, 1);

    float x[8] = {0};
    int64_t dims[2] = {2, 4};
    loom_tensor *in;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 2, dims, x, sizeof(x), &in), LOOM_OK);
    lm_plan *old, *now;
    assert_int_equal(lm_plan_get(m, &in, &old), LOOM_OK); /* as a run in flight holds it */
    lm_model_new_generation(m);
    assert_int_equal(lm_plan_get(m, &in, &now), LOOM_OK);
    assert_ptr_not_equal(old, now);
    assert_int_equal(td->compiles, 2);            /* planned again, for the devices as they are */
    assert_int_equal(atomic_load(&old->refs), 1); /* only the holder's */
    assert_int_equal(old->n_segments, now->n_segments);
    lm_plan_put(m, old); /* freed here: ASan would see a leak or a double free */
    lm_plan_put(m, now);
    assert_int_equal(run_batch(m, 2), LOOM_OK);
    assert_int_equal(td->compiles, 2); /* the new generation's plan is cached */
    loom_tensor_destroy(in);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
    lm_registry_release();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(segments_match_cpu),
    cmocka_unit_test(fused_nodes_skip_devices_without_fused_forms),
    cmocka_unit_test(fail_closed_names_the_node),
    cmocka_unit_test(device_only_op_runs_on_its_device),
    cmocka_unit_test(contexts_share_and_select_devices),
    cmocka_unit_test(devices_list_ends_with_the_cpu),
    cmocka_unit_test(auto_order_is_priority_not_discovery),
    cmocka_unit_test(cached_shapes_never_wait_for_a_compile),
    cmocka_unit_test(plan_generations_replace_plans),
};

LM_TEST_MAIN(tests)
