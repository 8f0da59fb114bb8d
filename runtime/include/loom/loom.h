/*
 * loom.h - the public C API of libloom, Loom's model runtime.
 *
 * Objects are opaque handles with explicit lifetimes:
 *
 *   loom_context   owns backends, threads and options; create one per process
 *                  (or per NUMA domain) and share it.
 *   loom_model     a loaded, validated, immutable ONNX graph. It may be run from
 *                  many threads at once; each call keeps its own scratch state.
 *   loom_tensor    an n-dimensional array. It either owns its data (allocated by
 *                  libloom) or borrows a caller's buffer, which must then outlive
 *                  the tensor.
 *
 * Every function returns a loom_status. On failure, loom_last_error() returns a
 * human message for the calling thread that names the model, the node and the
 * reason, e.g. "resnet18.onnx: node 'Conv_12' (Conv): weight has 3 dims, expected 4".
 */
#ifndef LOOM_LOOM_H
#define LOOM_LOOM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LOOM_VERSION_MAJOR 0
#define LOOM_VERSION_MINOR 1
#define LOOM_VERSION_PATCH 0

/** Marks the symbols libloom exports; everything else is hidden. */
#define LOOM_API __attribute__((visibility("default")))

/** The largest tensor rank libloom handles. */
#define LOOM_MAX_RANK 8

/** Result of every call. LOOM_OK is zero; anything else is an error. */
typedef enum loom_status {
    LOOM_OK = 0,
    LOOM_ERR_INVALID_ARGUMENT, /**< a caller passed a bad value */
    LOOM_ERR_PARSE,            /**< the model file is malformed */
    LOOM_ERR_INVALID_MODEL,    /**< the model parses but is inconsistent */
    LOOM_ERR_UNSUPPORTED,      /**< an operator, type or attribute not implemented */
    LOOM_ERR_NO_MEMORY,        /**< an allocation failed or would exceed a limit */
    LOOM_ERR_IO,               /**< a file could not be read or written */
    LOOM_ERR_SHAPE,            /**< input shapes do not fit the model or an op */
    LOOM_ERR_NOT_FOUND,        /**< a named input, output or device does not exist */
    LOOM_ERR_RUNTIME,          /**< a kernel or device failed while running */
    /*
     * Device error classes (appended: the values above are ABI). The message
     * names the device ("card:0", "opencl:0", "xrt:0"). A caller that can run
     * the model elsewhere may fail over on these; the input was not at fault.
     */
    /** The device is gone or dead: unplugged, did not come back from a reset,
     *  lost its context. It stays unusable until it is reset or reopened. */
    LOOM_ERR_DEVICE_LOST,
    /** A job hung or passed its deadline; the device was reset (or must be). */
    LOOM_ERR_DEVICE_TIMEOUT,
    /** A device error worth retrying: out of device resources, or a job
     *  canceled by a reset that another job caused. */
    LOOM_ERR_DEVICE_TRANSIENT,
    /** The request never ran: its model was destroyed while it waited for
     *  the first stage of its pipeline (loom_model_submit()). */
    LOOM_ERR_CANCELED,
} loom_status;

/** Element types. The values are ONNX's TensorProto.DataType codes. */
typedef enum loom_dtype {
    LOOM_DTYPE_UNDEFINED = 0,
    LOOM_DTYPE_FLOAT = 1,
    LOOM_DTYPE_UINT8 = 2,
    LOOM_DTYPE_INT8 = 3,
    LOOM_DTYPE_UINT16 = 4,
    LOOM_DTYPE_INT16 = 5,
    LOOM_DTYPE_INT32 = 6,
    LOOM_DTYPE_INT64 = 7,
    LOOM_DTYPE_STRING = 8, /**< recognised, not supported by any kernel */
    LOOM_DTYPE_BOOL = 9,   /**< one byte per element, 0 or 1 */
    LOOM_DTYPE_FLOAT16 = 10,
    LOOM_DTYPE_DOUBLE = 11,
    LOOM_DTYPE_UINT32 = 12,
    LOOM_DTYPE_UINT64 = 13,
} loom_dtype;

typedef struct loom_context loom_context;
typedef struct loom_model loom_model;
typedef struct loom_tensor loom_tensor;

/**
 * loom_last_error() - the message of the last failed call on this thread.
 *
 * Return: a NUL-terminated string owned by libloom, valid until the next libloom
 * call on the same thread; "" when no call has failed yet.
 */
LOOM_API const char *loom_last_error(void);

/** loom_status_name() - a short constant name for @status ("LOOM_ERR_PARSE"). */
LOOM_API const char *loom_status_name(loom_status status);

/** loom_dtype_name() - ONNX's name for @dtype ("float", "int64"); "?" if unknown. */
LOOM_API const char *loom_dtype_name(loom_dtype dtype);

/** loom_dtype_size() - bytes per element of @dtype; 0 for unknown or string. */
LOOM_API size_t loom_dtype_size(loom_dtype dtype);

/* ------------------------------------------------------------------------ */
/* Logging                                                                  */

/*
 * libloom prints nothing. What it has to say beyond a call's status (which
 * kernels it chose, an OpenCL program built from source, what a card did)
 * goes to the log callback of each live context whose level admits it:
 * devices, kernels and compiled programs are shared by every context of the
 * process, so a message names its subject (a device, a kernel) rather than a
 * context. With no callback installed nothing is formatted or delivered.
 */

/** Severity of a log message; a larger value is more verbose. */
typedef enum loom_log_level {
    LOOM_LOG_ERROR = 1, /**< something failed that no status reports to a caller */
    LOOM_LOG_WARN = 2,  /**< a fallback or a setting ignored; results stay correct */
    LOOM_LOG_INFO = 3,  /**< rare, notable events: a program built, a device's totals */
    LOOM_LOG_DEBUG = 4, /**< choices made along the way: kernels picked, cache hits */
} loom_log_level;

/**
 * loom_log_fn - receives one log message.
 * @user: loom_context_options.log_user.
 * @level: the message's severity, never above the context's log_level.
 * @msg: one line without a trailing newline, valid during the call only.
 *
 * Called on whichever thread logs (an application thread or a worker), one
 * message at a time across the process. It must return promptly and must not
 * call libloom: messages it would cause are dropped, and creating or
 * destroying a context from it deadlocks.
 */
typedef void (*loom_log_fn)(void *user, loom_log_level level, const char *msg);

/** loom_log_level_name() - "error", "warn", "info" or "debug"; "?" if unknown. */
LOOM_API const char *loom_log_level_name(loom_log_level level);

/* ------------------------------------------------------------------------ */
/* Context                                                                  */

/**
 * struct loom_context_options - how a context runs models.
 * @struct_size: sizeof(struct loom_context_options), for ABI growth. Required.
 * @num_threads: worker threads for kernels; 0 picks the number of online CPUs.
 *               Contexts with the same @num_threads and @cpus share one pool.
 * @device: which devices run models, as a comma-separated priority list:
 *          device names ("card:0", "opencl:1", "cpu"), "auto" (every device
 *          marked automatic, accelerators first), and "-NAME" to exclude a
 *          device. The CPU is added last to take what the others cannot run,
 *          unless @fail_closed. "cpu" alone: the CPU only. NULL means "auto".
 *          Devices are the process's (see loom_devices_list()): contexts
 *          share them, and a name that is not there fails with
 *          LOOM_ERR_NOT_FOUND.
 * @fail_closed: nonzero: the CPU is not added as a fallback, so a node the
 *               chosen devices cannot run is an error (LOOM_ERR_UNSUPPORTED
 *               naming the node). Ignored for "cpu".
 * @emulated_cards: in-process emulated Loom cards to add after the real ones
 *                  (named card:N like them): 0 takes the number from the
 *                  LOOM_EMULATED_CARDS environment variable, -1 none, N > 0 N.
 *                  (Added in 0.1: a smaller @struct_size means 0.)
 * @fp16_storage: nonzero: OpenCL devices keep weights and activations in
 *                device memory as IEEE half (arithmetic stays float32, and
 *                the model's inputs and outputs stay float32 on the host):
 *                half the device memory, less bandwidth, and results within
 *                fp16 rounding of the float32 ones (about 1e-3 relative per
 *                value; see runtime/opencl/README.md). 0 (the default): float32.
 *                Other devices ignore it. (Added after 0.1: a smaller
 *                @struct_size means 0.)
 * @cpus: NULL, or the CPUs the context's worker threads may run on, as a
 *        Linux CPU list ("0-3,8": numbers and inclusive ranges, the format of
 *        taskset -c and /sys/devices/system/cpu/online), e.g. the cores of
 *        one NUMA node. Every CPU must be available to the process. With
 *        @num_threads 0 the context starts one thread per CPU in the list.
 *        The thread that calls loom_model_run() is the application's and
 *        keeps its own affinity. The string is read during the call only.
 *        (Added after 0.1: a smaller @struct_size means NULL.)
 * @log: NULL (the default: libloom stays silent), or the function that
 *       receives libloom's messages while the context lives, from the end of
 *       loom_context_create() until loom_context_destroy() returns; it is
 *       never called after that. Messages from shared code go to every live
 *       context; contexts sharing one @log and @log_user get each message
 *       once. See loom_log_fn for what it may do. (Added after 0.1: a
 *       smaller @struct_size means NULL.)
 * @log_user: passed to @log unchanged.
 * @log_level: the most verbose level @log receives; messages above it are
 *             dropped before they are formatted. 0 means LOOM_LOG_WARN.
 * @objective: what placement minimises (loom_objective); 0 is latency.
 * @pins: NULL, or placement rules "RULE=DEVICE;RULE=DEVICE...". RULE is a
 *        node name, a pattern over node names with `*` and `?`, or
 *        `op:TYPE` for every node of that op type; the first rule that
 *        matches a node decides its device. DEVICE must be one the context
 *        selects (else loom_context_create() fails naming the rule); a
 *        pinned node the device cannot run fails planning, and so does a
 *        rule that matches no node of the model, each naming the rule.
 *        (Both added after 0.1: a smaller @struct_size means 0 and NULL.)
 * @topology_xml: NULL (the default: the HWLOC_XMLFILE environment variable,
 *                else this machine), or an hwloc XML topology file (version
 *                2 format, from `lstopo --of xml`) to place devices and
 *                threads by instead of this machine's: to preview where a
 *                machine would put things, and for tests. The topology is
 *                the process's: the file replaces it for every device from
 *                then on (contexts that exist keep their bindings). Threads
 *                and memory are bound only when the topology is this
 *                machine's. A file that does not load fails the call with
 *                LOOM_ERR_INVALID_ARGUMENT. (Added after 0.1: a smaller
 *                @struct_size means NULL.)
 *
 * On a machine of several NUMA nodes, a context with no @cpus binds its
 * worker pool to one node's CPUs when it names "cpu:N" (node N) or when
 * every device it selects besides the CPU sits on the same node (the CPU
 * steps between device segments then run beside the device); otherwise
 * the pool is unbound. Where the kernel refuses binding the context runs
 * unbound and the log callback gets one warning.
 */
typedef struct loom_context_options {
    size_t struct_size;
    int num_threads;
    const char *device;
    int fail_closed;
    int emulated_cards;
    int fp16_storage;
    const char *cpus;
    loom_log_fn log;
    void *log_user;
    loom_log_level log_level;
    int objective;
    const char *pins;
    const char *topology_xml;
} loom_context_options;

/** What placement minimises (loom_context_options.objective). */
typedef enum loom_objective {
    LOOM_OBJECTIVE_LATENCY = 0, /**< one request's end-to-end time (batch 1) */
    LOOM_OBJECTIVE_THROUGHPUT,  /**< the busiest device's share of a request (pipelined serving) */
} loom_objective;

/** loom_context_options_init() - fill @opts with defaults. */
LOOM_API void loom_context_options_init(loom_context_options *opts);

/**
 * loom_context_create() - make a context.
 * @opts: options, or NULL for defaults.
 * @out: receives the context; destroy it with loom_context_destroy().
 */
LOOM_API loom_status loom_context_create(const loom_context_options *opts, loom_context **out);

/** loom_context_destroy() - free @ctx. All its models must be destroyed first. NULL is ok. */
LOOM_API void loom_context_destroy(loom_context *ctx);

/* ------------------------------------------------------------------------ */
/* Devices                                                                  */

/** What a device is; the prefix of its name. */
typedef enum loom_device_kind {
    LOOM_DEVICE_CPU = 0, /**< "cpu": the host, always present */
    LOOM_DEVICE_OPENCL,  /**< "opencl:N" */
    LOOM_DEVICE_CARD,    /**< "card:N": a Loom card through loom.ko, or emulated in-process */
    LOOM_DEVICE_XRT,     /**< "xrt:N": an Alveo card through XRT */
    LOOM_DEVICE_OTHER,   /**< anything else (test devices) */
} loom_device_kind;

/** A device's health (loom_device_stats.state): the planner uses healthy and
 *  suspect devices; quarantined and probation ones leave every plan until a
 *  known-answer test re-admits them. */
typedef enum loom_device_state {
    LOOM_DEVICE_HEALTHY = 0, /**< takes work */
    LOOM_DEVICE_SUSPECT,     /**< one timeout or transient error; still takes work */
    LOOM_DEVICE_QUARANTINED, /**< lost, or errors repeated: out of every plan */
    LOOM_DEVICE_PROBATION,   /**< answers again; its known-answer test is running */
} loom_device_state;

/** Bits of loom_device_info.numeric: the op classes for which the device's
 * results are bit-identical to libloom's reference (its CPU kernels). Two
 * devices that share a bit give bit-identical results for that class. */
#define LOOM_NUMERIC_INT8 0x1u /**< int8 quantized ops: the reference requantization */
#define LOOM_NUMERIC_FP32 0x2u /**< float32 ops: the CPU kernels' order of operations */

/**
 * struct loom_device_info - what a device is (not what it did: see
 * loom_device_stats).
 * @struct_size: sizeof(struct loom_device_info), set by the caller.
 * @name: "cpu", "opencl:N", "card:N", "xrt:N".
 * @kind: the prefix of @name as an enum.
 * @description: model or board; @driver: driver, platform or shim.
 * @mem_bytes: memory the device computes from (the CPU: physical memory); 0 unknown.
 * @h2d_gbps, @d2h_gbps: host-to-device and device-to-host bandwidth in GB/s; 0 unknown.
 * @launch_us: the fixed cost of one submission in microseconds; 0 unknown.
 * @peak_gflops, @peak_int8_gops: arithmetic rates the cost model assumes
 *                               (measured or modelled); 0 unknown.
 * @mem_gbps: bandwidth of the memory the device computes from; 0 unknown.
 * @pci_bus_id: "dddd:bb:dd.f", or "" for a device that is not on PCI (the CPU).
 * @numa_node: the NUMA node the device is attached to, -1 unknown.
 * @cpuset: the CPUs local to the device as a CPU list ("0-15"), "" unknown.
 * @numeric: LOOM_NUMERIC_* bits.
 * @features: what the device offers, in words ("QCONV QGEMM POOL QADD";
 *            "fp16 subgroups"; "AVX-512 VNNI").
 * @firmware: what it is loaded with: a card's xclbin (file and UUID); "" for
 *            devices that load nothing.
 * @compute_units: compute units (a card's CUs, an OpenCL device's compute
 *                 units, the CPU's online cores); 0 unknown.
 * @automatic: 1 when "auto" selects the device; 0 when it must be named
 *             (an OpenCL device that is the host CPU never beats libloom's
 *             own CPU kernels).
 * @emulated: 1 for an in-process emulated device.
 */
typedef struct loom_device_info {
    size_t struct_size;
    char name[32];
    loom_device_kind kind;
    char description[128];
    char driver[64];
    uint64_t mem_bytes;
    double h2d_gbps, d2h_gbps;
    double launch_us;
    double peak_gflops, peak_int8_gops, mem_gbps;
    char pci_bus_id[16];
    int numa_node;
    char cpuset[64];
    uint32_t numeric;
    char features[256];
    char firmware[96];
    int compute_units;
    int automatic;
    int emulated;
} loom_device_info;

/**
 * loom_devices_list() - every device of this process, in the planner's
 * priority order (accelerators first, the CPU last).
 * @infos: array of @max entries, each with @struct_size set; may be NULL when
 *         @max is 0.
 * @count: set to the number of devices (which may exceed @max).
 *
 * Devices are discovered once per process and shared by every context; this
 * call discovers them if no context holds them (emulated cards as
 * LOOM_EMULATED_CARDS says).
 */
LOOM_API loom_status loom_devices_list(loom_device_info *infos, size_t max, size_t *count);

/**
 * loom_device_program() - load the bitstream in the file @path onto device
 * @device ("card:0", "xrt:1"): an operator's action, as `loomctl program`.
 *
 * LOOM_ERR_NOT_FOUND if there is no such device, LOOM_ERR_UNSUPPORTED if it
 * loads nothing (the CPU, OpenCL), LOOM_ERR_IO if the file cannot be read,
 * and the device's refusal, saying why, for a file it does not accept. The
 * runtime programs a card with the default xclbin itself when it carries none
 * of the int8 compute units; models loaded before that use the card must be
 * loaded again.
 */
LOOM_API loom_status loom_device_program(const char *device, const char *path);

/**
 * loom_context_device_info() - describe device @index of @ctx (the order of
 * loom_context_device_stats()).
 */
LOOM_API loom_status loom_context_device_info(const loom_context *ctx, int index,
                                              loom_device_info *info);

/** Bits of loom_device_stats.reports: which health fields the device filled. */
#define LOOM_DEVICE_REPORTS_STATUS   0x1u /**< @card_status, @mem_total, @mem_used */
#define LOOM_DEVICE_REPORTS_COUNTERS 0x2u /**< @card_commands, @card_errors, @card_resets */
#define LOOM_DEVICE_REPORTS_SENSORS  0x4u /**< @temp_mc, @power_mw, @heartbeat */

/** Bits of loom_device_stats.card_status, as the card or its driver reports them. */
#define LOOM_CARD_STATUS_READY      0x1u /**< up and taking commands */
#define LOOM_CARD_STATUS_PROGRAMMED 0x2u /**< an xclbin is loaded */
#define LOOM_CARD_STATUS_DEAD       0x4u /**< did not come back from a reset */

/**
 * struct loom_device_stats - what a device did for this context, and its health.
 * @struct_size: set by the caller to sizeof(struct loom_device_stats).
 * @name: "cpu", "opencl:0", "card:0", "xrt:0": the name used everywhere.
 * @kind: from the name's prefix.
 * @busy_ns: nanoseconds, since the context was created, during which at least
 *           one of its jobs was running on the device, timed by the host around
 *           each job (a card's include the transfers to and from it). Busy time
 *           over wall time is the device's utilization, at most 1.
 * @jobs: jobs that completed: a device segment run (a chain of commands on a
 *        card), or for the CPU a stretch of consecutive steps of one model run.
 * @jobs_failed: jobs that returned an error.
 * @healthy: 1 when the device can take work: the CPU always; a card when it is
 *           ready and not dead (0 also when it cannot be queried).
 * @reports: LOOM_DEVICE_REPORTS_* bits: which fields below hold figures the
 *           device reported. Fields outside them are 0 and mean nothing.
 * @card_status: LOOM_CARD_STATUS_* bits.
 * @card_commands: commands (jobs) the card ran since its driver loaded it: all
 *                 processes', not only this context's.
 * @card_errors: commands that failed on the card (loom.ko: jobs timed out).
 * @card_resets: card resets since load.
 * @temp_mc, @power_mw: temperature in milli-degrees Celsius, board power in mW.
 * @heartbeat: the card's heartbeat counter (advances while its firmware runs).
 * @mem_total, @mem_used: the card's device-memory heap, bytes.
 * @state: loom_device_state: where the device stands with the planner.
 * @quarantines: times the device left service (lost, or errors repeated).
 * @readmissions: times it came back after passing its known-answer test.
 * @kat_failures: known-answer tests it failed (wrong answer or an error).
 * @failovers: runs that lost this device mid-run and finished elsewhere,
 *             resumed from the last completed boundary.
 * @numa_node: the NUMA node the device is attached to, -1 when unknown.
 * @bytes_copied: segment inputs and outputs copied between host memory and
 *                the device's (a card's, an OpenCL device's own memory).
 * @bytes_in_place: segment inputs and outputs the device used where they
 *                  lie, in host memory: a device that computes from host
 *                  memory (PoCL) binds the host tensors themselves.
 */
typedef struct loom_device_stats {
    size_t struct_size;
    char name[32];
    loom_device_kind kind;
    uint64_t busy_ns, jobs, jobs_failed;
    int healthy;
    uint32_t reports;
    uint32_t card_status;
    uint64_t card_commands, card_errors, card_resets;
    uint32_t temp_mc, power_mw, heartbeat;
    uint64_t mem_total, mem_used;
    loom_device_state state;
    uint64_t quarantines, readmissions, kat_failures, failovers;
    int numa_node;
    uint64_t bytes_copied, bytes_in_place;
} loom_device_stats;

/**
 * loom_context_device_count() - devices of @ctx: the ones it selected (see
 * loom_context_options.device) in priority order, the CPU (unless
 * fail_closed left it out) last.
 */
LOOM_API int loom_context_device_count(const loom_context *ctx);

/**
 * loom_context_device_stats() - fill @stats for device @index of @ctx.
 * @index: 0..loom_context_device_count() - 1, in priority order, the CPU last.
 *
 * Devices are shared by the contexts of a process, and so are their
 * counters: they count every context's work and only grow while any context
 * lives. A card's health is read from
 * its driver (loom.ko's GET_INFO, or the emulated card's registers) on each
 * call: a few microseconds, fine for a metrics scrape, not for a hot loop.
 * Safe to call while models run. LOOM_ERR_NOT_FOUND if @index is out of range.
 */
LOOM_API loom_status loom_context_device_stats(loom_context *ctx, int index,
                                               loom_device_stats *stats);

/* ------------------------------------------------------------------------ */
/* Models                                                                   */

/**
 * loom_model_load_file() - load and validate an ONNX model from a file.
 * @ctx: the context that will run it.
 * @path: path to a .onnx file. External tensor data is resolved relative to its
 *        directory and may not escape it.
 * @out: receives the model; destroy it with loom_model_destroy().
 *
 * The graph is checked (types, topological order, shapes where they are known),
 * constants are folded and every node is bound to a kernel. A model with an
 * operator no device supports fails here, naming the node.
 */
LOOM_API loom_status loom_model_load_file(loom_context *ctx, const char *path, loom_model **out);

/**
 * loom_model_load_memory() - load an ONNX model from a buffer.
 * @name: a name for messages (e.g. the file name); NULL gives "model".
 * @data, @size: the serialized ModelProto; copied, need not outlive the call.
 *
 * External tensor data cannot be resolved from memory and fails to load.
 */
LOOM_API loom_status loom_model_load_memory(loom_context *ctx, const void *data, size_t size,
                                            const char *name, loom_model **out);

/**
 * loom_model_destroy() - free @model. NULL is ok.
 *
 * No loom_model_run() or loom_model_submit() call on it may be in progress.
 * Submitted requests that have started running run to their end first;
 * those still waiting for the first stage end with LOOM_ERR_CANCELED. Their
 * handles stay valid for loom_request_wait().
 */
LOOM_API void loom_model_destroy(loom_model *model);

/** loom_model_name() - the name given at load (file name or the memory name). */
LOOM_API const char *loom_model_name(const loom_model *model);

/**
 * struct loom_value_info - what a model input or output looks like.
 * @name: the graph's name for it.
 * @dtype: element type.
 * @rank: number of dimensions; -1 if the model does not say.
 * @dims: each dimension, or -1 when it is symbolic or unknown.
 * @dim_names: the symbolic name of each -1 dimension ("batch"), else NULL.
 *
 * Strings point into the model and live as long as it does.
 */
typedef struct loom_value_info {
    const char *name;
    loom_dtype dtype;
    int rank;
    int64_t dims[LOOM_MAX_RANK];
    const char *dim_names[LOOM_MAX_RANK];
} loom_value_info;

/** loom_model_input_count() - number of inputs a caller feeds (initializers excluded). */
LOOM_API size_t loom_model_input_count(const loom_model *model);
/** loom_model_output_count() - number of graph outputs. */
LOOM_API size_t loom_model_output_count(const loom_model *model);
/** loom_model_input_info() - describe input @index; LOOM_ERR_NOT_FOUND if out of range. */
LOOM_API loom_status loom_model_input_info(const loom_model *model, size_t index,
                                           loom_value_info *info);
/** loom_model_output_info() - describe output @index; LOOM_ERR_NOT_FOUND if out of range. */
LOOM_API loom_status loom_model_output_info(const loom_model *model, size_t index,
                                            loom_value_info *info);
/** loom_model_input_index() - position of the input called @name, or LOOM_ERR_NOT_FOUND. */
LOOM_API loom_status loom_model_input_index(const loom_model *model, const char *name,
                                            size_t *index);

/**
 * struct loom_model_stats - what loading and planning made of a model.
 * @struct_size: set by the caller to sizeof(struct loom_model_stats).
 * @nodes: nodes after load-time rewrites (fusion, folding).
 * @batchnorms_folded, @activations_fused, @identities_removed, @qdq_fused:
 *     those rewrites (@qdq_fused: QDQ patterns turned into QLinearConv/MatMul).
 * @plans: input-shape signatures planned so far.
 * @steps: kernels a run executes, for the most recent plan.
 * @arena_bytes: the largest arena of any plan: peak memory for intermediates
 *               per concurrent run.
 * @constant_bytes: initializers and folded constants of the most recent plan.
 * @prepared_bytes: weights packed for the kernels (GEMM panels, Winograd
 *     transforms) that the cached plans use. They are built once per weights
 *     and shared by every plan of the model and every model with identical
 *     weights, so they do not grow with the number of shapes.
 * @shared_prepared_bytes: the same for every model of the process together.
 * @plan_bytes: what the cached plans are charged against @plan_budget_bytes:
 *     their tables and the arenas of their run states.
 * @plan_budget_bytes: the plan cache's budget (loom_model_set_plan_cache_bytes).
 * @plans_built, @plans_evicted: plans made since load, and plans that left the
 *     cache for the budget.
 * @plans_spare: plans made ahead in the background (not in @plans_built):
 *     for each device a plan runs on, the plan of the same shapes without
 *     it, so that runs losing the device resume, and the next runs go on,
 *     without planning.
 * @planning_ms_last, @planning_ms_mean, @planning_ms_max: time to plan a
 *     new input shape (shape inference, arena layout, per-shape state).
 * @device_weight_bytes: the cached plans' constants on cards and OpenCL
 *     devices (weights, biases, in the layout the device reads). Each is
 *     uploaded once per device and shared like @prepared_bytes: a new shape
 *     or a second model with the same weights uploads nothing already there.
 * @shared_device_weight_bytes: the same for every model of the process.
 * @arena_bytes_held: arenas the cached plans hold now (busy and idle runs).
 * @arena_bytes_released: arenas idle plans gave back since load
 *     (loom_model_release_idle()).
 */
typedef struct loom_model_stats {
    size_t struct_size;
    int nodes, batchnorms_folded, activations_fused, identities_removed, qdq_fused;
    int plans, steps;
    size_t arena_bytes, constant_bytes;
    size_t prepared_bytes, shared_prepared_bytes, plan_bytes, plan_budget_bytes;
    uint64_t plans_built, plans_evicted;
    double planning_ms_last, planning_ms_mean, planning_ms_max;
    uint64_t plans_spare;
    size_t device_weight_bytes, shared_device_weight_bytes;
    size_t arena_bytes_held;
    uint64_t arena_bytes_released;
} loom_model_stats;

/** loom_model_get_stats() - fill @stats for @model. */
LOOM_API loom_status loom_model_get_stats(loom_model *model, loom_model_stats *stats);

/**
 * loom_model_set_plan_cache_bytes() - bound the memory of @model's plans.
 * @bytes: the budget; at least one plan (the newest) is always kept.
 *
 * Each input shape gets a plan: its tables and one arena for intermediates
 * per concurrent run. Past @bytes, the least recently used plans leave the
 * cache and are freed once no run holds them; a later run of their shape
 * plans again, which is cheap because packed weights are shared. Default:
 * LOOM_PLAN_CACHE_MB (128 MiB).
 */
LOOM_API loom_status loom_model_set_plan_cache_bytes(loom_model *model, size_t bytes);

/**
 * loom_model_release_idle() - give back the arenas of @model's idle plans.
 * @idle_ms: a plan no run gave its arena back to for this long counts as
 *     idle; < 0: LOOM_ARENA_IDLE_MS (10 s by default).
 *
 * A cached plan keeps the arena (intermediates) of each concurrent run it
 * served, for its next runs, and its device segments keep their working
 * buffers (an OpenCL device's intermediates). Those of plans idle for
 * @idle_ms are freed; the plans stay cached, and the next run of such a
 * shape maps a fresh arena and makes the buffers again.
 * Runs do this themselves once a second for plans idle LOOM_ARENA_IDLE_MS
 * (10 s); a server calls it when it has no runs to do it (loomd: every
 * second, with -1). Returns the bytes freed.
 */
LOOM_API size_t loom_model_release_idle(loom_model *model, int idle_ms);

/**
 * loom_model_bind_dim() - fix a symbolic dimension at load time.
 * @name: a symbolic dimension of the inputs ("batch", "N", see dim_names).
 * @value: the size it takes from now on, >= 0.
 *
 * Every input dimension called @name becomes @value. When no symbolic input
 * dimension is left, the model is planned at once, so shape errors surface here
 * rather than at the first run. Call it before running the model from other
 * threads. LOOM_ERR_NOT_FOUND if no input dimension has that name.
 */
LOOM_API loom_status loom_model_bind_dim(loom_model *model, const char *name, int64_t value);

/**
 * loom_model_plan_json() - the plan for one set of input shapes, as JSON:
 * where each node runs and why, the cost model's estimates, the segments,
 * the values crossing between host and devices, and the totals (schema:
 * runtime/README.md, "The plan as JSON").
 * @inputs: tensors whose shapes to plan for (their data is not read), one
 *          per model input; NULL for the model's declared shapes, whose
 *          symbolic dimensions must then be bound (loom_model_bind_dim():
 *          LOOM_ERR_SHAPE names the first one that is not).
 * @n_inputs: loom_model_input_count(), or 0 with NULL @inputs.
 * @json: set to a NUL-terminated string the caller frees with free().
 *
 * The plan is the one runs of those shapes use (planned now if need be).
 */
LOOM_API loom_status loom_model_plan_json(loom_model *model, loom_tensor *const *inputs,
                                          size_t n_inputs, char **json);

/**
 * loom_model_profile_json() - run the model @runs times (after one warm-up
 * run) with every step timed, as JSON: per node its device, the measured
 * time (p50 over the runs), the planner's estimate and the relative error;
 * per device and in all the same sums. A device runs its segment as a
 * whole: the segment's time is shared among its nodes in proportion to
 * their estimates. The measured times feed the cost cache, so later plans
 * estimate from them. @json is freed by the caller with free().
 */
LOOM_API loom_status loom_model_profile_json(loom_model *model, loom_tensor *const *inputs,
                                             size_t n_inputs, int runs, char **json);

/**
 * loom_model_run() - run the model synchronously.
 * @model: a loaded model; may be run by many threads at once.
 * @inputs: one tensor per model input, in loom_model_input_info() order. Their
 *          dtype must match; their shape must fit the declared dims (symbolic dims
 *          are bound per call). Borrowed for the duration of the call.
 * @n_inputs: must equal loom_model_input_count().
 * @outputs: receives one new owned tensor per output, in output order; the
 *           caller destroys them with loom_tensor_destroy(). On failure every
 *           entry is set to NULL.
 * @n_outputs: must equal loom_model_output_count().
 */
LOOM_API loom_status loom_model_run(loom_model *model, loom_tensor *const *inputs, size_t n_inputs,
                                    loom_tensor **outputs, size_t n_outputs);

/**
 * loom_model_run_into() - run the model, writing into the caller's tensors.
 * @outputs: one tensor per output, created by the caller with the dtype and
 *           shape the model produces for these inputs (see loom_model_run()).
 *
 * Like loom_model_run(), but nothing is allocated for the results: with a
 * model already run once for these input shapes, a call allocates no memory.
 * LOOM_ERR_SHAPE if an output tensor does not match.
 */
LOOM_API loom_status loom_model_run_into(loom_model *model, loom_tensor *const *inputs,
                                         size_t n_inputs, loom_tensor *const *outputs,
                                         size_t n_outputs);

/* ------------------------------------------------------------------------ */
/* Pipelined inference                                                      */

/**
 * DOC: pipelined inference
 *
 * loom_model_submit() queues a request and returns; requests then flow
 * through the stages of their plan concurrently. A stage is a maximal run of
 * consecutive plan segments on one device (the card's part, the CPU's part
 * after it); each stage position of a model has one feeder thread that runs
 * it for one request at a time, and bounded queues lie between stages, as
 * deep as the stage costs say keep every stage busy (see runtime/README.md).
 * Under load every device of the plan works at once: the card runs request
 * n+1 while the CPU finishes request n. Requests may complete in any order;
 * each one's results are those loom_model_run() gives for its inputs, also
 * when a device faults under it (it then fails over like loom_model_run()).
 */

/** A submitted request: wait for it with loom_request_wait(), exactly once. */
typedef struct loom_request loom_request;

/**
 * typedef loom_request_fn - called once when a submitted request has ended.
 * @user: as given to loom_model_submit().
 * @status: the request's outcome (loom_request_wait() returns the same).
 *
 * It runs on a libloom feeder thread after the results are ready, so it must
 * be quick and must not block: signal a thread, post to an event loop. It
 * may call loom_request_wait() on its request (which then returns at once)
 * but not loom_model_destroy(). It runs after the request is marked done,
 * so a loom_request_wait() in another thread may return before it has run:
 * @user must stay valid until it has.
 */
typedef void (*loom_request_fn)(void *user, loom_status status);

/**
 * loom_model_submit() - queue one inference for the model's pipeline.
 * @model: a loaded model; may be submitted to from many threads at once, and
 *         run synchronously at the same time.
 * @inputs: as for loom_model_run(). The tensors are borrowed until the
 *          request has ended (loom_request_wait() returned or @fn ran); the
 *          array itself only during the call.
 * @n_inputs: must equal loom_model_input_count().
 * @n_outputs: must equal loom_model_output_count().
 * @fn: NULL, or called when the request ends (see loom_request_fn).
 * @user: passed to @fn.
 * @out: receives the request; every request must be passed to
 *       loom_request_wait() once, which frees it.
 *
 * Inputs are checked and the plan is taken now, so a bad input fails here.
 * The call waits while the first stage's queue is full: the pipeline pushes
 * back on callers that submit faster than it runs.
 *
 * Return: LOOM_OK with *@out set; otherwise *@out is NULL and nothing is
 * queued.
 */
LOOM_API loom_status loom_model_submit(loom_model *model, loom_tensor *const *inputs,
                                       size_t n_inputs, size_t n_outputs, loom_request_fn fn,
                                       void *user, loom_request **out);

/**
 * loom_request_wait() - wait for a submitted request, take its results and free it.
 * @req: from loom_model_submit(); invalid after the call, whatever it returns.
 * @outputs: receives one new owned tensor per output, as loom_model_run()'s
 *           (all NULL on failure).
 * @n_outputs: must equal the count given to loom_model_submit().
 *
 * Return: the request's status; on failure loom_last_error() says why, as
 * loom_model_run() would have. LOOM_ERR_CANCELED: the model was destroyed
 * before the request started. A request may be waited for after
 * its model was destroyed.
 */
LOOM_API loom_status loom_request_wait(loom_request *req, loom_tensor **outputs, size_t n_outputs);

/** loom_request_done() - 1 when @req has ended (loom_request_wait() will not block), else 0. */
LOOM_API int loom_request_done(loom_request *req);

/* ------------------------------------------------------------------------ */
/* Tensors                                                                  */

/**
 * loom_tensor_create() - a new tensor that owns zero-filled storage.
 * @dtype: element type (not STRING).
 * @rank: 0..LOOM_MAX_RANK. Rank 0 is a scalar with one element.
 * @dims: @rank non-negative dimensions (may be NULL when @rank is 0).
 */
LOOM_API loom_status loom_tensor_create(loom_dtype dtype, int rank, const int64_t *dims,
                                        loom_tensor **out);

/**
 * loom_tensor_wrap() - a tensor that borrows @data.
 * @size: bytes available at @data; must be at least the tensor's byte size.
 *
 * libloom never frees @data; it must stay valid until the tensor is destroyed.
 */
LOOM_API loom_status loom_tensor_wrap(loom_dtype dtype, int rank, const int64_t *dims, void *data,
                                      size_t size, loom_tensor **out);

/** loom_tensor_destroy() - free @t (and its data if it owns it). NULL is ok. */
LOOM_API void loom_tensor_destroy(loom_tensor *t);

/** loom_tensor_dtype() - element type of @t. */
LOOM_API loom_dtype loom_tensor_dtype(const loom_tensor *t);
/** loom_tensor_rank() - number of dimensions of @t. */
LOOM_API int loom_tensor_rank(const loom_tensor *t);
/** loom_tensor_dims() - pointer to @t's loom_tensor_rank() dimensions. */
LOOM_API const int64_t *loom_tensor_dims(const loom_tensor *t);
/** loom_tensor_count() - number of elements of @t (1 for a scalar). */
LOOM_API int64_t loom_tensor_count(const loom_tensor *t);
/** loom_tensor_size() - bytes of data of @t. */
LOOM_API size_t loom_tensor_size(const loom_tensor *t);
/** loom_tensor_data() - the elements of @t, row-major, densely packed. */
LOOM_API void *loom_tensor_data(loom_tensor *t);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_LOOM_H */
