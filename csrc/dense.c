/* dense.c: the fully connected layer y = act(x @ W + b) and its backward.
 * Mirrors reference.dense_forward / reference.dense_backward (math there).
 * Shapes: x (n, d_in), W (d_in, d_out), b (d_out,), y dy dz (n, d_out).
 *
 * Forward is one GEMM with the bias and the activation in its epilogue. Backward
 * forms dz = dy * act'(.) from the output y and db = column sums of dz in one pass
 * (threads own column strips; each column is summed over blocks of 64 rows, the
 * block sums added in order, so db is the same for any thread count), then
 * dW = x^T dz and dx = dz W^T as two GEMMs (which never split k). Both dtypes come
 * from one body, dense_impl.h. */
#include "act_internal.h"
#include "gemm.h"

#define ROW_BLOCK 64
#define COL_STRIP 256

typedef struct {
    void *db, *dz;
    const void *dy, *y;
    fm_int n, d_out;
    fm_act act;
    double param;
    const void *kern;
} colsum_ctx;

#define T float
#define FN(name) name##_f32
#define GEMM fm_sgemm
#define GEMM_EX fm_sgemm_ex
#define COLSUM_NS 0.5
#include "dense_impl.h"
#undef T
#undef FN
#undef GEMM
#undef GEMM_EX
#undef COLSUM_NS

#define T double
#define FN(name) name##_f64
#define GEMM fm_dgemm
#define GEMM_EX fm_dgemm_ex
#define COLSUM_NS 0.8
#include "dense_impl.h"
#undef T
#undef FN
#undef GEMM
#undef GEMM_EX
#undef COLSUM_NS
