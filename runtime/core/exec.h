/* exec.h - what the executor provides to kctx.c and the model code. */
#ifndef LOOM_CORE_EXEC_H
#define LOOM_CORE_EXEC_H

#include "op.h"

/* The header for output @i of the running kernel: reused from the run state,
 * or malloc'd while planning and for outputs the caller receives. */
loom_tensor *lm_exec_output_header(lm_kctx *k, int i);

/* Gives output @i its zeroed storage: the arena, the caller's tensor, or the heap. */
loom_status lm_exec_alloc_output(lm_kctx *k, int i, loom_tensor *t);

/* Scratch from the run state's buffer, or NULL (then the heap serves it). */
void *lm_exec_scratch(lm_kctx *k, size_t bytes);

/* Frees the scratch blocks a kernel took. */
void lm_kctx_release_scratch(lm_kctx *k);

#endif
