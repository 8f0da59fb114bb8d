/*
 * profile.c - loom_model_profile_json(): runs a model with every step timed
 * and compares the times with the planner's estimates; the measured times
 * feed the cost cache, so later plans estimate from them.
 *
 * A host step is timed alone. A device runs its segment as a whole: the
 * segment's time is shared among its nodes in proportion to their estimates
 * (evenly when they have none), and only a one-node segment's time is kept
 * as that node's measured cost. An emulated device's times are the
 * emulation's: reported, marked, and never kept as the device's cost.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "device.h"
#include "error.h"
#include "jsonw.h"
#include "model.h"
#include "opcost.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The median of column @step of @runs rows of @n values, in µs. */
static double p50_us(uint64_t *t, int runs, int n, int step, uint64_t *col)
{
    for (int r = 0; r < runs; r++)
        col[r] = t[(size_t)r * (size_t)n + (size_t)step];
    qsort(col, (size_t)runs, sizeof(uint64_t), cmp_u64);
    return (double)col[runs / 2] / 1e3;
}

/* Per step: the measured time, a device segment's shared out. */
static void measured_per_step(const lm_plan *p, uint64_t *t, int runs, double *us)
{
    uint64_t col[runs];
    for (int s = 0; s < p->n_segments; s++) {
        const lm_plan_segment *sg = &p->segments[s];
        if (lm_device_runs_host_kernels(sg->dev)) {
            for (int i = sg->first; i <= sg->last; i++)
                us[i] = p50_us(t, runs, p->n_steps, i, col);
            continue;
        }
        double total = p50_us(t, runs, p->n_steps, sg->first, col), est = 0;
        int n = sg->last - sg->first + 1;
        for (int i = sg->first; i <= sg->last; i++)
            est += p->notes[i].est_us > 0 ? p->notes[i].est_us : 0;
        for (int i = sg->first; i <= sg->last; i++)
            us[i] = est > 0 ? total * (p->notes[i].est_us > 0 ? p->notes[i].est_us : 0) / est
                            : total / n;
    }
}

/* Keeps what was measured of a node alone as its cost. */
static void feed_cache(const loom_model *m, const lm_plan *p, const double *us)
{
    for (int s = 0; s < p->n_segments; s++) {
        const lm_plan_segment *sg = &p->segments[s];
        /* An emulated card's wall time is the emulation's, never the card's. */
        if ((!lm_device_runs_host_kernels(sg->dev) && sg->first != sg->last) ||
            (sg->dev->props.flags & LM_DEVICE_EMULATED))
            continue;
        for (int i = sg->first; i <= sg->last; i++) {
            const lm_node *n = &m->g->nodes[p->steps[i]];
            loom_tensor *in[n->n_in + 1];
            bool known = true;
            for (int k = 0; k < n->n_in; k++) {
                in[k] = n->in[k] >= 0 && p->shape_known[n->in[k]] ? &p->shapes[n->in[k]] : NULL;
                known &= n->in[k] < 0 || in[k] != NULL;
            }
            if (known)
                lm_cost_measured(sg->dev, n, in, us[i]);
        }
    }
    lm_cost_cache_save();
}

static void write_node(lm_json *j, const lm_node *n, const lm_device *dev, double us, double est)
{
    lm_json_begin_object(j);
    lm_json_key(j, "name");
    lm_json_string(j, n->name);
    lm_json_key(j, "op");
    lm_json_string(j, n->op_type);
    lm_json_key(j, "device");
    lm_json_string(j, dev->name);
    lm_json_key(j, "measured_us");
    lm_json_number(j, us);
    lm_json_key(j, "est_us");
    lm_json_number(j, est >= 0 ? est : NAN);
    lm_json_key(j, "error");
    lm_json_number(j, est > 0 ? us / est - 1.0 : NAN);
    lm_json_end_object(j);
}

static char *profile_json(const loom_model *m, const lm_plan *p, const double *us, int runs)
{
    lm_json j = {0};
    double dev_us[LM_MAX_DEVICES] = {0}, dev_est[LM_MAX_DEVICES] = {0}, total = 0, total_est = 0;
    const loom_context *ctx = m->ctx;
    lm_json_begin_object(&j);
    lm_json_key(&j, "model");
    lm_json_string(&j, m->name);
    lm_json_key(&j, "runs");
    lm_json_int(&j, runs);
    lm_json_key(&j, "nodes");
    lm_json_begin_array(&j);
    for (int s = 0; s < p->n_segments; s++) {
        const lm_plan_segment *sg = &p->segments[s];
        int d = 0;
        while (d < ctx->n_devices - 1 && ctx->devices[d] != sg->dev)
            d++;
        for (int i = sg->first; i <= sg->last; i++) {
            double est = p->notes[i].est_us;
            write_node(&j, &m->g->nodes[p->steps[i]], sg->dev, us[i], est);
            dev_us[d] += us[i];
            total += us[i];
            dev_est[d] += est > 0 ? est : 0;
            total_est += est > 0 ? est : 0;
        }
    }
    lm_json_end_array(&j);
    lm_json_key(&j, "devices");
    lm_json_begin_array(&j);
    for (int d = 0; d < ctx->n_devices; d++) {
        lm_json_begin_object(&j);
        lm_json_key(&j, "name");
        lm_json_string(&j, ctx->devices[d]->name);
        lm_json_key(&j, "measured_us");
        lm_json_number(&j, dev_us[d]);
        lm_json_key(&j, "est_us");
        lm_json_number(&j, dev_est[d]);
        lm_json_key(&j, "emulated");
        lm_json_int(&j, (ctx->devices[d]->props.flags & LM_DEVICE_EMULATED) != 0);
        lm_json_end_object(&j);
    }
    lm_json_end_array(&j);
    lm_json_key(&j, "total_measured_us");
    lm_json_number(&j, total);
    lm_json_key(&j, "total_est_us");
    lm_json_number(&j, total_est);
    lm_json_end_object(&j);
    return lm_json_finish(&j);
}

/* Runs the model @runs times with every step timed into @t (runs x n_steps). */
static loom_status timed_runs(loom_model *m, loom_tensor *const *inputs, size_t n_inputs, int runs,
                              int n_steps, uint64_t *t)
{
    size_t n_out = (size_t)m->g->n_outputs;
    loom_tensor *out[n_out + 1];
    for (int r = 0; r < runs; r++) {
        loom_status s = lm_model_run_timed(m, inputs, n_inputs, out, n_out,
                                           n_steps ? t + (size_t)r * (size_t)n_steps : NULL);
        if (s)
            return s;
        for (size_t o = 0; o < n_out; o++)
            loom_tensor_destroy(out[o]);
    }
    return LOOM_OK;
}

loom_status loom_model_profile_json(loom_model *m, loom_tensor *const *inputs, size_t n_inputs,
                                    int runs, char **json)
{
    if (!m || !json || (n_inputs && !inputs))
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_model_profile_json: NULL argument");
    if (runs < 1 || runs > 100000)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "runs %d is out of range 1..100000", runs);
    *json = NULL;
    lm_plan *p;
    uint64_t warm[1];
    /* One untimed run checks the inputs and warms caches; then the plan it used. */
    loom_status s = timed_runs(m, inputs, n_inputs, 1, 0, warm);
    if (s || (s = lm_plan_get(m, inputs, &p)))
        return s;
    uint64_t *t = calloc((size_t)runs * (size_t)p->n_steps + 1, sizeof(uint64_t));
    double *us = calloc((size_t)p->n_steps + 1, sizeof(double));
    if (!t || !us)
        s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    if (!s && !(s = timed_runs(m, inputs, n_inputs, runs, p->n_steps, t))) {
        measured_per_step(p, t, runs, us);
        feed_cache(m, p, us);
        if (!(*json = profile_json(m, p, us, runs)))
            s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory writing the profile");
    }
    free(t);
    free(us);
    lm_plan_put(m, p);
    return s;
}
