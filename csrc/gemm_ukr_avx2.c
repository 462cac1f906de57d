/* gemm_ukr_avx2.c: AVX2+FMA micro-kernels. 6 rows x 2 vectors of accumulators
 * (12 of the 16 ymm registers), 2 B vectors loaded and each A element broadcast
 * per k step: 12 FMAs per 8 loads, enough independent chains to cover the FMA
 * latency on two pipes. */
#include "gemm.h"

#if FM_X86_SIMD
#include <immintrin.h>

FM_TARGET_AVX2 void fm_sgemm_ukr_avx2_6x16(fm_int k, const float *a, const float *b,
                                           fm_int ldb, float *c, fm_int ldc, float beta)
{
    __m256 acc[6][2];
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) {
        /* C's tile is read or written only after the k loop: fetch it now so
         * those misses overlap the arithmetic instead of following it */
        FM_PREFETCH(c + i * ldc);
        FM_PREFETCH(c + i * ldc + 15);
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    }
    /* unrolled so the loop's own counter and pointer updates are paid once
     * per 48 FMAs (the FMA pipes are the limit, two per cycle) */
#pragma GCC unroll 4
    for (fm_int p = 0; p < k; p++, a += 6, b += ldb) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) {
            __m256 ai = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
    }
    if (beta == 0.0f) {
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) {
            _mm256_storeu_ps(c + i * ldc, acc[i][0]);
            _mm256_storeu_ps(c + i * ldc + 8, acc[i][1]);
        }
    } else {
        __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) {
            float *ci = c + i * ldc;
            _mm256_storeu_ps(ci, _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), acc[i][0]));
            _mm256_storeu_ps(ci + 8, _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), acc[i][1]));
        }
    }
}

FM_TARGET_AVX2 void fm_dgemm_ukr_avx2_6x8(fm_int k, const double *a, const double *b,
                                          fm_int ldb, double *c, fm_int ldc, double beta)
{
    __m256d acc[6][2];
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_pd();
    for (fm_int p = 0; p < k; p++, a += 6, b += ldb) {
        __m256d b0 = _mm256_loadu_pd(b), b1 = _mm256_loadu_pd(b + 4);
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) {
            __m256d ai = _mm256_broadcast_sd(a + i);
            acc[i][0] = _mm256_fmadd_pd(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_pd(ai, b1, acc[i][1]);
        }
    }
    if (beta == 0.0) {
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) {
            _mm256_storeu_pd(c + i * ldc, acc[i][0]);
            _mm256_storeu_pd(c + i * ldc + 4, acc[i][1]);
        }
    } else {
        __m256d vb = _mm256_set1_pd(beta);
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) {
            double *ci = c + i * ldc;
            _mm256_storeu_pd(ci, _mm256_fmadd_pd(vb, _mm256_loadu_pd(ci), acc[i][0]));
            _mm256_storeu_pd(ci + 4, _mm256_fmadd_pd(vb, _mm256_loadu_pd(ci + 4), acc[i][1]));
        }
    }
}

/* Packing with this file's tile shape as compile-time constants. */
#define T float
#define FN(name) name##_f32
#include "gemm_pack_impl.h"
#undef T
#undef FN
#define T double
#define FN(name) name##_f64
#include "gemm_pack_impl.h"
#undef T
#undef FN

FM_TARGET_AVX2 void fm_sgemm_pack_a_avx2(float *ap, const float *a, fm_int lda, int trans, fm_int rows,
                                         fm_int kc, float alpha)
{
    pack_a_body_f32(ap, a, lda, trans, rows, kc, alpha, 6);
}

FM_TARGET_AVX2 void fm_sgemm_pack_b_avx2(float *bp, const float *b, fm_int ldb, int trans, fm_int q0,
                                         fm_int q1, fm_int nc, fm_int kc)
{
    pack_b_body_f32(bp, b, ldb, trans, q0, q1, nc, kc, 16);
}

FM_TARGET_AVX2 void fm_dgemm_pack_a_avx2(double *ap, const double *a, fm_int lda, int trans, fm_int rows,
                                         fm_int kc, double alpha)
{
    pack_a_body_f64(ap, a, lda, trans, rows, kc, alpha, 6);
}

FM_TARGET_AVX2 void fm_dgemm_pack_b_avx2(double *bp, const double *b, fm_int ldb, int trans, fm_int q0,
                                         fm_int q1, fm_int nc, fm_int kc)
{
    pack_b_body_f64(bp, b, ldb, trans, q0, q1, nc, kc, 8);
}

/* Unpacked micro-kernels (see gemm_sup_impl.h): 6 rows x 2 vectors and one row
 * x up to 13 vectors (104 floats: 13 accumulators, the B loads folded into the
 * FMAs). Edges narrower than one vector go through AVX2 masked loads; masked
 * stores (vmaskmov) are microcoded and slow on AMD cores, so the first n lanes
 * are stored in 4/2/1 pieces. */
FM_TARGET_AVX2 static inline void store_first_ps(float *p, __m256 v, int n)
{
    __m128 x = _mm256_castps256_ps128(v);
    if (n & 4) {
        _mm_storeu_ps(p, x);
        x = _mm256_extractf128_ps(v, 1);
        p += 4;
    }
    if (n & 2) {
        _mm_storel_pi((__m64 *)p, x);
        x = _mm_movehl_ps(x, x);
        p += 2;
    }
    if (n & 1)
        _mm_store_ss(p, x);
}

FM_TARGET_AVX2 static inline void store_first_pd(double *p, __m256d v, int n)
{
    __m128d x = _mm256_castpd256_pd128(v);
    if (n & 2) {
        _mm_storeu_pd(p, x);
        x = _mm256_extractf128_pd(v, 1);
        p += 2;
    }
    if (n & 1)
        _mm_store_sd(p, x);
}

#define MR 6
#define NV 2
#define GV 13
#define TARGET FM_TARGET_AVX2
#define T float
#define FN(name) name##_sf32
#define V __m256
#define VM __m256i
#define VW 8
#define V_ZERO() _mm256_setzero_ps()
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_MLOAD(p, m) _mm256_maskload_ps(p, m)
#define V_STORE(p, v) _mm256_storeu_ps(p, v)
#define V_MSTORE(p, m, n, v) store_first_ps(p, v, n)
#define V_FMA(x, y, z) _mm256_fmadd_ps(x, y, z)
#define V_BCAST(p) _mm256_broadcast_ss(p)
#define V_SET1(x) _mm256_set1_ps(x)
#define V_MUL(x, y) _mm256_mul_ps(x, y)
#define V_MASK(n) _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#include "gemm_sup_impl.h"
#undef T
#undef FN
#undef V
#undef VM
#undef VW
#undef V_ZERO
#undef V_LOAD
#undef V_MLOAD
#undef V_STORE
#undef V_MSTORE
#undef V_FMA
#undef V_BCAST
#undef V_SET1
#undef V_MUL
#undef V_MASK

#define T double
#define FN(name) name##_sf64
#define V __m256d
#define VM __m256i
#define VW 4
#define V_ZERO() _mm256_setzero_pd()
#define V_LOAD(p) _mm256_loadu_pd(p)
#define V_MLOAD(p, m) _mm256_maskload_pd(p, m)
#define V_STORE(p, v) _mm256_storeu_pd(p, v)
#define V_MSTORE(p, m, n, v) store_first_pd(p, v, n)
#define V_FMA(x, y, z) _mm256_fmadd_pd(x, y, z)
#define V_BCAST(p) _mm256_broadcast_sd(p)
#define V_SET1(x) _mm256_set1_pd(x)
#define V_MUL(x, y) _mm256_mul_pd(x, y)
#define V_MASK(n) _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3))
#include "gemm_sup_impl.h"
#undef T
#undef FN
#undef V
#undef VM
#undef VW
#undef V_ZERO
#undef V_LOAD
#undef V_MLOAD
#undef V_STORE
#undef V_MSTORE
#undef V_FMA
#undef V_BCAST
#undef V_SET1
#undef V_MUL
#undef V_MASK
#undef MR
#undef NV
#undef GV
#undef TARGET

FM_TARGET_AVX2 void fm_sgemm_sup_avx2_6x16(fm_int k, const float *a, fm_int rs_a, fm_int cs_a,
                                           const float *b, fm_int ldb, float *c, fm_int ldc,
                                           float alpha, float beta, int rows, int cols)
{
    sup_walk_sf32(k, a, rs_a, cs_a, b, ldb, c, ldc, alpha, beta, rows, cols);
}

FM_TARGET_AVX2 void fm_dgemm_sup_avx2_6x8(fm_int k, const double *a, fm_int rs_a, fm_int cs_a,
                                          const double *b, fm_int ldb, double *c, fm_int ldc,
                                          double alpha, double beta, int rows, int cols)
{
    sup_walk_sf64(k, a, rs_a, cs_a, b, ldb, c, ldc, alpha, beta, rows, cols);
}

FM_TARGET_AVX2 void fm_sgemm_gemv_avx2(fm_int k, const float *a, fm_int cs_a, const float *b, fm_int ldb,
                                float *c, float alpha, float beta, int cols)
{
    const int partial = cols % 8 != 0;
    switch ((cols + 7) / 8) {
    GEMV_CASE(gemv_body_sf32, 1)
    GEMV_CASE(gemv_body_sf32, 2)
    GEMV_CASE(gemv_body_sf32, 3)
    GEMV_CASE(gemv_body_sf32, 4)
    GEMV_CASE(gemv_body_sf32, 5)
    GEMV_CASE(gemv_body_sf32, 6)
    GEMV_CASE(gemv_body_sf32, 7)
    GEMV_CASE(gemv_body_sf32, 8)
    GEMV_CASE(gemv_body_sf32, 9)
    GEMV_CASE(gemv_body_sf32, 10)
    GEMV_CASE(gemv_body_sf32, 11)
    GEMV_CASE(gemv_body_sf32, 12)
    GEMV_CASE(gemv_body_sf32, 13)
    default: break;
    }
}

FM_TARGET_AVX2 void fm_dgemm_gemv_avx2(fm_int k, const double *a, fm_int cs_a, const double *b, fm_int ldb,
                                double *c, double alpha, double beta, int cols)
{
    const int partial = cols % 4 != 0;
    switch ((cols + 3) / 4) {
    GEMV_CASE(gemv_body_sf64, 1)
    GEMV_CASE(gemv_body_sf64, 2)
    GEMV_CASE(gemv_body_sf64, 3)
    GEMV_CASE(gemv_body_sf64, 4)
    GEMV_CASE(gemv_body_sf64, 5)
    GEMV_CASE(gemv_body_sf64, 6)
    GEMV_CASE(gemv_body_sf64, 7)
    GEMV_CASE(gemv_body_sf64, 8)
    GEMV_CASE(gemv_body_sf64, 9)
    GEMV_CASE(gemv_body_sf64, 10)
    GEMV_CASE(gemv_body_sf64, 11)
    GEMV_CASE(gemv_body_sf64, 12)
    GEMV_CASE(gemv_body_sf64, 13)
    default: break;
    }
}
#endif /* FM_X86_SIMD */
