/*
 * examine.c - `loomctl examine`: the devices Loom can run on, one section per
 * kind, in the order the planner prefers them. Each section is one function
 * in the table below; a backend adds its own.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "loomctl.h"
#include "opencl/opencl.h"

#define MAX_CL_DEVICES 64

static void gib(char *buf, size_t len, uint64_t bytes)
{
    snprintf(buf, len, "%.1f GiB", (double)bytes / (1024.0 * 1024.0 * 1024.0));
}

static void section_opencl(void)
{
    lm_cl_info info[MAX_CL_DEVICES];
    int n = lm_opencl_list(info, MAX_CL_DEVICES);
    printf("OpenCL devices (ICD loader): %d\n", n);
    for (int i = 0; i < n && i < MAX_CL_DEVICES; i++) {
        const lm_cl_info *d = &info[i];
        char mem[32], alloc[32];
        gib(mem, sizeof(mem), d->global_mem);
        gib(alloc, sizeof(alloc), d->max_alloc);
        printf("  opencl:%d  %s (%s)\n", i, d->name,
               d->is_gpu   ? "GPU"
               : d->is_cpu ? "CPU"
                           : "other");
        printf("    platform:       %s\n", d->platform);
        printf("    vendor:         %s\n", d->vendor);
        printf("    version:        %s, %s, driver %s\n", d->version, d->c_version, d->driver);
        printf("    compute units:  %u at %u MHz\n", d->compute_units, d->clock_mhz);
        printf("    memory:         %s global (max allocation %s), %llu KiB local\n", mem, alloc,
               (unsigned long long)(d->local_mem / 1024));
        printf("    work-group:     %zu\n", d->max_wg);
        printf("    fp16:           %s\n", d->fp16 ? "yes (cl_khr_fp16)" : "no");
        printf("    fp64:           %s\n", d->fp64 ? "yes" : "no");
        printf("    subgroups:      %s\n", d->subgroups ? "yes" : "no");
        if (d->has_pci)
            printf("    pci:            %04x:%02x:%02x.%x\n", d->pci_domain, d->pci_bus, d->pci_dev,
                   d->pci_fn);
        else
            printf("    pci:            unknown (no cl_khr_pci_bus_info)\n");
    }
}

static void section_cpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    char model[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof(line), f))
            if (strncmp(line, "model name", 10) == 0) {
                char *c = strchr(line, ':');
                if (c) {
                    snprintf(model, sizeof(model), "%s", c + 2);
                    model[strcspn(model, "\n")] = '\0';
                }
                break;
            }
        fclose(f);
    }
    printf("CPU (always present, takes what no device runs):\n");
    printf("  cpu  %s, %ld cores online\n", model, n);
}

/* Sections in the planner's order: accelerators first, the CPU last. */
static void (*const sections[])(void) = {
    loomctl_examine_cards,
    section_opencl,
    section_cpu,
};

int loomctl_examine(int argc, char **argv)
{
    (void)argv;
    if (argc > 0) {
        fprintf(stderr, "usage: loomctl examine\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        if (i)
            printf("\n");
        sections[i]();
    }
    return 0;
}
