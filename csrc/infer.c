/* infer.c: inference through a whole chain of layers in one call, no Python
 * between layers. Mirrors the layer-by-layer eval forward of a Sequential
 * (fastmlp/_infer.py builds the steps; its reference_forward is the plain loop).
 * Shapes: x (n, d_in of the first step), y (n, d_out of the last step).
 *
 * Each step calls the kernel its layer calls (dense: the GEMM with bias and
 * activation in the epilogue; activation, softmax, batchnorm eval), so every row
 * comes out bit for bit as the layers give it. Rows go through the chain in
 * blocks of at most FM_INFER_ROWS (the block's activations stay in cache between
 * layers); with several blocks and threads, threads take whole blocks and run
 * their GEMMs serially, otherwise one block at a time with threaded kernels.
 * Neither choice changes a result: the blocks are fixed by n and the layer
 * widths alone, and every kernel gives a row the same bits whatever its block
 * and the thread count. */
#include "gemm.h"

#include <string.h>

#define FM_INFER_ROWS 256

#define T float
#define FN(name) name##_f32
#define GEMM_EX fm_sgemm_ex
#define ACT_FORWARD fm_activation_forward_f32
#define SOFTMAX_FORWARD fm_softmax_forward_f32
#define BN_EVAL fm_batchnorm_forward_eval_f32
#define ALL_FINITE fm_all_finite_f32
#include "infer_impl.h"
#undef T
#undef FN
#undef GEMM_EX
#undef ACT_FORWARD
#undef SOFTMAX_FORWARD
#undef BN_EVAL
#undef ALL_FINITE

#define T double
#define FN(name) name##_f64
#define GEMM_EX fm_dgemm_ex
#define ACT_FORWARD fm_activation_forward_f64
#define SOFTMAX_FORWARD fm_softmax_forward_f64
#define BN_EVAL fm_batchnorm_forward_eval_f64
#define ALL_FINITE fm_all_finite_f64
#include "infer_impl.h"
#undef T
#undef FN
#undef GEMM_EX
#undef ACT_FORWARD
#undef SOFTMAX_FORWARD
#undef BN_EVAL
#undef ALL_FINITE

int fm_infer_forward_f32(float *y, const float *x, fm_int n, const fm_infer_step *steps,
                         int n_steps, int n_threads)
{
    return infer_forward_f32(y, x, n, steps, n_steps, n_threads);
}

int fm_infer_forward_f64(double *y, const double *x, fm_int n, const fm_infer_step *steps,
                         int n_steps, int n_threads)
{
    return infer_forward_f64(y, x, n, steps, n_steps, n_threads);
}
