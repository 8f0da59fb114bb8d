/*
 * numa_guest.c - the check inside the two-node QEMU guest (tests/kernel/
 * init.sh, LOOM_GUEST=numa): loom.ko's card sits behind a PCI expander
 * bridge on NUMA node NODE, and the runtime must find it there through
 * hwloc and the guest's real sysfs, and feed it from that node's CPUs.
 *
 *   numa_guest MODEL NODE
 *
 * Runs MODEL once on card:0, with a wrapper around the card's run() that
 * records the CPUs the feeding thread may use at that moment, and checks:
 * card:0 is on NODE; its feeders are bound to NODE's CPUs as
 * /sys/devices/system/node/nodeNODE/cpulist lists them; the context's worker
 * pool runs there too; the thread that fed the card ran on exactly those
 * CPUs, and is back on its own CPUs after the run.
 * Prints "ok N numa.NAME" lines, exits 0 when all passed.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/device.h"
#include "core/model.h"
#include "core/registry.h"
#include "core/topology.h"
#include "loom/loom.h"

static int tests_run = 20, tests_failed; /* init.sh's own lines come first */

static void check(int ok, const char *name)
{
    tests_run++;
    tests_failed += !ok;
    printf("%s %d numa.%s\n", ok ? "ok" : "not ok", tests_run, name);
    fflush(stdout);
}

/* The card's real operations, and what the wrapper saw of its feeders. */
static const lm_device_ops *card_ops;
static lm_device_ops traced_ops;
static cpu_set_t fed_on;
static int feeds, feeds_elsewhere;

static loom_status traced_run(lm_device *dev, void *segment, loom_tensor *const *in,
                              loom_tensor *const *out, uint64_t deadline_ns)
{
    cpu_set_t now;
    sched_getaffinity(0, sizeof(now), &now);
    if (feeds++ == 0)
        fed_on = now;
    else if (!CPU_EQUAL(&now, &fed_on))
        feeds_elsewhere++;
    return card_ops->run(dev, segment, in, out, deadline_ns);
}

/* The CPUs the guest's kernel puts on @node. */
static int node_cpus(int node, cpu_set_t *set, char *list, size_t len)
{
    char path[96];
    snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", node);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ok = fgets(list, (int)len, f) != NULL;
    fclose(f);
    list[strcspn(list, "\n")] = 0;
    return ok && lm_topology_cpuset_parse(list, set) ? 0 : -1;
}

/* One run of @m on zeros, every symbolic dimension bound to 1. */
static loom_status run_once(loom_model *m)
{
    loom_value_info vi;
    loom_status s = loom_model_input_info(m, 0, &vi);
    for (int i = 0; !s && i < vi.rank; i++) {
        if (vi.dims[i] < 0 && vi.dim_names[i])
            s = loom_model_bind_dim(m, vi.dim_names[i], 1);
        vi.dims[i] = vi.dims[i] < 0 ? 1 : vi.dims[i];
    }
    loom_tensor *in = NULL, *out = NULL;
    if (!s)
        s = loom_tensor_create(vi.dtype, vi.rank, vi.dims, &in);
    if (!s)
        s = loom_model_run(m, &in, 1, &out, 1);
    loom_tensor_destroy(in);
    loom_tensor_destroy(out);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: numa_guest MODEL NODE\n");
        return 2;
    }
    int node = atoi(argv[2]);
    char list[256], want_pool[300];
    cpu_set_t cpus, before, after;
    if (node_cpus(node, &cpus, list, sizeof(list))) {
        printf("not ok %d numa.guest_has_node_%d\n", ++tests_run, node);
        return 1;
    }
    printf("# node %d has CPUs %s\n", node, list);

    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "card:0";
    loom_context *ctx = NULL;
    loom_model *m = NULL;
    if (loom_context_create(&o, &ctx)) {
        printf("not ok %d numa.context_on_card0 # %s\n", ++tests_run, loom_last_error());
        return 1;
    }
    lm_device *card = lm_registry_find("card:0");
    printf("# card:0: node %d, cpus %s, feeders: %s; memory: %s; pool: %s\n", card->props.numa_node,
           card->props.cpuset, card->numa.feeders, card->numa.memory, ctx->pool_binding);
    check(card->props.numa_node == node, "runtime_places_card0_on_the_node");
    check(card->numa.bind && CPU_EQUAL(&card->numa.cpus, &cpus), "card0_feeders_bound_to_its_cpus");
    snprintf(want_pool, sizeof(want_pool), "node %d, CPUs %s", node, list);
    check(!strcmp(ctx->pool_binding, want_pool), "worker_pool_on_the_card_node");

    card_ops = card->ops;
    traced_ops = *card_ops;
    traced_ops.run = traced_run;
    card->ops = &traced_ops;
    sched_getaffinity(0, sizeof(before), &before);
    loom_status s = loom_model_load_file(ctx, argv[1], &m);
    if (!s)
        s = run_once(m);
    sched_getaffinity(0, sizeof(after), &after);
    if (s)
        printf("# run: %s\n", loom_last_error());
    check(s == LOOM_OK && feeds > 0, "model_ran_on_card0");
    check(feeds > 0 && feeds_elsewhere == 0 && CPU_EQUAL(&fed_on, &cpus),
          "card0_fed_from_its_node_cpus");
    check(CPU_EQUAL(&before, &after), "feeder_back_on_its_cpus_after");
    card->ops = card_ops;
    loom_model_destroy(m);
    loom_context_destroy(ctx);
    return tests_failed != 0;
}
