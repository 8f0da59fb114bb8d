/* opcost.c - op work, roofline estimates and transfer costs (opcost.h). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cache.h"

#include "error.h"
#include "numa.h"
#include "opcost.h"
#include "opgeom.h"

static bool is(const lm_node *n, const char *op)
{
    return strcmp(n->op_type, op) == 0;
}

static double count(const loom_tensor *t)
{
    return t ? (double)lm_tensor_count(t) : 0;
}

/* Arithmetic per output element of elementwise ops that call a libm-class
 * function: a polynomial of some ten terms. */
#define TRANSCENDENTAL_FLOPS 10.0

static bool transcendental(const lm_node *n)
{
    static const char *const ops[] = {"Exp",  "Log",  "Tanh",     "Sigmoid", "Erf",
                                      "Gelu", "Mish", "Softplus", "Softmax", "LogSoftmax",
                                      "Pow",  "Sin",  "Cos",      "Sqrt",    "Reciprocal"};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (is(n, ops[i]))
            return true;
    return false;
}

/* Multiply-adds of a convolution's output (or, transposed, its input). */
static double conv_macs(const lm_node *n, loom_tensor *const *in, int w_index, bool transposed)
{
    lm_conv_geom g;
    const loom_tensor *x = in[0], *w = n->n_in > w_index ? in[w_index] : NULL;
    if (!x || !w)
        return 0;
    lm_error_quiet_begin(); /* a shape the estimate cannot read costs nothing extra */
    loom_status s = transposed ? lm_geom_conv_transpose(n, x, w, &g) : lm_geom_conv(n, x, w, &g);
    lm_error_quiet_end();
    if (s)
        return 0;
    double per = (double)g.kdim;
    return transposed ? count(x) * (double)g.Mg * (double)g.win.k_size
                      : g.N * g.M * (double)g.win.out_size * per;
}

/* Multiply-adds of a matrix product whose output is @y and depth is @a's last dim. */
static double matmul_macs(const loom_tensor *a, const loom_tensor *y, bool trans_a)
{
    if (!a || !y || a->rank < 1)
        return 0;
    double k = (double)a->dims[trans_a && a->rank >= 2 ? a->rank - 2 : a->rank - 1];
    return count(y) * k;
}

static double flops_of(const lm_node *n, loom_tensor *const *in, loom_tensor *const *out,
                       bool *int8)
{
    const loom_tensor *y = out[0];
    if (is(n, "Conv"))
        return 2 * conv_macs(n, in, 1, false);
    if (is(n, "ConvTranspose"))
        return 2 * conv_macs(n, in, 1, true);
    if (is(n, "QLinearConv") || is(n, "ConvInteger"))
        return *int8 = true, 2 * conv_macs(n, in, is(n, "QLinearConv") ? 3 : 1, false);
    if (is(n, "Gemm"))
        return 2 * matmul_macs(in[0], y, lm_node_attr_int(n, "transA", 0) != 0);
    if (is(n, "MatMul") || is(n, "FusedMatMul"))
        return 2 * matmul_macs(in[0], y, false);
    if (is(n, "QLinearMatMul") || is(n, "MatMulInteger"))
        return *int8 = true, 2 * matmul_macs(in[0], y, false);
    if (strstr(n->op_type, "Pool") && !strstr(n->op_type, "Global")) {
        const lm_attr *k = lm_node_attr(n, "kernel_shape");
        double taps = 1;
        for (int i = 0; k && i < k->n; i++)
            taps *= (double)k->ints[i];
        return count(y) * taps;
    }
    if (strstr(n->op_type, "Global") || strstr(n->op_type, "Reduce"))
        return count(in[0]);
    if (transcendental(n))
        return TRANSCENDENTAL_FLOPS * count(y);
    return count(y);
}

lm_op_work lm_op_work_of(const lm_node *n, loom_tensor *const *in, loom_tensor *const *out)
{
    lm_op_work w = {0};
    for (int i = 0; i < n->n_in; i++)
        if (in[i])
            w.bytes += (double)in[i]->nbytes;
    for (int o = 0; o < n->n_out; o++)
        if (out[o])
            w.bytes += (double)out[o]->nbytes;
    if (n->n_out > 0 && out[0])
        w.flops = flops_of(n, in, out, &w.int8);
    return w;
}

/* FNV-1a over @len bytes. */
static uint64_t hash(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t hash_attrs(const lm_node *n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int a = 0; a < n->n_attr; a++) {
        const lm_attr *at = &n->attr[a];
        h = hash(h, at->name, strlen(at->name));
        h = hash(h, &at->i, sizeof(at->i));
        h = hash(h, &at->f, sizeof(at->f));
        if (at->s)
            h = hash(h, at->s, strlen(at->s));
        if (at->ints)
            h = hash(h, at->ints, sizeof(int64_t) * (size_t)at->n);
        if (at->floats)
            h = hash(h, at->floats, sizeof(float) * (size_t)at->n);
    }
    return h;
}

/* The measured-cost key: device identity, op, input types and shapes,
 * attributes. A device's identity is what it is (description and driver),
 * not its index, so another process with the same hardware shares it. */
static void cost_key(const lm_device *dev, const lm_node *n, loom_tensor *const *in, char *buf,
                     size_t len)
{
    uint64_t h = hash_attrs(n);
    for (int i = 0; i < n->n_in; i++) {
        int64_t sig[LOOM_MAX_RANK + 2] = {in[i] ? (int64_t)in[i]->dtype : -1,
                                          in[i] ? in[i]->rank : -1};
        for (int d = 0; in[i] && d < in[i]->rank; d++)
            sig[d + 2] = in[i]->dims[d];
        h = hash(h, sig, sizeof(int64_t) * (size_t)(2 + (in[i] ? in[i]->rank : 0)));
    }
    uint64_t who =
        hash(hash(0xcbf29ce484222325ull, dev->props.description, strlen(dev->props.description)),
             dev->props.driver, strlen(dev->props.driver));
    snprintf(buf, len, "op|%016llx|%.40s|%.40s|%016llx", (unsigned long long)who, n->domain,
             n->op_type, (unsigned long long)h);
}

void lm_cost_measured(const lm_device *dev, const lm_node *n, loom_tensor *const *in, double us)
{
    char key[160];
    cost_key(dev, n, in, key, sizeof(key));
    lm_cost_cache_set(key, us);
}

double lm_cost_estimate_us(lm_device *dev, const lm_node *n, loom_tensor *const *in,
                           loom_tensor *const *out)
{
    char key[160];
    double measured;
    cost_key(dev, n, in, key, sizeof(key));
    if (lm_cost_cache_get(key, &measured) && measured >= 0)
        return measured;
    if (dev->ops->cost) {
        double us = dev->ops->cost(dev, n, in);
        if (us >= 0)
            return us;
    }
    const lm_device_props *p = &dev->props;
    lm_op_work w = lm_op_work_of(n, in, out);
    double gflops = w.int8 && p->peak_int8_gops > 0 ? p->peak_int8_gops : p->peak_gflops;
    if (gflops <= 0 || p->mem_gbps <= 0)
        return -1;
    double compute = w.flops / (gflops * 1e3), memory = w.bytes / (p->mem_gbps * 1e3);
    return p->op_us + (compute > memory ? compute : memory);
}

/* One hop between @dev and the host; the host (NULL, or a host-kernel
 * device) is free. */
static double hop_us(const lm_device *dev, double gbps, int host_node, size_t bytes)
{
    if (!dev || lm_device_runs_host_kernels(dev))
        return 0;
    if (dev->props.flags & LM_DEVICE_HOST_MEMORY) /* bound in place, not copied */
        return dev->props.launch_us;
    if (gbps <= 0)
        gbps = LM_DEFAULT_LINK_GBPS;
    /* DMA to memory on another socket crosses the inter-socket link too:
     * priced as hwloc's latency ratio between the nodes (1.0 when local). */
    double factor = lm_numa_transfer_factor(host_node, dev->props.numa_node);
    return dev->props.launch_us + (double)bytes * factor / (gbps * 1e3);
}

double lm_transfer_node_us(const lm_device *from, const lm_device *to, int host_node, size_t bytes)
{
    if (from == to)
        return 0;
    return hop_us(from, from ? from->props.d2h_gbps : 0, host_node, bytes) +
           hop_us(to, to ? to->props.h2d_gbps : 0, host_node, bytes);
}

double lm_transfer_us(const lm_device *from, const lm_device *to, size_t bytes)
{
    return lm_transfer_node_us(from, to, -1, bytes);
}
