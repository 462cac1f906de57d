/* loss.c: losses with their gradients, each in one pass over the batch.
 * Mirrors reference.softmax_cross_entropy / softmax_cross_entropy_probs / kl_div /
 * mse / bce_with_logits (math there). Shapes: logits, target, grad (n, c) (mse and
 * bce: `size` elements); labels (n,) int64. grad may be NULL (loss only).
 *
 * The loss is a mean: rows (or blocks of elements) are summed in double within
 * fixed blocks, and the block sums added in block order (fm_blocked_sum), so the
 * value is the same for any thread count. The softmax losses work row by row with
 * the row in cache: max, exp(x - max) into grad and its sum, then log-sum-exp and
 * the gradient from the stored exponentials. The bodies are written once for both
 * dtypes in loss_impl.h. */
#include <math.h>
#include <stdlib.h>

#include "act_internal.h"

#define ROWS_PER_BLOCK 32
#define ELEMS_PER_BLOCK 4096

typedef struct {
    fm_block_sum_fn fn;
    void *ctx;
    fm_int n, block;
    double *partial;
} blocked_ctx;

static void blocked_range(void *p, fm_int b0, fm_int b1)
{
    blocked_ctx *c = p;
    for (fm_int b = b0; b < b1; b++)
        c->partial[b] = c->fn(c->ctx, b * c->block, FM_MIN(c->n, (b + 1) * c->block));
}

double fm_blocked_sum(fm_int n, fm_int block, int n_threads, double ns_per_item,
                      fm_block_sum_fn fn, void *ctx)
{
    fm_int nb = (n + block - 1) / block;
    int nt = fm_threads_for((double)n * ns_per_item, n_threads);
    double total = 0.0;
    double stack[256];
    double *partial = NULL;
    if (nt > 1 && nb > 1)
        partial = nb <= 256 ? stack : malloc((size_t)nb * sizeof(double));
    if (!partial) {
        /* serial: the same block sums added in the same order */
        for (fm_int b = 0; b < nb; b++)
            total += fn(ctx, b * block, FM_MIN(n, (b + 1) * block));
        return total;
    }
    blocked_ctx c = {fn, ctx, n, block, partial};
    fm_parallel_for(nb, 1, nt, blocked_range, &c);
    for (fm_int b = 0; b < nb; b++)
        total += partial[b];
    if (partial != stack)
        free(partial);
    return total;
}

fm_int fm_labels_check(const int64_t *labels, fm_int n, fm_int c)
{
    for (fm_int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= c)
            return i;
    return -1;
}

/* ------------------------------------------------ softmax cross-entropy */

typedef struct {
    void *grad;
    const void *x, *t;
    fm_int n, c;
    int kl;
    const void *kern;
} sm_ctx;

/* ------------------------------------------------- element-wise losses */

typedef struct {
    void *grad;
    const void *o, *t;
    double gscale; /* 2/size (mse) or 1/size (bce) */
} ew_ctx;

/* ---------------------------- the bodies, once per dtype (loss_impl.h) */

#define T float
#define FN(name) name##_f32
#define CE_NS 1.0
#define CE_PROBS_NS 1.5
#include "loss_impl.h"
#undef T
#undef FN
#undef CE_NS
#undef CE_PROBS_NS

#define T double
#define FN(name) name##_f64
#define CE_NS 1.5
#define CE_PROBS_NS 2.0
#include "loss_impl.h"
#undef T
#undef FN
#undef CE_NS
#undef CE_PROBS_NS
