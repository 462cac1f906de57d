"""Dense: forward (GEMM + fused bias/activation epilogue) and backward against the
reference on every ISA, bit-identical for any thread count, the reference against
central differences, the Dense layer (fusion, penalties, buffers) and L1/L2."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastmlp
from fastmlp import layers, ops, reference
from conftest import requires_c

ACTS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softmax"]
SHAPES = [(1, 1, 1), (1, 7, 3), (7, 13, 5), (10, 784, 30), (10, 30, 10), (17, 33, 65), (64, 100, 10),
          (3, 5, 300)]


def with_backend(name, fn):
    old = fastmlp.get_backend()
    fastmlp.set_backend(name)
    try:
        return fn()
    finally:
        fastmlp.set_backend(old)


def operands(rng, n, d_in, d_out, dtype):
    x = rng.standard_normal((n, d_in)).astype(dtype)
    W = (rng.standard_normal((d_in, d_out)) / np.sqrt(d_in)).astype(dtype)
    b = rng.standard_normal(d_out).astype(dtype)
    return x, W, b


def gemm_tol(k, dtype, scale):
    # sums of k products: error grows like sqrt(k) * eps * scale
    return np.sqrt(max(k, 1)) * 8 * np.finfo(dtype).eps * max(1.0, scale)


@requires_c
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("n,d_in,d_out", SHAPES, ids=str)
def test_forward_matches_reference(rng, dtype, n, d_in, d_out, act, isa, c_backend):
    x, W, b = operands(rng, n, d_in, d_out, dtype)
    for bias in (b, None):
        y = ops.dense_forward(x, W, bias, act)
        y_ref = with_backend("reference", lambda: ops.dense_forward(x, W, bias, act))
        np.testing.assert_allclose(y, y_ref, rtol=0, atol=gemm_tol(d_in, dtype, np.abs(y_ref).max()))


@requires_c
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("n,d_in,d_out", SHAPES, ids=str)
def test_backward_matches_reference(rng, dtype, n, d_in, d_out, act, isa, c_backend):
    x, W, b = operands(rng, n, d_in, d_out, dtype)
    y = ops.dense_forward(x, W, b, act)
    dy = rng.standard_normal(y.shape).astype(dtype)
    for need_dx, bias in ((True, True), (False, False)):
        got = ops.dense_backward(dy, x, W, y=y, activation=act, need_dx=need_dx, bias=bias)
        want = with_backend("reference", lambda: ops.dense_backward(dy, x, W, y=y, activation=act,
                                                                      need_dx=need_dx, bias=bias))
        for g, w, k in zip(got, want, (d_out, n, n)):
            if w is None:
                assert g is None
                continue
            np.testing.assert_allclose(g, w, rtol=0, atol=gemm_tol(k, dtype, np.abs(w).max()))


@requires_c
@pytest.mark.parametrize("act", ["identity", "sigmoid", "relu"])
def test_threads_bit_identical(rng, dtype, act, c_backend):
    x, W, b = operands(rng, 300, 257, 700, dtype)
    dy = rng.standard_normal((300, 700)).astype(dtype)
    res = []
    for nt in (1, 3):
        fastmlp.set_num_threads(nt)
        y = ops.dense_forward(x, W, b, act)
        res.append((y,) + ops.dense_backward(dy, x, W, y=y, activation=act))
    fastmlp._config._num_threads = None
    for a, c in zip(*res):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("act", ACTS)
def test_reference_backward_matches_finite_differences(rng, act):
    x, W, b = operands(rng, 4, 5, 3, np.float64)
    w = rng.standard_normal((4, 3))

    def f(x_, W_, b_):
        return float((w * with_backend("reference", lambda: ops.dense_forward(x_, W_, b_, act))).sum())

    y = with_backend("reference", lambda: ops.dense_forward(x, W, b, act))
    dx, dW, db = with_backend("reference", lambda: ops.dense_backward(w, x, W, y=y, activation=act))
    h = 1e-6
    for arr, grad in ((x, dx), (W, dW), (b, db)):
        num = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + h
            fp = f(x, W, b)
            arr[i] = old - h
            fm = f(x, W, b)
            arr[i] = old
            num[i] = (fp - fm) / (2 * h)
        assert np.abs(num - grad).max() / np.abs(num).max() < 1e-6


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 20), d_in=st.integers(1, 40), d_out=st.integers(1, 40), seed=st.integers(0, 2**16),
       act=st.sampled_from(ACTS))
def test_backends_agree_on_any_shape(n, d_in, d_out, seed, act):
    if fastmlp._config._kernels is None:
        pytest.skip("the compiled extension is not built")
    x, W, b = operands(np.random.default_rng(seed), n, d_in, d_out, np.float64)
    y = [with_backend(be, lambda: ops.dense_forward(x, W, b, act)) for be in ("c", "reference")]
    np.testing.assert_allclose(y[0], y[1], rtol=1e-12, atol=1e-12)
    g = [with_backend(be, lambda: ops.dense_backward(y[1], x, W, y=y[1], activation=act)) for be in ("c", "reference")]
    for a, c in zip(*g):
        np.testing.assert_allclose(a, c, rtol=1e-11, atol=1e-11)


def test_out_arrays_written_in_place(backend, rng):
    x, W, b = operands(rng, 6, 4, 3, np.float32)
    y = np.empty((6, 3), np.float32)
    assert ops.dense_forward(x, W, b, "relu", out=y) is y
    dx, dW, db = np.empty_like(x), np.empty_like(W), np.empty_like(b)
    got = ops.dense_backward(y, x, W, y=y, activation="relu", dx=dx, dW=dW, db=db, dz=np.empty_like(y))
    assert got[0] is dx and got[1] is dW and got[2] is db
    with pytest.raises(ValueError, match="shape"):
        ops.dense_forward(x, W, b, out=np.empty((6, 4), np.float32))
    with pytest.raises(ValueError, match="forward output"):
        ops.dense_backward(y, x, W, activation="tanh")


# --------------------------------------------------------------------- layer

def test_dense_layer_shapes_init_and_seed(backend):
    d = layers.Dense(4, 3, seed=7)
    assert d.params["W"].shape == (4, 3) and d.params["b"].shape == (3,)
    assert d.params["W"].dtype == np.float32 and not d.params["b"].any()
    np.testing.assert_array_equal(d.params["W"], layers.Dense(4, 3, seed=7).params["W"])
    assert not np.array_equal(d.params["W"], layers.Dense(4, 3, seed=8).params["W"])
    assert "b" not in layers.Dense(4, 3, bias=False).params
    d._configure("float64", 7)
    assert d.params["W"].dtype == np.float64
    assert d.output_shape((4,)) == (3,)
    assert repr(layers.Dense(4, 3, l2=0.1)) == "Dense(4, 3, l2=0.1)"


@pytest.mark.parametrize("act_layer", [layers.Sigmoid(), layers.ReLU(), layers.Tanh(), layers.ELU(0.5),
                                       layers.LeakyReLU(0.2), layers.Softmax()])
def test_fused_activation_equals_separate_layers(backend, rng, act_layer):
    x = rng.standard_normal((10, 8)).astype(np.float32)
    dy = rng.standard_normal((10, 5)).astype(np.float32)
    plain = layers.Dense(8, 5, seed=1)
    fused = layers.Dense(8, 5, seed=1)
    fused.fused_activation = act_layer
    y_sep = act_layer.forward(plain.forward(x, training=True), training=True)
    dx_sep = plain.backward(act_layer.backward(dy))
    y = fused.forward(x, training=True)
    dx = fused.backward(dy)
    np.testing.assert_array_equal(y, y_sep)
    np.testing.assert_allclose(dx, dx_sep, rtol=1e-6, atol=1e-6)
    for k in ("W", "b"):
        np.testing.assert_allclose(fused.grads[k], plain.grads[k], rtol=1e-6, atol=1e-6)


def test_dense_layer_allocates_nothing_per_training_step(backend, rng):
    d = layers.Dense(6, 4, seed=0)
    d.fused_activation = "tanh"
    x = rng.standard_normal((5, 6)).astype(np.float32)
    y1 = d.forward(x, training=True)
    dx1 = d.backward(np.ones_like(y1))
    gW = d.grads["W"]
    assert d.forward(x, training=True) is y1
    assert d.backward(np.ones_like(y1)) is dx1 and d.grads["W"] is gW
    assert d.forward(x) is not y1  # inference returns a fresh array
    d.need_input_grad = False
    assert d.backward(np.ones_like(y1)) is None


def test_dense_layer_errors():
    d = layers.Dense(4, 3)
    with pytest.raises(RuntimeError, match="before forward"):
        d.backward(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 4\), got \(6, 5\)"):
        d.forward(np.ones((6, 5), np.float32))
    d.forward(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"grad_y of shape \(2, 3\)"):
        d.backward(np.ones((2, 4), np.float32))
    for bad in (dict(l1=-1.0), dict(l2=float("nan"))):
        with pytest.raises(ValueError):
            layers.Dense(4, 3, **bad)
    with pytest.raises(TypeError):
        layers.Dense(4.0, 3)


def test_dense_converts_input_dtype_once(backend):
    d = layers.Dense(3, 2, dtype="float64", seed=0)
    y = d.forward(np.ones((2, 3), np.float32))
    assert y.dtype == np.float64


# ------------------------------------------------------------------ penalties

@requires_c
@pytest.mark.parametrize("size", [1, 7, 17, 4096, 4097, 100003])
def test_penalty_matches_reference(rng, dtype, size, c_backend):
    w = rng.standard_normal(size).astype(dtype)
    w[0] = 0
    g0 = rng.standard_normal(size).astype(dtype)
    g, g_ref = g0.copy(), g0.copy()
    v = ops.penalty(g, w, 0.01, 0.1)
    v_ref = reference.penalty(g_ref, w, 0.01, 0.1)
    assert v == pytest.approx(v_ref, rel=1e-12)
    np.testing.assert_allclose(g, g_ref, rtol=0, atol=4 * np.finfo(dtype).eps * np.abs(g_ref).max())
    assert g[0] == g0[0]  # sign(0) = 0 and w = 0


@requires_c
def test_penalty_threads_bit_identical(rng, c_backend):
    w = rng.standard_normal(300007).astype(np.float32)
    out = []
    for nt in (1, 3):
        fastmlp.set_num_threads(nt)
        g = np.zeros_like(w)
        out.append((ops.penalty(g, w, 0.3, 0.2), g))
    fastmlp._config._num_threads = None
    assert out[0][0] == out[1][0]
    np.testing.assert_array_equal(out[0][1], out[1][1])


def test_penalty_value_and_gradient(backend):
    w = np.array([[-2.0, 0.0], [1.0, 3.0]])
    g = np.zeros_like(w)
    v = ops.penalty(g, w, l1=0.5, l2=0.1)
    assert v == pytest.approx(0.5 * 6 + 0.05 * 14)
    np.testing.assert_allclose(g, [[-0.5 - 0.2, 0.0], [0.5 + 0.1, 0.5 + 0.3]])
    assert ops.penalty(g, w) == 0.0
    with pytest.raises(ValueError, match="l1"):
        ops.penalty(g, w, l1=-1.0)


def test_dense_add_penalty(backend, rng):
    d = layers.Dense(3, 2, l1=0.01, l2=0.1, dtype="float64", seed=0)
    d.forward(rng.standard_normal((4, 3)))
    d.backward(np.ones((4, 2)))
    before = d.grads["W"].copy()
    W = d.params["W"]
    v = d.add_penalty()
    assert v == pytest.approx(d.penalty()) == pytest.approx(0.01 * np.abs(W).sum() + 0.05 * (W ** 2).sum())
    np.testing.assert_allclose(d.grads["W"], before + 0.01 * np.sign(W) + 0.1 * W)
    assert layers.Dense(3, 2).add_penalty() == 0.0


@requires_c
@pytest.mark.parametrize("size", [1, 7, 8, 9, 4095, 4096, 4103, 78400])
@pytest.mark.parametrize("l1,l2", [(0.01, 0.1), (0.3, 0.0), (0.0, 0.2)])
def test_penalty_every_isa(rng, dtype, isa, n_threads, size, l1, l2):
    """The vectorised penalty on every ISA path: value to 1e-12, gradient within a few
    ulp (the SIMD paths form l2*w + l1*sign(w) with one FMA), zeros keep their gradient."""
    w = rng.standard_normal(size).astype(dtype)
    w[::5] = 0
    w[1::7] = -0.0
    g0 = rng.standard_normal(size).astype(dtype)
    g, g_ref = g0.copy(), g0.copy()
    v = ops.penalty(g, w, l1, l2)
    v_ref = reference.penalty(g_ref, w, l1, l2)
    assert v == pytest.approx(v_ref, rel=1e-12)
    np.testing.assert_allclose(g, g_ref, rtol=0, atol=4 * np.finfo(dtype).eps * np.abs(g_ref).max())
    np.testing.assert_array_equal(g[w == 0], g0[w == 0])


@requires_c
def test_penalty_f32_value_same_on_every_isa(rng):
    """float32: |w| and w^2 are exact in double and the 8-lane order is fixed, so the
    value is bit-identical across ISA paths (and thread counts)."""
    from conftest import supported_isas
    from fastmlp import _config
    w = rng.standard_normal(100003).astype(np.float32)
    old = _config._kernels.isa_active()
    values = []
    try:
        for name in supported_isas():
            _config.set_isa(name)
            values.append(ops.penalty(np.zeros_like(w), w, 0.3, 0.2))
    finally:
        _config.set_isa(old)
    assert len(set(values)) == 1, values


@requires_c
def test_penalty_special_values(dtype, isa):
    """NaN propagates to value and gradient, inf gives an infinite value and a finite
    sign term (also with l2 = 0, where 0 * inf must not enter), zeros leave the gradient
    unchanged; no warnings."""
    w = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30 if dtype == np.float32 else 1e300,
                  -1.5, 2.0, 3.0, -4.0, 5.0], dtype=dtype)
    g = np.zeros_like(w)
    with np.errstate(all="raise"):
        v = ops.penalty(g, w, 0.5, 0.0)
    assert np.isnan(v)
    assert np.isnan(g[0])
    np.testing.assert_array_equal(g[1:], 0.5 * np.sign(w[1:]))
    g = np.zeros_like(w)
    v = ops.penalty(g[1:], w[1:], 0.5, 0.0)
    assert v == np.inf


@requires_c
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "elu", "relu", "leaky_relu"])
def test_epilogue_activation_bit_identical_to_standalone(rng, dtype, act, isa, c_backend):
    """The GEMM epilogue's bias+activation and the standalone activation kernel run the
    same element code: fused forward == activation(linear forward), bit for bit."""
    x, W, b = operands(rng, 37, 29, 71, dtype)
    p = {"elu": 0.7, "leaky_relu": 0.1}.get(act)
    fused = ops.dense_forward(x, W, b, activation=act, act_param=p)
    lin = ops.dense_forward(x, W, b)
    np.testing.assert_array_equal(fused, ops.activation_forward(lin, act, p))
