/* infer_impl.h: the inference chain, included by infer.c per dtype with T,
 * FN(name), GEMM_EX, ACT_FORWARD, SOFTMAX_FORWARD, BN_EVAL and ALL_FINITE defined. */

/* rows of x through every step into y; buf0/buf1 hold the activations between
 * steps (FM_INFER_ROWS x the widest intermediate width each) */
static int FN(run_block)(T *y, const T *x, fm_int rows, const fm_infer_step *steps, int n_steps,
                         T *buf0, T *buf1, int nt)
{
    if (!ALL_FINITE(x, rows * steps[0].d_in, 1)) /* checks.c: vectorised, early exit */
        return -2;
    const T *src = x;
    for (int s = 0; s < n_steps; s++) {
        const fm_infer_step *st = &steps[s];
        T *dst = s == n_steps - 1 ? y : (src == buf0 ? buf1 : buf0);
        int rc = 0;
        switch (st->kind) {
        case FM_STEP_DENSE: {
            const fm_epilogue ep = {st->b, st->act, st->param};
            rc = GEMM_EX(0, 0, rows, st->d_out, st->d_in, (T)1, src, st->d_in, (const T *)st->W,
                         st->d_out, (T)0, dst, st->d_out, &ep, nt);
            break;
        }
        case FM_STEP_ACT:
            ACT_FORWARD(dst, src, rows * st->d_in, st->act, (T)st->param, nt);
            break;
        case FM_STEP_SOFTMAX:
            SOFTMAX_FORWARD(dst, src, rows, st->d_in, nt);
            break;
        case FM_STEP_BATCHNORM:
            rc = BN_EVAL(dst, src, (const T *)st->gamma, (const T *)st->beta,
                         (const T *)st->mean, (const T *)st->var, rows, st->d_in, st->param, nt);
            break;
        default:
            rc = -3;
        }
        if (rc != 0)
            return rc;
        src = dst;
    }
    return 0;
}

typedef struct {
    T *y;
    const T *x;
    fm_int n, width, block_rows;
    const fm_infer_step *steps;
    int n_steps, inner_threads, err;
} FN(infer_ctx);

/* blocks [b0, b1) of FM_INFER_ROWS rows, in this thread's workspace */
static void FN(infer_range)(void *p, fm_int b0, fm_int b1)
{
    FN(infer_ctx) *c = p;
    const fm_int d_in = c->steps[0].d_in, d_out = c->steps[c->n_steps - 1].d_out;
    T *buf0 = fm_workspace(2, (size_t)(2 * FM_INFER_ROWS * c->width) * sizeof(T));
    int rc = buf0 ? 0 : -1;
    for (fm_int b = b0; b < b1 && rc == 0; b++) {
        const fm_int r0 = b * c->block_rows, rows = FM_MIN(c->block_rows, c->n - r0);
        rc = FN(run_block)(c->y + r0 * d_out, c->x + r0 * d_in, rows, c->steps, c->n_steps, buf0,
                           buf0 + FM_INFER_ROWS * c->width, c->inner_threads);
    }
    if (rc != 0) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
        c->err = rc;
    }
}

static int FN(infer_forward)(T *y, const T *x, fm_int n, const fm_infer_step *steps,
                             int n_steps, int n_threads)
{
    if (n <= 0 || n_steps <= 0)
        return n_steps <= 0 ? -3 : 0;
    fm_int width = 1, widest_dense = 0;
    double flops = 0;
    for (int s = 0; s < n_steps; s++) {
        width = FM_MAX(width, steps[s].d_out);
        if (steps[s].kind == FM_STEP_DENSE) {
            flops += 2.0 * (double)steps[s].d_in * (double)steps[s].d_out;
            widest_dense = FM_MAX(widest_dense, steps[s].d_out);
        }
    }
    /* Narrow layers run blocks their GEMMs compute unpacked (gemm.h's
     * FM_GEMM_SUP_*: 96 rows): 256-row blocks packed the weights again for
     * every block ([784, 100, 10], 10,000 rows: 19.8 -> 18.0 ms). Wide layers
     * keep 256 rows per weight packing. */
    const fm_int block_rows = widest_dense * (fm_int)sizeof(T) <= FM_GEMM_SUP_ROW_BYTES
                                  ? FM_MIN(FM_GEMM_SUP_ROWS, FM_INFER_ROWS)
                                  : FM_INFER_ROWS;
    FN(infer_ctx) c = {y, x, n, width, block_rows, steps, n_steps, n_threads, 0};
    const fm_int blocks = (n + block_rows - 1) / block_rows;
    /* whole blocks per thread when there are enough of them and enough work */
    const int outer =
        blocks >= 2 ? fm_threads_for(flops * (double)n / FM_GEMM_FLOPS_PER_NS, n_threads) : 1;
    if (outer > 1)
        c.inner_threads = 1;
    fm_parallel_for(blocks, 1, outer, FN(infer_range), &c);
    return c.err;
}
