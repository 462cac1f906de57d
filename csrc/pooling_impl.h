/* pooling_impl.h: pooling bodies for one dtype, included by pooling.c with
 * T = float / double and FN(name) = name ## _f32 / _f64. */

/* Row kernels over the wo output columns of one window offset; for the sums `sw`
 * becomes a compile-time constant (1, 2) after inlining where it can be, so the
 * strided accesses vectorise with shuffles. */
FM_INLINE void FN(max_row_sw)(T *FM_RESTRICT yr, int32_t *FM_RESTRICT ar, const T *FM_RESTRICT xr,
                              int32_t off, fm_int wo, const fm_int sw)
{
    for (fm_int j = 0; j < wo; j++) {
        const T v = xr[j * sw], best = yr[j];
        const int take = (v > best) | ((v != v) & (best == best));
        yr[j] = take ? v : best;
        ar[j] = take ? off + (int32_t)(j * sw) : ar[j];
    }
}

/* (a constant stride of 2 made GCC's max loop slower than the runtime-stride one) */
FM_INLINE void FN(max_row)(T *yr, int32_t *ar, const T *xr, int32_t off, fm_int wo, fm_int sw)
{
    FN(max_row_sw)(yr, ar, xr, off, wo, sw);
}

FM_INLINE void FN(add_row_sw)(T *FM_RESTRICT yr, const T *FM_RESTRICT xr, fm_int wo, const fm_int sw)
{
    for (fm_int j = 0; j < wo; j++)
        yr[j] += xr[j * sw];
}

FM_INLINE void FN(add_row)(T *yr, const T *xr, fm_int wo, fm_int sw)
{
    if (sw == 1)
        FN(add_row_sw)(yr, xr, wo, 1);
    else if (sw == 2)
        FN(add_row_sw)(yr, xr, wo, 2);
    else
        FN(add_row_sw)(yr, xr, wo, sw);
}

FM_INLINE void FN(scatter_row_sw)(T *FM_RESTRICT dr, const T *FM_RESTRICT gr, fm_int wo, const fm_int sw)
{
    for (fm_int j = 0; j < wo; j++)
        dr[j * sw] += gr[j];
}

FM_INLINE void FN(scatter_row)(T *dr, const T *gr, fm_int wo, fm_int sw)
{
    if (sw == 1)
        FN(scatter_row_sw)(dr, gr, wo, 1);
    else if (sw == 2)
        FN(scatter_row_sw)(dr, gr, wo, 2);
    else
        FN(scatter_row_sw)(dr, gr, wo, sw);
}

#define POOL_ROWBUF 1024 /* input columns the 2 x 2 path handles (its stack buffers) */

/* 2 x 2 windows, stride 2, one output row, in two passes: the two input rows
 * combined column by column (unit stride: vectorises fully), then neighbouring
 * columns. Both steps pick the winner of a total order (NaN first, then the larger
 * value, then the lower row-major index), so the result is the window's first
 * maximum in row-major order, NaN counting as the maximum, as in the generic path. */
FM_INLINE void FN(max_row_2x2s2)(T *FM_RESTRICT yr, int32_t *FM_RESTRICT ar, const T *FM_RESTRICT x0,
                                 const T *FM_RESTRICT x1, int32_t off0, int32_t w, fm_int wo,
                                 T *FM_RESTRICT m, int32_t *FM_RESTRICT ix)
{
    for (fm_int k = 0; k < 2 * wo; k++) {
        const T a = x0[k], b = x1[k];
        const int take = (b > a) | ((b != b) & (a == a));
        m[k] = take ? b : a;
        ix[k] = off0 + (int32_t)k + (take ? w : 0);
    }
    for (fm_int j = 0; j < wo; j++) {
        const T l = m[2 * j], r = m[2 * j + 1];
        const int32_t il = ix[2 * j], ir = ix[2 * j + 1];
        const int tie = (r == l) | ((r != r) & (l != l));
        const int take = (r > l) | ((r != r) & (l == l)) | (tie & (ir < il));
        yr[j] = take ? r : l;
        ar[j] = take ? ir : il;
    }
}

/* max forward on planes [p0, p1): output rows in order; within a row the window
 * offsets (a, b) in row-major order update every output column, branch-free, so
 * the columns vectorise. Each output sees its candidates in row-major window
 * order: a later candidate wins only if strictly greater, or NaN over a number. */
FM_INLINE void FN(maxpool_fwd_body)(const pool_ctx *c, fm_int p0, fm_int p1)
{
    const fm_int w = c->w, ho = c->ho, wo = c->wo, sh = c->sh, sw = c->sw;
    T m[POOL_ROWBUF];
    int32_t ix[POOL_ROWBUF];
    for (fm_int p = p0; p < p1; p++) {
        const T *xp = (const T *)c->in + p * c->h * w;
        T *yp = (T *)c->out + p * ho * wo;
        int32_t *ap = c->argmax + p * ho * wo;
        for (fm_int i = 0; i < ho; i++) {
            T *FM_RESTRICT yr = yp + i * wo;
            int32_t *FM_RESTRICT ar = ap + i * wo;
            const T *FM_RESTRICT x0 = xp + i * sh * w;
            const int32_t off0 = (int32_t)(i * sh * w);
            if (c->kh == 2 && c->kw == 2 && sw == 2 && w <= POOL_ROWBUF) {
                FN(max_row_2x2s2)(yr, ar, x0, x0 + w, off0, (int32_t)w, wo, m, ix);
                continue;
            }
            for (fm_int j = 0; j < wo; j++) {
                yr[j] = x0[j * sw];
                ar[j] = off0 + (int32_t)(j * sw);
            }
            for (fm_int a = 0; a < c->kh; a++) {
                for (fm_int b = (a == 0); b < c->kw; b++) {
                    const int32_t off = (int32_t)((i * sh + a) * w + b);
                    FN(max_row)(yr, ar, xp + off, off, wo, sw);
                }
            }
        }
    }
}

FM_INLINE void FN(maxpool_bwd_body)(const pool_ctx *c, fm_int p0, fm_int p1)
{
    const fm_int plane = c->h * c->w, nout = c->ho * c->wo;
    for (fm_int p = p0; p < p1; p++) {
        T *dxp = (T *)c->out + p * plane;
        const T *dyp = (const T *)c->in + p * nout;
        const int32_t *ap = c->cargmax + p * nout;
        memset(dxp, 0, (size_t)plane * sizeof(T));
        /* outputs in order: overlapping windows accumulate in a fixed order */
        for (fm_int o = 0; o < nout; o++)
            dxp[ap[o]] += dyp[o];
    }
}

FM_INLINE void FN(avgpool_fwd_body)(const pool_ctx *c, fm_int p0, fm_int p1)
{
    const fm_int w = c->w, ho = c->ho, wo = c->wo, sh = c->sh, sw = c->sw;
    const T k = (T)(c->kh * c->kw);
    for (fm_int p = p0; p < p1; p++) {
        const T *xp = (const T *)c->in + p * c->h * w;
        T *yp = (T *)c->out + p * ho * wo;
        /* window offsets (a, b) in row-major order, each added to every output */
        for (fm_int a = 0; a < c->kh; a++) {
            for (fm_int b = 0; b < c->kw; b++) {
                for (fm_int i = 0; i < ho; i++) {
                    const T *xr = xp + (i * sh + a) * w + b;
                    T *yr = yp + i * wo;
                    if (a == 0 && b == 0)
                        for (fm_int j = 0; j < wo; j++)
                            yr[j] = xr[j * sw];
                    else
                        FN(add_row)(yr, xr, wo, sw);
                }
            }
        }
        for (fm_int o = 0; o < ho * wo; o++)
            yp[o] = yp[o] / k;
    }
}

FM_INLINE void FN(avgpool_bwd_body)(const pool_ctx *c, fm_int p0, fm_int p1)
{
    const fm_int w = c->w, ho = c->ho, wo = c->wo, sh = c->sh, sw = c->sw;
    const T k = (T)(c->kh * c->kw);
    T gbuf[POOL_GBUF];
    for (fm_int p = p0; p < p1; p++) {
        T *dxp = (T *)c->out + p * c->h * w;
        const T *dyp = (const T *)c->in + p * ho * wo;
        /* g = dy / k once per plane when it fits the stack buffer (division is
         * exact-rounded, so dividing in the loop instead gives the same bits) */
        const T *g = dyp;
        int scaled = ho * wo <= POOL_GBUF;
        if (scaled) {
            for (fm_int o = 0; o < ho * wo; o++)
                gbuf[o] = dyp[o] / k;
            g = gbuf;
        }
        memset(dxp, 0, (size_t)(c->h * w) * sizeof(T));
        /* window offsets (a, b) in row-major order, as the reference adds them */
        for (fm_int a = 0; a < c->kh; a++) {
            for (fm_int b = 0; b < c->kw; b++) {
                for (fm_int i = 0; i < ho; i++) {
                    T *FM_RESTRICT dr = dxp + (i * sh + a) * w + b;
                    const T *FM_RESTRICT gr = g + i * wo;
                    if (scaled)
                        FN(scatter_row)(dr, gr, wo, sw);
                    else
                        for (fm_int j = 0; j < wo; j++)
                            dr[j * sw] += gr[j] / k;
                }
            }
        }
    }
}

static void FN(maxpool_fwd_generic)(void *c, fm_int a, fm_int b) { FN(maxpool_fwd_body)(c, a, b); }
static void FN(maxpool_bwd_generic)(void *c, fm_int a, fm_int b) { FN(maxpool_bwd_body)(c, a, b); }
static void FN(avgpool_fwd_generic)(void *c, fm_int a, fm_int b) { FN(avgpool_fwd_body)(c, a, b); }
static void FN(avgpool_bwd_generic)(void *c, fm_int a, fm_int b) { FN(avgpool_bwd_body)(c, a, b); }
#if FM_X86_SIMD
FM_TARGET_AVX2 static void FN(maxpool_fwd_avx2)(void *c, fm_int a, fm_int b) { FN(maxpool_fwd_body)(c, a, b); }
FM_TARGET_AVX2 static void FN(maxpool_bwd_avx2)(void *c, fm_int a, fm_int b) { FN(maxpool_bwd_body)(c, a, b); }
FM_TARGET_AVX2 static void FN(avgpool_fwd_avx2)(void *c, fm_int a, fm_int b) { FN(avgpool_fwd_body)(c, a, b); }
FM_TARGET_AVX2 static void FN(avgpool_bwd_avx2)(void *c, fm_int a, fm_int b) { FN(avgpool_bwd_body)(c, a, b); }
FM_TARGET_AVX512 static void FN(maxpool_fwd_avx512)(void *c, fm_int a, fm_int b) { FN(maxpool_fwd_body)(c, a, b); }
FM_TARGET_AVX512 static void FN(maxpool_bwd_avx512)(void *c, fm_int a, fm_int b) { FN(maxpool_bwd_body)(c, a, b); }
FM_TARGET_AVX512 static void FN(avgpool_fwd_avx512)(void *c, fm_int a, fm_int b) { FN(avgpool_fwd_body)(c, a, b); }
FM_TARGET_AVX512 static void FN(avgpool_bwd_avx512)(void *c, fm_int a, fm_int b) { FN(avgpool_bwd_body)(c, a, b); }
#endif

/* which: 0 max forward, 1 max backward, 2 average forward, 3 average backward */
static fm_range_fn FN(pool_fn)(int which)
{
    static const fm_range_fn generic[4] = {FN(maxpool_fwd_generic), FN(maxpool_bwd_generic),
                                           FN(avgpool_fwd_generic), FN(avgpool_bwd_generic)};
#if FM_X86_SIMD
    static const fm_range_fn avx2[4] = {FN(maxpool_fwd_avx2), FN(maxpool_bwd_avx2),
                                        FN(avgpool_fwd_avx2), FN(avgpool_bwd_avx2)};
    static const fm_range_fn avx512[4] = {FN(maxpool_fwd_avx512), FN(maxpool_bwd_avx512),
                                          FN(avgpool_fwd_avx512), FN(avgpool_bwd_avx512)};
    switch (fm_isa_active()) {
    case FM_ISA_AVX512: return avx512[which];
    case FM_ISA_AVX2: return avx2[which];
    default: break;
    }
#endif
    return generic[which];
}

static pool_ctx FN(pool_ctx_make)(void *out, int32_t *argmax, const void *in, const int32_t *cargmax,
                                  fm_int h, fm_int w, fm_int kh, fm_int kw, fm_int sh, fm_int sw)
{
    pool_ctx c;
    c.out = out;
    c.argmax = argmax;
    c.in = in;
    c.cargmax = cargmax;
    c.h = h;
    c.w = w;
    c.kh = kh;
    c.kw = kw;
    c.sh = sh;
    c.sw = sw;
    c.ho = (h - kh) / sh + 1;
    c.wo = (w - kw) / sw + 1;
    return c;
}

void FN(fm_maxpool2d_forward)(T *y, int32_t *argmax, const T *x, fm_int planes, fm_int h, fm_int w,
                              fm_int kh, fm_int kw, fm_int sh, fm_int sw, int n_threads)
{
    pool_ctx c = FN(pool_ctx_make)(y, argmax, x, NULL, h, w, kh, kw, sh, sw);
    double work = 1.0 * (double)planes * (double)(c.ho * c.wo) * (double)(kh * kw);
    fm_parallel_for(planes, 1, fm_threads_for(work, n_threads), FN(pool_fn)(0), &c);
}

void FN(fm_maxpool2d_backward)(T *dx, const T *dy, const int32_t *argmax, fm_int planes, fm_int h,
                               fm_int w, fm_int ho, fm_int wo, int n_threads)
{
    pool_ctx c = FN(pool_ctx_make)(dx, NULL, dy, argmax, h, w, 1, 1, 1, 1);
    c.ho = ho;
    c.wo = wo;
    double work = 0.5 * (double)planes * (double)(h * w + ho * wo);
    fm_parallel_for(planes, 1, fm_threads_for(work, n_threads), FN(pool_fn)(1), &c);
}

void FN(fm_avgpool2d_forward)(T *y, const T *x, fm_int planes, fm_int h, fm_int w, fm_int kh,
                              fm_int kw, fm_int sh, fm_int sw, int n_threads)
{
    pool_ctx c = FN(pool_ctx_make)(y, NULL, x, NULL, h, w, kh, kw, sh, sw);
    double work = 0.5 * (double)planes * (double)(c.ho * c.wo) * (double)(kh * kw);
    fm_parallel_for(planes, 1, fm_threads_for(work, n_threads), FN(pool_fn)(2), &c);
}

void FN(fm_avgpool2d_backward)(T *dx, const T *dy, fm_int planes, fm_int h, fm_int w, fm_int kh,
                               fm_int kw, fm_int sh, fm_int sw, int n_threads)
{
    pool_ctx c = FN(pool_ctx_make)(dx, NULL, dy, NULL, h, w, kh, kw, sh, sw);
    double work = 0.5 * (double)planes * ((double)(h * w) + (double)(c.ho * c.wo) * (double)(kh * kw));
    fm_parallel_for(planes, 1, fm_threads_for(work, n_threads), FN(pool_fn)(3), &c);
}
