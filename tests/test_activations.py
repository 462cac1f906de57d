"""Activations: every C path (each ISA, 1 and 3 threads) against the reference,
the reference against central differences, extreme inputs, and the layers."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastmlp
from fastmlp import layers, ops, reference
from conftest import requires_c

ELEMENTWISE = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu"]
SIZES = [1, 7, 15, 16, 17, 31, 33, 257, 4099, 20011]
PARAMS = {"leaky_relu": 0.1, "elu": 0.7}
# float32: a few ulp of the value (own exp on every path); float64: ~1 ulp
RTOL = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-13}
ATOL = {np.dtype(np.float32): 1e-37, np.dtype(np.float64): 1e-300}


def sample(rng, size, dtype, scale=4.0):
    x = rng.standard_normal(size) * scale
    special = np.array([0.0, -0.0, 1e-30, -1e-30, 0.24, -0.26, 0.5, -0.49, 87.0, -87.0, 1e4, -1e4, 3e38, -3e38])
    k = min(size, special.size)
    x[:k] = special[:k]
    return x.astype(dtype)


def with_backend(name, fn):
    old = fastmlp.get_backend()
    fastmlp.set_backend(name)
    try:
        return fn()
    finally:
        fastmlp.set_backend(old)


def assert_close(got, want, dtype):
    np.testing.assert_allclose(got, want, rtol=RTOL[np.dtype(dtype)], atol=ATOL[np.dtype(dtype)])


@requires_c
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("act", ELEMENTWISE)
def test_forward_backward_match_reference(rng, dtype, act, size, isa, c_backend):
    x = sample(rng, size, dtype)
    dy = rng.standard_normal(size).astype(dtype)
    p = PARAMS.get(act)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = ops.activation_forward(x, act, p)
        dx = ops.activation_backward(dy, y, act, p)
        y_ref = with_backend("reference", lambda: ops.activation_forward(x, act, p))
    assert_close(y, y_ref, dtype)
    # the backward from the same y (from different ys, y (1 - y) near 1 amplifies ulps)
    # (1 - y*y) near |y| = 1 cancels: FMA and non-FMA paths differ by ulps of dy
    dx_ref = with_backend("reference", lambda: ops.activation_backward(dy, y, act, p))
    np.testing.assert_allclose(dx, dx_ref, rtol=RTOL[np.dtype(dtype)],
                               atol=np.finfo(dtype).eps * 4 * np.abs(dy).max())


@requires_c
@pytest.mark.parametrize("shape", [(1, 1), (1, 10), (7, 13), (10, 10), (33, 17), (5, 100), (64, 2048)])
def test_softmax_matches_reference(rng, dtype, shape, isa, c_backend):
    x = (rng.standard_normal(shape) * 5).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    y = ops.activation_forward(x, "softmax")
    dx = ops.activation_backward(dy, y, "softmax")
    y_ref = reference.softmax_forward(np.empty_like(x), x)
    dx_ref = reference.softmax_backward(np.empty_like(x), dy, y)
    tol = 2e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(y, y_ref, rtol=tol, atol=1e-37)
    np.testing.assert_allclose(dx, dx_ref, rtol=0, atol=tol * 10 * np.abs(dy).max())


@requires_c
@pytest.mark.parametrize("act", ELEMENTWISE + ["softmax"])
def test_threads_bit_identical(rng, dtype, act, c_backend):
    x = (rng.standard_normal((300, 997)) * 3).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    res = []
    for nt in (1, 3):
        fastmlp.set_num_threads(nt)
        y = ops.activation_forward(x, act)
        res.append((y, ops.activation_backward(dy, y, act)))
    fastmlp._config._num_threads = None
    np.testing.assert_array_equal(res[0][0], res[1][0])
    np.testing.assert_array_equal(res[0][1], res[1][1])


@pytest.mark.parametrize("act", ELEMENTWISE + ["softmax"])
def test_reference_backward_matches_finite_differences(rng, act):
    x = rng.standard_normal((4, 9)) * 2
    x[np.abs(x) < 1e-3] = 0.5  # away from the kinks of relu, leaky_relu, elu
    w = rng.standard_normal(x.shape)
    p = PARAMS.get(act)
    f = lambda z: float((w * with_backend("reference", lambda: ops.activation_forward(z, act, p))).sum())
    y = with_backend("reference", lambda: ops.activation_forward(x, act, p))
    grad = with_backend("reference", lambda: ops.activation_backward(w, y, act, p))
    h = 1e-6
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        num[i] = (f(x + e) - f(x - e)) / (2 * h)
    err = np.abs(num - grad).max() / max(np.abs(num).max(), 1e-12)
    assert err < 1e-6


@pytest.mark.parametrize("act", ELEMENTWISE + ["softmax"])
def test_extreme_inputs_finite_exact_and_warning_free(backend, dtype, act):
    x = np.array([[1e4, -1e4, 0.0, 80.0, -80.0, 3e38, -3e38, 1e-40]], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = ops.activation_forward(x, act)
        dx = ops.activation_backward(np.ones_like(x), y, act)
    assert np.isfinite(y).all() and np.isfinite(dx).all()
    if act == "sigmoid":
        assert y[0, 0] == 1 and y[0, 1] == 0 and y[0, 2] == 0.5
    if act == "tanh":
        assert y[0, 0] == 1 and y[0, 1] == -1 and y[0, 2] == 0
    if act == "softmax":
        np.testing.assert_array_equal(ops.activation_forward(np.array([[1e4, -1e4, 0.0]], dtype), "softmax"),
                                      np.array([[1, 0, 0]], dtype))
    if act == "relu":
        assert dx[0, 2] == 0  # gradient 0 at 0


@pytest.mark.parametrize("act", ELEMENTWISE + ["softmax"])
def test_nan_propagates(backend, dtype, act):
    x = np.array([[np.nan, 1.0, -1.0]], dtype)
    y = ops.activation_forward(x, act)
    assert np.isnan(y[0, 0])


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), c=st.integers(1, 70), scale=st.floats(0.1, 1e3), seed=st.integers(0, 2**16))
def test_softmax_rows_are_distributions(n, c, scale, seed):
    x = np.random.default_rng(seed).standard_normal((n, c)).astype(np.float32) * np.float32(scale)
    for be in (("c", "reference") if fastmlp._config._kernels is not None else ("reference",)):
        y = with_backend(be, lambda: ops.activation_forward(x, "softmax"))
        assert (y >= 0).all()
        np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-5)


def test_out_in_place_and_errors(backend):
    x = np.linspace(-3, 3, 11).astype(np.float32)
    want = ops.activation_forward(x, "tanh")
    ops.activation_forward(x, "tanh", out=x)
    np.testing.assert_array_equal(x, want)
    with pytest.raises(ValueError, match="gelu"):
        ops.activation_forward(x, "gelu")
    with pytest.raises(ValueError, match=">= 0"):
        ops.activation_forward(x, "leaky_relu", -0.1)
    with pytest.raises(ValueError, match="shape"):
        ops.activation_forward(x, "relu", out=np.empty(3, np.float32))


@requires_c
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "leaky_relu", "elu"])
def test_fused_epilogue_equals_separate_activation(rng, act, isa, c_backend):
    x = rng.standard_normal((13, 31)).astype(np.float32)
    W = rng.standard_normal((31, 45)).astype(np.float32)
    b = rng.standard_normal(45).astype(np.float32)
    fused = ops.dense_forward(x, W, b, act)
    z = ops.dense_forward(x, W, b)
    np.testing.assert_array_equal(fused, ops.activation_forward(z, act))


@pytest.mark.parametrize("cls,name", [(layers.ReLU, "relu"), (layers.Sigmoid, "sigmoid"), (layers.Tanh, "tanh"),
                                      (layers.Softmax, "softmax"), (layers.LeakyReLU, "leaky_relu"),
                                      (layers.ELU, "elu")])
def test_activation_layers(backend, rng, cls, name):
    layer = cls()
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((2, 3), np.float32))
    x = rng.standard_normal((5, 6)).astype(np.float32)
    y = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, ops.activation_forward(x, name, layer.param))
    dy = rng.standard_normal(y.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(dy), ops.activation_backward(dy, y, name, layer.param))
    assert layer.params == {} and layer.output_shape((6,)) == (6,)
    # training forwards reuse their output buffer: no allocation per step
    assert layer.forward(x, training=True) is y


def test_activation_layer_hyperparameters():
    assert layers.LeakyReLU().negative_slope == 0.01 and layers.ELU().alpha == 1.0
    assert repr(layers.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    with pytest.raises(TypeError):
        layers.LeakyReLU("0.1")
    with pytest.raises(ValueError):
        layers.ELU(float("nan"))


@settings(max_examples=40, deadline=None)
@given(data=st.lists(st.floats(-1e5, 1e5, width=32), min_size=1, max_size=70),
       act=st.sampled_from(ELEMENTWISE))
def test_backends_agree_on_any_values(data, act):
    if fastmlp._config._kernels is None:
        pytest.skip("the compiled extension is not built")
    x = np.array(data, np.float32)
    y = [with_backend(be, lambda: ops.activation_forward(x, act)) for be in ("c", "reference")]
    assert_close(y[0], y[1], np.float32)


@requires_c
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "elu"])
def test_float32_dense_sweep_accuracy(act, isa, c_backend):
    """float32 sigmoid/tanh/elu (Estrin-form polynomials) on a dense grid through every
    branch point (|x| = 0.25 for tanh, x = -0.5 for elu, the exp range limits) stay
    within RTOL of the float64 reference; the fused GEMM epilogue path uses the same code."""
    x = np.concatenate([np.linspace(-100, 100, 200001), np.linspace(-0.6, 0.6, 50001),
                        [-87.33, -87.34, -88.0, -103.0, 1e-38, -1e-38]]).astype(np.float32)
    p = PARAMS.get(act)
    y = ops.activation_forward(x, act, p)
    want = with_backend("reference", lambda: ops.activation_forward(x.astype(np.float64), act, p))
    np.testing.assert_allclose(y, want, rtol=RTOL[np.dtype(np.float32)], atol=1e-37)
