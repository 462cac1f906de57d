"""Dense, activation and loss kernels: C vs the numpy reference (pytest-benchmark).

    pytest benchmarks/bench_kernels_dense.py --benchmark-only --benchmark-group-by=group
    python benchmarks/bench_kernels_dense.py          # GB/s table of the element-wise kernels

Sizes are an MLP's: batch 10/64/256 x width 30/100/2048 (dense layers take 784
inputs, the course network's), plus one array far beyond L2 (2^24 floats) for the
element-wise activations, whose GB/s (bytes read + written) is set against the
STREAM-like triad that benchmarks/_common.py measures on this machine
(`extra_info["pct_of_triad"]`; the target is >= 70% beyond L2). Every case checks
the C result against the reference before it is timed.
"""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import fastmlp  # noqa: E402
from fastmlp import ops  # noqa: E402
from _common import median_time, triad_bandwidth  # noqa: E402

BATCHES = (10, 64, 256)
WIDTHS = (30, 100, 2048)
BACKENDS = ("c", "reference")
STREAM_N = 1 << 24
ACTS = ("relu", "sigmoid", "tanh", "elu")


@pytest.fixture(scope="module")
def triad():
    return triad_bandwidth(fastmlp.get_num_threads())


@pytest.fixture(params=BACKENDS)
def backend(request):
    if request.param == "c" and fastmlp._config._kernels is None:
        pytest.skip("the compiled extension is not built")
    old = fastmlp.get_backend()
    fastmlp.set_backend(request.param)
    yield request.param
    fastmlp.set_backend(old)


def on(name, fn):
    old = fastmlp.get_backend()
    fastmlp.set_backend(name)
    try:
        return fn()
    finally:
        fastmlp.set_backend(old)


def check(fn, rtol=1e-4, atol=1e-5):
    if fastmlp._config._kernels is None:
        return
    got, want = on("c", fn), on("reference", fn)
    for g, w in zip(np.atleast_1d(got) if not isinstance(got, tuple) else got,
                    np.atleast_1d(want) if not isinstance(want, tuple) else want):
        if g is not None:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def record_bandwidth(benchmark, nbytes, triad):
    if benchmark.stats is None:  # --benchmark-disable
        return
    gbs = nbytes / benchmark.stats.stats.median / 1e9
    benchmark.extra_info.update(gb_per_s=gbs, triad_gb_per_s=triad, pct_of_triad=100 * gbs / triad)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("batch", BATCHES)
def test_dense_forward_sigmoid(benchmark, backend, batch, width):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 784), dtype=np.float32)
    W = rng.standard_normal((784, width), dtype=np.float32) * np.float32(0.03)
    b = np.zeros(width, np.float32)
    y = np.empty((batch, width), np.float32)
    check(lambda: ops.dense_forward(x, W, b, "sigmoid"))
    benchmark.group = f"dense fwd+sigmoid {batch}x784x{width}"
    benchmark.extra_info["gflops"] = 2 * batch * 784 * width / 1e9
    benchmark(ops.dense_forward, x, W, b, "sigmoid", out=y)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("batch", BATCHES)
def test_dense_backward_sigmoid(benchmark, backend, batch, width):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 784), dtype=np.float32)
    W = rng.standard_normal((784, width), dtype=np.float32) * np.float32(0.03)
    y = ops.dense_forward(x, W, None, "sigmoid")
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    dx, dW, db, dz = np.empty_like(x), np.empty_like(W), np.empty(width, np.float32), np.empty_like(y)
    check(lambda: ops.dense_backward(dy, x, W, y=y, activation="sigmoid"), atol=1e-3)
    benchmark.group = f"dense bwd+sigmoid {batch}x784x{width}"
    benchmark(ops.dense_backward, dy, x, W, y=y, activation="sigmoid", dx=dx, dW=dW, db=db, dz=dz)


@pytest.mark.parametrize("shape", [(b, w) for b in BATCHES for w in WIDTHS] + [(STREAM_N // 1024, 1024)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("act", ACTS)
def test_activation_forward(benchmark, backend, triad, act, shape):
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    y = np.empty_like(x)
    if x.size <= 1 << 16:
        check(lambda: ops.activation_forward(x, act))
    benchmark.group = f"{act} fwd {shape[0]}x{shape[1]}"
    benchmark(ops.activation_forward, x, act, out=y)
    record_bandwidth(benchmark, 2 * x.nbytes, triad)


@pytest.mark.parametrize("shape", [(b, w) for b in BATCHES for w in WIDTHS] + [(STREAM_N // 1024, 1024)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("act", ACTS)
def test_activation_backward(benchmark, backend, triad, act, shape):
    rng = np.random.default_rng(0)
    y = ops.activation_forward(rng.standard_normal(shape, dtype=np.float32), act)
    dy = rng.standard_normal(shape, dtype=np.float32)
    dx = np.empty_like(y)
    benchmark.group = f"{act} bwd {shape[0]}x{shape[1]}"
    benchmark(ops.activation_backward, dy, y, act, out=dx)
    record_bandwidth(benchmark, 3 * y.nbytes, triad)


@pytest.mark.parametrize("classes", (10,) + WIDTHS)
@pytest.mark.parametrize("batch", BATCHES)
def test_softmax_cross_entropy(benchmark, backend, batch, classes):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((batch, classes), dtype=np.float32)
    labels = rng.integers(0, classes, batch)
    grad = np.empty_like(z)
    check(lambda: ops.softmax_cross_entropy(z, labels)[1])
    benchmark.group = f"softmax CE {batch}x{classes}"
    benchmark(ops.softmax_cross_entropy, z, labels, grad=grad)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("batch", BATCHES)
def test_mse(benchmark, backend, batch, width):
    rng = np.random.default_rng(0)
    o = rng.standard_normal((batch, width), dtype=np.float32)
    t = rng.standard_normal((batch, width), dtype=np.float32)
    grad = np.empty_like(o)
    benchmark.group = f"mse {batch}x{width}"
    benchmark(ops.mse, o, t, grad=grad)



@pytest.mark.parametrize("shape", [(784, 100), (100, 10), (784, 2048)])
def test_penalty(benchmark, backend, shape):
    """L1+L2 penalty (Dense.add_penalty each training step): value + gradient in place."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal(shape, dtype=np.float32)
    g = np.zeros_like(w)
    if fastmlp._config._kernels is not None:
        g1, g2 = np.zeros_like(w), np.zeros_like(w)
        v1 = on("c", lambda: ops.penalty(g1, w, 1e-4, 1e-3))
        v2 = on("reference", lambda: ops.penalty(g2, w, 1e-4, 1e-3))
        np.testing.assert_allclose(v1, v2, rtol=1e-10)
        np.testing.assert_allclose(g1, g2, rtol=1e-5, atol=1e-9)
    benchmark.group = f"penalty {shape[0]}x{shape[1]}"
    benchmark(ops.penalty, g, w, 1e-4, 1e-3)

def table():
    """GB/s of the element-wise activations on 2^24 float32 (64 MiB in, 64 MiB out)."""
    n_threads = fastmlp.get_num_threads()
    triad = triad_bandwidth(n_threads)
    x = np.random.default_rng(0).standard_normal(STREAM_N, dtype=np.float32)
    y = np.empty_like(x)
    dx = np.empty_like(x)
    print(f"threads {n_threads}, triad {triad:.1f} GB/s, isa {fastmlp._config._kernels.isa_active()}")
    print(f"{'kernel':16s} {'C GB/s':>8s} {'% triad':>8s} {'ref GB/s':>9s}")
    for act in ACTS:
        ops.activation_forward(x, act, out=y)
        for direction in ("fwd", "bwd"):
            if direction == "fwd":
                fn, nbytes = (lambda: ops.activation_forward(x, act, out=y)), 2 * x.nbytes
            else:
                fn, nbytes = (lambda: ops.activation_backward(x, y, act, out=dx)), 3 * x.nbytes
            c = nbytes / on("c", lambda: median_time(fn, repeat=5)[0]) / 1e9
            r = nbytes / on("reference", lambda: median_time(fn, repeat=3)[0]) / 1e9
            print(f"{act + ' ' + direction:16s} {c:8.1f} {100 * c / triad:7.0f}% {r:9.1f}")


if __name__ == "__main__":
    table()
