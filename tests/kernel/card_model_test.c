/*
 * Host unit tests of the card model (hls/card): ring handling, PROGRAM,
 * the CUs, range checks and reset, without QEMU. TAP output.
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../hls/card/loom_card.h"

static int n_test, n_fail;

static void check(int ok, const char *name)
{
    n_test++;
    if (!ok)
        n_fail++;
    printf("%sok %d card_model.%s\n", ok ? "" : "not ", n_test, name);
}

#define MEM_SIZE (4u << 20)

static struct loom_card card;
static uint8_t *mem;
static uint32_t seqno;

static void push(uint16_t op, uint32_t cu, const uint64_t *args, uint16_t nargs, uint32_t flags)
{
    uint32_t tail = loom_card_reg_read(&card, LOOM_REG_CMD_TAIL);
    uint32_t off = loom_card_reg_read(&card, LOOM_REG_CMD_RING_OFF);
    struct loom_card_cmd cmd = {0};
    uint16_t i;

    cmd.opcode = htole16(op);
    cmd.nargs = htole16(nargs);
    cmd.seqno = htole32(++seqno);
    cmd.cu_index = htole32(cu);
    cmd.flags = htole32(flags);
    for (i = 0; i < nargs; i++)
        cmd.args[i] = htole64(args[i]);
    memcpy(mem + off + (tail & (card.cmd_slots - 1)) * sizeof(cmd), &cmd, sizeof(cmd));
    loom_card_reg_write(&card, LOOM_REG_CMD_TAIL, tail + 1);
}

/* Run one command through the card and return its completion status. */
static uint32_t run1(uint16_t op, uint32_t cu, const uint64_t *args, uint16_t nargs)
{
    struct loom_card_cpl cpl;

    push(op, cu, args, nargs, 0);
    if (!loom_card_take(&card, &cpl))
        return 0xffff;
    loom_card_post(&card, &cpl);
    if (le32toh(cpl.seqno) != seqno)
        return 0xfffe;
    return le32toh(cpl.status);
}

int main(void)
{
    struct loom_card_cpl cpl;
    uint64_t heap, args[4];
    uint32_t bs[5] = {htole32(LOOM_SIM_BITSTREAM_MAGIC), htole32(3), htole32(LOOM_SIM_CU_NOOP),
                      htole32(LOOM_SIM_CU_MEMCPY), htole32(LOOM_SIM_CU_VADD)};
    uint32_t *a, *b, *o, i, cpl_off;
    int ok;

    mem = aligned_alloc(4096, MEM_SIZE);
    check(loom_card_init(&card, mem, MEM_SIZE, 3, "x", 0) != 0, "rejects_non_power_of_two_slots");
    check(loom_card_init(&card, mem, MEM_SIZE - 4096, 8, "x", 0) != 0, "rejects_odd_window");
    check(loom_card_init(&card, mem, MEM_SIZE, 16, "model", 0) == 0, "init");
    check(loom_card_reg_read(&card, LOOM_REG_MAGIC) == LOOM_CARD_MAGIC &&
              loom_card_reg_read(&card, LOOM_REG_STATUS) & LOOM_STATUS_READY,
          "magic_and_ready");
    heap = loom_card_reg_read(&card, LOOM_REG_HEAP_DEVADDR);
    check(!loom_card_take(&card, &cpl), "empty_ring");
    check(run1(LOOM_OP_NOP, 0, NULL, 0) == LOOM_CPL_OK, "nop");
    check(run1(0x77, 0, NULL, 0) == LOOM_CPL_BAD_COMMAND, "unknown_opcode");
    push(LOOM_OP_NOP, 0, NULL, 0, 1);
    check(loom_card_take(&card, &cpl) && le32toh(cpl.status) == LOOM_CPL_BAD_COMMAND,
          "nonzero_flags");
    loom_card_post(&card, &cpl);
    check(run1(LOOM_OP_START_CU, 0, NULL, 0) == LOOM_CPL_BAD_COMMAND, "start_cu_unprogrammed");

    memcpy(mem + heap, bs, sizeof(bs));
    args[0] = heap;
    args[1] = sizeof(bs);
    args[2] = 0x1122334455667788ull;
    args[3] = 0x99aabbccddeeff00ull;
    check(run1(LOOM_OP_PROGRAM, 0, args, 4) == LOOM_CPL_OK &&
              loom_card_reg_read(&card, LOOM_REG_NUM_CUS) == 3 &&
              loom_card_reg_read(&card, LOOM_REG_STATUS) & LOOM_STATUS_PROGRAMMED,
          "program");
    args[1] = 1000000000;
    check(run1(LOOM_OP_PROGRAM, 0, args, 4) == LOOM_CPL_BAD_COMMAND, "program_out_of_range");
    mem[heap] ^= 1;
    args[1] = sizeof(bs);
    check(run1(LOOM_OP_PROGRAM, 0, args, 4) == LOOM_CPL_BAD_BITSTREAM, "program_bad_magic");
    mem[heap] ^= 1;

    a = (uint32_t *)(mem + heap + 65536);
    b = a + 1024;
    o = b + 1024;
    for (i = 0; i < 1024; i++) {
        a[i] = i;
        b[i] = 3 * i;
    }
    args[0] = heap + 65536 + 8192;
    args[1] = heap + 65536;
    args[2] = heap + 65536 + 4096;
    args[3] = 1024;
    ok = run1(LOOM_OP_START_CU, 2, args, 4) == LOOM_CPL_OK;
    for (i = 0; i < 1024 && ok; i++)
        ok = o[i] == 4 * i;
    check(ok, "vadd");
    args[2] = 4096;
    check(run1(LOOM_OP_START_CU, 1, args, 3) == LOOM_CPL_OK && !memcmp(o, a, 4096), "memcpy");
    args[0] = 0; /* the register block is not device memory */
    check(run1(LOOM_OP_START_CU, 1, args, 3) == LOOM_CPL_ERROR, "memcpy_outside_heap");
    args[0] = heap;
    args[2] = ~0ull - 8;
    check(run1(LOOM_OP_START_CU, 1, args, 3) == LOOM_CPL_ERROR, "memcpy_length_overflow");
    check(run1(LOOM_OP_START_CU, 3, args, 3) == LOOM_CPL_BAD_COMMAND, "cu_out_of_range");
    check(run1(LOOM_OP_START_CU, 0, NULL, 0) == LOOM_CPL_OK, "noop_cu");

    /* 40 commands through a 16-slot ring: indices wrap and stay in order. */
    ok = 1;
    for (i = 0; i < 40 && ok; i++)
        ok = run1(LOOM_OP_NOP, 0, NULL, 0) == LOOM_CPL_OK;
    cpl_off = loom_card_reg_read(&card, LOOM_REG_CPL_RING_OFF);
    memcpy(&cpl,
           mem + cpl_off + ((loom_card_reg_read(&card, LOOM_REG_CPL_TAIL) - 1) & 15) * sizeof(cpl),
           sizeof(cpl));
    check(ok && le32toh(cpl.seqno) == seqno, "ring_wraps");

    push(LOOM_OP_NOP, 0, NULL, 0, 0);
    loom_card_reg_write(&card, LOOM_REG_RESET_REQ, 7);
    check(loom_card_reset_requested(&card), "reset_requested");
    loom_card_reset(&card);
    check(loom_card_reg_read(&card, LOOM_REG_RESET_ACK) == 7 &&
              loom_card_reg_read(&card, LOOM_REG_CMD_HEAD) == 0 &&
              loom_card_reg_read(&card, LOOM_REG_CMD_TAIL) == 0 && !loom_card_take(&card, &cpl) &&
              loom_card_reg_read(&card, LOOM_REG_STATUS) & LOOM_STATUS_PROGRAMMED,
          "reset_clears_rings_keeps_bitstream");
    free(mem);
    printf("# card model: %d tests, %d failed\n", n_test, n_fail);
    return n_fail != 0;
}
