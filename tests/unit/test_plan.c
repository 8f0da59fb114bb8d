/*
 * test_plan.c - the cost model and the plan as an artifact: an op's work
 * from its shapes, roofline estimates and transfers from a device's
 * properties, the measured-cost cache on disk, and loom_model_plan_json()
 * naming every node's device, reason and estimate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cache.h"
#include "core/model.h"
#include "core/opcost.h"
#include "lib/onnx_builder.h"
#include "lib/test_main.h"
#include "loom/loom.h"

static loom_tensor shape(int rank, const int64_t *dims)
{
    loom_tensor t = {0}; /* init_shape keeps the header's pooled flag */
    assert_int_equal(lm_tensor_init_shape(&t, LOOM_DTYPE_FLOAT, rank, dims), LOOM_OK);
    return t;
}

/* A 3x3 convolution's work is 2 * N*M*OH*OW * C*9, whatever the device. */
static void conv_and_matmul_work(void **state)
{
    (void)state;
    int64_t xd[4] = {1, 8, 10, 10}, wd[4] = {16, 8, 3, 3}, yd[4] = {1, 16, 8, 8};
    loom_tensor x = shape(4, xd), w = shape(4, wd), y = shape(4, yd);
    lm_node conv = {.name = "c", .op_type = "Conv", .domain = "", .n_in = 2, .n_out = 1};
    loom_tensor *in[2] = {&x, &w}, *out[1] = {&y};
    lm_op_work wk = lm_op_work_of(&conv, in, out);
    assert_float_equal(wk.flops, 2.0 * 16 * 8 * 8 * 8 * 9, 0.5);
    assert_float_equal(wk.bytes, (double)(x.nbytes + w.nbytes + y.nbytes), 0.5);
    assert_false(wk.int8);

    int64_t ad[2] = {4, 32}, bd[2] = {32, 5}, cd[2] = {4, 5};
    loom_tensor a = shape(2, ad), b = shape(2, bd), c = shape(2, cd);
    lm_node mm = {.name = "m", .op_type = "MatMul", .domain = "", .n_in = 2, .n_out = 1};
    loom_tensor *min[2] = {&a, &b}, *mout[1] = {&c};
    assert_float_equal(lm_op_work_of(&mm, min, mout).flops, 2.0 * 4 * 5 * 32, 0.5);
}

static bool no_support(lm_device *dev, const lm_node *n, loom_tensor *const *in)
{
    (void)dev, (void)n, (void)in;
    return false;
}

static const lm_device_ops plain_ops = {.supports = no_support};

/* Roofline: the larger of compute and memory time plus the op's fixed cost;
 * transfers: latency plus bytes over the link, through the host. */
static void roofline_and_transfers(void **state)
{
    (void)state;
    lm_device d = {.ops = &plain_ops, .name = "x:0"};
    d.props.peak_gflops = 100; /* 1e5 flops per us */
    d.props.mem_gbps = 10;     /* 1e4 bytes per us */
    d.props.op_us = 2;
    d.props.launch_us = 5;
    d.props.h2d_gbps = d.props.d2h_gbps = 1; /* 1e3 bytes per us */
    int64_t dims[1] = {100000};
    loom_tensor x = shape(1, dims), y = shape(1, dims);
    lm_node relu = {.name = "r", .op_type = "Relu", .domain = "", .n_in = 1, .n_out = 1};
    loom_tensor *in[1] = {&x}, *out[1] = {&y};
    /* 8e5 bytes at 1e4 per us = 80 us > 1e5 flops at 1e5 per us = 1 us */
    assert_float_equal(lm_cost_estimate_us(&d, &relu, in, out), 82.0, 1e-6);
    assert_float_equal(lm_transfer_us(NULL, &d, 4000), 9.0, 1e-9);
    assert_float_equal(lm_transfer_us(&d, &d, 4000), 0.0, 0);
    lm_device e = d;
    assert_float_equal(lm_transfer_us(&d, &e, 4000), 18.0, 1e-9); /* two hops */
    d.props.peak_gflops = 0;                                      /* unknown peaks: no estimate */
    assert_true(lm_cost_estimate_us(&d, &relu, in, out) < 0);
}

/* Figures written by one process are read by the next: the table file. */
static void cost_cache_keeps_figures_on_disk(void **state)
{
    (void)state;
    char dir[] = "/tmp/loom-cost-XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    lm_test_setenv("LOOM_CACHE_DIR", dir);
    lm_cost_cache_reset();
    lm_cost_cache_put("test|figure", 42.5);
    double v = 0;
    assert_true(lm_cost_cache_get("test|figure", &v));
    assert_float_equal(v, 42.5, 0);
    snprintf(path, sizeof(path), "%s/costs-v1.tsv", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256] = "";
    bool found = false;
    while (fgets(line, sizeof(line), f))
        found |= strcmp(line, "test|figure\t42.5\n") == 0;
    fclose(f);
    assert_true(found);
    assert_false(lm_cost_cache_get("test|missing", &v));
    unlink(path);
    rmdir(dir);
    lm_test_setenv("LOOM_CACHE_DIR", NULL);
    lm_cost_cache_reset(); /* the figure stays out of the real cache */
}

/* x -> Relu -> Softmax -> y on the CPU: every node named with its device,
 * estimate and reason; a symbolic dim must be bound first. */
static void plan_json_names_every_node(void **state)
{
    (void)state;
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "cpu";
    loom_context *ctx;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_OK);
    int64_t dims[2] = {-1, 4};
    ob_model *om = ob_new(13);
    ob_input(om, "x", 1, 2, dims);
    ob_output(om, "y", 1);
    ob_node_name(om, ob_add_node(om, "Relu", "x", "r"), "the_relu");
    ob_node_name(om, ob_add_node(om, "Softmax", "r", "y"), "the_softmax");
    loom_model *m = lm_load_ok(ctx, om, "chain.onnx");
    char *json = NULL;
    assert_int_equal(loom_model_plan_json(m, NULL, 0, &json), LOOM_ERR_SHAPE);
    assert_non_null(strstr(loom_last_error(), "'N'"));
    assert_null(json);
    assert_int_equal(loom_model_bind_dim(m, "N", 3), LOOM_OK);
    assert_int_equal(loom_model_plan_json(m, NULL, 0, &json), LOOM_OK);
    assert_non_null(strstr(json, "\"name\":\"the_relu\",\"op\":\"Relu\",\"shape\":\"[3,4]\","
                                 "\"device\":\"cpu\""));
    assert_non_null(strstr(json, "\"name\":\"the_softmax\""));
    assert_non_null(strstr(json, "\"objective\":\"latency\""));
    assert_non_null(strstr(json, "\"transfers\":[]")); /* all on the host */
    assert_non_null(strstr(json, "\"total_est_us\":"));
    assert_non_null(strstr(json, "\"reason\":\"cpu: the only device\""));
    free(json);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
}

/* The number after "@field": in the object that starts at "@name". */
static double field_after(const char *json, const char *name, const char *field)
{
    const char *at = strstr(json, name);
    assert_non_null(at);
    at = strstr(at, field);
    assert_non_null(at);
    return strtod(at + strlen(field), NULL);
}

/* Profiling times every node; what it measured becomes the next plan's estimate. */
static void profile_feeds_the_estimates(void **state)
{
    (void)state;
    char dir[] = "/tmp/loom-prof-XXXXXX";
    assert_non_null(mkdtemp(dir));
    lm_test_setenv("LOOM_CACHE_DIR", dir);
    lm_cost_cache_reset();
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "cpu";
    loom_context *ctx;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_OK);
    int64_t dims[2] = {64, 256};
    ob_model *om = ob_new(13);
    ob_input(om, "x", 1, 2, dims);
    ob_output(om, "y", 1);
    ob_node_name(om, ob_add_node(om, "Tanh", "x", "y"), "the_tanh");
    loom_model *m = lm_load_ok(ctx, om, "tanh.onnx");
    loom_tensor *in;
    assert_int_equal(loom_tensor_create(LOOM_DTYPE_FLOAT, 2, dims, &in), LOOM_OK);
    char *prof = NULL, *plan = NULL;
    assert_int_equal(loom_model_profile_json(m, &in, 1, 0, &prof), LOOM_ERR_INVALID_ARGUMENT);
    assert_int_equal(loom_model_profile_json(m, &in, 1, 5, &prof), LOOM_OK);
    double measured = field_after(prof, "\"the_tanh\"", "\"measured_us\":");
    assert_true(measured > 0);
    assert_non_null(strstr(prof, "\"runs\":5"));
    lm_model_new_generation(m); /* the next plan estimates again */
    assert_int_equal(loom_model_plan_json(m, &in, 1, &plan), LOOM_OK);
    assert_float_equal(field_after(plan, "\"the_tanh\"", "\"est_us\":"), measured, measured * 1e-5);
    free(prof);
    free(plan);
    loom_tensor_destroy(in);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
    char path[256];
    snprintf(path, sizeof(path), "%s/costs-v1.tsv", dir);
    unlink(path);
    rmdir(dir);
    lm_test_setenv("LOOM_CACHE_DIR", NULL);
    lm_cost_cache_reset();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(conv_and_matmul_work),
    cmocka_unit_test(roofline_and_transfers),
    cmocka_unit_test(cost_cache_keeps_figures_on_disk),
    cmocka_unit_test(plan_json_names_every_node),
    cmocka_unit_test(profile_feeds_the_estimates),
};

LM_TEST_MAIN(tests)
