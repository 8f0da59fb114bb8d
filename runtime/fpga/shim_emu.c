/*
 * shim_emu.c - the emulated Loom card: hls/card's command processor over a
 * card window in host memory, driven through its rings as a driver would.
 *
 * The window has the layout of a real card's BAR2 (registers, command and
 * completion rings, heap), and commands go through the rings: the host side
 * here writes a command slot and CMD_TAIL, and "ringing the doorbell" runs
 * the card's firmware loop in the calling thread until the ring is empty.
 * One mutex per card stands for the card's single command processor.
 * Device memory is a first-fit allocator over the heap.
 *
 * The fault file (emu_fault.h, LOOM_EMULATED_CARD_FAULTS) is read before each
 * command the firmware loop takes: "die" kills the card (DEVICE_LOST until
 * the file says otherwise, when the next command resets it), "hang" swallows
 * the command (the host waits LOOM_EMULATED_CARD_TIMEOUT_MS, resets the card
 * and fails DEVICE_TIMEOUT, as loom.ko's timeout handler does), "corrupt"
 * completes it with an error status and "slow MS" delays it.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../hls/card/loom_card.h"
#include "../../kernel/loom_xclbin.h"
#include "core/devstats.h"
#include "core/env.h"
#include "core/error.h"
#include "emu_fault.h"
#include "shim.h"

#define EMU_ALIGN 256u
#define EMU_SLOTS 64u

typedef struct emu_range {
    uint64_t off, size; /* heap offsets */
} emu_range;

typedef struct emu_card {
    pthread_mutex_t lock; /* Protects the card model, the rings and the heap. */
    struct loom_card card;
    uint8_t *window;
    uint64_t heap_off, heap_size, heap_devaddr;
    emu_range *used; /* sorted by offset */
    int n_used, cap_used;
    uint64_t mem_used;
    uint32_t seqno;
    int n_cus;
    lm_card_cu cus[LM_CARD_MAX_CUS];
    char pci[32];          /* the PCI bus id it pretends to have, "-" none */
    bool dead;             /* the fault file said "die"; no command runs until a reset */
    bool hung;             /* a command hangs: the processor takes nothing until the reset */
    pthread_cond_t unhung; /* signalled by that reset */
} emu_card;

static emu_card *emu(lm_card *c)
{
    return c->priv;
}

/* ---------------------------------------------------------------- heap */

static loom_status emu_bo_alloc(lm_card *c, uint64_t size, lm_card_bo *bo)
{
    emu_card *e = emu(c);
    if (size == 0 || size > e->heap_size)
        return lm_error(LOOM_ERR_NO_MEMORY, "%s: cannot allocate %llu bytes of device memory",
                        c->name, (unsigned long long)size);
    size = (size + EMU_ALIGN - 1) & ~(uint64_t)(EMU_ALIGN - 1);
    pthread_mutex_lock(&e->lock);
    uint64_t at = 0;
    int i = 0;
    for (; i < e->n_used; i++) {
        if (e->used[i].off - at >= size)
            break;
        at = e->used[i].off + e->used[i].size;
    }
    if (i == e->n_used && e->heap_size - at < size) {
        pthread_mutex_unlock(&e->lock);
        return lm_error(LOOM_ERR_NO_MEMORY,
                        "%s: out of device memory (%llu bytes wanted, %llu of %llu in use)",
                        c->name, (unsigned long long)size, (unsigned long long)e->mem_used,
                        (unsigned long long)e->heap_size);
    }
    if (e->n_used == e->cap_used) {
        int cap = e->cap_used ? 2 * e->cap_used : 64;
        emu_range *g = realloc(e->used, sizeof(*g) * (size_t)cap);
        if (!g) {
            pthread_mutex_unlock(&e->lock);
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        }
        e->used = g;
        e->cap_used = cap;
    }
    memmove(&e->used[i + 1], &e->used[i], sizeof(emu_range) * (size_t)(e->n_used - i));
    e->used[i] = (emu_range){at, size};
    e->n_used++;
    e->mem_used += size;
    pthread_mutex_unlock(&e->lock);
    memset(bo, 0, sizeof(*bo));
    bo->size = size;
    bo->dev_addr = e->heap_devaddr + at;
    bo->map = e->window + e->heap_off + at;
    bo->handle = (uint32_t)(at / EMU_ALIGN) + 1;
    return LOOM_OK;
}

static void emu_bo_free(lm_card *c, lm_card_bo *bo)
{
    emu_card *e = emu(c);
    uint64_t at = bo->dev_addr - e->heap_devaddr;
    pthread_mutex_lock(&e->lock);
    for (int i = 0; i < e->n_used; i++) {
        if (e->used[i].off == at) {
            e->mem_used -= e->used[i].size;
            memmove(&e->used[i], &e->used[i + 1], sizeof(emu_range) * (size_t)(e->n_used - i - 1));
            e->n_used--;
            break;
        }
    }
    pthread_mutex_unlock(&e->lock);
    memset(bo, 0, sizeof(*bo));
}

static loom_status emu_bo_write(lm_card *c, const lm_card_bo *bo, uint64_t off, const void *src,
                                uint64_t n)
{
    if (off > bo->size || n > bo->size - off)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "%s: write past the end of a buffer", c->name);
    memcpy((uint8_t *)bo->map + off, src, n);
    return LOOM_OK;
}

static loom_status emu_bo_read(lm_card *c, const lm_card_bo *bo, uint64_t off, void *dst,
                               uint64_t n)
{
    if (off > bo->size || n > bo->size - off)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "%s: read past the end of a buffer", c->name);
    memcpy(dst, (const uint8_t *)bo->map + off, n);
    return LOOM_OK;
}

/* ---------------------------------------------------------------- rings */

static uint32_t reg(emu_card *e, uint32_t off)
{
    return loom_card_reg_read(&e->card, off);
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* What the firmware loop ended in. */
typedef enum fw_end {
    FW_IDLE, /* the command ring is empty: every command completed */
    FW_HUNG, /* a command was taken and will never complete */
    FW_DEAD, /* the card died */
} fw_end;

/* The card's firmware loop, with the fault file applied to each command it
 * takes. Called with e->lock held. */
static fw_end firmware_locked(emu_card *e)
{
    struct loom_card_cpl cpl;
    while (loom_card_take(&e->card, &cpl)) {
        lm_emu_fault f = lm_emu_fault_now();
        if (f.kind == LM_EMU_FAULT_DIE) {
            e->dead = true;
            return FW_DEAD;
        }
        if (f.kind == LM_EMU_FAULT_HANG)
            return FW_HUNG; /* taken, never completed: the processor is stuck on it */
        if (f.kind == LM_EMU_FAULT_SLOW)
            sleep_ms(f.arg_ms);
        if (f.kind == LM_EMU_FAULT_CORRUPT && cpl.status == htole32(LOOM_CPL_OK)) {
            cpl.status = htole32(LOOM_CPL_ERROR);
            e->card.errors++; /* as the card counts its own failed commands */
        }
        loom_card_post(&e->card, &cpl);
    }
    return FW_IDLE;
}

/* A dead card fails every command until the fault file stops saying "die";
 * then the next command finds it answering and resets it first (rings and
 * CUs; the bitstream and device memory stay), as a driver's recovery reset
 * would. Called with e->lock held. */
static loom_status alive_locked(lm_card *c)
{
    emu_card *e = emu(c);
    if (!e->dead)
        return LOOM_OK;
    if (lm_emu_fault_now().kind == LM_EMU_FAULT_DIE)
        return lm_error(LOOM_ERR_DEVICE_LOST, "%s: the card is gone (it died; not reset yet)",
                        c->name);
    loom_card_reset(&e->card);
    e->dead = false;
    return LOOM_OK;
}

/* The host side of a hung command: waits out the job deadline, then resets
 * the card so that later commands find empty rings. Called with e->lock held.
 * The card's one command processor is stuck, so other commands wait for the
 * reset (ring_run_locked), but the lock is let go while we wait: the card's
 * registers, health and memory stay readable, as a real hung card's are. */
static loom_status hung_locked(lm_card *c, int first, int last, int n, uint64_t deadline_ns)
{
    emu_card *e = emu(c);
    uint32_t ms = lm_emu_timeout_ms();
    uint64_t now = lm_now_ns();
    bool host_gave_up = deadline_ns && deadline_ns < now + (uint64_t)ms * 1000000u;
    if (host_gave_up) /* the host's watchdog comes first: it resets the card then */
        ms = deadline_ns > now ? (uint32_t)((deadline_ns - now + 999999) / 1000000) : 0;
    e->hung = true;
    pthread_mutex_unlock(&e->lock);
    sleep_ms(ms);
    pthread_mutex_lock(&e->lock);
    loom_card_reset(&e->card);
    e->hung = false;
    pthread_cond_broadcast(&e->unhung);
    return lm_error(LOOM_ERR_DEVICE_TIMEOUT,
                    "%s: commands %d to %d of %d did not complete within %u ms (%s); the card "
                    "was reset",
                    c->name, first, last, n, ms,
                    host_gave_up ? "the segment's deadline" : "the card's job timeout");
}

/* Puts @cmds on the command ring, runs the card until it is empty and reaps
 * the completions. Called with e->lock held. */
static loom_status ring_run_locked(lm_card *c, const struct loom_card_cmd *cmds, int n,
                                   uint64_t *cycles, uint64_t deadline_ns)
{
    emu_card *e = emu(c);
    uint32_t slots = reg(e, LOOM_REG_CMD_RING_SLOTS), cmd_off = reg(e, LOOM_REG_CMD_RING_OFF);
    uint32_t cpl_slots = reg(e, LOOM_REG_CPL_RING_SLOTS), cpl_off = reg(e, LOOM_REG_CPL_RING_OFF);
    uint64_t total = 0;
    int done = 0;
    if (cycles)
        *cycles = 0;
    while (e->hung)
        pthread_cond_wait(&e->unhung, &e->lock);
    loom_status s = alive_locked(c);
    while (done < n && !s) {
        /* Fill the ring (the host holds at most `slots` commands in flight). */
        uint32_t tail = reg(e, LOOM_REG_CMD_TAIL);
        int batch = n - done < (int)slots ? n - done : (int)slots;
        uint32_t first_seq = e->seqno;
        for (int i = 0; i < batch; i++) {
            struct loom_card_cmd cmd = cmds[done + i];
            cmd.seqno = htole32(e->seqno++);
            memcpy(e->window + cmd_off + ((tail + (uint32_t)i) & (slots - 1)) * sizeof(cmd), &cmd,
                   sizeof(cmd));
        }
        loom_card_reg_write(&e->card, LOOM_REG_CMD_TAIL, tail + (uint32_t)batch);
        /* The doorbell: the card's firmware loop. */
        fw_end end = firmware_locked(e);
        if (end == FW_HUNG)
            return hung_locked(c, done + 1, done + batch, n, deadline_ns);
        if (end == FW_DEAD)
            return lm_error(LOOM_ERR_DEVICE_LOST, "%s: the card died running commands %d to %d",
                            c->name, done + 1, done + batch);
        /* Reap. */
        struct loom_card_cpl cpl;
        uint32_t head = reg(e, LOOM_REG_CPL_HEAD), ctail = reg(e, LOOM_REG_CPL_TAIL);
        for (; head != ctail; head++) {
            memcpy(&cpl, e->window + cpl_off + (head & (cpl_slots - 1)) * sizeof(cpl), sizeof(cpl));
            uint32_t seq = le32toh(cpl.seqno), st = le32toh(cpl.status);
            total += le64toh(cpl.cycles);
            if (st != LOOM_CPL_OK && s == LOOM_OK)
                s = lm_error(LOOM_ERR_RUNTIME,
                             "%s: command %u of %d failed on the card (status %u%s)", c->name,
                             seq - first_seq + (uint32_t)done + 1, n, st,
                             st == LOOM_CPL_ERROR         ? ": the CU refused its arguments"
                             : st == LOOM_CPL_BAD_COMMAND ? ": bad command"
                                                          : "");
        }
        loom_card_reg_write(&e->card, LOOM_REG_CPL_HEAD, head);
        done += batch;
    }
    if (cycles)
        *cycles = total;
    return s;
}

static loom_status emu_run(lm_card *c, const lm_card_cmd *cmds, int n, uint64_t *cycles,
                           uint64_t deadline_ns)
{
    emu_card *e = emu(c);
    struct loom_card_cmd *raw = calloc((size_t)(n > 0 ? n : 1), sizeof(*raw));
    if (!raw)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < n; i++) {
        raw[i].opcode = htole16(LOOM_OP_START_CU);
        raw[i].nargs = htole16((uint16_t)cmds[i].n_args);
        raw[i].cu_index = htole32(cmds[i].cu_index);
        for (int a = 0; a < cmds[i].n_args; a++)
            raw[i].args[a] = htole64(cmds[i].args[a].bo->dev_addr + cmds[i].args[a].offset);
    }
    pthread_mutex_lock(&e->lock);
    loom_status s = ring_run_locked(c, raw, n, cycles, deadline_ns);
    pthread_mutex_unlock(&e->lock);
    free(raw);
    return s;
}

/* ---------------------------------------------------------------- program */

static loom_status emu_program(lm_card *c, const void *xclbin, size_t size)
{
    emu_card *e = emu(c);
    struct loom_xclbin *x = calloc(1, sizeof(*x));
    if (!x)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    __u64 detail = 0;
    int r = loom_xclbin_parse(xclbin, size, e->window + LOOM_REG_INTERFACE_UUID, x, &detail);
    if (r != LOOM_XCLBIN_OK) {
        free(x);
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "%s: xclbin refused: %s (at %llu)", c->name,
                        loom_xclbin_reason_str((uint32_t)r), (unsigned long long)detail);
    }
    lm_card_bo bs;
    loom_status s = emu_bo_alloc(c, x->bitstream_len, &bs);
    if (s) {
        free(x);
        return s;
    }
    memcpy(bs.map, (const uint8_t *)xclbin + x->bitstream_off, x->bitstream_len);
    struct loom_card_cmd cmd = {0};
    cmd.opcode = htole16(LOOM_OP_PROGRAM);
    cmd.nargs = htole16(4);
    cmd.args[0] = htole64(bs.dev_addr);
    cmd.args[1] = htole64(x->bitstream_len);
    memcpy(&cmd.args[2], x->uuid, 16);
    pthread_mutex_lock(&e->lock);
    s = ring_run_locked(c, &cmd, 1, NULL, 0);
    if (!s) {
        e->n_cus = (int)x->num_cus;
        for (uint32_t i = 0; i < x->num_cus && i < LM_CARD_MAX_CUS; i++) {
            snprintf(e->cus[i].name, sizeof(e->cus[i].name), "%s", x->cus[i].name);
            e->cus[i].base = x->cus[i].base_address;
            e->cus[i].kind = i < e->card.num_cus ? e->card.cu_kind[i] : 0;
        }
    }
    pthread_mutex_unlock(&e->lock);
    emu_bo_free(c, &bs);
    free(x);
    if (s)
        lm_error_prefix("%s: the card refused the bitstream", c->name);
    return s;
}

/* ---------------------------------------------------------------- info, open */

static loom_status emu_info(lm_card *c, lm_card_info *info)
{
    emu_card *e = emu(c);
    memset(info, 0, sizeof(*info));
    pthread_mutex_lock(&e->lock);
    snprintf(info->driver, sizeof(info->driver), "emulated");
    snprintf(info->pci, sizeof(info->pci), "%s", e->pci[0] ? e->pci : "-");
    memcpy(info->board, e->window + LOOM_REG_NAME, 31);
    info->numa_node = -1;
    /* A driver polling a dead card resets it once it answers again: the
     * fault file no longer says "die". */
    if (e->dead && lm_emu_fault_now().kind != LM_EMU_FAULT_DIE) {
        loom_card_reset(&e->card);
        e->dead = false;
    }
    uint32_t st = reg(e, LOOM_REG_STATUS);
    info->status = (st & LOOM_STATUS_READY && !e->dead ? LM_CARD_READY : 0) |
                   (st & LOOM_STATUS_PROGRAMMED ? LM_CARD_PROGRAMMED : 0) |
                   (e->dead ? LM_CARD_DEAD : 0);
    info->interface_version = reg(e, LOOM_REG_VERSION);
    info->mem_total = e->heap_size;
    info->mem_used = e->mem_used;
    memcpy(info->xclbin_uuid, e->window + LOOM_REG_XCLBIN_UUID, 16);
    snprintf(info->xclbin, sizeof(info->xclbin), "%s", c->xclbin);
    info->n_cus = e->n_cus;
    memcpy(info->cus, e->cus, sizeof(e->cus));
    info->commands = e->card.commands;
    info->errors = e->card.errors;
    info->resets = e->card.resets;
    info->temp_mc = reg(e, LOOM_REG_TEMP_MC);
    info->power_mw = reg(e, LOOM_REG_POWER_MW);
    info->heartbeat = reg(e, LOOM_REG_HEARTBEAT);
    pthread_mutex_unlock(&e->lock);
    return LOOM_OK;
}

static void emu_close(lm_card *c)
{
    emu_card *e = emu(c);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->unhung);
    free(e->window);
    free(e->used);
    free(e);
    free(c);
}

static const lm_card_ops emu_ops = {
    .close = emu_close,
    .info = emu_info,
    .bo_alloc = emu_bo_alloc,
    .bo_free = emu_bo_free,
    .bo_write = emu_bo_write,
    .bo_read = emu_bo_read,
    .program = emu_program,
    .run = emu_run,
};

int lm_card_emulated_count(void)
{
    return (int)lm_env_int(LM_ENV_EMULATED_CARDS);
}

/* Window size of an emulated card: LOOM_EMULATED_CARD_MB (default 256). */
static uint64_t emu_window_bytes(void)
{
    long mb = lm_env_int(LM_ENV_EMULATED_CARD_MB);
    uint64_t bytes = 4u << 20;
    while (bytes < (uint64_t)mb << 20 && bytes < (1ull << 34))
        bytes <<= 1;
    return bytes;
}

void lm_card_emulated_set_pci(lm_card *c, const char *bus_id)
{
    emu_card *e = emu(c);
    pthread_mutex_lock(&e->lock);
    snprintf(e->pci, sizeof(e->pci), "%s", bus_id);
    pthread_mutex_unlock(&e->lock);
}

loom_status lm_card_emulated_open(int count, lm_card **cards, int max, int *n)
{
    for (int k = 0; k < count && *n < max; k++) {
        lm_card *c = calloc(1, sizeof(*c));
        emu_card *e = calloc(1, sizeof(*e));
        uint64_t size = emu_window_bytes();
        uint8_t *window = calloc(1, size); /* untouched pages stay unbacked */
        char name[32];
        snprintf(name, sizeof(name), "loom-emulated-%d", k);
        if (!c || !e || !window || loom_card_init(&e->card, window, size, EMU_SLOTS, name, 0)) {
            free(c);
            free(e);
            free(window);
            return lm_error(LOOM_ERR_NO_MEMORY, "cannot make an emulated card of %llu MiB",
                            (unsigned long long)(size >> 20));
        }
        pthread_mutex_init(&e->lock, NULL);
        pthread_cond_init(&e->unhung, NULL);
        e->window = window;
        e->heap_off = (uint64_t)reg(e, LOOM_REG_HEAP_OFF) | (uint64_t)reg(e, LOOM_REG_HEAP_OFF + 4)
                                                                << 32;
        e->heap_size =
            (uint64_t)reg(e, LOOM_REG_HEAP_SIZE) | (uint64_t)reg(e, LOOM_REG_HEAP_SIZE + 4) << 32;
        e->heap_devaddr = (uint64_t)reg(e, LOOM_REG_HEAP_DEVADDR) |
                          (uint64_t)reg(e, LOOM_REG_HEAP_DEVADDR + 4) << 32;
        e->seqno = 1;
        c->ops = &emu_ops;
        c->priv = e;
        snprintf(c->name, sizeof(c->name), "card:%d", *n);
        cards[(*n)++] = c;
    }
    return LOOM_OK;
}
