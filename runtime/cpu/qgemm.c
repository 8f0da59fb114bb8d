/*
 * qgemm.c - the 8-bit GEMM with zero points (see qgemm.h): a portable
 * reference and a packed, blocked driver over SIMD micro-kernels
 * (qgemm_<isa>.c: AVX-512 VNNI, AVX2), chosen once from CPUID.
 *
 * The driver reduces every signedness pair to uint8 x int8 (see
 * qgemm_ukernel.h), multiplies the raw values, and applies the zero points
 * afterwards from row sums of A and column sums of B:
 *   sum (a - za)(b - zb) = sum ab - za * (colsum b - K zb) - zb * rowsum a,
 * all modulo 2^32 like the reference's accumulation, so results are
 * bit-exact with it. The reference stays the portable path and the oracle
 * the tests compare against.
 */
#include "qgemm.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "../core/log.h"
#include "cpu_features.h"
#include "qgemm_ukernel.h"

/* Columns accumulated at once: the accumulators (1 KiB) stay in L1 while a row
 * of A streams over k. */
#define QGEMM_NB 256

/*
 * One row-major pass per A row: for each k, the row's (a - za) scales row k of
 * (B - zb) into the accumulators. Both factors fit int16 ([-255, 255]), so the
 * product is a 16x16->32 widening multiply, which SSE2 already does well
 * (pmullw/pmulhw) where a 32-bit multiply would be emulated. The inner loop
 * runs in fixed blocks of 16 so that GCC's -O2 "very cheap" vectorizer cost
 * model accepts it (a variable trip count alone makes it give up: 2.5x slower).
 * Sums are kept in uint32 so that overflow for huge k wraps instead of being UB.
 */
#define DEFINE_QGEMM_REF(NAME, TA, TB)                                                             \
    static void NAME(const lm_qgemm_params *p, int64_t m0, int64_t m1, int64_t n0, int64_t n1)     \
    {                                                                                              \
        const TA *A = (const TA *)p->a;                                                            \
        const TB *B = (const TB *)p->b;                                                            \
        uint32_t acc[QGEMM_NB];                                                                    \
        int16_t zbv[QGEMM_NB];                                                                     \
        for (int64_t nb = n0; nb < n1; nb += QGEMM_NB) {                                           \
            int64_t nn = n1 - nb < QGEMM_NB ? n1 - nb : QGEMM_NB;                                  \
            for (int64_t j = 0; j < nn; j++)                                                       \
                zbv[j] = (int16_t)(!p->b_zp ? 0 : p->b_zp_per_col ? p->b_zp[nb + j] : p->b_zp[0]); \
            for (int64_t i = m0; i < m1; i++) {                                                    \
                const TA *arow = A + i * p->lda;                                                   \
                int32_t za = !p->a_zp ? 0 : p->a_zp_per_row ? p->a_zp[i] : p->a_zp[0];             \
                for (int64_t j = 0; j < nn; j++)                                                   \
                    acc[j] = 0;                                                                    \
                for (int64_t kk = 0; kk < p->k; kk++) {                                            \
                    int16_t av = (int16_t)((int32_t)arow[kk] - za);                                \
                    if (av == 0)                                                                   \
                        continue;                                                                  \
                    const TB *brow =                                                               \
                        (p->b_rows ? (const TB *)p->b_rows[kk] : B + kk * p->ldb) + nb;            \
                    int64_t j = 0;                                                                 \
                    for (; j + 16 <= nn; j += 16)                                                  \
                        for (int t = 0; t < 16; t++)                                               \
                            acc[j + t] +=                                                          \
                                (uint32_t)((int32_t)av * (int16_t)(brow[j + t] - zbv[j + t]));     \
                    for (; j < nn; j++)                                                            \
                        acc[j] += (uint32_t)(av * ((int32_t)brow[j] - zbv[j]));                    \
                }                                                                                  \
                int32_t *crow = p->c + i * p->ldc + nb;                                            \
                for (int64_t j = 0; j < nn; j++)                                                   \
                    crow[j] = (int32_t)acc[j];                                                     \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_QGEMM_REF(qgemm_u8u8_ref, uint8_t, uint8_t)
DEFINE_QGEMM_REF(qgemm_u8s8_ref, uint8_t, int8_t)
DEFINE_QGEMM_REF(qgemm_s8u8_ref, int8_t, uint8_t)
DEFINE_QGEMM_REF(qgemm_s8s8_ref, int8_t, int8_t)

void lm_qgemm_ref_tile(const lm_qgemm_params *p, int64_t m0, int64_t m1, int64_t n0, int64_t n1)
{
    if (m0 >= m1 || n0 >= n1)
        return;
    if (!p->a_signed && !p->b_signed)
        qgemm_u8u8_ref(p, m0, m1, n0, n1);
    else if (!p->a_signed && p->b_signed)
        qgemm_u8s8_ref(p, m0, m1, n0, n1);
    else if (p->a_signed && !p->b_signed)
        qgemm_s8u8_ref(p, m0, m1, n0, n1);
    else
        qgemm_s8s8_ref(p, m0, m1, n0, n1);
}

/* ---- config choice ---------------------------------------------------------- */

static const lm_qgemm_config *g_qconfigs[4];
static pthread_once_t g_qconfig_once = PTHREAD_ONCE_INIT;

static void choose_qconfigs(void)
{
    const lm_cpu_features *f = lm_cpu_features_get();
    int n = 0;
    if (f->amx_int8 && lm_qgemm_config_amx.ukernel)
        g_qconfigs[n++] = &lm_qgemm_config_amx;
    if (f->avx512vnni && lm_qgemm_config_avx512vnni.ukernel)
        g_qconfigs[n++] = &lm_qgemm_config_avx512vnni;
    if (f->avx2_fma && lm_qgemm_config_avx2.ukernel)
        g_qconfigs[n++] = &lm_qgemm_config_avx2;
    g_qconfigs[n] = NULL;
    lm_log(LOOM_LOG_DEBUG, "qgemm uses %s", n ? g_qconfigs[0]->name : "the reference");
}

const lm_qgemm_config *const *lm_qgemm_available_configs(void)
{
    pthread_once(&g_qconfig_once, choose_qconfigs);
    return g_qconfigs;
}

/* ---- per-thread buffers ------------------------------------------------------- */

/* Kept for the thread's life so steady-state runs do not allocate. */
typedef struct qworkspace {
    uint8_t *a;
    int8_t *b;
    int32_t *v; /* a_zp, a_sum for the rows; b_zp, b_term for the columns */
    size_t a_cap, b_cap, v_cap;
} qworkspace;

static pthread_key_t g_qws_key;
static pthread_once_t g_qws_once = PTHREAD_ONCE_INIT;

static void qws_free(void *v)
{
    qworkspace *w = v;
    free(w->a);
    free(w->b);
    free(w->v);
    free(w);
}

static void qws_key_init(void)
{
    (void)pthread_key_create(&g_qws_key, qws_free);
}

static void *grow(void **buf, size_t *cap, size_t bytes)
{
    if (*cap >= bytes)
        return *buf;
    void *n = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!n)
        return NULL;
    free(*buf);
    *buf = n;
    *cap = bytes;
    return n;
}

static qworkspace *qws_get(size_t a_bytes, size_t b_bytes, size_t v_count)
{
    pthread_once(&g_qws_once, qws_key_init);
    qworkspace *w = pthread_getspecific(g_qws_key);
    if (!w) {
        w = calloc(1, sizeof(*w));
        if (!w)
            return NULL;
        if (pthread_setspecific(g_qws_key, w) != 0) {
            free(w);
            return NULL;
        }
    }
    if (!grow((void **)&w->a, &w->a_cap, a_bytes) || !grow((void **)&w->b, &w->b_cap, b_bytes) ||
        !grow((void **)&w->v, &w->v_cap, v_count * sizeof(int32_t)))
        return NULL;
    return w;
}

/* ---- packing ---------------------------------------------------------------- */

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/*
 * Rows [i0, i0+mc) x k [pc, pc+kc) of A -> mr-row panels of k4 steps, each
 * row's 4 bytes together, as uint8 (flip = 0x80 turns int8 into uint8 + 128).
 * Rows past mc and k past kc are zero.
 */
static void pack_a(int MR, const uint8_t *A, int64_t lda, uint8_t flip, int64_t i0, int64_t mc,
                   int64_t pc, int64_t kc, uint8_t *dst)
{
    int64_t k4 = (kc + 3) / 4;
    for (int64_t i = 0; i < mc; i += MR, dst += k4 * 4 * MR) {
        int64_t mr = min64(MR, mc - i);
        for (int64_t ii = 0; ii < MR; ii++) {
            uint8_t *d = dst + 4 * ii;
            if (ii >= mr) {
                for (int64_t q = 0; q < k4; q++, d += 4 * MR)
                    memset(d, 0, 4);
                continue;
            }
            const uint8_t *src = A + (i0 + i + ii) * lda + pc;
            int64_t q = 0;
            const uint32_t flip4 = flip * 0x01010101u;
            for (; q < kc / 4; q++, d += 4 * MR, src += 4) {
                uint32_t v;
                memcpy(&v, src, 4);
                v ^= flip4;
                memcpy(d, &v, 4);
            }
            if (q < k4) {
                for (int64_t r = 0; r < 4; r++)
                    d[r] = r < kc % 4 ? (uint8_t)(src[r] ^ flip) : 0;
            }
        }
    }
}

/*
 * Rows k [pc, pc+kc) x columns [j0, j0+nc) of B -> nr-column panels of k4
 * steps, each column's 4 bytes of k together, as int8 (flip = 0x80 turns
 * uint8 into int8 - 128). A 4 x 16 byte transpose per step on SSE2.
 */
/* Where B's rows are: strided from b, or listed in rows. */
typedef struct bsrc {
    const uint8_t *b;
    int64_t ldb;
    const uint8_t *const *rows;
} bsrc;

static inline const uint8_t *brow(const bsrc *B, int64_t k)
{
    return B->rows ? B->rows[k] : B->b + k * B->ldb;
}

static void pack_b(int NR, const bsrc *B, uint8_t flip, int64_t pc, int64_t kc, int64_t j0,
                   int64_t nc, int8_t *dst)
{
    int64_t k4 = (kc + 3) / 4;
    for (int64_t j = 0; j < nc; j += NR, dst += k4 * 4 * NR) {
        int64_t nr = min64(NR, nc - j);
        int8_t *d = dst;
        for (int64_t q = 0; q < k4; q++, d += 4 * NR) {
            const uint8_t *rows[4];
            int nrows = (int)min64(4, kc - 4 * q);
            for (int r = 0; r < 4; r++)
                rows[r] = r < nrows ? brow(B, pc + 4 * q + r) + j0 + j : NULL;
            int64_t jj = 0;
#if defined(__SSE2__)
            if (nrows == 4) {
                const __m128i f = _mm_set1_epi8((char)flip);
                for (; jj + 16 <= nr; jj += 16) {
                    __m128i r0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(rows[0] + jj)), f);
                    __m128i r1 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(rows[1] + jj)), f);
                    __m128i r2 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(rows[2] + jj)), f);
                    __m128i r3 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(rows[3] + jj)), f);
                    __m128i l01 = _mm_unpacklo_epi8(r0, r1), h01 = _mm_unpackhi_epi8(r0, r1);
                    __m128i l23 = _mm_unpacklo_epi8(r2, r3), h23 = _mm_unpackhi_epi8(r2, r3);
                    __m128i *o = (__m128i *)(d + 4 * jj);
                    _mm_storeu_si128(o + 0, _mm_unpacklo_epi16(l01, l23));
                    _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(l01, l23));
                    _mm_storeu_si128(o + 2, _mm_unpacklo_epi16(h01, h23));
                    _mm_storeu_si128(o + 3, _mm_unpackhi_epi16(h01, h23));
                }
            }
#endif
            for (; jj < NR; jj++)
                for (int r = 0; r < 4; r++)
                    d[4 * jj + r] = jj < nr && r < nrows ? (int8_t)(rows[r][jj] ^ flip) : (int8_t)0;
        }
    }
}

/* ---- zero-point sums -------------------------------------------------------- */

/* Sum of the n bytes (x ^ flip) as uint8, modulo 2^32: psadbw on SSE2. */
static uint32_t sum_u8(const uint8_t *x, int64_t n, uint8_t flip)
{
    uint64_t s = 0;
    int64_t i = 0;
#if defined(__SSE2__)
    const __m128i f = _mm_set1_epi8((char)flip), z = _mm_setzero_si128();
    __m128i acc = z;
    for (; i + 16 <= n; i += 16)
        acc = _mm_add_epi64(
            acc, _mm_sad_epu8(_mm_xor_si128(_mm_loadu_si128((const __m128i *)(x + i)), f), z));
    s = (uint64_t)_mm_cvtsi128_si64(acc) +
        (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc));
#endif
    for (; i < n; i++)
        s += (uint8_t)(x[i] ^ flip);
    return (uint32_t)s;
}

/*
 * out[j] += sum over K rows of (int8)(B[q][j] ^ flip), modulo 2^32, for
 * j < nt. On SSE2, 16 columns at a time in int16 lanes, which hold 256 values
 * of [-128, 127] without overflow, widened to int32 every 256 rows.
 */
static void colsum_s8(const bsrc *B, int64_t j0, int64_t K, int64_t nt, uint8_t flip, int32_t *out)
{
    int64_t j = 0;
#if defined(__SSE2__)
    const __m128i f = _mm_set1_epi8((char)flip), z = _mm_setzero_si128();
    for (; j + 16 <= nt; j += 16) {
        __m128i s[4] = {z, z, z, z};
        for (int64_t q0 = 0; q0 < K; q0 += 256) {
            int64_t q1 = q0 + 256 < K ? q0 + 256 : K;
            __m128i lo = z, hi = z;
            for (int64_t q = q0; q < q1; q++) {
                __m128i v =
                    _mm_xor_si128(_mm_loadu_si128((const __m128i *)(brow(B, q) + j0 + j)), f);
                __m128i sg = _mm_cmpgt_epi8(z, v);
                lo = _mm_add_epi16(lo, _mm_unpacklo_epi8(v, sg));
                hi = _mm_add_epi16(hi, _mm_unpackhi_epi8(v, sg));
            }
            __m128i slo = _mm_srai_epi16(lo, 15), shi = _mm_srai_epi16(hi, 15);
            s[0] = _mm_add_epi32(s[0], _mm_unpacklo_epi16(lo, slo));
            s[1] = _mm_add_epi32(s[1], _mm_unpackhi_epi16(lo, slo));
            s[2] = _mm_add_epi32(s[2], _mm_unpacklo_epi16(hi, shi));
            s[3] = _mm_add_epi32(s[3], _mm_unpackhi_epi16(hi, shi));
        }
        for (int v = 0; v < 4; v++) {
            __m128i *o = (__m128i *)(out + j + 4 * v);
            _mm_storeu_si128(o, _mm_add_epi32(_mm_loadu_si128(o), s[v]));
        }
    }
#endif
    for (int64_t q = 0; q < K; q++) {
        const uint8_t *row = brow(B, q) + j0;
        for (int64_t jj = j; jj < nt; jj++)
            out[jj] = (int32_t)((uint32_t)out[jj] + (uint32_t)(int32_t)(int8_t)(row[jj] ^ flip));
    }
}

/* ---- prepacked operands ------------------------------------------------------ */

struct lm_qgemm_packed {
    const lm_qgemm_config *cfg;
    bool is_signed;
    int64_t rows, K; /* rows: m for A, n for B */
    int64_t pad;     /* rows rounded up to the panel size */
    uint8_t *data;   /* the kc block at pc starts at data + pc * pad */
    int32_t *sums;   /* per row of A / column of B, of the packed values */
};

size_t lm_qgemm_packed_bytes(const lm_qgemm_packed *p)
{
    size_t panels = (size_t)(p->pad * ((p->K + 3) / 4 * 4));
    return sizeof(*p) + (panels + 63) / 64 * 64 + (size_t)p->rows * sizeof(int32_t);
}

static lm_qgemm_packed *qpack(bool is_a, const uint8_t *x, int64_t ld, bool sgn, int64_t rows,
                              int64_t K)
{
    const lm_qgemm_config *cfg = lm_qgemm_available_configs()[0];
    if (!cfg || rows <= 0 || K <= 0)
        return NULL;
    lm_qgemm_packed *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    int panel = is_a ? cfg->mr : cfg->nr;
    *p = (lm_qgemm_packed){.cfg = cfg, .is_signed = sgn, .rows = rows, .K = K};
    p->pad = (rows + panel - 1) / panel * panel;
    /* every K block but the last is whole (kc, a multiple of the row alignment) */
    int64_t kbytes = is_a ? lm_qgemm_a_row_bytes(cfg, K) : (K + 3) / 4 * 4;
    size_t bytes = (size_t)(p->pad * kbytes) + (is_a ? 0 : (size_t)cfg->b_overread);
    p->data = aligned_alloc(64, (bytes + 63) / 64 * 64);
    p->sums = calloc((size_t)rows, sizeof(int32_t));
    if (!p->data || !p->sums) {
        lm_qgemm_packed_free(p);
        return NULL;
    }
    uint8_t flip = is_a ? (sgn ? 0x80 : 0) : (sgn ? 0 : 0x80);
    for (int64_t pc = 0; pc < K; pc += cfg->kc) {
        int64_t kc = min64(cfg->kc, K - pc);
        if (is_a && cfg->pack_a)
            cfg->pack_a(x, ld, flip, 0, rows, pc, kc, p->data + pc * p->pad);
        else if (is_a)
            pack_a(cfg->mr, x, ld, flip, 0, rows, pc, kc, p->data + pc * p->pad);
        else
            pack_b(cfg->nr, &(bsrc){.b = x, .ldb = ld}, flip, pc, kc, 0, rows,
                   (int8_t *)(p->data + pc * p->pad));
    }
    for (int64_t q = 0; q < K; q++)
        for (int64_t r = 0; r < rows; r++) {
            uint8_t v = (uint8_t)((is_a ? x[r * ld + q] : x[q * ld + r]) ^ flip);
            int32_t val = is_a ? (int32_t)v : (int32_t)(int8_t)v;
            p->sums[r] = (int32_t)((uint32_t)p->sums[r] + (uint32_t)val);
        }
    return p;
}

lm_qgemm_packed *lm_qgemm_pack_a(const void *a, int64_t lda, bool a_signed, int64_t m, int64_t k)
{
    return qpack(true, a, lda, a_signed, m, k);
}

lm_qgemm_packed *lm_qgemm_pack_b(const void *b, int64_t ldb, bool b_signed, int64_t k, int64_t n)
{
    return qpack(false, b, ldb, b_signed, n, k);
}

void lm_qgemm_packed_free(lm_qgemm_packed *p)
{
    if (p) {
        free(p->data);
        free(p->sums);
        free(p);
    }
}

/* ---- the blocked product ---------------------------------------------------- */

/* The output stage (lm_qgemm_requant) of C's rows [m0, m1) x columns
 * [n0, n1), from C: the reference path's. */
static void requant_c(const lm_qgemm_params *p, int64_t m0, int64_t m1, int64_t n0, int64_t n1)
{
    const lm_qgemm_requant *rq = p->rq;
    for (int64_t i = m0; i < m1; i++)
        for (int64_t j = n0; j < n1; j++) {
            int64_t ch = rq->per_col ? j : i;
            uint32_t b = rq->bias ? (uint32_t)rq->bias[ch] : 0;
            int32_t v = (int32_t)((uint32_t)p->c[i * p->ldc + j] + b);
            int32_t q = lm_qgemm_requant1(v, rq->mult[ch], rq->lo, rq->hi, rq->zp);
            if (rq->y_signed)
                ((int8_t *)rq->y)[i * rq->ldy + j] = (int8_t)q;
            else
                ((uint8_t *)rq->y)[i * rq->ldy + j] = (uint8_t)q;
        }
}

/* The output stage of n sums of c into y, with multiplier mc[j] or, when mc
 * is NULL, m1. Both 8-bit types store the code's low byte. The loops run in
 * fixed blocks of 16 so that GCC's -O2 cost model vectorizes them. */
static void requant_run(const int32_t *restrict c, uint8_t *restrict y, int64_t n,
                        const float *restrict mc, float m1, const lm_qgemm_requant *rq)
{
    const float lo = rq->lo, hi = rq->hi;
    const int32_t zp = rq->zp;
    int64_t j = 0;
    if (mc) {
        for (; j + 16 <= n; j += 16)
            for (int t = 0; t < 16; t++)
                y[j + t] = (uint8_t)lm_qgemm_requant1(c[j + t], mc[j + t], lo, hi, zp);
        for (; j < n; j++)
            y[j] = (uint8_t)lm_qgemm_requant1(c[j], mc[j], lo, hi, zp);
        return;
    }
    for (; j + 16 <= n; j += 16)
        for (int t = 0; t < 16; t++)
            y[j + t] = (uint8_t)lm_qgemm_requant1(c[j + t], m1, lo, hi, zp);
    for (; j < n; j++)
        y[j] = (uint8_t)lm_qgemm_requant1(c[j], m1, lo, hi, zp);
}

/* The output stage of the mr x nr tile at (i0, j0) of C, whose sums (bias
 * included) the kernel left in c, for configs that cannot requantize. */
static void requant_tile(const lm_qgemm_requant *rq, const int32_t *c, int64_t ldc, int mr, int nr,
                         int64_t i0, int64_t j0)
{
    for (int i = 0; i < mr; i++)
        requant_run(c + i * ldc, (uint8_t *)rq->y + (i0 + i) * rq->ldy + j0, nr,
                    rq->per_col ? rq->mult + j0 : NULL, rq->per_col ? 0.0f : rq->mult[i0 + i], rq);
}

/* The tile's zero-point correction (see qgemm_ukernel.h) and bias: sums
 * per row and per column, and the rank-one products left where a zero point
 * varies along its operand. col_add is finished per column block
 * (finish_cols), once B's column sums are. */
typedef struct corr_terms {
    int64_t mt, nt;
    int32_t *a_zp, *a_sum, *b_zp, *b_term; /* adjusted zero points, sums */
    int32_t *row_add, *col_add;
    bool a_uni, b_uni;
    const int32_t *col_bias; /* NULL or nt values added to col_add */
} corr_terms;

/* n zero points (adjusted by @shift) from zp: none, one, or per element from
 * zp[0]; true when all are equal (then only the first is written). */
static bool load_zp(int32_t *out, const int32_t *zp, bool per, int64_t n, uint32_t shift)
{
    if (!zp || !per) {
        out[0] = (int32_t)((uint32_t)(zp ? zp[0] : 0) + shift);
        return true;
    }
    bool uni = true;
    for (int64_t i = 0; i < n; i++) {
        out[i] = (int32_t)((uint32_t)zp[i] + shift);
        uni = uni && zp[i] == zp[0];
    }
    return uni;
}

static void finish_rows(corr_terms *t, const int32_t *restrict row_bias)
{
    const uint32_t zb = t->b_uni ? (uint32_t)t->b_zp[0] : 0;
    const int32_t *restrict sa = t->a_sum;
    int32_t *restrict ra = t->row_add;
    for (int64_t i = 0; i < t->mt; i++)
        ra[i] = (int32_t)((row_bias ? (uint32_t)row_bias[i] : 0) - zb * (uint32_t)sa[i]);
}

/* b_term[j] = column sum - K * b_zp[j], and col_add[j], for j in [j0, j1),
 * modulo 2^32. */
static void finish_cols(corr_terms *t, int64_t j0, int64_t j1, int64_t K)
{
    const uint32_t za = t->a_uni ? (uint32_t)t->a_zp[0] : 0;
    const int32_t *restrict cb = t->col_bias;
    int32_t *restrict bt = t->b_term, *restrict ca = t->col_add;
    if (t->b_uni) {
        const uint32_t kz = (uint32_t)K * (uint32_t)t->b_zp[0];
        for (int64_t j = j0; j < j1; j++) {
            bt[j] = (int32_t)((uint32_t)bt[j] - kz);
            ca[j] = (int32_t)((cb ? (uint32_t)cb[j] : 0) - za * (uint32_t)bt[j]);
        }
        return;
    }
    const int32_t *restrict zb = t->b_zp;
    for (int64_t j = j0; j < j1; j++) {
        bt[j] = (int32_t)((uint32_t)bt[j] - (uint32_t)K * (uint32_t)zb[j]);
        ca[j] = (int32_t)((cb ? (uint32_t)cb[j] : 0) - za * (uint32_t)bt[j]);
    }
}

/* The kernel's view of tile (i, j) of the call (offsets in the call's tile). */
static lm_qgemm_corr tile_corr(const corr_terms *t, const lm_qgemm_params *p, int64_t i, int64_t j,
                               int64_t m0, int64_t n0, bool requant)
{
    lm_qgemm_corr c = {.row_add = t->row_add + i, .col_add = t->col_add + j};
    if (!t->a_uni) {
        c.p_row = t->a_zp + i;
        c.p_col = t->b_term + j;
    }
    if (!t->b_uni) {
        c.q_row = t->a_sum + i;
        c.q_col = t->b_zp + j;
    }
    const lm_qgemm_requant *rq = p->rq;
    if (rq && requant) {
        c.rq = rq;
        c.ldy = rq->ldy;
        c.y = (uint8_t *)rq->y + (m0 + i) * rq->ldy + n0 + j;
        c.mult = rq->mult + (rq->per_col ? n0 + j : m0 + i);
    }
    return c;
}

void lm_qgemm_tile_cfg(const lm_qgemm_config *cfg, const lm_qgemm_params *p, int64_t m0, int64_t m1,
                       int64_t n0, int64_t n1)
{
    if (m0 >= m1 || n0 >= n1)
        return;
    const int64_t K = p->k;
    if (!cfg || K <= 0) {
        lm_qgemm_ref_tile(p, m0, m1, n0, n1);
        if (p->rq)
            requant_c(p, m0, m1, n0, n1);
        return;
    }
    const int MR = cfg->mr, NR = cfg->nr;
    const int64_t MC = cfg->mc, KC = cfg->kc, NC = cfg->nc;
    int64_t mt = m1 - m0, nt = n1 - n0;
    int64_t kcp = (min64(KC, K) + 3) / 4 * 4;
    size_t a_bytes =
        (size_t)(lm_qgemm_a_row_bytes(cfg, min64(KC, K)) * ((min64(MC, mt) + MR - 1) / MR * MR));
    size_t b_bytes = (size_t)(kcp * ((min64(NC, nt) + NR - 1) / NR * NR)) + (size_t)cfg->b_overread;
    qworkspace *w = qws_get(a_bytes, b_bytes, (size_t)(3 * mt + 3 * nt));
    if (!w) {
        lm_qgemm_ref_tile(p, m0, m1, n0, n1);
        if (p->rq)
            requant_c(p, m0, m1, n0, n1);
        return;
    }
    const uint8_t *A = p->a;
    const bsrc B = {.b = p->b, .ldb = p->ldb, .rows = (const uint8_t *const *)p->b_rows};
    const uint8_t aflip = p->a_signed ? 0x80 : 0, bflip = p->b_signed ? 0 : 0x80;
    corr_terms t = {.mt = mt, .nt = nt, .a_zp = w->v};
    t.a_sum = t.a_zp + mt;
    t.row_add = t.a_sum + mt;
    t.b_zp = t.row_add + mt;
    t.b_term = t.b_zp + nt;
    t.col_add = t.b_term + nt;
    const lm_qgemm_requant *rq = p->rq;
    const int32_t *row_bias = rq && rq->bias && !rq->per_col ? rq->bias + m0 : NULL;
    t.col_bias = rq && rq->bias && rq->per_col ? rq->bias + n0 : NULL;
    /* Zero points moved with the value shifts; sums of the shifted values. */
    /* A packed operand is used only if it matches this call, and its panels
     * only where the tile starts on a panel boundary. */
    const lm_qgemm_packed *pa = p->pa, *pb = p->pb;
    if (pa && (pa->cfg != cfg || pa->rows != p->m || pa->K != K || pa->is_signed != p->a_signed))
        pa = NULL;
    if (pb && (pb->cfg != cfg || pb->rows != p->n || pb->K != K || pb->is_signed != p->b_signed))
        pb = NULL;
    t.a_uni = load_zp(t.a_zp, p->a_zp ? p->a_zp + (p->a_zp_per_row ? m0 : 0) : NULL,
                      p->a_zp_per_row, mt, p->a_signed ? 128u : 0u);
    t.b_uni = load_zp(t.b_zp, p->b_zp ? p->b_zp + (p->b_zp_per_col ? n0 : 0) : NULL,
                      p->b_zp_per_col, nt, p->b_signed ? 0u : (uint32_t)-128);
    for (int64_t i = 0; i < mt; i++)
        t.a_sum[i] = pa ? pa->sums[m0 + i] : (int32_t)sum_u8(A + (m0 + i) * p->lda, K, aflip);
    if (pb)
        memcpy(t.b_term, pb->sums + n0, (size_t)nt * sizeof(int32_t));
    else
        memset(t.b_term, 0, (size_t)nt * sizeof(int32_t));
    finish_rows(&t, row_bias);
    /* The config's packer sums B's columns as it packs them, so b_term is
     * complete only once the last K block of a column block is packed. */
    bool sum_in_pack = !pb && cfg->pack_b;
    if (!pb && !sum_in_pack)
        colsum_s8(&B, n0, K, nt, bflip, t.b_term);
    if (!sum_in_pack)
        finish_cols(&t, 0, nt, K);

    if (cfg->begin)
        cfg->begin();
    for (int64_t jc = 0; jc < nt; jc += NC) {
        int64_t nc = min64(NC, nt - jc);
        for (int64_t pc = 0; pc < K; pc += KC) {
            int64_t kc = min64(KC, K - pc), k4 = (kc + 3) / 4;
            int64_t arow = lm_qgemm_a_row_bytes(cfg, kc);
            bool last = pc + kc >= K;
            const int8_t *bp = w->b;
            if (pb && (n0 + jc) % NR == 0) {
                bp = (const int8_t *)pb->data + pc * pb->pad + (n0 + jc) * k4 * 4;
            } else if (sum_in_pack) {
                const uint8_t *rows[LM_QGEMM_MAX_KC];
                for (int64_t r = 0; r < kc; r++)
                    rows[r] = brow(&B, pc + r) + n0 + jc;
                cfg->pack_b(rows, kc, nc, bflip, w->b, t.b_term + jc);
                if (last)
                    finish_cols(&t, jc, jc + nc, K);
            } else {
                pack_b(NR, &B, bflip, pc, kc, n0 + jc, nc, w->b);
            }
            for (int64_t ic = 0; ic < mt; ic += MC) {
                int64_t mc = min64(MC, mt - ic);
                const uint8_t *ap = w->a;
                if (pa && (m0 + ic) % MR == 0)
                    ap = pa->data + pc * pa->pad + (m0 + ic) * arow;
                else if (cfg->pack_a)
                    cfg->pack_a(A, p->lda, aflip, m0 + ic, mc, pc, kc, w->a);
                else
                    pack_a(MR, A, p->lda, aflip, m0 + ic, mc, pc, kc, w->a);
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    int nr = (int)min64(NR, nc - jr);
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        int mr = (int)min64(MR, mc - ir);
                        lm_qgemm_corr corr =
                            tile_corr(&t, p, ic + ir, jc + jr, m0, n0, cfg->requant);
                        int32_t *c = p->c + (m0 + ic + ir) * p->ldc + n0 + jc + jr;
                        cfg->ukernel(k4, ap + ir * arow, bp + jr * k4 * 4, c, p->ldc, mr, nr,
                                     pc > 0, last ? &corr : NULL);
                        if (last && rq && !cfg->requant)
                            requant_tile(rq, c, p->ldc, mr, nr, m0 + ic + ir, n0 + jc + jr);
                    }
                }
            }
        }
    }
}

void lm_qgemm_u8s8_tile(const lm_qgemm_params *p, int64_t m0, int64_t m1, int64_t n0, int64_t n1)
{
    lm_qgemm_tile_cfg(lm_qgemm_available_configs()[0], p, m0, m1, n0, n1);
}

void lm_qgemm_tile(const lm_qgemm_params *p, int64_t m0, int64_t m1, int64_t n0, int64_t n1)
{
    lm_qgemm_tile_cfg(lm_qgemm_available_configs()[0], p, m0, m1, n0, n1);
}
