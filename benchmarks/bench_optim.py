"""Optimizer update throughput and per-call cost.

1. Memory throughput of one optimizer step over a parameter list of 1e4, 1e6
   and 1e7 float32 elements (a 784x30-like mix of arrays is not needed here: one
   array per list), against the STREAM-triad bandwidth of the same thread count
   (benchmarks/_common.py). Bytes per element count every array read and written
   once: SGD 3 x 4 (param, grad in; param out), SGD+momentum 5 x 4, Adam 7 x 4.
   Target: >= 70% of the triad at 1e7.
2. The whole-model update of the [784, 30, 10] network (4 arrays, 23,860 float32
   parameters): microseconds per ``opt.step(params, grads)`` including Python,
   and the same call on 4 one-element arrays (the fixed cost of a call).
   Target: < 2 us.

Each figure is checked against the numpy reference first.

    python benchmarks/bench_optim.py                 # all cores, then 1 thread
    python benchmarks/bench_optim.py --threads 1 --quick
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # _common, and the in-place build
from _common import median_time, triad_bandwidth  # noqa: E402

import fastmlp  # noqa: E402
from fastmlp import optim  # noqa: E402

OPTIMIZERS = [
    ("SGD", lambda: optim.SGD(lr=1e-3), 3),
    ("SGD momentum", lambda: optim.SGD(lr=1e-3, momentum=0.9), 5),
    ("Adam", lambda: optim.Adam(lr=1e-3), 7),
]
MODEL_SHAPES = [(784, 30), (30,), (30, 10), (10,)]


def check(make, shapes):
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    out = {}
    for backend in ("c", "reference"):
        fastmlp.set_backend(backend)
        opt, ps = make(), [p.copy() for p in params]
        for _ in range(3):
            opt.step(ps, grads)
        out[backend] = ps
    fastmlp.set_backend("c")
    for a, b in zip(out["c"], out["reference"]):
        np.testing.assert_array_equal(a, b)


def throughput(n_threads, sizes, repeat):
    fastmlp.set_num_threads(n_threads)
    bw = triad_bandwidth(n_threads)
    print(f"\n{n_threads} thread(s): STREAM triad {bw:.1f} GB/s")
    print(f"{'optimizer':<14} {'elements':>10} {'time':>10} {'GB/s':>8} {'% triad':>8}")
    for name, make, arrays in OPTIMIZERS:
        check(make, [(1000,), (37, 3)])
        for n in sizes:
            rng = np.random.default_rng(1)
            params = [rng.standard_normal(n).astype(np.float32)]
            grads = [rng.standard_normal(n).astype(np.float32) * 1e-3]
            opt = make()
            t, _, _ = median_time(lambda: opt.step(params, grads), repeat=repeat,
                                  min_time=0.05 if n < 1e7 else 0.0)
            gbs = arrays * 4 * n / t / 1e9
            unit = f"{t * 1e6:.1f} us" if t < 1e-3 else f"{t * 1e3:.2f} ms"
            print(f"{name:<14} {n:>10.0e} {unit:>10} {gbs:>8.1f} {100 * gbs / bw:>7.0f}%")


def model_call(n_threads, repeat):
    fastmlp.set_num_threads(n_threads)
    print(f"\nwhole-model update, {n_threads} thread(s), float32, us per opt.step(params, grads)")
    print(f"{'optimizer':<14} {'[784,30,10]':>12} {'4 x 1 elem':>12}")
    rng = np.random.default_rng(2)
    for name, make, _ in OPTIMIZERS + [("AdamW", lambda: optim.AdamW(), 7),
                                       ("RMSprop", lambda: optim.RMSprop(), 3),
                                       ("Adagrad", lambda: optim.Adagrad(), 3)]:
        check(make, MODEL_SHAPES)
        row = []
        for shapes in (MODEL_SHAPES, [(1,)] * 4):
            params = [rng.standard_normal(s).astype(np.float32) for s in shapes]
            grads = [np.full(s, 1e-6, np.float32) for s in shapes]
            opt = make()
            opt.step(params, grads)
            t, _, _ = median_time(lambda: opt.step(params, grads), repeat=repeat, min_time=0.05)
            row.append(t * 1e6)
        print(f"{name:<14} {row[0]:>12.2f} {row[1]:>12.2f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, nargs="*", default=None,
                    help="thread counts (default: all cores, then 1)")
    ap.add_argument("--quick", action="store_true", help="fewer repeats, no 1e7")
    args = ap.parse_args(argv)
    fastmlp.set_backend("c")
    threads = args.threads or sorted({fastmlp.get_num_threads(), 1}, reverse=True)
    repeat = 3 if args.quick else 7
    sizes = [10_000, 1_000_000] + ([] if args.quick else [10_000_000])
    print(f"fastmlp {fastmlp.__version__}, ISA {fastmlp._config.get_isa()}")
    for nt in threads:
        model_call(nt, repeat)
    for nt in threads:
        throughput(nt, sizes, repeat)


if __name__ == "__main__":
    main()
