/* SPDX-License-Identifier: GPL-2.0 */
/*
 * loom.ko: the device, file and context structs shared by the driver's
 * files, and its logging helpers.
 */
#ifndef LOOM_DRV_H
#define LOOM_DRV_H

#include <linux/atomic.h>
#include <linux/idr.h>
#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <drm/drm_device.h>
#include <drm/drm_mm.h>
#include <drm/gpu_scheduler.h>

#include "loom_config.h"
#include "loom_card_if.h"
#include "loom_xclbin.h"
#include "uapi/loom_accel.h"

#define LOOM_DRIVER_NAME	"loom"
#define LOOM_DRIVER_DESC	"Loom accelerator card"
#define LOOM_DRIVER_DATE	"20261125"

#define LOOM_MAX_CONTEXTS	16
#define LOOM_MAX_JOB_BOS	LOOM_CMD_MAX_ARGS
#define LOOM_CTX_FENCES		1024	/* fences a context keeps for WAIT */
#define LOOM_MEM_ALIGN		PAGE_SIZE
#define LOOM_XCLBIN_MAX_SIZE	(64ULL << 20)

#define LOOM_DBG_DRV		BIT(0)
#define LOOM_DBG_JOB		BIT(1)
#define LOOM_DBG_IRQ		BIT(2)
#define LOOM_DBG_MEM		BIT(3)

extern unsigned int loom_dbg_mask;

#define loom_err(ldev, fmt, ...) \
	drm_err(&(ldev)->drm, "%s(): " fmt, __func__, ##__VA_ARGS__)
#define loom_warn(ldev, fmt, ...) \
	drm_warn(&(ldev)->drm, "%s(): " fmt, __func__, ##__VA_ARGS__)
#define loom_info(ldev, fmt, ...) \
	drm_info(&(ldev)->drm, fmt, ##__VA_ARGS__)
#define loom_err_ratelimited(ldev, fmt, ...) \
	drm_err_ratelimited(&(ldev)->drm, "%s(): " fmt, __func__, ##__VA_ARGS__)
#define loom_dbg(ldev, cat, fmt, ...) do { \
	if (loom_dbg_mask & LOOM_DBG_##cat) \
		drm_info(&(ldev)->drm, "[" #cat "] %s(): " fmt, __func__, ##__VA_ARGS__); \
	} while (0)

struct loom_device;

/**
 * struct loom_hw_ops - how to reach one kind of card
 * @ring_doorbell: tell the card the command tail moved
 */
struct loom_hw_ops {
	void (*ring_doorbell)(struct loom_device *ldev);
};

/**
 * struct loom_fence - the card's completion of one command
 * @base: the dma_fence, signalled from the completion interrupt
 * @seqno: sequence number the card echoes in its completion
 * @node: entry in &loom_device.pending
 */
struct loom_fence {
	struct dma_fence base;
	u32 seqno;
	struct list_head node;
};

struct loom_device {
	struct drm_device drm;
	struct pci_dev *pdev;
	const struct loom_hw_ops *ops;

	void __iomem *regs;		/* BAR0: ivshmem registers (sim) */
	void __iomem *win;		/* BAR2: the card window */
	resource_size_t win_phys;
	resource_size_t win_size;
	u32 cmd_off, cmd_slots, cpl_off, cpl_slots;
	u64 heap_off, heap_size, heap_devaddr;
	u32 interface_version;
	u32 caps;
	u8 interface_uuid[16];
	char name[32];
	u32 doorbell_peer;

	/* Protects @mm and @mem_used. */
	struct mutex mm_lock;
	struct drm_mm mm;
	u64 mem_used;

	/*
	 * Protects the command ring tail, @pending, @inflight, @next_seqno
	 * and the completion ring head. Taken from the completion interrupt.
	 */
	spinlock_t ring_lock;
	struct list_head pending;
	u32 next_seqno;
	u32 cmd_tail;
	u32 cpl_head;
	u32 inflight;			/* commands on @pending, at most cmd_slots */
	u64 fence_context;
	spinlock_t fence_lock;		/* the lock of every struct loom_fence */

	struct drm_gpu_scheduler sched;
	struct workqueue_struct *reset_wq;

	/* Protects @xclbin, @program_bo and programming the card. */
	struct mutex xclbin_lock;
	struct loom_xclbin *xclbin;
	bool programmed;
	u32 last_xclbin_reason;
	u32 open_contexts;		/* under xclbin_lock */

	/* Serializes card resets. */
	struct mutex reset_lock;
	u32 reset_gen;
	struct delayed_work watchdog;	/* checks the heartbeat */
	u32 last_heartbeat;		/* watchdog only */
	u32 heartbeat_misses;		/* watchdog only */
	s64 watched_resets;		/* watchdog only: resets when it last looked */
	bool dead;			/* under ring_lock: the card stopped answering */
	bool resetting;			/* under ring_lock: a reset is in progress */

	atomic64_t jobs_submitted;
	atomic64_t jobs_completed;
	atomic64_t jobs_timedout;
	atomic64_t resets;
	atomic64_t stale_completions;
	atomic64_t heartbeat_losses;
	atomic64_t irqs;
	int irq_cpl;
	int irq_err;
};

/**
 * struct loom_file - per open file
 * @ldev: the device
 * @contexts: context id -> struct loom_ctx; protected by @lock
 * @lock: protects @contexts
 */
struct loom_file {
	struct loom_device *ldev;
	struct xarray contexts;
	struct mutex lock;		/* Protects contexts */
};

/**
 * struct loom_ctx - a hardware context: one scheduler entity
 * @ref: held by the file's table and by each ioctl using it
 * @ldev: the device
 * @id: id in &loom_file.contexts
 * @entity: drm_sched entity of this context
 * @lock: protects @fences and @seq, and serializes submission order
 * @seq: last sequence number handed out
 * @fences: finished fences of the last LOOM_CTX_FENCES jobs
 */
struct loom_ctx {
	struct kref ref;
	struct loom_device *ldev;
	u32 id;
	struct drm_sched_entity entity;
	struct mutex lock;		/* Protects fences and seq */
	u64 seq;
	struct dma_fence *fences[LOOM_CTX_FENCES];
};

static inline struct loom_device *to_loom_device(struct drm_device *drm)
{
	return container_of(drm, struct loom_device, drm);
}

/* loom_hw.c */
extern const struct loom_hw_ops loom_ivshmem_ops;
extern const struct loom_hw_ops loom_native_ops;
int loom_hw_init(struct loom_device *ldev);
void loom_hw_fini(struct loom_device *ldev);
u32 loom_hw_read(struct loom_device *ldev, u32 off);
void loom_hw_write(struct loom_device *ldev, u32 off, u32 val);
struct dma_fence *loom_hw_submit(struct loom_device *ldev, struct loom_card_cmd *cmd);
int loom_hw_reset(struct loom_device *ldev, struct dma_fence *guilty);
void loom_hw_process_completions(struct loom_device *ldev);
bool loom_hw_alive(struct loom_device *ldev);
int loom_hw_program(struct loom_device *ldev, const void *bitstream, u64 len,
		    const u8 *uuid);

/* loom_gem.c */
struct drm_gem_object *loom_gem_create_object(struct drm_device *drm, size_t size);
int loom_bo_create_ioctl(struct drm_device *drm, void *data, struct drm_file *file);
int loom_bo_info_ioctl(struct drm_device *drm, void *data, struct drm_file *file);
int loom_bo_devaddr(struct drm_gem_object *obj, u64 offset, u64 *addr);
int loom_heap_alloc(struct loom_device *ldev, struct drm_mm_node *node, u64 size);
void loom_heap_free(struct loom_device *ldev, struct drm_mm_node *node);

/* loom_job.c */
int loom_sched_init(struct loom_device *ldev);
void loom_sched_fini(struct loom_device *ldev);
int loom_ctx_create_ioctl(struct drm_device *drm, void *data, struct drm_file *file);
int loom_ctx_destroy_ioctl(struct drm_device *drm, void *data, struct drm_file *file);
int loom_submit_ioctl(struct drm_device *drm, void *data, struct drm_file *file);
int loom_wait_ioctl(struct drm_device *drm, void *data, struct drm_file *file);
void loom_file_contexts_fini(struct loom_file *lfile);
int loom_device_reset(struct loom_device *ldev, struct drm_sched_job *bad);
void loom_watchdog_start(struct loom_device *ldev);
void loom_watchdog_stop(struct loom_device *ldev);

/* loom_sysfs.c */
extern const struct attribute_group *loom_attr_groups[];
void loom_debugfs_init(struct drm_minor *minor);

#endif /* LOOM_DRV_H */
