/* peaks.h - the CPU's measured rates, for the cost model. */
#ifndef LOOM_CPU_PEAKS_H
#define LOOM_CPU_PEAKS_H

#include "../core/device.h"

/*
 * Fills @p's peak_gflops (one thread's SGEMM rate on a cache-resident
 * 256^3 product), peak_int8_gops (that times the int8 GEMM's advantage on
 * this ISA), mem_gbps (one thread's copy bandwidth over 32 MiB) and op_us.
 * Measured once per machine and kept in the cost cache (core/cache.h) under
 * the CPU's model and ISA; about 20 ms the first time.
 */
void lm_cpu_measure_peaks(lm_device_props *p, const char *isa);

#endif
