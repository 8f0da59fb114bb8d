/*
 * backend.h - what a backend gives libloom: operator definitions and devices.
 *
 * Core depends on no backend: backends include core, and the list of the
 * backends built into libloom lives outside core (runtime/backends.c), which
 * is the one file that names them all.
 */
#ifndef LOOM_CORE_BACKEND_H
#define LOOM_CORE_BACKEND_H

#include "op.h"
#include "registry.h"

typedef struct lm_backend {
    const char *name; /* "cpu", "fpga", "opencl" */
    /* NULL-terminated prefixes of its devices' names ("card:", "xrt:"): a
     * context that names none of them does not make it discover. */
    const char *const *prefixes;
    /* It provides emulated devices: discovered again when a context asks
     * for more (lm_discovery.emulated_cards). */
    bool emulates;
    /* Its devices are every context's fallback (the CPU): always discovered. */
    bool fallback;
    /* (optional) NULL-terminated list of op tables, each ending with
     * LM_OP_END: the definitions (shape and type inference, and the host
     * implementation unless LM_OP_INFER_ONLY) this backend contributes. */
    const lm_op_def *const *op_tables;
    /* Adds the backend's devices with lm_registry_add(), in its own stable
     * order. Finding none (no driver, no card) is not an error. Called again
     * when a context asks for more emulated devices than were discovered
     * (if it emulates): devices already registered (by name) are not added
     * twice. */
    loom_status (*discover)(const lm_discovery *d);
} lm_backend;

/* The built-in backends, NULL-terminated, in the planner's priority order:
 * accelerators first, the CPU last. Defined in runtime/backends.c. */
extern const lm_backend *const lm_backends[];

#endif
