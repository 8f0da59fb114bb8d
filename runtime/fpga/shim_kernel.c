/*
 * shim_kernel.c - Loom cards driven by loom.ko through its uapi ioctls.
 *
 * Cards are found through libdrm (drmGetDevices2, render nodes of 6.1) and
 * /dev/accel/accel* (DRM accel nodes of 6.12, which libdrm 2.4.114 does not
 * list); a node counts when its driver name is "loom". Buffers are GEM BOs
 * mapped write-combined; a chain of commands is submitted to one context (its
 * jobs run in order on the card) and only the last is waited for before the
 * statuses of all are collected.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <xf86drm.h>

#include "../../kernel/uapi/loom_accel.h"
#include "core/devstats.h"
#include "core/env.h"
#include "core/error.h"
#include "shim.h"

typedef struct kcard {
    int fd;
    char node[64];
    char pci[32];         /* PCI address, for a stable card:N order */
    pthread_mutex_t lock; /* Protects ctx_id creation. */
    uint32_t ctx_id;
} kcard;

static kcard *kc(lm_card *c)
{
    return c->priv;
}

static int xioctl(int fd, unsigned long req, void *arg)
{
    int r;
    do {
        r = ioctl(fd, req, arg);
    } while (r == -1 && (errno == EINTR || errno == EAGAIN));
    return r;
}

/* The class of an errno from loom.ko: the driver answers ENODEV once the
 * card is unplugged or dead, ETIME when a WAIT's timeout passed (the job is
 * still stuck on the card), ECANCELED for jobs a reset took away. */
static loom_status errno_status(int e)
{
    switch (e) {
    case ENOMEM:
    case ENOSPC:
        return LOOM_ERR_NO_MEMORY;
    case ENODEV:
    case ENXIO:
        return LOOM_ERR_DEVICE_LOST;
    case ETIME:
    case ETIMEDOUT:
        return LOOM_ERR_DEVICE_TIMEOUT;
    case ECANCELED:
        return LOOM_ERR_DEVICE_TRANSIENT;
    }
    return LOOM_ERR_RUNTIME;
}

static loom_status kerr(lm_card *c, const char *what)
{
    int e = errno;
    return lm_error(errno_status(e), "%s (%s): %s: %s", c->name, kc(c)->node, what, strerror(e));
}

static loom_status k_bo_alloc(lm_card *c, uint64_t size, lm_card_bo *bo)
{
    struct drm_loom_bo_create cr = {.size = size};
    if (xioctl(kc(c)->fd, DRM_IOCTL_LOOM_BO_CREATE, &cr))
        return kerr(c, "BO_CREATE");
    void *map =
        mmap(NULL, cr.size, PROT_READ | PROT_WRITE, MAP_SHARED, kc(c)->fd, (off_t)cr.mmap_offset);
    if (map == MAP_FAILED) {
        loom_status s = kerr(c, "mmap of a BO");
        struct drm_gem_close cl = {.handle = cr.handle};
        xioctl(kc(c)->fd, DRM_IOCTL_GEM_CLOSE, &cl);
        return s;
    }
    memset(bo, 0, sizeof(*bo));
    bo->size = cr.size;
    bo->dev_addr = cr.dev_addr;
    bo->handle = cr.handle;
    bo->map = map;
    return LOOM_OK;
}

static void k_bo_free(lm_card *c, lm_card_bo *bo)
{
    if (bo->map)
        munmap(bo->map, bo->size);
    struct drm_gem_close cl = {.handle = bo->handle};
    xioctl(kc(c)->fd, DRM_IOCTL_GEM_CLOSE, &cl);
    memset(bo, 0, sizeof(*bo));
}

static loom_status k_bo_write(lm_card *c, const lm_card_bo *bo, uint64_t off, const void *src,
                              uint64_t n)
{
    if (off > bo->size || n > bo->size - off)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "%s: write past the end of a buffer", c->name);
    memcpy((uint8_t *)bo->map + off, src, n);
    return LOOM_OK;
}

static loom_status k_bo_read(lm_card *c, const lm_card_bo *bo, uint64_t off, void *dst, uint64_t n)
{
    if (off > bo->size || n > bo->size - off)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "%s: read past the end of a buffer", c->name);
    memcpy(dst, (const uint8_t *)bo->map + off, n);
    return LOOM_OK;
}

static loom_status k_program(lm_card *c, const void *xclbin, size_t size)
{
    struct drm_loom_xclbin_load ld = {.ptr = (uintptr_t)xclbin, .size = size};
    if (xioctl(kc(c)->fd, DRM_IOCTL_LOOM_XCLBIN_LOAD, &ld)) {
        int e = errno;
        return lm_error(LOOM_ERR_RUNTIME,
                        "%s (%s): XCLBIN_LOAD refused the xclbin: %s (reason %u, detail %llu)",
                        c->name, kc(c)->node, strerror(e), ld.reason,
                        (unsigned long long)ld.detail);
    }
    return LOOM_OK;
}

static loom_status k_context(lm_card *c, uint32_t *ctx)
{
    kcard *k = kc(c);
    loom_status s = LOOM_OK;
    pthread_mutex_lock(&k->lock);
    if (!k->ctx_id) {
        struct drm_loom_ctx_create cc = {0};
        if (xioctl(k->fd, DRM_IOCTL_LOOM_CTX_CREATE, &cc))
            s = kerr(c, "CTX_CREATE");
        else
            k->ctx_id = cc.ctx_id;
    }
    *ctx = k->ctx_id;
    pthread_mutex_unlock(&k->lock);
    return s;
}

/* The class of a job's final status (enum drm_loom_job_status). A CU error
 * stays LOOM_ERR_RUNTIME: the card ran and refused the command. */
static loom_status job_class(uint32_t st)
{
    switch (st) {
    case LOOM_JOB_OK:
        return LOOM_OK;
    case LOOM_JOB_TIMEDOUT:
        return LOOM_ERR_DEVICE_TIMEOUT;
    case LOOM_JOB_CANCELED:
        return LOOM_ERR_DEVICE_TRANSIENT;
    case LOOM_JOB_DEVICE_LOST:
        return LOOM_ERR_DEVICE_LOST;
    }
    return LOOM_ERR_RUNTIME;
}

static const char *job_status(uint32_t st)
{
    switch (st) {
    case LOOM_JOB_ERROR:
        return "the card or CU reported an error";
    case LOOM_JOB_TIMEDOUT:
        return "timed out (the card was reset)";
    case LOOM_JOB_CANCELED:
        return "canceled by a reset";
    case LOOM_JOB_DEVICE_LOST:
        return "the card is gone";
    }
    return "unknown status";
}

/* A WAIT's timeout: what is left until @deadline_ns (at least 1 ms, so a
 * completed job is still collected), or 30 s without one. */
static int64_t wait_ns(uint64_t deadline_ns)
{
    if (!deadline_ns)
        return 30000000000ll;
    uint64_t now = lm_now_ns();
    return deadline_ns > now + 1000000 ? (int64_t)(deadline_ns - now) : 1000000;
}

static loom_status k_run(lm_card *c, const lm_card_cmd *cmds, int n, uint64_t *cycles,
                         uint64_t deadline_ns)
{
    uint32_t ctx;
    loom_status s = k_context(c, &ctx);
    if (s)
        return s;
    uint64_t *seqs = calloc((size_t)(n > 0 ? n : 1), sizeof(uint64_t));
    if (!seqs)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    int submitted = 0;
    for (int i = 0; i < n && !s; i++) {
        struct drm_loom_bo_arg bos[LM_CARD_MAX_ARGS];
        for (int a = 0; a < cmds[i].n_args; a++)
            bos[a] = (struct drm_loom_bo_arg){.handle = cmds[i].args[a].bo->handle,
                                              .offset = cmds[i].args[a].offset};
        struct drm_loom_submit sub = {.ctx_id = ctx,
                                      .cu_index = cmds[i].cu_index,
                                      .num_bos = (uint32_t)cmds[i].n_args,
                                      .bos_ptr = (uintptr_t)bos};
        /* The context's queue is bounded: EBUSY/ENOSPC means wait for the oldest. */
        int tries = 0;
        while (ioctl(kc(c)->fd, DRM_IOCTL_LOOM_SUBMIT, &sub)) {
            if ((errno == EBUSY || errno == ENOSPC || errno == EAGAIN) && submitted > tries &&
                tries < n) {
                struct drm_loom_wait w = {
                    .ctx_id = ctx, .seq = seqs[tries++], .timeout_ns = 10000000000ll};
                xioctl(kc(c)->fd, DRM_IOCTL_LOOM_WAIT, &w);
                continue;
            }
            if (errno == EINTR)
                continue;
            s = kerr(c, "SUBMIT");
            break;
        }
        if (!s)
            seqs[submitted++] = sub.seq;
    }
    for (int i = 0; i < submitted; i++) {
        struct drm_loom_wait w = {
            .ctx_id = ctx, .seq = seqs[i], .timeout_ns = wait_ns(deadline_ns)};
        if (xioctl(kc(c)->fd, DRM_IOCTL_LOOM_WAIT, &w)) {
            /* Past the deadline the host stops waiting: the job stays on the
             * card until loom.ko's job timeout resets it. */
            if (!s)
                s = errno == ETIME && deadline_ns
                        ? lm_error(LOOM_ERR_DEVICE_TIMEOUT,
                                   "%s (%s): command %d of %d did not complete by the segment's "
                                   "deadline",
                                   c->name, kc(c)->node, i + 1, n)
                        : kerr(c, "WAIT");
            continue;
        }
        if (w.status != LOOM_JOB_OK && !s)
            s = lm_error(job_class(w.status), "%s: command %d of %d failed: %s", c->name, i + 1, n,
                         job_status(w.status));
    }
    free(seqs);
    if (cycles)
        *cycles = 0; /* the driver does not report card cycles per job */
    return s;
}

/* PCI address and NUMA node of the device behind @fd, from sysfs. */
static void sysfs_of(int fd, char *pci, size_t len, int *numa)
{
    struct stat st;
    char path[PATH_MAX], link[PATH_MAX];
    snprintf(pci, len, "-");
    *numa = -1;
    if (fstat(fd, &st))
        return;
    snprintf(path, sizeof(path), "/sys/dev/char/%u:%u/device", major(st.st_rdev),
             minor(st.st_rdev));
    ssize_t n = readlink(path, link, sizeof(link) - 1);
    if (n > 0) {
        link[n] = 0;
        const char *b = strrchr(link, '/');
        const char *src = b ? b + 1 : link;
        size_t l = strnlen(src, len - 1);
        memcpy(pci, src, l);
        pci[l] = 0;
    }
    snprintf(path, sizeof(path), "/sys/dev/char/%u:%u/device/numa_node", major(st.st_rdev),
             minor(st.st_rdev));
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%d", numa) != 1)
            *numa = -1;
        fclose(f);
    }
}

static loom_status k_info(lm_card *c, lm_card_info *info)
{
    struct drm_loom_cu cus[LOOM_MAX_CUS];
    struct drm_loom_get_info gi = {.cus_count = LOOM_MAX_CUS, .cus_ptr = (uintptr_t)cus};
    memset(info, 0, sizeof(*info));
    if (xioctl(kc(c)->fd, DRM_IOCTL_LOOM_GET_INFO, &gi))
        return kerr(c, "GET_INFO");
    snprintf(info->driver, sizeof(info->driver), "loom.ko");
    snprintf(info->node, sizeof(info->node), "%s", kc(c)->node);
    sysfs_of(kc(c)->fd, info->pci, sizeof(info->pci), &info->numa_node);
    if (gi.numa_node >= 0)
        info->numa_node = gi.numa_node;
    memcpy(info->board, gi.name, sizeof(info->board) - 1);
    info->status = (gi.status & LOOM_INFO_STATUS_READY ? LM_CARD_READY : 0) |
                   (gi.status & LOOM_INFO_STATUS_PROGRAMMED ? LM_CARD_PROGRAMMED : 0) |
                   (gi.status & LOOM_INFO_STATUS_DEAD ? LM_CARD_DEAD : 0);
    info->interface_version = gi.interface_version;
    info->mem_total = gi.mem_total;
    info->mem_used = gi.mem_used;
    memcpy(info->xclbin_uuid, gi.xclbin_uuid, 16);
    snprintf(info->xclbin, sizeof(info->xclbin), "%s", c->xclbin);
    info->n_cus = (int)(gi.cus_count < LOOM_MAX_CUS ? gi.cus_count : LOOM_MAX_CUS);
    for (int i = 0; i < info->n_cus; i++) {
        memcpy(info->cus[i].name, cus[i].name, sizeof(info->cus[i].name) - 1);
        info->cus[i].base = cus[i].base_address;
    }
    info->commands = gi.jobs_submitted;
    info->errors = gi.jobs_timedout;
    info->resets = gi.resets;
    info->temp_mc = gi.temp_mc;
    info->power_mw = gi.power_mw;
    info->heartbeat = gi.heartbeat;
    return LOOM_OK;
}

static void k_close(lm_card *c)
{
    kcard *k = kc(c);
    if (k->ctx_id) {
        struct drm_loom_ctx_destroy d = {.ctx_id = k->ctx_id};
        xioctl(k->fd, DRM_IOCTL_LOOM_CTX_DESTROY, &d);
    }
    close(k->fd);
    pthread_mutex_destroy(&k->lock);
    free(k);
    free(c);
}

static const lm_card_ops kernel_ops = {
    .close = k_close,
    .info = k_info,
    .bo_alloc = k_bo_alloc,
    .bo_free = k_bo_free,
    .bo_write = k_bo_write,
    .bo_read = k_bo_read,
    .program = k_program,
    .run = k_run,
};

/* Opens @node if loom.ko drives it; appends it to @cards. */
static void try_node(const char *node, lm_card **cards, int max, int *n)
{
    if (*n >= max)
        return;
    for (int i = 0; i < *n; i++)
        if (cards[i]->ops == &kernel_ops && strcmp(kc(cards[i])->node, node) == 0)
            return;
    int fd = open(node, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    drmVersionPtr v = drmGetVersion(fd);
    bool ours = v && v->name && strcmp(v->name, "loom") == 0;
    drmFreeVersion(v);
    lm_card *c = ours ? calloc(1, sizeof(*c)) : NULL;
    kcard *k = c ? calloc(1, sizeof(*k)) : NULL;
    if (!k) {
        free(c);
        close(fd);
        return;
    }
    k->fd = fd;
    snprintf(k->node, sizeof(k->node), "%s", node);
    int numa;
    sysfs_of(fd, k->pci, sizeof(k->pci), &numa);
    for (int i = 0; i < *n; i++) /* one card, two nodes (render and accel) */
        if (cards[i]->ops == &kernel_ops && strcmp(k->pci, "-") != 0 &&
            strcmp(kc(cards[i])->pci, k->pci) == 0) {
            close(fd);
            free(k);
            free(c);
            return;
        }
    pthread_mutex_init(&k->lock, NULL);
    c->ops = &kernel_ops;
    c->priv = k;
    snprintf(c->name, sizeof(c->name), "card:%d", *n);
    cards[(*n)++] = c;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* card:N follows the PCI address, whatever order libdrm lists nodes in. */
static int cmp_pci(const void *a, const void *b)
{
    return strcmp(kc(*(lm_card *const *)a)->pci, kc(*(lm_card *const *)b)->pci);
}

static void open_nodes(lm_card **cards, int max, int *n);

loom_status lm_card_kernel_open_all(lm_card **cards, int max, int *n)
{
    int first = *n;
    open_nodes(cards, max, n);
    qsort(cards + first, (size_t)(*n - first), sizeof(lm_card *), cmp_pci);
    for (int i = first; i < *n; i++)
        snprintf(cards[i]->name, sizeof(cards[i]->name), "card:%d", i);
    return LOOM_OK;
}

static void open_nodes(lm_card **cards, int max, int *n)
{
    const char *only = lm_env_str(LM_ENV_NODE); /* tests: one node, by path */
    if (only) {
        try_node(only, cards, max, n);
        return;
    }
    drmDevicePtr devs[64];
    int nd = drmGetDevices2(0, devs, 64);
    for (int i = 0; i < nd; i++) {
        if (devs[i]->available_nodes & (1 << DRM_NODE_RENDER))
            try_node(devs[i]->nodes[DRM_NODE_RENDER], cards, max, n);
    }
    if (nd > 0)
        drmFreeDevices(devs, nd);
    /* DRM accel nodes, in name order (accel0, accel1, ...). */
    DIR *d = opendir("/dev/accel");
    if (d) {
        char *names[64];
        int nn = 0;
        struct dirent *de;
        while ((de = readdir(d)) && nn < 64)
            if (strncmp(de->d_name, "accel", 5) == 0)
                names[nn++] = strdup(de->d_name);
        closedir(d);
        qsort(names, (size_t)nn, sizeof(char *), cmp_str);
        for (int i = 0; i < nn; i++) {
            char path[300];
            if (names[i]) {
                snprintf(path, sizeof(path), "/dev/accel/%s", names[i]);
                try_node(path, cards, max, n);
            }
            free(names[i]);
        }
    }
}
