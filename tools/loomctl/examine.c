/*
 * examine.c - `loomctl examine [--json]`: every device of this process, in
 * the planner's priority order, with its properties, health and counters,
 * all through the public API (loom_devices_list(), a context that selects
 * every device, loom_context_device_stats()).
 */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loomctl.h"

#define MAX_DEVICES 64

static const char *kind_name(loom_device_kind k)
{
    static const char *const names[] = {"cpu", "opencl", "card", "xrt", "other"};
    return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "other";
}

static void numerics_str(uint32_t numeric, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s", numeric & LOOM_NUMERIC_INT8 ? "int8" : "",
             (numeric & LOOM_NUMERIC_INT8) && (numeric & LOOM_NUMERIC_FP32) ? ", " : "",
             numeric & LOOM_NUMERIC_FP32 ? "fp32" : "");
    if (!buf[0])
        snprintf(buf, len, "none (results within tolerance)");
}

static const char *health_str(const loom_device_stats *st)
{
    if (!st->healthy)
        return st->card_status & LOOM_CARD_STATUS_DEAD ? "DEAD" : "unhealthy";
    return "healthy";
}

static void print_text(const loom_device_info *d, const loom_device_stats *st)
{
    char num[64];
    numerics_str(d->numeric, num, sizeof(num));
    printf("%s  %s\n", d->name, d->description);
    printf("    kind:        %s%s%s\n", kind_name(d->kind), d->emulated ? " (emulated)" : "",
           d->automatic ? "" : " (used only when named)");
    printf("    driver:      %s\n", d->driver);
    if (d->firmware[0])
        printf("    xclbin:      %s\n", d->firmware);
    if (d->compute_units)
        printf("    units:       %d\n", d->compute_units);
    if (d->mem_bytes)
        printf("    memory:      %.1f MiB\n", (double)d->mem_bytes / 1048576.0);
    printf("    pci:         %s\n", d->pci_bus_id[0] ? d->pci_bus_id : "-");
    if (d->numa_node >= 0)
        printf("    numa node:   %d\n", d->numa_node);
    else
        printf("    numa node:   unknown\n");
    if (d->cpuset[0])
        printf("    cpus:        %s\n", d->cpuset);
    if (d->peak_gflops > 0 || d->peak_int8_gops > 0)
        printf("    peak:        %.1f GFLOP/s float, %.1f GOP/s int8, memory %.1f GB/s\n",
               d->peak_gflops, d->peak_int8_gops ? d->peak_int8_gops : d->peak_gflops, d->mem_gbps);
    if (d->h2d_gbps > 0 || d->d2h_gbps > 0)
        printf("    bandwidth:   %.1f GB/s to, %.1f GB/s from the device\n", d->h2d_gbps,
               d->d2h_gbps);
    printf("    bit-exact:   %s\n", num);
    if (d->features[0])
        printf("    features:    %s\n", d->features);
    if (!st)
        return;
    printf("    state:       %s", health_str(st));
    if (st->reports & LOOM_DEVICE_REPORTS_STATUS)
        printf(", %.1f of %.1f MiB in use", (double)st->mem_used / 1048576.0,
               (double)st->mem_total / 1048576.0);
    printf("\n");
    if (st->reports & LOOM_DEVICE_REPORTS_COUNTERS)
        printf("    card:        %llu commands, %llu errors, %llu resets\n",
               (unsigned long long)st->card_commands, (unsigned long long)st->card_errors,
               (unsigned long long)st->card_resets);
    if (st->reports & LOOM_DEVICE_REPORTS_SENSORS)
        printf("    sensors:     %.1f C, %u mW, heartbeat %u\n", st->temp_mc / 1000.0, st->power_mw,
               st->heartbeat);
}

static json_object *to_json(const loom_device_info *d, const loom_device_stats *st)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(d->name));
    json_object_object_add(o, "kind", json_object_new_string(kind_name(d->kind)));
    json_object_object_add(o, "description", json_object_new_string(d->description));
    json_object_object_add(o, "driver", json_object_new_string(d->driver));
    json_object_object_add(o, "memory_bytes", json_object_new_int64((int64_t)d->mem_bytes));
    json_object_object_add(o, "h2d_gbps", json_object_new_double(d->h2d_gbps));
    json_object_object_add(o, "d2h_gbps", json_object_new_double(d->d2h_gbps));
    json_object_object_add(o, "launch_us", json_object_new_double(d->launch_us));
    json_object_object_add(o, "peak_gflops", json_object_new_double(d->peak_gflops));
    json_object_object_add(o, "peak_int8_gops", json_object_new_double(d->peak_int8_gops));
    json_object_object_add(o, "mem_gbps", json_object_new_double(d->mem_gbps));
    json_object_object_add(o, "pci_bus_id",
                           d->pci_bus_id[0] ? json_object_new_string(d->pci_bus_id) : NULL);
    json_object_object_add(o, "numa_node",
                           d->numa_node >= 0 ? json_object_new_int(d->numa_node) : NULL);
    json_object_object_add(o, "cpuset", json_object_new_string(d->cpuset));
    json_object *num = json_object_new_array();
    if (d->numeric & LOOM_NUMERIC_INT8)
        json_object_array_add(num, json_object_new_string("int8"));
    if (d->numeric & LOOM_NUMERIC_FP32)
        json_object_array_add(num, json_object_new_string("fp32"));
    json_object_object_add(o, "bit_exact", num);
    json_object_object_add(o, "features", json_object_new_string(d->features));
    json_object_object_add(o, "firmware", json_object_new_string(d->firmware));
    json_object_object_add(o, "compute_units", json_object_new_int(d->compute_units));
    json_object_object_add(o, "automatic", json_object_new_boolean(d->automatic));
    json_object_object_add(o, "emulated", json_object_new_boolean(d->emulated));
    if (st) {
        json_object_object_add(o, "state", json_object_new_string(health_str(st)));
        json_object_object_add(o, "jobs", json_object_new_int64((int64_t)st->jobs));
        if (st->reports & LOOM_DEVICE_REPORTS_STATUS)
            json_object_object_add(o, "memory_used_bytes",
                                   json_object_new_int64((int64_t)st->mem_used));
    }
    return o;
}

/* A context selecting every listed device, for their health; NULL if none can be made. */
static loom_context *context_of_all(const loom_device_info *d, size_t n)
{
    char list[MAX_DEVICES * 33] = "";
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? "," : "", d[i].name);
    loom_context_options opts;
    loom_context_options_init(&opts);
    opts.device = list;
    opts.fail_closed = 1;
    opts.num_threads = 1;
    loom_context *ctx = NULL;
    if (loom_context_create(&opts, &ctx))
        fprintf(stderr, "loomctl examine: no device health: %s\n", loom_last_error());
    return ctx;
}

int loomctl_examine(int argc, char **argv)
{
    bool json = argc == 1 && strcmp(argv[0], "--json") == 0;
    if (argc > 1 || (argc == 1 && !json)) {
        fprintf(stderr, "usage: loomctl examine [--json]\n");
        return 2;
    }
    loom_device_info info[MAX_DEVICES];
    size_t n = 0;
    for (size_t i = 0; i < MAX_DEVICES; i++)
        info[i].struct_size = sizeof(info[i]);
    if (loom_devices_list(info, MAX_DEVICES, &n)) {
        fprintf(stderr, "loomctl examine: %s\n", loom_last_error());
        return 1;
    }
    if (n > MAX_DEVICES)
        n = MAX_DEVICES;
    loom_context *ctx = context_of_all(info, n);
    json_object *arr = json ? json_object_new_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        loom_device_stats st = {.struct_size = sizeof(st)};
        loom_device_info mine = {.struct_size = sizeof(mine)};
        /* The context's device i is the same device when every one was selected. */
        bool have = ctx && !loom_context_device_info(ctx, (int)i, &mine) &&
                    strcmp(mine.name, info[i].name) == 0 &&
                    !loom_context_device_stats(ctx, (int)i, &st);
        if (json) {
            json_object_array_add(arr, to_json(&info[i], have ? &st : NULL));
            continue;
        }
        if (i)
            printf("\n");
        print_text(&info[i], have ? &st : NULL);
    }
    if (json) {
        json_object *root = json_object_new_object();
        json_object_object_add(root, "devices", arr);
        printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
        json_object_put(root);
    }
    loom_context_destroy(ctx);
    return 0;
}
