/*
 * backend.c - the CPU backend: the op definitions whose host implementations
 * are libloom's CPU kernels, and the CPU as a device.
 *
 * The CPU device runs its steps through core's executor (LM_DEVICE_HOST_KERNELS)
 * on the context's worker pool, takes steps whose shapes are known only at
 * run time, and is the reference the other devices' numerics are compared to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "../core/error.h"
#include "cpu_features.h"
#include "peaks.h"
#include "ops/tables.h"

static const lm_op_def *const op_tables[] = {
    lm_ops_elementwise, lm_ops_unary,  lm_ops_reduce,   lm_ops_tensor, lm_ops_index,
    lm_ops_resize,      lm_ops_nn,     lm_ops_conv,     lm_ops_pool,   lm_ops_norm,
    lm_ops_quant,       lm_ops_rnn,    lm_ops_einsum,   lm_ops_loss,   lm_ops_vision,
    lm_ops_misc,        lm_ops_signal, lm_ops_training, NULL,
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
    p->numa_node = -1; /* filled per node once placement is NUMA-aware */
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    p->compute_units = online > 0 ? (int)online : 0;
    online_cpus(p->cpuset, sizeof(p->cpuset));
    lm_cpu_measure_peaks(p, isa_name());
    p->numeric = LOOM_NUMERIC_INT8 | LOOM_NUMERIC_FP32;
    p->flags = LM_DEVICE_HOST_KERNELS | LM_DEVICE_DYNAMIC_SHAPES | LM_DEVICE_AUTO;
    return lm_registry_add(dev);
}

static const char *const prefixes[] = {"cpu", NULL};

const lm_backend lm_cpu_backend = {
    .name = "cpu",
    .prefixes = prefixes,
    .fallback = true,
    .op_tables = op_tables,
    .discover = cpu_discover,
};
