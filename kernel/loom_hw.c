// SPDX-License-Identifier: GPL-2.0
/*
 * loom.ko: the card interface. Registers, the command and completion rings,
 * interrupts, reset and programming. kernel/CARD-INTERFACE.md describes the
 * card side; nothing read from the card is trusted.
 */
#include <linux/delay.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/iopoll.h>
#include <linux/slab.h>
#include <drm/drm_print.h>

#include "loom_drv.h"

#define LOOM_RESET_TIMEOUT_MS	2000
#define LOOM_RESET_TIMEOUT_US	(LOOM_RESET_TIMEOUT_MS * 1000)
#define LOOM_PROGRAM_TIMEOUT	(5 * HZ)
#define IVSHMEM_REG_DOORBELL	12

u32 loom_hw_read(struct loom_device *ldev, u32 off)
{
	return readl(ldev->win + off);
}

void loom_hw_write(struct loom_device *ldev, u32 off, u32 val)
{
	writel(val, ldev->win + off);
}

static u64 loom_hw_read64(struct loom_device *ldev, u32 off)
{
	return loom_hw_read(ldev, off) | (u64)loom_hw_read(ldev, off + 4) << 32;
}

static void loom_ivshmem_ring_doorbell(struct loom_device *ldev)
{
	writel(ldev->doorbell_peer << 16 | LOOM_VEC_COMPLETION,
	       ldev->regs + IVSHMEM_REG_DOORBELL);
}

static void loom_native_ring_doorbell(struct loom_device *ldev)
{
	loom_hw_write(ldev, LOOM_REG_DOORBELL, 1);
}

const struct loom_hw_ops loom_ivshmem_ops = {
	.ring_doorbell = loom_ivshmem_ring_doorbell,
};

const struct loom_hw_ops loom_native_ops = {
	.ring_doorbell = loom_native_ring_doorbell,
};

static inline void loom_hw_ring_doorbell(struct loom_device *ldev)
{
	ldev->ops->ring_doorbell(ldev);
}

static const char *loom_fence_driver_name(struct dma_fence *f)
{
	return LOOM_DRIVER_NAME;
}

static const char *loom_fence_timeline_name(struct dma_fence *f)
{
	return "loom-card";
}

static const struct dma_fence_ops loom_fence_ops = {
	.get_driver_name = loom_fence_driver_name,
	.get_timeline_name = loom_fence_timeline_name,
};

static int loom_cpl_errno(u32 status)
{
	switch (status) {
	case LOOM_CPL_OK:
		return 0;
	case LOOM_CPL_BAD_COMMAND:
		return -EINVAL;
	case LOOM_CPL_BAD_BITSTREAM:
		return -ENOEXEC;
	default:
		return -EIO;
	}
}

/* Fail every command the card still holds; called with ring_lock held. */
static void loom_hw_fail_pending_locked(struct loom_device *ldev,
					struct dma_fence *guilty, int err)
{
	struct loom_fence *f, *tmp;

	lockdep_assert_held(&ldev->ring_lock);
	list_for_each_entry_safe(f, tmp, &ldev->pending, node) {
		list_del_init(&f->node);
		ldev->inflight--;
		dma_fence_set_error(&f->base, &f->base == guilty ? -ETIMEDOUT : err);
		dma_fence_signal(&f->base);
		dma_fence_put(&f->base);
	}
}

static void loom_hw_process_completions_locked(struct loom_device *ldev)
{
	u32 tail = loom_hw_read(ldev, LOOM_REG_CPL_TAIL);
	struct loom_card_cpl cpl;
	struct loom_fence *f;
	bool found;

	lockdep_assert_held(&ldev->ring_lock);
	if (tail - ldev->cpl_head > ldev->cpl_slots) {
		loom_err_ratelimited(ldev, "Completion tail %u out of range (head %u)\n",
				     tail, ldev->cpl_head);
		atomic64_inc(&ldev->stale_completions);
		return;
	}
	while (ldev->cpl_head != tail) {
		/* Read the entry only after the tail that published it. */
		dma_rmb();
		memcpy_fromio(&cpl, ldev->win + ldev->cpl_off +
			      (ldev->cpl_head & (ldev->cpl_slots - 1)) * sizeof(cpl),
			      sizeof(cpl));
		ldev->cpl_head++;
		found = false;
		list_for_each_entry(f, &ldev->pending, node) {
			if (f->seqno != le32_to_cpu(cpl.seqno))
				continue;
			list_del_init(&f->node);
			ldev->inflight--;
			if (cpl.status != cpu_to_le32(LOOM_CPL_OK))
				dma_fence_set_error(&f->base,
						    loom_cpl_errno(le32_to_cpu(cpl.status)));
			dma_fence_signal(&f->base);
			dma_fence_put(&f->base);
			found = true;
			break;
		}
		if (!found) {
			/* A late or corrupt completion: never completes another job. */
			atomic64_inc(&ldev->stale_completions);
			loom_dbg(ldev, IRQ, "stale completion seqno %u\n",
				 le32_to_cpu(cpl.seqno));
		}
	}
	loom_hw_write(ldev, LOOM_REG_CPL_HEAD, ldev->cpl_head);
}

void loom_hw_process_completions(struct loom_device *ldev)
{
	unsigned long flags;

	spin_lock_irqsave(&ldev->ring_lock, flags);
	loom_hw_process_completions_locked(ldev);
	spin_unlock_irqrestore(&ldev->ring_lock, flags);
}

static irqreturn_t loom_irq_completion(int irq, void *arg)
{
	struct loom_device *ldev = arg;

	atomic64_inc(&ldev->irqs);
	loom_hw_process_completions(ldev);
	return IRQ_HANDLED;
}

static irqreturn_t loom_irq_error(int irq, void *arg)
{
	struct loom_device *ldev = arg;

	loom_err_ratelimited(ldev, "Card reported an error, status %#x\n",
			     loom_hw_read(ldev, LOOM_REG_STATUS));
	return IRQ_HANDLED;
}

/**
 * loom_hw_submit - put one command on the ring
 * @ldev: the device
 * @cmd: the command; its seqno is filled in here
 *
 * Returns the command's fence, or an ERR_PTR. The caller keeps the ring
 * within its slots (drm_sched credits plus one slot for the driver).
 */
struct dma_fence *loom_hw_submit(struct loom_device *ldev, struct loom_card_cmd *cmd)
{
	struct loom_fence *f;
	unsigned long flags;
	void __iomem *slot;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return ERR_PTR(-ENOMEM);
	INIT_LIST_HEAD(&f->node);

	spin_lock_irqsave(&ldev->ring_lock, flags);
	if (ldev->dead || ldev->resetting || ldev->inflight >= ldev->cmd_slots) {
		int err = ldev->dead ? -ENODEV : ldev->resetting ? -ECANCELED : -EBUSY;

		spin_unlock_irqrestore(&ldev->ring_lock, flags);
		kfree(f);
		return ERR_PTR(err);
	}
	f->seqno = ++ldev->next_seqno;
	dma_fence_init(&f->base, &loom_fence_ops, &ldev->fence_lock,
		       ldev->fence_context, f->seqno);
	cmd->seqno = cpu_to_le32(f->seqno);
	slot = ldev->win + ldev->cmd_off +
	       (ldev->cmd_tail & (ldev->cmd_slots - 1)) * sizeof(*cmd);
	memcpy_toio(slot, cmd, sizeof(*cmd));
	/* The command must be visible before the tail that hands it over. */
	wmb();
	ldev->cmd_tail++;
	loom_hw_write(ldev, LOOM_REG_CMD_TAIL, ldev->cmd_tail);
	dma_fence_get(&f->base);	/* for the pending list */
	list_add_tail(&f->node, &ldev->pending);
	ldev->inflight++;
	loom_hw_ring_doorbell(ldev);
	spin_unlock_irqrestore(&ldev->ring_lock, flags);
	return &f->base;
}

/* The card is alive if its heartbeat moves. */
bool loom_hw_alive(struct loom_device *ldev)
{
	u32 hb = loom_hw_read(ldev, LOOM_REG_HEARTBEAT);
	int i;

	for (i = 0; i < 10; i++) {
		usleep_range(10000, 12000);
		if (loom_hw_read(ldev, LOOM_REG_HEARTBEAT) != hb)
			return true;
	}
	return false;
}

/**
 * loom_hw_reset - reset the card and fail what it held
 * @ldev: the device
 * @guilty: the fence of the job that hung, failed with -ETIMEDOUT, or NULL
 *
 * Completions already posted are processed first; every other command in
 * flight fails with -ECANCELED. Callers hold reset_lock and have stopped
 * the scheduler.
 */
int loom_hw_reset(struct loom_device *ldev, struct dma_fence *guilty)
{
	unsigned long flags;
	u32 gen, ack;
	int ret;

	lockdep_assert_held(&ldev->reset_lock);
	spin_lock_irqsave(&ldev->ring_lock, flags);
	loom_hw_process_completions_locked(ldev);
	/* Nothing enters the ring until the card acknowledges. */
	ldev->resetting = true;
	spin_unlock_irqrestore(&ldev->ring_lock, flags);

	gen = ++ldev->reset_gen;
	loom_hw_write(ldev, LOOM_REG_RESET_REQ, gen);
	loom_hw_ring_doorbell(ldev);
	ret = read_poll_timeout(loom_hw_read, ack, ack == gen, 1000,
				LOOM_RESET_TIMEOUT_US, false, ldev, LOOM_REG_RESET_ACK);

	/* Counted before the pending jobs fail, so their waiters see it. */
	atomic64_inc(&ldev->resets);
	spin_lock_irqsave(&ldev->ring_lock, flags);
	ldev->cmd_tail = 0;
	ldev->cpl_head = 0;
	ldev->dead = ret != 0;
	ldev->resetting = false;
	loom_hw_fail_pending_locked(ldev, guilty, ret ? -ENODEV : -ECANCELED);
	spin_unlock_irqrestore(&ldev->ring_lock, flags);

	if (ret) {
		loom_err(ldev, "Failed to reset card: no acknowledge in %u ms\n",
			 LOOM_RESET_TIMEOUT_MS);
		return ret;
	}
	loom_info(ldev, "Card reset (generation %u)\n", gen);
	return 0;
}

/**
 * loom_hw_program - program a bitstream through the PROGRAM command
 * @ldev: the device
 * @bitstream: the payload, in kernel memory
 * @len: its length
 * @uuid: the xclbin UUID the card records
 *
 * Returns 0, -ENOMEM when the bitstream does not fit the heap, or the
 * card's error. Called with xclbin_lock held.
 */
int loom_hw_program(struct loom_device *ldev, const void *bitstream, u64 len,
		    const u8 *uuid)
{
	struct loom_card_cmd cmd = {};
	struct drm_mm_node node = {};
	struct dma_fence *fence;
	u64 uuid_words[2];
	long t;
	int ret;

	lockdep_assert_held(&ldev->xclbin_lock);
	ret = loom_heap_alloc(ldev, &node, len);
	if (ret)
		return ret;
	memcpy_toio(ldev->win + ldev->heap_off + node.start, bitstream, len);
	memcpy(uuid_words, uuid, sizeof(uuid_words));
	cmd.opcode = cpu_to_le16(LOOM_OP_PROGRAM);
	cmd.nargs = cpu_to_le16(4);
	cmd.args[0] = cpu_to_le64(ldev->heap_devaddr + node.start);
	cmd.args[1] = cpu_to_le64(len);
	cmd.args[2] = uuid_words[0];
	cmd.args[3] = uuid_words[1];

	fence = loom_hw_submit(ldev, &cmd);
	if (IS_ERR(fence)) {
		ret = PTR_ERR(fence);
		goto free_node;
	}
	t = dma_fence_wait_timeout(fence, false, LOOM_PROGRAM_TIMEOUT);
	if (t == 0) {
		loom_err(ldev, "Failed to program card: timed out\n");
		loom_device_reset(ldev, NULL);
		ret = -ETIMEDOUT;
	} else {
		ret = fence->error;
	}
	dma_fence_put(fence);
free_node:
	loom_heap_free(ldev, &node);
	return ret;
}

static int loom_hw_check_geometry(struct loom_device *ldev)
{
	u64 cmd_end, cpl_end, heap_end;
	u32 version;

	if (loom_hw_read(ldev, LOOM_REG_MAGIC) != LOOM_CARD_MAGIC) {
		dev_info(&ldev->pdev->dev, "No Loom card behind this device\n");
		return -ENODEV;
	}
	version = loom_hw_read(ldev, LOOM_REG_VERSION);
	if (version >> 16 != LOOM_CARD_IF_MAJOR) {
		loom_err(ldev, "Unsupported card interface %u.%u\n", version >> 16,
			 version & 0xffff);
		return -ENODEV;
	}
	ldev->interface_version = version;
	ldev->caps = loom_hw_read(ldev, LOOM_REG_CAPS);
	ldev->cmd_off = loom_hw_read(ldev, LOOM_REG_CMD_RING_OFF);
	ldev->cmd_slots = loom_hw_read(ldev, LOOM_REG_CMD_RING_SLOTS);
	ldev->cpl_off = loom_hw_read(ldev, LOOM_REG_CPL_RING_OFF);
	ldev->cpl_slots = loom_hw_read(ldev, LOOM_REG_CPL_RING_SLOTS);
	ldev->heap_off = loom_hw_read64(ldev, LOOM_REG_HEAP_OFF);
	ldev->heap_size = loom_hw_read64(ldev, LOOM_REG_HEAP_SIZE);
	ldev->heap_devaddr = loom_hw_read64(ldev, LOOM_REG_HEAP_DEVADDR);
	ldev->doorbell_peer = loom_hw_read(ldev, LOOM_REG_DOORBELL_PEER) & 0xffff;
	memcpy_fromio(ldev->interface_uuid, ldev->win + LOOM_REG_INTERFACE_UUID, 16);
	memcpy_fromio(ldev->name, ldev->win + LOOM_REG_NAME, sizeof(ldev->name) - 1);
	ldev->name[sizeof(ldev->name) - 1] = '\0';

	/* Rings after the register block, heap after the rings, all inside the BAR. */
	cmd_end = ldev->cmd_off + (u64)ldev->cmd_slots * sizeof(struct loom_card_cmd);
	cpl_end = ldev->cpl_off + (u64)ldev->cpl_slots * sizeof(struct loom_card_cpl);
	heap_end = ldev->heap_off + ldev->heap_size;
	if (ldev->cmd_slots < 2 || !is_power_of_2(ldev->cmd_slots) ||
	    ldev->cmd_slots > 4096 || !is_power_of_2(ldev->cpl_slots) ||
	    ldev->cpl_slots < ldev->cmd_slots || ldev->cpl_slots > 4096 ||
	    ldev->cmd_off < LOOM_REG_BLOCK_SIZE || ldev->cpl_off < cmd_end ||
	    ldev->heap_off < cpl_end || !PAGE_ALIGNED(ldev->heap_off) ||
	    ldev->heap_size < PAGE_SIZE || heap_end < ldev->heap_off ||
	    heap_end > ldev->win_size || ldev->cmd_off % 8 || ldev->cpl_off % 8) {
		loom_err(ldev, "Card geometry out of bounds: cmd %#x/%u cpl %#x/%u heap %#llx+%#llx\n",
			 ldev->cmd_off, ldev->cmd_slots, ldev->cpl_off, ldev->cpl_slots,
			 ldev->heap_off, ldev->heap_size);
		return -EINVAL;
	}
	ldev->heap_size = round_down(ldev->heap_size, PAGE_SIZE);
	return 0;
}

int loom_hw_init(struct loom_device *ldev)
{
	struct pci_dev *pdev = ldev->pdev;
	int ret;

	ret = loom_hw_check_geometry(ldev);
	if (ret)
		return ret;

	spin_lock_init(&ldev->ring_lock);
	spin_lock_init(&ldev->fence_lock);
	INIT_LIST_HEAD(&ldev->pending);
	ldev->fence_context = dma_fence_context_alloc(1);
	mutex_init(&ldev->reset_lock);
	loom_hw_write(ldev, LOOM_REG_HOST_READY, 0);

	ret = pci_alloc_irq_vectors(pdev, LOOM_NUM_VECTORS, LOOM_NUM_VECTORS, PCI_IRQ_MSIX);
	if (ret < 0) {
		loom_err(ldev, "Failed to allocate MSI-X vectors: %d\n", ret);
		return ret;
	}
	ldev->irq_cpl = pci_irq_vector(pdev, LOOM_VEC_COMPLETION);
	ldev->irq_err = pci_irq_vector(pdev, LOOM_VEC_ERROR);
	ret = request_irq(ldev->irq_cpl, loom_irq_completion, 0, "loom-cpl", ldev);
	if (ret) {
		loom_err(ldev, "Failed to request completion irq: %d\n", ret);
		goto free_vectors;
	}
	ret = request_irq(ldev->irq_err, loom_irq_error, 0, "loom-err", ldev);
	if (ret) {
		loom_err(ldev, "Failed to request error irq: %d\n", ret);
		goto free_cpl_irq;
	}

	/* Start from a clean card: a previous driver may have left work on it. */
	ldev->reset_gen = loom_hw_read(ldev, LOOM_REG_RESET_ACK);
	mutex_lock(&ldev->reset_lock);
	ret = loom_hw_reset(ldev, NULL);
	mutex_unlock(&ldev->reset_lock);
	if (ret)
		goto free_err_irq;
	atomic64_set(&ldev->resets, 0);
	/* The card raises interrupts only from here on: MSI-X is ready. */
	loom_hw_write(ldev, LOOM_REG_HOST_READY, 1);
	return 0;

free_err_irq:
	free_irq(ldev->irq_err, ldev);
free_cpl_irq:
	free_irq(ldev->irq_cpl, ldev);
free_vectors:
	pci_free_irq_vectors(pdev);
	return ret;
}

/* Quiesce the card and fail what it holds; the device is unplugged. */
void loom_hw_fini(struct loom_device *ldev)
{
	unsigned long flags;

	loom_hw_write(ldev, LOOM_REG_HOST_READY, 0);
	free_irq(ldev->irq_err, ldev);
	free_irq(ldev->irq_cpl, ldev);
	pci_free_irq_vectors(ldev->pdev);
	spin_lock_irqsave(&ldev->ring_lock, flags);
	ldev->dead = true;
	loom_hw_fail_pending_locked(ldev, NULL, -ENODEV);
	spin_unlock_irqrestore(&ldev->ring_lock, flags);
}
