/* gemm.c: row-major SGEMM/DGEMM, C = alpha*op(A)@op(B) + beta*C, with an optional
 * bias+activation epilogue. Framework only (packing, the five loops, threading);
 * the micro-kernels are in gemm_ukr_*.c and gemm_dispatch.c picks one per ISA.
 * Mirrors reference.gemm. */
#include "gemm.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define T float
#define KERNEL fm_sgemm_kernel
#define KERNEL_ACTIVE fm_sgemm_kernel_active
#define KERNEL_WIDE fm_sgemm_kernel_wide
#define BIAS_ACT fm_bias_act_inplace_f32
#define FN(name) name##_f32
#include "gemm_impl.h"
#undef T
#undef KERNEL
#undef KERNEL_ACTIVE
#undef KERNEL_WIDE
#undef BIAS_ACT
#undef FN

#define T double
#define KERNEL fm_dgemm_kernel
#define KERNEL_ACTIVE fm_dgemm_kernel_active
#define KERNEL_WIDE fm_dgemm_kernel_wide
#define BIAS_ACT fm_bias_act_inplace_f64
#define FN(name) name##_f64
#include "gemm_impl.h"
#undef T
#undef KERNEL
#undef KERNEL_ACTIVE
#undef KERNEL_WIDE
#undef BIAS_ACT
#undef FN

int fm_sgemm_ex(int trans_a, int trans_b, fm_int m, fm_int n, fm_int k, float alpha,
                const float *A, fm_int lda, const float *B, fm_int ldb, float beta,
                float *C, fm_int ldc, const fm_epilogue *ep, int n_threads)
{
    return gemm_ex_f32(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep,
                       n_threads);
}

int fm_dgemm_ex(int trans_a, int trans_b, fm_int m, fm_int n, fm_int k, double alpha,
                const double *A, fm_int lda, const double *B, fm_int ldb, double beta,
                double *C, fm_int ldc, const fm_epilogue *ep, int n_threads)
{
    return gemm_ex_f64(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep,
                       n_threads);
}

int fm_sgemm(int trans_a, int trans_b, fm_int m, fm_int n, fm_int k, float alpha,
             const float *A, fm_int lda, const float *B, fm_int ldb, float beta, float *C,
             fm_int ldc, int n_threads)
{
    return gemm_ex_f32(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc,
                       NULL, n_threads);
}

int fm_dgemm(int trans_a, int trans_b, fm_int m, fm_int n, fm_int k, double alpha,
             const double *A, fm_int lda, const double *B, fm_int ldb, double beta,
             double *C, fm_int ldc, int n_threads)
{
    return gemm_ex_f64(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc,
                       NULL, n_threads);
}
