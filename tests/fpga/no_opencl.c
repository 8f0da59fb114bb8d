/* no_opencl.c - the OpenCL backend for the static guest builds of the
 * end-to-end test and loomctl: the QEMU guest has no ICD loader to link
 * against statically, and no OpenCL device either. */
#include "core/backend.h"

const lm_backend lm_opencl_backend = {
    .name = "opencl",
};
