/*
 * vision.c - detection and sampling kernels: NonMaxSuppression, RoiAlign,
 * GridSample (opset 16, 4-D) and MaxUnpool. float32 (RoiAlign/GridSample also
 * double), following onnxruntime's / PyTorch's arithmetic where the spec leaves
 * room (RoiAlign's max mode, GridSample's padding of bicubic taps).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../cpu_features.h"
#include "more_ops.h"

/* ---- NonMaxSuppression ---------------------------------------------------- */

typedef struct nms_box {
    float y1, x1, y2, x2; /* corners, min first */
    float area;
} nms_box;

typedef struct nms_cand {
    float score;
    int64_t idx;
} nms_cand;

static int nms_cmp(const void *a, const void *b)
{
    const nms_cand *p = a, *q = b;
    /* NaN scores sort last, keeping the order total (qsort needs that). */
    bool pn = isnan(p->score), qn = isnan(q->score);
    if (pn != qn)
        return pn ? 1 : -1;
    if (!pn && p->score != q->score)
        return p->score > q->score ? -1 : 1;
    return p->idx < q->idx ? -1 : p->idx > q->idx;
}

static float nms_iou(const nms_box *a, const nms_box *b)
{
    float ix1 = fmaxf(a->x1, b->x1), iy1 = fmaxf(a->y1, b->y1);
    float ix2 = fminf(a->x2, b->x2), iy2 = fminf(a->y2, b->y2);
    if (ix2 <= ix1 || iy2 <= iy1 || a->area <= 0 || b->area <= 0)
        return 0.0f;
    float inter = (ix2 - ix1) * (iy2 - iy1);
    float uni = a->area + b->area - inter;
    return uni > 0 ? inter / uni : 0.0f;
}

/*
 * The boxes kept so far for one class, as columns: a candidate is tested
 * against all of them, 16 at a time with AVX-512 (nms_iou's arithmetic
 * lane by lane, so decisions are the same for boxes with numeric corners),
 * and greedy NMS over thousands of boxes (detectors' batched NMS offsets
 * every class into one set) spends its time there.
 */
typedef struct nms_kept {
    float *x1, *y1, *x2, *y2, *area;
    int64_t n;
} nms_kept;

static bool suppressed_scalar(const nms_kept *kp, const nms_box *c, float th)
{
    for (int64_t j = 0; j < kp->n; j++) {
        nms_box b = {kp->y1[j], kp->x1[j], kp->y2[j], kp->x2[j], kp->area[j]};
        if (nms_iou(c, &b) > th)
            return true;
    }
    return false;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

__attribute__((target("avx512f"))) static bool suppressed_avx512(const nms_kept *kp,
                                                                 const nms_box *c, float th)
{
    const __m512 cx1 = _mm512_set1_ps(c->x1), cy1 = _mm512_set1_ps(c->y1);
    const __m512 cx2 = _mm512_set1_ps(c->x2), cy2 = _mm512_set1_ps(c->y2);
    const __m512 ca = _mm512_set1_ps(c->area), vth = _mm512_set1_ps(th);
    const __m512 zero = _mm512_setzero_ps();
    if (!(c->area > 0)) /* every IoU is 0 */
        return 0.0f > th && kp->n > 0;
    for (int64_t j = 0; j < kp->n; j += 16) {
        __mmask16 m = kp->n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (kp->n - j)) - 1);
        __m512 ix1 = _mm512_max_ps(cx1, _mm512_maskz_loadu_ps(m, kp->x1 + j));
        __m512 iy1 = _mm512_max_ps(cy1, _mm512_maskz_loadu_ps(m, kp->y1 + j));
        __m512 ix2 = _mm512_min_ps(cx2, _mm512_maskz_loadu_ps(m, kp->x2 + j));
        __m512 iy2 = _mm512_min_ps(cy2, _mm512_maskz_loadu_ps(m, kp->y2 + j));
        __m512 ba = _mm512_maskz_loadu_ps(m, kp->area + j);
        /* lanes where nms_iou computes a ratio: overlap, both areas > 0 */
        __mmask16 ok = _mm512_mask_cmp_ps_mask(m, ix1, ix2, _CMP_LT_OQ);
        ok = _mm512_mask_cmp_ps_mask(ok, iy1, iy2, _CMP_LT_OQ);
        ok = _mm512_mask_cmp_ps_mask(ok, zero, ba, _CMP_LT_OQ);
        __m512 inter = _mm512_mul_ps(_mm512_sub_ps(ix2, ix1), _mm512_sub_ps(iy2, iy1));
        __m512 uni = _mm512_sub_ps(_mm512_add_ps(ca, ba), inter);
        __mmask16 pos = _mm512_mask_cmp_ps_mask(ok, zero, uni, _CMP_LT_OQ);
        __m512 iou = _mm512_maskz_div_ps(pos, inter, uni); /* 0 where nms_iou gives 0 */
        if (_mm512_mask_cmp_ps_mask(m, iou, vth, _CMP_GT_OQ))
            return true;
    }
    return false;
}
#endif

static bool nms_suppressed(const nms_kept *kp, const nms_box *c, float th)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (lm_cpu_features_get()->avx512f)
        return suppressed_avx512(kp, c, th);
#endif
    return suppressed_scalar(kp, c, th);
}

static void nms_keep(nms_kept *kp, const nms_box *b)
{
    kp->x1[kp->n] = b->x1;
    kp->y1[kp->n] = b->y1;
    kp->x2[kp->n] = b->x2;
    kp->y2[kp->n] = b->y2;
    kp->area[kp->n++] = b->area;
}

static loom_status op_nms(lm_kctx *k)
{
    MO_TRY(lm_kcheck_arity(k, 2, 5));
    const loom_tensor *boxes = lm_kin(k, 0), *scores = lm_kin(k, 1);
    if (boxes->dtype != LOOM_DTYPE_FLOAT || scores->dtype != LOOM_DTYPE_FLOAT)
        return lm_kunsupported(k, "boxes/scores must be float32");
    if (boxes->rank != 3 || boxes->dims[2] != 4)
        return lm_kfail(k, LOOM_ERR_SHAPE, "boxes must have shape [batch, boxes, 4]");
    if (scores->rank != 3 || scores->dims[0] != boxes->dims[0] || scores->dims[2] != boxes->dims[1])
        return lm_kfail(k, LOOM_ERR_SHAPE,
                        "scores must have shape [batch, classes, boxes] matching boxes");
    int64_t center = lm_node_attr_int(k->node, "center_point_box", 0);
    if (center != 0 && center != 1)
        return lm_kinvalid(k, "center_point_box %lld is not 0 or 1", (long long)center);
    for (int i = 0; i < 5; i++)
        if (lm_kin(k, i))
            MO_TRY(lm_kneed_data(k, i));
    int64_t max_out = 0;
    float iou_th = 0.0f, score_th = 0.0f;
    bool has_score_th = false;
    if (lm_kin(k, 2)) {
        if (lm_tensor_count(lm_kin(k, 2)) < 1)
            return lm_kinvalid(k, "max_output_boxes_per_class is empty");
        max_out = lm_tensor_get_i64(lm_kin(k, 2), 0);
    }
    if (lm_kin(k, 3)) {
        if (lm_tensor_count(lm_kin(k, 3)) < 1)
            return lm_kinvalid(k, "iou_threshold is empty");
        iou_th = (float)lm_tensor_get_f64(lm_kin(k, 3), 0);
    }
    if (lm_kin(k, 4)) {
        if (lm_tensor_count(lm_kin(k, 4)) < 1)
            return lm_kinvalid(k, "score_threshold is empty");
        score_th = (float)lm_tensor_get_f64(lm_kin(k, 4), 0);
        has_score_th = true;
    }
    int64_t NB = boxes->dims[0], NC = scores->dims[1], NBOX = boxes->dims[1];
    if (max_out < 0)
        max_out = 0;
    if (max_out > NBOX)
        max_out = NBOX;
    int64_t cap; /* upper bound of selections */
    if (!mo_mul(NB, NC, &cap) || !mo_mul(cap, max_out, &cap) || cap > ((int64_t)1 << 40))
        return lm_kfail(k, LOOM_ERR_SHAPE, "too many boxes");
    nms_box *bx = lm_kscratch(k, (size_t)(NBOX + 1) * sizeof(nms_box));
    nms_cand *cand = lm_kscratch(k, (size_t)(NBOX + 1) * sizeof(nms_cand));
    int64_t *sel = lm_kscratch(k, (size_t)(cap * 3 + 1) * sizeof(int64_t));
    float *cols = lm_kscratch(k, (size_t)(max_out + 1) * 5 * sizeof(float));
    if (!bx || !cand || !sel || !cols)
        return LOOM_ERR_NO_MEMORY;
    int64_t stride = max_out + 1;
    nms_kept kept = {cols, cols + stride, cols + 2 * stride, cols + 3 * stride, cols + 4 * stride,
                     0};
    int64_t n_sel = 0;
    const float *bd = boxes->data, *sd = scores->data;
    for (int64_t b = 0; b < NB && max_out > 0; b++) {
        for (int64_t i = 0; i < NBOX; i++) {
            const float *p = bd + (b * NBOX + i) * 4;
            nms_box *o = &bx[i];
            if (center) {
                o->x1 = p[0] - p[2] / 2;
                o->x2 = p[0] + p[2] / 2;
                o->y1 = p[1] - p[3] / 2;
                o->y2 = p[1] + p[3] / 2;
            } else {
                o->y1 = fminf(p[0], p[2]);
                o->y2 = fmaxf(p[0], p[2]);
                o->x1 = fminf(p[1], p[3]);
                o->x2 = fmaxf(p[1], p[3]);
            }
            o->area = (o->x2 - o->x1) * (o->y2 - o->y1);
        }
        for (int64_t c = 0; c < NC; c++) {
            const float *s = sd + (b * NC + c) * NBOX;
            int64_t nc = 0;
            for (int64_t i = 0; i < NBOX; i++)
                if (!has_score_th || s[i] > score_th)
                    cand[nc++] = (nms_cand){s[i], i};
            qsort(cand, (size_t)nc, sizeof(*cand), nms_cmp);
            kept.n = 0;
            for (int64_t i = 0; i < nc && kept.n < max_out; i++) {
                const nms_box *cb = &bx[cand[i].idx];
                if (!nms_suppressed(&kept, cb, iou_th)) {
                    nms_keep(&kept, cb);
                    sel[n_sel * 3] = b;
                    sel[n_sel * 3 + 1] = c;
                    sel[n_sel * 3 + 2] = cand[i].idx;
                    n_sel++;
                }
            }
        }
    }
    int64_t od[2] = {n_sel, 3};
    loom_tensor *y = lm_kout(k, 0, LOOM_DTYPE_INT64, 2, od);
    if (!y)
        return LM_KOUT_FAILED;
    if (k->dry && !y->data)
        return LOOM_OK;
    if (n_sel)
        memcpy(y->data, sel, (size_t)n_sel * 3 * sizeof(int64_t));
    return LOOM_OK;
}

/* ---- RoiAlign ------------------------------------------------------------- */

typedef struct roi_job {
    const loom_tensor *x;
    const float *rois;
    const int64_t *bidx;
    float *y;
    int64_t C, H, W, PH, PW;
    float scale;
    int64_t sampling;
    bool half_pixel, is_max;
} roi_job;

static void roi_range(void *arg, int64_t begin, int64_t end)
{
    const roi_job *j = arg;
    const float *xd = j->x->data;
    int64_t H = j->H, W = j->W;
    for (int64_t r = begin; r < end; r++) {
        const float *roi = j->rois + r * 4;
        float off = j->half_pixel ? 0.5f : 0.0f;
        float sw = roi[0] * j->scale - off, sh = roi[1] * j->scale - off;
        float ew = roi[2] * j->scale - off, eh = roi[3] * j->scale - off;
        float rw = ew - sw, rh = eh - sh;
        if (!j->half_pixel) {
            rw = fmaxf(rw, 1.0f);
            rh = fmaxf(rh, 1.0f);
        }
        float bh = rh / (float)j->PH, bw = rw / (float)j->PW;
        int64_t gh = j->sampling > 0 ? j->sampling : (int64_t)ceilf(rh / (float)j->PH);
        int64_t gw = j->sampling > 0 ? j->sampling : (int64_t)ceilf(rw / (float)j->PW);
        if (gh < 0)
            gh = 0;
        if (gw < 0)
            gw = 0;
        float count = (float)(gh * gw > 1 ? gh * gw : 1);
        for (int64_t c = 0; c < j->C; c++) {
            const float *img = xd + (j->bidx[r] * j->C + c) * H * W;
            float *out = j->y + (r * j->C + c) * j->PH * j->PW;
            for (int64_t ph = 0; ph < j->PH; ph++) {
                for (int64_t pw = 0; pw < j->PW; pw++) {
                    float acc = 0.0f;
                    bool first = true;
                    for (int64_t iy = 0; iy < gh; iy++) {
                        float y = sh + (float)ph * bh + ((float)iy + 0.5f) * bh / (float)gh;
                        for (int64_t ix = 0; ix < gw; ix++) {
                            float x = sw + (float)pw * bw + ((float)ix + 0.5f) * bw / (float)gw;
                            float v1 = 0, v2 = 0, v3 = 0, v4 = 0, w1 = 0, w2 = 0, w3 = 0, w4 = 0;
                            if (!(y < -1.0f || y > (float)H || x < -1.0f || x > (float)W)) {
                                float yy = y <= 0 ? 0 : y, xx = x <= 0 ? 0 : x;
                                int64_t yl = (int64_t)yy, xl = (int64_t)xx, yh2, xh2;
                                if (yl >= H - 1) {
                                    yh2 = yl = H - 1;
                                    yy = (float)yl;
                                } else {
                                    yh2 = yl + 1;
                                }
                                if (xl >= W - 1) {
                                    xh2 = xl = W - 1;
                                    xx = (float)xl;
                                } else {
                                    xh2 = xl + 1;
                                }
                                float ly = yy - (float)yl, lx = xx - (float)xl;
                                float hy = 1.0f - ly, hx = 1.0f - lx;
                                w1 = hy * hx;
                                w2 = hy * lx;
                                w3 = ly * hx;
                                w4 = ly * lx;
                                v1 = img[yl * W + xl];
                                v2 = img[yl * W + xh2];
                                v3 = img[yh2 * W + xl];
                                v4 = img[yh2 * W + xh2];
                            }
                            if (j->is_max) {
                                /* onnxruntime's max: of the weighted corners. */
                                float v = fmaxf(fmaxf(w1 * v1, w2 * v2), fmaxf(w3 * v3, w4 * v4));
                                acc = first ? v : fmaxf(acc, v);
                                first = false;
                            } else {
                                acc += w1 * v1 + w2 * v2 + w3 * v3 + w4 * v4;
                            }
                        }
                    }
                    out[ph * j->PW + pw] = j->is_max ? acc : acc / count;
                }
            }
        }
    }
}

static loom_status op_roialign(lm_kctx *k)
{
    MO_TRY(lm_kcheck_arity(k, 3, 3));
    const loom_tensor *x = lm_kin(k, 0), *rois = lm_kin(k, 1), *bi = lm_kin(k, 2);
    if (x->dtype != LOOM_DTYPE_FLOAT || rois->dtype != LOOM_DTYPE_FLOAT)
        return lm_kunsupported(k, "X and rois must be float32");
    if (bi->dtype != LOOM_DTYPE_INT64 && bi->dtype != LOOM_DTYPE_INT32)
        return lm_kinvalid(k, "batch_indices has dtype %s, expected int64",
                           loom_dtype_name(bi->dtype));
    if (x->rank != 4)
        return lm_kfail(k, LOOM_ERR_SHAPE, "X has rank %d, expected 4", x->rank);
    if (rois->rank != 2 || rois->dims[1] != 4)
        return lm_kfail(k, LOOM_ERR_SHAPE, "rois must have shape [num_rois, 4]");
    if (bi->rank != 1 || bi->dims[0] != rois->dims[0])
        return lm_kfail(k, LOOM_ERR_SHAPE, "batch_indices must have shape [%lld]",
                        (long long)rois->dims[0]);
    roi_job j;
    memset(&j, 0, sizeof(j));
    const char *mode = lm_node_attr_str(k->node, "mode", "avg");
    if (strcmp(mode, "avg") == 0)
        j.is_max = false;
    else if (strcmp(mode, "max") == 0)
        j.is_max = true;
    else
        return lm_kinvalid(k, "mode '%s' is not avg or max", mode);
    const char *ctm = lm_node_attr_str(k->node, "coordinate_transformation_mode",
                                       lm_kopset(k) >= 16 ? "half_pixel" : "output_half_pixel");
    if (strcmp(ctm, "half_pixel") == 0)
        j.half_pixel = true;
    else if (strcmp(ctm, "output_half_pixel") == 0)
        j.half_pixel = false;
    else
        return lm_kinvalid(k, "coordinate_transformation_mode '%s' is not supported", ctm);
    j.PH = lm_node_attr_int(k->node, "output_height", 1);
    j.PW = lm_node_attr_int(k->node, "output_width", 1);
    j.sampling = lm_node_attr_int(k->node, "sampling_ratio", 0);
    j.scale = lm_node_attr_float(k->node, "spatial_scale", 1.0f);
    if (j.PH <= 0 || j.PW <= 0 || j.PH > (1 << 20) || j.PW > (1 << 20))
        return lm_kinvalid(k, "output_height/output_width %lld x %lld must be positive",
                           (long long)j.PH, (long long)j.PW);
    if (j.sampling < 0 || j.sampling > 4096)
        return lm_kinvalid(k, "sampling_ratio %lld out of range", (long long)j.sampling);
    int64_t od[4] = {rois->dims[0], x->dims[1], j.PH, j.PW};
    loom_tensor *y = lm_kout(k, 0, LOOM_DTYPE_FLOAT, 4, od);
    if (!y)
        return LM_KOUT_FAILED;
    if (k->dry)
        return LOOM_OK;
    int64_t R = rois->dims[0];
    int64_t *bidx = lm_kscratch(k, (size_t)(R + 1) * sizeof(int64_t));
    if (!bidx)
        return LOOM_ERR_NO_MEMORY;
    for (int64_t r = 0; r < R; r++) {
        bidx[r] = lm_tensor_get_i64(bi, r);
        if (bidx[r] < 0 || bidx[r] >= x->dims[0])
            return lm_kinvalid(k, "batch_indices[%lld] = %lld is outside [0, %lld)", (long long)r,
                               (long long)bidx[r], (long long)x->dims[0]);
    }
    if (lm_tensor_count(y) == 0 || x->dims[2] == 0 || x->dims[3] == 0)
        return LOOM_OK;
    /* Adaptive sampling grids are bounded by the ROI size: cap it so a hostile
     * ROI cannot ask for billions of samples per bin. */
    const float *rd = rois->data;
    for (int64_t r = 0; r < R * 4; r++)
        if (!isfinite(rd[r]) || !(fabsf(rd[r] * j.scale) <= 1e7f))
            return lm_kinvalid(k, "roi coordinate %g is not finite or too large", (double)rd[r]);
    if (j.sampling == 0) {
        for (int64_t r = 0; r < R; r++) {
            double rh = fabs((double)(rd[r * 4 + 3] - rd[r * 4 + 1]) * j.scale) / (double)j.PH;
            double rw = fabs((double)(rd[r * 4 + 2] - rd[r * 4]) * j.scale) / (double)j.PW;
            if ((rh + 1) * (rw + 1) > (double)(1 << 24))
                return lm_kinvalid(k, "roi %lld needs over 2^24 samples per bin", (long long)r);
        }
    }
    j.x = x;
    j.rois = rd;
    j.bidx = bidx;
    j.y = y->data;
    j.C = x->dims[1];
    j.H = x->dims[2];
    j.W = x->dims[3];
    lm_parallel_for(k, R, (double)(j.C * j.PH * j.PW) * 16.0, roi_range, &j);
    return LOOM_OK;
}

/* ---- GridSample ----------------------------------------------------------- */

enum { GS_BILINEAR, GS_NEAREST, GS_BICUBIC };
enum { GS_ZEROS, GS_BORDER, GS_REFLECTION };

typedef struct gs_job {
    const float *x, *grid;
    float *y;
    int64_t C, H, W, HO, WO;
    int mode, pad;
    bool align;
} gs_job;

static double gs_unnormalize(double g, int64_t size, bool align)
{
    return align ? (g + 1.0) / 2.0 * (double)(size - 1) : ((g + 1.0) * (double)size - 1.0) / 2.0;
}

/* PyTorch's reflect_coordinates over [twice_low/2, twice_high/2]. */
static double gs_reflect(double in, int64_t twice_low, int64_t twice_high)
{
    if (twice_low == twice_high)
        return 0.0;
    double mn = (double)twice_low / 2.0, span = (double)(twice_high - twice_low) / 2.0;
    in = fabs(in - mn);
    double extra = fmod(in, span);
    double flips = floor(in / span);
    return fmod(flips, 2.0) == 0.0 ? extra + mn : span - extra + mn;
}

static double gs_clip(double v, int64_t size)
{
    return fmin((double)(size - 1), fmax(v, 0.0));
}

/* Border / reflection mapping of a source coordinate (PyTorch's compute_coordinates). */
static double gs_pad_coord(double v, int64_t size, int pad, bool align)
{
    if (pad == GS_BORDER)
        return gs_clip(v, size);
    if (pad == GS_REFLECTION) {
        v = align ? gs_reflect(v, 0, 2 * (size - 1)) : gs_reflect(v, -1, 2 * size - 1);
        return gs_clip(v, size);
    }
    return v;
}

static inline float gs_at(const float *img, int64_t H, int64_t W, int64_t yy, int64_t xx)
{
    return yy >= 0 && yy < H && xx >= 0 && xx < W ? img[yy * W + xx] : 0.0f;
}

static void gs_cubic_coeffs(double t, double c[4])
{
    const double A = -0.75;
    double x1 = t + 1.0, x2 = t, x3 = 1.0 - t, x4 = 2.0 - t;
    c[0] = ((A * x1 - 5 * A) * x1 + 8 * A) * x1 - 4 * A;
    c[1] = ((A + 2) * x2 - (A + 3)) * x2 * x2 + 1;
    c[2] = ((A + 2) * x3 - (A + 3)) * x3 * x3 + 1;
    c[3] = ((A * x4 - 5 * A) * x4 + 8 * A) * x4 - 4 * A;
}

static void gs_range(void *arg, int64_t begin, int64_t end)
{
    const gs_job *j = arg;
    int64_t H = j->H, W = j->W, P = j->HO * j->WO;
    for (int64_t nc = begin; nc < end; nc++) {
        int64_t n = nc / j->C;
        const float *img = j->x + nc * H * W;
        const float *grid = j->grid + n * P * 2;
        float *out = j->y + nc * P;
        for (int64_t p = 0; p < P; p++) {
            double gx = grid[2 * p], gy = grid[2 * p + 1];
            double x = gs_unnormalize(gx, W, j->align), y = gs_unnormalize(gy, H, j->align);
            if (j->mode == GS_BICUBIC) {
                double fx = floor(x), fy = floor(y), cx[4], cy[4];
                gs_cubic_coeffs(x - fx, cx);
                gs_cubic_coeffs(y - fy, cy);
                double acc = 0;
                for (int a = 0; a < 4; a++) {
                    double yy = fy - 1 + a, row = 0;
                    for (int b = 0; b < 4; b++) {
                        double xx = fx - 1 + b;
                        double px = gs_pad_coord(xx, W, j->pad, j->align);
                        double py = gs_pad_coord(yy, H, j->pad, j->align);
                        float v = 0.0f;
                        if (isfinite(px) && isfinite(py) && fabs(px) < 1e15 && fabs(py) < 1e15)
                            v = gs_at(img, H, W, (int64_t)py, (int64_t)px);
                        row += cx[b] * v;
                    }
                    acc += cy[a] * row;
                }
                out[p] = (float)acc;
                continue;
            }
            x = gs_pad_coord(x, W, j->pad, j->align);
            y = gs_pad_coord(y, H, j->pad, j->align);
            if (!isfinite(x) || !isfinite(y) || fabs(x) > 1e15 || fabs(y) > 1e15) {
                out[p] = 0.0f;
                continue;
            }
            if (j->mode == GS_NEAREST) {
                out[p] = gs_at(img, H, W, (int64_t)nearbyint(y), (int64_t)nearbyint(x));
                continue;
            }
            double x0 = floor(x), y0 = floor(y);
            double dx = x - x0, dy = y - y0;
            int64_t ix = (int64_t)x0, iy = (int64_t)y0;
            double v = (1 - dy) * ((1 - dx) * gs_at(img, H, W, iy, ix) +
                                   dx * gs_at(img, H, W, iy, ix + 1)) +
                       dy * ((1 - dx) * gs_at(img, H, W, iy + 1, ix) +
                             dx * gs_at(img, H, W, iy + 1, ix + 1));
            out[p] = (float)v;
        }
    }
}

static loom_status op_gridsample(lm_kctx *k)
{
    MO_TRY(lm_kcheck_arity(k, 2, 2));
    const loom_tensor *x = lm_kin(k, 0), *g = lm_kin(k, 1);
    if (x->dtype != LOOM_DTYPE_FLOAT || g->dtype != LOOM_DTYPE_FLOAT)
        return lm_kunsupported(k, "X and grid must be float32");
    if (x->rank != 4)
        return lm_kunsupported(k, "X has rank %d: only 4-D (N, C, H, W) is supported", x->rank);
    if (g->rank != 4 || g->dims[0] != x->dims[0] || g->dims[3] != 2)
        return lm_kfail(k, LOOM_ERR_SHAPE, "grid must have shape [%lld, H_out, W_out, 2]",
                        (long long)x->dims[0]);
    gs_job j;
    memset(&j, 0, sizeof(j));
    const char *mode = lm_node_attr_str(k->node, "mode", "bilinear");
    if (strcmp(mode, "bilinear") == 0 || strcmp(mode, "linear") == 0)
        j.mode = GS_BILINEAR;
    else if (strcmp(mode, "nearest") == 0)
        j.mode = GS_NEAREST;
    else if (strcmp(mode, "bicubic") == 0 || strcmp(mode, "cubic") == 0)
        j.mode = GS_BICUBIC;
    else
        return lm_kinvalid(k, "mode '%s' is not bilinear, nearest or bicubic", mode);
    const char *pad = lm_node_attr_str(k->node, "padding_mode", "zeros");
    if (strcmp(pad, "zeros") == 0)
        j.pad = GS_ZEROS;
    else if (strcmp(pad, "border") == 0)
        j.pad = GS_BORDER;
    else if (strcmp(pad, "reflection") == 0)
        j.pad = GS_REFLECTION;
    else
        return lm_kinvalid(k, "padding_mode '%s' is not zeros, border or reflection", pad);
    int64_t ac = lm_node_attr_int(k->node, "align_corners", 0);
    if (ac != 0 && ac != 1)
        return lm_kinvalid(k, "align_corners %lld is not 0 or 1", (long long)ac);
    j.align = ac == 1;
    int64_t od[4] = {x->dims[0], x->dims[1], g->dims[1], g->dims[2]};
    loom_tensor *y = lm_kout(k, 0, LOOM_DTYPE_FLOAT, 4, od);
    if (!y)
        return LM_KOUT_FAILED;
    if (k->dry)
        return LOOM_OK;
    j.x = x->data;
    j.grid = g->data;
    j.y = y->data;
    j.C = x->dims[1];
    j.H = x->dims[2];
    j.W = x->dims[3];
    j.HO = g->dims[1];
    j.WO = g->dims[2];
    if (lm_tensor_count(y) == 0)
        return LOOM_OK;
    lm_parallel_for(k, x->dims[0] * j.C, (double)(j.HO * j.WO) * 20.0, gs_range, &j);
    return LOOM_OK;
}

/* ---- MaxUnpool ------------------------------------------------------------ */

static loom_status op_maxunpool(lm_kctx *k)
{
    MO_TRY(lm_kcheck_arity(k, 2, 3));
    const loom_tensor *x = lm_kin(k, 0), *ind = lm_kin(k, 1), *oshape = lm_kin(k, 2);
    if (x->dtype != LOOM_DTYPE_FLOAT)
        return lm_kunsupported(k, "X has dtype %s: only float32 is supported",
                               loom_dtype_name(x->dtype));
    if (ind->dtype != LOOM_DTYPE_INT64)
        return lm_kinvalid(k, "I has dtype %s, expected int64", loom_dtype_name(ind->dtype));
    if (x->rank < 3)
        return lm_kfail(k, LOOM_ERR_SHAPE, "X has rank %d, expected N x C x D1 ... (>= 3)",
                        x->rank);
    if (ind->rank != x->rank)
        return lm_kfail(k, LOOM_ERR_SHAPE, "I must have X's shape");
    for (int i = 0; i < x->rank; i++)
        if (ind->dims[i] != x->dims[i])
            return lm_kfail(k, LOOM_ERR_SHAPE, "I must have X's shape");
    int nsp = x->rank - 2;
    const int64_t *ks = NULL, *st = NULL, *pads = NULL;
    if (lm_node_attr_ints(k->node, "kernel_shape", &ks) != nsp)
        return lm_kinvalid(k, "kernel_shape must have %d values", nsp);
    int ns = lm_node_attr_ints(k->node, "strides", &st);
    int np = lm_node_attr_ints(k->node, "pads", &pads);
    if (ns >= 0 && ns != nsp)
        return lm_kinvalid(k, "strides must have %d values", nsp);
    if (np >= 0 && np != 2 * nsp)
        return lm_kinvalid(k, "pads must have %d values", 2 * nsp);
    /* The inferred shape: indices from MaxPool address it even when output_shape
     * asks for a larger output (the extra rows/columns come at the end, as the
     * ONNX reference does). */
    int64_t inf[LOOM_MAX_RANK], od[LOOM_MAX_RANK];
    inf[0] = od[0] = x->dims[0];
    inf[1] = od[1] = x->dims[1];
    for (int i = 0; i < nsp; i++) {
        int64_t kk = ks[i], s = st ? st[i] : 1;
        int64_t pb = pads ? pads[i] : 0, pe = pads ? pads[i + nsp] : 0;
        if (kk <= 0 || s <= 0 || pb < 0 || pe < 0 || kk > (1 << 30) || s > (1 << 30) ||
            pb > (1 << 30) || pe > (1 << 30) || x->dims[i + 2] > ((int64_t)1 << 32))
            return lm_kinvalid(k, "bad kernel_shape/strides/pads on spatial axis %d", i);
        inf[i + 2] = od[i + 2] = (x->dims[i + 2] - 1) * s + kk - pb - pe;
        if (inf[i + 2] < 0)
            return lm_kfail(k, LOOM_ERR_SHAPE, "output size on spatial axis %d is negative", i);
    }
    if (oshape) {
        MO_TRY(lm_kneed_data(k, 2));
        if (lm_tensor_count(oshape) != x->rank)
            return lm_kfail(k, LOOM_ERR_SHAPE, "output_shape has %lld values, expected %d",
                            (long long)lm_tensor_count(oshape), x->rank);
        for (int i = 0; i < x->rank; i++) {
            od[i] = lm_tensor_get_i64(oshape, i);
            if (od[i] < 0)
                return lm_kfail(k, LOOM_ERR_SHAPE, "output_shape[%d] = %lld is negative", i,
                                (long long)od[i]);
        }
        if (od[0] != x->dims[0] || od[1] != x->dims[1])
            return lm_kfail(k, LOOM_ERR_SHAPE, "output_shape must keep N and C of X");
    }
    loom_tensor *y = lm_kout(k, 0, x->dtype, x->rank, od);
    if (!y)
        return LM_KOUT_FAILED;
    if (k->dry)
        return LOOM_OK;
    int64_t n = lm_tensor_count(x), total = lm_dims_count(x->rank, inf);
    const float *xd = x->data;
    const int64_t *id = ind->data;
    float *yd = y->data;
    bool same = true;
    for (int i = 0; i < x->rank; i++)
        same &= od[i] == inf[i];
    for (int64_t i = 0; i < n; i++) {
        if (id[i] < 0 || id[i] >= total)
            return lm_kinvalid(k, "index I[%lld] = %lld is outside the output's %lld elements",
                               (long long)i, (long long)id[i], (long long)total);
        if (same) {
            yd[id[i]] = xd[i];
            continue;
        }
        int64_t rem = id[i], off = 0, mul = 1;
        bool inside = true;
        for (int d = x->rank - 1; d >= 0; d--) {
            int64_t c = rem % inf[d];
            rem /= inf[d];
            inside &= c < od[d];
            off += c * mul;
            mul *= od[d];
        }
        if (!inside)
            return lm_kinvalid(k, "index I[%lld] = %lld falls outside output_shape", (long long)i,
                               (long long)id[i]);
        yd[off] = xd[i];
    }
    return LOOM_OK;
}

const lm_op_def lm_ops_vision[] = {
    LM_OP("", "NonMaxSuppression", op_nms),
    LM_OP("", "RoiAlign", op_roialign),
    LM_OP("", "GridSample", op_gridsample),
    LM_OP("", "MaxUnpool", op_maxunpool),
    LM_OP_END,
};
