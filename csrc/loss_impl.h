/* loss_impl.h: the loss bodies and entry points for one dtype, included by loss.c
 * with T = float / double, FN(name) = name ## _f32 / _f64, and CE_NS / CE_PROBS_NS
 * (ns per logit of the label and probability losses: when threads pay).
 *
 * Sums are double in both dtypes. What the float32 kernels do in float stays in T:
 * m - x[j] is rounded in T before it is widened, the gradient is formed in T. The
 * (double) casts are no-ops for T = double, so each copy keeps its operations.
 * FN(fm_act_table) / FN(fm_act_kernels) are the dtype's kernels (act_internal.h). */

static double FN(ce_labels_block)(void *p, fm_int r0, fm_int r1)
{
    sm_ctx *s = p;
    const FN(fm_act_table) *k = s->kern;
    const int64_t *labels = s->t;
    fm_int c = s->c;
    T inv_n = (T)1 / (T)s->n;
    T *scratch = s->grad ? NULL : fm_workspace(2, (size_t)c * sizeof(T));
    if (!s->grad && !scratch)
        return NAN;
    double sum = 0.0;
    for (fm_int r = r0; r < r1; r++) {
        const T *x = (const T *)s->x + r * c;
        T *e = s->grad ? (T *)s->grad + r * c : scratch;
        fm_int y = labels[r];
        T m = k->row_max(x, c);
        T se = k->exp_shift_sum(e, x, c, m);
        sum += (double)(m - x[y]) + log((double)se);
        if (s->grad) {
            T scale = inv_n / se;
            for (fm_int j = 0; j < c; j++)
                e[j] *= scale;
            e[y] -= inv_n;
        }
    }
    return sum;
}

/* probabilities: row loss = sum_j t_j (m - x_j) + T log(sum e), T = sum_j t_j;
 * grad_j = (e_j / sum e * T - t_j) / n; KL adds sum_j t_j log t_j (t_j > 0) */
static double FN(ce_probs_block)(void *p, fm_int r0, fm_int r1)
{
    sm_ctx *s = p;
    const FN(fm_act_table) *k = s->kern;
    fm_int c = s->c;
    T inv_n = (T)1 / (T)s->n;
    T *scratch = s->grad ? NULL : fm_workspace(2, (size_t)c * sizeof(T));
    if (!s->grad && !scratch)
        return NAN;
    double sum = 0.0;
    for (fm_int r = r0; r < r1; r++) {
        const T *x = (const T *)s->x + r * c, *t = (const T *)s->t + r * c;
        T *e = s->grad ? (T *)s->grad + r * c : scratch;
        T m = k->row_max(x, c);
        T se = k->exp_shift_sum(e, x, c, m);
        double tsum = 0.0, tdot = 0.0, tlogt = 0.0;
        for (fm_int j = 0; j < c; j++) {
            tsum += t[j];
            tdot += (double)t[j] * (double)(m - x[j]);
        }
        if (s->kl)
            for (fm_int j = 0; j < c; j++)
                if (t[j] > (T)0)
                    tlogt += (double)t[j] * log((double)t[j]);
        sum += tdot + tsum * log((double)se) + tlogt;
        if (s->grad) {
            T scale = (T)tsum / se;
            for (fm_int j = 0; j < c; j++)
                e[j] = (e[j] * scale - t[j]) * inv_n;
        }
    }
    return sum;
}

/* the softmax losses' mean over rows: t is the labels or the target */
static double FN(softmax_loss)(T *grad, const T *logits, const void *t, fm_int n, fm_int c,
                               int kl, double ns_per_logit, fm_block_sum_fn block, int n_threads)
{
    if (n <= 0)
        return 0.0;
    sm_ctx s = {grad, logits, t, n, c, kl, FN(fm_act_kernels)()};
    return fm_blocked_sum(n, ROWS_PER_BLOCK, n_threads, ns_per_logit * (double)c, block, &s) /
           (double)n;
}

double FN(fm_softmax_cross_entropy)(T *grad, const T *logits, const int64_t *labels, fm_int n,
                                    fm_int c, int n_threads)
{
    return FN(softmax_loss)(grad, logits, labels, n, c, 0, CE_NS, FN(ce_labels_block), n_threads);
}

double FN(fm_softmax_cross_entropy_probs)(T *grad, const T *logits, const T *target, fm_int n,
                                          fm_int c, int n_threads)
{
    return FN(softmax_loss)(grad, logits, target, n, c, 0, CE_PROBS_NS, FN(ce_probs_block),
                            n_threads);
}

double FN(fm_kl_div)(T *grad, const T *logits, const T *target, fm_int n, fm_int c,
                     int n_threads)
{
    return FN(softmax_loss)(grad, logits, target, n, c, 1, 5.0, FN(ce_probs_block), n_threads);
}

/* squared differences in double (8 lanes, a fixed tree); the gradient in T */
static double FN(mse_block)(void *p, fm_int i0, fm_int i1)
{
    ew_ctx *s = p;
    const T *o = s->o, *t = s->t;
    T *g = s->grad;
    const T gs = (T)s->gscale;
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

double FN(fm_mse)(T *grad, const T *output, const T *target, fm_int size, int n_threads)
{
    if (size <= 0)
        return 0.0;
    ew_ctx s = {grad, output, target, 2.0 / (double)size};
    return fm_blocked_sum(size, ELEMS_PER_BLOCK, n_threads, 0.5, FN(mse_block), &s) /
           (double)size;
}

/* max(z, 0) - z t + log1p(exp(-|z|)) and sigmoid(z) = (z >= 0 ? 1 : e) / (1 + e),
 * e = exp(-|z|), all in double; the gradient rounded to T once */
static double FN(bce_block)(void *p, fm_int i0, fm_int i1)
{
    ew_ctx *s = p;
    const T *z = s->o, *t = s->t;
    T *g = s->grad;
    double sum = 0.0;
    for (fm_int i = i0; i < i1; i++) {
        double zi = z[i], ti = t[i];
        double e = exp(-fabs(zi));
        sum += (zi > 0.0 ? zi : 0.0) - zi * ti + log1p(e);
        if (g) {
            double sg = (zi >= 0.0 ? 1.0 : e) / (1.0 + e);
            g[i] = (T)((sg - ti) * s->gscale);
        }
    }
    return sum;
}

double FN(fm_bce_with_logits)(T *grad, const T *logits, const T *target, fm_int size,
                              int n_threads)
{
    if (size <= 0)
        return 0.0;
    ew_ctx s = {grad, logits, target, 1.0 / (double)size};
    return fm_blocked_sum(size, ELEMS_PER_BLOCK, n_threads, 15.0, FN(bce_block), &s) /
           (double)size;
}
