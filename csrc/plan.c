/* plan.c: a compiled training plan for a Sequential of built-in layers.
 *
 * fm_train_plan_run trains many mini-batches in one call: it gathers each batch's
 * rows, runs the forward (Dense with its fused activation, activations, softmax,
 * BatchNorm, Dropout), the loss (softmax cross-entropy on labels or probabilities,
 * MSE), the backward, the L1/L2 penalties, gradient clipping and the optimizer
 * update of every parameter, over workspaces allocated once. It calls the same
 * kernels with the same arguments in the same order as fastmlp.model's Python
 * fit loop (Sequential._fit_loop), so both give the same bits; nothing here
 * computes on the data except the row gather and the argmax for accuracy.
 *
 * Shapes: X (n, d_x) rows, targets labels (n,) or T (n, d_t); a batch has m <= cap
 * rows; layer l maps (m, d_in) to (m, d_out).
 *
 * The few scalars formed here (the penalty total, the clipping factor, Adagrad's
 * decayed lr) are formed as Python forms them: FMA contraction is off. */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "internal.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------- workspaces */

static size_t round_up(size_t bytes)
{
    return (bytes + 63) & ~(size_t)63;
}

/* Walk the workspace layout: with base NULL only count the bytes. */
static size_t layout(fm_train_plan *p, char *base)
{
    size_t es = p->is_double ? sizeof(double) : sizeof(float), off = 0;
    fm_int cap = p->cap, l;
#define TAKE(dst, bytes)                                   \
    do {                                                   \
        size_t b_ = round_up(bytes);                       \
        if (base) (dst) = (void *)(base + off);            \
        off += b_;                                         \
    } while (0)
    TAKE(p->xb, (size_t)cap * p->d_x * es);
    TAKE(p->tb, (size_t)cap * (p->loss == FM_PLAN_LABELS ? sizeof(int64_t) : p->d_t * es));
    TAKE(p->lb, (size_t)cap * sizeof(int64_t));
    for (l = 0; l < p->n_layers; l++) {
        fm_plan_layer *L = &p->layers[l];
        size_t out = (size_t)cap * L->d_out * es, in = (size_t)cap * L->d_in * es;
        L->y = L->dx = L->dz = L->mean = L->rstd = L->snap_mean = L->snap_var = NULL;
        L->mask = NULL;
        TAKE(L->y, out);
        if (L->op != FM_PLAN_DENSE || L->need_dx) TAKE(L->dx, in);
        if (L->op == FM_PLAN_DENSE && L->act != FM_ACT_NONE) TAKE(L->dz, out);
        if (L->op == FM_PLAN_BATCHNORM) {
            TAKE(L->mean, L->d_out * es);
            TAKE(L->rstd, L->d_out * es);
            TAKE(L->snap_mean, L->d_out * es);
            TAKE(L->snap_var, L->d_out * es);
        }
        if (L->op == FM_PLAN_DROPOUT) TAKE(L->mask, (size_t)cap * L->d_out);
    }
    TAKE(p->grad_out, (size_t)cap * p->layers[p->n_layers - 1].d_out * es);
#undef TAKE
    return off;
}

int fm_train_plan_alloc(fm_train_plan *p)
{
    size_t bytes = layout(p, NULL);
    char *base = fm_aligned_alloc(bytes ? bytes : 64);
    if (!base) return -1;
    p->block = base;
    layout(p, base);
    return 0;
}

void fm_train_plan_free(fm_train_plan *p)
{
    if (p->block) fm_aligned_free(p->block);
    p->block = NULL;
}

/* ------------------------------------------------ one kernel call per step */

static int dense_forward(const fm_train_plan *p, const fm_plan_layer *L, const void *x, fm_int m,
                         int nt)
{
    if (p->is_double)
        return fm_dense_forward_f64(L->y, x, L->W, L->b, m, L->d_in, L->d_out, L->act,
                                    L->act_param, nt);
    return fm_dense_forward_f32(L->y, x, L->W, L->b, m, L->d_in, L->d_out, L->act,
                                (float)L->act_param, nt);
}

static int dense_backward(const fm_train_plan *p, const fm_plan_layer *L, const void *dy,
                          const void *x, fm_int m, int nt)
{
    if (p->is_double)
        return fm_dense_backward_f64(L->dx, L->dW, L->db, L->dz, dy, x, L->W, L->y, m, L->d_in,
                                     L->d_out, L->act, L->act_param, nt);
    return fm_dense_backward_f32(L->dx, L->dW, L->db, L->dz, dy, x, L->W, L->y, m, L->d_in,
                                 L->d_out, L->act, (float)L->act_param, nt);
}

/* the forward of layer L on x (m rows); returns its output, NULL on allocation failure */
static const void *layer_forward(const fm_train_plan *p, fm_plan_layer *L, const void *x,
                                 fm_int m, int nt)
{
    int dbl = p->is_double, rc = 0;
    fm_int size = m * L->d_out;
    switch (L->op) {
    case FM_PLAN_DENSE:
        rc = dense_forward(p, L, x, m, nt);
        break;
    case FM_PLAN_ACT:
        if (dbl) fm_activation_forward_f64(L->y, x, size, L->act, L->act_param, nt);
        else fm_activation_forward_f32(L->y, x, size, L->act, (float)L->act_param, nt);
        break;
    case FM_PLAN_SOFTMAX:
        if (dbl) fm_softmax_forward_f64(L->y, x, m, L->d_out, nt);
        else fm_softmax_forward_f32(L->y, x, m, L->d_out, nt);
        break;
    case FM_PLAN_BATCHNORM:
        rc = dbl ? fm_batchnorm_forward_train_f64(L->y, L->mean, L->rstd, L->running_mean,
                                                  L->running_var, x, L->gamma, L->beta, m,
                                                  L->d_out, L->momentum, L->eps, nt)
                 : fm_batchnorm_forward_train_f32(L->y, L->mean, L->rstd, L->running_mean,
                                                  L->running_var, x, L->gamma, L->beta, m,
                                                  L->d_out, L->momentum, L->eps, nt);
        break;
    case FM_PLAN_DROPOUT:
        if (dbl) fm_dropout_forward_f64(L->y, L->mask, x, size, L->p, L->seed, L->counter, nt);
        else fm_dropout_forward_f32(L->y, L->mask, x, size, L->p, L->seed, L->counter, nt);
        L->counter++;
        break;
    }
    return rc ? NULL : L->y;
}

/* the backward of layer L: dy (m, d_out) -> L->dx; x and y are the forward's */
static int layer_backward(const fm_train_plan *p, const fm_plan_layer *L, const void *dy,
                          const void *x, fm_int m, int nt)
{
    int dbl = p->is_double;
    fm_int size = m * L->d_out;
    switch (L->op) {
    case FM_PLAN_DENSE:
        return dense_backward(p, L, dy, x, m, nt);
    case FM_PLAN_ACT:
        if (dbl) fm_activation_backward_f64(L->dx, dy, L->y, size, L->act, L->act_param, nt);
        else fm_activation_backward_f32(L->dx, dy, L->y, size, L->act, (float)L->act_param, nt);
        return 0;
    case FM_PLAN_SOFTMAX:
        if (dbl) fm_softmax_backward_f64(L->dx, dy, L->y, m, L->d_out, nt);
        else fm_softmax_backward_f32(L->dx, dy, L->y, m, L->d_out, nt);
        return 0;
    case FM_PLAN_BATCHNORM:
        return dbl ? fm_batchnorm_backward_f64(L->dx, L->dgamma, L->dbeta, dy, x, L->mean,
                                               L->rstd, L->gamma, m, L->d_out, 1, nt)
                   : fm_batchnorm_backward_f32(L->dx, L->dgamma, L->dbeta, dy, x, L->mean,
                                               L->rstd, L->gamma, m, L->d_out, 1, nt);
    case FM_PLAN_DROPOUT:
        if (dbl) fm_dropout_backward_f64(L->dx, dy, L->mask, size, L->p, nt);
        else fm_dropout_backward_f32(L->dx, dy, L->mask, size, L->p, nt);
        return 0;
    }
    return 0;
}

/* the optimizer's update of every parameter (optim.py's step, one native call) */
static void optimizer_step(fm_train_plan *p, int nt)
{
    fm_int n = p->n_params, step = p->step + 1;
    if (p->is_double) {
        double **P = (double **)p->params;
        const double *const *G = (const double *const *)p->grads;
        switch (p->opt) {
        case FM_PLAN_SGD:
            fm_sgd_update_f64(P, (double **)p->state0, G, p->sizes, n, p->lr, p->momentum,
                              p->dampening, p->weight_decay, p->nesterov, p->first, nt);
            break;
        case FM_PLAN_ADAGRAD: {
            volatile double decay = (double)(step - 1) * p->lr_decay;  /* no FMA, as Python */
            fm_adagrad_update_f64(P, (double **)p->state0, G, p->sizes, n,
                                  p->lr / (1 + decay), p->eps, p->weight_decay, nt);
            break;
        }
        case FM_PLAN_RMSPROP:
            fm_rmsprop_update_f64(P, (double **)p->state0, (double **)p->state1,
                                  (double **)p->state2, G, p->sizes, n, p->lr, p->alpha, p->eps,
                                  p->momentum, p->weight_decay, p->centered, nt);
            break;
        case FM_PLAN_ADAM:
            fm_adam_update_f64(P, (double **)p->state0, (double **)p->state1, G, p->sizes, n,
                               p->lr, p->beta1, p->beta2, p->eps, p->weight_decay, p->decoupled,
                               step, nt);
            break;
        }
    } else {
        float **P = (float **)p->params;
        const float *const *G = (const float *const *)p->grads;
        switch (p->opt) {
        case FM_PLAN_SGD:
            fm_sgd_update_f32(P, (float **)p->state0, G, p->sizes, n, p->lr, p->momentum,
                              p->dampening, p->weight_decay, p->nesterov, p->first, nt);
            break;
        case FM_PLAN_ADAGRAD: {
            volatile double decay = (double)(step - 1) * p->lr_decay;
            fm_adagrad_update_f32(P, (float **)p->state0, G, p->sizes, n,
                                  p->lr / (1 + decay), p->eps, p->weight_decay, nt);
            break;
        }
        case FM_PLAN_RMSPROP:
            fm_rmsprop_update_f32(P, (float **)p->state0, (float **)p->state1,
                                  (float **)p->state2, G, p->sizes, n, p->lr, p->alpha, p->eps,
                                  p->momentum, p->weight_decay, p->centered, nt);
            break;
        case FM_PLAN_ADAM:
            fm_adam_update_f32(P, (float **)p->state0, (float **)p->state1, G, p->sizes, n,
                               p->lr, p->beta1, p->beta2, p->eps, p->weight_decay, p->decoupled,
                               step, nt);
            break;
        }
    }
    p->first = 0;
    p->step = step;
}

/* clip_grad_norm (error_if_nonfinite=False) and clip_grad_value, as optim.py */
static int clip(fm_train_plan *p, int nt)
{
    if (p->has_clip_norm) {
        double total, coef;
        int rc = p->is_double
            ? fm_grad_norm_f64(&total, (const double *const *)p->grads, p->sizes, p->n_params, nt)
            : fm_grad_norm_f32(&total, (const float *const *)p->grads, p->sizes, p->n_params, nt);
        if (rc) return -1;
        coef = p->clip_norm / (total + 1e-6);
        if (!(coef >= 1.0)) {  /* also when coef is NaN */
            if (p->is_double) fm_grad_scale_f64((double **)p->grads, p->sizes, p->n_params, coef, nt);
            else fm_grad_scale_f32((float **)p->grads, p->sizes, p->n_params, coef, nt);
        }
    }
    if (p->has_clip_value) {
        if (p->is_double)
            fm_grad_clamp_f64((double **)p->grads, p->sizes, p->n_params, -p->clip_value,
                              p->clip_value, nt);
        else
            fm_grad_clamp_f32((float **)p->grads, p->sizes, p->n_params, -p->clip_value,
                              p->clip_value, nt);
    }
    return 0;
}

/* rows where argmax(out) == label (numpy's argmax: first maximum, NaN wins) */
static fm_int count_correct(const fm_train_plan *p, const void *out, const int64_t *lb, fm_int m,
                           fm_int c)
{
    fm_int i, j, hits = 0;
    for (i = 0; i < m; i++) {
        fm_int best = 0;
        if (p->is_double) {
            const double *r = (const double *)out + i * c;
            for (j = 1; j < c && r[best] == r[best]; j++)
                if (r[j] > r[best] || r[j] != r[j]) best = j;
        } else {
            const float *r = (const float *)out + i * c;
            for (j = 1; j < c && r[best] == r[best]; j++)
                if (r[j] > r[best] || r[j] != r[j]) best = j;
        }
        hits += best == lb[i];
    }
    return hits;
}

static double penalties(const fm_train_plan *p, int nt)
{
    double total = 0.0;
    fm_int l;
    for (l = 0; l < p->n_layers; l++) {
        const fm_plan_layer *L = &p->layers[l];
        if (L->op != FM_PLAN_DENSE || !(L->l1 != 0 || L->l2 != 0)) continue;
        total += p->is_double
            ? fm_penalty_f64(L->dW, L->W, L->d_in * L->d_out, L->l1, L->l2, nt)
            : fm_penalty_f32(L->dW, L->W, L->d_in * L->d_out, L->l1, L->l2, nt);
    }
    return total;
}

/* The rows of the batch after this one, asked for while this one computes: they
 * sit at random places in X, and a batch of small rows is latency-bound. A few
 * rows at a time, between the step's kernels (after the gather and after each
 * layer's forward and backward): issued at once, the prefetches of a batch
 * waited for free miss buffers (in workload (a), 73% of the loop's own time sat
 * on one prefetch instruction) and fewer of the rows were in L2 when gathered.
 * A C loop gathering 10 random rows of 3136 bytes after ~20 us of other work:
 * 3.9 us without prefetches, 1.75 us with all prefetched at once, 1.1 us with a
 * row at a time spread over the work. */
typedef struct {
    const void *X;
    const int64_t *idx;   /* the next batch's rows; NULL: nothing to prefetch */
    fm_int m, done;
    size_t xrow;
    int parts, part;
} row_prefetch;

/* the next of f->parts slices of the rows */
static void prefetch_some(row_prefetch *f)
{
    if (!f->idx || f->part >= f->parts)
        return;
    f->part++;
    for (fm_int end = f->m * f->part / f->parts; f->done < end; f->done++) {
        const char *row = (const char *)f->X + f->idx[f->done] * f->xrow;
        for (size_t off = 0; off < f->xrow; off += 64)
            __builtin_prefetch(row + off, 0, 1);
    }
}

/* whatever rows are left */
static void prefetch_rest(row_prefetch *f)
{
    if (f->part < f->parts) {
        f->part = f->parts - 1;
        prefetch_some(f);
    }
}

/* --------------------------------------------------------------- the loop */

fm_int fm_train_plan_run(fm_train_plan *p, const void *X, const void *T, const int64_t *labels,
                         const int64_t *order, const fm_int *starts, fm_int b0, fm_int n_batches,
                         double *losses, fm_int *correct, int check_x, int *status, int nt)
{
    size_t es = p->is_double ? sizeof(double) : sizeof(float);
    size_t xrow = (size_t)p->d_x * es, trow = (size_t)p->d_t * es;
    fm_int nl = p->n_layers, c = p->layers[nl - 1].d_out, b, i, l;
    *status = 0;
    for (b = 0; b < n_batches; b++) {
        fm_int s = starts[b0 + b], m = starts[b0 + b + 1] - s;
        const void *x, *t;
        const int64_t *lb = NULL;
        row_prefetch pf = {X, NULL, 0, 0, xrow, 2 * (int)nl + 1, 0};
        double value;
        /* the batch: rows gathered in the shuffled order, or a slice; check_x: fit
         * left X's NaN/Inf check to this pass over the rows (status 2 before
         * anything of the batch is computed) */
        if (order) {
            const int64_t *idx = order + s;
            if (check_x) {
                if (!fm_gather_rows_finite(p->xb, X, idx, m, p->d_x, p->is_double)) {
                    *status = 2;
                    return b;
                }
            } else {
                for (i = 0; i < m; i++)
                    memcpy((char *)p->xb + i * xrow, (const char *)X + idx[i] * xrow, xrow);
            }
            if (p->loss == FM_PLAN_LABELS) {
                for (i = 0; i < m; i++) ((int64_t *)p->tb)[i] = ((const int64_t *)T)[idx[i]];
            } else {
                for (i = 0; i < m; i++)
                    memcpy((char *)p->tb + i * trow, (const char *)T + idx[i] * trow, trow);
            }
            if (labels) {
                for (i = 0; i < m; i++) p->lb[i] = labels[idx[i]];
                lb = p->lb;
            }
            x = p->xb;
            t = p->tb;
            if (b + 1 < n_batches) {
                pf.idx = order + starts[b0 + b + 1];
                pf.m = starts[b0 + b + 2] - starts[b0 + b + 1];
                prefetch_some(&pf);
            }
        } else {
            x = (const char *)X + s * xrow;
            t = p->loss == FM_PLAN_LABELS ? (const void *)((const int64_t *)T + s)
                                          : (const void *)((const char *)T + s * trow);
            lb = labels ? labels + s : NULL;
            if (check_x && !(p->is_double ? fm_all_finite_f64(x, m * p->d_x, 1)
                                          : fm_all_finite_f32(x, m * p->d_x, 1))) {
                *status = 2;
                return b;
            }
        }
        /* forward, keeping the running statistics this batch started from */
        for (l = 0; l < nl; l++) {
            fm_plan_layer *L = &p->layers[l];
            if (L->op == FM_PLAN_BATCHNORM) {
                memcpy(L->snap_mean, L->running_mean, L->d_out * es);
                memcpy(L->snap_var, L->running_var, L->d_out * es);
            }
        }
        {
            const void *h = x;
            for (l = 0; l < nl; l++) {
                h = layer_forward(p, &p->layers[l], h, m, nt);
                if (!h) {
                    *status = -1;
                    return b;
                }
                prefetch_some(&pf);
            }
        }
        /* loss (and its gradient) */
        {
            const void *out = p->layers[nl - 1].y;
            if (p->loss == FM_PLAN_LABELS)
                value = p->is_double
                    ? fm_softmax_cross_entropy_f64(p->grad_out, out, t, m, c, nt)
                    : fm_softmax_cross_entropy_f32(p->grad_out, out, t, m, c, nt);
            else if (p->loss == FM_PLAN_PROBS)
                value = p->is_double
                    ? fm_softmax_cross_entropy_probs_f64(p->grad_out, out, t, m, c, nt)
                    : fm_softmax_cross_entropy_probs_f32(p->grad_out, out, t, m, c, nt);
            else
                value = p->is_double ? fm_mse_f64(p->grad_out, out, t, m * c, nt)
                                     : fm_mse_f32(p->grad_out, out, t, m * c, nt);
            if (!isfinite(value)) {
                for (l = 0; l < nl; l++) {
                    fm_plan_layer *L = &p->layers[l];
                    if (L->op == FM_PLAN_BATCHNORM) {
                        memcpy(L->running_mean, L->snap_mean, L->d_out * es);
                        memcpy(L->running_var, L->snap_var, L->d_out * es);
                    }
                }
                losses[b] = value;
                correct[b] = 0;
                *status = 1;
                return b;
            }
            correct[b] = lb ? count_correct(p, out, lb, m, c) : 0;
        }
        /* backward, last layer first; a first Dense computes no dx */
        {
            const void *dy = p->grad_out;
            for (l = nl - 1; l >= 0; l--) {
                const fm_plan_layer *L = &p->layers[l];
                const void *xin = l ? p->layers[l - 1].y : x;
                if (layer_backward(p, L, dy, xin, m, nt)) {
                    *status = -1;
                    return b;
                }
                prefetch_some(&pf);
                if (!L->dx) break;
                dy = L->dx;
            }
        }
        prefetch_rest(&pf);  /* the backward may stop early */
        if (p->penalize) value += penalties(p, nt);
        if (clip(p, nt)) {
            *status = -1;
            return b;
        }
        optimizer_step(p, nt);
        losses[b] = value;
    }
    return n_batches;
}
