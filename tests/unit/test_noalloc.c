/*
 * test_noalloc.c - a model run in steady state allocates no heap memory.
 *
 * malloc and friends are interposed (the test links libloom statically) and
 * counted around the third run of a small CNN through loom_model_run_into().
 * Skipped under AddressSanitizer, which owns the allocator.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lib/onnx_builder.h"
#include "lib/test_main.h"
#include "loom/loom.h"

#if defined(__SANITIZE_ADDRESS__)
#define LM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LM_ASAN 1
#endif
#endif

#ifndef LM_ASAN
static atomic_int counting, allocations;

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static void note(void)
{
    if (atomic_load(&counting))
        atomic_fetch_add(&allocations, 1);
}

void *malloc(size_t n)
{
    note();
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    note();
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    note();
    return __libc_realloc(p, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    note();
    return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    note();
    *out = __libc_memalign(align, n);
    return *out ? 0 : 12; /* ENOMEM */
}
#endif

/* x[1,3,16,16] -> Conv 3x3 -> Relu -> MaxPool 2x2 -> Conv 3x3 -> GlobalAveragePool
 *   -> Flatten -> Gemm -> Softmax */
static loom_model *load_cnn(loom_context *ctx)
{
    int64_t xd[4] = {-1, 3, 16, 16}, w1d[4] = {8, 3, 3, 3}, w2d[4] = {8, 8, 3, 3};
    int64_t bd[1] = {8}, fd[2] = {10, 8}, fbd[1] = {10};
    static float w1[8 * 3 * 9], w2[8 * 8 * 9], b[8], fc[80], fb[10];
    for (size_t i = 0; i < sizeof(w1) / sizeof(w1[0]); i++)
        w1[i] = (float)((int)(i * 37 % 17) - 8) / 16.0f;
    for (size_t i = 0; i < sizeof(w2) / sizeof(w2[0]); i++)
        w2[i] = (float)((int)(i * 53 % 19) - 9) / 32.0f;
    for (int i = 0; i < 80; i++)
        fc[i] = (float)(i % 7 - 3) / 8.0f;
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 4, xd);
    ob_output(m, "y", 1);
    ob_init_f32(m, "w1", 4, w1d, w1);
    ob_init_f32(m, "w2", 4, w2d, w2);
    ob_init_f32(m, "b", 1, bd, b);
    ob_init_f32(m, "fc", 2, fd, fc);
    ob_init_f32(m, "fb", 1, fbd, fb);
    int64_t pads[4] = {1, 1, 1, 1}, k2[2] = {2, 2};
    ob_node *n = ob_add_node(m, "Conv", "x,w1,b", "c1");
    ob_attr_ints(m, n, "pads", 4, pads);
    ob_add_node(m, "Relu", "c1", "r1");
    n = ob_add_node(m, "MaxPool", "r1", "p1");
    ob_attr_ints(m, n, "kernel_shape", 2, k2);
    ob_attr_ints(m, n, "strides", 2, k2);
    n = ob_add_node(m, "Conv", "p1,w2,b", "c2");
    ob_attr_ints(m, n, "pads", 4, pads);
    ob_add_node(m, "GlobalAveragePool", "c2", "g");
    ob_add_node(m, "Flatten", "g", "f");
    n = ob_add_node(m, "Gemm", "f,fc,fb", "logits");
    ob_attr_int(m, n, "transB", 1);
    ob_add_node(m, "Softmax", "logits", "y");
    return lm_load_ok(ctx, m, "cnn.onnx");
}

static void steady_state_run_allocates_nothing(void **state)
{
    (void)state;
#ifdef LM_ASAN
    skip();
#else
    loom_context_options o;
    loom_context_options_init(&o);
    o.num_threads = 2;
    loom_context *ctx;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_OK);
    loom_model *m = load_cnn(ctx);
    int64_t xd[4] = {2, 3, 16, 16}, yd[2] = {2, 10};
    loom_tensor *x, *y;
    assert_int_equal(loom_tensor_create(LOOM_DTYPE_FLOAT, 4, xd, &x), LOOM_OK);
    assert_int_equal(loom_tensor_create(LOOM_DTYPE_FLOAT, 2, yd, &y), LOOM_OK);
    float *xv = loom_tensor_data(x);
    for (int i = 0; i < 2 * 3 * 256; i++)
        xv[i] = (float)(i % 13) / 13.0f;
    for (int warm = 0; warm < 2; warm++)
        assert_int_equal(loom_model_run_into(m, &x, 1, &y, 1), LOOM_OK);
    float first[20];
    memcpy(first, loom_tensor_data(y), sizeof(first));
    atomic_store(&allocations, 0);
    atomic_store(&counting, 1);
    loom_status s = loom_model_run_into(m, &x, 1, &y, 1);
    atomic_store(&counting, 0);
    assert_int_equal(s, LOOM_OK);
    assert_int_equal(atomic_load(&allocations), 0);
    assert_memory_equal(first, loom_tensor_data(y), sizeof(first));
    /* The plain API allocates exactly the output it returns. */
    loom_tensor *out = NULL;
    atomic_store(&counting, 1);
    s = loom_model_run(m, &x, 1, &out, 1);
    atomic_store(&counting, 0);
    assert_int_equal(s, LOOM_OK);
    assert_int_equal(atomic_load(&allocations), 2); /* header + data */
    loom_tensor_destroy(out);
    loom_tensor_destroy(x);
    loom_tensor_destroy(y);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
#endif
}

static void run_into_checks_output_shapes(void **state)
{
    (void)state;
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *m = load_cnn(ctx);
    int64_t xd[4] = {1, 3, 16, 16}, yd[2] = {2, 10};
    loom_tensor *x, *y;
    assert_int_equal(loom_tensor_create(LOOM_DTYPE_FLOAT, 4, xd, &x), LOOM_OK);
    assert_int_equal(loom_tensor_create(LOOM_DTYPE_FLOAT, 2, yd, &y), LOOM_OK);
    assert_int_equal(loom_model_run_into(m, &x, 1, &y, 1), LOOM_ERR_SHAPE);
    assert_non_null(strstr(loom_last_error(), "'y'"));
    loom_tensor_destroy(x);
    loom_tensor_destroy(y);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(steady_state_run_allocates_nothing),
    cmocka_unit_test(run_into_checks_output_shapes),
};

LM_TEST_MAIN(tests)
