/* backend.h - the CPU backend's entry point for the runtime. */
#ifndef LOOM_CPU_BACKEND_H
#define LOOM_CPU_BACKEND_H

#include "../core/backend.h"

/* The CPU kernels as op definitions, and the CPU as a device; listed in
 * runtime/backends.c. */
extern const lm_backend lm_cpu_backend;

#endif
