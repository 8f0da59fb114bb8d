/*
 * shapes.c - `loomctl run MODEL --shapes FILE`: runs a sequence of input
 * shapes, as serving traffic brings them, and prints per shape the latency
 * of its first run (planning included when the shape is new), the p50 of
 * the runs after it, the process's RSS and the plan cache's state.
 *
 * FILE has one shape per line: symbolic dims by name, "batch=4 seq=17" (or
 * comma-separated); '#' starts a comment. Input data is a fixed pattern
 * (integers 0..6), so the figures compare between runs and with peers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/tensor.h"
#include "loomctl.h"

#define MAX_DIMS  16
#define MAX_IN    64
#define MAX_RUNS  1000
#define LINE_SIZE 1024

typedef struct dim_binding {
    int n;
    char name[MAX_DIMS][64];
    int64_t value[MAX_DIMS];
} dim_binding;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Resident set size of this process in MiB (/proc/self/statm), or -1. */
double loomctl_rss_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages_total, pages_rss;
    if (!f)
        return -1;
    int got = fscanf(f, "%ld %ld", &pages_total, &pages_rss);
    fclose(f);
    return got == 2 ? (double)pages_rss * (double)sysconf(_SC_PAGESIZE) / (1 << 20) : -1;
}

/* Parses "a=1 b=2" or "a=1,b=2" into @b; -1 on a malformed entry. */
static int parse_line(char *line, dim_binding *b)
{
    b->n = 0;
    for (char *tok = strtok(line, " ,\t\r\n"); tok; tok = strtok(NULL, " ,\t\r\n")) {
        char *eq = strchr(tok, '='), *end;
        if (!eq || eq == tok || b->n == MAX_DIMS || (size_t)(eq - tok) >= sizeof(b->name[0]))
            return -1;
        long long v = strtoll(eq + 1, &end, 10);
        if (*end || end == eq + 1 || v < 0 || v > (1 << 30))
            return -1;
        memcpy(b->name[b->n], tok, (size_t)(eq - tok));
        b->name[b->n][eq - tok] = '\0';
        b->value[b->n++] = v;
    }
    return 0;
}

/* The size of dim @d of @info under @b: fixed dims as declared, symbolic
 * ones by name, 1 when the line does not name them. */
static int64_t dim_size(const loom_value_info *info, int d, const dim_binding *b)
{
    if (info->dims[d] >= 0)
        return info->dims[d];
    for (int i = 0; info->dim_names[d] && i < b->n; i++)
        if (strcmp(info->dim_names[d], b->name[i]) == 0)
            return b->value[i];
    return 1;
}

static int make_inputs(loom_model *m, const dim_binding *b, loom_tensor **in, size_t n_in)
{
    for (size_t i = 0; i < n_in; i++) {
        loom_value_info info;
        int64_t dims[LOOM_MAX_RANK];
        loom_model_input_info(m, i, &info);
        for (int d = 0; d < info.rank; d++)
            dims[d] = dim_size(&info, d, b);
        if (loom_tensor_create(info.dtype, info.rank, dims, &in[i]))
            return -1;
        int64_t n = loom_tensor_count(in[i]);
        for (int64_t k = 0; k < n; k++)
            lm_tensor_set_f64(in[i], k,
                              lm_dtype_is_float(info.dtype) ? (double)(k % 7) / 7.0 : 1 + k % 7);
    }
    return 0;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs @repeat + 1 times; *@first gets the first run's ms, *@p50 the rest's. */
static int time_shape(loom_model *m, loom_tensor **in, size_t n_in, size_t n_out, int repeat,
                      double *first, double *p50)
{
    static double ms[MAX_RUNS + 1];
    for (int r = 0; r <= repeat; r++) {
        loom_tensor *out[MAX_IN];
        double t0 = now_ms();
        if (loom_model_run(m, in, n_in, out, n_out))
            return -1;
        ms[r] = now_ms() - t0;
        for (size_t o = 0; o < n_out; o++)
            loom_tensor_destroy(out[o]);
    }
    *first = ms[0];
    qsort(ms + 1, (size_t)repeat, sizeof(double), compare_double);
    *p50 = repeat ? ms[1 + (repeat - 1) / 2] : ms[0];
    return 0;
}

/* Runs one line's shape and prints its figures; -1 on failure. */
static int run_line(loom_model *m, char *line, int lineno, int repeat)
{
    char shown[LINE_SIZE];
    snprintf(shown, sizeof(shown), "%s", line);
    shown[strcspn(shown, "\r\n")] = '\0';
    dim_binding b;
    if (parse_line(line, &b)) {
        fprintf(stderr, "loomctl run: --shapes line %d: want NAME=SIZE ..., got '%s'\n", lineno,
                shown);
        return -1;
    }
    size_t n_in = loom_model_input_count(m), n_out = loom_model_output_count(m);
    loom_tensor *in[MAX_IN] = {0};
    double first = 0, p50 = 0;
    int rc = n_in > MAX_IN || n_out > MAX_IN || make_inputs(m, &b, in, n_in) ||
                     time_shape(m, in, n_in, n_out, repeat, &first, &p50)
                 ? -1
                 : 0;
    for (size_t i = 0; i < n_in; i++)
        loom_tensor_destroy(in[i]);
    if (rc) {
        fprintf(stderr, "loomctl run: --shapes line %d (%s): %s\n", lineno, shown,
                loom_last_error());
        return -1;
    }
    loom_model_stats st = {.struct_size = sizeof(st)};
    loom_model_get_stats(m, &st);
    printf("shape %-24s first %8.3f ms  p50 %8.3f ms  rss %7.1f MiB  plans %d (%.1f MiB)\n", shown,
           first, p50, loomctl_rss_mib(), st.plans, (double)st.plan_bytes / (1 << 20));
    return 0;
}

int loomctl_run_shapes(loom_model *m, const char *path, int repeat)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 1;
    }
    char line[LINE_SIZE];
    int lineno = 0, rc = 0;
    if (repeat > MAX_RUNS)
        repeat = MAX_RUNS;
    while (!rc && fgets(line, sizeof(line), f)) {
        lineno++;
        line[strcspn(line, "#")] = '\0';
        if (strspn(line, " \t\r\n") == strlen(line))
            continue;
        rc = run_line(m, line, lineno, repeat) ? 1 : 0;
    }
    fclose(f);
    return rc;
}
