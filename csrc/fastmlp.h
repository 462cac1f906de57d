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

/* -- optimizers and clipping (optim.c) -- */

/* One update of a list of n_arrays parameter arrays, array a of sizes[a]
 * elements: params[a] and its state arrays are updated in place from grads[a]
 * (torch.optim's formulas; the list is split over threads as one index space).
 * State slots: SGD momentum_buffers (only read when momentum != 0; with first
 * set they are overwritten with the gradient, torch's first step); Adagrad
 * state_sums; RMSprop square_avgs, momentum_buffers (momentum > 0), grad_avgs
 * (centered); Adam exp_avgs, exp_avg_sqs. Unused slot lists may be NULL.
 * Adagrad takes the already decayed clr; Adam takes this update's step (>= 1);
 * decoupled selects AdamW's weight decay. */
void fm_sgd_update_f32(float *const *params, float *const *momentum_buffers,
                       const float *const *grads, const fm_int *sizes, fm_int n_arrays,
                       double lr, double momentum, double dampening, double weight_decay,
                       int nesterov, int first, int n_threads);
void fm_sgd_update_f64(double *const *params, double *const *momentum_buffers,
                       const double *const *grads, const fm_int *sizes, fm_int n_arrays,
                       double lr, double momentum, double dampening, double weight_decay,
                       int nesterov, int first, int n_threads);
void fm_adagrad_update_f32(float *const *params, float *const *state_sums,
                           const float *const *grads, const fm_int *sizes, fm_int n_arrays,
                           double clr, double eps, double weight_decay, int n_threads);
void fm_adagrad_update_f64(double *const *params, double *const *state_sums,
                           const double *const *grads, const fm_int *sizes, fm_int n_arrays,
                           double clr, double eps, double weight_decay, int n_threads);
void fm_rmsprop_update_f32(float *const *params, float *const *square_avgs,
                           float *const *momentum_buffers, float *const *grad_avgs,
                           const float *const *grads, const fm_int *sizes, fm_int n_arrays,
                           double lr, double alpha, double eps, double momentum,
                           double weight_decay, int centered, int n_threads);
void fm_rmsprop_update_f64(double *const *params, double *const *square_avgs,
                           double *const *momentum_buffers, double *const *grad_avgs,
                           const double *const *grads, const fm_int *sizes, fm_int n_arrays,
                           double lr, double alpha, double eps, double momentum,
                           double weight_decay, int centered, int n_threads);
void fm_adam_update_f32(float *const *params, float *const *exp_avgs,
                        float *const *exp_avg_sqs, const float *const *grads,
                        const fm_int *sizes, fm_int n_arrays, double lr, double beta1,
                        double beta2, double eps, double weight_decay, int decoupled,
                        fm_int step, int n_threads);
void fm_adam_update_f64(double *const *params, double *const *exp_avgs,
                        double *const *exp_avg_sqs, const double *const *grads,
                        const fm_int *sizes, fm_int n_arrays, double lr, double beta1,
                        double beta2, double eps, double weight_decay, int decoupled,
                        fm_int step, int n_threads);

/* Global L2 norm of a list of arrays into *norm: sums of squares in double over
 * fixed blocks added in block order (the same bits for any n_threads); float64
 * sums that overflow or underflow are redone with an exact power-of-two scale.
 * Returns 0, or -1 when the per-block partial sums cannot be allocated. */
int fm_grad_norm_f32(double *norm, const float *const *grads, const fm_int *sizes,
                     fm_int n_arrays, int n_threads);
int fm_grad_norm_f64(double *norm, const double *const *grads, const fm_int *sizes,
                     fm_int n_arrays, int n_threads);
/* grads[a][i] *= (T)scale;  grads[a][i] = clamp(grads[a][i], lo, hi), NaN kept. */
void fm_grad_scale_f32(float *const *grads, const fm_int *sizes, fm_int n_arrays, double scale,
                       int n_threads);
void fm_grad_scale_f64(double *const *grads, const fm_int *sizes, fm_int n_arrays,
                       double scale, int n_threads);
void fm_grad_clamp_f32(float *const *grads, const fm_int *sizes, fm_int n_arrays, double lo,
                       double hi, int n_threads);
void fm_grad_clamp_f64(double *const *grads, const fm_int *sizes, fm_int n_arrays, double lo,
                       double hi, int n_threads);

#ifdef __cplusplus
}
#endif
#endif /* FASTMLP_H */
