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
        /* op(A) = A: read each row of A contiguously and write it down a column
         * of the panel (which stays in L1). Reading MR rows in lock-step instead
         * would put every row in one L1 set whenever lda is a multiple of 1024. */
        for (fm_int i = 0; i < rows; i++)
            for (fm_int p = 0; p < kc; p++)
                ap[p * MR + i] = alpha * a[i * lda + p];
        for (fm_int i = rows; i < MR; i++)
            for (fm_int p = 0; p < kc; p++)
                ap[p * MR + i] = 0;
    }
}

FM_INLINE void FN(pack_b_body)(T *FM_RESTRICT bp, const T *FM_RESTRICT b, fm_int ldb,
                               int trans, fm_int q0, fm_int q1, fm_int nc, fm_int kc,
                               const int NR)
{
    if (!trans) {
        /* op(B) = B: walk B row by row (contiguous reads), one NR strip per panel */
        for (fm_int p = 0; p < kc; p++) {
            const T *src = b + p * ldb;
            for (fm_int q = q0; q < q1; q++) {
                T *dst = bp + q * NR * kc + p * NR;
                const fm_int cols = nc - q * NR;
                if (cols >= NR) {
                    for (int j = 0; j < NR; j++)
                        dst[j] = src[q * NR + j];
                } else {
                    for (fm_int j = 0; j < cols; j++)
                        dst[j] = src[q * NR + j];
                    for (fm_int j = cols; j < NR; j++)
                        dst[j] = 0;
                }
            }
        }
    } else {
        /* op(B) = B^T: row j of B is column j of the panel */
        for (fm_int q = q0; q < q1; q++) {
            T *panel = bp + q * NR * kc;
            const fm_int cols = FM_MIN(NR, nc - q * NR);
            const T *src = b + q * NR * ldb;
            /* read rows of B contiguously (as for A above) */
            for (fm_int j = 0; j < cols; j++)
                for (fm_int p = 0; p < kc; p++)
                    panel[p * NR + j] = src[j * ldb + p];
            for (fm_int j = cols; j < NR; j++)
                for (fm_int p = 0; p < kc; p++)
                    panel[p * NR + j] = 0;
        }
    }
}
