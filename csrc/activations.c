/* activations.c: element-wise activations and their gradients, softmax over the
 * last axis, and the shared bias+activation pass of the GEMM epilogue.
 * Mirrors reference.activation_forward / activation_backward / softmax_forward /
 * softmax_backward (math in their docstrings). Shapes: element-wise kernels see
 * n elements; softmax sees n rows of c.
 *
 * The math is branch-free scalar C below; the loops around it (activations_impl.h)
 * are compiled for generic x86-64, AVX2 and AVX-512 and auto-vectorised, and the
 * active ISA's set is picked at run time. The activation switch and the threaded
 * entry points are written once for both dtypes (activations_dtype_impl.h). exp is only ever needed on x <= 0
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

/* ------------- per dtype: the switch over activations, the entry points */

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

static int act_threads(fm_int n, double ns_each, int n_threads)
{
    return fm_threads_for((double)n * ns_each, n_threads);
}

/* softmax: rows split over threads; each row max, exp and sum (16 lanes), scale */
typedef struct {
    void *y;
    const void *x, *dy;
    fm_int c;
    const void *kern;
} softmax_ctx;

#define T float
#define FN(name) name##_f32
#define ACT_NS 0.3
#define SOFTMAX_NS 1.0
#define SOFTMAX_BWD_NS 0.5
#include "activations_dtype_impl.h"
#undef T
#undef FN
#undef ACT_NS
#undef SOFTMAX_NS
#undef SOFTMAX_BWD_NS

#define T double
#define FN(name) name##_f64
#define ACT_NS 0.6
#define SOFTMAX_NS 1.5
#define SOFTMAX_BWD_NS 0.8
#include "activations_dtype_impl.h"
#undef T
#undef FN
#undef ACT_NS
#undef SOFTMAX_NS
#undef SOFTMAX_BWD_NS

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
