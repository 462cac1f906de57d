/* gemm_impl.h: the blocked GEMM driver, written once and included by gemm.c per
 * dtype with T (float/double), KERNEL (fm_sgemm_kernel/fm_dgemm_kernel),
 * KERNEL_ACTIVE(), KERNEL_WIDE(), BIAS_ACT() and FN(name) (adds the dtype
 * suffix) defined.
 *
 * The five loops are BLIS's. All threads walk loops 5, 4 and 3 together, pack
 * their share of the panels, meet at a barrier, and then split the micro-tiles
 * of the macro-kernel (loops 2 and 1). k is cut into slices (k_slice) but never
 * shared between threads, so each element of C is summed in one fixed order
 * whatever the thread count. */

/* Depth of the k slices: k in equal slices of at most kc. A thin last slice
 * (k = 784 with kc = 256 would end with 16) pays a full C-tile update for
 * little arithmetic. Both drivers slice k this way and add each slice's sums
 * to C in order, so with alpha == 1 they give the same bits and the driver can
 * be chosen by shape (batch size included) without changing results. */
static fm_int FN(k_slice)(fm_int k, fm_int kc)
{
    const fm_int slices = (k + kc - 1) / kc;
    return (k + slices - 1) / slices;
}

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
    const fm_int MR = kn->mr, NR = kn->nr, MC = kn->mc, NC = kn->nc;
    const fm_int KC = FN(k_slice)(g->k, kn->kc);

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

/* ---- unpacked path: small problems, no packed panels ----
 * The problem (possibly C^T = op(B)^T op(A)^T, trans_c) is tiled SMR x SNR and
 * each tile is one call of the ISA's unpacked micro-kernel over all of k, with
 * A read where it lies (a[i*rs_a + p*cs_a]) and B's rows in place (b[p*ldb + j]).
 * Threads take whole tiles, so each element is summed in one fixed order. */
typedef struct {
    fm_int m, n, k;          /* of the oriented problem */
    fm_int kc;               /* k_slice(k, kern->kc), computed once (two divisions) */
    T alpha, beta;
    const T *a; fm_int rs_a, cs_a;
    const T *b; fm_int ldb;
    T *C; fm_int ldc;
    const fm_epilogue *ep;
    const KERNEL *kern;
    int trans_c;
} FN(sup_ctx);

/* Tile(s) at (i0, j0): rows may exceed the kernel's MR (a run of row tiles)
 * unless the tiles are stored transposed. */
static void FN(sup_tile)(const FN(sup_ctx) *s, fm_int i0, fm_int j0, int rows, int cols)
{
    const KERNEL *kn = s->kern;
    const fm_int ldc = s->ldc, KC = s->kc;
    const fm_epilogue *ep = s->ep;
    const int epilogue = ep && (ep->bias || ep->act != FM_ACT_NONE);
    const T *bias = ep ? (const T *)ep->bias : NULL;
    const T *a = s->a + i0 * s->rs_a, *b = s->b + j0;
    if (!s->trans_c) {
        T *c = s->C + i0 * ldc + j0;
        for (fm_int p0 = 0; p0 < s->k; p0 += KC)
            kn->sup(FM_MIN(KC, s->k - p0), a + p0 * s->cs_a, s->rs_a, s->cs_a, b + p0 * s->ldb,
                    s->ldb, c, ldc, s->alpha, p0 == 0 ? s->beta : (T)1, rows, cols);
        if (epilogue)
            for (int i = 0; i < rows; i++)
                BIAS_ACT(c + i * ldc, bias ? bias + j0 : NULL, cols, ep->act, (T)ep->act_param);
    } else {
        /* tile (i, j) of C^T is C[j0 + j, i0 + i] */
        T tile[FM_GEMM_MAX_MR * FM_GEMM_MAX_NR];
        const int nr = kn->snr;
        T *c = s->C + j0 * ldc + i0;
        for (fm_int p0 = 0; p0 < s->k; p0 += KC) {
            const T beta = p0 == 0 ? s->beta : (T)1;
            kn->sup(FM_MIN(KC, s->k - p0), a + p0 * s->cs_a, s->rs_a, s->cs_a, b + p0 * s->ldb,
                    s->ldb, tile, nr, s->alpha, 0, rows, cols);
            for (int j = 0; j < cols; j++)
                for (int i = 0; i < rows; i++)
                    c[j * ldc + i] = beta == 0 ? tile[i * nr + j]
                                               : beta * c[j * ldc + i] + tile[i * nr + j];
        }
        if (epilogue)
            for (int j = 0; j < cols; j++)
                BIAS_ACT(c + j * ldc, bias ? bias + i0 : NULL, rows, ep->act, (T)ep->act_param);
    }
}

/* Thread t of nt takes a contiguous share of the tile rows or of the tile
 * columns, whichever there are more of. Tiles stored straight into C go to the
 * kernel a run of row tiles at a time (it walks them MR rows at a time, so a
 * call's set-up is paid per run, not per tile: 784 x 30 x 10, 7.4 -> 6.2 us):
 * - an op(B) of at most 8 KiB stays in L1 whatever the order: short runs (8
 *   tiles), each across every column strip, finish their C rows while in L1;
 * - a larger one goes strip by strip, each over all rows (runs of 512 tiles),
 *   so a k slice of the strip serves them all from L1.
 * Transposed tiles go one at a time through a stack tile. */
static void FN(sup_thread)(const FN(sup_ctx) *s, int t, int nt)
{
    const fm_int MR = s->kern->smr, NR = s->kern->snr;
    const fm_int n_ir = (s->m + MR - 1) / MR, n_jr = (s->n + NR - 1) / NR;
    fm_int ir0 = 0, ir1 = n_ir, jr0 = 0, jr1 = n_jr;
    if (n_ir >= n_jr) {
        ir0 = n_ir * t / nt;
        ir1 = n_ir * (t + 1) / nt;
    } else {
        jr0 = n_jr * t / nt;
        jr1 = n_jr * (t + 1) / nt;
    }
    if (s->trans_c) {
        for (fm_int jr = jr0; jr < jr1; jr++)
            for (fm_int ir = ir0; ir < ir1; ir++)
                FN(sup_tile)(s, ir * MR, jr * NR, (int)FM_MIN(MR, s->m - ir * MR),
                             (int)FM_MIN(NR, s->n - jr * NR));
        return;
    }
    const int small_b = s->k * s->n * (fm_int)sizeof(T) <= 8192;
    const fm_int run = small_b ? 8 : 512;
#define RUN_ROWS(ir) (int)FM_MIN(FM_MIN(run, ir1 - (ir)) * MR, s->m - (ir) * MR)
    if (small_b) {
        for (fm_int ir = ir0; ir < ir1; ir += run)
            for (fm_int jr = jr0; jr < jr1; jr++)
                FN(sup_tile)(s, ir * MR, jr * NR, RUN_ROWS(ir), (int)FM_MIN(NR, s->n - jr * NR));
    } else {
        for (fm_int jr = jr0; jr < jr1; jr++)
            for (fm_int ir = ir0; ir < ir1; ir += run)
                FN(sup_tile)(s, ir * MR, jr * NR, RUN_ROWS(ir), (int)FM_MIN(NR, s->n - jr * NR));
    }
#undef RUN_ROWS
}

/* Rows of the problem times column strips, for m <= 2: strip w of row i. */
typedef struct {
    const FN(sup_ctx) *s;
    fm_int strips;
} FN(gemv_ctx);

static void FN(gemv_range)(void *p, fm_int w0, fm_int w1)
{
    const FN(gemv_ctx) *v = p;
    const FN(sup_ctx) *s = v->s;
    const KERNEL *kn = s->kern;
    const fm_int KC = s->kc;
    const fm_epilogue *ep = s->ep;
    const int epilogue = ep && (ep->bias || ep->act != FM_ACT_NONE);
    const T *bias = ep ? (const T *)ep->bias : NULL;
    for (fm_int w = w0; w < w1; w++) {
        const fm_int i = w / v->strips, q = w % v->strips;
        /* strips of near-equal width */
        const fm_int j0 = s->n * q / v->strips, j1 = s->n * (q + 1) / v->strips;
        const T *a = s->a + i * s->rs_a;
        if (!s->trans_c) {
            T *c = s->C + i * s->ldc + j0;
            for (fm_int p0 = 0; p0 < s->k; p0 += KC)
                kn->gemv(FM_MIN(KC, s->k - p0), a + p0 * s->cs_a, s->cs_a, s->b + p0 * s->ldb + j0,
                         s->ldb, c, s->alpha, p0 == 0 ? s->beta : (T)1, (int)(j1 - j0));
            if (epilogue)
                BIAS_ACT(c, bias ? bias + j0 : NULL, j1 - j0, ep->act, (T)ep->act_param);
        } else {
            /* row i of C^T is column i of C */
            T row[FM_GEMM_MAX_GV];
            for (fm_int p0 = 0; p0 < s->k; p0 += KC) {
                const T beta = p0 == 0 ? s->beta : (T)1;
                kn->gemv(FM_MIN(KC, s->k - p0), a + p0 * s->cs_a, s->cs_a, s->b + p0 * s->ldb + j0,
                         s->ldb, row, s->alpha, 0, (int)(j1 - j0));
                for (fm_int j = j0; j < j1; j++) {
                    T *cj = s->C + j * s->ldc + i;
                    *cj = beta == 0 ? row[j - j0] : beta * *cj + row[j - j0];
                }
            }
            if (epilogue)
                for (fm_int j = j0; j < j1; j++)
                    BIAS_ACT(s->C + j * s->ldc + i, bias ? bias + i : NULL, 1, ep->act,
                             (T)ep->act_param);
        }
    }
}

/* dst (k x cols, row stride cols) = src^T, src being cols x k with row stride ld. */
static void FN(sup_transpose)(T *FM_RESTRICT dst, const T *FM_RESTRICT src, fm_int ld,
                              fm_int cols, fm_int k)
{
    for (fm_int j = 0; j < cols; j++)
        for (fm_int p = 0; p < k; p++)
            dst[p * cols + j] = src[j * ld + p];
}

/* The unpacked path for C = alpha op(A) op(B) + beta C. op(B) needs contiguous
 * rows and op(A) may be strided either way, so: op(B) = B as it is, or C^T
 * with op(A)^T = A when trans_a; when neither (A @ B^T) the smaller of
 * op(B) and op(A)^T is transposed into workspace slot 1. */
static int FN(sup_gemm)(int ta, int tb, fm_int m, fm_int n, fm_int k, T alpha, const T *A,
                        fm_int lda, const T *B, fm_int ldb, T beta, T *C, fm_int ldc,
                        const fm_epilogue *ep, int nt, const KERNEL *kn)
{
    FN(sup_ctx) s = {m, n, k, FN(k_slice)(k, kn->kc), alpha, beta, NULL, 0, 0, NULL, 0, C, ldc,
                     ep, kn, 0};
    const int can_plain = !tb, can_trans = ta;
    int trans_c;
    if (can_plain && can_trans)
        /* C^T only when it fills tiles much better and k is deep enough to
         * pay for storing tiles transposed */
        trans_c = k >= 32 && FN(tile_fill)(n, kn->snr) * FN(tile_fill)(m, kn->smr) <
                                 0.7 * FN(tile_fill)(m, kn->snr) * FN(tile_fill)(n, kn->smr);
    else if (can_plain || can_trans)
        trans_c = can_trans;
    else
        trans_c = m < n;
    s.trans_c = trans_c;
    if (!trans_c) {
        s.a = A;
        s.rs_a = ta ? 1 : lda;
        s.cs_a = ta ? lda : 1;
        if (!tb) {
            s.b = B;
            s.ldb = ldb;
        } else {
            T *bt = fm_workspace(1, (size_t)(k * n) * sizeof(T));
            if (!bt)
                return -1;
            FN(sup_transpose)(bt, B, ldb, n, k);
            s.b = bt;
            s.ldb = n;
        }
    } else {
        s.m = n;
        s.n = m;
        s.a = B;
        s.rs_a = tb ? ldb : 1;
        s.cs_a = tb ? 1 : ldb;
        if (ta) {
            s.b = A;
            s.ldb = lda;
        } else {
            T *at = fm_workspace(1, (size_t)(k * m) * sizeof(T));
            if (!at)
                return -1;
            FN(sup_transpose)(at, A, lda, m, k);
            s.b = at;
            s.ldb = m;
        }
    }
    if (s.m <= 2 && kn->gemv) {
        /* a row or two: one-row kernels over balanced column strips */
        const fm_int strips = (s.n + kn->gv_cols - 1) / kn->gv_cols;
        FN(gemv_ctx) v = {&s, strips};
        fm_parallel_for(s.m * strips, 1, (int)FM_MIN(nt, s.m * strips), FN(gemv_range), &v);
        return 0;
    }
    if (nt <= 1) {
        FN(sup_thread)(&s, 0, 1);
    } else {
#ifdef _OPENMP
        fm_region region;
        fm_region_open(&region);
#pragma omp parallel num_threads(nt)
        {
            fm_region_thread_begins(&region);
            FN(sup_thread)(&s, omp_get_thread_num(), omp_get_num_threads());
        }
        fm_region_close(&region);
#else
        FN(sup_thread)(&s, 0, 1);
#endif
    }
    return 0;
}

/* Whether the unpacked path suits a problem (FM_GEMM_PATH_AUTO). From
 * alternating runs of both drivers (benchmarks/bench_gemm.py shapes and more,
 * AVX2, Zen 3): unpacked wins while op(B) is narrow (each B strip then spans
 * few pages and packing A would be amortised over few column panels) and, for
 * A^T, while n is small; A @ B^T needs a transposed copy either way and the
 * packed driver makes it faster. */
static int FN(sup_suits)(int ta, int tb, fm_int m, fm_int n, fm_int k, const KERNEL *kn)
{
    if (!kn->sup_auto || tb)
        return 0;
    /* B rows up to 128 bytes: always; up to 512: only for few rows of A, as
     * packing pays off from ~128 rows on (n = 100: 54 vs 46 GFLOP/s at m = 10000) */
    if (!ta)
        return n * (fm_int)sizeof(T) <= 128 ||
               (n * (fm_int)sizeof(T) <= FM_GEMM_SUP_ROW_BYTES && m <= FM_GEMM_SUP_ROWS);
    /* A^T: while n is small and k moderate (n = 10, k = 256: packed 46 vs 38
     * GFLOP/s; k = 64: unpacked 36 vs 21); a wide n packs even for k = 10
     * (2048 x 10 x 2048: 50 vs 20, as C is then written once, not per strip).
     * Up to 128-byte rows of B too while op(A) (m x k) stays within 256 KiB,
     * as each column strip re-reads it from L2 (Zen 4, alternating runs:
     * 784 x 100 x 64, the dW of workload (b), unpacked 1.17x faster, 784 x 64
     * x 32 1.18x; 2048 x 100 x 64 packed 1.04x, 1200 x 100 x 128 1.04x). */
    return k <= 128 && (n <= 32 || (n * (fm_int)sizeof(T) <= 512 &&
                                    m * k * (fm_int)sizeof(T) <= 256 * 1024));
}

/* Whether an unpacked problem takes the wide table's tile (gemm.h: CPUs that
 * split 512-bit FMAs). Alternating hot loops on a Zen 4 core, 6x16 vs 14x32,
 * float32 (benchmarks/RESULTS.md): a small k, where each tile's set-up and
 * stores weigh against ~k FMAs per row (784x10x30 A^T 6.1 -> 5.7 us, 2048x10x10
 * A^T 10.3 -> 7.1, 256x10x30 2.3 -> 2.2; k = 16 and 32 even); up to 14 rows,
 * which the wide tile takes in one pass over B (14x784x64 16.0 -> 12.7 us,
 * 10x784x30 5.3 -> 5.0), unless they lie a multiple of 4 KiB apart: 14 such
 * rows share one set of the 8-way L1 (10x2048x10 6.4 -> 7.0-9.4 us). float64
 * takes the same rule, unmeasured. */
static int FN(wide_suits)(int ta, fm_int m, fm_int k, fm_int lda, const KERNEL *wide)
{
    if (k < 16)
        return 1;
    return m <= wide->smr && (ta || lda * (fm_int)sizeof(T) % 4096 != 0);
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
    const double work_ns = 2.0 * (double)m * (double)n * (double)k / FM_GEMM_FLOPS_PER_NS;
    const int nt = fm_threads_for_gemm(work_ns, n_threads);
    const int path = fm_gemm_get_path();
    if (path == FM_GEMM_PATH_UNPACKED ||
        (path == FM_GEMM_PATH_AUTO && FN(sup_suits)(ta, tb, m, n, k, kn))) {
        const KERNEL *wide = KERNEL_WIDE();
        return FN(sup_gemm)(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep, nt,
                            wide && FN(wide_suits)(ta, m, k, lda, wide) ? wide : kn);
    }
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
    if (nt <= 1) {
        FN(gemm_thread)(&g, 0, 1);
    } else {
#ifdef _OPENMP
        fm_region region;
        fm_region_open(&region);
#pragma omp parallel num_threads(nt)
        {
            fm_region_thread_begins(&region);
            FN(gemm_thread)(&g, omp_get_thread_num(), omp_get_num_threads());
        }
        fm_region_close(&region);
#else
        FN(gemm_thread)(&g, 0, 1);
#endif
    }
    return 0;
}
