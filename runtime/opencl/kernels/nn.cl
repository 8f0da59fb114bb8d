/* nn.cl - convolution helpers, pooling, normalization, softmax, reductions and
 * resize. All tensors are NCHW store_t (see common.cl); 1-D cases run as H = 1. */

/* Conv geometry packed in one int array (see upload_conv_geo in ops_conv.c):
 * C, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw, groups, Co. */
#define G_C  g[0]
#define G_H  g[1]
#define G_W  g[2]
#define G_HO g[3]
#define G_WO g[4]
#define G_KH g[5]
#define G_KW g[6]
#define G_SH g[7]
#define G_SW g[8]
#define G_PH g[9]
#define G_PW g[10]
#define G_DH g[11]
#define G_DW g[12]
#define G_GR g[13]
#define G_CO g[14]

/* One image's columns: col[(c*kh + i)*kw + j][oh*Wo + ow]. */
__kernel void im2col(__global const store_t *x, const int x_off, __global store_t *col,
                         __constant const int *g)
{
    int p = get_global_id(0), r = get_global_id(1);
    int P = G_HO * G_WO;
    if (p >= P || r >= G_C * G_KH * G_KW)
        return;
    int j = r % G_KW, t = r / G_KW, i = t % G_KH, c = t / G_KH;
    int oh = p / G_WO, ow = p - oh * G_WO;
    int ih = oh * G_SH - G_PH + i * G_DH, iw = ow * G_SW - G_PW + j * G_DW;
    float v = 0.0f;
    if (ih >= 0 && ih < G_H && iw >= 0 && iw < G_W)
        v = LD(x, x_off + (c * G_H + ih) * G_W + iw);
    ST(col, r * P + p, v);
}

/* Direct convolution, one output element per work-item: for depthwise and
 * other convolutions with few input channels per group. */
__kernel void conv_direct(__global const store_t *x, __global const store_t *w,
                          __global const store_t *bias, const int has_bias, __global store_t *y,
                          const int n, __constant const int *g, const int act, const float aa,
                          const float ab)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int ow = i % G_WO, t = i / G_WO, oh = t % G_HO;
    t /= G_HO;
    int co = t % G_CO, b = t / G_CO;
    int cig = G_C / G_GR, cog = G_CO / G_GR, grp = co / cog;
    float acc = has_bias ? LD(bias, co) : 0.0f;
    for (int ci = 0; ci < cig; ci++) {
        __global const store_t *xc = x + (b * G_C + grp * cig + ci) * G_H * G_W;
        __global const store_t *wc = w + (co * cig + ci) * G_KH * G_KW;
        for (int ki = 0; ki < G_KH; ki++) {
            int ih = oh * G_SH - G_PH + ki * G_DH;
            if (ih < 0 || ih >= G_H)
                continue;
            for (int kj = 0; kj < G_KW; kj++) {
                int iw = ow * G_SW - G_PW + kj * G_DW;
                if (iw >= 0 && iw < G_W)
                    acc += LD(xc, ih * G_W + iw) * LD(wc, ki * G_KW + kj);
            }
        }
    }
    ST(y, i, act_apply(acc, act, aa, ab));
}

/* Pool geometry: H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, peh, pew, dh, dw. */
#define P_H   g[0]
#define P_W   g[1]
#define P_HO  g[2]
#define P_WO  g[3]
#define P_KH  g[4]
#define P_KW  g[5]
#define P_SH  g[6]
#define P_SW  g[7]
#define P_PH  g[8]
#define P_PW  g[9]
#define P_PEH g[10]
#define P_PEW g[11]
#define P_DH  g[12]
#define P_DW  g[13]

/* @kind 0: max, 1: average, 2: average counting pads. */
__kernel void pool2d(__global const store_t *x, __global store_t *y, const int n,
                     __constant const int *g, const int kind)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int ow = i % P_WO, t = i / P_WO, oh = t % P_HO, nc = t / P_HO;
    __global const store_t *xc = x + nc * P_H * P_W;
    float acc = kind == 0 ? -INFINITY : 0.0f;
    int cnt = 0, padded_h = 0, padded_w = 0;
    for (int ki = 0; ki < P_KH; ki++) {
        int ih = oh * P_SH - P_PH + ki * P_DH;
        if (ih >= -P_PH && ih < P_H + P_PEH)
            padded_h++;
        if (ih < 0 || ih >= P_H)
            continue;
        for (int kj = 0; kj < P_KW; kj++) {
            int iw = ow * P_SW - P_PW + kj * P_DW;
            if (iw < 0 || iw >= P_W)
                continue;
            float v = LD(xc, ih * P_W + iw);
            if (kind == 0)
                acc = (v > acc || v != v) ? v : acc;
            else
                acc += v;
            cnt++;
        }
    }
    for (int kj = 0; kj < P_KW; kj++) {
        int iw = ow * P_SW - P_PW + kj * P_DW;
        if (iw >= -P_PW && iw < P_W + P_PEW)
            padded_w++;
    }
    if (kind == 2)
        cnt = padded_h * padded_w;
    if (kind != 0)
        acc = cnt > 0 ? acc / (float)cnt : 0.0f;
    ST(y, i, acc);
}

/* Global pooling and the reductions over one contiguous run: @kind 0 max,
 * 1 mean. One work-item per (n, c). */
__kernel void global_pool(__global const store_t *x, __global store_t *y, const int rows,
                          const int len, const int kind)
{
    int r = get_global_id(0);
    if (r >= rows)
        return;
    __global const store_t *xr = x + r * len;
    float acc = kind == 0 ? -INFINITY : 0.0f;
    for (int k = 0; k < len; k++) {
        float v = LD(xr, k);
        if (kind == 0)
            acc = (v > acc || v != v) ? v : acc;
        else
            acc += v;
    }
    ST(y, r, kind == 0 ? acc : acc / (float)len);
}

/* Softmax over axis of [outer, len, inner]; @log: LogSoftmax. */
__kernel void softmax(__global const store_t *x, __global store_t *y, const int outer,
                      const int len, const int inner, const int log_)
{
    int i = get_global_id(0);
    if (i >= outer * inner)
        return;
    int o = i / inner, in = i - o * inner;
    int base = o * len * inner + in;
    float m = -INFINITY;
    for (int k = 0; k < len; k++)
        m = fmax(m, LD(x, base + k * inner));
    float s = 0.0f;
    for (int k = 0; k < len; k++)
        s += exp(LD(x, base + k * inner) - m);
    for (int k = 0; k < len; k++) {
        float v = LD(x, base + k * inner) - m;
        ST(y, base + k * inner, log_ ? v - log(s) : exp(v) / s);
    }
}

#define RED_SUM        0
#define RED_MEAN       1
#define RED_MAX        2
#define RED_MIN        3
#define RED_PROD       4
#define RED_SUM_SQUARE 5
#define RED_L1         6
#define RED_L2         7
#define RED_LOG_SUM    8
#define RED_LOG_SUM_EXP 9

/* meta: nk, kept dims[nk], kept strides[nk], nr, red dims[nr], red strides[nr].
 * One work-item per output element; @count is the reduced element count. */
__kernel void reduce(__global const store_t *x, __global store_t *y, const int n,
                     __constant const int *meta, const int count, const int op)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int nk = meta[0];
    __constant const int *km = meta + 1;
    int nr = km[2 * nk];
    __constant const int *rm = km + 2 * nk + 1;
    int base = nk ? strided_offset(i, nk, km, km + nk) : 0;
    float acc = op == RED_MAX ? -INFINITY : (op == RED_MIN ? INFINITY : (op == RED_PROD ? 1.0f : 0.0f));
    float m = -INFINITY;
    if (op == RED_LOG_SUM_EXP)
        for (int r = 0; r < count; r++)
            m = fmax(m, LD(x, base + (nr ? strided_offset(r, nr, rm, rm + nr) : 0)));
    for (int r = 0; r < count; r++) {
        float v = LD(x, base + (nr ? strided_offset(r, nr, rm, rm + nr) : 0));
        switch (op) {
        case RED_MAX: acc = (v > acc || v != v) ? v : acc; break;
        case RED_MIN: acc = (v < acc || v != v) ? v : acc; break;
        case RED_PROD: acc *= v; break;
        case RED_SUM_SQUARE: case RED_L2: acc += v * v; break;
        case RED_L1: acc += fabs(v); break;
        case RED_LOG_SUM_EXP: acc += exp(v - m); break;
        default: acc += v; break;
        }
    }
    if (op == RED_MEAN)
        acc /= (float)count;
    else if (op == RED_L2)
        acc = sqrt(acc);
    else if (op == RED_LOG_SUM)
        acc = log(acc);
    else if (op == RED_LOG_SUM_EXP)
        acc = count ? m + log(acc) : log(acc);
    ST(y, i, acc);
}

/* Resize of the last two axes of [NC, H, W].
 * @coord: 0 half_pixel, 1 pytorch_half_pixel, 2 align_corners, 3 asymmetric,
 * 4 tf_half_pixel_for_nn. @mode: 0 nearest, 1 linear. @nearest: 0
 * round_prefer_floor, 1 round_prefer_ceil, 2 floor, 3 ceil. */
inline float resize_coord(int o, float scale, int in, int out, int coord)
{
    switch (coord) {
    case 0: return ((float)o + 0.5f) / scale - 0.5f;
    case 1: return out > 1 ? ((float)o + 0.5f) / scale - 0.5f : 0.0f;
    case 2: return out == 1 ? 0.0f : (float)o * (float)(in - 1) / (float)(out - 1);
    case 3: return (float)o / scale;
    default: return ((float)o + 0.5f) / scale;
    }
}

inline int resize_nearest(float c, int mode, int in)
{
    int r;
    switch (mode) {
    case 0: r = (c == floor(c) + 0.5f) ? (int)floor(c) : (int)round(c); break;
    case 1: r = (c == floor(c) + 0.5f) ? (int)ceil(c) : (int)round(c); break;
    case 2: r = (int)floor(c); break;
    default: r = (int)ceil(c); break;
    }
    return clamp(r, 0, in - 1);
}

__kernel void resize2d(__global const store_t *x, __global store_t *y, const int n,
                       const int H, const int W, const int Ho, const int Wo, const float sh,
                       const float sw, const int coord, const int mode, const int nearest)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int ow = i % Wo, t = i / Wo, oh = t % Ho, nc = t / Ho;
    __global const store_t *xc = x + nc * H * W;
    float ch = resize_coord(oh, sh, H, Ho, coord), cw = resize_coord(ow, sw, W, Wo, coord);
    if (mode == 0) {
        ST(y, i, LD(xc, resize_nearest(ch, nearest, H) * W + resize_nearest(cw, nearest, W)));
        return;
    }
    float fh = floor(ch), fw = floor(cw);
    float lh = ch - fh, lw = cw - fw;
    int h0 = clamp((int)fh, 0, H - 1), h1 = clamp((int)fh + 1, 0, H - 1);
    int w0 = clamp((int)fw, 0, W - 1), w1 = clamp((int)fw + 1, 0, W - 1);
    float top = LD(xc, h0 * W + w0) * (1.0f - lw) + LD(xc, h0 * W + w1) * lw;
    float bot = LD(xc, h1 * W + w0) * (1.0f - lw) + LD(xc, h1 * W + w1) * lw;
    ST(y, i, top * (1.0f - lh) + bot * lh);
}

/* ConvTranspose's scatter, done as a gather: the GEMM left one image's columns
 * col[(co*kh + i)*kw + j][ih*W + iw] (per group, Co here the group's output
 * channels times groups); each output pixel sums the taps that land on it.
 * The geometry is conv's with H, W the input and Ho, Wo the output extents. */
__kernel void col2im(__global const store_t *col, __global store_t *y, const int y_off,
                     __global const store_t *bias, const int has_bias, __constant const int *g,
                     const int act, const float aa, const float ab)
{
    int p = get_global_id(0), co = get_global_id(1);
    if (p >= G_HO * G_WO || co >= G_CO)
        return;
    int oh = p / G_WO, ow = p - oh * G_WO, P = G_H * G_W;
    float acc = has_bias ? LD(bias, co) : 0.0f;
    for (int i = 0; i < G_KH; i++) {
        int th = oh + G_PH - i * G_DH;
        if (th < 0 || th % G_SH)
            continue;
        int ih = th / G_SH;
        if (ih >= G_H)
            continue;
        for (int j = 0; j < G_KW; j++) {
            int tw = ow + G_PW - j * G_DW;
            if (tw < 0 || tw % G_SW)
                continue;
            int iw = tw / G_SW;
            if (iw < G_W)
                acc += LD(col, ((co * G_KH + i) * G_KW + j) * P + ih * G_W + iw);
        }
    }
    ST(y, y_off + co * G_HO * G_WO + p, act_apply(acc, act, aa, ab));
}

/* Sum of every work-item's @v over the work-group (a power of two), through
 * @part (one float per item); every item gets it. */
inline float group_sum(float v, __local float *part)
{
    int t = get_local_id(0), wg = get_local_size(0);
    part[t] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = wg / 2; h > 0; h /= 2) {
        if (t < h)
            part[t] += part[t + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float s = part[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* before anyone reuses part */
    return s;
}

/* Mean (x) and 1 / sqrt(variance + eps) (y) of row @xr, by the work-group:
 * two passes over the row, for accuracy. */
inline float2 row_stats(__global const store_t *xr, int len, float eps, __local float *part)
{
    int t = get_local_id(0), wg = get_local_size(0);
    float s = 0.0f;
    for (int k = t; k < len; k += wg)
        s += LD(xr, k);
    float mean = group_sum(s, part) / (float)len;
    float v = 0.0f;
    for (int k = t; k < len; k += wg) {
        float d = LD(xr, k) - mean;
        v += d * d;
    }
    return (float2)(mean, 1.0f / sqrt(group_sum(v, part) / (float)len + eps));
}

/* InstanceNormalization over [N*C, len]: one work-group per (n, c) row. */
__kernel void instancenorm(__global const store_t *x, __global store_t *y, const int C,
                           const int len, __global const store_t *scale,
                           __global const store_t *bias, const float eps,
                           __local float *part)
{
    int r = get_group_id(0), t = get_local_id(0), wg = get_local_size(0);
    float2 st = row_stats(x + r * len, len, eps, part);
    int c = r % C;
    float sc = LD(scale, c) * st.y, b = LD(bias, c);
    for (int k = t; k < len; k += wg)
        ST(y, r * len + k, (LD(x, r * len + k) - st.x) * sc + b);
}

/* LayerNormalization over [rows, len]: one work-group per row; @scale and
 * @bias (when @has_bias) have @len values. @stats bit 0: write the row's mean
 * to @mean, bit 1: its 1 / stddev to @inv. */
__kernel void layernorm(__global const store_t *x, __global store_t *y, const int len,
                        __global const store_t *scale, __global const store_t *bias,
                        const int has_bias, const float eps, __local float *part,
                        __global store_t *mean, __global store_t *inv, const int stats)
{
    int r = get_group_id(0), t = get_local_id(0), wg = get_local_size(0);
    float2 st = row_stats(x + r * len, len, eps, part);
    for (int k = t; k < len; k += wg)
        ST(y, r * len + k,
           (LD(x, r * len + k) - st.x) * st.y * LD(scale, k) + (has_bias ? LD(bias, k) : 0.0f));
    if (t == 0 && (stats & 1))
        ST(mean, r, st.x);
    if (t == 0 && (stats & 2))
        ST(inv, r, st.y);
}

/* ArgMax (@is_max) / ArgMin along the middle axis of [outer, len, inner],
 * int64 results. The first NaN wins, as numpy's. @last: on ties the last. */
__kernel void argext(__global const store_t *x, __global long *y, const int n, const int len,
                     const int inner, const int is_max, const int last)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int o = i / inner, in = i - o * inner, base = o * len * inner + in, best = 0;
    float bv = LD(x, base);
    for (int k = 1; k < len && bv == bv; k++) {
        float v = LD(x, base + k * inner);
        bool better = v != v || (is_max ? (last ? v >= bv : v > bv) : (last ? v <= bv : v < bv));
        if (better) {
            bv = v;
            best = k;
        }
    }
    y[i] = best;
}
