// SPDX-License-Identifier: GPL-2.0
/*
 * loom.ko: buffer objects in the card's device memory. A range allocator
 * (drm_mm) hands out pieces of the heap; userspace maps them through the
 * BAR, write-combined.
 */
#include <linux/mm.h>
#include <linux/slab.h>
#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_gem.h>
#include <drm/drm_print.h>
#include <drm/drm_vma_manager.h>

#include "loom_drv.h"

/**
 * struct loom_bo - a buffer object in device memory
 * @base: the GEM object
 * @node: its range of the heap (offsets relative to the heap)
 */
struct loom_bo {
	struct drm_gem_object base;
	struct drm_mm_node node;
};

static inline struct loom_bo *to_loom_bo(struct drm_gem_object *obj)
{
	return container_of(obj, struct loom_bo, base);
}

int loom_heap_alloc(struct loom_device *ldev, struct drm_mm_node *node, u64 size)
{
	int ret;

	size = round_up(size, LOOM_MEM_ALIGN);
	mutex_lock(&ldev->mm_lock);
	ret = drm_mm_insert_node_generic(&ldev->mm, node, size, LOOM_MEM_ALIGN, 0,
					 DRM_MM_INSERT_BEST);
	if (!ret)
		ldev->mem_used += size;
	mutex_unlock(&ldev->mm_lock);
	if (ret)
		loom_dbg(ldev, MEM, "no room for %llu bytes: %d\n", size, ret);
	return ret ? -ENOMEM : 0;
}

void loom_heap_free(struct loom_device *ldev, struct drm_mm_node *node)
{
	mutex_lock(&ldev->mm_lock);
	if (drm_mm_node_allocated(node)) {
		ldev->mem_used -= node->size;
		drm_mm_remove_node(node);
	}
	mutex_unlock(&ldev->mm_lock);
}

static void loom_bo_free(struct drm_gem_object *obj)
{
	struct loom_bo *bo = to_loom_bo(obj);

	loom_heap_free(to_loom_device(obj->dev), &bo->node);
	drm_gem_object_release(obj);
	kfree(bo);
}

static int loom_bo_mmap(struct drm_gem_object *obj, struct vm_area_struct *vma)
{
	struct loom_device *ldev = to_loom_device(obj->dev);
	struct loom_bo *bo = to_loom_bo(obj);
	unsigned long size = vma->vm_end - vma->vm_start;
	unsigned long pfn;
	int ret, idx;

	/*
	 * drm_gem_mmap() found the object by its exact fake offset, so the
	 * mapping starts at the BO's first byte; drm_gem_mmap_obj() checked
	 * the size.
	 */
	if (size > obj->size)
		return -EINVAL;
	if (!drm_dev_enter(obj->dev, &idx))
		return -ENODEV;
	pfn = (ldev->win_phys + ldev->heap_off + bo->node.start) >> PAGE_SHIFT;
#if defined(LOOM_HAVE_VM_FLAGS_SET)
	vm_flags_set(vma, VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
#else
	vma->vm_flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP;
#endif
	vma->vm_page_prot = pgprot_writecombine(vm_get_page_prot(vma->vm_flags));
	ret = io_remap_pfn_range(vma, vma->vm_start, pfn, size, vma->vm_page_prot);
	drm_dev_exit(idx);
	return ret;
}

static const struct vm_operations_struct loom_bo_vm_ops = {
	.open = drm_gem_vm_open,
	.close = drm_gem_vm_close,
};

static const struct drm_gem_object_funcs loom_bo_funcs = {
	.free = loom_bo_free,
	.mmap = loom_bo_mmap,
	.vm_ops = &loom_bo_vm_ops,
};

/* The device address of byte @offset of a BO, checked against its size. */
int loom_bo_devaddr(struct drm_gem_object *obj, u64 offset, u64 *addr)
{
	struct loom_device *ldev = to_loom_device(obj->dev);

	if (obj->funcs != &loom_bo_funcs || offset >= obj->size)
		return -EINVAL;
	*addr = ldev->heap_devaddr + to_loom_bo(obj)->node.start + offset;
	return 0;
}

int loom_bo_create_ioctl(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct loom_device *ldev = to_loom_device(drm);
	struct drm_loom_bo_create *args = data;
	struct loom_bo *bo;
	u64 size;
	int ret, idx;

	if (args->flags || !args->size || args->size > ldev->heap_size)
		return -EINVAL;
	if (!drm_dev_enter(drm, &idx))
		return -ENODEV;
	drm_dev_exit(idx);
	size = round_up(args->size, LOOM_MEM_ALIGN);

	bo = kzalloc(sizeof(*bo), GFP_KERNEL);
	if (!bo)
		return -ENOMEM;
	bo->base.funcs = &loom_bo_funcs;
	drm_gem_private_object_init(drm, &bo->base, size);

	ret = loom_heap_alloc(ldev, &bo->node, size);
	if (ret)
		goto put;
	ret = drm_gem_create_mmap_offset(&bo->base);
	if (ret)
		goto put;
	ret = drm_gem_handle_create(file, &bo->base, &args->handle);
	if (ret)
		goto put;
	args->dev_addr = ldev->heap_devaddr + bo->node.start;
	args->mmap_offset = drm_vma_node_offset_addr(&bo->base.vma_node);
	args->size = size;
put:
	/* The handle holds the object now; on error this frees it. */
	drm_gem_object_put(&bo->base);
	return ret;
}

int loom_bo_info_ioctl(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct drm_loom_bo_info *args = data;
	struct drm_gem_object *obj;
	int ret;

	if (args->flags)
		return -EINVAL;
	obj = drm_gem_object_lookup(file, args->handle);
	if (!obj)
		return -ENOENT;
	ret = loom_bo_devaddr(obj, 0, &args->dev_addr);
	if (!ret) {
		args->size = obj->size;
		args->mmap_offset = drm_vma_node_offset_addr(&obj->vma_node);
	}
	drm_gem_object_put(obj);
	return ret;
}
