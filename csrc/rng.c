/* rng.c: Philox4x32-10 counter-based random bits (Salmon et al., SC'11).
 * Mirrors reference.philox4x32_10, reference.rng_bits and reference.rng_uniform.
 * Shapes: out (n,) flat; element i depends only on (seed, stream, i). */
#include "rng.h"

#if FM_X86_SIMD
#include <immintrin.h>
#endif

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

/* one 4-word block, scalar: the oracle the SIMD paths are tested against */
static void philox_block(uint32_t out[4], uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                         uint32_t k0, uint32_t k1)
{
    for (int r = 0; r < 10; r++) {
        if (r) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

static void philox_groups_generic(uint32_t *out, fm_int g0, fm_int ngroups, uint64_t seed,
                                  uint64_t stream)
{
    uint32_t w[4];
    for (fm_int g = 0; g < ngroups; g++) {
        for (int l = 0; l < 16; l++) {
            uint64_t block = (uint64_t)(g0 + g) * 16 + (uint64_t)l;
            philox_block(w, (uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream,
                         (uint32_t)(stream >> 32), (uint32_t)seed, (uint32_t)(seed >> 32));
            for (int k = 0; k < 4; k++)
                out[g * 64 + k * 16 + l] = w[k];
        }
    }
}

#if FM_X86_SIMD
/* SIMD layout: each 64-bit lane carries one block's 32-bit word in its low half
 * (the high half is don't-care). mul_epu32 then yields the full 64-bit product
 * M * c, whose high word is one shift away and whose low word is already in
 * place, so a round costs 2 multiplies, 2 shifts and 4 XORs per register. The
 * even and odd blocks of a run of 2L blocks sit in two registers and are
 * interleaved into 32-bit lanes only on the final store. */

/* AVX2: a group's 16 blocks as 2 halves of 8, each half one even + one odd register */
FM_TARGET_AVX2 static void philox_groups_avx2(uint32_t *out, fm_int g0, fm_int ngroups,
                                              uint64_t seed, uint64_t stream)
{
    const __m256i m0 = _mm256_set1_epi64x(PHILOX_M0), m1 = _mm256_set1_epi64x(PHILOX_M1);
    const __m256i even = _mm256_setr_epi64x(0, 2, 4, 6), odd = _mm256_setr_epi64x(1, 3, 5, 7);
    const __m256i c2 = _mm256_set1_epi64x((long long)(uint32_t)stream);
    const __m256i c3 = _mm256_set1_epi64x((long long)(uint32_t)(stream >> 32));
    __m256i key0[10], key1[10];
    for (int r = 0; r < 10; r++) {
        key0[r] = _mm256_set1_epi64x((long long)(uint32_t)((uint32_t)seed + (uint32_t)r * PHILOX_W0));
        key1[r] = _mm256_set1_epi64x(
            (long long)(uint32_t)((uint32_t)(seed >> 32) + (uint32_t)r * PHILOX_W1));
    }
    for (fm_int g = 0; g < ngroups; g++) {
        for (int half = 0; half < 2; half++) {
            /* blocks base + 0..7; base is a multiple of 8, so the low word never wraps here */
            const uint64_t base = (uint64_t)(g0 + g) * 16 + (uint64_t)half * 8;
            const __m256i vb = _mm256_set1_epi64x((long long)base);
            __m256i e0 = _mm256_add_epi64(vb, even), o0 = _mm256_add_epi64(vb, odd);
            __m256i e1 = _mm256_set1_epi64x((long long)(base >> 32)), o1 = e1;
            __m256i e2 = c2, o2 = c2, e3 = c3, o3 = c3;
            for (int r = 0; r < 10; r++) {
                __m256i ep0 = _mm256_mul_epu32(e0, m0), ep1 = _mm256_mul_epu32(e2, m1);
                __m256i op0 = _mm256_mul_epu32(o0, m0), op1 = _mm256_mul_epu32(o2, m1);
                e0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(ep1, 32), e1), key0[r]);
                e2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(ep0, 32), e3), key1[r]);
                o0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(op1, 32), o1), key0[r]);
                o2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(op0, 32), o3), key1[r]);
                e1 = ep1;
                e3 = ep0;
                o1 = op1;
                o3 = op0;
            }
            /* interleave even/odd low words: 32-bit lanes = blocks base + 0..7 */
            uint32_t *o = out + g * 64 + half * 8;
            _mm256_storeu_si256((__m256i *)(o + 0), _mm256_blend_epi32(e0, _mm256_slli_epi64(o0, 32), 0xAA));
            _mm256_storeu_si256((__m256i *)(o + 16), _mm256_blend_epi32(e1, _mm256_slli_epi64(o1, 32), 0xAA));
            _mm256_storeu_si256((__m256i *)(o + 32), _mm256_blend_epi32(e2, _mm256_slli_epi64(o2, 32), 0xAA));
            _mm256_storeu_si256((__m256i *)(o + 48), _mm256_blend_epi32(e3, _mm256_slli_epi64(o3, 32), 0xAA));
        }
    }
}

/* AVX-512: a group's 16 blocks as one even + one odd register of 8 */
FM_TARGET_AVX512 static void philox_groups_avx512(uint32_t *out, fm_int g0, fm_int ngroups,
                                                  uint64_t seed, uint64_t stream)
{
    const __m512i m0 = _mm512_set1_epi64(PHILOX_M0), m1 = _mm512_set1_epi64(PHILOX_M1);
    const __m512i even = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
    const __m512i c2 = _mm512_set1_epi64((long long)(uint32_t)stream);
    const __m512i c3 = _mm512_set1_epi64((long long)(uint32_t)(stream >> 32));
    __m512i key0[10], key1[10];
    for (int r = 0; r < 10; r++) {
        key0[r] = _mm512_set1_epi64((long long)(uint32_t)((uint32_t)seed + (uint32_t)r * PHILOX_W0));
        key1[r] = _mm512_set1_epi64(
            (long long)(uint32_t)((uint32_t)(seed >> 32) + (uint32_t)r * PHILOX_W1));
    }
    for (fm_int g = 0; g < ngroups; g++) {
        /* blocks base + 0..15; base is a multiple of 16, so the low word never wraps here */
        const uint64_t base = (uint64_t)(g0 + g) * 16;
        const __m512i vb = _mm512_set1_epi64((long long)base);
        __m512i e0 = _mm512_add_epi64(vb, even), o0 = _mm512_add_epi64(vb, odd);
        __m512i e1 = _mm512_set1_epi64((long long)(base >> 32)), o1 = e1;
        __m512i e2 = c2, o2 = c2, e3 = c3, o3 = c3;
        for (int r = 0; r < 10; r++) {
            __m512i ep0 = _mm512_mul_epu32(e0, m0), ep1 = _mm512_mul_epu32(e2, m1);
            __m512i op0 = _mm512_mul_epu32(o0, m0), op1 = _mm512_mul_epu32(o2, m1);
            /* 0x96: a ^ b ^ c */
            e0 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(ep1, 32), e1, key0[r], 0x96);
            e2 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(ep0, 32), e3, key1[r], 0x96);
            o0 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(op1, 32), o1, key0[r], 0x96);
            o2 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(op0, 32), o3, key1[r], 0x96);
            e1 = ep1;
            e3 = ep0;
            o1 = op1;
            o3 = op0;
        }
        uint32_t *o = out + g * 64;
        _mm512_storeu_si512((void *)(o + 0), _mm512_mask_blend_epi32(0xAAAA, e0, _mm512_slli_epi64(o0, 32)));
        _mm512_storeu_si512((void *)(o + 16), _mm512_mask_blend_epi32(0xAAAA, e1, _mm512_slli_epi64(o1, 32)));
        _mm512_storeu_si512((void *)(o + 32), _mm512_mask_blend_epi32(0xAAAA, e2, _mm512_slli_epi64(o2, 32)));
        _mm512_storeu_si512((void *)(o + 48), _mm512_mask_blend_epi32(0xAAAA, e3, _mm512_slli_epi64(o3, 32)));
    }
}
#endif

void fm_philox_groups(uint32_t *out, fm_int g0, fm_int ngroups, uint64_t seed, uint64_t stream)
{
#if FM_X86_SIMD
    switch (fm_isa_active()) {
    case FM_ISA_AVX512: philox_groups_avx512(out, g0, ngroups, seed, stream); return;
    case FM_ISA_AVX2: philox_groups_avx2(out, g0, ngroups, seed, stream); return;
    default: break;
    }
#endif
    philox_groups_generic(out, g0, ngroups, seed, stream);
}

uint32_t fm_philox_word0(uint64_t block, uint64_t seed, uint64_t stream)
{
    uint32_t w[4];
    philox_block(w, (uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream,
                 (uint32_t)(stream >> 32), (uint32_t)seed, (uint32_t)(seed >> 32));
    return w[0];
}

/* ----------------------------------------------------------- public fills */

#define RNG_CHUNK 1024 /* elements per generated tile (16 groups, 4 KiB of bits) */

typedef struct {
    void *out;
    int kind; /* 0 bits, 1 float, 2 double */
    fm_int n;
    uint64_t seed, stream;
} rng_ctx;

static void rng_range(void *vctx, fm_int begin, fm_int end)
{
    const rng_ctx *c = (const rng_ctx *)vctx;
    uint32_t bits[RNG_CHUNK];
    /* begin is a multiple of RNG_CHUNK (the grain), hence of the group size */
    for (fm_int i = begin; i < end; i += RNG_CHUNK) {
        fm_int m = FM_MIN(RNG_CHUNK, end - i);
        fm_philox_groups(bits, i / FM_RNG_GROUP, (m + FM_RNG_GROUP - 1) / FM_RNG_GROUP, c->seed,
                         c->stream);
        if (c->kind == 0) {
            uint32_t *o = (uint32_t *)c->out + i;
            for (fm_int j = 0; j < m; j++)
                o[j] = bits[j];
        } else if (c->kind == 1) {
            float *o = (float *)c->out + i;
            for (fm_int j = 0; j < m; j++)
                o[j] = (float)(int32_t)(bits[j] >> 8) * 0x1p-24f;
        } else {
            double *o = (double *)c->out + i;
            for (fm_int j = 0; j < m; j++)
                o[j] = (double)(int32_t)(bits[j] >> 8) * 0x1p-24;
        }
    }
}

static void rng_fill(void *out, int kind, fm_int n, uint64_t seed, uint64_t stream, int n_threads)
{
    rng_ctx c = {out, kind, n, seed, stream};
    int nt = fm_threads_for(1.0 * (double)n, n_threads);
    fm_parallel_for(n, RNG_CHUNK, nt, rng_range, &c);
}

void fm_rng_bits(uint32_t *out, fm_int n, uint64_t seed, uint64_t stream, int n_threads)
{
    rng_fill(out, 0, n, seed, stream, n_threads);
}

void fm_rng_uniform_f32(float *out, fm_int n, uint64_t seed, uint64_t stream, int n_threads)
{
    rng_fill(out, 1, n, seed, stream, n_threads);
}

void fm_rng_uniform_f64(double *out, fm_int n, uint64_t seed, uint64_t stream, int n_threads)
{
    rng_fill(out, 2, n, seed, stream, n_threads);
}
