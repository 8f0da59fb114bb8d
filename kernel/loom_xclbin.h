/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The xclbin (axlf) container: the few structs loom.ko reads, laid out as
 * in XRT's xclbin.h, and one hardened parser that also builds in userspace
 * (tests/fuzz) without change.
 */
#ifndef LOOM_XCLBIN_H
#define LOOM_XCLBIN_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <linux/types.h>
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
#endif

#include "uapi/loom_accel.h"

#define AXLF_MAGIC		"xclbin2"
#define AXLF_MAX_SECTIONS	0x10000
#define AXLF_SECTION_BITSTREAM	0
#define AXLF_SECTION_MEM_TOPOLOGY 6
#define AXLF_SECTION_CONNECTIVITY 7
#define AXLF_SECTION_IP_LAYOUT	8
#define AXLF_IP_KERNEL		1

struct loom_axlf_section_header {
	u32 section_kind;
	char section_name[16];
	u32 pad;		/* implicit in XRT's layout */
	u64 section_offset;
	u64 section_size;
};

struct loom_axlf_header {
	u64 length;
	u64 timestamp;
	u64 feature_rom_timestamp;
	u16 version_patch;
	u8 version_major;
	u8 version_minor;
	u16 mode;
	u16 action_mask;
	u8 interface_uuid[16];	/* rom_uuid: the shell this was built for */
	u8 platform_vbnv[64];
	u8 uuid[16];
	char debug_bin[16];
	u32 num_sections;
	u32 pad;
};

struct loom_axlf {
	char magic[8];
	s32 signature_length;
	u8 reserved[28];
	u8 key_block[256];
	u64 unique_id;
	struct loom_axlf_header header;
	struct loom_axlf_section_header sections[];
};

struct loom_axlf_ip_data {
	u32 type;
	u32 properties;
	u64 base_address;
	u8 name[64];
};

struct loom_axlf_ip_layout {
	s32 count;
	u32 pad;
	struct loom_axlf_ip_data ip_data[];
};

struct loom_axlf_mem_data {
	u8 type;
	u8 used;
	u8 pad[6];
	u64 size_kb;
	u64 base_address;
	u8 tag[16];
};

struct loom_axlf_mem_topology {
	s32 count;
	u32 pad;
	struct loom_axlf_mem_data mem_data[];
};

struct loom_axlf_connection {
	s32 arg_index;
	s32 ip_layout_index;
	s32 mem_data_index;
};

struct loom_axlf_connectivity {
	s32 count;
	struct loom_axlf_connection connection[];
};

#define AXLF_HEADER_SIZE	456	/* offsetof(struct loom_axlf, sections) */

/**
 * struct loom_xclbin - what the parser found in a valid container
 * @uuid: the xclbin's UUID
 * @bitstream_off: offset of the BITSTREAM payload in the container
 * @bitstream_len: its length
 * @num_cus: IP_KERNEL entries of IP_LAYOUT
 * @num_mem_banks: MEM_TOPOLOGY entries, 0 without that section
 * @num_connections: CONNECTIVITY entries, 0 without that section
 * @cus: their base addresses and names (NUL-terminated)
 */
struct loom_xclbin {
	u8 uuid[16];
	u64 bitstream_off;
	u64 bitstream_len;
	u32 num_cus;
	u32 num_mem_banks;
	u32 num_connections;
	struct {
		u64 base_address;
		char name[LOOM_CU_NAME_LEN];
	} cus[LOOM_MAX_CUS];
};

/*
 * Validate the container at buf (size bytes, already copied: never re-read)
 * against the card's interface UUID (NULL skips that check). Returns
 * LOOM_XCLBIN_OK or a reason; *detail gets the offending section index.
 */
int loom_xclbin_parse(const void *buf, u64 size, const u8 *interface_uuid,
		      struct loom_xclbin *out, u64 *detail);

const char *loom_xclbin_reason_str(u32 reason);

#endif /* LOOM_XCLBIN_H */
