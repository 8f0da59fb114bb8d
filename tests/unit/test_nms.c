/* test_nms.c - NonMaxSuppression over hundreds of boxes (the conformance
 * tests have a handful): kept boxes are compared with candidates 16 at a
 * time, so the selections are checked against a plain greedy reference,
 * with degenerate (zero-area, flipped) boxes and two classes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/test_main.h"

#define F32   1
#define INT64 7

enum { NBOX = 600, NCLS = 2, MAXOUT = 500 };

static float boxes[NBOX * 4], scores[NCLS * NBOX];

static float iou(const float *a, const float *b)
{
    float ay1 = fminf(a[0], a[2]), ay2 = fmaxf(a[0], a[2]), ax1 = fminf(a[1], a[3]),
          ax2 = fmaxf(a[1], a[3]);
    float by1 = fminf(b[0], b[2]), by2 = fmaxf(b[0], b[2]), bx1 = fminf(b[1], b[3]),
          bx2 = fmaxf(b[1], b[3]);
    float aa = (ax2 - ax1) * (ay2 - ay1), ba = (bx2 - bx1) * (by2 - by1);
    float ix1 = fmaxf(ax1, bx1), iy1 = fmaxf(ay1, by1), ix2 = fminf(ax2, bx2),
          iy2 = fminf(ay2, by2);
    if (ix2 <= ix1 || iy2 <= iy1 || aa <= 0 || ba <= 0)
        return 0.0f;
    float inter = (ix2 - ix1) * (iy2 - iy1), uni = aa + ba - inter;
    return uni > 0 ? inter / uni : 0.0f;
}

/* Greedy NMS of one class: candidates above @sth by score (ties by index),
 * each kept unless it overlaps a kept one by more than @th. */
static int64_t reference(int c, float th, float sth, int64_t *kept)
{
    int64_t order[NBOX], n = 0, nk = 0;
    const float *s = scores + c * NBOX;
    for (int64_t i = 0; i < NBOX; i++)
        if (s[i] > sth)
            order[n++] = i;
    for (int64_t i = 1; i < n; i++) /* insertion sort: stable, by score */
        for (int64_t j = i; j > 0 && s[order[j]] > s[order[j - 1]]; j--) {
            int64_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (int64_t i = 0; i < n && nk < MAXOUT; i++) {
        bool keep = true;
        for (int64_t j = 0; j < nk && keep; j++)
            keep = !(iou(boxes + 4 * order[i], boxes + 4 * kept[j]) > th);
        if (keep)
            kept[nk++] = order[i];
    }
    return nk;
}

static void many_boxes_match_the_greedy_reference(void **state)
{
    (void)state;
    uint32_t r = 7;
    for (int i = 0; i < NBOX; i++) {
        float v[4];
        for (int t = 0; t < 4; t++) {
            r = r * 1103515245u + 12345u;
            v[t] = (float)(r >> 8 & 0xFFFF) / 65536.0f;
        }
        /* boxes of every size, some flipped, some with no area */
        boxes[4 * i] = v[0];
        boxes[4 * i + 1] = v[1];
        boxes[4 * i + 2] = i % 17 == 0 ? v[0] : v[0] + (v[2] - 0.3f) * 0.4f;
        boxes[4 * i + 3] = v[1] + (v[3] - 0.3f) * 0.4f;
        for (int c = 0; c < NCLS; c++) {
            r = r * 1103515245u + 12345u;
            scores[c * NBOX + i] = (float)(r >> 8 & 0xFF) / 256.0f; /* many ties */
        }
    }
    static const float ths[] = {0.0f, 0.3f, 0.7f};
    for (size_t t = 0; t < sizeof(ths) / sizeof(ths[0]); t++) {
        int64_t bd[3] = {1, NBOX, 4}, sd[3] = {1, NCLS, NBOX}, one[1] = {1};
        int64_t mo = MAXOUT;
        float th = ths[t], sth = 0.05f;
        ob_model *m = ob_new(13);
        ob_input(m, "boxes", F32, 3, bd);
        ob_input(m, "scores", F32, 3, sd);
        ob_init_raw(m, "max", INT64, 1, one, &mo, sizeof(mo));
        ob_init_f32(m, "iou", 1, one, &th);
        ob_init_f32(m, "sth", 1, one, &sth);
        ob_output(m, "sel", INT64);
        ob_add_node(m, "NonMaxSuppression", "boxes,scores,max,iou,sth", "sel");
        loom_context *ctx;
        assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
        loom_model *model = lm_load_ok(ctx, m, "nms");
        loom_tensor *in[2], *out;
        assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 3, bd, boxes, sizeof(boxes), &in[0]),
                         LOOM_OK);
        assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 3, sd, scores, sizeof(scores), &in[1]),
                         LOOM_OK);
        assert_int_equal(loom_model_run(model, in, 2, &out, 1), LOOM_OK);
        const int64_t *sel = loom_tensor_data(out);
        int64_t at = 0, kept[NBOX];
        for (int c = 0; c < NCLS; c++) {
            int64_t nk = reference(c, th, sth, kept);
            assert_true(nk > 16); /* more than one vector of kept boxes */
            for (int64_t i = 0; i < nk; i++, at++) {
                assert_true(at < loom_tensor_dims(out)[0]);
                assert_int_equal(sel[3 * at + 1], c);
                assert_int_equal(sel[3 * at + 2], kept[i]);
            }
        }
        assert_int_equal(loom_tensor_dims(out)[0], at);
        loom_tensor_destroy(in[0]);
        loom_tensor_destroy(in[1]);
        loom_tensor_destroy(out);
        loom_model_destroy(model);
        loom_context_destroy(ctx);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(many_boxes_match_the_greedy_reference),
};

LM_TEST_MAIN(tests)
