/* test_sequence.c - sequence values: a list a Loop grows, splits and picks,
 * and the errors that name what is wrong. */
#include <string.h>

#include "lib/test_main.h"

#define F32   1
#define BOOL  9
#define INT64 7

LM_TEST_DEFAULT_CONTEXT

/* Runs @m on float [@n] @x; returns output 0 (the caller destroys it). */
static loom_tensor *run_floats(loom_model *m, float *x, int64_t n, int n_out, loom_tensor **out)
{
    loom_tensor *in;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 1, &n, x, sizeof(float) * (size_t)n, &in),
                     LOOM_OK);
    loom_status s = loom_model_run(m, &in, 1, out, (size_t)n_out);
    if (s)
        print_error("%s\n", loom_last_error());
    assert_int_equal(s, LOOM_OK);
    loom_tensor_destroy(in);
    return out[0];
}

/*
 * A Python list grown in a loop, as PyTorch exports it: the sequence is the
 * Loop's carried value, each step inserts x * i, and ConcatFromSequence
 * joins the items after the loop.
 */
static void a_loop_grows_a_list(void **state)
{
    (void)state;
    int64_t d2[1] = {2}, trips = 4, zero = 0;
    uint8_t yes = 1;
    ob_model *m = ob_new(13);
    ob_input(m, "x", F32, 1, d2);
    ob_output(m, "y", F32);
    ob_init_raw(m, "M", INT64, 0, NULL, &trips, sizeof(trips));
    ob_init_raw(m, "yes", BOOL, 0, NULL, &yes, 1);
    ob_init_raw(m, "axis0", INT64, 1, (int64_t[]){1}, &zero, sizeof(zero));
    ob_attr_int(m, ob_add_node(m, "SequenceEmpty", "", "empty"), "dtype", F32);
    ob_model *b = ob_body(m);
    ob_input(b, "i", INT64, 0, NULL);
    ob_input(b, "c", BOOL, 0, NULL);
    ob_input_sequence(b, "list", F32);
    ob_output(b, "c", BOOL);
    ob_output(b, "list_out", F32);
    ob_attr_int(b, ob_add_node(b, "Cast", "i", "fi"), "to", F32);
    ob_add_node(b, "Mul", "x,fi", "item");
    ob_add_node(b, "SequenceInsert", "list,item", "list_out");
    ob_attr_graph(m, ob_add_node(m, "Loop", "M,yes,empty", "list"), "body", b);
    ob_attr_int(m, ob_add_node(m, "ConcatFromSequence", "list", "y"), "axis", 0);
    loom_model *model = lm_load_ok(ctx, m, "list");
    float x[2] = {1, -2};
    loom_tensor *y;
    for (int round = 0; round < 2; round++) { /* the second run reuses the plans */
        run_floats(model, x, 2, 1, &y);
        assert_int_equal(loom_tensor_count(y), 8);
        const float *v = loom_tensor_data(y);
        for (int i = 0; i < 4; i++) {
            assert_float_equal(v[2 * i], (float)i, 0);
            assert_float_equal(v[2 * i + 1], -2.0f * (float)i, 0);
        }
        loom_tensor_destroy(y);
    }
    loom_model_destroy(model);
}

/* SplitToSequence by a chunk size leaves a shorter last piece; SequenceAt
 * counts from the end with a negative position. */
static void split_pieces_and_positions(void **state)
{
    (void)state;
    int64_t d5[1] = {5}, two = 2, last = -1;
    ob_model *m = ob_new(13);
    ob_input(m, "x", F32, 1, d5);
    ob_output(m, "tail", F32);
    ob_output(m, "n", INT64);
    ob_init_raw(m, "two", INT64, 0, NULL, &two, sizeof(two));
    ob_init_raw(m, "last", INT64, 0, NULL, &last, sizeof(last));
    ob_add_node(m, "SplitToSequence", "x,two", "pieces");
    ob_add_node(m, "SequenceAt", "pieces,last", "tail");
    ob_add_node(m, "SequenceLength", "pieces", "n");
    loom_model *model = lm_load_ok(ctx, m, "split");
    float x[5] = {1, 2, 3, 4, 5};
    loom_tensor *out[2];
    run_floats(model, x, 5, 2, out);
    assert_int_equal(loom_tensor_count(out[0]), 1);
    assert_float_equal(((float *)loom_tensor_data(out[0]))[0], 5.0f, 0);
    assert_int_equal(*(int64_t *)loom_tensor_data(out[1]), 3);
    loom_tensor_destroy(out[0]);
    loom_tensor_destroy(out[1]);
    loom_model_destroy(model);
}

static void sequence_errors_say_what(void **state)
{
    (void)state;
    /* models take and return tensors */
    ob_model *m = ob_new(13);
    ob_input_sequence(m, "s", F32);
    ob_output(m, "n", INT64);
    ob_add_node(m, "SequenceLength", "s", "n");
    loom_model *model;
    assert_int_equal(ob_load(m, ctx, "seqin", &model), LOOM_ERR_UNSUPPORTED);
    assert_non_null(strstr(loom_last_error(), "graph input 's' is a sequence"));

    /* a position past the end, named with the node */
    int64_t d3[1] = {3}, five = 5;
    m = ob_new(13);
    ob_input(m, "x", F32, 1, d3);
    ob_output(m, "y", F32);
    ob_init_raw(m, "five", INT64, 0, NULL, &five, sizeof(five));
    ob_add_node(m, "SplitToSequence", "x", "pieces");
    ob_node_name(m, ob_add_node(m, "SequenceAt", "pieces,five", "y"), "pick");
    model = lm_load_ok(ctx, m, "past");
    float x[3] = {1, 2, 3};
    int64_t n = 3;
    loom_tensor *in, *out = NULL;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 1, &n, x, sizeof(x), &in), LOOM_OK);
    assert_int_equal(loom_model_run(model, &in, 1, &out, 1), LOOM_ERR_INVALID_MODEL);
    assert_non_null(strstr(loom_last_error(), "node 'pick' (SequenceAt)"));
    assert_non_null(strstr(loom_last_error(), "position 5 is outside a sequence of 3"));
    loom_tensor_destroy(in);
    loom_model_destroy(model);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(a_loop_grows_a_list),
    cmocka_unit_test(split_pieces_and_positions),
    cmocka_unit_test(sequence_errors_say_what),
};

LM_TEST_MAIN_WITH(tests, ctx_setup, ctx_teardown)
