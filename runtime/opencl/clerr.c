/*
 * clerr.c - OpenCL error codes as Loom statuses, and the test hook that
 * injects them.
 *
 * The class of an error decides what a caller may do next (fail over, retry,
 * give up), so the mapping is in one place: a device that is gone or whose
 * context is lost is LOOM_ERR_DEVICE_LOST, running out of device resources
 * is LOOM_ERR_DEVICE_TRANSIENT, host memory is LOOM_ERR_NO_MEMORY, and
 * everything else (a bad argument, a build failure: our bug, not the
 * device's) stays LOOM_ERR_RUNTIME.
 */
#include <stdatomic.h>

#include "core/error.h"
#include "opencl.h"

loom_status lm_cl_status(cl_int err)
{
    switch (err) {
    case CL_SUCCESS:
        return LOOM_OK;
    case CL_DEVICE_NOT_AVAILABLE:
    case CL_INVALID_CONTEXT: /* what a lost context answers */
        return LOOM_ERR_DEVICE_LOST;
    case CL_OUT_OF_RESOURCES:
    case CL_MEM_OBJECT_ALLOCATION_FAILURE:
        return LOOM_ERR_DEVICE_TRANSIENT;
    case CL_OUT_OF_HOST_MEMORY:
        return LOOM_ERR_NO_MEMORY;
    }
    return LOOM_ERR_RUNTIME;
}

static const char *cl_err_name(cl_int err)
{
    switch (err) {
    case CL_DEVICE_NOT_AVAILABLE:
        return "CL_DEVICE_NOT_AVAILABLE";
    case CL_INVALID_CONTEXT:
        return "CL_INVALID_CONTEXT";
    case CL_OUT_OF_RESOURCES:
        return "CL_OUT_OF_RESOURCES";
    case CL_MEM_OBJECT_ALLOCATION_FAILURE:
        return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_OUT_OF_HOST_MEMORY:
        return "CL_OUT_OF_HOST_MEMORY";
    }
    return "OpenCL error";
}

loom_status lm_cl_fail(const char *device, const char *what, cl_int err)
{
    return lm_error(lm_cl_status(err), "%s: %s failed (%s %d)", device, what, cl_err_name(err),
                    (int)err);
}

/* The armed error and how many checks pass before it fires; one shot. */
static _Atomic cl_int injected_err;
static _Atomic int injected_after;

void lm_cl_inject_error(cl_int err, int after_n_calls)
{
    atomic_store(&injected_after, after_n_calls > 0 ? after_n_calls : 0);
    atomic_store(&injected_err, err);
}

cl_int lm_cl_injected(cl_int real)
{
    if (real != CL_SUCCESS || atomic_load_explicit(&injected_err, memory_order_relaxed) == 0)
        return real; /* the common case: one relaxed load */
    if (atomic_fetch_sub(&injected_after, 1) > 0)
        return real;
    return atomic_exchange(&injected_err, CL_SUCCESS);
}
