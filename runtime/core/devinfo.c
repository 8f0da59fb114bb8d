/* devinfo.c - the public description of devices: loom_devices_list() and
 * loom_context_device_info(). */
#include <stdio.h>
#include <string.h>

#include "device.h"
#include "error.h"
#include "model.h"
#include "registry.h"

static loom_status fill_info(const lm_device *dev, loom_device_info *info)
{
    if (!info || info->struct_size < sizeof(*info))
        return lm_error(LOOM_ERR_INVALID_ARGUMENT,
                        "loom_device_info: struct_size %zu, expected %zu",
                        info ? info->struct_size : 0, sizeof(*info));
    const lm_device_props *p = &dev->props;
    size_t size = info->struct_size;
    memset(info, 0, sizeof(*info));
    info->struct_size = size;
    snprintf(info->name, sizeof(info->name), "%s", dev->name);
    info->kind = p->kind;
    snprintf(info->description, sizeof(info->description), "%s", p->description);
    snprintf(info->driver, sizeof(info->driver), "%s", p->driver);
    info->mem_bytes = p->mem_bytes;
    info->h2d_gbps = p->h2d_gbps;
    info->d2h_gbps = p->d2h_gbps;
    info->launch_us = p->launch_us;
    info->peak_gflops = p->peak_gflops;
    info->peak_int8_gops = p->peak_int8_gops;
    info->mem_gbps = p->mem_gbps;
    snprintf(info->pci_bus_id, sizeof(info->pci_bus_id), "%s", p->pci_bus_id);
    info->numa_node = p->numa_node;
    snprintf(info->cpuset, sizeof(info->cpuset), "%s", p->cpuset);
    info->numeric = p->numeric;
    snprintf(info->features, sizeof(info->features), "%s", p->features);
    snprintf(info->firmware, sizeof(info->firmware), "%s", p->firmware);
    info->compute_units = p->compute_units;
    info->automatic = (p->flags & LM_DEVICE_AUTO) != 0;
    info->emulated = (p->flags & LM_DEVICE_EMULATED) != 0;
    return LOOM_OK;
}

loom_status loom_devices_list(loom_device_info *infos, size_t max, size_t *count)
{
    if (!count || (max && !infos))
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_devices_list: NULL argument");
    loom_status s = lm_registry_acquire(NULL);
    if (s)
        return s;
    int n = lm_registry_count();
    for (int i = 0; i < n && (size_t)i < max && !s; i++)
        s = fill_info(lm_registry_device(i), &infos[i]);
    *count = (size_t)n;
    lm_registry_release();
    return s;
}

loom_status loom_context_device_info(const loom_context *ctx, int index, loom_device_info *info)
{
    if (!ctx)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_context_device_info: NULL context");
    if (index < 0 || index >= ctx->n_devices)
        return lm_error(LOOM_ERR_NOT_FOUND, "device %d does not exist (the context has %d)", index,
                        ctx->n_devices);
    return fill_info(ctx->devices[index], info);
}

loom_status loom_device_program(const char *device, const char *path)
{
    if (!device || !path)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_device_program: NULL argument");
    lm_discovery d = {.emulated_cards = lm_registry_env_emulated_cards(), .devices = device};
    loom_status s = lm_registry_acquire(&d);
    if (s)
        return s;
    lm_device *dev = lm_registry_find(device);
    if (!dev)
        s = lm_error(LOOM_ERR_NOT_FOUND, "no device '%s' (see loomctl examine)", device);
    else if (!dev->ops->program)
        s = lm_error(LOOM_ERR_UNSUPPORTED, "%s loads no bitstream", device);
    else
        s = dev->ops->program(dev, path);
    lm_registry_release();
    return s;
}
