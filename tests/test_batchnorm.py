"""BatchNorm: C against the reference (every ISA, 1 and 3 threads bit-identical,
batch sizes across the 128-row reduction blocks, widths across the 512-feature
chunks), the reference against central differences in float64, numerics against
torch.nn.BatchNorm1d, zero-variance and offset features, and the layer."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastmlp import layers, ops
from conftest import HAVE_C, requires_c
from test_dropout import using

SHAPES = [(2, 1), (2, 7), (3, 17), (10, 30), (17, 33), (64, 100), (127, 5), (128, 9), (129, 31),
          (256, 2048), (300, 1), (513, 65), (1000, 3), (37, 1030)]


def problem(rng, n, d, dtype, offset=0.0):
    x = (rng.standard_normal((n, d)) * rng.uniform(0.5, 3, d) + offset + rng.standard_normal(d)).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, d).astype(dtype)
    beta = rng.standard_normal(d).astype(dtype)
    rm = rng.standard_normal(d).astype(dtype)
    rv = rng.uniform(0.5, 2, d).astype(dtype)
    dy = rng.standard_normal((n, d)).astype(dtype)
    return x, gamma, beta, rm, rv, dy


def run_all(x, gamma, beta, rm, rv, dy, training=True):
    """Every BatchNorm kernel on the active backend: a dict of results."""
    rm, rv = rm.copy(), rv.copy()
    out = {}
    if training:
        y, mean, rstd = ops.batchnorm_forward_train(x, gamma, beta, rm, rv, momentum=0.1, eps=1e-5)
        out.update(y=y, mean=mean, rstd=rstd, rm=rm, rv=rv)
    else:
        out["y"] = ops.batchnorm_forward_eval(x, gamma, beta, rm, rv, eps=1e-5)
        mean = rm
        rstd = (1 / np.sqrt(rv.astype(np.float64) + 1e-5)).astype(x.dtype)
    dx, dg, db = ops.batchnorm_backward(dy, x, mean, rstd, gamma, training=training)
    out.update(dx=dx, dgamma=dg, dbeta=db)
    return out


def assert_close(got, want, dtype, what):
    for k in want:
        w = want[k].astype(np.float64)
        scale = max(1.0, np.abs(w).max())
        tol = (2e-5 if np.dtype(dtype) == np.float32 else 1e-12) * scale
        # sums over n rows: float32 results are rounded sums of ~n terms of size |dy|
        if k in ("dgamma", "dbeta"):
            tol *= np.sqrt(len(got["dx"])) if "dx" in got else 1
        np.testing.assert_allclose(got[k].astype(np.float64), w, rtol=0, atol=tol, err_msg=f"{what} {k}")


@requires_c
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("n,d", SHAPES, ids=str)
def test_batchnorm_c_matches_reference(rng, dtype, isa, n_threads, n, d, training):
    args = problem(rng, n, d, dtype)
    with using("reference"):
        want = run_all(*args, training=training)
    with using("c"):
        got = run_all(*args, training=training)
    assert_close(got, want, dtype, f"{isa} {n_threads}thr")
    for k, v in got.items():
        assert v.dtype == dtype


@requires_c
@pytest.mark.parametrize("n,d", [(2, 3), (129, 31), (300, 1030), (1000, 7)], ids=str)
def test_batchnorm_bit_identical_for_any_thread_count(rng, dtype, n, d):
    args = problem(rng, n, d, dtype)
    results = []
    for nt in (1, 2, 3):
        with using("c", n_threads=nt):
            results.append(run_all(*args))
    for r in results[1:]:
        for k in r:
            np.testing.assert_array_equal(r[k], results[0][k], err_msg=k)


def _loss_and_grads(x, gamma, beta, w, training):
    """sum(w * y) and its gradients from the reference kernels (float64)."""
    d = x.shape[1]
    rm, rv = np.zeros(d), np.ones(d) * 1.7
    with using("reference"):
        if training:
            y, mean, rstd = ops.batchnorm_forward_train(x, gamma, beta, rm.copy(), rv.copy())
        else:
            y = ops.batchnorm_forward_eval(x, gamma, beta, rm, rv)
            mean, rstd = rm, 1 / np.sqrt(rv + 1e-5)
        dx, dg, db = ops.batchnorm_backward(w, x, mean, rstd, gamma, training=training)
    return (w * y).sum(), dx, dg, db


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("n,d", [(2, 3), (5, 4), (13, 2)], ids=str)
def test_batchnorm_reference_gradients_finite_differences(rng, n, d, training):
    x = rng.standard_normal((n, d)) * 2 + 1
    gamma = rng.uniform(0.5, 1.5, d)
    beta = rng.standard_normal(d)
    w = rng.standard_normal((n, d))
    _, dx, dg, db = _loss_and_grads(x, gamma, beta, w, training)
    h = 1e-6
    for arr, grad in ((x, dx), (gamma, dg), (beta, db)):
        fd = np.empty_like(arr)
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + h
            fp = _loss_and_grads(x, gamma, beta, w, training)[0]
            arr[i] = old - h
            fm = _loss_and_grads(x, gamma, beta, w, training)[0]
            arr[i] = old
            fd[i] = (fp - fm) / (2 * h)
        err = np.linalg.norm(fd - grad) / max(np.linalg.norm(fd) + np.linalg.norm(grad), 1e-12)
        assert err < 1e-6


@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_batchnorm_matches_torch_batchnorm1d(rng, dt, backend):
    torch = pytest.importorskip("torch")
    n, d = 33, 21
    tdt = torch.float32 if dt == "float32" else torch.float64
    bn = layers.BatchNorm(d, momentum=0.2, eps=1e-3, dtype=dt)
    tb = torch.nn.BatchNorm1d(d, momentum=0.2, eps=1e-3, dtype=tdt)
    gamma = rng.uniform(0.5, 1.5, d).astype(dt)
    beta = rng.standard_normal(d).astype(dt)
    bn.params["gamma"][...] = gamma
    bn.params["beta"][...] = beta
    with torch.no_grad():
        tb.weight.copy_(torch.from_numpy(gamma))
        tb.bias.copy_(torch.from_numpy(beta))
    tol = 2e-5 if dt == "float32" else 1e-12
    for step in range(3):
        x = (rng.standard_normal((n, d)) * 3 + 2).astype(dt)
        g = rng.standard_normal((n, d)).astype(dt)
        tx = torch.from_numpy(x).requires_grad_(True)
        ty = tb(tx)
        ty.backward(torch.from_numpy(g))
        y = bn.forward(x, training=True)
        dx = bn.backward(g)
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=0, atol=tol * 10)
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=0, atol=tol * 10)
        np.testing.assert_allclose(bn.grads["gamma"], tb.weight.grad.numpy(), rtol=0, atol=tol * 50)
        np.testing.assert_allclose(bn.grads["beta"], tb.bias.grad.numpy(), rtol=0, atol=tol * 50)
        tb.weight.grad = None
        tb.bias.grad = None
        np.testing.assert_allclose(bn.buffers["running_mean"], tb.running_mean.numpy(), rtol=0, atol=tol)
        np.testing.assert_allclose(bn.buffers["running_var"], tb.running_var.numpy(), rtol=0, atol=tol * 10)
    tb.eval()
    x = rng.standard_normal((5, d)).astype(dt)
    np.testing.assert_allclose(bn.forward(x), tb(torch.from_numpy(x)).detach().numpy(), rtol=0, atol=tol * 10)


def test_batchnorm_zero_variance_features_finite_no_warnings(dtype, backend):
    n, d = 300, 5
    x = np.tile(np.array([0.0, 1.0, -3.5, 1e30, 7.25], dtype), (n, 1))
    gamma = np.ones(d, dtype)
    beta = np.arange(d, dtype=dtype)
    rm, rv = np.zeros(d, dtype), np.ones(d, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, mean, rstd = ops.batchnorm_forward_train(x, gamma, beta, rm, rv)
        dx, dg, db = ops.batchnorm_backward(np.ones_like(x), x, mean, rstd, gamma)
    np.testing.assert_array_equal(y, np.tile(beta, (n, 1)))
    assert np.isfinite(rstd).all() and np.isfinite(dx).all()
    np.testing.assert_allclose(rv, 0.9, rtol=1e-6)  # unbiased variance 0
    np.testing.assert_array_equal(dg, 0)


def test_batchnorm_large_offset_statistics_accurate(rng, dtype, backend):
    # shifted, blocked sums keep the variance of x = 1e4 + N(0, 1) accurate in float32
    x = (1e4 + rng.standard_normal((1000, 3))).astype(dtype)
    d = 3
    rm, rv = np.zeros(d, dtype), np.zeros(d, dtype)
    _, mean, rstd = ops.batchnorm_forward_train(x, np.ones(d, dtype), np.zeros(d, dtype), rm, rv,
                                                momentum=1.0, eps=1e-12)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(rv, x64.var(axis=0, ddof=1), rtol=1e-5)
    np.testing.assert_allclose(rstd, 1 / x64.std(axis=0), rtol=1e-5)
    np.testing.assert_allclose(mean, x64.mean(axis=0), rtol=1e-7)


def test_batchnorm_out_arrays_and_nothing_half_updated(rng, backend):
    x, gamma, beta, rm, rv, dy = problem(rng, 10, 4, np.float32)
    y = np.empty_like(x)
    mean, rstd = np.empty(4, np.float32), np.empty(4, np.float32)
    r = ops.batchnorm_forward_train(x, gamma, beta, rm, rv, out=y, mean=mean, rstd=rstd)
    assert r[0] is y and r[1] is mean and r[2] is rstd
    rm0, rv0 = rm.copy(), rv.copy()
    with pytest.raises(TypeError):  # running_var of another dtype: refused before any write
        ops.batchnorm_forward_train(x, gamma, beta, rm, rv.astype(np.float64))
    with pytest.raises(ValueError, match="momentum"):
        ops.batchnorm_forward_train(x, gamma, beta, rm, rv, momentum=1.5)
    with pytest.raises(ValueError, match="eps"):
        ops.batchnorm_forward_train(x, gamma, beta, rm, rv, eps=0.0)
    with pytest.raises(ValueError, match=r"\(4,\)"):
        ops.batchnorm_forward_train(x, gamma[:3], beta, rm, rv)
    np.testing.assert_array_equal(rm, rm0)
    np.testing.assert_array_equal(rv, rv0)
    gx, gg, gb = np.empty_like(x), np.empty(4, np.float32), np.empty(4, np.float32)
    r = ops.batchnorm_backward(dy, x, mean, rstd, gamma, grad_x=gx, grad_gamma=gg, grad_beta=gb)
    assert r[0] is gx and r[1] is gg and r[2] is gb


def test_batchnorm_batch_of_one_raises(backend):
    x = np.ones((1, 4), np.float32)
    v = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="1"):
        ops.batchnorm_forward_train(x, v, v, v.copy(), v.copy())
    # inference on one sample is fine
    assert ops.batchnorm_forward_eval(x, v, v, v, v).shape == (1, 4)


# -------------------------------------------------------------------- layer

def test_batchnorm_layer(rng, dtype, backend):
    bn = layers.BatchNorm(6, dtype=dtype)
    assert set(bn.params) == {"gamma", "beta"} and set(bn.buffers) == {"running_mean", "running_var"}
    with pytest.raises(RuntimeError, match="before forward"):
        bn.backward(np.ones((4, 6), dtype))
    x = rng.standard_normal((40, 6)).astype(dtype) * 2 + 3
    y = bn.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=0), 1, atol=1e-3)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(bn.buffers["running_mean"], 0.1 * x64.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.buffers["running_var"], 0.9 + 0.1 * x64.var(0, ddof=1), rtol=1e-5)
    dx = bn.backward(np.ones_like(x))
    assert dx.shape == x.shape and bn.grads["gamma"].shape == (6,)
    np.testing.assert_allclose(bn.grads["beta"], 40, rtol=1e-6)
    np.testing.assert_allclose(dx, 0, atol=1e-4)  # a constant gradient is normalised away
    # inference uses the running statistics and leaves them alone
    before = bn.buffers["running_mean"].copy()
    ye = bn.forward(x)
    rs = 1 / np.sqrt(bn.buffers["running_var"].astype(np.float64) + 1e-5)
    np.testing.assert_allclose(ye, (x64 - before) * rs, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(bn.buffers["running_mean"], before)
    dxe = bn.backward(np.ones_like(x))
    np.testing.assert_allclose(dxe, np.broadcast_to(rs, x.shape), rtol=1e-5)
    assert bn.output_shape((6,)) == (6,)
    assert repr(bn) == "BatchNorm(6, momentum=0.1, eps=1e-05)"
    bn._configure("float64", 0)
    assert bn.params["gamma"].dtype == np.float64 and (bn.buffers["running_var"] == 1).all()


def test_batchnorm_layer_errors():
    with pytest.raises(ValueError):
        layers.BatchNorm(4).forward(np.ones((3, 5), np.float32))
    with pytest.raises(ValueError):
        layers.BatchNorm(4).forward(np.ones((1, 4), np.float32), training=True)
    for kwargs in ({"momentum": -0.1}, {"momentum": 2.0}, {"eps": 0.0}, {"eps": float("nan")}):
        with pytest.raises(ValueError):
            layers.BatchNorm(4, **kwargs)
    with pytest.raises(ValueError):
        layers.BatchNorm(0)
    with pytest.raises(TypeError):
        layers.BatchNorm(2.5)
    # a replaced parameter of the wrong kind is refused before it reaches a kernel
    bn = layers.BatchNorm(4)
    bn.params["gamma"] = np.ones(4)
    with pytest.raises(ValueError, match="gamma"):
        bn.forward(np.ones((3, 4), np.float32), training=True)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 300), d=st.integers(1, 70), f64=st.booleans(), seed=st.integers(0, 1000))
def test_batchnorm_hypothesis_shapes(n, d, f64, seed):
    dtype = np.dtype(np.float64 if f64 else np.float32)
    args = problem(np.random.default_rng(seed), n, d, dtype)
    with using("reference"):
        want = run_all(*args)
    if HAVE_C:
        with using("c"):
            got = run_all(*args)
        assert_close(got, want, dtype, f"n={n} d={d}")
    assert want["y"].shape == (n, d)


@pytest.mark.parametrize("shape", [(5, 0), (0, 3)], ids=str)
def test_batchnorm_empty_shapes(shape, backend):
    x = np.ones(shape, np.float32)
    v = np.ones(shape[1], np.float32)
    if shape[0] >= 2:
        y, _, _ = ops.batchnorm_forward_train(x, v, v, v.copy(), v.copy())
        assert y.shape == shape
    assert ops.batchnorm_forward_eval(x, v, v, v, v).shape == shape
    gg, gb = np.full_like(v, 7), np.full_like(v, 7)
    dx, gg, gb = ops.batchnorm_backward(x, x, v, v, v, grad_gamma=gg, grad_beta=gb)
    assert dx.shape == shape
    np.testing.assert_array_equal(gg, 0)  # sums over no rows
    np.testing.assert_array_equal(gb, 0)
