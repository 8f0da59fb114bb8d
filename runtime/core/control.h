/* control.h - If, Loop and Scan (control.c), run by the host on any context. */
#ifndef LOOM_CORE_CONTROL_H
#define LOOM_CORE_CONTROL_H

#include "op.h"

/* The control-flow ops' definitions; the CPU backend lists them among its
 * tables, since their kernels run on the host (their bodies go anywhere). */
extern const lm_op_def lm_ops_control[];

#endif
