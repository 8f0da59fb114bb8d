/*
 * activation.c - the activations that are not clamps, vectorized per ISA.
 *
 * GEMM epilogues apply them to every output row of a tile and depthwise
 * convolutions to whole planes; written as plain C, GCC turns HardSwish and
 * HardSigmoid into scalar code with a compare-and-branch per element (a fifth
 * of MobileNetV3's time). Clamps over long runs (Winograd outputs, whole
 * planes) come here too: the library's baseline ISA is SSE2. These loops use AVX-512 masks and
 * min/max with the operand order that lets NaN through like the scalar forms in activation.h, and
 * multiply and add separately (no FMA) so they round like them too.
 */
#include "activation.h"

#include <pthread.h>

#include "act_avx512.h"
#include "cpu_features.h"
#include "vmath.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f")))

/* max(0, min(1, v)) with NaN passing through: vmaxps returns its second
 * operand unless the first is greater. */
static inline TARGET __m512 unit_clamp(__m512 v)
{
    v = _mm512_max_ps(_mm512_setzero_ps(), v);
    return _mm512_min_ps(_mm512_set1_ps(1.0f), v);
}

static inline TARGET __m512 act16(lm_act_kind kind, __m512 x, __m512 al, __m512 be)
{
    switch (kind) {
    case LM_ACT_RELU: /* x < 0 ? 0 : x */
        return _mm512_max_ps(_mm512_setzero_ps(), x);
    case LM_ACT_CLIP: /* v = x < al ? al : x; v > be ? be : v */
        return _mm512_min_ps(be, _mm512_max_ps(al, x));
    case LM_ACT_LEAKY_RELU: {
        __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
        return _mm512_mask_mul_ps(x, neg, x, al);
    }
    case LM_ACT_HARD_SIGMOID:
        return unit_clamp(_mm512_add_ps(_mm512_mul_ps(al, x), be));
    case LM_ACT_HARD_SWISH:
        return lm_hswish16(x);
    default:
        return x;
    }
}

static TARGET void apply_avx512f(const lm_act *a, float *x, int64_t n)
{
    const __m512 al = _mm512_set1_ps(a->alpha), be = _mm512_set1_ps(a->beta);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, act16(a->kind, _mm512_loadu_ps(x + i), al, be));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 v = act16(a->kind, _mm512_maskz_loadu_ps(m, x + i), al, be);
        _mm512_mask_storeu_ps(x + i, m, v);
    }
}
#endif

static bool g_avx512;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void choose(void)
{
    g_avx512 = lm_cpu_features_get()->avx512f;
}

/* The transcendental activations are vmath's; LM_VM_NFN for the others. */
static lm_vm_fn vm_form(lm_act_kind kind)
{
    switch (kind) {
    case LM_ACT_SIGMOID:
        return LM_VM_SIGMOID;
    case LM_ACT_SILU:
        return LM_VM_SILU;
    case LM_ACT_GELU:
        return LM_VM_GELU;
    case LM_ACT_GELU_TANH:
        return LM_VM_GELU_TANH;
    case LM_ACT_MISH:
        return LM_VM_MISH;
    default:
        return LM_VM_NFN;
    }
}

void lm_act_apply_vec(const lm_act *a, float *x, int64_t n)
{
    lm_vm_fn vf = vm_form(a->kind);
    if (vf != LM_VM_NFN) {
        lm_vm_apply(vf, x, x, n);
        return;
    }
    pthread_once(&g_once, choose);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (g_avx512) {
        apply_avx512f(a, x, n);
        return;
    }
#endif
    lm_act_apply_scalar(a, x, n);
}

void lm_act_apply_tile(const lm_act *a, float *c, int64_t ldc, int64_t rows, int64_t n)
{
    lm_vm_fn vf = vm_form(a->kind);
    if (vf != LM_VM_NFN) {
        lm_vm_apply_rows(vf, c, ldc, rows, n);
        return;
    }
    for (int64_t i = 0; i < rows; i++)
        lm_act_apply(a, c + i * ldc, n);
}
