/*
 * test_opgeom.c - core's window geometry (core/opgeom.h), which every backend
 * takes its pads and output sizes from: each auto_pad mode with odd and even
 * total pads, strides, dilations, ceil_mode, ConvTranspose's output_padding
 * and output_shape, groups, the 2-D view; invalid attributes fail naming the
 * node and the rule. Also the node attribute accessors (core/graph.h).
 */
#include <stdio.h>
#include <string.h>

#include "core/opgeom.h"
#include "core/tensor.h"
#include "lib/test_main.h"

/* A node with up to 8 attributes, built in place (nothing is owned). */
typedef struct tnode {
    lm_node n;
    lm_attr a[8];
} tnode;

static void tn_init(tnode *t, const char *op_type, const char *name)
{
    memset(t, 0, sizeof(*t));
    t->n.name = (char *)name;
    t->n.op_type = (char *)op_type;
    t->n.domain = (char *)"";
    t->n.attr = t->a;
}

static lm_attr *tn_attr(tnode *t, const char *name, lm_attr_type type)
{
    lm_attr *a = &t->a[t->n.n_attr++];
    a->name = (char *)name;
    a->type = type;
    return a;
}

static void tn_int(tnode *t, const char *name, int64_t v)
{
    tn_attr(t, name, LM_ATTR_INT)->i = v;
}

static void tn_str(tnode *t, const char *name, const char *s)
{
    tn_attr(t, name, LM_ATTR_STRING)->s = (char *)s;
}

static void tn_ints(tnode *t, const char *name, int n, int64_t *v)
{
    lm_attr *a = tn_attr(t, name, LM_ATTR_INTS);
    a->n = n;
    a->ints = v;
}

static loom_tensor shape(int rank, const int64_t *dims)
{
    loom_tensor t;
    memset(&t, 0, sizeof(t));
    t.dtype = LOOM_DTYPE_FLOAT;
    t.rank = rank;
    memcpy(t.dims, dims, sizeof(int64_t) * (size_t)rank);
    return t;
}

/* A 1-D Conv of one channel: input extent @in, kernel @k. */
static loom_status conv1d(tnode *t, int64_t in, int64_t k, lm_conv_geom *g)
{
    loom_tensor x = shape(3, (int64_t[]){1, 1, in}), w = shape(3, (int64_t[]){1, 1, k});
    return lm_geom_conv(&t->n, &x, &w, g);
}

/* A 1-D ConvTranspose of one channel. */
static loom_status convt1d(tnode *t, int64_t in, int64_t k, lm_conv_geom *g)
{
    loom_tensor x = shape(3, (int64_t[]){1, 1, in}), w = shape(3, (int64_t[]){1, 1, k});
    return lm_geom_conv_transpose(&t->n, &x, &w, g);
}

static void expect_axis(const lm_window_geom *g, int64_t pb, int64_t pe, int64_t out)
{
    assert_int_equal(g->pb[0], pb);
    assert_int_equal(g->pe[0], pe);
    assert_int_equal(g->out[0], out);
}

/* @st failed with @want, and the message names node @name and says @rule. */
static void expect_fail(loom_status st, loom_status want, const char *name, const char *rule)
{
    char who[96];
    snprintf(who, sizeof(who), "node '%s' (", name);
    assert_int_equal(st, want);
    const char *msg = loom_last_error();
    if (!strstr(msg, who) || !strstr(msg, rule))
        fail_msg("message \"%s\" lacks \"%s\" or \"%s\"", msg, who, rule);
}

/* ---- auto_pad ------------------------------------------------------------------ */

/* SAME pads to ceil(in / stride) outputs; an odd total's extra goes at the end
 * (SAME_UPPER) or the start (SAME_LOWER); an even one splits evenly. */
static void same_odd_and_even_totals(void **state)
{
    struct {
        int64_t in, k, s; /* -> total pad, output */
        int64_t upper_pb, upper_pe, lower_pb, lower_pe, out;
    } cases[] = {
        {5, 4, 1, 1, 2, 2, 1, 5}, /* total 3 */
        {5, 3, 1, 1, 1, 1, 1, 5}, /* total 2 */
        {6, 3, 2, 0, 1, 1, 0, 3}, /* total 1 */
        {7, 3, 2, 1, 1, 1, 1, 4}, /* total 2 */
        {8, 1, 3, 0, 0, 0, 0, 3}, /* total -1: no padding */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lm_conv_geom g;
        tnode t;
        int64_t s[1] = {cases[i].s};
        tn_init(&t, "Conv", "same");
        tn_str(&t, "auto_pad", "SAME_UPPER");
        tn_ints(&t, "strides", 1, s);
        assert_int_equal(conv1d(&t, cases[i].in, cases[i].k, &g), LOOM_OK);
        expect_axis(&g.win, cases[i].upper_pb, cases[i].upper_pe, cases[i].out);
        t.a[0].s = (char *)"SAME_LOWER";
        assert_int_equal(conv1d(&t, cases[i].in, cases[i].k, &g), LOOM_OK);
        expect_axis(&g.win, cases[i].lower_pb, cases[i].lower_pe, cases[i].out);
    }
}

/* VALID ignores pads; NOTSET (or "") takes them, asymmetric too. */
static void valid_and_explicit_pads(void **state)
{
    lm_conv_geom g;
    tnode t;
    int64_t pads[2] = {1, 2}, s[1] = {2};
    tn_init(&t, "Conv", "pads");
    tn_ints(&t, "pads", 2, pads);
    tn_ints(&t, "strides", 1, s);
    tn_str(&t, "auto_pad", "VALID");
    assert_int_equal(conv1d(&t, 5, 3, &g), LOOM_OK);
    expect_axis(&g.win, 0, 0, 2);
    t.a[2].s = (char *)"NOTSET";
    assert_int_equal(conv1d(&t, 5, 3, &g), LOOM_OK);
    expect_axis(&g.win, 1, 2, 3); /* (5 + 3 - 3) / 2 + 1 */
    t.a[2].s = (char *)"";
    assert_int_equal(conv1d(&t, 5, 3, &g), LOOM_OK);
    expect_axis(&g.win, 1, 2, 3);
}

/* A dilated kernel spans (k - 1) * d + 1 inputs. */
static void dilation(void **state)
{
    lm_conv_geom g;
    tnode t;
    int64_t d[1] = {2};
    tn_init(&t, "Conv", "dil");
    tn_ints(&t, "dilations", 1, d);
    assert_int_equal(conv1d(&t, 7, 3, &g), LOOM_OK);
    expect_axis(&g.win, 0, 0, 3);
    assert_int_equal(g.win.d[0], 2);
    tn_str(&t, "auto_pad", "SAME_UPPER");
    assert_int_equal(conv1d(&t, 7, 3, &g), LOOM_OK);
    expect_axis(&g.win, 2, 2, 7);
}

/* ---- pools ----------------------------------------------------------------------- */

static loom_status pool1d(tnode *t, int64_t in, lm_pool_geom *g)
{
    loom_tensor x = shape(3, (int64_t[]){1, 1, in});
    return lm_geom_pool(&t->n, &x, g);
}

/* ceil_mode adds the last partial window, unless it would start in the end padding. */
static void ceil_mode(void **state)
{
    lm_pool_geom g;
    tnode t;
    int64_t k3[1] = {3}, k2[1] = {2}, s[1] = {2}, pads[2] = {0, 2};
    tn_init(&t, "MaxPool", "pool");
    tn_ints(&t, "kernel_shape", 1, k3);
    tn_ints(&t, "strides", 1, s);
    assert_int_equal(pool1d(&t, 6, &g), LOOM_OK);
    expect_axis(&g.win, 0, 0, 2);
    assert_false(g.ceil_mode);
    tn_int(&t, "ceil_mode", 1);
    assert_int_equal(pool1d(&t, 6, &g), LOOM_OK);
    expect_axis(&g.win, 0, 0, 3);
    assert_true(g.ceil_mode);
    /* k 2, pads 0 + 2 over 5: floor 3; ceil would be 4, but window 4 starts
     * at 6, past the input and its start padding */
    t.a[0].ints = k2;
    tn_ints(&t, "pads", 2, pads);
    assert_int_equal(pool1d(&t, 5, &g), LOOM_OK);
    expect_axis(&g.win, 0, 2, 3);
}

static void pool_flags_and_2d(void **state)
{
    lm_pool_geom g;
    tnode t;
    int64_t ks[2] = {3, 2}, s[2] = {2, 1}, pads[4] = {1, 0, 1, 1};
    tn_init(&t, "AveragePool", "avg");
    tn_ints(&t, "kernel_shape", 2, ks);
    tn_ints(&t, "strides", 2, s);
    tn_ints(&t, "pads", 4, pads);
    tn_int(&t, "count_include_pad", 1);
    loom_tensor x = shape(4, (int64_t[]){2, 3, 7, 5});
    assert_int_equal(lm_geom_pool(&t.n, &x, &g), LOOM_OK);
    assert_true(g.count_include_pad);
    assert_false(g.col_major);
    lm_conv2d_geom v = lm_geom_2d(&g.win, 3, 3);
    assert_int_equal(v.H, 7);
    assert_int_equal(v.W, 5);
    assert_int_equal(v.OH, 4); /* (7 + 2 - 3) / 2 + 1 */
    assert_int_equal(v.OW, 5); /* (5 + 1 - 2) / 1 + 1 */
    assert_int_equal(v.pt, 1);
    assert_int_equal(v.pb, 1);
    assert_int_equal(v.pl, 0);
    assert_int_equal(v.pr, 1);
    assert_int_equal(g.win.out_size, 20);
    assert_int_equal(g.win.k_size, 6);
}

static void global_pool(void **state)
{
    lm_window_geom g;
    tnode t;
    tn_init(&t, "GlobalAveragePool", "gap");
    loom_tensor x = shape(4, (int64_t[]){1, 8, 6, 5});
    assert_int_equal(lm_geom_global_pool(&t.n, &x, &g), LOOM_OK);
    assert_int_equal(g.k_size, 30);
    assert_int_equal(g.out_size, 1);
    x.dims[3] = 0;
    expect_fail(lm_geom_global_pool(&t.n, &x, &g), LOOM_ERR_SHAPE, "gap", "empty spatial extent");
}

/* ---- Conv groups, 2-D view ---------------------------------------------------------- */

static void conv_groups_and_2d(void **state)
{
    lm_conv_geom g;
    tnode t;
    tn_init(&t, "Conv", "grouped");
    tn_int(&t, "group", 2);
    loom_tensor x = shape(4, (int64_t[]){1, 4, 9, 9}), w = shape(4, (int64_t[]){6, 2, 3, 3});
    assert_int_equal(lm_geom_conv(&t.n, &x, &w, &g), LOOM_OK);
    assert_int_equal(g.Cg, 2);
    assert_int_equal(g.Mg, 3);
    assert_int_equal(g.kdim, 18);
    lm_conv2d_geom v = lm_geom_2d(&g.win, g.C, g.M);
    assert_int_equal(v.OH, 7);
    assert_int_equal(v.KW, 3);
    assert_int_equal(v.M, 6);
    /* one spatial axis reads as H = 1 */
    assert_int_equal(conv1d(&t, 9, 4, &g), LOOM_ERR_SHAPE); /* 1 channel, group 2 */
    t.n.n_attr = 0;
    assert_int_equal(conv1d(&t, 9, 4, &g), LOOM_OK);
    v = lm_geom_2d(&g.win, 1, 1);
    assert_int_equal(v.H, 1);
    assert_int_equal(v.OH, 1);
    assert_int_equal(v.KH, 1);
    assert_int_equal(v.OW, 6);
}

/* ---- ConvTranspose ---------------------------------------------------------------- */

/* Natural output s * (in - 1) + output_padding + k, less the pads. */
static void transpose_output_padding(void **state)
{
    lm_conv_geom g;
    tnode t;
    int64_t s[1] = {2}, opad[1] = {1}, pads[2] = {1, 1};
    tn_init(&t, "ConvTranspose", "up");
    tn_ints(&t, "strides", 1, s);
    tn_ints(&t, "output_padding", 1, opad);
    assert_int_equal(convt1d(&t, 3, 3, &g), LOOM_OK);
    expect_axis(&g.win, 0, 0, 8);
    tn_ints(&t, "pads", 2, pads);
    assert_int_equal(convt1d(&t, 3, 3, &g), LOOM_OK);
    expect_axis(&g.win, 1, 1, 6);
}

/* output_shape or SAME sets the total pad (natural - out) instead of pads. */
static void transpose_output_shape_and_same(void **state)
{
    lm_conv_geom g;
    tnode t;
    int64_t s[1] = {2}, os[1] = {6}, os_nc[3] = {1, 1, 8}, pads[2] = {3, 3};
    tn_init(&t, "ConvTranspose", "up");
    tn_ints(&t, "strides", 1, s);
    tn_ints(&t, "pads", 2, pads);
    tn_ints(&t, "output_shape", 1, os); /* natural 7: total 1, at the start */
    assert_int_equal(convt1d(&t, 3, 3, &g), LOOM_OK);
    expect_axis(&g.win, 1, 0, 6);
    t.a[2].n = 3; /* N x C x ... given too; total -1 grows the end */
    t.a[2].ints = os_nc;
    assert_int_equal(convt1d(&t, 3, 3, &g), LOOM_OK);
    expect_axis(&g.win, 0, -1, 8);
    t.n.n_attr = 1;
    tn_str(&t, "auto_pad", "SAME_UPPER"); /* out 3 * 2: total 1, at the end */
    assert_int_equal(convt1d(&t, 3, 3, &g), LOOM_OK);
    expect_axis(&g.win, 0, 1, 6);
    t.a[1].s = (char *)"SAME_LOWER";
    assert_int_equal(convt1d(&t, 3, 3, &g), LOOM_OK);
    expect_axis(&g.win, 1, 0, 6);
}

static void transpose_groups(void **state)
{
    lm_conv_geom g;
    tnode t;
    tn_init(&t, "ConvTranspose", "upg");
    tn_int(&t, "group", 2);
    loom_tensor x = shape(4, (int64_t[]){1, 4, 3, 3}), w = shape(4, (int64_t[]){4, 3, 2, 2});
    assert_int_equal(lm_geom_conv_transpose(&t.n, &x, &w, &g), LOOM_OK);
    assert_int_equal(g.M, 6);
    assert_int_equal(g.Mg, 3);
    assert_int_equal(g.Cg, 2);
    assert_int_equal(g.kdim, 12);
    assert_int_equal(g.win.out[0], 4);
}

/* ---- invalid attributes --------------------------------------------------------------- */

static void invalid_attributes_name_the_node(void **state)
{
    lm_conv_geom g;
    tnode t;
    int64_t two[2] = {1, 1}, zero[1] = {0}, neg[1] = {-2}, negpad[2] = {0, -1};
    tn_init(&t, "Conv", "bad");
    tn_ints(&t, "strides", 2, two);
    expect_fail(conv1d(&t, 5, 3, &g), LOOM_ERR_INVALID_MODEL, "bad",
                "strides has 2 values, expected 1");
    t.a[0].n = 1;
    t.a[0].ints = zero;
    expect_fail(conv1d(&t, 5, 3, &g), LOOM_ERR_INVALID_MODEL, "bad", "strides[0] = 0 out of range");
    t.a[0].ints = neg;
    expect_fail(conv1d(&t, 5, 3, &g), LOOM_ERR_INVALID_MODEL, "bad", "strides[0] = -2");
    t.a[0].name = (char *)"dilations";
    expect_fail(conv1d(&t, 5, 3, &g), LOOM_ERR_INVALID_MODEL, "bad", "dilations[0] = -2");
    t.a[0].name = (char *)"pads";
    t.a[0].n = 2;
    t.a[0].ints = negpad;
    expect_fail(conv1d(&t, 5, 3, &g), LOOM_ERR_INVALID_MODEL, "bad", "pads[1] = -1");
    t.n.n_attr = 0;
    tn_str(&t, "auto_pad", "SAME");
    expect_fail(conv1d(&t, 5, 3, &g), LOOM_ERR_INVALID_MODEL, "bad", "auto_pad 'SAME'");
}

/* An output extent below 1: the kernel exceeds the padded input. */
static void output_below_one(void **state)
{
    lm_conv_geom g;
    lm_pool_geom pg;
    tnode t;
    int64_t k[1] = {4};
    tn_init(&t, "Conv", "small");
    expect_fail(conv1d(&t, 3, 4, &g), LOOM_ERR_SHAPE, "small", "kernel extent 4 larger");
    tn_init(&t, "MaxPool", "smallpool");
    tn_ints(&t, "kernel_shape", 1, k);
    expect_fail(pool1d(&t, 2, &pg), LOOM_ERR_SHAPE, "smallpool", "larger than padded input");
    int64_t pads[2] = {4, 4};
    tn_init(&t, "ConvTranspose", "smallup");
    tn_ints(&t, "pads", 2, pads);
    expect_fail(convt1d(&t, 2, 2, &g), LOOM_ERR_SHAPE, "smallup", "exceed the output extent");
}

static void invalid_shapes_and_pool_attributes(void **state)
{
    lm_conv_geom g;
    lm_pool_geom pg;
    tnode t;
    int64_t ks[1] = {5}, os[2] = {4, 4};
    tn_init(&t, "Conv", "shapes");
    tn_ints(&t, "kernel_shape", 1, ks);
    expect_fail(conv1d(&t, 9, 3, &g), LOOM_ERR_INVALID_MODEL, "shapes", "kernel_shape[0] = 5");
    t.n.n_attr = 0;
    loom_tensor x = shape(2, (int64_t[]){1, 4}), w = shape(2, (int64_t[]){1, 4});
    expect_fail(lm_geom_conv(&t.n, &x, &w, &g), LOOM_ERR_SHAPE, "shapes", "X has rank 2");
    x = shape(4, (int64_t[]){1, 3, 5, 5});
    w = shape(4, (int64_t[]){4, 2, 3, 3});
    expect_fail(lm_geom_conv(&t.n, &x, &w, &g), LOOM_ERR_SHAPE, "shapes", "per group");
    tn_int(&t, "group", 0);
    expect_fail(lm_geom_conv(&t.n, &x, &w, &g), LOOM_ERR_INVALID_MODEL, "shapes", "group 0");
    tn_init(&t, "MaxPool", "nokernel");
    expect_fail(pool1d(&t, 5, &pg), LOOM_ERR_INVALID_MODEL, "nokernel", "kernel_shape");
    tn_ints(&t, "kernel_shape", 1, ks);
    tn_int(&t, "ceil_mode", 2);
    expect_fail(pool1d(&t, 5, &pg), LOOM_ERR_INVALID_MODEL, "nokernel", "ceil_mode 2");
    tn_init(&t, "ConvTranspose", "upshape");
    tn_ints(&t, "output_shape", 2, os);
    expect_fail(convt1d(&t, 3, 3, &g), LOOM_ERR_INVALID_MODEL, "upshape",
                "output_shape has 2 values");
}

/* ---- attribute accessors -------------------------------------------------------------- */

static void attribute_accessors(void **state)
{
    tnode t;
    int64_t v[2] = {3, 4};
    tn_init(&t, "Op", "attrs");
    tn_int(&t, "alpha", 2); /* a float written as an INT */
    tn_str(&t, "mode", "linear");
    tn_ints(&t, "axes", 2, v);
    lm_attr *u = tn_attr(&t, "untyped", LM_ATTR_UNDEFINED);
    u->i = 7;
    assert_true(lm_node_attr_float(&t.n, "alpha", 0.5f) == 2.0f);
    assert_int_equal(lm_node_attr_int(&t.n, "alpha", 9), 2);
    assert_int_equal(lm_node_attr_int(&t.n, "mode", 9), 9); /* wrong type: the default */
    assert_string_equal(lm_node_attr_str(&t.n, "mode", "x"), "linear");
    assert_string_equal(lm_node_attr_str(&t.n, "nope", "x"), "x");
    assert_int_equal(lm_node_attr_int(&t.n, "untyped", 0), 7);
    const int64_t *ints;
    assert_int_equal(lm_node_attr_ints(&t.n, "axes", &ints), 2);
    assert_int_equal(ints[1], 4);
    assert_int_equal(lm_node_attr_ints(&t.n, "mode", &ints), -1);
    assert_null(ints);
    const float *fl;
    assert_int_equal(lm_node_attr_floats(&t.n, "axes", &fl), -1);
    assert_null(lm_node_attr_tensor(&t.n, "axes"));
    assert_true(lm_node_has_attr(&t.n, "mode"));
    assert_false(lm_node_has_attr(&t.n, "nope"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(same_odd_and_even_totals),
    cmocka_unit_test(valid_and_explicit_pads),
    cmocka_unit_test(dilation),
    cmocka_unit_test(ceil_mode),
    cmocka_unit_test(pool_flags_and_2d),
    cmocka_unit_test(global_pool),
    cmocka_unit_test(conv_groups_and_2d),
    cmocka_unit_test(transpose_output_padding),
    cmocka_unit_test(transpose_output_shape_and_same),
    cmocka_unit_test(transpose_groups),
    cmocka_unit_test(invalid_attributes_name_the_node),
    cmocka_unit_test(output_below_one),
    cmocka_unit_test(invalid_shapes_and_pool_attributes),
    cmocka_unit_test(attribute_accessors),
};

LM_TEST_MAIN(tests)
