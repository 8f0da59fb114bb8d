/* test_api.c - the public API: tensors, contexts, model metadata, runs and errors. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/onnx_builder.h"
#include "lib/test_main.h"
#include "loom/loom.h"

/* y = Relu(x + bias * scale): bias*scale folds at load; x has a symbolic batch. */
static loom_model *load_bias_relu(loom_context *ctx)
{
    int64_t in_dims[2] = {-1, 4}, b_dims[1] = {4}, s_dims[1] = {1};
    float bias[4] = {1, -2, 3, -4}, scale[1] = {0.5f};
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 2, in_dims);
    ob_output(m, "y", 1);
    ob_init_f32(m, "bias", 1, b_dims, bias);
    ob_init_f32(m, "scale", 0, s_dims, scale);
    ob_node *n = ob_add_node(m, "Mul", "bias,scale", "scaled");
    ob_node_name(m, n, "scale_bias");
    n = ob_add_node(m, "Add", "x,scaled", "sum");
    ob_node_name(m, n, "add_bias");
    ob_add_node(m, "Relu", "sum", "y");
    return lm_load_ok(ctx, m, "bias_relu.onnx");
}

static void tensor_create_and_wrap(void **state)
{
    (void)state;
    int64_t dims[2] = {2, 3};
    loom_tensor *t;
    assert_int_equal(loom_tensor_create(LOOM_DTYPE_FLOAT, 2, dims, &t), LOOM_OK);
    assert_int_equal(loom_tensor_count(t), 6);
    assert_int_equal(loom_tensor_size(t), 24);
    assert_int_equal(loom_tensor_rank(t), 2);
    assert_int_equal(loom_tensor_dims(t)[1], 3);
    assert_float_equal(((float *)loom_tensor_data(t))[5], 0.0f, 0);
    loom_tensor_destroy(t);

    float buf[5];
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 2, dims, buf, sizeof(buf), &t),
                     LOOM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(loom_last_error(), "smaller"));
    int64_t bad[1] = {-1};
    assert_int_not_equal(loom_tensor_create(LOOM_DTYPE_FLOAT, 1, bad, &t), LOOM_OK);
    assert_int_not_equal(loom_tensor_create(LOOM_DTYPE_STRING, 1, dims, &t), LOOM_OK);
    assert_int_equal(loom_tensor_create(LOOM_DTYPE_INT64, 0, NULL, &t), LOOM_OK);
    assert_int_equal(loom_tensor_count(t), 1);
    loom_tensor_destroy(t);
}

static void context_options_are_checked(void **state)
{
    (void)state;
    loom_context_options o;
    loom_context *ctx = NULL;
    loom_context_options_init(&o);
    o.num_threads = -1;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_ERR_INVALID_ARGUMENT);
    loom_context_options_init(&o);
    o.device = "opencl:7";
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_ERR_NOT_FOUND);
    assert_non_null(strstr(loom_last_error(), "opencl:7"));
    loom_context_options_init(&o);
    o.struct_size = 4;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_ERR_INVALID_ARGUMENT);
    assert_null(ctx);
    loom_context_options_init(&o);
    o.num_threads = 2;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_OK);
    loom_context_destroy(ctx);
}

static void metadata_reports_symbolic_dims(void **state)
{
    (void)state;
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *m = load_bias_relu(ctx);
    assert_string_equal(loom_model_name(m), "bias_relu.onnx");
    assert_int_equal(loom_model_input_count(m), 1);
    assert_int_equal(loom_model_output_count(m), 1);
    loom_value_info info;
    assert_int_equal(loom_model_input_info(m, 0, &info), LOOM_OK);
    assert_string_equal(info.name, "x");
    assert_int_equal(info.rank, 2);
    assert_int_equal(info.dims[0], -1);
    assert_string_equal(info.dim_names[0], "N");
    assert_int_equal(info.dims[1], 4);
    assert_int_equal(loom_model_input_info(m, 1, &info), LOOM_ERR_NOT_FOUND);
    size_t idx;
    assert_int_equal(loom_model_input_index(m, "x", &idx), LOOM_OK);
    assert_int_equal(idx, 0);
    assert_int_equal(loom_model_input_index(m, "nope", &idx), LOOM_ERR_NOT_FOUND);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
}

static void run_binds_batch_per_call(void **state)
{
    (void)state;
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *m = load_bias_relu(ctx);
    for (int64_t batch = 1; batch <= 3; batch++) {
        int64_t dims[2] = {batch, 4};
        float x[12];
        for (int i = 0; i < 12; i++)
            x[i] = (float)i;
        loom_tensor *in, *out;
        assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 2, dims, x, sizeof(x), &in), LOOM_OK);
        assert_int_equal(loom_model_run(m, &in, 1, &out, 1), LOOM_OK);
        assert_int_equal(loom_tensor_dims(out)[0], batch);
        const float *y = loom_tensor_data(out);
        const float bias[4] = {0.5f, -1, 1.5f, -2};
        for (int i = 0; i < batch * 4; i++) {
            float want = x[i] + bias[i % 4];
            assert_float_equal(y[i], want > 0 ? want : 0, 1e-6);
        }
        loom_tensor_destroy(in);
        loom_tensor_destroy(out);
    }
    loom_model_destroy(m);
    loom_context_destroy(ctx);
}

static void run_rejects_wrong_inputs(void **state)
{
    (void)state;
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *m = load_bias_relu(ctx);
    loom_tensor *in, *out = (loom_tensor *)1;
    int64_t dims[2] = {2, 5};
    assert_int_equal(loom_tensor_create(LOOM_DTYPE_FLOAT, 2, dims, &in), LOOM_OK);
    assert_int_equal(loom_model_run(m, &in, 1, &out, 1), LOOM_ERR_SHAPE);
    assert_null(out);
    assert_non_null(strstr(loom_last_error(), "bias_relu.onnx"));
    assert_non_null(strstr(loom_last_error(), "'x'"));
    loom_tensor_destroy(in);
    assert_int_equal(loom_tensor_create(LOOM_DTYPE_INT64, 2, dims, &in), LOOM_OK);
    assert_int_equal(loom_model_run(m, &in, 1, &out, 1), LOOM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(loom_last_error(), "int64"));
    assert_int_equal(loom_model_run(m, &in, 2, &out, 1), LOOM_ERR_INVALID_ARGUMENT);
    loom_tensor_destroy(in);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
}

/* A shape error inside the graph names the model and the node. */
static void kernel_error_names_model_and_node(void **state)
{
    (void)state;
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    int64_t a_dims[1] = {-1}, b_dims[1] = {3};
    float b[3] = {1, 2, 3};
    ob_model *om = ob_new(13);
    ob_input(om, "a", 1, 1, a_dims);
    ob_output(om, "c", 1);
    ob_init_f32(om, "b", 1, b_dims, b);
    ob_node_name(om, ob_add_node(om, "Add", "a,b", "c"), "the_add");
    loom_model *m = lm_load_ok(ctx, om, "named.onnx");
    int64_t dims[1] = {4};
    loom_tensor *in, *out;
    assert_int_equal(loom_tensor_create(LOOM_DTYPE_FLOAT, 1, dims, &in), LOOM_OK);
    assert_int_not_equal(loom_model_run(m, &in, 1, &out, 1), LOOM_OK);
    assert_non_null(strstr(loom_last_error(), "named.onnx"));
    assert_non_null(strstr(loom_last_error(), "the_add"));
    loom_tensor_destroy(in);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
}

typedef struct worker {
    loom_model *m;
    int id, failures;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (int iter = 0; iter < 200; iter++) {
        int64_t batch = 1 + (w->id + iter) % 4, dims[2] = {batch, 4};
        float x[16];
        for (int i = 0; i < 16; i++)
            x[i] = (float)(w->id * 100 + iter + i);
        loom_tensor *in, *out;
        if (loom_tensor_wrap(LOOM_DTYPE_FLOAT, 2, dims, x, sizeof(x), &in) ||
            loom_model_run(w->m, &in, 1, &out, 1)) {
            w->failures++;
            continue;
        }
        const float bias[4] = {0.5f, -1, 1.5f, -2};
        const float *y = loom_tensor_data(out);
        for (int i = 0; i < batch * 4; i++) {
            float want = x[i] + bias[i % 4];
            if (y[i] != (want > 0 ? want : 0))
                w->failures++;
        }
        loom_tensor_destroy(in);
        loom_tensor_destroy(out);
    }
    return NULL;
}

/* One model, many threads, different batch sizes at once. */
static void concurrent_runs_agree(void **state)
{
    (void)state;
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *m = load_bias_relu(ctx);
    pthread_t th[6];
    worker w[6];
    for (int i = 0; i < 6; i++) {
        w[i] = (worker){.m = m, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    loom_model_destroy(m);
    loom_context_destroy(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(tensor_create_and_wrap),
    cmocka_unit_test(context_options_are_checked),
    cmocka_unit_test(metadata_reports_symbolic_dims),
    cmocka_unit_test(run_binds_batch_per_call),
    cmocka_unit_test(run_rejects_wrong_inputs),
    cmocka_unit_test(kernel_error_names_model_and_node),
    cmocka_unit_test(concurrent_runs_agree),
};

LM_TEST_MAIN(tests)
