/*
 * LOOM_CU_KIND_QGEMM: Y[b] = requant(A[b] x B[b] + bias), int8/uint8 in,
 * int32 accumulate, per-column float32-exact requantization, fused clamp.
 * Tiled TM x TN over the output, KT-deep chunks of K staged on chip; the
 * tiles go through the shared MAC array (cu_engine.h).
 */
#include "cu_engine.h"

void loom_cu_qgemm(const struct loom_cu_qgemm_desc *d, const struct loom_rq *rq, const uint8_t *a,
                   const uint8_t *b, const int32_t *bias, uint8_t *y)
{
#pragma HLS INTERFACE m_axi port = d offset = slave bundle = gmem_d
#pragma HLS INTERFACE m_axi port = rq offset = slave bundle = gmem_d
#pragma HLS INTERFACE m_axi port = a offset = slave bundle = gmem_a max_read_burst_length = 64
#pragma HLS INTERFACE m_axi port = b offset = slave bundle = gmem_b max_read_burst_length = 64
#pragma HLS INTERFACE m_axi port = bias offset = slave bundle = gmem_d
#pragma HLS INTERFACE m_axi port = y offset = slave bundle = gmem_y max_write_burst_length = 64
#pragma HLS INTERFACE s_axilite port = return
    const uint32_t f = d->hdr.flags, M = d->m, N = d->n, K = d->k;
    const int xu = !!(f & LOOM_CU_F_X_U8), wu = !!(f & LOOM_CU_F_W_U8);
    const int trans_b = !!(f & LOOM_CU_F_TRANS_B), per_ch = d->q.rq_count > 1;
    const int32_t xzp = d->q.x_zp, wzp = d->q.w_zp;
    int32_t acc[TM][TN];
    int16_t at[KT][TM], bt[KT][TN];
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 0
#pragma HLS ARRAY_PARTITION variable = at complete dim = 2
#pragma HLS ARRAY_PARTITION variable = bt complete dim = 2

    if (!(f & LOOM_CU_F_BIAS))
        bias = NULL;
    for (uint32_t bi = 0; bi < d->batch; bi++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 64
        const uint8_t *ab = a + bi * d->a_stride, *bb = b + bi * d->b_stride;
        uint8_t *yb = y + bi * d->y_stride;

        for (uint32_t j0 = 0; j0 < N; j0 += TN) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 256
            const uint32_t tn = N - j0 < TN ? N - j0 : TN;

            for (uint32_t i0 = 0; i0 < M; i0 += TM) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 256
                const uint32_t tm = M - i0 < TM ? M - i0 : TM;

                cu_acc_zero(acc);
                for (uint32_t k0 = 0; k0 < K; k0 += KT) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 512
                    const uint32_t kn = K - k0 < KT ? K - k0 : KT;

                    /* Stage the tiles; lanes past the matrix edge hold 0. */
                    for (uint32_t kk = 0; kk < kn; kk++) {
#pragma HLS PIPELINE II = 1
                        for (uint32_t i = 0; i < TM; i++)
                            at[kk][i] =
                                (int16_t)(i < tm
                                              ? cu_ld8(ab, (uint64_t)(i0 + i) * K + k0 + kk, xu) -
                                                    xzp
                                              : 0);
                        for (uint32_t j = 0; j < TN; j++) {
                            uint64_t bidx = trans_b ? (uint64_t)(j0 + j) * K + k0 + kk
                                                    : (uint64_t)(k0 + kk) * N + j0 + j;

                            bt[kk][j] = (int16_t)(j < tn ? cu_ld8(bb, bidx, wu) - wzp : 0);
                        }
                    }
                    cu_mac_tile(acc, at, bt, kn, tm, tn);
                }
                /* Requantize and write the tile back, row by row. */
                for (uint32_t i = 0; i < tm; i++) {
                    for (uint32_t j = 0; j < tn; j++) {
#pragma HLS PIPELINE II = 1
                        const uint32_t ch = j0 + j;
                        int32_t v =
                            loom_rq_apply(cu_add_bias(acc[i][j], bias, ch), rq[per_ch ? ch : 0],
                                          d->q.y_zp, d->q.act_min, d->q.act_max);

                        yb[(uint64_t)(i0 + i) * N + ch] = (uint8_t)v;
                    }
                }
            }
        }
    }
}
