/* checks.c: input checks over whole arrays, without a temporary the size of the data.
 * Mirrors reference.all_finite: returns 1 when every element of x (n elements,
 * flat) is finite (neither NaN nor +-Inf), else 0; 1 for n = 0.
 *
 * A float is not finite exactly when its exponent bits are all ones, so the test
 * works on the bits as integers: no float compare, no FP exception, and it
 * vectorises. The array is scanned in blocks of CHECK_BLOCK elements; a block that
 * finds a non-finite value ends its thread's scan (the answer cannot change after
 * that). One pass at memory speed (np.isfinite(x).all() writes and reads a boolean
 * temporary the size of x, and min() plus max() read x twice). The body is
 * compiled for generic x86-64 and AVX2 and picked at run time; the answer is the
 * same on every path and for every thread count. fm_gather_rows_finite applies the
 * same test to the rows a training batch gathers, in the pass that copies them. */
#include <stdint.h>
#include <string.h>

#include "internal.h"

#define CHECK_BLOCK 16384

/* 1 when x[0..n) are all finite */
FM_INLINE int finite_f32_body(const float *FM_RESTRICT x, fm_int n)
{
    uint32_t bad = 0;
    for (fm_int i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

FM_INLINE int finite_f64_body(const double *FM_RESTRICT x, fm_int n)
{
    uint64_t bad = 0;
    for (fm_int i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, x + i, sizeof u);
        bad |= (u & 0x7ff0000000000000ull) == 0x7ff0000000000000ull;
    }
    return !bad;
}

/* The body of gather_finite_*: rows idx[0..m) of X (d elements of type T each)
 * copied one after another into dst, and 1 when every copied value is finite (its
 * exponent bits EXP, read as the unsigned U, not all ones). A training batch's
 * gather checks its rows in the same pass (the bits are in registers anyway),
 * where a scan of its own over the gathered rows cost ~0.5 us of a ~18 us step in
 * workload (a). */
#define GATHER_FINITE_BODY(T, U, EXP)                                   \
    {                                                                   \
        U bad = 0;                                                      \
        for (fm_int i = 0; i < m; i++) {                                \
            const T *FM_RESTRICT src = (const T *)X + idx[i] * d;       \
            T *FM_RESTRICT out = (T *)dst + i * d;                      \
            for (fm_int j = 0; j < d; j++) {                            \
                U u;                                                    \
                memcpy(&u, src + j, sizeof u);                          \
                memcpy(out + j, &u, sizeof u);                          \
                bad |= (u & (EXP)) == (EXP);                            \
            }                                                           \
        }                                                               \
        return !bad;                                                    \
    }
#define GATHER_F32 GATHER_FINITE_BODY(float, uint32_t, 0x7f800000u)
#define GATHER_F64 GATHER_FINITE_BODY(double, uint64_t, 0x7ff0000000000000ull)

typedef int (*finite_fn)(const void *x, fm_int n);
typedef int (*gather_fn)(void *dst, const void *X, const int64_t *idx, fm_int m, fm_int d);

static int finite_f32_generic(const void *x, fm_int n)
{
    return finite_f32_body(x, n);
}

static int finite_f64_generic(const void *x, fm_int n)
{
    return finite_f64_body(x, n);
}

static int gather_finite_f32_generic(void *dst, const void *X, const int64_t *idx, fm_int m, fm_int d)
GATHER_F32

static int gather_finite_f64_generic(void *dst, const void *X, const int64_t *idx, fm_int m, fm_int d)
GATHER_F64

#if FM_X86_SIMD
FM_TARGET_AVX2 static int gather_finite_f32_avx2(void *dst, const void *X, const int64_t *idx, fm_int m,
                                                 fm_int d)
GATHER_F32

FM_TARGET_AVX2 static int gather_finite_f64_avx2(void *dst, const void *X, const int64_t *idx, fm_int m,
                                                 fm_int d)
GATHER_F64

FM_TARGET_AVX512 static int gather_finite_f32_avx512(void *dst, const void *X, const int64_t *idx, fm_int m,
                                                     fm_int d)
GATHER_F32

FM_TARGET_AVX512 static int gather_finite_f64_avx512(void *dst, const void *X, const int64_t *idx, fm_int m,
                                                     fm_int d)
GATHER_F64

FM_TARGET_AVX2 static int finite_f32_avx2(const void *x, fm_int n)
{
    return finite_f32_body(x, n);
}

FM_TARGET_AVX2 static int finite_f64_avx2(const void *x, fm_int n)
{
    return finite_f64_body(x, n);
}
#endif

/* the AVX2 body on AVX-512 machines too: the scan is bound by memory, not by width */
static finite_fn pick(int is_f64)
{
#if FM_X86_SIMD
    if (fm_isa_active() != FM_ISA_GENERIC)
        return is_f64 ? finite_f64_avx2 : finite_f32_avx2;
#endif
    return is_f64 ? finite_f64_generic : finite_f32_generic;
}

/* AVX-512's 64-byte copies on AVX-512 machines: with 32-byte ones the rows of
 * workload (a) came in slower (its epoch 0.0948 against memcpy's 0.0930 s) */
int fm_gather_rows_finite(void *dst, const void *X, const int64_t *idx, fm_int m, fm_int d, int is_f64)
{
    gather_fn fn = is_f64 ? gather_finite_f64_generic : gather_finite_f32_generic;
#if FM_X86_SIMD
    if (fm_isa_active() == FM_ISA_AVX512)
        fn = is_f64 ? gather_finite_f64_avx512 : gather_finite_f32_avx512;
    else if (fm_isa_active() == FM_ISA_AVX2)
        fn = is_f64 ? gather_finite_f64_avx2 : gather_finite_f32_avx2;
#endif
    return fn(dst, X, idx, m, d);
}

typedef struct {
    const char *x;
    finite_fn fn;
    size_t elem;
    int bad; /* set by any thread that found a non-finite value */
} scan_ctx;

static void scan_range(void *p, fm_int i0, fm_int i1)
{
    scan_ctx *s = p;
    for (fm_int i = i0; i < i1; i += CHECK_BLOCK) {
        fm_int len = FM_MIN(CHECK_BLOCK, i1 - i);
        if (!s->fn(s->x + (size_t)i * s->elem, len)) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
            s->bad = 1;
            return;
        }
    }
}

static int all_finite(const void *x, fm_int n, int is_f64, int n_threads)
{
    if (n <= 0)
        return 1;
    scan_ctx s = {x, pick(is_f64), is_f64 ? sizeof(double) : sizeof(float), 0};
    /* ~8 bytes per ns from memory on one core */
    int nt = fm_threads_for((double)n * (double)s.elem / 8.0, n_threads);
    fm_parallel_for(n, CHECK_BLOCK, nt, scan_range, &s);
    return !s.bad;
}

int fm_all_finite_f32(const float *x, fm_int n, int n_threads)
{
    return all_finite(x, n, 0, n_threads);
}

int fm_all_finite_f64(const double *x, fm_int n, int n_threads)
{
    return all_finite(x, n, 1, n_threads);
}
