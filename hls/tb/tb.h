/*
 * Shared pieces of the CU testbenches: a seeded generator, result counting
 * ("N passed, N failed" last), random quantization parameters, the plain
 * reference requantization (the CPU backend's float32 expression, written as
 * runtime/cpu/ops/quant.c writes it) and sentinel-guarded buffers.
 */
#ifndef LOOM_HLS_TB_H
#define LOOM_HLS_TB_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../loom_cu.h"

static int tb_pass, tb_fail;
static uint64_t tb_state = 0x9e3779b97f4a7c15ull;

static inline uint32_t tb_rand(void)
{
    tb_state ^= tb_state << 13;
    tb_state ^= tb_state >> 7;
    tb_state ^= tb_state << 17;
    return (uint32_t)(tb_state >> 16);
}

/* Uniform in [lo, hi]. */
static inline int32_t tb_range(int32_t lo, int32_t hi)
{
    return lo + (int32_t)(tb_rand() % (uint32_t)(hi - lo + 1));
}

static inline void tb_check(int ok, const char *fmt, const char *name)
{
    if (ok)
        tb_pass++;
    else
        tb_fail++;
    if (!ok || getenv("TB_VERBOSE"))
        printf("%s %s: %s\n", ok ? "ok" : "FAIL", fmt, name);
}

static inline int tb_finish(const char *suite)
{
    printf("%s: %d passed, %d failed\n", suite, tb_pass, tb_fail);
    return tb_fail != 0;
}

/* n bytes of random int8/uint8 data followed by 64 sentinel bytes. */
#define TB_GUARD 64
static inline uint8_t *tb_buf(uint64_t n, int fill)
{
    uint8_t *p = malloc(n + TB_GUARD);

    if (!p) {
        perror("malloc");
        exit(2);
    }
    for (uint64_t i = 0; i < n; i++)
        p[i] = fill ? (uint8_t)tb_rand() : 0xa5;
    memset(p + n, 0x5a, TB_GUARD);
    return p;
}

static inline int tb_guard_ok(const uint8_t *p, uint64_t n)
{
    for (int i = 0; i < TB_GUARD; i++)
        if (p[n + i] != 0x5a)
            return 0;
    return 1;
}

static inline int32_t tb_val(const uint8_t *p, uint64_t i, int u8)
{
    return u8 ? p[i] : (int8_t)p[i];
}

/* A zero point within the type. */
static inline int32_t tb_zp(int u8)
{
    return u8 ? tb_range(0, 255) : tb_range(-128, 127);
}

/*
 * A float scale like a calibrated model's, spanning several octaves; one in
 * four is a power of two, so that products land on exact halves (ties).
 */
static inline float tb_scale(void)
{
    if (tb_rand() % 4 == 0)
        return (float)ldexp(1.0, tb_range(-12, -4));
    return (float)ldexp(1.0 + (tb_rand() % 1000000) / 1e6, tb_range(-12, -4));
}

/*
 * The reference requantization of acc (bias included, wrapped to int32 as the
 * CPU adds it) with the float scale s: runtime/cpu/ops/quant_common.h's clamp_round
 * of (float)acc * s, i.e. clamp the float to the output range less the zero
 * point, round half to even with the 1.5 * 2^23 trick, add the zero point.
 * volatile keeps each float rounding where the CPU code has it.
 */
static inline int32_t tb_requant_ref(int64_t acc, float s, int32_t zp, int32_t lo, int32_t hi)
{
    volatile float v = (float)(int32_t)(uint32_t)(uint64_t)acc * s;
    float l = (float)lo - (float)zp, h = (float)hi - (float)zp, c;
    volatile float r;

    c = v > l ? v : l;
    c = c < h ? c : h;
    r = c + 12582912.0f;
    return (int32_t)(r - 12582912.0f) + zp;
}

/* The float32 scale a table entry holds (exact: the entry is one). */
static inline float tb_rq_scale(struct loom_rq rq)
{
    return (float)ldexp((double)rq.mult, -rq.shift);
}

/* Random clamp: the full type, or ReLU (act_min = zp), or a narrower range. */
static inline void tb_act(int y_u8, int32_t zp, int32_t *lo, int32_t *hi)
{
    switch (tb_rand() % 3) {
    case 0:
        loom_rq_act_range(y_u8, 0, zp, lo, hi);
        break;
    case 1:
        loom_rq_act_range(y_u8, 1, zp, lo, hi);
        break;
    default:
        loom_rq_act_range(y_u8, 0, zp, lo, hi);
        *lo += 10;
        *hi -= 20;
    }
}

#endif /* LOOM_HLS_TB_H */
