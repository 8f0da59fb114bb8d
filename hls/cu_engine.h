/*
 * The MAC array QGEMM and QCONV share: a LOOM_CU_TM x LOOM_CU_TN
 * output-stationary array of int32 accumulators fed one K step per cycle
 * with a column of A (TM zero-point-corrected values) and a row of B (TN).
 * On the FPGA the array is fully partitioned registers, the K loop pipelined
 * at II=1 and the two inner loops unrolled: TM*TN MACs per cycle. In C it is
 * the same loops, which the compiler vectorizes.
 */
#ifndef LOOM_CU_ENGINE_H
#define LOOM_CU_ENGINE_H

#include "loom_cu.h"

#pragma GCC diagnostic ignored "-Wunknown-pragmas"

#define TM LOOM_CU_TM
#define TN LOOM_CU_TN
#define KT LOOM_CU_KT

/* One value of an int8 or uint8 tensor. */
static inline int32_t cu_ld8(const uint8_t *p, uint64_t i, int is_u8)
{
    return is_u8 ? (int32_t)p[i] : (int32_t)(int8_t)p[i];
}

static inline void cu_acc_zero(int32_t acc[TM][TN])
{
    for (uint32_t i = 0; i < TM; i++) {
#pragma HLS UNROLL
        for (uint32_t j = 0; j < TN; j++) {
#pragma HLS UNROLL
            acc[i][j] = 0;
        }
    }
}

/*
 * acc += at[:, 0:kn] x bt[0:kn, :], one K step per cycle. Lanes past tm rows
 * or tn columns hold zeros: the array computes them anyway (full unroll).
 * The host build skips them, which changes no result and makes a batch-1
 * GEMV (tm = 1) 16 times cheaper to emulate.
 */
static inline void cu_mac_tile(int32_t acc[TM][TN], const int16_t at[KT][TM],
                               const int16_t bt[KT][TN], uint32_t kn, uint32_t tm, uint32_t tn)
{
#ifdef __SYNTHESIS__
    tm = TM;
    tn = TN;
#endif
    for (uint32_t kk = 0; kk < kn; kk++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 64
#pragma HLS PIPELINE II = 1
        for (uint32_t i = 0; i < tm; i++) {
#pragma HLS UNROLL
            int32_t av = at[kk][i];

            if (tn == TN) {
                for (uint32_t j = 0; j < TN; j++) {
#pragma HLS UNROLL
                    acc[i][j] += av * bt[kk][j];
                }
            } else {
                for (uint32_t j = 0; j < tn; j++)
                    acc[i][j] += av * bt[kk][j];
            }
        }
    }
}

/*
 * acc + bias, wrapped to int32 (the requantizer's input): the CPU backend adds
 * them in uint32, and the card must match it bit for bit. Without bias acc
 * cannot wrap (K is bounded); with an extreme bias both wrap alike.
 */
static inline int32_t cu_add_bias(int32_t acc, const int32_t *bias, uint32_t ch)
{
    return (int32_t)((uint32_t)acc + (bias ? (uint32_t)bias[ch] : 0u));
}

#endif /* LOOM_CU_ENGINE_H */
