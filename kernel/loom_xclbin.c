// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The hardened xclbin parser. Every offset and length comes from the
 * container and is checked, overflow-safe, against the size actually
 * copied in; nothing is read twice. Builds in the kernel and in userspace.
 */
#ifdef __KERNEL__
#include <linux/overflow.h>
#include <linux/string.h>
#else
#define check_add_overflow(a, b, d) __builtin_add_overflow(a, b, d)
#define check_mul_overflow(a, b, d) __builtin_mul_overflow(a, b, d)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

#include "loom_xclbin.h"

static const char * const loom_xclbin_reasons[] = {
	[LOOM_XCLBIN_OK] = "ok",
	[LOOM_XCLBIN_TOO_SMALL] = "shorter than the axlf header",
	[LOOM_XCLBIN_BAD_MAGIC] = "bad magic, not xclbin2",
	[LOOM_XCLBIN_BAD_LENGTH] = "header length differs from the buffer size",
	[LOOM_XCLBIN_BAD_SECTION_COUNT] = "section count zero, too large or past the end",
	[LOOM_XCLBIN_SECTION_BOUNDS] = "section lies outside the container",
	[LOOM_XCLBIN_NO_BITSTREAM] = "no BITSTREAM section",
	[LOOM_XCLBIN_NO_IP_LAYOUT] = "no IP_LAYOUT section",
	[LOOM_XCLBIN_BAD_IP_LAYOUT] = "IP_LAYOUT count does not fit its section",
	[LOOM_XCLBIN_TOO_MANY_CUS] = "more compute units than the driver supports",
	[LOOM_XCLBIN_WRONG_INTERFACE] = "built for another shell interface UUID",
	[LOOM_XCLBIN_DUPLICATE_SECTION] = "BITSTREAM or IP_LAYOUT appears twice",
	[LOOM_XCLBIN_NO_MEMORY] = "bitstream does not fit device memory",
	[LOOM_XCLBIN_PROGRAM_FAILED] = "the card refused the bitstream",
	[LOOM_XCLBIN_BUSY] = "contexts are open on the card",
};

const char *loom_xclbin_reason_str(u32 reason)
{
	if (reason >= ARRAY_SIZE(loom_xclbin_reasons) || !loom_xclbin_reasons[reason])
		return "unknown";
	return loom_xclbin_reasons[reason];
}

static int loom_xclbin_parse_ip_layout(const u8 *p, u64 len, struct loom_xclbin *out)
{
	const struct loom_axlf_ip_layout *ipl = (const void *)p;
	u64 need;
	s32 count;
	s32 i;

	if (len < sizeof(*ipl))
		return LOOM_XCLBIN_BAD_IP_LAYOUT;
	count = ipl->count;
	if (count < 0)
		return LOOM_XCLBIN_BAD_IP_LAYOUT;
	if (check_mul_overflow((u64)count, (u64)sizeof(ipl->ip_data[0]), &need) ||
	    check_add_overflow(need, (u64)sizeof(*ipl), &need) || need > len)
		return LOOM_XCLBIN_BAD_IP_LAYOUT;

	out->num_cus = 0;
	for (i = 0; i < count; i++) {
		const struct loom_axlf_ip_data *ip = &ipl->ip_data[i];
		u32 n;

		if (ip->type != AXLF_IP_KERNEL)
			continue;
		if (out->num_cus >= LOOM_MAX_CUS)
			return LOOM_XCLBIN_TOO_MANY_CUS;
		n = out->num_cus++;
		out->cus[n].base_address = ip->base_address;
		memcpy(out->cus[n].name, ip->name, sizeof(out->cus[n].name) - 1);
		out->cus[n].name[sizeof(out->cus[n].name) - 1] = '\0';
	}
	return LOOM_XCLBIN_OK;
}

int loom_xclbin_parse(const void *buf, u64 size, const u8 *interface_uuid,
		      struct loom_xclbin *out, u64 *detail)
{
	const struct loom_axlf *ax = buf;
	const u8 *base = buf;
	bool have_bitstream = false, have_ip_layout = false;
	u64 table_end;
	u32 n, i;
	int ret;

	*detail = 0;
	memset(out, 0, sizeof(*out));
	if (size < AXLF_HEADER_SIZE)
		return LOOM_XCLBIN_TOO_SMALL;
	if (memcmp(ax->magic, AXLF_MAGIC, sizeof(AXLF_MAGIC)))
		return LOOM_XCLBIN_BAD_MAGIC;
	if (ax->header.length != size)
		return LOOM_XCLBIN_BAD_LENGTH;
	n = ax->header.num_sections;
	if (n == 0 || n > AXLF_MAX_SECTIONS)
		return LOOM_XCLBIN_BAD_SECTION_COUNT;
	table_end = AXLF_HEADER_SIZE + (u64)n * sizeof(struct loom_axlf_section_header);
	if (table_end > size)
		return LOOM_XCLBIN_BAD_SECTION_COUNT;
	if (interface_uuid && memcmp(ax->header.interface_uuid, interface_uuid, 16))
		return LOOM_XCLBIN_WRONG_INTERFACE;

	for (i = 0; i < n; i++) {
		const struct loom_axlf_section_header *sh = &ax->sections[i];
		u64 off = sh->section_offset, len = sh->section_size, end;

		*detail = i;
		if (check_add_overflow(off, len, &end) || end > size || off < table_end)
			return LOOM_XCLBIN_SECTION_BOUNDS;
		switch (sh->section_kind) {
		case AXLF_SECTION_BITSTREAM:
			if (have_bitstream)
				return LOOM_XCLBIN_DUPLICATE_SECTION;
			have_bitstream = true;
			out->bitstream_off = off;
			out->bitstream_len = len;
			break;
		case AXLF_SECTION_IP_LAYOUT:
			if (have_ip_layout)
				return LOOM_XCLBIN_DUPLICATE_SECTION;
			have_ip_layout = true;
			if (off % 8)
				return LOOM_XCLBIN_BAD_IP_LAYOUT;
			ret = loom_xclbin_parse_ip_layout(base + off, len, out);
			if (ret)
				return ret;
			break;
		default:
			break;
		}
	}
	*detail = 0;
	if (!have_bitstream)
		return LOOM_XCLBIN_NO_BITSTREAM;
	if (!have_ip_layout)
		return LOOM_XCLBIN_NO_IP_LAYOUT;
	memcpy(out->uuid, ax->header.uuid, sizeof(out->uuid));
	return LOOM_XCLBIN_OK;
}
