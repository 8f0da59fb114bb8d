/* fpga.h - the FPGA backend's entry point for the runtime. */
#ifndef LOOM_FPGA_FPGA_H
#define LOOM_FPGA_FPGA_H

#include "core/backend.h"

/* Loom cards (card:N, through loom.ko or emulated in-process) and XRT cards
 * (xrt:N) as devices; listed in runtime/backends.c. */
extern const lm_backend lm_fpga_backend;

#endif
