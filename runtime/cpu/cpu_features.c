/* cpu_features.c - CPUID-based ISA detection under an init-once guard. */
#include "cpu_features.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "../core/env.h"

static lm_cpu_features g_features;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/*
 * AMX-INT8: CPUID.(7,0):EDX bits 24 (tiles) and 25 (int8 products), XCR0
 * bits 17-18 (the OS saves tile state), and Linux's per-process permission
 * for the tile data (arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA):
 * without it the first tile instruction faults.
 */
static bool amx_int8_usable(void)
{
#if defined(__x86_64__) && defined(__linux__)
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) || !(d & (1u << 25)))
        return false;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) /* OSXSAVE: xgetbv works */
        return false;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & (3u << 17)) != (3u << 17))
        return false;
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0;
#else
    return false;
#endif
}

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
    f.amx_int8 = f.avx512vnni && amx_int8_usable();
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
    f.avxvnni = f.avx2_fma && __builtin_cpu_supports("avxvnni");
#endif
#endif
    const char *cap = lm_env_str(LM_ENV_CPU_ISA);
    if (cap && strcmp(cap, "scalar") == 0) {
        f = (lm_cpu_features){0};
    } else if (cap && strcmp(cap, "avx2") == 0) {
        f.avx512f = f.avx512bw_vl = f.avx512vnni = f.avx512vbmi = f.amx_int8 = false;
    } else if (cap && strcmp(cap, "avx512") == 0) {
        f.amx_int8 = false;
    }
    g_features = f;
}

const lm_cpu_features *lm_cpu_features_get(void)
{
    pthread_once(&g_once, detect);
    return &g_features;
}
