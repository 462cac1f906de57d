/* activations.c: element-wise activations and their gradients, softmax over the
 * last axis, and the shared bias+activation pass of the GEMM epilogue.
 * Mirrors reference.activation_forward / activation_backward / softmax_forward /
 * softmax_backward (math in their docstrings). Shapes: element-wise kernels see
 * n elements; softmax sees n rows of c.
 *
 * The math is branch-free scalar C below; the loops around it (activations_impl.h)
 * are compiled for generic x86-64, AVX2 and AVX-512 and auto-vectorised, and the
 * active ISA's set is picked at run time. exp is only ever needed on x <= 0
 * (sigmoid and tanh use exp(-|x|), softmax exp(x - max), elu expm1(min(x, 0))),
 * which keeps it free of overflow: a Cody-Waite reduction x = n ln2 + r,
 * |r| <= ln2/2, a Taylor polynomial for exp(r), and 2^n added to the exponent
 * bits; below the smallest normal it returns 0. Accuracy: a few ulp in float32,
 * about 1 ulp in float64. NaN propagates through every function. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "act_internal.h"
#include "gemm.h"

/* ----------------------------------------------------------- scalar math */

FM_INLINE float exp_le0_f32(float x)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float k = x * 1.44269504088896341f + magic;
    float n = k - magic;
    float r = x - n * 0.693359375f; /* ln2 split in a short head and a tail */
    r = r + n * 2.12194440e-4f;
    /* Taylor to r^7 in Estrin's form: 3 dependent FMA levels instead of Horner's 8,
     * so the out-of-order window overlaps more elements (the loops were latency-bound) */
    float r2 = r * r;
    float r4 = r2 * r2;
    float p01 = 1.0f + r;
    float p23 = 0.5f + r * (1.0f / 6.0f);
    float p45 = 1.0f / 24.0f + r * (1.0f / 120.0f);
    float p67 = 1.0f / 720.0f + r * (1.0f / 5040.0f);
    float p = (p01 + r2 * p23) + r4 * (p45 + r2 * p67);
    uint32_t ki, pi; /* unsigned: out-of-range n wraps (and is discarded below), no UB */
    memcpy(&ki, &k, sizeof ki);
    memcpy(&pi, &p, sizeof pi);
    pi += ki << 23; /* the low bits of k hold n */
    float e;
    memcpy(&e, &pi, sizeof e);
    e = x < -87.33f ? 0.0f : e;
    return x != x ? x : e;
}

FM_INLINE double exp_le0_f64(double x)
{
    const double magic = 6755399441055744.0; /* 1.5 * 2^52 */
    double k = x * 1.4426950408889634074 + magic;
    double n = k - magic;
    double r = x - n * 6.93147180369123816490e-01;
    r = r - n * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t ki, pi;
    memcpy(&ki, &k, sizeof ki);
    memcpy(&pi, &p, sizeof pi);
    pi += ki << 52;
    double e;
    memcpy(&e, &pi, sizeof e);
    e = x < -708.3 ? 0.0 : e;
    return x != x ? x : e;
}

/* expm1(x) for x <= 0: Taylor near 0 (where exp(x) - 1 would cancel), else exp - 1 */
FM_INLINE float expm1_le0_f32(float x)
{
    /* x + x^2/2 + ... + x^9/9!, Estrin's form as in exp_le0_f32 */
    float x2 = x * x;
    float x4 = x2 * x2;
    float q01 = 0.5f + x * (1.0f / 6.0f);
    float q23 = 1.0f / 24.0f + x * (1.0f / 120.0f);
    float q45 = 1.0f / 720.0f + x * (1.0f / 5040.0f);
    float q67 = 1.0f / 40320.0f + x * (1.0f / 362880.0f);
    float q = (q01 + x2 * q23) + x4 * (q45 + x2 * q67);
    float p = x + x2 * q;
    float e = exp_le0_f32(x) - 1.0f;
    return x > -0.5f ? p : e;
}

FM_INLINE double expm1_le0_f64(double x)
{
    double p = 1.0 / 87178291200.0;
    p = p * x + 1.0 / 6227020800.0;
    p = p * x + 1.0 / 479001600.0;
    p = p * x + 1.0 / 39916800.0;
    p = p * x + 1.0 / 3628800.0;
    p = p * x + 1.0 / 362880.0;
    p = p * x + 1.0 / 40320.0;
    p = p * x + 1.0 / 5040.0;
    p = p * x + 1.0 / 720.0;
    p = p * x + 1.0 / 120.0;
    p = p * x + 1.0 / 24.0;
    p = p * x + 1.0 / 6.0;
    p = p * x + 0.5;
    p = p * x + 1.0;
    p = p * x;
    double e = exp_le0_f64(x) - 1.0;
    return x > -0.5 ? p : e;
}

FM_INLINE float sigmoid_f32(float x)
{
    float ax = fabsf(x); /* one andps; a compare and a blend otherwise */
    float e = exp_le0_f32(-ax);
    float r = 1.0f / (1.0f + e);
    return x >= 0.0f ? r : e * r;
}

FM_INLINE double sigmoid_f64(double x)
{
    double ax = x < 0.0 ? -x : x;
    double e = exp_le0_f64(-ax);
    double r = 1.0 / (1.0 + e);
    return x >= 0.0 ? r : e * r;
}

/* tanh: odd Taylor series below |x| = 0.25, else (1 - e) / (1 + e) with e = exp(-2|x|) */
FM_INLINE float tanh_f32(float x)
{
    float ax = fabsf(x); /* one andps; a compare and a blend otherwise */
    float x2 = x * x;
    float x4 = x2 * x2;
    float p = (-1.0f / 3.0f + x2 * (2.0f / 15.0f)) + x4 * ((-17.0f / 315.0f + x2 * (62.0f / 2835.0f))
                                                         + x4 * (-1382.0f / 155925.0f));
    p = p * x2 * x + x;
    float e = exp_le0_f32(-2.0f * ax);
    float t = (1.0f - e) / (1.0f + e);
    t = x < 0.0f ? -t : t;
    return ax < 0.25f ? p : t;
}

/* float64 tanh from expm1, which has no cancellation: tanh|x| = -m / (2 + m), m = expm1(-2|x|) */
FM_INLINE double tanh_f64(double x)
{
    double ax = x < 0.0 ? -x : x;
    double m = expm1_le0_f64(-2.0 * ax);
    double t = -m / (2.0 + m);
    return x < 0.0 ? -t : t;
}

FM_INLINE float relu_f32(float x) { return x < 0.0f ? 0.0f : x; }   /* NaN stays */
FM_INLINE double relu_f64(double x) { return x < 0.0 ? 0.0 : x; }

/* a float's bits as an integer that orders like the float (negatives flipped) */
FM_INLINE int32_t float_key(float v)
{
    int32_t b;
    memcpy(&b, &v, sizeof b);
    return b ^ ((b >> 31) & 0x7fffffff);
}

FM_INLINE float float_from_key(int32_t b)
{
    b ^= (b >> 31) & 0x7fffffff;
    float v;
    memcpy(&v, &b, sizeof v);
    return v;
}

FM_INLINE int64_t double_key(double v)
{
    int64_t b;
    memcpy(&b, &v, sizeof b);
    return b ^ ((b >> 63) & 0x7fffffffffffffffLL);
}

FM_INLINE double double_from_key(int64_t b)
{
    b ^= (b >> 63) & 0x7fffffffffffffffLL;
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

FM_INLINE float act_f32(float v, fm_act act, float param)
{
    switch (act) {
    case FM_ACT_RELU: return relu_f32(v);
    case FM_ACT_SIGMOID: return sigmoid_f32(v);
    case FM_ACT_TANH: return tanh_f32(v);
    case FM_ACT_LEAKY_RELU: return v > 0.0f ? v : v * param;
    case FM_ACT_ELU: return v > 0.0f ? v : param * expm1_le0_f32(v > 0.0f ? 0.0f : v);
    default: return v;
    }
}

FM_INLINE double act_f64(double v, fm_act act, double param)
{
    switch (act) {
    case FM_ACT_RELU: return relu_f64(v);
    case FM_ACT_SIGMOID: return sigmoid_f64(v);
    case FM_ACT_TANH: return tanh_f64(v);
    case FM_ACT_LEAKY_RELU: return v > 0.0 ? v : v * param;
    case FM_ACT_ELU: return v > 0.0 ? v : param * expm1_le0_f64(v > 0.0 ? 0.0 : v);
    default: return v;
    }
}

/* the derivative from the output y (see reference.activation_backward) */
FM_INLINE float act_grad_f32(float dy, float y, fm_act act, float param)
{
    switch (act) {
    case FM_ACT_RELU: return y <= 0.0f ? 0.0f : dy;
    case FM_ACT_SIGMOID: return dy * (y * (1.0f - y));
    case FM_ACT_TANH: return dy * (1.0f - y * y);
    case FM_ACT_LEAKY_RELU: return y <= 0.0f ? dy * param : dy;
    case FM_ACT_ELU: return y <= 0.0f ? dy * (y + param) : dy;
    default: return dy;
    }
}

FM_INLINE double act_grad_f64(double dy, double y, fm_act act, double param)
{
    switch (act) {
    case FM_ACT_RELU: return y <= 0.0 ? 0.0 : dy;
    case FM_ACT_SIGMOID: return dy * (y * (1.0 - y));
    case FM_ACT_TANH: return dy * (1.0 - y * y);
    case FM_ACT_LEAKY_RELU: return y <= 0.0 ? dy * param : dy;
    case FM_ACT_ELU: return y <= 0.0 ? dy * (y + param) : dy;
    default: return dy;
    }
}

/* ------------------------------------------------- loops, one set per ISA */

#define FN(name) name##_generic
#include "activations_impl.h"
#undef FN

#if FM_X86_SIMD
/* every function of the region gets the ISA: GCC's target pragma, clang's attribute push */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define FN(name) name##_avx2
#include "activations_impl.h"
#undef FN
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")
#endif
#define FN(name) name##_avx512
#include "activations_impl.h"
#undef FN
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

const fm_act_table_f32 *fm_act_kernels_f32(void)
{
#if FM_X86_SIMD
    switch (fm_isa_active()) {
    case FM_ISA_AVX512: return &kernels_f32_avx512;
    case FM_ISA_AVX2: return &kernels_f32_avx2;
    default: break;
    }
#endif
    return &kernels_f32_generic;
}

const fm_act_table_f64 *fm_act_kernels_f64(void)
{
#if FM_X86_SIMD
    switch (fm_isa_active()) {
    case FM_ISA_AVX512: return &kernels_f64_avx512;
    case FM_ISA_AVX2: return &kernels_f64_avx2;
    default: break;
    }
#endif
    return &kernels_f64_generic;
}

/* ------------------------------------------------------ public kernels */

void fm_bias_act_inplace_f32(float *y, const float *bias, fm_int n, fm_act act, float param)
{
    fm_act_kernels_f32()->act(y, y, bias, n, act, param);
}

void fm_bias_act_inplace_f64(double *y, const double *bias, fm_int n, fm_act act, double param)
{
    fm_act_kernels_f64()->act(y, y, bias, n, act, param);
}

/* element-wise kernels: threads take chunks of 4096 elements (results do not
 * depend on the split) once the work is worth waking them (~0.3 ns an element) */
#define ACT_GRAIN 4096

typedef struct {
    void *out;
    const void *a, *b;
    fm_act act;
    double param;
    const void *kern;
} act_ctx;

static void act_fwd_f32_range(void *p, fm_int i0, fm_int i1)
{
    act_ctx *c = p;
    ((const fm_act_table_f32 *)c->kern)->act((float *)c->out + i0, (const float *)c->a + i0,
                                                NULL, i1 - i0, c->act, (float)c->param);
}

static void act_fwd_f64_range(void *p, fm_int i0, fm_int i1)
{
    act_ctx *c = p;
    ((const fm_act_table_f64 *)c->kern)->act((double *)c->out + i0, (const double *)c->a + i0,
                                                NULL, i1 - i0, c->act, c->param);
}

static void act_bwd_f32_range(void *p, fm_int i0, fm_int i1)
{
    act_ctx *c = p;
    ((const fm_act_table_f32 *)c->kern)->act_grad((float *)c->out + i0, (const float *)c->a + i0,
                                                     (const float *)c->b + i0, i1 - i0, c->act,
                                                     (float)c->param);
}

static void act_bwd_f64_range(void *p, fm_int i0, fm_int i1)
{
    act_ctx *c = p;
    ((const fm_act_table_f64 *)c->kern)->act_grad((double *)c->out + i0, (const double *)c->a + i0,
                                                     (const double *)c->b + i0, i1 - i0, c->act,
                                                     c->param);
}

static int act_threads(fm_int n, double ns_each, int n_threads)
{
    return fm_threads_for((double)n * ns_each, n_threads);
}

void fm_activation_forward_f32(float *y, const float *x, fm_int n, fm_act act, float param,
                               int n_threads)
{
    act_ctx c = {y, x, NULL, act, param, fm_act_kernels_f32()};
    fm_parallel_for(n, ACT_GRAIN, act_threads(n, 0.3, n_threads), act_fwd_f32_range, &c);
}

void fm_activation_forward_f64(double *y, const double *x, fm_int n, fm_act act, double param,
                               int n_threads)
{
    act_ctx c = {y, x, NULL, act, param, fm_act_kernels_f64()};
    fm_parallel_for(n, ACT_GRAIN, act_threads(n, 0.6, n_threads), act_fwd_f64_range, &c);
}

void fm_activation_backward_f32(float *dx, const float *dy, const float *y, fm_int n, fm_act act,
                                float param, int n_threads)
{
    act_ctx c = {dx, dy, y, act, param, fm_act_kernels_f32()};
    fm_parallel_for(n, ACT_GRAIN, act_threads(n, 0.3, n_threads), act_bwd_f32_range, &c);
}

void fm_activation_backward_f64(double *dx, const double *dy, const double *y, fm_int n,
                                fm_act act, double param, int n_threads)
{
    act_ctx c = {dx, dy, y, act, param, fm_act_kernels_f64()};
    fm_parallel_for(n, ACT_GRAIN, act_threads(n, 0.6, n_threads), act_bwd_f64_range, &c);
}

/* softmax: rows split over threads; each row max, exp and sum (16 lanes), scale */
typedef struct {
    void *y;
    const void *x, *dy;
    fm_int c;
    const void *kern;
} softmax_ctx;

static void softmax_fwd_f32_range(void *p, fm_int r0, fm_int r1)
{
    softmax_ctx *s = p;
    const fm_act_table_f32 *k = s->kern;
    fm_int c = s->c;
    for (fm_int r = r0; r < r1; r++) {
        const float *x = (const float *)s->x + r * c;
        float *y = (float *)s->y + r * c;
        float m = k->row_max(x, c);
        float inv = 1.0f / k->exp_shift_sum(y, x, c, m);
        for (fm_int j = 0; j < c; j++)
            y[j] *= inv;
    }
}

static void softmax_fwd_f64_range(void *p, fm_int r0, fm_int r1)
{
    softmax_ctx *s = p;
    const fm_act_table_f64 *k = s->kern;
    fm_int c = s->c;
    for (fm_int r = r0; r < r1; r++) {
        const double *x = (const double *)s->x + r * c;
        double *y = (double *)s->y + r * c;
        double m = k->row_max(x, c);
        double inv = 1.0 / k->exp_shift_sum(y, x, c, m);
        for (fm_int j = 0; j < c; j++)
            y[j] *= inv;
    }
}

void fm_softmax_forward_f32(float *y, const float *x, fm_int n, fm_int c, int n_threads)
{
    if (c < 1)
        return;
    softmax_ctx s = {y, x, NULL, c, fm_act_kernels_f32()};
    fm_parallel_for(n, 1, act_threads(n * c, 1.0, n_threads), softmax_fwd_f32_range, &s);
}

void fm_softmax_forward_f64(double *y, const double *x, fm_int n, fm_int c, int n_threads)
{
    if (c < 1)
        return;
    softmax_ctx s = {y, x, NULL, c, fm_act_kernels_f64()};
    fm_parallel_for(n, 1, act_threads(n * c, 1.5, n_threads), softmax_fwd_f64_range, &s);
}

/* dx = y * (dy - <dy, y>) per row; the dot product over 8 lanes in a fixed order */
static void softmax_bwd_f32_range(void *p, fm_int r0, fm_int r1)
{
    softmax_ctx *s = p;
    fm_int c = s->c;
    for (fm_int r = r0; r < r1; r++) {
        const float *y = (const float *)s->x + r * c, *dy = (const float *)s->dy + r * c;
        float *dx = (float *)s->y + r * c;
        float acc[8] = {0};
        fm_int j = 0;
        for (; j + 8 <= c; j += 8)
            for (int l = 0; l < 8; l++)
                acc[l] += dy[j + l] * y[j + l];
        for (int l = 0; j < c; j++, l++)
            acc[l] += dy[j] * y[j];
        float dot = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
        for (j = 0; j < c; j++)
            dx[j] = y[j] * (dy[j] - dot);
    }
}

static void softmax_bwd_f64_range(void *p, fm_int r0, fm_int r1)
{
    softmax_ctx *s = p;
    fm_int c = s->c;
    for (fm_int r = r0; r < r1; r++) {
        const double *y = (const double *)s->x + r * c, *dy = (const double *)s->dy + r * c;
        double *dx = (double *)s->y + r * c;
        double acc[8] = {0};
        fm_int j = 0;
        for (; j + 8 <= c; j += 8)
            for (int l = 0; l < 8; l++)
                acc[l] += dy[j + l] * y[j + l];
        for (int l = 0; j < c; j++, l++)
            acc[l] += dy[j] * y[j];
        double dot = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
        for (j = 0; j < c; j++)
            dx[j] = y[j] * (dy[j] - dot);
    }
}

void fm_softmax_backward_f32(float *dx, const float *dy, const float *y, fm_int n, fm_int c,
                             int n_threads)
{
    softmax_ctx s = {dx, y, dy, c, NULL};
    fm_parallel_for(n, 1, act_threads(n * c, 0.5, n_threads), softmax_bwd_f32_range, &s);
}

void fm_softmax_backward_f64(double *dx, const double *dy, const double *y, fm_int n, fm_int c,
                             int n_threads)
{
    softmax_ctx s = {dx, y, dy, c, NULL};
    fm_parallel_for(n, 1, act_threads(n * c, 0.8, n_threads), softmax_bwd_f64_range, &s);
}
