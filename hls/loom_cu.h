/*
 * The Loom compute-unit (CU) contract: CU kinds, the descriptors a START_CU
 * command points at, the argument order, the requantization (the CPU
 * backend's float32 arithmetic, bit for bit, in integer logic) and
 * the CU functions themselves. The same C functions are synthesized by Vitis
 * HLS (hls/cu_*.c), run by the card model (hls/card) inside loom-cardsim and
 * the runtime's emulated card, and used as the int8 reference: results are
 * bit-identical everywhere. hls/README.md is the prose for this file.
 *
 * START_CU (kernel/CARD-INTERFACE.md) for the int8 CUs:
 *   args[0]   device address of the CU's descriptor (8-byte aligned)
 *   args[1..] device addresses of its buffers, in the order LOOM_CU_ARG_*
 *             gives per kind. Bias is the last argument and present only with
 *             LOOM_CU_F_BIAS.
 * The requantization table's device address is in the descriptor. The card
 * copies the descriptor once, checks its magic, version, kind and size, every
 * dimension (no zero, no overflow, K bounded so the int32 accumulator cannot
 * wrap) and every buffer range against the heap; a bad one completes with
 * LOOM_CPL_ERROR (LOOM_CPL_BAD_COMMAND for a wrong argument count).
 *
 * Data: activations int8 or uint8 (flags), NCHW, densely packed; weights int8
 * (or uint8 with LOOM_CU_F_W_U8) OIHW; bias int32; int32 accumulation of
 * (x - x_zp) * (w - w_zp); all little endian. Alignment: descriptor 8 bytes,
 * bias and the requantization table 4 bytes, int8 tensors none.
 *
 * Requantization (round half to EVEN, bit for bit the CPU backend's float32
 * requantization, which is ONNX Runtime's):
 *   y = clamp(y_zp + round_half_even(f32(f32(acc) * S)), act_min, act_max)
 * with acc = sum + bias wrapped to int32 (as the CPU adds them), f32() a
 * float32 rounding (to 24 significant bits, half to even) and S = mult *
 * 2^-shift the float32 scale x_scale * w_scale[c] / y_scale, formed in float
 * as the CPU backend forms it (loom_rq_from_qlinear() writes it exactly:
 * mult in [2^30, 2^31) with 24 significant bits, shift in [1, 63]). The CU
 * does this in integer logic (loom_rq_scale()). ReLU and clamps fuse as
 * act_min/act_max in the output's integer domain (ReLU: act_min = y_zp).
 */
#ifndef LOOM_CU_H
#define LOOM_CU_H

#include <stddef.h>
#include <stdint.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the CUs read device memory as little endian: port the loads first"
#endif

#ifdef __cplusplus
#define LOOM_CU_STATIC_ASSERT static_assert
extern "C" {
#else
#define LOOM_CU_STATIC_ASSERT _Static_assert
#endif

/* ------------------------------------------------------------ CU kinds */

/*
 * The per-CU kind in the "LBBS" bitstream (kernel/loom_card_if.h) and, by
 * name, the kernel of the xclbin's IP_LAYOUT/EMBEDDED_METADATA. 1..3 are the
 * simulator's original CUs and keep their numbers and arguments.
 */
#define LOOM_CU_KIND_NOOP   1 /* completes at once */
#define LOOM_CU_KIND_MEMCPY 2 /* args: dst, src, bytes */
#define LOOM_CU_KIND_VADD   3 /* args: out, a, b, n (u32 elements) */
#define LOOM_CU_KIND_QGEMM  4 /* int8 (batched) matrix multiply, per-column requant */
#define LOOM_CU_KIND_QCONV  5 /* int8 2-D convolution: stride, pad, dilation, groups */
#define LOOM_CU_KIND_POOL   6 /* int8 max or average pooling */
#define LOOM_CU_KIND_QADD   7 /* int8 elementwise add with broadcast and requant */
#define LOOM_CU_KIND_MIN    1
#define LOOM_CU_KIND_MAX    7

/* Kernel names, as in the xclbin (IP_LAYOUT "name:instance", XML kernels). */
#define LOOM_CU_NAME_NOOP   "loom_noop"
#define LOOM_CU_NAME_MEMCPY "loom_memcpy"
#define LOOM_CU_NAME_VADD   "loom_vadd"
#define LOOM_CU_NAME_QGEMM  "loom_qgemm"
#define LOOM_CU_NAME_QCONV  "loom_qconv"
#define LOOM_CU_NAME_POOL   "loom_pool"
#define LOOM_CU_NAME_QADD   "loom_qadd"

/* Name of a kind ("loom_qconv"), NULL for an unknown one; and back (0 if unknown). */
const char *loom_cu_kind_name(uint32_t kind);
uint32_t loom_cu_kind_from_name(const char *name);

/* ------------------------------------------------------- START_CU args */

/* QGEMM: Y[b] = A[b] x B[b] (+ bias), A [M,K], B [K,N] (or [N,K] with TRANS_B). */
#define LOOM_CU_QGEMM_ARG_DESC 0
#define LOOM_CU_QGEMM_ARG_A    1
#define LOOM_CU_QGEMM_ARG_B    2
#define LOOM_CU_QGEMM_ARG_Y    3
#define LOOM_CU_QGEMM_ARG_BIAS 4 /* int32 [N], with LOOM_CU_F_BIAS only */
/* QCONV: Y = conv(X, W) (+ bias), X [N,C,H,W], W [M,C/group,KH,KW], Y [N,M,OH,OW]. */
#define LOOM_CU_QCONV_ARG_DESC 0
#define LOOM_CU_QCONV_ARG_X    1
#define LOOM_CU_QCONV_ARG_W    2
#define LOOM_CU_QCONV_ARG_Y    3
#define LOOM_CU_QCONV_ARG_BIAS 4 /* int32 [M], with LOOM_CU_F_BIAS only */
/* POOL: Y [N,C,OH,OW] = pool(X [N,C,H,W]). */
#define LOOM_CU_POOL_ARG_DESC 0
#define LOOM_CU_POOL_ARG_X    1
#define LOOM_CU_POOL_ARG_Y    2
/* QADD: Y = A + B, each indexed through its own 4-D strides (0 = broadcast). */
#define LOOM_CU_QADD_ARG_DESC 0
#define LOOM_CU_QADD_ARG_A    1
#define LOOM_CU_QADD_ARG_B    2
#define LOOM_CU_QADD_ARG_Y    3

/* Arguments (descriptor included) a START_CU for @kind needs with @flags; 0 if unknown. */
uint32_t loom_cu_nargs(uint32_t kind, uint32_t flags);

/**
 * struct loom_cu_arg - one argument of a CU kind, as the xclbin's kernel XML
 * and CONNECTIVITY describe it (loom-xclbin, the XRT shim)
 * @name: argument name
 * @global: 1 for a device address (an AXI master port), 0 for a scalar
 */
struct loom_cu_arg {
    const char *name;
    int global;
};

/* The arguments of @kind in START_CU order (bias included); *n gets the count. */
const struct loom_cu_arg *loom_cu_args(uint32_t kind, uint32_t *n);

/* --------------------------------------------------------- descriptors */

#define LOOM_CU_DESC_MAGIC   0x4455434cu /* "LCUD" */
#define LOOM_CU_DESC_VERSION 1

/* Descriptor flags (loom_cu_hdr.flags); unknown bits are refused. */
#define LOOM_CU_F_X_U8      0x0001u /* input activations (A, X; QADD: A) are uint8 */
#define LOOM_CU_F_W_U8      0x0002u /* weights / second operand (B, W; QADD: B) are uint8 */
#define LOOM_CU_F_Y_U8      0x0004u /* output is uint8 */
#define LOOM_CU_F_BIAS      0x0008u /* QGEMM/QCONV: an int32 bias argument follows */
#define LOOM_CU_F_TRANS_B   0x0010u /* QGEMM: B is stored [N,K] (ONNX Gemm transB) */
#define LOOM_CU_F_POOL_AVG  0x0020u /* POOL: average (else max) */
#define LOOM_CU_F_COUNT_PAD 0x0040u /* POOL avg: padding counts in the divisor */
#define LOOM_CU_F_ALL       0x007fu

/**
 * struct loom_cu_hdr - first 16 bytes of every descriptor
 * @magic: LOOM_CU_DESC_MAGIC
 * @version: LOOM_CU_DESC_VERSION
 * @kind: LOOM_CU_KIND_*, must be the kind of the CU it is sent to
 * @size: sizeof the whole descriptor, bytes (the version's size exactly)
 * @flags: LOOM_CU_F_*
 */
struct loom_cu_hdr {
    uint32_t magic;
    uint16_t version;
    uint16_t kind;
    uint32_t size;
    uint32_t flags;
};

/**
 * struct loom_rq - one requantization entry (the table is an array of these)
 * @mult: the scale's mantissa: 0, or at most 24 significant bits (a float32's),
 *        normally in [2^30, 2^31)
 * @shift: the scale is mult * 2^-shift, shift in 1..63
 */
struct loom_rq {
    int32_t mult;
    int32_t shift;
};

/**
 * struct loom_cu_quant - zero points, clamp and requantization of QGEMM/QCONV/POOL
 * @x_zp: input zero point (within the input type)
 * @w_zp: weight (QGEMM: B) zero point, per tensor (within the weight type)
 * @y_zp: output zero point (within the output type)
 * @act_min: lowest output value (fused ReLU/clamp), >= the type's minimum
 * @act_max: highest output value, <= the type's maximum, >= act_min
 * @rq_count: entries at @rq_addr: 1 (per tensor) or one per output channel
 *            (QGEMM: N, QCONV: M); POOL avg: KH*KW, entry [count-1] for a
 *            window of count elements; POOL max: 0 (the max is passed
 *            through, then clamped) or 1 (requantize max - x_zp)
 * @rq_addr: device address of the struct loom_rq table (4-byte aligned)
 */
struct loom_cu_quant {
    int32_t x_zp;
    int32_t w_zp;
    int32_t y_zp;
    int32_t act_min;
    int32_t act_max;
    uint32_t rq_count;
    uint64_t rq_addr;
};

/**
 * struct loom_cu_qgemm_desc - LOOM_CU_KIND_QGEMM, 88 bytes
 * @hdr: header, kind QGEMM
 * @q: quantization; per-channel means per column n
 * @batch: matrices (>= 1)
 * @m: rows of A and Y
 * @n: columns of B and Y
 * @k: columns of A, rows of B (<= LOOM_CU_MAX_K)
 * @a_stride: elements between A's matrices (0: one A for every batch)
 * @b_stride: elements between B's matrices (0: shared weights)
 * @y_stride: elements between Y's matrices (>= m * n)
 */
struct loom_cu_qgemm_desc {
    struct loom_cu_hdr hdr;
    struct loom_cu_quant q;
    uint32_t batch;
    uint32_t m;
    uint32_t n;
    uint32_t k;
    uint64_t a_stride;
    uint64_t b_stride;
    uint64_t y_stride;
};

/**
 * struct loom_cu_qconv_desc - LOOM_CU_KIND_QCONV, 128 bytes
 * @hdr: header, kind QCONV
 * @q: quantization; per-channel means per output channel m
 * @n: batch; @c: input channels; @h, @w: input height and width
 * @m: output channels (a multiple of @group); @group: groups (C % group == 0;
 *     depthwise: group == C)
 * @kh, @kw: kernel height and width
 * @oh, @ow: output size, must equal (h + pad_t + pad_b - dil_h*(kh-1) - 1)/stride_h + 1
 * @stride_h, @stride_w: strides (>= 1)
 * @pad_t, @pad_l, @pad_b, @pad_r: padding (taken as x_zp)
 * @dil_h, @dil_w: dilations (>= 1)
 * @reserved: zero
 */
struct loom_cu_qconv_desc {
    struct loom_cu_hdr hdr;
    struct loom_cu_quant q;
    uint32_t n, c, h, w;
    uint32_t m, group, kh, kw;
    uint32_t oh, ow, stride_h, stride_w;
    uint32_t pad_t, pad_l, pad_b, pad_r;
    uint32_t dil_h, dil_w;
    uint32_t reserved[2];
};

/**
 * struct loom_cu_pool_desc - LOOM_CU_KIND_POOL, 128 bytes
 * @hdr: header, kind POOL; LOOM_CU_F_POOL_AVG picks average
 * @q: quantization (w_zp unused, zero); see &loom_cu_quant.rq_count
 * @n, @c, @h, @w: input
 * @oh, @ow: output, either the floor or the ceil (ONNX ceil_mode) size;
 *           windows are clipped to the padded input as PyTorch/ONNX do
 * @kh, @kw, @stride_h, @stride_w, @pad_t, @pad_l, @pad_b, @pad_r, @dil_h,
 * @dil_w: as for QCONV (global pooling: kh = h, kw = w)
 * @reserved: zero
 */
struct loom_cu_pool_desc {
    struct loom_cu_hdr hdr;
    struct loom_cu_quant q;
    uint32_t n, c, h, w;
    uint32_t oh, ow, kh, kw;
    uint32_t stride_h, stride_w, pad_t, pad_l;
    uint32_t pad_b, pad_r, dil_h, dil_w;
    uint32_t reserved[4];
};

/**
 * struct loom_cu_qadd_desc - LOOM_CU_KIND_QADD, 104 bytes
 * @hdr: header, kind QADD
 * @a_zp, @b_zp, @y_zp: zero points
 * @act_min, @act_max: output clamp (fused ReLU)
 * @a_mult, @b_mult, @shift: y = y_zp + round_half_even(((a - a_zp) * a_mult +
 *           (b - b_zp) * b_mult) / 2^shift), one rounding for the sum; from
 *           loom_rq_pair_from_scales(a_scale / y_scale, b_scale / y_scale)
 * @dims: output shape, 4-D, outermost first (pad with 1s on the left)
 * @a_strides, @b_strides: elements per step of each dim (0 broadcasts)
 * @reserved: zero
 */
struct loom_cu_qadd_desc {
    struct loom_cu_hdr hdr;
    int32_t a_zp, b_zp, y_zp;
    int32_t act_min, act_max;
    int32_t a_mult, b_mult, shift;
    uint32_t dims[4];
    uint32_t a_strides[4];
    uint32_t b_strides[4];
    uint32_t reserved[2];
};

/* Limits the card checks (also the static bounds of the HLS loops). */
#define LOOM_CU_MAX_K      32768u       /* reduction length: |acc| < 2^31 without bias */
#define LOOM_CU_MAX_DIM    (1u << 24)   /* any single dimension */
#define LOOM_CU_MAX_ELEMS  (1ull << 32) /* elements of any tensor */
#define LOOM_CU_MAX_WINDOW 1024u        /* POOL kh*kw (the avg divisor table) */
#define LOOM_CU_MAX_BUFS   4            /* buffers after the descriptor */

LOOM_CU_STATIC_ASSERT(sizeof(struct loom_cu_hdr) == 16, "hdr layout");
LOOM_CU_STATIC_ASSERT(sizeof(struct loom_cu_quant) == 32, "quant layout");
LOOM_CU_STATIC_ASSERT(sizeof(struct loom_cu_qgemm_desc) == 88, "qgemm layout");
LOOM_CU_STATIC_ASSERT(sizeof(struct loom_cu_qconv_desc) == 128, "qconv layout");
LOOM_CU_STATIC_ASSERT(sizeof(struct loom_cu_pool_desc) == 128, "pool layout");
LOOM_CU_STATIC_ASSERT(sizeof(struct loom_cu_qadd_desc) == 104, "qadd layout");

/* --------------------------------------------------- requantization */

/*
 * round_half_even(p / 2^shift), shift in [1, 63] (two's complement, arithmetic
 * >>). A shift outside 1..63 is taken as 63, so a table rewritten under a
 * running CU cannot make this undefined. QADD's single rounding.
 */
static inline int64_t loom_rq_round_shift(int64_t p, int32_t shift)
{
    uint32_t s = (uint32_t)shift - 1u > 62u ? 63u : (uint32_t)shift;
    uint64_t half = 1ull << (s - 1);
    uint64_t rem = (uint64_t)p & ((half << 1) - 1);
    int64_t q = p >> s;

    /* Written without branches: data-dependent, they mispredict on a host. */
    return q + ((rem > half) | ((rem == half) & (uint64_t)q & 1u));
}

/*
 * Significant bits of v (0 for 0): a leading-zero count, a priority encoder
 * in logic. Vitis HLS documents __builtin_clz for 32 bits only (UG1399), so
 * 64 bits take two.
 */
static inline uint32_t loom_rq_bitlen32(uint32_t v)
{
    /* v | 1 keeps clz defined; the zero case is subtracted, not branched on */
    return 32u - (uint32_t)__builtin_clz(v | 1u) - (v == 0);
}

static inline uint32_t loom_rq_bitlen(uint64_t v)
{
    uint32_t hi = (uint32_t)(v >> 32), lh = loom_rq_bitlen32(hi);
    uint32_t ll = loom_rq_bitlen32((uint32_t)v);

    return hi ? 32u + lh : ll;
}

/*
 * round_half_even(v / 2^s), s in [0, 63], unsigned. Written without branches:
 * on a host they would be data-dependent and mispredict.
 */
static inline uint64_t loom_rq_rne_shr(uint64_t v, uint32_t s)
{
    uint64_t lowmask = (1ull << s) - 1, half = (lowmask + 1) >> 1; /* s = 0: 0, 0 */
    uint64_t rem = v & lowmask, q = v >> s;

    return q + ((rem > half) | ((rem == half) & (half != 0) & q & 1u));
}

/*
 * v rounded half to even to 24 significant bits, as float32 rounds a value
 * in its normal range: v ~ m * 2^*e with m < 2^24. A carry out of the 24
 * bits (2^24) is renormalized to 2^23 * 2, so m always fits the multiplier.
 */
static inline uint64_t loom_rq_round24(uint64_t v, uint32_t *e)
{
    uint32_t n = loom_rq_bitlen(v), d = n > 24u ? n - 24u : 0u;
    uint64_t m = loom_rq_rne_shr(v, d), c = m >> 24;

    *e = d + (uint32_t)c;
    return m >> c;
}

/*
 * round_half_even(f32(f32(acc) * S)) with S = mult * 2^-shift a float32:
 * what the CPU backend computes in float (runtime/cpu/ops/quant.c), in
 * integer logic. On |acc|: round it to 24 bits (the int-to-float
 * conversion), multiply the two 24-bit mantissas (one 24x24 multiplier; a
 * table entry's mult has at most 24 significant bits, loom_rq_check()),
 * round the product to 24 bits (the float multiply), then round to an
 * integer (the final rint); the sign goes back on at the end, as every
 * rounding here is symmetric. S in [2^-63, 2^30) keeps every intermediate in
 * float32's normal range, so no subnormal or infinite case arises. Results
 * are exact below 2^32 in magnitude (far beyond any output range); larger
 * ones stay at least 2^32.
 */
static inline int64_t loom_rq_scale(int32_t acc, struct loom_rq rq)
{
    uint64_t u = acc < 0 ? 0ull - (uint64_t)(int64_t)acc : (uint64_t)acc;
    uint32_t mult = (uint32_t)rq.mult, mb = loom_rq_bitlen32(mult);
    uint32_t em = mb > 24u ? mb - 24u : 0u; /* mult's low bits: zero in a checked table */
    uint32_t s = (uint32_t)rq.shift - 1u > 62u ? 63u : (uint32_t)rq.shift;
    uint32_t ea, ep, ls, rs;
    uint64_t a = loom_rq_round24(u, &ea);
    uint64_t p = loom_rq_round24(a * (mult >> em), &ep);
    int32_t e = (int32_t)(ea + em + ep) - (int32_t)s; /* |f32 product| = p * 2^e */
    uint64_t q;

    /* e in [-63, 40]: p < 2^24, so p << 32 cannot overflow. */
    ls = e > 32 ? 32u : e > 0 ? (uint32_t)e : 0u;
    rs = e < 0 ? (uint32_t)-e : 0u;
    q = loom_rq_rne_shr(p << ls, rs);
    return acc < 0 ? -(int64_t)q : (int64_t)q;
}

/*
 * The output value of one accumulator (bias already added, int32):
 *   clamp(y_zp + round_half_even(f32(f32(acc) * S)), lo, hi)
 * Clamping the integer equals the CPU's clamping of the float before it
 * rounds: the bounds are integers and rounding is monotonic.
 */
static inline int32_t loom_rq_apply(int32_t acc, struct loom_rq rq, int32_t y_zp, int32_t lo,
                                    int32_t hi)
{
    int64_t v = loom_rq_scale(acc, rq) + y_zp;

    return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}

/*
 * Host helpers (hls/requant.c). loom_rq_from_scale() writes a float32 scale
 * exactly as mult * 2^-shift (mult in [2^30, 2^31) with 24 significant bits,
 * shift in [1, 63]); scales below 2^-33, subnormals included, give mult 0
 * (every result then rounds to 0 in float too), scales from 2^30 up to
 * FLT_MAX give 2^29 (every nonzero acc then saturates either way). Returns 0,
 * or -1 for a negative, NaN or infinite scale. loom_rq_from_qlinear() takes
 * the three ONNX scales and forms x_scale * w_scale / y_scale in float, as
 * the CPU backend does.
 */
int loom_rq_from_scale(float scale, struct loom_rq *out);
int loom_rq_from_qlinear(float x_scale, float w_scale, float y_scale, struct loom_rq *out);
/* QADD: one shift for both scales (the larger one sets it). */
int loom_rq_pair_from_scales(double a_scale, double b_scale, int32_t *a_mult, int32_t *b_mult,
                             int32_t *shift);
/* The clamp for an output type (y_u8) with or without fused ReLU. */
void loom_rq_act_range(int y_u8, int relu, int32_t y_zp, int32_t *act_min, int32_t *act_max);

/*
 * 0 when every entry is a float32 scale as loom_rq_from_scale() writes one:
 * mult >= 0 with at most 24 significant bits, shift in [1, 63] (the card
 * checks tables).
 */
int loom_rq_check(const struct loom_rq *rq, uint32_t count);

/* Descriptor headers, filled in: the host sets the rest. */
void loom_cu_hdr_init(struct loom_cu_hdr *h, uint32_t kind, uint32_t size, uint32_t flags);

/* ------------------------------------------------ checks and the CUs */

/**
 * struct loom_cu_extent - what a checked descriptor needs from device memory
 * @nbufs: buffer arguments after the descriptor
 * @bytes: bytes each buffer argument spans (index 0 = args[1])
 * @align: alignment each needs
 * @rq_bytes: bytes of the requantization table (0: none)
 */
struct loom_cu_extent {
    uint32_t nbufs;
    uint64_t bytes[LOOM_CU_MAX_BUFS];
    uint32_t align[LOOM_CU_MAX_BUFS];
    uint64_t rq_bytes;
};

/*
 * Check a descriptor of @len bytes (host memory, already copied from the
 * device) for a CU of @kind and compute its extents. Returns 0 or -1; the
 * reason is set to a static sentence when @why is not NULL.
 */
int loom_cu_check(uint32_t kind, const void *desc, uint64_t len, struct loom_cu_extent *ext,
                  const char **why);

/* The descriptor's size for @kind (0 for a kind without a descriptor). */
uint32_t loom_cu_desc_size(uint32_t kind);

/*
 * The CUs. Preconditions: a descriptor that passed loom_cu_check() and
 * buffers spanning its extents (the card checks both). @rq is the
 * requantization table (rq_count entries), @bias NULL without LOOM_CU_F_BIAS.
 * These are the HLS top functions (see hls/README.md for the interfaces).
 */
void loom_cu_qgemm(const struct loom_cu_qgemm_desc *d, const struct loom_rq *rq, const uint8_t *a,
                   const uint8_t *b, const int32_t *bias, uint8_t *y);
void loom_cu_qconv(const struct loom_cu_qconv_desc *d, const struct loom_rq *rq, const uint8_t *x,
                   const uint8_t *w, const int32_t *bias, uint8_t *y);
void loom_cu_pool(const struct loom_cu_pool_desc *d, const struct loom_rq *rq, const uint8_t *x,
                  uint8_t *y);
void loom_cu_qadd(const struct loom_cu_qadd_desc *d, const uint8_t *a, const uint8_t *b,
                  uint8_t *y);

/* ------------------------------------------------------- cycle model */

/*
 * The modelled card (hls/README.md "Throughput"): CUs clocked at
 * LOOM_CU_CLOCK_MHZ; QGEMM/QCONV on a LOOM_CU_TM x LOOM_CU_TN output-stationary
 * MAC array (one K step per cycle), POOL and QADD LOOM_CU_LANES elements per
 * cycle, device memory LOOM_CU_MEM_BYTES_PER_CYCLE bytes per cycle shared by
 * reads and writes and overlapped with compute (cycles = max of the two plus
 * a fixed start cost). Estimates for the planner and the completion's cycles.
 */
#define LOOM_CU_CLOCK_MHZ           300u
#define LOOM_CU_TM                  16u  /* array rows: output rows / pixels */
#define LOOM_CU_TN                  16u  /* array columns: output columns / channels */
#define LOOM_CU_KT                  64u  /* K chunk held on chip per tile pass */
#define LOOM_CU_LANES               16u  /* POOL/QADD elements per cycle */
#define LOOM_CU_MEM_BYTES_PER_CYCLE 64u  /* 19.2 GB/s at 300 MHz: one DDR4-2400 channel */
#define LOOM_CU_START_CYCLES        200u /* descriptor fetch, pipeline fill, completion */
/*
 * Pipeline depth of the requantizer (accumulator in, output byte out): acc
 * to 24 bits (leading zeros, shift, round: 3), the 24x24 multiply (4), the
 * product to 24 bits (3), the final shift and round (1) and the clamp (1).
 * Pipelined at one output per lane per cycle, so it adds latency only.
 */
#define LOOM_CU_RQ_LATENCY 12u

/* Cycles for one START_CU of @kind with a checked descriptor (for 1..3: @args, nargs). */
uint64_t loom_cu_cycles(uint32_t kind, const void *desc, const uint64_t *args, uint32_t nargs);

/* MACs (QGEMM/QCONV) or element operations (POOL window reads, QADD) of a descriptor. */
uint64_t loom_cu_ops(uint32_t kind, const void *desc);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_CU_H */
