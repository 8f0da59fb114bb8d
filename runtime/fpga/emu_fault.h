/*
 * emu_fault.h - the fault file of the emulated card (LOOM_EMULATED_CARD_FAULTS).
 *
 * Operators' drills and tests make an emulated card misbehave by writing one
 * word to a file, with loom-cardsim's vocabulary (kernel/loom_card_if.h
 * LOOM_SIM_FAULT_*): "ok", "hang", "die", "corrupt" or "slow MS". The shim
 * reads it again before every command it puts on the ring, so a fault can be
 * switched on and off while models run. README.md says what each one does.
 */
#ifndef LOOM_FPGA_EMU_FAULT_H
#define LOOM_FPGA_EMU_FAULT_H

#include <stdint.h>

typedef enum lm_emu_fault_kind {
    LM_EMU_FAULT_OK = 0,  /* no file, no variable, or "ok" */
    LM_EMU_FAULT_HANG,    /* the command is taken and never completes */
    LM_EMU_FAULT_DIE,     /* the card is gone */
    LM_EMU_FAULT_CORRUPT, /* the command completes with an error status */
    LM_EMU_FAULT_SLOW,    /* each command takes arg_ms longer */
} lm_emu_fault_kind;

typedef struct lm_emu_fault {
    lm_emu_fault_kind kind;
    uint32_t arg_ms; /* SLOW's delay */
} lm_emu_fault;

/* The fault the file names now. A missing variable or file, or a word it
 * does not know, is LM_EMU_FAULT_OK: a typo must not kill a card. */
lm_emu_fault lm_emu_fault_now(void);

/* How long the shim waits for a command before it declares the card hung:
 * LOOM_EMULATED_CARD_TIMEOUT_MS, default 2000 (loom.ko's job_timeout_ms). */
uint32_t lm_emu_timeout_ms(void);

#endif
