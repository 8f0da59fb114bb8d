/* backends.h - the device backends built into libloom, and how they are found. */
#ifndef LOOM_CORE_BACKENDS_H
#define LOOM_CORE_BACKENDS_H

#include "loom/loom.h"

/*
 * Each backend adds its devices to @ctx with lm_context_add_device(), in its
 * own stable order, and returns LOOM_OK when it finds none (no driver, no
 * card): absence is not an error. Registered in backends.c, in priority order.
 */
typedef loom_status (*lm_backend_enumerate_fn)(loom_context *ctx);

/* Runs every backend's enumeration. */
loom_status lm_backends_enumerate(loom_context *ctx);

#endif
