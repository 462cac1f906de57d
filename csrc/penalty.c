/* penalty.c: L1/L2 weight penalties, value and gradient in one pass.
 * Mirrors reference.penalty: returns l1 * sum|w| + (l2/2) * sum w^2 and adds
 * l1 * sign(w) + l2 * w to grad in place (sign(0) = 0, NaN stays NaN). Shapes: w,
 * grad `size` elements. The value is summed in double over fixed blocks added in
 * order (fm_blocked_sum), the same for any thread count. */
#include "act_internal.h"

#define PENALTY_BLOCK 4096

typedef struct {
    void *grad;
    const void *w;
    double l1, l2;
} pen_ctx;

static double penalty_f32_block(void *p, fm_int i0, fm_int i1)
{
    pen_ctx *s = p;
    float *g = s->grad;
    const float *w = s->w;
    float l1 = (float)s->l1, l2 = (float)s->l2;
    double a1[8] = {0}, a2[8] = {0};
    fm_int i = i0;
    for (; i + 8 <= i1; i += 8)
        for (int l = 0; l < 8; l++) {
            double v = w[i + l];
            a1[l] += v < 0 ? -v : v;
            a2[l] += v * v;
        }
    for (int l = 0; i < i1; i++, l++) {
        double v = w[i];
        a1[l] += v < 0 ? -v : v;
        a2[l] += v * v;
    }
    for (i = i0; i < i1; i++) {
        float v = w[i];
        float sg = v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : v);
        g[i] += l1 * sg + l2 * v;
    }
    double s1 = ((a1[0] + a1[4]) + (a1[2] + a1[6])) + ((a1[1] + a1[5]) + (a1[3] + a1[7]));
    double s2 = ((a2[0] + a2[4]) + (a2[2] + a2[6])) + ((a2[1] + a2[5]) + (a2[3] + a2[7]));
    return s->l1 * s1 + 0.5 * s->l2 * s2;
}

static double penalty_f64_block(void *p, fm_int i0, fm_int i1)
{
    pen_ctx *s = p;
    double *g = s->grad;
    const double *w = s->w;
    double a1[8] = {0}, a2[8] = {0};
    fm_int i = i0;
    for (; i + 8 <= i1; i += 8)
        for (int l = 0; l < 8; l++) {
            double v = w[i + l];
            a1[l] += v < 0 ? -v : v;
            a2[l] += v * v;
        }
    for (int l = 0; i < i1; i++, l++) {
        double v = w[i];
        a1[l] += v < 0 ? -v : v;
        a2[l] += v * v;
    }
    for (i = i0; i < i1; i++) {
        double v = w[i];
        double sg = v > 0.0 ? 1.0 : (v < 0.0 ? -1.0 : v);
        g[i] += s->l1 * sg + s->l2 * v;
    }
    double s1 = ((a1[0] + a1[4]) + (a1[2] + a1[6])) + ((a1[1] + a1[5]) + (a1[3] + a1[7]));
    double s2 = ((a2[0] + a2[4]) + (a2[2] + a2[6])) + ((a2[1] + a2[5]) + (a2[3] + a2[7]));
    return s->l1 * s1 + 0.5 * s->l2 * s2;
}

double fm_penalty_f32(float *grad, const float *w, fm_int size, double l1, double l2,
                      int n_threads)
{
    pen_ctx s = {grad, w, l1, l2};
    return fm_blocked_sum(size, PENALTY_BLOCK, n_threads, 0.5, penalty_f32_block, &s);
}

double fm_penalty_f64(double *grad, const double *w, fm_int size, double l1, double l2,
                      int n_threads)
{
    pen_ctx s = {grad, w, l1, l2};
    return fm_blocked_sum(size, PENALTY_BLOCK, n_threads, 0.5, penalty_f64_block, &s);
}
