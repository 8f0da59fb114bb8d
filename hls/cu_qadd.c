/*
 * LOOM_CU_KIND_QADD: y = clamp(y_zp + round_half_even(((a - a_zp) * a_mult +
 * (b - b_zp) * b_mult) / 2^shift)) over a 4-D output, each input read
 * through its own strides (0 broadcasts: a per-channel bias [1,C,1,1], a
 * scalar). LOOM_CU_LANES elements per cycle on the card; one rounding for
 * the sum, so the result is the exactly rounded real-valued one.
 */
#include "cu_engine.h"

void loom_cu_qadd(const struct loom_cu_qadd_desc *d, const uint8_t *a, const uint8_t *b, uint8_t *y)
{
#pragma HLS INTERFACE m_axi port = d offset = slave bundle = gmem_d
#pragma HLS INTERFACE m_axi port = a offset = slave bundle = gmem_a max_read_burst_length = 64
#pragma HLS INTERFACE m_axi port = b offset = slave bundle = gmem_b max_read_burst_length = 64
#pragma HLS INTERFACE m_axi port = y offset = slave bundle = gmem_y max_write_burst_length = 64
#pragma HLS INTERFACE s_axilite port = return
    const uint32_t f = d->hdr.flags;
    const int au = !!(f & LOOM_CU_F_X_U8), bu = !!(f & LOOM_CU_F_W_U8);
    uint64_t o = 0;

    for (uint32_t i0 = 0; i0 < d->dims[0]; i0++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 64
        for (uint32_t i1 = 0; i1 < d->dims[1]; i1++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 1024
            for (uint32_t i2 = 0; i2 < d->dims[2]; i2++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 256
                const uint64_t ab = (uint64_t)i0 * d->a_strides[0] +
                                    (uint64_t)i1 * d->a_strides[1] + (uint64_t)i2 * d->a_strides[2];
                const uint64_t bb = (uint64_t)i0 * d->b_strides[0] +
                                    (uint64_t)i1 * d->b_strides[1] + (uint64_t)i2 * d->b_strides[2];

                for (uint32_t i3 = 0; i3 < d->dims[3]; i3++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 256
#pragma HLS PIPELINE II = 1
#pragma HLS UNROLL factor = 16
                    int64_t s =
                        (int64_t)(cu_ld8(a, ab + (uint64_t)i3 * d->a_strides[3], au) - d->a_zp) *
                            d->a_mult +
                        (int64_t)(cu_ld8(b, bb + (uint64_t)i3 * d->b_strides[3], bu) - d->b_zp) *
                            d->b_mult;
                    int64_t v = loom_rq_round_shift(s, d->shift) + d->y_zp;

                    y[o++] = (uint8_t)(v < d->act_min   ? d->act_min
                                       : v > d->act_max ? d->act_max
                                                        : v);
                }
            }
        }
    }
}
