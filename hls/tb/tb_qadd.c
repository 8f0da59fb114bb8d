/*
 * Testbench of the QADD CU: same-shape, per-channel ([1,C,1,1]), scalar and
 * two-sided broadcasts, int8/uint8 mixes, clamps, against a reference that
 * evaluates the exact value of the two fixed-point terms and rounds once.
 * It also counts how often the result differs from the real-valued
 * (a - a_zp) * a_scale / y_scale + (b - b_zp) * b_scale / y_scale: the
 * fixed-point scales' only error.
 */
#include "tb.h"

static uint64_t real_diffs, real_total;

static void run_case(const uint32_t dims[4], const uint32_t amask, const uint32_t bmask,
                     const char *name)
{
    struct loom_cu_qadd_desc d;
    struct loom_cu_extent ext;
    const char *why = NULL;
    uint32_t flags = tb_rand() & (LOOM_CU_F_X_U8 | LOOM_CU_F_W_U8 | LOOM_CU_F_Y_U8);
    int au = !!(flags & LOOM_CU_F_X_U8), bu = !!(flags & LOOM_CU_F_W_U8);
    int yu = !!(flags & LOOM_CU_F_Y_U8);
    double as = tb_scale() * 16, bs = tb_scale() * 16, ys = tb_scale() * 32;
    uint64_t abytes, bbytes, n = 1, bad = 0, sa = 1, sb = 1;
    uint8_t *a, *b, *y;
    int ok = 1;

    memset(&d, 0, sizeof(d));
    loom_cu_hdr_init(&d.hdr, LOOM_CU_KIND_QADD, sizeof(d), flags);
    /* Dense strides over the dims an input has (mask bit i: dim i present). */
    for (int i = 3; i >= 0; i--) {
        d.dims[i] = dims[i];
        d.a_strides[i] = (amask >> i) & 1 ? (uint32_t)sa : 0;
        d.b_strides[i] = (bmask >> i) & 1 ? (uint32_t)sb : 0;
        sa *= (amask >> i) & 1 ? dims[i] : 1;
        sb *= (bmask >> i) & 1 ? dims[i] : 1;
        n *= dims[i];
    }
    abytes = sa;
    bbytes = sb;
    d.a_zp = tb_zp(au);
    d.b_zp = tb_zp(bu);
    d.y_zp = tb_zp(yu);
    tb_act(yu, d.y_zp, &d.act_min, &d.act_max);
    ok &= !loom_rq_pair_from_scales(as / ys, bs / ys, &d.a_mult, &d.b_mult, &d.shift);
    a = tb_buf(abytes, 1);
    b = tb_buf(bbytes, 1);
    y = tb_buf(n, 0);
    ok &= !loom_cu_check(LOOM_CU_KIND_QADD, &d, sizeof(d), &ext, &why);
    ok &= ext.bytes[0] == abytes && ext.bytes[1] == bbytes && ext.bytes[2] == n;
    if (ok)
        loom_cu_qadd(&d, a, b, y);
    for (uint64_t o = 0; ok && o < n; o++) {
        uint64_t rem = o, ai = 0, bi = 0;
        long double fa = ldexpl(d.a_mult, -d.shift), fb = ldexpl(d.b_mult, -d.shift), v, r;
        int32_t want, got, av, bv;

        for (int i = 3; i >= 0; i--) {
            ai += (rem % dims[i]) * d.a_strides[i];
            bi += (rem % dims[i]) * d.b_strides[i];
            rem /= dims[i];
        }
        av = tb_val(a, ai, au) - d.a_zp;
        bv = tb_val(b, bi, bu) - d.b_zp;
        v = nearbyintl(av * fa + bv * fb) + d.y_zp;
        want = v < d.act_min ? d.act_min : v > d.act_max ? d.act_max : (int32_t)v;
        r = nearbyintl(av * ((long double)as / ys) + bv * ((long double)bs / ys)) + d.y_zp;
        r = r < d.act_min ? d.act_min : r > d.act_max ? d.act_max : r;
        real_diffs += r != want;
        real_total++;
        got = tb_val(y, o, yu);
        if (got != want && bad++ < 3)
            printf("  %s: y[%llu] = %d, want %d\n", name, (unsigned long long)o, got, want);
    }
    ok &= !bad && tb_guard_ok(y, n);
    tb_check(ok, "qadd", name);
    if (why && !ok)
        printf("  check: %s\n", why);
    free(a);
    free(b);
    free(y);
}

int main(int argc, char **argv)
{
    static const struct {
        uint32_t dims[4], amask, bmask;
    } edge[] = {
        {{1, 1, 1, 1}, 15, 15}, {{1, 1, 1, 1000}, 15, 15}, {{2, 16, 7, 7}, 15, 15},
        {{2, 16, 7, 7}, 15, 2}, {{2, 16, 7, 7}, 2, 15},    {{1, 3, 5, 5}, 15, 0},
        {{3, 4, 5, 6}, 9, 6},   {{1, 1, 33, 17}, 15, 8},
    };
    int nrand = argc > 1 ? atoi(argv[1]) : 200;
    char name[96];

    for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
        snprintf(name, sizeof(name), "edge [%u,%u,%u,%u] a%x b%x", edge[i].dims[0], edge[i].dims[1],
                 edge[i].dims[2], edge[i].dims[3], edge[i].amask, edge[i].bmask);
        run_case(edge[i].dims, edge[i].amask, edge[i].bmask, name);
    }
    for (int i = 0; i < nrand; i++) {
        uint32_t dims[4] = {1 + tb_rand() % 3, 1 + tb_rand() % 9, 1 + tb_rand() % 9,
                            1 + tb_rand() % 20};
        uint32_t am = tb_rand() % 16, bm = tb_rand() % 16;

        snprintf(name, sizeof(name), "random %d [%u,%u,%u,%u] a%x b%x", i, dims[0], dims[1],
                 dims[2], dims[3], am, bm);
        run_case(dims, am, bm, name);
    }
    printf("# qadd: %llu of %llu outputs differ from the real-valued sum's rounding\n",
           (unsigned long long)real_diffs, (unsigned long long)real_total);
    return tb_finish("hls-qadd");
}
