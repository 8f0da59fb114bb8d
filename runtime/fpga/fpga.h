/* fpga.h - the FPGA backend's entry points for the runtime and loomctl. */
#ifndef LOOM_FPGA_FPGA_H
#define LOOM_FPGA_FPGA_H

#include "loom/loom.h"

/* Adds a device for every Loom card (card:N) and XRT card (xrt:N) found;
 * registered in core/backends.c. Finding none is not an error. */
loom_status lm_fpga_enumerate(loom_context *ctx, const char *want);

#endif
