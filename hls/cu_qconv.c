/*
 * LOOM_CU_KIND_QCONV: int8 2-D convolution with stride, padding, dilation and
 * groups, int32 accumulate, per-output-channel requantization, fused bias
 * and clamp. The general path streams im2col patches (TM output pixels x KT
 * taps, padding read as the zero point) and weight tiles (KT taps x TN output
 * channels) through the shared MAC array; output-channel tiles are the outer
 * loop, so a weight tile is fetched once per pixel tile from on-chip memory.
 * Depthwise convolution (one input and one output channel per group) has its
 * own path, with TN channels side by side instead of a reduction over them,
 * so the same TM x TN multipliers stay busy.
 */
#include "cu_engine.h"

/* Input tap (iy, ix) of channel plane xc, zero-point corrected; 0 in the padding. */
static inline int32_t tap(const uint8_t *xc, int64_t iy, int64_t ix, uint32_t H, uint32_t W, int xu,
                          int32_t xzp)
{
    if (iy < 0 || ix < 0 || iy >= H || ix >= W)
        return 0;
    return cu_ld8(xc, (uint64_t)iy * W + (uint64_t)ix, xu) - xzp;
}

static void store_tile(const struct loom_cu_qconv_desc *d, const struct loom_rq *rq,
                       const int32_t *bias, const int32_t acc[TM][TN], uint8_t *yn, uint32_t ch0,
                       uint64_t p0, uint32_t tm, uint32_t tn, uint64_t P)
{
    const int per_ch = d->q.rq_count > 1;

    for (uint32_t j = 0; j < tn; j++) {
        for (uint32_t i = 0; i < tm; i++) {
#pragma HLS PIPELINE II = 1
            const uint32_t ch = ch0 + j;
            int32_t v = loom_rq_apply(cu_add_bias(acc[i][j], bias, ch), rq[per_ch ? ch : 0],
                                      d->q.y_zp, d->q.act_min, d->q.act_max);

            yn[(uint64_t)ch * P + p0 + i] = (uint8_t)v;
        }
    }
}

static void conv_general(const struct loom_cu_qconv_desc *d, const struct loom_rq *rq,
                         const uint8_t *x, const uint8_t *w, const int32_t *bias, uint8_t *y)
{
    const uint32_t f = d->hdr.flags, H = d->h, W = d->w, KH = d->kh, KW = d->kw;
    const uint32_t Cg = d->c / d->group, Mg = d->m / d->group, OW = d->ow;
    const uint64_t K = (uint64_t)Cg * KH * KW, P = (uint64_t)d->oh * OW, HW = (uint64_t)H * W;
    const int xu = !!(f & LOOM_CU_F_X_U8), wu = !!(f & LOOM_CU_F_W_U8);
    const int32_t xzp = d->q.x_zp, wzp = d->q.w_zp;
    int32_t acc[TM][TN];
    int16_t at[KT][TM], bt[KT][TN];
    int64_t iy0[TM], ix0[TM];
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 0
#pragma HLS ARRAY_PARTITION variable = at complete dim = 2
#pragma HLS ARRAY_PARTITION variable = bt complete dim = 2
#pragma HLS ARRAY_PARTITION variable = iy0 complete
#pragma HLS ARRAY_PARTITION variable = ix0 complete

    for (uint32_t n = 0; n < d->n; n++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 64
        for (uint32_t g = 0; g < d->group; g++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 64
            const uint8_t *xg = x + ((uint64_t)n * d->c + (uint64_t)g * Cg) * HW;
            const uint8_t *wg = w + (uint64_t)g * Mg * K;
            uint8_t *yn = y + (uint64_t)n * d->m * P;

            for (uint32_t j0 = 0; j0 < Mg; j0 += TN) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 64
                const uint32_t tn = Mg - j0 < TN ? Mg - j0 : TN;

                for (uint64_t p0 = 0; p0 < P; p0 += TM) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4096
                    const uint32_t tm = P - p0 < TM ? (uint32_t)(P - p0) : TM;

                    for (uint32_t i = 0; i < TM; i++) {
#pragma HLS UNROLL
                        uint64_t p = p0 + (i < tm ? i : 0);

                        iy0[i] = (int64_t)(p / OW) * d->stride_h - d->pad_t;
                        ix0[i] = (int64_t)(p % OW) * d->stride_w - d->pad_l;
                    }
                    cu_acc_zero(acc);
                    for (uint64_t k0 = 0; k0 < K; k0 += KT) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 512
                        const uint32_t kn = K - k0 < KT ? (uint32_t)(K - k0) : KT;
                        uint32_t ci = (uint32_t)(k0 / ((uint64_t)KH * KW));
                        uint32_t r = (uint32_t)(k0 % ((uint64_t)KH * KW));
                        uint32_t ky = r / KW, kx = r % KW;

                        for (uint32_t kk = 0; kk < kn; kk++) {
#pragma HLS PIPELINE II = 1
                            const uint8_t *xc = xg + (uint64_t)ci * HW;
                            const int64_t dy = (int64_t)ky * d->dil_h, dx = (int64_t)kx * d->dil_w;

                            for (uint32_t i = 0; i < TM; i++)
                                at[kk][i] = (int16_t)(i < tm ? tap(xc, iy0[i] + dy, ix0[i] + dx, H,
                                                                   W, xu, xzp)
                                                             : 0);
                            for (uint32_t j = 0; j < TN; j++)
                                bt[kk][j] =
                                    (int16_t)(j < tn ? cu_ld8(wg, (uint64_t)(j0 + j) * K + k0 + kk,
                                                              wu) -
                                                           wzp
                                                     : 0);
                            if (++kx == KW) {
                                kx = 0;
                                if (++ky == KH) {
                                    ky = 0;
                                    ci++;
                                }
                            }
                        }
                        cu_mac_tile(acc, at, bt, kn, tm, tn);
                    }
                    store_tile(d, rq, bias, acc, yn, g * Mg + j0, p0, tm, tn, P);
                }
            }
        }
    }
}

/* Depthwise: TN channels side by side, TM pixels each, one tap per cycle. */
static void conv_depthwise(const struct loom_cu_qconv_desc *d, const struct loom_rq *rq,
                           const uint8_t *x, const uint8_t *w, const int32_t *bias, uint8_t *y)
{
    const uint32_t f = d->hdr.flags, C = d->c, H = d->h, W = d->w, KH = d->kh, KW = d->kw;
    const uint32_t OW = d->ow;
    const uint64_t P = (uint64_t)d->oh * OW, HW = (uint64_t)H * W, KK = (uint64_t)KH * KW;
    const int xu = !!(f & LOOM_CU_F_X_U8), wu = !!(f & LOOM_CU_F_W_U8);
    const int32_t xzp = d->q.x_zp, wzp = d->q.w_zp;
    int32_t acc[TM][TN];
    int64_t iy0[TM], ix0[TM];
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 0

    for (uint32_t n = 0; n < d->n; n++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 64
        const uint8_t *xn = x + (uint64_t)n * C * HW;
        uint8_t *yn = y + (uint64_t)n * C * P;

        for (uint32_t c0 = 0; c0 < C; c0 += TN) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 64
            const uint32_t tn = C - c0 < TN ? C - c0 : TN;

            for (uint64_t p0 = 0; p0 < P; p0 += TM) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4096
                const uint32_t tm = P - p0 < TM ? (uint32_t)(P - p0) : TM;

                for (uint32_t i = 0; i < TM; i++) {
#pragma HLS UNROLL
                    uint64_t p = p0 + (i < tm ? i : 0);

                    iy0[i] = (int64_t)(p / OW) * d->stride_h - d->pad_t;
                    ix0[i] = (int64_t)(p % OW) * d->stride_w - d->pad_l;
                }
                cu_acc_zero(acc);
                for (uint32_t ky = 0; ky < KH; ky++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 11
                    for (uint32_t kx = 0; kx < KW; kx++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 11
#pragma HLS PIPELINE II = 1
                        const int64_t dy = (int64_t)ky * d->dil_h, dx = (int64_t)kx * d->dil_w;

                        for (uint32_t j = 0; j < tn; j++) {
#pragma HLS UNROLL
                            const uint32_t c = c0 + j;
                            const int32_t wv =
                                cu_ld8(w, (uint64_t)c * KK + (uint64_t)ky * KW + kx, wu) - wzp;

                            for (uint32_t i = 0; i < tm; i++) {
#pragma HLS UNROLL
                                acc[i][j] += tap(xn + (uint64_t)c * HW, iy0[i] + dy, ix0[i] + dx, H,
                                                 W, xu, xzp) *
                                             wv;
                            }
                        }
                    }
                }
                store_tile(d, rq, bias, acc, yn, c0, p0, tm, tn, P);
            }
        }
    }
}

void loom_cu_qconv(const struct loom_cu_qconv_desc *d, const struct loom_rq *rq, const uint8_t *x,
                   const uint8_t *w, const int32_t *bias, uint8_t *y)
{
#pragma HLS INTERFACE m_axi port = d offset = slave bundle = gmem_d
#pragma HLS INTERFACE m_axi port = rq offset = slave bundle = gmem_d
#pragma HLS INTERFACE m_axi port = x offset = slave bundle = gmem_a max_read_burst_length = 64
#pragma HLS INTERFACE m_axi port = w offset = slave bundle = gmem_b max_read_burst_length = 64
#pragma HLS INTERFACE m_axi port = bias offset = slave bundle = gmem_d
#pragma HLS INTERFACE m_axi port = y offset = slave bundle = gmem_y max_write_burst_length = 64
#pragma HLS INTERFACE s_axilite port = return
    if (!(d->hdr.flags & LOOM_CU_F_BIAS))
        bias = NULL;
    if (d->group == d->c && d->group == d->m)
        conv_depthwise(d, rq, x, w, bias, y);
    else
        conv_general(d, rq, x, w, bias, y);
}
