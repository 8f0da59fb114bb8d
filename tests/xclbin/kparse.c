/*
 * The built xclbins through the kernel's own parser (kernel/loom_xclbin.c,
 * compiled in userspace) and into the card model: each is accepted for the
 * Loom card's interface UUID and refused for another, its IP_LAYOUT,
 * MEM_TOPOLOGY and CONNECTIVITY are what the kernel reads, the "LBBS"
 * payload names the kind of every CU in IP_LAYOUT order, and PROGRAM on the
 * card model takes it. "kparse: N passed, N failed" last.
 *
 *   kparse FILE.xclbin...
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../kernel/loom_xclbin.h"
#include "../../hls/card/loom_card.h"
#include "../../hls/loom_cu.h"

static int n_pass, n_fail;

static void check(int ok, const char *file, const char *what)
{
    ok ? n_pass++ : n_fail++;
    printf("%s %d %s: %s\n", ok ? "ok" : "not ok", n_pass + n_fail, file, what);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && (buf = malloc((size_t)n))) {
        rewind(f);
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *len = (size_t)n;
    }
    fclose(f);
    return buf;
}

/* PROGRAM the payload on a fresh card model; returns the completion status. */
static uint32_t program(const uint8_t *bs, uint64_t len, uint32_t *num_cus)
{
    static struct loom_card card;
    const uint32_t size = 4u << 20;
    uint8_t *mem = aligned_alloc(4096, size);
    struct loom_card_cmd cmd = {0};
    struct loom_card_cpl cpl = {0};
    uint64_t heap;

    if (!mem || loom_card_init(&card, mem, size, 8, "kparse", 0) || len > size / 2) {
        free(mem);
        return 0xffff;
    }
    heap = loom_card_reg_read(&card, LOOM_REG_HEAP_DEVADDR);
    memcpy(mem + heap, bs, len);
    cmd.opcode = htole16(LOOM_OP_PROGRAM);
    cmd.nargs = htole16(4);
    cmd.seqno = htole32(1);
    cmd.args[0] = htole64(heap);
    cmd.args[1] = htole64(len);
    memcpy(mem + loom_card_reg_read(&card, LOOM_REG_CMD_RING_OFF), &cmd, sizeof(cmd));
    loom_card_reg_write(&card, LOOM_REG_CMD_TAIL, 1);
    if (!loom_card_take(&card, &cpl))
        cpl.status = htole32(0xfffe);
    *num_cus = loom_card_reg_read(&card, LOOM_REG_NUM_CUS);
    free(mem);
    return le32toh(cpl.status);
}

int main(int argc, char **argv)
{
    static struct loom_xclbin x;
    uint8_t iface[16], other[16];

    for (int i = 0; i < 16; i++) {
        iface[i] = (uint8_t)(0x4c + i); /* loom-cardsim's interface UUID */
        other[i] = (uint8_t)i;
    }
    for (int a = 1; a < argc; a++) {
        const char *f = strrchr(argv[a], '/') ? strrchr(argv[a], '/') + 1 : argv[a];
        size_t len = 0;
        uint8_t *buf = slurp(argv[a], &len);
        __u64 detail;
        uint32_t magic = 0, n = 0, kinds_ok = 1, ncus = 0;
        int r;

        if (!buf) {
            check(0, f, "readable");
            continue;
        }
        r = loom_xclbin_parse(buf, len, iface, &x, &detail);
        check(r == LOOM_XCLBIN_OK, f, "the kernel's parser accepts it for the Loom card");
        check(x.num_cus > 0 && x.num_mem_banks == 1 && x.num_connections > 0, f,
              "IP_LAYOUT, MEM_TOPOLOGY and CONNECTIVITY read");
        check(loom_xclbin_parse(buf, len, other, &x, &detail) == LOOM_XCLBIN_WRONG_INTERFACE, f,
              "refused for another shell's interface UUID");
        loom_xclbin_parse(buf, len, iface, &x, &detail);
        if (x.bitstream_len >= 8) {
            memcpy(&magic, buf + x.bitstream_off, 4);
            memcpy(&n, buf + x.bitstream_off + 4, 4);
        }
        for (uint32_t i = 0; i < x.num_cus && i < n && 8 + 4 * (uint64_t)n <= x.bitstream_len;
             i++) {
            char name[LOOM_CU_NAME_LEN];
            uint32_t kind;

            memcpy(&kind, buf + x.bitstream_off + 8 + 4 * i, 4);
            snprintf(name, sizeof(name), "%s", x.cus[i].name);
            if (strchr(name, ':'))
                *strchr(name, ':') = '\0';
            kinds_ok &= kind == loom_cu_kind_from_name(name);
        }
        check(magic == LOOM_SIM_BITSTREAM_MAGIC && n == x.num_cus && kinds_ok, f,
              "LBBS payload: one kind per CU, matching the IP_LAYOUT names");
        check(program(buf + x.bitstream_off, x.bitstream_len, &ncus) == LOOM_CPL_OK &&
                  ncus == x.num_cus,
              f, "the card model's PROGRAM takes the payload");
        free(buf);
    }
    printf("kparse: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail != 0;
}
