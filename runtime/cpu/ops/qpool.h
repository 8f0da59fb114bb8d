/* qpool.h - 8-bit pooling kernels the QDQ rewrites use (qpool.c). */
#ifndef LOOM_CPU_OPS_QPOOL_H
#define LOOM_CPU_OPS_QPOOL_H

#include "../../core/op.h"

/*
 * loom.QMaxPool: ONNX MaxPool (opset 12+) on a 4-D uint8 or int8 tensor with
 * one output (no Indices), row-vectorized. fuse_qdq.c puts it where
 * DQ -> MaxPool -> Q keeps the scale and zero point. Attributes as MaxPool's:
 * kernel_shape, strides, pads, dilations, auto_pad, ceil_mode.
 */
loom_status lm_op_qmaxpool(lm_kctx *k);

#endif
