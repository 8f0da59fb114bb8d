/*
 * vmath.h - vectorised float transcendentals for the CPU kernels.
 *
 * Every unary kernel that used to call libm per element (Exp, Log, Tanh,
 * Sigmoid, Erf, Softplus, the GELU/SiLU/Mish activations, Softmax's exp)
 * comes here instead. One algorithm per function, written once
 * (vmath_impl.h) and compiled for AVX-512, AVX2 and plain scalar C; the
 * widest the CPU has is picked at run time (LOOM_CPU_ISA caps it, see
 * cpu_features.h). Multiplies and adds are kept separate (no FMA), so every
 * ISA returns bit-identical results and a model's output does not depend on
 * the machine.
 *
 * Maximum error against a double-precision libm reference, in units of the
 * last place of the float result (subnormal results count in subnormal ulps),
 * asserted by tests/unit/test_vmath.c over every 1021st float bit pattern and
 * the special values (measured maximum in brackets):
 *
 *   exp       1 ulp (0.94)     log       1 ulp (0.76)     tanh   2 ulp (1.24)
 *   sigmoid   3 ulp (2.61)     erf       3 ulp (2.36)     softplus 3 ulp (2.60)
 *   silu      5 ulp (4.11)     mish      5 ulp (4.80)
 *   gelu      6 ulp for x >= 0, 6 + 1.25 x^2 ulp for x < 0 (16 at x >= -4)
 *   gelu_tanh 6 ulp for x >= 0, 6 + 2.1 x^2 ulp for x < 0 (19 at x >= -4)
 *
 * GELU's negative side is ill-conditioned: rounding x / sqrt(2) (or the tanh
 * argument) to float is amplified by erfc's (sigmoid's) condition number,
 * about 2t^2, which no float algorithm avoids; a float reference formula
 * that computes 1 + erf(t) loses every digit there instead.
 *
 * Special values follow C99 Annex F: NaN in gives NaN out, exp(-inf) = +0,
 * log(0) = -inf, log(x < 0) = NaN, tanh and erf keep the sign of zero and
 * saturate to +-1, sigmoid(-inf) = 0, softplus(+inf) = +inf, and the x-times
 * activations (SiLU, GELU, Mish) map +-0 to +-0, +inf to +inf and -inf to
 * NaN, as their ONNX formulas (-inf * 0) do.
 */
#ifndef LOOM_CPU_VMATH_H
#define LOOM_CPU_VMATH_H

#include <stdbool.h>
#include <stdint.h>

typedef enum lm_vm_fn {
    LM_VM_EXP,
    LM_VM_LOG,
    LM_VM_TANH,
    LM_VM_SIGMOID, /* 1 / (1 + exp(-x)) */
    LM_VM_ERF,
    LM_VM_GELU,      /* x / 2 * (1 + erf(x / sqrt(2))) */
    LM_VM_GELU_TANH, /* x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))) */
    LM_VM_SILU,      /* x * sigmoid(x) */
    LM_VM_SOFTPLUS,  /* log(1 + exp(x)) */
    LM_VM_MISH,      /* x * tanh(softplus(x)) */
    LM_VM_NFN
} lm_vm_fn;

typedef enum lm_vm_isa { LM_VM_SCALAR, LM_VM_AVX2, LM_VM_AVX512, LM_VM_NISA } lm_vm_isa;

/* y[0..n) = f(x[0..n)) with the widest ISA the CPU offers; y may equal x. */
void lm_vm_apply(lm_vm_fn f, const float *x, float *y, int64_t n);

/* The same with a given ISA, for tests and benchmarks; false (and nothing
 * written) when this CPU or build lacks it. */
bool lm_vm_apply_isa(lm_vm_isa isa, lm_vm_fn f, const float *x, float *y, int64_t n);

/* The ISA lm_vm_apply uses. */
lm_vm_isa lm_vm_best_isa(void);

/* Lower-case name of @f ("exp", "gelu_tanh", ...) for messages. */
const char *lm_vm_name(lm_vm_fn f);

/*
 * y = pow(x, e) for the exponents exporters write as constants: 2 and 3 by
 * multiplication, 0.5 by sqrt, -1 by division. Returns false (nothing
 * written) for any other @e. Exact for 2, 0.5 and -1 (as pow is); within 1 ulp
 * for 3. Special values match pow: pow(-0, 0.5) = +0, pow(-inf, 0.5) = +inf.
 */
bool lm_vm_pow_const(const float *x, float *y, int64_t n, double e);

#endif
