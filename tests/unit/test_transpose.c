/*
 * test_transpose.c - the CPU's Transpose against the index formula on the
 * shapes that take its tiled path (the last two view dims swapped, both at
 * least 8): attention's K^T (perm 0,2,3,1) with sizes that leave partial
 * 16 x 16 blocks and partial 32-row tiles, in float (the register-block
 * path) and int64 (the element loop).
 */
#include <stdlib.h>
#include <string.h>

#include "lib/onnx_builder.h"
#include "lib/test_main.h"
#include "loom/loom.h"

#define F32 1 /* TensorProto FLOAT */
#define I64 7 /* TensorProto INT64 */

/* y = Transpose(x, perm) for x of @dims (rank 4), elements of @esz bytes
 * valued by their index; checks every element of y. */
static void check(const int64_t dims[4], const int64_t perm[4], int dtype, size_t esz)
{
    ob_model *m = ob_new(13);
    ob_input(m, "x", dtype, 4, dims);
    ob_output(m, "y", dtype);
    ob_attr_ints(m, ob_add_node(m, "Transpose", "x", "y"), "perm", 4, perm);
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *model = lm_load_ok(ctx, m, "transpose.onnx");
    size_t n = (size_t)(dims[0] * dims[1] * dims[2] * dims[3]);
    uint8_t *x = malloc(n * esz);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) {
        if (esz == 4) {
            float v = (float)i;
            memcpy(x + i * esz, &v, esz);
        } else {
            int64_t v = (int64_t)i;
            memcpy(x + i * esz, &v, esz);
        }
    }
    loom_tensor *in, *out = NULL;
    loom_dtype dt = esz == 4 ? LOOM_DTYPE_FLOAT : LOOM_DTYPE_INT64;
    assert_int_equal(loom_tensor_wrap(dt, 4, dims, x, n * esz, &in), LOOM_OK);
    assert_int_equal(loom_model_run(model, &in, 1, &out, 1), LOOM_OK);
    const uint8_t *y = loom_tensor_data(out);
    int64_t st[4] = {dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3], 1}, yd[4];
    for (int i = 0; i < 4; i++)
        yd[i] = dims[perm[i]];
    size_t o = 0;
    for (int64_t a = 0; a < yd[0]; a++)
        for (int64_t b = 0; b < yd[1]; b++)
            for (int64_t c = 0; c < yd[2]; c++)
                for (int64_t d = 0; d < yd[3]; d++, o++) {
                    int64_t src =
                        a * st[perm[0]] + b * st[perm[1]] + c * st[perm[2]] + d * st[perm[3]];
                    if (memcmp(y + o * esz, x + (size_t)src * esz, esz) != 0) {
                        print_error("element %zu: not source element %lld\n", o, (long long)src);
                        fail();
                    }
                }
    loom_tensor_destroy(in);
    loom_tensor_destroy(out);
    free(x);
    loom_model_destroy(model);
    loom_context_destroy(ctx);
}

/* [batch, seq, heads, head dim] -> [batch, heads, head dim, seq] */
static void key_transpose(void **state)
{
    (void)state;
    const int64_t perm[4] = {0, 2, 3, 1};
    const int64_t bert[4] = {1, 128, 4, 64}, odd[4] = {2, 37, 3, 21}, tall[4] = {1, 9, 2, 70};
    check(bert, perm, F32, 4);
    check(odd, perm, F32, 4);
    check(tall, perm, F32, 4);
    check(odd, perm, I64, 8);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(key_transpose),
};

LM_TEST_MAIN(tests)
