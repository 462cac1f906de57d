/* gemm_ukr_ref.c: portable micro-kernels, the ISA-free fallback and oracle.
 * Plain loops over a small accumulator tile; the compiler vectorises the j loop
 * with whatever the baseline ISA offers (SSE2 on x86-64). */
#include "gemm.h"

void fm_sgemm_ukr_ref_4x8(fm_int k, const float *a, const float *b, fm_int ldb,
                          float *c, fm_int ldc, float beta)
{
    float acc[4][8] = {{0}};
    for (fm_int p = 0; p < k; p++, a += 4, b += ldb)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 8; j++)
                acc[i][j] += a[i] * b[j];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++)
            c[i * ldc + j] = beta == 0.0f ? acc[i][j] : beta * c[i * ldc + j] + acc[i][j];
}

void fm_dgemm_ukr_ref_4x4(fm_int k, const double *a, const double *b, fm_int ldb,
                          double *c, fm_int ldc, double beta)
{
    double acc[4][4] = {{0}};
    for (fm_int p = 0; p < k; p++, a += 4, b += ldb)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                acc[i][j] += a[i] * b[j];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            c[i * ldc + j] = beta == 0.0 ? acc[i][j] : beta * c[i * ldc + j] + acc[i][j];
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

void fm_sgemm_pack_a_ref(float *ap, const float *a, fm_int lda, int trans, fm_int rows,
                         fm_int kc, float alpha)
{
    pack_a_body_f32(ap, a, lda, trans, rows, kc, alpha, 4);
}

void fm_sgemm_pack_b_ref(float *bp, const float *b, fm_int ldb, int trans, fm_int q0,
                         fm_int q1, fm_int nc, fm_int kc)
{
    pack_b_body_f32(bp, b, ldb, trans, q0, q1, nc, kc, 8);
}

void fm_dgemm_pack_a_ref(double *ap, const double *a, fm_int lda, int trans, fm_int rows,
                         fm_int kc, double alpha)
{
    pack_a_body_f64(ap, a, lda, trans, rows, kc, alpha, 4);
}

void fm_dgemm_pack_b_ref(double *bp, const double *b, fm_int ldb, int trans, fm_int q0,
                         fm_int q1, fm_int nc, fm_int kc)
{
    pack_b_body_f64(bp, b, ldb, trans, q0, q1, nc, kc, 4);
}

/* Unpacked tiles (see gemm.h), 4 rows at a time: edges by loop bounds; each
 * element is one chain over p in order, then alpha, then beta, as in the SIMD versions. */
void fm_sgemm_sup_ref_4x8(fm_int k, const float *a, fm_int rs_a, fm_int cs_a, const float *b,
                          fm_int ldb, float *c, fm_int ldc, float alpha, float beta, int rows,
                          int cols)
{
    for (; rows > 0; rows -= 4, a += 4 * rs_a, c += 4 * ldc) {
        const int tile_rows = rows < 4 ? rows : 4;
        float acc[4][8] = {{0}};
        const float *ap = a, *bp = b;
        for (fm_int p = 0; p < k; p++, ap += cs_a, bp += ldb)
            for (int i = 0; i < tile_rows; i++) {
                const float ai = ap[i * rs_a];
                for (int j = 0; j < cols; j++)
                    acc[i][j] += ai * bp[j];
            }
        for (int i = 0; i < tile_rows; i++)
            for (int j = 0; j < cols; j++) {
                const float r = alpha == 1.0f ? acc[i][j] : alpha * acc[i][j];
                c[i * ldc + j] = beta == 0.0f ? r : beta * c[i * ldc + j] + r;
            }
    }
}

void fm_dgemm_sup_ref_4x4(fm_int k, const double *a, fm_int rs_a, fm_int cs_a, const double *b,
                          fm_int ldb, double *c, fm_int ldc, double alpha, double beta,
                          int rows, int cols)
{
    for (; rows > 0; rows -= 4, a += 4 * rs_a, c += 4 * ldc) {
        const int tile_rows = rows < 4 ? rows : 4;
        double acc[4][4] = {{0}};
        const double *ap = a, *bp = b;
        for (fm_int p = 0; p < k; p++, ap += cs_a, bp += ldb)
            for (int i = 0; i < tile_rows; i++) {
                const double ai = ap[i * rs_a];
                for (int j = 0; j < cols; j++)
                    acc[i][j] += ai * bp[j];
            }
        for (int i = 0; i < tile_rows; i++)
            for (int j = 0; j < cols; j++) {
                const double r = alpha == 1.0 ? acc[i][j] : alpha * acc[i][j];
                c[i * ldc + j] = beta == 0.0 ? r : beta * c[i * ldc + j] + r;
            }
    }
}
