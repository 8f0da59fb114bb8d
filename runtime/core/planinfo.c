/*
 * planinfo.c - the plan as an artifact: loom_model_plan_json() describes
 * where each node runs, why, what the cost model expects of it, the
 * segments, the values that cross between host and devices, and the totals.
 * The schema is documented in runtime/README.md ("The plan as JSON").
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deadline.h"
#include "device.h"
#include "error.h"
#include "jsonw.h"
#include "model.h"
#include "opcost.h"
#include "tensor.h"
#include "topology.h"

/* What the estimate adds up to, per device and in all. */
typedef struct plan_totals {
    double total_us;
    double device_us[LM_MAX_DEVICES];
    bool unknown; /* some step's estimate is unknown (counted as 0) */
} plan_totals;

static int device_index(const loom_context *ctx, const lm_device *dev)
{
    for (int d = 0; d < ctx->n_devices; d++)
        if (ctx->devices[d] == dev)
            return d;
    return 0;
}

static void shape_str(const loom_tensor *t, char *buf, size_t len)
{
    lm_dims_str(t->rank, t->dims, buf, len);
}

static void add_us(plan_totals *t, const loom_context *ctx, const lm_device *dev, double us)
{
    if (us < 0) {
        t->unknown = true;
        return;
    }
    t->total_us += us;
    t->device_us[device_index(ctx, dev)] += us;
}

static void write_nodes(lm_json *j, const loom_model *m, const lm_plan *p, plan_totals *t)
{
    const lm_graph *g = m->g;
    lm_json_key(j, "nodes");
    lm_json_begin_array(j);
    for (int i = 0, seg = -1; i < p->n_steps; i++) {
        if (p->segment_at[i] >= 0)
            seg = p->segment_at[i];
        const lm_node *n = &g->nodes[p->steps[i]];
        const lm_device *dev = p->segments[seg].dev;
        char shape[128] = "?";
        if (n->n_out > 0 && n->out[0] >= 0 && p->shape_known[n->out[0]])
            shape_str(&p->shapes[n->out[0]], shape, sizeof(shape));
        lm_json_begin_object(j);
        lm_json_key(j, "name");
        lm_json_string(j, n->name);
        lm_json_key(j, "op");
        lm_json_string(j, n->op_type);
        lm_json_key(j, "shape");
        lm_json_string(j, shape);
        lm_json_key(j, "device");
        lm_json_string(j, dev->name);
        lm_json_key(j, "segment");
        lm_json_int(j, seg);
        lm_json_key(j, "est_us");
        lm_json_number(j, p->notes[i].est_us >= 0 ? p->notes[i].est_us : NAN);
        lm_json_key(j, "reason");
        lm_json_string(j, p->notes[i].reason);
        lm_json_end_object(j);
        add_us(t, m->ctx, dev, p->notes[i].est_us);
    }
    lm_json_end_array(j);
}

static void write_transfer(lm_json *j, const char *value, const lm_device *from,
                           const lm_device *to, size_t bytes, double us)
{
    lm_json_begin_object(j);
    lm_json_key(j, "value");
    lm_json_string(j, value);
    lm_json_key(j, "from");
    lm_json_string(j, from ? from->name : "host");
    lm_json_key(j, "to");
    lm_json_string(j, to ? to->name : "host");
    lm_json_key(j, "bytes");
    lm_json_int(j, (int64_t)bytes);
    lm_json_key(j, "est_us");
    lm_json_number(j, us);
    lm_json_end_object(j);
}

/* A device segment's inputs come from the host and its escaping outputs go
 * back to it (the executor's boundary, runtime/README.md); host segments
 * move nothing. */
static void write_transfers(lm_json *j, const loom_model *m, const lm_plan *p, plan_totals *t)
{
    const lm_graph *g = m->g;
    lm_json_key(j, "transfers");
    lm_json_begin_array(j);
    for (int s = 0; s < p->n_segments; s++) {
        const lm_plan_segment *sg = &p->segments[s];
        if (lm_device_runs_host_kernels(sg->dev))
            continue;
        for (int k = 0; k < sg->n_in + sg->n_out; k++) {
            bool in = k < sg->n_in;
            int v = in ? sg->in[k] : sg->out[k - sg->n_in];
            size_t bytes = p->shape_known[v] ? p->shapes[v].nbytes : 0;
            int hn = m->ctx->numa_node;
            double us = in ? lm_transfer_node_us(NULL, sg->dev, hn, bytes)
                           : lm_transfer_node_us(sg->dev, NULL, hn, bytes);
            write_transfer(j, g->values[v].name, in ? NULL : sg->dev, in ? sg->dev : NULL, bytes,
                           us);
            add_us(t, m->ctx, sg->dev, us);
        }
        add_us(t, m->ctx, sg->dev, sg->dev->props.launch_us);
    }
    lm_json_end_array(j);
}

static void write_segments(lm_json *j, const loom_model *m, const lm_plan *p)
{
    lm_json_key(j, "segments");
    lm_json_begin_array(j);
    for (int s = 0; s < p->n_segments; s++) {
        const lm_plan_segment *sg = &p->segments[s];
        lm_json_begin_object(j);
        lm_json_key(j, "device");
        lm_json_string(j, sg->dev->name);
        lm_json_key(j, "first");
        lm_json_string(j, m->g->nodes[p->steps[sg->first]].name);
        lm_json_key(j, "last");
        lm_json_string(j, m->g->nodes[p->steps[sg->last]].name);
        lm_json_key(j, "nodes");
        lm_json_int(j, sg->last - sg->first + 1);
        if (!lm_device_runs_host_kernels(sg->dev)) { /* the host's watchdog (deadline.h) */
            lm_json_key(j, "deadline_ms");
            lm_json_number(j, (double)lm_deadline_ns(sg->dev, sg->lat, sg->est_us, 1) / 1e6);
            lm_json_key(j, "measured_runs");
            lm_json_int(j, (int64_t)lm_latency_count(sg->lat));
            lm_json_key(j, "detached");
            lm_json_bool(j, sg->detach);
            if (sg->issue_at < s) { /* its inputs are ready before segments that come first */
                lm_json_key(j, "issued_before");
                lm_json_string(j, m->g->nodes[p->steps[p->segments[sg->issue_at].first]].name);
            }
            if (sg->detach) { /* runs alongside the segments before its join */
                lm_json_key(j, "joined_before");
                if (sg->join < p->n_segments)
                    lm_json_string(j, m->g->nodes[p->steps[p->segments[sg->join].first]].name);
                else
                    lm_json_number(j, NAN); /* null: the end of the run */
            }
        }
        lm_json_end_object(j);
    }
    lm_json_end_array(j);
}

/* Where @dev sits and where the threads and memory that serve it go: the
 * CPU devices' threads are the context's worker pool, another device's
 * feeders are whichever thread submits to it (moved to its node while it
 * does), and the run's arena is on the context's node. */
static void write_numa(lm_json *j, const loom_context *ctx, const lm_device *dev)
{
    bool host = lm_device_runs_host_kernels(dev);
    lm_json_key(j, "numa_node");
    lm_json_number(j, dev->props.numa_node >= 0 ? dev->props.numa_node : NAN); /* NaN: null */
    lm_json_key(j, "cpuset");
    lm_json_string(j, dev->props.cpuset);
    lm_json_key(j, "locality");
    lm_json_string(j, dev->numa.how);
    lm_json_key(j, "threads");
    lm_json_string(j, host ? ctx->pool_binding : dev->numa.feeders);
    lm_json_key(j, "staging_memory");
    char buf[128];
    if (ctx->numa_node >= 0)
        snprintf(buf, sizeof(buf), "arena on node %d%s", ctx->numa_node,
                 lm_topology_is_this_system() ? "" : " (preview: not bound)");
    else if (lm_topology_numa_nodes() > 1 && dev->props.numa_node >= 0)
        snprintf(buf, sizeof(buf), "first touch (the context's devices span nodes)");
    else
        snprintf(buf, sizeof(buf), "%s", host ? "first touch" : dev->numa.memory);
    lm_json_string(j, buf);
}

static void write_devices(lm_json *j, const loom_context *ctx, const plan_totals *t)
{
    lm_json_key(j, "devices");
    lm_json_begin_array(j);
    for (int d = 0; d < ctx->n_devices; d++) {
        const lm_device *dev = ctx->devices[d];
        lm_json_begin_object(j);
        lm_json_key(j, "name");
        lm_json_string(j, dev->name);
        lm_json_key(j, "peak_gflops");
        lm_json_number(j, dev->props.peak_gflops);
        lm_json_key(j, "peak_int8_gops");
        lm_json_number(j, dev->props.peak_int8_gops);
        lm_json_key(j, "mem_gbps");
        lm_json_number(j, dev->props.mem_gbps);
        lm_json_key(j, "est_us");
        lm_json_number(j, t->device_us[d]);
        write_numa(j, ctx, dev);
        lm_json_end_object(j);
    }
    lm_json_end_array(j);
}

/* What the partitioner did: its algorithm, whether the answer is optimal
 * for the cost table, and its own figures (hops counted once per device). */
static void write_solver(lm_json *j, const lm_part_result *r)
{
    lm_json_key(j, "solver");
    lm_json_begin_object(j);
    lm_json_key(j, "algorithm");
    lm_json_string(j, lm_part_algorithm_name(r->algorithm));
    lm_json_key(j, "exact");
    lm_json_bool(j, r->exact != 0);
    lm_json_key(j, "work");
    lm_json_int(j, r->work);
    lm_json_key(j, "total_us");
    lm_json_number(j, (double)r->eval.total_ns / 1e3);
    lm_json_key(j, "bottleneck_us");
    lm_json_number(j, (double)r->eval.bottleneck_ns / 1e3);
    lm_json_end_object(j);
}

static char *plan_json(const loom_model *m, const lm_plan *p)
{
    lm_json j = {0};
    plan_totals t = {0};
    lm_json_begin_object(&j);
    lm_json_key(&j, "model");
    lm_json_string(&j, m->name);
    lm_json_key(&j, "objective");
    lm_json_string(&j, m->ctx->policy.objective == LOOM_OBJECTIVE_THROUGHPUT ? "throughput"
                                                                             : "latency");
    write_solver(&j, &p->placement);
    write_nodes(&j, m, p, &t);
    write_segments(&j, m, p);
    write_transfers(&j, m, p, &t);
    write_devices(&j, m->ctx, &t);
    char topo[256];
    lm_topology_source(topo, sizeof(topo));
    lm_json_key(&j, "topology");
    lm_json_string(&j, topo);
    lm_json_key(&j, "total_est_us");
    lm_json_number(&j, t.total_us);
    lm_json_key(&j, "estimate_complete");
    lm_json_string(&j, t.unknown ? "no: some steps have no estimate" : "yes");
    lm_json_end_object(&j);
    return lm_json_finish(&j);
}

/* Headers with the model's declared input shapes; fails naming a dim left symbolic. */
static loom_status declared_inputs(const loom_model *m, loom_tensor *hdr, loom_tensor **ptr)
{
    for (int i = 0; i < m->g->n_inputs; i++) {
        const lm_value *v = &m->g->values[m->g->inputs[i]];
        for (int d = 0; d < v->rank; d++)
            if (v->dims[d] < 0)
                return lm_error(LOOM_ERR_SHAPE,
                                "%s: input '%s' dimension %d ('%s') is symbolic: bind it first "
                                "(loom_model_bind_dim, loomctl plan --dim NAME=SIZE)",
                                m->name, v->name, d, v->dim_names[d] ? v->dim_names[d] : "?");
        loom_status s = lm_tensor_init_shape(&hdr[i], v->dtype, v->rank, v->dims);
        if (s)
            return s;
        ptr[i] = &hdr[i];
    }
    return LOOM_OK;
}

loom_status loom_model_plan_json(loom_model *m, loom_tensor *const *inputs, size_t n_inputs,
                                 char **json)
{
    if (!m || !json || (n_inputs && !inputs))
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_model_plan_json: NULL argument");
    *json = NULL;
    if (inputs && n_inputs != (size_t)m->g->n_inputs)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "%s: %zu inputs given, the model has %d",
                        m->name, n_inputs, m->g->n_inputs);
    loom_tensor *hdr = calloc((size_t)m->g->n_inputs + 1, sizeof(loom_tensor));
    loom_tensor **ptr = calloc((size_t)m->g->n_inputs + 1, sizeof(loom_tensor *));
    lm_plan *p = NULL;
    loom_status s = LOOM_OK;
    if (!hdr || !ptr)
        s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    else if (inputs)
        memcpy(ptr, inputs, sizeof(loom_tensor *) * n_inputs);
    else
        s = declared_inputs(m, hdr, ptr);
    if (!s && !(s = lm_plan_get(m, ptr, &p))) {
        if (!(*json = plan_json(m, p)))
            s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory writing the plan");
        lm_plan_put(m, p);
    }
    free(hdr);
    free(ptr);
    return s;
}
