/*
 * topology.h - the machine as hwloc sees it: one topology per process, PCI
 * devices included, asked where a device is attached and how far apart NUMA
 * nodes are.
 *
 * The topology is loaded at first use from this machine, or from the hwloc
 * XML file that HWLOC_XMLFILE (core/env.h) or loom_context_options.topology_xml
 * names: a fixture for tests, or a user's preview of the placement a machine
 * would get. Every hwloc object stays inside topology.c behind one lock, so
 * the topology can be replaced while other threads ask questions: answers
 * are copies (CPU and node lists as strings, cpu_set_t).
 *
 * CPU lists and node lists use the kernel's list format ("0-11,24-35"), the
 * one of /sys/devices/system/node/nodeN/cpulist and taskset -c.
 */
#ifndef LOOM_CORE_TOPOLOGY_H
#define LOOM_CORE_TOPOLOGY_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>

#include "loom/loom.h"

/* Where something is attached. */
typedef struct lm_locality {
    int numa_node;    /* the lowest node of @nodeset; -1 unknown or not one node in particular */
    int n_nodes;      /* nodes in @nodeset; 0 unknown */
    char nodeset[64]; /* the local NUMA nodes as a list, "" unknown */
    char cpuset[64];  /* the local CPUs as a list, "" unknown */
    char how[128];    /* how it was found, or why it is unknown, in words */
} lm_locality;

/*
 * Makes the process's topology the one in the hwloc XML file @path (NULL:
 * HWLOC_XMLFILE, else this machine), loading it now if it is not the current
 * one. Contexts that exist keep the bindings they chose. Errors (the file
 * does not load) are LOOM_ERR_INVALID_ARGUMENT naming the file and hwloc's
 * errno; the topology in use stays.
 */
loom_status lm_topology_use(const char *path);

/* Where the topology came from: "this machine" or "XML file PATH". */
void lm_topology_source(char *buf, size_t len);

/* Whether the topology describes the machine this process runs on: only
 * then are threads and memory bound (an XML file is a preview). */
bool lm_topology_is_this_system(void);

/* NUMA nodes in the topology (at least 1). */
int lm_topology_numa_nodes(void);

/* The OS index of the @i-th NUMA node (0 <= @i < lm_topology_numa_nodes()),
 * -1 past the end. */
int lm_topology_numa_node_at(int i);

/* The PCI device @bus_id ("dddd:bb:dd.f", or "bb:dd.f" in domain 0): its
 * nearest non-I/O ancestor's CPUs and NUMA nodes. A device hwloc attaches
 * to the machine as a whole on a machine of several nodes is local to no
 * node (numa_node -1, the whole machine's CPUs). Unknown (n_nodes 0) when
 * the bus id is malformed or not in the topology; @how says which. */
lm_locality lm_topology_locate_pci(const char *bus_id);

/* NUMA node @node's CPUs (n_nodes 0 when there is no such node); -1: the
 * whole machine (numa_node set when it has only one node). */
lm_locality lm_topology_locate_node(int node);

/* How much slower memory on node @to is than local memory for CPUs of node
 * @from, from hwloc's NUMA latency matrix: distance(from, to) /
 * distance(from, from), so 1.0 is local and 2.1 a typical remote socket.
 * @from -1 (threads on any node): the mean over every node. 1.0 when the
 * topology has no distances or either node is unknown. */
double lm_topology_distance(int from, int to);

/* The CPUs in the list @list (as the topology's strings write them) into
 * @set; returns how many, 0 for an empty or malformed list. */
int lm_topology_cpuset_parse(const char *list, cpu_set_t *set);

/*
 * Binds the pages of [@addr, @addr + @len) to NUMA node @node (hwloc's
 * area membind, by nodeset, strict). Returns 0, or the errno hwloc gives
 * (EPERM in a container without CAP_SYS_NICE, ENOSYS without support,
 * EXDEV when it cannot be enforced).
 */
int lm_topology_bind_memory(void *addr, size_t len, int node);

/* Drops the topology, so the next question loads it again (tests). */
void lm_topology_reset(void);

#endif
