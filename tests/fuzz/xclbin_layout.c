/*
 * Checks at compile time that the kernel's own axlf structs (kernel/loom_xclbin.h)
 * lay out exactly like XRT's (/usr/include/xrt/xclbin.h), then runs the parser
 * once on an empty buffer. Built by mk/kernel.mk; needs libxrt-dev.
 */
#include <assert.h>
#include <stddef.h>
#include <stdio.h>

#include <xrt/xclbin.h>

#include "../../kernel/loom_xclbin.h"

#define SAME(kt, km, xt, xm)                                                                       \
    static_assert(offsetof(struct kt, km) == offsetof(struct xt, xm), #kt "." #km)

SAME(loom_axlf, magic, axlf, m_magic);
SAME(loom_axlf, unique_id, axlf, m_uniqueId);
SAME(loom_axlf, header, axlf, m_header);
SAME(loom_axlf, sections, axlf, m_sections);
SAME(loom_axlf_header, length, axlf_header, m_length);
SAME(loom_axlf_header, interface_uuid, axlf_header, rom_uuid);
SAME(loom_axlf_header, uuid, axlf_header, uuid);
SAME(loom_axlf_header, num_sections, axlf_header, m_numSections);
SAME(loom_axlf_section_header, section_kind, axlf_section_header, m_sectionKind);
SAME(loom_axlf_section_header, section_offset, axlf_section_header, m_sectionOffset);
SAME(loom_axlf_section_header, section_size, axlf_section_header, m_sectionSize);
SAME(loom_axlf_ip_layout, ip_data, ip_layout, m_ip_data);
SAME(loom_axlf_ip_data, base_address, ip_data, m_base_address);
SAME(loom_axlf_ip_data, name, ip_data, m_name);
static_assert(sizeof(struct loom_axlf_section_header) == sizeof(struct axlf_section_header), "");
static_assert(sizeof(struct loom_axlf_ip_data) == sizeof(struct ip_data), "ip_data size");
static_assert(AXLF_HEADER_SIZE == offsetof(struct axlf, m_sections), "header size");
static_assert(AXLF_SECTION_IP_LAYOUT == IP_LAYOUT && AXLF_SECTION_BITSTREAM == BITSTREAM, "");
static_assert(AXLF_IP_KERNEL == IP_KERNEL, "IP_KERNEL");
SAME(loom_axlf_mem_data, size_kb, mem_data, m_size);
SAME(loom_axlf_mem_data, base_address, mem_data, m_base_address);
SAME(loom_axlf_mem_data, tag, mem_data, m_tag);
SAME(loom_axlf_mem_topology, mem_data, mem_topology, m_mem_data);
SAME(loom_axlf_connection, mem_data_index, connection, mem_data_index);
SAME(loom_axlf_connectivity, connection, connectivity, m_connection);
static_assert(sizeof(struct loom_axlf_mem_data) == sizeof(struct mem_data), "mem_data size");
static_assert(sizeof(struct loom_axlf_connection) == sizeof(struct connection), "connection");
static_assert(AXLF_SECTION_MEM_TOPOLOGY == MEM_TOPOLOGY, "MEM_TOPOLOGY");
static_assert(AXLF_SECTION_CONNECTIVITY == CONNECTIVITY, "CONNECTIVITY");

int main(void)
{
    struct loom_xclbin x;
    __u64 detail;

    if (loom_xclbin_parse("", 0, NULL, &x, &detail) != LOOM_XCLBIN_TOO_SMALL) {
        printf("not ok 1 xclbin layout matches XRT\n");
        return 1;
    }
    printf("ok 1 xclbin layout matches XRT\n");
    return 0;
}
