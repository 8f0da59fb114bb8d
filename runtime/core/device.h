/*
 * device.h - the device layer: one interface for every kind of device that
 * runs a plan's steps, the CPU included.
 *
 *   backends (backend.h)        registry.c (one per process)        contexts
 *   cpu, fpga, opencl ──discover──▶ cpu  card:0  opencl:0 ... ◀──select── loom_context
 *                                   │
 *                    lm_device: properties · supports() · cost()
 *                               compile() a segment · run() / submit() + lm_event
 *
 * A device has properties (kind, memory, bandwidth, PCI bus id, NUMA node,
 * numeric class), a pure supports() the planner asks for every node, an
 * optional cost hook, and an execution side. Two execution styles exist:
 *
 *  - Host-kernel devices (LM_DEVICE_HOST_KERNELS, the CPU): core's executor
 *    runs the op definitions' host implementations (op.h) for the steps given
 *    to the device, on the device's worker pool, over host memory.
 *  - Segment devices (cards, OpenCL): consecutive steps on the device form a
 *    segment that the device compiles once per plan and then runs as a whole:
 *    values produced and consumed inside a segment never return to the host.
 *    Only the segment's inputs and escaping outputs cross the boundary.
 *
 * Running is asynchronous: lm_device_submit() queues a segment run and signals
 * an lm_event when its outputs are on the host; other devices' work can wait
 * on that event. Devices are discovered once and shared by every context of
 * the process, so every call may come from several threads at once.
 */
#ifndef LOOM_CORE_DEVICE_H
#define LOOM_CORE_DEVICE_H

#include <sched.h>
#include <stdbool.h>

#include "devstats.h"
#include "health.h"
#include "event.h"
#include "graph.h"
#include "tensor.h"

typedef struct lm_device lm_device;
typedef struct lm_stream lm_stream;

/* Property flags (lm_device_props.flags). */
/* Runs the op definitions' host implementations through core's executor. */
#define LM_DEVICE_HOST_KERNELS 0x1u
/* Can run steps whose shapes are known only at run time (LM_DEFER). */
#define LM_DEVICE_DYNAMIC_SHAPES 0x2u
/* Taken by the "auto" selection. Devices that only slow models down (an
 * OpenCL device that is the host CPU, such as PoCL, never beats libloom's
 * own CPU kernels) are used only when named. */
#define LM_DEVICE_AUTO 0x4u
/* An in-process emulation (the emulated Loom card): "auto" takes only as many
 * as the context asked for. */
#define LM_DEVICE_EMULATED 0x8u
/* Computes from host memory (a CPU OpenCL device with unified memory): its
 * device buffers are host memory, so a segment reads its inputs from and
 * writes its outputs to the host tensors in place, with no copy either way,
 * and a value passes between it and the CPU, or another such device, as it
 * is. Transfers to and from it cost only the launch. */
#define LM_DEVICE_HOST_MEMORY 0x10u
/* Runs the fused forms core's graph passes write (core/fuse*.c): attributes
 * named _loom_* (an epilogue activation and its parameters, a Softmax's
 * scale and divisor, a MatMul's operand views) that change what an ONNX op
 * computes. A device without this flag is offered no node carrying one, so
 * a device that knows only ONNX's ops never runs an Add that should also
 * apply a ReLU. */
#define LM_DEVICE_FUSED_FORMS 0x20u

/* The link assumed where a device's own is unknown: PCIe 3.0 x16 in practice. */
#define LM_DEFAULT_LINK_GBPS 12.0

/* What a device is; the planner and `loomctl examine` read it. */
typedef struct lm_device_props {
    loom_device_kind kind;
    char description[128];     /* model or board */
    char driver[64];           /* driver, platform or shim */
    uint64_t mem_bytes;        /* memory the device computes from; 0 unknown */
    double h2d_gbps, d2h_gbps; /* host<->device bandwidth, GB/s; 0 unknown */
    double launch_us;          /* fixed cost of one submission or transfer, µs; 0 unknown */
    double peak_gflops;        /* float32 arithmetic rate (roofline); 0 unknown */
    double peak_int8_gops;     /* 8-bit arithmetic rate; 0: as peak_gflops */
    double mem_gbps;           /* bandwidth of the memory it computes from; 0 unknown */
    double op_us;              /* fixed cost of one op inside a segment, µs */
    char pci_bus_id[16];       /* "dddd:bb:dd.f", "" when not a PCI device */
    int numa_node;             /* -1 unknown */
    char cpuset[64];           /* local CPUs as a list ("0-15"), "" unknown */
    uint32_t numeric;          /* LOOM_NUMERIC_*: bit-identical to the reference */
    char features[256];        /* what it offers, in words */
    char firmware[96];         /* what it is loaded with (a card's xclbin), "" */
    int compute_units;         /* 0 unknown */
    uint32_t flags;            /* LM_DEVICE_* */
} lm_device_props;

/* Where a device's feeder threads and staging memory go: decided once when
 * the device is located in the topology (core/numa.h). */
typedef struct lm_numa_binding {
    bool bind;         /* feeder threads move to @cpus while they feed the device */
    cpu_set_t cpus;    /* the device's local CPUs this process may use (when @bind) */
    int mem_node;      /* the node its staging memory is bound to, -1 none */
    char how[128];     /* how its locality was found, or why it is unknown */
    char nodeset[64];  /* its local NUMA nodes as a list, "" unknown */
    char feeders[160]; /* what happens to its feeder threads, in words */
    char memory[96];   /* where its staging memory comes from, in words */
} lm_numa_binding;

/* What a segment device gets to compile: nodes in order, and every value's shape. */
typedef struct lm_segment_desc {
    const lm_graph *g;
    int n_nodes;
    const int *nodes;                   /* node indices, in execution order */
    const loom_tensor *const *shape;    /* per value: dtype and shape (data NULL), or NULL */
    const loom_tensor *const *constant; /* per value: constant data of this plan, or NULL */
    uint64_t *hash_memo;                /* per value: the model's memo of content hashes */
    struct lm_wrefs *consts;            /* the plan's: lm_devconst_get() references */
    int n_inputs, n_outputs;
    const int *inputs;  /* values the segment reads from outside (host tensors) */
    const int *outputs; /* values the segment must write back to host tensors */
    bool fp16_storage;  /* the context asks for half-precision storage of float values */
} lm_segment_desc;

typedef struct lm_device_ops {
    /* Can the device run @node whose inputs look like @in (data NULL unless
     * constant)? Pure: cheap, no side effects, no device access. */
    bool (*supports)(lm_device *dev, const lm_node *node, loom_tensor *const *in);
    /* (optional) Estimated microseconds for @node with @in on @dev; < 0 when
     * the device cannot tell. */
    double (*cost)(lm_device *dev, const lm_node *node, loom_tensor *const *in);
    /* Segment devices only (NULL for host-kernel devices): */
    /* Compiles a segment: build kernels or command lists, and take the
     * constants' device copies from lm_devconst_get() (prepared.h), which
     * uploads each once per device for every plan and model. */
    loom_status (*compile)(lm_device *dev, const lm_segment_desc *desc, void **segment);
    /* Runs a compiled segment. @in[i] are the host tensors of desc->inputs[i];
     * @out[i] are host tensors, allocated with desc->shape, to fill for
     * desc->outputs[i]. Returns after the outputs are on the host. Thread-safe
     * for concurrent runs of one segment. @deadline_ns (CLOCK_MONOTONIC, as
     * lm_now_ns(); 0: none) is the host's watchdog (health.h): a device that
     * can stop waiting for its hardware fails the run with
     * LOOM_ERR_DEVICE_TIMEOUT once it passes, and leaves the host tensors
     * alone from then on; one that cannot says so in its documentation. */
    loom_status (*run)(lm_device *dev, void *segment, loom_tensor *const *in,
                       loom_tensor *const *out, uint64_t deadline_ns);
    /* (optional) Queues a run and returns: @done is signalled with the run's
     * status once the outputs are on the host. @in and @out stay valid until
     * then. Without it lm_device_submit() runs run() on the caller's thread. */
    loom_status (*submit)(lm_device *dev, void *segment, loom_tensor *const *in,
                          loom_tensor *const *out, uint64_t deadline_ns, lm_event *done);
    void (*release)(lm_device *dev, void *segment);
    /* (optional) Frees what a compiled segment keeps for its runs (working
     * buffers) when no run holds it; the next run makes it again. Called
     * when the plan goes idle (LOOM_ARENA_IDLE_MS); a segment in use is
     * left as it is. */
    void (*trim)(lm_device *dev, void *segment);
    /* (optional) Loads the bitstream in the file @path (an operator's
     * action; see loom_device_program()) and updates the properties. */
    loom_status (*program)(lm_device *dev, const char *path);
    /* (optional) Frees the device when the registry goes. */
    void (*destroy)(lm_device *dev);
    /* (optional) Fills the health fields of @st (reports, card_status, the
     * card's counters and sensors) from what the device or its driver says;
     * the caller sets healthy from card_status. May be called while segments run. */
    loom_status (*health)(lm_device *dev, loom_device_stats *st);
} lm_device_ops;

struct lm_device {
    const lm_device_ops *ops;
    char name[32]; /* "cpu", "opencl:0", "card:1": the same everywhere (API, loomctl, metrics) */
    lm_device_props props;
    void *priv;
    lm_busy busy;         /* set up by the registry, counted by the executor */
    int rank;             /* its backend's place in lm_backends[] (set by the registry):
                           * "auto" lists devices in that order, whatever order the
                           * backends were discovered in */
    lm_numa_binding numa; /* set by the registry (lm_numa_locate()) */
    lm_health health;     /* health.h: zero is healthy */
    lm_stream *stream;    /* stream.c: runs issued without waiting, when no submit op */
};

/* Queues a run of @segment on @dev (see lm_device_ops.submit); @done is
 * signalled in every case, also when submitting fails. */
void lm_device_submit(lm_device *dev, void *segment, loom_tensor *const *in,
                      loom_tensor *const *out, uint64_t deadline_ns, lm_event *done);

/* Like lm_device_submit(), but never runs the segment on the calling
 * thread: a device without a submit op gets it through its stream (a thread
 * of its own, stream.c), so the caller can go on with other work until it
 * waits for @done. @in and @out stay valid until then. */
void lm_device_issue(lm_device *dev, void *segment, loom_tensor *const *in, loom_tensor *const *out,
                     uint64_t deadline_ns, lm_event *done);
/* Stops @dev's stream once its queued runs are done (registry.c, before the
 * device is destroyed). */
void lm_device_stream_stop(lm_device *dev);

/* Whether core's executor runs @dev's steps with the host implementations. */
static inline bool lm_device_runs_host_kernels(const lm_device *dev)
{
    return (dev->props.flags & LM_DEVICE_HOST_KERNELS) != 0;
}

/* Whether @a and @b produce bit-identical results for ops of numeric class
 * @cls (LOOM_NUMERIC_*). */
static inline bool lm_device_same_numerics(const lm_device *a, const lm_device *b, uint32_t cls)
{
    return a == b || ((a->props.numeric & cls) && (b->props.numeric & cls));
}

#endif
