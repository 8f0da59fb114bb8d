/*
 * shim_xrt.c - Alveo cards through XRT's C API (xrt_device.h, xrt_bo.h,
 * xrt_kernel.h), running the Loom CUs of an xclbin built from hls/.
 *
 * libloom does not link XRT: the shim opens libxrt_coreutil.so.2 with dlopen
 * at enumeration, so a host without XRT, without its core library or without
 * a card reports no xrt:N device, cleanly. Compiled only where libxrt-dev is
 * installed (LOOM_HAVE_XRT, set by mk/fpga-rt.mk); elsewhere the enumeration
 * is a stub.
 *
 * Each START_CU command becomes one xrt::run of the CU's kernel ("name" before
 * the ':' of its IP_LAYOUT name) with the BO of each argument, sub-allocated
 * at its offset. Runs of a chain are started in order and waited in order;
 * XRT's scheduler keeps a CU's runs in order.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/env.h"
#include "core/error.h"
#include "shim.h"

#ifdef LOOM_HAVE_XRT

#include <xrt/xrt_bo.h>
#include <xrt/xrt_device.h>
#include <xrt/xrt_kernel.h>

/* The functions we take from XRT, resolved once. */
static struct {
    int loaded; /* 1 ok, -1 unavailable */
    int (*probe)(void);
    xrtDeviceHandle (*dev_open)(unsigned int);
    int (*dev_close)(xrtDeviceHandle);
    int (*load_xclbin)(xrtDeviceHandle, const struct axlf *);
    int (*get_uuid)(xrtDeviceHandle, xuid_t);
    xrtBufferHandle (*bo_alloc)(xrtDeviceHandle, size_t, xrtBufferFlags, xrtMemoryGroup);
    xrtBufferHandle (*bo_sub)(xrtBufferHandle, size_t, size_t);
    int (*bo_free)(xrtBufferHandle);
    uint64_t (*bo_addr)(xrtBufferHandle);
    int (*bo_write)(xrtBufferHandle, const void *, size_t, size_t);
    int (*bo_read)(xrtBufferHandle, void *, size_t, size_t);
    int (*bo_sync)(xrtBufferHandle, enum xclBOSyncDirection, size_t, size_t);
    xrtKernelHandle (*k_open)(xrtDeviceHandle, const xuid_t, const char *);
    int (*k_close)(xrtKernelHandle);
    xrtRunHandle (*run_open)(xrtKernelHandle);
    int (*run_arg)(xrtRunHandle, int, ...);
    int (*run_start)(xrtRunHandle);
    enum ert_cmd_state (*run_wait)(xrtRunHandle);
    int (*run_close)(xrtRunHandle);
} X;

static int xrt_load(void)
{
    if (X.loaded)
        return X.loaded > 0;
    X.loaded = -1;
    void *core = dlopen("libxrt_core.so.2", RTLD_NOW | RTLD_LOCAL);
    void *util = core ? dlopen("libxrt_coreutil.so.2", RTLD_NOW | RTLD_GLOBAL) : NULL;
    if (!util)
        return 0;
#define SYM(field, lib, name)                                                                      \
    do {                                                                                           \
        *(void **)&X.field = dlsym(lib, name);                                                     \
        if (!X.field)                                                                              \
            return 0;                                                                              \
    } while (0)
    SYM(probe, core, "xclProbe");
    SYM(dev_open, util, "xrtDeviceOpen");
    SYM(dev_close, util, "xrtDeviceClose");
    SYM(load_xclbin, util, "xrtDeviceLoadXclbin");
    SYM(get_uuid, util, "xrtDeviceGetXclbinUUID");
    SYM(bo_alloc, util, "xrtBOAlloc");
    SYM(bo_sub, util, "xrtBOSubAlloc");
    SYM(bo_free, util, "xrtBOFree");
    SYM(bo_addr, util, "xrtBOAddress");
    SYM(bo_write, util, "xrtBOWrite");
    SYM(bo_read, util, "xrtBORead");
    SYM(bo_sync, util, "xrtBOSync");
    SYM(k_open, util, "xrtPLKernelOpen");
    SYM(k_close, util, "xrtKernelClose");
    SYM(run_open, util, "xrtRunOpen");
    SYM(run_arg, util, "xrtRunSetArg");
    SYM(run_start, util, "xrtRunStart");
    SYM(run_wait, util, "xrtRunWait");
    SYM(run_close, util, "xrtRunClose");
#undef SYM
    X.loaded = 1;
    return 1;
}

typedef struct xcard {
    xrtDeviceHandle dev;
    int index;
    int n_cus;
    lm_card_cu cus[LM_CARD_MAX_CUS];
    xrtKernelHandle kernels[LM_CARD_MAX_CUS];
} xcard;

static xcard *xc(lm_card *c)
{
    return c->priv;
}

static loom_status x_bo_alloc(lm_card *c, uint64_t size, lm_card_bo *bo)
{
    xrtBufferHandle h = X.bo_alloc(xc(c)->dev, size, XRT_BO_FLAGS_NONE, 0);
    if (!h)
        return lm_error(LOOM_ERR_NO_MEMORY, "%s: xrtBOAlloc of %llu bytes failed", c->name,
                        (unsigned long long)size);
    memset(bo, 0, sizeof(*bo));
    bo->size = size;
    bo->dev_addr = X.bo_addr(h);
    bo->priv = h;
    return LOOM_OK;
}

static void x_bo_free(lm_card *c, lm_card_bo *bo)
{
    X.bo_free(bo->priv);
    memset(bo, 0, sizeof(*bo));
}

static loom_status x_bo_write(lm_card *c, const lm_card_bo *bo, uint64_t off, const void *src,
                              uint64_t n)
{
    if (X.bo_write(bo->priv, src, n, off) || X.bo_sync(bo->priv, XCL_BO_SYNC_BO_TO_DEVICE, n, off))
        return lm_error(LOOM_ERR_RUNTIME, "%s: writing a buffer failed", c->name);
    return LOOM_OK;
}

static loom_status x_bo_read(lm_card *c, const lm_card_bo *bo, uint64_t off, void *dst, uint64_t n)
{
    if (X.bo_sync(bo->priv, XCL_BO_SYNC_BO_FROM_DEVICE, n, off) || X.bo_read(bo->priv, dst, n, off))
        return lm_error(LOOM_ERR_RUNTIME, "%s: reading a buffer failed", c->name);
    return LOOM_OK;
}

static loom_status x_program(lm_card *c, const void *xclbin, size_t size)
{
    xcard *x = xc(c);
    if (X.load_xclbin(x->dev, xclbin))
        return lm_error(LOOM_ERR_RUNTIME, "%s: XRT refused the xclbin", c->name);
    xuid_t uuid;
    X.get_uuid(x->dev, uuid);
    for (int i = 0; i < x->n_cus; i++)
        if (x->kernels[i])
            X.k_close(x->kernels[i]);
    x->n_cus = 0;
    /* IP_LAYOUT gives the CUs; the kernel name is what precedes ':'. */
    const uint8_t *p = xclbin;
    uint32_t nsec;
    memcpy(&nsec, p + 448, 4);
    for (uint32_t s = 0; s < nsec && 456 + 40 * (uint64_t)(s + 1) <= size; s++) {
        uint32_t kind;
        uint64_t off, len;
        memcpy(&kind, p + 456 + 40 * s, 4);
        memcpy(&off, p + 456 + 40 * s + 24, 8);
        memcpy(&len, p + 456 + 40 * s + 32, 8);
        if (kind != IP_LAYOUT || off > size || len > size - off || len < 8)
            continue;
        int32_t count;
        memcpy(&count, p + off, 4);
        for (int32_t i = 0; i < count && x->n_cus < LM_CARD_MAX_CUS; i++) {
            if (8 + 80 * (uint64_t)(i + 1) > len)
                break;
            const uint8_t *ip = p + off + 8 + 80 * (uint64_t)i; /* struct ip_data */
            uint32_t type;
            memcpy(&type, ip, 4);
            if (type != IP_KERNEL)
                continue;
            lm_card_cu *cu = &x->cus[x->n_cus];
            memcpy(cu->name, ip + 16, 63);
            cu->name[63] = 0;
            memcpy(&cu->base, ip + 8, 8);
            char kname[64];
            snprintf(kname, sizeof(kname), "%s", cu->name);
            char *colon = strchr(kname, ':');
            if (colon)
                *colon = 0;
            x->kernels[x->n_cus++] = X.k_open(x->dev, uuid, kname);
        }
    }
    return LOOM_OK;
}

/* The class of an ERT command's final state: TIMEOUT means the scheduler
 * reset the CU, NORESPONSE that the reset failed too (the card is gone),
 * ABORT that the command was taken away (by a reset or a close). */
static loom_status ert_class(enum ert_cmd_state st)
{
    switch (st) {
    case ERT_CMD_STATE_COMPLETED:
        return LOOM_OK;
    case ERT_CMD_STATE_TIMEOUT:
        return LOOM_ERR_DEVICE_TIMEOUT;
    case ERT_CMD_STATE_NORESPONSE:
        return LOOM_ERR_DEVICE_LOST;
    case ERT_CMD_STATE_ABORT:
        return LOOM_ERR_DEVICE_TRANSIENT;
    default:
        return LOOM_ERR_RUNTIME;
    }
}

/* @deadline_ns is not enforced here: XRT's C API waits for a run without a
 * timeout, and its own CU timeout (ERT) fails a hung command. */
static loom_status x_run(lm_card *c, const lm_card_cmd *cmds, int n, uint64_t *cycles,
                         uint64_t deadline_ns)
{
    xcard *x = xc(c);
    xrtRunHandle *runs = calloc((size_t)(n > 0 ? n : 1), sizeof(*runs));
    xrtBufferHandle *subs = calloc((size_t)(n > 0 ? n : 1) * LM_CARD_MAX_ARGS, sizeof(*subs));
    loom_status s = !runs || !subs ? lm_error(LOOM_ERR_NO_MEMORY, "out of memory") : LOOM_OK;
    int started = 0;
    for (int i = 0; i < n && !s; i++) {
        if (cmds[i].cu_index >= (uint32_t)x->n_cus || !x->kernels[cmds[i].cu_index]) {
            s = lm_error(LOOM_ERR_RUNTIME, "%s: no kernel for CU %u", c->name, cmds[i].cu_index);
            break;
        }
        runs[i] = X.run_open(x->kernels[cmds[i].cu_index]);
        for (int a = 0; a < cmds[i].n_args && runs[i]; a++) {
            xrtBufferHandle h = cmds[i].args[a].bo->priv;
            if (cmds[i].args[a].offset)
                h = subs[i * LM_CARD_MAX_ARGS + a] = X.bo_sub(
                    h, cmds[i].args[a].bo->size - cmds[i].args[a].offset, cmds[i].args[a].offset);
            X.run_arg(runs[i], a, h);
        }
        if (!runs[i] || X.run_start(runs[i]))
            s = lm_error(LOOM_ERR_RUNTIME, "%s: starting command %d failed", c->name, i + 1);
        else
            started++;
    }
    for (int i = 0; i < started; i++) {
        enum ert_cmd_state st = X.run_wait(runs[i]);
        if (st != ERT_CMD_STATE_COMPLETED && !s)
            s = lm_error(ert_class(st), "%s: command %d of %d failed (ERT state %d)", c->name,
                         i + 1, n, (int)st);
    }
    for (int i = 0; runs && i < n; i++)
        if (runs[i])
            X.run_close(runs[i]);
    for (int i = 0; subs && i < n * LM_CARD_MAX_ARGS; i++)
        if (subs[i])
            X.bo_free(subs[i]);
    free(runs);
    free(subs);
    if (cycles)
        *cycles = 0;
    return s;
}

static loom_status x_info(lm_card *c, lm_card_info *info)
{
    xcard *x = xc(c);
    memset(info, 0, sizeof(*info));
    snprintf(info->driver, sizeof(info->driver), "xrt");
    snprintf(info->pci, sizeof(info->pci), "-");
    snprintf(info->board, sizeof(info->board), "xrt device %d", x->index);
    info->numa_node = -1;
    info->status = LM_CARD_READY | (x->n_cus ? LM_CARD_PROGRAMMED : 0);
    X.get_uuid(x->dev, info->xclbin_uuid);
    snprintf(info->xclbin, sizeof(info->xclbin), "%s", c->xclbin);
    info->n_cus = x->n_cus;
    memcpy(info->cus, x->cus, sizeof(x->cus));
    return LOOM_OK;
}

static void x_close(lm_card *c)
{
    xcard *x = xc(c);
    for (int i = 0; i < x->n_cus; i++)
        if (x->kernels[i])
            X.k_close(x->kernels[i]);
    X.dev_close(x->dev);
    free(x);
    free(c);
}

static const lm_card_ops xrt_ops = {
    .close = x_close,
    .info = x_info,
    .bo_alloc = x_bo_alloc,
    .bo_free = x_bo_free,
    .bo_write = x_bo_write,
    .bo_read = x_bo_read,
    .program = x_program,
    .run = x_run,
};

loom_status lm_card_xrt_open_all(lm_card **cards, int max, int *n)
{
    if (lm_env_flag(LM_ENV_NO_XRT) || !xrt_load())
        return LOOM_OK;
    int count = X.probe();
    for (int i = 0, k = 0; i < count && *n < max; i++) {
        xrtDeviceHandle d = X.dev_open((unsigned)i);
        if (!d)
            continue;
        lm_card *c = calloc(1, sizeof(*c));
        xcard *x = calloc(1, sizeof(*x));
        if (!c || !x) {
            free(c);
            free(x);
            X.dev_close(d);
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        }
        x->dev = d;
        x->index = i;
        c->ops = &xrt_ops;
        c->priv = x;
        snprintf(c->name, sizeof(c->name), "xrt:%d", k++);
        cards[(*n)++] = c;
    }
    return LOOM_OK;
}

#else /* !LOOM_HAVE_XRT */

loom_status lm_card_xrt_open_all(lm_card **cards, int max, int *n)
{
    (void)cards;
    (void)max;
    (void)n;
    return LOOM_OK;
}

#endif
