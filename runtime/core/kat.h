/*
 * kat.h - the known-answer test that re-admits a device: a small fixed
 * model with a known result, imported, planned on that device alone,
 * compiled and run through the same path real work takes, and compared with
 * the CPU's answer (exactly: the tests are chosen so that every device's
 * numeric class computes them bit-identically).
 */
#ifndef LOOM_CORE_KAT_H
#define LOOM_CORE_KAT_H

#include <stddef.h>

#include "loom/loom.h"

struct lm_device;

/* Runs the first known-answer test @dev can run: LOOM_OK when its answer is
 * right. @why gets what ran, or why it failed. */
loom_status lm_kat_run(struct lm_device *dev, char *why, size_t len);

#endif
