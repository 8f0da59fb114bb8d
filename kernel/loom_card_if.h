/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * Loom card interface: the register block, rings and commands a Loom card
 * exposes in its BAR. kernel/CARD-INTERFACE.md is the prose for this file.
 * Shared by the driver and the card model (hls/card), so only fixed-size
 * types from <linux/types.h> and plain defines live here.
 */
#ifndef LOOM_CARD_IF_H
#define LOOM_CARD_IF_H

#include <linux/types.h>

#define LOOM_CARD_MAGIC			0x4d4f4f4cU	/* "LOOM" */
#define LOOM_CARD_IF_MAJOR		1
#define LOOM_CARD_IF_MINOR		0
#define LOOM_CARD_IF_VERSION(maj, min)	(((maj) << 16) | (min))

/* Register block, at offset 0 of the card window (BAR2). All little endian. */
#define LOOM_REG_MAGIC			0x000	/* RO: LOOM_CARD_MAGIC */
#define LOOM_REG_VERSION		0x004	/* RO: major << 16 | minor */
#define LOOM_REG_CAPS			0x008	/* RO: LOOM_CAP_* */
#define LOOM_REG_STATUS			0x00c	/* RO: LOOM_STATUS_* */
#define LOOM_REG_HEARTBEAT		0x010	/* RO: increments at least every 10 ms */
#define LOOM_REG_DOORBELL_PEER		0x014	/* RO: sim only, ivshmem peer id of the card */
#define LOOM_REG_HOST_READY		0x018	/* RW: host writes 1 once it takes interrupts */
#define LOOM_REG_CONTROL		0x01c	/* RW: LOOM_CONTROL_* */
#define LOOM_REG_RESET_REQ		0x020	/* RW: host writes a new generation to reset */
#define LOOM_REG_RESET_ACK		0x024	/* RO: card echoes the generation when done */
#define LOOM_REG_TEMP_MC		0x028	/* RO: temperature, milli-degrees Celsius */
#define LOOM_REG_POWER_MW		0x02c	/* RO: board power, milliwatts */
#define LOOM_REG_ERRORS			0x030	/* RO: commands that ended in error */
#define LOOM_REG_COMMANDS		0x034	/* RO: commands executed since reset */
#define LOOM_REG_NUM_CUS		0x038	/* RO: CUs of the programmed bitstream */
#define LOOM_REG_DOORBELL		0x03c	/* WO: native doorbell, write any value */
#define LOOM_REG_CMD_RING_OFF		0x040	/* RO: window offset of the command ring */
#define LOOM_REG_CMD_RING_SLOTS		0x044	/* RO: command slots, a power of two */
#define LOOM_REG_CPL_RING_OFF		0x048	/* RO: window offset of the completion ring */
#define LOOM_REG_CPL_RING_SLOTS		0x04c	/* RO: completion slots, >= command slots */
#define LOOM_REG_HEAP_OFF		0x050	/* RO: 64-bit window offset of the heap */
#define LOOM_REG_HEAP_SIZE		0x058	/* RO: 64-bit heap size, bytes */
#define LOOM_REG_CMD_HEAD		0x060	/* RO: commands consumed by the card */
#define LOOM_REG_CMD_TAIL		0x064	/* RW: commands produced by the host */
#define LOOM_REG_CPL_HEAD		0x068	/* RW: completions consumed by the host */
#define LOOM_REG_CPL_TAIL		0x06c	/* RO: completions produced by the card */
#define LOOM_REG_HEAP_DEVADDR		0x070	/* RO: 64-bit device address of heap byte 0 */
#define LOOM_REG_XCLBIN_UUID		0x080	/* RO: 16 bytes, UUID of the programmed xclbin */
#define LOOM_REG_INTERFACE_UUID		0x090	/* RO: 16 bytes, shell interface UUID */
#define LOOM_REG_NAME			0x0a0	/* RO: 32 bytes, NUL-padded board name */
#define LOOM_REG_BLOCK_SIZE		0x1000

/* Simulator-only fault injection (loom-cardsim), not part of a real card. */
#define LOOM_REG_SIM_FAULT		0xf00	/* RW: LOOM_SIM_FAULT_* */
#define LOOM_REG_SIM_FAULT_ARG		0xf04	/* RW: argument (microseconds for SLOW) */
#define LOOM_SIM_FAULT_NONE		0
#define LOOM_SIM_FAULT_HANG		1	/* take commands, never complete them */
#define LOOM_SIM_FAULT_SLOW		2	/* delay each completion by ARG us */
#define LOOM_SIM_FAULT_CORRUPT		3	/* complete with a wrong sequence number */
#define LOOM_SIM_FAULT_DIE		4	/* stop: no heartbeat, no commands */

#define LOOM_CAP_MSIX			0x00000001U	/* completion and error vectors */
#define LOOM_CAP_PROGRAM		0x00000002U	/* PROGRAM command */
#define LOOM_CAP_RESET			0x00000004U	/* RESET_REQ register */
#define LOOM_CAP_SIM			0x80000000U	/* a simulator, SIM_* registers */

#define LOOM_STATUS_READY		0x00000001U
#define LOOM_STATUS_PROGRAMMED		0x00000002U
#define LOOM_STATUS_ERROR		0x00000004U

#define LOOM_CONTROL_NONE		0

/* MSI-X vectors */
#define LOOM_VEC_COMPLETION		0
#define LOOM_VEC_ERROR			1
#define LOOM_NUM_VECTORS		2

/* Command opcodes */
#define LOOM_OP_NOP			0x01
#define LOOM_OP_PROGRAM			0x02
#define LOOM_OP_START_CU		0x03
#define LOOM_OP_RESET_CUS		0x04

#define LOOM_CMD_MAX_ARGS		13

/**
 * struct loom_card_cmd - one command slot, 128 bytes
 * @opcode: LOOM_OP_*
 * @nargs: number of valid @args
 * @seqno: host sequence number, echoed in the completion
 * @cu_index: START_CU: index into the programmed IP_LAYOUT's kernels
 * @flags: must be zero
 * @args: START_CU: device addresses then scalars; PROGRAM: device address
 *        of the bitstream, its length, then the 16-byte xclbin UUID as two
 *        words
 * @reserved: must be zero
 */
struct loom_card_cmd {
	__le16 opcode;
	__le16 nargs;
	__le32 seqno;
	__le32 cu_index;
	__le32 flags;
	__le64 args[LOOM_CMD_MAX_ARGS];
	__le64 reserved;
};

/* Completion status */
#define LOOM_CPL_OK			0
#define LOOM_CPL_ERROR			1	/* the CU reported an error */
#define LOOM_CPL_BAD_COMMAND		2	/* unknown opcode or CU, bad arguments */
#define LOOM_CPL_BAD_BITSTREAM		3	/* PROGRAM refused the bitstream */

/**
 * struct loom_card_cpl - one completion slot, 16 bytes
 * @seqno: the command's sequence number
 * @status: LOOM_CPL_*
 * @cycles: card cycles the command took
 */
struct loom_card_cpl {
	__le32 seqno;
	__le32 status;
	__le64 cycles;
};

/* The simulator's bitstream (payload of an xclbin BITSTREAM section). */
#define LOOM_SIM_BITSTREAM_MAGIC	0x5342424cU	/* "LBBS" */
#define LOOM_SIM_CU_NOOP		1	/* completes at once */
#define LOOM_SIM_CU_MEMCPY		2	/* args: dst, src, bytes */
#define LOOM_SIM_CU_VADD		3	/* args: out, a, b, n (u32 elements) */
#define LOOM_SIM_MAX_CUS		64

#endif /* LOOM_CARD_IF_H */
