/*
 * cases.h - the op harness's case table: each entry is one (op, shape case)
 * written as a small graph in a compact text form, so a case is one line to
 * read and the builder (model.c) is the only code that knows ONNX.
 *
 * tensors: space-separated specs, one per graph input or initializer:
 *     [#]name:dtype[d0,d1,...][(lo,hi)][={v0,v1,...}]
 *   '#'   a constant initializer (weights, zero points, scales, axes);
 *         without it a graph input, fed random data.
 *   dtype f32 i8 u8 i32 i64 bool.
 *   []    a scalar (rank 0).
 *   (lo,hi) the range random values are drawn from (integers inclusive);
 *         default [-1, 1) for float, the full range for 8-bit, [-1000, 1000]
 *         for int32, [0, 3] for int64, {0, 1} for bool.
 *   ={..} explicit values (implies a constant).
 * graph: nodes separated by ';', each Op(in,in,...->out,...){attrs}, inputs
 *   may be empty ("x,,scales") like ONNX's optional inputs. Attributes are
 *   space-separated key=value: [1,2] ints, 'text' a string, a number with a
 *   '.' a float, else an int.
 * outputs: space-separated name:dtype, the graph outputs compared.
 */
#ifndef LOOM_TESTS_OPS_CASES_H
#define LOOM_TESTS_OPS_CASES_H

#include <stddef.h>

/* How closely a device that is not bit-identical to the CPU must agree on
 * float outputs (integer outputs are always compared exactly); the bounds
 * are in harness.c next to the reasons for them. */
typedef enum ops_tol {
    OPS_EXACT,   /* data movement, max/min, compare, select: no arithmetic */
    OPS_ROUNDED, /* one correctly rounded op per element (+ - * and a few more) */
    OPS_MATH,    /* transcendental functions: each libm differs by some ulp */
    OPS_SUM,     /* reductions, convolutions, GEMM, norms: summation order */
} ops_tol;

typedef struct op_case {
    const char *op;      /* the op family it tests, as reported */
    const char *name;    /* the shape case */
    int opset;           /* of the default domain; 0 means 13 */
    ops_tol tol;         /* float tolerance on devices not bit-identical */
    const char *tensors; /* graph inputs and initializers */
    const char *graph;   /* the nodes */
    const char *outputs; /* the graph outputs */
} op_case;

/* The float32 families the OpenCL backend claims, and CPU-only ops. */
extern const op_case ops_float_cases[];
extern const size_t ops_float_count;
/* The 8-bit families the card claims, in QLinear and QDQ form. */
extern const op_case ops_quant_cases[];
extern const size_t ops_quant_count;

#endif
