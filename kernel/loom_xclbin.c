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
	[LOOM_XCLBIN_DUPLICATE_SECTION] = "a section the driver reads appears twice",
	[LOOM_XCLBIN_NO_MEMORY] = "bitstream does not fit device memory",
	[LOOM_XCLBIN_PROGRAM_FAILED] = "the card refused the bitstream",
	[LOOM_XCLBIN_BUSY] = "contexts are open on the card",
	[LOOM_XCLBIN_BAD_MEM_TOPOLOGY] = "MEM_TOPOLOGY count does not fit its section",
	[LOOM_XCLBIN_BAD_CONNECTIVITY] = "CONNECTIVITY count or an index out of range",
};

const char *loom_xclbin_reason_str(u32 reason)
{
	if (reason >= ARRAY_SIZE(loom_xclbin_reasons) || !loom_xclbin_reasons[reason])
		return "unknown";
	return loom_xclbin_reasons[reason];
}

/* A table of @count entries of @size bytes after a @hdr-byte header fits @len. */
static bool loom_xclbin_table_fits(s32 count, u64 size, u64 hdr, u64 len)
{
	u64 need;

	return count >= 0 && !check_mul_overflow((u64)count, size, &need) &&
	       !check_add_overflow(need, hdr, &need) && need <= len;
}

static int loom_xclbin_parse_ip_layout(const u8 *p, u64 len, struct loom_xclbin *out)
{
	const struct loom_axlf_ip_layout *ipl = (const void *)p;
	s32 count;
	s32 i;

	if (len < sizeof(*ipl))
		return LOOM_XCLBIN_BAD_IP_LAYOUT;
	count = ipl->count;
	if (!loom_xclbin_table_fits(count, sizeof(ipl->ip_data[0]), sizeof(*ipl), len))
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

static int loom_xclbin_parse_mem_topology(const u8 *p, u64 len, struct loom_xclbin *out)
{
	const struct loom_axlf_mem_topology *mt = (const void *)p;

	if (len < sizeof(*mt) ||
	    !loom_xclbin_table_fits(mt->count, sizeof(mt->mem_data[0]), sizeof(*mt), len))
		return LOOM_XCLBIN_BAD_MEM_TOPOLOGY;
	out->num_mem_banks = mt->count;
	return LOOM_XCLBIN_OK;
}

/* Every connection names an IP_KERNEL entry and an existing memory bank. */
static int loom_xclbin_parse_connectivity(const u8 *p, u64 len, const u8 *ip_layout,
					  struct loom_xclbin *out)
{
	const struct loom_axlf_connectivity *con = (const void *)p;
	const struct loom_axlf_ip_layout *ipl = (const void *)ip_layout;
	s32 i;

	if (len < sizeof(*con) ||
	    !loom_xclbin_table_fits(con->count, sizeof(con->connection[0]), sizeof(*con), len))
		return LOOM_XCLBIN_BAD_CONNECTIVITY;
	for (i = 0; i < con->count; i++) {
		const struct loom_axlf_connection *c = &con->connection[i];

		if (c->arg_index < 0 || c->ip_layout_index < 0 || c->mem_data_index < 0 ||
		    c->ip_layout_index >= ipl->count ||
		    (u32)c->mem_data_index >= out->num_mem_banks ||
		    ipl->ip_data[c->ip_layout_index].type != AXLF_IP_KERNEL)
			return LOOM_XCLBIN_BAD_CONNECTIVITY;
	}
	out->num_connections = con->count;
	return LOOM_XCLBIN_OK;
}

/* Remember where a section is; a second one of a kind we read is refused. */
static int loom_xclbin_note(const u8 **where, u64 *where_len, const u8 *p, u64 len, u64 align)
{
	if (*where)
		return LOOM_XCLBIN_DUPLICATE_SECTION;
	*where = p;
	*where_len = len;
	return ((uintptr_t)p % align) ? -1 : 0;
}

int loom_xclbin_parse(const void *buf, u64 size, const u8 *interface_uuid,
		      struct loom_xclbin *out, u64 *detail)
{
	const struct loom_axlf *ax = buf;
	const u8 *base = buf;
	const u8 *ipl = NULL, *mt = NULL, *con = NULL;
	u64 ipl_len = 0, mt_len = 0, con_len = 0;
	u32 ipl_idx = 0, mt_idx = 0, con_idx = 0;
	bool have_bitstream = false;
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
			ret = loom_xclbin_note(&ipl, &ipl_len, base + off, len, 8);
			if (ret)
				return ret < 0 ? LOOM_XCLBIN_BAD_IP_LAYOUT : ret;
			ipl_idx = i;
			break;
		case AXLF_SECTION_MEM_TOPOLOGY:
			ret = loom_xclbin_note(&mt, &mt_len, base + off, len, 8);
			if (ret)
				return ret < 0 ? LOOM_XCLBIN_BAD_MEM_TOPOLOGY : ret;
			mt_idx = i;
			break;
		case AXLF_SECTION_CONNECTIVITY:
			ret = loom_xclbin_note(&con, &con_len, base + off, len, 4);
			if (ret)
				return ret < 0 ? LOOM_XCLBIN_BAD_CONNECTIVITY : ret;
			con_idx = i;
			break;
		default:
			break;
		}
	}
	*detail = 0;
	if (!have_bitstream)
		return LOOM_XCLBIN_NO_BITSTREAM;
	if (!ipl)
		return LOOM_XCLBIN_NO_IP_LAYOUT;
	*detail = ipl_idx;
	ret = loom_xclbin_parse_ip_layout(ipl, ipl_len, out);
	if (ret)
		return ret;
	*detail = mt_idx;
	if (mt) {
		ret = loom_xclbin_parse_mem_topology(mt, mt_len, out);
		if (ret)
			return ret;
	}
	*detail = con_idx;
	if (con) {
		ret = loom_xclbin_parse_connectivity(con, con_len, ipl, out);
		if (ret)
			return ret;
	}
	*detail = 0;
	memcpy(out->uuid, ax->header.uuid, sizeof(out->uuid));
	return LOOM_XCLBIN_OK;
}
