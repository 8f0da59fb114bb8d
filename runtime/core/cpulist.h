/* cpulist.h - Linux CPU lists ("0-3,8,10-11") as a cpu_set_t, for binding threads. */
#ifndef LOOM_CORE_CPULIST_H
#define LOOM_CORE_CPULIST_H

#include <sched.h>

#include "loom/loom.h"

/*
 * Parses @list in the kernel's cpulist format (comma-separated CPU numbers and
 * inclusive ranges, as in /sys/devices/system/cpu/online and taskset -c) into
 * @out and sets @count to the CPUs in it. Every CPU must be one this process
 * may run on (sched_getaffinity). Errors are LOOM_ERR_INVALID_ARGUMENT with a
 * message naming the list, the offending character's position and the rule.
 */
loom_status lm_cpulist_parse(const char *list, cpu_set_t *out, int *count);

#endif
