/* dense.c: the fully connected layer y = act(x @ W + b) and its backward.
 * Mirrors reference.dense_forward / reference.dense_backward (math there).
 * Shapes: x (n, d_in), W (d_in, d_out), b (d_out,), y dy dz (n, d_out).
 *
 * Forward is one GEMM with the bias and the activation in its epilogue. Backward
 * forms dz = dy * act'(.) from the output y and db = column sums of dz in one pass
 * (threads own column strips; each column is summed over blocks of 64 rows, the
 * block sums added in order, so db is the same for any thread count), then
 * dW = x^T dz and dx = dz W^T as two GEMMs (which never split k). */
#include "act_internal.h"
#include "gemm.h"

#define ROW_BLOCK 64
#define COL_STRIP 256

int fm_dense_forward_f32(float *y, const float *x, const float *W, const float *b, fm_int n,
                         fm_int d_in, fm_int d_out, fm_act act, float param, int n_threads)
{
    fm_epilogue ep = {b, act, param};
    return fm_sgemm_ex(0, 0, n, d_out, d_in, 1.0f, x, d_in, W, d_out, 0.0f, y, d_out, &ep,
                       n_threads);
}

int fm_dense_forward_f64(double *y, const double *x, const double *W, const double *b, fm_int n,
                         fm_int d_in, fm_int d_out, fm_act act, double param, int n_threads)
{
    fm_epilogue ep = {b, act, param};
    return fm_dgemm_ex(0, 0, n, d_out, d_in, 1.0, x, d_in, W, d_out, 0.0, y, d_out, &ep,
                       n_threads);
}

typedef struct {
    void *db, *dz;
    const void *dy, *y;
    fm_int n, d_out;
    fm_act act;
    double param;
    const void *kern;
} colsum_ctx;

/* columns [j0, j1): dz rows (when act) and their sums into db (when db) */
static void colsum_f32_range(void *p, fm_int j0, fm_int j1)
{
    colsum_ctx *c = p;
    const fm_act_table_f32 *k = c->kern;
    fm_int n = c->n, ld = c->d_out;
    float *db = c->db, *dz = c->dz;
    const float *dy = c->dy, *y = c->y;
    for (fm_int s0 = j0; s0 < j1; s0 += COL_STRIP) {
        fm_int w = FM_MIN(COL_STRIP, j1 - s0);
        float total[COL_STRIP], acc[COL_STRIP];
        for (fm_int j = 0; j < w; j++)
            total[j] = 0.0f;
        for (fm_int i0 = 0; i0 < n; i0 += ROW_BLOCK) {
            fm_int i1 = FM_MIN(n, i0 + ROW_BLOCK);
            for (fm_int j = 0; j < w; j++)
                acc[j] = 0.0f;
            for (fm_int i = i0; i < i1; i++) {
                const float *g = dy + i * ld + s0;
                if (dz) {
                    k->act_grad(dz + i * ld + s0, g, y + i * ld + s0, w, c->act, (float)c->param);
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

static void colsum_f64_range(void *p, fm_int j0, fm_int j1)
{
    colsum_ctx *c = p;
    const fm_act_table_f64 *k = c->kern;
    fm_int n = c->n, ld = c->d_out;
    double *db = c->db, *dz = c->dz;
    const double *dy = c->dy, *y = c->y;
    for (fm_int s0 = j0; s0 < j1; s0 += COL_STRIP) {
        fm_int w = FM_MIN(COL_STRIP, j1 - s0);
        double total[COL_STRIP], acc[COL_STRIP];
        for (fm_int j = 0; j < w; j++)
            total[j] = 0.0;
        for (fm_int i0 = 0; i0 < n; i0 += ROW_BLOCK) {
            fm_int i1 = FM_MIN(n, i0 + ROW_BLOCK);
            for (fm_int j = 0; j < w; j++)
                acc[j] = 0.0;
            for (fm_int i = i0; i < i1; i++) {
                const double *g = dy + i * ld + s0;
                if (dz) {
                    k->act_grad(dz + i * ld + s0, g, y + i * ld + s0, w, c->act, c->param);
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

int fm_dense_backward_f32(float *dx, float *dW, float *db, float *dz, const float *dy,
                          const float *x, const float *W, const float *y, fm_int n, fm_int d_in,
                          fm_int d_out, fm_act act, float param, int n_threads)
{
    if (act == FM_ACT_NONE)
        dz = NULL;
    if (db || dz) {
        colsum_ctx c = {db, dz, dy, y, n, d_out, act, param, fm_act_kernels_f32()};
        int nt = fm_threads_for(0.5 * (double)n * (double)d_out, n_threads);
        fm_parallel_for(d_out, 64, nt, colsum_f32_range, &c);
    }
    const float *g = dz ? dz : dy;
    if (fm_sgemm(1, 0, d_in, d_out, n, 1.0f, x, d_in, g, d_out, 0.0f, dW, d_out, n_threads))
        return -1;
    if (dx && fm_sgemm(0, 1, n, d_in, d_out, 1.0f, g, d_out, W, d_out, 0.0f, dx, d_in, n_threads))
        return -1;
    return 0;
}

int fm_dense_backward_f64(double *dx, double *dW, double *db, double *dz, const double *dy,
                          const double *x, const double *W, const double *y, fm_int n,
                          fm_int d_in, fm_int d_out, fm_act act, double param, int n_threads)
{
    if (act == FM_ACT_NONE)
        dz = NULL;
    if (db || dz) {
        colsum_ctx c = {db, dz, dy, y, n, d_out, act, param, fm_act_kernels_f64()};
        int nt = fm_threads_for(0.8 * (double)n * (double)d_out, n_threads);
        fm_parallel_for(d_out, 64, nt, colsum_f64_range, &c);
    }
    const double *g = dz ? dz : dy;
    if (fm_dgemm(1, 0, d_in, d_out, n, 1.0, x, d_in, g, d_out, 0.0, dW, d_out, n_threads))
        return -1;
    if (dx && fm_dgemm(0, 1, n, d_in, d_out, 1.0, g, d_out, W, d_out, 0.0, dx, d_in, n_threads))
        return -1;
    return 0;
}
