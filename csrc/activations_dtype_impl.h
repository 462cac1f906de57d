/* activations_dtype_impl.h: the parts of activations.c alike in both dtypes,
 * included by activations.c with T = float / double and FN(name) = name ## _f32 /
 * _f64, after the scalar math (called as FN(sigmoid) etc.) and before the per-ISA
 * loops, which inline FN(act) and FN(act_grad). ACT_NS, SOFTMAX_NS and
 * SOFTMAX_BWD_NS are ns per element: they decide when threads pay. */

FM_INLINE T FN(relu)(T x) { return x < (T)0 ? (T)0 : x; } /* NaN stays */

FM_INLINE T FN(act)(T v, fm_act act, T param)
{
    switch (act) {
    case FM_ACT_RELU: return FN(relu)(v);
    case FM_ACT_SIGMOID: return FN(sigmoid)(v);
    case FM_ACT_TANH: return FN(tanh)(v);
    case FM_ACT_LEAKY_RELU: return v > (T)0 ? v : v * param;
    case FM_ACT_ELU: return v > (T)0 ? v : param * FN(expm1_le0)(v > (T)0 ? (T)0 : v);
    default: return v;
    }
}

/* the derivative from the output y (see reference.activation_backward) */
FM_INLINE T FN(act_grad)(T dy, T y, fm_act act, T param)
{
    switch (act) {
    case FM_ACT_RELU: return y <= (T)0 ? (T)0 : dy;
    case FM_ACT_SIGMOID: return dy * (y * ((T)1 - y));
    case FM_ACT_TANH: return dy * ((T)1 - y * y);
    case FM_ACT_LEAKY_RELU: return y <= (T)0 ? dy * param : dy;
    case FM_ACT_ELU: return y <= (T)0 ? dy * (y + param) : dy;
    default: return dy;
    }
}

void FN(fm_bias_act_inplace)(T *y, const T *bias, fm_int n, fm_act act, T param)
{
    FN(fm_act_kernels)()->act(y, y, bias, n, act, param);
}

static void FN(act_fwd_range)(void *p, fm_int i0, fm_int i1)
{
    act_ctx *c = p;
    ((const FN(fm_act_table) *)c->kern)->act((T *)c->out + i0, (const T *)c->a + i0, NULL,
                                             i1 - i0, c->act, (T)c->param);
}

static void FN(act_bwd_range)(void *p, fm_int i0, fm_int i1)
{
    act_ctx *c = p;
    ((const FN(fm_act_table) *)c->kern)->act_grad((T *)c->out + i0, (const T *)c->a + i0,
                                                  (const T *)c->b + i0, i1 - i0, c->act,
                                                  (T)c->param);
}

void FN(fm_activation_forward)(T *y, const T *x, fm_int n, fm_act act, T param, int n_threads)
{
    act_ctx c = {y, x, NULL, act, param, FN(fm_act_kernels)()};
    fm_parallel_for(n, ACT_GRAIN, act_threads(n, ACT_NS, n_threads), FN(act_fwd_range), &c);
}

void FN(fm_activation_backward)(T *dx, const T *dy, const T *y, fm_int n, fm_act act, T param,
                                int n_threads)
{
    act_ctx c = {dx, dy, y, act, param, FN(fm_act_kernels)()};
    fm_parallel_for(n, ACT_GRAIN, act_threads(n, ACT_NS, n_threads), FN(act_bwd_range), &c);
}

static void FN(softmax_fwd_range)(void *p, fm_int r0, fm_int r1)
{
    softmax_ctx *s = p;
    const FN(fm_act_table) *k = s->kern;
    fm_int c = s->c;
    for (fm_int r = r0; r < r1; r++) {
        const T *x = (const T *)s->x + r * c;
        T *y = (T *)s->y + r * c;
        T m = k->row_max(x, c);
        T inv = (T)1 / k->exp_shift_sum(y, x, c, m);
        for (fm_int j = 0; j < c; j++)
            y[j] *= inv;
    }
}

void FN(fm_softmax_forward)(T *y, const T *x, fm_int n, fm_int c, int n_threads)
{
    if (c < 1)
        return;
    softmax_ctx s = {y, x, NULL, c, FN(fm_act_kernels)()};
    fm_parallel_for(n, 1, act_threads(n * c, SOFTMAX_NS, n_threads), FN(softmax_fwd_range), &s);
}

/* dx = y * (dy - <dy, y>) per row; the dot product over 8 lanes in a fixed order */
static void FN(softmax_bwd_range)(void *p, fm_int r0, fm_int r1)
{
    softmax_ctx *s = p;
    fm_int c = s->c;
    for (fm_int r = r0; r < r1; r++) {
        const T *y = (const T *)s->x + r * c, *dy = (const T *)s->dy + r * c;
        T *dx = (T *)s->y + r * c;
        T acc[8] = {0};
        fm_int j = 0;
        for (; j + 8 <= c; j += 8)
            for (int l = 0; l < 8; l++)
                acc[l] += dy[j + l] * y[j + l];
        for (int l = 0; j < c; j++, l++)
            acc[l] += dy[j] * y[j];
        T dot = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
        for (j = 0; j < c; j++)
            dx[j] = y[j] * (dy[j] - dot);
    }
}

void FN(fm_softmax_backward)(T *dx, const T *dy, const T *y, fm_int n, fm_int c, int n_threads)
{
    softmax_ctx s = {dx, y, dy, c, NULL};
    fm_parallel_for(n, 1, act_threads(n * c, SOFTMAX_BWD_NS, n_threads), FN(softmax_bwd_range),
                    &s);
}
