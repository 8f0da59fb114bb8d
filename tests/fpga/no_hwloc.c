/* no_hwloc.c - core/topology.h for the static guest builds of the
 * end-to-end test and loomctl: Debian ships no static libudev, which a
 * static libhwloc needs. The guest is one machine of one node as far as
 * placement goes; a card's node still comes from loom.ko (numa.c falls back
 * to what the driver reports). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/topology.h"

loom_status lm_topology_use(const char *path)
{
    if (path)
        return lm_error(LOOM_ERR_UNSUPPORTED, "hwloc topology '%s': built without hwloc", path);
    return LOOM_OK;
}

void lm_topology_source(char *buf, size_t len)
{
    snprintf(buf, len, "none (built without hwloc)");
}

bool lm_topology_is_this_system(void)
{
    return true;
}

int lm_topology_numa_nodes(void)
{
    return 1;
}

int lm_topology_numa_node_at(int i)
{
    return i == 0 ? 0 : -1;
}

lm_locality lm_topology_locate_pci(const char *bus_id)
{
    lm_locality loc = {.numa_node = -1};
    snprintf(loc.how, sizeof(loc.how), "unknown: built without hwloc (%.32s)",
             bus_id ? bus_id : "");
    return loc;
}

lm_locality lm_topology_locate_node(int node)
{
    lm_locality loc = {.numa_node = -1};
    FILE *f = fopen("/sys/devices/system/cpu/online", "r");
    if (f && fgets(loc.cpuset, sizeof(loc.cpuset), f))
        loc.cpuset[strcspn(loc.cpuset, "\n")] = '\0';
    if (f)
        fclose(f);
    loc.numa_node = node > 0 ? node : 0;
    loc.n_nodes = 1;
    snprintf(loc.nodeset, sizeof(loc.nodeset), "%d", loc.numa_node);
    snprintf(loc.how, sizeof(loc.how), "sysfs (built without hwloc)");
    return loc;
}

double lm_topology_distance(int from, int to)
{
    (void)from;
    (void)to;
    return 1.0;
}

int lm_topology_cpuset_parse(const char *list, cpu_set_t *set)
{
    CPU_ZERO(set);
    for (const char *p = list; p && *p;) {
        char *end;
        long lo = strtol(p, &end, 10), hi = lo;
        if (end == p)
            return 0;
        if (*end == '-')
            hi = strtol(end + 1, &end, 10);
        for (long c = lo; c <= hi && c < CPU_SETSIZE; c++)
            CPU_SET((int)c, set);
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return 0;
    }
    return CPU_COUNT(set);
}

int lm_topology_bind_memory(void *addr, size_t len, int node)
{
    (void)addr;
    (void)len;
    (void)node;
    return ENOSYS;
}

void lm_topology_reset(void) {}
