/*
 * registry.h - the process's devices: discovered once, shared by every context.
 *
 * The first context (or device listing) discovers the devices of every
 * backend; later contexts select from the same objects, so a card is opened
 * once and the CPU's worker pools are shared. Devices live while anyone holds
 * the registry and go with the last release.
 */
#ifndef LOOM_CORE_REGISTRY_H
#define LOOM_CORE_REGISTRY_H

#include <stdbool.h>

#include "device.h"

/* What discovery is asked for beyond the machine's own devices. */
typedef struct lm_discovery {
    int emulated_cards; /* in-process emulated Loom cards to provide (at least) */
    /* The device list the caller will select from (loom_context_options.device
     * syntax): only the backends it names are discovered, so a "cpu" context
     * opens no OpenCL platform. NULL or "auto" in it: every backend. */
    const char *devices;
} lm_discovery;

#define LM_MAX_DEVICES 16

/* Takes a reference on the registry, discovering the devices of the backends
 * @d names that were not discovered yet (NULL: every backend, and
 * LOOM_EMULATED_CARDS emulated cards). */
loom_status lm_registry_acquire(const lm_discovery *d);
void lm_registry_release(void);
/* Takes a reference only while someone else holds one: false when the
 * devices are gone or going (the health prober). */
bool lm_registry_try_acquire(void);

/* The emulated cards LOOM_EMULATED_CARDS asks for (0 when unset). */
int lm_registry_env_emulated_cards(void);

/* The registered devices in priority order; valid while a reference is held.
 * Devices are only ever appended while the registry is held. */
int lm_registry_count(void);
lm_device *lm_registry_device(int index);
lm_device *lm_registry_find(const char *name);

/* For backends' discover(): adds @dev; the registry owns it from then on
 * (also on failure, when it is destroyed at once). */
loom_status lm_registry_add(lm_device *dev);

#endif
