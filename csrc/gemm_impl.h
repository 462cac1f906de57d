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
    int trans_c;   /* computing C^T = op(B)^T op(A)^T: tiles are stored transposed */
} FN(gemm_ctx);

/* One output tile at (i0, j0) of the (possibly transposed) problem: a full one
 * straight into C, an edge one or a transposed one through a stack tile (so no
 * micro-kernel needs edge code); then, after the last k block, the epilogue
 * while the tile is still in L1. */
static void FN(tile)(const FN(gemm_ctx) *g, const T *ap, const T *bp, fm_int i0, fm_int j0,
                     fm_int rows, fm_int cols, fm_int kc, T beta, int last_k)
{
    const int mr = g->kern->mr, nr = g->kern->nr;
    const fm_int ldc = g->ldc;
    const fm_epilogue *ep = g->ep;
    const int epilogue = last_k && ep && (ep->bias || ep->act != FM_ACT_NONE);
    const T *bias = ep ? (const T *)ep->bias : NULL;
    if (!g->trans_c) {
        T *c = g->C + i0 * ldc + j0;
        if (rows == mr && cols == nr) {
            g->kern->ukr(kc, ap, bp, nr, c, ldc, beta);
        } else {
            T tile[FM_GEMM_MAX_MR * FM_GEMM_MAX_NR];
            g->kern->ukr(kc, ap, bp, nr, tile, nr, 0);
            for (fm_int i = 0; i < rows; i++)
                for (fm_int j = 0; j < cols; j++)
                    c[i * ldc + j] = beta == 0 ? tile[i * nr + j]
                                               : beta * c[i * ldc + j] + tile[i * nr + j];
        }
        if (epilogue)
            for (fm_int i = 0; i < rows; i++)
                BIAS_ACT(c + i * ldc, bias ? bias + j0 : NULL, cols, ep->act, (T)ep->act_param);
    } else {
        /* tile (i, j) of C^T is C[j0 + j, i0 + i] */
        T tile[FM_GEMM_MAX_MR * FM_GEMM_MAX_NR];
        T *c = g->C + j0 * ldc + i0;
        g->kern->ukr(kc, ap, bp, nr, tile, nr, 0);
        for (fm_int j = 0; j < cols; j++)
            for (fm_int i = 0; i < rows; i++)
                c[j * ldc + i] = beta == 0 ? tile[i * nr + j]
                                           : beta * c[j * ldc + i] + tile[i * nr + j];
        if (epilogue)
            for (fm_int j = 0; j < cols; j++)
                BIAS_ACT(c + j * ldc, bias ? bias + i0 : NULL, rows, ep->act, (T)ep->act_param);
    }
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

    /* loop 5: jc over NC columns of C and op(B) */
    for (fm_int jc = 0; jc < g->n; jc += NC) {
        const fm_int nc = FM_MIN(NC, g->n - jc);
        const fm_int n_jr = (nc + NR - 1) / NR;
        /* loop 4: pc over KC-deep slices of k, pack B (threads split its panels) */
        for (fm_int pc = 0; pc < g->k; pc += KC) {
            const fm_int kc = FM_MIN(KC, g->k - pc);
            const int last_k = pc + kc == g->k;
            const T beta = pc == 0 ? g->beta : (T)1;
            kn->pack_b(g->bpack, g->tb ? g->B + jc * g->ldb + pc : g->B + pc * g->ldb + jc,
                       g->ldb, g->tb, n_jr * t / nt, n_jr * (t + 1) / nt, nc, kc);
            /* loop 3: ic over MC rows of C and op(A), pack A (threads split its panels) */
            for (fm_int ic = 0; ic < g->m; ic += MC) {
                const fm_int mc = FM_MIN(MC, g->m - ic);
                const fm_int n_ir = (mc + MR - 1) / MR;
                for (fm_int q = n_ir * t / nt; q < n_ir * (t + 1) / nt; q++) {
                    const fm_int i0 = ic + q * MR;
                    kn->pack_a(g->apack + q * MR * kc,
                               g->ta ? g->A + pc * g->lda + i0 : g->A + i0 * g->lda + pc,
                               g->lda, g->ta, FM_MIN(MR, mc - q * MR), kc, g->alpha);
                }
                /* one barrier: the B panel (first ic) and this A block are packed */
                FN(gemm_barrier)(nt);
                /* loops 2 and 1: jr over NR columns, ir over MR rows; the threads
                 * split the tiles in jr-major order, so consecutive tiles of a
                 * thread reuse one B micro-panel from L1 */
                const fm_int tiles = n_jr * n_ir;
                for (fm_int w = tiles * t / nt; w < tiles * (t + 1) / nt; w++) {
                    const fm_int jr = w / n_ir, ir = w % n_ir;
                    const fm_int j0 = jc + jr * NR, i0 = ic + ir * MR;
                    FN(tile)(g, g->apack + ir * MR * kc, g->bpack + jr * NR * kc, i0, j0,
                             FM_MIN(MR, mc - ir * MR),
                             FM_MIN(NR, nc - jr * NR), kc, beta, last_k);
                }
                /* before anyone repacks A or B; the region's end waits after the last */
                if (ic + mc < g->m || !last_k || jc + nc < g->n)
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

/* Fraction of a tile dimension r that x rows or columns fill. */
static double FN(tile_fill)(fm_int x, int r)
{
    return (double)x / (double)((x + r - 1) / r * r);
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
    const KERNEL *kn = KERNEL_ACTIVE();
    FN(gemm_ctx) g = {ta, tb, m, n, k, alpha, beta, A, lda, B, ldb, C, ldc, ep, kn,
                      NULL, NULL, 0};
    /* A thin C (n well below NR) wastes most of each register tile; the same
     * sums computed as C^T = op(B)^T op(A)^T fill it better. */
    if (FN(tile_fill)(n, kn->nr) * FN(tile_fill)(m, kn->mr) <
        0.8 * FN(tile_fill)(m, kn->nr) * FN(tile_fill)(n, kn->mr)) {
        g.trans_c = 1;
        g.m = n; g.n = m;
        g.A = B; g.lda = ldb; g.ta = !tb;
        g.B = A; g.ldb = lda; g.tb = !ta;
        m = g.m; n = g.n;
    }
    const fm_int kc = FM_MIN(k, (fm_int)kn->kc);
    const fm_int mc = FM_MIN(m, (fm_int)kn->mc), nc = FM_MIN(n, (fm_int)kn->nc);
    const fm_int mc_up = (mc + kn->mr - 1) / kn->mr * kn->mr;
    const fm_int nc_up = (nc + kn->nr - 1) / kn->nr * kn->nr;
    g.apack = fm_workspace(0, (size_t)(mc_up * kc) * sizeof(T));
    g.bpack = fm_workspace(1, (size_t)(nc_up * kc) * sizeof(T));
    if (!g.apack || !g.bpack)
        return -1;
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
    return 0;
}
