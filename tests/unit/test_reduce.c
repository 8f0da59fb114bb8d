/* test_reduce.c - float Reduce* along the last axis (cpu/ops/reduce.c sums
 * a row in eight double lanes, in one vector with AVX-512) on rows of 1 to
 * 1000 elements, lengths on both sides of each lane boundary, against a
 * long-double reference; and along an outer axis, which adds lane by lane. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/test_main.h"

#define F32 1

static const char *const ops[] = {"ReduceSum", "ReduceMean", "ReduceSumSquare",
                                  "ReduceL1",  "ReduceL2",   "ReduceLogSum"};

static long double reference(const char *op, const float *x, int64_t n, int64_t stride)
{
    long double s = 0;
    for (int64_t i = 0; i < n; i++) {
        long double a = x[i * stride];
        s += strstr(op, "Square") || strcmp(op, "ReduceL2") == 0 ? a * a
             : strcmp(op, "ReduceL1") == 0                       ? fabsl(a)
                                                                 : a;
    }
    if (strcmp(op, "ReduceMean") == 0)
        s /= n;
    if (strcmp(op, "ReduceL2") == 0)
        s = sqrtl(s);
    if (strcmp(op, "ReduceLogSum") == 0)
        s = logl(s);
    return s;
}

/* @op over axis @axis of x [rows, len]; every output within 2 float ulps. */
static void check(const char *op, int64_t rows, int64_t len, int64_t axis)
{
    int64_t xd[2] = {rows, len}, ad[1] = {1}, ax = axis;
    ob_model *m = ob_new(18);
    ob_input(m, "x", F32, 2, xd);
    ob_init_raw(m, "axes", 7, 1, ad, &ax, sizeof(ax));
    ob_output(m, "y", F32);
    ob_add_node(m, op, "x,axes", "y");
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *model = lm_load_ok(ctx, m, "reduce");
    size_t n = (size_t)(rows * len);
    float *x = malloc(n * sizeof(float));
    assert_non_null(x);
    uint32_t r = 12345;
    for (size_t i = 0; i < n; i++) {
        r = r * 1103515245u + 12345u;
        /* positive for LogSum; mixed signs elsewhere */
        float v = (float)(r >> 8 & 0xFFFF) / 4096.0f;
        x[i] = strcmp(op, "ReduceLogSum") == 0 ? v + 0.5f : v - 8.0f;
    }
    loom_tensor *in, *out;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 2, xd, x, n * sizeof(float), &in), LOOM_OK);
    assert_int_equal(loom_model_run(model, &in, 1, &out, 1), LOOM_OK);
    const float *y = loom_tensor_data(out);
    int64_t outs = axis == 1 ? rows : len, count = axis == 1 ? len : rows;
    for (int64_t o = 0; o < outs; o++) {
        const float *start = axis == 1 ? x + o * len : x + o;
        double want = (double)reference(op, start, count, axis == 1 ? 1 : len);
        double ulp = nextafterf((float)fabs(want), INFINITY) - (float)fabs(want);
        if (!(fabs(y[o] - want) <= 2 * ulp)) {
            print_error("%s over %lld (axis %lld): output %lld = %.9g, want %.9g\n", op,
                        (long long)count, (long long)axis, (long long)o, y[o], want);
            fail();
        }
    }
    loom_tensor_destroy(in);
    loom_tensor_destroy(out);
    loom_model_destroy(model);
    loom_context_destroy(ctx);
    free(x);
}

static void rows_of_every_length(void **state)
{
    (void)state;
    static const int64_t lens[] = {1, 7, 8, 9, 15, 16, 17, 63, 256, 1000};
    for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++)
        for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
            check(ops[o], 3, lens[l], 1);
            check(ops[o], lens[l], 5, 0);
        }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(rows_of_every_length),
};

LM_TEST_MAIN(tests)
