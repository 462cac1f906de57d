"""Shared benchmark helpers: timing by medians and the machine's memory bandwidth.

Bandwidth is measured the STREAM way (a triad a = b + s*c over arrays far larger
than the caches), counting 3 arrays of traffic. The triad runs in fastmlp's own
thread count by splitting the arrays over Python threads (numpy releases the GIL),
so a kernel at n threads is compared with the bandwidth n cores can draw.
"""
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def median_time(fn, repeat=7, min_time=0.05):
    """Median seconds of fn(), each sample looping long enough to be measurable."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-9)
    inner = max(1, int(min_time / once))
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t0) / inner)
    return statistics.median(samples), min(samples), max(samples)


def triad_bandwidth(n_threads=1, n=1 << 25, repeat=5):
    """GB/s of a STREAM triad a = b + 3*c over float32 arrays of n elements
    (128 MiB each by default), split over n_threads threads."""
    a = np.empty(n, np.float32)
    b = np.ones(n, np.float32)
    c = np.ones(n, np.float32)
    tmp = np.empty(n, np.float32)
    bounds = np.linspace(0, n, n_threads + 1).astype(int)

    def part(i):
        s = slice(bounds[i], bounds[i + 1])
        # two passes through cache-sized blocks keep the traffic at 3 arrays
        step = 1 << 16
        for j in range(s.start, s.stop, step):
            e = min(j + step, s.stop)
            np.multiply(c[j:e], 3.0, out=tmp[j:e])
            np.add(b[j:e], tmp[j:e], out=a[j:e])

    with ThreadPoolExecutor(n_threads) as pool:
        def run():
            list(pool.map(part, range(n_threads)))
        t, _, _ = median_time(run, repeat=repeat, min_time=0.0)
    return 3 * 4 * n / t / 1e9


if __name__ == "__main__":
    for nt in (1, 2):
        print(f"triad bandwidth, {nt} thread(s): {triad_bandwidth(nt):.1f} GB/s")
