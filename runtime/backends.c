/*
 * backends.c - the backends built into libloom, in the planner's priority
 * order: accelerators first, the CPU last. The one file that names them all;
 * core knows them only through this list (core/backend.h).
 */
#include "cpu/backend.h"
#include "fpga/fpga.h"
#include "opencl/opencl.h"

const lm_backend *const lm_backends[] = {
    &lm_fpga_backend,
    &lm_opencl_backend,
    &lm_cpu_backend,
    NULL,
};
