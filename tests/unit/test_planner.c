/*
 * test_planner.c - the planner in a context (core/place.c): a mock
 * accelerator whose costs and links the test sets decides where nodes go,
 * with the reasons the plan gives; pins, the CPU as fallback only, memory,
 * the objective, determinism, and bad rules as errors that name the rule.
 *
 * The partitioner itself (optimality against brute force) is test_partition.c.
 * Figures are chosen far apart so that no machine's CPU peaks change the
 * answer: the accelerator's MatMul costs 1 ns, the CPU's some 150 µs, a
 * hop 1.3 µs when links are cheap and a second when they are dear.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cache.h"
#include "core/device.h"
#include "core/model.h"
#include "core/registry.h"
#include "lib/onnx_builder.h"
#include "lib/test_main.h"
#include "loom/loom.h"

#define K 512
#define M 64

/* The accelerator: Relu and 2-D float MatMul, in buffers of its own. */
typedef struct acc_segment {
    const lm_graph *g;
    int n_nodes, *nodes, n_in, n_out, *in, *out;
    float **buf;
} acc_segment;

static int acc_runs;

static bool acc_supports(lm_device *dev, const lm_node *n, loom_tensor *const *in)
{
    (void)dev;
    if (in[0]->dtype != LOOM_DTYPE_FLOAT)
        return false;
    if (strcmp(n->op_type, "Relu") == 0)
        return true;
    return strcmp(n->op_type, "MatMul") == 0 && in[0]->rank == 2 && in[1]->rank == 2;
}

static double acc_cost(lm_device *dev, const lm_node *n, loom_tensor *const *in)
{
    (void)dev, (void)n, (void)in;
    return 0.001;
}

static int *copy_ints(const int *v, int n)
{
    int *c = malloc(sizeof(int) * ((size_t)n + 1));
    memcpy(c, v, sizeof(int) * (size_t)n);
    return c;
}

static loom_status acc_compile(lm_device *dev, const lm_segment_desc *d, void **state)
{
    (void)dev;
    acc_segment *sg = calloc(1, sizeof(*sg));
    sg->g = d->g;
    sg->n_nodes = d->n_nodes;
    sg->nodes = copy_ints(d->nodes, d->n_nodes);
    sg->n_in = d->n_inputs;
    sg->n_out = d->n_outputs;
    sg->in = copy_ints(d->inputs, d->n_inputs);
    sg->out = copy_ints(d->outputs, d->n_outputs);
    sg->buf = calloc((size_t)d->g->n_values, sizeof(float *));
    for (int v = 0; v < d->g->n_values; v++) {
        if (!d->shape[v])
            continue;
        sg->buf[v] = calloc((size_t)loom_tensor_count((loom_tensor *)d->shape[v]) + 1, 4);
        if (d->constant[v])
            memcpy(sg->buf[v], d->constant[v]->data, d->constant[v]->nbytes);
    }
    *state = sg;
    return LOOM_OK;
}

static void acc_node(const acc_segment *sg, const lm_node *n)
{
    float *y = sg->buf[n->out[0]], *a = sg->buf[n->in[0]];
    if (strcmp(n->op_type, "Relu") == 0) {
        for (int i = 0; i < M * K; i++)
            y[i] = a[i] > 0 ? a[i] : 0;
        return;
    }
    const float *b = sg->buf[n->in[1]];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < K; j++) {
            float acc = 0;
            for (int k = 0; k < K; k++)
                acc += a[i * K + k] * b[k * K + j];
            y[i * K + j] = acc;
        }
}

static loom_status acc_run(lm_device *dev, void *state, loom_tensor *const *in,
                           loom_tensor *const *out, uint64_t deadline_ns)
{
    (void)dev;
    acc_segment *sg = state;
    for (int i = 0; i < sg->n_in; i++)
        memcpy(sg->buf[sg->in[i]], in[i]->data, in[i]->nbytes);
    for (int k = 0; k < sg->n_nodes; k++)
        acc_node(sg, &sg->g->nodes[sg->nodes[k]]);
    for (int o = 0; o < sg->n_out; o++)
        memcpy(out[o]->data, sg->buf[sg->out[o]], out[o]->nbytes);
    acc_runs++;
    return LOOM_OK;
}

static void acc_release(lm_device *dev, void *state)
{
    (void)dev;
    acc_segment *sg = state;
    for (int v = 0; v < sg->g->n_values; v++)
        free(sg->buf[v]);
    free(sg->buf);
    free(sg->nodes);
    free(sg->in);
    free(sg->out);
    free(sg);
}

static void acc_destroy(lm_device *dev)
{
    free(dev);
}

static const lm_device_ops acc_ops = {
    .supports = acc_supports,
    .cost = acc_cost,
    .compile = acc_compile,
    .run = acc_run,
    .release = acc_release,
    .destroy = acc_destroy,
};

static lm_device *acc;
static char cache_dir[64];

/* The registry with "acc:0" (links 100 GB/s, @launch_us per hop and
 * segment, @mem bytes of memory, 0 unlimited), and an empty cost cache. */
static void add_acc(double launch_us, uint64_t mem)
{
    assert_int_equal(lm_registry_acquire(NULL), LOOM_OK);
    acc = calloc(1, sizeof(*acc));
    acc->ops = &acc_ops;
    strcpy(acc->name, "acc:0");
    acc->props.kind = LOOM_DEVICE_OTHER;
    acc->props.h2d_gbps = acc->props.d2h_gbps = 100;
    acc->props.launch_us = launch_us;
    acc->props.mem_bytes = mem;
    if (lm_registry_add(acc) != LOOM_OK)
        fail_msg("%s", loom_last_error());
}

static int setup(void **state)
{
    (void)state;
    snprintf(cache_dir, sizeof(cache_dir), "/tmp/loom-planner-XXXXXX");
    if (!mkdtemp(cache_dir))
        return -1;
    lm_test_setenv("LOOM_CACHE_DIR", cache_dir);
    lm_cost_cache_reset();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof(path), "%s/costs-v1.tsv", cache_dir);
    unlink(path);
    rmdir(cache_dir);
    lm_test_setenv("LOOM_CACHE_DIR", NULL);
    lm_cost_cache_reset();
    return 0;
}

/* x [64,512] -> Relu -> MatMul(W [512,512]) -> Softmax -> y. (A Relu after
 * the MatMul would be fused into it at load.) */
static ob_model *chain(void)
{
    static float w[K * K];
    for (int i = 0; i < K * K; i++)
        w[i] = (float)((i * 7919) % 13 - 6) / 64.0f;
    int64_t xd[2] = {M, K}, wd[2] = {K, K};
    ob_model *om = ob_new(13);
    ob_input(om, "x", 1, 2, xd);
    ob_output(om, "y", 1);
    ob_init_f32(om, "w", 2, wd, w);
    ob_node_name(om, ob_add_node(om, "Relu", "x", "a"), "relu_in");
    ob_node_name(om, ob_add_node(om, "MatMul", "a,w", "b"), "mm");
    ob_node_name(om, ob_add_node(om, "Softmax", "b", "y"), "softmax");
    return om;
}

static loom_context *context(const char *device, const char *pins, int objective)
{
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = device;
    o.pins = pins;
    o.objective = objective;
    loom_context *ctx = NULL;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_OK);
    return ctx;
}

/* The plan's JSON object of node @name, cut at its end. */
static char *node_json(const char *json, const char *name, char *buf, size_t len)
{
    char key[64];
    snprintf(key, sizeof(key), "{\"name\":\"%s\"", name);
    const char *at = strstr(json, key);
    if (!at)
        fail_msg("no node %s in %s", name, json);
    const char *end = strchr(at, '}');
    snprintf(buf, len, "%.*s", (int)(end - at + 1), at);
    return buf;
}

static void assert_node(const char *json, const char *name, const char *device, const char *reason)
{
    char buf[512], want[64];
    node_json(json, name, buf, sizeof(buf));
    snprintf(want, sizeof(want), "\"device\":\"%s\"", device);
    if (!strstr(buf, want) || !strstr(buf, reason))
        fail_msg("%s: want %s and reason '%s'", buf, device, reason);
}

static char *plan_of(loom_context *ctx, loom_model **m)
{
    *m = lm_load_ok(ctx, chain(), "chain.onnx");
    char *json = NULL;
    assert_int_equal(loom_model_plan_json(*m, NULL, 0, &json), LOOM_OK);
    return json;
}

/* Cheap links: the accelerator takes the whole Relu-MatMul stretch;
 * the Softmax it cannot run goes to the CPU. Outputs match the CPU's. */
static void cheap_links_move_work(void **state)
{
    (void)state;
    add_acc(1, 0);
    loom_context *ctx = context("auto,acc:0", NULL, 0), *cpu = context("cpu", NULL, 0);
    loom_model *m, *mc;
    char *json = plan_of(ctx, &m);
    assert_node(json, "mm", "acc:0", "fastest (cpu ");
    assert_node(json, "relu_in", "acc:0", "acc:0");
    assert_node(json, "softmax", "cpu", "Softmax not supported on acc:0");
    assert_non_null(strstr(json, "\"solver\":{\"algorithm\":\"dp\",\"exact\":true"));
    /* Same cost table, same plan. */
    char *again = NULL;
    lm_model_new_generation(m);
    assert_int_equal(loom_model_plan_json(m, NULL, 0, &again), LOOM_OK);
    assert_string_equal(json, again);
    free(again);
    free(json);

    int64_t xd[2] = {M, K};
    loom_tensor *x, *y = NULL, *yc = NULL;
    assert_int_equal(loom_tensor_create(LOOM_DTYPE_FLOAT, 2, xd, &x), LOOM_OK);
    float *xv = loom_tensor_data(x);
    for (int i = 0; i < M * K; i++)
        xv[i] = (float)(i % 17 - 8) / 8.0f;
    mc = lm_load_ok(cpu, chain(), "chain.onnx");
    acc_runs = 0;
    assert_int_equal(loom_model_run(m, &x, 1, &y, 1), LOOM_OK);
    assert_int_equal(acc_runs, 1);
    assert_int_equal(loom_model_run(mc, &x, 1, &yc, 1), LOOM_OK);
    const float *a = loom_tensor_data(y), *b = loom_tensor_data(yc);
    for (int i = 0; i < M * K; i++)
        assert_float_equal(a[i], b[i], 1e-4);
    loom_tensor_destroy(x);
    loom_tensor_destroy(y);
    loom_tensor_destroy(yc);
    loom_model_destroy(m);
    loom_model_destroy(mc);
    loom_context_destroy(ctx);
    loom_context_destroy(cpu);
    lm_registry_release();
}

/* A link that costs a second per hop: nothing is worth moving, and the
 * reason says so; a pin moves the MatMul anyway, and says who decided. */
static void dear_links_keep_work_home(void **state)
{
    (void)state;
    add_acc(1e6, 0);
    loom_context *ctx = context("auto,acc:0", NULL, 0);
    loom_model *m;
    char *json = plan_of(ctx, &m);
    assert_node(json, "mm", "cpu", "cpu: transfers outweigh the ");
    assert_node(json, "relu_in", "cpu", "cpu: transfers outweigh");
    assert_non_null(strstr(json, "\"transfers\":[]"));
    free(json);
    loom_model_destroy(m);
    loom_context_destroy(ctx);

    ctx = context("auto,acc:0", "op:MatMul=acc:0", 0);
    json = plan_of(ctx, &m);
    assert_node(json, "mm", "acc:0", "acc:0: pinned by op:MatMul=acc:0");
    /* Its input crosses anyway: the Relu before it comes along. */
    assert_node(json, "relu_in", "acc:0", "acc:0: 0.0 us, fastest");
    free(json);
    loom_model_destroy(m);
    loom_context_destroy(ctx);

    /* Name patterns, first matching rule wins. */
    ctx = context("auto,acc:0", "relu_*=acc:0;m?=cpu", 0);
    json = plan_of(ctx, &m);
    assert_node(json, "relu_in", "acc:0", "pinned by relu_*=acc:0");
    assert_node(json, "mm", "cpu", "pinned by m?=cpu");
    free(json);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
    lm_registry_release();
}

/* A list naming only the accelerator: the CPU is its fallback and runs only
 * what the accelerator cannot, however dear the links. */
static void named_device_keeps_its_nodes(void **state)
{
    (void)state;
    add_acc(1e6, 0);
    loom_context *ctx = context("acc:0", NULL, 0);
    loom_model *m;
    char *json = plan_of(ctx, &m);
    assert_node(json, "relu_in", "acc:0", "acc:0: named, the CPU is only the fallback");
    assert_node(json, "mm", "acc:0", "acc:0");
    assert_node(json, "softmax", "cpu", "Softmax not supported on acc:0");
    free(json);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
    lm_registry_release();
}

/* Memory is a hard limit: W (1 MiB) does not fit a 512 KiB device. */
static void memory_bounds_the_weights(void **state)
{
    (void)state;
    add_acc(1, 512 * 1024);
    loom_context *ctx = context("auto,acc:0", NULL, 0);
    loom_model *m;
    char *json = plan_of(ctx, &m);
    assert_node(json, "mm", "cpu", "acc:0 would save");
    assert_node(json, "mm", "cpu", "no memory left for its weights");
    free(json);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
    lm_registry_release();
}

/* The throughput objective is the plan's, and says so. */
static void throughput_objective(void **state)
{
    (void)state;
    add_acc(1, 0);
    loom_context *ctx = context("auto,acc:0", NULL, LOOM_OBJECTIVE_THROUGHPUT);
    loom_model *m;
    char *json = plan_of(ctx, &m);
    assert_non_null(strstr(json, "\"objective\":\"throughput\""));
    assert_node(json, "mm", "acc:0", "acc:0");
    free(json);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
    lm_registry_release();
}

/* Every bad rule is an error that names it. */
static void bad_rules_are_errors(void **state)
{
    (void)state;
    add_acc(1, 0);
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "auto,acc:0";
    loom_context *ctx = NULL;
    const char *bad[] = {"op:MatMul", "=acc:0", "mm=", "op:=acc:0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o.pins = bad[i];
        assert_int_equal(loom_context_create(&o, &ctx), LOOM_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(loom_last_error(), "pin rule"));
    }
    o.pins = "mm=nosuch:0";
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_ERR_NOT_FOUND);
    assert_non_null(strstr(loom_last_error(), "mm=nosuch:0"));
    o.pins = NULL;
    o.objective = 7;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(loom_last_error(), "objective 7"));

    loom_model *m = NULL;
    ctx = context("auto,acc:0", "nomatch*=acc:0", 0);
    assert_int_equal(ob_load(chain(), ctx, "chain.onnx", &m), LOOM_ERR_NOT_FOUND);
    assert_non_null(strstr(loom_last_error(), "nomatch*=acc:0"));
    loom_context_destroy(ctx);
    ctx = context("auto,acc:0", "softmax=acc:0", 0);
    assert_int_equal(ob_load(chain(), ctx, "chain.onnx", &m), LOOM_ERR_UNSUPPORTED);
    assert_non_null(strstr(loom_last_error(), "softmax=acc:0"));
    loom_context_destroy(ctx);
    lm_registry_release();
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
static const struct CMUnitTest tests[] = {
    T(cheap_links_move_work),     T(dear_links_keep_work_home), T(named_device_keeps_its_nodes),
    T(memory_bounds_the_weights), T(throughput_objective),      T(bad_rules_are_errors),
};

LM_TEST_MAIN(tests)
