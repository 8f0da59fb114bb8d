/* rng.h - the harness's deterministic generator: the same seed gives the
 * same models and inputs on every machine (no libc rand()). */
#ifndef LOOM_TESTS_OPS_RNG_H
#define LOOM_TESTS_OPS_RNG_H

#include <stdint.h>

/* xorshift32; a zero state would stay zero, so it is nudged. */
static inline uint32_t ops_rng_next(uint32_t *s)
{
    uint32_t x = *s ? *s : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* Uniform in [0, 1). */
static inline double ops_rng_unit(uint32_t *s)
{
    return (ops_rng_next(s) >> 8) * (1.0 / 16777216.0);
}

#endif
