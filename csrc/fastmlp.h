/* fastmlp.h: the C API that fastmlp/_kernels.pyx calls.
 *
 * Conventions (see shared DESIGN.md and STYLE.md):
 *   - plain C99 (gnu99 for FMA contraction), no Python headers;
 *   - every array is dense, row-major, aligned to its element size, validated by
 *     fastmlp/ops.py before it gets here; kernels on validated input return void;
 *   - argument order: outputs, inputs, sizes, hyperparameters, n_threads;
 *   - sizes and indices are fm_int (64-bit), never int;
 *   - n_threads <= 1 runs a plain serial path with no OpenMP region at all (a forked
 *     child must never enter libgomp), and results never depend on n_threads.
 */
#ifndef FASTMLP_H
#define FASTMLP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int64_t fm_int;

/* ------------------------------------------------------------------ runtime */

/* Instruction-set paths, ordered: a path needs every feature of those below it. */
typedef enum { FM_ISA_GENERIC = 0, FM_ISA_AVX2 = 1, FM_ISA_AVX512 = 2 } fm_isa;

fm_isa fm_isa_best_supported(void);        /* what this CPU (and OS) can run */
fm_isa fm_isa_active(void);                /* what kernels use now */
int fm_isa_set(fm_isa isa);                /* force a path; -1 if the CPU lacks it */
const char *fm_isa_name(fm_isa isa);
int fm_openmp_enabled(void);               /* 1 when built with OpenMP */
int fm_omp_max_threads(void);              /* omp_get_max_threads(), 1 without OpenMP */

/* ---------------------------------------------------------------------- GEMM */

/* C = alpha * op(A) @ op(B) + beta * C, row-major, op(A) (m,k), op(B) (k,n), C (m,n).
 * When beta == 0, C is not read (NaN in C does not leak). Threads split output
 * tiles, never k, so every element is summed in the same order for any n_threads.
 * Returns 0, or -1 when the packing workspace cannot be allocated (C untouched). */
int fm_sgemm(int trans_a, int trans_b, fm_int m, fm_int n, fm_int k, float alpha,
             const float *A, fm_int lda, const float *B, fm_int ldb, float beta,
             float *C, fm_int ldc, int n_threads);
int fm_dgemm(int trans_a, int trans_b, fm_int m, fm_int n, fm_int k, double alpha,
             const double *A, fm_int lda, const double *B, fm_int ldb, double beta,
             double *C, fm_int ldc, int n_threads);

/* Epilogue applied to each finished output tile, while it is still in cache:
 * C[i, j] = act(C[i, j] + bias[j]). bias may be NULL. */
typedef enum {
    FM_ACT_NONE = 0, FM_ACT_RELU = 1, FM_ACT_SIGMOID = 2, FM_ACT_TANH = 3,
    FM_ACT_LEAKY_RELU = 4, FM_ACT_ELU = 5
} fm_act;

typedef struct {
    const void *bias;     /* (n,) of the GEMM's dtype, or NULL */
    fm_act act;
    double act_param;     /* LeakyReLU negative_slope, ELU alpha */
} fm_epilogue;

int fm_sgemm_ex(int trans_a, int trans_b, fm_int m, fm_int n, fm_int k, float alpha,
                const float *A, fm_int lda, const float *B, fm_int ldb, float beta,
                float *C, fm_int ldc, const fm_epilogue *ep, int n_threads);
int fm_dgemm_ex(int trans_a, int trans_b, fm_int m, fm_int n, fm_int k, double alpha,
                const double *A, fm_int lda, const double *B, fm_int ldb, double beta,
                double *C, fm_int ldc, const fm_epilogue *ep, int n_threads);

/* The blocking the dispatcher chose, for show_config and benchmarks. */
typedef struct { const char *name; int mr, nr, mc, kc, nc; } fm_gemm_info;
fm_gemm_info fm_gemm_query(int is_double);

/* ------------------------------------------------------------ kernel families */
/* Each family adds its prototypes in its own section below, one shape line each. */

/* -- dense, activations, losses, penalties (dense.c activations.c loss.c penalty.c) -- */

/* -- batchnorm, dropout, rng, pooling (batchnorm.c dropout.c rng.c pooling.c) -- */

/* Philox4x32-10 bits of elements 0..n-1 of stream (seed, counter) (rng.c; layout: rng.h) */
void fm_rng_bits(uint32_t *out, fm_int n, uint64_t seed, uint64_t counter, int n_threads);
/* out = (bits >> 8) * 2^-24, uniform on [0, 1) */
void fm_rng_uniform_f32(float *out, fm_int n, uint64_t seed, uint64_t counter, int n_threads);
void fm_rng_uniform_f64(double *out, fm_int n, uint64_t seed, uint64_t counter, int n_threads);

/* inverted dropout, 0 <= p < 1: x, y, mask (n,) flat; mask uint8 0/1 */
void fm_dropout_forward_f32(float *y, uint8_t *mask, const float *x, fm_int n, double p,
                            uint64_t seed, uint64_t counter, int n_threads);
void fm_dropout_forward_f64(double *y, uint8_t *mask, const double *x, fm_int n, double p,
                            uint64_t seed, uint64_t counter, int n_threads);
/* dy, dx, mask (n,) */
void fm_dropout_backward_f32(float *dx, const float *dy, const uint8_t *mask, fm_int n, double p,
                             int n_threads);
void fm_dropout_backward_f64(double *dx, const double *dy, const uint8_t *mask, fm_int n,
                             double p, int n_threads);

/* BatchNorm, n >= 2: x, y (n,d); mean, rstd, gamma, beta, running_* (d,); running_* updated.
 * Returns 0, or -1 when the workspace cannot be allocated (nothing written). */
int fm_batchnorm_forward_train_f32(float *y, float *mean, float *rstd, float *running_mean,
                                   float *running_var, const float *x, const float *gamma,
                                   const float *beta, fm_int n, fm_int d, double momentum,
                                   double eps, int n_threads);
int fm_batchnorm_forward_train_f64(double *y, double *mean, double *rstd, double *running_mean,
                                   double *running_var, const double *x, const double *gamma,
                                   const double *beta, fm_int n, fm_int d, double momentum,
                                   double eps, int n_threads);
/* x, y (n,d); gamma, beta, running_* (d,) */
int fm_batchnorm_forward_eval_f32(float *y, const float *x, const float *gamma, const float *beta,
                                  const float *running_mean, const float *running_var, fm_int n,
                                  fm_int d, double eps, int n_threads);
int fm_batchnorm_forward_eval_f64(double *y, const double *x, const double *gamma,
                                  const double *beta, const double *running_mean,
                                  const double *running_var, fm_int n, fm_int d, double eps,
                                  int n_threads);
/* dy, x, dx (n,d); mean, rstd, gamma, dgamma, dbeta (d,); training 0: mean/rstd constants */
int fm_batchnorm_backward_f32(float *dx, float *dgamma, float *dbeta, const float *dy,
                              const float *x, const float *mean, const float *rstd,
                              const float *gamma, fm_int n, fm_int d, int training, int n_threads);
int fm_batchnorm_backward_f64(double *dx, double *dgamma, double *dbeta, const double *dy,
                              const double *x, const double *mean, const double *rstd,
                              const double *gamma, fm_int n, fm_int d, int training, int n_threads);

/* pooling, no padding: x (planes,h,w), y argmax (planes,ho,wo), ho = (h-kh)/sh+1; first max wins */
void fm_maxpool2d_forward_f32(float *y, int32_t *argmax, const float *x, fm_int planes, fm_int h,
                              fm_int w, fm_int kh, fm_int kw, fm_int sh, fm_int sw, int n_threads);
void fm_maxpool2d_forward_f64(double *y, int32_t *argmax, const double *x, fm_int planes, fm_int h,
                              fm_int w, fm_int kh, fm_int kw, fm_int sh, fm_int sw, int n_threads);
/* dy argmax (planes,ho,wo), dx (planes,h,w) */
void fm_maxpool2d_backward_f32(float *dx, const float *dy, const int32_t *argmax, fm_int planes,
                               fm_int h, fm_int w, fm_int ho, fm_int wo, int n_threads);
void fm_maxpool2d_backward_f64(double *dx, const double *dy, const int32_t *argmax, fm_int planes,
                               fm_int h, fm_int w, fm_int ho, fm_int wo, int n_threads);
void fm_avgpool2d_forward_f32(float *y, const float *x, fm_int planes, fm_int h, fm_int w, fm_int kh,
                              fm_int kw, fm_int sh, fm_int sw, int n_threads);
void fm_avgpool2d_forward_f64(double *y, const double *x, fm_int planes, fm_int h, fm_int w,
                              fm_int kh, fm_int kw, fm_int sh, fm_int sw, int n_threads);
void fm_avgpool2d_backward_f32(float *dx, const float *dy, fm_int planes, fm_int h, fm_int w,
                               fm_int kh, fm_int kw, fm_int sh, fm_int sw, int n_threads);
void fm_avgpool2d_backward_f64(double *dx, const double *dy, fm_int planes, fm_int h, fm_int w,
                               fm_int kh, fm_int kw, fm_int sh, fm_int sw, int n_threads);

/* -- optimizers and clipping (optim.c) -- */

#ifdef __cplusplus
}
#endif
#endif /* FASTMLP_H */
