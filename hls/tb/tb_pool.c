/*
 * Testbench of the POOL CU: max and average, strides, asymmetric padding,
 * count_include_pad, ceil_mode output sizes, dilation (max), global pooling,
 * int8/uint8 and requantizing max, against a plain reference that counts
 * average windows the way PyTorch does (hstart/hend clipping) and applies the
 * table entry's float32 scale as the CPU backend's float requantization does.
 */
#include "tb.h"

struct pcase {
    uint32_t n, c, h, w, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
    int avg, count_pad, ceil, requant;
};

static uint32_t out_dim(uint32_t in, uint32_t p0, uint32_t p1, uint32_t k, uint32_t dil,
                        uint32_t st, int ceil)
{
    int64_t span = (int64_t)in + p0 + p1, ext = (int64_t)dil * (k - 1) + 1, o;

    if (span < ext)
        return 0;
    o = ceil ? (span - ext + st - 1) / st + 1 : (span - ext) / st + 1;
    if (ceil && (o - 1) * st >= (int64_t)in + p0)
        o--;
    return (uint32_t)o;
}

static int32_t ref_rq(int64_t v, struct loom_rq rq, int32_t zp, int32_t lo, int32_t hi)
{
    return tb_requant_ref(v, tb_rq_scale(rq), zp, lo, hi);
}

static void run_case(const struct pcase *pc, const char *name)
{
    struct loom_cu_pool_desc d;
    struct loom_cu_extent ext;
    const char *why = NULL;
    uint32_t flags = (pc->avg ? LOOM_CU_F_POOL_AVG : 0) | (pc->count_pad ? LOOM_CU_F_COUNT_PAD : 0);
    int xu = tb_rand() & 1, yu = pc->avg || pc->requant ? (int)(tb_rand() & 1) : xu;
    uint32_t oh = out_dim(pc->h, pc->pt, pc->pb, pc->kh, pc->dh, pc->sh, pc->ceil);
    uint32_t ow = out_dim(pc->w, pc->pl, pc->pr, pc->kw, pc->dw, pc->sw, pc->ceil);
    uint64_t xbytes = (uint64_t)pc->n * pc->c * pc->h * pc->w;
    uint64_t ybytes = (uint64_t)pc->n * pc->c * oh * ow, bad = 0;
    uint32_t nrq = pc->avg ? pc->kh * pc->kw : pc->requant ? 1 : 0;
    float s = tb_scale() * 512;
    struct loom_rq rq[LOOM_CU_MAX_WINDOW];
    uint8_t *x, *y;
    int ok = 1;

    flags |= (xu ? LOOM_CU_F_X_U8 : 0) | (yu ? LOOM_CU_F_Y_U8 : 0);
    memset(&d, 0, sizeof(d));
    loom_cu_hdr_init(&d.hdr, LOOM_CU_KIND_POOL, sizeof(d), flags);
    d.n = pc->n, d.c = pc->c, d.h = pc->h, d.w = pc->w, d.oh = oh, d.ow = ow;
    d.kh = pc->kh, d.kw = pc->kw, d.stride_h = pc->sh, d.stride_w = pc->sw;
    d.pad_t = pc->pt, d.pad_l = pc->pl, d.pad_b = pc->pb, d.pad_r = pc->pr;
    d.dil_h = pc->dh, d.dil_w = pc->dw;
    d.q.x_zp = tb_zp(xu);
    d.q.y_zp = nrq ? tb_zp(yu) : 0;
    tb_act(yu, d.q.y_zp, &d.q.act_min, &d.q.act_max);
    d.q.rq_count = nrq;
    for (uint32_t i = 0; i < nrq; i++)
        ok &= !loom_rq_from_scale(pc->avg ? s / (float)(i + 1) : s, &rq[i]);
    x = tb_buf(xbytes, 1);
    y = tb_buf(ybytes, 0);
    ok &= !loom_cu_check(LOOM_CU_KIND_POOL, &d, sizeof(d), &ext, &why);
    ok &= ext.bytes[0] == xbytes && ext.bytes[1] == ybytes;
    if (ok)
        loom_cu_pool(&d, rq, x, y);

    for (uint64_t pl = 0; ok && pl < (uint64_t)pc->n * pc->c; pl++)
        for (uint32_t oy = 0; oy < oh; oy++)
            for (uint32_t ox = 0; ox < ow; ox++) {
                int64_t hs = (int64_t)oy * pc->sh - pc->pt, ws = (int64_t)ox * pc->sw - pc->pl;
                int64_t sum = 0, cnt = 0, mx = INT64_MIN;
                int32_t want, got;

                for (uint32_t ky = 0; ky < pc->kh; ky++)
                    for (uint32_t kx = 0; kx < pc->kw; kx++) {
                        int64_t iy = hs + (int64_t)ky * pc->dh, ix = ws + (int64_t)kx * pc->dw;

                        if (iy < 0 || ix < 0 || iy >= pc->h || ix >= pc->w)
                            continue;
                        int32_t v =
                            tb_val(x, (pl * pc->h + (uint64_t)iy) * pc->w + (uint64_t)ix, xu);
                        sum += v - d.q.x_zp;
                        mx = v > mx ? v : mx;
                        cnt++;
                    }
                if (pc->avg && pc->count_pad) { /* PyTorch: clip to the padded extent */
                    int64_t he = hs + pc->kh, we = ws + pc->kw;

                    he = he < (int64_t)pc->h + pc->pb ? he : (int64_t)pc->h + pc->pb;
                    we = we < (int64_t)pc->w + pc->pr ? we : (int64_t)pc->w + pc->pr;
                    cnt = (he - hs) * (we - ws);
                }
                if (pc->avg)
                    want = ref_rq(sum, rq[cnt - 1], d.q.y_zp, d.q.act_min, d.q.act_max);
                else if (nrq)
                    want = ref_rq(mx - d.q.x_zp, rq[0], d.q.y_zp, d.q.act_min, d.q.act_max);
                else
                    want = mx < d.q.act_min   ? d.q.act_min
                           : mx > d.q.act_max ? d.q.act_max
                                              : (int32_t)mx;
                got = tb_val(y, (pl * oh + oy) * ow + ox, yu);
                if (got != want && bad++ < 3)
                    printf("  %s: y[%llu][%u][%u] = %d, want %d (sum %lld cnt %lld)\n", name,
                           (unsigned long long)pl, oy, ox, got, want, (long long)sum,
                           (long long)cnt);
            }
    ok &= !bad && tb_guard_ok(y, ybytes);
    tb_check(ok, "pool", name);
    if (why && !ok)
        printf("  check: %s\n", why);
    free(x);
    free(y);
}

static void name_case(const struct pcase *c, const char *tag, char *buf, size_t len)
{
    snprintf(buf, len, "%s %s%s%s%s n%u c%u %ux%u k%ux%u s%u,%u p%u,%u,%u,%u d%u,%u", tag,
             c->avg ? "avg" : "max", c->count_pad ? " count_pad" : "", c->ceil ? " ceil" : "",
             c->requant ? " requant" : "", c->n, c->c, c->h, c->w, c->kh, c->kw, c->sh, c->sw,
             c->pt, c->pl, c->pb, c->pr, c->dh, c->dw);
}

int main(int argc, char **argv)
{
    /* n c h w kh kw sh sw pt pl pb pr dh dw avg count_pad ceil requant */
    const struct pcase edge[] = {
        {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0},
        {1, 4, 28, 28, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0}, /* MNIST max 2x2 */
        {2, 3, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
        {1, 3, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0},
        {1, 3, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},
        {1, 2, 6, 6, 3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0}, /* ceil_mode adds a window */
        {1, 2, 6, 6, 3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0},
        {1, 2, 5, 5, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0},
        {1, 8, 7, 7, 7, 7, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0}, /* global average */
        {1, 8, 32, 32, 32, 32, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0},
        {1, 2, 9, 9, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0}, /* dilated max */
        {1, 2, 8, 8, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1}, /* requantizing max */
        {1, 1, 5, 9, 1, 4, 1, 3, 0, 1, 0, 2, 1, 1, 1, 1, 1, 0},
    };
    int nrand = argc > 1 ? atoi(argv[1]) : 200;
    char name[160];

    for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
        name_case(&edge[i], "edge", name, sizeof(name));
        run_case(&edge[i], name);
    }
    for (int i = 0; i < nrand; i++) {
        struct pcase c;

        do {
            c.avg = tb_rand() & 1;
            c.count_pad = c.avg && (tb_rand() & 1);
            c.ceil = tb_rand() & 1;
            c.requant = !c.avg && (tb_rand() & 1);
            c.n = 1 + tb_rand() % 2;
            c.c = 1 + tb_rand() % 4;
            c.h = 1 + tb_rand() % 12;
            c.w = 1 + tb_rand() % 12;
            c.kh = 1 + tb_rand() % 4;
            c.kw = 1 + tb_rand() % 4;
            c.sh = 1 + tb_rand() % 3;
            c.sw = 1 + tb_rand() % 3;
            c.dh = c.avg ? 1 : 1 + tb_rand() % 2;
            c.dw = c.avg ? 1 : 1 + tb_rand() % 2;
            c.pt = tb_rand() % c.kh;
            c.pl = tb_rand() % c.kw;
            c.pb = tb_rand() % c.kh;
            c.pr = tb_rand() % c.kw;
        } while (!out_dim(c.h, c.pt, c.pb, c.kh, c.dh, c.sh, c.ceil) ||
                 !out_dim(c.w, c.pl, c.pr, c.kw, c.dw, c.sw, c.ceil));
        name_case(&c, "random", name, sizeof(name));
        run_case(&c, name);
    }
    return tb_finish("hls-pool");
}
