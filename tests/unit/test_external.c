/* test_external.c - initializers with external data: read, bounded, confined. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/test_main.h"

static char dir[64];

static int make_dir(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/loom-ext-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    /* weights.bin: 16 junk bytes, then 4 floats */
    char path[128];
    snprintf(path, sizeof(path), "%s/weights.bin", dir);
    FILE *f = fopen(path, "wb");
    float w[4] = {1.5f, -2.0f, 0.25f, 4.0f};
    char junk[16] = {0};
    fwrite(junk, 1, sizeof(junk), f);
    fwrite(w, 1, sizeof(w), f);
    fclose(f);
    return 0;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

/* y = x + W, W external; writes DIR/model.onnx and loads it from the file. */
static loom_status load_with(const char *location, const char *offset, const char *length,
                             loom_context *ctx, loom_model **out)
{
    int64_t dims[1] = {4};
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 1, dims);
    ob_output(m, "y", 1);
    ob_init_external(m, "W", 1, 1, dims, location, offset, length);
    ob_add_node(m, "Add", "x,W", "y");
    size_t len;
    uint8_t *buf = ob_pack(m, &len);
    ob_free(m);
    char path[128];
    snprintf(path, sizeof(path), "%s/model.onnx", dir);
    FILE *f = fopen(path, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
    free(buf);
    return loom_model_load_file(ctx, path, out);
}

static void external_data_is_read_at_its_offset(void **state)
{
    (void)state;
    loom_context *ctx;
    loom_model *m;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    assert_int_equal(load_with("weights.bin", "16", "16", ctx, &m), LOOM_OK);
    float x[4] = {1, 1, 1, 1};
    int64_t dims[1] = {4};
    loom_tensor *in, *out;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 1, dims, x, sizeof(x), &in), LOOM_OK);
    assert_int_equal(loom_model_run(m, &in, 1, &out, 1), LOOM_OK);
    const float *y = loom_tensor_data(out);
    assert_float_equal(y[0], 2.5f, 0);
    assert_float_equal(y[3], 5.0f, 0);
    loom_tensor_destroy(in);
    loom_tensor_destroy(out);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
}

static void external_data_errors_say_what(void **state)
{
    (void)state;
    loom_context *ctx;
    loom_model *m = NULL;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    /* past the end of the file */
    assert_int_equal(load_with("weights.bin", "24", NULL, ctx, &m), LOOM_ERR_INVALID_MODEL);
    assert_non_null(strstr(loom_last_error(), "shorter"));
    /* a length that does not fit the shape */
    assert_int_equal(load_with("weights.bin", "0", "8", ctx, &m), LOOM_ERR_INVALID_MODEL);
    assert_non_null(strstr(loom_last_error(), "length 8"));
    /* leaving the model's directory */
    assert_int_equal(load_with("../etc/passwd", NULL, NULL, ctx, &m), LOOM_ERR_INVALID_MODEL);
    assert_non_null(strstr(loom_last_error(), "leaves the model directory"));
    assert_int_equal(load_with("/etc/passwd", NULL, NULL, ctx, &m), LOOM_ERR_INVALID_MODEL);
    /* a missing file */
    assert_int_equal(load_with("nothere.bin", NULL, NULL, ctx, &m), LOOM_ERR_IO);
    assert_non_null(strstr(loom_last_error(), "nothere.bin"));
    /* not a number */
    assert_int_equal(load_with("weights.bin", "12abc", NULL, ctx, &m), LOOM_ERR_PARSE);
    assert_null(m);
    loom_context_destroy(ctx);
}

static void memory_models_refuse_external_data(void **state)
{
    (void)state;
    loom_context *ctx;
    loom_model *m = NULL;
    int64_t dims[1] = {4};
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    ob_model *om = ob_new(13);
    ob_input(om, "x", 1, 1, dims);
    ob_output(om, "y", 1);
    ob_init_external(om, "W", 1, 1, dims, "weights.bin", NULL, NULL);
    ob_add_node(om, "Add", "x,W", "y");
    assert_int_equal(ob_load(om, ctx, "mem.onnx", &m), LOOM_ERR_INVALID_MODEL);
    assert_non_null(strstr(loom_last_error(), "from memory"));
    loom_context_destroy(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(external_data_is_read_at_its_offset, make_dir, remove_dir),
    cmocka_unit_test_setup_teardown(external_data_errors_say_what, make_dir, remove_dir),
    cmocka_unit_test(memory_models_refuse_external_data),
};

LM_TEST_MAIN(tests)
