/*
 * vmath.c - instantiates vmath_impl.h for scalar C, AVX2 and AVX-512 and
 * picks one at run time. See vmath.h for the functions and their errors.
 */
#include "vmath.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "cpu_features.h"

/* Every ISA must round alike, so no multiply-add may become an FMA where the
 * target has one unless it is written as one (VM_FMA, defined per instance
 * below): GCC does not contract in ISO C mode, clang does unless told. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define VM_HAVE_X86 1
#else
#define VM_HAVE_X86 0
#endif

/* Portable: plain floats, the same operations one lane at a time; C99's
 * fmaf rounds once like the FMA instructions (in hardware where there is
 * one, else in libm). */
#define VM_FMA(a, b, c) fmaf(a, b, c)
#define V               float
#define VI              int32_t
#define VU              uint32_t
#define VM_W            1
#define VM_SFX          scalar
#define VM_ATTR
#include "vmath_impl.h"
#undef V
#undef VI
#undef VU
#undef VM_W
#undef VM_SFX
#undef VM_ATTR
#undef VM_FMA

#if VM_HAVE_X86
#include <immintrin.h>

typedef float vm_f8 __attribute__((vector_size(32)));
typedef int32_t vm_i8 __attribute__((vector_size(32)));
typedef uint32_t vm_u8 __attribute__((vector_size(32)));
#define V               vm_f8
#define VI              vm_i8
#define VU              vm_u8
#define VM_W            8
#define VM_SFX          avx2
#define VM_ATTR         __attribute__((target("avx2,fma")))
#define VM_FMA(a, b, c) ((vm_f8)_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(c)))
#include "vmath_impl.h"
#undef V
#undef VI
#undef VU
#undef VM_W
#undef VM_SFX
#undef VM_ATTR
#undef VM_FMA

typedef float vm_f16 __attribute__((vector_size(64)));
typedef int32_t vm_i16 __attribute__((vector_size(64)));
typedef uint32_t vm_u16 __attribute__((vector_size(64)));
#define V               vm_f16
#define VI              vm_i16
#define VU              vm_u16
#define VM_W            16
#define VM_SFX          avx512
#define VM_ATTR         __attribute__((target("avx512f")))
#define VM_FMA(a, b, c) ((vm_f16)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
#include "vmath_impl.h"
#undef V
#undef VI
#undef VU
#undef VM_W
#undef VM_SFX
#undef VM_ATTR
#undef VM_FMA
#endif

typedef void (*vm_runner)(lm_vm_fn f, const float *x, float *y, int64_t n);

static lm_vm_isa g_best;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void choose(void)
{
    const lm_cpu_features *cf = lm_cpu_features_get();
    g_best = LM_VM_SCALAR;
#if VM_HAVE_X86
    if (cf->avx512f)
        g_best = LM_VM_AVX512;
    else if (cf->avx2_fma)
        g_best = LM_VM_AVX2;
#else
    (void)cf;
#endif
}

lm_vm_isa lm_vm_best_isa(void)
{
    pthread_once(&g_once, choose);
    return g_best;
}

/* The runner for @isa, or NULL where this CPU or build lacks it. The
 * detected features are consulted directly (not LOOM_CPU_ISA's cap), so a
 * test can compare every ISA the hardware has. */
static vm_runner runner(lm_vm_isa isa)
{
    switch (isa) {
    case LM_VM_SCALAR:
        return vm_run_scalar;
#if VM_HAVE_X86
    case LM_VM_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? vm_run_avx2 : NULL;
    case LM_VM_AVX512:
        return __builtin_cpu_supports("avx512f") ? vm_run_avx512 : NULL;
#endif
    default:
        return NULL;
    }
}

static const lm_vm_rows rows_scalar = {vm_binary_scalar, vm_softmax_scalar, vm_layernorm_scalar};
#if VM_HAVE_X86
static const lm_vm_rows rows_avx2 = {vm_binary_avx2, vm_softmax_avx2, vm_layernorm_avx2};
static const lm_vm_rows rows_avx512 = {vm_binary_avx512, vm_softmax_avx512, vm_layernorm_avx512};
#endif

const lm_vm_rows *lm_vm_rows_isa(lm_vm_isa isa)
{
    switch (isa) {
    case LM_VM_SCALAR:
        return &rows_scalar;
#if VM_HAVE_X86
    case LM_VM_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? &rows_avx2 : NULL;
    case LM_VM_AVX512:
        return __builtin_cpu_supports("avx512f") ? &rows_avx512 : NULL;
#endif
    default:
        return NULL;
    }
}

static const lm_vm_rows *g_rows;
static pthread_once_t g_rows_once = PTHREAD_ONCE_INIT;

static void choose_rows(void)
{
    g_rows = lm_vm_rows_isa(lm_vm_best_isa());
}

static const lm_vm_rows *best_rows(void)
{
    pthread_once(&g_rows_once, choose_rows);
    return g_rows;
}

void lm_vm_binary(lm_vm_bop op, const float *a, const float *b, float *o, int64_t n, int sa, int sb)
{
    if (n > 0)
        best_rows()->binary(op, a, b, o, n, sa, sb);
}

void lm_vm_softmax(const float *x, const float *add, int64_t sa, float *y, int64_t n, float scale,
                   bool div)
{
    if (n > 0)
        best_rows()->softmax(x, add, sa, y, n, scale, div);
}

void lm_vm_layernorm(const float *x, const float *skip, float *v_out, float *y, int64_t n,
                     const float *g, const float *b, float eps, float *mean_out, float *istd_out)
{
    if (n > 0)
        best_rows()->layernorm(x, skip, v_out, y, n, g, b, eps, mean_out, istd_out);
}

bool lm_vm_apply_isa(lm_vm_isa isa, lm_vm_fn f, const float *x, float *y, int64_t n)
{
    vm_runner r = runner(isa);
    if (!r || (unsigned)f >= LM_VM_NFN)
        return false;
    if (n > 0)
        r(f, x, y, n);
    return true;
}

void lm_vm_apply(lm_vm_fn f, const float *x, float *y, int64_t n)
{
    lm_vm_apply_isa(lm_vm_best_isa(), f, x, y, n);
}

typedef void (*vm_rows_runner)(lm_vm_fn f, float *x, int64_t ld, int64_t rows, int64_t n);

static vm_rows_runner rows_runner(lm_vm_isa isa)
{
    switch (isa) {
#if VM_HAVE_X86
    case LM_VM_AVX2:
        return vm_run_rows_avx2;
    case LM_VM_AVX512:
        return vm_run_rows_avx512;
#endif
    default:
        return vm_run_rows_scalar;
    }
}

void lm_vm_apply_rows(lm_vm_fn f, float *x, int64_t ld, int64_t rows, int64_t n)
{
    if ((unsigned)f < LM_VM_NFN && n > 0 && rows > 0)
        rows_runner(lm_vm_best_isa())(f, x, ld, rows, n);
}

const char *lm_vm_name(lm_vm_fn f)
{
    static const char *const names[LM_VM_NFN] = {
        [LM_VM_EXP] = "exp",
        [LM_VM_LOG] = "log",
        [LM_VM_TANH] = "tanh",
        [LM_VM_SIGMOID] = "sigmoid",
        [LM_VM_ERF] = "erf",
        [LM_VM_GELU] = "gelu",
        [LM_VM_GELU_TANH] = "gelu_tanh",
        [LM_VM_SILU] = "silu",
        [LM_VM_SOFTPLUS] = "softplus",
        [LM_VM_MISH] = "mish",
    };
    return (unsigned)f < LM_VM_NFN ? names[f] : "?";
}

/* pow(x, 0.5) is sqrt except at -0 (+0) and -inf (+inf); adding +0 turns
 * sqrt's -0 into +0. */
static void pow_half(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] == -INFINITY ? INFINITY : sqrtf(x[i]) + 0.0f;
}

bool lm_vm_pow_const(const float *x, float *y, int64_t n, double e)
{
    if (e == 2.0) {
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] * x[i];
    } else if (e == 3.0) {
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] * x[i] * x[i];
    } else if (e == -1.0) {
        for (int64_t i = 0; i < n; i++)
            y[i] = 1.0f / x[i];
    } else if (e == 0.5) {
        pow_half(x, y, n);
    } else {
        return false;
    }
    return true;
}
