/*
 * context.c - loom_context: options, a selection from the process's devices,
 * and a share of the process's worker pools.
 *
 * The device option is a comma-separated priority list. Each entry is a
 * device name ("card:0", "opencl:1", "cpu"), "auto" (every device that the
 * registry marks for automatic use, in the backends' priority order), or a
 * name prefixed with '-' to exclude that device. The planner chooses among
 * the selected devices by cost; the order only breaks ties. A list that
 * names neither the CPU nor "auto" gets the CPU last as its fallback (it
 * runs only the nodes no listed device runs) unless fail_closed is set;
 * "cpu" alone selects only the CPU. On a machine of several NUMA nodes
 * "cpu:N" names node N's CPUs instead: the first CPU device listed is the
 * context's host, whose worker pool runs every host step.
 *
 * The worker pool is the process's pool for the thread count and CPU set
 * (threadpool.h): the CPUs of @cpus, else of the node the context is bound
 * to (see loom_context_options in loom.h, and core/numa.h), else unbound.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpulist.h"
#include "device.h"
#include "error.h"
#include "log.h"
#include "model.h"
#include "numa.h"
#include "registry.h"
#include "threadpool.h"
#include "topology.h"

#define MAX_DEVICE_LIST 256

void loom_context_options_init(loom_context_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->struct_size = sizeof(*opts);
    opts->device = "auto";
}

lm_devset lm_context_bit(const loom_context *ctx, const lm_device *dev)
{
    for (int i = 0; i < ctx->n_devices; i++)
        if (ctx->devices[i] == dev)
            return (lm_devset)1 << i;
    return 0;
}

lm_devset lm_context_usable(const loom_context *ctx)
{
    lm_devset set = 0;
    for (int i = 0; i < ctx->n_devices; i++)
        if (lm_health_usable(ctx->devices[i]) || ctx->devices[i] == ctx->probe_device)
            set |= (lm_devset)1 << i;
    return set;
}

static bool selected(const loom_context *ctx, const lm_device *dev)
{
    for (int i = 0; i < ctx->n_devices; i++)
        if (ctx->devices[i] == dev)
            return true;
    return false;
}

static void select_device(loom_context *ctx, lm_device *dev)
{
    if (!selected(ctx, dev) && ctx->n_devices < LM_MAX_DEVICES)
        ctx->devices[ctx->n_devices++] = dev;
}

/* Whether @name stands as a whole entry in the comma-separated @list. */
static bool listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)); p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

/* The "auto" entry: every device marked for it, in the backends' priority
 * order (accelerators first), but only the first @emulated emulated cards
 * (others belong to contexts that asked for more). */
static void select_auto(loom_context *ctx, const char *excluded, int emulated)
{
    int emulated_seen = 0, n = lm_registry_count(), max_rank = 0;
    for (int i = 0; i < n; i++)
        if (lm_registry_device(i)->rank > max_rank)
            max_rank = lm_registry_device(i)->rank;
    for (int rank = 0; rank <= max_rank; rank++)
        for (int i = 0; i < n; i++) {
            lm_device *dev = lm_registry_device(i);
            if (dev->rank != rank || !(dev->props.flags & LM_DEVICE_AUTO))
                continue;
            if ((dev->props.flags & LM_DEVICE_EMULATED) && emulated_seen++ >= emulated)
                continue;
            if (!listed(excluded, dev->name))
                select_device(ctx, dev);
        }
}

/* Fills ctx->devices from the option string @want (see the file comment). */
static loom_status select_devices(loom_context *ctx, const char *want, int emulated)
{
    char list[MAX_DEVICE_LIST], excluded[MAX_DEVICE_LIST] = "";
    if (strlen(want) >= sizeof(list))
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "device list '%.40s...' is too long", want);
    snprintf(list, sizeof(list), "%s", want);
    for (char *save = NULL, *e = strtok_r(list, ",", &save); e; e = strtok_r(NULL, ",", &save))
        if (e[0] == '-') {
            if (!lm_registry_find(e + 1))
                return lm_error(LOOM_ERR_NOT_FOUND,
                                "device '%s' to exclude is not available (see loomctl examine)",
                                e + 1);
            size_t len = strlen(excluded);
            snprintf(excluded + len, sizeof(excluded) - len, "%s%s", len ? "," : "", e + 1);
        }
    snprintf(list, sizeof(list), "%s", want);
    for (char *save = NULL, *e = strtok_r(list, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
        if (e[0] == '-')
            continue;
        if (strcmp(e, "auto") == 0) {
            select_auto(ctx, excluded, emulated);
            continue;
        }
        lm_device *dev = lm_registry_find(e);
        if (!dev)
            return lm_error(LOOM_ERR_NOT_FOUND,
                            "device '%s' is not available (see loomctl examine)", e);
        if (!listed(excluded, e))
            select_device(ctx, dev);
    }
    /* The first CPU device listed is the host: its node binds the pool. A
     * list naming several (loomctl examine's, for their health) runs all
     * their steps on that one pool anyway. */
    ctx->host = NULL;
    for (int d = 0; d < ctx->n_devices && !ctx->host; d++)
        if (ctx->devices[d]->props.kind == LOOM_DEVICE_CPU &&
            lm_device_runs_host_kernels(ctx->devices[d]))
            ctx->host = ctx->devices[d];
    lm_device *cpu = ctx->host ? ctx->host : lm_registry_find("cpu");
    ctx->host = cpu;
    if (!ctx->fail_closed && cpu && !selected(ctx, cpu) && !listed(excluded, "cpu")) {
        select_device(ctx, cpu);
        ctx->cpu_fallback_only = true;
    }
    if (ctx->n_devices == 0)
        return lm_error(LOOM_ERR_NOT_FOUND, "device list '%s' selects no device", want);
    return LOOM_OK;
}

/* How many emulated cards the context asks for (loom_context_options). */
static int emulated_wanted(int option)
{
    if (option > 0)
        return option;
    return option < 0 ? 0 : lm_registry_env_emulated_cards();
}

/* Options past the first version are read only when @opts is large enough. */
#define HAS_OPTION(opts, field)                                                                    \
    ((opts)->struct_size >= offsetof(loom_context_options, field) + sizeof((opts)->field))

/* The NUMA node the context's threads belong on: cpu:N's, else the one
 * node every other device it selects sits on; -1 for none in particular. */
static int context_node(const loom_context *ctx)
{
    if (lm_topology_numa_nodes() < 2)
        return -1;
    if (ctx->host && strcmp(ctx->host->name, "cpu") != 0)
        return ctx->host->props.numa_node;
    int node = -1;
    for (int d = 0; d < ctx->n_devices; d++) {
        const lm_device *dev = ctx->devices[d];
        if (lm_device_runs_host_kernels(dev))
            continue;
        if (dev->props.numa_node < 0 || (node >= 0 && dev->props.numa_node != node))
            return -1; /* unknown, or devices on several nodes: no node is right for all */
        node = dev->props.numa_node;
    }
    return node;
}

static loom_status take_pool(loom_context *ctx, const loom_context_options *opts)
{
    const char *cpulist = HAS_OPTION(opts, cpus) ? opts->cpus : NULL;
    cpu_set_t cpus;
    int n_cpus = 0;
    loom_status s = cpulist ? lm_cpulist_parse(cpulist, &cpus, &n_cpus) : LOOM_OK;
    if (s)
        return s;
    bool bound = cpulist != NULL;
    ctx->numa_node = cpulist ? -1 : context_node(ctx);
    if (cpulist)
        snprintf(ctx->pool_binding, sizeof(ctx->pool_binding), "CPUs %s (the cpus option)",
                 cpulist);
    else if ((bound = lm_numa_pool_cpus(ctx->numa_node, &cpus, ctx->pool_binding,
                                        sizeof(ctx->pool_binding))))
        n_cpus = CPU_COUNT(&cpus);
    if (ctx->num_threads == 0) {
        long n = bound ? n_cpus : sysconf(_SC_NPROCESSORS_ONLN);
        ctx->num_threads = n > 0 ? (int)n : 1;
    }
    s = lm_threadpool_acquire(ctx->num_threads, bound ? &cpus : NULL, &ctx->pool);
    if (s && bound && !cpulist) {
        /* The node's binding was refused (a container): run unbound, say so once. */
        lm_error_clear();
        lm_numa_refused("worker pool", EPERM);
        snprintf(ctx->pool_binding, sizeof(ctx->pool_binding), "unbound (binding refused)");
        s = lm_threadpool_acquire(ctx->num_threads, NULL, &ctx->pool);
    }
    return s;
}

loom_status loom_context_create(const loom_context_options *opts, loom_context **out)
{
    loom_context_options def;
    if (!out)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_context_create: out is NULL");
    *out = NULL;
    if (!opts) {
        loom_context_options_init(&def);
        opts = &def;
    }
    if (opts->struct_size < offsetof(loom_context_options, emulated_cards))
        return lm_error(LOOM_ERR_INVALID_ARGUMENT,
                        "loom_context_create: struct_size %zu, expected at least %zu (call "
                        "loom_context_options_init)",
                        opts->struct_size, offsetof(loom_context_options, emulated_cards));
    if (opts->num_threads < 0 || opts->num_threads > 1024)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "num_threads %d is out of range 0..1024",
                        opts->num_threads);
    loom_context *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    /* First: what devices report while they are discovered reaches the callback. */
    loom_status s = LOOM_OK;
    if (HAS_OPTION(opts, log_level))
        s = lm_log_attach(ctx, opts->log, opts->log_user, opts->log_level);
    if (s) {
        free(ctx);
        return s;
    }
    const char *xml = HAS_OPTION(opts, topology_xml) ? opts->topology_xml : NULL;
    if (xml && !(s = lm_topology_use(xml)))
        lm_numa_relocate_all(); /* devices other contexts hold are placed anew */
    if (s) {
        lm_log_detach(ctx);
        free(ctx);
        return s;
    }
    const char *want = opts->device ? opts->device : "auto";
    int emulated = emulated_wanted(HAS_OPTION(opts, emulated_cards) ? opts->emulated_cards : 0);
    lm_discovery d = {.emulated_cards = emulated, .devices = want};
    if ((s = lm_registry_acquire(&d))) {
        lm_log_detach(ctx);
        free(ctx);
        return s;
    }
    ctx->num_threads = opts->num_threads;
    ctx->fp16_storage = HAS_OPTION(opts, fp16_storage) && opts->fp16_storage != 0;
    ctx->fail_closed = opts->fail_closed && strcmp(want, "cpu") != 0;
    if (HAS_OPTION(opts, pins))
        ctx->policy.objective = (loom_objective)opts->objective;
    if (ctx->policy.objective != LOOM_OBJECTIVE_LATENCY &&
        ctx->policy.objective != LOOM_OBJECTIVE_THROUGHPUT)
        s = lm_error(LOOM_ERR_INVALID_ARGUMENT, "objective %d is not a loom_objective",
                     (int)ctx->policy.objective);
    if (s || (s = select_devices(ctx, want, emulated)) || (s = take_pool(ctx, opts)) ||
        (s = lm_policy_parse(&ctx->policy, HAS_OPTION(opts, pins) ? opts->pins : NULL, ctx))) {
        loom_context_destroy(ctx);
        return s;
    }
    *out = ctx;
    return LOOM_OK;
}

void loom_context_destroy(loom_context *ctx)
{
    if (!ctx)
        return;
    lm_threadpool_release(ctx->pool);
    lm_registry_release();
    /* Last: what the devices report as they close still reaches the callback. */
    lm_log_detach(ctx);
    free(ctx);
}
