/*
 * qgemm_amx.c - qu8s8_gemm_32x32c4__amx: the int8 GEMM micro-kernel on AMX
 * tiles (Sapphire Rapids and later).
 *
 * tdpbusd multiplies a 16 x 64 uint8 tile of A by a 16 x (16 x 4) int8 tile
 * of B into 16 x 16 int32: 16K multiply-adds an instruction, eight times a
 * zmm vpdpbusd's work per cycle. A 32 x 32 output block is four accumulator
 * tiles fed by two A tiles (rows 0-15, 16-31) and two B tiles (columns 0-15,
 * 16-31) per 64 bytes of K.
 *
 * B keeps the VNNI kernel's packed layout and packer (k4 steps of 32 columns
 * x 4 bytes): a
 * B tile is 16 of those steps read with a 128-byte stride, one half of each.
 * A is packed here row-major (32 rows of K rounded up to 64, zero-padded),
 * the layout a tile load wants. In the last K block the B tiles may read up
 * to 15 steps past the panel (the driver pads buffers by b_overread); A is
 * zero there, so those products add nothing. Results are exact int32 sums,
 * bit-for-bit those of the reference; the stored tiles end as the VNNI
 * kernel's do (qgemm_epi_avx512.h).
 *
 * The tile configuration is loaded once per driver call (the config's
 * begin hook); the kernel saves tile state across context switches.
 */
#include "qgemm_ukernel.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#include <immintrin.h>
#include <string.h>

#include "qgemm_epi_avx512.h"

#define TARGET __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl")))
#define MR     32
#define NR     32
#define KB     64 /* K bytes per tile step */

/* The 64-byte palette-1 configuration: tiles 0-3 accumulators (16 rows of
 * 64 bytes), 4-5 A (16 x 64), 6-7 B (16 k4 rows of 64 bytes). */
typedef struct tilecfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg;

/* A constant in memory: GCC 12 does not treat _tile_loadconfig as reading
 * its whole operand, and dropped the stores that built one on the stack. */
static const tilecfg g_cfg __attribute__((aligned(64))) = {
    .palette = 1,
    .colsb = {64, 64, 64, 64, 64, 64, 64, 64},
    .rows = {16, 16, 16, 16, 16, 16, 16, 16},
};

/* Loaded at the start of every driver call, not once per thread: other code
 * in the process (another inference library) may configure the tiles its
 * own way between our calls. */
static TARGET void configure(void)
{
    _tile_loadconfig(&g_cfg);
}

/* Rows [i0, i0+mc) x k [pc, pc+kc) of A into 32-row panels, each row K
 * rounded up to 64 bytes, values XOR flip; the rest zero. */
static void pack_a(const uint8_t *A, int64_t lda, uint8_t flip, int64_t i0, int64_t mc, int64_t pc,
                   int64_t kc, uint8_t *dst)
{
    int64_t kp = (kc + KB - 1) / KB * KB, rows = (mc + MR - 1) / MR * MR;
    for (int64_t i = 0; i < rows; i++, dst += kp) {
        if (i >= mc) {
            memset(dst, 0, (size_t)kp);
            continue;
        }
        const uint8_t *src = A + (i0 + i) * lda + pc;
        if (flip)
            for (int64_t q = 0; q < kc; q++)
                dst[q] = (uint8_t)(src[q] ^ flip);
        else
            memcpy(dst, src, (size_t)kc);
        memset(dst + kc, 0, (size_t)(kp - kc));
    }
}

/* The stored tiles' rows through the shared epilogue. */
static TARGET void finish(const int32_t *acc, int32_t *c, int64_t ldc, int mr, int nr,
                          bool accumulate, const lm_qgemm_corr *corr)
{
    epi_cols e;
    epi_load(corr, nr, &e);
    for (int i = 0; i < mr; i++) {
        int32_t *ci = c + i * ldc;
        __m512i v0 = _mm512_loadu_si512((const void *)(acc + i * NR));
        __m512i v1 = _mm512_loadu_si512((const void *)(acc + i * NR + 16));
        if (accumulate) {
            v0 = _mm512_add_epi32(v0, _mm512_maskz_loadu_epi32(e.m0, ci));
            v1 = _mm512_add_epi32(v1, _mm512_maskz_loadu_epi32(e.m1, ci + 16));
        }
        epi_row(corr, &e, i, v0, v1, c, ldc);
    }
}

static TARGET void ukernel(int64_t k4, const uint8_t *a, const int8_t *b, int32_t *c, int64_t ldc,
                           int mr, int nr, bool accumulate, const lm_qgemm_corr *corr)
{
    int64_t kp = (k4 * 4 + KB - 1) / KB * KB;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int64_t k = 0; k < kp; k += KB) {
        const int8_t *bk = b + (k / 4) * 4 * NR;
        _tile_loadd(4, a + k, kp);
        _tile_loadd(5, a + 16 * kp + k, kp);
        _tile_loadd(6, bk, 4 * NR);
        _tile_loadd(7, bk + 64, 4 * NR);
        _tile_dpbusd(0, 4, 6);
        _tile_dpbusd(1, 4, 7);
        _tile_dpbusd(2, 5, 6);
        _tile_dpbusd(3, 5, 7);
    }
    int32_t acc[MR * NR] __attribute__((aligned(64)));
    _tile_stored(0, acc, 4 * NR);
    _tile_stored(1, acc + 16, 4 * NR);
    _tile_stored(2, acc + 16 * NR, 4 * NR);
    _tile_stored(3, acc + 16 * NR + 16, 4 * NR);
    finish(acc, c, ldc, mr, nr, accumulate, corr);
}

const lm_qgemm_config lm_qgemm_config_amx = {
    .name = "qu8s8_gemm_32x32c4__amx",
    .mr = MR,
    .nr = NR,
    .mc = 128,
    .kc = 1024,
    .nc = 1024,
    .ukernel = ukernel,
    .pack_b = lm_qgemm_pack_b_avx512vnni,
    .begin = configure,
    .pack_a = pack_a,
    .a_kalign = KB,
    .b_overread = 15 * 4 * NR,
    .requant = true,
};

#else
/* No AMX intrinsics in this compiler: qgemm.c skips a config without a kernel. */
const lm_qgemm_config lm_qgemm_config_amx = {0};
#endif
