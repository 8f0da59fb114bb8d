/* test_rnn.c - RNN, GRU and LSTM with constant weights, packed once by the
 * prepare hook, against the same ops with the weights fed as inputs (packed
 * per run; the ONNX conformance tests check that path's numbers): the
 * results must be identical, over both directions, GRU's two reset forms
 * and batches of one and several rows. */
#include <string.h>

#include "lib/test_main.h"

#define F32 1

typedef struct rnn_case {
    const char *op;
    int gates;
    const char *direction;
    int64_t lbr; /* GRU linear_before_reset */
    int64_t batch;
} rnn_case;

enum { S = 5, I = 7, H = 19 };

static float values[2 * 4 * H * (I + H + 2) + S * 8 * I];

static void fill(void)
{
    uint32_t s = 12345;
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        s = s * 1103515245u + 12345u;
        values[i] = (float)((int)(s >> 16 & 0x7FFF) - 16384) / 32768.0f;
    }
}

/* The op with W, R, B as initializers (@constant) or W and R as inputs. */
static loom_model *build(loom_context *ctx, const rnn_case *c, bool constant)
{
    int64_t D = strcmp(c->direction, "bidirectional") == 0 ? 2 : 1, GH = c->gates * H;
    int64_t xd[3] = {S, c->batch, I}, wd[3] = {D, GH, I}, rd[3] = {D, GH, H}, bd[2] = {D, 2 * GH};
    const float *w = values, *r = w + D * GH * I, *b = r + D * GH * H;
    ob_model *m = ob_new(14);
    ob_input(m, "X", F32, 3, xd);
    if (constant) {
        ob_init_f32(m, "W", 3, wd, w);
        ob_init_f32(m, "R", 3, rd, r);
    } else {
        ob_input(m, "W", F32, 3, wd);
        ob_input(m, "R", F32, 3, rd);
    }
    ob_init_f32(m, "B", 2, bd, b);
    ob_output(m, "Y", F32);
    ob_output(m, "Y_h", F32);
    ob_node *n = ob_add_node(m, c->op, "X,W,R,B", "Y,Y_h");
    ob_attr_int(m, n, "hidden_size", H);
    ob_attr_str(m, n, "direction", c->direction);
    if (strcmp(c->op, "GRU") == 0)
        ob_attr_int(m, n, "linear_before_reset", c->lbr);
    return lm_load_ok(ctx, m, c->op);
}

static void constant_weights_match_fed_weights(void **state)
{
    (void)state;
    static const rnn_case cases[] = {
        {"LSTM", 4, "forward", 0, 1},      {"LSTM", 4, "bidirectional", 0, 6},
        {"GRU", 3, "forward", 0, 1},       {"GRU", 3, "reverse", 1, 1},
        {"GRU", 3, "bidirectional", 0, 6}, {"GRU", 3, "bidirectional", 1, 6},
        {"RNN", 1, "bidirectional", 0, 3},
    };
    fill();
    for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
        const rnn_case *c = &cases[ci];
        int64_t D = strcmp(c->direction, "bidirectional") == 0 ? 2 : 1, GH = c->gates * H;
        int64_t xd[3] = {S, c->batch, I}, wd[3] = {D, GH, I}, rd[3] = {D, GH, H};
        float *x = values + D * GH * (I + H + 2);
        loom_context *ctx;
        assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
        loom_model *packed = build(ctx, c, true), *fed = build(ctx, c, false);
        loom_tensor *in[3], *a[2], *b[2];
        assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 3, xd, x,
                                          sizeof(float) * (size_t)(S * c->batch * I), &in[0]),
                         LOOM_OK);
        assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 3, wd, values,
                                          sizeof(float) * (size_t)(D * GH * I), &in[1]),
                         LOOM_OK);
        assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 3, rd, values + D * GH * I,
                                          sizeof(float) * (size_t)(D * GH * H), &in[2]),
                         LOOM_OK);
        assert_int_equal(loom_model_run(packed, in, 1, a, 2), LOOM_OK);
        assert_int_equal(loom_model_run(fed, in, 3, b, 2), LOOM_OK);
        for (int o = 0; o < 2; o++) {
            assert_int_equal(loom_tensor_size(a[o]), loom_tensor_size(b[o]));
            if (memcmp(loom_tensor_data(a[o]), loom_tensor_data(b[o]), loom_tensor_size(a[o])))
                fail_msg("%s %s lbr %lld batch %lld: output %d differs", c->op, c->direction,
                         (long long)c->lbr, (long long)c->batch, o);
            loom_tensor_destroy(a[o]);
            loom_tensor_destroy(b[o]);
        }
        for (int i = 0; i < 3; i++)
            loom_tensor_destroy(in[i]);
        loom_model_destroy(packed);
        loom_model_destroy(fed);
        loom_context_destroy(ctx);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(constant_weights_match_fed_weights),
};

LM_TEST_MAIN(tests)
