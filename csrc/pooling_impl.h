/* pooling_impl.h: pooling bodies for one dtype, included by pooling.c with
 * T = float / double and FN(name) = name ## _f32 / _f64. */

static void FN(maxpool_fwd_range)(void *vc, fm_int p0, fm_int p1)
{
    const pool_ctx *c = (const pool_ctx *)vc;
    const fm_int w = c->w, ho = c->ho, wo = c->wo;
    for (fm_int p = p0; p < p1; p++) {
        const T *xp = (const T *)c->in + p * c->h * w;
        T *yp = (T *)c->out + p * ho * wo;
        int32_t *ap = c->argmax + p * ho * wo;
        /* each output: its window in row-major order */
        for (fm_int i = 0; i < ho; i++) {
            for (fm_int j = 0; j < wo; j++) {
                const fm_int base = i * c->sh * w + j * c->sw;
                T best = xp[base];
                fm_int idx = base;
                for (fm_int a = 0; a < c->kh; a++) {
                    const T *row = xp + base + a * w;
                    for (fm_int b = 0; b < c->kw; b++) {
                        const T v = row[b];
                        if (v > best || (v != v && best == best)) {
                            best = v;
                            idx = base + a * w + b;
                        }
                    }
                }
                yp[i * wo + j] = best;
                ap[i * wo + j] = (int32_t)idx;
            }
        }
    }
}

static void FN(maxpool_bwd_range)(void *vc, fm_int p0, fm_int p1)
{
    const pool_ctx *c = (const pool_ctx *)vc;
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

static void FN(avgpool_fwd_range)(void *vc, fm_int p0, fm_int p1)
{
    const pool_ctx *c = (const pool_ctx *)vc;
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
                        for (fm_int j = 0; j < wo; j++)
                            yr[j] += xr[j * sw];
                }
            }
        }
        for (fm_int o = 0; o < ho * wo; o++)
            yp[o] = yp[o] / k;
    }
}

static void FN(avgpool_bwd_range)(void *vc, fm_int p0, fm_int p1)
{
    const pool_ctx *c = (const pool_ctx *)vc;
    const fm_int w = c->w, ho = c->ho, wo = c->wo, sh = c->sh, sw = c->sw;
    const T k = (T)(c->kh * c->kw);
    for (fm_int p = p0; p < p1; p++) {
        T *dxp = (T *)c->out + p * c->h * w;
        const T *dyp = (const T *)c->in + p * ho * wo;
        memset(dxp, 0, (size_t)(c->h * w) * sizeof(T));
        for (fm_int a = 0; a < c->kh; a++) {
            for (fm_int b = 0; b < c->kw; b++) {
                for (fm_int i = 0; i < ho; i++) {
                    T *dr = dxp + (i * sh + a) * w + b;
                    const T *gr = dyp + i * wo;
                    for (fm_int j = 0; j < wo; j++)
                        dr[j * sw] += gr[j] / k;
                }
            }
        }
    }
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
    fm_parallel_for(planes, 1, fm_threads_for(work, n_threads), FN(maxpool_fwd_range), &c);
}

void FN(fm_maxpool2d_backward)(T *dx, const T *dy, const int32_t *argmax, fm_int planes, fm_int h,
                               fm_int w, fm_int ho, fm_int wo, int n_threads)
{
    pool_ctx c = FN(pool_ctx_make)(dx, NULL, dy, argmax, h, w, 1, 1, 1, 1);
    c.ho = ho;
    c.wo = wo;
    double work = 0.5 * (double)planes * (double)(h * w + ho * wo);
    fm_parallel_for(planes, 1, fm_threads_for(work, n_threads), FN(maxpool_bwd_range), &c);
}

void FN(fm_avgpool2d_forward)(T *y, const T *x, fm_int planes, fm_int h, fm_int w, fm_int kh,
                              fm_int kw, fm_int sh, fm_int sw, int n_threads)
{
    pool_ctx c = FN(pool_ctx_make)(y, NULL, x, NULL, h, w, kh, kw, sh, sw);
    double work = 0.5 * (double)planes * (double)(c.ho * c.wo) * (double)(kh * kw);
    fm_parallel_for(planes, 1, fm_threads_for(work, n_threads), FN(avgpool_fwd_range), &c);
}

void FN(fm_avgpool2d_backward)(T *dx, const T *dy, fm_int planes, fm_int h, fm_int w, fm_int kh,
                               fm_int kw, fm_int sh, fm_int sw, int n_threads)
{
    pool_ctx c = FN(pool_ctx_make)(dx, NULL, dy, NULL, h, w, kh, kw, sh, sw);
    double work = 0.5 * (double)planes * ((double)(h * w) + (double)(c.ho * c.wo) * (double)(kh * kw));
    fm_parallel_for(planes, 1, fm_threads_for(work, n_threads), FN(avgpool_bwd_range), &c);
}
