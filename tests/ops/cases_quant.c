/*
 * cases_quant.c - 8-bit (op, shape case) pairs: everything the card claims
 * (runtime/fpga/device.c fd_supports: QLinearConv, QLinearMatMul with
 * constant 2-D weights, int8 MaxPool, Max(x, constant)), the QDQ forms
 * runtime/core/fuse_qdq.c rewrites into them (DQ -> Conv/MatMul [-> Relu] ->
 * Q; DQ -> MaxPool -> Q and DQ, DQ -> Add -> Q become loom-domain ops no
 * device claims), forms the card must refuse, and CPU-only int8 ops.
 * The syntax is in cases.h. Zero points drawn from (0,0) are all zero.
 */
#include "cases.h"

#define E OPS_EXACT

/* Per-tensor input and output quantization of QLinearConv/MatMul. */
#define XQ_I8 " #xs:f32[]={0.02} #xz:i8[]={-3}"
#define XQ_U8 " #xs:f32[]={0.02} #xz:u8[]={128}"
#define YQ_I8 " #ys:f32[]={0.05} #yz:i8[]={5}"
#define YQ_U8 " #ys:f32[]={0.05} #yz:u8[]={120}"
/* Weights [shape] with @n per-channel scales and zero weight zero points. */
#define W_PC(shape, n) " #w:i8[" shape "](-127,127) #ws:f32[" n "](0.002,0.005) #wz:i8[" n "](0,0)"
#define W_PT(shape)    " #w:i8[" shape "](-127,127) #ws:f32[]={0.003} #wz:i8[]={0}"
#define BIAS(n)        " #b:i32[" n "]"
#define QCONV          "QLinearConv(x,xs,xz,w,ws,wz,ys,yz"
#define QMM            "QLinearMatMul(x,xs,xz,w,ws,wz,ys,yz->y)"

const op_case ops_quant_cases[] = {
    /* ---- QLinearConv: the card's qconv CU ---- */
    {"QLinearConv", "3x3 pad 1 bias, int8, per channel", 0, E,
     "x:i8[1,8,12,12]" XQ_I8 W_PC("16,8,3,3", "16") YQ_I8 BIAS("16"),
     QCONV ",b->y){pads=[1,1,1,1]}", "y:i8"},
    {"QLinearConv", "3x3 stride 2, uint8, relu as Max", 0, E,
     "x:u8[2,5,11,9]" XQ_U8 W_PC("7,5,3,3", "7") YQ_U8 BIAS("7"),
     QCONV ",b->c){strides=[2,2] pads=[1,1,1,1]};Max(c,yz->y)", "y:u8"},
    {"QLinearConv", "1x1 per tensor, no bias", 0, E, "x:i8[1,16,7,7]" XQ_I8 W_PT("24,16,1,1") YQ_U8,
     QCONV "->y)", "y:u8"},
    {"QLinearConv", "depthwise 3x3, relu as Max", 0, E,
     "x:u8[1,12,10,10]" XQ_U8 W_PC("12,1,3,3", "12") YQ_U8 BIAS("12"),
     QCONV ",b->c){group=12 pads=[1,1,1,1]};Max(c,yz->y)", "y:u8"},
    {"QLinearConv", "groups 2, dilation 2", 0, E,
     "x:i8[1,8,13,13]" XQ_I8 W_PC("6,4,3,3", "6") YQ_I8 BIAS("6"),
     QCONV ",b->y){group=2 pads=[2,2,2,2] dilations=[2,2]}", "y:i8"},
    {"QLinearConv", "5x5 stride 3 pad 2, batch 3, relu", 0, E,
     "x:i8[3,3,17,17]" XQ_I8 W_PC("5,3,5,5", "5") YQ_U8 BIAS("5"),
     QCONV ",b->c){strides=[3,3] pads=[2,2,2,2]};Max(c,yz->y)", "y:u8"},
    {"QLinearConv", "7x7 classifier to 1x1", 0, E,
     "x:u8[4,48,7,7]" XQ_U8 W_PC("10,48,7,7", "10") YQ_U8 BIAS("10"), QCONV ",b->y)", "y:u8"},
    {"QLinearConv", "asymmetric pads, stride 2,1", 0, E,
     "x:i8[1,4,9,8]" XQ_I8 W_PC("6,4,3,3", "6") YQ_I8 BIAS("6"),
     QCONV ",b->y){pads=[0,1,2,1] strides=[2,1]}", "y:i8"},
    {"QLinearConv", "SAME_UPPER stride 2", 0, E, "x:u8[1,3,10,10]" XQ_U8 W_PT("4,3,3,3") YQ_U8,
     QCONV "->y){auto_pad='SAME_UPPER' strides=[2,2]}", "y:u8"},
    {"QLinearConv", "uint8 weights, zero point 128", 0, E,
     "x:u8[1,6,6,6]" XQ_U8 " #w:u8[8,6,3,3] #ws:f32[]={0.004} #wz:u8[]={128}" YQ_I8, QCONV "->y)",
     "y:i8"},
    /* the CU takes one weight zero point: the CPU keeps this one */
    {"QLinearConv", "weight zero points differ by channel", 0, E,
     "x:i8[1,3,6,6]" XQ_I8 " #w:i8[4,3,3,3] #ws:f32[4](0.002,0.005) #wz:i8[4]={0,1,-1,2}" YQ_I8,
     QCONV "->y)", "y:i8"},
    /* no requantization table entry for a negative scale: the CPU keeps it */
    {"QLinearConv", "negative weight scale", 0, E,
     "x:i8[1,2,5,5]" XQ_I8 " #w:i8[3,2,1,1] #ws:f32[]={-0.003} #wz:i8[]={0}" YQ_I8, QCONV "->y)",
     "y:i8"},
    /* the CU's reduction limit, LOOM_CU_MAX_K = 32768 (hls/loom_cu.h): at it, and past it */
    {"QLinearConv", "K = 32768, the CU's limit", 0, E,
     "x:i8[1,2048,4,4]" XQ_I8 W_PT("2,2048,4,4") YQ_I8, QCONV "->y)", "y:i8"},
    {"QLinearConv", "K = 36864, past the CU's limit", 0, E,
     "x:i8[1,4096,3,3]" XQ_I8 W_PT("2,4096,3,3") YQ_I8, QCONV "->y)", "y:i8"},
    {"QLinearConv", "weights at run time", 0, E,
     "x:i8[1,3,6,6]" XQ_I8 " w:i8[4,3,3,3] #ws:f32[]={0.003} #wz:i8[]={0}" YQ_I8, QCONV "->y)",
     "y:i8"},

    /* ---- QLinearMatMul: the qgemm CU, constant 2-D weights ---- */
    {"QLinearMatMul", "per tensor [9,70]x[70,33]", 0, E, "x:u8[9,70]" XQ_U8 W_PT("70,33") YQ_I8,
     QMM, "y:i8"},
    {"QLinearMatMul", "per column scales", 0, E, "x:u8[9,70]" XQ_U8 W_PC("70,33", "33") YQ_I8, QMM,
     "y:i8"},
    {"QLinearMatMul", "batched [2,5,40]x[40,17]", 0, E,
     "x:i8[2,5,40]" XQ_I8 W_PC("40,17", "17") YQ_U8, QMM, "y:u8"},
    {"QLinearMatMul", "odd [5,3]x[3,1]", 0, E, "x:i8[5,3]" XQ_I8 W_PT("3,1") YQ_I8, QMM, "y:i8"},
    {"QLinearMatMul", "K = 32768, the CU's limit", 0, E,
     "x:u8[2,32768]" XQ_U8 W_PT("32768,3") YQ_I8, QMM, "y:i8"},
    {"QLinearMatMul", "K = 32769, past the CU's limit", 0, E,
     "x:u8[2,32769]" XQ_U8 W_PT("32769,3") YQ_I8, QMM, "y:i8"},
    {"QLinearMatMul", "weights at run time", 0, E,
     "x:u8[4,6]" XQ_U8 " w:i8[6,5] #ws:f32[]={0.003} #wz:i8[]={0}" YQ_I8, QMM, "y:i8"},

    /* ---- int8 MaxPool and Max(x, c): the pool CU ---- */
    {"MaxPool", "int8 3x3 stride 2 pad 1", 0, E, "x:i8[2,3,9,10]",
     "MaxPool(x->y){kernel_shape=[3,3] strides=[2,2] pads=[1,1,1,1]}", "y:i8"},
    {"MaxPool", "uint8 2x2 stride 2", 0, E, "x:u8[1,4,8,8]",
     "MaxPool(x->y){kernel_shape=[2,2] strides=[2,2]}", "y:u8"},
    {"MaxPool", "int8 3x3 stride 2 ceil_mode", 0, E, "x:i8[1,2,10,10]",
     "MaxPool(x->y){kernel_shape=[3,3] strides=[2,2] ceil_mode=1}", "y:i8"},
    {"MaxPool", "uint8 dilation 2", 0, E, "x:u8[1,2,9,9]",
     "MaxPool(x->y){kernel_shape=[2,2] dilations=[2,2]}", "y:u8"},
    {"MaxPool", "int8 SAME_UPPER 3x3 stride 2", 0, E, "x:i8[1,3,7,8]",
     "MaxPool(x->y){kernel_shape=[3,3] strides=[2,2] auto_pad='SAME_UPPER'}", "y:i8"},
    /* LOOM_CU_MAX_WINDOW = 1024 window elements */
    {"MaxPool", "int8 32x32 window, the CU's limit", 0, E, "x:i8[1,2,33,34]",
     "MaxPool(x->y){kernel_shape=[32,32]}", "y:i8"},
    {"MaxPool", "int8 33x32 window, past the CU's limit", 0, E, "x:i8[1,2,33,34]",
     "MaxPool(x->y){kernel_shape=[33,32]}", "y:i8"},
    {"chain", "int8 MaxPool then Max clamp", 0, E, "x:i8[2,3,9,10] #c:i8[]={-5}",
     "MaxPool(x->p){kernel_shape=[3,3] strides=[2,2] pads=[1,1,1,1]};Max(p,c->y)", "y:i8"},
    {"Max", "int8 clamp at -5", 0, E, "x:i8[2,3,9,10] #c:i8[]={-5}", "Max(x,c->y)", "y:i8"},
    {"Max", "uint8 clamp at 10", 0, E, "x:u8[1,16,5,5] #c:u8[]={10}", "Max(x,c->y)", "y:u8"},
    {"Max", "int8, both at run time", 0, E, "x:i8[3,7] b:i8[3,7]", "Max(x,b->y)", "y:i8"},

    /* ---- QDQ forms, fused at load ---- */
    {"QDQ Conv", "per tensor, int32 bias", 0, E,
     "x:u8[1,4,9,9] #xs:f32[]={0.015625} #xz:u8[]={128} #w:i8[8,4,3,3](-127,127) "
     "#ws:f32[]={0.0078125} #wz:i8[]={0} #b:i32[8] #bs:f32[]={0.0001220703125} "
     "#ys:f32[]={0.05} #yz:u8[]={100}",
     "DequantizeLinear(x,xs,xz->xf);DequantizeLinear(w,ws,wz->wf);DequantizeLinear(b,bs->bf);"
     "Conv(xf,wf,bf->c){pads=[1,1,1,1]};QuantizeLinear(c,ys,yz->y)",
     "y:u8"},
    {"QDQ Conv", "per channel, relu, stride 2", 0, E,
     "x:i8[1,4,10,10]" XQ_I8 " #w:i8[6,4,3,3](-127,127) #ws:f32[6](0.002,0.006)" YQ_I8,
     "DequantizeLinear(x,xs,xz->xf);DequantizeLinear(w,ws->wf){axis=0};"
     "Conv(xf,wf->c){strides=[2,2]};Relu(c->r);QuantizeLinear(r,ys,yz->y)",
     "y:i8"},
    {"QDQ MatMul", "per column weights", 0, E,
     "x:u8[7,24]" XQ_U8 " #w:i8[24,10](-127,127) #ws:f32[10](0.002,0.006)" YQ_I8,
     "DequantizeLinear(x,xs,xz->xf);DequantizeLinear(w,ws->wf){axis=1};MatMul(xf,wf->m);"
     "QuantizeLinear(m,ys,yz->y)",
     "y:i8"},
    {"QDQ MaxPool", "becomes loom.QMaxPool", 0, E, "x:i8[1,3,8,8] #s:f32[]={0.05} #z:i8[]={-2}",
     "DequantizeLinear(x,s,z->xf);MaxPool(xf->p){kernel_shape=[2,2] strides=[2,2]};"
     "QuantizeLinear(p,s,z->y)",
     "y:i8"},
    {"QDQ Add", "becomes loom.QDQAdd", 0, E,
     "x:i8[2,3,5] b:i8[2,3,5] #s:f32[]={0.05} #z:i8[]={-2} #t:f32[]={0.03} #u:i8[]={4}",
     "DequantizeLinear(x,s,z->xf);DequantizeLinear(b,t,u->bf);Add(xf,bf->a);"
     "QuantizeLinear(a,s,z->y)",
     "y:i8"},
    {"chain", "QLinearConv MaxPool QLinearConv", 0, E,
     "x:u8[1,4,12,12]" XQ_U8 W_PC("8,4,3,3", "8") YQ_U8
     " #v:i8[6,8,1,1](-127,127) #vs:f32[6](0.002,0.005) #vz:i8[6](0,0) #ts:f32[]={0.1} "
     "#tz:u8[]={3}",
     QCONV "->c){pads=[1,1,1,1]};MaxPool(c->p){kernel_shape=[2,2] strides=[2,2]};"
           "QLinearConv(p,ys,yz,v,vs,vz,ts,tz->y)",
     "y:u8"},

    /* ---- 8-bit ops only the CPU runs ---- */
    {"QuantizeLinear", "per tensor to uint8", 0, E, "x:f32[3,17] #s:f32[]={0.01} #z:u8[]={128}",
     "QuantizeLinear(x,s,z->y)", "y:u8"},
    {"QuantizeLinear", "per axis to int8", 0, E, "x:f32[2,4,5] #s:f32[4](0.005,0.02) #z:i8[4]",
     "QuantizeLinear(x,s,z->y){axis=1}", "y:i8"},
    {"DequantizeLinear", "per axis int8", 0, E, "x:i8[2,4,5] #s:f32[4](0.005,0.02) #z:i8[4]",
     "DequantizeLinear(x,s,z->y){axis=1}", "y:f32"},
    {"ConvInteger", "3x3 pad 1", 0, E, "x:u8[1,3,7,7] #w:u8[4,3,3,3] #xz:u8[]={128} #wz:u8[]={127}",
     "ConvInteger(x,w,xz,wz->y){pads=[1,1,1,1]}", "y:i32"},
    {"MatMulInteger", "[5,9]x[9,6]", 0, E, "x:u8[5,9] #w:i8[9,6] #xz:u8[]={3}",
     "MatMulInteger(x,w,xz->y)", "y:i32"},
};

const size_t ops_quant_count = sizeof(ops_quant_cases) / sizeof(ops_quant_cases[0]);
