/*
 * numa.c - device locality, thread and memory binding, and the cost of
 * crossing nodes (numa.h).
 *
 * Binding is only worth its syscalls on a machine of several NUMA nodes: on
 * one node every decision is "unbound", and libloom behaves exactly as it
 * did before it knew the topology. The first refusal (EPERM and friends)
 * switches binding off for the rest of the process, with one warning, so a
 * container that forbids it pays for one failed syscall, not one per run.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "env.h"
#include "log.h"
#include "numa.h"
#include "registry.h"
#include "topology.h"

static atomic_bool refused; /* binding was refused once: stay unbound */
static atomic_bool warned;  /* the one warning went out */

void lm_numa_reset_warning(void)
{
    atomic_store(&refused, false);
    atomic_store(&warned, false);
}

void lm_numa_refused(const char *what, int err)
{
    atomic_store(&refused, true);
    if (!atomic_exchange(&warned, true))
        lm_log(LOOM_LOG_WARN,
               "NUMA binding refused (%s: %s): threads and memory stay unbound, everything "
               "else runs as planned",
               what, strerror(err));
}

/* Whether binding may be tried: several nodes, the topology is this
 * machine's (or tests say to treat it so), nothing refused it yet. The test
 * switch makes the first attempt fail as a container would. */
static bool may_bind(const char *what)
{
    if (atomic_load(&refused))
        return false;
    if (lm_env_flag(LM_ENV_NUMA_BIND_REFUSED)) {
        lm_numa_refused(what, EPERM);
        return false;
    }
    return true;
}

static bool preview(void)
{
    return !lm_topology_is_this_system() && !lm_env_flag(LM_ENV_NUMA_BIND_XML);
}

/* The CPUs of @list this process may run on, into @set; how many. */
static int usable_cpus(const char *list, cpu_set_t *set)
{
    cpu_set_t allowed;
    if (!lm_topology_cpuset_parse(list, set) || sched_getaffinity(0, sizeof(allowed), &allowed))
        return 0;
    CPU_AND(set, set, &allowed);
    return CPU_COUNT(set);
}

void lm_numa_locate(lm_device *dev)
{
    lm_device_props *p = &dev->props;
    lm_numa_binding *b = &dev->numa;
    lm_locality loc = {.numa_node = -1};
    if (p->pci_bus_id[0]) {
        loc = lm_topology_locate_pci(p->pci_bus_id);
        if (loc.n_nodes == 0 && p->numa_node >= 0) { /* the driver knows better than nothing */
            char why[sizeof(loc.how)];
            snprintf(why, sizeof(why), "%s", loc.how);
            loc = lm_topology_locate_node(p->numa_node);
            snprintf(loc.how, sizeof(loc.how), "driver: NUMA node %d (%.90s)", p->numa_node, why);
            if (loc.n_nodes == 0)
                loc.numa_node = p->numa_node;
        }
    } else if (p->kind == LOOM_DEVICE_CPU || p->numa_node >= 0) {
        loc = lm_topology_locate_node(p->numa_node);
    } else {
        snprintf(loc.how, sizeof(loc.how), "unknown: no PCI bus id, and no node reported");
    }
    p->numa_node = loc.numa_node;
    snprintf(p->cpuset, sizeof(p->cpuset), "%s", loc.cpuset);
    memset(b, 0, sizeof(*b));
    b->mem_node = -1;
    snprintf(b->how, sizeof(b->how), "%s", loc.how);
    snprintf(b->nodeset, sizeof(b->nodeset), "%s", loc.nodeset);
    bool host = lm_device_runs_host_kernels(dev);
    const char *unbound = host ? "the context's worker pool" : "the calling thread, unbound";
    if (lm_topology_numa_nodes() < 2) {
        snprintf(b->feeders, sizeof(b->feeders), "%s (one NUMA node)", unbound);
        snprintf(b->memory, sizeof(b->memory), "first touch (one NUMA node)");
    } else if (loc.numa_node < 0) {
        snprintf(b->feeders, sizeof(b->feeders), "%s (locality unknown)", unbound);
        snprintf(b->memory, sizeof(b->memory), "first touch (locality unknown)");
    } else if (preview()) {
        snprintf(b->feeders, sizeof(b->feeders), "CPUs %.64s of node %d (preview: not bound)",
                 loc.cpuset, loc.numa_node);
        snprintf(b->memory, sizeof(b->memory), "node %d (preview: not bound)", loc.numa_node);
    } else if (host) {
        snprintf(b->feeders, sizeof(b->feeders), "the worker pool of node %d (CPUs %.64s)",
                 loc.numa_node, loc.cpuset);
        snprintf(b->memory, sizeof(b->memory), "node %d", loc.numa_node);
        b->mem_node = loc.numa_node;
    } else if (usable_cpus(loc.cpuset, &b->cpus) == 0) {
        snprintf(b->feeders, sizeof(b->feeders), "%s (none of CPUs %.64s is ours)", unbound,
                 loc.cpuset);
        snprintf(b->memory, sizeof(b->memory), "node %d", loc.numa_node);
        b->mem_node = loc.numa_node;
    } else {
        b->bind = true;
        b->mem_node = loc.numa_node;
        snprintf(b->feeders, sizeof(b->feeders), "CPUs %.64s of node %d", loc.cpuset,
                 loc.numa_node);
        snprintf(b->memory, sizeof(b->memory), "node %d", loc.numa_node);
    }
}

void lm_numa_relocate_all(void)
{
    int n = lm_registry_count();
    for (int i = 0; i < n; i++) {
        lm_device *dev = lm_registry_device(i);
        /* A device's own report of its node is gone once located: start
         * again from its bus id (or its node, for the CPU devices). */
        if (dev->props.pci_bus_id[0])
            dev->props.numa_node = -1;
        lm_numa_locate(dev);
    }
}

bool lm_numa_pool_cpus(int node, cpu_set_t *cpus, char *why, size_t len)
{
    if (lm_topology_numa_nodes() < 2) {
        snprintf(why, len, "unbound (one NUMA node)");
        return false;
    }
    if (node < 0) {
        snprintf(why, len, "unbound (the context's devices are on no one node)");
        return false;
    }
    lm_locality loc = lm_topology_locate_node(node);
    if (preview()) {
        snprintf(why, len, "node %d, CPUs %s (preview: not bound)", node, loc.cpuset);
        return false;
    }
    if (usable_cpus(loc.cpuset, cpus) == 0) {
        snprintf(why, len, "unbound (none of node %d's CPUs %s is ours)", node, loc.cpuset);
        return false;
    }
    if (!may_bind("worker pool")) {
        snprintf(why, len, "unbound (binding refused)");
        return false;
    }
    snprintf(why, len, "node %d, CPUs %s", node, loc.cpuset);
    return true;
}

bool lm_numa_feed_begin(const lm_device *dev, cpu_set_t *saved)
{
    if (!dev->numa.bind || atomic_load(&refused))
        return false;
    if (!may_bind(dev->name) || sched_getaffinity(0, sizeof(*saved), saved))
        return false;
    if (CPU_EQUAL(saved, &dev->numa.cpus))
        return false;
    if (sched_setaffinity(0, sizeof(dev->numa.cpus), &dev->numa.cpus)) {
        lm_numa_refused(dev->name, errno);
        return false;
    }
    return true;
}

void lm_numa_feed_end(bool moved, const cpu_set_t *saved)
{
    if (moved)
        (void)sched_setaffinity(0, sizeof(*saved), saved); /* back where the caller was */
}

void *lm_numa_alloc(size_t bytes, int node)
{
    if (!bytes)
        return NULL;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* Bound before first touch, so the pages are placed there when faulted. */
    if (node >= 0 && lm_topology_is_this_system() && may_bind("staging memory")) {
        int err = lm_topology_bind_memory(p, bytes, node);
        if (err)
            lm_numa_refused("staging memory", err);
    }
    return p;
}

void lm_numa_free(void *p, size_t bytes)
{
    if (p)
        munmap(p, bytes);
}

double lm_numa_transfer_factor(int host_node, int dev_node)
{
    if (dev_node < 0 || lm_topology_numa_nodes() < 2)
        return 1.0;
    return lm_topology_distance(host_node, dev_node);
}
