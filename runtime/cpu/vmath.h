/*
 * vmath.h - vectorised float transcendentals for the CPU kernels.
 *
 * Every unary kernel that used to call libm per element (Exp, Log, Tanh,
 * Sigmoid, Erf, Softplus, the GELU/SiLU/Mish activations, Softmax's exp)
 * comes here instead. One algorithm per function, written once
 * (vmath_impl.h) and compiled for AVX-512, AVX2 and plain scalar C; the
 * widest the CPU has is picked at run time (LOOM_CPU_ISA caps it, see
 * cpu_features.h). Every operation rounds alike on every ISA, so each
 * returns bit-identical results and a model's output does not depend on the
 * machine: multiplies and adds are kept separate, except the polynomial steps
 * of exp and erf/erfc, which are fused multiply-adds on every ISA (fmaf in
 * scalar C; the AVX2 form needs FMA, which every AVX2 CPU we pick has).
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

/* x = f(x) in place over @rows rows of @n values, @ld apart: one ISA
 * dispatch for a whole GEMM tile instead of one per row (a call per 32-wide
 * row cost BERT's GELU MatMuls a tenth of their time). */
void lm_vm_apply_rows(lm_vm_fn f, float *x, int64_t ld, int64_t rows, int64_t n);

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

/* ---- Rows: the elementwise and row kernels of Add/Sub/Mul/Div, Softmax and
 * LayerNormalization, on the same ISA dispatch. */

typedef enum lm_vm_bop { LM_VB_ADD, LM_VB_SUB, LM_VB_MUL, LM_VB_DIV, LM_VB_NOPS } lm_vm_bop;

/* Partial sums per reduction, whatever the ISA (see lm_vm_softmax). */
#define LM_VM_LANES 16

/*
 * o[i] = a[i * sa] OP b[i * sb] for i < n, sa and sb 0 (a scalar operand) or
 * 1; o may equal a or b. Exact IEEE results, identical on every ISA.
 */
void lm_vm_binary(lm_vm_bop op, const float *a, const float *b, float *o, int64_t n, int sa,
                  int sb);

/*
 * One softmax row: t[i] = x[i] * scale (x[i] / scale when @div) + add[i * sa]
 * (no add when @add is NULL; sa 0 or 1), y = exp(t - max t) / sum. The
 * maximum and the sum are taken over LM_VM_LANES interleaved partial results
 * folded in a fixed order, so every ISA gives the same bits; against a
 * double-precision reference each output is within 2 ulp + n * 2^-24
 * relative (exp's 1 ulp, the sum's rounding, the final scaling), except that
 * exp(t - max) below FLT_MIN (2^-126) counts as 0: an absolute error under
 * 2^-126, which keeps masked lanes out of subnormal arithmetic (slow on
 * x86). NaN in any t makes the row NaN; a row of -inf gives NaN, as
 * exp(-inf - -inf) does.
 * y may equal x.
 */
void lm_vm_softmax(const float *x, const float *add, int64_t sa, float *y, int64_t n, float scale,
                   bool div);

/*
 * One layer-norm row: v = x + skip (v = x when @skip is NULL), stored to
 * @v_out when given; mean and variance of v (lane partial sums in float,
 * folded in double; the variance from the centred values); y = (v - mean) *
 * istd * g + b (no b when NULL), istd = 1 / sqrt(var + eps). @mean_out and
 * @istd_out (either may be NULL) receive mean and istd. y may equal x or
 * v_out. Identical bits on every ISA.
 */
void lm_vm_layernorm(const float *x, const float *skip, float *v_out, float *y, int64_t n,
                     const float *g, const float *b, float eps, float *mean_out, float *istd_out);

/* The same three for one ISA, for tests and benchmarks. */
typedef struct lm_vm_rows {
    void (*binary)(lm_vm_bop op, const float *a, const float *b, float *o, int64_t n, int sa,
                   int sb);
    void (*softmax)(const float *x, const float *add, int64_t sa, float *y, int64_t n, float scale,
                    int div);
    void (*layernorm)(const float *x, const float *skip, float *v_out, float *y, int64_t n,
                      const float *g, const float *b, float eps, float *mean_out, float *istd_out);
} lm_vm_rows;

/* The kernels of @isa, or NULL when this CPU or build lacks it. */
const lm_vm_rows *lm_vm_rows_isa(lm_vm_isa isa);

#endif
