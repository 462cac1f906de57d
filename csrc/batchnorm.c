/* batchnorm.c: batch normalisation over the batch axis of x (n, d), training and
 * inference forward and the closed-form backward. Mirrors
 * reference.batchnorm_forward_train, reference.batchnorm_forward_eval and
 * reference.batchnorm_backward (math: see there).
 * Shapes: x, y, dy, dx (n, d); gamma, beta, mean, rstd, running_* (d,).
 *
 * Deterministic reductions: the rows are cut into fixed blocks of BN_RB rows
 * (never depending on n_threads); each (row block, feature chunk) item is summed
 * by one thread in row order, in double, and the blocks are combined per feature
 * in block order. Training forward: one pass over x for the statistics (per block
 * shifted sums, merged with Chan's pairwise formula), one pass normalising.
 * Backward: one pass for sum dy and sum dy * (x - mean), one pass writing dx. */
#include "internal.h"

#include <math.h>
#include <string.h>

#define BN_RB 128      /* rows per reduction block: fixes the summation order */
#define BN_FC 512      /* features per work item: any width gives the same sums */
#define BN_WS_SLOT 3   /* fm_workspace slot (BatchNorm never calls the GEMM) */

typedef struct {
    fm_int n, d, nrb, nfc;
    const void *x, *dy, *beta, *mean;
    void *y, *dx;
    double *p1, *p2;       /* (nrb, d) per-block partials */
    void *ca, *cm, *ck;    /* (d,) per-feature coefficients, of the kernel's dtype */
} bn_ctx;

typedef struct {
    fm_range_fn stats, affine, bsum, dx_train, dx_eval;
} bn_kernels;

/* partials and coefficients in one workspace of the calling thread; with no rows
 * (n == 0) the single block of partials is zero, so the sums come out 0 */
static int bn_setup(bn_ctx *c, fm_int n, fm_int d)
{
    memset(c, 0, sizeof *c);
    c->n = n;
    c->d = d;
    c->nrb = (n + BN_RB - 1) / BN_RB;
    c->nfc = (d + BN_FC - 1) / BN_FC;
    const fm_int nb = FM_MAX(c->nrb, 1);
    double *ws = (double *)fm_workspace(BN_WS_SLOT, (size_t)(2 * nb + 3) * (size_t)FM_MAX(d, 1) * sizeof(double));
    if (!ws)
        return -1;
    c->p1 = ws;
    c->p2 = ws + nb * d;
    c->ca = ws + 2 * nb * d;
    c->cm = ws + (2 * nb + 1) * d;
    c->ck = ws + (2 * nb + 2) * d;
    if (c->nrb == 0)
        memset(ws, 0, (size_t)(2 * d) * sizeof(double));
    return 0;
}

#define T float
#define FN(name) name##_f32
#include "batchnorm_impl.h"
#undef T
#undef FN

#define T double
#define FN(name) name##_f64
#include "batchnorm_impl.h"
#undef T
#undef FN
