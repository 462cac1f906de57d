/* penalty.c: L1/L2 weight penalties, value and gradient in one pass.
 * Mirrors reference.penalty: returns l1 * sum|w| + (l2/2) * sum w^2 and adds
 * l1 * sign(w) + l2 * w to grad in place (sign(0) = 0, NaN stays NaN). Shapes: w,
 * grad `size` elements. The value is summed in double over fixed blocks added in
 * order (fm_blocked_sum), the same for any thread count; inside a block, 8 lanes
 * (element i goes to lane i % 8) combined in a fixed tree.
 *
 * The block bodies are branch-free (fabs, selects) so they vectorise: a branch on
 * the sign of random weights mispredicts about half the time (it ran at ~6 ns per
 * element). They are compiled for generic x86-64, AVX2 and AVX-512 and picked at
 * run time; the portable body and the dispatch are written once for both dtypes
 * (penalty_impl.h). In float32 every lane sum is the same on every ISA: |v| and
 * v*v are exact in double, so FMA contraction changes nothing. */
#include <math.h>
#include <stdint.h>

#include "act_internal.h"

#if FM_X86_SIMD
#include <immintrin.h>
#endif

#define PENALTY_BLOCK 4096

typedef struct {
    void *grad;
    const void *w;
    double l1, l2;
} pen_ctx;

FM_INLINE double lanes_sum8(const double *a)
{
    return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

/* a term whose coefficient is 0 is left out, as in the reference (0 * inf is NaN) */
FM_INLINE double penalty_value(const pen_ctx *s, const double *a1, const double *a2)
{
    double v1 = s->l1 != 0.0 ? s->l1 * lanes_sum8(a1) : 0.0;
    double v2 = s->l2 != 0.0 ? 0.5 * s->l2 * lanes_sum8(a2) : 0.0;
    return v1 + v2;
}

#if FM_X86_SIMD
/* AVX2 (and AVX-512, which runs the same code): GCC does not vectorise the
 * 8-lane double sums of the portable body (penalty_impl.h), so they are written
 * out: lanes 0-3 and 4-7 of each group of 8 in two __m256d accumulators, the tail
 * added lane by lane after. The gradient is fma(l2, v, l1 * sign(v)), l1 * sign(v)
 * formed as +-l1 by the sign bit where v != 0 and v is not NaN, else as v itself
 * (which l1 * v equals there). */
#define PENALTY_SIMD(NAME, TARGET)                                                      \
    TARGET static double NAME##_f32(void *p, fm_int i0, fm_int i1)                      \
    {                                                                                   \
        pen_ctx *s = p;                                                                 \
        float *FM_RESTRICT g = (float *)s->grad + i0;                                   \
        const float *FM_RESTRICT w = (const float *)s->w + i0;                          \
        fm_int n = i1 - i0, i = 0;                                                      \
        const float l1 = (float)s->l1, l2 = (float)s->l2;                               \
        const __m256 vl1 = _mm256_set1_ps(l1), vl2 = _mm256_set1_ps(l2);                \
        const __m256 sgn = _mm256_set1_ps(-0.0f);                                       \
        const __m256 l2z = _mm256_cmp_ps(vl2, _mm256_setzero_ps(), _CMP_EQ_OQ);        \
        const __m256d absm = _mm256_castsi256_pd(_mm256_set1_epi64x(INT64_MAX));        \
        __m256d s1a = _mm256_setzero_pd(), s1b = s1a, s2a = s1a, s2b = s1a;             \
        for (; i + 8 <= n; i += 8) {                                                    \
            __m256 v = _mm256_loadu_ps(w + i);                                          \
            __m256d va = _mm256_cvtps_pd(_mm256_castps256_ps128(v));                    \
            __m256d vb = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));                  \
            s1a = _mm256_add_pd(s1a, _mm256_and_pd(va, absm));                          \
            s1b = _mm256_add_pd(s1b, _mm256_and_pd(vb, absm));                          \
            s2a = _mm256_fmadd_pd(va, va, s2a); /* v*v is exact: same as mul + add */    \
            s2b = _mm256_fmadd_pd(vb, vb, s2b);                                         \
            __m256 nz = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NEQ_OQ);            \
            /* l1 * sign(v): +-l1, or v itself where v is +-0 or NaN (l1 * v is too) */ \
            __m256 l1s = _mm256_blendv_ps(v, _mm256_or_ps(_mm256_and_ps(v, sgn), vl1), nz); \
            __m256 d = _mm256_blendv_ps(_mm256_fmadd_ps(vl2, v, l1s), l1s, l2z);       \
            _mm256_storeu_ps(g + i, _mm256_add_ps(_mm256_loadu_ps(g + i), d));          \
        }                                                                               \
        double a1[8], a2[8];                                                            \
        _mm256_storeu_pd(a1, s1a);                                                      \
        _mm256_storeu_pd(a1 + 4, s1b);                                                  \
        _mm256_storeu_pd(a2, s2a);                                                      \
        _mm256_storeu_pd(a2 + 4, s2b);                                                  \
        for (int l = 0; i < n; i++, l++) {                                              \
            float v = w[i];                                                             \
            double dv = v;                                                              \
            a1[l] += fabs(dv);                                                          \
            a2[l] += dv * dv;                                                           \
            float sg = v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : v);                        \
            g[i] += l2 == 0.0f ? l1 * sg : l1 * sg + l2 * v;                            \
        }                                                                               \
        return penalty_value(s, a1, a2);                                                \
    }                                                                                   \
    TARGET static double NAME##_f64(void *p, fm_int i0, fm_int i1)                      \
    {                                                                                   \
        pen_ctx *s = p;                                                                 \
        double *FM_RESTRICT g = (double *)s->grad + i0;                                 \
        const double *FM_RESTRICT w = (const double *)s->w + i0;                        \
        fm_int n = i1 - i0, i = 0;                                                      \
        const double l1 = s->l1, l2 = s->l2;                                            \
        const __m256d vl1 = _mm256_set1_pd(l1), vl2 = _mm256_set1_pd(l2);               \
        const __m256d sgn = _mm256_set1_pd(-0.0);                                       \
        const __m256d l2z = _mm256_cmp_pd(vl2, _mm256_setzero_pd(), _CMP_EQ_OQ);       \
        __m256d s1a = _mm256_setzero_pd(), s1b = s1a, s2a = s1a, s2b = s1a;             \
        for (; i + 8 <= n; i += 8) {                                                    \
            __m256d va = _mm256_loadu_pd(w + i), vb = _mm256_loadu_pd(w + i + 4);       \
            s1a = _mm256_add_pd(s1a, _mm256_andnot_pd(sgn, va));                        \
            s1b = _mm256_add_pd(s1b, _mm256_andnot_pd(sgn, vb));                        \
            s2a = _mm256_add_pd(s2a, _mm256_mul_pd(va, va));                            \
            s2b = _mm256_add_pd(s2b, _mm256_mul_pd(vb, vb));                            \
            for (int h = 0; h < 2; h++) {                                               \
                __m256d v = h ? vb : va;                                                \
                __m256d nz = _mm256_cmp_pd(v, _mm256_setzero_pd(), _CMP_NEQ_OQ);        \
                __m256d l1s = _mm256_blendv_pd(v, _mm256_or_pd(_mm256_and_pd(v, sgn), vl1), nz); \
                __m256d d = _mm256_blendv_pd(_mm256_fmadd_pd(vl2, v, l1s), l1s, l2z);  \
                _mm256_storeu_pd(g + i + 4 * h, _mm256_add_pd(_mm256_loadu_pd(g + i + 4 * h), d)); \
            }                                                                           \
        }                                                                               \
        double a1[8], a2[8];                                                            \
        _mm256_storeu_pd(a1, s1a);                                                      \
        _mm256_storeu_pd(a1 + 4, s1b);                                                  \
        _mm256_storeu_pd(a2, s2a);                                                      \
        _mm256_storeu_pd(a2 + 4, s2b);                                                  \
        for (int l = 0; i < n; i++, l++) {                                              \
            double v = w[i];                                                            \
            a1[l] += fabs(v);                                                           \
            a2[l] += v * v;                                                             \
            double sg = v > 0.0 ? 1.0 : (v < 0.0 ? -1.0 : v);                           \
            g[i] += l2 == 0.0 ? l1 * sg : l1 * sg + l2 * v;                            \
        }                                                                               \
        return penalty_value(s, a1, a2);                                                \
    }

PENALTY_SIMD(penalty_avx2, FM_TARGET_AVX2)
PENALTY_SIMD(penalty_avx512, FM_TARGET_AVX512)
#undef PENALTY_SIMD
#endif

#define T float
#define FN(name) name##_f32
#define PENALTY_NS 0.3
#include "penalty_impl.h"
#undef T
#undef FN
#undef PENALTY_NS

#define T double
#define FN(name) name##_f64
#define PENALTY_NS 0.35
#include "penalty_impl.h"
#undef T
#undef FN
#undef PENALTY_NS
