/* test_hostile.c - malformed and hostile models fail with a message, never crash. */
#include <stdlib.h>
#include <string.h>

#include "lib/onnx_builder.h"
#include "lib/test_main.h"
#include "loom/loom.h"

LM_TEST_DEFAULT_CONTEXT

/* Loads @m, expects @want, and that the message contains @needle. */
static void expect_load_error(ob_model *m, loom_status want, const char *needle)
{
    loom_model *model = NULL;
    loom_status s = (loom_status)ob_load(m, ctx, "hostile.onnx", &model);
    if (s != want || !strstr(loom_last_error(), needle))
        print_error("status %s, message: %s\n", loom_status_name(s), loom_last_error());
    assert_int_equal(s, want);
    assert_null(model);
    assert_non_null(strstr(loom_last_error(), needle));
    assert_non_null(strstr(loom_last_error(), "hostile.onnx"));
}

static ob_model *relu_model(void)
{
    int64_t dims[2] = {2, 3};
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 2, dims);
    ob_output(m, "y", 1);
    ob_add_node(m, "Relu", "x", "y");
    return m;
}

static void empty_buffer_is_a_parse_error(void **state)
{
    (void)state;
    loom_model *m = NULL;
    uint8_t byte = 0;
    assert_int_equal(loom_model_load_memory(ctx, &byte, 0, "empty", &m), LOOM_ERR_INVALID_MODEL);
    assert_non_null(strstr(loom_last_error(), "no graph"));
}

static void random_bytes_are_refused(void **state)
{
    (void)state;
    uint8_t buf[4096];
    srand(1);
    for (int round = 0; round < 200; round++) {
        size_t len = (size_t)(rand() % (int)sizeof(buf));
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)rand();
        loom_model *m = NULL;
        loom_status s = loom_model_load_memory(ctx, buf, len, "random", &m);
        assert_true(s != LOOM_OK || m != NULL);
        loom_model_destroy(m);
    }
}

static void every_truncation_fails_cleanly(void **state)
{
    (void)state;
    size_t len;
    ob_model *om = relu_model();
    uint8_t *buf = ob_pack(om, &len);
    ob_free(om);
    for (size_t cut = 0; cut < len; cut++) {
        loom_model *m = NULL;
        loom_status s = loom_model_load_memory(ctx, buf, cut, "truncated", &m);
        if (s == LOOM_OK) /* a prefix can be a valid, smaller model */
            loom_model_destroy(m);
        else
            assert_true(strlen(loom_last_error()) > 0);
    }
    free(buf);
}

static void cycle_is_named(void **state)
{
    (void)state;
    int64_t dims[1] = {4};
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 1, dims);
    ob_output(m, "b", 1);
    ob_add_node(m, "Add", "x,b", "a");
    ob_add_node(m, "Relu", "a", "b");
    expect_load_error(m, LOOM_ERR_INVALID_MODEL, "cycle");
}

static void missing_input_is_named(void **state)
{
    (void)state;
    ob_model *m = relu_model();
    ob_output(m, "z", 1);
    ob_add_node(m, "Add", "y,nothere", "z");
    expect_load_error(m, LOOM_ERR_INVALID_MODEL, "'nothere'");
}

static void wrong_initializer_size_is_named(void **state)
{
    (void)state;
    int64_t dims[1] = {4};
    float three[3] = {1, 2, 3};
    ob_model *m = relu_model();
    ob_init_raw(m, "weights", 1, 1, dims, three, sizeof(three));
    expect_load_error(m, LOOM_ERR_INVALID_MODEL, "weights");
}

static void huge_initializer_allocates_nothing(void **state)
{
    (void)state;
    int64_t dims[2] = {(int64_t)1 << 20, (int64_t)1 << 20}; /* 2^40 elements */
    ob_model *m = relu_model();
    ob_init_raw(m, "huge", 1, 2, dims, NULL, 0);
    expect_load_error(m, LOOM_ERR_NO_MEMORY, "huge");
}

static void absurd_input_dims_are_refused(void **state)
{
    (void)state;
    int64_t dims[3] = {(int64_t)1 << 30, (int64_t)1 << 30, (int64_t)1 << 30};
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 3, dims);
    ob_output(m, "y", 1);
    ob_add_node(m, "Relu", "x", "y");
    expect_load_error(m, LOOM_ERR_NO_MEMORY, "'x'");
}

static void unsupported_op_is_named(void **state)
{
    (void)state;
    ob_model *m = relu_model();
    ob_output(m, "z", 1);
    ob_node *n = ob_add_node(m, "FrobnicateTensor", "y", "z");
    ob_node_name(m, n, "frob1");
    expect_load_error(m, LOOM_ERR_UNSUPPORTED, "node 'frob1': operator 'FrobnicateTensor'");
}

static void future_opset_is_refused(void **state)
{
    (void)state;
    ob_model *m = ob_new(99);
    ob_add_node(m, "Relu", "x", "y");
    expect_load_error(m, LOOM_ERR_UNSUPPORTED, "opset 99");
}

static void value_defined_twice_is_refused(void **state)
{
    (void)state;
    ob_model *m = relu_model();
    ob_add_node(m, "Relu", "x", "y");
    expect_load_error(m, LOOM_ERR_INVALID_MODEL, "already defined");
}

static void rank_beyond_limit_is_refused(void **state)
{
    (void)state;
    int64_t dims[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 9, dims);
    ob_output(m, "y", 1);
    ob_add_node(m, "Relu", "x", "y");
    expect_load_error(m, LOOM_ERR_UNSUPPORTED, "rank 9");
}

static void output_never_produced_is_named(void **state)
{
    (void)state;
    ob_model *m = relu_model();
    ob_output(m, "ghost", 1);
    expect_load_error(m, LOOM_ERR_INVALID_MODEL, "'ghost'");
}

static void missing_file_says_why(void **state)
{
    (void)state;
    loom_model *m = NULL;
    assert_int_equal(loom_model_load_file(ctx, "/nonexistent/model.onnx", &m), LOOM_ERR_IO);
    assert_non_null(strstr(loom_last_error(), "/nonexistent/model.onnx"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(empty_buffer_is_a_parse_error, ctx_setup, ctx_teardown),
    cmocka_unit_test_setup_teardown(random_bytes_are_refused, ctx_setup, ctx_teardown),
    cmocka_unit_test_setup_teardown(every_truncation_fails_cleanly, ctx_setup, ctx_teardown),
    cmocka_unit_test_setup_teardown(cycle_is_named, ctx_setup, ctx_teardown),
    cmocka_unit_test_setup_teardown(missing_input_is_named, ctx_setup, ctx_teardown),
    cmocka_unit_test_setup_teardown(wrong_initializer_size_is_named, ctx_setup, ctx_teardown),
    cmocka_unit_test_setup_teardown(huge_initializer_allocates_nothing, ctx_setup, ctx_teardown),
    cmocka_unit_test_setup_teardown(absurd_input_dims_are_refused, ctx_setup, ctx_teardown),
    cmocka_unit_test_setup_teardown(unsupported_op_is_named, ctx_setup, ctx_teardown),
    cmocka_unit_test_setup_teardown(future_opset_is_refused, ctx_setup, ctx_teardown),
    cmocka_unit_test_setup_teardown(value_defined_twice_is_refused, ctx_setup, ctx_teardown),
    cmocka_unit_test_setup_teardown(rank_beyond_limit_is_refused, ctx_setup, ctx_teardown),
    cmocka_unit_test_setup_teardown(output_never_produced_is_named, ctx_setup, ctx_teardown),
    cmocka_unit_test_setup_teardown(missing_file_says_why, ctx_setup, ctx_teardown),
};

LM_TEST_MAIN(tests)
