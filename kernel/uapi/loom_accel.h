/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * Loom accelerator card: the ioctl ABI of loom.ko.
 *
 * The node is /dev/accel/accelN on kernels with DRM accel and a render node
 * (/dev/dri/renderD*) on older ones; the ioctls are the same on both.
 * Every struct has a fixed size, pointers travel as __u64, and every flags
 * and pad field is "MBZ": the driver rejects non-zero values with -EINVAL, so
 * they can gain meaning later.
 */
#ifndef _UAPI_LOOM_ACCEL_H_
#define _UAPI_LOOM_ACCEL_H_

#include "drm.h"

#if defined(__cplusplus)
extern "C" {
#endif

#define LOOM_DRIVER_MAJOR	1
#define LOOM_DRIVER_MINOR	0

#define DRM_LOOM_GET_INFO	0x00
#define DRM_LOOM_BO_CREATE	0x01
#define DRM_LOOM_BO_INFO	0x02
#define DRM_LOOM_XCLBIN_LOAD	0x03
#define DRM_LOOM_CTX_CREATE	0x04
#define DRM_LOOM_CTX_DESTROY	0x05
#define DRM_LOOM_SUBMIT		0x06
#define DRM_LOOM_WAIT		0x07
#define DRM_LOOM_RESET		0x08

#define LOOM_MAX_CUS		64
#define LOOM_CU_NAME_LEN	64

/**
 * struct drm_loom_cu - one compute unit of the loaded xclbin
 * @index: CU index for &drm_loom_submit.cu_index
 * @pad: MBZ
 * @base_address: the CU's address in the card's control space (IP_LAYOUT)
 * @name: NUL-terminated kernel:instance name from IP_LAYOUT
 */
struct drm_loom_cu {
	__u32 index;
	__u32 pad;
	__u64 base_address;
	char name[LOOM_CU_NAME_LEN];
};

#define LOOM_INFO_STATUS_READY		0x00000001
#define LOOM_INFO_STATUS_PROGRAMMED	0x00000002
#define LOOM_INFO_STATUS_DEAD		0x00000004

/**
 * struct drm_loom_get_info - DRM_IOCTL_LOOM_GET_INFO
 * @flags: in, MBZ
 * @cus_count: in: capacity of @cus_ptr in entries; out: CUs of the loaded xclbin
 * @cus_ptr: in, optional: user array of struct drm_loom_cu filled up to capacity
 * @driver_version: out, LOOM_DRIVER_MAJOR << 16 | LOOM_DRIVER_MINOR
 * @interface_version: out, card interface version, major << 16 | minor
 * @capabilities: out, the card's LOOM_CAP_* register
 * @status: out, LOOM_INFO_STATUS_*
 * @cmd_slots: out, command ring slots of the card
 * @mem_total: out, device-memory heap size, bytes
 * @mem_used: out, bytes allocated to BOs and the driver
 * @mem_align: out, BO size and address granularity, bytes
 * @max_contexts: out, contexts one file may hold
 * @max_bos: out, BO arguments one SUBMIT may carry
 * @max_args: out, BO arguments plus scalars one SUBMIT may carry
 * @xclbin_uuid: out, UUID of the loaded xclbin, zero if none
 * @interface_uuid: out, the card shell's interface UUID
 * @name: out, NUL-terminated board name
 * @jobs_submitted: out, jobs handed to the card since load
 * @jobs_completed: out, jobs that completed (any status)
 * @jobs_timedout: out, jobs failed by the timeout handler
 * @resets: out, card resets since load
 * @temp_mc: out, temperature, milli-degrees Celsius
 * @power_mw: out, board power, milliwatts
 * @heartbeat: out, the card's heartbeat counter
 * @numa_node: out, NUMA node of the card, -1 if none
 */
struct drm_loom_get_info {
	__u32 flags;
	__u32 cus_count;
	__u64 cus_ptr;
	__u32 driver_version;
	__u32 interface_version;
	__u32 capabilities;
	__u32 status;
	__u32 cmd_slots;
	__u32 max_contexts;
	__u64 mem_total;
	__u64 mem_used;
	__u64 mem_align;
	__u32 max_bos;
	__u32 max_args;
	__u8 xclbin_uuid[16];
	__u8 interface_uuid[16];
	char name[32];
	__u64 jobs_submitted;
	__u64 jobs_completed;
	__u64 jobs_timedout;
	__u64 resets;
	__u32 temp_mc;
	__u32 power_mw;
	__u32 heartbeat;
	__s32 numa_node;
};

/**
 * struct drm_loom_bo_create - DRM_IOCTL_LOOM_BO_CREATE
 * @size: in: bytes; out: the size allocated, a multiple of
 *	&drm_loom_get_info.mem_align
 * @flags: in, MBZ
 * @handle: out, GEM handle
 * @dev_addr: out, the BO's device address, for the card
 * @mmap_offset: out, offset for mmap() on the device node (write-combined)
 */
struct drm_loom_bo_create {
	__u64 size;
	__u32 flags;
	__u32 handle;
	__u64 dev_addr;
	__u64 mmap_offset;
};

/**
 * struct drm_loom_bo_info - DRM_IOCTL_LOOM_BO_INFO
 * @handle: in, GEM handle
 * @flags: in, MBZ
 * @size: out, bytes
 * @dev_addr: out, device address
 * @mmap_offset: out, offset for mmap()
 */
struct drm_loom_bo_info {
	__u32 handle;
	__u32 flags;
	__u64 size;
	__u64 dev_addr;
	__u64 mmap_offset;
};

/* Why XCLBIN_LOAD refused a container (&drm_loom_xclbin_load.reason). */
enum drm_loom_xclbin_reason {
	LOOM_XCLBIN_OK = 0,
	LOOM_XCLBIN_TOO_SMALL,		/* shorter than the axlf header */
	LOOM_XCLBIN_BAD_MAGIC,		/* not "xclbin2" */
	LOOM_XCLBIN_BAD_LENGTH,		/* header length != buffer size */
	LOOM_XCLBIN_BAD_SECTION_COUNT,	/* zero, too many, or table past end */
	LOOM_XCLBIN_SECTION_BOUNDS,	/* a section outside the container */
	LOOM_XCLBIN_NO_BITSTREAM,	/* no BITSTREAM section */
	LOOM_XCLBIN_NO_IP_LAYOUT,	/* no IP_LAYOUT section */
	LOOM_XCLBIN_BAD_IP_LAYOUT,	/* count or size inconsistent */
	LOOM_XCLBIN_TOO_MANY_CUS,	/* more kernels than LOOM_MAX_CUS */
	LOOM_XCLBIN_WRONG_INTERFACE,	/* built for another shell */
	LOOM_XCLBIN_DUPLICATE_SECTION,	/* a section the driver reads appears twice */
	LOOM_XCLBIN_NO_MEMORY,		/* bitstream does not fit the heap */
	LOOM_XCLBIN_PROGRAM_FAILED,	/* the card refused the bitstream */
	LOOM_XCLBIN_BUSY,		/* contexts are open */
	LOOM_XCLBIN_BAD_MEM_TOPOLOGY,	/* count or size inconsistent */
	LOOM_XCLBIN_BAD_CONNECTIVITY,	/* count, size or an index out of range */
	LOOM_XCLBIN_REASON_COUNT
};

/**
 * struct drm_loom_xclbin_load - DRM_IOCTL_LOOM_XCLBIN_LOAD
 * @ptr: in, user pointer to the xclbin (axlf) container
 * @size: in, bytes at @ptr, at most 64 MiB
 * @flags: in, MBZ
 * @reason: out, enum drm_loom_xclbin_reason, also set when the ioctl fails
 * @detail: out, for a refusal: the offending section index or offset
 */
struct drm_loom_xclbin_load {
	__u64 ptr;
	__u64 size;
	__u32 flags;
	__u32 reason;
	__u64 detail;
};

/**
 * DOC: contexts
 *
 * A context is a queue of jobs owned by one open file; jobs of one context
 * run in order, contexts share the card. A file holds at most
 * &drm_loom_get_info.max_contexts contexts; closing the file destroys them,
 * waiting a bounded time for their jobs.
 */

/**
 * struct drm_loom_ctx_create - DRM_IOCTL_LOOM_CTX_CREATE
 * @flags: in, MBZ
 * @ctx_id: out, context id, never 0
 */
struct drm_loom_ctx_create {
	__u32 flags;
	__u32 ctx_id;
};

/**
 * struct drm_loom_ctx_destroy - DRM_IOCTL_LOOM_CTX_DESTROY
 * @ctx_id: in
 * @flags: in, MBZ
 */
struct drm_loom_ctx_destroy {
	__u32 ctx_id;
	__u32 flags;
};

/**
 * struct drm_loom_bo_arg - a BO argument of a job
 * @handle: GEM handle
 * @flags: MBZ
 * @offset: bytes into the BO; the card gets dev_addr + offset
 */
struct drm_loom_bo_arg {
	__u32 handle;
	__u32 flags;
	__u64 offset;
};

#define LOOM_SUBMIT_NOOP	0x00000001	/* a no-op command; no CU, no args */
#define LOOM_SUBMIT_FLAGS	(LOOM_SUBMIT_NOOP)

/**
 * struct drm_loom_submit - DRM_IOCTL_LOOM_SUBMIT
 * @ctx_id: in, context
 * @cu_index: in, CU of the loaded xclbin (MBZ with LOOM_SUBMIT_NOOP)
 * @flags: in, LOOM_SUBMIT_*
 * @num_bos: in, entries at @bos_ptr
 * @bos_ptr: in, user array of struct drm_loom_bo_arg; the card gets their
 *	device addresses first, in order
 * @num_scalars: in, entries at @scalars_ptr
 * @in_syncobj: in, optional syncobj the job waits for, 0 for none
 * @scalars_ptr: in, user array of __u64 scalars, after the BO addresses
 * @out_syncobj: in, optional syncobj that gets the job's fence, 0 for none
 * @pad: MBZ
 * @seq: out, the job's sequence number in its context, for WAIT
 */
struct drm_loom_submit {
	__u32 ctx_id;
	__u32 cu_index;
	__u32 flags;
	__u32 num_bos;
	__u64 bos_ptr;
	__u32 num_scalars;
	__u32 in_syncobj;
	__u64 scalars_ptr;
	__u32 out_syncobj;
	__u32 pad;
	__u64 seq;
};

/* Job status (&drm_loom_wait.status). */
enum drm_loom_job_status {
	LOOM_JOB_OK = 0,
	LOOM_JOB_ERROR,		/* the card or CU reported an error */
	LOOM_JOB_TIMEDOUT,	/* this job hung the card; the card was reset */
	LOOM_JOB_CANCELED,	/* lost to a reset caused by another job */
	LOOM_JOB_DEVICE_LOST,	/* the card is gone */
};

/**
 * struct drm_loom_wait - DRM_IOCTL_LOOM_WAIT
 * @ctx_id: in, context
 * @flags: in, MBZ
 * @seq: in, job sequence number from SUBMIT
 * @timeout_ns: in, relative timeout; 0 polls. -ETIME when it expires
 * @status: out, enum drm_loom_job_status once the job is done
 * @pad: MBZ
 *
 * Returns -ENOENT for a sequence number never issued or too old to be
 * tracked (the context keeps the last 1024).
 */
struct drm_loom_wait {
	__u32 ctx_id;
	__u32 flags;
	__u64 seq;
	__s64 timeout_ns;
	__u32 status;
	__u32 pad;
};

/**
 * struct drm_loom_reset - DRM_IOCTL_LOOM_RESET, needs CAP_SYS_ADMIN
 * @flags: in, MBZ
 * @pad: MBZ
 *
 * Resets the card: jobs in flight fail with LOOM_JOB_CANCELED.
 */
struct drm_loom_reset {
	__u32 flags;
	__u32 pad;
};

#define DRM_IOCTL_LOOM_GET_INFO \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_LOOM_GET_INFO, struct drm_loom_get_info)
#define DRM_IOCTL_LOOM_BO_CREATE \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_LOOM_BO_CREATE, struct drm_loom_bo_create)
#define DRM_IOCTL_LOOM_BO_INFO \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_LOOM_BO_INFO, struct drm_loom_bo_info)
#define DRM_IOCTL_LOOM_XCLBIN_LOAD \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_LOOM_XCLBIN_LOAD, struct drm_loom_xclbin_load)
#define DRM_IOCTL_LOOM_CTX_CREATE \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_LOOM_CTX_CREATE, struct drm_loom_ctx_create)
#define DRM_IOCTL_LOOM_CTX_DESTROY \
	DRM_IOW(DRM_COMMAND_BASE + DRM_LOOM_CTX_DESTROY, struct drm_loom_ctx_destroy)
#define DRM_IOCTL_LOOM_SUBMIT \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_LOOM_SUBMIT, struct drm_loom_submit)
#define DRM_IOCTL_LOOM_WAIT \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_LOOM_WAIT, struct drm_loom_wait)
#define DRM_IOCTL_LOOM_RESET \
	DRM_IOW(DRM_COMMAND_BASE + DRM_LOOM_RESET, struct drm_loom_reset)

#if defined(__cplusplus)
}
#endif

#endif /* _UAPI_LOOM_ACCEL_H_ */
