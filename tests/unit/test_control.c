/* test_control.c - If, Loop and Scan: bodies that read enclosing graphs,
 * carried state, scan outputs, early exits, nesting, and their errors. */
#include <string.h>

#include "lib/test_main.h"

#define F32   1
#define BOOL  9
#define INT64 7

LM_TEST_DEFAULT_CONTEXT

static loom_tensor *wrap(loom_dtype dt, int rank, const int64_t *dims, void *data, size_t bytes)
{
    loom_tensor *t;
    assert_int_equal(loom_tensor_wrap(dt, rank, dims, data, bytes, &t), LOOM_OK);
    return t;
}

/* Runs @m on @in, expecting @n_out outputs; fails the test showing the error. */
static void run_ok(loom_model *m, loom_tensor **in, int n_in, loom_tensor **out, int n_out)
{
    loom_status s = loom_model_run(m, in, (size_t)n_in, out, (size_t)n_out);
    if (s)
        print_error("%s\n", loom_last_error());
    assert_int_equal(s, LOOM_OK);
}

static void assert_floats(loom_tensor *t, const float *want, int n)
{
    assert_int_equal(loom_tensor_dtype(t), LOOM_DTYPE_FLOAT);
    assert_int_equal(loom_tensor_size(t), sizeof(float) * (size_t)n);
    const float *y = loom_tensor_data(t);
    for (int i = 0; i < n; i++)
        assert_float_equal(y[i], want[i], 1e-6);
}

static void free_all(loom_tensor **t, int n)
{
    for (int i = 0; i < n; i++)
        loom_tensor_destroy(t[i]);
}

/* A Loop body's own inputs: the counter i, the condition @cond and one
 * carried float value @carried of any shape. */
static void loop_inputs(ob_model *b, const char *cond, const char *carried)
{
    ob_input(b, "i", INT64, 0, NULL);
    ob_input(b, cond, BOOL, 0, NULL);
    ob_input(b, carried, F32, -1, NULL);
}

static ob_model *loop_body(ob_model *m, const char *cond, const char *carried)
{
    ob_model *b = ob_body(m);
    loop_inputs(b, cond, carried);
    return b;
}

/*
 * y = 2 * If(sum(x) > 0, then: x + one, else: Concat(x, x)); both branches
 * read x and the initializer one from the model's graph, and their shapes
 * differ, so what follows the If is shaped at run time.
 */
static void if_takes_the_branch_its_data_picks(void **state)
{
    (void)state;
    int64_t d3[1] = {3}, d1[1] = {1};
    float one = 1, two = 2, zero = 0;
    ob_model *m = ob_new(13);
    ob_input(m, "x", F32, 1, d3);
    ob_output(m, "y", F32);
    ob_init_f32(m, "one", 1, d1, &one);
    ob_init_f32(m, "two", 0, NULL, &two);
    ob_init_f32(m, "zero", 0, NULL, &zero);
    ob_attr_int(m, ob_add_node(m, "ReduceSum", "x", "s"), "keepdims", 0);
    ob_add_node(m, "Greater", "s,zero", "c");
    ob_model *then_b = ob_body(m), *else_b = ob_body(m);
    ob_output(then_b, "t", F32);
    ob_add_node(then_b, "Add", "x,one", "t");
    ob_output(else_b, "e", F32);
    ob_attr_int(else_b, ob_add_node(else_b, "Concat", "x,x", "e"), "axis", 0);
    ob_node *n = ob_add_node(m, "If", "c", "b");
    ob_attr_graph(m, n, "then_branch", then_b);
    ob_attr_graph(m, n, "else_branch", else_b);
    ob_add_node(m, "Mul", "b,two", "y");
    loom_model *model = lm_load_ok(ctx, m, "if");

    float pos[3] = {1, 2, 3}, neg[3] = {-1, -2, -3};
    loom_tensor *in = wrap(LOOM_DTYPE_FLOAT, 1, d3, pos, sizeof(pos)), *out;
    run_ok(model, &in, 1, &out, 1);
    assert_floats(out, (float[]){4, 6, 8}, 3);
    loom_tensor_destroy(out);
    loom_tensor_destroy(in);
    in = wrap(LOOM_DTYPE_FLOAT, 1, d3, neg, sizeof(neg));
    run_ok(model, &in, 1, &out, 1);
    assert_floats(out, (float[]){-2, -4, -6, -2, -4, -6}, 6);
    loom_tensor_destroy(out);
    loom_tensor_destroy(in);
    loom_model_destroy(model);
}

/* A branch that cannot take the model's shapes loads (the data may never
 * pick it, as a model guarding a case by a run-time test means); only a run
 * that takes it fails, naming the node in the branch. */
static void a_branch_only_a_run_takes_fails_then(void **state)
{
    (void)state;
    int64_t d3[1] = {3}, two[1] = {2};
    float zero = 0;
    ob_model *m = ob_new(13);
    ob_input(m, "x", F32, 1, d3);
    ob_output(m, "y", F32);
    ob_init_f32(m, "zero", 0, NULL, &zero);
    ob_init_raw(m, "two", INT64, 1, (int64_t[]){1}, two, sizeof(two));
    ob_attr_int(m, ob_add_node(m, "ReduceSum", "x", "s"), "keepdims", 0);
    ob_add_node(m, "Greater", "s,zero", "c");
    ob_model *t = ob_body(m), *e = ob_body(m);
    ob_output(t, "t", F32);
    ob_add_node(t, "Neg", "x", "t");
    ob_output(e, "r", F32);
    ob_node_name(e, ob_add_node(e, "Reshape", "x,two", "r"), "bad_reshape");
    ob_node *n = ob_add_node(m, "If", "c", "y");
    ob_attr_graph(m, n, "then_branch", t);
    ob_attr_graph(m, n, "else_branch", e);
    loom_model *model = lm_load_ok(ctx, m, "guarded");
    float pos[3] = {1, 2, 3}, neg[3] = {-1, -2, -3};
    loom_tensor *in = wrap(LOOM_DTYPE_FLOAT, 1, d3, pos, sizeof(pos)), *out = NULL;
    run_ok(model, &in, 1, &out, 1);
    assert_floats(out, (float[]){-1, -2, -3}, 3);
    loom_tensor_destroy(out);
    loom_tensor_destroy(in);
    in = wrap(LOOM_DTYPE_FLOAT, 1, d3, neg, sizeof(neg));
    assert_int_not_equal(loom_model_run(model, &in, 1, &out, 1), LOOM_OK);
    assert_non_null(strstr(loom_last_error(), "bad_reshape"));
    loom_tensor_destroy(in);
    loom_model_destroy(model);
}

/* An If nothing reads is dropped at load with its bodies (the sanitizer
 * builds would see them leak). */
static void an_unread_if_goes_with_its_bodies(void **state)
{
    (void)state;
    int64_t d1[1] = {1};
    ob_model *m = ob_new(13);
    ob_input(m, "x", F32, 1, d1);
    ob_input(m, "c", BOOL, 0, d1);
    ob_output(m, "y", F32);
    ob_add_node(m, "Neg", "x", "y");
    ob_model *t = ob_body(m), *e = ob_body(m);
    ob_output(t, "x", F32);
    ob_output(e, "nx", F32);
    ob_add_node(e, "Neg", "x", "nx");
    ob_node *n = ob_add_node(m, "If", "c", "unread");
    ob_attr_graph(m, n, "then_branch", t);
    ob_attr_graph(m, n, "else_branch", e);
    loom_model_destroy(lm_load_ok(ctx, m, "unread"));
}

/* A branch may return a value of the enclosing graph as it is, and a loop
 * body may pass a carried value through untouched. */
static void bodies_pass_values_through(void **state)
{
    (void)state;
    int64_t d2[1] = {2}, two = 2;
    uint8_t yes = 1;
    ob_model *m = ob_new(13);
    ob_input(m, "x", F32, 1, d2);
    ob_input(m, "c", BOOL, 0, d2);
    ob_output(m, "y", F32);
    ob_output(m, "z", F32);
    ob_init_raw(m, "M", INT64, 0, NULL, &two, sizeof(two));
    ob_init_raw(m, "yes", BOOL, 0, NULL, &yes, 1);
    ob_model *t = ob_body(m), *e = ob_body(m), *b = ob_body(m);
    ob_output(t, "x", F32);
    ob_output(e, "nx", F32);
    ob_add_node(e, "Neg", "x", "nx");
    ob_node *n = ob_add_node(m, "If", "c", "y");
    ob_attr_graph(m, n, "then_branch", t);
    ob_attr_graph(m, n, "else_branch", e);
    loop_inputs(b, "cond", "v");
    ob_output(b, "cond", BOOL);
    ob_output(b, "v", F32);
    ob_attr_graph(m, ob_add_node(m, "Loop", "M,yes,x", "z"), "body", b);
    loom_model *model = lm_load_ok(ctx, m, "through");
    float x[2] = {1.5f, -2};
    for (uint8_t c = 0; c < 2; c++) {
        loom_tensor *in[2] = {wrap(LOOM_DTYPE_FLOAT, 1, d2, x, sizeof(x)),
                              wrap(LOOM_DTYPE_BOOL, 0, NULL, &c, 1)};
        loom_tensor *out[2];
        run_ok(model, in, 2, out, 2);
        assert_floats(out[0], c ? (float[]){1.5f, -2} : (float[]){-1.5f, 2}, 2);
        assert_floats(out[1], x, 2);
        free_all(out, 2);
        free_all(in, 2);
    }
    loom_model_destroy(model);
}

/*
 * acc_k = acc_{k-1} + x * k for k < M, stacking each acc: a for loop (the
 * condition stays true) with a trip count fed at run time.
 */
static loom_model *accumulate_model(void)
{
    int64_t d2[1] = {2};
    float zeros[2] = {0, 0};
    uint8_t yes = 1;
    ob_model *m = ob_new(13);
    ob_input(m, "x", F32, 1, d2);
    ob_input(m, "M", INT64, 0, d2); /* a scalar: dims unused */
    ob_output(m, "acc", F32);
    ob_output(m, "accs", F32);
    ob_init_f32(m, "acc0", 1, d2, zeros);
    ob_init_raw(m, "yes", BOOL, 0, NULL, &yes, 1);
    ob_model *b = loop_body(m, "c", "a");
    ob_output(b, "c_out", BOOL);
    ob_output(b, "a_out", F32);
    ob_output(b, "a_scan", F32);
    ob_attr_int(b, ob_add_node(b, "Cast", "i", "fi"), "to", F32);
    ob_add_node(b, "Mul", "x,fi", "t");
    ob_add_node(b, "Add", "a,t", "a_out");
    ob_add_node(b, "Identity", "c", "c_out");
    ob_add_node(b, "Identity", "a_out", "a_scan");
    ob_attr_graph(m, ob_add_node(m, "Loop", "M,yes,acc0", "acc,accs"), "body", b);
    return lm_load_ok(ctx, m, "accumulate");
}

static void loop_carries_state_and_stacks_scan_outputs(void **state)
{
    (void)state;
    loom_model *model = accumulate_model();
    float x[2] = {1, 10};
    int64_t d2[1] = {2}, trips = 4;
    loom_tensor *in[2] = {wrap(LOOM_DTYPE_FLOAT, 1, d2, x, sizeof(x)),
                          wrap(LOOM_DTYPE_INT64, 0, NULL, &trips, sizeof(trips))};
    loom_tensor *out[2];
    run_ok(model, in, 2, out, 2);
    assert_floats(out[0], (float[]){6, 60}, 2);
    assert_int_equal(loom_tensor_rank(out[1]), 2);
    assert_floats(out[1], (float[]){0, 0, 1, 10, 3, 30, 6, 60}, 8);
    free_all(out, 2);

    trips = 0; /* no iteration: the initial state, and empty stacks */
    run_ok(model, in, 2, out, 2);
    assert_floats(out[0], (float[]){0, 0}, 2);
    assert_int_equal(loom_tensor_size(out[1]), 0);
    assert_int_equal(loom_tensor_dims(out[1])[0], 0);
    free_all(out, 2);
    free_all(in, 2);
    loom_model_destroy(model);
}

/* acc doubles until its sum reaches the enclosing graph's limit: a while
 * loop with no trip count. */
static void loop_stops_when_its_body_says_so(void **state)
{
    (void)state;
    int64_t d1[1] = {1};
    float limit = 100;
    uint8_t yes = 1;
    ob_model *m = ob_new(13);
    ob_input(m, "a0", F32, 1, d1);
    ob_output(m, "a", F32);
    ob_output(m, "as", F32);
    ob_init_f32(m, "limit", 0, NULL, &limit);
    ob_init_raw(m, "yes", BOOL, 0, NULL, &yes, 1);
    ob_model *b = loop_body(m, "c", "a");
    ob_output(b, "c_out", BOOL);
    ob_output(b, "a_out", F32);
    ob_output(b, "a_scan", F32);
    ob_add_node(b, "Add", "a,a", "a_out");
    ob_attr_int(b, ob_add_node(b, "ReduceSum", "a_out", "s"), "keepdims", 0);
    ob_add_node(b, "Less", "s,limit", "c_out");
    ob_add_node(b, "Identity", "a_out", "a_scan");
    ob_attr_graph(m, ob_add_node(m, "Loop", ",yes,a0", "a,as"), "body", b);
    loom_model *model = lm_load_ok(ctx, m, "while");
    float a0 = 1;
    loom_tensor *in = wrap(LOOM_DTYPE_FLOAT, 1, d1, &a0, sizeof(a0)), *out[2];
    run_ok(model, &in, 1, out, 2);
    assert_floats(out[0], (float[]){128}, 1);
    assert_floats(out[1], (float[]){2, 4, 8, 16, 32, 64, 128}, 7);
    free_all(out, 2);
    lm_test_setenv("LOOM_LOOP_MAX_TRIPS", "3"); /* a guard against loops that never end */
    assert_int_equal(loom_model_run(model, &in, 1, out, 2), LOOM_ERR_RUNTIME);
    assert_non_null(strstr(loom_last_error(), "still looping after 3 iterations"));
    lm_test_setenv("LOOM_LOOP_MAX_TRIPS", NULL);
    loom_tensor_destroy(in);
    loom_model_destroy(model);
}

/*
 * A Loop whose body holds an If whose branches read x, two graphs out, and
 * the loop's counter, one out: acc = 2 * (acc + x) on even steps and
 * 2 * (acc - x) on odd ones; three steps from 0 give 6x.
 */
static void nested_bodies_read_values_two_graphs_out(void **state)
{
    (void)state;
    int64_t d2[1] = {2};
    float zeros[2] = {0, 0}, two = 2;
    int64_t three = 3, two_i = 2, zero_i = 0;
    uint8_t yes = 1;
    ob_model *m = ob_new(13);
    ob_input(m, "x", F32, 1, d2);
    ob_output(m, "acc", F32);
    ob_init_f32(m, "acc0", 1, d2, zeros);
    ob_init_f32(m, "two", 0, NULL, &two);
    ob_init_raw(m, "M", INT64, 0, NULL, &three, sizeof(three));
    ob_init_raw(m, "two_i", INT64, 0, NULL, &two_i, sizeof(two_i));
    ob_init_raw(m, "zero_i", INT64, 0, NULL, &zero_i, sizeof(zero_i));
    ob_init_raw(m, "yes", BOOL, 0, NULL, &yes, 1);
    ob_model *b = loop_body(m, "c", "a");
    ob_output(b, "c", BOOL);
    ob_output(b, "a_out", F32);
    ob_add_node(b, "Mod", "i,two_i", "r");
    ob_add_node(b, "Equal", "r,zero_i", "even");
    ob_model *plus = ob_body(m), *minus = ob_body(m);
    ob_output(plus, "p", F32);
    ob_add_node(plus, "Add", "a,x", "p");
    ob_output(minus, "q", F32);
    ob_add_node(minus, "Sub", "a,x", "q");
    ob_node *n = ob_add_node(b, "If", "even", "step");
    ob_attr_graph(b, n, "then_branch", plus);
    ob_attr_graph(b, n, "else_branch", minus);
    ob_add_node(b, "Mul", "step,two", "a_out");
    ob_attr_graph(m, ob_add_node(m, "Loop", "M,yes,acc0", "acc"), "body", b);
    loom_model *model = lm_load_ok(ctx, m, "nested");
    float x[2] = {1, -3};
    loom_tensor *in = wrap(LOOM_DTYPE_FLOAT, 1, d2, x, sizeof(x)), *out;
    run_ok(model, &in, 1, &out, 1);
    assert_floats(out, (float[]){6, -18}, 2);
    loom_tensor_destroy(out);
    /* Idle bodies give their arenas back with the model's. */
    size_t own = lm_stats_of(model).arena_bytes_held;
    assert_true(loom_model_release_idle(model, 0) > own);
    run_ok(model, &in, 1, &out, 1);
    assert_floats(out, (float[]){6, -18}, 2);
    loom_tensor_destroy(out);
    loom_tensor_destroy(in);
    loom_model_destroy(model);
}

/* h = h W for three steps, W a weight of the model's graph that the body
 * takes as its own constant; then h goes on to a MatMul after the loop,
 * which the planning pass shapes (the state keeps its shape). */
static void loop_body_weights_come_from_the_enclosing_graph(void **state)
{
    (void)state;
    int64_t d12[2] = {1, 2}, d22[2] = {2, 2}, three = 3;
    float w[4] = {0, 1, 2, 0}; /* [h0, h1] W = [2 h1, h0] */
    uint8_t yes = 1;
    ob_model *m = ob_new(13);
    ob_input(m, "h0", F32, 2, d12);
    ob_output(m, "y", F32);
    ob_init_f32(m, "W", 2, d22, w);
    ob_init_raw(m, "M", INT64, 0, NULL, &three, sizeof(three));
    ob_init_raw(m, "yes", BOOL, 0, NULL, &yes, 1);
    ob_model *b = loop_body(m, "c", "h");
    ob_output(b, "c", BOOL);
    ob_output(b, "h_out", F32);
    ob_add_node(b, "MatMul", "h,W", "hw");
    ob_add_node(b, "Reshape", "hw,shape", "h_out"); /* a shape from a Constant node outside */
    ob_node *k = ob_add_node(m, "Constant", "", "shape");
    ob_attr_tensor_i64(m, k, "value", 1, (int64_t[]){2}, (int64_t[]){1, 2});
    ob_attr_graph(m, ob_add_node(m, "Loop", "M,yes,h0", "h"), "body", b);
    ob_add_node(m, "MatMul", "h,W", "y");
    loom_model *model = lm_load_ok(ctx, m, "weights");
    float h0[2] = {1, 3}; /* [1,3] -> [6,1] -> [2,6] -> [12,2] -> y = [4,12] */
    loom_tensor *in = wrap(LOOM_DTYPE_FLOAT, 2, d12, h0, sizeof(h0)), *out;
    run_ok(model, &in, 1, &out, 1);
    assert_floats(out, (float[]){4, 12}, 2);
    loom_tensor_destroy(out);
    loom_tensor_destroy(in);
    loom_model_destroy(model);
}

/*
 * Scan over a [3,2] forward along axis 0 and b [2,3] backward along axis 1:
 * s += a_t + b_t, stacking s along output axis 1, so y is [2,3].
 */
static void scan_walks_its_inputs_along_their_axes(void **state)
{
    (void)state;
    int64_t d2[1] = {2}, d32[2] = {3, 2}, d23[2] = {2, 3};
    ob_model *m = ob_new(11);
    ob_input(m, "s0", F32, 1, d2);
    ob_input(m, "a", F32, 2, d32);
    ob_input(m, "b", F32, 2, d23);
    ob_output(m, "s", F32);
    ob_output(m, "y", F32);
    ob_model *body = ob_body(m);
    ob_input(body, "s_in", F32, 1, d2);
    ob_input(body, "a_t", F32, 1, d2);
    ob_input(body, "b_t", F32, 1, d2);
    ob_output(body, "s_out", F32);
    ob_output(body, "y_t", F32);
    ob_add_node(body, "Add", "s_in,a_t", "u");
    ob_add_node(body, "Add", "u,b_t", "s_out");
    ob_add_node(body, "Identity", "s_out", "y_t");
    ob_node *n = ob_add_node(m, "Scan", "s0,a,b", "s,y");
    ob_attr_graph(m, n, "body", body);
    ob_attr_int(m, n, "num_scan_inputs", 2);
    ob_attr_ints(m, n, "scan_input_axes", 2, (int64_t[]){0, 1});
    ob_attr_ints(m, n, "scan_input_directions", 2, (int64_t[]){0, 1});
    ob_attr_ints(m, n, "scan_output_axes", 1, (int64_t[]){1});
    loom_model *model = lm_load_ok(ctx, m, "scan");
    float s0[2] = {0, 100}, a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {10, 20, 30, 40, 50, 60};
    loom_tensor *in[3] = {wrap(LOOM_DTYPE_FLOAT, 1, d2, s0, sizeof(s0)),
                          wrap(LOOM_DTYPE_FLOAT, 2, d32, a, sizeof(a)),
                          wrap(LOOM_DTYPE_FLOAT, 2, d23, b, sizeof(b))};
    loom_tensor *out[2];
    run_ok(model, in, 3, out, 2);
    /* b backward along axis 1: steps see [30,60], [20,50], [10,40] */
    float want_y[3][2] = {{1 + 30, 100 + 2 + 60}, {0}, {0}};
    want_y[1][0] = want_y[0][0] + 3 + 20, want_y[1][1] = want_y[0][1] + 4 + 50;
    want_y[2][0] = want_y[1][0] + 5 + 10, want_y[2][1] = want_y[1][1] + 6 + 40;
    assert_floats(out[0], want_y[2], 2);
    assert_int_equal(loom_tensor_dims(out[1])[0], 2);
    assert_int_equal(loom_tensor_dims(out[1])[1], 3);
    float want_t[6];
    for (int t = 0; t < 3; t++)
        for (int j = 0; j < 2; j++)
            want_t[j * 3 + t] = want_y[t][j];
    assert_floats(out[1], want_t, 6);
    free_all(out, 2);
    free_all(in, 3);
    loom_model_destroy(model);
}

/*
 * Scan-8 (opset 8): batch axis first, sequence axis second. Entry 0 runs
 * its 3 steps, entry 1 its first 2 (sequence_lens), both backward
 * (directions [1]): s += x_t, y stacks s, zero past entry 1's two steps.
 */
static void scan8_runs_each_entry_over_its_own_length(void **state)
{
    (void)state;
    int64_t d21[2] = {2, 1}, d231[3] = {2, 3, 1}, d2[1] = {2}, lens[2] = {3, 2};
    ob_model *m = ob_new(8);
    ob_input(m, "s0", F32, 2, d21);
    ob_input(m, "x", F32, 3, d231);
    ob_output(m, "s", F32);
    ob_output(m, "y", F32);
    ob_init_raw(m, "lens", INT64, 1, d2, lens, sizeof(lens));
    ob_model *body = ob_body(m);
    ob_input(body, "s_in", F32, 1, (int64_t[]){1});
    ob_input(body, "x_t", F32, 1, (int64_t[]){1});
    ob_output(body, "s_out", F32);
    ob_output(body, "y_t", F32);
    ob_add_node(body, "Add", "s_in,x_t", "s_out");
    ob_add_node(body, "Identity", "s_out", "y_t");
    ob_node *n = ob_add_node(m, "Scan", "lens,s0,x", "s,y");
    ob_attr_graph(m, n, "body", body);
    ob_attr_int(m, n, "num_scan_inputs", 1);
    ob_attr_ints(m, n, "directions", 1, (int64_t[]){1});
    loom_model *model = lm_load_ok(ctx, m, "scan8");
    float s0[2] = {0, 100}, x[6] = {1, 2, 3, 10, 20, 30};
    loom_tensor *in[2] = {wrap(LOOM_DTYPE_FLOAT, 2, d21, s0, sizeof(s0)),
                          wrap(LOOM_DTYPE_FLOAT, 3, d231, x, sizeof(x))};
    loom_tensor *out[2];
    run_ok(model, in, 2, out, 2);
    /* entry 0 backward over 3: 3, 5, 6; entry 1 backward over 2: 120, 130, then 0 */
    assert_floats(out[0], (float[]){6, 130}, 2);
    assert_floats(out[1], (float[]){3, 5, 6, 120, 130, 0}, 6);
    free_all(out, 2);
    free_all(in, 2);
    loom_model_destroy(model);
}

static void expect_error(loom_status s, const char *needle)
{
    assert_int_not_equal(s, LOOM_OK);
    if (!strstr(loom_last_error(), needle))
        print_error("error '%s' lacks '%s'\n", loom_last_error(), needle);
    assert_non_null(strstr(loom_last_error(), needle));
}

static void control_flow_errors_name_the_node(void **state)
{
    (void)state;
    int64_t d1[1] = {1};
    /* an If whose condition is a float */
    ob_model *m = ob_new(13);
    ob_input(m, "x", F32, 1, d1);
    ob_output(m, "y", F32);
    ob_model *t = ob_body(m), *e = ob_body(m);
    ob_output(t, "x", F32);
    ob_output(e, "x", F32);
    ob_node *n = ob_add_node(m, "If", "x", "y");
    ob_node_name(m, n, "pick");
    ob_attr_graph(m, n, "then_branch", t);
    ob_attr_graph(m, n, "else_branch", e);
    loom_model *model;
    expect_error((loom_status)ob_load(m, ctx, "badif", &model), "node 'pick' (If)");
    assert_non_null(strstr(loom_last_error(), "not bool"));

    /* a Loop body with one output too few */
    m = ob_new(13);
    ob_input(m, "x", F32, 1, d1);
    ob_output(m, "y", F32);
    ob_model *b = loop_body(m, "c", "a");
    ob_output(b, "c", BOOL);
    n = ob_add_node(m, "Loop", ",,x", "y");
    ob_node_name(m, n, "spin");
    ob_attr_graph(m, n, "body", b);
    expect_error((loom_status)ob_load(m, ctx, "badloop", &model), "node 'spin' (Loop)");
    assert_non_null(strstr(loom_last_error(), "'body' takes 3 inputs and returns 1 outputs"));

    /* a body reading a name no graph defines */
    m = ob_new(13);
    ob_input(m, "x", F32, 1, d1);
    ob_output(m, "y", F32);
    t = ob_body(m);
    e = ob_body(m);
    ob_output(t, "u", F32);
    ob_add_node(t, "Neg", "nowhere", "u");
    ob_output(e, "x", F32);
    ob_add_node(m, "Greater", "x,x", "c");
    n = ob_add_node(m, "If", "c", "y");
    ob_attr_graph(m, n, "then_branch", t);
    ob_attr_graph(m, n, "else_branch", e);
    expect_error((loom_status)ob_load(m, ctx, "undefined", &model), "'nowhere'");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(if_takes_the_branch_its_data_picks),
    cmocka_unit_test(a_branch_only_a_run_takes_fails_then),
    cmocka_unit_test(an_unread_if_goes_with_its_bodies),
    cmocka_unit_test(bodies_pass_values_through),
    cmocka_unit_test(loop_carries_state_and_stacks_scan_outputs),
    cmocka_unit_test(loop_stops_when_its_body_says_so),
    cmocka_unit_test(nested_bodies_read_values_two_graphs_out),
    cmocka_unit_test(loop_body_weights_come_from_the_enclosing_graph),
    cmocka_unit_test(scan_walks_its_inputs_along_their_axes),
    cmocka_unit_test(scan8_runs_each_entry_over_its_own_length),
    cmocka_unit_test(control_flow_errors_name_the_node),
};

LM_TEST_MAIN_WITH(tests, ctx_setup, ctx_teardown)
