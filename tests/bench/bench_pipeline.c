/*
 * bench_pipeline.c - throughput of two-stage plans with pipelining
 * (loom_model_submit) against the synchronous path (loom_model_run), both
 * driven by the same number of caller threads, each with one request in
 * flight at a time:
 *
 *   card:0+cpu    an int8 model: its int8 convolution on the emulated card,
 *                 its float tail of convolutions on the CPU
 *   opencl:0+cpu  a float model: its first convolution on opencl:0, its
 *                 tail on the CPU (skipped when there is no OpenCL device)
 *
 * at concurrency 1, 8 and 32. Prints inferences per second of both paths
 * and their ratio, with the stage costs the pipeline measured. Pins make the
 * plans two stages whatever the cost model thinks. The emulated card and
 * PoCL both compute on this machine's CPUs, so the stages compete for the
 * same cores and the gain is bounded by the cores there are; a real card
 * computes on its own. Prints; never gates.
 *
 *   bench_pipeline [--seconds S] [--concurrency 1,8,32]
 *
 * Needs LOOM_XCLBIN (the emulated card's xclbin) unless the build's
 * bitstreams/ is found.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/model.h"
#include "core/pipeline.h"
#include "loom/loom.h"
#include "lib/onnx_builder.h"

#define MAX_THREADS 64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A deterministic pseudo-random weight pattern. */
static void fill_i8(int8_t *w, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (int8_t)((i * 37 + seed * 11) % 61 - 30);
}

static void fill_f32(float *w, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)((int)((i * 37 + seed * 11) % 61) - 30) * 0.002f;
}

#define C  16 /* channels */
#define HW 32 /* height and width */

/* Appends layer @l of a chain: @op(@prev@rest) -> "@out@l", named
 * "@name@l", with a 3x3 window's padding; @prev becomes its output. */
static void chain_layer(ob_model *m, const char *op, char prev[16], const char *rest,
                        const char *out, const char *name, int l)
{
    int64_t pads[4] = {1, 1, 1, 1};
    char args[64], o[16], nm[16];
    snprintf(args, sizeof(args), "%s%s", prev, rest);
    snprintf(o, sizeof(o), "%s%d", out, l);
    snprintf(nm, sizeof(nm), "%s%d", name, l);
    ob_node *n = ob_add_node(m, op, args, o);
    ob_attr_ints(m, n, "pads", 4, pads);
    ob_node_name(m, n, nm);
    snprintf(prev, 16, "%s", o);
}

/* Appends @n float Conv 3x3 layers "hcN" from @in, then Softmax "hs" -> y:
 * the tail the pins give the CPU. */
static void cpu_tail(ob_model *m, const char *in, int n)
{
    int64_t wd[4] = {C, C, 3, 3};
    static float fw[C * C * 9];
    fill_f32(fw, C * C * 9, 7);
    ob_init_f32(m, "fw", 4, wd, fw);
    char prev[16];
    snprintf(prev, sizeof(prev), "%s", in);
    for (int l = 0; l < n; l++)
        chain_layer(m, "Conv", prev, ",fw", "f", "hc", l);
    ob_node *sm = ob_add_node(m, "Softmax", prev, "y");
    ob_attr_int(m, sm, "axis", 1);
    ob_node_name(m, sm, "hs");
}

/* x u8[1,C,HW,HW] -> @dev_layers QLinearConv 3x3 "qN" -> DequantizeLinear
 * "hd" -> the CPU's tail of @cpu_layers convolutions. */
static ob_model *card_model(int dev_layers, int cpu_layers)
{
    int64_t xd[4] = {1, C, HW, HW}, wd[4] = {C, C, 3, 3};
    ob_model *m = ob_new(13);
    ob_input(m, "x", LOOM_DTYPE_UINT8, 4, xd);
    ob_output(m, "y", LOOM_DTYPE_FLOAT);
    float s = 0.02f, ws = 0.004f;
    ob_init_f32(m, "s", 0, NULL, &s);
    ob_init_f32(m, "ws", 0, NULL, &ws);
    ob_init_byte(m, "z", LOOM_DTYPE_UINT8, 0);
    ob_init_byte(m, "wz", LOOM_DTYPE_INT8, 0);
    static int8_t w[C * C * 9];
    fill_i8(w, sizeof(w), 3);
    ob_init_raw(m, "w", LOOM_DTYPE_INT8, 4, wd, w, sizeof(w));
    char prev[16] = "x";
    for (int l = 0; l < dev_layers; l++)
        chain_layer(m, "QLinearConv", prev, ",s,z,w,ws,wz,s,z", "c", "q", l);
    char args[40];
    snprintf(args, sizeof(args), "%s,s,z", prev);
    ob_node_name(m, ob_add_node(m, "DequantizeLinear", args, "d"), "hd");
    cpu_tail(m, "d", cpu_layers);
    return m;
}

/* x f32[1,C,HW,HW] -> @dev_layers (Conv 3x3 + Relu, "gcN", "grN") -> the
 * CPU's tail of @cpu_layers convolutions. */
static ob_model *opencl_model(int dev_layers, int cpu_layers)
{
    int64_t xd[4] = {1, C, HW, HW}, wd[4] = {C, C, 3, 3};
    ob_model *m = ob_new(13);
    ob_input(m, "x", LOOM_DTYPE_FLOAT, 4, xd);
    ob_output(m, "y", LOOM_DTYPE_FLOAT);
    static float w[C * C * 9];
    fill_f32(w, C * C * 9, 1);
    ob_init_f32(m, "w", 4, wd, w);
    char prev[16] = "x";
    for (int l = 0; l < dev_layers; l++) {
        chain_layer(m, "Conv", prev, ",w", "c", "gc", l);
        char ro[16], name[16];
        snprintf(ro, sizeof(ro), "r%d", l);
        snprintf(name, sizeof(name), "gr%d", l);
        ob_node_name(m, ob_add_node(m, "Relu", prev, ro), name);
        snprintf(prev, sizeof(prev), "%s", ro);
    }
    cpu_tail(m, prev, cpu_layers);
    return m;
}

typedef struct worker {
    loom_model *model;
    loom_tensor *x;
    bool pipelined;
    double until;
    long done;
    loom_status s;
} worker;

/* One caller: requests back to back until the deadline. */
static void *worker_main(void *p)
{
    worker *w = p;
    while (now_s() < w->until) {
        loom_tensor *y = NULL;
        if (w->pipelined) {
            loom_request *req;
            w->s = loom_model_submit(w->model, &w->x, 1, 1, NULL, NULL, &req);
            if (!w->s)
                w->s = loom_request_wait(req, &y, 1);
        } else {
            w->s = loom_model_run(w->model, &w->x, 1, &y, 1);
        }
        loom_tensor_destroy(y);
        if (w->s)
            return NULL;
        w->done++;
    }
    return NULL;
}

/* Inferences per second with @n callers for @seconds; < 0 on failure. */
static double throughput(loom_model *model, loom_tensor **x, int n, bool pipelined, double seconds)
{
    pthread_t t[MAX_THREADS];
    worker w[MAX_THREADS];
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        w[i] = (worker){.model = model, .x = x[i], .pipelined = pipelined, .until = t0 + seconds};
        if (pthread_create(&t[i], NULL, worker_main, &w[i]))
            return -1;
    }
    long done = 0;
    bool failed = false;
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        done += w[i].done;
        if (w[i].s) {
            fprintf(stderr, "%s: %s\n", loom_status_name(w[i].s), loom_last_error());
            failed = true;
        }
    }
    return failed ? -1 : (double)done / (now_s() - t0);
}

/* Inputs for @n callers, each its own. */
static void make_inputs(loom_dtype dt, loom_tensor **x, int n)
{
    int64_t xd[4] = {1, C, HW, HW};
    for (int i = 0; i < n; i++) {
        loom_tensor_create(dt, 4, xd, &x[i]);
        uint8_t *b = loom_tensor_data(x[i]);
        size_t count = (size_t)loom_tensor_count(x[i]);
        for (size_t e = 0; e < count; e++) {
            if (dt == LOOM_DTYPE_UINT8)
                b[e] = (uint8_t)((e * 7 + (size_t)i) % 200);
            else
                ((float *)b)[e] = (float)((e * 7 + (size_t)i) % 200) * 0.01f - 1.0f;
        }
    }
}

static int bench_plan(const char *label, const char *device, const char *pins, int emulated,
                      ob_model *om, loom_dtype dt, const int *conc, int n_conc, double seconds)
{
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = device;
    o.pins = pins;
    o.emulated_cards = emulated;
    o.objective = LOOM_OBJECTIVE_THROUGHPUT;
    loom_context *ctx = NULL;
    loom_model *model = NULL;
    if (loom_context_create(&o, &ctx)) {
        printf("%-14s skipped: %s\n", label, loom_last_error());
        ob_free(om);
        return 0;
    }
    if (ob_load(om, ctx, label, &model)) {
        printf("%-14s skipped: %s\n", label, loom_last_error());
        loom_context_destroy(ctx);
        return 0;
    }
    loom_tensor *x[MAX_THREADS];
    make_inputs(dt, x, MAX_THREADS);
    /* Warm up both paths: plans, device compiles, run states, the stage costs. */
    loom_tensor *y = NULL;
    loom_status s = loom_model_run(model, x, 1, &y, 1);
    loom_tensor_destroy(y);
    if (s || throughput(model, x, 2, false, 0.2) <= 0 || throughput(model, x, 2, true, 0.2) <= 0) {
        printf("%-14s failed: %s\n", label, loom_last_error());
        return 1;
    }
    for (int c = 0; c < n_conc; c++) {
        double sync = throughput(model, x, conc[c], false, seconds);
        double pipe = throughput(model, x, conc[c], true, seconds);
        if (sync <= 0 || pipe <= 0) {
            printf("%-14s %5d failed\n", label, conc[c]);
            return 1;
        }
        printf("%-14s %5d %12.1f %12.1f %7.2f\n", label, conc[c], sync, pipe, pipe / sync);
        fflush(stdout);
    }
    lm_pipe_stats st;
    lm_pipeline_stats(model, &st);
    printf("%-14s stages %d, measured", "", st.n_stages);
    for (int k = 0; k < st.n_stages; k++)
        printf(" %.0f us", st.cost_us[k]);
    printf(", queue depth %d\n", st.depth);
    /* The planner's throughput objective (the busiest device's share of a
     * request) against what the pipeline measured: the planner prices the
     * emulated card at the card's speed, not the emulation's. */
    double bottleneck_us = (double)model->plans->placement.eval.bottleneck_ns / 1e3;
    double slowest_us = 0;
    for (int k = 0; k < st.n_stages; k++)
        slowest_us = st.cost_us[k] > slowest_us ? st.cost_us[k] : slowest_us;
    printf("%-14s planner's bottleneck %.0f us (%.0f/s), measured slowest stage %.0f us "
           "(%.0f/s): ratio %.2f\n",
           "", bottleneck_us, 1e6 / bottleneck_us, slowest_us, 1e6 / slowest_us,
           slowest_us / bottleneck_us);
    for (int i = 0; i < MAX_THREADS; i++)
        loom_tensor_destroy(x[i]);
    loom_model_destroy(model);
    loom_context_destroy(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = 1.0;
    int conc[8] = {1, 8, 32}, n_conc = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--concurrency") && i + 1 < argc) {
            n_conc = 0;
            for (char *tok = strtok(argv[++i], ","); tok && n_conc < 8; tok = strtok(NULL, ","))
                conc[n_conc++] = atoi(tok) < 1             ? 1
                                 : atoi(tok) > MAX_THREADS ? MAX_THREADS
                                                           : atoi(tok);
        } else {
            fprintf(stderr, "usage: %s [--seconds S] [--concurrency 1,8,32]\n", argv[0]);
            return 2;
        }
    }
    printf("Throughput, inferences/s: conc callers, each with one request in flight, %.1f s a "
           "figure\n(sync: loom_model_run; pipelined: loom_model_submit + loom_request_wait)\n\n",
           seconds);
    printf("%-14s %5s %12s %12s %7s\n", "plan", "conc", "sync", "pipelined", "ratio");
    int rc = bench_plan("card:0+cpu", "card:0,cpu", "q*=card:0;h*=cpu", 1, card_model(1, 6),
                        LOOM_DTYPE_UINT8, conc, n_conc, seconds);
    rc |= bench_plan("opencl:0+cpu", "opencl:0,cpu", "g*=opencl:0;h*=cpu", 0, opencl_model(1, 12),
                     LOOM_DTYPE_FLOAT, conc, n_conc, seconds);
    return rc;
}
