/* gemm.cl - C = act(alpha * A B + beta * bias), row-major, batched over
 * get_group_id(2). Tiled in local memory (TSM x TSK of A, TSK x TSN of B) with
 * register blocking: each work-item computes WPTM x WPTN outputs, strided by
 * the work-group's extent so that neighbouring work-items touch neighbouring
 * columns (coalesced on GPUs, vectorizable by PoCL on CPUs). The tile sizes
 * come from -D at build time, chosen per device by the tuner in tune.c. */

#ifndef TSM
#define TSM 32
#define TSN 32
#define TSK 16
#define WPTM 4
#define WPTN 4
#endif

#define RTSM (TSM / WPTM)
#define RTSN (TSN / WPTN)
#define NTHREADS (RTSM * RTSN)
#define LPTA ((TSK * TSM) / NTHREADS)
#define LPTB ((TSK * TSN) / NTHREADS)

__kernel __attribute__((reqd_work_group_size(RTSN, RTSM, 1))) void
gemm_f32(const int M, const int N, const int K, __global const float *A, const int a_off,
         const int lda, const int a_bs, __global const float *B, const int b_off, const int ldb,
         const int b_bs, __global float *C, const int c_off, const int ldc, const int c_bs,
         __global const float *bias, const int bias_off, const int bsm, const int bsn,
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
        for (int l = 0; l < LPTA; l++) {
            int idx = tid + l * NTHREADS;
            int mm = idx / TSK, kk = idx % TSK;
            int gm = m0 + mm, gk = k0 + kk;
            As[kk][mm] = (gm < M && gk < K) ? A[gm * lda + gk] : 0.0f;
        }
        for (int l = 0; l < LPTB; l++) {
            int idx = tid + l * NTHREADS;
            int kk = idx / TSN, nn = idx % TSN;
            int gk = k0 + kk, gn = n0 + nn;
            Bs[kk][nn] = (gk < K && gn < N) ? B[gk * ldb + gn] : 0.0f;
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
                v += beta * bias[bias_off + batch * bias_bs + gm * bsm + gn * bsn];
            C[gm * ldc + gn] = act_apply(v, act, aa, ab);
        }
    }
}
