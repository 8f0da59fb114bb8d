/*
 * Testbench of the QCONV CU: 1x1, 3x3 with padding, strides, dilations,
 * asymmetric pads, kernels wider than the input, groups, depthwise (with and
 * without a channel multiplier), K beyond one chunk, int8/uint8 mixes,
 * per-tensor and per-channel scales, bias and clamps, against a plain
 * seven-deep loop with the CPU backend's float32 requantization (tb.h).
 */
#include "tb.h"

struct ccase {
    uint32_t n, c, h, w, m, group, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
};

static uint32_t out_dim(uint32_t in, uint32_t p0, uint32_t p1, uint32_t k, uint32_t dil,
                        uint32_t st)
{
    int64_t span = (int64_t)in + p0 + p1, ext = (int64_t)dil * (k - 1) + 1;

    return span < ext ? 0 : (uint32_t)((span - ext) / st + 1);
}

static void run_case(const struct ccase *cc, const char *name)
{
    struct loom_cu_qconv_desc d;
    struct loom_cu_extent ext;
    const char *why = NULL;
    uint32_t flags =
        tb_rand() & (LOOM_CU_F_X_U8 | LOOM_CU_F_W_U8 | LOOM_CU_F_Y_U8 | LOOM_CU_F_BIAS);
    int xu = !!(flags & LOOM_CU_F_X_U8), wu = !!(flags & LOOM_CU_F_W_U8);
    int yu = !!(flags & LOOM_CU_F_Y_U8), per_ch = tb_rand() & 1, ties = tb_rand() % 4 == 0;
    float xs = ties ? 1.0f : tb_scale() * 64, ys = ties ? 1.0f : tb_scale() * 256, *s;
    uint32_t oh = out_dim(cc->h, cc->pt, cc->pb, cc->kh, cc->dh, cc->sh);
    uint32_t ow = out_dim(cc->w, cc->pl, cc->pr, cc->kw, cc->dw, cc->sw);
    uint32_t Cg = cc->c / cc->group, Mg = cc->m / cc->group;
    uint64_t xbytes = (uint64_t)cc->n * cc->c * cc->h * cc->w;
    uint64_t wbytes = (uint64_t)cc->m * Cg * cc->kh * cc->kw;
    uint64_t ybytes = (uint64_t)cc->n * cc->m * oh * ow, bad = 0;
    struct loom_rq *rq;
    int32_t *bias;
    uint8_t *x, *w, *y;
    int ok = 1;

    memset(&d, 0, sizeof(d));
    loom_cu_hdr_init(&d.hdr, LOOM_CU_KIND_QCONV, sizeof(d), flags);
    d.n = cc->n, d.c = cc->c, d.h = cc->h, d.w = cc->w, d.m = cc->m, d.group = cc->group;
    d.kh = cc->kh, d.kw = cc->kw, d.oh = oh, d.ow = ow, d.stride_h = cc->sh, d.stride_w = cc->sw;
    d.pad_t = cc->pt, d.pad_l = cc->pl, d.pad_b = cc->pb, d.pad_r = cc->pr;
    d.dil_h = cc->dh, d.dil_w = cc->dw;
    d.q.x_zp = tb_zp(xu);
    d.q.w_zp = tb_zp(wu);
    d.q.y_zp = tb_zp(yu);
    tb_act(yu, d.q.y_zp, &d.q.act_min, &d.q.act_max);
    d.q.rq_count = per_ch ? cc->m : 1;
    x = tb_buf(xbytes, 1);
    w = tb_buf(wbytes, 1);
    y = tb_buf(ybytes, 0);
    s = malloc(cc->m * sizeof(*s));
    rq = malloc(cc->m * sizeof(*rq));
    bias = malloc(cc->m * sizeof(*bias));
    for (uint32_t j = 0; j < cc->m; j++) {
        float ws = ties ? (float)ldexp(1.0, -tb_range(1, 3)) : tb_scale() * 4;

        s[j] = xs * ws / ys;
        ok &= !loom_rq_from_qlinear(xs, ws, ys, &rq[j]);
        bias[j] = tb_range(-50000, 50000);
        if (!per_ch) {
            s[j] = s[0];
            rq[j] = rq[0];
        }
    }
    ok &= !loom_cu_check(LOOM_CU_KIND_QCONV, &d, sizeof(d), &ext, &why);
    ok &= ext.bytes[0] == xbytes && ext.bytes[1] == wbytes && ext.bytes[2] == ybytes;
    if (ok)
        loom_cu_qconv(&d, rq, x, w, (flags & LOOM_CU_F_BIAS) ? bias : NULL, y);

    for (uint32_t n = 0; ok && n < cc->n; n++)
        for (uint32_t mo = 0; mo < cc->m; mo++)
            for (uint32_t oy = 0; oy < oh; oy++)
                for (uint32_t ox = 0; ox < ow; ox++) {
                    uint32_t g = mo / Mg;
                    int64_t acc = 0;
                    int32_t want, got;

                    for (uint32_t ci = 0; ci < Cg; ci++)
                        for (uint32_t ky = 0; ky < cc->kh; ky++)
                            for (uint32_t kx = 0; kx < cc->kw; kx++) {
                                int64_t iy = (int64_t)oy * cc->sh - cc->pt + (int64_t)ky * cc->dh;
                                int64_t ix = (int64_t)ox * cc->sw - cc->pl + (int64_t)kx * cc->dw;
                                int32_t xv = d.q.x_zp, wv;

                                if (iy >= 0 && ix >= 0 && iy < cc->h && ix < cc->w)
                                    xv = tb_val(x,
                                                (((uint64_t)n * cc->c + g * Cg + ci) * cc->h +
                                                 (uint64_t)iy) *
                                                        cc->w +
                                                    (uint64_t)ix,
                                                xu);
                                wv = tb_val(
                                    w, (((uint64_t)mo * Cg + ci) * cc->kh + ky) * cc->kw + kx, wu);
                                acc += (int64_t)(xv - d.q.x_zp) * (wv - d.q.w_zp);
                            }
                    if (flags & LOOM_CU_F_BIAS)
                        acc += bias[mo];
                    want = tb_requant_ref(acc, s[mo], d.q.y_zp, d.q.act_min, d.q.act_max);
                    got = tb_val(y, (((uint64_t)n * cc->m + mo) * oh + oy) * ow + ox, yu);
                    if (got != want && bad++ < 3)
                        printf("  %s: y[%u][%u][%u][%u] = %d, want %d\n", name, n, mo, oy, ox, got,
                               want);
                }
    ok &= !bad && tb_guard_ok(y, ybytes);
    tb_check(ok, "qconv", name);
    if (why && !ok)
        printf("  check: %s\n", why);
    free(x);
    free(w);
    free(y);
    free(s);
    free(rq);
    free(bias);
}

static void name_case(const struct ccase *c, const char *tag, char *buf, size_t len)
{
    snprintf(buf, len, "%s n%u c%u %ux%u m%u g%u k%ux%u s%u,%u p%u,%u,%u,%u d%u,%u", tag, c->n,
             c->c, c->h, c->w, c->m, c->group, c->kh, c->kw, c->sh, c->sw, c->pt, c->pl, c->pb,
             c->pr, c->dh, c->dw);
}

int main(int argc, char **argv)
{
    /* n c h w m group kh kw sh sw pt pl pb pr dh dw */
    const struct ccase edge[] = {
        {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1},     /* 1x1 on one pixel */
        {1, 3, 8, 8, 16, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1},    /* pointwise */
        {2, 3, 9, 7, 17, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    /* same padding */
        {1, 4, 11, 10, 5, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},   /* stride 2 */
        {1, 2, 12, 12, 3, 1, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2},   /* dilation 2 */
        {1, 3, 6, 9, 4, 1, 2, 4, 1, 3, 0, 1, 2, 3, 1, 1},     /* asymmetric */
        {1, 2, 2, 2, 3, 1, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1},     /* kernel larger than input */
        {1, 8, 7, 7, 6, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     /* two groups */
        {1, 24, 9, 9, 24, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  /* depthwise, > TN channels */
        {2, 17, 6, 5, 17, 17, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},  /* depthwise stride 2 */
        {1, 5, 6, 6, 10, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    /* depthwise multiplier 2 */
        {1, 64, 5, 5, 20, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   /* K = 576: 9 chunks */
        {1, 1, 28, 28, 32, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  /* MNIST first layer */
        {1, 32, 14, 14, 64, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, /* MNIST second layer */
        {1, 3, 1, 40, 4, 1, 1, 7, 1, 1, 0, 3, 0, 3, 1, 1},    /* 1-D along W */
    };
    int nrand = argc > 1 ? atoi(argv[1]) : 150;
    char name[160];

    for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
        name_case(&edge[i], "edge", name, sizeof(name));
        run_case(&edge[i], name);
    }
    for (int i = 0; i < nrand; i++) {
        struct ccase c;
        uint32_t g = 1 + tb_rand() % 3, kind = tb_rand() % 4;

        do {
            c.n = 1 + tb_rand() % 2;
            c.group = kind == 0 ? 0 : g;
            c.c = kind == 0 ? 1 + tb_rand() % 20 : g * (1 + tb_rand() % 6);
            if (kind == 0)
                c.group = c.c; /* depthwise */
            c.m = kind == 0 ? c.c : c.group * (1 + tb_rand() % 8);
            c.h = 1 + tb_rand() % 12;
            c.w = 1 + tb_rand() % 12;
            c.kh = 1 + tb_rand() % 4;
            c.kw = 1 + tb_rand() % 4;
            c.sh = 1 + tb_rand() % 3;
            c.sw = 1 + tb_rand() % 3;
            c.dh = 1 + tb_rand() % 2;
            c.dw = 1 + tb_rand() % 2;
            c.pt = tb_rand() % 3;
            c.pl = tb_rand() % 3;
            c.pb = tb_rand() % 3;
            c.pr = tb_rand() % 3;
        } while (!out_dim(c.h, c.pt, c.pb, c.kh, c.dh, c.sh) ||
                 !out_dim(c.w, c.pl, c.pr, c.kw, c.dw, c.sw));
        name_case(&c, "random", name, sizeof(name));
        run_case(&c, name);
    }
    return tb_finish("hls-qconv");
}
