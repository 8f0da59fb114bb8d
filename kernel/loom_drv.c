// SPDX-License-Identifier: GPL-2.0
/*
 * loom.ko: PCI probe, DRM registration and the device-wide ioctls (info,
 * xclbin load, reset). Buffer objects live in loom_gem.c, jobs in
 * loom_job.c, the card interface in loom_hw.c.
 */
#include "loom_config.h"

#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_gem.h>
#include <drm/drm_ioctl.h>
#include <drm/drm_managed.h>
#include <drm/drm_print.h>
#if defined(LOOM_HAVE_DRM_ACCEL)
#include <drm/drm_accel.h>
#endif

#include "loom_drv.h"

/* Placeholder IDs for a Loom card; a shell team sets its own. */
#define LOOM_PCI_VENDOR_ID	0x10ee
#define LOOM_PCI_DEVICE_ID	0x4c4d
#define IVSHMEM_VENDOR_ID	0x1af4
#define IVSHMEM_DEVICE_ID	0x1110
#define LOOM_PCI_SIM		BIT(0)

static bool loom_sim;
module_param_named(sim, loom_sim, bool, 0444);
MODULE_PARM_DESC(sim, "Bind to QEMU ivshmem devices that carry loom-cardsim (default off)");

unsigned int loom_dbg_mask;
module_param_named(dbg_mask, loom_dbg_mask, uint, 0644);
MODULE_PARM_DESC(dbg_mask, "Debug categories: 1 driver, 2 jobs, 4 interrupts, 8 memory");

static int loom_get_info_ioctl(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct loom_device *ldev = to_loom_device(drm);
	struct drm_loom_get_info *args = data;
	struct drm_loom_cu __user *ucus = u64_to_user_ptr(args->cus_ptr);
	struct drm_loom_cu cu;
	u32 i, status, cap = args->cus_count;
	int ret = 0, idx;

	if (args->flags)
		return -EINVAL;
	if (!drm_dev_enter(drm, &idx))
		return -ENODEV;
	status = loom_hw_read(ldev, LOOM_REG_STATUS);
	args->temp_mc = loom_hw_read(ldev, LOOM_REG_TEMP_MC);
	args->power_mw = loom_hw_read(ldev, LOOM_REG_POWER_MW);
	args->heartbeat = loom_hw_read(ldev, LOOM_REG_HEARTBEAT);
	drm_dev_exit(idx);

	args->driver_version = LOOM_DRIVER_MAJOR << 16 | LOOM_DRIVER_MINOR;
	args->interface_version = ldev->interface_version;
	args->capabilities = ldev->caps;
	args->status = 0;
	if (status & LOOM_STATUS_READY)
		args->status |= LOOM_INFO_STATUS_READY;
	if (ldev->dead)
		args->status |= LOOM_INFO_STATUS_DEAD;
	args->cmd_slots = ldev->cmd_slots;
	args->max_contexts = LOOM_MAX_CONTEXTS;
	args->mem_total = ldev->heap_size;
	mutex_lock(&ldev->mm_lock);
	args->mem_used = ldev->mem_used;
	mutex_unlock(&ldev->mm_lock);
	args->mem_align = LOOM_MEM_ALIGN;
	args->max_bos = LOOM_MAX_JOB_BOS;
	args->max_args = LOOM_CMD_MAX_ARGS;
	memcpy(args->interface_uuid, ldev->interface_uuid, sizeof(args->interface_uuid));
	memset(args->name, 0, sizeof(args->name));
	strscpy(args->name, ldev->name, sizeof(args->name));
	args->jobs_submitted = atomic64_read(&ldev->jobs_submitted);
	args->jobs_completed = atomic64_read(&ldev->jobs_completed);
	args->jobs_timedout = atomic64_read(&ldev->jobs_timedout);
	args->resets = atomic64_read(&ldev->resets);
	args->numa_node = dev_to_node(&ldev->pdev->dev);

	mutex_lock(&ldev->xclbin_lock);
	memset(args->xclbin_uuid, 0, sizeof(args->xclbin_uuid));
	args->cus_count = 0;
	if (ldev->xclbin) {
		args->status |= LOOM_INFO_STATUS_PROGRAMMED;
		memcpy(args->xclbin_uuid, ldev->xclbin->uuid, sizeof(args->xclbin_uuid));
		args->cus_count = ldev->xclbin->num_cus;
		for (i = 0; i < ldev->xclbin->num_cus && i < cap && ucus; i++) {
			memset(&cu, 0, sizeof(cu));
			cu.index = i;
			cu.base_address = ldev->xclbin->cus[i].base_address;
			strscpy(cu.name, ldev->xclbin->cus[i].name, sizeof(cu.name));
			if (copy_to_user(&ucus[i], &cu, sizeof(cu))) {
				ret = -EFAULT;
				break;
			}
		}
	}
	mutex_unlock(&ldev->xclbin_lock);
	return ret;
}

static int loom_xclbin_load_ioctl(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct loom_device *ldev = to_loom_device(drm);
	struct drm_loom_xclbin_load *args = data;
	struct loom_xclbin *x;
	void *buf;
	int ret, idx;

	args->reason = LOOM_XCLBIN_OK;
	args->detail = 0;
	if (args->flags)
		return -EINVAL;
	if (args->size < AXLF_HEADER_SIZE) {
		args->reason = LOOM_XCLBIN_TOO_SMALL;
		return -EINVAL;
	}
	if (args->size > LOOM_XCLBIN_MAX_SIZE)
		return -EFBIG;

	x = kzalloc(sizeof(*x), GFP_KERNEL);
	buf = kvmalloc(args->size, GFP_KERNEL);
	if (!x || !buf) {
		ret = -ENOMEM;
		goto out_free;
	}
	if (copy_from_user(buf, u64_to_user_ptr(args->ptr), args->size)) {
		ret = -EFAULT;
		goto out_free;
	}
	args->reason = loom_xclbin_parse(buf, args->size, ldev->interface_uuid, x,
					 &args->detail);
	if (args->reason != LOOM_XCLBIN_OK) {
		drm_dbg(drm, "xclbin refused: %s (section %llu)\n",
			loom_xclbin_reason_str(args->reason), args->detail);
		ret = -EINVAL;
		goto out_reason;
	}

	if (!drm_dev_enter(drm, &idx)) {
		ret = -ENODEV;
		goto out_free;
	}
	mutex_lock(&ldev->xclbin_lock);
	if (ldev->open_contexts) {
		args->reason = LOOM_XCLBIN_BUSY;
		ret = -EBUSY;
	} else {
		ret = loom_hw_program(ldev, buf + x->bitstream_off, x->bitstream_len, x->uuid);
		if (ret == -ENOMEM) {
			args->reason = LOOM_XCLBIN_NO_MEMORY;
		} else if (ret) {
			args->reason = LOOM_XCLBIN_PROGRAM_FAILED;
			ret = -EIO;
		} else {
			kfree(ldev->xclbin);
			ldev->xclbin = x;
			x = NULL;
			loom_info(ldev, "Loaded xclbin %pUb, %u CUs\n", ldev->xclbin->uuid,
				  ldev->xclbin->num_cus);
		}
	}
	mutex_unlock(&ldev->xclbin_lock);
	drm_dev_exit(idx);
out_reason:
	WRITE_ONCE(ldev->last_xclbin_reason, args->reason);
out_free:
	kvfree(buf);
	kfree(x);
	return ret;
}

static int loom_reset_ioctl(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct loom_device *ldev = to_loom_device(drm);
	struct drm_loom_reset *args = data;
	int ret, idx;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (args->flags || args->pad)
		return -EINVAL;
	if (!drm_dev_enter(drm, &idx))
		return -ENODEV;
	ret = loom_device_reset(ldev, NULL);
	drm_dev_exit(idx);
	return ret;
}

static const struct drm_ioctl_desc loom_ioctls[] = {
	DRM_IOCTL_DEF_DRV(LOOM_GET_INFO, loom_get_info_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(LOOM_BO_CREATE, loom_bo_create_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(LOOM_BO_INFO, loom_bo_info_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(LOOM_XCLBIN_LOAD, loom_xclbin_load_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(LOOM_CTX_CREATE, loom_ctx_create_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(LOOM_CTX_DESTROY, loom_ctx_destroy_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(LOOM_SUBMIT, loom_submit_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(LOOM_WAIT, loom_wait_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(LOOM_RESET, loom_reset_ioctl, DRM_RENDER_ALLOW),
};

static int loom_open(struct drm_device *drm, struct drm_file *file)
{
	struct loom_file *lfile;

	lfile = kzalloc(sizeof(*lfile), GFP_KERNEL);
	if (!lfile)
		return -ENOMEM;
	lfile->ldev = to_loom_device(drm);
	xa_init_flags(&lfile->contexts, XA_FLAGS_ALLOC1);
	mutex_init(&lfile->lock);
	file->driver_priv = lfile;
	return 0;
}

static void loom_postclose(struct drm_device *drm, struct drm_file *file)
{
	struct loom_file *lfile = file->driver_priv;

	loom_file_contexts_fini(lfile);
	mutex_destroy(&lfile->lock);
	kfree(lfile);
}

#if defined(LOOM_HAVE_DRM_ACCEL)
DEFINE_DRM_ACCEL_FOPS(loom_fops);
#else
DEFINE_DRM_GEM_FOPS(loom_fops);
#endif

static const struct drm_driver loom_drm_driver = {
#if defined(LOOM_HAVE_DRM_ACCEL)
	.driver_features = DRIVER_GEM | DRIVER_SYNCOBJ | DRIVER_COMPUTE_ACCEL,
#else
	.driver_features = DRIVER_GEM | DRIVER_SYNCOBJ | DRIVER_RENDER,
#endif
	.open = loom_open,
	.postclose = loom_postclose,
	.ioctls = loom_ioctls,
	.num_ioctls = ARRAY_SIZE(loom_ioctls),
	.fops = &loom_fops,
#if !defined(LOOM_HAVE_DRM_ACCEL)
	.debugfs_init = loom_debugfs_init,
#endif
	.name = LOOM_DRIVER_NAME,
	.desc = LOOM_DRIVER_DESC,
#if defined(LOOM_HAVE_DRM_DRIVER_DATE)
	.date = LOOM_DRIVER_DATE,
#endif
	.major = LOOM_DRIVER_MAJOR,
	.minor = LOOM_DRIVER_MINOR,
};

/* Runs when the last reference to the DRM device goes, after remove. */
static void loom_drm_release(struct drm_device *drm, void *arg)
{
	struct loom_device *ldev = to_loom_device(drm);

	loom_sched_fini(ldev);
	kfree(ldev->xclbin);
	drm_mm_takedown(&ldev->mm);
}

static bool loom_has_driver_override(struct pci_dev *pdev)
{
#if defined(LOOM_HAVE_DEVICE_DRIVER_OVERRIDE)
	return device_has_driver_override(&pdev->dev);
#else
	return pdev->driver_override;
#endif
}

static int loom_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct loom_device *ldev;
	int ret;

	if ((id->driver_data & LOOM_PCI_SIM) && !loom_sim && !loom_has_driver_override(pdev))
		return -ENODEV;

	ldev = devm_drm_dev_alloc(&pdev->dev, &loom_drm_driver, struct loom_device, drm);
	if (IS_ERR(ldev))
		return PTR_ERR(ldev);
	ldev->pdev = pdev;
	ldev->ops = (id->driver_data & LOOM_PCI_SIM) ? &loom_ivshmem_ops : &loom_native_ops;
	pci_set_drvdata(pdev, ldev);
	mutex_init(&ldev->mm_lock);
	mutex_init(&ldev->xclbin_lock);

	ret = pci_enable_device(pdev);
	if (ret) {
		dev_err(&pdev->dev, "Failed to enable device: %d\n", ret);
		return ret;
	}
	/* Without bus mastering every MSI-X message is dropped. */
	pci_set_master(pdev);
	ret = pci_request_regions(pdev, LOOM_DRIVER_NAME);
	if (ret) {
		dev_err(&pdev->dev, "Failed to request regions: %d\n", ret);
		goto disable_dev;
	}
	if (id->driver_data & LOOM_PCI_SIM) {
		ldev->regs = pci_iomap(pdev, 0, 0);
		if (!ldev->regs) {
			ret = -ENOMEM;
			goto release_regions;
		}
	}
	ldev->win_phys = pci_resource_start(pdev, 2);
	ldev->win_size = pci_resource_len(pdev, 2);
	if (ldev->win_size < 2 * LOOM_REG_BLOCK_SIZE) {
		dev_err(&pdev->dev, "BAR2 too small: %pa\n", &ldev->win_size);
		ret = -ENODEV;
		goto unmap_regs;
	}
	ldev->win = ioremap(ldev->win_phys, ldev->win_size);
	if (!ldev->win) {
		ret = -ENOMEM;
		goto unmap_regs;
	}

	ret = loom_hw_init(ldev);
	if (ret)
		goto unmap_win;
	drm_mm_init(&ldev->mm, 0, ldev->heap_size);
	ret = loom_sched_init(ldev);
	if (ret)
		goto fini_mm;
	ret = drmm_add_action_or_reset(&ldev->drm, loom_drm_release, NULL);
	if (ret)
		goto fini_hw;	/* the action ran: scheduler and mm are gone */

	ret = drm_dev_register(&ldev->drm, 0);
	if (ret) {
		loom_err(ldev, "Failed to register DRM device: %d\n", ret);
		goto fini_hw;
	}
#if defined(LOOM_HAVE_DRM_ACCEL)
	/* DRM core does not call .debugfs_init for accel minors. */
	loom_debugfs_init(ldev->drm.accel);
#endif
	loom_watchdog_start(ldev);
	loom_info(ldev, "%s: interface %u.%u, %llu MiB device memory, %u command slots\n",
		  ldev->name, ldev->interface_version >> 16,
		  ldev->interface_version & 0xffff, ldev->heap_size >> 20, ldev->cmd_slots);
	return 0;

fini_mm:
	drm_mm_takedown(&ldev->mm);
fini_hw:
	loom_hw_fini(ldev);
unmap_win:
	iounmap(ldev->win);
unmap_regs:
	if (ldev->regs)
		pci_iounmap(pdev, ldev->regs);
release_regions:
	pci_release_regions(pdev);
disable_dev:
	pci_disable_device(pdev);
	return ret;
}

static void loom_remove(struct pci_dev *pdev)
{
	struct loom_device *ldev = pci_get_drvdata(pdev);

	drm_dev_unplug(&ldev->drm);
	/* Userspace mappings of the BAR go away with the device. */
	unmap_mapping_range(ldev->drm.anon_inode->i_mapping, 0, 0, 1);
	loom_watchdog_stop(ldev);
	loom_hw_fini(ldev);
	iounmap(ldev->win);
	ldev->win = NULL;
	if (ldev->regs)
		pci_iounmap(pdev, ldev->regs);
	pci_release_regions(pdev);
	pci_disable_device(pdev);
}

static const struct pci_device_id loom_pci_ids[] = {
	{ PCI_DEVICE(LOOM_PCI_VENDOR_ID, LOOM_PCI_DEVICE_ID) },
	{ PCI_DEVICE(IVSHMEM_VENDOR_ID, IVSHMEM_DEVICE_ID), .driver_data = LOOM_PCI_SIM },
	{ }
};
MODULE_DEVICE_TABLE(pci, loom_pci_ids);

static struct pci_driver loom_pci_driver = {
	.name = LOOM_DRIVER_NAME,
	.id_table = loom_pci_ids,
	.probe = loom_probe,
	.remove = loom_remove,
	.dev_groups = loom_attr_groups,
};
module_pci_driver(loom_pci_driver);

MODULE_AUTHOR("The Loom authors");
MODULE_DESCRIPTION(LOOM_DRIVER_DESC);
MODULE_LICENSE("GPL");
