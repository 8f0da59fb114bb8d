/*
 * LOOM_CU_KIND_POOL: int8 max or average pooling over NCHW with stride,
 * padding, dilation and ONNX's ceil_mode output sizes. Average pooling sums
 * x - x_zp over the window and requantizes with the table entry of the
 * window's element count (the host folds 1/count into each entry), so the
 * division costs no extra rounding. Max pooling passes the maximum through,
 * or requantizes max - x_zp with one entry. Windows are clipped the way
 * PyTorch and ONNX do: taps in the padding count for count_include_pad,
 * taps past the right/bottom padding (ceil_mode) never do.
 */
#include "cu_engine.h"

void loom_cu_pool(const struct loom_cu_pool_desc *d, const struct loom_rq *rq, const uint8_t *x,
                  uint8_t *y)
{
#pragma HLS INTERFACE m_axi port = d offset = slave bundle = gmem_d
#pragma HLS INTERFACE m_axi port = rq offset = slave bundle = gmem_d
#pragma HLS INTERFACE m_axi port = x offset = slave bundle = gmem_a max_read_burst_length = 64
#pragma HLS INTERFACE m_axi port = y offset = slave bundle = gmem_y max_write_burst_length = 64
#pragma HLS INTERFACE s_axilite port = return
    const uint32_t f = d->hdr.flags, H = d->h, W = d->w, OH = d->oh, OW = d->ow;
    const int xu = !!(f & LOOM_CU_F_X_U8), avg = !!(f & LOOM_CU_F_POOL_AVG);
    const int count_pad = !!(f & LOOM_CU_F_COUNT_PAD);
    const int32_t xzp = d->q.x_zp, lo = d->q.act_min, hi = d->q.act_max;
    const uint64_t HW = (uint64_t)H * W, OHW = (uint64_t)OH * OW;
    const uint64_t planes = (uint64_t)d->n * d->c;

    for (uint64_t pl = 0; pl < planes; pl++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4096
        const uint8_t *xp = x + pl * HW;
        uint8_t *yp = y + pl * OHW;

        for (uint32_t oy = 0; oy < OH; oy++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 256
            for (uint32_t ox = 0; ox < OW; ox++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 256
                const int64_t y0 = (int64_t)oy * d->stride_h - d->pad_t;
                const int64_t x0 = (int64_t)ox * d->stride_w - d->pad_l;
                int32_t sum = 0, mx = INT32_MIN, v;
                uint32_t count = 0;

                for (uint32_t ky = 0; ky < d->kh; ky++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 32
                    const int64_t iy = y0 + (int64_t)ky * d->dil_h;

                    for (uint32_t kx = 0; kx < d->kw; kx++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 32
#pragma HLS PIPELINE II = 1
                        const int64_t ix = x0 + (int64_t)kx * d->dil_w;
                        const int inside = iy >= 0 && ix >= 0 && iy < H && ix < W;
                        const int in_pad = iy < (int64_t)H + d->pad_b && ix < (int64_t)W + d->pad_r;

                        if (inside) {
                            int32_t t = cu_ld8(xp, (uint64_t)iy * W + (uint64_t)ix, xu);

                            sum += t - xzp;
                            mx = t > mx ? t : mx;
                            count++;
                        } else if (count_pad && in_pad) {
                            count++;
                        }
                    }
                }
                if (avg) {
                    /* count >= 1: the first tap of a window is never past the padding */
                    v = loom_rq_apply(sum, rq[count ? count - 1 : 0], d->q.y_zp, lo, hi);
                } else {
                    if (mx == INT32_MIN) /* a window entirely in the padding */
                        mx = xzp;
                    if (d->q.rq_count)
                        v = loom_rq_apply(mx - xzp, rq[0], d->q.y_zp, lo, hi);
                    else
                        v = mx < lo ? lo : mx > hi ? hi : mx;
                }
                yp[(uint64_t)oy * OW + ox] = (uint8_t)v;
            }
        }
    }
}
