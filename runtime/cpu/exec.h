/* exec.h - what the executor provides to kctx.c and the model code. */
#ifndef LOOM_CPU_EXEC_H
#define LOOM_CPU_EXEC_H

#include "kernel.h"

/* Gives output @i of the running kernel its storage (allocates t->data). */
loom_status lm_exec_alloc_output(lm_kctx *k, int i, loom_tensor *t);

/* Frees the scratch blocks a kernel took. */
void lm_kctx_release_scratch(lm_kctx *k);

#endif
