/*
 * run.c - executes a plan: binds inputs, runs each step's kernel, hands back
 * outputs.
 *
 * Each run takes a run state from the plan (see arena.c): intermediates live
 * in its arena at planned offsets, tensor headers and the value table are
 * reused, and kernels' scratch comes from a buffer that grows to the largest
 * demand and then stays. In steady state a run allocates only the outputs it
 * returns, and nothing at all through loom_model_run_into().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deadline.h"
#include "exec.h"
#include "op.h"
#include "device.h"
#include "env.h"
#include "error.h"
#include "health.h"
#include "log.h"
#include "model.h"
#include "run.h"

#define SCRATCH_ALIGN 64

/* The header for value @v in this run: reused, or malloc'd when it goes to the caller. */
static loom_tensor *value_header(lm_run_state *rs, int v)
{
    /* A graph output goes to the caller in its own header, unless the caller
     * gave a tensor to write into (run_into). */
    if (!rs || v < 0 || (rs->g->values[v].is_output && !rs->user_out[v])) {
        loom_tensor *t = malloc(sizeof(loom_tensor)); /* outputs go to the caller */
        if (t)
            t->pooled = false;
        return t;
    }
    rs->hdr[v].pooled = true;
    return &rs->hdr[v];
}

loom_tensor *lm_exec_output_header(lm_kctx *k, int i)
{
    return value_header(k->run, k->node->out[i]);
}

/* Storage for value @v: the caller's tensor, the arena, or the heap. Zeroed
 * unless @zero is false (a producer that stores every element: a detector's
 * megabytes of output are not cleared first). */
static loom_status alloc_value_data(lm_run_state *rs, int v, loom_tensor *t, bool zero)
{
    if (rs && v >= 0) {
        loom_tensor *user = rs->user_out[v];
        if (user) { /* loom_model_run_into: write straight into the caller's tensor */
            if (user->dtype != t->dtype || user->nbytes != t->nbytes || user->rank != t->rank ||
                memcmp(user->dims, t->dims, sizeof(int64_t) * (size_t)t->rank) != 0)
                return lm_error(LOOM_ERR_SHAPE, "output '%s' does not fit the caller's tensor",
                                rs->g->values[v].name);
            t->data = user->data;
            if (zero)
                memset(t->data, 0, t->nbytes);
            return LOOM_OK;
        }
        int64_t off = rs->plan->arena_offset[v];
        if (off >= 0 && (size_t)off + t->nbytes <= rs->plan->arena_bytes) {
            t->data = rs->arena + off;
            if (zero) /* kernels may rely on zeroed outputs */
                memset(t->data, 0, t->nbytes);
            return LOOM_OK;
        }
    }
    return zero ? lm_tensor_alloc_data(t) : lm_tensor_alloc_data_unset(t);
}

/* Whether @t's bytes overlap one of @k's inputs': a view, or in place. */
static bool aliases_input(const lm_kctx *k, const loom_tensor *t)
{
    const uint8_t *lo = t->data, *hi = lo + t->nbytes;
    for (int i = 0; i < k->n_in; i++) {
        const loom_tensor *x = k->in[i];
        if (x && x->data && (const uint8_t *)x->data < hi &&
            lo < (const uint8_t *)x->data + x->nbytes)
            return true;
    }
    return false;
}

loom_status lm_exec_alloc_output(lm_kctx *k, int i, loom_tensor *t)
{
    bool zero = !(k->node->op && (k->node->op->flags & LM_OP_WRITES_OUTPUTS));
    loom_status s = alloc_value_data(k->run, k->node->out[i], t, zero);
    /* Tests: a kernel that claims every element but skips one shows. */
    if (!s && !zero && t->data && t->nbytes && lm_env_flag(LM_ENV_POISON_OUTPUTS) &&
        !aliases_input(k, t))
        memset(t->data, 0xA5, t->nbytes);
    return s;
}

void *lm_exec_scratch(lm_kctx *k, size_t bytes)
{
    lm_run_state *rs = k->run;
    if (!rs)
        return NULL;
    size_t need = (bytes + SCRATCH_ALIGN - 1) & ~(size_t)(SCRATCH_ALIGN - 1);
    rs->scratch_demand += need;
    if (rs->scratch_cap - rs->scratch_used < need)
        return NULL; /* the caller falls back to the heap this time */
    void *p = rs->scratch + rs->scratch_used;
    rs->scratch_used += need;
    return p;
}

/* After a kernel: grow the scratch buffer to what it asked for, for next time. */
static void reset_scratch(lm_run_state *rs)
{
    if (rs->scratch_demand > rs->scratch_cap) {
        uint8_t *grown = aligned_alloc(SCRATCH_ALIGN, rs->scratch_demand);
        if (grown) {
            free(rs->scratch);
            rs->scratch = grown;
            rs->scratch_cap = rs->scratch_demand;
        }
    }
    rs->scratch_used = 0;
    rs->scratch_demand = 0;
}

static lm_kctx make_kctx(const lm_node *node, loom_tensor *const *in, loom_tensor **out, bool dry,
                         struct lm_threadpool *pool)
{
    return (lm_kctx){
        .node = node,
        .n_in = node->n_in,
        .n_out = node->n_out,
        .in = in,
        .out = out,
        .dry = dry,
        .pool = pool,
    };
}

loom_status lm_run_node(const lm_node *node, loom_tensor *const *in, loom_tensor **out, bool dry,
                        void *prepared, struct lm_threadpool *pool, lm_run_state *rs)
{
    if (!dry && (node->op->flags & LM_OP_INFER_ONLY))
        return lm_error(LOOM_ERR_UNSUPPORTED, "node '%s' (%s): no host implementation", node->name,
                        node->op_type);
    lm_kctx k = make_kctx(node, in, out, dry, pool);
    k.prepared = prepared;
    k.run = rs;
    loom_status s = node->op->run(&k);
    if (s == LM_KOUT_FAILED && k.kout_status)
        s = k.kout_status; /* the kernel passed on lm_kout()'s failure */
    lm_kctx_release_scratch(&k);
    if (rs)
        reset_scratch(rs);
    if (s == LOOM_OK) {
        for (int o = 0; o < node->n_out; o++)
            if (node->out[o] >= 0 && !out[o])
                return lm_error(LOOM_ERR_RUNTIME, "node '%s' (%s): kernel produced no output %d",
                                node->name, node->op_type, o);
    }
    return s;
}

loom_status lm_prepare_node(const lm_node *node, loom_tensor *const *in, void **state,
                            struct lm_threadpool *pool, lm_prep_env *env)
{
    *state = NULL;
    if (!node->op->prepare)
        return LOOM_OK;
    loom_tensor *out[node->n_out + 1];
    memset(out, 0, sizeof(loom_tensor *) * (size_t)(node->n_out + 1));
    lm_kctx k = make_kctx(node, in, out, true, pool);
    k.prep = env;
    loom_status s = node->op->prepare(&k);
    lm_kctx_release_scratch(&k);
    for (int o = 0; o < node->n_out; o++)
        loom_tensor_destroy(out[o]);
    if (s && k.prepared && node->op->free_prepared)
        node->op->free_prepared(k.prepared);
    else
        *state = k.prepared;
    return s;
}

static loom_status check_inputs(const loom_model *m, loom_tensor *const *inputs)
{
    char got[128], want[128];
    for (int i = 0; i < m->g->n_inputs; i++) {
        const lm_value *v = &m->g->values[m->g->inputs[i]];
        const loom_tensor *t = inputs[i];
        if (!t || !t->data)
            return lm_error(LOOM_ERR_INVALID_ARGUMENT, "input '%s' is NULL", v->name);
        /* A subgraph's input may leave its type or its shape open. */
        if (v->dtype != LOOM_DTYPE_UNDEFINED && t->dtype != v->dtype)
            return lm_error(LOOM_ERR_INVALID_ARGUMENT, "input '%s' is %s, the model expects %s",
                            v->name, loom_dtype_name(t->dtype), loom_dtype_name(v->dtype));
        bool ok = v->rank < 0 || t->rank == v->rank;
        for (int d = 0; ok && d < v->rank; d++)
            ok = v->dims[d] < 0 || v->dims[d] == t->dims[d];
        if (!ok)
            return lm_error(LOOM_ERR_SHAPE, "input '%s' has shape %s, the model expects %s",
                            v->name, lm_dims_str(t->rank, t->dims, got, sizeof(got)),
                            lm_dims_str(v->rank, v->dims, want, sizeof(want)));
    }
    return LOOM_OK;
}

/* Drops this run's reference to value @v (frees heap data, keeps pooled headers). */
static void release_value(lm_run_state *rs, int v)
{
    if (rs->owned[v])
        loom_tensor_destroy(rs->val[v]);
    rs->val[v] = NULL;
    rs->owned[v] = false;
}

/* A device segment issued without waiting (lm_plan_segment.detach), in its
 * run state until the executor joins it. */
typedef struct lm_inflight {
    lm_event *done;   /* kept for the run state's next runs */
    loom_tensor **io; /* in[n_in] then out[n_out]: the device reads them until done */
    uint64_t t0;      /* when it was issued */
    bool pending;     /* issued and not joined yet */
} lm_inflight;

void lm_run_state_free_inflight(lm_run_state *rs)
{
    if (!rs->inflight)
        return;
    for (int i = 0; i < rs->n_inflight; i++) { /* the plan's segments may be gone */
        lm_event_unref(rs->inflight[i].done);
        free(rs->inflight[i].io);
    }
    free(rs->inflight);
    rs->inflight = NULL;
    rs->n_inflight = 0;
}

/* Gathers device segment @sg's host inputs into @in and makes its outputs'
 * host tensors in @out. */
static loom_status segment_io(const lm_plan *p, const lm_plan_segment *sg, lm_run_state *rs,
                              loom_tensor **in, loom_tensor **out)
{
    loom_status s = LOOM_OK;
    int made = 0;
    for (int i = 0; i < sg->n_in; i++)
        in[i] = rs->val[sg->in[i]];
    for (; made < sg->n_out && !s; made++) {
        int v = sg->out[made];
        loom_tensor *t = value_header(rs, v);
        if (!t) {
            s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
            break;
        }
        const loom_tensor *shape = &p->shapes[v];
        if ((s = lm_tensor_init_shape(t, shape->dtype, shape->rank, shape->dims)) ||
            (s = alloc_value_data(rs, v, t, true))) {
            if (!t->pooled)
                free(t);
            break;
        }
        out[made] = t;
        rs->val[v] = t;
        rs->owned[v] = true;
    }
    return s;
}

/* The outcome of a device segment's run issued at @t0: its status (the
 * error naming the device), and its time for the deadlines. */
static loom_status segment_done(const lm_plan_segment *sg, lm_event *done, uint64_t t0)
{
    loom_status s = lm_event_wait(done);
    if (s)
        lm_error_prefix_device(sg->dev->name);
    else
        lm_latency_record(sg->lat, lm_now_ns() - t0);
    return s;
}

/* Runs device segment @sg, one of @jobs on its device now: host inputs in,
 * escaping outputs back to host tensors. */
static loom_status run_device_segment(const lm_plan *p, const lm_plan_segment *sg, lm_run_state *rs,
                                      int jobs)
{
    loom_tensor *in[sg->n_in + 1], *out[sg->n_out + 1];
    loom_status s = segment_io(p, sg, rs, in, out);
    if (s)
        return s;
    if (!rs->done && !(rs->done = lm_event_create()))
        return LOOM_ERR_NO_MEMORY;
    lm_event_reset(rs->done);
    uint64_t t0 = lm_now_ns();
    lm_device_submit(sg->dev, sg->state, in, out,
                     t0 + lm_deadline_ns(sg->dev, sg->lat, sg->est_us, jobs), rs->done);
    return segment_done(sg, rs->done, t0);
}

/* Issues device segment @i of @p (detached), one of @jobs on its device now,
 * without waiting for it: join_segments() does. */
static loom_status issue_segment(const lm_plan *p, int i, lm_run_state *rs, int jobs)
{
    const lm_plan_segment *sg = &p->segments[i];
    if (!rs->inflight) {
        if (!(rs->inflight = calloc((size_t)p->n_segments, sizeof(lm_inflight))))
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        rs->n_inflight = p->n_segments;
    }
    lm_inflight *f = &rs->inflight[i];
    if ((!f->done && !(f->done = lm_event_create())) ||
        (!f->io && !(f->io = malloc(sizeof(loom_tensor *) * (size_t)(sg->n_in + sg->n_out + 1)))))
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status s = segment_io(p, sg, rs, f->io, f->io + sg->n_in);
    if (s)
        return s;
    lm_event_reset(f->done);
    f->t0 = lm_now_ns();
    f->pending = true;
    lm_device_issue(sg->dev, sg->state, f->io, f->io + sg->n_in,
                    f->t0 + lm_deadline_ns(sg->dev, sg->lat, sg->est_us, jobs), f->done);
    return LOOM_OK;
}

/* Runs the steps of host segment @sg from step @from with the op definitions' host
 * implementations, on the context's worker pool. */
static loom_status run_host_steps(loom_model *m, const lm_plan *p, const lm_plan_segment *sg,
                                  lm_run_state *rs, int from)
{
    const lm_graph *g = m->g;
    for (int step = from; step <= sg->last; step++) {
        const lm_node *n = &g->nodes[p->steps[step]];
        loom_tensor *in[n->n_in + 1];
        loom_tensor *out[n->n_out + 1];
        for (int i = 0; i < n->n_in; i++)
            in[i] = n->in[i] >= 0 ? rs->val[n->in[i]] : NULL;
        memset(out, 0, sizeof(loom_tensor *) * (size_t)(n->n_out + 1));
        uint64_t t0 = rs->step_ns ? lm_now_ns() : 0;
        loom_status s = lm_run_node(n, in, out, false, p->prepared[step], m->ctx->pool, rs);
        if (rs->step_ns)
            rs->step_ns[step] = lm_now_ns() - t0;
        for (int o = 0; o < n->n_out; o++) {
            int v = n->out[o];
            if (s || v < 0) {
                loom_tensor_destroy(out[o]);
                continue;
            }
            rs->val[v] = out[o];
            rs->owned[v] = true;
        }
        if (s)
            return s;
        /* Free what no later step reads. */
        for (int i = 0; i < n->n_in; i++) {
            int v = n->in[i];
            if (v >= 0 && rs->owned[v] && p->last_use[v] == step && !g->values[v].is_output)
                release_value(rs, v);
        }
    }
    return LOOM_OK;
}

/* Ends the job of device segment @sg that ended with @s: its device's busy
 * count and health (health.h); on a device fault r->failed is @sg. */
static loom_status end_device_job(lm_run *r, const lm_plan_segment *sg, loom_status s)
{
    lm_busy_end(&sg->dev->busy, s != LOOM_OK);
    lm_health_report(sg->dev, s);
    if (s && lm_status_is_device_fault(s))
        r->failed = sg;
    return s;
}

/* Waits for the detached segments in flight whose join is segment @upto or
 * earlier (all of them: r->plan->n_segments). Returns the first failure, @s
 * if there was one already; a detached segment that faulted makes the run
 * start over (r->restart): the segments after it ran meanwhile, and may
 * have freed values it would need again. */
static loom_status join_segments(lm_run *r, int upto, loom_status s)
{
    const lm_plan *p = r->plan;
    lm_run_state *rs = r->rs;
    for (int i = 0; rs->inflight && i < p->n_segments; i++) {
        lm_inflight *f = &rs->inflight[i];
        const lm_plan_segment *sg = &p->segments[i];
        if (!f->pending || sg->join > upto)
            continue;
        f->pending = false;
        loom_status js = segment_done(sg, f->done, f->t0);
        if (rs->step_ns) /* from its issue: what the run waited on it for, at most */
            rs->step_ns[sg->first] = lm_now_ns() - f->t0;
        if (!s && end_device_job(r, sg, js) != LOOM_OK) {
            s = js;
            r->restart = lm_status_is_device_fault(js);
        } else if (s) {
            lm_busy_end(&sg->dev->busy, js != LOOM_OK);
            lm_health_report(sg->dev, js);
        }
    }
    return s;
}

/* Runs segment @i of r->plan from step @start: a job of its device
 * (devstats.h), issued without waiting when it is detached. */
static loom_status run_segment(lm_run *r, int i, int start)
{
    const lm_plan *p = r->plan;
    const lm_plan_segment *sg = &p->segments[i];
    lm_run_state *rs = r->rs;
    const lm_graph *g = r->m->g;
    bool host = lm_device_runs_host_kernels(sg->dev);
    int jobs = lm_busy_begin(&sg->dev->busy);
    if (host) {
        loom_status s = run_host_steps(r->m, p, sg, rs, start);
        lm_busy_end(&sg->dev->busy, s != LOOM_OK);
        return s;
    }
    if (sg->detach) {
        loom_status s = issue_segment(p, i, rs, jobs);
        return s ? end_device_job(r, sg, s) : LOOM_OK;
    }
    uint64_t t0 = lm_now_ns();
    loom_status s = end_device_job(r, sg, run_device_segment(p, sg, rs, jobs));
    if (rs->step_ns) /* a device runs its segment as a whole: the time is the segment's */
        rs->step_ns[sg->first] = lm_now_ns() - t0;
    for (int k = 0; !s && k < sg->n_in; k++) {
        int v = sg->in[k];
        if (rs->owned[v] && p->last_use[v] <= sg->last && !g->values[v].is_output)
            release_value(rs, v);
    }
    return s;
}

/* Whether segment @i was issued ahead of its place and runs now. */
static bool issued(const lm_run_state *rs, int i)
{
    return rs->inflight && rs->inflight[i].pending;
}

/* Issues the device segments whose inputs are ready at segment @i although
 * the plan has them later (lm_plan_segment.issue_at), up to step @last. A
 * detached segment feeding one may still run: it is joined first (its join
 * is at or before the one it feeds). */
static loom_status issue_ahead(lm_run *r, int i, int last)
{
    const lm_plan *p = r->plan;
    loom_status s = LOOM_OK;
    if (!p->issues_ahead) /* most plans: no scan on every segment of every run */
        return s;
    for (int j = i + 1; j < p->n_segments && p->segments[j].last <= last && !s; j++)
        if (p->segments[j].issue_at == i && !issued(r->rs, j) && !(s = join_segments(r, j, s)))
            s = run_segment(r, j, p->segments[j].first);
    return s;
}

/* Runs the segments of r->plan from step r->next through step @last. A
 * detached device segment is issued as soon as its inputs are ready and runs
 * while the segments up to its join do (an independent branch on the host
 * or another device); the others run one after another in plan order.
 * Everything issued is joined before this returns. On a device fault
 * r->failed is the failed segment. */
static loom_status run_steps(lm_run *r, int last)
{
    const lm_plan *p = r->plan;
    loom_status s = LOOM_OK;
    for (int i = 0; i < p->n_segments && !s; i++) {
        const lm_plan_segment *sg = &p->segments[i];
        if (sg->last < r->next)
            continue;
        if (sg->first > last)
            break;
        int start = sg->first < r->next ? r->next : sg->first; /* host segments resume mid-way */
        if (!(s = join_segments(r, i, LOOM_OK)) && !(s = issue_ahead(r, i, last)) &&
            !issued(r->rs, i))
            s = run_segment(r, i, start);
    }
    if ((s = join_segments(r, p->n_segments, s)))
        return s;
    r->next = last + 1;
    return LOOM_OK;
}

/* A run state of @p for one run: constants, the caller's inputs and (run_into) outputs. */
static lm_run_state *begin_run(const loom_model *m, lm_plan *p, loom_tensor *const *inputs,
                               loom_tensor **outputs, bool into, uint64_t *step_ns)
{
    const lm_graph *g = m->g;
    lm_run_state *rs = lm_run_state_get(p, g);
    if (!rs)
        return NULL;
    for (int v = 0; v < g->n_values; v++)
        rs->val[v] = p->constant[v];
    for (int i = 0; i < g->n_inputs; i++)
        rs->val[g->inputs[i]] = inputs[i];
    if (into)
        for (int o = 0; o < g->n_outputs; o++)
            rs->user_out[g->outputs[o]] = outputs[o];
    rs->step_ns = step_ns;
    return rs;
}

/* Gives @rs back to @p, dropping every value it still holds. */
static void end_run(const lm_graph *g, lm_plan *p, lm_run_state *rs)
{
    for (int v = 0; v < g->n_values; v++) {
        release_value(rs, v);
        rs->user_out[v] = NULL;
    }
    rs->step_ns = NULL;
    lm_run_state_put(p, rs);
}

/* The step of @p that produces each value (-1: an input or a constant). */
static int *producer_steps(const lm_graph *g, const lm_plan *p)
{
    int *step = malloc(sizeof(int) * ((size_t)g->n_values + 1));
    if (!step)
        return NULL;
    for (int v = 0; v < g->n_values; v++)
        step[v] = -1;
    for (int i = 0; i < p->n_steps; i++) {
        const lm_node *n = &g->nodes[p->steps[i]];
        for (int o = 0; o < n->n_out; o++)
            if (n->out[o] >= 0)
                step[n->out[o]] = i;
    }
    return step;
}

/* Where a run on @q resumes when a device failed at step @failed of @p:
 * that step when @q runs it on the host (host segments start anywhere), the
 * start of @q's segment holding it on a device, when both plans run the same
 * steps; else 0 (from the beginning). */
static int resume_point(const lm_plan *p, const lm_plan *q, int failed)
{
    if (p->n_steps != q->n_steps || memcmp(p->steps, q->steps, sizeof(int) * (size_t)p->n_steps))
        return 0;
    for (int i = 0; i < q->n_segments; i++)
        if (q->segments[i].first <= failed && failed <= q->segments[i].last)
            return lm_device_runs_host_kernels(q->segments[i].dev) ? failed : q->segments[i].first;
    return 0;
}

/* Moves the values live at step @at from @rs (of @p) to @qs: what steps
 * before @at computed and later ones still read, as copies the new run owns. */
static loom_status carry_values(const lm_graph *g, const lm_plan *p, lm_run_state *rs,
                                lm_run_state *qs, int at)
{
    int *made_at = producer_steps(g, p);
    if (!made_at)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status s = LOOM_OK;
    for (int v = 0; v < g->n_values && !s; v++) {
        if (made_at[v] < 0 || made_at[v] >= at || !rs->val[v] || p->constant[v])
            continue;
        if (!(qs->val[v] = lm_tensor_clone(rs->val[v])))
            s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        qs->owned[v] = qs->val[v] != NULL;
    }
    free(made_at);
    return s;
}

static const lm_plan_segment *segment_of(const lm_plan *p, int step)
{
    for (int i = 0; i < p->n_segments; i++)
        if (p->segments[i].first <= step && step <= p->segments[i].last)
            return &p->segments[i];
    return &p->segments[0];
}

/* At most this many device faults within one run before it gives up. */
#define MAX_FAILOVERS 4

/* A device failed under segment r->failed of r->plan with @fault: takes the
 * plan that serves now (without the device, once it is out of service) and
 * continues the run on it from the last completed boundary it shares with
 * the old one: r->plan, r->rs and r->next become the new plan, its run
 * state and the step to run from. */
static loom_status fail_over(lm_run *r, loom_status fault)
{
    loom_model *m = r->m;
    const lm_graph *g = m->g;
    lm_plan *p = r->plan, *q;
    lm_run_state *rs = r->rs;
    lm_device *lost = r->failed->dev;
    int failed = r->failed->first;
    char fault_msg[256];
    snprintf(fault_msg, sizeof(fault_msg), "%s", loom_last_error());
    loom_status s = lm_plan_get(m, r->inputs, &q);
    if (s) /* the fault stays the answer: a device fault, not the request's */
        return lm_error(fault, "%s (%s %s, and %s)", fault_msg, lost->name,
                        lm_health_usable(lost) ? "failed" : "is out of service",
                        m->ctx->fail_closed ? "the context is fail-closed: no CPU fallback"
                                            : loom_last_error());
    int at = r->restart ? 0 : resume_point(p, q, failed);
    lm_run_state *qs = begin_run(m, q, r->inputs, r->outputs, r->into, rs->step_ns);
    if (!qs || (s = carry_values(g, p, rs, qs, at))) {
        if (qs)
            end_run(g, q, qs);
        lm_plan_put(m, q);
        return qs ? s : lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    }
    atomic_fetch_add(&lost->health.failovers, 1);
    lm_log(LOOM_LOG_WARN, "%s: %s failed at step %d (%s); resuming at step %d on %s", m->name,
           lost->name, failed, fault_msg, at, segment_of(q, at)->dev->name);
    end_run(g, p, rs);
    lm_plan_put(m, p);
    r->plan = q;
    r->rs = qs;
    r->next = at;
    r->failed = NULL;
    r->restart = false;
    return LOOM_OK;
}

/* Hands the graph outputs to the caller: moved, cloned, or (run_into) already in place. */
static loom_status collect_outputs(const lm_graph *g, lm_run_state *rs, loom_tensor **outputs,
                                   bool into)
{
    for (int o = 0; o < g->n_outputs; o++) {
        int v = g->outputs[o];
        loom_tensor *t = rs->val[v];
        if (!t)
            return lm_error(LOOM_ERR_RUNTIME, "output '%s' was not computed", g->values[v].name);
        if (into) {
            if (t->data == outputs[o]->data)
                continue;
            if (t->nbytes != outputs[o]->nbytes || t->dtype != outputs[o]->dtype)
                return lm_error(LOOM_ERR_SHAPE, "output '%s' does not fit the caller's tensor",
                                g->values[v].name);
            memcpy(outputs[o]->data, t->data, t->nbytes);
        } else if (rs->owned[v] && !t->pooled) {
            outputs[o] = t; /* moved; an output listed twice is cloned the second time */
            rs->owned[v] = false;
        } else if (!(outputs[o] = lm_tensor_clone(t))) {
            return LOOM_ERR_NO_MEMORY;
        }
    }
    return LOOM_OK;
}

loom_status lm_run_begin(lm_run *r, loom_model *m, loom_tensor *const *inputs, size_t n_inputs,
                         loom_tensor **outputs, size_t n_outputs, bool into, uint64_t *step_ns)
{
    *r = (lm_run){.m = m, .inputs = inputs, .outputs = outputs, .into = into};
    if (!m || (n_inputs && !inputs) || (n_outputs && !outputs))
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_model_run: NULL argument");
    const lm_graph *g = m->g;
    if (!into)
        for (size_t i = 0; i < n_outputs; i++)
            outputs[i] = NULL;
    if (n_inputs != (size_t)g->n_inputs || n_outputs != (size_t)g->n_outputs)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT,
                        "%s: called with %zu inputs and %zu outputs, the model has %d and %d",
                        m->name, n_inputs, n_outputs, g->n_inputs, g->n_outputs);
    loom_status s = check_inputs(m, inputs);
    for (size_t o = 0; into && !s && o < n_outputs; o++)
        if (!outputs[o] || !outputs[o]->data)
            s = lm_error(LOOM_ERR_INVALID_ARGUMENT, "output tensor %zu is NULL", o);
    if (!s)
        s = lm_plan_get(m, inputs, &r->plan);
    if (!s) {
        lm_plan_ran(m, inputs, r->plan);
        if (!(r->rs = begin_run(m, r->plan, inputs, outputs, into, step_ns))) {
            s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
            lm_plan_put(m, r->plan);
            r->plan = NULL;
        }
    }
    if (s)
        lm_error_prefix("%s", m->name);
    return s;
}

loom_status lm_run_until(lm_run *r, int last)
{
    return run_steps(r, last);
}

loom_status lm_run_finish(lm_run *r, loom_status s)
{
    for (;;) {
        if (s && (!lm_status_is_device_fault(s) || r->faults == MAX_FAILOVERS))
            return s;
        if (s) {
            r->faults++;
            if ((s = fail_over(r, s)))
                return s;
        }
        if (!(s = run_steps(r, r->plan->n_steps - 1)))
            return LOOM_OK;
    }
}

loom_status lm_run_end(lm_run *r, loom_status s)
{
    loom_model *m = r->m;
    const lm_graph *g = m->g;
    if (!s)
        s = collect_outputs(g, r->rs, r->outputs, r->into);
    if (s && !r->into) {
        for (int o = 0; o < g->n_outputs; o++) {
            loom_tensor_destroy(r->outputs[o]);
            r->outputs[o] = NULL;
        }
    }
    if (s)
        lm_error_prefix("%s", m->name);
    end_run(g, r->plan, r->rs);
    lm_plan_put(m, r->plan);
    r->plan = NULL;
    r->rs = NULL;
    return s;
}

static loom_status run_model(loom_model *m, loom_tensor *const *inputs, size_t n_inputs,
                             loom_tensor **outputs, size_t n_outputs, bool into, uint64_t *step_ns)
{
    lm_run r;
    loom_status s = lm_run_begin(&r, m, inputs, n_inputs, outputs, n_outputs, into, step_ns);
    if (s)
        return s;
    return lm_run_end(&r, lm_run_finish(&r, LOOM_OK));
}

loom_status loom_model_run(loom_model *m, loom_tensor *const *inputs, size_t n_inputs,
                           loom_tensor **outputs, size_t n_outputs)
{
    return run_model(m, inputs, n_inputs, outputs, n_outputs, false, NULL);
}

loom_status loom_model_run_into(loom_model *m, loom_tensor *const *inputs, size_t n_inputs,
                                loom_tensor *const *outputs, size_t n_outputs)
{
    return run_model(m, inputs, n_inputs, (loom_tensor **)outputs, n_outputs, true, NULL);
}

loom_status lm_model_run_timed(loom_model *m, loom_tensor *const *inputs, size_t n_inputs,
                               loom_tensor **outputs, size_t n_outputs, uint64_t *step_ns)
{
    return run_model(m, inputs, n_inputs, outputs, n_outputs, false, step_ns);
}
