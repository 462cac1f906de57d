/* dropout.c: inverted dropout, forward and backward. Mirrors
 * reference.dropout_forward / reference.dropout_backward.
 * Shapes: x, y, dy, dx, mask (n,) flat; mask is uint8 0/1.
 *
 * keep_i = (bits_i >> 8) >= ceil(p * 2^24), i.e. u_i >= p for u_i = (bits_i >> 8) 2^-24,
 * with bits from rng.h, so the mask depends only on (seed, counter, i). The bits
 * of a 1024-element tile are generated into an L1 buffer and applied right away:
 * x is read once, y and the mask written once. y = x * (keep ? scale : 0) is a
 * multiplication (NaN/Inf in dropped elements give NaN, as in PyTorch). */
#include "rng.h"

#include <math.h>

#define DROP_CHUNK 1024

typedef struct {
    void *y;
    uint8_t *mask;
    const void *x;
    double scale;
    uint32_t thr;
    uint64_t seed, stream;
} drop_ctx;

FM_INLINE void drop_apply_f32(float *FM_RESTRICT y, uint8_t *FM_RESTRICT mask,
                              const float *FM_RESTRICT x, const uint32_t *FM_RESTRICT bits,
                              fm_int m, int32_t thr, float scale)
{
    for (fm_int j = 0; j < m; j++) {
        int32_t keep = (int32_t)(bits[j] >> 8) >= thr;
        mask[j] = (uint8_t)keep;
        y[j] = x[j] * (keep ? scale : 0.0f);
    }
}

FM_INLINE void drop_apply_f64(double *FM_RESTRICT y, uint8_t *FM_RESTRICT mask,
                              const double *FM_RESTRICT x, const uint32_t *FM_RESTRICT bits,
                              fm_int m, int32_t thr, double scale)
{
    for (fm_int j = 0; j < m; j++) {
        int32_t keep = (int32_t)(bits[j] >> 8) >= thr;
        mask[j] = (uint8_t)keep;
        y[j] = x[j] * (keep ? scale : 0.0);
    }
}

/* forward over [begin, end): begin is a multiple of DROP_CHUNK (the grain) */
FM_INLINE void drop_range_body(const drop_ctx *c, fm_int begin, fm_int end, int is_double)
{
    uint32_t bits[DROP_CHUNK];
    for (fm_int i = begin; i < end; i += DROP_CHUNK) {
        fm_int m = FM_MIN(DROP_CHUNK, end - i);
        fm_philox_groups(bits, i / FM_RNG_GROUP, (m + FM_RNG_GROUP - 1) / FM_RNG_GROUP, c->seed,
                         c->stream);
        if (is_double)
            drop_apply_f64((double *)c->y + i, c->mask + i, (const double *)c->x + i, bits, m,
                           (int32_t)c->thr, c->scale);
        else
            drop_apply_f32((float *)c->y + i, c->mask + i, (const float *)c->x + i, bits, m,
                           (int32_t)c->thr, (float)c->scale);
    }
}

static void drop_range_f32_generic(void *c, fm_int b, fm_int e) { drop_range_body(c, b, e, 0); }
static void drop_range_f64_generic(void *c, fm_int b, fm_int e) { drop_range_body(c, b, e, 1); }
#if FM_X86_SIMD
FM_TARGET_AVX2 static void drop_range_f32_avx2(void *c, fm_int b, fm_int e) { drop_range_body(c, b, e, 0); }
FM_TARGET_AVX2 static void drop_range_f64_avx2(void *c, fm_int b, fm_int e) { drop_range_body(c, b, e, 1); }
FM_TARGET_AVX512 static void drop_range_f32_avx512(void *c, fm_int b, fm_int e) { drop_range_body(c, b, e, 0); }
FM_TARGET_AVX512 static void drop_range_f64_avx512(void *c, fm_int b, fm_int e) { drop_range_body(c, b, e, 1); }
#endif

static fm_range_fn drop_range_fn(int is_double)
{
#if FM_X86_SIMD
    switch (fm_isa_active()) {
    case FM_ISA_AVX512: return is_double ? drop_range_f64_avx512 : drop_range_f32_avx512;
    case FM_ISA_AVX2: return is_double ? drop_range_f64_avx2 : drop_range_f32_avx2;
    default: break;
    }
#endif
    return is_double ? drop_range_f64_generic : drop_range_f32_generic;
}

static void dropout_forward(void *y, uint8_t *mask, const void *x, fm_int n, double p,
                            uint64_t seed, uint64_t stream, int is_double, int n_threads)
{
    drop_ctx c;
    c.y = y;
    c.mask = mask;
    c.x = x;
    c.scale = 1.0 / (1.0 - p);
    c.thr = (uint32_t)ceil(p * 16777216.0); /* p * 2^24 is exact; <= 2^24 since p < 1 */
    c.seed = seed;
    c.stream = stream;
    int nt = fm_threads_for(0.5 * (double)n, n_threads);
    fm_parallel_for(n, DROP_CHUNK, nt, drop_range_fn(is_double), &c);
}

void fm_dropout_forward_f32(float *y, uint8_t *mask, const float *x, fm_int n, double p,
                            uint64_t seed, uint64_t counter, int n_threads)
{
    dropout_forward(y, mask, x, n, p, seed, counter, 0, n_threads);
}

void fm_dropout_forward_f64(double *y, uint8_t *mask, const double *x, fm_int n, double p,
                            uint64_t seed, uint64_t counter, int n_threads)
{
    dropout_forward(y, mask, x, n, p, seed, counter, 1, n_threads);
}

/* ------------------------------------------------------------- backward */

typedef struct {
    void *dx;
    const void *dy;
    const uint8_t *mask;
    double scale;
} dropb_ctx;

FM_INLINE void dropb_body(const dropb_ctx *c, fm_int b, fm_int e, int is_double)
{
    const uint8_t *FM_RESTRICT mk = c->mask;
    if (is_double) {
        double *FM_RESTRICT dx = (double *)c->dx;
        const double *FM_RESTRICT dy = (const double *)c->dy;
        const double s = c->scale;
        for (fm_int i = b; i < e; i++)
            dx[i] = dy[i] * (mk[i] ? s : 0.0);
    } else {
        float *FM_RESTRICT dx = (float *)c->dx;
        const float *FM_RESTRICT dy = (const float *)c->dy;
        const float s = (float)c->scale;
        for (fm_int i = b; i < e; i++)
            dx[i] = dy[i] * (mk[i] ? s : 0.0f);
    }
}

static void dropb_f32_generic(void *c, fm_int b, fm_int e) { dropb_body(c, b, e, 0); }
static void dropb_f64_generic(void *c, fm_int b, fm_int e) { dropb_body(c, b, e, 1); }
#if FM_X86_SIMD
FM_TARGET_AVX2 static void dropb_f32_avx2(void *c, fm_int b, fm_int e) { dropb_body(c, b, e, 0); }
FM_TARGET_AVX2 static void dropb_f64_avx2(void *c, fm_int b, fm_int e) { dropb_body(c, b, e, 1); }
FM_TARGET_AVX512 static void dropb_f32_avx512(void *c, fm_int b, fm_int e) { dropb_body(c, b, e, 0); }
FM_TARGET_AVX512 static void dropb_f64_avx512(void *c, fm_int b, fm_int e) { dropb_body(c, b, e, 1); }
#endif

static void dropout_backward(void *dx, const void *dy, const uint8_t *mask, fm_int n, double p,
                             int is_double, int n_threads)
{
    dropb_ctx c = {dx, dy, mask, 1.0 / (1.0 - p)};
    fm_range_fn fn = is_double ? dropb_f64_generic : dropb_f32_generic;
#if FM_X86_SIMD
    switch (fm_isa_active()) {
    case FM_ISA_AVX512: fn = is_double ? dropb_f64_avx512 : dropb_f32_avx512; break;
    case FM_ISA_AVX2: fn = is_double ? dropb_f64_avx2 : dropb_f32_avx2; break;
    default: break;
    }
#endif
    int nt = fm_threads_for(0.25 * (double)n, n_threads);
    fm_parallel_for(n, 4096, nt, fn, &c);
}

void fm_dropout_backward_f32(float *dx, const float *dy, const uint8_t *mask, fm_int n, double p,
                             int n_threads)
{
    dropout_backward(dx, dy, mask, n, p, 0, n_threads);
}

void fm_dropout_backward_f64(double *dx, const double *dy, const uint8_t *mask, fm_int n,
                             double p, int n_threads)
{
    dropout_backward(dx, dy, mask, n, p, 1, n_threads);
}
