/*
 * qlut.c - loom.QLut: y[i] = table[byte of x[i]] on 8-bit tensors.
 *
 * fuse_qlut.c writes it for a chain of element-wise float operators between
 * DequantizeLinear and QuantizeLinear whose only varying input is one 8-bit
 * tensor (GELU's Div, Erf, Add, Mul and their quantizers; a scale by a
 * constant): such a chain is a function of 256 values, which it tabulates
 * once by running the chain's own kernels on them. Inputs: x (uint8 or int8)
 * and the table (256 values, uint8 or int8, the output type), indexed by
 * x's byte, so an int8 x of -1 reads table[255].
 */
#include "quant_common.h"

/* Elements per parallel job. */
#define QLUT_BLOCK 4096

typedef struct qlut_job {
    const uint8_t *x, *t;
    uint8_t *y;
    int64_t n;
} qlut_job;

static void qlut_base(const uint8_t *restrict x, const uint8_t *restrict t, uint8_t *restrict y,
                      int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = t[x[i]];
}

#if HAVE_AVX512_ROWS
/* 64 bytes per step: vpermi2b picks from 128 table bytes by the index's low
 * 7 bits, once for each half of the table; bit 7 chooses the half. */
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static void
qlut_vbmi(const uint8_t *x, const uint8_t *t, uint8_t *y, int64_t n)
{
    const __m512i t0 = _mm512_loadu_si512((const void *)t);
    const __m512i t1 = _mm512_loadu_si512((const void *)(t + 64));
    const __m512i t2 = _mm512_loadu_si512((const void *)(t + 128));
    const __m512i t3 = _mm512_loadu_si512((const void *)(t + 192));
    for (int64_t i = 0; i < n; i += 64) {
        __mmask64 k = n - i >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (n - i)) - 1;
        __m512i idx = _mm512_maskz_loadu_epi8(k, x + i);
        __m512i lo = _mm512_permutex2var_epi8(t0, idx, t1);
        __m512i hi = _mm512_permutex2var_epi8(t2, idx, t3);
        __m512i v = _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi);
        _mm512_mask_storeu_epi8(y + i, k, v);
    }
}
#endif

static void qlut_run(void *arg, int64_t begin, int64_t end)
{
    const qlut_job *j = arg;
    int64_t i0 = begin * QLUT_BLOCK, i1 = end * QLUT_BLOCK < j->n ? end * QLUT_BLOCK : j->n;
#if HAVE_AVX512_ROWS
    if (lm_cpu_features_get()->avx512vbmi) {
        qlut_vbmi(j->x + i0, j->t, j->y + i0, i1 - i0);
        return;
    }
#endif
    qlut_base(j->x + i0, j->t, j->y + i0, i1 - i0);
}

loom_status lm_op_qlut(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 2, 2);
    if (st != LOOM_OK)
        return st;
    const loom_tensor *x = lm_kin(k, 0), *t = lm_kin(k, 1);
    if (!is_q8(x->dtype) || !is_q8(t->dtype) || lm_tensor_count(t) != 256)
        return lm_kunsupported(k, "x must be 8-bit and the table 256 8-bit values, got %s and %s",
                               loom_dtype_name(x->dtype), loom_dtype_name(t->dtype));
    loom_tensor *y = lm_kout_like(k, 0, t->dtype, x);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    int64_t n = lm_tensor_count(x);
    if (k->dry || n == 0)
        return LOOM_OK;
    if ((st = lm_kneed_data(k, 1)) != LOOM_OK)
        return st;
    qlut_job j = {.x = x->data, .t = t->data, .y = y->data, .n = n};
    /* about 0.03 ns a byte on 64 lanes */
    PAR(k, (n + QLUT_BLOCK - 1) / QLUT_BLOCK, QLUT_BLOCK * 0.03, qlut_run, &j);
    return LOOM_OK;
}
