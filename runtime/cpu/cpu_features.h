/*
 * cpu_features.h - the instruction sets this CPU offers, detected once.
 *
 * Kernels are compiled for several ISAs in one binary (per-function target
 * attributes); configs pick among them from these flags at run time, so the
 * same libloom runs on any x86-64 and uses AVX-512 where it exists.
 */
#ifndef LOOM_CPU_CPU_FEATURES_H
#define LOOM_CPU_CPU_FEATURES_H

#include <stdbool.h>

typedef struct lm_cpu_features {
    bool avx2_fma;    /* AVX2 and FMA3 */
    bool avx512f;     /* AVX-512 Foundation */
    bool avx512bw_vl; /* AVX-512 BW and VL (byte/word ops, 256-bit forms) */
    bool avx512vnni;  /* vpdpbusd on zmm */
    bool avx512vbmi;  /* vpermb/vpermi2b: byte permutes (table lookups) */
    bool amx_int8;    /* AMX tiles with tdpbusd, and the OS lets this process use them */
    bool avxvnni;     /* vpdpbusd on ymm without AVX-512 (Alder Lake and later) */
} lm_cpu_features;

/* Detected on the first call (thread-safe); the same object afterwards.
 * LOOM_CPU_ISA=scalar|avx2|avx512 in the environment caps the result, so a
 * slower path can be run or benchmarked on a faster machine. */
const lm_cpu_features *lm_cpu_features_get(void);

#endif
