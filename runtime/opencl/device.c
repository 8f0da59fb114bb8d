/*
 * device.c - finds OpenCL devices through the ICD loader and names them
 * "opencl:N": every platform in the loader's order, then every device of it in
 * the platform's order, so a name means the same device from one start to the
 * next on an unchanged machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "opencl.h"

/* cl_khr_pci_bus_info (not in every header version). */
#ifndef CL_DEVICE_PCI_BUS_INFO_KHR
#define CL_DEVICE_PCI_BUS_INFO_KHR 0x410F
typedef struct {
    cl_uint pci_domain, pci_bus, pci_device, pci_function;
} cl_device_pci_bus_info_khr;
#endif

#define MAX_PLATFORMS 16
#define MAX_DEVICES   64

/* Strings longer than @len are cut, not dropped (the query itself fails on a
 * short buffer). */
static void str_info(cl_device_id d, cl_device_info what, char *buf, size_t len)
{
    size_t need = 0;
    buf[0] = '\0';
    if (clGetDeviceInfo(d, what, 0, NULL, &need) != CL_SUCCESS || !need)
        return;
    char *tmp = malloc(need + 1);
    if (tmp && clGetDeviceInfo(d, what, need, tmp, NULL) == CL_SUCCESS) {
        tmp[need] = '\0';
        snprintf(buf, len, "%s", tmp);
    }
    free(tmp);
}

static bool has_ext(const char *exts, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = exts; (p = strstr(p, name)); p += n)
        if ((p == exts || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

static void vendor_pci(cl_device_id d, lm_cl_info *info);

static void query_info(cl_platform_id p, cl_device_id d, lm_cl_info *info)
{
    memset(info, 0, sizeof(*info));
    str_info(d, CL_DEVICE_NAME, info->name, sizeof(info->name));
    str_info(d, CL_DEVICE_VENDOR, info->vendor, sizeof(info->vendor));
    str_info(d, CL_DRIVER_VERSION, info->driver, sizeof(info->driver));
    str_info(d, CL_DEVICE_VERSION, info->version, sizeof(info->version));
    str_info(d, CL_DEVICE_OPENCL_C_VERSION, info->c_version, sizeof(info->c_version));
    if (clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof(info->platform), info->platform, NULL))
        info->platform[0] = '\0';
    info->platform[sizeof(info->platform) - 1] = '\0';
    cl_device_type type = 0;
    cl_uint u = 0;
    cl_ulong ul = 0;
    size_t sz = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof(type), &type, NULL);
    info->is_gpu = type & CL_DEVICE_TYPE_GPU;
    info->is_cpu = type & CL_DEVICE_TYPE_CPU;
    cl_bool unified = CL_FALSE;
    info->host_unified =
        !clGetDeviceInfo(d, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof(unified), &unified, NULL) &&
        unified;
    if (!clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof(u), &u, NULL))
        info->compute_units = u;
    if (!clGetDeviceInfo(d, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof(u), &u, NULL))
        info->clock_mhz = u;
    if (!clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof(ul), &ul, NULL))
        info->global_mem = ul;
    if (!clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof(ul), &ul, NULL))
        info->local_mem = ul;
    if (!clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof(ul), &ul, NULL))
        info->max_alloc = ul;
    if (!clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof(sz), &sz, NULL))
        info->max_wg = sz;
    size_t len = 0;
    if (!clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &len) && len) {
        char *exts = malloc(len + 1);
        if (exts && !clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, len, exts, NULL)) {
            exts[len] = '\0';
            info->fp16 = has_ext(exts, "cl_khr_fp16");
            info->fp64 = has_ext(exts, "cl_khr_fp64");
            info->subgroups =
                has_ext(exts, "cl_khr_subgroups") || has_ext(exts, "cl_intel_subgroups");
            if (has_ext(exts, "cl_khr_pci_bus_info")) {
                cl_device_pci_bus_info_khr pci;
                if (!clGetDeviceInfo(d, CL_DEVICE_PCI_BUS_INFO_KHR, sizeof(pci), &pci, NULL)) {
                    info->has_pci = true;
                    info->pci_domain = pci.pci_domain;
                    info->pci_bus = pci.pci_bus;
                    info->pci_dev = pci.pci_device;
                    info->pci_fn = pci.pci_function;
                }
            }
        }
        free(exts);
    }
    if (!info->has_pci)
        vendor_pci(d, info);
}

/* The vendors' own answers where cl_khr_pci_bus_info is missing: AMD's
 * topology query (a PCIe address, domain 0) and NVIDIA's bus, slot and
 * domain queries. Asked directly: a driver that does not know the query
 * fails it, and the device's locality stays unknown. */
#define CL_DEVICE_TOPOLOGY_AMD_    0x4037
#define CL_DEVICE_PCI_BUS_ID_NV_   0x4008
#define CL_DEVICE_PCI_SLOT_ID_NV_  0x4009
#define CL_DEVICE_PCI_DOMAIN_ID_NV 0x400A
static void vendor_pci(cl_device_id d, lm_cl_info *info)
{
    union {
        struct {
            cl_uint type, data[5];
        } raw;
        struct {
            cl_uint type;
            char unused[17];
            char bus, device, function;
        } pcie;
    } amd;
    if (!clGetDeviceInfo(d, CL_DEVICE_TOPOLOGY_AMD_, sizeof(amd), &amd, NULL) &&
        amd.raw.type == 1 /* CL_DEVICE_TOPOLOGY_TYPE_PCIE_AMD */) {
        info->has_pci = true;
        info->pci_domain = 0;
        info->pci_bus = (unsigned char)amd.pcie.bus;
        info->pci_dev = (unsigned char)amd.pcie.device;
        info->pci_fn = (unsigned char)amd.pcie.function;
        return;
    }
    cl_uint bus, slot, domain = 0;
    if (!clGetDeviceInfo(d, CL_DEVICE_PCI_BUS_ID_NV_, sizeof(bus), &bus, NULL) &&
        !clGetDeviceInfo(d, CL_DEVICE_PCI_SLOT_ID_NV_, sizeof(slot), &slot, NULL)) {
        (void)clGetDeviceInfo(d, CL_DEVICE_PCI_DOMAIN_ID_NV, sizeof(domain), &domain, NULL);
        info->has_pci = true;
        info->pci_domain = domain;
        info->pci_bus = bus;
        info->pci_dev = slot >> 3; /* NVIDIA's slot id is devfn */
        info->pci_fn = slot & 7;
    }
}

/* Calls @fn for each device in naming order; stops early when it returns false. */
static int walk_devices(bool (*fn)(void *arg, int index, cl_platform_id p, cl_device_id d),
                        void *arg)
{
    cl_platform_id plats[MAX_PLATFORMS];
    cl_uint np = 0;
    /* No ICD, no platform: clGetPlatformIDs fails with CL_PLATFORM_NOT_FOUND_KHR. */
    if (clGetPlatformIDs(MAX_PLATFORMS, plats, &np) != CL_SUCCESS)
        return 0;
    int index = 0;
    for (cl_uint i = 0; i < np && i < MAX_PLATFORMS; i++) {
        cl_device_id devs[MAX_DEVICES];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[i], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devs, &nd) != CL_SUCCESS)
            continue;
        for (cl_uint j = 0; j < nd && j < MAX_DEVICES; j++) {
            cl_bool avail = CL_FALSE, compiler = CL_FALSE;
            clGetDeviceInfo(devs[j], CL_DEVICE_AVAILABLE, sizeof(avail), &avail, NULL);
            clGetDeviceInfo(devs[j], CL_DEVICE_COMPILER_AVAILABLE, sizeof(compiler), &compiler,
                            NULL);
            /* The index counts every device, usable or not, so names stay put
             * when one is busy or lacks a compiler. */
            if (avail && compiler && !fn(arg, index, plats[i], devs[j]))
                return index + 1;
            index++;
        }
    }
    return index;
}

typedef struct list_arg {
    lm_cl_info *out;
    int max, n;
} list_arg;

static bool list_one(void *arg, int index, cl_platform_id p, cl_device_id d)
{
    list_arg *a = arg;
    (void)index;
    if (a->n < a->max)
        query_info(p, d, &a->out[a->n]);
    a->n++;
    return true;
}

int lm_opencl_list(lm_cl_info *out, int max)
{
    list_arg a = {out, max, 0};
    walk_devices(list_one, &a);
    return a.n;
}

void lm_cl_device_destroy(lm_device *base)
{
    lm_cl_device *dev = (lm_cl_device *)base;
    for (int i = 0; i < dev->n_pool; i++)
        clReleaseMemObject(dev->pool[i].mem);
    free(dev->pool);
    for (int half = 0; half < 2; half++) {
        if (dev->ops_prog[half])
            clReleaseProgram(dev->ops_prog[half]);
        if (dev->gemm_prog[half])
            clReleaseProgram(dev->gemm_prog[half]);
    }
    if (dev->ctx)
        clReleaseContext(dev->ctx);
    pthread_mutex_destroy(&dev->lock);
    free(dev);
}

/* A segment's fixed cost: queue submission and the completion callback;
 * and one kernel launch inside it. */
#define CL_LAUNCH_US 20.0
#define CL_KERNEL_US 5.0

/* The device's properties, from what the driver reports. */
static void cl_props(lm_cl_device *dev, cl_device_type type)
{
    lm_device_props *p = &dev->base.props;
    const lm_cl_info *i = &dev->info;
    p->kind = LOOM_DEVICE_OPENCL;
    snprintf(p->description, sizeof(p->description), "%.80s (%s, %u compute units at %u MHz)",
             i->name,
             type & CL_DEVICE_TYPE_GPU   ? "GPU"
             : type & CL_DEVICE_TYPE_CPU ? "CPU"
                                         : "other",
             i->compute_units, i->clock_mhz);
    snprintf(p->driver, sizeof(p->driver), "%.40s %.20s", i->platform, i->driver);
    p->mem_bytes = i->global_mem;
    p->compute_units = (int)i->compute_units;
    /* Modelled from the driver's figures: one fused multiply-add per lane and
     * cycle on each compute unit, a GPU's 64 lanes or a CPU's 16. Device
     * memory bandwidth and the link are not reported by OpenCL 1.2: a GPU
     * gets a PCIe 3.0 x16 link and 200 GB/s, a CPU device the host's copy. */
    bool gpu = type & CL_DEVICE_TYPE_GPU;
    p->peak_gflops = 2.0 * (gpu ? 64 : 16) * i->compute_units * i->clock_mhz / 1e3;
    p->mem_gbps = gpu ? 200.0 : 20.0;
    p->h2d_gbps = p->d2h_gbps = gpu ? LM_DEFAULT_LINK_GBPS : 10.0;
    p->launch_us = CL_LAUNCH_US;
    p->op_us = CL_KERNEL_US;
    p->numa_node = -1;
    if (i->has_pci)
        snprintf(p->pci_bus_id, sizeof(p->pci_bus_id), "%04x:%02x:%02x.%x", i->pci_domain,
                 i->pci_bus, i->pci_dev, i->pci_fn);
    snprintf(p->features, sizeof(p->features), "%.20s, work-group %zu, %llu KiB local%s%s%s",
             i->c_version, i->max_wg, (unsigned long long)(i->local_mem / 1024),
             i->fp16 ? ", fp16" : "", i->fp64 ? ", fp64" : "", i->subgroups ? ", subgroups" : "");
    p->numeric = 0; /* float kernels of their own: close to the CPU's, not bit-identical */
    /* An OpenCL device that is the host CPU (PoCL) never beats libloom's own
     * CPU kernels: used only when named. */
    /* its supports() reads the fused forms it runs and declines the rest */
    p->flags = LM_DEVICE_FUSED_FORMS | (type & CL_DEVICE_TYPE_CPU ? 0 : LM_DEVICE_AUTO);
    /* Its buffers are host memory: segments bind the host tensors in place. */
    if (i->host_unified)
        p->flags |= LM_DEVICE_HOST_MEMORY;
}

static bool add_one(void *arg, int index, cl_platform_id p, cl_device_id d)
{
    loom_status *status = arg;
    char name[32];
    snprintf(name, sizeof(name), "opencl:%d", index);
    if (lm_registry_find(name))
        return true; /* discovered before */
    cl_device_type type = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof(type), &type, NULL);
    lm_cl_device *dev = calloc(1, sizeof(*dev));
    if (!dev) {
        *status = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        return false;
    }
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)p, 0};
    cl_int err = CL_SUCCESS;
    dev->ctx = clCreateContext(props, 1, &d, NULL, NULL, &err);
    if (!dev->ctx) { /* a device we cannot open is skipped, not fatal */
        free(dev);
        return true;
    }
    dev->platform = p;
    dev->id = d;
    query_info(p, d, &dev->info);
    pthread_mutex_init(&dev->lock, NULL);
    dev->base.ops = &lm_cl_device_ops;
    dev->base.priv = dev;
    snprintf(dev->base.name, sizeof(dev->base.name), "%s", name);
    cl_props(dev, type);
    *status = lm_registry_add(&dev->base);
    return *status == LOOM_OK;
}

static loom_status opencl_discover(const lm_discovery *d)
{
    (void)d;
    loom_status s = LOOM_OK;
    walk_devices(add_one, &s);
    return s;
}

static const char *const prefixes[] = {"opencl:", NULL};

const lm_backend lm_opencl_backend = {
    .name = "opencl",
    .prefixes = prefixes,
    .discover = opencl_discover,
};
