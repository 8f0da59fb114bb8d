/*
 * test_fpga.c - the FPGA backend on the emulated card: the shim's plumbing,
 * accumulators on float32 rounding ties against the CPU backend, chains of
 * layers in one segment, concurrency and refusals. Each int8 operator's
 * shape cases (QLinearConv, QLinearMatMul, MaxPool, Max) against the CPU are
 * in the op harness (tests/ops/cases_quant.c).
 *
 * The card reproduces the CPU backend's float32 requantization in integer
 * logic (hls/loom_cu.h), so every comparison with the CPU is exact: not one
 * output step of difference is allowed.
 * Needs the default xclbin ($LOOM_XCLBIN or the build's bitstreams/).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../../hls/loom_cu.h"
#include "core/device.h"
#include "core/model.h"
#include "fpga/shim.h"
#include "fpga/visible.h"
#include "lib/test_main.h"
#include "loom/loom.h"

static uint32_t rng = 12345;

static uint32_t rnd(void)
{
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}

/* ------------------------------------------------------------ shim */

static void test_shim_emulated_plumbing(void **state)
{
    (void)state;
    lm_card *cards[4];
    int n = 0;
    assert_int_equal(lm_card_emulated_open(2, cards, 4, &n), LOOM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(cards[0]->name, "card:0");
    assert_string_equal(cards[1]->name, "card:1");
    const char *xclbin = lm_card_default_xclbin();
    assert_non_null(xclbin);
    assert_int_equal(lm_card_program_file(cards[0], xclbin), LOOM_OK);

    lm_card_info info;
    assert_int_equal(lm_card_info_get(cards[0], &info), LOOM_OK);
    assert_string_equal(info.driver, "emulated");
    assert_true(info.status & LM_CARD_PROGRAMMED);
    assert_true(info.n_cus >= 3);
    bool has_conv = false;
    for (int i = 0; i < info.n_cus; i++)
        has_conv |= info.cus[i].kind == LOOM_CU_KIND_QCONV;
    assert_true(has_conv);
    uint64_t used0 = info.mem_used;

    /* BOs: distinct, aligned, round trip, freed space is reused. */
    lm_card_bo a, b, c;
    assert_int_equal(lm_card_bo_alloc(cards[0], 1000, &a), LOOM_OK);
    assert_int_equal(lm_card_bo_alloc(cards[0], 5000, &b), LOOM_OK);
    assert_true(b.dev_addr >= a.dev_addr + 1000);
    uint8_t src[5000], dst[5000];
    for (int i = 0; i < 5000; i++)
        src[i] = (uint8_t)rnd();
    assert_int_equal(lm_card_bo_write(cards[0], &b, 0, src, 5000), LOOM_OK);
    assert_int_equal(lm_card_bo_read(cards[0], &b, 0, dst, 5000), LOOM_OK);
    assert_memory_equal(src, dst, 5000);
    assert_int_not_equal(lm_card_bo_write(cards[0], &b, b.size - 1, src, 2), LOOM_OK);
    uint64_t a_addr = a.dev_addr;
    lm_card_bo_free(cards[0], &a);
    assert_int_equal(lm_card_bo_alloc(cards[0], 512, &c), LOOM_OK);
    assert_int_equal(c.dev_addr, a_addr);
    assert_int_not_equal(lm_card_bo_alloc(cards[0], 1ull << 40, &a), LOOM_OK);

    /* A descriptor with a bad magic completes with an error, named. */
    uint8_t junk[128] = {0};
    assert_int_equal(lm_card_bo_write(cards[0], &c, 0, junk, sizeof(junk)), LOOM_OK);
    int conv = -1;
    for (int i = 0; i < info.n_cus; i++)
        if (info.cus[i].kind == LOOM_CU_KIND_QCONV)
            conv = i;
    lm_card_cmd cmd = {.cu_index = (uint32_t)conv, .n_args = 4};
    for (int i = 0; i < 4; i++)
        cmd.args[i] = (lm_card_arg){&b, 0};
    cmd.args[0] = (lm_card_arg){&c, 0};
    assert_int_equal(lm_card_run(cards[0], &cmd, 1, NULL, 0), LOOM_ERR_RUNTIME);
    assert_non_null(strstr(loom_last_error(), "card:0"));

    lm_card_bo_free(cards[0], &b);
    lm_card_bo_free(cards[0], &c);
    assert_int_equal(lm_card_info_get(cards[0], &info), LOOM_OK);
    assert_int_equal(info.mem_used, used0);
    assert_true(info.errors >= 1);
    /* The second card is its own: not programmed by the first. */
    assert_int_equal(lm_card_info_get(cards[1], &info), LOOM_OK);
    assert_false(info.status & LM_CARD_PROGRAMMED);
    lm_card_close(cards[0]);
    lm_card_close(cards[1]);
}

static void test_no_xrt_card_is_clean(void **state)
{
    (void)state;
    lm_card *cards[4];
    int n = 0;
    assert_int_equal(lm_card_xrt_open_all(cards, 4, &n), LOOM_OK);
    assert_int_equal(n, 0);
}

/* ------------------------------------------------------------ ops vs CPU */

static loom_context *context(const char *device, int emulated, int fail_closed)
{
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = device;
    o.num_threads = 2;
    o.emulated_cards = emulated;
    o.fail_closed = fail_closed;
    loom_context *ctx = NULL;
    loom_status s = loom_context_create(&o, &ctx);
    if (s)
        print_error("%s\n", loom_last_error());
    assert_int_equal(s, LOOM_OK);
    return ctx;
}

/* Runs @m's serialized model on the CPU and on card:0 (fail closed: every
 * node on the card unless @cpu_ok); the 8-bit outputs must be identical.
 * Returns the CPU's output (the caller destroys it). */
static loom_tensor *compare(ob_model *m, loom_tensor *in, bool cpu_ok)
{
    size_t len;
    uint8_t *buf = ob_pack(m, &len);
    ob_free(m);
    loom_context *cpu = context("cpu", -1, 0), *card = context("card:0", 1, !cpu_ok);
    loom_model *mc = NULL, *mf = NULL;
    assert_int_equal(loom_model_load_memory(cpu, buf, len, "cpu", &mc), LOOM_OK);
    loom_status s = loom_model_load_memory(card, buf, len, "card", &mf);
    if (s)
        print_error("%s\n", loom_last_error());
    assert_int_equal(s, LOOM_OK);
    free(buf);
    loom_tensor *yc, *yf;
    assert_int_equal(loom_model_run(mc, &in, 1, &yc, 1), LOOM_OK);
    s = loom_model_run(mf, &in, 1, &yf, 1);
    if (s)
        print_error("%s\n", loom_last_error());
    assert_int_equal(s, LOOM_OK);
    assert_int_equal(loom_tensor_size(yc), loom_tensor_size(yf));
    bool u8 = loom_tensor_dtype(yc) == LOOM_DTYPE_UINT8;
    const uint8_t *a = loom_tensor_data(yc), *b = loom_tensor_data(yf);
    size_t differ = 0;
    for (size_t i = 0; i < loom_tensor_size(yc); i++) {
        int va = u8 ? a[i] : (int8_t)a[i], vb = u8 ? b[i] : (int8_t)b[i];
        if (va != vb && differ++ < 3)
            print_error("element %zu: cpu %d, card %d\n", i, va, vb);
    }
    if (differ)
        print_error("%zu of %zu elements differ from the CPU\n", differ, loom_tensor_size(yc));
    assert_int_equal(differ, 0);
    loom_tensor_destroy(yf);
    loom_model_destroy(mc);
    loom_model_destroy(mf);
    loom_context_destroy(cpu);
    loom_context_destroy(card);
    loom_tensor_destroy(in);
    return yc;
}

static loom_tensor *random_input(loom_dtype dt, int rank, const int64_t *dims)
{
    loom_tensor *t;
    assert_int_equal(loom_tensor_create(dt, rank, dims, &t), LOOM_OK);
    uint8_t *p = loom_tensor_data(t);
    for (size_t i = 0; i < loom_tensor_size(t); i++)
        p[i] = (uint8_t)rnd();
    return t;
}

/*
 * Accumulators where float32 rounds: a 1x1 conv with weight 1 and a bias of
 * (2m + 1) * 2^19 (up to 2^26) per channel m puts acc = x + bias within 128
 * of the tie m + 1/2 at scale 2^-20, where (float)acc moves in steps of 4 or
 * 8. The CPU rounds (float)acc (to a tie, then to even); one exact rounding
 * of acc * 2^-20 (the card before it matched) would differ on many outputs:
 * the test counts them, so it cannot pass by missing the case.
 */
static void test_accumulators_on_float_ties(void **state)
{
    (void)state;
    enum { M = 64, HW = 32 };
    int64_t xd[4] = {1, 1, HW, HW}, wd[4] = {M, 1, 1, 1};
    ob_model *m = ob_new(13);
    ob_input(m, "x", LOOM_DTYPE_INT8, 4, xd);
    ob_output(m, "y", LOOM_DTYPE_INT8);
    float s10 = 0x1p-10f, one = 1.0f;
    ob_init_f32(m, "s", 0, NULL, &s10);
    ob_init_f32(m, "ys", 0, NULL, &one);
    ob_init_byte(m, "z", LOOM_DTYPE_INT8, 0);
    int8_t w[M];
    int32_t b[M];
    for (int i = 0; i < M; i++) {
        w[i] = 1;
        b[i] = (i % 2 ? -1 : 1) * (2 * (i / 2 + 64) + 1) * (1 << 19); /* ties at +-64.5..95.5 */
    }
    ob_init_raw(m, "w", LOOM_DTYPE_INT8, 4, wd, w, sizeof(w));
    ob_init_raw(m, "b", LOOM_DTYPE_INT32, 1, &wd[0], b, sizeof(b));
    ob_add_node(m, "QLinearConv", "x,s,z,w,s,z,ys,z,b", "y");
    loom_tensor *x = random_input(LOOM_DTYPE_INT8, 4, xd);
    int8_t xv[HW * HW];
    memcpy(xv, loom_tensor_data(x), sizeof(xv));
    loom_tensor *y = compare(m, x, false);
    const int8_t *yv = loom_tensor_data(y);
    int one_rounding_differs = 0;
    for (int c = 0; c < M; c++)
        for (int i = 0; i < HW * HW; i++) {
            int64_t acc = (int64_t)b[c] + xv[i], q = acc >> 20, rem = acc & ((1 << 20) - 1);
            q += rem > (1 << 19) || (rem == (1 << 19) && (q & 1));
            one_rounding_differs += q != yv[c * HW * HW + i];
        }
    print_message("# %d of %d outputs sit where one exact rounding would differ\n",
                  one_rounding_differs, M * HW * HW);
    assert_true(one_rounding_differs > 0);
    loom_tensor_destroy(y);
}

/* A negative weight scale has no table entry: the CPU takes the conv (and a
 * fail-closed card context refuses it, naming it). */
static void test_scale_without_table_entry_stays_on_cpu(void **state)
{
    (void)state;
    int64_t xd[4] = {1, 2, 5, 5}, wd[4] = {3, 2, 1, 1};
    ob_model *m = ob_new(13);
    ob_input(m, "x", LOOM_DTYPE_INT8, 4, xd);
    ob_output(m, "y", LOOM_DTYPE_INT8);
    float xs = 0.02f, ws = -0.003f, ys = 0.01f;
    ob_init_f32(m, "xs", 0, NULL, &xs);
    ob_init_f32(m, "ws", 0, NULL, &ws);
    ob_init_f32(m, "ys", 0, NULL, &ys);
    ob_init_byte(m, "z", LOOM_DTYPE_INT8, 0);
    int8_t w[6] = {10, -20, 30, -40, 50, -60};
    ob_init_raw(m, "w", LOOM_DTYPE_INT8, 4, wd, w, sizeof(w));
    ob_node *n = ob_add_node(m, "QLinearConv", "x,xs,z,w,ws,z,ys,z", "y");
    ob_node_name(m, n, "negative_scale_conv");
    size_t len;
    uint8_t *buf = ob_pack(m, &len);
    loom_context *card = context("card:0", 1, 1);
    loom_model *model = NULL;
    loom_status s = loom_model_load_memory(card, buf, len, "neg", &model);
    if (!s) { /* planning may wait for the first run */
        loom_tensor *x = random_input(LOOM_DTYPE_INT8, 4, xd), *y;
        s = loom_model_run(model, &x, 1, &y, 1);
        loom_tensor_destroy(x);
    }
    assert_int_equal(s, LOOM_ERR_UNSUPPORTED);
    assert_non_null(strstr(loom_last_error(), "negative_scale_conv"));
    loom_model_destroy(model);
    loom_context_destroy(card);
    free(buf);
    loom_tensor_destroy(compare(m, random_input(LOOM_DTYPE_INT8, 4, xd), true));
}

/* ------------------------------------------------------------ chains, threads */

/* conv -> relu -> depthwise -> relu -> conv: one segment, one submit per
 * run; the batch @batch (-1: any). */
static ob_model *chain_model_n(int64_t batch)
{
    int64_t xd[4] = {batch, 4, 16, 16};
    ob_model *m = ob_new(13);
    ob_input(m, "x", LOOM_DTYPE_UINT8, 4, xd);
    ob_output(m, "y", LOOM_DTYPE_UINT8);
    ob_init_qparams(m);
    int64_t w1d[4] = {8, 4, 3, 3}, w2d[4] = {8, 1, 3, 3}, w3d[4] = {6, 8, 1, 1};
    int8_t w1[8 * 4 * 9], w2[8 * 9], w3[48];
    for (size_t i = 0; i < sizeof(w1); i++)
        w1[i] = (int8_t)(rnd() % 255 - 127);
    for (size_t i = 0; i < sizeof(w2); i++)
        w2[i] = (int8_t)(rnd() % 255 - 127);
    for (size_t i = 0; i < sizeof(w3); i++)
        w3[i] = (int8_t)(rnd() % 255 - 127);
    ob_init_raw(m, "w1", LOOM_DTYPE_INT8, 4, w1d, w1, sizeof(w1));
    ob_init_raw(m, "w2", LOOM_DTYPE_INT8, 4, w2d, w2, sizeof(w2));
    ob_init_raw(m, "w3", LOOM_DTYPE_INT8, 4, w3d, w3, sizeof(w3));
    int64_t pads[4] = {1, 1, 1, 1};
    ob_node *n = ob_add_node(m, "QLinearConv", "x,s1,z,w1,ws,wz,s2,z", "c1");
    ob_attr_ints(m, n, "pads", 4, pads);
    ob_add_node(m, "Max", "c1,z", "r1");
    n = ob_add_node(m, "QLinearConv", "r1,s2,z,w2,ws,wz,s2,z", "c2");
    ob_attr_ints(m, n, "pads", 4, pads);
    ob_attr_int(m, n, "group", 8);
    ob_add_node(m, "Max", "c2,z", "r2");
    ob_add_node(m, "QLinearConv", "r2,s2,z,w3,ws,wz,s1,z", "y");
    return m;
}

static ob_model *chain_model(void)
{
    return chain_model_n(1);
}

/* The card gets each weight once (core/prepared.c's store): a new batch
 * size is a new plan that uploads no weights, and so is a second model
 * with the same weights; every answer is the CPU's, bit for bit. */
static void test_weights_uploaded_once_per_card(void **state)
{
    (void)state;
    size_t len;
    ob_model *om = chain_model_n(-1);
    uint8_t *buf = ob_pack(om, &len);
    ob_free(om);
    loom_context *cpu = context("cpu", -1, 0), *card = context("card:0", 1, 1);
    loom_model *mc, *a, *b;
    assert_int_equal(loom_model_load_memory(cpu, buf, len, "cpu", &mc), LOOM_OK);
    assert_int_equal(loom_model_load_memory(card, buf, len, "a", &a), LOOM_OK);
    assert_int_equal(loom_model_load_memory(card, buf, len, "b", &b), LOOM_OK);
    free(buf);
    size_t on_card = 0;
    for (int64_t n = 1; n <= 3; n++) {
        int64_t xd[4] = {n, 4, 16, 16};
        loom_tensor *x = random_input(LOOM_DTYPE_UINT8, 4, xd), *yc, *yf;
        loom_model *m = n == 2 ? b : a;
        assert_int_equal(loom_model_run(mc, &x, 1, &yc, 1), LOOM_OK);
        assert_int_equal(loom_model_run(m, &x, 1, &yf, 1), LOOM_OK);
        assert_int_equal(loom_tensor_size(yc), loom_tensor_size(yf));
        assert_memory_equal(loom_tensor_data(yc), loom_tensor_data(yf), loom_tensor_size(yc));
        loom_model_stats st = lm_stats_of(m);
        if (n == 1)
            on_card = st.device_weight_bytes;
        assert_true(on_card >= sizeof(int8_t) * (8 * 4 * 9 + 8 * 9 + 48));
        assert_int_equal(st.device_weight_bytes, on_card);
        assert_int_equal(st.shared_device_weight_bytes, on_card); /* uploaded once */
        loom_tensor_destroy(x);
        loom_tensor_destroy(yc);
        loom_tensor_destroy(yf);
    }
    assert_int_equal(lm_stats_of(a).plans, 2);
    loom_model_destroy(a);
    loom_model_destroy(b);
    assert_int_equal(lm_stats_of(mc).shared_device_weight_bytes, 0);
    loom_model_destroy(mc);
    loom_context_destroy(cpu);
    loom_context_destroy(card);
}

static void test_chain_runs_as_one_segment(void **state)
{
    (void)state;
    loom_context *card = context("card:0", 1, 1);
    loom_model *model = lm_load_ok(card, chain_model(), "chain");
    int64_t xd[4] = {1, 4, 16, 16};
    loom_tensor *x = random_input(LOOM_DTYPE_UINT8, 4, xd), *y;
    assert_int_equal(loom_model_run(model, &x, 1, &y, 1), LOOM_OK);
    loom_tensor_destroy(y);
    /* One segment whose inputs and outputs are only x and y. */
    lm_plan *p = model->plans;
    assert_non_null(p);
    assert_int_equal(p->n_segments, 1);
    assert_int_equal(p->segments[0].n_in, 1);
    assert_int_equal(p->segments[0].n_out, 1);
    assert_string_equal(p->segments[0].dev->name, "card:0");
    loom_tensor_destroy(x);
    loom_model_destroy(model);
    loom_context_destroy(card);
    /* And it agrees with the CPU. */
    loom_tensor_destroy(compare(chain_model(), random_input(LOOM_DTYPE_UINT8, 4, xd), false));
}

/* Q (CPU) -> two convs on the card -> DQ (CPU): the segment's small output is made
 * in the host arena before the segment reads its large input; the two must
 * not share bytes (they once did, zeroing part of the input). */
static void test_segment_output_does_not_clobber_input(void **state)
{
    (void)state;
    int64_t xd[4] = {8, 4, 16, 16}, wd[4] = {2, 4, 1, 1};
    ob_model *m = ob_new(13);
    ob_input(m, "x", LOOM_DTYPE_FLOAT, 4, xd);
    ob_output(m, "y", LOOM_DTYPE_FLOAT);
    float s1 = 0.01f, s2 = 0.02f, ws = 0.01f;
    ob_init_f32(m, "s1", 0, NULL, &s1);
    ob_init_f32(m, "s2", 0, NULL, &s2);
    ob_init_f32(m, "ws", 0, NULL, &ws);
    ob_init_byte(m, "z", LOOM_DTYPE_UINT8, 128);
    ob_init_byte(m, "wz", LOOM_DTYPE_INT8, 0);
    int8_t w[8] = {50, -20, 30, 10, -40, 60, 5, -5};
    ob_init_raw(m, "w", LOOM_DTYPE_INT8, 4, wd, w, sizeof(w));
    int64_t w0d[4] = {4, 4, 1, 1};
    int8_t w0[16] = {60, 0, 0, 0, 0, 60, 0, 0, 0, 0, 60, 0, 0, 0, 0, 60};
    ob_init_raw(m, "w0", LOOM_DTYPE_INT8, 4, w0d, w0, sizeof(w0));
    ob_add_node(m, "QuantizeLinear", "x,s1,z", "xq");
    ob_add_node(m, "QLinearConv", "xq,s1,z,w0,ws,wz,s1,z", "hq");
    ob_node *n = ob_add_node(m, "QLinearConv", "hq,s1,z,w,ws,wz,s2,z", "yq");
    int64_t st[2] = {4, 4};
    ob_attr_ints(m, n, "strides", 2, st);
    ob_add_node(m, "DequantizeLinear", "yq,s2,z", "y");
    size_t len;
    uint8_t *buf = ob_pack(m, &len);
    ob_free(m);
    loom_context *cpu = context("cpu", -1, 0), *card = context("card:0", 1, 0);
    loom_model *mc, *mf;
    assert_int_equal(loom_model_load_memory(cpu, buf, len, "cpu", &mc), LOOM_OK);
    assert_int_equal(loom_model_load_memory(card, buf, len, "card", &mf), LOOM_OK);
    free(buf);
    float *xv = malloc(sizeof(float) * 8 * 4 * 256);
    for (int i = 0; i < 8 * 4 * 256; i++)
        xv[i] = (float)((int)(rnd() % 200) - 100) / 100.0f;
    loom_tensor *x, *yc, *yf;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 4, xd, xv, sizeof(float) * 8 * 4 * 256, &x),
                     LOOM_OK);
    assert_int_equal(loom_model_run(mc, &x, 1, &yc, 1), LOOM_OK);
    assert_int_equal(loom_model_run(mf, &x, 1, &yf, 1), LOOM_OK);
    assert_memory_equal(loom_tensor_data(yc), loom_tensor_data(yf), loom_tensor_size(yc));
    loom_tensor_destroy(yc);
    loom_tensor_destroy(yf);
    loom_tensor_destroy(x);
    free(xv);
    loom_model_destroy(mc);
    loom_model_destroy(mf);
    loom_context_destroy(cpu);
    loom_context_destroy(card);
}

typedef struct thread_arg {
    loom_model *model;
    const uint8_t *want;
    size_t bytes;
    int ok;
} thread_arg;

static void *runner(void *p)
{
    thread_arg *a = p;
    int64_t xd[4] = {1, 4, 16, 16};
    loom_tensor *x, *y;
    uint8_t data[4 * 16 * 16];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7);
    loom_tensor_wrap(LOOM_DTYPE_UINT8, 4, xd, data, sizeof(data), &x);
    a->ok = 1;
    for (int r = 0; r < 20; r++) {
        if (loom_model_run(a->model, &x, 1, &y, 1)) {
            a->ok = 0;
            break;
        }
        a->ok &= memcmp(loom_tensor_data(y), a->want, a->bytes) == 0;
        loom_tensor_destroy(y);
    }
    loom_tensor_destroy(x);
    return NULL;
}

static void test_concurrent_runs_agree(void **state)
{
    (void)state;
    loom_context *card = context("card:0", 1, 1);
    loom_model *model = lm_load_ok(card, chain_model(), "chain");
    int64_t xd[4] = {1, 4, 16, 16};
    uint8_t data[4 * 16 * 16];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7);
    loom_tensor *x, *y;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_UINT8, 4, xd, data, sizeof(data), &x), LOOM_OK);
    assert_int_equal(loom_model_run(model, &x, 1, &y, 1), LOOM_OK);
    thread_arg args[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){model, loom_tensor_data(y), loom_tensor_size(y), 0};
        pthread_create(&th[i], NULL, runner, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(args[i].ok);
    }
    loom_tensor_destroy(y);
    loom_tensor_destroy(x);
    loom_model_destroy(model);
    loom_context_destroy(card);
}

static void test_unsupported_falls_back_or_fails_closed(void **state)
{
    (void)state;
    /* A float Relu is not a card op: fail-closed names the node... */
    int64_t d[2] = {2, 3};
    ob_model *m = ob_new(13);
    ob_input(m, "x", LOOM_DTYPE_FLOAT, 2, d);
    ob_output(m, "y", LOOM_DTYPE_FLOAT);
    ob_node *n = ob_add_node(m, "Relu", "x", "y");
    ob_node_name(m, n, "the_relu");
    loom_context *card = context("card:0", 1, 1);
    loom_model *model = NULL;
    size_t len;
    uint8_t *buf = ob_pack(m, &len);
    ob_free(m);
    loom_status s = loom_model_load_memory(card, buf, len, "relu", &model);
    if (!s) { /* planning may wait for the first run */
        float xv[6] = {1, -1, 2, -2, 3, -3};
        loom_tensor *x, *y;
        loom_tensor_wrap(LOOM_DTYPE_FLOAT, 2, d, xv, sizeof(xv), &x);
        s = loom_model_run(model, &x, 1, &y, 1);
        loom_tensor_destroy(x);
    }
    assert_int_equal(s, LOOM_ERR_UNSUPPORTED);
    assert_non_null(strstr(loom_last_error(), "the_relu"));
    loom_model_destroy(model);
    loom_context_destroy(card);
    /* ... and without it the CPU takes it. */
    card = context("card:0", 1, 0);
    assert_int_equal(loom_model_load_memory(card, buf, len, "relu", &model), LOOM_OK);
    loom_model_destroy(model);
    loom_context_destroy(card);
    free(buf);
    /* No emulated card asked for: card:0 does not exist (no loom.ko here). */
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "card:5";
    o.emulated_cards = 1;
    loom_context *none = NULL;
    assert_int_equal(loom_context_create(&o, &none), LOOM_ERR_NOT_FOUND);
}

/* LOOM_VISIBLE_CARDS entries: indices, names, PCI bus ids with or without the domain. */
static void test_visible_cards_list(void **state)
{
    (void)state;
    const char *pci = "0000:3b:00.0";
    assert_true(lm_cards_list_names("1", "card:1", pci));
    assert_false(lm_cards_list_names("1", "card:10", pci));
    assert_false(lm_cards_list_names("1", "xrt:1", "-"));
    assert_true(lm_cards_list_names("0, card:2", "card:2", "-"));
    assert_true(lm_cards_list_names("xrt:0", "xrt:0", "-"));
    assert_true(lm_cards_list_names("0000:3B:00.0", "card:5", pci));
    assert_true(lm_cards_list_names("5,3b:00.0", "card:7", pci));
    assert_false(lm_cards_list_names("3b:00.1", "card:7", pci));
    assert_false(lm_cards_list_names("3b:00.0", "card:7", "0001:3b:00.0"));
    assert_false(lm_cards_list_names("3b:00.0", "card:7", "-"));
    assert_false(lm_cards_list_names("", "card:0", pci));
    assert_false(lm_cards_list_names("card", "card:0", pci));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shim_emulated_plumbing),
        cmocka_unit_test(test_visible_cards_list),
        cmocka_unit_test(test_no_xrt_card_is_clean),
        cmocka_unit_test(test_accumulators_on_float_ties),
        cmocka_unit_test(test_scale_without_table_entry_stays_on_cpu),
        cmocka_unit_test(test_chain_runs_as_one_segment),
        cmocka_unit_test(test_weights_uploaded_once_per_card),
        cmocka_unit_test(test_segment_output_does_not_clobber_input),
        cmocka_unit_test(test_concurrent_runs_agree),
        cmocka_unit_test(test_unsupported_falls_back_or_fails_closed),
    };
    int total = (int)(sizeof(tests) / sizeof(tests[0]));
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    printf("%d passed, %d failed\n", total - failed, failed);
    return failed ? 1 : 0;
}
