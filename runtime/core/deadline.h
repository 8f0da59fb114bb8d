/*
 * deadline.h - the host's watchdog for device segments: how long a run of a
 * segment may take before the host gives up on the device (it fails the run
 * with LOOM_ERR_DEVICE_TIMEOUT, health.h takes the device out of service and
 * the run resumes elsewhere).
 *
 * The deadline follows what the segment is measured to take, not a fixed
 * constant: LM_DEADLINE_P99_FACTOR times the p99 of its last runs once it
 * has LM_DEADLINE_MIN_SAMPLES of them; before that, LM_DEADLINE_EST_FACTOR
 * times the cost model's estimate (a loose bound: estimates can be far off);
 * without either (an emulated card, whose estimate is the card's time, not
 * the emulation's), the ceiling. A run that waits behind others on its
 * device gets that many times as long: the measure is of one run. Always
 * within LOOM_DEVICE_DEADLINE_MIN_MS
 * and LOOM_DEVICE_DEADLINE_MAX_MS, so that scheduling noise on a loaded host
 * cannot fail a healthy device and nothing waits forever.
 */
#ifndef LOOM_CORE_DEADLINE_H
#define LOOM_CORE_DEADLINE_H

#include <stdint.h>

#include "latency.h"

#define LM_DEADLINE_MIN_SAMPLES 32
#define LM_DEADLINE_P99_FACTOR  8.0
#define LM_DEADLINE_EST_FACTOR  100.0

struct lm_device;

/* The time, in ns, a run of a segment on @dev may take, from the runs in
 * @lat and the cost model's @est_us (< 0: unknown), when @jobs runs are on
 * the device, this one included. */
uint64_t lm_deadline_ns(const struct lm_device *dev, const lm_latency *lat, double est_us,
                        int jobs);

#endif
