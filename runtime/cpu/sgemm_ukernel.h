/*
 * sgemm_ukernel.h - the contract between the SGEMM driver (gemm.c) and its
 * per-ISA micro-kernels (sgemm_<isa>.c).
 *
 * A micro-kernel computes one MR x NR tile of C from
 *   a: element (i, p) of op(A) at a[i * a_rs + p * a_cs] for i < mr: a packed
 *      panel (a_rs = 1, a_cs = MR) or op(A) itself (XNNPACK-style: A is only
 *      broadcast, so reading it in place costs no more than packing it),
 *   b: row p of the tile's columns of op(B) at b + p * b_rs: a packed panel
 *      (b_rs = NR, zero-padded to NR, read whole) or, for products of a few
 *      rows where packing B would cost more than using it, B itself
 *      (b_rs = ldb; only the first nr columns are read).
 * It then writes only the top-left mr x nr part of the tile to C:
 *   C = clamp(alpha * acc + beta * C + bias_row[i] + bias_col[j], lo, hi)
 * followed by HardSwish when hswish is set (configs with .hswish only)
 * where beta == 0 means C is not read (it may hold garbage or NaN), absent
 * biases are NULL and lo/hi are +-INFINITY when no clamp is wanted.
 * Micro-kernels allocate nothing and have no side effects beyond the tile.
 */
#ifndef LOOM_CPU_SGEMM_UKERNEL_H
#define LOOM_CPU_SGEMM_UKERNEL_H

#include <stdbool.h>
#include <stdint.h>

typedef struct lm_sgemm_ukparams {
    float alpha, beta;
    const float *bias_row; /* mr values, or NULL */
    const float *bias_col; /* nr values, or NULL */
    float lo, hi;          /* clamp bounds */
    bool hswish;           /* then HardSwish (only where the config says it can) */
    int64_t a_rs, a_cs;    /* strides of a between rows and k steps, in floats */
    int64_t b_rs;          /* stride of b between k steps, in floats */
} lm_sgemm_ukparams;

typedef void (*lm_sgemm_ukernel_fn)(int64_t kc, const float *a, const float *b, float *c,
                                    int64_t ldc, int mr, int nr, const lm_sgemm_ukparams *p);

/* One ISA's micro-kernel and the cache blocking tuned for it: the driver
 * packs op(B) by kc x nc blocks and walks op(A) by mc x kc blocks (mc a
 * multiple of mr, nc of nr); lm_sgemm_pack_a packs A in mr-row panels. */
typedef struct lm_sgemm_config {
    const char *name; /* the kernel's name, e.g. "f32_gemm_12x32__avx512f" */
    int mr, nr;
    int mc, kc, nc;
    bool hswish; /* the micro-kernel applies HardSwish in its epilogue */
    lm_sgemm_ukernel_fn ukernel;
    /* (optional) packs mr full rows of a row-major A (@lda apart, @kc
     * columns from @a) into one panel: dst[p * mr + i] = a[i * lda + p].
     * NULL: the driver's portable loop. */
    void (*pack_a_panel)(const float *a, int64_t lda, int64_t kc, float *dst);
} lm_sgemm_config;

/* Each is defined whatever the build machine; it may only run where
 * cpu_features says its ISA is present. */
extern const lm_sgemm_config lm_sgemm_config_avx512f;
extern const lm_sgemm_config lm_sgemm_config_avx2;
extern const lm_sgemm_config lm_sgemm_config_scalar;

#endif
