/* optim_driver_impl.h: the multi-array drivers of optim.c, written once and
 * included per dtype with T, FNS_T (the ISA function table type), FNS_GENERIC,
 * FNS_AVX2, FNS_AVX512 (the tables) and FN(name) (adds the dtype suffix) defined.
 *
 * A list of arrays is treated as one index space [0, sum of sizes): threads
 * take contiguous chunks of it (one OpenMP region for the whole list, however
 * many arrays), and each chunk is cut at array boundaries. The updates are
 * element-wise, so the result never depends on the split. */

typedef struct {
    T *const *p, *const *s0, *const *s1, *const *s2;
    const T *const *g;
    const fm_int *sizes;
    fm_int n_arrays;
    const optim_coefs *c;
    void (*fn)(T *, T *, T *, T *, const T *, fm_int, const optim_coefs *);
} FN(update_ctx);

FM_INLINE T *FN(at)(T *const *slot, fm_int a, fm_int lo)
{
    return (slot && slot[a]) ? slot[a] + lo : NULL;
}

static void FN(update_chunk)(void *vctx, fm_int begin, fm_int end)
{
    const FN(update_ctx) *u = vctx;
    fm_int off = 0;
    /* arrays overlapping [begin, end) */
    for (fm_int a = 0; a < u->n_arrays && off < end; off += u->sizes[a], a++) {
        fm_int lo = FM_MAX(begin, off) - off;
        fm_int hi = FM_MIN(end, off + u->sizes[a]) - off;
        if (lo >= hi)
            continue;
        u->fn(u->p[a] + lo, FN(at)(u->s0, a, lo), FN(at)(u->s1, a, lo), FN(at)(u->s2, a, lo),
              u->g[a] + lo, hi - lo, u->c);
    }
}

static const FNS_T *FN(active_fns)(void)
{
#if FM_X86_SIMD
    switch (fm_isa_active()) {
    case FM_ISA_AVX512: return &FNS_AVX512;
    case FM_ISA_AVX2: return &FNS_AVX2;
    default: break;
    }
#endif
    return &FNS_GENERIC;
}

static fm_int FN(total)(const fm_int *sizes, fm_int n_arrays)
{
    fm_int n = 0;
    for (fm_int a = 0; a < n_arrays; a++)
        n += sizes[a];
    return n;
}

static void FN(update)(T *const *p, T *const *s0, T *const *s1, T *const *s2,
                       const T *const *g, const fm_int *sizes, fm_int n_arrays,
                       const optim_coefs *c, int kind, int n_threads)
{
    FN(update_ctx) u = {p, s0, s1, s2, g, sizes, n_arrays, c, FN(active_fns)()->update[kind]};
    fm_int n = FN(total)(sizes, n_arrays);
    /* ~0.02 ns per byte moved: one core streaming from cache (the team is
     * only woken for work worth tens of microseconds) */
    double bytes = (double)sizeof(T) * (3 + 2 * optim_state_count(kind, c));
    double swept = (double)n * (double)sizeof(T) * (2 + optim_state_count(kind, c));
    int nt = fm_threads_for_sweep((double)n * bytes * 0.02, swept, n_threads);
    fm_parallel_for(n, OPTIM_GRAIN, nt, FN(update_chunk), &u);
}

/* ---- gradient norm: block sums over a global list of blocks */

typedef struct {
    const T *const *x;
    const fm_int *sizes;
    fm_int n_arrays;
    double scale;
    double *partial;      /* one per block, in block order */
    const FNS_T *fns;
} FN(norm_ctx);

/* blocks [b0, b1) of the global block list: array a has ceil(sizes[a] / B) of them */
static void FN(norm_chunk)(void *vctx, fm_int b0, fm_int b1)
{
    const FN(norm_ctx) *u = vctx;
    fm_int first = 0;
    for (fm_int a = 0; a < u->n_arrays && first < b1; a++) {
        fm_int nb = (u->sizes[a] + OPTIM_NORM_BLOCK - 1) / OPTIM_NORM_BLOCK;
        for (fm_int b = FM_MAX(b0, first); b < FM_MIN(b1, first + nb); b++) {
            fm_int i0 = (b - first) * OPTIM_NORM_BLOCK;
            fm_int len = FM_MIN(OPTIM_NORM_BLOCK, u->sizes[a] - i0);
            u->partial[b] = u->fns->sumsq_block(u->x[a] + i0, len, u->scale);
        }
        first += nb;
    }
}

/* Sum over every block of sum((x * scale)^2), blocks added in order. Returns 0,
 * or -1 if the partial sums cannot be allocated (threaded path only). */
static int FN(sumsq)(double *out, const T *const *x, const fm_int *sizes, fm_int n_arrays,
                     double scale, int n_threads)
{
    const FNS_T *fns = FN(active_fns)();
    fm_int n = FN(total)(sizes, n_arrays), blocks = 0;
    for (fm_int a = 0; a < n_arrays; a++)
        blocks += (sizes[a] + OPTIM_NORM_BLOCK - 1) / OPTIM_NORM_BLOCK;
    int nt = fm_threads_for((double)n * sizeof(T) * 0.02, n_threads);
    double total = 0.0;
    if (nt <= 1 || blocks < 2) {
        for (fm_int a = 0; a < n_arrays; a++)
            for (fm_int i0 = 0; i0 < sizes[a]; i0 += OPTIM_NORM_BLOCK)
                total += fns->sumsq_block(x[a] + i0, FM_MIN(OPTIM_NORM_BLOCK, sizes[a] - i0), scale);
        *out = total;
        return 0;
    }
    double *partial = malloc((size_t)blocks * sizeof(double));
    if (!partial)
        return -1;
    FN(norm_ctx) u = {x, sizes, n_arrays, scale, partial, fns};
    fm_parallel_for(blocks, 1, nt, FN(norm_chunk), &u);
    for (fm_int b = 0; b < blocks; b++)
        total += partial[b];
    free(partial);
    *out = total;
    return 0;
}

static int FN(grad_norm)(double *norm, const T *const *x, const fm_int *sizes, fm_int n_arrays,
                         int n_threads)
{
    double s;
    if (FN(sumsq)(&s, x, sizes, n_arrays, 1.0, n_threads) != 0)
        return -1;
    if (sizeof(T) != sizeof(double) || s != s || (!isinf(s) && s >= OPTIM_SUMSQ_MIN)) {
        *norm = sqrt(s);
        return 0;
    }
    /* float64 squares overflowed or lost precision to underflow (float32
     * squares, summed in double, can do neither): scale by the power of two that brings max|x| into [0.5, 1),
     * which is exact, and sum again. No NaN is left (s would be NaN). */
    double amax = 0.0;
    for (fm_int a = 0; a < n_arrays; a++)
        for (fm_int i = 0; i < sizes[a]; i++) {
            double v = fabs((double)x[a][i]);
            amax = v > amax ? v : amax;
        }
    if (amax == 0.0 || isinf(amax)) {
        *norm = amax;
        return 0;
    }
    int e;
    frexp(amax, &e);
    if (FN(sumsq)(&s, x, sizes, n_arrays, ldexp(1.0, -e), n_threads) != 0)
        return -1;
    *norm = ldexp(sqrt(s), e);
    return 0;
}

typedef struct {
    T *const *x;
    const fm_int *sizes;
    fm_int n_arrays;
    double a, b;
    const FNS_T *fns;
    int clamp;
} FN(map_ctx);

static void FN(map_chunk)(void *vctx, fm_int begin, fm_int end)
{
    const FN(map_ctx) *u = vctx;
    fm_int off = 0;
    for (fm_int k = 0; k < u->n_arrays && off < end; off += u->sizes[k], k++) {
        fm_int lo = FM_MAX(begin, off) - off;
        fm_int hi = FM_MIN(end, off + u->sizes[k]) - off;
        if (lo >= hi)
            continue;
        if (u->clamp)
            u->fns->clamp_range(u->x[k] + lo, hi - lo, u->a, u->b);
        else
            u->fns->scale_range(u->x[k] + lo, hi - lo, u->a);
    }
}

static void FN(map)(T *const *x, const fm_int *sizes, fm_int n_arrays, double a, double b,
                    int clamp, int n_threads)
{
    FN(map_ctx) u = {x, sizes, n_arrays, a, b, FN(active_fns)(), clamp};
    fm_int n = FN(total)(sizes, n_arrays);
    int nt = fm_threads_for((double)n * 2 * sizeof(T) * 0.02, n_threads);
    fm_parallel_for(n, OPTIM_GRAIN, nt, FN(map_chunk), &u);
}
