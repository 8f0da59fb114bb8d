/*
 * test_shapes.c - shapes that change every run: packed weights are built
 * once and shared by every plan and every model with identical weights
 * (core/prepared.c), and the plan cache is bounded by bytes (plancache.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/onnx_builder.h"
#include "lib/test_main.h"
#include "core/device.h"
#include "core/model.h"
#include "core/prepared.h"
#include "core/registry.h"
#include "loom/loom.h"

#define D 128 /* features of the MLP: 64 KiB weights, large enough to share */

static float weight(int i, int salt)
{
    return (float)((i * (37 + salt)) % 23 - 11) / 64.0f;
}

/* x[N,64] -> MatMul W1 -> Relu -> Gemm(W2^T, b) -> y[N,64] */
static loom_model *load_mlp(loom_context *ctx, const char *name)
{
    static float w1[D * D], w2[D * D], b[D];
    for (int i = 0; i < D * D; i++) {
        w1[i] = weight(i, 0);
        w2[i] = weight(i, 5);
    }
    for (int i = 0; i < D; i++)
        b[i] = (float)(i % 5) / 8.0f;
    int64_t xd[2] = {-1, D}, wd[2] = {D, D}, bd[1] = {D};
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 2, xd);
    ob_output(m, "y", 1);
    ob_init_f32(m, "w1", 2, wd, w1);
    ob_init_f32(m, "w2", 2, wd, w2);
    ob_init_f32(m, "b", 1, bd, b);
    ob_add_node(m, "MatMul", "x,w1", "h");
    ob_add_node(m, "Relu", "h", "r");
    ob_node *n = ob_add_node(m, "Gemm", "r,w2,b", "y");
    ob_attr_int(m, n, "transB", 1);
    return lm_load_ok(ctx, m, name);
}

/* Row @r of a batch: the same values whatever the batch size. */
static void fill_rows(loom_tensor *x, int64_t rows)
{
    float *p = loom_tensor_data(x);
    for (int64_t r = 0; r < rows; r++)
        for (int c = 0; c < D; c++)
            p[r * D + c] = (float)((r * 7 + c * 3) % 17 - 8) / 8.0f;
}

/* Runs @m on @rows rows; @y gets rows x D results. */
static void run_mlp(loom_model *m, int64_t rows, float *y)
{
    int64_t xd[2] = {rows, D};
    loom_tensor *x, *out;
    assert_int_equal(loom_tensor_create(LOOM_DTYPE_FLOAT, 2, xd, &x), LOOM_OK);
    fill_rows(x, rows);
    assert_int_equal(loom_model_run(m, &x, 1, &out, 1), LOOM_OK);
    memcpy(y, loom_tensor_data(out), sizeof(float) * (size_t)(rows * D));
    loom_tensor_destroy(out);
    loom_tensor_destroy(x);
}

static void assert_rows_match(const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        assert_true(fabsf(a[i] - b[i]) <= 1e-5f * (1.0f + fabsf(b[i])));
}

/* Eight batch sizes make eight plans and one set of packed weights; every
 * row's result is the batch-1 result of that row. */
static void packed_weights_shared_across_shapes(void **state)
{
    (void)state;
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *m = load_mlp(ctx, "mlp.onnx");
    static float one[8][D], many[8 * D];
    for (int r = 0; r < 8; r++) {
        run_mlp(m, r + 1, many);
        memcpy(one[r], many + r * D, sizeof(one[r]));
    }
    loom_model_stats first = lm_stats_of(m);
    assert_int_equal(first.plans, 8);
    /* MatMul's B and Gemm's B, packed: at least the weights' floats. */
    assert_true(first.prepared_bytes >= 2 * D * D * sizeof(float));
    assert_true(first.prepared_bytes < 4 * D * D * sizeof(float));
    for (int rows = 1; rows <= 8; rows++) {
        run_mlp(m, rows, many);
        for (int r = 0; r < rows; r++)
            assert_rows_match(many + r * D, one[r], D);
    }
    loom_model_stats st = lm_stats_of(m);
    assert_int_equal(st.prepared_bytes, first.prepared_bytes);
    assert_int_equal(st.shared_prepared_bytes, first.prepared_bytes);
    assert_true(st.plans_built == 8);
    assert_true(st.planning_ms_mean > 0.0 && st.planning_ms_max >= st.planning_ms_last);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
}

/* A second model with the same weights (a reload, an A/B pair) adds no
 * packed weights; they go with the last model using them. */
static void identical_models_share_packed_weights(void **state)
{
    (void)state;
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *a = load_mlp(ctx, "a.onnx"), *b = load_mlp(ctx, "b.onnx");
    static float ya[3 * D], yb[5 * D]; /* b runs 5 rows at the end */
    run_mlp(a, 3, ya);
    size_t one_model = lm_stats_of(a).shared_prepared_bytes;
    assert_true(one_model > 0);
    run_mlp(b, 3, yb);
    assert_memory_equal(ya, yb, sizeof(ya));
    assert_int_equal(lm_stats_of(b).shared_prepared_bytes, one_model);
    assert_int_equal(lm_stats_of(b).prepared_bytes, one_model);
    loom_model_destroy(a);
    assert_int_equal(lm_stats_of(b).shared_prepared_bytes, one_model);
    run_mlp(b, 5, yb); /* a new shape after the first model went */
    loom_model_destroy(b);
    loom_model *c = load_mlp(ctx, "c.onnx");
    assert_int_equal(lm_stats_of(c).shared_prepared_bytes, 0); /* freed with b's plans */
    loom_model_destroy(c);
    loom_context_destroy(ctx);
}

/* The bytes of constant @name in @m. */
static const void *constant_data(const loom_model *m, const char *name)
{
    for (int v = 0; v < m->g->n_values; v++)
        if (strcmp(m->g->values[v].name, name) == 0 && m->g->values[v].constant)
            return m->g->values[v].constant->data;
    fail_msg("no constant %s", name);
    return NULL;
}

/* Two models with the same initializers hold one copy of them, which
 * outlives the model that loaded it first. */
static void identical_models_share_constants(void **state)
{
    (void)state;
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *a = load_mlp(ctx, "a.onnx"), *b = load_mlp(ctx, "b.onnx");
    assert_ptr_equal(constant_data(a, "w1"), constant_data(b, "w1"));
    assert_ptr_equal(constant_data(a, "w2"), constant_data(b, "w2"));
    assert_ptr_not_equal(constant_data(a, "w1"), constant_data(a, "w2"));
    static float ya[4 * D], yb[4 * D];
    run_mlp(a, 4, ya);
    loom_model_destroy(a);
    run_mlp(b, 4, yb);
    assert_memory_equal(ya, yb, sizeof(ya));
    loom_model_destroy(b);
    loom_context_destroy(ctx);
}

/* A budget too small for two plans keeps one: the others are evicted and
 * planned again when their shape returns, with the same results. */
static void plan_cache_bounded_by_bytes(void **state)
{
    (void)state;
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *m = load_mlp(ctx, "mlp.onnx");
    assert_int_equal(loom_model_set_plan_cache_bytes(m, 1), LOOM_OK);
    static float first[6][6 * D], again[6 * D];
    for (int rows = 1; rows <= 6; rows++)
        run_mlp(m, rows, first[rows - 1]);
    loom_model_stats st = lm_stats_of(m);
    assert_int_equal(st.plans, 1);
    assert_int_equal(st.plans_evicted, 5);
    assert_true(st.plan_bytes > 0 && st.plan_budget_bytes == 1);
    for (int rows = 1; rows <= 6; rows++) {
        run_mlp(m, rows, again);
        assert_memory_equal(again, first[rows - 1], sizeof(float) * (size_t)(rows * D));
    }
    st = lm_stats_of(m);
    assert_int_equal(st.plans_built, 12);
    assert_int_equal(st.plans, 1);
    /* A budget for all of them keeps all of them. */
    assert_int_equal(loom_model_set_plan_cache_bytes(m, (size_t)64 << 20), LOOM_OK);
    for (int rows = 1; rows <= 6; rows++)
        run_mlp(m, rows, again);
    assert_int_equal(lm_stats_of(m).plans, 6);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
}

/* x[1,16,S,S] -> Conv 3x3 pad 1 (16 -> 16): Winograd with a tile chosen by
 * the output size (2 below 16, else 4), so one W packs two ways. */
static loom_model *load_conv(loom_context *ctx)
{
    static float w[16 * 16 * 9], b[16];
    for (int i = 0; i < 16 * 16 * 9; i++)
        w[i] = weight(i, 3) / 4.0f;
    for (int i = 0; i < 16; i++)
        b[i] = (float)(i % 3) / 4.0f;
    int64_t xd[4] = {1, 16, -1, -1}, wd[4] = {16, 16, 3, 3}, bd[1] = {16}, pads[4] = {1, 1, 1, 1};
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 4, xd);
    ob_output(m, "y", 1);
    ob_init_f32(m, "w", 4, wd, w);
    ob_init_f32(m, "b", 1, bd, b);
    ob_node *n = ob_add_node(m, "Conv", "x,w,b", "y");
    ob_attr_ints(m, n, "pads", 4, pads);
    return lm_load_ok(ctx, m, "conv.onnx");
}

static void run_conv(loom_model *m, int64_t side, float *y)
{
    int64_t xd[4] = {1, 16, side, side};
    loom_tensor *x, *out;
    assert_int_equal(loom_tensor_create(LOOM_DTYPE_FLOAT, 4, xd, &x), LOOM_OK);
    float *p = loom_tensor_data(x);
    for (int64_t i = 0; i < 16 * side * side; i++)
        p[i] = (float)(i * 11 % 29 - 14) / 16.0f;
    assert_int_equal(loom_model_run(m, &x, 1, &out, 1), LOOM_OK);
    memcpy(y, loom_tensor_data(out), sizeof(float) * (size_t)(16 * side * side));
    loom_tensor_destroy(out);
    loom_tensor_destroy(x);
}

/* A layout that depends on the shape is keyed by it: after a small image
 * packed W for one tile, a large image gets W packed for the other, and the
 * same result as a model that only ever saw the large image. */
static void shape_dependent_layout_is_keyed(void **state)
{
    (void)state;
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    static float alone[16 * 20 * 20], after[16 * 20 * 20], small[16 * 10 * 10];
    loom_model *m = load_conv(ctx);
    run_conv(m, 20, alone);
    size_t one_layout = lm_stats_of(m).prepared_bytes;
    loom_model_destroy(m);
    m = load_conv(ctx);
    run_conv(m, 10, small);
    run_conv(m, 20, after);
    assert_memory_equal(after, alone, sizeof(alone));
    assert_true(lm_stats_of(m).prepared_bytes > one_layout);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
}

/* ---- devices: packed weights are per device, and only for host steps ---- */

/* Devices that take MatMul only (with the Relu that fusion folds into it):
 * "hk:0" runs it with the host kernels (a second host-kernel device, as a
 * CPU device per NUMA node would be); "seg:0" compiles it as a segment of
 * its own (naive loops over a copy of the weights it "uploaded"). */
static bool mm_supports(lm_device *dev, const lm_node *n, loom_tensor *const *in)
{
    (void)dev;
    const char *act = lm_node_attr_str(n, "_loom_act", NULL);
    return strcmp(n->op_type, "MatMul") == 0 && in[0]->dtype == LOOM_DTYPE_FLOAT &&
           in[0]->rank == 2 && in[1] && in[1]->rank == 2 && (!act || strcmp(act, "Relu") == 0);
}

typedef struct mm_segment {
    int64_t n, k, m;
    bool relu;
    const float *w; /* the device's copy of B, from the store */
} mm_segment;

static int uploads; /* copies of B "uploaded" to seg:0 */

static loom_status mm_upload(lm_device *dev, void *arg, void **data, size_t *bytes)
{
    (void)dev;
    const loom_tensor *w = arg;
    *data = malloc(w->nbytes);
    memcpy(*data, w->data, w->nbytes);
    *bytes = w->nbytes;
    uploads++;
    return LOOM_OK;
}

static loom_status mm_compile(lm_device *dev, const lm_segment_desc *d, void **state)
{
    const lm_node *n = &d->g->nodes[d->nodes[0]];
    assert_int_equal(d->n_nodes, 1);
    const loom_tensor *w = d->constant[n->in[1]];
    assert_non_null(w);
    mm_segment *sg = calloc(1, sizeof(*sg));
    sg->n = d->shape[n->in[0]]->dims[0];
    sg->k = d->shape[n->in[0]]->dims[1];
    sg->m = d->shape[n->in[1]]->dims[1];
    sg->relu = lm_node_attr_str(n, "_loom_act", NULL) != NULL;
    void *copy;
    loom_status s =
        lm_devconst_get(dev, d, n->in[1], 0, mm_upload, free, (void *)(uintptr_t)w, &copy);
    if (s) {
        free(sg);
        return s;
    }
    sg->w = copy;
    *state = sg;
    return LOOM_OK;
}

static loom_status mm_run(lm_device *dev, void *state, loom_tensor *const *in,
                          loom_tensor *const *out, uint64_t deadline_ns)
{
    (void)dev;
    const mm_segment *sg = state;
    const float *x = loom_tensor_data(in[0]);
    float *y = loom_tensor_data(out[0]);
    for (int64_t r = 0; r < sg->n; r++)
        for (int64_t c = 0; c < sg->m; c++) {
            double acc = 0;
            for (int64_t i = 0; i < sg->k; i++)
                acc += (double)x[r * sg->k + i] * sg->w[i * sg->m + c];
            y[r * sg->m + c] = sg->relu && acc < 0 ? 0.0f : (float)acc;
        }
    return LOOM_OK;
}

static void mm_release(lm_device *dev, void *state)
{
    (void)dev;
    free(state);
}

static void mm_destroy(lm_device *dev)
{
    free(dev);
}

static const lm_device_ops hk_ops = {.supports = mm_supports, .destroy = mm_destroy};
static const lm_device_ops seg_ops = {
    .supports = mm_supports,
    .compile = mm_compile,
    .run = mm_run,
    .release = mm_release,
    .destroy = mm_destroy,
};

static void add_mm_device(const char *name, const lm_device_ops *ops, uint32_t flags)
{
    lm_device *dev = calloc(1, sizeof(*dev));
    dev->ops = ops;
    dev->props.kind = LOOM_DEVICE_OTHER;
    dev->props.flags = flags | LM_DEVICE_FUSED_FORMS; /* mm_supports reads _loom_act */
    strcpy(dev->name, name);
    assert_int_equal(lm_registry_add(dev), LOOM_OK);
}

static loom_context *context_on(const char *device)
{
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = device;
    loom_context *ctx;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_OK);
    return ctx;
}

/* The same model on three contexts: the CPU alone; MatMul on a second
 * host-kernel device, which packs its own copy (the key holds the device);
 * MatMul on a segment device, where nothing is packed for the host. The
 * Gemm on the CPU is packed once for all three. (No plans ahead: the spare
 * of the segment device's plan would pack MatMul for the CPU; the last
 * check shows it shares the CPU's copy.) */
static void packed_weights_keyed_by_device(void **state)
{
    (void)state;
    lm_test_setenv("LOOM_PLAN_AHEAD", "0");
    assert_int_equal(lm_registry_acquire(NULL), LOOM_OK);
    add_mm_device("hk:0", &hk_ops, LM_DEVICE_HOST_KERNELS | LM_DEVICE_DYNAMIC_SHAPES);
    add_mm_device("seg:0", &seg_ops, 0);
    loom_context *cpu = context_on("cpu"), *hk = context_on("hk:0,cpu"),
                 *seg = context_on("seg:0,cpu");
    loom_model *a = load_mlp(cpu, "a.onnx"), *b = load_mlp(hk, "b.onnx"),
               *c = load_mlp(seg, "c.onnx");
    static float ya[3 * D], yb[3 * D], yc[3 * D];
    run_mlp(a, 3, ya);
    size_t both = lm_stats_of(a).prepared_bytes; /* MatMul's B and Gemm's B */
    assert_int_equal(lm_stats_of(a).shared_prepared_bytes, both);

    run_mlp(b, 3, yb);
    assert_memory_equal(yb, ya, sizeof(ya)); /* the same host kernels */
    assert_int_equal(lm_stats_of(b).prepared_bytes, both);
    size_t total = lm_stats_of(b).shared_prepared_bytes;
    assert_true(total > both && total < 2 * both); /* MatMul's again, for hk:0 */

    run_mlp(c, 3, yc);
    {
        float mx = 0;
        for (int i = 0; i < 3 * D; i++)
            if (fabsf(yc[i] - ya[i]) > mx)
                mx = fabsf(yc[i] - ya[i]);
        print_message("maxdiff %g y0 %g %g\n", mx, ya[0], yc[0]);
    }
    assert_rows_match(yc, ya, 3 * D);
    size_t gemm_only = lm_stats_of(c).prepared_bytes;
    assert_true(gemm_only > 0 && gemm_only < both);
    assert_int_equal(lm_stats_of(c).shared_prepared_bytes, total); /* nothing new */
    assert_int_equal(both - gemm_only, total - both); /* hk:0 packed MatMul like the CPU */
    /* Planned ahead, the plan without seg:0 runs MatMul on the CPU: with
     * the CPU's packed copy, nothing new. */
    lm_test_setenv("LOOM_PLAN_AHEAD", NULL);
    loom_model *d = load_mlp(seg, "d.onnx");
    run_mlp(d, 3, yc);
    run_mlp(d, 3, yc); /* run again: its spare is made */
    for (int i = 0; i < 2000 && lm_stats_of(d).plans_spare == 0; i++)
        usleep(10000);
    assert_int_equal(lm_stats_of(d).plans_spare, 1);
    assert_int_equal(lm_stats_of(d).prepared_bytes, both);
    assert_int_equal(lm_stats_of(d).shared_prepared_bytes, total);
    loom_model_destroy(d);

    loom_model_destroy(a);
    loom_model_destroy(b);
    loom_model_destroy(c);
    loom_context_destroy(cpu);
    loom_context_destroy(hk);
    loom_context_destroy(seg);
    lm_registry_release();
}

/* A segment device's copy of a constant is uploaded once (core/prepared.c:
 * lm_devconst_get): every shape of a model and a second model with the same
 * weights use it; a device that left service gets a fresh copy for new
 * plans; the last plan takes it away. */
static void device_copies_shared_across_plans(void **state)
{
    (void)state;
    lm_test_setenv("LOOM_PLAN_AHEAD", "0");
    assert_int_equal(lm_registry_acquire(NULL), LOOM_OK);
    add_mm_device("seg:1", &seg_ops, 0);
    lm_device *dev = lm_registry_find("seg:1");
    loom_context *cpu = context_on("cpu"), *seg = context_on("seg:1,cpu");
    loom_model *ref = load_mlp(cpu, "ref.onnx"), *a = load_mlp(seg, "a.onnx");
    static float want[7 * D], got[7 * D];
    const size_t w_bytes = sizeof(float) * D * D;
    uploads = 0;
    for (int64_t rows = 3; rows <= 5; rows += 2) {
        run_mlp(ref, rows, want);
        run_mlp(a, rows, got);
        assert_rows_match(got, want, rows * D);
    }
    assert_int_equal(lm_stats_of(a).plans, 2);
    assert_int_equal(uploads, 1); /* two shapes, one copy */
    assert_int_equal(lm_stats_of(a).device_weight_bytes, w_bytes);
    assert_int_equal(lm_stats_of(a).shared_device_weight_bytes, w_bytes);

    loom_model *b = load_mlp(seg, "b.onnx"); /* a second version, same weights */
    run_mlp(b, 3, got);
    assert_int_equal(uploads, 1);
    assert_int_equal(lm_stats_of(b).device_weight_bytes, w_bytes);
    assert_int_equal(lm_stats_of(b).shared_device_weight_bytes, w_bytes);

    /* It left service (and may have been reset): new plans upload again,
     * the plans made before keep theirs until they go. */
    atomic_fetch_add(&dev->health.quarantines, 1);
    run_mlp(ref, 7, want);
    run_mlp(a, 7, got);
    assert_rows_match(got, want, 7 * D);
    assert_int_equal(uploads, 2);
    assert_int_equal(lm_stats_of(a).shared_device_weight_bytes, 2 * w_bytes);

    loom_model_destroy(a);
    assert_int_equal(lm_stats_of(b).shared_device_weight_bytes, w_bytes);
    loom_model_destroy(b);
    assert_int_equal(lm_stats_of(ref).shared_device_weight_bytes, 0);
    assert_int_equal(lm_stats_of(ref).device_weight_bytes, 0);
    loom_model_destroy(ref);
    loom_context_destroy(cpu);
    loom_context_destroy(seg);
    lm_registry_release();
    lm_test_setenv("LOOM_PLAN_AHEAD", NULL);
}

/* Plans that stay cached but go unused give their arenas back: at once
 * through loom_model_release_idle(), and by themselves on the next lookup a
 * second later once LOOM_ARENA_IDLE_MS has passed. Their shapes run again. */
static void idle_plans_give_arenas_back(void **state)
{
    (void)state;
    loom_context *ctx = context_on("cpu");
    loom_model *m = load_mlp(ctx, "idle.onnx");
    static float y3[3 * D], y5[5 * D], again[5 * D];
    run_mlp(m, 3, y3);
    run_mlp(m, 5, y5);
    loom_model_stats st = lm_stats_of(m);
    size_t held = st.arena_bytes_held;
    assert_int_equal(st.plans, 2);
    assert_true(held > 0);
    assert_int_equal(loom_model_release_idle(m, 60000), 0); /* used just now */
    assert_int_equal(loom_model_release_idle(m, 0), held);
    st = lm_stats_of(m);
    assert_int_equal(st.arena_bytes_held, 0);
    assert_int_equal(st.arena_bytes_released, held);
    assert_int_equal(st.plans, 2); /* still cached */
    run_mlp(m, 5, again);
    assert_memory_equal(again, y5, sizeof(y5));
    assert_int_equal(lm_stats_of(m).plans_built, 2);

    /* Runs sweep by themselves: batch 5's arena goes when batch 3 runs. */
    lm_test_setenv("LOOM_ARENA_IDLE_MS", "1");
    usleep(1100 * 1000); /* the sweep looks once a second */
    run_mlp(m, 3, again);
    assert_memory_equal(again, y3, sizeof(y3));
    st = lm_stats_of(m);
    assert_true(st.arena_bytes_released > held);
    assert_true(st.arena_bytes_held < held); /* batch 3's alone */
    lm_test_setenv("LOOM_ARENA_IDLE_MS", NULL);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(packed_weights_shared_across_shapes),
    cmocka_unit_test(identical_models_share_packed_weights),
    cmocka_unit_test(identical_models_share_constants),
    cmocka_unit_test(plan_cache_bounded_by_bytes),
    cmocka_unit_test(shape_dependent_layout_is_keyed),
    cmocka_unit_test(packed_weights_keyed_by_device),
    cmocka_unit_test(device_copies_shared_across_plans),
    cmocka_unit_test(idle_plans_give_arenas_back),
};

LM_TEST_MAIN(tests)
