/* gemm_pack_impl.h: packing bodies, included per dtype (T, FN(name)) by the
 * micro-kernel files. Each file wraps them with its own MR/NR as compile-time
 * constants under its ISA's target attribute, so the copies vectorise for that
 * ISA with no runtime-width loops.
 *
 *   A panel: ap[p*MR + i] = alpha * op(A)[i, p]   for i < rows (rows >= MR zeroed)
 *   B panels q0..q1-1: bp[q*NR*kc + p*NR + j] = op(B)[p, q*NR + j]   (cols past nc zeroed)
 * where a points at op(A)[0, 0] and b at op(B)[0, 0] of the block. */

FM_INLINE void FN(pack_a_body)(T *FM_RESTRICT ap, const T *FM_RESTRICT a, fm_int lda,
                               int trans, fm_int rows, fm_int kc, T alpha, const int MR)
{
    if (trans) {
        /* op(A) = A^T: each k row of the panel is a contiguous run of A */
        if (rows == MR) {
            for (fm_int p = 0; p < kc; p++)
                for (int i = 0; i < MR; i++)
                    ap[p * MR + i] = alpha * a[p * lda + i];
        } else {
            for (fm_int p = 0; p < kc; p++) {
                for (fm_int i = 0; i < rows; i++)
                    ap[p * MR + i] = alpha * a[p * lda + i];
                for (fm_int i = rows; i < MR; i++)
                    ap[p * MR + i] = 0;
            }
        }
    } else {
        /* op(A) = A: the MR rows are read in lock-step, so each k step writes
         * MR consecutive elements of the panel; measured 1.4-1.9x faster than
         * copying one row at a time (lda 784..4096, Zen 3) */
        if (rows == MR) {
            for (fm_int p = 0; p < kc; p++)
                for (int i = 0; i < MR; i++)
                    ap[p * MR + i] = alpha * a[i * lda + p];
        } else {
            for (fm_int p = 0; p < kc; p++) {
                for (fm_int i = 0; i < rows; i++)
                    ap[p * MR + i] = alpha * a[i * lda + p];
                for (fm_int i = rows; i < MR; i++)
                    ap[p * MR + i] = 0;
            }
        }
    }
}

FM_INLINE void FN(pack_b_body)(T *FM_RESTRICT bp, const T *FM_RESTRICT b, fm_int ldb,
                               int trans, fm_int q0, fm_int q1, fm_int nc, fm_int kc,
                               const int NR)
{
    if (!trans) {
        /* op(B) = B: eight rows of B at a time, copied panel by panel, so each
         * panel receives one contiguous run of 8 NR elements while B's rows are
         * still read front to back; 3x faster than sweeping whole rows into
         * every panel at once (a wide B keeps ~100 write streams in flight) */
        const fm_int rows_per_step = 8;
        for (fm_int p0 = 0; p0 < kc; p0 += rows_per_step) {
            const fm_int p1 = FM_MIN(p0 + rows_per_step, kc);
            for (fm_int q = q0; q < q1; q++) {
                const fm_int cols = FM_MIN(NR, nc - q * NR);
                for (fm_int p = p0; p < p1; p++) {
                    const T *src = b + p * ldb + q * NR;
                    T *dst = bp + q * NR * kc + p * NR;
                    if (cols == NR) {
                        for (int j = 0; j < NR; j++)
                            dst[j] = src[j];
                    } else {
                        for (fm_int j = 0; j < cols; j++)
                            dst[j] = src[j];
                        for (fm_int j = cols; j < NR; j++)
                            dst[j] = 0;
                    }
                }
            }
        }
    } else {
        /* op(B) = B^T: row j of B is column j of the panel */
        for (fm_int q = q0; q < q1; q++) {
            T *panel = bp + q * NR * kc;
            const fm_int cols = FM_MIN(NR, nc - q * NR);
            const T *src = b + q * NR * ldb;
            /* the NR rows of B in lock-step (as for A above): 2.5-5x faster
             * than one row at a time, whose writes stride through the panel */
            if (cols == NR) {
                for (fm_int p = 0; p < kc; p++)
                    for (int j = 0; j < NR; j++)
                        panel[p * NR + j] = src[j * ldb + p];
            } else {
                for (fm_int p = 0; p < kc; p++) {
                    for (fm_int j = 0; j < cols; j++)
                        panel[p * NR + j] = src[j * ldb + p];
                    for (fm_int j = cols; j < NR; j++)
                        panel[p * NR + j] = 0;
                }
            }
        }
    }
}
