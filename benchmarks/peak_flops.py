"""The CPU's FP32 FMA peak per core, measured: the yardstick for GEMM efficiency.

Compiles a tiny C loop (benchmark-only; needs gcc) that keeps 12 (AVX2) or 16
(AVX-512) independent FMA chains busy in registers, using the widest vectors this CPU has (AVX-512 or
AVX2), and reports GFLOP/s per core as the best of several timed runs. A VM
hides its clock, so measuring is the honest way to know the peak.

    python benchmarks/peak_flops.py
"""
import os
import subprocess
import sys
import tempfile

SOURCE = r"""
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define STORE _mm512_storeu_ps
#define CHAINS 16
#else
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
#define STORE _mm256_storeu_ps
#define CHAINS 12
#endif

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(void)
{
    const long iters = 20000000;
    double best = 0.0;
    float sink[LANES];
    for (int run = 0; run < 7; run++) {
        vec acc[CHAINS];
        for (int c = 0; c < CHAINS; c++)
            acc[c] = SET1(0.001f * (float)c);
        const vec a = SET1(0.9999f), b = SET1(1e-7f);
        double t0 = now();
        for (long i = 0; i < iters; i++)
#pragma GCC unroll 32 /* else GCC keeps acc[] in memory at 16+ chains */
            for (int c = 0; c < CHAINS; c++)
                acc[c] = FMA(acc[c], a, b);
        double t = now() - t0;
        for (int c = 1; c < CHAINS; c++)
            acc[0] = ADD(acc[0], acc[c]);
        STORE(sink, acc[0]);
        double gf = 2.0 * LANES * CHAINS * (double)iters / t * 1e-9;
        if (gf > best)
            best = gf;
    }
    printf("%d %.1f %.6f\n", LANES, best, (double)sink[0]);
    return 0;
}
"""


def cpu_has(flag):
    with open("/proc/cpuinfo") as f:
        return any(flag in line.split() for line in f if line.startswith("flags"))


def measure():
    """(isa name, GFLOP/s of one core at FP32 FMA)."""
    isa = "avx512f" if cpu_has("avx512f") else "avx2"
    flags = ["-mavx512f"] if isa == "avx512f" else ["-mavx2", "-mfma"]
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = os.path.join(tmp, "peak.c"), os.path.join(tmp, "peak")
        with open(src, "w") as f:
            f.write(SOURCE)
        subprocess.run(["gcc", "-O3", *flags, src, "-o", exe], check=True)
        out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout.split()
    return isa, float(out[1])


if __name__ == "__main__":
    if not os.path.exists("/proc/cpuinfo"):
        sys.exit("peak_flops.py reads /proc/cpuinfo (Linux x86-64 only)")
    isa, gflops = measure()
    print(f"FP32 FMA peak, one core ({isa}): {gflops:.1f} GFLOP/s")
