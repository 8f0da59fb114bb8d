/*
 * device.h - the interface a non-CPU backend (OpenCL, Loom cards) implements.
 *
 * The planner gives each step of a plan to a device: the first in the
 * context's priority order whose supports() accepts the node with its input
 * shapes; the CPU takes the rest. Consecutive steps on one device form a
 * segment, which the device compiles once per plan and then runs as a whole:
 * values produced and consumed inside a segment never return to the host, so a
 * device chains layers without round trips. Only the segment's inputs (host
 * tensors) and its escaping outputs (values read outside the segment, or
 * graph outputs) cross the boundary.
 *
 * Every slot is required unless marked optional. All calls for one device come
 * from the runtime with the device's segment state; run_segment() may be called
 * by several threads at once for the same segment and must be thread-safe.
 */
#ifndef LOOM_CORE_DEVICE_H
#define LOOM_CORE_DEVICE_H

#include <stdbool.h>

#include "devstats.h"
#include "graph.h"
#include "tensor.h"

typedef struct lm_device lm_device;

/* What a device gets to compile: nodes in order, and every value's shape. */
typedef struct lm_segment_desc {
    const lm_graph *g;
    int n_nodes;
    const int *nodes;                   /* node indices, in execution order */
    const loom_tensor *const *shape;    /* per value: dtype and shape (data NULL), or NULL */
    const loom_tensor *const *constant; /* per value: constant data of this plan, or NULL */
    int n_inputs, n_outputs;
    const int *inputs;  /* values the segment reads from outside (host tensors) */
    const int *outputs; /* values the segment must write back to host tensors */
} lm_segment_desc;

typedef struct lm_device_ops {
    /* Can the device run @node whose inputs look like @in (data NULL unless
     * constant)? Must be cheap and free of side effects. */
    bool (*supports)(lm_device *dev, const lm_node *node, loom_tensor *const *in);
    /* Compiles a segment: upload constants, build kernels or command lists. */
    loom_status (*compile)(lm_device *dev, const lm_segment_desc *desc, void **segment);
    /* Runs a compiled segment. @in[i] are the host tensors of desc->inputs[i];
     * @out[i] are host tensors, allocated with desc->shape, to fill for
     * desc->outputs[i]. Returns after the outputs are on the host. */
    loom_status (*run)(lm_device *dev, void *segment, loom_tensor *const *in,
                       loom_tensor *const *out);
    void (*release)(lm_device *dev, void *segment);
    /* (optional) Frees the device itself when its context is destroyed. */
    void (*destroy)(lm_device *dev);
    /* (optional) Fills the health fields of @st (reports, card_status, the
     * card's counters and sensors) from what the device or its driver says;
     * the caller sets healthy from card_status. May be called while segments run. */
    loom_status (*health)(lm_device *dev, loom_device_stats *st);
} lm_device_ops;

struct lm_device {
    const lm_device_ops *ops;
    char name[32]; /* "opencl:0", "card:1": the same everywhere (API, loomctl, metrics) */
    void *priv;
    lm_busy busy; /* set up by lm_context_add_device(), counted by run.c */
};

/* Adds @dev to @ctx's devices, after those already there (lower priority).
 * The context owns it from then on. */
loom_status lm_context_add_device(loom_context *ctx, lm_device *dev);

#endif
