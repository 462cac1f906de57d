/* gemm_impl.h: the blocked GEMM driver, written once and included by gemm.c per
 * dtype with T (float/double), KERNEL (fm_sgemm_kernel/fm_dgemm_kernel),
 * KERNEL_ACTIVE(), BIAS_ACT() and FN(name) (adds the dtype suffix) defined.
 *
 * The five loops are BLIS's. All threads walk loops 5, 4 and 3 together, pack
 * their share of the panels, meet at a barrier, and then split the micro-tiles
 * of the macro-kernel (loops 2 and 1). k is never split, so each element of C
 * is summed in one fixed order whatever the thread count. */

typedef struct {
    int ta, tb;
    fm_int m, n, k;
    T alpha, beta;
    const T *A; fm_int lda;
    const T *B; fm_int ldb;
    T *C; fm_int ldc;
    const fm_epilogue *ep;
    const KERNEL *kern;
    T *apack;  /* MC x KC: the current A block, as MR-row micro-panels */
    T *bpack;  /* KC x NC: the current B panel, as NR-column micro-panels */
} FN(gemm_ctx);

/* One MR-row micro-panel: ap[p*MR + i] = alpha * op(A)[i0 + i, p0 + p], rows past
 * `rows` zeroed. Scaling by alpha here keeps alpha out of the micro-kernels. */
static void FN(pack_a)(const FN(gemm_ctx) *g, T *ap, fm_int i0, fm_int rows,
                       fm_int p0, fm_int kc)
{
    const int mr = g->kern->mr;
    const T alpha = g->alpha;
    if (!g->ta) {
        for (fm_int i = 0; i < rows; i++) {
            const T *src = g->A + (i0 + i) * g->lda + p0;
            for (fm_int p = 0; p < kc; p++)
                ap[p * mr + i] = alpha * src[p];
        }
    } else {
        for (fm_int p = 0; p < kc; p++) {
            const T *src = g->A + (p0 + p) * g->lda + i0;
            for (fm_int i = 0; i < rows; i++)
                ap[p * mr + i] = alpha * src[i];
        }
    }
    for (fm_int i = rows; i < mr; i++)
        for (fm_int p = 0; p < kc; p++)
            ap[p * mr + i] = 0;
}

/* One NR-column micro-panel: bp[p*NR + j] = op(B)[p0 + p, j0 + j], columns past
 * `cols` zeroed. */
static void FN(pack_b)(const FN(gemm_ctx) *g, T *bp, fm_int j0, fm_int cols,
                       fm_int p0, fm_int kc)
{
    const int nr = g->kern->nr;
    if (!g->tb) {
        for (fm_int p = 0; p < kc; p++) {
            const T *src = g->B + (p0 + p) * g->ldb + j0;
            T *dst = bp + p * nr;
            for (fm_int j = 0; j < cols; j++)
                dst[j] = src[j];
            for (fm_int j = cols; j < nr; j++)
                dst[j] = 0;
        }
    } else {
        for (fm_int j = 0; j < cols; j++) {
            const T *src = g->B + (j0 + j) * g->ldb + p0;
            for (fm_int p = 0; p < kc; p++)
                bp[p * nr + j] = src[p];
        }
        for (fm_int p = 0; p < kc; p++)
            for (fm_int j = cols; j < nr; j++)
                bp[p * nr + j] = 0;
    }
}

/* One output tile: a full one straight into C, an edge one through a stack tile
 * (so no micro-kernel needs edge code); then, after the last k block, the
 * epilogue while the tile is still in L1. */
static void FN(tile)(const FN(gemm_ctx) *g, const T *ap, const T *bp, T *c,
                     fm_int rows, fm_int cols, fm_int kc, T beta, const T *bias,
                     int last_k)
{
    const int mr = g->kern->mr, nr = g->kern->nr;
    if (rows == mr && cols == nr) {
        g->kern->ukr(kc, ap, bp, nr, c, g->ldc, beta);
    } else {
        T tile[FM_GEMM_MAX_MR * FM_GEMM_MAX_NR];
        g->kern->ukr(kc, ap, bp, nr, tile, nr, 0);
        for (fm_int i = 0; i < rows; i++) {
            T *ci = c + i * g->ldc;
            const T *ti = tile + i * nr;
            if (beta == 0)
                for (fm_int j = 0; j < cols; j++)
                    ci[j] = ti[j];
            else
                for (fm_int j = 0; j < cols; j++)
                    ci[j] = beta * ci[j] + ti[j];
        }
    }
    if (last_k && g->ep && (g->ep->bias || g->ep->act != FM_ACT_NONE))
        for (fm_int i = 0; i < rows; i++)
            BIAS_ACT(c + i * g->ldc, bias, cols, g->ep->act, (T)g->ep->act_param);
}

static void FN(gemm_barrier)(int nt)
{
    (void)nt;
#ifdef _OPENMP
    if (nt > 1) {
#pragma omp barrier
    }
#endif
}

/* Thread t of nt runs its share of every loop. */
static void FN(gemm_thread)(const FN(gemm_ctx) *g, int t, int nt)
{
    const KERNEL *kn = g->kern;
    const fm_int MR = kn->mr, NR = kn->nr, MC = kn->mc, KC = kn->kc, NC = kn->nc;
    const fm_epilogue *ep = g->ep;
    const T *bias_all = ep ? (const T *)ep->bias : NULL;

    /* loop 5: jc over NC columns of C and op(B) */
    for (fm_int jc = 0; jc < g->n; jc += NC) {
        const fm_int nc = FM_MIN(NC, g->n - jc);
        const fm_int n_jr = (nc + NR - 1) / NR;
        /* loop 4: pc over KC-deep slices of k, pack B (threads split its panels) */
        for (fm_int pc = 0; pc < g->k; pc += KC) {
            const fm_int kc = FM_MIN(KC, g->k - pc);
            const int last_k = pc + kc == g->k;
            const T beta = pc == 0 ? g->beta : (T)1;
            for (fm_int q = n_jr * t / nt; q < n_jr * (t + 1) / nt; q++)
                FN(pack_b)(g, g->bpack + q * NR * kc, jc + q * NR,
                           FM_MIN(NR, nc - q * NR), pc, kc);
            FN(gemm_barrier)(nt);
            /* loop 3: ic over MC rows of C and op(A), pack A (threads split its panels) */
            for (fm_int ic = 0; ic < g->m; ic += MC) {
                const fm_int mc = FM_MIN(MC, g->m - ic);
                const fm_int n_ir = (mc + MR - 1) / MR;
                for (fm_int q = n_ir * t / nt; q < n_ir * (t + 1) / nt; q++)
                    FN(pack_a)(g, g->apack + q * MR * kc, ic + q * MR,
                               FM_MIN(MR, mc - q * MR), pc, kc);
                FN(gemm_barrier)(nt);
                /* loops 2 and 1: jr over NR columns, ir over MR rows; the threads
                 * split the tiles in jr-major order, so consecutive tiles of a
                 * thread reuse one B micro-panel from L1 */
                const fm_int tiles = n_jr * n_ir;
                for (fm_int w = tiles * t / nt; w < tiles * (t + 1) / nt; w++) {
                    const fm_int jr = w / n_ir, ir = w % n_ir;
                    const fm_int j0 = jc + jr * NR, i0 = ic + ir * MR;
                    FN(tile)(g, g->apack + ir * MR * kc, g->bpack + jr * NR * kc,
                             g->C + i0 * g->ldc + j0, FM_MIN(MR, mc - ir * MR),
                             FM_MIN(NR, nc - jr * NR), kc, beta,
                             bias_all ? bias_all + j0 : NULL, last_k);
                }
                FN(gemm_barrier)(nt);
            }
        }
    }
}

/* C = beta * C (C not read when beta == 0), then the epilogue: what GEMM means
 * when there is nothing to multiply (k == 0 or alpha == 0), as in BLAS. */
static void FN(gemm_scale_only)(fm_int m, fm_int n, T beta, T *C, fm_int ldc,
                                const fm_epilogue *ep)
{
    for (fm_int i = 0; i < m; i++) {
        T *ci = C + i * ldc;
        for (fm_int j = 0; j < n; j++)
            ci[j] = beta == 0 ? (T)0 : beta * ci[j];
        if (ep && (ep->bias || ep->act != FM_ACT_NONE))
            BIAS_ACT(ci, (const T *)ep->bias, n, ep->act, (T)ep->act_param);
    }
}

static int FN(gemm_ex)(int ta, int tb, fm_int m, fm_int n, fm_int k, T alpha,
                       const T *A, fm_int lda, const T *B, fm_int ldb, T beta, T *C,
                       fm_int ldc, const fm_epilogue *ep, int n_threads)
{
    if (m <= 0 || n <= 0)
        return 0;
    if (k <= 0 || alpha == 0) {
        FN(gemm_scale_only)(m, n, beta, C, ldc, ep);
        return 0;
    }
    FN(gemm_ctx) g = {ta, tb, m, n, k, alpha, beta, A, lda, B, ldb, C, ldc, ep,
                      KERNEL_ACTIVE(), NULL, NULL};
    const KERNEL *kn = g.kern;
    const fm_int kc = FM_MIN(k, (fm_int)kn->kc);
    const fm_int mc = FM_MIN(m, (fm_int)kn->mc), nc = FM_MIN(n, (fm_int)kn->nc);
    const fm_int mc_up = (mc + kn->mr - 1) / kn->mr * kn->mr;
    const fm_int nc_up = (nc + kn->nr - 1) / kn->nr * kn->nr;
    g.apack = fm_aligned_alloc((size_t)(mc_up * kc) * sizeof(T));
    g.bpack = fm_aligned_alloc((size_t)(nc_up * kc) * sizeof(T));
    if (!g.apack || !g.bpack) {
        fm_aligned_free(g.apack);
        fm_aligned_free(g.bpack);
        return -1;
    }
    /* ~50 flops/ns is a modest single-core rate; below ~20 us stay serial. */
    const int nt = fm_threads_for(2.0 * (double)m * (double)n * (double)k / 50.0, n_threads);
    if (nt <= 1) {
        FN(gemm_thread)(&g, 0, 1);
    } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
        FN(gemm_thread)(&g, omp_get_thread_num(), omp_get_num_threads());
#else
        FN(gemm_thread)(&g, 0, 1);
#endif
    }
    fm_aligned_free(g.apack);
    fm_aligned_free(g.bpack);
    return 0;
}
