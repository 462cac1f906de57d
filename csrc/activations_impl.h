/* activations_impl.h: the element-wise loops of activations.c, written once and
 * included per ISA with FN(name) defined (adds the ISA suffix) inside a target
 * region, so each loop is auto-vectorised for that ISA around the scalar math of
 * activations.c. The switch on the activation sits outside the loops: each case
 * inlines a loop specialised for one activation. */

FM_INLINE void FN(act_loop_f32)(float *y, const float *x, const float *bias, fm_int n,
                                fm_act act, float param)
{
    if (bias)
        for (fm_int i = 0; i < n; i++)
            y[i] = act_f32(x[i] + bias[i], act, param);
    else
        for (fm_int i = 0; i < n; i++)
            y[i] = act_f32(x[i], act, param);
}

static void FN(act_f32)(float *y, const float *x, const float *bias, fm_int n, fm_act act,
                        float param)
{
    switch (act) {
    case FM_ACT_RELU: FN(act_loop_f32)(y, x, bias, n, FM_ACT_RELU, param); break;
    case FM_ACT_SIGMOID: FN(act_loop_f32)(y, x, bias, n, FM_ACT_SIGMOID, param); break;
    case FM_ACT_TANH: FN(act_loop_f32)(y, x, bias, n, FM_ACT_TANH, param); break;
    case FM_ACT_LEAKY_RELU: FN(act_loop_f32)(y, x, bias, n, FM_ACT_LEAKY_RELU, param); break;
    case FM_ACT_ELU: FN(act_loop_f32)(y, x, bias, n, FM_ACT_ELU, param); break;
    default: FN(act_loop_f32)(y, x, bias, n, FM_ACT_NONE, param); break;
    }
}

FM_INLINE void FN(act_loop_f64)(double *y, const double *x, const double *bias, fm_int n,
                                fm_act act, double param)
{
    if (bias)
        for (fm_int i = 0; i < n; i++)
            y[i] = act_f64(x[i] + bias[i], act, param);
    else
        for (fm_int i = 0; i < n; i++)
            y[i] = act_f64(x[i], act, param);
}

static void FN(act_f64)(double *y, const double *x, const double *bias, fm_int n, fm_act act,
                        double param)
{
    switch (act) {
    case FM_ACT_RELU: FN(act_loop_f64)(y, x, bias, n, FM_ACT_RELU, param); break;
    case FM_ACT_SIGMOID: FN(act_loop_f64)(y, x, bias, n, FM_ACT_SIGMOID, param); break;
    case FM_ACT_TANH: FN(act_loop_f64)(y, x, bias, n, FM_ACT_TANH, param); break;
    case FM_ACT_LEAKY_RELU: FN(act_loop_f64)(y, x, bias, n, FM_ACT_LEAKY_RELU, param); break;
    case FM_ACT_ELU: FN(act_loop_f64)(y, x, bias, n, FM_ACT_ELU, param); break;
    default: FN(act_loop_f64)(y, x, bias, n, FM_ACT_NONE, param); break;
    }
}

FM_INLINE void FN(grad_loop_f32)(float *dx, const float *dy, const float *y, fm_int n,
                                 fm_act act, float param)
{
    for (fm_int i = 0; i < n; i++)
        dx[i] = act_grad_f32(dy[i], y[i], act, param);
}

static void FN(act_grad_f32)(float *dx, const float *dy, const float *y, fm_int n, fm_act act,
                             float param)
{
    switch (act) {
    case FM_ACT_RELU: FN(grad_loop_f32)(dx, dy, y, n, FM_ACT_RELU, param); break;
    case FM_ACT_SIGMOID: FN(grad_loop_f32)(dx, dy, y, n, FM_ACT_SIGMOID, param); break;
    case FM_ACT_TANH: FN(grad_loop_f32)(dx, dy, y, n, FM_ACT_TANH, param); break;
    case FM_ACT_LEAKY_RELU: FN(grad_loop_f32)(dx, dy, y, n, FM_ACT_LEAKY_RELU, param); break;
    case FM_ACT_ELU: FN(grad_loop_f32)(dx, dy, y, n, FM_ACT_ELU, param); break;
    default: FN(grad_loop_f32)(dx, dy, y, n, FM_ACT_NONE, param); break;
    }
}

FM_INLINE void FN(grad_loop_f64)(double *dx, const double *dy, const double *y, fm_int n,
                                 fm_act act, double param)
{
    for (fm_int i = 0; i < n; i++)
        dx[i] = act_grad_f64(dy[i], y[i], act, param);
}

static void FN(act_grad_f64)(double *dx, const double *dy, const double *y, fm_int n,
                             fm_act act, double param)
{
    switch (act) {
    case FM_ACT_RELU: FN(grad_loop_f64)(dx, dy, y, n, FM_ACT_RELU, param); break;
    case FM_ACT_SIGMOID: FN(grad_loop_f64)(dx, dy, y, n, FM_ACT_SIGMOID, param); break;
    case FM_ACT_TANH: FN(grad_loop_f64)(dx, dy, y, n, FM_ACT_TANH, param); break;
    case FM_ACT_LEAKY_RELU: FN(grad_loop_f64)(dx, dy, y, n, FM_ACT_LEAKY_RELU, param); break;
    case FM_ACT_ELU: FN(grad_loop_f64)(dx, dy, y, n, FM_ACT_ELU, param); break;
    default: FN(grad_loop_f64)(dx, dy, y, n, FM_ACT_NONE, param); break;
    }
}

/* max as an integer max over order-preserving keys (vectorises without
 * fast-math). A NaN may or may not win; either way exp(x - m) then makes the
 * row's sum NaN, which is all the softmax kernels need. */
static float FN(row_max_f32)(const float *x, fm_int n)
{
    int32_t best = INT32_MIN;
    for (fm_int i = 0; i < n; i++)
        best = FM_MAX(best, float_key(x[i]));
    return float_from_key(best);
}

static double FN(row_max_f64)(const double *x, fm_int n)
{
    int64_t best = INT64_MIN;
    for (fm_int i = 0; i < n; i++)
        best = FM_MAX(best, double_key(x[i]));
    return double_from_key(best);
}

/* e = exp(x - m) (one vectorised pass), then its sum over 16 lanes (the same
 * order on every ISA), the lanes added pairwise */
static float FN(exp_shift_sum_f32)(float *e, const float *x, fm_int n, float m)
{
    for (fm_int i = 0; i < n; i++)
        e[i] = exp_le0_f32(x[i] - m);
    float s[16] = {0};
    fm_int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++)
            s[j] += e[i + j];
    for (int j = 0; i < n; i++, j++)
        s[j] += e[i];
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++)
            s[j] += s[j + w];
    return s[0];
}

static double FN(exp_shift_sum_f64)(double *e, const double *x, fm_int n, double m)
{
    for (fm_int i = 0; i < n; i++)
        e[i] = exp_le0_f64(x[i] - m);
    double s[8] = {0};
    fm_int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            s[j] += e[i + j];
    for (int j = 0; i < n; i++, j++)
        s[j] += e[i];
    for (int w = 4; w >= 1; w /= 2)
        for (int j = 0; j < w; j++)
            s[j] += s[j + w];
    return s[0];
}

static const fm_act_table_f32 FN(kernels_f32) = {
    FN(act_f32), FN(act_grad_f32), FN(row_max_f32), FN(exp_shift_sum_f32)};
static const fm_act_table_f64 FN(kernels_f64) = {
    FN(act_f64), FN(act_grad_f64), FN(row_max_f64), FN(exp_shift_sum_f64)};
