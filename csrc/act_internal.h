/* act_internal.h: what activations.c shares with dense.c, loss.c and penalty.c.
 *
 * The element-wise math (exp on x <= 0, sigmoid, tanh, elu) is written once as
 * branch-free scalar functions in activations.c; the loops that call them are
 * compiled once per ISA (generic, AVX2, AVX-512) and auto-vectorised for it.
 * fm_act_kernels_f32/_f64() return the active ISA's loops. */
#ifndef FASTMLP_ACT_INTERNAL_H
#define FASTMLP_ACT_INTERNAL_H

#include "internal.h"

typedef struct {
    /* y[i] = act(x[i] + bias[i]) (bias may be NULL; y may be x) */
    void (*act)(float *y, const float *x, const float *bias, fm_int n, fm_act act, float param);
    /* dx[i] = dy[i] * act'(.) from the output y[i] (dx may be dy) */
    void (*act_grad)(float *dx, const float *dy, const float *y, fm_int n, fm_act act, float param);
    /* max_j x[j], n >= 1 (with a NaN in x: any value; exp(x - m) is NaN then) */
    float (*row_max)(const float *x, fm_int n);
    /* e[j] = exp(x[j] - m) for x[j] <= m; returns sum_j e[j] in a fixed order */
    float (*exp_shift_sum)(float *e, const float *x, fm_int n, float m);
} fm_act_table_f32;

typedef struct {
    void (*act)(double *y, const double *x, const double *bias, fm_int n, fm_act act, double param);
    void (*act_grad)(double *dx, const double *dy, const double *y, fm_int n, fm_act act, double param);
    double (*row_max)(const double *x, fm_int n);
    double (*exp_shift_sum)(double *e, const double *x, fm_int n, double m);
} fm_act_table_f64;

const fm_act_table_f32 *fm_act_kernels_f32(void);
const fm_act_table_f64 *fm_act_kernels_f64(void);

/* sum over blocks of `block` items: fn(ctx, begin, end) sums one block; blocks are
 * summed in parallel and their sums added in block order, so the result is the same
 * for any n_threads. */
typedef double (*fm_block_sum_fn)(void *ctx, fm_int begin, fm_int end);
double fm_blocked_sum(fm_int n, fm_int block, int n_threads, double ns_per_item,
                      fm_block_sum_fn fn, void *ctx);

#endif /* FASTMLP_ACT_INTERNAL_H */
