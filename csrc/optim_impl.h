/* optim_impl.h: the element loops of the optimizers and of gradient clipping,
 * written once and included by optim.c per (dtype, ISA) with T (float/double),
 * SQRT (sqrtf/sqrt), TGT (an ISA target attribute or nothing) and FN(name)
 * (adds the dtype and ISA suffix) defined.
 *
 * Every update reads param, grad and its state once and writes param and state
 * once. The expressions are torch.optim's, operation for operation (see
 * reference.*_update): each hyperparameter is rounded to T first, as torch does
 * when it applies a Python scalar to a tensor, and optim.c turns off FMA
 * contraction so every product and sum is rounded as numpy rounds it. The
 * option tests (weight decay, momentum, ...) are loop-invariant; GCC unswitches
 * them and vectorises each variant for the target ISA. */

/* SGD: state0 = momentum_buffer. */
static TGT void FN(sgd_range)(T *FM_RESTRICT p, T *FM_RESTRICT s0, T *FM_RESTRICT s1,
                              T *FM_RESTRICT s2, const T *FM_RESTRICT g, fm_int n,
                              const optim_coefs *c)
{
    const T neg_lr = (T)c->neg_lr, wd = (T)c->wd, mom = (T)c->momentum, omd = (T)c->omd;
    const int wd_on = c->wd_mode != 0, mom_on = c->has_momentum;
    const int first = c->first, nesterov = c->nesterov;
    (void)s1; (void)s2;
    for (fm_int i = 0; i < n; i++) {
        T gi = g[i];
        if (wd_on)
            gi = gi + wd * p[i];
        if (mom_on) {
            T bi = first ? gi : s0[i] * mom + omd * gi;
            s0[i] = bi;
            gi = nesterov ? gi + mom * bi : bi;
        }
        p[i] = p[i] + neg_lr * gi;
    }
}

/* Adagrad: state0 = sum of squared gradients. */
static TGT void FN(adagrad_range)(T *FM_RESTRICT p, T *FM_RESTRICT s0, T *FM_RESTRICT s1,
                                  T *FM_RESTRICT s2, const T *FM_RESTRICT g, fm_int n,
                                  const optim_coefs *c)
{
    const T neg_lr = (T)c->neg_lr, wd = (T)c->wd, eps = (T)c->eps;
    const int wd_on = c->wd_mode != 0;
    (void)s1; (void)s2;
    for (fm_int i = 0; i < n; i++) {
        T pi = p[i], gi = g[i];
        if (wd_on)
            gi = gi + wd * pi;
        T si = s0[i] + gi * gi;
        s0[i] = si;
        p[i] = pi + (neg_lr * gi) / (SQRT(si) + eps);
    }
}

/* RMSprop: state0 = square_avg, state1 = momentum_buffer, state2 = grad_avg.
 * The body is instantiated per (momentum, centered) so each loop vectorises. */
FM_INLINE TGT void FN(rmsprop_body)(T *FM_RESTRICT p, T *FM_RESTRICT s0, T *FM_RESTRICT s1,
                                    T *FM_RESTRICT s2, const T *FM_RESTRICT g, fm_int n,
                                    const optim_coefs *c, const int mom_on, const int centered)
{
    const T neg_lr = (T)c->neg_lr, wd = (T)c->wd, eps = (T)c->eps, mom = (T)c->momentum;
    const T alpha = (T)c->alpha, oma = (T)c->oma, w = (T)c->lerp_w;
    const T omw = (T)1 - w;
    const int wd_on = c->wd_mode != 0;
    const int small = (w < (T)0.5 && w > (T)-0.5);
    for (fm_int i = 0; i < n; i++) {
        T pi = p[i], gi = g[i];
        if (wd_on)
            gi = gi + wd * pi;
        T sa = s0[i] * alpha + (oma * gi) * gi;
        s0[i] = sa;
        T avg;
        if (centered) {
            T ga = s2[i], d = gi - ga;
            ga = small ? ga + w * d : gi - d * omw;
            s2[i] = ga;
            avg = SQRT(sa - ga * ga) + eps;
        } else {
            avg = SQRT(sa) + eps;
        }
        if (mom_on) {
            T b = s1[i] * mom + gi / avg;
            s1[i] = b;
            p[i] = pi + neg_lr * b;
        } else {
            p[i] = pi + (neg_lr * gi) / avg;
        }
    }
}

static TGT void FN(rmsprop_range)(T *FM_RESTRICT p, T *FM_RESTRICT s0, T *FM_RESTRICT s1,
                                  T *FM_RESTRICT s2, const T *FM_RESTRICT g, fm_int n,
                                  const optim_coefs *c)
{
    if (c->has_momentum) {
        if (c->centered)
            FN(rmsprop_body)(p, s0, s1, s2, g, n, c, 1, 1);
        else
            FN(rmsprop_body)(p, s0, s1, s2, g, n, c, 1, 0);
    } else {
        if (c->centered)
            FN(rmsprop_body)(p, s0, s1, s2, g, n, c, 0, 1);
        else
            FN(rmsprop_body)(p, s0, s1, s2, g, n, c, 0, 0);
    }
}

/* Adam and AdamW: state0 = exp_avg, state1 = exp_avg_sq. */
static TGT void FN(adam_range)(T *FM_RESTRICT p, T *FM_RESTRICT s0, T *FM_RESTRICT s1,
                               T *FM_RESTRICT s2, const T *FM_RESTRICT g, fm_int n,
                               const optim_coefs *c)
{
    const T wd = (T)c->wd, wd_mul = (T)c->wd_mul, w = (T)c->lerp_w;
    const T omw = (T)1 - w, beta2 = (T)c->beta2, omb2 = (T)c->omb2;
    const T bc2s = (T)c->bc2_sqrt, eps = (T)c->eps, neg_step = (T)c->neg_step;
    const int wd_mode = c->wd_mode;
    const int small = (w < (T)0.5 && w > (T)-0.5);
    (void)s2;
    for (fm_int i = 0; i < n; i++) {
        T pi = p[i], gi = g[i];
        if (wd_mode == 1)
            gi = gi + wd * pi;
        else if (wd_mode == 2)
            pi = pi * wd_mul;
        T m = s0[i], d = gi - m;
        m = small ? m + w * d : gi - d * omw;
        T v = s1[i] * beta2;
        v = v + (omb2 * gi) * gi;
        s0[i] = m;
        s1[i] = v;
        p[i] = pi + (neg_step * m) / (SQRT(v) / bc2s + eps);
    }
}

/* Sum of squares of (x * scale) in double over one block, in 32 interleaved
 * lanes (enough independent chains to hide the add latency) folded in halves
 * (lane j += lane j + 16, then + 8, ...): the same bits on every ISA and thread. */
static TGT double FN(sumsq_block)(const T *FM_RESTRICT x, fm_int n, double scale)
{
    double acc[OPTIM_LANES] = {0};
    fm_int i = 0;
    for (; i + OPTIM_LANES <= n; i += OPTIM_LANES) {
        for (int j = 0; j < OPTIM_LANES; j++) {
            double v = (double)x[i + j] * scale;
            acc[j] += v * v;
        }
    }
    for (int j = 0; i + j < n; j++) {
        double v = (double)x[i + j] * scale;
        acc[j] += v * v;
    }
    for (int w = OPTIM_LANES / 2; w >= 1; w /= 2)
        for (int j = 0; j < w; j++)
            acc[j] += acc[j + w];
    return acc[0];
}

/* x = x * s. */
static TGT void FN(scale_range)(T *FM_RESTRICT x, fm_int n, double s)
{
    const T ts = (T)s;
    for (fm_int i = 0; i < n; i++)
        x[i] = x[i] * ts;
}

/* x = clamp(x, lo, hi), NaN kept (comparisons with NaN are false). */
static TGT void FN(clamp_range)(T *FM_RESTRICT x, fm_int n, double lo, double hi)
{
    const T tlo = (T)lo, thi = (T)hi;
    for (fm_int i = 0; i < n; i++) {
        T v = x[i];
        v = v < tlo ? tlo : v;
        x[i] = v > thi ? thi : v;
    }
}

static const FNS_T FN(fns) = {
    {FN(sgd_range), FN(adagrad_range), FN(rmsprop_range), FN(adam_range)},
    FN(sumsq_block), FN(scale_range), FN(clamp_range),
};
