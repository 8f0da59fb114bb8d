/*
 * The Loom card model: the command processor a card's firmware (or
 * loom-cardsim, or the runtime's emulated card) runs over the card window.
 * START_CU runs the CU kinds of hls/loom_cu.h: no-op, memcpy, vadd and the
 * int8 QGEMM/QCONV/POOL/QADD (hls/cu_*.c), and the completion's cycles come
 * from the cycle model (hls/cu_cycles.c). Plain C with no OS calls. Link
 * with $(HLS_CARD_SRC) from mk/fpga-hw.mk.
 */
#ifndef LOOM_CARD_H
#define LOOM_CARD_H

#include <stdint.h>

#include "../../kernel/loom_card_if.h"

#define LOOM_CARD_RING_OFF 0x1000u
#define LOOM_CARD_HEAP_OFF (1u << 20)

struct loom_card {
    uint8_t *mem;       /* the card window (BAR2 in the guest) */
    uint64_t size;      /* bytes, a power of two */
    uint32_t cmd_slots; /* power of two */
    uint32_t num_cus;
    uint32_t cu_kind[LOOM_SIM_MAX_CUS];
    uint64_t commands; /* executed since start */
    uint64_t errors;   /* commands that completed with an error */
    uint64_t resets;
};

/* Lay out registers, rings and heap over mem and set the READY status. */
int loom_card_init(struct loom_card *c, void *mem, uint64_t size, uint32_t cmd_slots,
                   const char *name, uint16_t doorbell_peer);

uint32_t loom_card_reg_read(const struct loom_card *c, uint32_t off);
void loom_card_reg_write(struct loom_card *c, uint32_t off, uint32_t val);

/* Advance the heartbeat and health counters. */
void loom_card_tick(struct loom_card *c, uint32_t temp_mc, uint32_t power_mw);

/* 1 when the host wrote a new generation to RESET_REQ. */
int loom_card_reset_requested(const struct loom_card *c);

/* Reset CUs and rings (the programmed bitstream stays) and acknowledge. */
void loom_card_reset(struct loom_card *c);

/*
 * Take the next command from the command ring and execute it. Returns 1 and
 * fills *cpl (not yet posted) when a command was taken, 0 when the ring is empty.
 */
int loom_card_take(struct loom_card *c, struct loom_card_cpl *cpl);

/* Post a completion to the completion ring. */
void loom_card_post(struct loom_card *c, const struct loom_card_cpl *cpl);

/* 1 once the host has said it takes interrupts (HOST_READY). */
int loom_card_host_ready(const struct loom_card *c);

#endif
