/*
 * loom-xclbin: packages a Loom card bitstream as an xclbin (axlf) container
 * built with the structs of XRT's xclbin.h, from a JSON description
 * (bitstreams/README.md documents the format):
 *
 *   loom-xclbin SPEC.json -o OUT.xclbin   build one container
 *   loom-xclbin --info FILE.xclbin        list its sections, UUIDs and CUs
 *
 * Sections: BITSTREAM (the "LBBS" payload: one CU kind per IP_KERNEL entry,
 * in IP_LAYOUT order), MEM_TOPOLOGY, IP_LAYOUT, CONNECTIVITY (every global
 * argument of every CU to its bank), CLOCK_FREQ_TOPOLOGY and
 * EMBEDDED_METADATA (the kernel XML Vitis emits; XRT counts kernels from it).
 * A spec may name a vendor's bitstream file for BITSTREAM instead.
 * The xclbin UUID is derived from the contents unless the spec gives one,
 * so a rebuild of the same spec yields the same file (SOURCE_DATE_EPOCH sets
 * the timestamp).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <xrt/xclbin.h>

#include "../../hls/loom_cu.h"
#include "../../kernel/loom_card_if.h"

#define MAX_CUS     64
#define MAX_BANKS   16
#define NAME_LEN    48
#define CU_STRIDE   0x10000u   /* register window per CU */
#define CU_BASE     0x1800000u /* default base of the first CU */
#define ARG_OFFSET0 0x10u      /* first argument in a CU's register map (Vitis layout) */
#define ARG_STRIDE  0xcu

struct cu_spec {
    char kernel[NAME_LEN];
    char instance[NAME_LEN];
    uint32_t kind;
    uint64_t base;
    int bank;
};

struct bank_spec {
    char tag[16];
    uint8_t type;
    uint64_t base, size_kb;
};

struct spec {
    char name[NAME_LEN];
    char platform[64];
    char description[128];
    uint8_t interface_uuid[16];
    uint8_t uuid[16];
    int have_uuid;
    uint32_t clock_mhz;
    char bitstream_file[4096]; /* "" for the LBBS payload made from the CU list */
    uint32_t n_cus, n_banks;
    struct cu_spec cus[MAX_CUS];
    struct bank_spec banks[MAX_BANKS];
};

static const char *prog = "loom-xclbin";

static int fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

/* ------------------------------------------------------------ the spec */

static int parse_uuid(const char *s, uint8_t out[16])
{
    int n = 0;

    for (; *s && n < 32; s++) {
        if (*s == '-')
            continue;
        if (!isxdigit((unsigned char)*s))
            return -1;
        int v = isdigit((unsigned char)*s) ? *s - '0' : (tolower((unsigned char)*s) - 'a' + 10);
        if (n % 2 == 0)
            out[n / 2] = (uint8_t)(v << 4);
        else
            out[n / 2] |= (uint8_t)v;
        n++;
    }
    return n == 32 && !*s ? 0 : -1;
}

static void format_uuid(const uint8_t u[16], char out[37])
{
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
             u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);
}

/* Names go into XML and "kernel:instance": letters, digits, '_' and '-' only. */
static int name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (!n || n >= max)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return 0;
    return 1;
}

/* Free text for the XML: printable ASCII without markup characters. */
static int text_ok(const char *s, size_t max)
{
    if (strlen(s) >= max)
        return 0;
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e || strchr("<>&\"'", *s))
            return 0;
    return 1;
}

static const char *get_str(json_object *o, const char *key, const char *dflt)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v))
        return dflt;
    return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* A number, or a string holding one ("0x1800000"). */
static int get_u64(json_object *o, const char *key, uint64_t dflt, uint64_t *out)
{
    json_object *v;
    const char *s;
    char *end;

    if (!json_object_object_get_ex(o, key, &v)) {
        *out = dflt;
        return 0;
    }
    if (json_object_is_type(v, json_type_int)) {
        if (json_object_get_int64(v) < 0)
            return -1;
        *out = (uint64_t)json_object_get_int64(v);
        return 0;
    }
    if (!json_object_is_type(v, json_type_string))
        return -1;
    s = json_object_get_string(v);
    errno = 0;
    *out = strtoull(s, &end, 0);
    return errno || end == s || *end || *s == '-' ? -1 : 0;
}

static int mem_type(const char *s)
{
    static const char *const names[] = {"DDR3", "DDR4", "DRAM", "STREAMING", "PREALLOC", "ARE",
                                        "HBM",  "BRAM", "URAM", "STREAMCON", "HOST"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(s, names[i]))
            return (int)i;
    return -1;
}

static int load_spec(const char *path, struct spec *sp)
{
    json_object *root = json_object_from_file(path), *arr, *o;
    const char *s;
    uint64_t v;
    size_t i, n;
    int ret = -1;

    memset(sp, 0, sizeof(*sp));
    if (!root)
        return fail("%s: not valid JSON: %s", path, json_util_get_last_err());
    if (!json_object_is_type(root, json_type_object)) {
        fail("%s: the top level must be an object", path);
        goto out;
    }
    s = get_str(root, "name", NULL);
    if (!s || !name_ok(s, sizeof(sp->name))) {
        fail("%s: \"name\" must be 1..47 of [A-Za-z0-9_-]", path);
        goto out;
    }
    strcpy(sp->name, s);
    s = get_str(root, "platform", "loom:loom_card:interface_1:1.0");
    if (!s || !text_ok(s, sizeof(sp->platform))) {
        fail("%s: \"platform\" must be printable text without markup, < 64 bytes", path);
        goto out;
    }
    strcpy(sp->platform, s);
    s = get_str(root, "description", "");
    if (!s || !text_ok(s, sizeof(sp->description))) {
        fail("%s: \"description\" must be printable text without markup, < 128 bytes", path);
        goto out;
    }
    strcpy(sp->description, s);
    s = get_str(root, "interface_uuid", NULL);
    if (!s || parse_uuid(s, sp->interface_uuid)) {
        fail("%s: \"interface_uuid\" must be the target shell's UUID", path);
        goto out;
    }
    s = get_str(root, "uuid", NULL);
    if (s) {
        if (parse_uuid(s, sp->uuid)) {
            fail("%s: \"uuid\" is not a UUID", path);
            goto out;
        }
        sp->have_uuid = 1;
    }
    s = get_str(root, "bitstream_file", "");
    if (!s) {
        fail("%s: \"bitstream_file\" must be a path", path);
        goto out;
    }
    if (*s) { /* relative to the spec's directory */
        const char *slash = strrchr(path, '/');
        int dir = *s == '/' || !slash ? 0 : (int)(slash - path + 1);

        if ((size_t)snprintf(sp->bitstream_file, sizeof(sp->bitstream_file), "%.*s%s", dir, path,
                             s) >= sizeof(sp->bitstream_file)) {
            fail("%s: \"bitstream_file\" path too long", path);
            goto out;
        }
    }
    if (get_u64(root, "clock_mhz", LOOM_CU_CLOCK_MHZ, &v) || v == 0 || v > 65535) {
        fail("%s: \"clock_mhz\" must be 1..65535", path);
        goto out;
    }
    sp->clock_mhz = (uint32_t)v;

    /* Memory banks: default one DDR4 bank, the card's heap. */
    if (!json_object_object_get_ex(root, "memory", &arr)) {
        strcpy(sp->banks[0].tag, "HEAP");
        sp->banks[0].type = MEM_DDR4;
        sp->banks[0].base = 1u << 20;
        sp->banks[0].size_kb = 64 * 1024;
        sp->n_banks = 1;
    } else if (!json_object_is_type(arr, json_type_array) ||
               (n = json_object_array_length(arr)) == 0 || n > MAX_BANKS) {
        fail("%s: \"memory\" must be an array of 1..%d banks", path, MAX_BANKS);
        goto out;
    } else {
        for (i = 0; i < n; i++) {
            struct bank_spec *b = &sp->banks[i];
            int t;

            o = json_object_array_get_idx(arr, i);
            s = json_object_is_type(o, json_type_object) ? get_str(o, "tag", NULL) : NULL;
            if (!s || !name_ok(s, sizeof(b->tag))) {
                fail("%s: memory[%zu].tag must be 1..15 of [A-Za-z0-9_-]", path, i);
                goto out;
            }
            strcpy(b->tag, s);
            s = get_str(o, "type", "DDR4");
            if (!s || (t = mem_type(s)) < 0) {
                fail("%s: memory[%zu].type unknown (DDR4, HBM, DRAM, ...)", path, i);
                goto out;
            }
            b->type = (uint8_t)t;
            if (get_u64(o, "base", 0, &b->base) || get_u64(o, "size_kb", 0, &b->size_kb) ||
                !b->size_kb) {
                fail("%s: memory[%zu] needs a base and a non-zero size_kb", path, i);
                goto out;
            }
        }
        sp->n_banks = (uint32_t)n;
    }

    if (!json_object_object_get_ex(root, "cus", &arr) ||
        !json_object_is_type(arr, json_type_array) || (n = json_object_array_length(arr)) == 0 ||
        n > MAX_CUS) {
        fail("%s: \"cus\" must be an array of 1..%d compute units", path, MAX_CUS);
        goto out;
    }
    for (i = 0; i < n; i++) {
        struct cu_spec *cu = &sp->cus[i];

        o = json_object_array_get_idx(arr, i);
        s = json_object_is_type(o, json_type_object) ? get_str(o, "kernel", NULL) : NULL;
        if (!s || !(cu->kind = loom_cu_kind_from_name(s))) {
            fail("%s: cus[%zu].kernel must name a Loom CU kind (loom_qconv, loom_qgemm, ...)", path,
                 i);
            goto out;
        }
        strcpy(cu->kernel, s);
        s = get_str(o, "instance", NULL);
        if (s && !name_ok(s, sizeof(cu->instance))) {
            fail("%s: cus[%zu].instance must be 1..47 of [A-Za-z0-9_-]", path, i);
            goto out;
        }
        if (s)
            strcpy(cu->instance, s);
        else
            snprintf(cu->instance, sizeof(cu->instance), "%s_%zu", cu->kernel, i);
        if (get_u64(o, "base", CU_BASE + (uint64_t)CU_STRIDE * i, &cu->base) ||
            (cu->base & (CU_STRIDE - 1))) {
            fail("%s: cus[%zu].base must be a multiple of 0x%x", path, i, CU_STRIDE);
            goto out;
        }
        /* XRT numbers CUs by base address: keep IP_LAYOUT order the same. */
        if (i && cu->base <= sp->cus[i - 1].base) {
            fail("%s: cus[%zu].base must be above the previous CU's", path, i);
            goto out;
        }
        if (get_u64(o, "memory", 0, &v) || v >= sp->n_banks) {
            fail("%s: cus[%zu].memory must index a bank of \"memory\"", path, i);
            goto out;
        }
        cu->bank = (int)v;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(sp->cus[j].instance, cu->instance)) {
                fail("%s: cus[%zu].instance \"%s\" appears twice", path, i, cu->instance);
                goto out;
            }
    }
    sp->n_cus = (uint32_t)n;
    ret = 0;
out:
    json_object_put(root);
    return ret;
}

/* ------------------------------------------------------------ sections */

struct blob {
    uint8_t *p;
    size_t len;
};

static int blob_alloc(struct blob *b, size_t len)
{
    b->p = calloc(1, len ? len : 1);
    b->len = len;
    return b->p ? 0 : fail("out of memory");
}

/* A vendor's bitstream file, taken as it is (at most 64 MiB, the driver's limit). */
static int read_bitstream(const char *path, struct blob *b)
{
    FILE *f = fopen(path, "rb");
    long n = -1;

    if (!f)
        return fail("%s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if (n <= 0 || n > (64l << 20) || fseek(f, 0, SEEK_SET) || blob_alloc(b, (size_t)n) ||
        fread(b->p, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        return fail("%s: empty, over 64 MiB or unreadable", path);
    }
    fclose(f);
    return 0;
}

static int make_bitstream(const struct spec *sp, struct blob *b)
{
    uint32_t v;

    if (sp->bitstream_file[0])
        return read_bitstream(sp->bitstream_file, b);
    if (blob_alloc(b, 8 + 4 * (size_t)sp->n_cus))
        return -1;
    v = LOOM_SIM_BITSTREAM_MAGIC;
    memcpy(b->p, &v, 4);
    memcpy(b->p + 4, &sp->n_cus, 4);
    for (uint32_t i = 0; i < sp->n_cus; i++)
        memcpy(b->p + 8 + 4 * i, &sp->cus[i].kind, 4);
    return 0;
}

static int make_mem_topology(const struct spec *sp, struct blob *b)
{
    struct mem_topology *mt;

    if (blob_alloc(b, offsetof(struct mem_topology, m_mem_data) +
                          sp->n_banks * sizeof(struct mem_data)))
        return -1;
    mt = (struct mem_topology *)b->p;
    mt->m_count = (int32_t)sp->n_banks;
    for (uint32_t i = 0; i < sp->n_banks; i++) {
        struct mem_data *m = &mt->m_mem_data[i];

        m->m_type = sp->banks[i].type;
        m->m_used = 1;
        m->m_size = sp->banks[i].size_kb;
        m->m_base_address = sp->banks[i].base;
        memcpy(m->m_tag, sp->banks[i].tag, strlen(sp->banks[i].tag));
    }
    return 0;
}

static int make_ip_layout(const struct spec *sp, struct blob *b)
{
    struct ip_layout *ipl;

    if (blob_alloc(b, offsetof(struct ip_layout, m_ip_data) + sp->n_cus * sizeof(struct ip_data)))
        return -1;
    ipl = (struct ip_layout *)b->p;
    ipl->m_count = (int32_t)sp->n_cus;
    for (uint32_t i = 0; i < sp->n_cus; i++) {
        struct ip_data *ip = &ipl->m_ip_data[i];

        ip->m_type = IP_KERNEL;
        /* interrupt enabled, interrupt id = index (XRT's CU order), ap_ctrl_hs */
        ip->properties = IP_INT_ENABLE_MASK |
                         ((i << IP_INTERRUPT_ID_SHIFT) & IP_INTERRUPT_ID_MASK) |
                         ((uint32_t)AP_CTRL_HS << IP_CONTROL_SHIFT);
        ip->m_base_address = sp->cus[i].base;
        snprintf((char *)ip->m_name, sizeof(ip->m_name), "%s:%s", sp->cus[i].kernel,
                 sp->cus[i].instance);
    }
    return 0;
}

static int make_connectivity(const struct spec *sp, struct blob *b)
{
    struct connectivity *con;
    uint32_t n = 0, nargs, k = 0;
    const struct loom_cu_arg *args;

    for (uint32_t i = 0; i < sp->n_cus; i++) {
        args = loom_cu_args(sp->cus[i].kind, &nargs);
        for (uint32_t a = 0; a < nargs; a++)
            n += (uint32_t)args[a].global;
    }
    if (blob_alloc(b, offsetof(struct connectivity, m_connection) + n * sizeof(struct connection)))
        return -1;
    con = (struct connectivity *)b->p;
    con->m_count = (int32_t)n;
    for (uint32_t i = 0; i < sp->n_cus; i++) {
        args = loom_cu_args(sp->cus[i].kind, &nargs);
        for (uint32_t a = 0; a < nargs; a++) {
            if (!args[a].global)
                continue;
            con->m_connection[k].arg_index = (int32_t)a;
            con->m_connection[k].m_ip_layout_index = (int32_t)i;
            con->m_connection[k].mem_data_index = sp->cus[i].bank;
            k++;
        }
    }
    return 0;
}

static int make_clocks(const struct spec *sp, struct blob *b)
{
    struct clock_freq_topology *ct;
    static const struct {
        const char *name;
        uint8_t type;
    } clocks[] = {{"DATA_CLK", CT_DATA}, {"KERNEL_CLK", CT_KERNEL}};

    if (blob_alloc(b, offsetof(struct clock_freq_topology, m_clock_freq) +
                          2 * sizeof(struct clock_freq)))
        return -1;
    ct = (struct clock_freq_topology *)b->p;
    ct->m_count = 2;
    for (int i = 0; i < 2; i++) {
        ct->m_clock_freq[i].m_freq_Mhz = (uint16_t)sp->clock_mhz;
        ct->m_clock_freq[i].m_type = clocks[i].type;
        strcpy(ct->m_clock_freq[i].m_name, clocks[i].name);
    }
    return 0;
}

/* The kernel XML: one <kernel> per kind used, its args and its instances. */
static int make_metadata(const struct spec *sp, struct blob *b)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int done[LOOM_CU_KIND_MAX + 1] = {0};

    if (!f)
        return fail("open_memstream: %s", strerror(errno));
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<project name=\"%s\">\n", sp->name);
    fprintf(f,
            "  <platform vendor=\"loom\" boardid=\"loom_card\" name=\"%s\" featureRomTime=\"0\">\n",
            sp->platform);
    fprintf(f, "    <version major=\"1\" minor=\"0\"/>\n");
    fprintf(f, "    <description>%s</description>\n", sp->description);
    fprintf(f, "    <board name=\"loom_card\" vendor=\"loom\" fpga=\"loom_card\">\n");
    fprintf(f,
            "      <interfaces>\n        <interface id=\"int1\" name=\"PCIe\" type=\"gen3x4\"/>\n"
            "      </interfaces>\n      <memories>\n");
    for (uint32_t i = 0; i < sp->n_banks; i++)
        fprintf(f, "        <memory name=\"%s\" type=\"%s\" size=\"%" PRIu64 "KB\"/>\n",
                sp->banks[i].tag, sp->banks[i].type == MEM_HBM ? "hbm" : "ddr4",
                sp->banks[i].size_kb);
    fprintf(f, "      </memories>\n    </board>\n    <build_flow/>\n");
    fprintf(f, "    <host architecture=\"x86_64\"/>\n");
    fprintf(f, "    <device name=\"fpga0\" fpgaDevice=\"loom_card\" addrWidth=\"64\">\n");
    fprintf(f,
            "      <systemClocks>\n        <clock port=\"DATA_CLK\" frequency=\"%uMHz\"/>\n"
            "      </systemClocks>\n",
            sp->clock_mhz);
    fprintf(f,
            "      <core name=\"OCL_REGION_0\" target=\"hw\" type=\"clc_region\" "
            "clockFreq=\"%uMHz\" numComputeUnits=\"%u\">\n",
            sp->clock_mhz, sp->n_cus);
    fprintf(f,
            "        <kernelClocks>\n          <clock port=\"KERNEL_CLK\" frequency=\"%uMHz\"/>\n"
            "          <clock port=\"DATA_CLK\" frequency=\"%uMHz\"/>\n        </kernelClocks>\n",
            sp->clock_mhz, sp->clock_mhz);
    for (uint32_t i = 0; i < sp->n_cus; i++) {
        uint32_t kind = sp->cus[i].kind, nargs;
        const struct loom_cu_arg *args = loom_cu_args(kind, &nargs);

        if (done[kind]++)
            continue;
        fprintf(f,
                "        <kernel name=\"%s\" language=\"c\" vlnv=\"loom:hls:%s:1.0\" "
                "preferredWorkGroupSizeMultiple=\"0\" workGroupSize=\"1\" debug=\"false\" "
                "interrupt=\"true\" hwControlProtocol=\"ap_ctrl_hs\">\n",
                sp->cus[i].kernel, sp->cus[i].kernel);
        fprintf(f, "          <module name=\"loom_cu_%s\"/>\n", sp->cus[i].kernel + 5);
        fprintf(f,
                "          <port name=\"M_AXI_GMEM\" mode=\"master\" range=\"0xFFFFFFFFFFFFFFFF\" "
                "dataWidth=\"512\" portType=\"addressable\" base=\"0x0\"/>\n");
        fprintf(f,
                "          <port name=\"S_AXI_CONTROL\" mode=\"slave\" range=\"0x%x\" "
                "dataWidth=\"32\" portType=\"addressable\" base=\"0x0\"/>\n",
                0x1000u);
        for (uint32_t a = 0; a < nargs; a++)
            fprintf(f,
                    "          <arg name=\"%s\" addressQualifier=\"%d\" id=\"%u\" port=\"%s\" "
                    "size=\"0x8\" offset=\"0x%x\" hostOffset=\"0x0\" hostSize=\"0x8\" "
                    "type=\"%s\"/>\n",
                    args[a].name, args[a].global ? 1 : 0, a,
                    args[a].global ? "M_AXI_GMEM" : "S_AXI_CONTROL", ARG_OFFSET0 + ARG_STRIDE * a,
                    args[a].global ? "void*" : "unsigned long");
        fprintf(f, "          <compileWorkGroupSize x=\"1\" y=\"1\" z=\"1\"/>\n"
                   "          <maxWorkGroupSize x=\"1\" y=\"1\" z=\"1\"/>\n");
        for (uint32_t j = i; j < sp->n_cus; j++) {
            if (sp->cus[j].kind != kind)
                continue;
            fprintf(f,
                    "          <instance name=\"%s\">\n            <addrRemap base=\"0x%" PRIx64
                    "\" range=\"0x%x\" port=\"S_AXI_CONTROL\"/>\n          </instance>\n",
                    sp->cus[j].instance, sp->cus[j].base, CU_STRIDE);
        }
        fprintf(f, "        </kernel>\n");
    }
    fprintf(f, "      </core>\n    </device>\n  </platform>\n</project>\n");
    if (fclose(f)) {
        free(buf);
        return fail("writing the metadata: %s", strerror(errno));
    }
    b->p = (uint8_t *)buf;
    b->len = len;
    return 0;
}

/* FNV-1a, 128 bits as two interleaved 64-bit lanes: a content hash, not crypto. */
static void content_uuid(const struct blob *parts, int n, uint8_t out[16])
{
    uint64_t h[2] = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull};

    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < parts[i].len; j++)
            for (int l = 0; l < 2; l++) {
                h[l] ^= parts[i].p[j] + (uint64_t)l;
                h[l] *= 0x100000001b3ull;
            }
    memcpy(out, h, 16);
    out[6] = (uint8_t)((out[6] & 0x0f) | 0x80); /* RFC 9562 version 8: custom */
    out[8] = (uint8_t)((out[8] & 0x3f) | 0x80); /* variant 10 */
}

static int build(const char *spec_path, const char *out_path)
{
    enum { S_BITSTREAM, S_MEM, S_IPL, S_CON, S_CLK, S_XML, NSEC };
    static const struct {
        uint32_t kind;
        const char *name;
    } secs[NSEC] = {{BITSTREAM, "loom-lbbs"},        {MEM_TOPOLOGY, "mem_topology"},
                    {IP_LAYOUT, "ip_layout"},        {CONNECTIVITY, "connectivity"},
                    {CLOCK_FREQ_TOPOLOGY, "clocks"}, {EMBEDDED_METADATA, "metadata"}};
    struct blob part[NSEC] = {{0}};
    struct spec sp;
    struct axlf *ax;
    uint8_t *file = NULL;
    size_t off, total;
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    FILE *f;
    int ret = -1;

    if (load_spec(spec_path, &sp))
        return -1;
    if (make_bitstream(&sp, &part[S_BITSTREAM]) || make_mem_topology(&sp, &part[S_MEM]) ||
        make_ip_layout(&sp, &part[S_IPL]) || make_connectivity(&sp, &part[S_CON]) ||
        make_clocks(&sp, &part[S_CLK]) || make_metadata(&sp, &part[S_XML]))
        goto out;

    /* Header, section table, then each section 8-byte aligned. */
    off = offsetof(struct axlf, m_sections) + NSEC * sizeof(struct axlf_section_header);
    total = off;
    for (int i = 0; i < NSEC; i++)
        total = ((total + 7) & ~(size_t)7) + part[i].len;
    file = calloc(1, total);
    if (!file) {
        fail("out of memory");
        goto out;
    }
    ax = (struct axlf *)file;
    memcpy(ax->m_magic, "xclbin2", 8);
    ax->m_signature_length = -1;
    memset(ax->reserved, 0xff, sizeof(ax->reserved));
    memset(ax->m_keyBlock, 0xff, sizeof(ax->m_keyBlock));
    ax->m_header.m_length = total;
    ax->m_header.m_timeStamp = sde ? strtoull(sde, NULL, 10) : (uint64_t)time(NULL);
    ax->m_header.m_versionMajor = 2;
    ax->m_header.m_versionMinor = 13;
    ax->m_header.m_mode = XCLBIN_PR;
    memcpy(ax->m_header.rom_uuid, sp.interface_uuid, 16);
    memcpy(ax->m_header.m_platformVBNV, sp.platform, strlen(sp.platform));
    if (sp.have_uuid)
        memcpy(ax->m_header.uuid, sp.uuid, 16);
    else
        content_uuid(part, NSEC, ax->m_header.uuid);
    memcpy(&ax->m_uniqueId, ax->m_header.uuid, sizeof(ax->m_uniqueId));
    ax->m_header.m_numSections = NSEC;
    for (int i = 0; i < NSEC; i++) {
        struct axlf_section_header *sh = &ax->m_sections[i];

        off = (off + 7) & ~(size_t)7;
        sh->m_sectionKind = secs[i].kind;
        strncpy(sh->m_sectionName,
                i == S_BITSTREAM && sp.bitstream_file[0] ? "bitstream" : secs[i].name,
                sizeof(sh->m_sectionName) - 1);
        sh->m_sectionOffset = off;
        sh->m_sectionSize = part[i].len;
        memcpy(file + off, part[i].p, part[i].len);
        off += part[i].len;
    }

    f = fopen(out_path, "wb");
    if (!f) {
        fail("%s: %s", out_path, strerror(errno));
        goto out;
    }
    if (fwrite(file, 1, total, f) != total || fclose(f)) {
        fail("%s: write failed", out_path);
        remove(out_path);
        goto out;
    }
    ret = 0;
out:
    for (int i = 0; i < NSEC; i++)
        free(part[i].p);
    free(file);
    return ret;
}

/* ------------------------------------------------------------ --info */

static int info(const char *path)
{
    FILE *f = fopen(path, "rb");
    const struct axlf *ax;
    uint8_t *buf;
    long len;
    char u[37];

    if (!f)
        return fail("%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    if (len < (long)sizeof(struct axlf) || len > (64l << 20)) {
        fclose(f);
        return fail("%s: size %ld is not an xclbin's", path, len);
    }
    buf = malloc((size_t)len);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        free(buf);
        return fail("%s: read failed", path);
    }
    fclose(f);
    ax = (const struct axlf *)buf;
    if (memcmp(ax->m_magic, "xclbin2", 8) || ax->m_header.m_length != (uint64_t)len ||
        ax->m_header.m_numSections > 64 ||
        offsetof(struct axlf, m_sections) +
                ax->m_header.m_numSections * sizeof(struct axlf_section_header) >
            (size_t)len) {
        free(buf);
        return fail("%s: not a well-formed xclbin", path);
    }
    format_uuid(ax->m_header.uuid, u);
    printf("%s: %ld bytes, uuid %s\n", path, len, u);
    format_uuid(ax->m_header.rom_uuid, u);
    printf("  interface %s, platform %.64s\n", u, (const char *)ax->m_header.m_platformVBNV);
    for (uint32_t i = 0; i < ax->m_header.m_numSections; i++) {
        const struct axlf_section_header *sh = &ax->m_sections[i];

        printf("  section %u: kind %u %-16.16s offset %" PRIu64 " size %" PRIu64 "\n", i,
               sh->m_sectionKind, sh->m_sectionName, sh->m_sectionOffset, sh->m_sectionSize);
        if (sh->m_sectionKind == IP_LAYOUT && sh->m_sectionOffset + 8 <= (uint64_t)len) {
            const struct ip_layout *ipl = (const void *)(buf + sh->m_sectionOffset);

            for (int32_t j = 0;
                 j < ipl->m_count && j < MAX_CUS &&
                 sh->m_sectionOffset + 8 + (j + 1) * sizeof(struct ip_data) <= (uint64_t)len;
                 j++)
                printf("    cu %d: %.64s at 0x%" PRIx64 "\n", j,
                       (const char *)ipl->m_ip_data[j].m_name, ipl->m_ip_data[j].m_base_address);
        }
    }
    free(buf);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: %s SPEC.json -o OUT.xclbin\n       %s --info FILE.xclbin\n", prog,
            prog);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--info"))
        return info(argv[2]) ? 1 : 0;
    if (argc == 4 && !strcmp(argv[2], "-o"))
        return build(argv[1], argv[3]) ? 1 : 0;
    usage();
    return 2;
}
