/*
 * ew.h - private helpers shared by the elementwise, unary and reduction kernels:
 * numpy broadcasting iteration, per-dtype X-macros and float16 staging.
 */
#ifndef LOOM_CPU_OPS_EW_H
#define LOOM_CPU_OPS_EW_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/op.h"
#include "tables.h"

/* Dtype codes are small (<= 13): per-op kernel tables are indexed by them. */
#define LM_NDT 16

/* Suffix -> dtype code, used to build per-dtype tables with designated initializers. */
#define DT_f32 LOOM_DTYPE_FLOAT
#define DT_f64 LOOM_DTYPE_DOUBLE
#define DT_i8  LOOM_DTYPE_INT8
#define DT_i16 LOOM_DTYPE_INT16
#define DT_i32 LOOM_DTYPE_INT32
#define DT_i64 LOOM_DTYPE_INT64
#define DT_u8  LOOM_DTYPE_UINT8
#define DT_u16 LOOM_DTYPE_UINT16
#define DT_u32 LOOM_DTYPE_UINT32
#define DT_u64 LOOM_DTYPE_UINT64
#define DT_b8  LOOM_DTYPE_BOOL

/*
 * X-macros over dtype families. X(sfx, T, WU, ...) where WU is the type integer
 * arithmetic is done in: unsigned and at least as wide as unsigned int, so that
 * overflow wraps instead of being undefined (and uint16*uint16 does not promote
 * to a signed int that overflows).
 */
#define LM_FOR_FLOAT(X, ...)                                                                       \
    X(f32, float, float, __VA_ARGS__)                                                              \
    X(f64, double, double, __VA_ARGS__)
#define LM_FOR_SINT(X, ...)                                                                        \
    X(i8, int8_t, uint32_t, __VA_ARGS__)                                                           \
    X(i16, int16_t, uint32_t, __VA_ARGS__)                                                         \
    X(i32, int32_t, uint32_t, __VA_ARGS__)                                                         \
    X(i64, int64_t, uint64_t, __VA_ARGS__)
#define LM_FOR_UINT(X, ...)                                                                        \
    X(u8, uint8_t, uint32_t, __VA_ARGS__)                                                          \
    X(u16, uint16_t, uint32_t, __VA_ARGS__)                                                        \
    X(u32, uint32_t, uint32_t, __VA_ARGS__)                                                        \
    X(u64, uint64_t, uint64_t, __VA_ARGS__)
#define LM_FOR_INT(X, ...)    LM_FOR_SINT(X, __VA_ARGS__) LM_FOR_UINT(X, __VA_ARGS__)
#define LM_FOR_SIGNED(X, ...) LM_FOR_FLOAT(X, __VA_ARGS__) LM_FOR_SINT(X, __VA_ARGS__)
#define LM_FOR_NUM(X, ...)    LM_FOR_FLOAT(X, __VA_ARGS__) LM_FOR_INT(X, __VA_ARGS__)

/* Table entry helper: [DT_sfx] = name_sfx. */
#define LM_TAB_ENTRY(sfx, T, WU, name) [DT_##sfx] = name##_##sfx,

/* ------------------------------------------------------------------------ */
/* Broadcasting                                                             */

#define LM_BCAST_MAX_IN 3

/*
 * A broadcast plan: the output shape collapsed to as few dims as possible, with
 * each operand's element stride per dim (0 where it is broadcast). After
 * collapsing, the innermost stride of every operand is 0 or 1, so a row kernel
 * only needs "contiguous" or "scalar" variants.
 */
typedef struct lm_bcast {
    int nin;
    int nd;
    int64_t dims[LOOM_MAX_RANK];
    int64_t st[LM_BCAST_MAX_IN][LOOM_MAX_RANK];
    int64_t total;
} lm_bcast;

/* Multidirectional (numpy) broadcast shape of @n tensors; fails the node naming
 * the incompatible dims. */
loom_status lm_bcast_shape(lm_kctx *k, int n, const loom_tensor *const *ins, int *rank,
                           int64_t *dims);

/* Plans iterating the output shape (@rank, @dims) over @n inputs whose shapes
 * broadcast to it (checked by lm_bcast_shape). */
void lm_bcast_plan(lm_bcast *p, int rank, const int64_t *dims, int n,
                   const loom_tensor *const *ins);

/*
 * Called for each run of @n output elements starting at @out_off; @off[i] is the
 * element offset of input i and @inner[i] its stride (0 or 1) along the run.
 */
typedef void (*lm_bcast_row_fn)(void *ctx, const int64_t *off, int64_t out_off, int64_t n,
                                const int *inner);

/* Runs @row over the whole plan, split across threads. */
void lm_bcast_run(lm_kctx *k, const lm_bcast *p, double cost, lm_bcast_row_fn row, void *ctx);

/* ------------------------------------------------------------------------ */
/* float16 staging: ops without a native half kernel run in float. */

void lm_half_to_float_n(const uint16_t *src, float *dst, int64_t n);
void lm_float_to_half_n(const float *src, uint16_t *dst, int64_t n);

/* Scratch float copy of a float16 tensor's data; NULL with the error set on failure. */
float *lm_stage_half(lm_kctx *k, const loom_tensor *t);

/* Converts @n elements of numeric @src (dtype @sdt) to double into @dst. */
bool lm_convert_to_f64(const void *src, loom_dtype sdt, double *dst, int64_t n);

/* Saturating double -> integer conversions: out-of-range float-to-int casts are
 * undefined in C, and hostile data must not reach them. NaN becomes 0. */
static inline int64_t lm_sat_i64(double v)
{
    if (!(v == v))
        return 0;
    if (v <= -9223372036854775808.0)
        return INT64_MIN;
    if (v >= 9223372036854775808.0)
        return INT64_MAX;
    return (int64_t)v;
}

static inline uint64_t lm_sat_u64(double v)
{
    if (!(v == v) || v <= 0)
        return 0;
    if (v >= 18446744073709551616.0)
        return UINT64_MAX;
    return (uint64_t)v;
}

#endif
