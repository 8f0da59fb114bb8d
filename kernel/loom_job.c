// SPDX-License-Identifier: GPL-2.0
/*
 * loom.ko: contexts and jobs. Each context is a drm_sched entity; each job
 * is one START_CU (or no-op) command whose fence the completion interrupt
 * signals. A job that hangs the card is failed with -ETIMEDOUT by the
 * timeout handler, which resets the card; the others on the card fail with
 * -ECANCELED and the queues go on.
 */
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_gem.h>
#include <drm/drm_print.h>
#include <drm/drm_syncobj.h>

#include "loom_drv.h"

unsigned int loom_job_timeout_ms = 2000;
module_param_named(job_timeout_ms, loom_job_timeout_ms, uint, 0444);
MODULE_PARM_DESC(job_timeout_ms, "Time a job may run before the card is reset (default 2000)");

/**
 * struct loom_job - one command for the card
 * @base: the scheduler's job
 * @ldev: the device
 * @cmd: the command, filled at submit
 * @bos: references to the BO arguments, dropped when the job is freed
 * @num_bos: entries in @bos
 * @hw_fence: the card's fence once run, NULL before
 * @hw_cb: copies the card's error to the finished fence
 * @started: jiffies when the command went to the card
 */
struct loom_job {
	struct drm_sched_job base;
	struct loom_device *ldev;
	struct loom_card_cmd cmd;
	struct drm_gem_object *bos[LOOM_MAX_JOB_BOS];
	u32 num_bos;
	struct dma_fence *hw_fence;
	struct dma_fence_cb hw_cb;
	unsigned long started;
};

static inline struct loom_job *to_loom_job(struct drm_sched_job *job)
{
	return container_of(job, struct loom_job, base);
}

/*
 * Not every kernel's scheduler passes the parent's error on to the finished
 * fence that userspace sees: do it here, before the scheduler's callback.
 */
static void loom_job_hw_done(struct dma_fence *f, struct dma_fence_cb *cb)
{
	struct loom_job *job = container_of(cb, struct loom_job, hw_cb);

	if (f->error)
		dma_fence_set_error(&job->base.s_fence->finished, f->error);
	atomic64_inc(&job->ldev->jobs_completed);
}

static struct dma_fence *loom_job_run(struct drm_sched_job *sched_job)
{
	struct loom_job *job = to_loom_job(sched_job);
	struct loom_device *ldev = job->ldev;
	struct dma_fence *fence;
	int idx;

	if (sched_job->s_fence->finished.error)
		return ERR_PTR(sched_job->s_fence->finished.error);
	if (!drm_dev_enter(&ldev->drm, &idx))
		return ERR_PTR(-ENODEV);
	fence = loom_hw_submit(ldev, &job->cmd);
	drm_dev_exit(idx);
	if (IS_ERR(fence))
		return fence;
	atomic64_inc(&ldev->jobs_submitted);
	job->started = jiffies;
	job->hw_fence = dma_fence_get(fence);
	if (dma_fence_add_callback(fence, &job->hw_cb, loom_job_hw_done))
		loom_job_hw_done(fence, &job->hw_cb);
	loom_dbg(ldev, JOB, "job seqno %llu running\n", fence->seqno);
	return fence;
}

/* drm_sched_start() as each scheduler generation spells it. */
static void loom_sched_restart(struct loom_device *ldev)
{
#if defined(LOOM_HAVE_SCHED_START_NOARG)
	drm_sched_start(&ldev->sched);
#elif defined(LOOM_HAVE_SCHED_START_ERRNO)
	drm_sched_start(&ldev->sched, 0);
#else
	drm_sched_start(&ldev->sched, true);
#endif
}

/* Puts @bad back on the scheduler's list and re-arms the timeout. */
static void loom_sched_requeue(struct loom_device *ldev, struct drm_sched_job *bad)
{
	drm_sched_stop(&ldev->sched, bad);
	loom_sched_restart(ldev);
}

/*
 * The timer fired for a job that completed (its interrupt was lost) or has
 * only just reached the card (the timer is armed for the oldest job, and a
 * reset re-arms it). Nothing hung, so nothing may be reset or stopped: a
 * stop would cut the card's running jobs from their fences. The handler
 * took the job off the pending list; put it back at the head, as etnaviv
 * does, and the scheduler re-arms the timer on return.
 */
static void loom_job_not_hung(struct drm_sched_job *sched_job)
{
	struct drm_gpu_scheduler *sched = sched_job->sched;

	spin_lock(&sched->job_list_lock);
	list_add(&sched_job->list, &sched->pending_list);
	spin_unlock(&sched->job_list_lock);
}

/* Resets the card unless @guilty completed after all; under reset_lock. */
static int loom_reset_card(struct loom_device *ldev, struct dma_fence *guilty)
{
	/* A lost interrupt is not a hang: take what the card completed. */
	loom_hw_process_completions(ldev);
	if (guilty && dma_fence_is_signaled(guilty))
		return 0;
	if (guilty) {
		atomic64_inc(&ldev->jobs_timedout);
		loom_warn(ldev, "Job %llu timed out, card %s; resetting\n",
			  guilty->seqno, loom_hw_alive(ldev) ? "alive" : "dead");
	}
	return loom_hw_reset(ldev, guilty);
}

/* Resets the card and settles the scheduler; under reset_lock. */
static int loom_device_reset_locked(struct loom_device *ldev, struct drm_sched_job *bad)
{
	struct dma_fence *guilty = bad ? to_loom_job(bad)->hw_fence : NULL;
	int ret;

#if defined(LOOM_HAVE_SCHED_WQUEUE_STOP)
	/*
	 * Newer schedulers cancel every job the stop cuts from its fence, so
	 * the card's own errors must land first: pause submission (the stop
	 * pauses again, harmlessly), reset, then stop, which now only frees
	 * the failed jobs.
	 */
	drm_sched_wqueue_stop(&ldev->sched);
	ret = loom_reset_card(ldev, guilty);
	drm_sched_stop(&ldev->sched, bad);
#else
	/*
	 * Older schedulers park their thread in the stop (parking twice
	 * warns) and complete a cut-off job with the error its fence has by
	 * the restart, which the reset and loom_job_hw_done() have set.
	 */
	drm_sched_stop(&ldev->sched, bad);
	ret = loom_reset_card(ldev, guilty);
#endif
	loom_sched_restart(ldev);
	return ret;
}

/**
 * loom_device_reset - reset the card and settle the scheduler
 * @ldev: the device
 * @bad: the job that timed out, or NULL for a reset on request
 *
 * The card reset fails every command it held: those jobs complete with
 * their own status (-ETIMEDOUT for @bad, -ECANCELED for the rest). No new
 * job may reach the card between that and the scheduler's restart: the
 * stop would cut it from its fence while the card still ran it, and the
 * restart would then cancel it (or, on older schedulers, complete it
 * early). So submission stops first.
 *
 * A timed-out @bad that another reset (the watchdog's) failed while this
 * caller waited for reset_lock is not reset for again: the card is fresh,
 * and even the scheduler stop would cancel the jobs submitted since.
 */
int loom_device_reset(struct loom_device *ldev, struct drm_sched_job *bad)
{
	struct dma_fence *guilty = bad ? to_loom_job(bad)->hw_fence : NULL;
	int ret = 0;

	mutex_lock(&ldev->reset_lock);
	/* A lost interrupt is not a hang: take what the card completed. */
	loom_hw_process_completions(ldev);
	if (guilty && dma_fence_is_signaled(guilty))
		loom_job_not_hung(bad);
	else
		ret = loom_device_reset_locked(ldev, bad);
	mutex_unlock(&ldev->reset_lock);
	return ret;
}

/*
 * The watchdog's reset, judged on heartbeats read before it took
 * reset_lock: skipped when any reset ran since @resets_seen, for that one
 * already gave the card a fresh start (and the next look judges it anew).
 */
static void loom_watchdog_reset(struct loom_device *ldev, s64 resets_seen)
{
	mutex_lock(&ldev->reset_lock);
	if (atomic64_read(&ldev->resets) == resets_seen)
		loom_device_reset_locked(ldev, NULL);
	mutex_unlock(&ldev->reset_lock);
}

#define LOOM_WATCHDOG_MS	500
#define LOOM_WATCHDOG_MISSES	3

/*
 * The heartbeat watchdog: a card whose heartbeat stops is reset even when
 * no job is waiting on it, and a dead card whose heartbeat comes back (after
 * a function reset, or the simulator reviving) is reset into service.
 */
static void loom_watchdog_work(struct work_struct *work)
{
	struct loom_device *ldev = container_of(to_delayed_work(work), struct loom_device,
						watchdog);
	u32 hb;
	int idx;

	if (!drm_dev_enter(&ldev->drm, &idx))
		return;
	hb = loom_hw_read(ldev, LOOM_REG_HEARTBEAT);
	if (atomic64_read(&ldev->resets) != ldev->watched_resets) {
		/*
		 * A reset (timeout, ioctl or ours) since the last look: misses
		 * counted before it say nothing about the card now, and would
		 * reset it again under its next job. Judge the heartbeat afresh.
		 */
		ldev->watched_resets = atomic64_read(&ldev->resets);
		ldev->last_heartbeat = hb;
		ldev->heartbeat_misses = 0;
	} else if (hb != ldev->last_heartbeat) {
		ldev->last_heartbeat = hb;
		ldev->heartbeat_misses = 0;
		if (READ_ONCE(ldev->dead)) {
			loom_info(ldev, "Card heartbeat is back; resetting\n");
			loom_watchdog_reset(ldev, ldev->watched_resets);
		}
	} else if (++ldev->heartbeat_misses == LOOM_WATCHDOG_MISSES && !READ_ONCE(ldev->dead)) {
		atomic64_inc(&ldev->heartbeat_losses);
		loom_warn(ldev, "Card heartbeat stopped for %u ms; resetting\n",
			  LOOM_WATCHDOG_MS * LOOM_WATCHDOG_MISSES);
		loom_watchdog_reset(ldev, ldev->watched_resets);
	}
	drm_dev_exit(idx);
	queue_delayed_work(system_wq, &ldev->watchdog, msecs_to_jiffies(LOOM_WATCHDOG_MS));
}

void loom_watchdog_start(struct loom_device *ldev)
{
	INIT_DELAYED_WORK(&ldev->watchdog, loom_watchdog_work);
	ldev->last_heartbeat = loom_hw_read(ldev, LOOM_REG_HEARTBEAT);
	ldev->watched_resets = atomic64_read(&ldev->resets);
	queue_delayed_work(system_wq, &ldev->watchdog, msecs_to_jiffies(LOOM_WATCHDOG_MS));
}

/* After drm_dev_unplug(): the work sees the device gone and does not requeue. */
void loom_watchdog_stop(struct loom_device *ldev)
{
	cancel_delayed_work_sync(&ldev->watchdog);
}

static enum drm_gpu_sched_stat loom_job_timedout(struct drm_sched_job *sched_job)
{
	struct loom_job *job = to_loom_job(sched_job);
	struct loom_device *ldev = job->ldev;
	int idx;

	if (!drm_dev_enter(&ldev->drm, &idx)) {
		/* Unplugged: its fence failed already; just put the job back. */
		loom_sched_requeue(ldev, sched_job);
		return DRM_GPU_SCHED_STAT_ENODEV;
	}
	/* A lost interrupt is not a hang: take what the card completed. */
	loom_hw_process_completions(ldev);
	if (job->hw_fence && (dma_fence_is_signaled(job->hw_fence) ||
			      time_before(jiffies, job->started + ldev->sched.timeout)))
		loom_job_not_hung(sched_job);
	else
		loom_device_reset(ldev, sched_job);
	drm_dev_exit(idx);
	return DRM_GPU_SCHED_STAT_NOMINAL;
}

static void loom_job_free(struct drm_sched_job *sched_job)
{
	struct loom_job *job = to_loom_job(sched_job);
	u32 i;

	/*
	 * A job the scheduler gave up on (stopped while its command was still
	 * on the card) may be freed before its card fence signals.
	 */
	if (job->hw_fence)
		dma_fence_remove_callback(job->hw_fence, &job->hw_cb);
	drm_sched_job_cleanup(sched_job);
	for (i = 0; i < job->num_bos; i++)
		drm_gem_object_put(job->bos[i]);
	dma_fence_put(job->hw_fence);
	kfree(job);
}

static const struct drm_sched_backend_ops loom_sched_ops = {
	.run_job = loom_job_run,
	.timedout_job = loom_job_timedout,
	.free_job = loom_job_free,
};

int loom_sched_init(struct loom_device *ldev)
{
	/* One slot stays free for driver commands (PROGRAM). */
	u32 credits = ldev->cmd_slots - 1;
	long timeout = msecs_to_jiffies(max(loom_job_timeout_ms, 10U));
	int ret;

	ldev->reset_wq = alloc_ordered_workqueue("loom-reset", 0);
	if (!ldev->reset_wq)
		return -ENOMEM;
#if defined(LOOM_HAVE_SCHED_INIT_ARGS)
	{
		const struct drm_sched_init_args args = {
			.ops = &loom_sched_ops,
			.timeout_wq = ldev->reset_wq,
			.credit_limit = credits,
			.hang_limit = 0,
			.timeout = timeout,
			.name = "loom",
			.dev = ldev->drm.dev,
		};

		ret = drm_sched_init(&ldev->sched, &args);
	}
#elif defined(LOOM_HAVE_SCHED_SUBMIT_WQ)
	ret = drm_sched_init(&ldev->sched, &loom_sched_ops, NULL, DRM_SCHED_PRIORITY_COUNT,
			     credits, 0, timeout, ldev->reset_wq, NULL, "loom",
			     ldev->drm.dev);
#else
	ret = drm_sched_init(&ldev->sched, &loom_sched_ops, credits, 0, timeout,
			     ldev->reset_wq, NULL, "loom", ldev->drm.dev);
#endif
	if (ret) {
		loom_err(ldev, "Failed to init scheduler: %d\n", ret);
		destroy_workqueue(ldev->reset_wq);
	}
	return ret;
}

void loom_sched_fini(struct loom_device *ldev)
{
	drm_sched_fini(&ldev->sched);
	destroy_workqueue(ldev->reset_wq);
}

static void loom_ctx_release(struct kref *ref)
{
	struct loom_ctx *ctx = container_of(ref, struct loom_ctx, ref);
	struct loom_device *ldev = ctx->ldev;
	int i;

	/* Waits a bounded time for queued jobs, then fails the rest. */
	drm_sched_entity_destroy(&ctx->entity);
	for (i = 0; i < LOOM_CTX_FENCES; i++)
		dma_fence_put(ctx->fences[i]);
	mutex_lock(&ldev->xclbin_lock);
	ldev->open_contexts--;
	mutex_unlock(&ldev->xclbin_lock);
	mutex_destroy(&ctx->lock);
	kfree(ctx);
}

static void loom_ctx_put(struct loom_ctx *ctx)
{
	kref_put(&ctx->ref, loom_ctx_release);
}

static struct loom_ctx *loom_ctx_get(struct loom_file *lfile, u32 id)
{
	struct loom_ctx *ctx;

	mutex_lock(&lfile->lock);
	ctx = xa_load(&lfile->contexts, id);
	if (ctx)
		kref_get(&ctx->ref);
	mutex_unlock(&lfile->lock);
	return ctx;
}

int loom_ctx_create_ioctl(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct loom_device *ldev = to_loom_device(drm);
	struct loom_file *lfile = file->driver_priv;
	struct drm_loom_ctx_create *args = data;
	struct drm_gpu_scheduler *sched = &ldev->sched;
	struct loom_ctx *ctx;
	int ret;

	if (args->flags)
		return -EINVAL;
	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	kref_init(&ctx->ref);
	ctx->ldev = ldev;
	mutex_init(&ctx->lock);
	ret = drm_sched_entity_init(&ctx->entity, DRM_SCHED_PRIORITY_NORMAL, &sched, 1, NULL);
	if (ret)
		goto free_ctx;

	mutex_lock(&lfile->lock);
	ret = xa_alloc(&lfile->contexts, &ctx->id, ctx,
		       XA_LIMIT(1, LOOM_MAX_CONTEXTS), GFP_KERNEL);
	mutex_unlock(&lfile->lock);
	if (ret)
		goto fini_entity;
	mutex_lock(&ldev->xclbin_lock);
	ldev->open_contexts++;
	mutex_unlock(&ldev->xclbin_lock);
	args->ctx_id = ctx->id;
	return 0;

fini_entity:
	drm_sched_entity_destroy(&ctx->entity);
free_ctx:
	mutex_destroy(&ctx->lock);
	kfree(ctx);
	return ret == -EBUSY ? -ENOSPC : ret;
}

int loom_ctx_destroy_ioctl(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct loom_file *lfile = file->driver_priv;
	struct drm_loom_ctx_destroy *args = data;
	struct loom_ctx *ctx;

	if (args->flags)
		return -EINVAL;
	mutex_lock(&lfile->lock);
	ctx = xa_erase(&lfile->contexts, args->ctx_id);
	mutex_unlock(&lfile->lock);
	if (!ctx)
		return -ENOENT;
	loom_ctx_put(ctx);
	return 0;
}

void loom_file_contexts_fini(struct loom_file *lfile)
{
	struct loom_ctx *ctx;
	unsigned long id;

	xa_for_each(&lfile->contexts, id, ctx) {
		xa_erase(&lfile->contexts, id);
		loom_ctx_put(ctx);
	}
	xa_destroy(&lfile->contexts);
}

/* Check arguments against the limits and the loaded xclbin, before allocating. */
static int loom_submit_validate(struct loom_device *ldev, struct drm_loom_submit *args)
{
	bool noop = args->flags & LOOM_SUBMIT_NOOP;
	int ret = 0;

	if ((args->flags & ~LOOM_SUBMIT_FLAGS) || args->pad)
		return -EINVAL;
	if (args->num_bos > LOOM_MAX_JOB_BOS ||
	    args->num_scalars > LOOM_CMD_MAX_ARGS - args->num_bos)
		return -EINVAL;
	if (noop)
		return (args->cu_index || args->num_bos || args->num_scalars) ? -EINVAL : 0;
	mutex_lock(&ldev->xclbin_lock);
	if (!ldev->xclbin)
		ret = -ENOEXEC;
	else if (args->cu_index >= ldev->xclbin->num_cus)
		ret = -EINVAL;
	mutex_unlock(&ldev->xclbin_lock);
	return ret;
}

static int loom_job_fill(struct loom_job *job, struct drm_file *file,
			 struct drm_loom_submit *args)
{
	struct drm_loom_bo_arg bo_args[LOOM_MAX_JOB_BOS];
	u64 scalars[LOOM_CMD_MAX_ARGS];
	u32 i, n = 0;
	u64 addr;
	int ret;

	if (args->flags & LOOM_SUBMIT_NOOP) {
		job->cmd.opcode = cpu_to_le16(LOOM_OP_NOP);
		return 0;
	}
	job->cmd.opcode = cpu_to_le16(LOOM_OP_START_CU);
	job->cmd.cu_index = cpu_to_le32(args->cu_index);
	if (copy_from_user(bo_args, u64_to_user_ptr(args->bos_ptr),
			   args->num_bos * sizeof(bo_args[0])) ||
	    copy_from_user(scalars, u64_to_user_ptr(args->scalars_ptr),
			   args->num_scalars * sizeof(scalars[0])))
		return -EFAULT;
	for (i = 0; i < args->num_bos; i++) {
		if (bo_args[i].flags)
			return -EINVAL;
		job->bos[i] = drm_gem_object_lookup(file, bo_args[i].handle);
		if (!job->bos[i])
			return -ENOENT;
		job->num_bos++;
		ret = loom_bo_devaddr(job->bos[i], bo_args[i].offset, &addr);
		if (ret)
			return ret;
		job->cmd.args[n++] = cpu_to_le64(addr);
	}
	for (i = 0; i < args->num_scalars; i++)
		job->cmd.args[n++] = cpu_to_le64(scalars[i]);
	job->cmd.nargs = cpu_to_le16(n);
	return 0;
}

int loom_submit_ioctl(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct loom_device *ldev = to_loom_device(drm);
	struct drm_loom_submit *args = data;
	struct drm_syncobj *out = NULL;
	struct dma_fence *in_fence, *done;
	struct loom_job *job;
	struct loom_ctx *ctx;
	u64 seq;
	int ret, idx;

	ret = loom_submit_validate(ldev, args);
	if (ret)
		return ret;
	ctx = loom_ctx_get(file->driver_priv, args->ctx_id);
	if (!ctx)
		return -ENOENT;
	if (args->out_syncobj) {
		out = drm_syncobj_find(file, args->out_syncobj);
		if (!out) {
			ret = -ENOENT;
			goto put_ctx;
		}
	}
	job = kzalloc(sizeof(*job), GFP_KERNEL);
	if (!job) {
		ret = -ENOMEM;
		goto put_syncobj;
	}
	job->ldev = ldev;
	ret = loom_job_fill(job, file, args);
	if (ret)
		goto free_job;

	if (!drm_dev_enter(drm, &idx)) {
		ret = -ENODEV;
		goto free_job;
	}
#if defined(LOOM_HAVE_SCHED_JOB_CREDITS)
	ret = drm_sched_job_init(&job->base, &ctx->entity, 1, ctx);
#else
	ret = drm_sched_job_init(&job->base, &ctx->entity, ctx);
#endif
	if (ret)
		goto exit_dev;
	if (args->in_syncobj) {
		ret = drm_syncobj_find_fence(file, args->in_syncobj, 0, 0, &in_fence);
		if (ret)
			goto cleanup_job;
		ret = drm_sched_job_add_dependency(&job->base, in_fence);
		if (ret)
			goto cleanup_job;
	}

	mutex_lock(&ctx->lock);
	drm_sched_job_arm(&job->base);
	done = dma_fence_get(&job->base.s_fence->finished);
	seq = ++ctx->seq;
	dma_fence_put(ctx->fences[seq % LOOM_CTX_FENCES]);
	ctx->fences[seq % LOOM_CTX_FENCES] = dma_fence_get(done);
	drm_sched_entity_push_job(&job->base);
	mutex_unlock(&ctx->lock);
	drm_dev_exit(idx);

	if (out)
		drm_syncobj_replace_fence(out, done);
	dma_fence_put(done);
	args->seq = seq;
	ret = 0;
	goto put_syncobj;

cleanup_job:
	drm_sched_job_cleanup(&job->base);
exit_dev:
	drm_dev_exit(idx);
free_job:
	while (job->num_bos)
		drm_gem_object_put(job->bos[--job->num_bos]);
	kfree(job);
put_syncobj:
	if (out)
		drm_syncobj_put(out);
put_ctx:
	loom_ctx_put(ctx);
	return ret;
}

static u32 loom_job_status(int err)
{
	switch (err) {
	case 0:
		return LOOM_JOB_OK;
	case -ETIMEDOUT:
		return LOOM_JOB_TIMEDOUT;
	case -ECANCELED:
		return LOOM_JOB_CANCELED;
	case -ENODEV:
		return LOOM_JOB_DEVICE_LOST;
	default:
		return LOOM_JOB_ERROR;
	}
}

int loom_wait_ioctl(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct drm_loom_wait *args = data;
	struct dma_fence *fence = NULL;
	struct loom_ctx *ctx;
	long ret, timeout;

	if (args->flags || args->pad || args->timeout_ns < 0)
		return -EINVAL;
	ctx = loom_ctx_get(file->driver_priv, args->ctx_id);
	if (!ctx)
		return -ENOENT;
	mutex_lock(&ctx->lock);
	if (args->seq && args->seq <= ctx->seq && ctx->seq - args->seq < LOOM_CTX_FENCES)
		fence = dma_fence_get(ctx->fences[args->seq % LOOM_CTX_FENCES]);
	mutex_unlock(&ctx->lock);
	loom_ctx_put(ctx);
	if (!fence)
		return -ENOENT;

	if (!args->timeout_ns) {
		ret = dma_fence_is_signaled(fence) ? 1 : 0;
	} else {
		timeout = nsecs_to_jiffies(args->timeout_ns);
		ret = dma_fence_wait_timeout(fence, true, timeout ? timeout : 1);
	}
	if (ret > 0) {
		args->status = loom_job_status(fence->error);
		ret = 0;
	} else if (ret == 0) {
		ret = -ETIME;
	}
	dma_fence_put(fence);
	return ret;
}
