/*
 * numa.h - what libloom does with the topology (topology.h): where each
 * device sits, which CPUs the threads that feed it and the worker pools run
 * on, which node staging memory comes from, and what crossing nodes costs.
 *
 * Binding is best effort: where the kernel refuses it (EPERM in a container,
 * seccomp, cpuset cgroups), libloom runs unbound and says so once through
 * the log callback; a load never fails for it. A topology read from an XML
 * file is a preview of another machine: decisions are made and reported,
 * nothing is bound.
 */
#ifndef LOOM_CORE_NUMA_H
#define LOOM_CORE_NUMA_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>

#include "device.h"

/* Fills @dev's numa_node, cpuset and dev->numa from the topology: by PCI bus
 * id when it has one, by its node (the CPU devices, and a driver that
 * reported the node but whose bus hwloc does not show), else "unknown".
 * Called by the registry for every device it adds. */
void lm_numa_locate(lm_device *dev);

/* Re-reads every registered device's locality (after lm_topology_use()). */
void lm_numa_relocate_all(void);

/*
 * The worker pool binding for a context: @node's CPUs (node -1: none).
 * Fills @cpus and returns true when the pool's threads should be bound;
 * false leaves them unbound (one node, XML preview, nothing usable), with
 * the reason in @why.
 */
bool lm_numa_pool_cpus(int node, cpu_set_t *cpus, char *why, size_t len);

/* Whether binding is refused (EPERM from the kernel, or the test switch
 * LOOM_NUMA_BIND_REFUSED); warns through the log callback the first time
 * of the process, naming @what and @err. */
void lm_numa_refused(const char *what, int err);

/* Moves the calling thread onto @dev's local CPUs for one submission, saving
 * its affinity in @saved; returns whether it moved. lm_numa_feed_end()
 * restores it. A thread the kernel does not let move stays where it is. */
bool lm_numa_feed_begin(const lm_device *dev, cpu_set_t *saved);
void lm_numa_feed_end(bool moved, const cpu_set_t *saved);

/* @bytes of zeroed, page-aligned memory on NUMA node @node (-1: wherever
 * the kernel puts it), for staging buffers and arenas a device reads and
 * writes; NULL when out of memory. Free with lm_numa_free(). Binding that
 * is refused leaves the memory unbound (lm_numa_refused()). */
void *lm_numa_alloc(size_t bytes, int node);
void lm_numa_free(void *p, size_t bytes);

/* What moving bytes between host memory used by threads of node @host_node
 * (-1: any) and a device on @dev_node costs relative to local memory: the
 * topology's distance ratio (1.0 local or unknown). */
double lm_numa_transfer_factor(int host_node, int dev_node);

/* Forgets the one-warning state (tests). */
void lm_numa_reset_warning(void);

#endif
