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
    for (int i = 0; i < 6; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
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
#endif /* FM_X86_SIMD */
