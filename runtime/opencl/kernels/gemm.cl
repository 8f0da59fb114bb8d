/* gemm.cl - C = act(alpha * A B + beta * bias), row-major, batched over
 * get_group_id(2). Tiled in local memory (TSM x TSK of A, TSK x TSN of B) with
 * register blocking: each work-item computes WPTM x WPTN outputs, strided by
 * the work-group's extent so that neighbouring work-items touch neighbouring
 * columns (coalesced on GPUs, vectorizable by PoCL on CPUs). Tiles are loaded
 * VW elements at a time (vloadN: float4 loads on GPUs), falling back to
 * scalar loads at the matrix edges. A, B and C are store_t (see common.cl);
 * the tiles and accumulators are float. The tile sizes come from -D at build
 * time, chosen per device by the tuner in tune.c. */

#ifndef TSM
#define TSM 32
#define TSN 32
#define TSK 16
#define WPTM 4
#define WPTN 4
#endif
#ifndef VW
#define VW 1
#endif

#define RTSM (TSM / WPTM)
#define RTSN (TSN / WPTN)
#define NTHREADS (RTSM * RTSN)
#define LPTA ((TSK * TSM) / (VW * NTHREADS))
#define LPTB ((TSK * TSN) / (VW * NTHREADS))

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#if VW > 1
#define VEC CAT(float, VW)
#ifdef LM_HALF
#define VLOAD(p) CAT(vload_half, VW)(0, (p))
#else
#define VLOAD(p) CAT(vload, VW)(0, (p))
#endif
#endif

/* VW consecutive elements of row @row (elements @col.. of @ncols) into @out;
 * zeros past the matrix. */
inline void load_run(__global const store_t *p, int row, int nrows, int col, int ncols, int ld,
                     float *out)
{
#if VW > 1
    if (row < nrows && col + VW <= ncols) {
        CAT(vstore, VW)(VLOAD(p + row * ld + col), 0, out);
        return;
    }
#endif
    for (int j = 0; j < VW; j++)
        out[j] = (row < nrows && col + j < ncols) ? LD(p, row * ld + col + j) : 0.0f;
}

__kernel __attribute__((reqd_work_group_size(RTSN, RTSM, 1))) void
gemm(const int M, const int N, const int K, __global const store_t *A, const int a_off,
     const int lda, const int a_bs, __global const store_t *B, const int b_off, const int ldb,
     const int b_bs, __global store_t *C, const int c_off, const int ldc, const int c_bs,
     __global const store_t *bias, const int bias_off, const int bsm, const int bsn,
     const int bias_bs, const float alpha, const float beta, const int act, const float aa,
     const float ab)
{
    const int tidn = get_local_id(0), tidm = get_local_id(1);
    const int n0 = get_group_id(0) * TSN, m0 = get_group_id(1) * TSM;
    const int batch = get_group_id(2);
    const int tid = tidm * RTSN + tidn;
    A += a_off + batch * a_bs;
    B += b_off + batch * b_bs;
    C += c_off + batch * c_bs;
    __local float As[TSK][TSM];
    __local float Bs[TSK][TSN];
    float acc[WPTM][WPTN];
    for (int wm = 0; wm < WPTM; wm++)
        for (int wn = 0; wn < WPTN; wn++)
            acc[wm][wn] = 0.0f;
    for (int k0 = 0; k0 < K; k0 += TSK) {
        for (int l = 0; l < LPTA; l++) { /* A: VW consecutive k of one row */
            int idx = tid + l * NTHREADS;
            int mm = idx / (TSK / VW), kk = (idx % (TSK / VW)) * VW;
            float v[VW];
            load_run(A, m0 + mm, M, k0 + kk, K, lda, v);
            for (int j = 0; j < VW; j++)
                As[kk + j][mm] = v[j];
        }
        for (int l = 0; l < LPTB; l++) { /* B: VW consecutive n of one row */
            int idx = tid + l * NTHREADS;
            int kk = idx / (TSN / VW), nn = (idx % (TSN / VW)) * VW;
            float v[VW];
            load_run(B, k0 + kk, K, n0 + nn, N, ldb, v);
            for (int j = 0; j < VW; j++)
                Bs[kk][nn + j] = v[j];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int k = 0; k < TSK; k++) {
            float breg[WPTN];
            for (int wn = 0; wn < WPTN; wn++)
                breg[wn] = Bs[k][tidn + wn * RTSN];
            for (int wm = 0; wm < WPTM; wm++) {
                float a = As[k][tidm + wm * RTSM];
                for (int wn = 0; wn < WPTN; wn++)
                    acc[wm][wn] += a * breg[wn];
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int wm = 0; wm < WPTM; wm++) {
        int gm = m0 + tidm + wm * RTSM;
        if (gm >= M)
            continue;
        for (int wn = 0; wn < WPTN; wn++) {
            int gn = n0 + tidn + wn * RTSN;
            if (gn >= N)
                continue;
            float v = alpha * acc[wm][wn];
            if (beta != 0.0f)
                v += beta * LD(bias, bias_off + batch * bias_bs + gm * bsm + gn * bsn);
            ST(C, gm * ldc + gn, act_apply(v, act, aa, ab));
        }
    }
}
