/* penalty_impl.h: the portable block body, the ISA dispatch and the entry point of
 * penalty.c for one dtype, included with T = float / double, FN(name) = name ##
 * _f32 / _f64 and PENALTY_NS (ns per element: when threads pay), after the
 * AVX2 / AVX-512 bodies FN(penalty_avx2) / FN(penalty_avx512). */

/* generic x86-64: the lane sums in double, then the gradient in T */
FM_INLINE double FN(penalty_body)(pen_ctx *s, fm_int i0, fm_int i1)
{
    T *FM_RESTRICT g = (T *)s->grad + i0;
    const T *FM_RESTRICT w = (const T *)s->w + i0;
    fm_int n = i1 - i0;
    const T l1 = (T)s->l1, l2 = (T)s->l2;
    double a1[8] = {0}, a2[8] = {0};
    fm_int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) {
            double v = w[i + l];
            a1[l] += fabs(v);
            a2[l] += v * v;
        }
    for (int l = 0; i < n; i++, l++) {
        double v = w[i];
        a1[l] += fabs(v);
        a2[l] += v * v;
    }
    for (i = 0; i < n; i++) {
        T v = w[i];
        T sg = v > (T)0 ? (T)1 : (v < (T)0 ? (T)-1 : v);
        g[i] += l2 == (T)0 ? l1 * sg : l1 * sg + l2 * v;
    }
    return penalty_value(s, a1, a2);
}

static double FN(penalty_generic)(void *p, fm_int i0, fm_int i1)
{
    return FN(penalty_body)(p, i0, i1);
}

static fm_block_sum_fn FN(penalty_block)(void)
{
#if FM_X86_SIMD
    switch (fm_isa_active()) {
    case FM_ISA_AVX512: return FN(penalty_avx512);
    case FM_ISA_AVX2: return FN(penalty_avx2);
    default: break;
    }
#endif
    return FN(penalty_generic);
}

double FN(fm_penalty)(T *grad, const T *w, fm_int size, double l1, double l2, int n_threads)
{
    pen_ctx s = {grad, w, l1, l2};
    return fm_blocked_sum(size, PENALTY_BLOCK, n_threads, PENALTY_NS, FN(penalty_block)(), &s);
}
