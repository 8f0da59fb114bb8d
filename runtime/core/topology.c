/*
 * topology.c - the process's hwloc topology (topology.h).
 *
 * One topology, loaded lazily under topo_lock with PCI devices and bridges
 * kept (the I/O type filter must be set before hwloc_topology_load(): the
 * default drops every I/O object, and then no device can be located). Every
 * function takes the lock for the whole of its use of hwloc objects, so
 * lm_topology_use() may swap the topology at any time.
 */
#include <errno.h>
#include <hwloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "error.h"
#include "log.h"
#include "topology.h"

static pthread_mutex_t topo_lock = PTHREAD_MUTEX_INITIALIZER; /* guards the fields below */
static hwloc_topology_t topo;
static char topo_path[4096]; /* the XML file it came from, "" this machine */
static bool topo_failed;     /* this machine's topology did not load: answer "unknown" */

/* Loads a topology from @path (NULL: this machine) into *@out; 0 or an errno. */
static int load(const char *path, hwloc_topology_t *out)
{
    hwloc_topology_t t;
    if (hwloc_topology_init(&t))
        return errno ? errno : ENOMEM;
    int err = 0;
    if (hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_ALL) ||
        (path && hwloc_topology_set_xml(t, path)) || hwloc_topology_load(t)) {
        err = errno ? errno : EINVAL;
        hwloc_topology_destroy(t);
        return err;
    }
    *out = t;
    return 0;
}

/* The topology, loaded on first use; NULL when this machine's does not load
 * (then every answer is "unknown"). Caller holds topo_lock. */
static hwloc_topology_t get_locked(void)
{
    if (topo || topo_failed)
        return topo;
    /* hwloc honours HWLOC_XMLFILE itself too; reading it here keeps the
     * variable in env.h's table and lets lm_topology_use() compare paths. */
    const char *xml = lm_env_str(LM_ENV_HWLOC_XMLFILE);
    int err = load(xml, &topo);
    snprintf(topo_path, sizeof(topo_path), "%s", xml ? xml : "");
    if (err) {
        topo_failed = true; /* every answer is "unknown"; placement still works */
        lm_log(LOOM_LOG_WARN, "hwloc topology '%s' does not load (%s): device locality unknown",
               xml ? xml : "of this machine", strerror(err));
    }
    return topo;
}

loom_status lm_topology_use(const char *path)
{
    if (!path)
        path = lm_env_str(LM_ENV_HWLOC_XMLFILE);
    pthread_mutex_lock(&topo_lock);
    if ((topo || topo_failed) && strcmp(path ? path : "", topo_path) == 0) {
        pthread_mutex_unlock(&topo_lock);
        return LOOM_OK;
    }
    hwloc_topology_t t = NULL;
    int err = load(path, &t);
    if (err) {
        pthread_mutex_unlock(&topo_lock);
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "hwloc topology '%s' does not load: %s",
                        path ? path : "(this machine)", strerror(err));
    }
    if (topo)
        hwloc_topology_destroy(topo);
    topo = t;
    topo_failed = false;
    snprintf(topo_path, sizeof(topo_path), "%s", path ? path : "");
    pthread_mutex_unlock(&topo_lock);
    return LOOM_OK;
}

void lm_topology_reset(void)
{
    pthread_mutex_lock(&topo_lock);
    if (topo)
        hwloc_topology_destroy(topo);
    topo = NULL;
    topo_failed = false;
    topo_path[0] = '\0';
    pthread_mutex_unlock(&topo_lock);
}

void lm_topology_source(char *buf, size_t len)
{
    pthread_mutex_lock(&topo_lock);
    hwloc_topology_t t = get_locked();
    if (!t)
        snprintf(buf, len, "unknown (hwloc could not read this machine)");
    else if (topo_path[0])
        snprintf(buf, len, "XML file %s", topo_path);
    else
        snprintf(buf, len, "this machine");
    pthread_mutex_unlock(&topo_lock);
}

bool lm_topology_is_this_system(void)
{
    pthread_mutex_lock(&topo_lock);
    hwloc_topology_t t = get_locked();
    bool yes = t && hwloc_topology_is_thissystem(t);
    pthread_mutex_unlock(&topo_lock);
    return yes;
}

int lm_topology_numa_nodes(void)
{
    pthread_mutex_lock(&topo_lock);
    hwloc_topology_t t = get_locked();
    int n = t ? hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE) : 0;
    pthread_mutex_unlock(&topo_lock);
    return n > 0 ? n : 1;
}

int lm_topology_numa_node_at(int i)
{
    pthread_mutex_lock(&topo_lock);
    hwloc_topology_t t = get_locked();
    hwloc_obj_t o = t && i >= 0 ? hwloc_get_obj_by_type(t, HWLOC_OBJ_NUMANODE, (unsigned)i) : NULL;
    int node = o ? (int)o->os_index : -1;
    pthread_mutex_unlock(&topo_lock);
    return node;
}

/* Fills @loc's lists from @cpuset and @nodeset. Caller holds topo_lock. */
static void describe(hwloc_topology_t t, lm_locality *loc, hwloc_const_cpuset_t cpuset,
                     hwloc_const_nodeset_t nodeset)
{
    int all = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE);
    hwloc_bitmap_list_snprintf(loc->cpuset, sizeof(loc->cpuset), cpuset);
    hwloc_bitmap_list_snprintf(loc->nodeset, sizeof(loc->nodeset), nodeset);
    loc->n_nodes = hwloc_bitmap_weight(nodeset);
    /* Local to every node of a machine of several: local to none in particular. */
    loc->numa_node =
        loc->n_nodes > 0 && (all == 1 || loc->n_nodes < all) ? hwloc_bitmap_first(nodeset) : -1;
}

lm_locality lm_topology_locate_pci(const char *bus_id)
{
    lm_locality loc = {.numa_node = -1};
    unsigned dom = 0, bus, dev, fn;
    int n = 0;
    if (!bus_id || !bus_id[0]) {
        snprintf(loc.how, sizeof(loc.how), "unknown: no PCI bus id");
        return loc;
    }
    if (!(sscanf(bus_id, "%x:%x:%x.%x%n", &dom, &bus, &dev, &fn, &n) == 4 && !bus_id[n])) {
        dom = 0;
        if (!(sscanf(bus_id, "%x:%x.%x%n", &bus, &dev, &fn, &n) == 3 && !bus_id[n])) {
            snprintf(loc.how, sizeof(loc.how), "unknown: PCI bus id '%.32s' is malformed", bus_id);
            return loc;
        }
    }
    pthread_mutex_lock(&topo_lock);
    hwloc_topology_t t = get_locked();
    hwloc_obj_t pci = t ? hwloc_get_pcidev_by_busid(t, dom, bus, dev, fn) : NULL;
    hwloc_obj_t anc = pci ? hwloc_get_non_io_ancestor_obj(t, pci) : NULL;
    if (!t) {
        snprintf(loc.how, sizeof(loc.how), "unknown: hwloc could not read this machine");
    } else if (!anc || !anc->cpuset || !anc->nodeset) {
        snprintf(loc.how, sizeof(loc.how), "unknown: PCI %04x:%02x:%02x.%x is not in the topology",
                 dom, bus, dev, fn);
    } else {
        describe(t, &loc, anc->cpuset, anc->nodeset);
        char type[32];
        hwloc_obj_type_snprintf(type, sizeof(type), anc, 0);
        if (anc->os_index != HWLOC_UNKNOWN_INDEX && anc->type != HWLOC_OBJ_MACHINE)
            snprintf(loc.how, sizeof(loc.how), "hwloc: PCI %04x:%02x:%02x.%x under %s P#%u", dom,
                     bus, dev, fn, type, anc->os_index);
        else
            snprintf(loc.how, sizeof(loc.how), "hwloc: PCI %04x:%02x:%02x.%x under %s", dom, bus,
                     dev, fn, type);
    }
    pthread_mutex_unlock(&topo_lock);
    return loc;
}

lm_locality lm_topology_locate_node(int node)
{
    lm_locality loc = {.numa_node = -1};
    pthread_mutex_lock(&topo_lock);
    hwloc_topology_t t = get_locked();
    hwloc_obj_t o = t && node >= 0 ? hwloc_get_numanode_obj_by_os_index(t, (unsigned)node) : NULL;
    if (!t) {
        snprintf(loc.how, sizeof(loc.how), "unknown: hwloc could not read this machine");
    } else if (node < 0) {
        hwloc_obj_t root = hwloc_get_root_obj(t);
        describe(t, &loc, root->cpuset, root->nodeset);
        snprintf(loc.how, sizeof(loc.how), "hwloc: the whole machine");
    } else if (!o || !o->cpuset) {
        snprintf(loc.how, sizeof(loc.how), "unknown: no NUMA node %d in the topology", node);
    } else {
        describe(t, &loc, o->cpuset, o->nodeset);
        loc.numa_node = node;
        snprintf(loc.how, sizeof(loc.how), "hwloc: NUMA node P#%d", node);
    }
    pthread_mutex_unlock(&topo_lock);
    return loc;
}

double lm_topology_distance(int from, int to)
{
    double ratio = 1.0;
    pthread_mutex_lock(&topo_lock);
    hwloc_topology_t t = get_locked();
    struct hwloc_distances_s *d = NULL;
    unsigned nr = 1;
    /* Latency only: a bandwidth matrix reads the other way round. */
    if (t && to >= 0 &&
        !hwloc_distances_get_by_type(t, HWLOC_OBJ_NUMANODE, &nr, &d,
                                     HWLOC_DISTANCES_KIND_MEANS_LATENCY, 0) &&
        nr > 0) {
        hwloc_obj_t b = hwloc_get_numanode_obj_by_os_index(t, (unsigned)to);
        int j = b ? hwloc_distances_obj_index(d, b) : -1;
        double sum = 0;
        int count = 0;
        for (unsigned i = 0; j >= 0 && i < d->nbobjs; i++) {
            if (from >= 0 && d->objs[i]->os_index != (unsigned)from)
                continue;
            double local = (double)d->values[i * d->nbobjs + i];
            double far = (double)d->values[i * d->nbobjs + (unsigned)j];
            if (local > 0) {
                sum += far / local;
                count++;
            }
        }
        if (count)
            ratio = sum / count;
        hwloc_distances_release(t, d);
    }
    pthread_mutex_unlock(&topo_lock);
    return ratio;
}

int lm_topology_cpuset_parse(const char *list, cpu_set_t *set)
{
    CPU_ZERO(set);
    hwloc_bitmap_t b = hwloc_bitmap_alloc();
    if (!b || !list || !list[0] || hwloc_bitmap_list_sscanf(b, list) < 0) {
        hwloc_bitmap_free(b);
        return 0;
    }
    int n = 0;
    for (int c = hwloc_bitmap_first(b); c >= 0 && c < CPU_SETSIZE; c = hwloc_bitmap_next(b, c)) {
        CPU_SET(c, set);
        n++;
    }
    hwloc_bitmap_free(b);
    return n;
}

int lm_topology_bind_memory(void *addr, size_t len, int node)
{
    int err = 0;
    pthread_mutex_lock(&topo_lock);
    hwloc_topology_t t = get_locked();
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (!t || !set || node < 0) {
        err = ENOSYS;
    } else {
        hwloc_bitmap_only(set, (unsigned)node);
        if (hwloc_set_area_membind(t, addr, len, set, HWLOC_MEMBIND_BIND,
                                   HWLOC_MEMBIND_BYNODESET | HWLOC_MEMBIND_STRICT))
            err = errno ? errno : EINVAL;
    }
    hwloc_bitmap_free(set);
    pthread_mutex_unlock(&topo_lock);
    return err;
}
