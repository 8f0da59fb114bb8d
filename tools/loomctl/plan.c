/*
 * plan.c - `loomctl plan MODEL [--device LIST] [--objective latency|throughput]
 * [--pin RULE=DEVICE ...] [--fail-closed] [--dim NAME=SIZE ...] [--json]`: where each node of the
 * model runs and why, what the cost model expects, the segments, the transfers and the totals. The
 * JSON form is loom_model_plan_json()'s, unchanged; the table is made from it.
 */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loomctl.h"

#define MAX_DIMS 64

typedef struct plan_args {
    const char *model;
    const char *device;
    loomctl_policy policy;
    bool json;
    int n_dims;
    char *dim_name[MAX_DIMS];
    long dim_value[MAX_DIMS];
} plan_args;

static int usage(void)
{
    fprintf(stderr, "usage: loomctl plan MODEL [--device LIST] " LOOMCTL_POLICY_USAGE "\n"
                    "                    [--dim NAME=SIZE ...] [--json]\n");
    return 2;
}

static int add_dim(plan_args *a, const char *val)
{
    const char *eq = val ? strchr(val, '=') : NULL;
    char *end;
    long v = eq ? strtol(eq + 1, &end, 10) : -1;
    if (!eq || eq == val || eq[1] == '\0' || *end || v < 0 || a->n_dims == MAX_DIMS) {
        fprintf(stderr, "loomctl plan: --dim takes NAME=SIZE, got '%s'\n", val ? val : "");
        return -1;
    }
    a->dim_name[a->n_dims] = strndup(val, (size_t)(eq - val));
    a->dim_value[a->n_dims++] = v;
    return 0;
}

static int parse_args(int argc, char **argv, plan_args *a)
{
    a->device = "auto";
    for (int i = 0, used; i < argc; i++) {
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--json") == 0)
            a->json = true;
        else if (strcmp(argv[i], "--device") == 0 && val)
            a->device = argv[++i];
        else if (strcmp(argv[i], "--dim") == 0) {
            if (add_dim(a, val))
                return -1;
            i++;
        } else if ((used = loomctl_policy_arg(&a->policy, argv[i], val)) >= -1) {
            if (used < 0)
                return -1;
            i += used;
        } else if (argv[i][0] != '-' && !a->model)
            a->model = argv[i];
        else
            return usage();
    }
    return a->model ? 0 : usage();
}

static const char *str(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

static double num(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_double(v) : 0;
}

static json_object *arr(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static void print_table(json_object *plan)
{
    json_object *nodes = arr(plan, "nodes"), *xfers = arr(plan, "transfers");
    json_object *devs = arr(plan, "devices"), *segs = arr(plan, "segments");
    json_object *solver = arr(plan, "solver");
    printf("plan of %s (objective %s; solver %s, %s)\n\n", str(plan, "model"),
           str(plan, "objective"), str(solver, "algorithm"),
           strcmp(str(solver, "exact"), "true") == 0 ? "optimal for the cost table"
                                                     : "heuristic: not proven optimal");
    printf("%-28s %-16s %-20s %-10s %9s  %s\n", "node", "op", "output", "device", "est us",
           "reason");
    for (size_t i = 0; nodes && i < json_object_array_length(nodes); i++) {
        json_object *n = json_object_array_get_idx(nodes, i);
        printf("%-28.28s %-16.16s %-20.20s %-10s %9.1f  %s\n", str(n, "name"), str(n, "op"),
               str(n, "shape"), str(n, "device"), num(n, "est_us"), str(n, "reason"));
    }
    printf("\nsegments:\n");
    for (size_t i = 0; segs && i < json_object_array_length(segs); i++) {
        json_object *s = json_object_array_get_idx(segs, i);
        printf("  %-10s %3d nodes  %s .. %s", str(s, "device"), (int)num(s, "nodes"),
               str(s, "first"), str(s, "last"));
        json_object *d;
        if (json_object_object_get_ex(s, "deadline_ms", &d))
            printf("  (deadline %.0f ms, %d runs measured)", num(s, "deadline_ms"),
                   (int)num(s, "measured_runs"));
        if (json_object_object_get_ex(s, "issued_before", &d))
            printf("  issued before %s", json_object_get_string(d));
        if (json_object_object_get_ex(s, "joined_before", &d))
            printf("  runs alongside the next segments until %s",
                   json_object_get_string(d) ? json_object_get_string(d) : "the end");
        printf("\n");
    }
    printf("\ntransfers:\n");
    for (size_t i = 0; xfers && i < json_object_array_length(xfers); i++) {
        json_object *t = json_object_array_get_idx(xfers, i);
        printf("  %-28.28s %-8s -> %-8s %10.0f bytes %9.1f us\n", str(t, "value"), str(t, "from"),
               str(t, "to"), num(t, "bytes"), num(t, "est_us"));
    }
    printf("\nestimated time per device:\n");
    for (size_t i = 0; devs && i < json_object_array_length(devs); i++) {
        json_object *d = json_object_array_get_idx(devs, i);
        printf("  %-10s %9.1f us\n", str(d, "name"), num(d, "est_us"));
    }
    printf("\ntotal: %.1f us estimated end to end (complete: %s)\n", num(plan, "total_est_us"),
           str(plan, "estimate_complete"));
    printf("\nNUMA placement (topology: %s):\n", str(plan, "topology"));
    for (size_t i = 0; devs && i < json_object_array_length(devs); i++) {
        json_object *d = json_object_array_get_idx(devs, i), *node;
        bool known = json_object_object_get_ex(d, "numa_node", &node) && node;
        printf("  %-10s node %-4s cpus %-16s %s\n", str(d, "name"),
               known ? json_object_get_string(node) : "-",
               str(d, "cpuset")[0] ? str(d, "cpuset") : "-", str(d, "locality"));
        printf("  %-10s threads: %s; staging memory: %s\n", "", str(d, "threads"),
               str(d, "staging_memory"));
    }
}

int loomctl_plan(int argc, char **argv)
{
    plan_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? 2 : rc;
    rc = 1;
    loom_context_options opts;
    loomctl_context_options_init(&opts);
    opts.device = a.device;
    loomctl_policy_apply(&a.policy, &opts);
    loom_context *ctx = NULL;
    loom_model *m = NULL;
    char *json = NULL;
    if (loom_context_create(&opts, &ctx) || loom_model_load_file(ctx, a.model, &m))
        goto fail;
    for (int i = 0; i < a.n_dims; i++)
        if (loom_model_bind_dim(m, a.dim_name[i], a.dim_value[i]))
            goto fail;
    if (loom_model_plan_json(m, NULL, 0, &json))
        goto fail;
    if (a.json) {
        printf("%s\n", json);
    } else {
        json_object *plan = json_tokener_parse(json);
        if (!plan) {
            fprintf(stderr, "loomctl plan: the plan is not JSON\n");
            goto out;
        }
        print_table(plan);
        json_object_put(plan);
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "loomctl plan: %s\n", loom_last_error());
out:
    free(json);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
    for (int i = 0; i < a.n_dims; i++)
        free(a.dim_name[i]);
    return rc;
}
