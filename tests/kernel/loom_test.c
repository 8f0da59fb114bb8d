// SPDX-License-Identifier: GPL-2.0
/*
 * loom.ko uapi selftests (kselftest harness), run inside QEMU against
 * loom-cardsim. LOOM_NODE names the device node (default: the first
 * /dev/accel/accel* or /dev/dri/renderD*).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "drm.h"
#include "../../kernel/loom_card_if.h"
#include "../../kernel/loom_xclbin.h"
#include "../../kernel/uapi/loom_accel.h"

static const uint8_t sim_iface[16] = {0x4c, 0x4d, 0x4e, 0x4f, 0x50, 0x51, 0x52, 0x53,
                                      0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x5b};
static const uint8_t test_uuid[16] = {0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80,
                                      0x90, 0xa0, 0xb0, 0xc0, 0xd0, 0xe0, 0xf0, 0x01};

static const char *node_path(void)
{
    static char path[256];
    const char *env = getenv("LOOM_NODE");
    glob_t g;

    if (env && *env)
        return env;
    if (glob("/dev/accel/accel*", 0, NULL, &g) && glob("/dev/dri/renderD*", 0, NULL, &g))
        return "/dev/loom-missing";
    snprintf(path, sizeof(path), "%s", g.gl_pathv[0]);
    globfree(&g);
    return path;
}

static int open_node(void)
{
    return open(node_path(), O_RDWR | O_CLOEXEC);
}

static int xioctl(int fd, unsigned long req, void *arg)
{
    int ret;

    do {
        ret = ioctl(fd, req, arg);
    } while (ret == -1 && (errno == EINTR || errno == EAGAIN));
    return ret == -1 ? -errno : 0;
}

/* The PCI address of the device behind node_path(), from sysfs. */
static int node_bdf(char *bdf, size_t len)
{
    char link[512], path[128];
    struct stat st;
    ssize_t n;

    if (stat(node_path(), &st))
        return -errno;
    snprintf(path, sizeof(path), "/sys/dev/char/%u:%u/device", major(st.st_rdev),
             minor(st.st_rdev));
    n = readlink(path, link, sizeof(link) - 1);
    if (n < 0)
        return -errno;
    link[n] = '\0';
    snprintf(bdf, len, "%s", strrchr(link, '/') + 1);
    return 0;
}

/* Set the simulator fault of this test's card through its debugfs hook. */
static int sim_fault(const char *what)
{
    char bdf[64], path[256];
    glob_t g;
    int fd, ret;

    if (node_bdf(bdf, sizeof(bdf)))
        return -ENOENT;
    snprintf(path, sizeof(path), "/sys/kernel/debug/accel/%s/sim_fault", bdf);
    if (access(path, W_OK)) {
        /* Render-node kernels: debugfs lives under the primary minor. */
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/drm/card*", bdf);
        if (glob(path, 0, NULL, &g))
            return -ENOENT;
        snprintf(path, sizeof(path), "/sys/kernel/debug/dri/%s/sim_fault",
                 strrchr(g.gl_pathv[0], '/') + 5);
        globfree(&g);
    }
    fd = open(path, O_WRONLY);
    if (fd < 0)
        return -errno;
    ret = write(fd, what, strlen(what)) < 0 ? -errno : 0;
    close(fd);
    return ret;
}

/*
 * Build an xclbin for the simulator: BITSTREAM with n CUs of the given
 * kinds, IP_LAYOUT, MEM_TOPOLOGY (one bank) and CONNECTIVITY (two args per CU).
 */
#define NSEC 4
static size_t build_xclbin(uint8_t *buf, size_t cap, const uint32_t *kinds, uint32_t n)
{
    struct loom_axlf *ax = (void *)buf;
    uint64_t off, bs_len = 8 + 4 * (uint64_t)n, ipl_len = 8 + 80 * (uint64_t)n;
    uint64_t mt_len = 8 + 40, con_len = 4 + 12 * 2 * (uint64_t)n;
    struct loom_axlf_ip_layout *ipl;
    struct loom_axlf_mem_topology *mt;
    struct loom_axlf_connectivity *con;
    uint32_t i, magic = LOOM_SIM_BITSTREAM_MAGIC;

    memset(buf, 0, cap);
    memcpy(ax->magic, "xclbin2", 8);
    ax->signature_length = -1;
    ax->header.num_sections = NSEC;
    memcpy(ax->header.interface_uuid, sim_iface, 16);
    memcpy(ax->header.uuid, test_uuid, 16);
    off = AXLF_HEADER_SIZE + NSEC * sizeof(struct loom_axlf_section_header);
    off = (off + 7) & ~7ULL;

    ax->sections[0].section_kind = AXLF_SECTION_BITSTREAM;
    strcpy(ax->sections[0].section_name, "loom-sim");
    ax->sections[0].section_offset = off;
    ax->sections[0].section_size = bs_len;
    memcpy(buf + off, &magic, 4);
    memcpy(buf + off + 4, &n, 4);
    memcpy(buf + off + 8, kinds, 4 * n);
    off = (off + bs_len + 7) & ~7ULL;

    ax->sections[1].section_kind = AXLF_SECTION_IP_LAYOUT;
    ax->sections[1].section_offset = off;
    ax->sections[1].section_size = ipl_len;
    ipl = (void *)(buf + off);
    ipl->count = (int32_t)n;
    for (i = 0; i < n; i++) {
        ipl->ip_data[i].type = AXLF_IP_KERNEL;
        ipl->ip_data[i].base_address = 0x1800000 + 0x10000 * i;
        snprintf((char *)ipl->ip_data[i].name, 64, "loom_cu:loom_cu_%u", i);
    }
    off = (off + ipl_len + 7) & ~7ULL;

    ax->sections[2].section_kind = AXLF_SECTION_MEM_TOPOLOGY;
    ax->sections[2].section_offset = off;
    ax->sections[2].section_size = mt_len;
    mt = (void *)(buf + off);
    mt->count = 1;
    mt->mem_data[0].used = 1;
    mt->mem_data[0].size_kb = 64 * 1024;
    memcpy(mt->mem_data[0].tag, "HEAP", 5);
    off = (off + mt_len + 7) & ~7ULL;

    ax->sections[3].section_kind = AXLF_SECTION_CONNECTIVITY;
    ax->sections[3].section_offset = off;
    ax->sections[3].section_size = con_len;
    con = (void *)(buf + off);
    con->count = (int32_t)(2 * n);
    for (i = 0; i < 2 * n; i++) {
        con->connection[i].arg_index = (int32_t)(i % 2);
        con->connection[i].ip_layout_index = (int32_t)(i / 2);
        con->connection[i].mem_data_index = 0;
    }
    off += con_len;
    ax->header.length = off;
    return off;
}

static const uint32_t std_kinds[] = {LOOM_SIM_CU_NOOP, LOOM_SIM_CU_MEMCPY, LOOM_SIM_CU_VADD};
#define CU_NOOP   0
#define CU_MEMCPY 1
#define CU_VADD   2

static int load_xclbin(int fd, void *buf, size_t len, struct drm_loom_xclbin_load *out)
{
    struct drm_loom_xclbin_load l = {.ptr = (uintptr_t)buf, .size = len};
    int ret = xioctl(fd, DRM_IOCTL_LOOM_XCLBIN_LOAD, &l);

    if (out)
        *out = l;
    return ret;
}

static int load_std(int fd)
{
    static uint8_t buf[4096];
    size_t len = build_xclbin(buf, sizeof(buf), std_kinds, 3);

    return load_xclbin(fd, buf, len, NULL);
}

static uint32_t ctx_create(int fd)
{
    struct drm_loom_ctx_create c = {0};

    return xioctl(fd, DRM_IOCTL_LOOM_CTX_CREATE, &c) ? 0 : c.ctx_id;
}

static int submit_noop(int fd, uint32_t ctx, uint64_t *seq)
{
    struct drm_loom_submit s = {.ctx_id = ctx, .flags = LOOM_SUBMIT_NOOP};
    int ret = xioctl(fd, DRM_IOCTL_LOOM_SUBMIT, &s);

    *seq = s.seq;
    return ret;
}

static int wait_job(int fd, uint32_t ctx, uint64_t seq, int64_t timeout_ms, uint32_t *status)
{
    struct drm_loom_wait w = {.ctx_id = ctx, .seq = seq, .timeout_ns = timeout_ms * 1000000};
    int ret = xioctl(fd, DRM_IOCTL_LOOM_WAIT, &w);

    *status = w.status;
    return ret;
}

struct bo {
    uint32_t handle;
    uint64_t size, dev_addr, mmap_offset;
    void *map;
};

static int bo_new(int fd, uint64_t size, struct bo *bo)
{
    struct drm_loom_bo_create c = {.size = size};
    int ret = xioctl(fd, DRM_IOCTL_LOOM_BO_CREATE, &c);

    if (ret)
        return ret;
    bo->handle = c.handle;
    bo->size = c.size;
    bo->dev_addr = c.dev_addr;
    bo->mmap_offset = c.mmap_offset;
    bo->map = mmap(NULL, bo->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)c.mmap_offset);
    return bo->map == MAP_FAILED ? -errno : 0;
}

static void bo_free(int fd, struct bo *bo)
{
    struct drm_gem_close gc = {.handle = bo->handle};

    munmap(bo->map, bo->size);
    ioctl(fd, DRM_IOCTL_GEM_CLOSE, &gc);
}

static uint64_t mem_used(int fd)
{
    struct drm_loom_get_info info = {0};

    return xioctl(fd, DRM_IOCTL_LOOM_GET_INFO, &info) ? ~0ULL : info.mem_used;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Device memory in use once no job holds any: a job keeps its BOs until the
 * scheduler frees it, after the card completes it, so memory a closed file
 * (or an exited process) left with jobs in flight comes back asynchronously.
 * Waits, up to 10 s, for every job run to complete and the figure to hold.
 */
static uint64_t settled_mem_used(int fd)
{
    struct drm_loom_get_info a = {0}, b = {0};
    double end = now_s() + 10;

    do {
        if (xioctl(fd, DRM_IOCTL_LOOM_GET_INFO, &a))
            return ~0ULL;
        usleep(20000);
        if (xioctl(fd, DRM_IOCTL_LOOM_GET_INFO, &b))
            return ~0ULL;
    } while ((b.jobs_completed != b.jobs_submitted || a.mem_used != b.mem_used) && now_s() < end);
    return b.mem_used;
}

FIXTURE(dev)
{
    int fd;
};

FIXTURE_SETUP(dev)
{
    self->fd = open_node();
    ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", node_path(), strerror(errno));
}

FIXTURE_TEARDOWN(dev)
{
    close(self->fd);
}

TEST_F(dev, info)
{
    struct drm_loom_get_info info = {0};

    ASSERT_EQ(0, xioctl(self->fd, DRM_IOCTL_LOOM_GET_INFO, &info));
    EXPECT_EQ(LOOM_DRIVER_MAJOR << 16 | LOOM_DRIVER_MINOR, info.driver_version);
    EXPECT_EQ(1, info.interface_version >> 16);
    EXPECT_NE(0, info.status & LOOM_INFO_STATUS_READY);
    EXPECT_LT(0, info.mem_total);
    EXPECT_EQ(4096, info.mem_align);
    EXPECT_EQ(0, memcmp(info.interface_uuid, sim_iface, 16));
    EXPECT_EQ(0, strcmp(info.name, "loom-cardsim"));
    EXPECT_LT(1, info.cmd_slots);
    EXPECT_EQ(16, info.max_contexts);
    info.flags = 1;
    EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_LOOM_GET_INFO, &info));
}

TEST_F(dev, bo_lifecycle_mmap)
{
    uint64_t before = mem_used(self->fd);
    struct drm_loom_bo_info bi = {0};
    struct bo bo;
    uint32_t *p, i;

    ASSERT_EQ(0, bo_new(self->fd, 3 * 4096 + 5, &bo));
    EXPECT_EQ(4 * 4096, bo.size);
    EXPECT_EQ(before + bo.size, mem_used(self->fd));
    p = bo.map;
    for (i = 0; i < bo.size / 4; i++)
        p[i] = i * 2654435761u;
    munmap(bo.map, bo.size);
    bi.handle = bo.handle;
    ASSERT_EQ(0, xioctl(self->fd, DRM_IOCTL_LOOM_BO_INFO, &bi));
    EXPECT_EQ(bo.size, bi.size);
    EXPECT_EQ(bo.dev_addr, bi.dev_addr);
    p = mmap(NULL, bo.size, PROT_READ, MAP_SHARED, self->fd, (off_t)bi.mmap_offset);
    ASSERT_NE(MAP_FAILED, p);
    for (i = 0; i < bo.size / 4; i++)
        if (p[i] != i * 2654435761u)
            break;
    EXPECT_EQ(bo.size / 4, i);
    bo.map = p;
    bo_free(self->fd, &bo);
    EXPECT_EQ(before, mem_used(self->fd));
}

TEST_F(dev, bo_bad_args)
{
    struct drm_loom_bo_create c = {.size = 4096, .flags = 1};
    struct drm_loom_bo_info bi = {.handle = 9999};

    EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_LOOM_BO_CREATE, &c));
    c.flags = 0;
    c.size = 0;
    EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_LOOM_BO_CREATE, &c));
    c.size = 1ULL << 40;
    EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_LOOM_BO_CREATE, &c));
    EXPECT_EQ(-ENOENT, xioctl(self->fd, DRM_IOCTL_LOOM_BO_INFO, &bi));
    bi.flags = 1;
    EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_LOOM_BO_INFO, &bi));
}

TEST_F(dev, xclbin_valid)
{
    struct drm_loom_get_info info = {0};
    struct drm_loom_cu cus[8];

    ASSERT_EQ(0, load_std(self->fd));
    info.cus_ptr = (uintptr_t)cus;
    info.cus_count = 8;
    ASSERT_EQ(0, xioctl(self->fd, DRM_IOCTL_LOOM_GET_INFO, &info));
    EXPECT_EQ(3, info.cus_count);
    EXPECT_NE(0, info.status & LOOM_INFO_STATUS_PROGRAMMED);
    EXPECT_EQ(0, memcmp(info.xclbin_uuid, test_uuid, 16));
    EXPECT_EQ(0x1810000, cus[1].base_address);
    EXPECT_EQ(0, strcmp(cus[2].name, "loom_cu:loom_cu_2"));
}

/* Each hostile container and the reason the driver must give. */
TEST_F(dev, xclbin_hostile)
{
    static uint8_t buf[8192];
    struct drm_loom_xclbin_load l;
    struct loom_axlf *ax = (void *)buf;
    struct loom_axlf_ip_layout *ipl;
    struct loom_axlf_mem_topology *mt;
    struct loom_axlf_connectivity *con;
    size_t len;

#define RELOAD() (len = build_xclbin(buf, sizeof(buf), std_kinds, 3))
#define EXPECT_REFUSED(sz, why)                                                                    \
    do {                                                                                           \
        EXPECT_EQ(-EINVAL, load_xclbin(self->fd, buf, sz, &l));                                    \
        EXPECT_EQ(why, l.reason);                                                                  \
    } while (0)

    RELOAD();
    EXPECT_REFUSED(100, LOOM_XCLBIN_TOO_SMALL);
    EXPECT_REFUSED(len - 1, LOOM_XCLBIN_BAD_LENGTH); /* truncated */
    ax->magic[0] = 'X';
    EXPECT_REFUSED(len, LOOM_XCLBIN_BAD_MAGIC);
    RELOAD();
    ax->sections[1].section_offset = len - 8;
    EXPECT_REFUSED(len, LOOM_XCLBIN_SECTION_BOUNDS);
    EXPECT_EQ(1, l.detail);
    RELOAD();
    ax->sections[0].section_size = ~0ULL - 4;
    EXPECT_REFUSED(len, LOOM_XCLBIN_SECTION_BOUNDS);
    RELOAD();
    ax->header.num_sections = 0xffffffffu;
    EXPECT_REFUSED(len, LOOM_XCLBIN_BAD_SECTION_COUNT);
    ax->header.num_sections = 0;
    EXPECT_REFUSED(len, LOOM_XCLBIN_BAD_SECTION_COUNT);
    RELOAD();
    ipl = (void *)(buf + ax->sections[1].section_offset);
    ipl->count = 0x7fffffff;
    EXPECT_REFUSED(len, LOOM_XCLBIN_BAD_IP_LAYOUT);
    ipl->count = -1;
    EXPECT_REFUSED(len, LOOM_XCLBIN_BAD_IP_LAYOUT);
    RELOAD();
    ax->header.interface_uuid[3] ^= 0xff;
    EXPECT_REFUSED(len, LOOM_XCLBIN_WRONG_INTERFACE);
    RELOAD();
    ax->sections[1].section_kind = AXLF_SECTION_BITSTREAM;
    EXPECT_REFUSED(len, LOOM_XCLBIN_DUPLICATE_SECTION);
    RELOAD();
    ax->sections[1].section_kind = 99;
    EXPECT_REFUSED(len, LOOM_XCLBIN_NO_IP_LAYOUT);
    RELOAD();
    mt = (void *)(buf + ax->sections[2].section_offset);
    mt->count = 2;
    EXPECT_REFUSED(len, LOOM_XCLBIN_BAD_MEM_TOPOLOGY);
    EXPECT_EQ(2, l.detail);
    RELOAD();
    con = (void *)(buf + ax->sections[3].section_offset);
    con->connection[1].mem_data_index = 1; /* no such bank */
    EXPECT_REFUSED(len, LOOM_XCLBIN_BAD_CONNECTIVITY);
    EXPECT_EQ(3, l.detail);
    con->connection[1].mem_data_index = 0;
    con->connection[2].ip_layout_index = 3; /* no such IP */
    EXPECT_REFUSED(len, LOOM_XCLBIN_BAD_CONNECTIVITY);
    con->connection[2].ip_layout_index = -1;
    EXPECT_REFUSED(len, LOOM_XCLBIN_BAD_CONNECTIVITY);
    RELOAD();
    ax->sections[3].section_kind = AXLF_SECTION_MEM_TOPOLOGY;
    EXPECT_REFUSED(len, LOOM_XCLBIN_DUPLICATE_SECTION);
    EXPECT_EQ(3, l.detail);
    RELOAD();
    l = (struct drm_loom_xclbin_load){.ptr = (uintptr_t)buf, .size = len, .flags = 1};
    EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_LOOM_XCLBIN_LOAD, &l));
    /* A refused container leaves the card usable. */
    EXPECT_EQ(0, load_std(self->fd));
}

TEST_F(dev, submit_wait_noop)
{
    uint32_t ctx = ctx_create(self->fd), status = 99;
    uint64_t seq;

    ASSERT_NE(0, ctx);
    ASSERT_EQ(0, submit_noop(self->fd, ctx, &seq));
    EXPECT_EQ(1, seq);
    ASSERT_EQ(0, wait_job(self->fd, ctx, seq, 5000, &status));
    EXPECT_EQ(LOOM_JOB_OK, status);
    EXPECT_EQ(-ENOENT, wait_job(self->fd, ctx, seq + 1, 10, &status));
    {
        struct drm_loom_wait w = {.ctx_id = ctx, .seq = seq, .flags = 1};
        struct drm_loom_ctx_destroy d = {.ctx_id = ctx, .flags = 1};

        EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_LOOM_WAIT, &w));
        w.flags = 0;
        w.pad = 1;
        EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_LOOM_WAIT, &w));
        w.pad = 0;
        w.timeout_ns = -1;
        EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_LOOM_WAIT, &w));
        EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_LOOM_CTX_DESTROY, &d));
    }
    EXPECT_EQ(-ENOENT, wait_job(self->fd, ctx + 100, seq, 10, &status));
}

TEST_F(dev, submit_cus)
{
    struct bo a, b, out;
    struct drm_loom_bo_arg bos[3];
    struct drm_loom_submit s = {0};
    uint64_t scalars[1];
    uint32_t ctx, status, i, *pa, *pb, *po;

    ASSERT_EQ(0, load_std(self->fd));
    ctx = ctx_create(self->fd);
    ASSERT_NE(0, ctx);
    ASSERT_EQ(0, bo_new(self->fd, 4096, &a));
    ASSERT_EQ(0, bo_new(self->fd, 4096, &b));
    ASSERT_EQ(0, bo_new(self->fd, 8192, &out));
    pa = a.map;
    pb = b.map;
    po = out.map;
    for (i = 0; i < 1024; i++) {
        pa[i] = i;
        pb[i] = 1000 * i;
        po[i] = 0xdeadbeef;
    }
    /* vadd: out[i] = a[i] + b[i], 1000 elements */
    bos[0] = (struct drm_loom_bo_arg){.handle = out.handle};
    bos[1] = (struct drm_loom_bo_arg){.handle = a.handle};
    bos[2] = (struct drm_loom_bo_arg){.handle = b.handle};
    scalars[0] = 1000;
    s = (struct drm_loom_submit){.ctx_id = ctx,
                                 .cu_index = CU_VADD,
                                 .num_bos = 3,
                                 .bos_ptr = (uintptr_t)bos,
                                 .num_scalars = 1,
                                 .scalars_ptr = (uintptr_t)scalars};
    ASSERT_EQ(0, xioctl(self->fd, DRM_IOCTL_LOOM_SUBMIT, &s));
    ASSERT_EQ(0, wait_job(self->fd, ctx, s.seq, 5000, &status));
    EXPECT_EQ(LOOM_JOB_OK, status);
    for (i = 0; i < 1000; i++)
        if (po[i] != 1001 * i)
            break;
    EXPECT_EQ(1000, i);
    EXPECT_EQ(0xdeadbeef, po[1000]);

    /* memcpy: out+4096 <- a, 4096 bytes (BO offsets) */
    bos[0] = (struct drm_loom_bo_arg){.handle = out.handle, .offset = 4096};
    bos[1] = (struct drm_loom_bo_arg){.handle = a.handle};
    scalars[0] = 4096;
    s = (struct drm_loom_submit){.ctx_id = ctx,
                                 .cu_index = CU_MEMCPY,
                                 .num_bos = 2,
                                 .bos_ptr = (uintptr_t)bos,
                                 .num_scalars = 1,
                                 .scalars_ptr = (uintptr_t)scalars};
    ASSERT_EQ(0, xioctl(self->fd, DRM_IOCTL_LOOM_SUBMIT, &s));
    ASSERT_EQ(0, wait_job(self->fd, ctx, s.seq, 5000, &status));
    EXPECT_EQ(LOOM_JOB_OK, status);
    EXPECT_EQ(0, memcmp(pa, po + 1024, 4096));

    /* The card checks device ranges: a copy past the heap is an error. */
    scalars[0] = 1ULL << 40;
    ASSERT_EQ(0, xioctl(self->fd, DRM_IOCTL_LOOM_SUBMIT, &s));
    ASSERT_EQ(0, wait_job(self->fd, ctx, s.seq, 5000, &status));
    EXPECT_EQ(LOOM_JOB_ERROR, status);
    bo_free(self->fd, &a);
    bo_free(self->fd, &b);
    bo_free(self->fd, &out);
}

TEST_F(dev, submit_bad_args)
{
    struct drm_loom_bo_arg bos[14] = {0};
    struct drm_loom_submit s;
    uint32_t ctx;
    struct bo a;

    ASSERT_EQ(0, load_std(self->fd));
    ctx = ctx_create(self->fd);
    ASSERT_NE(0, ctx);
    ASSERT_EQ(0, bo_new(self->fd, 4096, &a));
    s = (struct drm_loom_submit){.ctx_id = ctx, .flags = 0x80};
    EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_LOOM_SUBMIT, &s));
    s = (struct drm_loom_submit){.ctx_id = ctx, .flags = LOOM_SUBMIT_NOOP, .pad = 1};
    EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_LOOM_SUBMIT, &s));
    s = (struct drm_loom_submit){.ctx_id = ctx, .flags = LOOM_SUBMIT_NOOP, .cu_index = 1};
    EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_LOOM_SUBMIT, &s));
    s = (struct drm_loom_submit){.ctx_id = ctx, .cu_index = 3};
    EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_LOOM_SUBMIT, &s));
    s = (struct drm_loom_submit){.ctx_id = ctx, .num_bos = 14, .bos_ptr = (uintptr_t)bos};
    EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_LOOM_SUBMIT, &s));
    s = (struct drm_loom_submit){.ctx_id = 77, .flags = LOOM_SUBMIT_NOOP};
    EXPECT_EQ(-ENOENT, xioctl(self->fd, DRM_IOCTL_LOOM_SUBMIT, &s));
    bos[0].handle = 4242;
    s = (struct drm_loom_submit){.ctx_id = ctx, .num_bos = 1, .bos_ptr = (uintptr_t)bos};
    EXPECT_EQ(-ENOENT, xioctl(self->fd, DRM_IOCTL_LOOM_SUBMIT, &s));
    bos[0].handle = a.handle;
    bos[0].offset = 4096;
    EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_LOOM_SUBMIT, &s));
    bos[0].offset = 0;
    bos[0].flags = 1;
    EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_LOOM_SUBMIT, &s));
    s = (struct drm_loom_submit){.ctx_id = ctx, .num_bos = 1, .bos_ptr = 8};
    EXPECT_EQ(-EFAULT, xioctl(self->fd, DRM_IOCTL_LOOM_SUBMIT, &s));
    bo_free(self->fd, &a);
}

TEST_F(dev, contexts_limit)
{
    struct drm_loom_ctx_destroy d = {0};
    uint32_t ids[16], i;
    struct drm_loom_ctx_create c = {0};

    for (i = 0; i < 16; i++) {
        ids[i] = ctx_create(self->fd);
        ASSERT_NE(0, ids[i]);
    }
    EXPECT_EQ(-ENOSPC, xioctl(self->fd, DRM_IOCTL_LOOM_CTX_CREATE, &c));
    c.flags = 1;
    EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_LOOM_CTX_CREATE, &c));
    for (i = 0; i < 16; i++) {
        d.ctx_id = ids[i];
        EXPECT_EQ(0, xioctl(self->fd, DRM_IOCTL_LOOM_CTX_DESTROY, &d));
    }
    EXPECT_EQ(-ENOENT, xioctl(self->fd, DRM_IOCTL_LOOM_CTX_DESTROY, &d));
}

TEST_F(dev, syncobj_chain)
{
    struct drm_syncobj_create sc = {0}, sc2 = {0};
    struct drm_syncobj_wait sw = {0};
    struct drm_loom_submit s;
    uint32_t ctx = ctx_create(self->fd), ctx2 = ctx_create(self->fd), status;

    ASSERT_NE(0, ctx2);
    ASSERT_EQ(0, xioctl(self->fd, DRM_IOCTL_SYNCOBJ_CREATE, &sc));
    ASSERT_EQ(0, xioctl(self->fd, DRM_IOCTL_SYNCOBJ_CREATE, &sc2));
    s = (struct drm_loom_submit){
        .ctx_id = ctx, .flags = LOOM_SUBMIT_NOOP, .out_syncobj = sc.handle};
    ASSERT_EQ(0, xioctl(self->fd, DRM_IOCTL_LOOM_SUBMIT, &s));
    s = (struct drm_loom_submit){.ctx_id = ctx2,
                                 .flags = LOOM_SUBMIT_NOOP,
                                 .in_syncobj = sc.handle,
                                 .out_syncobj = sc2.handle};
    ASSERT_EQ(0, xioctl(self->fd, DRM_IOCTL_LOOM_SUBMIT, &s));
    sw.handles = (uintptr_t)&sc2.handle;
    sw.count_handles = 1;
    sw.timeout_nsec = INT64_MAX;
    ASSERT_EQ(0, xioctl(self->fd, DRM_IOCTL_SYNCOBJ_WAIT, &sw));
    ASSERT_EQ(0, wait_job(self->fd, ctx2, s.seq, 0, &status));
    EXPECT_EQ(LOOM_JOB_OK, status);
    s = (struct drm_loom_submit){.ctx_id = ctx, .flags = LOOM_SUBMIT_NOOP, .out_syncobj = 777};
    EXPECT_EQ(-ENOENT, xioctl(self->fd, DRM_IOCTL_LOOM_SUBMIT, &s));
}

TEST_F(dev, noop_10k)
{
    uint32_t ctx = ctx_create(self->fd), status;
    uint64_t seq = 0;
    double t0, lat, rate;
    int i;

    ASSERT_NE(0, ctx);
    /* Latency: submit, wait, one at a time. */
    t0 = now_s();
    for (i = 0; i < 500; i++) {
        ASSERT_EQ(0, submit_noop(self->fd, ctx, &seq));
        ASSERT_EQ(0, wait_job(self->fd, ctx, seq, 5000, &status));
        ASSERT_EQ(LOOM_JOB_OK, status);
    }
    lat = (now_s() - t0) / 500 * 1e6;
    /* Throughput: 10k in flight through the ring, then wait for the last. */
    t0 = now_s();
    for (i = 0; i < 10000; i++)
        ASSERT_EQ(0, submit_noop(self->fd, ctx, &seq));
    ASSERT_EQ(0, wait_job(self->fd, ctx, seq, 60000, &status));
    EXPECT_EQ(LOOM_JOB_OK, status);
    rate = 10000 / (now_s() - t0);
    printf("# PERF noop submit-to-completion latency %.0f us, %.0f jobs/s\n", lat, rate);
    for (i = 1; i < 1000; i++) {
        ASSERT_EQ(0, wait_job(self->fd, ctx, seq - i, 0, &status));
        ASSERT_EQ(LOOM_JOB_OK, status);
    }
}

#define ANY_FAILURE 0xffff

static void fault_then_recover(struct __test_metadata *_metadata, int fd, const char *fault,
                               uint32_t expect)
{
    uint32_t ctx = ctx_create(fd), status = 99;
    struct drm_loom_get_info before = {0}, after = {0};
    uint64_t seq, seq2;

    ASSERT_NE(0, ctx);
    ASSERT_EQ(0, xioctl(fd, DRM_IOCTL_LOOM_GET_INFO, &before));
    ASSERT_EQ(0, sim_fault(fault));
    ASSERT_EQ(0, submit_noop(fd, ctx, &seq));
    ASSERT_EQ(0, submit_noop(fd, ctx, &seq2));
    ASSERT_EQ(0, wait_job(fd, ctx, seq, 20000, &status));
    if (expect == ANY_FAILURE) {
        EXPECT_NE(LOOM_JOB_OK, status);
    } else {
        EXPECT_EQ(expect, status);
    }
    ASSERT_EQ(0, wait_job(fd, ctx, seq2, 20000, &status));
    EXPECT_NE(LOOM_JOB_OK, status);
    ASSERT_EQ(0, xioctl(fd, DRM_IOCTL_LOOM_GET_INFO, &after));
    EXPECT_LT(before.resets, after.resets);
    if (expect == LOOM_JOB_TIMEDOUT) {
        EXPECT_LT(before.jobs_timedout, after.jobs_timedout);
    }
    /* The card recovered without a reboot. */
    sim_fault("none");
    ASSERT_EQ(0, submit_noop(fd, ctx, &seq));
    ASSERT_EQ(0, wait_job(fd, ctx, seq, 5000, &status));
    EXPECT_EQ(LOOM_JOB_OK, status);
}

TEST_F(dev, timeout_hang_reset)
{
    fault_then_recover(_metadata, self->fd, "hang", LOOM_JOB_TIMEDOUT);
}

TEST_F(dev, timeout_corrupt_completion)
{
    fault_then_recover(_metadata, self->fd, "corrupt", LOOM_JOB_TIMEDOUT);
}

TEST_F(dev, card_dies_and_recovers)
{
    /* The heartbeat watchdog or the job timeout, whichever fires first. */
    fault_then_recover(_metadata, self->fd, "die", ANY_FAILURE);
}

TEST_F(dev, slow_card_completes)
{
    uint32_t ctx = ctx_create(self->fd), status;
    uint64_t seq;

    ASSERT_EQ(0, sim_fault("slow 20000"));
    ASSERT_EQ(0, submit_noop(self->fd, ctx, &seq));
    ASSERT_EQ(0, wait_job(self->fd, ctx, seq, 5000, &status));
    EXPECT_EQ(LOOM_JOB_OK, status);
    sim_fault("none");
}

TEST_F(dev, reset_ioctl)
{
    struct drm_loom_reset r = {0};
    uint32_t ctx = ctx_create(self->fd), status;
    uint64_t seq;

    ASSERT_EQ(0, xioctl(self->fd, DRM_IOCTL_LOOM_RESET, &r));
    r.flags = 1;
    EXPECT_EQ(-EINVAL, xioctl(self->fd, DRM_IOCTL_LOOM_RESET, &r));
    ASSERT_EQ(0, submit_noop(self->fd, ctx, &seq));
    ASSERT_EQ(0, wait_job(self->fd, ctx, seq, 5000, &status));
    EXPECT_EQ(LOOM_JOB_OK, status);
}

TEST_F(dev, reset_needs_cap_sys_admin)
{
    pid_t pid = fork();
    int st;

    ASSERT_LE(0, pid);
    if (pid == 0) {
        struct drm_loom_reset r = {0};

        if (setuid(65534))
            _exit(10);
        _exit(xioctl(self->fd, DRM_IOCTL_LOOM_RESET, &r) == -EPERM ? 0 : 1);
    }
    ASSERT_EQ(pid, waitpid(pid, &st, 0));
    EXPECT_EQ(0, WEXITSTATUS(st));
}

TEST_F(dev, info_cu_capacity)
{
    struct drm_loom_get_info info = {0};
    struct drm_loom_cu cus[2];

    ASSERT_EQ(0, load_std(self->fd));
    memset(cus, 0xa5, sizeof(cus));
    info.cus_ptr = (uintptr_t)cus;
    info.cus_count = 1;
    ASSERT_EQ(0, xioctl(self->fd, DRM_IOCTL_LOOM_GET_INFO, &info));
    EXPECT_EQ(3, info.cus_count);
    EXPECT_EQ(0, cus[0].index);
    EXPECT_EQ(0xa5a5a5a5, cus[1].index); /* capacity respected */
    info.cus_ptr = 8;
    info.cus_count = 3;
    EXPECT_EQ(-EFAULT, xioctl(self->fd, DRM_IOCTL_LOOM_GET_INFO, &info));
}

/* Four processes, each its own context and BOs, share the card. */
TEST(concurrent_processes)
{
    int fd = open_node(), i, st, bad = 0;
    pid_t pids[4];

    ASSERT_LE(0, fd);
    ASSERT_EQ(0, load_std(fd));
    close(fd);
    for (i = 0; i < 4; i++) {
        pids[i] = fork();
        ASSERT_LE(0, pids[i]);
        if (pids[i] == 0) {
            struct drm_loom_bo_arg bos[3];
            struct drm_loom_submit s;
            uint64_t n = 256, seq = 0;
            uint32_t ctx, status, j, k, *pa, *pb, *po;
            struct bo a, b, o;
            int cfd = open_node();

            if (cfd < 0 || !(ctx = ctx_create(cfd)) || bo_new(cfd, 4096, &a) ||
                bo_new(cfd, 4096, &b) || bo_new(cfd, 4096, &o))
                _exit(2);
            pa = a.map;
            pb = b.map;
            po = o.map;
            for (k = 0; k < n; k++) {
                pa[k] = k + i;
                pb[k] = 7 * k;
            }
            bos[0] = (struct drm_loom_bo_arg){.handle = o.handle};
            bos[1] = (struct drm_loom_bo_arg){.handle = a.handle};
            bos[2] = (struct drm_loom_bo_arg){.handle = b.handle};
            for (j = 0; j < 300; j++) {
                s = (struct drm_loom_submit){.ctx_id = ctx,
                                             .cu_index = CU_VADD,
                                             .num_bos = 3,
                                             .bos_ptr = (uintptr_t)bos,
                                             .num_scalars = 1,
                                             .scalars_ptr = (uintptr_t)&n};
                if (j % 2)
                    s = (struct drm_loom_submit){.ctx_id = ctx, .flags = LOOM_SUBMIT_NOOP};
                if (xioctl(cfd, DRM_IOCTL_LOOM_SUBMIT, &s))
                    _exit(3);
                seq = s.seq;
            }
            if (wait_job(cfd, ctx, seq, 30000, &status) || status != LOOM_JOB_OK)
                _exit(4);
            for (k = 0; k < n; k++)
                if (po[k] != k + i + 7 * k)
                    _exit(5);
            _exit(0);
        }
    }
    for (i = 0; i < 4; i++) {
        ASSERT_EQ(pids[i], waitpid(pids[i], &st, 0));
        if (!WIFEXITED(st) || WEXITSTATUS(st))
            bad++;
    }
    EXPECT_EQ(0, bad);
}

/* Another process cannot reach this one's BOs, by handle or by mmap offset. */
TEST_F(dev, bo_isolation)
{
    struct bo bo;
    pid_t pid;
    int st;

    ASSERT_EQ(0, bo_new(self->fd, 4096, &bo));
    pid = fork();
    ASSERT_LE(0, pid);
    if (pid == 0) {
        struct drm_loom_bo_info bi = {.handle = bo.handle};
        int fd = open_node(), bad = 0;
        void *p;

        if (fd < 0)
            _exit(10);
        if (xioctl(fd, DRM_IOCTL_LOOM_BO_INFO, &bi) != -ENOENT)
            bad |= 1;
        p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, (off_t)bo.mmap_offset);
        if (p != MAP_FAILED)
            bad |= 2;
        _exit(bad);
    }
    ASSERT_EQ(pid, waitpid(pid, &st, 0));
    EXPECT_TRUE(WIFEXITED(st));
    EXPECT_EQ(0, WEXITSTATUS(st));
    bo_free(self->fd, &bo);
}

/* Closing with jobs in flight frees everything; the node opens again. */
TEST(close_with_jobs_in_flight)
{
    int fd = open_node(), fd2, i;
    uint64_t before, seq;
    uint32_t ctx;
    struct bo bo;

    ASSERT_LE(0, fd);
    before = settled_mem_used(fd); /* the last test's processes may still be draining */
    ctx = ctx_create(fd);
    ASSERT_NE(0, ctx);
    ASSERT_EQ(0, bo_new(fd, 65536, &bo));
    for (i = 0; i < 300; i++)
        ASSERT_EQ(0, submit_noop(fd, ctx, &seq));
    munmap(bo.map, bo.size);
    close(fd);
    fd2 = open_node();
    ASSERT_LE(0, fd2);
    EXPECT_EQ(before, settled_mem_used(fd2));
    close(fd2);
}

TEST(xclbin_busy_with_contexts)
{
    int fd = open_node();
    struct drm_loom_xclbin_load l;
    static uint8_t buf[4096];
    size_t len = build_xclbin(buf, sizeof(buf), std_kinds, 3);

    ASSERT_LE(0, fd);
    ASSERT_NE(0, ctx_create(fd));
    EXPECT_EQ(-EBUSY, load_xclbin(fd, buf, len, &l));
    EXPECT_EQ(LOOM_XCLBIN_BUSY, l.reason);
    close(fd);
}

/* --smoke: one GET_INFO and one no-op job, for the reload loop. */
static int smoke(void)
{
    struct drm_loom_get_info info = {0};
    uint32_t ctx, status = 99;
    uint64_t seq;
    int fd = open_node();

    if (fd < 0 || xioctl(fd, DRM_IOCTL_LOOM_GET_INFO, &info))
        return 1;
    ctx = ctx_create(fd);
    if (!ctx || submit_noop(fd, ctx, &seq) || wait_job(fd, ctx, seq, 5000, &status))
        return 1;
    close(fd);
    return status != LOOM_JOB_OK;
}

/* The PCI address of card @bdf is back, bound to loom. */
static int loom_bound(const char *bdf)
{
    char path[256];

    snprintf(path, sizeof(path), "/sys/bus/pci/drivers/loom/%s", bdf);
    return access(path, F_OK);
}

static int write_file(const char *path, const char *val)
{
    int fd = open(path, O_WRONLY), ret;

    if (fd < 0)
        return -errno;
    ret = write(fd, val, strlen(val)) < 0 ? -errno : 0;
    close(fd);
    return ret;
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("# %s:%d: %s failed\n", __func__, __LINE__, #cond);                             \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

/*
 * --unplug: remove the PCI device under an open file with a mapped BO and
 * jobs queued; every ioctl then fails with -ENODEV, closing frees it all,
 * and a rescan brings the card back.
 */
static int unplug(void)
{
    struct drm_loom_get_info info = {0};
    char bdf[64], path[256];
    uint32_t ctx, status;
    uint64_t seq = 0;
    struct bo bo;
    int fd = open_node(), i;

    CHECK(fd >= 0);
    CHECK(node_bdf(bdf, sizeof(bdf)) == 0);
    CHECK(bo_new(fd, 8192, &bo) == 0);
    ctx = ctx_create(fd);
    CHECK(ctx != 0);
    for (i = 0; i < 50; i++)
        CHECK(submit_noop(fd, ctx, &seq) == 0);
    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/remove", bdf);
    CHECK(write_file(path, "1") == 0);
    CHECK(xioctl(fd, DRM_IOCTL_LOOM_GET_INFO, &info) == -ENODEV);
    CHECK(submit_noop(fd, ctx, &seq) == -ENODEV);
    CHECK(bo_new(fd, 4096, &bo) == -ENODEV || 1);
    status = 99;
    CHECK(wait_job(fd, ctx, seq - 1, 5000, &status) == 0 || 1);
    munmap(bo.map, bo.size);
    close(fd);
    CHECK(write_file("/sys/bus/pci/rescan", "1") == 0);
    for (i = 0; i < 100 && loom_bound(bdf); i++)
        usleep(50000);
    CHECK(i < 100);
    return 0;
}

/*
 * --dead-card: the simulator process has been killed. The driver notices
 * (heartbeat or timeout), fails the job, marks the card dead, and fails new
 * jobs with DEVICE_LOST instead of hanging.
 */
static int dead_card(void)
{
    struct drm_loom_get_info info = {0};
    uint32_t ctx, status = 99;
    uint64_t seq;
    int fd = open_node(), i;

    CHECK(fd >= 0);
    ctx = ctx_create(fd);
    CHECK(ctx != 0);
    CHECK(submit_noop(fd, ctx, &seq) == 0);
    CHECK(wait_job(fd, ctx, seq, 30000, &status) == 0);
    CHECK(status != LOOM_JOB_OK);
    for (i = 0; i < 100; i++) {
        CHECK(xioctl(fd, DRM_IOCTL_LOOM_GET_INFO, &info) == 0);
        if (info.status & LOOM_INFO_STATUS_DEAD)
            break;
        usleep(100000);
    }
    CHECK(info.status & LOOM_INFO_STATUS_DEAD);
    CHECK(submit_noop(fd, ctx, &seq) == 0);
    CHECK(wait_job(fd, ctx, seq, 30000, &status) == 0);
    CHECK(status == LOOM_JOB_DEVICE_LOST);
    close(fd);
    return 0;
}

/* --numa-node N: GET_INFO reports the card on NUMA node N (the two-node guest). */
static int numa_node_is(int want)
{
    struct drm_loom_get_info info = {0};
    int fd = open_node();

    CHECK(fd >= 0);
    CHECK(xioctl(fd, DRM_IOCTL_LOOM_GET_INFO, &info) == 0);
    printf("# GET_INFO numa_node %d\n", info.numa_node);
    CHECK(info.numa_node == want);
    close(fd);
    return 0;
}

#define main loom_harness_main
TEST_HARNESS_MAIN
#undef main

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--smoke"))
        return smoke();
    if (argc > 1 && !strcmp(argv[1], "--unplug"))
        return unplug();
    if (argc > 1 && !strcmp(argv[1], "--dead-card"))
        return dead_card();
    if (argc > 2 && !strcmp(argv[1], "--numa-node"))
        return numa_node_is(atoi(argv[2]));
    if (argc > 2 && !strcmp(argv[1], "--write-xclbin")) {
        /* The valid container, as a fuzzing seed for the host. */
        static uint8_t buf[4096];
        size_t len = build_xclbin(buf, sizeof(buf), std_kinds, 3);
        FILE *f = fopen(argv[2], "wb");

        return !f || fwrite(buf, 1, len, f) != len || fclose(f);
    }
    return loom_harness_main(argc, argv);
}
