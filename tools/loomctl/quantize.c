/*
 * quantize.c - `loomctl quantize`: an fp32 ONNX model to a QDQ int8 model.
 *
 *   loomctl quantize MODEL --calibrate DIR -o OUT
 *                    [--method minmax|percentile|entropy] [--percentile P]
 *
 * What is quantized: every Conv with a constant 4-D weight and every MatMul
 * with a constant 2-D weight. Weights become int8, symmetric, one scale per
 * output channel (Conv: axis 0, MatMul: axis 1); a Conv bias becomes int32 on
 * the scale x_scale * w_scale[c]. Activations (the operator's input, and its
 * output or, when a Relu is its only reader, the Relu's output) become uint8
 * with a scale and zero point from calibration:
 *   minmax      the range of every value seen
 *   percentile  the P-th and (100-P)-th percentiles (default 99.99), which
 *               ignores rare outliers
 *   entropy     for non-negative activations, the upper end that minimizes
 *               the KL divergence between the clipped and the quantized
 *               histogram (TensorRT's calibrator); signed ones as minmax
 * Both ranges are widened to include 0, so that zero (padding, ReLU) is exact.
 *
 * The result is the QDQ form ONNX Runtime's quantizer writes: a tensor T
 * is followed by one QuantizeLinear and each reader gets its own
 * DequantizeLinear. Loom's loader (runtime/core/fuse_qdq.c) turns each
 * DQ -> Conv [-> Relu] -> Q back into QLinearConv [+ Max], which the card runs.
 *
 * Calibration: DIR holds .npy or .pb files, each one whole input of the model
 * (any batch size), read in name order. The model is run on the CPU with every
 * activation to be quantized exposed as an extra output.
 */
#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tensor_io.h"
#include "loomctl.h"
#include "onnx/onnx.pb-c.h"

#define MAX_SAMPLES (4u << 20) /* values kept per tensor for percentiles */

typedef struct act {
    char *name;     /* the float tensor */
    bool is_output; /* a graph output */
    float lo, hi;   /* seen range */
    float *samples; /* strided sample for percentiles */
    size_t n_samples, cap;
    uint64_t seen;
    float scale;
    uint8_t zp;
} act;

typedef struct qz {
    Onnx__ModelProto *m;
    Onnx__GraphProto *g;
    int n_act;
    act *acts;
    bool *quant_node; /* per node: Conv/MatMul we quantize */
    const char *method;
    double percentile;
} qz;

static int qfail(const char *fmt, const char *arg)
{
    fprintf(stderr, "loomctl quantize: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return 1;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "loomctl quantize: out of memory\n");
        exit(1);
    }
    return p;
}

static char *cat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = xcalloc(la + lb + 1, 1);
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    return s;
}

/* ------------------------------------------------------------ graph lookups */

static Onnx__TensorProto *initializer(const qz *q, const char *name)
{
    for (size_t i = 0; i < q->g->n_initializer; i++)
        if (strcmp(q->g->initializer[i]->name, name) == 0)
            return q->g->initializer[i];
    return NULL;
}

/* An initializer by name, also through an Identity (PyTorch's exporter
 * writes shared weights as Identity(initializer)). */
static Onnx__TensorProto *weight(const qz *q, const char *name)
{
    Onnx__TensorProto *t = initializer(q, name);
    for (size_t i = 0; !t && i < q->g->n_node; i++) {
        Onnx__NodeProto *n = q->g->node[i];
        if (strcmp(n->op_type, "Identity") == 0 && n->n_input == 1 && n->n_output == 1 &&
            strcmp(n->output[0], name) == 0)
            t = initializer(q, n->input[0]);
    }
    return t;
}

static int consumers(const qz *q, const char *name, int *only)
{
    int n = 0;
    for (size_t i = 0; i < q->g->n_node; i++)
        for (size_t k = 0; k < q->g->node[i]->n_input; k++)
            if (strcmp(q->g->node[i]->input[k], name) == 0) {
                n++;
                *only = (int)i;
            }
    return n;
}

static bool is_graph_output(const qz *q, const char *name)
{
    for (size_t i = 0; i < q->g->n_output; i++)
        if (strcmp(q->g->output[i]->name, name) == 0)
            return true;
    return false;
}

static int act_index(const qz *q, const char *name)
{
    for (int i = 0; i < q->n_act; i++)
        if (strcmp(q->acts[i].name, name) == 0)
            return i;
    return -1;
}

static void add_act(qz *q, const char *name)
{
    if (act_index(q, name) >= 0)
        return;
    q->acts = realloc(q->acts, sizeof(act) * (size_t)(q->n_act + 1));
    if (!q->acts)
        exit(1);
    act *a = &q->acts[q->n_act++];
    memset(a, 0, sizeof(*a));
    a->name = strdup(name);
    a->is_output = is_graph_output(q, name);
    a->lo = INFINITY;
    a->hi = -INFINITY;
}

/* Float data of an initializer (raw_data or float_data), count in *n. */
static const float *float_data(const Onnx__TensorProto *t, size_t *n)
{
    if (t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return NULL;
    size_t count = 1;
    for (size_t i = 0; i < t->n_dims; i++)
        count *= (size_t)t->dims[i];
    *n = count;
    if (t->has_raw_data && t->raw_data.len == count * sizeof(float))
        return (const float *)t->raw_data.data;
    if (t->n_float_data == count)
        return t->float_data;
    return NULL;
}

/* The tensor a quantized node's output quantizer reads: the Relu's output if
 * a Relu is the only reader, else the node's own output. */
static const char *quantized_output(const qz *q, const Onnx__NodeProto *n)
{
    int only = -1;
    if (!is_graph_output(q, n->output[0]) && consumers(q, n->output[0], &only) == 1 &&
        strcmp(q->g->node[only]->op_type, "Relu") == 0)
        return q->g->node[only]->output[0];
    return n->output[0];
}

static void choose(qz *q)
{
    q->quant_node = xcalloc(q->g->n_node, sizeof(bool));
    for (size_t i = 0; i < q->g->n_node; i++) {
        Onnx__NodeProto *n = q->g->node[i];
        if (n->domain && n->domain[0])
            continue;
        bool conv = strcmp(n->op_type, "Conv") == 0, mm = strcmp(n->op_type, "MatMul") == 0;
        if ((!conv && !mm) || n->n_input < 2 || n->n_output < 1)
            continue;
        Onnx__TensorProto *w = weight(q, n->input[1]);
        size_t cnt;
        if (!w || !float_data(w, &cnt) || w->n_dims != (conv ? 4u : 2u) || weight(q, n->input[0]))
            continue;
        if (conv && n->n_input > 2 && n->input[2][0]) {
            Onnx__TensorProto *b = weight(q, n->input[2]);
            if (!b || !float_data(b, &cnt))
                continue;
        }
        q->quant_node[i] = true;
        add_act(q, n->input[0]);
        add_act(q, quantized_output(q, n));
    }
}

/* ------------------------------------------------------------ calibration */

static void observe(act *a, const float *v, size_t n)
{
    size_t stride = 1 + (size_t)((a->seen + n) / MAX_SAMPLES);
    for (size_t i = 0; i < n; i++) {
        float x = v[i];
        if (x < a->lo)
            a->lo = x;
        if (x > a->hi)
            a->hi = x;
        if ((a->seen + i) % stride == 0) {
            if (a->n_samples == a->cap) {
                a->cap = a->cap ? 2 * a->cap : 65536;
                a->samples = realloc(a->samples, sizeof(float) * a->cap);
                if (!a->samples)
                    exit(1);
            }
            a->samples[a->n_samples++] = x;
        }
    }
    a->seen += n;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/*
 * The entropy (KL divergence) threshold of TensorRT's calibrator for the
 * positive side: a 2048-bin histogram of the samples in [0, hi]; for each
 * candidate clip i (255..2048 bins) compare the clipped distribution P (the
 * tail folded into its last bin) with Q, P's first i bins merged into 255
 * levels and spread back over their non-empty bins; the i with the least
 * KL(P || Q) sets the range.
 */
static float entropy_threshold(const float *v, size_t n, float hi)
{
    enum { BINS = 2048, LEVELS = 255 };
    static double hist[BINS], p[BINS], q[BINS];
    if (!(hi > 0))
        return hi;
    memset(hist, 0, sizeof(hist));
    for (size_t k = 0; k < n; k++)
        if (v[k] > 0) { /* ReLU's zeros would dominate bin 0 */
            int b = (int)((double)v[k] / hi * BINS);
            hist[b < BINS ? b : BINS - 1] += 1;
        }
    double best_kl = INFINITY;
    int best = BINS;
    for (int i = LEVELS; i <= BINS; i++) {
        double tail = 0, psum = 0, qsum = 0;
        for (int b = i; b < BINS; b++)
            tail += hist[b];
        for (int b = 0; b < i; b++)
            p[b] = hist[b] + (b == i - 1 ? tail : 0);
        for (int j = 0; j < LEVELS; j++) {
            int b0 = (int)((long)j * i / LEVELS), b1 = (int)((long)(j + 1) * i / LEVELS);
            double total = 0;
            int nonzero = 0;
            for (int b = b0; b < b1; b++) {
                total += hist[b];
                nonzero += hist[b] != 0;
            }
            for (int b = b0; b < b1; b++)
                q[b] = hist[b] != 0 ? total / nonzero : 0;
        }
        for (int b = 0; b < i; b++) {
            psum += p[b];
            qsum += q[b];
        }
        if (psum <= 0 || qsum <= 0)
            continue;
        double kl = 0;
        for (int b = 0; b < i; b++)
            if (p[b] > 0)
                kl += p[b] / psum * log((p[b] / psum) / (q[b] > 0 ? q[b] / qsum : 1e-12));
        if (kl < best_kl) {
            best_kl = kl;
            best = i;
        }
    }
    return (float)((double)best / BINS * hi);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs the calibration inputs through the model with the activations exposed. */
static int calibrate(qz *q, const char *dir)
{
    /* Every activation as an extra output (float, shape left to inference). */
    Onnx__GraphProto *g = q->g;
    size_t n_out0 = g->n_output;
    Onnx__ValueInfoProto **outs = xcalloc(n_out0 + (size_t)q->n_act, sizeof(*outs));
    memcpy(outs, g->output, sizeof(*outs) * n_out0);
    size_t n_out = n_out0;
    int *act_of_out = xcalloc(n_out0 + (size_t)q->n_act, sizeof(int));
    for (size_t i = 0; i < n_out0; i++)
        act_of_out[i] = act_index(q, g->output[i]->name);
    for (int a = 0; a < q->n_act; a++) {
        if (q->acts[a].is_output)
            continue;
        Onnx__ValueInfoProto *vi = xcalloc(1, sizeof(*vi));
        onnx__value_info_proto__init(vi);
        Onnx__TypeProto *tp = xcalloc(1, sizeof(*tp));
        onnx__type_proto__init(tp);
        Onnx__TypeProto__Tensor *tt = xcalloc(1, sizeof(*tt));
        onnx__type_proto__tensor__init(tt);
        tt->has_elem_type = 1;
        tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
        tp->tensor_type = tt;
        vi->name = q->acts[a].name;
        vi->type = tp;
        act_of_out[n_out] = a;
        outs[n_out++] = vi;
    }
    Onnx__ValueInfoProto **saved = g->output;
    g->output = outs;
    g->n_output = n_out;
    size_t len = onnx__model_proto__get_packed_size(q->m);
    uint8_t *buf = xcalloc(len, 1);
    onnx__model_proto__pack(q->m, buf);
    g->output = saved;
    g->n_output = n_out0;

    loom_context *ctx = NULL;
    loom_context_options opts;
    loomctl_context_options_init(&opts);
    opts.device = "cpu";
    loom_model *model = NULL;
    if (loom_context_create(&opts, &ctx) ||
        loom_model_load_memory(ctx, buf, len, "calibration", &model)) {
        fprintf(stderr, "loomctl quantize: calibration model: %s\n", loom_last_error());
        return 1;
    }
    free(buf);
    if (loom_model_input_count(model) != 1)
        return qfail("%s: calibration takes models with one input", "model");

    DIR *d = opendir(dir);
    if (!d)
        return qfail("cannot open calibration directory '%s'", dir);
    char *names[4096];
    int nn = 0;
    struct dirent *de;
    while ((de = readdir(d)) && nn < 4096) {
        size_t l = strlen(de->d_name);
        if (l > 4 &&
            (strcmp(de->d_name + l - 4, ".npy") == 0 || strcmp(de->d_name + l - 3, ".pb") == 0))
            names[nn++] = strdup(de->d_name);
    }
    closedir(d);
    if (nn == 0)
        return qfail("no .npy or .pb files in '%s'", dir);
    qsort(names, (size_t)nn, sizeof(char *), cmp_name);
    loom_tensor **res = xcalloc(n_out, sizeof(*res));
    for (int f = 0; f < nn; f++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, names[f]);
        loom_tensor *in = NULL;
        if (tio_load(path, &in, NULL) || loom_model_run(model, &in, 1, res, n_out)) {
            fprintf(stderr, "loomctl quantize: %s: %s\n", path, loom_last_error());
            return 1;
        }
        for (size_t o = 0; o < n_out; o++) {
            if (act_of_out[o] >= 0 && loom_tensor_dtype(res[o]) == LOOM_DTYPE_FLOAT)
                observe(&q->acts[act_of_out[o]], loom_tensor_data(res[o]),
                        loom_tensor_size(res[o]) / sizeof(float));
            loom_tensor_destroy(res[o]);
        }
        loom_tensor_destroy(in);
        free(names[f]);
    }
    free(res);
    loom_model_destroy(model);
    loom_context_destroy(ctx);
    fprintf(stderr, "loomctl quantize: calibrated %d activations on %d files (%s)\n", q->n_act, nn,
            q->method);

    /* Ranges to uint8 scale and zero point. */
    for (int i = 0; i < q->n_act; i++) {
        act *a = &q->acts[i];
        float lo = a->lo, hi = a->hi;
        if (strcmp(q->method, "entropy") == 0 && a->n_samples > 0 && lo >= 0) {
            /* Only one-sided (post-ReLU) activations: clipping the top of a
             * signed tensor such as logits ties exactly the largest values. */
            hi = entropy_threshold(a->samples, a->n_samples, hi);
        } else if (strcmp(q->method, "percentile") == 0 && a->n_samples > 0) {
            qsort(a->samples, a->n_samples, sizeof(float), cmp_float);
            double p = q->percentile / 100.0;
            size_t ih = (size_t)(p * (double)(a->n_samples - 1) + 0.5);
            size_t il = (size_t)((1.0 - p) * (double)(a->n_samples - 1) + 0.5);
            lo = a->samples[il];
            hi = a->samples[ih];
        }
        if (!(lo <= hi)) /* never observed */
            lo = hi = 0;
        lo = lo < 0 ? lo : 0;
        hi = hi > 0 ? hi : 0;
        a->scale = (hi - lo) / 255.0f;
        if (!(a->scale > 0))
            a->scale = 1.0f;
        float zp = nearbyintf(-lo / a->scale);
        a->zp = (uint8_t)(zp < 0 ? 0 : zp > 255 ? 255 : zp);
        free(a->samples);
        a->samples = NULL;
    }
    return 0;
}

/* ------------------------------------------------------------ rewriting */

static Onnx__TensorProto *make_tensor(const char *name, int dtype, size_t n_dims,
                                      const int64_t *dims, const void *data, size_t bytes)
{
    Onnx__TensorProto *t = xcalloc(1, sizeof(*t));
    onnx__tensor_proto__init(t);
    t->name = strdup(name);
    t->has_data_type = 1;
    t->data_type = dtype;
    t->n_dims = n_dims;
    t->dims = xcalloc(n_dims, sizeof(int64_t));
    memcpy(t->dims, dims, sizeof(int64_t) * n_dims);
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = xcalloc(bytes, 1);
    memcpy(t->raw_data.data, data, bytes);
    return t;
}

static Onnx__NodeProto *make_node(const char *op, const char *name, const char *i0, const char *i1,
                                  const char *i2, const char *out, int axis)
{
    Onnx__NodeProto *n = xcalloc(1, sizeof(*n));
    onnx__node_proto__init(n);
    n->op_type = strdup(op);
    n->name = strdup(name);
    n->domain = strdup("");
    n->n_input = 3;
    n->input = xcalloc(3, sizeof(char *));
    n->input[0] = strdup(i0);
    n->input[1] = strdup(i1);
    n->input[2] = strdup(i2);
    n->n_output = 1;
    n->output = xcalloc(1, sizeof(char *));
    n->output[0] = strdup(out);
    if (axis >= 0) {
        Onnx__AttributeProto *a = xcalloc(1, sizeof(*a));
        onnx__attribute_proto__init(a);
        a->name = strdup("axis");
        a->has_type = 1;
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        a->has_i = 1;
        a->i = axis;
        n->n_attribute = 1;
        n->attribute = xcalloc(1, sizeof(*n->attribute));
        n->attribute[0] = a;
    }
    return n;
}

typedef struct out_list {
    Onnx__NodeProto **nodes;
    size_t n, cap;
    Onnx__TensorProto **inits;
    size_t n_init, cap_init;
} out_list;

static void push_node(out_list *o, Onnx__NodeProto *n)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 64;
        o->nodes = realloc(o->nodes, sizeof(*o->nodes) * o->cap);
        if (!o->nodes)
            exit(1);
    }
    o->nodes[o->n++] = n;
}

static void push_init(out_list *o, Onnx__TensorProto *t)
{
    if (o->n_init == o->cap_init) {
        o->cap_init = o->cap_init ? 2 * o->cap_init : 64;
        o->inits = realloc(o->inits, sizeof(*o->inits) * o->cap_init);
        if (!o->inits)
            exit(1);
    }
    o->inits[o->n_init++] = t;
}

/* Q(name) -> name_q with the activation's scale and zero point. */
static void emit_quantize(out_list *o, const act *a, const char *src)
{
    char *q = cat(a->name, "_q"), *s = cat(a->name, "_scale"), *z = cat(a->name, "_zp");
    char *nm = cat(a->name, "_QuantizeLinear");
    push_init(o, make_tensor(s, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL, &a->scale, 4));
    push_init(o, make_tensor(z, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 0, NULL, &a->zp, 1));
    push_node(o, make_node("QuantizeLinear", nm, src, s, z, q, -1));
    free(q), free(s), free(z), free(nm);
}

/* DQ(name_q) -> @dst. */
static void emit_dequantize(out_list *o, const act *a, const char *dst)
{
    char *q = cat(a->name, "_q"), *s = cat(a->name, "_scale"), *z = cat(a->name, "_zp");
    char *nm = cat(dst, "_DequantizeLinear");
    push_node(o, make_node("DequantizeLinear", nm, q, s, z, dst, -1));
    free(q), free(s), free(z), free(nm);
}

/* Quantizes weight (and bias) of node @n into initializers and DQ nodes. */
static void quantize_weights(qz *q, out_list *o, Onnx__NodeProto *n)
{
    bool conv = strcmp(n->op_type, "Conv") == 0;
    Onnx__TensorProto *w = weight(q, n->input[1]);
    size_t count;
    const float *wf = float_data(w, &count);
    int axis = conv ? 0 : 1;
    int64_t channels = w->dims[axis];
    float *scale = xcalloc((size_t)channels, sizeof(float));
    int8_t *wq = xcalloc(count, 1), *zp = xcalloc((size_t)channels, 1);
    /* element e belongs to channel (conv) e / inner, (matmul) e % N */
    size_t inner = count / (size_t)channels;
    for (size_t e = 0; e < count; e++) {
        size_t c = conv ? e / inner : e % (size_t)channels;
        float v = fabsf(wf[e]);
        if (v > scale[c])
            scale[c] = v;
    }
    for (int64_t c = 0; c < channels; c++)
        scale[c] = scale[c] > 0 ? scale[c] / 127.0f : 1.0f;
    for (size_t e = 0; e < count; e++) {
        size_t c = conv ? e / inner : e % (size_t)channels;
        float v = nearbyintf(wf[e] / scale[c]);
        wq[e] = (int8_t)(v < -127 ? -127 : v > 127 ? 127 : v);
    }
    char *wn = cat(n->input[1], "_quantized"), *ws = cat(n->input[1], "_scale");
    char *wz = cat(n->input[1], "_zero_point"), *wd = cat(n->input[1], "_dequantized");
    char *nm = cat(n->input[1], "_DequantizeLinear");
    push_init(o,
              make_tensor(wn, ONNX__TENSOR_PROTO__DATA_TYPE__INT8, w->n_dims, w->dims, wq, count));
    push_init(o, make_tensor(ws, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, &channels, scale,
                             sizeof(float) * (size_t)channels));
    push_init(o, make_tensor(wz, ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 1, &channels, zp,
                             (size_t)channels));
    push_node(o, make_node("DequantizeLinear", nm, wn, ws, wz, wd, axis));
    free(n->input[1]);
    n->input[1] = wd;
    free(wn), free(ws), free(wz), free(nm);

    if (conv && n->n_input > 2 && n->input[2][0]) {
        /* int32 bias on x_scale * w_scale[c], the scale fuse_qdq expects */
        const act *xa = &q->acts[act_index(q, n->input[0])];
        Onnx__TensorProto *b = weight(q, n->input[2]);
        size_t nb;
        const float *bf = float_data(b, &nb);
        float *bs = xcalloc(nb, sizeof(float));
        int32_t *bq = xcalloc(nb, sizeof(int32_t));
        for (size_t c = 0; c < nb && c < (size_t)channels; c++) {
            bs[c] = xa->scale * scale[c];
            double v = nearbyint((double)bf[c] / (double)bs[c]);
            bq[c] = (int32_t)(v < -2147483647.0  ? -2147483647.0
                              : v > 2147483647.0 ? 2147483647.0
                                                 : v);
        }
        int64_t nbd = (int64_t)nb;
        char *bn = cat(n->input[2], "_quantized"), *bsn = cat(n->input[2], "_scale");
        char *bz = cat(n->input[2], "_zero_point"), *bd = cat(n->input[2], "_dequantized");
        char *bnm = cat(n->input[2], "_DequantizeLinear");
        int32_t *zeros = xcalloc(nb, sizeof(int32_t));
        push_init(o, make_tensor(bn, ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, &nbd, bq, 4 * nb));
        push_init(o, make_tensor(bsn, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, &nbd, bs, 4 * nb));
        push_init(o, make_tensor(bz, ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, &nbd, zeros, 4 * nb));
        push_node(o, make_node("DequantizeLinear", bnm, bn, bsn, bz, bd, 0));
        free(n->input[2]);
        n->input[2] = bd;
        free(bs), free(bq), free(zeros), free(bn), free(bsn), free(bz), free(bnm);
    }
    free(scale), free(wq), free(zp);
}

static void rewrite(qz *q)
{
    out_list o = {0};
    Onnx__GraphProto *g = q->g;
    int dq_count = 0;
    /* Graph outputs that are quantized: the producer writes NAME_float, and
     * the output NAME becomes DQ(Q(NAME_float)). */
    for (int i = 0; i < q->n_act; i++) {
        act *a = &q->acts[i];
        if (!a->is_output)
            continue;
        char *f = cat(a->name, "_float");
        for (size_t k = 0; k < g->n_node; k++)
            for (size_t j = 0; j < g->node[k]->n_output; j++)
                if (strcmp(g->node[k]->output[j], a->name) == 0) {
                    free(g->node[k]->output[j]);
                    g->node[k]->output[j] = strdup(f);
                }
        free(f);
    }
    /* Quantizers of graph inputs first. */
    for (size_t i = 0; i < g->n_input; i++) {
        int a = act_index(q, g->input[i]->name);
        if (a >= 0)
            emit_quantize(&o, &q->acts[a], q->acts[a].name);
    }
    for (size_t k = 0; k < g->n_node; k++) {
        Onnx__NodeProto *n = g->node[k];
        if (q->quant_node[k]) /* before its input is renamed: the bias needs x's scale */
            quantize_weights(q, &o, n);
        /* Each quantized activation this node reads comes through its own DQ. */
        for (size_t i = 0; i < n->n_input; i++) {
            int a = act_index(q, n->input[i]);
            if (a < 0 || !n->input[i][0])
                continue;
            char dst[512];
            snprintf(dst, sizeof(dst), "%s_dq%d", n->input[i], dq_count++);
            emit_dequantize(&o, &q->acts[a], dst);
            free(n->input[i]);
            n->input[i] = strdup(dst);
        }
        push_node(&o, n);
        for (size_t j = 0; j < n->n_output; j++) {
            const char *out = n->output[j];
            size_t lo = strlen(out);
            char base[512];
            snprintf(base, sizeof(base), "%s", out);
            if (lo > 6 && strcmp(out + lo - 6, "_float") == 0)
                base[lo - 6] = 0;
            int a = act_index(q, base);
            if (a < 0)
                continue;
            emit_quantize(&o, &q->acts[a], out);
            if (q->acts[a].is_output)
                emit_dequantize(&o, &q->acts[a], q->acts[a].name);
        }
    }
    /* Identity nodes left without readers (they fed the float weights) go. */
    size_t kept = 0;
    for (size_t k = 0; k < o.n; k++) {
        Onnx__NodeProto *n = o.nodes[k];
        bool read = strcmp(n->op_type, "Identity") != 0 || is_graph_output(q, n->output[0]);
        for (size_t j = 0; j < o.n && !read; j++)
            for (size_t i = 0; i < o.nodes[j]->n_input; i++)
                if (strcmp(o.nodes[j]->input[i], n->output[0]) == 0)
                    read = true;
        if (read)
            o.nodes[kept++] = n;
    }
    o.n = kept;
    /* Initializers: drop the float weights no node reads any more. */
    for (size_t i = 0; i < g->n_initializer; i++) {
        bool used = false;
        for (size_t k = 0; k < o.n && !used; k++)
            for (size_t j = 0; j < o.nodes[k]->n_input; j++)
                if (strcmp(o.nodes[k]->input[j], g->initializer[i]->name) == 0)
                    used = true;
        if (used)
            push_init(&o, g->initializer[i]);
    }
    /* Graph inputs listing dropped initializers (IR < 4) go too. */
    size_t ni = 0;
    for (size_t i = 0; i < g->n_input; i++) {
        bool dropped = false;
        for (size_t j = 0; j < g->n_initializer; j++)
            if (strcmp(g->initializer[j]->name, g->input[i]->name) == 0) {
                dropped = true;
                for (size_t k = 0; k < o.n_init; k++)
                    if (o.inits[k] == g->initializer[j])
                        dropped = false;
            }
        if (!dropped)
            g->input[ni++] = g->input[i];
    }
    g->n_input = ni;
    g->node = o.nodes;
    g->n_node = o.n;
    g->initializer = o.inits;
    g->n_initializer = o.n_init;
}

int loomctl_quantize(int argc, char **argv)
{
    const char *model = NULL, *dir = NULL, *out = NULL;
    qz q = {.method = "minmax", .percentile = 99.99};
    for (int i = 0; i < argc; i++) {
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--calibrate") == 0 && val)
            dir = argv[++i];
        else if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && val)
            out = argv[++i];
        else if (strcmp(argv[i], "--method") == 0 && val)
            q.method = argv[++i];
        else if (strcmp(argv[i], "--percentile") == 0 && val)
            q.percentile = strtod(argv[++i], NULL);
        else if (argv[i][0] != '-' && !model)
            model = argv[i];
        else
            return qfail("unexpected argument '%s' (see loomctl help)", argv[i]);
    }
    if (!model || !dir || !out)
        return qfail("%s", "usage: loomctl quantize MODEL --calibrate DIR -o OUT "
                           "[--method minmax|percentile|entropy] [--percentile P]");
    if (strcmp(q.method, "minmax") != 0 && strcmp(q.method, "percentile") != 0 &&
        strcmp(q.method, "entropy") != 0)
        return qfail("unknown --method '%s' (minmax, percentile, entropy)", q.method);
    if (!(q.percentile > 50 && q.percentile <= 100))
        return qfail("%s", "--percentile takes a value in (50, 100]");
    void *data;
    size_t size;
    if (tio_read_file(model, &data, &size))
        return qfail("cannot read '%s'", model);
    q.m = onnx__model_proto__unpack(NULL, size, data);
    if (!q.m || !q.m->graph)
        return qfail("'%s' is not an ONNX model", model);
    q.g = q.m->graph;
    for (size_t i = 0; i < q.m->n_opset_import; i++) {
        Onnx__OperatorSetIdProto *op = q.m->opset_import[i];
        if ((!op->domain || !op->domain[0]) && op->version < 13)
            op->version = 13; /* per-axis QuantizeLinear/DequantizeLinear */
    }
    choose(&q);
    if (q.n_act == 0)
        return qfail("%s: no Conv or MatMul with constant weights to quantize", model);
    if (calibrate(&q, dir))
        return 1;
    int nq = 0;
    for (size_t i = 0; i < q.g->n_node; i++)
        nq += q.quant_node[i];
    rewrite(&q);
    size_t len = onnx__model_proto__get_packed_size(q.m);
    uint8_t *buf = xcalloc(len, 1);
    onnx__model_proto__pack(q.m, buf);
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f))
        return qfail("cannot write '%s'", out);
    printf("quantized %d operators (%d activations, %s) into %s\n", nq, q.n_act, q.method, out);
    /* The tool exits now: the model's mixed allocations are left to the OS. */
    free(buf);
    return 0;
}
