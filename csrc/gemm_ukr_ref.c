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
