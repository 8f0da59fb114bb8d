/*
 * backend.c - the CPU backend: the op definitions whose host implementations
 * are libloom's CPU kernels, and the CPU as a device.
 *
 * The CPU device runs its steps through core's executor (LM_DEVICE_HOST_KERNELS)
 * on the context's worker pool, takes steps whose shapes are known only at
 * run time, and is the reference the other devices' numerics are compared to.
 *
 * "cpu" is every CPU of the machine. On a machine of several NUMA nodes,
 * "cpu:N" is node N's CPUs as a device of its own: a context that names it
 * runs its host steps on a worker pool bound to that node. They are used
 * only when named ("auto" and the fallback take "cpu"), so a one-node
 * machine, which has no cpu:N, behaves as before.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "../core/control.h"
#include "../core/error.h"
#include "../core/topology.h"
#include "cpu_features.h"
#include "peaks.h"
#include "ops/tables.h"

static const lm_op_def *const op_tables[] = {
    lm_ops_elementwise,
    lm_ops_unary,
    lm_ops_reduce,
    lm_ops_tensor,
    lm_ops_index,
    lm_ops_resize,
    lm_ops_nn,
    lm_ops_conv,
    lm_ops_pool,
    lm_ops_norm,
    lm_ops_quant,
    lm_ops_rnn,
    lm_ops_einsum,
    lm_ops_loss,
    lm_ops_vision,
    lm_ops_misc,
    lm_ops_signal,
    lm_ops_training,
    lm_ops_control,
    lm_ops_sequence,
    lm_ops_contrib_quant,
    lm_ops_contrib_act,
    lm_ops_contrib_norm,
    lm_ops_contrib_attn,
    lm_ops_contrib_matmul,
    NULL,
};

/* Every op with a host implementation: those are the CPU's kernels. */
static bool cpu_supports(lm_device *dev, const lm_node *node, loom_tensor *const *in)
{
    (void)dev;
    (void)in;
    return node->op && !(node->op->flags & LM_OP_INFER_ONLY);
}

static void cpu_destroy(lm_device *dev)
{
    free(dev);
}

static const lm_device_ops cpu_ops = {
    .supports = cpu_supports,
    .destroy = cpu_destroy,
};

/* The widest instruction set the kernels use here. */
static const char *isa_name(void)
{
    const lm_cpu_features *f = lm_cpu_features_get();
    return f->avx512vnni ? "AVX-512 VNNI"
           : f->avx512f  ? "AVX-512"
           : f->avx2_fma ? "AVX2"
                         : "scalar";
}

/* The first "model name" line of /proc/cpuinfo into @buf. */
static void cpu_model(char *buf, size_t len)
{
    snprintf(buf, len, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        char *c = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && c) {
            snprintf(buf, len, "%s", c + 2);
            buf[strcspn(buf, "\n")] = '\0';
            break;
        }
    }
    fclose(f);
}

/* The online CPUs as a CPU list, from sysfs; "" when unknown. */
static void online_cpus(char *buf, size_t len)
{
    buf[0] = '\0';
    FILE *f = fopen("/sys/devices/system/cpu/online", "r");
    if (!f)
        return;
    if (fgets(buf, (int)len, f))
        buf[strcspn(buf, "\n")] = '\0';
    fclose(f);
}

/* Adds "cpu:N" for each NUMA node N of a machine of several: @all's
 * properties, with the node's share of the CPUs, memory and peaks. */
static loom_status add_node_devices(const lm_device *all)
{
    int nodes = lm_topology_numa_nodes();
    for (int i = 0; nodes > 1 && i < nodes; i++) {
        int node = lm_topology_numa_node_at(i);
        lm_locality loc = lm_topology_locate_node(node);
        cpu_set_t set;
        int cpus = lm_topology_cpuset_parse(loc.cpuset, &set);
        cpu_set_t every;
        int total = lm_topology_cpuset_parse(all->props.cpuset, &every);
        if (node < 0 || cpus == 0) /* a node with memory only (CXL, HBM) runs nothing */
            continue;
        lm_device *dev = calloc(1, sizeof(*dev));
        if (!dev)
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        *dev = *all;
        snprintf(dev->name, sizeof(dev->name), "cpu:%d", node);
        lm_device_props *p = &dev->props;
        double share = total > 0 ? (double)cpus / total : 1.0 / nodes;
        p->numa_node = node;
        p->compute_units = cpus;
        p->mem_bytes = (uint64_t)((double)p->mem_bytes * share);
        p->peak_gflops *= share;
        p->peak_int8_gops *= share;
        p->flags &= ~LM_DEVICE_AUTO;
        snprintf(p->features + strlen(p->features), sizeof(p->features) - strlen(p->features),
                 ", NUMA node %d", node);
        loom_status s = lm_registry_add(dev);
        if (s)
            return s;
    }
    return LOOM_OK;
}

static loom_status cpu_discover(const lm_discovery *d)
{
    (void)d;
    if (lm_registry_find("cpu"))
        return LOOM_OK;
    lm_device *dev = calloc(1, sizeof(*dev));
    if (!dev)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    dev->ops = &cpu_ops;
    snprintf(dev->name, sizeof(dev->name), "cpu");
    lm_device_props *p = &dev->props;
    p->kind = LOOM_DEVICE_CPU;
    cpu_model(p->description, sizeof(p->description));
    snprintf(p->driver, sizeof(p->driver), "libloom CPU kernels");
    snprintf(p->features, sizeof(p->features), "%s, %ld CPUs online", isa_name(),
             sysconf(_SC_NPROCESSORS_ONLN));
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    p->mem_bytes = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    p->numa_node = -1; /* every node: the registry fills it in (one node: that one) */
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    p->compute_units = online > 0 ? (int)online : 0;
    online_cpus(p->cpuset, sizeof(p->cpuset));
    lm_cpu_measure_peaks(p, isa_name());
    p->numeric = LOOM_NUMERIC_INT8 | LOOM_NUMERIC_FP32;
    p->flags =
        LM_DEVICE_HOST_KERNELS | LM_DEVICE_DYNAMIC_SHAPES | LM_DEVICE_AUTO | LM_DEVICE_FUSED_FORMS;
    loom_status s = lm_registry_add(dev);
    return s ? s : add_node_devices(dev);
}

static const char *const prefixes[] = {"cpu", NULL};

const lm_backend lm_cpu_backend = {
    .name = "cpu",
    .prefixes = prefixes,
    .fallback = true,
    .op_tables = op_tables,
    .discover = cpu_discover,
};
