/*
 * harness.c - the cross-backend op harness (loom-ops), in the spirit of
 * ggml's test-backend-ops: every (op, shape case) of cases_*.c runs on random
 * data on each device and on the CPU reference, through the public API only.
 *
 * Each device gets one context, created once (OpenCL builds its programs
 * once per context); the device contexts are fail-closed, so a node the
 * device does not claim fails at planning with LOOM_ERR_UNSUPPORTED: that
 * pair is reported unsupported, never failed. Outputs are written by
 * loom_model_run_into() into buffers with sentinel bytes on both sides, and
 * inputs are checked unchanged after each run.
 *
 *   loom-ops [-v] [-x] [-d cpu,opencl:0,card:0] [-o OP] [-s SEED]
 *
 * -v prints every pair, -x compares every device bit for bit (to see how far
 * each float op is from the CPU), -o runs one op family, -s another seed.
 *
 * Prints one line per failure, `device: P passed, F failed, U unsupported`
 * per device (or why it is absent), and last `N passed, N failed`.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cases.h"
#include "check.h"
#include "model.h"
#include "rng.h"

/*
 * Float tolerances for a device that is not bit-identical to the CPU
 * (OpenCL): |got - want| <= atol + rtol |want|, inputs mostly in [-1, 1).
 * `loom-ops -x` shows the real differences (PoCL, December 2026: GEMM and
 * MatMul bit-identical, everything else within 1-2 ulp per value, the worst
 * 3.6e-6 absolute on a 1000-long ReduceSum).
 * - EXACT: no arithmetic (copies, max/min, compare, pooling max): any
 *   difference is a bug.
 * - ROUNDED: one or two IEEE ops per element, correctly rounded on both
 *   sides, but OpenCL C may contract a*b+c into fma and allows 2.5 ulp for
 *   division: a few ulp.
 * - MATH: exp/tanh/erf/pow come from different math libraries (OpenCL
 *   allows 2-4 ulp, glibc and our vectorised ones 1-2): ~100 ulp of slack
 *   for the chains (Selu, Softplus, Softmax) that compound them.
 * - SUM: conv, GEMM, pooling averages, norms and reductions add in another
 *   order (tiles, work-groups): the error grows with the reduction length
 *   K as K * eps * sum |terms|; the bound of the per-backend tests this
 *   replaces (1e-5 + 1e-4 relative) covers K up to a few thousand here.
 */
static const struct {
    double atol, rtol;
} tolerances[] = {
    [OPS_EXACT] = {0, 0},
    [OPS_ROUNDED] = {1e-6, 1e-6},
    [OPS_MATH] = {1e-5, 1e-5},
    [OPS_SUM] = {1e-5, 1e-4},
};

typedef struct device {
    const char *name;
    int emulated_cards; /* for card:N: how many to emulate */
    uint32_t numeric;   /* LOOM_NUMERIC_*: the op classes it computes bit-identically */
    loom_context *ctx;
    char absent[200]; /* why there is no context; "" when there is one */
    int pass, fail, unsup;
} device;

/* Which comparison a device gets comes from its numeric class
 * (loom_device_info.numeric): the card's int8 CUs reproduce the CPU's
 * requantization in integer logic (hls/loom_cu.h), so its 8-bit cases are
 * compared exactly, floats and all; OpenCL's float kernels get tolerances. */
static device devices[] = {
    {.name = "cpu"},
    {.name = "opencl:0"},
    {.name = "card:0", .emulated_cards = 1},
};
#define N_DEVICES (sizeof(devices) / sizeof(devices[0]))

typedef struct options {
    bool verbose;
    bool all_exact;           /* -x: no tolerance anywhere */
    const char *only_devices; /* comma list, NULL: all */
    const char *only_op;      /* NULL: all */
    uint32_t seed;
} options;

enum verdict { PASS, FAIL, UNSUPPORTED };

/* ---- devices ---- */

static bool wanted(const char *list, const char *name)
{
    if (!list)
        return true;
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)); p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

static void open_device(device *d)
{
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = d->name;
    o.num_threads = strcmp(d->name, "cpu") == 0 ? 2 : 1;
    o.fail_closed = 1; /* ignored for "cpu" */
    o.emulated_cards = d->emulated_cards ? d->emulated_cards : -1;
    loom_device_info info = {.struct_size = sizeof(info)};
    if (loom_context_create(&o, &d->ctx) || loom_context_device_info(d->ctx, 0, &info))
        snprintf(d->absent, sizeof(d->absent), "%s", loom_last_error());
    d->numeric = info.numeric;
}

/* The numeric class of a case: 8-bit cases are int8 ones, float or not. */
static uint32_t case_numeric(const op_case *c)
{
    return c >= ops_quant_cases && c < ops_quant_cases + ops_quant_count ? LOOM_NUMERIC_INT8
                                                                         : LOOM_NUMERIC_FP32;
}

/* ---- inputs ---- */

typedef struct case_inputs {
    int n;
    loom_tensor *t[OPS_MAX_INPUTS];
    void *copy[OPS_MAX_INPUTS]; /* to notice a run writing into an input */
} case_inputs;

static void inputs_free(case_inputs *in)
{
    for (int i = 0; i < in->n; i++) {
        loom_tensor_destroy(in->t[i]);
        free(in->copy[i]);
    }
    in->n = 0;
}

static int inputs_make(const ops_model *m, uint32_t seed, case_inputs *in)
{
    uint32_t rng = seed ^ 0x5bd1e995u;
    memset(in, 0, sizeof(*in));
    for (int i = 0; i < m->n_inputs; i++) {
        const ops_input *s = &m->inputs[i];
        if (loom_tensor_create(s->dtype, s->rank, s->dims, &in->t[i]))
            return -1;
        in->n++;
        size_t size = loom_tensor_size(in->t[i]);
        ops_fill_random(loom_tensor_data(in->t[i]), s->dtype, (size_t)loom_tensor_count(in->t[i]),
                        s->lo, s->hi, &rng);
        if (!(in->copy[i] = malloc(size ? size : 1)))
            return -1;
        memcpy(in->copy[i], loom_tensor_data(in->t[i]), size);
    }
    return 0;
}

static int inputs_changed(const case_inputs *in)
{
    for (int i = 0; i < in->n; i++)
        if (memcmp(in->copy[i], loom_tensor_data(in->t[i]), loom_tensor_size(in->t[i])))
            return i;
    return -1;
}

/* ---- one run on one device ---- */

typedef struct pair {
    const op_case *c;
    const ops_model *m;
    const case_inputs *in;
    loom_tensor *const *ref; /* the CPU's outputs; NULL while computing them */
    char why[400];           /* what failed */
} pair;

static void print_fail(const pair *p, const device *d)
{
    printf("FAIL %s [%s] on %s: %s\n", p->c->op, p->c->name, d->name, p->why);
}

static bool all_exact; /* -x */

/* Checks guards and values of output @o against @want. */
static enum verdict check_output(pair *p, const device *d, int o, const ops_guarded *g,
                                 const loom_tensor *want)
{
    size_t off;
    const char *side = ops_guarded_broken(g, &off);
    if (side) {
        snprintf(p->why, sizeof(p->why), "output %d overran its buffer: byte %zu %s it was written",
                 o, off, side);
        return FAIL;
    }
    bool exact = all_exact || (d->numeric & case_numeric(p->c)) ||
                 loom_tensor_dtype(want) != LOOM_DTYPE_FLOAT;
    double atol = exact ? 0 : tolerances[p->c->tol].atol;
    double rtol = exact ? 0 : tolerances[p->c->tol].rtol;
    ops_diff diff;
    ops_compare(want, g->t, atol, rtol, &diff);
    if (!diff.bad)
        return PASS;
    snprintf(p->why, sizeof(p->why),
             "output %d: %zu of %lld elements off (atol %g rtol %g): max abs %.3g, max rel %.3g, "
             "worst at %zu: got %.9g, want %.9g",
             o, diff.bad, (long long)loom_tensor_count(want), atol, rtol, diff.max_abs,
             diff.max_rel, diff.worst, diff.got, diff.want);
    return FAIL;
}

static enum verdict status_verdict(pair *p, loom_status s, const char *stage)
{
    if (s == LOOM_ERR_UNSUPPORTED)
        return UNSUPPORTED;
    snprintf(p->why, sizeof(p->why), "%s: %s: %s", stage, loom_status_name(s), loom_last_error());
    return FAIL;
}

/* Runs @model into guarded copies of @shapes and checks them against @want. */
static enum verdict run_guarded(pair *p, const device *d, loom_model *model,
                                loom_tensor *const *shapes, loom_tensor *const *want)
{
    int n = p->m->n_outputs;
    ops_guarded g[OPS_MAX_OUTPUTS] = {0};
    loom_tensor *outs[OPS_MAX_OUTPUTS];
    enum verdict v = PASS;
    loom_status s = LOOM_OK;
    for (int o = 0; o < n && !s; o++) {
        s = ops_guarded_create(shapes[o], &g[o]);
        outs[o] = g[o].t;
    }
    if (!s)
        s = loom_model_run_into(model, p->in->t, (size_t)p->in->n, outs, (size_t)n);
    int changed = s ? -1 : inputs_changed(p->in);
    if (s) {
        v = status_verdict(p, s, "run");
    } else if (changed >= 0) {
        snprintf(p->why, sizeof(p->why), "input %d was modified by the run", changed);
        v = FAIL;
    }
    for (int o = 0; o < n && v == PASS; o++)
        v = check_output(p, d, o, &g[o], want[o]);
    for (int o = 0; o < n; o++)
        ops_guarded_free(&g[o]);
    return v;
}

/* The CPU: loom_model_run() gives the reference and its shapes; a second
 * run into guarded buffers must reproduce it bit for bit. */
static enum verdict run_reference(pair *p, const device *cpu, loom_tensor **ref)
{
    loom_model *model = NULL;
    loom_status s = loom_model_load_memory(cpu->ctx, p->m->bytes, p->m->len, p->c->op, &model);
    if (s)
        return status_verdict(p, s, "load");
    s = loom_model_run(model, p->in->t, (size_t)p->in->n, ref, (size_t)p->m->n_outputs);
    enum verdict v = s ? status_verdict(p, s, "run") : run_guarded(p, cpu, model, ref, ref);
    loom_model_destroy(model);
    return v;
}

/* Jobs the context's own device (index 0; the CPU is last) has completed. */
static uint64_t device_jobs(const device *d)
{
    loom_device_stats st = {.struct_size = sizeof(st)};
    return loom_context_device_stats(d->ctx, 0, &st) ? 0 : st.jobs;
}

static enum verdict run_device(pair *p, const device *d)
{
    loom_model *model = NULL;
    loom_status s = loom_model_load_memory(d->ctx, p->m->bytes, p->m->len, p->c->op, &model);
    if (s)
        return status_verdict(p, s, "load");
    uint64_t jobs = device_jobs(d);
    enum verdict v = run_guarded(p, d, model, p->ref, p->ref);
    /* Fail-closed means the device ran it: a pass that never reached the
     * device would be the CPU agreeing with itself. */
    if (v == PASS && device_jobs(d) == jobs) {
        snprintf(p->why, sizeof(p->why), "passed without a job on the device");
        v = FAIL;
    }
    loom_model_destroy(model);
    return v;
}

/* ---- cases ---- */

static void count(device *d, enum verdict v, pair *p, bool verbose)
{
    if (v == PASS)
        d->pass++;
    else if (v == FAIL)
        d->fail++;
    else
        d->unsup++;
    if (v == FAIL)
        print_fail(p, d);
    else if (verbose)
        printf("%-11s %s [%s] on %s\n", v == PASS ? "ok" : "unsupported", p->c->op, p->c->name,
               d->name);
}

/* A seed per case from its names, so adding a case changes no other's data. */
static uint32_t case_seed(const op_case *c, uint32_t seed)
{
    uint32_t h = 2166136261u ^ seed;
    for (const char *s = c->op; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    for (const char *s = c->name; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static void run_case(const op_case *c, const options *opt)
{
    device *cpu = &devices[0];
    uint32_t seed = case_seed(c, opt->seed);
    ops_model m;
    case_inputs in = {0};
    pair p = {.c = c, .m = &m, .in = &in};
    bool built = ops_model_build(c, seed, &m, p.why, sizeof(p.why)) == 0;
    if (!built || inputs_make(&m, seed, &in)) {
        if (built)
            snprintf(p.why, sizeof(p.why), "out of memory for the inputs");
        count(cpu, FAIL, &p, opt->verbose);
        inputs_free(&in);
        ops_model_free(&m);
        return;
    }
    loom_tensor *ref[OPS_MAX_OUTPUTS] = {0};
    enum verdict v = run_reference(&p, cpu, ref);
    count(cpu, v, &p, opt->verbose);
    p.ref = ref;
    for (size_t i = 1; i < N_DEVICES && v == PASS; i++)
        if (devices[i].ctx)
            count(&devices[i], run_device(&p, &devices[i]), &p, opt->verbose);
    for (int o = 0; o < m.n_outputs; o++)
        loom_tensor_destroy(ref[o]);
    inputs_free(&in);
    ops_model_free(&m);
}

static void run_table(const op_case *cases, size_t n, const options *opt)
{
    for (size_t i = 0; i < n; i++)
        if (!opt->only_op || strcmp(opt->only_op, cases[i].op) == 0)
            run_case(&cases[i], opt);
}

/* ---- main ---- */

static int parse_args(int argc, char **argv, options *opt)
{
    *opt = (options){.seed = 20261207};
    for (int i = 1; i < argc; i++) {
        bool more = i + 1 < argc;
        if (strcmp(argv[i], "-v") == 0)
            opt->verbose = true;
        else if (strcmp(argv[i], "-x") == 0)
            opt->all_exact = true;
        else if (strcmp(argv[i], "-d") == 0 && more)
            opt->only_devices = argv[++i];
        else if (strcmp(argv[i], "-o") == 0 && more)
            opt->only_op = argv[++i];
        else if (strcmp(argv[i], "-s") == 0 && more)
            opt->seed = (uint32_t)strtoul(argv[++i], NULL, 0);
        else
            return -1;
    }
    return 0;
}

/* The checker checked: a byte written just past an output must show. */
static bool sentinels_work(void)
{
    int64_t dims[1] = {3};
    loom_tensor *like = NULL;
    ops_guarded g;
    size_t off = 0;
    if (loom_tensor_create(LOOM_DTYPE_FLOAT, 1, dims, &like) || ops_guarded_create(like, &g)) {
        loom_tensor_destroy(like);
        return false;
    }
    bool clean = ops_guarded_broken(&g, &off) == NULL;
    ((uint8_t *)loom_tensor_data(g.t))[loom_tensor_size(like)] ^= 1;
    const char *side = ops_guarded_broken(&g, &off);
    bool caught = side && strcmp(side, "after") == 0 && off == 1;
    ops_guarded_free(&g);
    loom_tensor_destroy(like);
    return clean && caught;
}

static int summarize(double seconds, bool whole_table)
{
    int pass = 0, fail = 0;
    for (size_t i = 0; i < N_DEVICES; i++) {
        device *d = &devices[i];
        /* A present device that claims nothing at all has a broken supports
         * or setup (an unprogrammed card refuses every node): not a pass. */
        if (whole_table && d->ctx && d->pass + d->fail == 0 && d->unsup > 0) {
            printf("FAIL %s claims none of the %d cases it was offered\n", d->name, d->unsup);
            d->fail++;
        }
        if (d->ctx)
            printf("%s: %d passed, %d failed, %d unsupported\n", d->name, d->pass, d->fail,
                   d->unsup);
        else
            printf("%s: absent (%s)\n", d->name, d->absent);
        pass += d->pass;
        fail += d->fail;
        loom_context_destroy(d->ctx);
    }
    printf("(op, case) pairs in %.1f s\n", seconds);
    printf("%d passed, %d failed\n", pass, fail);
    return fail ? 1 : 0;
}

int main(int argc, char **argv)
{
    options opt;
    if (parse_args(argc, argv, &opt)) {
        fprintf(stderr, "usage: %s [-v] [-x] [-d cpu,opencl:0,card:0] [-o OP] [-s SEED]\n",
                argv[0]);
        return 2;
    }
    if (!sentinels_work()) {
        printf("the output sentinels do not catch an overrun\n0 passed, 1 failed\n");
        return 1;
    }
    all_exact = opt.all_exact;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < N_DEVICES; i++) {
        if (i == 0 || wanted(opt.only_devices, devices[i].name))
            open_device(&devices[i]);
        else
            snprintf(devices[i].absent, sizeof(devices[i].absent), "not selected with -d");
    }
    if (!devices[0].ctx) {
        printf("cpu: %s\n0 passed, 1 failed\n", devices[0].absent);
        return 1;
    }
    run_table(ops_float_cases, ops_float_count, &opt);
    run_table(ops_quant_cases, ops_quant_count, &opt);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    return summarize(seconds, !opt.only_op);
}
