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
/* Work (ns) below which kernels stay single-threaded; tests set 0 to exercise
 * the parallel paths on small inputs. */
void fm_set_parallel_min_ns(double ns);
/* The late-thread guard (internal.h): `streak` regions in a row whose last team
 * thread began start_ns or more after the region opened, a wait of at least
 * `share` of the region (2, 300 us and 0.25 by default), keep work on the
 * calling thread for 0.2 s, twice as long for each further late region right
 * after a back-off (up to 1.6 s); setting it also ends a back-off in progress.
 * The count is of back-offs so far (tests). */
void fm_set_late_thread_guard(double start_ns, double share, int streak);
long long fm_late_thread_backoffs(void);

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

/* Activations (activations.c), element-wise over n elements; y may be x, dx may be dy.
 * The backward works from the forward's output y (see reference.activation_backward). */
void fm_activation_forward_f32(float *y, const float *x, fm_int n, fm_act act, float param,
                               int n_threads);
void fm_activation_forward_f64(double *y, const double *x, fm_int n, fm_act act, double param,
                               int n_threads);
void fm_activation_backward_f32(float *dx, const float *dy, const float *y, fm_int n, fm_act act,
                                float param, int n_threads);
void fm_activation_backward_f64(double *dx, const double *dy, const double *y, fm_int n,
                                fm_act act, double param, int n_threads);
/* softmax over rows: x y dy dx (n, c) */
void fm_softmax_forward_f32(float *y, const float *x, fm_int n, fm_int c, int n_threads);
void fm_softmax_forward_f64(double *y, const double *x, fm_int n, fm_int c, int n_threads);
void fm_softmax_backward_f32(float *dx, const float *dy, const float *y, fm_int n, fm_int c,
                             int n_threads);
void fm_softmax_backward_f64(double *dx, const double *dy, const double *y, fm_int n, fm_int c,
                             int n_threads);

/* Dense (dense.c): y = act(x @ W + b), x (n, d_in) W (d_in, d_out) b (d_out,) or NULL.
 * Backward: dz (n, d_out) scratch receiving dy * act'(.) (unused for FM_ACT_NONE), dx (n, d_in)
 * or NULL, dW (d_in, d_out), db (d_out,) or NULL, y the forward's output. 0, or -1 when the
 * GEMM workspace cannot be allocated. */
int fm_dense_forward_f32(float *y, const float *x, const float *W, const float *b, fm_int n,
                         fm_int d_in, fm_int d_out, fm_act act, float param, int n_threads);
int fm_dense_forward_f64(double *y, const double *x, const double *W, const double *b, fm_int n,
                         fm_int d_in, fm_int d_out, fm_act act, double param, int n_threads);
int fm_dense_backward_f32(float *dx, float *dW, float *db, float *dz, const float *dy,
                          const float *x, const float *W, const float *y, fm_int n, fm_int d_in,
                          fm_int d_out, fm_act act, float param, int n_threads);
int fm_dense_backward_f64(double *dx, double *dW, double *db, double *dz, const double *dy,
                          const double *x, const double *W, const double *y, fm_int n,
                          fm_int d_in, fm_int d_out, fm_act act, double param, int n_threads);

/* Losses (loss.c): return the mean loss, write dL/d(input) into grad (NULL: loss only).
 * logits target grad (n, c), labels (n,) in [0, c) (fm_labels_check: the first bad index
 * or -1); mse and bce over `size` elements. */
fm_int fm_labels_check(const int64_t *labels, fm_int n, fm_int c);
double fm_softmax_cross_entropy_f32(float *grad, const float *logits, const int64_t *labels,
                                    fm_int n, fm_int c, int n_threads);
double fm_softmax_cross_entropy_f64(double *grad, const double *logits, const int64_t *labels,
                                    fm_int n, fm_int c, int n_threads);
double fm_softmax_cross_entropy_probs_f32(float *grad, const float *logits, const float *target,
                                          fm_int n, fm_int c, int n_threads);
double fm_softmax_cross_entropy_probs_f64(double *grad, const double *logits,
                                          const double *target, fm_int n, fm_int c, int n_threads);
double fm_kl_div_f32(float *grad, const float *logits, const float *target, fm_int n, fm_int c,
                     int n_threads);
double fm_kl_div_f64(double *grad, const double *logits, const double *target, fm_int n,
                     fm_int c, int n_threads);
double fm_mse_f32(float *grad, const float *output, const float *target, fm_int size,
                  int n_threads);
double fm_mse_f64(double *grad, const double *output, const double *target, fm_int size,
                  int n_threads);
double fm_bce_with_logits_f32(float *grad, const float *logits, const float *target, fm_int size,
                              int n_threads);
double fm_bce_with_logits_f64(double *grad, const double *logits, const double *target,
                              fm_int size, int n_threads);

/* Penalties (penalty.c): grad += l1 sign(w) + l2 w; returns l1 sum|w| + (l2/2) sum w^2. */
double fm_penalty_f32(float *grad, const float *w, fm_int size, double l1, double l2,
                      int n_threads);
double fm_penalty_f64(double *grad, const double *w, fm_int size, double l1, double l2,
                      int n_threads);

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


/* -- training plan (plan.c) -- */

/* A Sequential of built-in layers compiled for training: fm_train_plan_run runs
 * many mini-batches (gather, forward, loss, backward, penalties, clipping, the
 * optimizer update) in one call, calling the kernels above in the order the
 * Python fit loop calls them, so the results are the same bits. */
typedef enum {
    FM_PLAN_DENSE = 0, FM_PLAN_ACT = 1, FM_PLAN_SOFTMAX = 2, FM_PLAN_BATCHNORM = 3,
    FM_PLAN_DROPOUT = 4
} fm_plan_op;
typedef enum { FM_PLAN_LABELS = 0, FM_PLAN_PROBS = 1, FM_PLAN_MSE = 2 } fm_plan_loss;
typedef enum { FM_PLAN_SGD = 0, FM_PLAN_ADAGRAD = 1, FM_PLAN_RMSPROP = 2, FM_PLAN_ADAM = 3 } fm_plan_opt;

typedef struct {
    fm_plan_op op;
    fm_int d_in, d_out;                 /* features of one sample in and out */
    fm_act act;                         /* DENSE (fused) and ACT */
    double act_param;
    int need_dx;                        /* DENSE: compute dL/dx (0 for a first Dense) */
    void *W, *b, *dW, *db;              /* DENSE; b, db NULL without bias */
    double l1, l2;                      /* DENSE: penalty on W (layer's + fit's) */
    void *gamma, *beta, *dgamma, *dbeta, *running_mean, *running_var;   /* BATCHNORM */
    double momentum, eps;
    double p;                           /* DROPOUT (p > 0) */
    uint64_t seed, counter;             /* counter: the next forward's, advanced per batch */
    /* workspaces, set by fm_train_plan_alloc: y, dx (cap, d_out/d_in), dz, mean, rstd,
     * the running statistics before the current batch, the dropout mask */
    void *y, *dx, *dz, *mean, *rstd, *snap_mean, *snap_var;
    uint8_t *mask;
} fm_plan_layer;

typedef struct {
    int is_double;
    fm_int n_layers;
    fm_plan_layer *layers;
    fm_int cap;                         /* the largest batch */
    fm_int d_x, d_t;                    /* features of an input row, of a float target row */
    fm_plan_loss loss;
    int penalize, has_clip_norm, has_clip_value;
    double clip_norm, clip_value;
    /* optimizer: params[a], grads[a], state[s][a] (NULL where unused), sizes[a] */
    fm_plan_opt opt;
    fm_int n_params;
    void **params, **grads, **state0, **state1, **state2;
    fm_int *sizes;
    double lr, momentum, dampening, weight_decay, alpha, eps, beta1, beta2, lr_decay;
    int nesterov, centered, decoupled;
    int first;                          /* SGD: the next step is the first (in/out) */
    fm_int step;                        /* updates done so far (in/out) */
    /* set by fm_train_plan_alloc */
    void *xb, *tb, *grad_out;
    int64_t *lb;
    void *block;
} fm_train_plan;

/* Workspaces for plan->cap rows: 0, or -1 when they cannot be allocated. */
int fm_train_plan_alloc(fm_train_plan *plan);
void fm_train_plan_free(fm_train_plan *plan);
/* Batches b0..b0+n_batches-1 of an epoch: batch b is rows order[starts[b]..starts[b+1])
 * of X (n, d_x) and of the targets (labels (n,) int64 for LABELS, T (n, d_t) otherwise;
 * labels, when not NULL, also count correct argmax predictions); order NULL: rows in
 * sequence. losses[i] and correct[i] per batch (the loss plus penalties, as fit reports
 * it). Returns the batches completed, with *status 0; it stops early with *status 1
 * at a batch whose loss is not finite (before its backward; its BatchNorm running
 * statistics restored, its forward's dropout counter kept, as fit does; losses[i]
 * holds that loss), or -1 when a kernel cannot allocate its workspace. check_x != 0:
 * each batch's input rows are checked first, and a batch holding NaN or Inf stops
 * the run with *status 2 before anything of that batch is computed. */
fm_int fm_train_plan_run(fm_train_plan *plan, const void *X, const void *T, const int64_t *labels,
                         const int64_t *order, const fm_int *starts, fm_int b0, fm_int n_batches,
                         double *losses, fm_int *correct, int check_x, int *status, int n_threads);
/* -- inference chains (infer.c) -- */

/* One step of an inference chain; the arrays are the layers' own (read only).
 * DENSE: y = act(x @ W + b), W (d_in, d_out), b (d_out,) or NULL, act/param as the
 * epilogue's. ACT: y = act(x) (param: LeakyReLU slope, ELU alpha). SOFTMAX over rows.
 * BATCHNORM (eval): gamma beta mean var (d_in,), param = eps. d_in == d_out but for DENSE. */
typedef enum {
    FM_STEP_DENSE = 0, FM_STEP_ACT = 1, FM_STEP_SOFTMAX = 2, FM_STEP_BATCHNORM = 3
} fm_step_kind;
typedef struct {
    int kind;
    fm_int d_in, d_out;
    const void *W, *b;
    const void *gamma, *beta, *mean, *var;
    fm_act act;
    double param;
} fm_infer_step;
/* y (n, last d_out) = the chain applied to x (n, steps[0].d_in), rows independent.
 * 0; -1 workspace allocation failed; -2 x holds NaN or Inf; -3 a bad step. */
int fm_infer_forward_f32(float *y, const float *x, fm_int n, const fm_infer_step *steps,
                         int n_steps, int n_threads);
int fm_infer_forward_f64(double *y, const double *x, fm_int n, const fm_infer_step *steps,
                         int n_steps, int n_threads);

/* -- input checks (checks.c) -- */

/* 1 when all n elements of x are finite (no NaN, no +-Inf), else 0; 1 for n = 0. */
int fm_all_finite_f32(const float *x, fm_int n, int n_threads);
int fm_all_finite_f64(const double *x, fm_int n, int n_threads);

#ifdef __cplusplus
}
#endif
#endif /* FASTMLP_H */
