/* gemm_sup_impl.h: the unpacked ("small/unpacked", BLIS's sup) micro-kernel
 * body, written once and included by each SIMD micro-kernel file per dtype.
 *
 * The includer defines T, FN(name), TARGET (its ISA's target attribute), MR,
 * NV (vectors per tile row; NR = NV*VW) and the vector vocabulary of its ISA:
 *   V, VM (vector and lane-mask types), VW (lanes), V_ZERO(), V_LOAD(p),
 *   V_MLOAD(p, m) (masked-off lanes read as 0, never touched), V_STORE(p, v),
 *   V_MSTORE(p, m, n, v) (lanes of mask m, i.e. the first n lanes, only),
 *   V_FMA(x, y, z) = x*y + z, V_BCAST(p) = *p in every lane,
 *   V_SET1(x), V_MUL(x, y), V_MASK(n) (the first n lanes, 0 < n <= VW).
 *
 * One call computes a rows x cols tile (rows <= MR, cols <= NR) of
 *   C[i, j] = alpha * sum_p A(i, p) * B[p*ldb + j] (+ beta * C[i, j] unless beta == 0)
 * with A(i, p) = a[i*rs_a + p*cs_a] read where it lies (no packing) and the
 * rows of B read in place. Every C element is one FMA chain over p = 0..k-1 in
 * order, then alpha, then beta, whatever the tile's shape: edge tiles (masked or
 * overlapping lanes, fewer rows) give the same bits as full ones. */

#if NV < 1 || NV > 2
#error "gemm_sup_impl.h handles tiles one or two vectors wide"
#endif

/* rows and vectors as compile-time constants; PARTIAL: the last vector is masked */
FM_INLINE TARGET void FN(sup_body)(fm_int k, const T *FM_RESTRICT a, fm_int rs_a, fm_int cs_a,
                            const T *FM_RESTRICT b, fm_int ldb, T *c, fm_int ldc, T alpha,
                            T beta, int cols, const int M, const int NVV, const int PARTIAL)
{
    V acc[MR][NV];
    /* A partial last vector: with fewer columns than one vector, masked; else
     * it ends at the last column and overlaps the one before (plain loads and
     * stores: AVX2 masked loads are slow). Overlapped columns get the same
     * chain, so the same bits, twice. */
    const int masked = PARTIAL && NVV == 1;
    const VM last = V_MASK(masked ? cols : VW);
    const int last0 = PARTIAL && NVV > 1 ? cols - VW : (NVV - 1) * VW;
#pragma GCC unroll 16
    for (int i = 0; i < M; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NVV; v++)
            acc[i][v] = V_ZERO();
    if (rs_a == 1) {
        /* A^T or a packed panel: the M values of one p are adjacent */
        for (fm_int p = 0; p < k; p++, a += cs_a, b += ldb) {
            V bv[NV];
#pragma GCC unroll 4
            for (int v = 0; v < NVV; v++)
                bv[v] = masked ? V_MLOAD(b, last) : V_LOAD(b + (v == NVV - 1 ? last0 : v * VW));
#pragma GCC unroll 16
            for (int i = 0; i < M; i++) {
                const V ai = V_BCAST(a + i);
#pragma GCC unroll 4
                for (int v = 0; v < NVV; v++)
                    acc[i][v] = V_FMA(ai, bv[v], acc[i][v]);
            }
        }
    } else {
        /* rows of A are runs along p (cs_a == 1 in practice) */
        for (fm_int p = 0; p < k; p++, a += cs_a, b += ldb) {
            V bv[NV];
#pragma GCC unroll 4
            for (int v = 0; v < NVV; v++)
                bv[v] = masked ? V_MLOAD(b, last) : V_LOAD(b + (v == NVV - 1 ? last0 : v * VW));
#pragma GCC unroll 16
            for (int i = 0; i < M; i++) {
                const V ai = V_BCAST(a + i * rs_a);
#pragma GCC unroll 4
                for (int v = 0; v < NVV; v++)
                    acc[i][v] = V_FMA(ai, bv[v], acc[i][v]);
            }
        }
    }
    const V va = V_SET1(alpha), vb = V_SET1(beta);
#pragma GCC unroll 16
    for (int i = 0; i < M; i++) {
        T *ci = c + i * ldc;
        if (masked) {
            V r = alpha == (T)1 ? acc[i][0] : V_MUL(va, acc[i][0]);
            if (beta != (T)0)
                r = V_FMA(vb, V_MLOAD(ci, last), r);
            V_MSTORE(ci, last, cols, r);
            continue;
        }
        /* the whole row read before any store: vectors may overlap */
        V r[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NVV; v++) {
            r[v] = alpha == (T)1 ? acc[i][v] : V_MUL(va, acc[i][v]);
            if (beta != (T)0)
                r[v] = V_FMA(vb, V_LOAD(ci + (v == NVV - 1 ? last0 : v * VW)), r[v]);
        }
#pragma GCC unroll 4
        for (int v = 0; v < NVV; v++)
            V_STORE(ci + (v == NVV - 1 ? last0 : v * VW), r[v]);
    }
}

/* Pick the body for a tile's row count and column count. */
FM_INLINE TARGET void FN(sup_rows)(fm_int k, const T *a, fm_int rs_a, fm_int cs_a, const T *b,
                            fm_int ldb, T *c, fm_int ldc, T alpha, T beta, int cols, const int M)
{
    const int nvv = (cols + VW - 1) / VW;
    const int partial = cols % VW != 0;
    if (nvv == NV) {
        if (partial)
            FN(sup_body)(k, a, rs_a, cs_a, b, ldb, c, ldc, alpha, beta, cols, M, NV, 1);
        else
            FN(sup_body)(k, a, rs_a, cs_a, b, ldb, c, ldc, alpha, beta, cols, M, NV, 0);
    }
#if NV > 1
    else if (nvv == 1) {
        if (partial)
            FN(sup_body)(k, a, rs_a, cs_a, b, ldb, c, ldc, alpha, beta, cols, M, 1, 1);
        else
            FN(sup_body)(k, a, rs_a, cs_a, b, ldb, c, ldc, alpha, beta, cols, M, 1, 0);
    }
#endif
}

/* Any number of rows, MR at a time: the unpacked kernel each ISA exports. Each
 * row count has one call site (a second one for MR rows made GCC spill the
 * accumulators of that body). */
#if MR > 14
#error "FN(sup_walk) handles at most 14 rows a tile"
#endif
FM_INLINE TARGET void FN(sup_walk)(fm_int k, const T *a, fm_int rs_a, fm_int cs_a, const T *b,
                                   fm_int ldb, T *c, fm_int ldc, T alpha, T beta, int rows,
                                   int cols)
{
#define SUP_CASE(m) \
    case m: FN(sup_rows)(k, a, rs_a, cs_a, b, ldb, c, ldc, alpha, beta, cols, m); break;
    for (; rows > 0; rows -= MR, a += MR * rs_a, c += MR * ldc)
        switch (rows < MR ? rows : MR) {
        SUP_CASE(1)
        SUP_CASE(2)
        SUP_CASE(3)
        SUP_CASE(4)
        SUP_CASE(5)
#if MR > 6
        SUP_CASE(6)
#endif
#if MR > 7
        SUP_CASE(7)
#endif
#if MR > 8
        SUP_CASE(8)
#endif
#if MR > 9
        SUP_CASE(9)
#endif
#if MR > 10
        SUP_CASE(10)
#endif
#if MR > 11
        SUP_CASE(11)
#endif
#if MR > 12
        SUP_CASE(12)
#endif
#if MR > 13
        SUP_CASE(13)
#endif
        default: FN(sup_rows)(k, a, rs_a, cs_a, b, ldb, c, ldc, alpha, beta, cols, MR); break;
        }
#undef SUP_CASE
}

/* One row of C over NVV vectors of columns (PARTIAL: the last one partial,
 * masked or overlapping as above): NVV independent FMA chains, where a one-row
 * tile of the kernel above has only NV and waits on FMA latency. Same chain
 * per element as above, so a row comes out the same whichever kernel computed it. */
FM_INLINE TARGET void FN(gemv_body)(fm_int k, const T *FM_RESTRICT a, fm_int cs_a,
                                    const T *FM_RESTRICT b, fm_int ldb, T *c, T alpha, T beta,
                                    int cols, const int NVV, const int PARTIAL)
{
    V acc[GV];
    const int masked = PARTIAL && NVV == 1;
    const VM last = V_MASK(masked ? cols : VW);
    const int last0 = PARTIAL && NVV > 1 ? cols - VW : (NVV - 1) * VW;
#pragma GCC unroll 32
    for (int v = 0; v < NVV; v++)
        acc[v] = V_ZERO();
    for (fm_int p = 0; p < k; p++, a += cs_a, b += ldb) {
        const V ap = V_BCAST(a);
#pragma GCC unroll 32
        for (int v = 0; v < NVV; v++)
            acc[v] = V_FMA(ap, masked ? V_MLOAD(b, last)
                                      : V_LOAD(b + (v == NVV - 1 ? last0 : v * VW)), acc[v]);
    }
    const V va = V_SET1(alpha), vb = V_SET1(beta);
    if (masked) {
        V r = alpha == (T)1 ? acc[0] : V_MUL(va, acc[0]);
        if (beta != (T)0)
            r = V_FMA(vb, V_MLOAD(c, last), r);
        V_MSTORE(c, last, cols, r);
        return;
    }
    /* all of C read before any store: vectors may overlap */
#pragma GCC unroll 32
    for (int v = 0; v < NVV; v++) {
        acc[v] = alpha == (T)1 ? acc[v] : V_MUL(va, acc[v]);
        if (beta != (T)0)
            acc[v] = V_FMA(vb, V_LOAD(c + (v == NVV - 1 ? last0 : v * VW)), acc[v]);
    }
#pragma GCC unroll 32
    for (int v = 0; v < NVV; v++)
        V_STORE(c + (v == NVV - 1 ? last0 : v * VW), acc[v]);
}
