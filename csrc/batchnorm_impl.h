/* batchnorm_impl.h: the BatchNorm loop bodies for one dtype, included by
 * batchnorm.c with T = float / double and FN(name) = name ## _f32 / _f64. Each
 * body is wrapped once per ISA (target attribute), so the same portable loop is
 * auto-vectorised for generic x86-64, AVX2 and AVX-512. Statistics are summed in
 * double. */

/* statistics of items [i0, i1): item = (row block rb, feature chunk fc). With
 * the block's first row k as the shift: s1 = sum (x - k), s2 = sum (x - k)^2,
 * then the block's mean k + s1/nb and M2 = s2 - s1^2/nb are stored in p1, p2. */
FM_INLINE void FN(bn_stats_body)(const bn_ctx *c, fm_int i0, fm_int i1)
{
    const fm_int d = c->d;
    for (fm_int it = i0; it < i1; it++) {
        const fm_int rb = it / c->nfc, fc = it % c->nfc;
        const fm_int r0 = rb * BN_RB, r1 = FM_MIN(r0 + BN_RB, c->n);
        const fm_int j0 = fc * BN_FC, j1 = FM_MIN(j0 + BN_FC, d);
        double *FM_RESTRICT s1 = c->p1 + rb * d;
        double *FM_RESTRICT s2 = c->p2 + rb * d;
        const T *FM_RESTRICT k = (const T *)c->x + r0 * d;
        for (fm_int j = j0; j < j1; j++) {
            s1[j] = 0.0;
            s2[j] = 0.0;
        }
        /* rows of the block in order */
        for (fm_int r = r0 + 1; r < r1; r++) {
            const T *FM_RESTRICT xr = (const T *)c->x + r * d;
            for (fm_int j = j0; j < j1; j++) {
                double v = (double)xr[j] - (double)k[j];
                s1[j] += v;
                s2[j] += v * v;
            }
        }
        const double nb = (double)(r1 - r0);
        for (fm_int j = j0; j < j1; j++) {
            double m = s1[j] / nb;
            s2[j] = s2[j] - s1[j] * m;
            s1[j] = (double)k[j] + m;
        }
    }
}

/* y = (x - mean) * ca + beta on rows [r0, r1) (training: batch mean; inference:
 * running mean) */
FM_INLINE void FN(bn_affine_body)(const bn_ctx *c, fm_int r0, fm_int r1)
{
    const fm_int d = c->d;
    const T *FM_RESTRICT mean = (const T *)c->mean;
    const T *FM_RESTRICT ca = (const T *)c->ca;
    const T *FM_RESTRICT beta = (const T *)c->beta;
    for (fm_int r = r0; r < r1; r++) {
        const T *FM_RESTRICT xr = (const T *)c->x + r * d;
        T *FM_RESTRICT yr = (T *)c->y + r * d;
        for (fm_int j = 0; j < d; j++)
            yr[j] = (xr[j] - mean[j]) * ca[j] + beta[j];
    }
}

/* backward partial sums of items [i0, i1): p1 = sum dy, p2 = sum dy * (x - mean) */
FM_INLINE void FN(bn_bsum_body)(const bn_ctx *c, fm_int i0, fm_int i1)
{
    const fm_int d = c->d;
    const T *FM_RESTRICT mean = (const T *)c->mean;
    for (fm_int it = i0; it < i1; it++) {
        const fm_int rb = it / c->nfc, fc = it % c->nfc;
        const fm_int r0 = rb * BN_RB, r1 = FM_MIN(r0 + BN_RB, c->n);
        const fm_int j0 = fc * BN_FC, j1 = FM_MIN(j0 + BN_FC, d);
        double *FM_RESTRICT s1 = c->p1 + rb * d;
        double *FM_RESTRICT s2 = c->p2 + rb * d;
        for (fm_int j = j0; j < j1; j++) {
            s1[j] = 0.0;
            s2[j] = 0.0;
        }
        for (fm_int r = r0; r < r1; r++) {
            const T *FM_RESTRICT xr = (const T *)c->x + r * d;
            const T *FM_RESTRICT gr = (const T *)c->dy + r * d;
            for (fm_int j = j0; j < j1; j++) {
                double g = (double)gr[j];
                s1[j] += g;
                s2[j] += g * ((double)xr[j] - (double)mean[j]);
            }
        }
    }
}

/* dx = ca * (dy - cm) - ck * (x - mean) on rows [r0, r1) (training) */
FM_INLINE void FN(bn_dx_train_body)(const bn_ctx *c, fm_int r0, fm_int r1)
{
    const fm_int d = c->d;
    const T *FM_RESTRICT mean = (const T *)c->mean;
    const T *FM_RESTRICT ca = (const T *)c->ca;
    const T *FM_RESTRICT cm = (const T *)c->cm;
    const T *FM_RESTRICT ck = (const T *)c->ck;
    for (fm_int r = r0; r < r1; r++) {
        const T *FM_RESTRICT xr = (const T *)c->x + r * d;
        const T *FM_RESTRICT gr = (const T *)c->dy + r * d;
        T *FM_RESTRICT dxr = (T *)c->dx + r * d;
        for (fm_int j = 0; j < d; j++)
            dxr[j] = ca[j] * (gr[j] - cm[j]) - ck[j] * (xr[j] - mean[j]);
    }
}

/* dx = ca * dy on rows [r0, r1) (inference statistics are constants) */
FM_INLINE void FN(bn_dx_eval_body)(const bn_ctx *c, fm_int r0, fm_int r1)
{
    const fm_int d = c->d;
    const T *FM_RESTRICT ca = (const T *)c->ca;
    for (fm_int r = r0; r < r1; r++) {
        const T *FM_RESTRICT gr = (const T *)c->dy + r * d;
        T *FM_RESTRICT dxr = (T *)c->dx + r * d;
        for (fm_int j = 0; j < d; j++)
            dxr[j] = ca[j] * gr[j];
    }
}

static void FN(bn_stats_generic)(void *c, fm_int a, fm_int b) { FN(bn_stats_body)(c, a, b); }
static void FN(bn_affine_generic)(void *c, fm_int a, fm_int b) { FN(bn_affine_body)(c, a, b); }
static void FN(bn_bsum_generic)(void *c, fm_int a, fm_int b) { FN(bn_bsum_body)(c, a, b); }
static void FN(bn_dx_train_generic)(void *c, fm_int a, fm_int b) { FN(bn_dx_train_body)(c, a, b); }
static void FN(bn_dx_eval_generic)(void *c, fm_int a, fm_int b) { FN(bn_dx_eval_body)(c, a, b); }
#if FM_X86_SIMD
FM_TARGET_AVX2 static void FN(bn_stats_avx2)(void *c, fm_int a, fm_int b) { FN(bn_stats_body)(c, a, b); }
FM_TARGET_AVX2 static void FN(bn_affine_avx2)(void *c, fm_int a, fm_int b) { FN(bn_affine_body)(c, a, b); }
FM_TARGET_AVX2 static void FN(bn_bsum_avx2)(void *c, fm_int a, fm_int b) { FN(bn_bsum_body)(c, a, b); }
FM_TARGET_AVX2 static void FN(bn_dx_train_avx2)(void *c, fm_int a, fm_int b) { FN(bn_dx_train_body)(c, a, b); }
FM_TARGET_AVX2 static void FN(bn_dx_eval_avx2)(void *c, fm_int a, fm_int b) { FN(bn_dx_eval_body)(c, a, b); }
FM_TARGET_AVX512 static void FN(bn_stats_avx512)(void *c, fm_int a, fm_int b) { FN(bn_stats_body)(c, a, b); }
FM_TARGET_AVX512 static void FN(bn_affine_avx512)(void *c, fm_int a, fm_int b) { FN(bn_affine_body)(c, a, b); }
FM_TARGET_AVX512 static void FN(bn_bsum_avx512)(void *c, fm_int a, fm_int b) { FN(bn_bsum_body)(c, a, b); }
FM_TARGET_AVX512 static void FN(bn_dx_train_avx512)(void *c, fm_int a, fm_int b) { FN(bn_dx_train_body)(c, a, b); }
FM_TARGET_AVX512 static void FN(bn_dx_eval_avx512)(void *c, fm_int a, fm_int b) { FN(bn_dx_eval_body)(c, a, b); }
#endif

static bn_kernels FN(bn_kernels_active)(void)
{
    bn_kernels k = {FN(bn_stats_generic), FN(bn_affine_generic), FN(bn_bsum_generic),
                    FN(bn_dx_train_generic), FN(bn_dx_eval_generic)};
#if FM_X86_SIMD
    if (fm_isa_active() == FM_ISA_AVX512) {
        bn_kernels k5 = {FN(bn_stats_avx512), FN(bn_affine_avx512), FN(bn_bsum_avx512),
                         FN(bn_dx_train_avx512), FN(bn_dx_eval_avx512)};
        k = k5;
    } else if (fm_isa_active() == FM_ISA_AVX2) {
        bn_kernels k2 = {FN(bn_stats_avx2), FN(bn_affine_avx2), FN(bn_bsum_avx2),
                         FN(bn_dx_train_avx2), FN(bn_dx_eval_avx2)};
        k = k2;
    }
#endif
    return k;
}

/* ---------------------------------------------------------- entry points */

int FN(fm_batchnorm_forward_train)(T *y, T *mean, T *rstd, T *running_mean, T *running_var,
                                   const T *x, const T *gamma, const T *beta, fm_int n, fm_int d,
                                   double momentum, double eps, int n_threads)
{
    bn_ctx c;
    if (bn_setup(&c, n, d) != 0)
        return -1;
    bn_kernels k = FN(bn_kernels_active)();
    c.x = x;
    c.y = y;
    c.beta = beta;
    c.mean = mean;
    const double work = (double)n * (double)d;
    fm_parallel_for(c.nrb * c.nfc, 1, fm_threads_for(0.2 * work, n_threads), k.stats, &c);
    /* merge the blocks in order (Chan et al.): block sizes are the same for every
     * feature, so the weights are scalars and the loop over features vectorises */
    double *FM_RESTRICT ma = c.p1, *FM_RESTRICT m2 = c.p2;
    double na = (double)FM_MIN(BN_RB, n);
    for (fm_int b = 1; b < c.nrb; b++) {
        const double nb = (double)FM_MIN(BN_RB, n - b * BN_RB), nn = na + nb;
        const double f1 = nb / nn, f2 = na * nb / nn;
        const double *FM_RESTRICT mb = c.p1 + b * d, *FM_RESTRICT m2b = c.p2 + b * d;
        for (fm_int j = 0; j < d; j++) {
            double delta = mb[j] - ma[j];
            ma[j] += delta * f1;
            m2[j] += m2b[j] + delta * delta * f2;
        }
        na = nn;
    }
    T *ca = (T *)c.ca;
    const double unbias = (double)n / (double)(n - 1);
    for (fm_int j = 0; j < d; j++) {
        double var = m2[j] / (double)n;
        if (var < 0.0) /* rounding only; NaN passes */
            var = 0.0;
        const double rs = 1.0 / sqrt(var + eps);
        mean[j] = (T)ma[j];
        rstd[j] = (T)rs;
        ca[j] = gamma[j] * (T)rs;
        running_mean[j] = (T)((1.0 - momentum) * (double)running_mean[j] + momentum * ma[j]);
        running_var[j] = (T)((1.0 - momentum) * (double)running_var[j] + momentum * var * unbias);
    }
    fm_parallel_for(n, 1, fm_threads_for(0.3 * work, n_threads), k.affine, &c);
    return 0;
}

int FN(fm_batchnorm_forward_eval)(T *y, const T *x, const T *gamma, const T *beta,
                                  const T *running_mean, const T *running_var, fm_int n, fm_int d,
                                  double eps, int n_threads)
{
    bn_kernels k = FN(bn_kernels_active)();
    bn_ctx c;
    memset(&c, 0, sizeof c);
    c.n = n;
    c.d = d;
    c.x = x;
    c.y = y;
    c.beta = beta;
    c.mean = running_mean;
    T *ca = (T *)fm_workspace(BN_WS_SLOT, (size_t)FM_MAX(d, 1) * sizeof(T));
    if (!ca)
        return -1;
    for (fm_int j = 0; j < d; j++)
        ca[j] = gamma[j] * (T)(1.0 / sqrt((double)running_var[j] + eps));
    c.ca = ca;
    fm_parallel_for(n, 1, fm_threads_for(0.3 * (double)n * (double)d, n_threads), k.affine, &c);
    return 0;
}

int FN(fm_batchnorm_backward)(T *dx, T *dgamma, T *dbeta, const T *dy, const T *x, const T *mean,
                              const T *rstd, const T *gamma, fm_int n, fm_int d, int training,
                              int n_threads)
{
    bn_ctx c;
    if (bn_setup(&c, n, d) != 0)
        return -1;
    bn_kernels k = FN(bn_kernels_active)();
    c.x = x;
    c.dy = dy;
    c.dx = dx;
    c.mean = mean;
    const double work = (double)n * (double)d;
    fm_parallel_for(c.nrb * c.nfc, 1, fm_threads_for(0.3 * work, n_threads), k.bsum, &c);
    /* sum the blocks in order */
    double *FM_RESTRICT s1 = c.p1, *FM_RESTRICT s2 = c.p2;
    for (fm_int b = 1; b < c.nrb; b++) {
        const double *FM_RESTRICT t1 = c.p1 + b * d, *FM_RESTRICT t2 = c.p2 + b * d;
        for (fm_int j = 0; j < d; j++) {
            s1[j] += t1[j];
            s2[j] += t2[j];
        }
    }
    T *ca = (T *)c.ca, *cm = (T *)c.cm, *ck = (T *)c.ck;
    for (fm_int j = 0; j < d; j++) {
        const double rs = (double)rstd[j], a = (double)gamma[j] * rs;
        dgamma[j] = (T)(s2[j] * rs);
        dbeta[j] = (T)s1[j];
        ca[j] = (T)a;
        cm[j] = (T)(s1[j] / (double)n);
        ck[j] = (T)(a * rs * rs * s2[j] / (double)n);
    }
    fm_parallel_for(n, 1, fm_threads_for(0.3 * work, n_threads),
                    training ? k.dx_train : k.dx_eval, &c);
    return 0;
}
