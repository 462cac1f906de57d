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

/* Transpose 16 vectors of 16 floats in registers: on return v[c][r] = old v[r][c].
 * Pairs of rows interleave (unpack ps), then pairs of pairs (unpack pd), then
 * 128-bit lanes move into place (two rounds of shuffle_f32x4). */
FM_TARGET_AVX512 static inline void transpose16x16(__m512 v[16])
{
    __m512 t[16], u[16];
    for (int k = 0; k < 8; k++) {
        t[2 * k] = _mm512_unpacklo_ps(v[2 * k], v[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_ps(v[2 * k], v[2 * k + 1]);
    }
    /* u[4g + x], lane L: rows 4g..4g+3 of column 4L + x */
    for (int g = 0; g < 4; g++) {
        __m512d t0 = _mm512_castps_pd(t[4 * g]), t1 = _mm512_castps_pd(t[4 * g + 1]);
        __m512d t2 = _mm512_castps_pd(t[4 * g + 2]), t3 = _mm512_castps_pd(t[4 * g + 3]);
        u[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    for (int x = 0; x < 4; x++) {
        __m512 even01 = _mm512_shuffle_f32x4(u[x], u[4 + x], 0x88);
        __m512 odd01 = _mm512_shuffle_f32x4(u[x], u[4 + x], 0xdd);
        __m512 even23 = _mm512_shuffle_f32x4(u[8 + x], u[12 + x], 0x88);
        __m512 odd23 = _mm512_shuffle_f32x4(u[8 + x], u[12 + x], 0xdd);
        v[x] = _mm512_shuffle_f32x4(even01, even23, 0x88);
        v[x + 8] = _mm512_shuffle_f32x4(even01, even23, 0xdd);
        v[x + 4] = _mm512_shuffle_f32x4(odd01, odd23, 0x88);
        v[x + 12] = _mm512_shuffle_f32x4(odd01, odd23, 0xdd);
    }
}

/* Panels of row-major A are transposes: 16 k at a time, load 16 floats of each
 * of the panel's rows (missing rows as zeros), transpose in registers and store
 * 14 floats of each column. */
FM_TARGET_AVX512 void fm_sgemm_pack_a_avx512(float *ap, const float *a, fm_int lda, int trans, fm_int rows,
                                             fm_int kc, float alpha)
{
    if (trans || kc < 16) {
        pack_a_body_f32(ap, a, lda, trans, rows, kc, alpha, 14);
        return;
    }
    const __m512 va = _mm512_set1_ps(alpha);
    const __mmask16 first14 = 0x3fff;
    fm_int p = 0;
    for (; p + 16 <= kc; p += 16) {
        __m512 v[16];
        for (int i = 0; i < 16; i++)
            v[i] = i < rows ? _mm512_mul_ps(va, _mm512_loadu_ps(a + i * lda + p))
                            : _mm512_setzero_ps();
        transpose16x16(v);
        for (int c = 0; c < 16; c++)
            _mm512_mask_storeu_ps(ap + (p + c) * 14, first14, v[c]);
    }
    for (; p < kc; p++) {
        for (fm_int i = 0; i < rows; i++)
            ap[p * 14 + i] = alpha * a[i * lda + p];
        for (fm_int i = rows; i < 14; i++)
            ap[p * 14 + i] = 0;
    }
}

/* op(B) = B^T panels are transposes too: rows j of B become columns of the
 * panel, 16 rows x 16 k per register transpose. */
FM_TARGET_AVX512 static void pack_b_trans_avx512(float *panel, const float *b, fm_int ldb,
                                                 fm_int cols, fm_int kc)
{
    fm_int p = 0;
    for (; p + 16 <= kc; p += 16) {
        for (int half = 0; half < 2; half++) {
            __m512 v[16];
            for (int j = 0; j < 16; j++) {
                const fm_int col = half * 16 + j;
                v[j] = col < cols ? _mm512_loadu_ps(b + col * ldb + p) : _mm512_setzero_ps();
            }
            transpose16x16(v);
            for (int c = 0; c < 16; c++)
                _mm512_storeu_ps(panel + (p + c) * 32 + half * 16, v[c]);
        }
    }
    for (; p < kc; p++) {
        for (fm_int j = 0; j < cols; j++)
            panel[p * 32 + j] = b[j * ldb + p];
        for (fm_int j = cols; j < 32; j++)
            panel[p * 32 + j] = 0;
    }
}

FM_TARGET_AVX512 void fm_sgemm_pack_b_avx512(float *bp, const float *b, fm_int ldb, int trans, fm_int q0,
                                             fm_int q1, fm_int nc, fm_int kc)
{
    if (!trans) {
        /* row by row; a partial panel is read with masked loads that zero the
         * missing columns (no per-row memcpy/memset calls) */
        for (fm_int p = 0; p < kc; p++) {
            const float *src = b + p * ldb;
            for (fm_int q = q0; q < q1; q++) {
                const fm_int cols = nc - q * 32;
                float *dst = bp + q * 32 * kc + p * 32;
                if (cols >= 32) {
                    _mm512_storeu_ps(dst, _mm512_loadu_ps(src + q * 32));
                    _mm512_storeu_ps(dst + 16, _mm512_loadu_ps(src + q * 32 + 16));
                } else {
                    const __mmask16 m0 = (__mmask16)((1u << FM_MIN(cols, 16)) - 1);
                    const __mmask16 m1 = (__mmask16)((1u << FM_MAX(cols - 16, 0)) - 1);
                    _mm512_storeu_ps(dst, _mm512_maskz_loadu_ps(m0, src + q * 32));
                    _mm512_storeu_ps(dst + 16, _mm512_maskz_loadu_ps(m1, src + q * 32 + 16));
                }
            }
        }
        return;
    }
    for (fm_int q = q0; q < q1; q++)
        pack_b_trans_avx512(bp + q * 32 * kc, b + q * 32 * ldb, ldb, FM_MIN(32, nc - q * 32), kc);
}

FM_TARGET_AVX512 void fm_dgemm_pack_a_avx512(double *ap, const double *a, fm_int lda, int trans, fm_int rows,
                                             fm_int kc, double alpha)
{
    pack_a_body_f64(ap, a, lda, trans, rows, kc, alpha, 14);
}

FM_TARGET_AVX512 void fm_dgemm_pack_b_avx512(double *bp, const double *b, fm_int ldb, int trans, fm_int q0,
                                             fm_int q1, fm_int nc, fm_int kc)
{
    pack_b_body_f64(bp, b, ldb, trans, q0, q1, nc, kc, 16);
}

/* Unpacked micro-kernels (see gemm_sup_impl.h): 14 rows x 2 vectors and one
 * row x up to 24 vectors; edges narrower than one vector through mask registers. */
#define MR 14
#define NV 2
#define GV 24
#define TARGET FM_TARGET_AVX512
#define T float
#define FN(name) name##_sf32
#define V __m512
#define VM __mmask16
#define VW 16
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_MLOAD(p, m) _mm512_maskz_loadu_ps(m, p)
#define V_STORE(p, v) _mm512_storeu_ps(p, v)
#define V_MSTORE(p, m, n, v) _mm512_mask_storeu_ps(p, m, v)
#define V_FMA(x, y, z) _mm512_fmadd_ps(x, y, z)
#define V_BCAST(p) _mm512_set1_ps(*(p))
#define V_SET1(x) _mm512_set1_ps(x)
#define V_MUL(x, y) _mm512_mul_ps(x, y)
#define V_MASK(n) ((__mmask16)((1u << (n)) - 1u))
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
#define V __m512d
#define VM __mmask8
#define VW 8
#define V_ZERO() _mm512_setzero_pd()
#define V_LOAD(p) _mm512_loadu_pd(p)
#define V_MLOAD(p, m) _mm512_maskz_loadu_pd(m, p)
#define V_STORE(p, v) _mm512_storeu_pd(p, v)
#define V_MSTORE(p, m, n, v) _mm512_mask_storeu_pd(p, m, v)
#define V_FMA(x, y, z) _mm512_fmadd_pd(x, y, z)
#define V_BCAST(p) _mm512_set1_pd(*(p))
#define V_SET1(x) _mm512_set1_pd(x)
#define V_MUL(x, y) _mm512_mul_pd(x, y)
#define V_MASK(n) ((__mmask8)((1u << (n)) - 1u))
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

FM_TARGET_AVX512 void fm_sgemm_sup_avx512_14x32(fm_int k, const float *a, fm_int rs_a,
                                               fm_int cs_a, const float *b, fm_int ldb, float *c,
                                               fm_int ldc, float alpha, float beta, int rows,
                                               int cols)
{
    sup_walk_sf32(k, a, rs_a, cs_a, b, ldb, c, ldc, alpha, beta, rows, cols);
}

FM_TARGET_AVX512 void fm_dgemm_sup_avx512_14x16(fm_int k, const double *a, fm_int rs_a,
                                               fm_int cs_a, const double *b, fm_int ldb, double *c,
                                               fm_int ldc, double alpha, double beta, int rows,
                                               int cols)
{
    sup_walk_sf64(k, a, rs_a, cs_a, b, ldb, c, ldc, alpha, beta, rows, cols);
}

FM_TARGET_AVX512 void fm_sgemm_gemv_avx512(fm_int k, const float *a, fm_int cs_a, const float *b,
                                  fm_int ldb, float *c, float alpha, float beta, int cols)
{
    const int partial = cols % 16 != 0;
    switch ((cols + 15) / 16) {
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
    GEMV_CASE(gemv_body_sf32, 14)
    GEMV_CASE(gemv_body_sf32, 15)
    GEMV_CASE(gemv_body_sf32, 16)
    GEMV_CASE(gemv_body_sf32, 17)
    GEMV_CASE(gemv_body_sf32, 18)
    GEMV_CASE(gemv_body_sf32, 19)
    GEMV_CASE(gemv_body_sf32, 20)
    GEMV_CASE(gemv_body_sf32, 21)
    GEMV_CASE(gemv_body_sf32, 22)
    GEMV_CASE(gemv_body_sf32, 23)
    GEMV_CASE(gemv_body_sf32, 24)
    default: break;
    }
}

FM_TARGET_AVX512 void fm_dgemm_gemv_avx512(fm_int k, const double *a, fm_int cs_a, const double *b,
                                  fm_int ldb, double *c, double alpha, double beta, int cols)
{
    const int partial = cols % 8 != 0;
    switch ((cols + 7) / 8) {
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
    GEMV_CASE(gemv_body_sf64, 14)
    GEMV_CASE(gemv_body_sf64, 15)
    GEMV_CASE(gemv_body_sf64, 16)
    GEMV_CASE(gemv_body_sf64, 17)
    GEMV_CASE(gemv_body_sf64, 18)
    GEMV_CASE(gemv_body_sf64, 19)
    GEMV_CASE(gemv_body_sf64, 20)
    GEMV_CASE(gemv_body_sf64, 21)
    GEMV_CASE(gemv_body_sf64, 22)
    GEMV_CASE(gemv_body_sf64, 23)
    GEMV_CASE(gemv_body_sf64, 24)
    default: break;
    }
}
#endif /* FM_X86_SIMD */
