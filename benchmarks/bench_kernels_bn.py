"""BatchNorm, dropout and pooling kernels: C vs the numpy reference, in GB/s
against the machine's STREAM-triad bandwidth (benchmarks/_common.py).

    pytest benchmarks/bench_kernels_bn.py --benchmark-only          # pytest-benchmark table
    python benchmarks/bench_kernels_bn.py [--threads 1 2] [--markdown]  # GB/s and % of triad
    python benchmarks/bench_kernels_bn.py --paired       # % of triad, triad timed alongside each round

Bytes are counted honestly, as the minimum traffic of each kernel's algorithm
(float32, E = elements): dropout forward reads x and writes y and the uint8 mask
(9E); dropout backward reads dy and the mask, writes dx (9E); BatchNorm training
forward reads x twice (statistics pass, normalising pass) and writes y (12E);
inference forward reads x and writes y (8E); backward reads dy and x twice and
writes dx (20E); pooling reads x and writes y (4E + 4E/k^2, plus the int32
argmax for max). The triad counts its 3 arrays the same way (12 bytes per element).
"""
import argparse
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fastmlp  # noqa: E402
from fastmlp import ops  # noqa: E402
from _common import median_time, triad_bandwidth  # noqa: E402

# MLP sizes (batch x width) and one well beyond L2 (32 MiB of float32)
SIZES = [(10, 30), (64, 100), (256, 2048), (4096, 2048)]
POOL_SIZES = [(64, 16, 28, 28), (256, 32, 32, 32)]


def _cases(n, d, seed=0):
    """name -> (fn, bytes) for the BatchNorm and dropout kernels at (n, d), float32,
    with preallocated outputs (as a training loop runs them)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d), dtype=np.float32)
    g = rng.standard_normal((n, d), dtype=np.float32)
    y, gx = np.empty_like(x), np.empty_like(x)
    mask = np.empty(x.shape, np.uint8)
    ones, zeros = np.ones(d, np.float32), np.zeros(d, np.float32)
    rm, rv = zeros.copy(), ones.copy()
    mean, rstd, gg, gb = (np.empty(d, np.float32) for _ in range(4))
    ops.batchnorm_forward_train(x, ones, zeros, rm, rv, out=y, mean=mean, rstd=rstd)
    ops.dropout_forward(x, 0.5, seed=1, out=y, mask=mask)
    e = x.size
    return {
        "dropout_fwd": (lambda: ops.dropout_forward(x, 0.5, seed=1, counter=2, out=y, mask=mask), 9 * e),
        "dropout_bwd": (lambda: ops.dropout_backward(g, mask, 0.5, out=gx), 9 * e),
        "bn_train_fwd": (lambda: ops.batchnorm_forward_train(x, ones, zeros, rm, rv, out=y, mean=mean,
                                                             rstd=rstd), 12 * e),
        "bn_eval_fwd": (lambda: ops.batchnorm_forward_eval(x, ones, zeros, rm, rv, out=y), 8 * e),
        "bn_bwd": (lambda: ops.batchnorm_backward(g, x, mean, rstd, ones, grad_x=gx, grad_gamma=gg,
                                                  grad_beta=gb), 20 * e),
    }


def _pool_cases(shape, k=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape, dtype=np.float32)
    out_shape = ops.pool_output_shape(shape, k)[0]
    y = np.empty(out_shape, np.float32)
    am = np.empty(out_shape, np.int32)
    gx = np.empty_like(x)
    ops.maxpool2d_forward(x, k, out=y, argmax=am)
    e, eo = x.size, y.size
    return {
        "maxpool_fwd": (lambda: ops.maxpool2d_forward(x, k, out=y, argmax=am), 4 * e + 8 * eo),
        "maxpool_bwd": (lambda: ops.maxpool2d_backward(y, am, shape, out=gx), 4 * e + 8 * eo),
        "avgpool_fwd": (lambda: ops.avgpool2d_forward(x, k, out=y), 4 * e + 4 * eo),
        "avgpool_bwd": (lambda: ops.avgpool2d_backward(y, shape, k, out=gx), 4 * e + 4 * eo),
    }


# ------------------------------------------------------------ pytest-benchmark

def _record(benchmark, nbytes, triad):
    """GB/s and % of the triad into the benchmark's extra_info (not when disabled)."""
    if getattr(benchmark, "stats", None) is None or triad is None:
        return
    gbs = nbytes / benchmark.stats.stats.median / 1e9
    benchmark.extra_info.update(gb_s=round(gbs, 2), triad_gb_s=round(triad, 2),
                                pct_triad=round(100 * gbs / triad, 1))


@pytest.fixture(scope="module")
def triad(request):
    if request.config.getoption("benchmark_disable", False):
        return None
    return triad_bandwidth(fastmlp.get_num_threads())


@pytest.fixture(params=["c", "reference"])
def bench_backend(request):
    if request.param == "c" and fastmlp._config._kernels is None:
        pytest.skip("the compiled extension is not built")
    old = fastmlp.get_backend()
    fastmlp.set_backend(request.param)
    yield request.param
    fastmlp.set_backend(old)


@pytest.mark.parametrize("kernel", ["dropout_fwd", "dropout_bwd", "bn_train_fwd", "bn_eval_fwd", "bn_bwd"])
@pytest.mark.parametrize("n,d", SIZES, ids=lambda v: str(v))
def test_bn_dropout(benchmark, triad, bench_backend, kernel, n, d):
    fn, nbytes = _cases(n, d)[kernel]
    benchmark.group = f"{kernel} {n}x{d}"
    benchmark(fn)
    _record(benchmark, nbytes, triad)


@pytest.mark.parametrize("kernel", ["maxpool_fwd", "maxpool_bwd", "avgpool_fwd", "avgpool_bwd"])
@pytest.mark.parametrize("shape", POOL_SIZES, ids=lambda v: "x".join(map(str, v)))
def test_pooling(benchmark, triad, bench_backend, kernel, shape):
    fn, nbytes = _pool_cases(shape)[kernel]
    benchmark.group = f"{kernel} {shape}"
    benchmark(fn)
    _record(benchmark, nbytes, triad)


# ------------------------------------------------------------------ script

def paired_pct_triad(fn, nbytes, n_threads, rounds=7):
    """Median over rounds of (kernel GB/s) / (triad GB/s), the two measured back to
    back in each round, so a machine whose load drifts (shared CPUs) affects both
    alike. Returns (median %, median kernel seconds)."""
    pcts, times = [], []
    for _ in range(rounds):
        tb = triad_bandwidth(n_threads, n=1 << 24, repeat=3)
        t = median_time(fn, repeat=3, min_time=0.02)[0]
        pcts.append(100 * nbytes / t / 1e9 / tb)
        times.append(t)
    return float(np.median(pcts)), float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1])
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--sizes", default="all", choices=["all", "large"])
    ap.add_argument("--reference", action="store_true", help="also time the numpy reference")
    ap.add_argument("--paired", action="store_true",
                    help="only %% of triad, triad and kernel timed back to back per round (shared machines)")
    args = ap.parse_args()
    if args.paired:
        for nt in args.threads:
            fastmlp.set_num_threads(nt)
            for n, d in SIZES[-1:]:
                for name, (fn, nbytes) in _cases(n, d).items():
                    pct, t = paired_pct_triad(fn, nbytes, nt)
                    print(f"{nt} thr  {name:13s} {n}x{d}  {t * 1e3:8.3f} ms  {pct:5.0f}% of triad "
                          f"(isa {fastmlp._config.get_isa()})")
        return
    sizes = SIZES if args.sizes == "all" else SIZES[-1:]
    pools = POOL_SIZES if args.sizes == "all" else POOL_SIZES[-1:]
    sep = " | " if args.markdown else "  "
    header = ["threads", "kernel", "size", "C ms", "C GB/s", "% triad"] + (["ref ms", "C speed-up"] if args.reference else [])
    print(("| " if args.markdown else "") + sep.join(header) + (" |" if args.markdown else ""))
    if args.markdown:
        print("|" + "---|" * len(header))
    for nt in args.threads:
        fastmlp.set_num_threads(nt)
        tb = triad_bandwidth(nt)
        print(f"# isa {fastmlp._config.get_isa()}, triad {tb:.1f} GB/s at {nt} thread(s)")
        runs = [(f"{n}x{d}", _cases(n, d)) for n, d in sizes] + [("x".join(map(str, s)), _pool_cases(s)) for s in pools]
        for label, cases in runs:
            for name, (fn, nbytes) in cases.items():
                fastmlp.set_backend("c")
                t = median_time(fn, repeat=5, min_time=0.02)[0]
                row = [str(nt), name, label, f"{t * 1e3:.3f}", f"{nbytes / t / 1e9:.1f}", f"{100 * nbytes / t / 1e9 / tb:.0f}"]
                if args.reference:
                    fastmlp.set_backend("reference")
                    tr = median_time(fn, repeat=3, min_time=0.02)[0]
                    row += [f"{tr * 1e3:.3f}", f"{tr / t:.1f}x"]
                    fastmlp.set_backend("c")
                print(("| " if args.markdown else "") + sep.join(row) + (" |" if args.markdown else ""))


if __name__ == "__main__":
    main()
