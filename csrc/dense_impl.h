/* dense_impl.h: the dense layer for one dtype, included by dense.c with
 * T = float / double, FN(name) = name ## _f32 / _f64, GEMM / GEMM_EX = that
 * dtype's fm_sgemm / fm_dgemm (_ex), and COLSUM_NS (ns per element of the
 * dz/db pass: when threads pay). FN(fm_act_table) / FN(fm_act_kernels) are the
 * dtype's activation kernels (act_internal.h). */

int FN(fm_dense_forward)(T *y, const T *x, const T *W, const T *b, fm_int n, fm_int d_in,
                         fm_int d_out, fm_act act, T param, int n_threads)
{
    fm_epilogue ep = {b, act, param};
    return GEMM_EX(0, 0, n, d_out, d_in, (T)1, x, d_in, W, d_out, (T)0, y, d_out, &ep,
                   n_threads);
}

/* columns [j0, j1): dz rows (when act) and their sums into db (when db), in T */
static void FN(colsum_range)(void *p, fm_int j0, fm_int j1)
{
    colsum_ctx *c = p;
    const FN(fm_act_table) *k = c->kern;
    fm_int n = c->n, ld = c->d_out;
    T *db = c->db, *dz = c->dz;
    const T *dy = c->dy, *y = c->y;
    for (fm_int s0 = j0; s0 < j1; s0 += COL_STRIP) {
        fm_int w = FM_MIN(COL_STRIP, j1 - s0);
        T total[COL_STRIP], acc[COL_STRIP];
        for (fm_int j = 0; j < w; j++)
            total[j] = 0;
        for (fm_int i0 = 0; i0 < n; i0 += ROW_BLOCK) {
            fm_int i1 = FM_MIN(n, i0 + ROW_BLOCK);
            for (fm_int j = 0; j < w; j++)
                acc[j] = 0;
            for (fm_int i = i0; i < i1; i++) {
                const T *g = dy + i * ld + s0;
                if (dz) {
                    k->act_grad(dz + i * ld + s0, g, y + i * ld + s0, w, c->act, (T)c->param);
                    g = dz + i * ld + s0;
                }
                if (db)
                    for (fm_int j = 0; j < w; j++)
                        acc[j] += g[j];
            }
            for (fm_int j = 0; j < w; j++)
                total[j] += acc[j];
        }
        if (db)
            for (fm_int j = 0; j < w; j++)
                db[s0 + j] = total[j];
    }
}

int FN(fm_dense_backward)(T *dx, T *dW, T *db, T *dz, const T *dy, const T *x, const T *W,
                          const T *y, fm_int n, fm_int d_in, fm_int d_out, fm_act act, T param,
                          int n_threads)
{
    if (act == FM_ACT_NONE)
        dz = NULL;
    if (db || dz) {
        colsum_ctx c = {db, dz, dy, y, n, d_out, act, param, FN(fm_act_kernels)()};
        int nt = fm_threads_for(COLSUM_NS * (double)n * (double)d_out, n_threads);
        fm_parallel_for(d_out, 64, nt, FN(colsum_range), &c);
    }
    const T *g = dz ? dz : dy;
    if (GEMM(1, 0, d_in, d_out, n, (T)1, x, d_in, g, d_out, (T)0, dW, d_out, n_threads))
        return -1;
    if (dx && GEMM(0, 1, n, d_in, d_out, (T)1, g, d_out, W, d_out, (T)0, dx, d_in, n_threads))
        return -1;
    return 0;
}
