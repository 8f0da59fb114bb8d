/*
 * test_opencl.c - the OpenCL backend through the device interface: segments
 * of Relu/Add/Gemm and Conv run on opencl:0 alone and agree with the CPU,
 * runs from many threads agree, nodes it cannot run fall back (or fail with
 * fallback off), and a second start with a warm cache builds no program.
 * Every test skips when the machine has no OpenCL device.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/model.h"
#include "lib/onnx_builder.h"
#include "lib/test_main.h"
#include "loom/loom.h"
#include "opencl/opencl.h"

#define SKIP_WITHOUT_DEVICE()                                                                      \
    do {                                                                                           \
        lm_cl_info info_;                                                                          \
        if (lm_opencl_list(&info_, 1) < 1) {                                                       \
            print_message("no OpenCL device: skipped\n");                                          \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static loom_context *make_ctx(const char *device, bool strict)
{
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = device;
    o.fail_closed = strict;
    o.num_threads = 1;
    loom_context *ctx = NULL;
    loom_status s = loom_context_create(&o, &ctx);
    if (s)
        print_error("%s\n", loom_last_error());
    assert_int_equal(s, LOOM_OK);
    return ctx;
}

static loom_model *load(loom_context *ctx, ob_model *om, const char *name, loom_status want)
{
    size_t len;
    uint8_t *buf = ob_pack(om, &len);
    loom_model *m = NULL;
    loom_status s = loom_model_load_memory(ctx, buf, len, name, &m);
    free(buf);
    if (s != want)
        print_error("%s\n", loom_last_error());
    assert_int_equal(s, want);
    return m;
}

static void fill(float *v, int n, int seed)
{
    for (int i = 0; i < n; i++)
        v[i] = (float)(((i + 1) * (seed * 7 + 3)) % 17) * 0.125f - 1.0f;
}

/* x[5,12] -> Relu -> Add(b) -> Gemm(W^T[8,12], c[8]) -> y[5,8] */
static ob_model *relu_add_gemm(void)
{
    int64_t xd[2] = {5, 12}, wd[2] = {8, 12}, cd[1] = {8};
    float b[60], w[96], c[8];
    fill(b, 60, 1);
    fill(w, 96, 2);
    fill(c, 8, 3);
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 2, xd);
    ob_output(m, "y", 1);
    ob_init_f32(m, "b", 2, xd, b);
    ob_init_f32(m, "w", 2, wd, w);
    ob_init_f32(m, "c", 1, cd, c);
    ob_add_node(m, "Relu", "x", "r");
    ob_add_node(m, "Add", "r,b", "s");
    ob_node *g = ob_add_node(m, "Gemm", "s,w,c", "y");
    ob_attr_int(m, g, "transB", 1);
    ob_attr_float(m, g, "alpha", 0.5f);
    return m;
}

/* x[2,4,9,9] -> Conv(groups 2, pads, stride 2, dilation 1, bias) -> Relu -> y */
static ob_model *grouped_conv(void)
{
    int64_t xd[4] = {2, 4, 9, 9}, wd[4] = {6, 2, 3, 3}, bd[1] = {6};
    float w[108], b[6];
    fill(w, 108, 4);
    fill(b, 6, 5);
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 4, xd);
    ob_output(m, "y", 1);
    ob_init_f32(m, "w", 4, wd, w);
    ob_init_f32(m, "b", 1, bd, b);
    ob_node *c = ob_add_node(m, "Conv", "x,w,b", "t");
    int64_t pads[4] = {1, 2, 1, 0}, strides[2] = {2, 1};
    ob_attr_int(m, c, "group", 2);
    ob_attr_ints(m, c, "pads", 4, pads);
    ob_attr_ints(m, c, "strides", 2, strides);
    ob_add_node(m, "Relu", "t", "y");
    return m;
}

/* Runs @om once on @device with input @x; returns a malloc'd copy of output 0. */
static float *run_once(const char *device, bool strict, ob_model *om, const float *x, int rank,
                       const int64_t *dims, size_t *n_out)
{
    loom_context *ctx = make_ctx(device, strict);
    loom_model *m = load(ctx, om, "t.onnx", LOOM_OK);
    int64_t count = 1;
    for (int i = 0; i < rank; i++)
        count *= dims[i];
    loom_tensor *in, *out;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, rank, dims, (void *)x,
                                      sizeof(float) * (size_t)count, &in),
                     LOOM_OK);
    loom_status s = loom_model_run(m, &in, 1, &out, 1);
    if (s)
        print_error("%s\n", loom_last_error());
    assert_int_equal(s, LOOM_OK);
    *n_out = (size_t)loom_tensor_count(out);
    float *y = malloc(sizeof(float) * *n_out);
    memcpy(y, loom_tensor_data(out), sizeof(float) * *n_out);
    loom_tensor_destroy(out);
    loom_tensor_destroy(in);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
    return y;
}

static void assert_close(const float *want, const float *got, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(want[i] - got[i]) <= 1e-5f + 1e-4f * fabsf(want[i]))) {
            print_error("element %zu: %g, expected %g\n", i, (double)got[i], (double)want[i]);
            fail();
        }
}

static void relu_add_gemm_matches_cpu(void **state)
{
    (void)state;
    SKIP_WITHOUT_DEVICE();
    float x[60];
    fill(x, 60, 9);
    int64_t xd[2] = {5, 12};
    ob_model *om = relu_add_gemm();
    size_t n_cpu, n_cl;
    float *cpu = run_once("cpu", false, om, x, 2, xd, &n_cpu);
    float *cl = run_once("opencl:0", true, om, x, 2, xd, &n_cl); /* strict: all on the device */
    assert_int_equal(n_cpu, 40);
    assert_int_equal(n_cl, n_cpu);
    assert_close(cpu, cl, n_cpu);
    free(cpu);
    free(cl);
    ob_free(om);
}

static void grouped_conv_matches_cpu(void **state)
{
    (void)state;
    SKIP_WITHOUT_DEVICE();
    float x[648];
    fill(x, 648, 11);
    int64_t xd[4] = {2, 4, 9, 9};
    ob_model *om = grouped_conv();
    size_t n_cpu, n_cl;
    float *cpu = run_once("cpu", false, om, x, 4, xd, &n_cpu);
    float *cl = run_once("opencl:0", true, om, x, 4, xd, &n_cl);
    assert_int_equal(n_cl, n_cpu);
    assert_close(cpu, cl, n_cpu);
    free(cpu);
    free(cl);
    ob_free(om);
}

typedef struct worker {
    loom_model *m;
    const float *x;
    const float *want;
    int bad;
} worker;

static void *run_many(void *arg)
{
    worker *w = arg;
    int64_t xd[2] = {5, 12};
    loom_tensor *in, *out;
    if (loom_tensor_wrap(LOOM_DTYPE_FLOAT, 2, xd, (void *)w->x, sizeof(float) * 60, &in)) {
        w->bad++;
        return NULL;
    }
    for (int r = 0; r < 20; r++) {
        if (loom_model_run(w->m, &in, 1, &out, 1)) {
            w->bad++;
            continue;
        }
        const float *y = loom_tensor_data(out);
        for (int i = 0; i < 40; i++)
            if (fabsf(y[i] - w->want[i]) > 1e-5f + 1e-4f * fabsf(w->want[i]))
                w->bad++;
        loom_tensor_destroy(out);
    }
    loom_tensor_destroy(in);
    return NULL;
}

/* A segment run from several threads at once gives every thread its answer. */
static void concurrent_runs_agree(void **state)
{
    (void)state;
    SKIP_WITHOUT_DEVICE();
    float x[60];
    fill(x, 60, 9);
    int64_t xd[2] = {5, 12};
    ob_model *om = relu_add_gemm();
    size_t n;
    float *want = run_once("cpu", false, om, x, 2, xd, &n);
    loom_context *ctx = make_ctx("opencl:0", true);
    loom_model *m = load(ctx, om, "t.onnx", LOOM_OK);
    enum { T = 4 };
    pthread_t th[T];
    worker w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (worker){m, x, want, 0};
        pthread_create(&th[i], NULL, run_many, &w[i]);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].bad, 0);
    }
    loom_model_destroy(m);
    loom_context_destroy(ctx);
    free(want);
    ob_free(om);
}

/* Hardmax is not an OpenCL op: the CPU takes it, or with fallback off the
 * load fails naming the node and the device. */
static void unsupported_falls_back_or_fails_closed(void **state)
{
    (void)state;
    SKIP_WITHOUT_DEVICE();
    int64_t xd[2] = {3, 4};
    ob_model *om = ob_new(13);
    ob_input(om, "x", 1, 2, xd);
    ob_output(om, "y", 1);
    ob_add_node(om, "Relu", "x", "r");
    ob_node_name(om, ob_add_node(om, "Hardmax", "r", "y"), "the_hardmax");
    loom_context *ctx = make_ctx("opencl:0", true);
    assert_null(load(ctx, om, "strict.onnx", LOOM_ERR_UNSUPPORTED));
    assert_non_null(strstr(loom_last_error(), "the_hardmax"));
    assert_non_null(strstr(loom_last_error(), "opencl:0"));
    loom_context_destroy(ctx);
    ctx = make_ctx("opencl:0", false);
    loom_model *m = load(ctx, om, "mixed.onnx", LOOM_OK);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
    ob_free(om);
}

/* The first start fills an empty cache; the second builds no program. */
static void second_start_builds_nothing(void **state)
{
    (void)state;
    SKIP_WITHOUT_DEVICE();
    char dir[] = "/tmp/loom-cl-cache-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *old = getenv("LOOM_CACHE_DIR") ? strdup(getenv("LOOM_CACHE_DIR")) : NULL;
    setenv("LOOM_CACHE_DIR", dir, 1);
    float x[60];
    fill(x, 60, 9);
    int64_t xd[2] = {5, 12};
    ob_model *om = relu_add_gemm();
    size_t n;
    int before = lm_cl_program_builds();
    free(run_once("opencl:0", true, om, x, 2, xd, &n));
    int first = lm_cl_program_builds() - before;
    free(run_once("opencl:0", true, om, x, 2, xd, &n));
    int second = lm_cl_program_builds() - before - first;
    print_message("program builds: first start %d, second start %d\n", first, second);
    assert_true(first >= 2); /* the op program and at least one GEMM tile */
    assert_int_equal(second, 0);
    ob_free(om);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    if (old)
        setenv("LOOM_CACHE_DIR", old, 1);
    else
        unsetenv("LOOM_CACHE_DIR");
    free(old);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(relu_add_gemm_matches_cpu),
    cmocka_unit_test(grouped_conv_matches_cpu),
    cmocka_unit_test(concurrent_runs_agree),
    cmocka_unit_test(unsupported_falls_back_or_fails_closed),
    cmocka_unit_test(second_start_builds_nothing),
};

LM_TEST_MAIN(tests)
