/*
 * health.h - each device's health as a state machine, and the process's
 * health epoch that tells plans when the set of usable devices changed.
 *
 *   healthy --one timeout or transient error--> suspect --success--> healthy
 *   healthy|suspect --lost, or a second error while suspect--> quarantined
 *   quarantined --its driver answers again (probe)--> probation
 *   probation --known-answer test passes--> healthy
 *   probation --known-answer test fails--> quarantined
 *
 * Healthy and suspect devices take work; quarantined and probation ones
 * leave every plan (place.c excludes them): each change of that kind bumps
 * the epoch, and a cached plan of an older epoch is planned again
 * (plancache.c). A prober thread, running while any device is quarantined,
 * asks quarantined devices' drivers whether they answer and runs the
 * known-answer test (kat.c) on those that do.
 */
#ifndef LOOM_CORE_HEALTH_H
#define LOOM_CORE_HEALTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "loom/loom.h"

struct lm_device;

typedef struct lm_health {
    _Atomic int state;                 /* loom_device_state */
    atomic_uint_fast64_t quarantines;  /* times it entered quarantine */
    atomic_uint_fast64_t readmissions; /* known-answer tests passed after quarantine */
    atomic_uint_fast64_t kat_failures; /* known-answer tests failed */
    atomic_uint_fast64_t failovers;    /* runs that lost it mid-run and resumed elsewhere */
} lm_health;

/* The epoch: bumped whenever a device starts or stops taking work. */
uint64_t lm_health_epoch(void);

/* Whether @dev takes work now (healthy or suspect). */
bool lm_health_usable(const struct lm_device *dev);

/* The outcome of a job on @dev: LOOM_OK, or its error. Device-class errors
 * move the state machine; other errors (bad input, shapes) say nothing of
 * the device. Returns true when the device just left service. */
bool lm_health_report(struct lm_device *dev, loom_status status);

/* Whether @s is an error of the device (lost, timed out, transient) rather
 * than of the request. */
static inline bool lm_status_is_device_fault(loom_status s)
{
    return s == LOOM_ERR_DEVICE_LOST || s == LOOM_ERR_DEVICE_TIMEOUT ||
           s == LOOM_ERR_DEVICE_TRANSIENT;
}

/* Stops the prober thread (the registry's last release). */
void lm_health_stop(void);

/* Runs one probe pass now, synchronously (tests, and the prober). */
void lm_health_probe_all(void);

const char *lm_device_state_name(int state);

#endif
