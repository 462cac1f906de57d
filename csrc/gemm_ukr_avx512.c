/* gemm_ukr_avx512.c: AVX-512 micro-kernels. 14 rows x 2 vectors of accumulators
 * (28 of the 32 zmm registers); per k step 2 B vectors are loaded and each of the
 * 14 A elements is broadcast straight from memory into its FMAs ({1to16}), so a
 * step is 28 FMAs for 16 loads: the two FMA pipes stay busy. */
#include "gemm.h"

#if FM_X86_SIMD
#include <immintrin.h>

FM_TARGET_AVX512 void fm_sgemm_ukr_avx512_14x32(fm_int k, const float *a, const float *b,
                                                fm_int ldb, float *c, fm_int ldc, float beta)
{
    __m512 acc[14][2];
#pragma GCC unroll 14
    for (int i = 0; i < 14; i++)
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (fm_int p = 0; p < k; p++, a += 14, b += ldb) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 14
        for (int i = 0; i < 14; i++) {
            __m512 ai = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
        }
    }
    if (beta == 0.0f) {
#pragma GCC unroll 14
        for (int i = 0; i < 14; i++) {
            _mm512_storeu_ps(c + i * ldc, acc[i][0]);
            _mm512_storeu_ps(c + i * ldc + 16, acc[i][1]);
        }
    } else {
        __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 14
        for (int i = 0; i < 14; i++) {
            float *ci = c + i * ldc;
            _mm512_storeu_ps(ci, _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci), acc[i][0]));
            _mm512_storeu_ps(ci + 16, _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci + 16), acc[i][1]));
        }
    }
}

FM_TARGET_AVX512 void fm_dgemm_ukr_avx512_14x16(fm_int k, const double *a, const double *b,
                                                fm_int ldb, double *c, fm_int ldc, double beta)
{
    __m512d acc[14][2];
#pragma GCC unroll 14
    for (int i = 0; i < 14; i++)
        acc[i][0] = acc[i][1] = _mm512_setzero_pd();
    for (fm_int p = 0; p < k; p++, a += 14, b += ldb) {
        __m512d b0 = _mm512_loadu_pd(b), b1 = _mm512_loadu_pd(b + 8);
#pragma GCC unroll 14
        for (int i = 0; i < 14; i++) {
            __m512d ai = _mm512_set1_pd(a[i]);
            acc[i][0] = _mm512_fmadd_pd(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_pd(ai, b1, acc[i][1]);
        }
    }
    if (beta == 0.0) {
#pragma GCC unroll 14
        for (int i = 0; i < 14; i++) {
            _mm512_storeu_pd(c + i * ldc, acc[i][0]);
            _mm512_storeu_pd(c + i * ldc + 8, acc[i][1]);
        }
    } else {
        __m512d vb = _mm512_set1_pd(beta);
#pragma GCC unroll 14
        for (int i = 0; i < 14; i++) {
            double *ci = c + i * ldc;
            _mm512_storeu_pd(ci, _mm512_fmadd_pd(vb, _mm512_loadu_pd(ci), acc[i][0]));
            _mm512_storeu_pd(ci + 8, _mm512_fmadd_pd(vb, _mm512_loadu_pd(ci + 8), acc[i][1]));
        }
    }
}
#endif /* FM_X86_SIMD */
