/* no_opencl.c - the OpenCL backend's entry points for the static guest builds
 * of the end-to-end test and loomctl: the QEMU guest has no ICD loader to link against
 * statically, and no OpenCL device either. */
#include "opencl/opencl.h"

loom_status lm_opencl_enumerate(loom_context *ctx, const char *want)
{
    (void)ctx;
    (void)want;
    return LOOM_OK;
}

int lm_opencl_list(lm_cl_info *out, int max)
{
    (void)out;
    (void)max;
    return 0;
}
