/* The Loom card's command processor and its CUs (see loom_card.h). */
#include "loom_card.h"
#include "../loom_cu.h"

#include <endian.h>
#include <string.h>

static uint32_t *reg32(const struct loom_card *c, uint32_t off)
{
    return (uint32_t *)(c->mem + off);
}

uint32_t loom_card_reg_read(const struct loom_card *c, uint32_t off)
{
    return le32toh(__atomic_load_n(reg32(c, off), __ATOMIC_ACQUIRE));
}

void loom_card_reg_write(struct loom_card *c, uint32_t off, uint32_t val)
{
    __atomic_store_n(reg32(c, off), htole32(val), __ATOMIC_RELEASE);
}

static void reg_write64(struct loom_card *c, uint32_t off, uint64_t val)
{
    loom_card_reg_write(c, off, (uint32_t)val);
    loom_card_reg_write(c, off + 4, (uint32_t)(val >> 32));
}

static uint32_t cpl_slots(const struct loom_card *c)
{
    return c->cmd_slots;
}

static uint32_t cpl_ring_off(const struct loom_card *c)
{
    return LOOM_CARD_RING_OFF + c->cmd_slots * (uint32_t)sizeof(struct loom_card_cmd);
}

int loom_card_init(struct loom_card *c, void *mem, uint64_t size, uint32_t cmd_slots,
                   const char *name, uint16_t doorbell_peer)
{
    uint32_t ring_end;
    size_t n;

    if (cmd_slots < 2 || cmd_slots > 4096 || (cmd_slots & (cmd_slots - 1)))
        return -1;
    if (size < 2 * (uint64_t)LOOM_CARD_HEAP_OFF || (size & (size - 1)))
        return -1;
    memset(c, 0, sizeof(*c));
    c->mem = mem;
    c->size = size;
    c->cmd_slots = cmd_slots;
    ring_end = cpl_ring_off(c) + cpl_slots(c) * (uint32_t)sizeof(struct loom_card_cpl);
    if (ring_end > LOOM_CARD_HEAP_OFF)
        return -1;

    memset(c->mem, 0, LOOM_CARD_HEAP_OFF);
    loom_card_reg_write(c, LOOM_REG_VERSION,
                        LOOM_CARD_IF_VERSION(LOOM_CARD_IF_MAJOR, LOOM_CARD_IF_MINOR));
    loom_card_reg_write(c, LOOM_REG_CAPS,
                        LOOM_CAP_MSIX | LOOM_CAP_PROGRAM | LOOM_CAP_RESET | LOOM_CAP_SIM);
    loom_card_reg_write(c, LOOM_REG_DOORBELL_PEER, doorbell_peer);
    loom_card_reg_write(c, LOOM_REG_CMD_RING_OFF, LOOM_CARD_RING_OFF);
    loom_card_reg_write(c, LOOM_REG_CMD_RING_SLOTS, cmd_slots);
    loom_card_reg_write(c, LOOM_REG_CPL_RING_OFF, cpl_ring_off(c));
    loom_card_reg_write(c, LOOM_REG_CPL_RING_SLOTS, cpl_slots(c));
    reg_write64(c, LOOM_REG_HEAP_OFF, LOOM_CARD_HEAP_OFF);
    reg_write64(c, LOOM_REG_HEAP_SIZE, size - LOOM_CARD_HEAP_OFF);
    reg_write64(c, LOOM_REG_HEAP_DEVADDR, LOOM_CARD_HEAP_OFF);
    /* The shell's interface UUID: fixed for interface 1.x of the simulator. */
    for (n = 0; n < 16; n++)
        c->mem[LOOM_REG_INTERFACE_UUID + n] = (uint8_t)(0x4c + n);
    n = strlen(name);
    memcpy(c->mem + LOOM_REG_NAME, name, n < 31 ? n : 31);
    loom_card_reg_write(c, LOOM_REG_TEMP_MC, 45000);
    loom_card_reg_write(c, LOOM_REG_POWER_MW, 25000);
    loom_card_reg_write(c, LOOM_REG_STATUS, LOOM_STATUS_READY);
    /* The magic goes last: a host that sees it sees a complete block. */
    loom_card_reg_write(c, LOOM_REG_MAGIC, LOOM_CARD_MAGIC);
    return 0;
}

void loom_card_tick(struct loom_card *c, uint32_t temp_mc, uint32_t power_mw)
{
    loom_card_reg_write(c, LOOM_REG_HEARTBEAT, loom_card_reg_read(c, LOOM_REG_HEARTBEAT) + 1);
    loom_card_reg_write(c, LOOM_REG_TEMP_MC, temp_mc);
    loom_card_reg_write(c, LOOM_REG_POWER_MW, power_mw);
}

int loom_card_host_ready(const struct loom_card *c)
{
    return loom_card_reg_read(c, LOOM_REG_HOST_READY) == 1;
}

int loom_card_reset_requested(const struct loom_card *c)
{
    return loom_card_reg_read(c, LOOM_REG_RESET_REQ) != loom_card_reg_read(c, LOOM_REG_RESET_ACK);
}

void loom_card_reset(struct loom_card *c)
{
    uint32_t status = loom_card_reg_read(c, LOOM_REG_STATUS) & LOOM_STATUS_PROGRAMMED;

    loom_card_reg_write(c, LOOM_REG_CMD_HEAD, 0);
    loom_card_reg_write(c, LOOM_REG_CMD_TAIL, 0);
    loom_card_reg_write(c, LOOM_REG_CPL_HEAD, 0);
    loom_card_reg_write(c, LOOM_REG_CPL_TAIL, 0);
    loom_card_reg_write(c, LOOM_REG_STATUS, status | LOOM_STATUS_READY);
    c->resets++;
    loom_card_reg_write(c, LOOM_REG_RESET_ACK, loom_card_reg_read(c, LOOM_REG_RESET_REQ));
}

/* A device range [addr, addr + len) inside the heap, or NULL. */
static uint8_t *dev_ptr(struct loom_card *c, uint64_t addr, uint64_t len)
{
    uint64_t base = LOOM_CARD_HEAP_OFF;

    if (addr < base || addr >= c->size || len > c->size - addr)
        return NULL;
    return c->mem + addr;
}

static uint32_t do_program(struct loom_card *c, const struct loom_card_cmd *cmd)
{
    uint64_t addr = le64toh(cmd->args[0]), len = le64toh(cmd->args[1]);
    const uint8_t *bs;
    uint32_t magic, n, i, kind;
    uint64_t uuid[2];

    if (le16toh(cmd->nargs) < 4 || len < 8)
        return LOOM_CPL_BAD_COMMAND;
    bs = dev_ptr(c, addr, len);
    if (!bs)
        return LOOM_CPL_BAD_COMMAND;
    memcpy(&magic, bs, 4);
    memcpy(&n, bs + 4, 4);
    magic = le32toh(magic);
    n = le32toh(n);
    if (magic != LOOM_SIM_BITSTREAM_MAGIC || n > LOOM_SIM_MAX_CUS || len < 8 + 4 * (uint64_t)n)
        return LOOM_CPL_BAD_BITSTREAM;
    for (i = 0; i < n; i++) {
        memcpy(&kind, bs + 8 + 4 * i, 4);
        kind = le32toh(kind);
        if (kind < LOOM_CU_KIND_MIN || kind > LOOM_CU_KIND_MAX)
            return LOOM_CPL_BAD_BITSTREAM;
        c->cu_kind[i] = kind;
    }
    c->num_cus = n;
    uuid[0] = cmd->args[2];
    uuid[1] = cmd->args[3];
    memcpy(c->mem + LOOM_REG_XCLBIN_UUID, uuid, 16);
    loom_card_reg_write(c, LOOM_REG_NUM_CUS, n);
    loom_card_reg_write(c, LOOM_REG_STATUS,
                        loom_card_reg_read(c, LOOM_REG_STATUS) | LOOM_STATUS_PROGRAMMED);
    return LOOM_CPL_OK;
}

/* A device range that must also be @align-aligned (a power of two). */
static uint8_t *dev_ptr_aligned(struct loom_card *c, uint64_t addr, uint64_t len, uint32_t align)
{
    return addr & (align - 1) ? NULL : dev_ptr(c, addr, len);
}

/*
 * An int8 CU (QGEMM, QCONV, POOL, QADD): copy its descriptor out of device
 * memory once (the CU reads only the copy), check it and every range it
 * implies, then run the CU. The cycle model fills *cycles.
 */
static uint32_t run_int8_cu(struct loom_card *c, uint32_t kind, const uint64_t *a, uint32_t nargs,
                            uint64_t *cycles)
{
    union {
        struct loom_cu_hdr hdr;
        struct loom_cu_qgemm_desc qgemm;
        struct loom_cu_qconv_desc qconv;
        struct loom_cu_pool_desc pool;
        struct loom_cu_qadd_desc qadd;
    } d;
    uint32_t size = loom_cu_desc_size(kind), i;
    struct loom_cu_extent ext;
    const struct loom_rq *rq = NULL;
    const struct loom_cu_quant *q = NULL;
    uint8_t *buf[LOOM_CU_MAX_BUFS] = {0};
    const uint8_t *src;

    if (nargs < 1)
        return LOOM_CPL_BAD_COMMAND;
    src = dev_ptr_aligned(c, a[0], size, 8);
    if (!src)
        return LOOM_CPL_ERROR;
    memcpy(&d, src, size);
    if (loom_cu_check(kind, &d, size, &ext, NULL))
        return LOOM_CPL_ERROR;
    if (nargs != loom_cu_nargs(kind, d.hdr.flags))
        return LOOM_CPL_BAD_COMMAND;
    for (i = 0; i < ext.nbufs; i++) {
        buf[i] = dev_ptr_aligned(c, a[1 + i], ext.bytes[i], ext.align[i]);
        if (!buf[i])
            return LOOM_CPL_ERROR;
    }
    if (kind == LOOM_CU_KIND_QGEMM)
        q = &d.qgemm.q;
    else if (kind == LOOM_CU_KIND_QCONV)
        q = &d.qconv.q;
    else if (kind == LOOM_CU_KIND_POOL)
        q = &d.pool.q;
    if (q && ext.rq_bytes) {
        rq = (const struct loom_rq *)dev_ptr_aligned(c, q->rq_addr, ext.rq_bytes, 4);
        if (!rq || loom_rq_check(rq, q->rq_count))
            return LOOM_CPL_ERROR;
    }
    switch (kind) {
    case LOOM_CU_KIND_QGEMM:
        loom_cu_qgemm(&d.qgemm, rq, buf[0], buf[1], (const int32_t *)buf[3], buf[2]);
        break;
    case LOOM_CU_KIND_QCONV:
        loom_cu_qconv(&d.qconv, rq, buf[0], buf[1], (const int32_t *)buf[3], buf[2]);
        break;
    case LOOM_CU_KIND_POOL:
        loom_cu_pool(&d.pool, rq, buf[0], buf[1]);
        break;
    case LOOM_CU_KIND_QADD:
        loom_cu_qadd(&d.qadd, buf[0], buf[1], buf[2]);
        break;
    }
    *cycles = loom_cu_cycles(kind, &d, a, nargs);
    return LOOM_CPL_OK;
}

static uint32_t do_start_cu(struct loom_card *c, const struct loom_card_cmd *cmd, uint64_t *cycles)
{
    uint32_t cu = le32toh(cmd->cu_index), nargs = le16toh(cmd->nargs);
    uint64_t a[LOOM_CMD_MAX_ARGS];
    uint8_t *dst, *src, *src2;
    uint32_t i, kind;

    if (cu >= c->num_cus || nargs > LOOM_CMD_MAX_ARGS)
        return LOOM_CPL_BAD_COMMAND;
    for (i = 0; i < nargs; i++)
        a[i] = le64toh(cmd->args[i]);
    kind = c->cu_kind[cu];
    switch (kind) {
    case LOOM_CU_KIND_NOOP:
        *cycles = loom_cu_cycles(kind, NULL, a, nargs);
        return LOOM_CPL_OK;
    case LOOM_CU_KIND_MEMCPY:
        if (nargs < 3)
            return LOOM_CPL_BAD_COMMAND;
        dst = dev_ptr(c, a[0], a[2]);
        src = dev_ptr(c, a[1], a[2]);
        if (!dst || !src)
            return LOOM_CPL_ERROR;
        memmove(dst, src, a[2]);
        *cycles = loom_cu_cycles(kind, NULL, a, nargs);
        return LOOM_CPL_OK;
    case LOOM_CU_KIND_VADD:
        if (nargs < 4 || a[3] > (c->size / 4))
            return LOOM_CPL_BAD_COMMAND;
        dst = dev_ptr(c, a[0], a[3] * 4);
        src = dev_ptr(c, a[1], a[3] * 4);
        src2 = dev_ptr(c, a[2], a[3] * 4);
        if (!dst || !src || !src2)
            return LOOM_CPL_ERROR;
        for (i = 0; i < a[3]; i++) {
            uint32_t x, y;

            memcpy(&x, src + 4 * i, 4);
            memcpy(&y, src2 + 4 * i, 4);
            x = htole32(le32toh(x) + le32toh(y));
            memcpy(dst + 4 * i, &x, 4);
        }
        *cycles = loom_cu_cycles(kind, NULL, a, nargs);
        return LOOM_CPL_OK;
    case LOOM_CU_KIND_QGEMM:
    case LOOM_CU_KIND_QCONV:
    case LOOM_CU_KIND_POOL:
    case LOOM_CU_KIND_QADD:
        return run_int8_cu(c, kind, a, nargs, cycles);
    }
    return LOOM_CPL_BAD_COMMAND;
}

int loom_card_take(struct loom_card *c, struct loom_card_cpl *cpl)
{
    uint32_t head = loom_card_reg_read(c, LOOM_REG_CMD_HEAD);
    uint32_t tail = loom_card_reg_read(c, LOOM_REG_CMD_TAIL);
    struct loom_card_cmd cmd;
    uint64_t cycles = 1;
    uint32_t status;

    if (head == tail)
        return 0;
    memcpy(&cmd, c->mem + LOOM_CARD_RING_OFF + (head & (c->cmd_slots - 1)) * sizeof(cmd),
           sizeof(cmd));
    loom_card_reg_write(c, LOOM_REG_CMD_HEAD, head + 1);

    if (le32toh(cmd.flags) != 0) {
        status = LOOM_CPL_BAD_COMMAND;
    } else {
        switch (le16toh(cmd.opcode)) {
        case LOOM_OP_NOP:
            status = LOOM_CPL_OK;
            break;
        case LOOM_OP_PROGRAM:
            status = do_program(c, &cmd);
            break;
        case LOOM_OP_START_CU:
            status = do_start_cu(c, &cmd, &cycles);
            break;
        case LOOM_OP_RESET_CUS:
            status = LOOM_CPL_OK;
            break;
        default:
            status = LOOM_CPL_BAD_COMMAND;
        }
    }
    c->commands++;
    if (status != LOOM_CPL_OK)
        c->errors++;
    loom_card_reg_write(c, LOOM_REG_COMMANDS, (uint32_t)c->commands);
    loom_card_reg_write(c, LOOM_REG_ERRORS, (uint32_t)c->errors);
    cpl->seqno = cmd.seqno;
    cpl->status = htole32(status);
    cpl->cycles = htole64(cycles);
    return 1;
}

void loom_card_post(struct loom_card *c, const struct loom_card_cpl *cpl)
{
    uint32_t tail = loom_card_reg_read(c, LOOM_REG_CPL_TAIL);

    memcpy(c->mem + cpl_ring_off(c) + (tail & (cpl_slots(c) - 1)) * sizeof(*cpl), cpl,
           sizeof(*cpl));
    /* The release store publishes the entry before the new tail. */
    loom_card_reg_write(c, LOOM_REG_CPL_TAIL, tail + 1);
}
