/*
 * profile.c - `loomctl run --profile [--profile-json FILE]`: per node the
 * device, the measured time (p50), the planner's estimate and the error,
 * and the totals per device; from loom_model_profile_json().
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>

#include "loomctl.h"

static double num(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_double(v) : 0;
}

static const char *str(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

static json_object *arr(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static void print_profile(json_object *p)
{
    json_object *nodes = arr(p, "nodes"), *devs = arr(p, "devices");
    printf("\nprofile over %d runs (p50):\n", (int)num(p, "runs"));
    printf("%-32s %-16s %-10s %12s %12s %8s\n", "node", "op", "device", "measured us", "est us",
           "error");
    for (size_t i = 0; nodes && i < json_object_array_length(nodes); i++) {
        json_object *n = json_object_array_get_idx(nodes, i);
        printf("%-32.32s %-16.16s %-10s %12.1f %12.1f %+7.0f%%\n", str(n, "name"), str(n, "op"),
               str(n, "device"), num(n, "measured_us"), num(n, "est_us"), 100 * num(n, "error"));
    }
    printf("per device:\n");
    for (size_t i = 0; devs && i < json_object_array_length(devs); i++) {
        json_object *d = json_object_array_get_idx(devs, i);
        printf("  %-10s measured %10.1f us, estimated %10.1f us%s\n", str(d, "name"),
               num(d, "measured_us"), num(d, "est_us"),
               num(d, "emulated") ? " (measured: the emulation's wall time, not the card's)" : "");
    }
    printf("total: measured %.1f us, estimated %.1f us\n", num(p, "total_measured_us"),
           num(p, "total_est_us"));
}

int loomctl_profile(loom_model *m, loom_tensor **in, size_t n_in, int runs, bool table,
                    const char *json_path)
{
    char *json = NULL;
    if (loom_model_profile_json(m, in, n_in, runs, &json)) {
        fprintf(stderr, "loomctl run: --profile: %s\n", loom_last_error());
        return 1;
    }
    int rc = 0;
    if (json_path) {
        FILE *f = fopen(json_path, "w");
        if (!f || fprintf(f, "%s\n", json) < 0 || fclose(f)) {
            fprintf(stderr, "loomctl run: cannot write %s\n", json_path);
            rc = 1;
        }
    }
    json_object *p = table ? json_tokener_parse(json) : NULL;
    if (p) {
        print_profile(p);
        json_object_put(p);
    }
    free(json);
    return rc;
}
