/* run.c - `loomctl run`: load a model, feed inputs, print outputs and latency. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/tensor_io.h"
#include "core/tensor.h"
#include "loomctl.h"

#define MAX_IO 256 /* --input and --dim options */

typedef struct run_args {
    const char *model;
    const char *device;
    const char *output_dir;
    const char *cpus;   /* --cpus LIST: CPUs the worker threads may run on */
    const char *shapes; /* --shapes FILE: a sequence of shapes to run */
    int threads;
    int repeat;
    bool stats;
    bool fp16;                /* --fp16: fp16 storage on OpenCL devices */
    bool profile;             /* --profile: per node measured vs estimated */
    loomctl_policy policy;    /* --objective, --pin, --fail-closed */
    const char *profile_json; /* --profile-json FILE */
    int n_inputs, n_dims;
    char *dim_name[MAX_IO];
    int64_t dim_value[MAX_IO];
    char *input_name[MAX_IO];
    const char *input_file[MAX_IO];
} run_args;

static int fail(const char *what)
{
    fprintf(stderr, "loomctl run: %s: %s\n", what, loom_last_error());
    return 1;
}

static int parse_int(const char *s, const char *flag, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end || v < lo || v > hi) {
        fprintf(stderr, "loomctl run: %s takes an integer in %d..%d, got '%s'\n", flag, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_args(int argc, char **argv, run_args *a)
{
    a->device = "cpu";
    a->repeat = 10;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--stats") == 0) {
            a->stats = true;
            continue;
        }
        if (strcmp(arg, "--fp16") == 0) {
            a->fp16 = true;
            continue;
        }
        if (strcmp(arg, "--profile") == 0) {
            a->profile = true;
            continue;
        }
        int used = loomctl_policy_arg(&a->policy, arg, val);
        if (used == -1)
            return -1;
        if (used >= 0) {
            i += used;
            continue;
        }
        if (arg[0] != '-') {
            if (a->model) {
                fprintf(stderr, "loomctl run: unexpected argument '%s'\n", arg);
                return -1;
            }
            a->model = arg;
            continue;
        }
        if (!val) {
            fprintf(stderr, "loomctl run: %s needs a value\n", arg);
            return -1;
        }
        i++;
        if (strcmp(arg, "--input") == 0) {
            const char *eq = strchr(val, '=');
            if (!eq || eq == val || a->n_inputs == MAX_IO) {
                fprintf(stderr, "loomctl run: --input takes NAME=FILE, got '%s'\n", val);
                return -1;
            }
            a->input_name[a->n_inputs] = strndup(val, (size_t)(eq - val));
            a->input_file[a->n_inputs++] = eq + 1;
        } else if (strcmp(arg, "--dim") == 0) {
            const char *eq = strchr(val, '=');
            int v;
            if (!eq || eq == val || a->n_dims == MAX_IO ||
                parse_int(eq + 1, "--dim NAME=", 0, 1 << 30, &v)) {
                fprintf(stderr, "loomctl run: --dim takes NAME=SIZE, got '%s'\n", val);
                return -1;
            }
            a->dim_name[a->n_dims] = strndup(val, (size_t)(eq - val));
            a->dim_value[a->n_dims++] = v;
        } else if (strcmp(arg, "--device") == 0) {
            a->device = val;
        } else if (strcmp(arg, "--output-dir") == 0) {
            a->output_dir = val;
        } else if (strcmp(arg, "--cpus") == 0) {
            a->cpus = val;
        } else if (strcmp(arg, "--profile-json") == 0) {
            a->profile_json = val;
        } else if (strcmp(arg, "--shapes") == 0) {
            a->shapes = val;
        } else if (strcmp(arg, "--repeat") == 0) {
            if (parse_int(val, arg, 1, 1000000, &a->repeat))
                return -1;
        } else if (strcmp(arg, "--threads") == 0) {
            if (parse_int(val, arg, 0, 1024, &a->threads))
                return -1;
        } else {
            fprintf(stderr, "loomctl run: unknown option '%s'\n", arg);
            return -1;
        }
    }
    if (!a->model) {
        fprintf(stderr,
                "usage: loomctl run MODEL [--input NAME=FILE ...] [--device D] "
                "[--threads N] [--cpus LIST] [--repeat N] [--output-dir DIR] [--dim NAME=SIZE] "
                "[--shapes FILE] [--stats] [--fp16] [--profile] [--profile-json "
                "FILE] " LOOMCTL_POLICY_USAGE "\n");
        return -1;
    }
    return 0;
}

/* Symbolic dims become 1; data is a deterministic pattern in [-1, 1) for floats. */
static loom_status make_default_input(const loom_value_info *info, loom_tensor **out)
{
    int64_t dims[LOOM_MAX_RANK];
    for (int d = 0; d < info->rank; d++)
        dims[d] = info->dims[d] < 0 ? 1 : info->dims[d];
    loom_status s = loom_tensor_create(info->dtype, info->rank, dims, out);
    if (s)
        return s;
    int64_t n = loom_tensor_count(*out);
    for (int64_t i = 0; i < n; i++)
        lm_tensor_set_f64(*out, i,
                          lm_dtype_is_float(info->dtype) ? (double)((i * 7919) % 2000) / 1000.0 - 1
                                                         : (double)(i % 7));
    return LOOM_OK;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int load_inputs(const run_args *a, loom_model *m, loom_tensor **in, size_t n_in)
{
    for (int i = 0; i < a->n_inputs; i++) {
        size_t idx;
        if (loom_model_input_index(m, a->input_name[i], &idx))
            return fail("--input");
        loom_tensor_destroy(in[idx]);
        in[idx] = NULL;
        if (tio_load(a->input_file[i], &in[idx], NULL))
            return fail(a->input_file[i]);
    }
    for (size_t i = 0; i < n_in; i++) {
        loom_value_info info;
        loom_model_input_info(m, i, &info);
        if (!in[i] && make_default_input(&info, &in[i]))
            return fail(info.name);
    }
    return 0;
}

static void print_outputs(loom_model *m, loom_tensor **out, size_t n_out)
{
    char dims[128], vals[512];
    for (size_t o = 0; o < n_out; o++) {
        loom_value_info info;
        loom_model_output_info(m, o, &info);
        printf("output %s: %s %s\n  [%s]\n", info.name, loom_dtype_name(loom_tensor_dtype(out[o])),
               lm_dims_str(loom_tensor_rank(out[o]), loom_tensor_dims(out[o]), dims, sizeof(dims)),
               tio_values_str(out[o], 8, vals, sizeof(vals)));
    }
}

static int write_outputs(const char *dir, loom_model *m, loom_tensor **out, size_t n_out)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "loomctl run: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    for (size_t o = 0; o < n_out; o++) {
        loom_value_info info;
        char path[4096];
        loom_model_output_info(m, o, &info);
        if (!tio_path(path, sizeof(path), "%s/output_%zu.pb", dir, o)) {
            fprintf(stderr, "loomctl run: output path too long\n");
            return 1;
        }
        if (tio_save_pb(out[o], info.name, path))
            return fail(path);
        printf("wrote %s (%s)\n", path, info.name);
    }
    return 0;
}

/* Runs once to warm up, then @repeat timed runs; prints min/p50/p99. */
static int time_runs(loom_model *m, loom_tensor **in, size_t n_in, loom_tensor **out, size_t n_out,
                     int repeat)
{
    double *ms = malloc(sizeof(double) * (size_t)repeat);
    loom_tensor **tmp = calloc(n_out + 1, sizeof(*tmp));
    if (!ms || !tmp) {
        free(ms);
        free(tmp);
        return 1;
    }
    for (int r = 0; r < repeat; r++) {
        double t0 = now_ms();
        if (loom_model_run(m, in, n_in, tmp, n_out)) {
            free(ms);
            free(tmp);
            return fail("run");
        }
        ms[r] = now_ms() - t0;
        for (size_t o = 0; o < n_out; o++)
            loom_tensor_destroy(tmp[o]);
    }
    free(tmp);
    (void)out;
    qsort(ms, (size_t)repeat, sizeof(double), compare_double);
    printf("latency over %d runs: min %.3f ms, p50 %.3f ms, p99 %.3f ms\n", repeat, ms[0],
           ms[(repeat - 1) / 2], ms[(int)((repeat - 1) * 0.99)]);
    free(ms);
    return 0;
}

static void print_stats(loom_model *m)
{
    loom_model_stats st = {.struct_size = sizeof(st)};
    if (loom_model_get_stats(m, &st))
        return;
    const double mib = 1 << 20;
    printf("stats: %d nodes after fusion (%d BatchNorms folded, %d activations fused, "
           "%d identities removed, %d QDQ groups to int8), %d kernels per run\n"
           "stats: arena %.2f MiB peak for intermediates, constants %.2f MiB, %d plan(s)\n",
           st.nodes, st.batchnorms_folded, st.activations_fused, st.identities_removed,
           st.qdq_fused, st.steps, (double)st.arena_bytes / mib, (double)st.constant_bytes / mib,
           st.plans);
    printf("stats: prepared weights %.2f MiB (%.2f MiB shared by every model), on devices "
           "%.2f MiB (%.2f MiB shared)\n",
           (double)st.prepared_bytes / mib, (double)st.shared_prepared_bytes / mib,
           (double)st.device_weight_bytes / mib, (double)st.shared_device_weight_bytes / mib);
    printf("stats: plans %.2f MiB of a %.0f MiB budget, %llu built, %llu evicted\n"
           "stats: planning %.3f ms mean, %.3f ms last, %.3f ms max; rss %.1f MiB\n",
           (double)st.plan_bytes / mib, (double)st.plan_budget_bytes / mib,
           (unsigned long long)st.plans_built, (unsigned long long)st.plans_evicted,
           st.planning_ms_mean, st.planning_ms_last, st.planning_ms_max, loomctl_rss_mib());
}

int loomctl_run(int argc, char **argv)
{
    run_args a = {0};
    loom_context *ctx = NULL;
    loom_model *m = NULL;
    loom_tensor **in = NULL, **out = NULL;
    size_t n_in = 0, n_out = 0;
    int rc = 2;
    if (parse_args(argc, argv, &a))
        goto out;
    rc = 1;
    loom_context_options opts;
    loomctl_context_options_init(&opts);
    opts.device = a.device;
    loomctl_policy_apply(&a.policy, &opts);
    opts.num_threads = a.threads;
    opts.fp16_storage = a.fp16;
    opts.cpus = a.cpus;
    if (loom_context_create(&opts, &ctx)) {
        rc = fail("context");
        goto out;
    }
    double t0 = now_ms();
    if (loom_model_load_file(ctx, a.model, &m)) {
        rc = fail("load");
        goto out;
    }
    for (int i = 0; i < a.n_dims; i++)
        if (loom_model_bind_dim(m, a.dim_name[i], a.dim_value[i])) {
            rc = fail("--dim");
            goto out;
        }
    printf("model %s: loaded in %.1f ms\n", loom_model_name(m), now_ms() - t0);
    if (a.shapes) {
        rc = loomctl_run_shapes(m, a.shapes, a.repeat);
        if (!rc && a.stats)
            print_stats(m);
        goto out;
    }
    in = calloc(loom_model_input_count(m) + 1, sizeof(*in));
    out = calloc(loom_model_output_count(m) + 1, sizeof(*out));
    if (!in || !out) {
        fprintf(stderr, "loomctl run: out of memory\n");
        goto out;
    }
    n_in = loom_model_input_count(m);
    n_out = loom_model_output_count(m);
    if (load_inputs(&a, m, in, n_in))
        goto out;
    if (loom_model_run(m, in, n_in, out, n_out)) {
        rc = fail("run");
        goto out;
    }
    print_outputs(m, out, n_out);
    if (a.output_dir && write_outputs(a.output_dir, m, out, n_out))
        goto out;
    rc = time_runs(m, in, n_in, out, n_out, a.repeat);
    if (!rc && a.stats)
        print_stats(m);
    if (!rc && (a.profile || a.profile_json))
        rc = loomctl_profile(m, in, n_in, a.repeat, a.profile, a.profile_json);
out:
    for (size_t i = 0; i < n_in; i++)
        loom_tensor_destroy(in[i]);
    for (size_t o = 0; o < n_out; o++)
        loom_tensor_destroy(out[o]);
    free(in);
    free(out);
    for (int i = 0; i < a.n_inputs; i++)
        free(a.input_name[i]);
    for (int i = 0; i < a.n_dims; i++)
        free(a.dim_name[i]);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
    return rc;
}
