/* dropout.c: inverted dropout, forward and backward. Mirrors
 * reference.dropout_forward / reference.dropout_backward (and
 * reference.dropout_uniform for the random numbers).
 * Shapes: x, y, dy, dx, mask (n,) flat; mask is uint8 0/1.
 *
 * keep_i = u_i >= T with T = ceil(p * 2^24) and the 24-bit u_i = b_i * 2^16 + r_i:
 * b_i is byte i of the rng.h bit stream (one Philox word serves 4 elements) and
 * decides alone unless b_i == T >> 16 (1 element in 256), when the 16 bits r_i of
 * a one-off Philox draw keyed by i decide. So the mask depends only on (seed,
 * counter, i), and the generator costs a quarter of a word per element. The bits
 * of a 1024-element tile are generated into an L1 buffer and applied right away:
 * x is read once, y and the mask written once. y = x * (keep ? scale : 0) is a
 * multiplication (NaN/Inf in dropped elements give NaN, as in PyTorch). */
#include "rng.h"

#include <math.h>
#include <string.h>

#define DROP_CHUNK 1024 /* elements per tile: 256 Philox words, 4 groups */

typedef struct {
    void *y;
    uint8_t *mask;
    const void *x;
    double scale;
    int32_t thi, tlo; /* T >> 16 (0..256) and T & 0xFFFF */
    uint64_t seed, stream;
} drop_ctx;

FM_INLINE void drop_apply_f32(float *FM_RESTRICT y, uint8_t *FM_RESTRICT mask,
                              const float *FM_RESTRICT x, const uint8_t *FM_RESTRICT b,
                              fm_int m, int32_t thi, float scale)
{
    /* the mask in the byte domain, then the scaling from it (two simple loops
     * vectorise better than one of mixed widths; the tile's mask stays in L1) */
    const uint8_t t8 = (uint8_t)(thi > 255 ? 255 : thi);
    const int all_dropped = thi > 255;
    for (fm_int j = 0; j < m; j++)
        mask[j] = (uint8_t)(b[j] > t8) & (uint8_t)!all_dropped;
    for (fm_int j = 0; j < m; j++)
        y[j] = x[j] * (mask[j] ? scale : 0.0f);
}

FM_INLINE void drop_apply_f64(double *FM_RESTRICT y, uint8_t *FM_RESTRICT mask,
                              const double *FM_RESTRICT x, const uint8_t *FM_RESTRICT b,
                              fm_int m, int32_t thi, double scale)
{
    /* the mask in the byte domain, then the scaling from it (two simple loops
     * vectorise better than one of mixed widths; the tile's mask stays in L1) */
    const uint8_t t8 = (uint8_t)(thi > 255 ? 255 : thi);
    const int all_dropped = thi > 255;
    for (fm_int j = 0; j < m; j++)
        mask[j] = (uint8_t)(b[j] > t8) & (uint8_t)!all_dropped;
    for (fm_int j = 0; j < m; j++)
        y[j] = x[j] * (mask[j] ? scale : 0.0);
}

/* the elements of the tile at i0 whose byte ties T's top byte: 16 more bits decide */
FM_INLINE void drop_refine(const drop_ctx *c, fm_int i0, const uint8_t *b, fm_int m, int is_double)
{
    if (c->thi > 255) /* T = 2^24: every byte is below it, everything dropped */
        return;
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    const uint64_t pat = ones * (uint64_t)c->thi;
    for (fm_int j0 = 0; j0 < m; j0 += 8) {
        const fm_int len = FM_MIN(8, m - j0);
        if (len == 8) {
            uint64_t v;
            memcpy(&v, b + j0, 8);
            v ^= pat; /* a zero byte where b == thi */
            if (!((v - ones) & ~v & highs))
                continue;
        }
        for (fm_int j = j0; j < j0 + len; j++) {
            if (b[j] != c->thi)
                continue;
            const uint64_t i = (uint64_t)(i0 + j);
            const int32_t r = (int32_t)(fm_philox_word0(i | (1ull << 63), c->seed, c->stream) >> 16);
            const int keep = r >= c->tlo;
            c->mask[i] = (uint8_t)keep;
            if (is_double)
                ((double *)c->y)[i] = ((const double *)c->x)[i] * (keep ? c->scale : 0.0);
            else
                ((float *)c->y)[i] = ((const float *)c->x)[i] * (keep ? (float)c->scale : 0.0f);
        }
    }
}

/* forward over [begin, end): begin is a multiple of DROP_CHUNK (the grain) */
FM_INLINE void drop_range_body(const drop_ctx *c, fm_int begin, fm_int end, int is_double)
{
    uint32_t bits[DROP_CHUNK / 4];
    const uint8_t *b = (const uint8_t *)bits;
    for (fm_int i = begin; i < end; i += DROP_CHUNK) {
        const fm_int m = FM_MIN(DROP_CHUNK, end - i);
        const fm_int words = (m + 3) / 4;
        fm_philox_groups(bits, i / (4 * FM_RNG_GROUP), (words + FM_RNG_GROUP - 1) / FM_RNG_GROUP,
                         c->seed, c->stream);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        for (fm_int k = 0; k < words; k++) /* byte i of the stream is the word's little end */
            bits[k] = __builtin_bswap32(bits[k]);
#endif
        if (is_double)
            drop_apply_f64((double *)c->y + i, c->mask + i, (const double *)c->x + i, b, m, c->thi,
                           c->scale);
        else
            drop_apply_f32((float *)c->y + i, c->mask + i, (const float *)c->x + i, b, m, c->thi,
                           (float)c->scale);
        drop_refine(c, i, b, m, is_double);
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
    const int32_t t = (int32_t)ceil(p * 16777216.0); /* p * 2^24 is exact; T <= 2^24 since p < 1 */
    c.thi = t >> 16;
    c.tlo = t & 0xFFFF;
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
