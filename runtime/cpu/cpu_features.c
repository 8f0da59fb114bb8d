/* cpu_features.c - CPUID-based ISA detection under an init-once guard. */
#include "cpu_features.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../core/env.h"

static lm_cpu_features g_features;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void detect(void)
{
    lm_cpu_features f = {0};
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    /* __builtin_cpu_supports also checks that the OS saves the wide
     * registers (XCR0), so a flag here means the instructions are usable. */
    f.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    f.avx512f = f.avx2_fma && __builtin_cpu_supports("avx512f");
    f.avx512bw_vl =
        f.avx512f && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    f.avx512vnni = f.avx512bw_vl && __builtin_cpu_supports("avx512vnni");
    f.avx512vbmi = f.avx512bw_vl && __builtin_cpu_supports("avx512vbmi");
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
    f.avxvnni = f.avx2_fma && __builtin_cpu_supports("avxvnni");
#endif
#endif
    const char *cap = lm_env_str(LM_ENV_CPU_ISA);
    if (cap && strcmp(cap, "scalar") == 0) {
        f = (lm_cpu_features){0};
    } else if (cap && strcmp(cap, "avx2") == 0) {
        f.avx512f = f.avx512bw_vl = f.avx512vnni = f.avx512vbmi = false;
    }
    g_features = f;
}

const lm_cpu_features *lm_cpu_features_get(void)
{
    pthread_once(&g_once, detect);
    return &g_features;
}
