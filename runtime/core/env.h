/*
 * env.h - every environment variable libloom reads, in one table, and the
 * only functions in runtime/ that read the environment.
 *
 * Each variable is read once, at its first use, and kept for the life of the
 * process, so a lookup on a hot path costs one atomic load. Set variables
 * before starting Loom; a test that changes one with setenv() calls
 * lm_env_reload() afterwards. runtime/README.md ("Environment") documents
 * the table for users: keep the two in step (test_env checks the names).
 *
 * Flags: unset or empty means the default; "0", "no", "off" and "false" turn
 * them off, any other value on. Numbers: unset, empty or not a number means
 * the default, others are clamped to [min, max]. Strings: unset or empty
 * reads as NULL, and the reader applies its own default.
 */
#ifndef LOOM_CORE_ENV_H
#define LOOM_CORE_ENV_H

#include <stdbool.h>

/* Who a variable is for. Test-only variables switch paths off so tests and
 * benchmarks can compare them with the reference; they may go at any time. */
typedef enum lm_env_audience {
    LM_ENV_FOR_USER,   /* documented for users, kept stable */
    LM_ENV_FOR_SYSTEM, /* a standard variable Loom also honours */
    LM_ENV_FOR_TESTS,  /* for tests and benchmarks only */
} lm_env_audience;

typedef enum lm_env_type { LM_ENV_IS_FLAG, LM_ENV_IS_INT, LM_ENV_IS_STR } lm_env_type;

/*
 * The table: X(id, name, type, default, min, max, audience, read by, meaning).
 * type is FLAG, INT or STR (LM_ENV_IS_*), audience USER, SYSTEM or TESTS
 * (LM_ENV_FOR_*). default/min/max are numbers for flags (0/1) and numbers;
 * a string's default is its reader's, given in its meaning.
 */
// clang-format off
#define LM_ENV_TABLE(X)                                                                            \
    /* ---- user knobs ---- */                                                                     \
    X(CPU_ISA, "LOOM_CPU_ISA", STR, 0, 0, 0, USER, "cpu/cpu_features.c",                           \
      "caps the instruction sets CPU kernels use: scalar, avx2, avx512 (no AMX) (default: all)")   \
    X(CACHE_DIR, "LOOM_CACHE_DIR", STR, 0, 0, 0, USER, "core/cache.c",                             \
      "where OpenCL binaries, GEMM tiles and measured costs are cached (default: "                 \
      "$XDG_CACHE_HOME/loom, else ~/.cache/loom)")                                                 \
    X(OPENCL_GEMM, "LOOM_OPENCL_GEMM", STR, 0, 0, 0, USER, "opencl/tune.c",                        \
      "forces the OpenCL GEMM tile: TSM,TSN,TSK,WPTM,WPTN[,VW] (default: tuned once, cached)")     \
    X(OPENCL_TUNE, "LOOM_OPENCL_TUNE", FLAG, 1, 0, 1, USER, "opencl/tune.c",                       \
      "0 skips timing GEMM tiles and takes the first candidate")                                   \
    X(EMULATED_CARDS, "LOOM_EMULATED_CARDS", INT, 0, 0, 16, USER, "core/registry.c",               \
      "in-process emulated Loom cards, where loom_context_options.emulated_cards is 0")            \
    X(EMULATED_CARD_FAULTS, "LOOM_EMULATED_CARD_FAULTS", STR, 0, 0, 0, USER, "fpga/emu_fault.c",  \
      "a file the emulated card reads before every command: ok, hang, die, corrupt or slow MS")    \
    X(EMULATED_CARD_TIMEOUT_MS, "LOOM_EMULATED_CARD_TIMEOUT_MS", INT, 2000, 1, 3600000, USER,      \
      "fpga/emu_fault.c", "the emulated card's job deadline in ms: a hung command fails after it") \
    X(EMULATED_CARD_MB, "LOOM_EMULATED_CARD_MB", INT, 256, 1, 16384, USER, "fpga/shim_emu.c",      \
      "an emulated card's memory window in MiB (rounded up to a power of 2)")                      \
    X(XCLBIN, "LOOM_XCLBIN", STR, 0, 0, 0, USER, "fpga/cards.c",                                   \
      "the emulated card's xclbin (default: loom-emu.xclbin in LOOM_BITSTREAM_DIR, the "           \
      "build's bitstreams/, then PREFIX/share/loom/bitstreams)")                                   \
    X(HEALTH_PROBE_MS, "LOOM_HEALTH_PROBE_MS", INT, 1000, 10, 3600000, USER, "core/health.c",       \
      "how often a quarantined device is asked whether it answers again (then known-answer tested)") \
    X(PLAN_AHEAD, "LOOM_PLAN_AHEAD", FLAG, 1, 0, 1, USER, "core/spare.c",                           \
      "0 makes no replacement plans ahead (core/spare.h): less memory, but the first runs "        \
      "after a device leaves plan (and may build OpenCL programs) on the way")                    \
    X(DEVICE_DEADLINE_MIN_MS, "LOOM_DEVICE_DEADLINE_MIN_MS", INT, 250, 1, 3600000, USER,           \
      "core/deadline.c", "the shortest a device segment's deadline gets (core/deadline.h)")        \
    X(DEVICE_DEADLINE_MAX_MS, "LOOM_DEVICE_DEADLINE_MAX_MS", INT, 30000, 1, 3600000, USER,         \
      "core/deadline.c", "the longest a device segment's deadline gets, and the one it gets "      \
      "before it was measured")                                                                    \
    X(BITSTREAM_DIR, "LOOM_BITSTREAM_DIR", STR, 0, 0, 0, USER, "fpga/cards.c",                     \
      "the first directory searched for loom-emu.xclbin")                                          \
    X(VISIBLE_CARDS, "LOOM_VISIBLE_CARDS", STR, 0, 0, 0, USER, "fpga/visible.c",                   \
      "the only cards this process uses: card indices, names, PCI bus ids (set but empty: none)")  \
    X(PLAN_CACHE_MB, "LOOM_PLAN_CACHE_MB", INT, 128, 1, 1048576, USER, "core/model.c",             \
      "each model's plan cache budget in MiB (plans' tables and arenas; least recently used "     \
      "plans leave past it); loom_model_set_plan_cache_bytes() overrides it per model")            \
    X(ARENA_IDLE_MS, "LOOM_ARENA_IDLE_MS", INT, 10000, 1, 86400000, USER, "core/plancache.c",      \
      "a plan no run used for this long gives its arenas back (the next run of its shape maps "    \
      "them again); loom_model_release_idle() does it at once")                                    \
    X(LOOP_MAX_TRIPS, "LOOM_LOOP_MAX_TRIPS", INT, 0, 0, 2147483647, USER, "core/control.c",           \
      "a Loop that runs this many iterations without ending fails the run (0: no limit, as "       \
      "ONNX means it)")                                                                            \
    X(EMULATED_CARD_PCI, "LOOM_EMULATED_CARD_PCI", STR, 0, 0, 0, USER, "fpga/device.c",            \
      "PCI bus ids for the emulated cards, comma-separated, one per card in order "                \
      "(0000:83:00.0,...): where the topology places them (default: none, locality unknown)")     \
    /* ---- standard variables ---- */                                                             \
    X(XDG_CACHE_HOME, "XDG_CACHE_HOME", STR, 0, 0, 0, SYSTEM, "core/cache.c",                      \
      "the cache directory is $XDG_CACHE_HOME/loom when LOOM_CACHE_DIR is unset")                  \
    X(HOME, "HOME", STR, 0, 0, 0, SYSTEM, "core/cache.c",                                          \
      "the cache directory is ~/.cache/loom when neither of the above is set")                     \
    X(HWLOC_XMLFILE, "HWLOC_XMLFILE", STR, 0, 0, 0, SYSTEM, "core/topology.c",                     \
      "an hwloc XML topology used instead of this machine's (default: this machine); "             \
      "loom_context_options.topology_xml overrides it")                                            \
    /* ---- test-only knobs ---- */                                                                \
    X(POISON_OUTPUTS, "LOOM_POISON_OUTPUTS", FLAG, 0, 0, 1, TESTS, "core/run.c",                   \
      "outputs of kernels that claim to store every element start as 0xA5 bytes, not unset")       \
    X(NO_VIEWS, "LOOM_NO_VIEWS", FLAG, 0, 0, 1, TESTS, "core/arena.c",                             \
      "Reshape/Flatten outputs and Concat inputs are copies, not views into one arena item")       \
    X(CONV_NO_DIRECT, "LOOM_CONV_NO_DIRECT", FLAG, 0, 0, 1, TESTS, "cpu/ops/conv.c",                   \
      "float Conv: no direct kernel for shallow inputs (first layers, stride-2 downsampling)")                                        \
    X(CONV_NO_DW16, "LOOM_CONV_NO_DW16", FLAG, 0, 0, 1, TESTS, "cpu/ops/conv.c",                   \
      "float Conv: no 16-channel-block depthwise kernel")                                          \
    X(CONV_NO_DWROWS, "LOOM_CONV_NO_DWROWS", FLAG, 0, 0, 1, TESTS, "cpu/ops/conv.c",               \
      "float Conv: no row depthwise kernel for large planes")                                      \
    X(CONV_NO_WINOGRAD, "LOOM_CONV_NO_WINOGRAD", FLAG, 0, 0, 1, TESTS, "cpu/ops/conv.c",           \
      "float Conv: no Winograd 3x3")                                                               \
    X(CONV_NO_TAPS, "LOOM_CONV_NO_TAPS", FLAG, 0, 0, 1, TESTS, "cpu/ops/conv.c",                   \
      "float Conv: no tap-sparse GEMM for dilated convolutions over small planes")                 \
    X(CONV_WINOGRAD_F2, "LOOM_CONV_WINOGRAD_F2", FLAG, 0, 0, 1, TESTS, "cpu/ops/conv.c",           \
      "float Conv: Winograd F(2x2, 3x3) where F(4x4, 3x3) would run")                              \
    X(QCONV_NO_DIRECT, "LOOM_QCONV_NO_DIRECT", FLAG, 0, 0, 1, TESTS, "cpu/ops/qconv.c",            \
      "QLinearConv: only direct 1x1 and im2col (no depthwise, no padded planes)")                  \
    X(QDQ_NO_TABLES, "LOOM_QDQ_NO_TABLES", FLAG, 0, 0, 1, TESTS, "core/fuse_qlut.c",              \
      "QDQ models: element-wise chains between quantizers stay float (no loom.QLut)")           \
    X(OPENCL_COPY_BOUNDARY, "LOOM_OPENCL_COPY_BOUNDARY", FLAG, 0, 0, 1, TESTS,                     \
      "opencl/segment.c", "segments copy their inputs and outputs even on a device that "         \
      "computes from host memory (the path a discrete GPU takes)")                                 \
    X(NODE, "LOOM_NODE", STR, 0, 0, 0, TESTS, "fpga/shim_kernel.c",                                \
      "the kernel shim opens only this device node (default: every loom.ko render node)")          \
    X(NO_XRT, "LOOM_NO_XRT", FLAG, 0, 0, 1, TESTS, "fpga/shim_xrt.c",                              \
      "XRT is not loaded, so there are no xrt:N cards")                                            \
    X(NUMA_BIND_REFUSED, "LOOM_NUMA_BIND_REFUSED", FLAG, 0, 0, 1, TESTS, "core/numa.c",            \
      "binding threads and memory to NUMA nodes fails with EPERM, as in a container")              \
    X(NUMA_BIND_XML, "LOOM_NUMA_BIND_XML", FLAG, 0, 0, 1, TESTS, "core/numa.c",                    \
      "bind as the topology says even when it comes from an XML file (a fixture of this machine)") \
// clang-format on

typedef enum lm_env_var {
#define LM_ENV_ID(id, ...) LM_ENV_##id,
    LM_ENV_TABLE(LM_ENV_ID)
#undef LM_ENV_ID
        LM_ENV_COUNT
} lm_env_var;

/* One row of the table. */
typedef struct lm_env_info {
    const char *name;
    lm_env_type type;
    long def, min, max;
    lm_env_audience audience;
    const char *reader; /* the file under runtime/ that uses it */
    const char *meaning;
} lm_env_info;

/* Row @v of the table, or NULL past its end (for docs and tests). */
const lm_env_info *lm_env_info_of(int v);

/* A flag's value; its default when unset. */
bool lm_env_flag(lm_env_var v);

/* A number's value, clamped to the row's range; its default when unset. */
long lm_env_int(lm_env_var v);

/* A string's value; NULL when unset or empty. Valid until lm_env_reload(). */
const char *lm_env_str(lm_env_var v);

/* Whether the variable is in the environment at all, empty included: for the
 * rows where set-but-empty means something (LOOM_VISIBLE_CARDS: no card). */
bool lm_env_is_set(lm_env_var v);

/* Forgets every value read, so the next lookup reads the environment again.
 * For tests, between setenv() and the next use; no other thread may be
 * running libloom meanwhile. */
void lm_env_reload(void);

#endif
