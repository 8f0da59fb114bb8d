// SPDX-License-Identifier: GPL-2.0
/*
 * loom.ko: sysfs attributes on the PCI device (what loomctl examine reads)
 * and debugfs views of the rings.
 */
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/kstrtox.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/seq_file.h>
#include <linux/sysfs.h>
#include <drm/drm_debugfs.h>
#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_print.h>

#include "loom_drv.h"

static struct loom_device *dev_to_loom(struct device *dev)
{
	return pci_get_drvdata(to_pci_dev(dev));
}

/* Read a card register for sysfs, or fail with -ENODEV once unplugged. */
static ssize_t loom_show_reg(struct device *dev, char *buf, u32 reg)
{
	struct loom_device *ldev = dev_to_loom(dev);
	ssize_t ret;
	int idx;

	if (!drm_dev_enter(&ldev->drm, &idx))
		return -ENODEV;
	ret = sysfs_emit(buf, "%u\n", loom_hw_read(ldev, reg));
	drm_dev_exit(idx);
	return ret;
}

static ssize_t card_name_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", dev_to_loom(dev)->name);
}
static DEVICE_ATTR_RO(card_name);

static ssize_t interface_version_show(struct device *dev, struct device_attribute *attr,
				      char *buf)
{
	u32 v = dev_to_loom(dev)->interface_version;

	return sysfs_emit(buf, "%u.%u\n", v >> 16, v & 0xffff);
}
static DEVICE_ATTR_RO(interface_version);

static ssize_t interface_uuid_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%pUb\n", dev_to_loom(dev)->interface_uuid);
}
static DEVICE_ATTR_RO(interface_uuid);

static ssize_t mem_total_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", dev_to_loom(dev)->heap_size);
}
static DEVICE_ATTR_RO(mem_total);

static ssize_t mem_used_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct loom_device *ldev = dev_to_loom(dev);
	u64 used;

	mutex_lock(&ldev->mm_lock);
	used = ldev->mem_used;
	mutex_unlock(&ldev->mm_lock);
	return sysfs_emit(buf, "%llu\n", used);
}
static DEVICE_ATTR_RO(mem_used);

static ssize_t xclbin_uuid_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct loom_device *ldev = dev_to_loom(dev);
	ssize_t ret;

	mutex_lock(&ldev->xclbin_lock);
	if (ldev->xclbin)
		ret = sysfs_emit(buf, "%pUb\n", ldev->xclbin->uuid);
	else
		ret = sysfs_emit(buf, "none\n");
	mutex_unlock(&ldev->xclbin_lock);
	return ret;
}
static DEVICE_ATTR_RO(xclbin_uuid);

static ssize_t cus_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct loom_device *ldev = dev_to_loom(dev);
	ssize_t len = 0;
	u32 i;

	mutex_lock(&ldev->xclbin_lock);
	for (i = 0; ldev->xclbin && i < ldev->xclbin->num_cus; i++)
		len += sysfs_emit_at(buf, len, "%u %#llx %s\n", i,
				     ldev->xclbin->cus[i].base_address,
				     ldev->xclbin->cus[i].name);
	mutex_unlock(&ldev->xclbin_lock);
	return len;
}
static DEVICE_ATTR_RO(cus);

static ssize_t last_xclbin_error_show(struct device *dev, struct device_attribute *attr,
				      char *buf)
{
	u32 r = READ_ONCE(dev_to_loom(dev)->last_xclbin_reason);

	return sysfs_emit(buf, "%u %s\n", r, loom_xclbin_reason_str(r));
}
static DEVICE_ATTR_RO(last_xclbin_error);

static ssize_t temp_mc_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return loom_show_reg(dev, buf, LOOM_REG_TEMP_MC);
}
static DEVICE_ATTR_RO(temp_mc);

static ssize_t power_mw_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return loom_show_reg(dev, buf, LOOM_REG_POWER_MW);
}
static DEVICE_ATTR_RO(power_mw);

static ssize_t heartbeat_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return loom_show_reg(dev, buf, LOOM_REG_HEARTBEAT);
}
static DEVICE_ATTR_RO(heartbeat);

static ssize_t card_errors_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return loom_show_reg(dev, buf, LOOM_REG_ERRORS);
}
static DEVICE_ATTR_RO(card_errors);

static ssize_t jobs_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct loom_device *ldev = dev_to_loom(dev);

	ssize_t len;

	len = sysfs_emit(buf, "submitted %lld\n", atomic64_read(&ldev->jobs_submitted));
	len += sysfs_emit_at(buf, len, "completed %lld\n", atomic64_read(&ldev->jobs_completed));
	len += sysfs_emit_at(buf, len, "timedout %lld\n", atomic64_read(&ldev->jobs_timedout));
	len += sysfs_emit_at(buf, len, "resets %lld\n", atomic64_read(&ldev->resets));
	len += sysfs_emit_at(buf, len, "stale_completions %lld\n",
			     atomic64_read(&ldev->stale_completions));
	len += sysfs_emit_at(buf, len, "interrupts %lld\n", atomic64_read(&ldev->irqs));
	len += sysfs_emit_at(buf, len, "heartbeat_losses %lld\n",
			     atomic64_read(&ldev->heartbeat_losses));
	return len;
}
static DEVICE_ATTR_RO(jobs);

static struct attribute *loom_attrs[] = {
	&dev_attr_card_name.attr,
	&dev_attr_interface_version.attr,
	&dev_attr_interface_uuid.attr,
	&dev_attr_mem_total.attr,
	&dev_attr_mem_used.attr,
	&dev_attr_xclbin_uuid.attr,
	&dev_attr_cus.attr,
	&dev_attr_last_xclbin_error.attr,
	&dev_attr_temp_mc.attr,
	&dev_attr_power_mw.attr,
	&dev_attr_heartbeat.attr,
	&dev_attr_card_errors.attr,
	&dev_attr_jobs.attr,
	NULL
};

static const struct attribute_group loom_attr_group = {
	.name = "loom",
	.attrs = loom_attrs,
};

const struct attribute_group *loom_attr_groups[] = {
	&loom_attr_group,
	NULL
};

static int loom_debugfs_rings(struct seq_file *m, void *unused)
{
	struct drm_info_node *node = m->private;
	struct loom_device *ldev = to_loom_device(node->minor->dev);
	struct loom_fence *f;
	unsigned long flags;
	int idx;

	if (!drm_dev_enter(&ldev->drm, &idx))
		return -ENODEV;
	seq_printf(m, "cmd: slots %u head %u tail %u (host %u)\n", ldev->cmd_slots,
		   loom_hw_read(ldev, LOOM_REG_CMD_HEAD), loom_hw_read(ldev, LOOM_REG_CMD_TAIL),
		   ldev->cmd_tail);
	seq_printf(m, "cpl: slots %u head %u (host %u) tail %u\n", ldev->cpl_slots,
		   loom_hw_read(ldev, LOOM_REG_CPL_HEAD), ldev->cpl_head,
		   loom_hw_read(ldev, LOOM_REG_CPL_TAIL));
	seq_printf(m, "status %#x heartbeat %u reset gen %u ack %u\n",
		   loom_hw_read(ldev, LOOM_REG_STATUS), loom_hw_read(ldev, LOOM_REG_HEARTBEAT),
		   ldev->reset_gen, loom_hw_read(ldev, LOOM_REG_RESET_ACK));
	spin_lock_irqsave(&ldev->ring_lock, flags);
	list_for_each_entry(f, &ldev->pending, node)
		seq_printf(m, "pending seqno %u\n", f->seqno);
	spin_unlock_irqrestore(&ldev->ring_lock, flags);
	drm_dev_exit(idx);
	return 0;
}

static const struct drm_info_list loom_debugfs_list[] = {
	{ "rings", loom_debugfs_rings, 0 },
};

/*
 * sim_fault: a test hook for loom-cardsim only. Writing "hang", "slow US",
 * "corrupt", "die" or "none" sets the simulator's fault register, which the
 * guest cannot reach otherwise while the driver owns the BAR.
 */
static ssize_t loom_sim_fault_write(struct file *f, const char __user *ubuf,
				    size_t len, loff_t *pos)
{
	static const char * const names[] = {
		[LOOM_SIM_FAULT_NONE] = "none",
		[LOOM_SIM_FAULT_HANG] = "hang",
		[LOOM_SIM_FAULT_SLOW] = "slow",
		[LOOM_SIM_FAULT_CORRUPT] = "corrupt",
		[LOOM_SIM_FAULT_DIE] = "die",
	};
	struct loom_device *ldev = file_inode(f)->i_private;
	char buf[32], *arg;
	u32 mode, val = 0;
	int idx;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	arg = strim(buf);
	for (mode = 0; mode < ARRAY_SIZE(names); mode++) {
		size_t n = strlen(names[mode]);

		if (!strncmp(arg, names[mode], n) && (!arg[n] || arg[n] == ' '))
			break;
	}
	if (mode == ARRAY_SIZE(names))
		return -EINVAL;
	if (mode == LOOM_SIM_FAULT_SLOW && kstrtou32(skip_spaces(arg + 4), 0, &val))
		return -EINVAL;
	if (!drm_dev_enter(&ldev->drm, &idx))
		return -ENODEV;
	loom_hw_write(ldev, LOOM_REG_SIM_FAULT_ARG, val);
	loom_hw_write(ldev, LOOM_REG_SIM_FAULT, mode);
	drm_dev_exit(idx);
	return len;
}

static const struct file_operations loom_sim_fault_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = loom_sim_fault_write,
	.llseek = noop_llseek,
};

void loom_debugfs_init(struct drm_minor *minor)
{
	struct loom_device *ldev = to_loom_device(minor->dev);

	drm_debugfs_create_files(loom_debugfs_list, ARRAY_SIZE(loom_debugfs_list),
				 minor->debugfs_root, minor);
	if (ldev->caps & LOOM_CAP_SIM)
		debugfs_create_file("sim_fault", 0200, minor->debugfs_root, ldev,
				    &loom_sim_fault_fops);
}
