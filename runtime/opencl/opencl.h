/*
 * opencl.h - the OpenCL backend's internals: devices found through the ICD
 * loader, programs built once per device (and cached on disk), and segments
 * compiled into lists of kernel launches.
 *
 * Files: device.c (discovery, "opencl:N" devices, examine info), clerr.c
 * (OpenCL error codes as statuses, the error injection hook), program.c
 * (program build and binary cache), tune.c (GEMM tile choice), segment.c
 * (compile/run/release, buffer pool), ops.c (which nodes run here: the op
 * table) with the lowering per op family in ops_eltwise.c, ops_gemm.c,
 * ops_conv.c, ops_norm.c and ops_data.c (shared helpers: ops_common.h/.c).
 */
#ifndef LOOM_OPENCL_OPENCL_H
#define LOOM_OPENCL_OPENCL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/backend.h"
#include "core/device.h"

/* Kernel sources embedded at build time (mk/opencl.mk generates the table
 * from runtime/opencl/kernels/\*.cl); ends with {NULL, NULL}. */
typedef struct lm_cl_source {
    const char *name; /* file name without .cl */
    const char *text;
} lm_cl_source;
extern const lm_cl_source lm_cl_sources[];

/* What examine shows and what the planner may use (memory, locality). */
typedef struct lm_cl_info {
    char name[128], vendor[64], driver[64], version[128], c_version[64], platform[128];
    bool is_gpu, is_cpu;
    unsigned compute_units, clock_mhz;
    uint64_t global_mem, local_mem, max_alloc;
    size_t max_wg;
    bool fp16, fp64, subgroups;
    bool host_unified; /* CL_DEVICE_HOST_UNIFIED_MEMORY: it computes from host memory */
    bool has_pci;      /* cl_khr_pci_bus_info */
    unsigned pci_domain, pci_bus, pci_dev, pci_fn;
} lm_cl_info;

/* Tile parameters of gemm.cl (see there); vw: elements per vector load. */
typedef struct lm_cl_gemm_cfg {
    int tsm, tsn, tsk, wptm, wptn, vw;
} lm_cl_gemm_cfg;

typedef struct lm_cl_pooled {
    cl_mem mem;
    size_t size;
} lm_cl_pooled;

typedef struct lm_cl_device {
    lm_device base;
    cl_platform_id platform;
    cl_device_id id;
    lm_cl_info info;
    cl_context ctx;
    pthread_mutex_t lock; /* Protects the programs' lazy build and the pool */
    /* Per storage precision ([1]: fp16 storage, loom_context_options.fp16_storage),
     * built when a segment first needs them: contexts sharing the device may
     * differ. */
    bool ready[2];           /* programs built */
    cl_program ops_prog[2];  /* common + eltwise + nn */
    cl_program gemm_prog[2]; /* common + gemm with the tuned tile */
    bool tuned;              /* gemm is chosen */
    lm_cl_gemm_cfg gemm;     /* tile of gemm_prog */
    int n_pool, cap_pool;    /* buffers released by segments, reused by the next */
    lm_cl_pooled *pool;
} lm_cl_device;

/* Fused and standalone activation codes; match common.cl. */
enum lm_cl_act {
    LM_CL_ACT_NONE = 0,
    LM_CL_ACT_RELU = 1,
    LM_CL_ACT_LEAKY_RELU = 2,
    LM_CL_ACT_CLIP = 3,
    LM_CL_ACT_SIGMOID = 4,
    LM_CL_ACT_HARD_SIGMOID = 5,
    LM_CL_ACT_HARD_SWISH = 6,
    LM_CL_ACT_SILU = 31,
};

/* Every OpenCL device of every platform as "opencl:N", in platform order
 * then device order; listed in runtime/backends.c. No platform: no device. */
extern const lm_backend lm_opencl_backend;

/* Lists devices for examine, in the same order and names as enumerate. */
int lm_opencl_list(lm_cl_info *out, int max);

/* Builds the device's programs for storage precision @half (from the binary
 * cache when it holds them), picking the GEMM tile first; once per device and
 * precision. Caller holds dev->lock. */
loom_status lm_cl_device_ready_locked(lm_cl_device *dev, bool half);

/* Builds @n_src sources (names in lm_cl_sources) with @options into a program,
 * loading a cached binary when one matches device, driver, options and source. */
loom_status lm_cl_program(lm_cl_device *dev, const char *const *names, int n_src,
                          const char *options, cl_program *out);

/* Program builds from source in this process: a second start with a warm
 * cache leaves it unchanged. Each build is also an INFO log message. */
int lm_cl_program_builds(void);

/* A stable 64-bit key for @dev: device, driver and platform names. */
uint64_t lm_cl_device_key(const lm_cl_device *dev);
uint64_t lm_cl_hash(uint64_t h, const void *data, size_t len);

/* Picks the GEMM tile (tuning once, then from the cache) into dev->gemm. */
loom_status lm_cl_gemm_setup(lm_cl_device *dev);
/* Candidate tiles, valid for @dev; returns how many were written. */
int lm_cl_gemm_candidates(const lm_cl_device *dev, lm_cl_gemm_cfg *out, int max);
/* Those of CPUs or (@gpu) GPUs, valid for @dev: tests run GPU tiles on PoCL. */
int lm_cl_gemm_candidates_for(const lm_cl_device *dev, bool gpu, lm_cl_gemm_cfg *out, int max);
/* Builds the GEMM program for @cfg, storing half when @half. */
loom_status lm_cl_gemm_program(lm_cl_device *dev, const lm_cl_gemm_cfg *cfg, bool half,
                               cl_program *out);
/* "TSM,TSN,TSK,WPTM,WPTN,VW" of @c into @buf. */
const char *lm_cl_gemm_cfg_str(const lm_cl_gemm_cfg *c, char *buf, size_t len);
/* Enqueues C = A * B (row-major, dense) with program @prog of tile @cfg. */
cl_int lm_cl_gemm_enqueue(cl_command_queue q, cl_kernel k, const lm_cl_gemm_cfg *cfg, int M, int N,
                          int K, cl_mem A, cl_mem B, cl_mem C, cl_event *ev);

/* The device's buffer pool (segment.c). */
cl_mem lm_cl_pool_get(lm_cl_device *dev, size_t size);
void lm_cl_pool_put(lm_cl_device *dev, cl_mem mem, size_t size);

/* Device memory held by the compiled segments of this process, in bytes:
 * constants (weights) and activation buffers, for the fp16 saving figure. */
typedef struct lm_cl_mem_use {
    uint64_t constants, buffers;
} lm_cl_mem_use;
lm_cl_mem_use lm_cl_memory_in_use(void);

/* IEEE half from float, rounding to nearest even (weights uploaded as fp16). */
uint16_t lm_cl_half_from_float(float f);

/* The status class of an OpenCL error code (clerr.c): device gone or
 * context lost -> LOOM_ERR_DEVICE_LOST, out of device resources ->
 * LOOM_ERR_DEVICE_TRANSIENT, out of host memory -> LOOM_ERR_NO_MEMORY,
 * anything else -> LOOM_ERR_RUNTIME. */
loom_status lm_cl_status(cl_int err);
/* Records "@device: @what failed (<code>)" with @err's class and returns it. */
loom_status lm_cl_fail(const char *device, const char *what, cl_int err);

/* Test hook, no public API: the enqueue or finish that comes after the next
 * @after_n_calls ones of any segment run returns @err instead of what OpenCL
 * said (once; 0 disarms). Lets a unit test prove the mapping end to end. */
void lm_cl_inject_error(cl_int err, int after_n_calls);
/* Passes @real through, or the armed error when its turn has come. */
cl_int lm_cl_injected(cl_int real);

extern const lm_device_ops lm_cl_device_ops;
void lm_cl_device_destroy(lm_device *base);

/* ---- segment compilation: the ops*.c files lower nodes through this builder ---- */

typedef struct lm_cl_builder lm_cl_builder;

/* Whether the backend runs @n with inputs shaped @in (ops.c). */
bool lm_cl_supports(const lm_node *n, loom_tensor *const *in);
/* Appends @n's launches to @b (ops.c). */
loom_status lm_cl_lower(lm_cl_builder *b, const lm_node *n);

/* Builder services for the ops*.c files (segment.c). */
const loom_tensor *lm_clb_shape(lm_cl_builder *b, int value);
const loom_tensor *lm_clb_const(lm_cl_builder *b, int value);
cl_mem lm_clb_in(lm_cl_builder *b, int value);
cl_mem lm_clb_out(lm_cl_builder *b, int value);
void lm_clb_alias(lm_cl_builder *b, int out_value, int in_value);
cl_mem lm_clb_scratch(lm_cl_builder *b, size_t bytes);
/* Uploads @bytes of @data for this segment alone (index tables and other
 * shape-dependent data; constants go through lm_clb_const_copy()). */
cl_mem lm_clb_upload(lm_cl_builder *b, const void *data, size_t bytes);
/* Layouts of constants' device copies (lm_clb_const_copy), parameters above bit 8. */
enum { LM_CL_LAYOUT_AS_IS, LM_CL_LAYOUT_TRANSPOSED, LM_CL_LAYOUT_CONVT };
/* A float32 array made from constant @c (as @arg says), malloc'd, with its
 * element count in *@n; NULL when out of memory. */
typedef float *(*lm_clb_derive_fn)(const loom_tensor *c, const void *arg, size_t *n);
/* The device copy of constant value @v in the storage type (float values
 * half with fp16 storage): as it is (@derive NULL), or as derive(c, @arg)
 * makes it, a layout that @layout names apart from every other derive of the
 * same constant. The copy is shared by every segment, plan and model on the
 * device that asks for the same (value content, @layout): uploaded once. */
cl_mem lm_clb_const_copy(lm_cl_builder *b, int v, uint64_t layout, lm_clb_derive_fn derive,
                         const void *arg);
/* Bytes per stored tensor element: 4, or 2 with fp16 storage. */
size_t lm_clb_elem(lm_cl_builder *b);
cl_kernel lm_clb_kernel(lm_cl_builder *b, const char *name);
cl_kernel lm_clb_gemm_kernel(lm_cl_builder *b, const lm_cl_gemm_cfg **cfg);
void lm_clb_launch(lm_cl_builder *b, cl_kernel k, cl_uint dim, const size_t *gws,
                   const size_t *lws);
void lm_clb_copy(lm_cl_builder *b, cl_mem src, size_t src_off, cl_mem dst, size_t dst_off,
                 size_t bytes);
loom_status lm_clb_error(lm_cl_builder *b); /* first failure so far, or LOOM_OK */
loom_status lm_clb_fail(lm_cl_builder *b, cl_int err, const char *what);
size_t lm_clb_max_wg(lm_cl_builder *b);

/* Kernel arguments in order: lm_cl_args(b, k) then lm_cl_arg_*(). */
typedef struct lm_cl_args {
    lm_cl_builder *b;
    cl_kernel k;
    cl_uint i;
} lm_cl_args;
void lm_cl_arg_mem(lm_cl_args *a, cl_mem m);
void lm_cl_arg_int(lm_cl_args *a, int64_t v);
void lm_cl_arg_float(lm_cl_args *a, float v);
void lm_cl_arg_local(lm_cl_args *a, size_t bytes); /* a __local buffer */

/* Launches a 1-D elementwise kernel over @n items (nothing when n == 0). */
void lm_clb_launch1d(lm_cl_builder *b, cl_kernel k, int64_t n);

#endif
