/* loss.c: losses with their gradients, each in one pass over the batch.
 * Mirrors reference.softmax_cross_entropy / softmax_cross_entropy_probs / kl_div /
 * mse / bce_with_logits (math there). Shapes: logits, target, grad (n, c) (mse and
 * bce: `size` elements); labels (n,) int64. grad may be NULL (loss only).
 *
 * The loss is a mean: rows (or blocks of elements) are summed in double within
 * fixed blocks, and the block sums added in block order (fm_blocked_sum), so the
 * value is the same for any thread count. The softmax losses work row by row with
 * the row in cache: max, exp(x - max) into grad and its sum, then log-sum-exp and
 * the gradient from the stored exponentials. */
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

static double ce_labels_f32_block(void *p, fm_int r0, fm_int r1)
{
    sm_ctx *s = p;
    const fm_act_table_f32 *k = s->kern;
    const int64_t *labels = s->t;
    fm_int c = s->c;
    float inv_n = 1.0f / (float)s->n;
    float *scratch = s->grad ? NULL : fm_workspace(2, (size_t)c * sizeof(float));
    if (!s->grad && !scratch)
        return NAN;
    double sum = 0.0;
    for (fm_int r = r0; r < r1; r++) {
        const float *x = (const float *)s->x + r * c;
        float *e = s->grad ? (float *)s->grad + r * c : scratch;
        fm_int y = labels[r];
        float m = k->row_max(x, c);
        float se = k->exp_shift_sum(e, x, c, m);
        sum += (double)(m - x[y]) + log((double)se);
        if (s->grad) {
            float scale = inv_n / se;
            for (fm_int j = 0; j < c; j++)
                e[j] *= scale;
            e[y] -= inv_n;
        }
    }
    return sum;
}

static double ce_labels_f64_block(void *p, fm_int r0, fm_int r1)
{
    sm_ctx *s = p;
    const fm_act_table_f64 *k = s->kern;
    const int64_t *labels = s->t;
    fm_int c = s->c;
    double inv_n = 1.0 / (double)s->n;
    double *scratch = s->grad ? NULL : fm_workspace(2, (size_t)c * sizeof(double));
    if (!s->grad && !scratch)
        return NAN;
    double sum = 0.0;
    for (fm_int r = r0; r < r1; r++) {
        const double *x = (const double *)s->x + r * c;
        double *e = s->grad ? (double *)s->grad + r * c : scratch;
        fm_int y = labels[r];
        double m = k->row_max(x, c);
        double se = k->exp_shift_sum(e, x, c, m);
        sum += (m - x[y]) + log(se);
        if (s->grad) {
            double scale = inv_n / se;
            for (fm_int j = 0; j < c; j++)
                e[j] *= scale;
            e[y] -= inv_n;
        }
    }
    return sum;
}

double fm_softmax_cross_entropy_f32(float *grad, const float *logits, const int64_t *labels,
                                    fm_int n, fm_int c, int n_threads)
{
    if (n <= 0)
        return 0.0;
    sm_ctx s = {grad, logits, labels, n, c, 0, fm_act_kernels_f32()};
    return fm_blocked_sum(n, ROWS_PER_BLOCK, n_threads, 1.0 * (double)c, ce_labels_f32_block, &s) /
           (double)n;
}

double fm_softmax_cross_entropy_f64(double *grad, const double *logits, const int64_t *labels,
                                    fm_int n, fm_int c, int n_threads)
{
    if (n <= 0)
        return 0.0;
    sm_ctx s = {grad, logits, labels, n, c, 0, fm_act_kernels_f64()};
    return fm_blocked_sum(n, ROWS_PER_BLOCK, n_threads, 1.5 * (double)c, ce_labels_f64_block, &s) /
           (double)n;
}

/* probabilities: row loss = sum_j t_j (m - x_j) + T log(sum e), T = sum_j t_j;
 * grad_j = (e_j / sum e * T - t_j) / n; KL adds sum_j t_j log t_j (t_j > 0) */
static double ce_probs_f32_block(void *p, fm_int r0, fm_int r1)
{
    sm_ctx *s = p;
    const fm_act_table_f32 *k = s->kern;
    fm_int c = s->c;
    float inv_n = 1.0f / (float)s->n;
    float *scratch = s->grad ? NULL : fm_workspace(2, (size_t)c * sizeof(float));
    if (!s->grad && !scratch)
        return NAN;
    double sum = 0.0;
    for (fm_int r = r0; r < r1; r++) {
        const float *x = (const float *)s->x + r * c, *t = (const float *)s->t + r * c;
        float *e = s->grad ? (float *)s->grad + r * c : scratch;
        float m = k->row_max(x, c);
        float se = k->exp_shift_sum(e, x, c, m);
        double tsum = 0.0, tdot = 0.0, tlogt = 0.0;
        for (fm_int j = 0; j < c; j++) {
            tsum += t[j];
            tdot += (double)t[j] * (double)(m - x[j]);
        }
        if (s->kl)
            for (fm_int j = 0; j < c; j++)
                if (t[j] > 0.0f)
                    tlogt += (double)t[j] * log((double)t[j]);
        sum += tdot + tsum * log((double)se) + tlogt;
        if (s->grad) {
            float scale = (float)tsum / se;
            for (fm_int j = 0; j < c; j++)
                e[j] = (e[j] * scale - t[j]) * inv_n;
        }
    }
    return sum;
}

static double ce_probs_f64_block(void *p, fm_int r0, fm_int r1)
{
    sm_ctx *s = p;
    const fm_act_table_f64 *k = s->kern;
    fm_int c = s->c;
    double inv_n = 1.0 / (double)s->n;
    double *scratch = s->grad ? NULL : fm_workspace(2, (size_t)c * sizeof(double));
    if (!s->grad && !scratch)
        return NAN;
    double sum = 0.0;
    for (fm_int r = r0; r < r1; r++) {
        const double *x = (const double *)s->x + r * c, *t = (const double *)s->t + r * c;
        double *e = s->grad ? (double *)s->grad + r * c : scratch;
        double m = k->row_max(x, c);
        double se = k->exp_shift_sum(e, x, c, m);
        double tsum = 0.0, tdot = 0.0, tlogt = 0.0;
        for (fm_int j = 0; j < c; j++) {
            tsum += t[j];
            tdot += t[j] * (m - x[j]);
        }
        if (s->kl)
            for (fm_int j = 0; j < c; j++)
                if (t[j] > 0.0)
                    tlogt += t[j] * log(t[j]);
        sum += tdot + tsum * log(se) + tlogt;
        if (s->grad) {
            double scale = tsum / se;
            for (fm_int j = 0; j < c; j++)
                e[j] = (e[j] * scale - t[j]) * inv_n;
        }
    }
    return sum;
}

double fm_softmax_cross_entropy_probs_f32(float *grad, const float *logits, const float *target,
                                          fm_int n, fm_int c, int n_threads)
{
    if (n <= 0)
        return 0.0;
    sm_ctx s = {grad, logits, target, n, c, 0, fm_act_kernels_f32()};
    return fm_blocked_sum(n, ROWS_PER_BLOCK, n_threads, 1.5 * (double)c, ce_probs_f32_block, &s) /
           (double)n;
}

double fm_softmax_cross_entropy_probs_f64(double *grad, const double *logits,
                                          const double *target, fm_int n, fm_int c, int n_threads)
{
    if (n <= 0)
        return 0.0;
    sm_ctx s = {grad, logits, target, n, c, 0, fm_act_kernels_f64()};
    return fm_blocked_sum(n, ROWS_PER_BLOCK, n_threads, 2.0 * (double)c, ce_probs_f64_block, &s) /
           (double)n;
}

double fm_kl_div_f32(float *grad, const float *logits, const float *target, fm_int n, fm_int c,
                     int n_threads)
{
    if (n <= 0)
        return 0.0;
    sm_ctx s = {grad, logits, target, n, c, 1, fm_act_kernels_f32()};
    return fm_blocked_sum(n, ROWS_PER_BLOCK, n_threads, 5.0 * (double)c, ce_probs_f32_block, &s) /
           (double)n;
}

double fm_kl_div_f64(double *grad, const double *logits, const double *target, fm_int n,
                     fm_int c, int n_threads)
{
    if (n <= 0)
        return 0.0;
    sm_ctx s = {grad, logits, target, n, c, 1, fm_act_kernels_f64()};
    return fm_blocked_sum(n, ROWS_PER_BLOCK, n_threads, 5.0 * (double)c, ce_probs_f64_block, &s) /
           (double)n;
}

/* ------------------------------------------------- element-wise losses */

typedef struct {
    void *grad;
    const void *o, *t;
    double gscale; /* 2/size (mse) or 1/size (bce) */
} ew_ctx;

static double mse_f32_block(void *p, fm_int i0, fm_int i1)
{
    ew_ctx *s = p;
    const float *o = s->o, *t = s->t;
    float *g = s->grad;
    float gs = (float)s->gscale;
    double acc[8] = {0};
    fm_int i = i0;
    for (; i + 8 <= i1; i += 8)
        for (int l = 0; l < 8; l++) {
            double d = (double)o[i + l] - (double)t[i + l];
            acc[l] += d * d;
        }
    for (int l = 0; i < i1; i++, l++) {
        double d = (double)o[i] - (double)t[i];
        acc[l] += d * d;
    }
    if (g)
        for (i = i0; i < i1; i++)
            g[i] = (o[i] - t[i]) * gs;
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

static double mse_f64_block(void *p, fm_int i0, fm_int i1)
{
    ew_ctx *s = p;
    const double *o = s->o, *t = s->t;
    double *g = s->grad;
    double acc[8] = {0};
    fm_int i = i0;
    for (; i + 8 <= i1; i += 8)
        for (int l = 0; l < 8; l++) {
            double d = o[i + l] - t[i + l];
            acc[l] += d * d;
        }
    for (int l = 0; i < i1; i++, l++) {
        double d = o[i] - t[i];
        acc[l] += d * d;
    }
    if (g)
        for (i = i0; i < i1; i++)
            g[i] = (o[i] - t[i]) * s->gscale;
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

double fm_mse_f32(float *grad, const float *output, const float *target, fm_int size,
                  int n_threads)
{
    if (size <= 0)
        return 0.0;
    ew_ctx s = {grad, output, target, 2.0 / (double)size};
    return fm_blocked_sum(size, ELEMS_PER_BLOCK, n_threads, 0.5, mse_f32_block, &s) / (double)size;
}

double fm_mse_f64(double *grad, const double *output, const double *target, fm_int size,
                  int n_threads)
{
    if (size <= 0)
        return 0.0;
    ew_ctx s = {grad, output, target, 2.0 / (double)size};
    return fm_blocked_sum(size, ELEMS_PER_BLOCK, n_threads, 0.5, mse_f64_block, &s) / (double)size;
}

/* max(z, 0) - z t + log1p(exp(-|z|)) and sigmoid(z) = (z >= 0 ? 1 : e) / (1 + e), e = exp(-|z|) */
static double bce_f32_block(void *p, fm_int i0, fm_int i1)
{
    ew_ctx *s = p;
    const float *z = s->o, *t = s->t;
    float *g = s->grad;
    double sum = 0.0;
    for (fm_int i = i0; i < i1; i++) {
        double zi = z[i], ti = t[i];
        double e = exp(-fabs(zi));
        sum += (zi > 0.0 ? zi : 0.0) - zi * ti + log1p(e);
        if (g) {
            double sg = (zi >= 0.0 ? 1.0 : e) / (1.0 + e);
            g[i] = (float)((sg - ti) * s->gscale);
        }
    }
    return sum;
}

static double bce_f64_block(void *p, fm_int i0, fm_int i1)
{
    ew_ctx *s = p;
    const double *z = s->o, *t = s->t;
    double *g = s->grad;
    double sum = 0.0;
    for (fm_int i = i0; i < i1; i++) {
        double zi = z[i], ti = t[i];
        double e = exp(-fabs(zi));
        sum += (zi > 0.0 ? zi : 0.0) - zi * ti + log1p(e);
        if (g) {
            double sg = (zi >= 0.0 ? 1.0 : e) / (1.0 + e);
            g[i] = (sg - ti) * s->gscale;
        }
    }
    return sum;
}

double fm_bce_with_logits_f32(float *grad, const float *logits, const float *target, fm_int size,
                              int n_threads)
{
    if (size <= 0)
        return 0.0;
    ew_ctx s = {grad, logits, target, 1.0 / (double)size};
    return fm_blocked_sum(size, ELEMS_PER_BLOCK, n_threads, 15.0, bce_f32_block, &s) /
           (double)size;
}

double fm_bce_with_logits_f64(double *grad, const double *logits, const double *target,
                              fm_int size, int n_threads)
{
    if (size <= 0)
        return 0.0;
    ew_ctx s = {grad, logits, target, 1.0 / (double)size};
    return fm_blocked_sum(size, ELEMS_PER_BLOCK, n_threads, 15.0, bce_f64_block, &s) /
           (double)size;
}
