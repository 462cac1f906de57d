/* dropout_impl.h: dropout's forward and backward for one dtype, included by
 * dropout.c with T = float / double and FN(name) = name ## _f32 / _f64. The
 * bodies are wrapped once per ISA (target attribute) and picked at run time. */

FM_INLINE void FN(drop_apply)(T *FM_RESTRICT y, uint8_t *FM_RESTRICT mask,
                              const T *FM_RESTRICT x, const uint8_t *FM_RESTRICT b, fm_int m,
                              int32_t thi, T scale)
{
    /* the mask in the byte domain, then the scaling from it (two simple loops
     * vectorise better than one of mixed widths; the tile's mask stays in L1) */
    const uint8_t t8 = (uint8_t)(thi > 255 ? 255 : thi);
    const int all_dropped = thi > 255;
    for (fm_int j = 0; j < m; j++)
        mask[j] = (uint8_t)(b[j] > t8) & (uint8_t)!all_dropped;
    for (fm_int j = 0; j < m; j++)
        y[j] = x[j] * (mask[j] ? scale : (T)0);
}

/* the elements of the tile at i0 whose byte ties the threshold's top byte (thi):
 * 16 more bits decide */
FM_INLINE void FN(drop_refine)(const drop_ctx *c, fm_int i0, const uint8_t *b, fm_int m)
{
    if (c->thi > 255) /* threshold 2^24: every byte is below it, everything dropped */
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
            ((T *)c->y)[i] = ((const T *)c->x)[i] * (keep ? (T)c->scale : (T)0);
        }
    }
}

/* forward over [begin, end): begin is a multiple of DROP_CHUNK (the grain) */
FM_INLINE void FN(drop_range_body)(const drop_ctx *c, fm_int begin, fm_int end)
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
        FN(drop_apply)((T *)c->y + i, c->mask + i, (const T *)c->x + i, b, m, c->thi,
                       (T)c->scale);
        FN(drop_refine)(c, i, b, m);
    }
}

static void FN(drop_range_generic)(void *c, fm_int b, fm_int e) { FN(drop_range_body)(c, b, e); }
#if FM_X86_SIMD
FM_TARGET_AVX2 static void FN(drop_range_avx2)(void *c, fm_int b, fm_int e) { FN(drop_range_body)(c, b, e); }
FM_TARGET_AVX512 static void FN(drop_range_avx512)(void *c, fm_int b, fm_int e) { FN(drop_range_body)(c, b, e); }
#endif

void FN(fm_dropout_forward)(T *y, uint8_t *mask, const T *x, fm_int n, double p, uint64_t seed,
                            uint64_t counter, int n_threads)
{
    fm_range_fn fn = FN(drop_range_generic);
#if FM_X86_SIMD
    switch (fm_isa_active()) {
    case FM_ISA_AVX512: fn = FN(drop_range_avx512); break;
    case FM_ISA_AVX2: fn = FN(drop_range_avx2); break;
    default: break;
    }
#endif
    dropout_forward(y, mask, x, n, p, seed, counter, fn, n_threads);
}

/* ------------------------------------------------------------- backward */

FM_INLINE void FN(dropb_body)(const dropb_ctx *c, fm_int b, fm_int e)
{
    const uint8_t *FM_RESTRICT mk = c->mask;
    T *FM_RESTRICT dx = (T *)c->dx;
    const T *FM_RESTRICT dy = (const T *)c->dy;
    const T s = (T)c->scale;
    for (fm_int i = b; i < e; i++)
        dx[i] = dy[i] * (mk[i] ? s : (T)0);
}

static void FN(dropb_generic)(void *c, fm_int b, fm_int e) { FN(dropb_body)(c, b, e); }
#if FM_X86_SIMD
FM_TARGET_AVX2 static void FN(dropb_avx2)(void *c, fm_int b, fm_int e) { FN(dropb_body)(c, b, e); }
FM_TARGET_AVX512 static void FN(dropb_avx512)(void *c, fm_int b, fm_int e) { FN(dropb_body)(c, b, e); }
#endif

void FN(fm_dropout_backward)(T *dx, const T *dy, const uint8_t *mask, fm_int n, double p,
                             int n_threads)
{
    dropb_ctx c = {dx, dy, mask, 1.0 / (1.0 - p)};
    fm_range_fn fn = FN(dropb_generic);
#if FM_X86_SIMD
    switch (fm_isa_active()) {
    case FM_ISA_AVX512: fn = FN(dropb_avx512); break;
    case FM_ISA_AVX2: fn = FN(dropb_avx2); break;
    default: break;
    }
#endif
    int nt = fm_threads_for(0.25 * (double)n, n_threads);
    fm_parallel_for(n, 4096, nt, fn, &c);
}
