/*
 * quant.c - the op table of the quantization operators: QuantizeLinear,
 * DequantizeLinear, DynamicQuantizeLinear (qdq.c), MatMulInteger,
 * QLinearMatMul (qmatmul.c), ConvInteger, QLinearConv (qconv.c), and the fused
 * QDQ forms fuse_qdq.c writes (loom.QDQAdd is qadd.c; loom.QMaxPool is qpool.c;
 * loom.QLut, fuse_qlut.c's tabulated element-wise chains, is qlut.c;
 * loom.MatMulIntegerScaled, fuse_qdyn.c's dynamic-quantization matmul, is qmatmul.c).
 * What those files share is in quant_common.h and quant_common.c.
 *
 * Numerics follow what produced ONNX's conformance data (ONNX Runtime / MLAS):
 *   quantize:    q = saturate(round_half_even(x / scale) + zp), float32 division;
 *   dequantize:  x = (float)(q - zp) * scale;
 *   requantize:  q = saturate(round_half_even((float)acc * mult) + zp) with the
 *                multiplier computed in float32 as (in_scale * w_scale) / out_scale.
 * Every path of those files (scalar, SSE2, AVX-512 rows) computes exactly these
 * steps. The integer products go through the 8-bit GEMM in qgemm.h, depthwise
 * convolutions through qdwconv.h; qconv.c says which shapes take which path.
 */
#include "qpool.h"
#include "quant_common.h"

#define LM_OP_PREPARED(op, flags_)                                                                 \
    {                                                                                              \
        .domain = "", .op_type = #op, .run = lm_op_##op, .prepare = lm_prepare_##op,               \
        .flags = (flags_)                                                                          \
    }

/* The 8-bit operators that store every output element (requantizing GEMMs,
 * element-wise (de)quantizers, the fused add and pool) take their outputs
 * unzeroed: the executor's memset was a tenth of a QDQ CNN's run. The int32
 * ones (MatMulInteger, ConvInteger) keep zeroed outputs. */
const lm_op_def lm_ops_quant[] = {
    LM_OP_FULL("", "QuantizeLinear", lm_op_QuantizeLinear),
    LM_OP_FULL("", "DequantizeLinear", lm_op_DequantizeLinear),
    LM_OP("", "DynamicQuantizeLinear", lm_op_DynamicQuantizeLinear),
    LM_OP_PREPARED(MatMulInteger, 0),
    LM_OP_PREPARED(QLinearMatMul, LM_OP_WRITES_OUTPUTS),
    LM_OP_PREPARED(ConvInteger, 0),
    LM_OP_PREPARED(QLinearConv, LM_OP_WRITES_OUTPUTS),
    LM_OP_FULL("loom", "QDQAdd", lm_op_QDQAdd),
    LM_OP_FULL("loom", "QMaxPool", lm_op_qmaxpool),
    LM_OP_FULL("loom", "QLut", lm_op_qlut),
    {.domain = "loom",
     .op_type = "MatMulIntegerScaled",
     .run = lm_op_MatMulIntegerScaled,
     .prepare = lm_prepare_MatMulIntegerScaled,
     .flags = LM_OP_WRITES_OUTPUTS},
    LM_OP_END,
};
