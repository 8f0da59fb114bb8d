/*
 * test_arena_views.c - Reshape/Flatten outputs and Concat inputs as views
 * into one arena item (core/arena.c, plan_views).
 *
 * The planner must place a Concat's inputs end to end inside its output and
 * a Reshape's output on its input, only when that is sound: one image before
 * the axis, distinct inputs, values that are not graph outputs, and an item
 * that lives until the last view is read. Results must equal the copying
 * path (LOOM_NO_VIEWS) in every case, including values read again after the
 * Concat and runs repeated on the same run state.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "lib/onnx_builder.h"
#include "lib/test_main.h"
#include "loom/loom.h"

static loom_context *cpu_context(void)
{
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "cpu";
    o.num_threads = 1;
    loom_context *ctx = NULL;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_OK);
    return ctx;
}

static int value_id(const loom_model *m, const char *name)
{
    for (int v = 0; v < m->g->n_values; v++)
        if (strcmp(m->g->values[v].name, name) == 0)
            return v;
    fail_msg("no value %s", name);
    return -1;
}

/*
 *   a = Relu(x), b = Sigmoid(x), c = Concat(a, b; axis), r = Reshape(c, [-1]),
 *   y1 = Mul(r, r), y2 = Add(a, b)   (a and b read again after the Concat)
 *   z = Concat(a, a; axis)           (a repeated: cannot be placed twice)
 * x is [N, 4, 4, 4] (each input a multiple of 64 bytes, as views need). Runs twice; returns the
 * outputs' data (malloc'd) and the model for inspection of its plan (NULL when @keep is false).
 */
static void run_graph(int64_t N, int64_t axis, bool views, float **out, loom_model **keep,
                      loom_context **ctx_out)
{
    if (views)
        lm_test_setenv("LOOM_NO_VIEWS", NULL);
    else
        lm_test_setenv("LOOM_NO_VIEWS", "1");
    int64_t xd[4] = {N, 4, 4, 4}, shape[1] = {-1}, sd[1] = {1};
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 4, xd);
    ob_init_raw(m, "shape", 7, 1, sd, shape, sizeof shape);
    ob_add_node(m, "Relu", "x", "a");
    ob_add_node(m, "Sigmoid", "x", "b");
    ob_attr_int(m, ob_add_node(m, "Concat", "a,b", "c"), "axis", axis);
    ob_add_node(m, "Reshape", "c,shape", "r");
    ob_add_node(m, "Mul", "r,r", "y1");
    ob_add_node(m, "Add", "a,b", "y2");
    ob_attr_int(m, ob_add_node(m, "Concat", "a,a", "z"), "axis", axis);
    ob_output(m, "y1", 1);
    ob_output(m, "y2", 1);
    ob_output(m, "z", 1);
    loom_context *ctx = cpu_context();
    loom_model *model = lm_load_ok(ctx, m, "views.onnx");
    int64_t n = N * 64;
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(i % 11) - 5.0f + 0.25f * (float)(i % 3);
    loom_tensor *in, *y[3];
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 4, xd, x, sizeof(float) * (size_t)n, &in),
                     LOOM_OK);
    for (int rep = 0; rep < 2; rep++) {
        assert_int_equal(loom_model_run(model, &in, 1, y, 3), LOOM_OK);
        for (int k = 0; k < 3; k++) {
            int64_t cnt = loom_tensor_count(y[k]);
            if (rep == 1) {
                out[k] = malloc(sizeof(float) * (size_t)cnt);
                memcpy(out[k], loom_tensor_data(y[k]), sizeof(float) * (size_t)cnt);
            }
            loom_tensor_destroy(y[k]);
        }
    }
    loom_tensor_destroy(in);
    free(x);
    lm_test_setenv("LOOM_NO_VIEWS", NULL);
    if (keep) {
        *keep = model;
        *ctx_out = ctx;
        return;
    }
    loom_model_destroy(model);
    loom_context_destroy(ctx);
}

/* Views or not, the outputs are the same. */
static void views_match_copies(void **state)
{
    (void)state;
    int64_t cases[][2] = {{1, 1}, {1, -3}, {2, 0}, {2, 1}};
    int64_t counts[3] = {0, 0, 0};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t N = cases[c][0];
        counts[0] = N * 128;
        counts[1] = N * 64;
        counts[2] = N * 128;
        float *a[3], *b[3];
        run_graph(N, cases[c][1], true, a, NULL, NULL);
        run_graph(N, cases[c][1], false, b, NULL, NULL);
        for (int k = 0; k < 3; k++) {
            for (int64_t i = 0; i < counts[k]; i++)
                if (memcmp(&a[k][i], &b[k][i], sizeof(float)) != 0)
                    fail_msg("N %lld axis %lld output %d [%lld]: %g with views, %g without",
                             (long long)N, (long long)cases[c][1], k, (long long)i, a[k][i],
                             b[k][i]);
            free(a[k]);
            free(b[k]);
        }
    }
}

/* One image along the channel axis: a and b sit end to end inside c, r is
 * c's bytes, and c lives until y2 reads a and b. With two images along
 * axis 1 (rows interleaved) nothing is shared; the repeated input of z is
 * never placed inside z. */
static void views_are_planned(void **state)
{
    (void)state;
    float *o[3];
    loom_model *m;
    loom_context *ctx;
    run_graph(1, 1, true, o, &m, &ctx);
    const lm_plan *p = m->plans;
    assert_non_null(p);
    int a = value_id(m, "a"), b = value_id(m, "b"), c = value_id(m, "c"), r = value_id(m, "r");
    assert_true(p->arena_offset[c] >= 0);
    assert_int_equal(p->arena_offset[a], p->arena_offset[c]);
    assert_int_equal(p->arena_offset[b], p->arena_offset[c] + 64 * (int64_t)sizeof(float));
    assert_int_equal(p->arena_offset[r], p->arena_offset[c]);
    for (int k = 0; k < 3; k++)
        free(o[k]);
    loom_model_destroy(m);
    loom_context_destroy(ctx);

    run_graph(2, 1, true, o, &m, &ctx);
    p = m->plans;
    a = value_id(m, "a");
    c = value_id(m, "c");
    b = value_id(m, "b");
    bool a_inside = p->arena_offset[a] >= p->arena_offset[c] &&
                    p->arena_offset[a] < p->arena_offset[c] + 2 * 128 * (int64_t)sizeof(float);
    bool b_inside = p->arena_offset[b] >= p->arena_offset[c] &&
                    p->arena_offset[b] < p->arena_offset[c] + 2 * 128 * (int64_t)sizeof(float);
    assert_false(a_inside);
    assert_false(b_inside);
    for (int k = 0; k < 3; k++)
        free(o[k]);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(views_match_copies),
    cmocka_unit_test(views_are_planned),
};

LM_TEST_MAIN(tests)
