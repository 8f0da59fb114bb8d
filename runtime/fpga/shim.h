/*
 * shim.h - one interface to a Loom card, whatever drives it.
 *
 * The FPGA backend (device.c) talks to cards only through this table. Three
 * shims implement it:
 *
 *   emulated  an in-process card: the card model of hls/card (the same
 *             command processor loom-cardsim runs) over a window in host
 *             memory. LOOM_EMULATED_CARDS=N or the context option makes N.
 *   kernel    cards of loom.ko, found through libdrm (driver name "loom") and
 *             /dev/accel, driven by the uapi ioctls of kernel/uapi/loom_accel.h.
 *   xrt       Alveo cards through XRT's C API, loaded with dlopen so that a
 *             host without XRT (or without a card) simply reports none.
 *
 * Device memory is handed out as buffer objects (BOs) with a device address
 * that compute units see; commands name BOs plus an offset, which the kernel
 * shim needs (the driver turns handles into addresses) and the others reduce
 * to dev_addr + offset. Calls on one card may come from several threads: each
 * shim serializes what must be serialized. Every call returns a loom_status
 * and sets the runtime's last error on failure.
 */
#ifndef LOOM_FPGA_SHIM_H
#define LOOM_FPGA_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loom/loom.h"

#define LM_CARD_MAX_CUS  64
#define LM_CARD_MAX_ARGS 13 /* START_CU carries 13 u64 arguments */

typedef struct lm_card lm_card;

/* A buffer in device memory. */
typedef struct lm_card_bo {
    uint64_t size;     /* bytes allocated (may exceed what was asked) */
    uint64_t dev_addr; /* what the card's compute units see */
    uint32_t handle;   /* the shim's handle (a GEM handle for the kernel shim) */
    void *map;         /* host mapping of the whole BO, or NULL */
    void *priv;        /* the shim's own */
} lm_card_bo;

/* One argument of a START_CU command: a BO and a byte offset into it. */
typedef struct lm_card_arg {
    const lm_card_bo *bo;
    uint64_t offset;
} lm_card_arg;

/* One START_CU command. */
typedef struct lm_card_cmd {
    uint32_t cu_index; /* in the loaded xclbin's IP_LAYOUT order */
    int n_args;
    lm_card_arg args[LM_CARD_MAX_ARGS];
} lm_card_cmd;

typedef struct lm_card_cu {
    char name[64]; /* "kernel:instance" from IP_LAYOUT */
    uint32_t kind; /* LOOM_CU_* when the shim knows it, else 0 */
    uint64_t base; /* control-space base address */
} lm_card_cu;

#define LM_CARD_READY      0x1u
#define LM_CARD_PROGRAMMED 0x2u
#define LM_CARD_DEAD       0x4u

typedef struct lm_card_info {
    char driver[16]; /* "emulated", "loom.ko", "xrt" */
    char node[64];   /* device node, or "" */
    char pci[32];    /* PCI address, or "-" */
    char board[32];  /* board name the card reports */
    int numa_node;   /* -1 if none */
    uint32_t status; /* LM_CARD_* */
    uint32_t interface_version;
    uint64_t mem_total, mem_used; /* device-memory heap, bytes */
    uint8_t xclbin_uuid[16];      /* zero if none loaded */
    char xclbin[128];             /* where the loaded xclbin came from, if known */
    int n_cus;
    lm_card_cu cus[LM_CARD_MAX_CUS];
    uint64_t commands, errors, resets;
    uint32_t temp_mc, power_mw, heartbeat;
} lm_card_info;

typedef struct lm_card_ops {
    void (*close)(lm_card *card);
    loom_status (*info)(lm_card *card, lm_card_info *info);
    loom_status (*bo_alloc)(lm_card *card, uint64_t size, lm_card_bo *bo);
    void (*bo_free)(lm_card *card, lm_card_bo *bo);
    loom_status (*bo_write)(lm_card *card, const lm_card_bo *bo, uint64_t off, const void *src,
                            uint64_t n);
    loom_status (*bo_read)(lm_card *card, const lm_card_bo *bo, uint64_t off, void *dst,
                           uint64_t n);
    /* Loads an xclbin (axlf container) onto the card. */
    loom_status (*program)(lm_card *card, const void *xclbin, size_t size);
    /* Runs @n commands in order on the card, without host round trips in
     * between, and returns once all completed; *cycles (optional) gets the
     * card cycles they took in total. The first failing command fails the call.
     * @deadline_ns (lm_now_ns() time, 0: none): the host stops waiting then
     * and fails the call with LOOM_ERR_DEVICE_TIMEOUT (the card's own
     * watchdog, loom.ko's job timeout, still resets it). */
    loom_status (*run)(lm_card *card, const lm_card_cmd *cmds, int n, uint64_t *cycles,
                       uint64_t deadline_ns);
} lm_card_ops;

struct lm_card {
    const lm_card_ops *ops;
    char name[32];    /* "card:0", "xrt:0" */
    char xclbin[128]; /* path of the xclbin this process loaded, if any */
    void *priv;
};

/* Wrappers, so that call sites read as intent. */
static inline loom_status lm_card_info_get(lm_card *c, lm_card_info *i)
{
    return c->ops->info(c, i);
}
static inline loom_status lm_card_bo_alloc(lm_card *c, uint64_t size, lm_card_bo *bo)
{
    return c->ops->bo_alloc(c, size, bo);
}
static inline void lm_card_bo_free(lm_card *c, lm_card_bo *bo)
{
    if (bo->size)
        c->ops->bo_free(c, bo);
}
static inline loom_status lm_card_bo_write(lm_card *c, const lm_card_bo *bo, uint64_t off,
                                           const void *src, uint64_t n)
{
    return c->ops->bo_write(c, bo, off, src, n);
}
static inline loom_status lm_card_bo_read(lm_card *c, const lm_card_bo *bo, uint64_t off, void *dst,
                                          uint64_t n)
{
    return c->ops->bo_read(c, bo, off, dst, n);
}
static inline loom_status lm_card_run(lm_card *c, const lm_card_cmd *cmds, int n, uint64_t *cycles,
                                      uint64_t deadline_ns)
{
    return c->ops->run(c, cmds, n, cycles, deadline_ns);
}
static inline void lm_card_close(lm_card *c)
{
    if (c)
        c->ops->close(c);
}

/* Loads the xclbin file at @path onto @card. */
loom_status lm_card_program_file(lm_card *card, const char *path);

/* The default xclbin of the emulated Loom card: $LOOM_XCLBIN, else the one
 * the build made, else the installed one. NULL when none exists. */
const char *lm_card_default_xclbin(void);

/*
 * Enumeration. Each opens the cards its shim finds, appends them to @cards
 * (capacity @max, *n in/out) and names them "@prefix:<index>" counting from
 * *n. Finding none is not an error.
 */
loom_status lm_card_kernel_open_all(lm_card **cards, int max, int *n);
loom_status lm_card_emulated_open(int count, lm_card **cards, int max, int *n);
/* Gives emulated card @c the PCI bus id @bus_id ("dddd:bb:dd.f"), which its
 * info reports, so a topology can place it (LOOM_EMULATED_CARD_PCI). */
void lm_card_emulated_set_pci(lm_card *c, const char *bus_id);
loom_status lm_card_xrt_open_all(lm_card **cards, int max, int *n);

/* Every card of this host: loom.ko's, then @emulated in-process ones (-1:
 * LOOM_EMULATED_CARDS), named card:N in that order; then XRT's, xrt:N. */
loom_status lm_cards_open_all(int emulated, lm_card **cards, int max, int *n);

/* How many emulated cards LOOM_EMULATED_CARDS asks for (0 if unset). */
int lm_card_emulated_count(void);

#endif
