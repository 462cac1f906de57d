/* internal.h: helpers shared by the C files, not part of the API.
 *
 * FM_TARGET_AVX2 / FM_TARGET_AVX512 mark a function to be compiled for that ISA
 * (GCC and clang on x86-64); the rest of the file stays generic x86-64, so one
 * build runs everywhere and fm_isa_active() picks the path at run time. A
 * portable `static inline` body called from such a function is compiled (and
 * auto-vectorised) for the caller's ISA once inlined.
 */
#ifndef FASTMLP_INTERNAL_H
#define FASTMLP_INTERNAL_H

#include "fastmlp.h"

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define FM_X86_SIMD 1
#define FM_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define FM_TARGET_AVX512 \
    __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))
#else
#define FM_X86_SIMD 0
#define FM_TARGET_AVX2
#define FM_TARGET_AVX512
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FM_INLINE static inline __attribute__((always_inline))
#define FM_RESTRICT __restrict__
/* a hint to bring a line into cache; never faults, so any address will do */
#define FM_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
#else
#define FM_INLINE static inline
#define FM_RESTRICT
#define FM_PREFETCH(p) ((void)0)
#endif

/* Whether this CPU executes 512-bit FMAs as two 256-bit halves (AMD Zen 4). */
int fm_cpu_splits_512bit_fma(void);

#if defined(_MSC_VER)
#define FM_THREAD_LOCAL __declspec(thread)
#else
#define FM_THREAD_LOCAL __thread
#endif

#define FM_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FM_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Run fn(ctx, begin, end) over [0, n) split into one contiguous chunk per thread.
 * Chunks are whole multiples of `grain` (except the last), so a kernel that works
 * in blocks of `grain` sees the same blocks for any thread count. Serial, with no
 * OpenMP region, when n_threads <= 1 or n < 2 * grain. */
typedef void (*fm_range_fn)(void *ctx, fm_int begin, fm_int end);
void fm_parallel_for(fm_int n, fm_int grain, int n_threads, fm_range_fn fn, void *ctx);

/* Threads worth using for work estimated at work_ns nanoseconds: one thread below
 * the parallel threshold (200 us unless fm_set_parallel_min_ns changed it), then
 * one per half of it (~100 us); all of them when it is 0. Results never depend
 * on the answer. */
int fm_threads_for(double work_ns, int n_threads);

/* The same against a tenth of the threshold (~20 us of work, one thread per
 * ~10 us), for every GEMM: each thread computes its own block of C, which pays
 * from far less work than the element-wise kernels need. Measured on 2 Zen 4
 * cores (benchmarks/RESULTS.md): a 64x784x30 product repeated in a loop is
 * 1.3-1.9x faster split, with a left operand freshly written by the calling
 * thread 0.8-1.9x; 2-thread training, alternating processes, s/epoch: (b)
 * 0.22 -> 0.18 (with fm_threads_for_sweep), [784, 128, 128, 10] Adam batch 32
 * 0.38 -> 0.34-0.36, [784, 100, 10] SGD batch 64 0.20 -> 0.17-0.19. (Until the
 * fifth session products inside a training step kept fm_threads_for's bar: (b)
 * had measured 0.27 s split against 0.22 s serial while its Adam update stayed
 * on one thread.) */
int fm_threads_for_gemm(double work_ns, int n_threads);

/* For a kernel that sweeps the same `bytes` every training step (the optimizer
 * update): fm_threads_for, or fm_threads_for_gemm's bar when the bytes outgrow
 * one core's L2. Then on one thread they stream from L3 every step, while split the
 * same way each step every thread's part stays in its own core's L2: workload
 * (b)'s Adam (W, dW, m and v: 1.27 MB; 1 MiB L2 per core) on 2 Zen 4 cores made
 * epochs 0.22 -> 0.18 s (benchmarks/RESULTS.md, "Training plan"). */
int fm_threads_for_sweep(double work_ns, double bytes, int n_threads);

/* A GEMM's single-core rate for those estimates, flops per ns: what the AVX2
 * kernels sustain on Zen 3/4 cores (90-105). */
#define FM_GEMM_FLOPS_PER_NS 100.0

/* Late-thread guard. A parallel region opens an fm_region before it starts
 * (fm_region_open), every team thread calls fm_region_thread_begins first thing,
 * and the caller closes it after the join (fm_region_close). When, in two regions
 * in a row, a thread began late (another process held its core) and that wait
 * was a good part of the region, fm_threads_for answers 1 for a while: an
 * OpenMP join waits for every thread, so on a busy machine each region would
 * wait milliseconds for a descheduled one. */
typedef struct {
    double opened;        /* omp_get_wtime() seconds */
    double latest_start;  /* seconds after opened; written only by late threads */
} fm_region;
void fm_region_open(fm_region *r);
void fm_region_thread_begins(fm_region *r);
void fm_region_close(fm_region *r);

/* 64-byte aligned allocation for workspaces; NULL on failure. */
void *fm_aligned_alloc(size_t bytes);
void fm_aligned_free(void *p);

/* A per-thread scratch buffer of at least `bytes`, kept between calls (so a
 * training step does not page-fault a fresh buffer every time) and freed when
 * the thread exits. `slot` < FM_WORKSPACE_SLOTS names independent buffers.
 * Valid until the same thread asks for the same slot again; NULL on failure.
 * Slots 0 and 1 belong to the GEMM (packed A and B); callers of the GEMM use 2, 3. */
#define FM_WORKSPACE_SLOTS 4
void *fm_workspace(int slot, size_t bytes);

/* Rows idx[0..m) of X (d elements each, float or double) copied one after another
 * into dst; 1 when every value copied is finite, else 0 (checks.c). */
int fm_gather_rows_finite(void *dst, const void *X, const int64_t *idx, fm_int m, fm_int d, int is_f64);

#endif /* FASTMLP_INTERNAL_H */
