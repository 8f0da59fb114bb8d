/* no_opencl.c - the OpenCL backend's entry point for the static guest build
 * of the end-to-end test: the QEMU guest has no ICD loader to link against
 * statically, and no OpenCL device either. */
#include "opencl/opencl.h"

loom_status lm_opencl_enumerate(loom_context *ctx)
{
    (void)ctx;
    return LOOM_OK;
}
