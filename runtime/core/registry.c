/*
 * registry.c - the process's devices (registry.h).
 *
 * Discovery runs under registry_lock, and backends' discover() calls
 * lm_registry_add() from inside it (the lock is recursive). Readers index the
 * device array without the lock: a slot is written before the count that
 * exposes it (release store), and slots never change while the registry is
 * held.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "backend.h"
#include "env.h"
#include "error.h"
#include "health.h"
#include "numa.h"
#include "registry.h"

static pthread_mutex_t registry_lock =
    PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP; /* guards the fields below */
static int registry_refs;
static lm_discovery discovered;      /* the emulated cards provided so far */
static unsigned discovered_backends; /* bit i: lm_backends[i] discovered */
static int discovering;              /* index in lm_backends of the backend discovering now */
static lm_device *devices[LM_MAX_DEVICES];
static atomic_int n_devices;

loom_status lm_registry_add(lm_device *dev)
{
    pthread_mutex_lock(&registry_lock);
    int n = atomic_load_explicit(&n_devices, memory_order_relaxed);
    loom_status s = LOOM_OK;
    if (n == LM_MAX_DEVICES || lm_registry_find(dev->name)) {
        s = n == LM_MAX_DEVICES
                ? lm_error(LOOM_ERR_UNSUPPORTED, "more than %d devices", LM_MAX_DEVICES)
                : lm_error(LOOM_ERR_INVALID_ARGUMENT, "device %s is registered twice", dev->name);
        if (dev->ops->destroy)
            dev->ops->destroy(dev);
    } else {
        lm_numa_locate(dev); /* where it sits decides its feeders and staging memory */
        lm_busy_init(&dev->busy);
        dev->rank = discovering;
        devices[n] = dev;
        atomic_store_explicit(&n_devices, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&registry_lock);
    return s;
}

int lm_registry_count(void)
{
    return atomic_load_explicit(&n_devices, memory_order_acquire);
}

lm_device *lm_registry_device(int index)
{
    return index >= 0 && index < lm_registry_count() ? devices[index] : NULL;
}

lm_device *lm_registry_find(const char *name)
{
    int n = lm_registry_count();
    for (int i = 0; i < n; i++)
        if (strcmp(devices[i]->name, name) == 0)
            return devices[i];
    return NULL;
}

/* Whether the device list @list (NULL: everything) names a device of @b:
 * "auto" takes every backend, a name (or an exclusion) its own; the fallback
 * backend is always taken. */
static bool named(const lm_backend *b, const char *list)
{
    if (!list || strstr(list, "auto") || b->fallback)
        return true;
    for (const char *const *pre = b->prefixes; pre && *pre; pre++)
        for (const char *p = list; (p = strstr(p, *pre)); p++)
            if (p == list || p[-1] == ',' || p[-1] == '-')
                return true;
    return false;
}

/* Discovers the backends @want needs that were not discovered yet, and again
 * those that emulate devices when more emulated cards are wanted. */
static loom_status discover(const lm_discovery *want)
{
    int i = 0;
    bool more = want->emulated_cards > discovered.emulated_cards;
    for (const lm_backend *const *b = lm_backends; *b; b++, i++) {
        bool done = discovered_backends & (1u << i);
        if (!(*b)->discover || !named(*b, want->devices) || (done && !(more && (*b)->emulates)))
            continue;
        discovering = i;
        loom_status s = (*b)->discover(want);
        if (s) {
            lm_error_prefix("discovering %s devices", (*b)->name);
            return s;
        }
        discovered_backends |= 1u << i;
        if ((*b)->emulates)
            discovered.emulated_cards = want->emulated_cards;
    }
    return LOOM_OK;
}

static void destroy_all(void)
{
    for (int i = lm_registry_count() - 1; i >= 0; i--) {
        lm_device *dev = devices[i];
        devices[i] = NULL;
        lm_device_stream_stop(dev);
        lm_busy_fini(&dev->busy);
        if (dev->ops->destroy)
            dev->ops->destroy(dev);
    }
    atomic_store(&n_devices, 0);
    memset(&discovered, 0, sizeof(discovered));
    discovered_backends = 0;
}

int lm_registry_env_emulated_cards(void)
{
    return (int)lm_env_int(LM_ENV_EMULATED_CARDS);
}

loom_status lm_registry_acquire(const lm_discovery *d)
{
    lm_discovery want = d ? *d : (lm_discovery){.emulated_cards = lm_registry_env_emulated_cards()};
    loom_status s = LOOM_OK;
    pthread_mutex_lock(&registry_lock);
    s = discover(&want);
    if (s && registry_refs == 0)
        destroy_all();
    if (!s)
        registry_refs++;
    pthread_mutex_unlock(&registry_lock);
    return s;
}

bool lm_registry_try_acquire(void)
{
    pthread_mutex_lock(&registry_lock);
    bool held = registry_refs > 0;
    if (held)
        registry_refs++;
    pthread_mutex_unlock(&registry_lock);
    return held;
}

void lm_registry_release(void)
{
    pthread_mutex_lock(&registry_lock);
    bool last = registry_refs == 1;
    pthread_mutex_unlock(&registry_lock);
    /* The health prober walks the devices with a reference of its own: stop
     * it (outside the lock it may be waiting for) before the last release. */
    if (last)
        lm_health_stop();
    pthread_mutex_lock(&registry_lock);
    if (registry_refs > 0 && --registry_refs == 0)
        destroy_all();
    pthread_mutex_unlock(&registry_lock);
}
