/* runtime.c: ISA detection and override, OpenMP facts, the parallel-for helper,
 * aligned workspaces. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if FM_X86_SIMD
#include <cpuid.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <unistd.h>
#define FM_HAVE_PTHREAD_KEY 1
#endif

/* ISA: detected once; FASTMLP_ISA may only lower it (tests force each path). */
static fm_isa g_isa_best = FM_ISA_GENERIC;
static fm_isa g_isa_active = FM_ISA_GENERIC;
static int g_isa_ready = 0;

static fm_isa detect_isa(void)
{
#if FM_X86_SIMD
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("fma"))
        return FM_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return FM_ISA_AVX2;
#endif
    return FM_ISA_GENERIC;
}

#if FM_X86_SIMD
/* The x86 family number as AMD and Intel document it (base + extended). */
static unsigned fm_cpu_family(void)
{
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
        return 0;
    const unsigned base = (eax >> 8) & 0xF;
    return base == 0xF ? base + ((eax >> 20) & 0xFF) : base;
}
#endif

/* AMD Zen 4 (family 19h; its Zen 3 siblings lack AVX-512) runs each 512-bit FMA
 * as two 256-bit halves, so AVX-512 doubles no arithmetic there; the GEMM
 * dispatcher then mixes tiles (gemm_dispatch.c). */
int fm_cpu_splits_512bit_fma(void)
{
#if FM_X86_SIMD
    static int splits = -1;  /* benign race: every thread computes the same */
    if (splits < 0)
        splits = __builtin_cpu_is("amd") && fm_cpu_family() == 0x19;
    return splits;
#else
    return 0;
#endif
}

static void isa_init(void)
{
    if (g_isa_ready)
        return;
    /* Benign race: every thread computes the same values. */
    g_isa_best = detect_isa();
    g_isa_active = g_isa_best;
    g_isa_ready = 1;
}

fm_isa fm_isa_best_supported(void) { isa_init(); return g_isa_best; }
fm_isa fm_isa_active(void) { isa_init(); return g_isa_active; }

int fm_isa_set(fm_isa isa)
{
    isa_init();
    if (isa < FM_ISA_GENERIC || isa > g_isa_best)
        return -1;
    g_isa_active = isa;
    return 0;
}

const char *fm_isa_name(fm_isa isa)
{
    switch (isa) {
    case FM_ISA_AVX512: return "avx512";
    case FM_ISA_AVX2: return "avx2";
    default: return "generic";
    }
}

int fm_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int fm_omp_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* Below this much work a call stays on the calling thread. A parallel region
 * costs microseconds on a quiet machine, but when another process holds a core
 * every region waits for a descheduled team thread (milliseconds): with a
 * 20 us threshold, 2-thread training of a [784, 100, 10] network ran 10-17x
 * slower than 1 thread on a busy machine; with 200 us it stays at par. */
static double parallel_min_ns = 200000.0;

void fm_set_parallel_min_ns(double ns)
{
    parallel_min_ns = ns < 0.0 ? 0.0 : ns;
}

/* ---- late-thread guard (see internal.h) ----
 * Measured on the 2-core machine with a busy process on one core: 2-thread
 * training of workload (b) (a 10 MFLOP GEMM per step, just above the parallel
 * threshold) took 3.85x its quiet 1-thread time before this guard.
 * A region counts as held up when its latest thread began more than
 * late_start_s after the region opened and that wait was over a quarter of the
 * region (a quiet wake-up takes ~10-500 us on a VM, which a big region absorbs);
 * after late_streak such regions in a row the calling thread keeps the work
 * for backoff_s, and then threads are tried again; a late region right after a
 * back-off starts the next one at once, twice as long (up to 8 times), and a
 * timely region ends the series. One late region alone is not enough: on a
 * quiet 2-vCPU VM the hypervisor holds a vCPU back now and then (a 2-thread
 * loop of 20 us products saw it about once in 3 s), and each time 0.2 s of
 * work ran on one thread. A busy core makes every region late, and each late
 * region of workload (c) waits milliseconds: the growing back-off pays fewer
 * of them than a fixed 0.2 s did. */
static double late_start_s = 300e-6;
static double late_share = 0.25;
static long long late_streak = 2;
static const double backoff_s = 0.2;
static long long g_backoff_until_us;  /* omp_get_wtime() in microseconds */
static long long g_late_in_row;
static long long g_backoff_level;     /* back-offs since the last timely region */
static long long g_backoffs;

#if defined(__GNUC__) || defined(__clang__)
#define FM_LOAD_RELAXED(p) __atomic_load_n(p, __ATOMIC_RELAXED)
#define FM_STORE_RELAXED(p, v) __atomic_store_n(p, v, __ATOMIC_RELAXED)
#define FM_INCREMENT(p) __atomic_add_fetch(p, 1, __ATOMIC_RELAXED)
#else
#define FM_LOAD_RELAXED(p) (*(volatile long long *)(p))
#define FM_STORE_RELAXED(p, v) (*(volatile long long *)(p) = (v))
#define FM_INCREMENT(p) (++*(volatile long long *)(p))
#endif

void fm_set_late_thread_guard(double start_ns, double share, int streak)
{
    late_start_s = start_ns < 0.0 ? 0.0 : start_ns * 1e-9;
    late_share = share < 0.0 ? 0.0 : share;
    late_streak = streak < 1 ? 1 : streak;
    FM_STORE_RELAXED(&g_late_in_row, 0);
    FM_STORE_RELAXED(&g_backoff_level, 0);
    FM_STORE_RELAXED(&g_backoff_until_us, 0);
}

long long fm_late_thread_backoffs(void) { return FM_LOAD_RELAXED(&g_backoffs); }

#ifdef _OPENMP
void fm_region_open(fm_region *r)
{
    r->opened = omp_get_wtime();
    r->latest_start = 0.0;
}

void fm_region_thread_begins(fm_region *r)
{
    const double wait = omp_get_wtime() - r->opened;
    if (wait >= late_start_s) {
        /* rare, so a critical section costs nothing on the usual path */
#pragma omp critical(fm_region_latest_start)
        if (wait > r->latest_start)
            r->latest_start = wait;
    }
}

void fm_region_close(fm_region *r)
{
    const double now = omp_get_wtime();
    if (r->latest_start >= late_start_s && r->latest_start > 0.0 &&
        r->latest_start >= late_share * (now - r->opened)) {
        const long long level = FM_LOAD_RELAXED(&g_backoff_level);
        if (FM_INCREMENT(&g_late_in_row) >= (level > 0 ? 1 : late_streak)) {
            const double wait = backoff_s * (double)(1 << (level < 3 ? level : 3));
            FM_STORE_RELAXED(&g_late_in_row, 0);
            FM_STORE_RELAXED(&g_backoff_level, level + 1);
            FM_STORE_RELAXED(&g_backoff_until_us, (long long)((now + wait) * 1e6));
            FM_INCREMENT(&g_backoffs);
        }
    } else if (FM_LOAD_RELAXED(&g_late_in_row) != 0 || FM_LOAD_RELAXED(&g_backoff_level) != 0) {
        FM_STORE_RELAXED(&g_late_in_row, 0);
        FM_STORE_RELAXED(&g_backoff_level, 0);
    }
}

static int backing_off(void)
{
    const long long until = FM_LOAD_RELAXED(&g_backoff_until_us);
    return until != 0 && (long long)(omp_get_wtime() * 1e6) < until;
}
#else
void fm_region_open(fm_region *r) { r->opened = 0.0; r->latest_start = 0.0; }
void fm_region_thread_begins(fm_region *r) { (void)r; }
void fm_region_close(fm_region *r) { (void)r; }
static int backing_off(void) { return 0; }
#endif

static int threads_above(double work_ns, int n_threads, double min_ns)
{
    if (n_threads <= 1 || work_ns < min_ns || backing_off())
        return 1;
    /* a threshold of 0 (the tests' setting) puts every thread to work */
    if (min_ns <= 0.0)
        return n_threads;
    /* one thread per half the threshold of work, so each one's share outweighs
     * its wake-up */
    double useful = work_ns / (0.5 * min_ns);
    return useful < (double)n_threads ? (useful < 1.0 ? 1 : (int)useful) : n_threads;
}

int fm_threads_for(double work_ns, int n_threads)
{
    return threads_above(work_ns, n_threads, parallel_min_ns);
}

int fm_threads_for_gemm(double work_ns, int n_threads)
{
    return threads_above(work_ns, n_threads, 0.1 * parallel_min_ns);
}

/* one core's L2 in bytes, asked once (cpuid traps to the hypervisor on a VM);
 * 512 KiB where the system does not say */
static double l2_bytes(void)
{
    static long long cached;  /* 0: not asked yet */
    long long b = FM_LOAD_RELAXED(&cached);
    if (b == 0) {
        b = 512 * 1024;
#ifdef _SC_LEVEL2_CACHE_SIZE
        long v = sysconf(_SC_LEVEL2_CACHE_SIZE);
        if (v > 0)
            b = v;
#endif
        FM_STORE_RELAXED(&cached, b);
    }
    return (double)b;
}

int fm_threads_for_sweep(double work_ns, double bytes, int n_threads)
{
    return bytes > l2_bytes() ? fm_threads_for_gemm(work_ns, n_threads) : fm_threads_for(work_ns, n_threads);
}

void fm_parallel_for(fm_int n, fm_int grain, int n_threads, fm_range_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    fm_int blocks = (n + grain - 1) / grain;
    if (n_threads > blocks)
        n_threads = (int)blocks;
    if (n_threads <= 1) {
        fn(ctx, 0, n);
        return;
    }
#ifdef _OPENMP
    fm_region region;
    fm_region_open(&region);
#pragma omp parallel num_threads(n_threads)
    {
        fm_region_thread_begins(&region);
        int t = omp_get_thread_num();
        int nt = omp_get_num_threads();
        fm_int b0 = blocks * t / nt, b1 = blocks * (t + 1) / nt;
        fm_int begin = b0 * grain, end = FM_MIN(b1 * grain, n);
        if (begin < end)
            fn(ctx, begin, end);
    }
    fm_region_close(&region);
#else
    fn(ctx, 0, n);
#endif
}

void *fm_aligned_alloc(size_t bytes)
{
    void *p = NULL;
    if (bytes == 0)
        bytes = 64;
#if defined(_MSC_VER)
    p = _aligned_malloc(bytes, 64);
#else
    if (posix_memalign(&p, 64, bytes) != 0)
        p = NULL;
#endif
    return p;
}

void fm_aligned_free(void *p)
{
#if defined(_MSC_VER)
    _aligned_free(p);
#else
    free(p);
#endif
}

/* Per-thread workspaces. With pthreads the buffers live under a key whose
 * destructor frees them at thread exit; elsewhere they are thread-local and
 * live until the process ends. */
typedef struct {
    void *ptr[FM_WORKSPACE_SLOTS];
    size_t size[FM_WORKSPACE_SLOTS];
} fm_workspace_set;

static void workspace_set_free(void *p)
{
    fm_workspace_set *ws = p;
    for (int i = 0; i < FM_WORKSPACE_SLOTS; i++)
        fm_aligned_free(ws->ptr[i]);
    free(ws);
}

#ifdef FM_HAVE_PTHREAD_KEY
static pthread_key_t g_ws_key;
static pthread_once_t g_ws_once = PTHREAD_ONCE_INIT;
static void ws_key_init(void) { pthread_key_create(&g_ws_key, workspace_set_free); }

static fm_workspace_set *workspace_set(void)
{
    pthread_once(&g_ws_once, ws_key_init);
    fm_workspace_set *ws = pthread_getspecific(g_ws_key);
    if (!ws) {
        ws = calloc(1, sizeof(*ws));
        if (ws && pthread_setspecific(g_ws_key, ws) != 0) {
            free(ws);
            ws = NULL;
        }
    }
    return ws;
}
#else
static FM_THREAD_LOCAL fm_workspace_set g_ws;
static fm_workspace_set *workspace_set(void) { return &g_ws; }
#endif

void *fm_workspace(int slot, size_t bytes)
{
    fm_workspace_set *ws = workspace_set();
    if (!ws || slot < 0 || slot >= FM_WORKSPACE_SLOTS)
        return NULL;
    if (ws->size[slot] < bytes) {
        fm_aligned_free(ws->ptr[slot]);
        ws->size[slot] = 0;
        ws->ptr[slot] = fm_aligned_alloc(bytes);
        if (!ws->ptr[slot])
            return NULL;
        ws->size[slot] = bytes;
    }
    return ws->ptr[slot];
}
