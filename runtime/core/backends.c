/* backends.c - the built-in device backends, in the planner's priority order. */
#include <stddef.h>

#include "../fpga/fpga.h"
#include "../opencl/opencl.h"
#include "backends.h"

/* Accelerators first: the planner gives a node to the first device that takes
 * it, and the CPU (implicit, last) takes the rest. */
static const lm_backend_enumerate_fn backends[] = {
    lm_fpga_enumerate, /* Loom cards (kernel driver, emulated) and XRT cards */
    lm_opencl_enumerate,
};

loom_status lm_backends_enumerate(loom_context *ctx, const char *want)
{
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
        if (!backends[i])
            continue;
        loom_status s = backends[i](ctx, want);
        if (s)
            return s;
    }
    return LOOM_OK;
}
