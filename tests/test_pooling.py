"""Max and average pooling: C equal to the reference (1 and 3 threads), first-max
tie-break, NaN propagation, accumulation on overlapping windows, the reference
against central differences in float64, the layers and Flatten."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastmlp import layers, ops
from conftest import HAVE_C, requires_c
from test_dropout import using

CONFIGS = [  # (N, C, H, W), kernel, stride
    ((1, 1, 1, 1), 1, None),
    ((1, 1, 2, 2), 2, None),
    ((2, 3, 5, 7), 2, None),
    ((2, 3, 5, 7), (2, 3), (1, 2)),
    ((3, 2, 8, 8), 3, 1),
    ((1, 4, 9, 11), 3, 2),
    ((5, 1, 28, 28), 2, None),
    ((2, 7, 13, 17), (5, 1), (3, 1)),
    ((1, 1, 6, 6), 6, None),
    ((17, 3, 4, 5), (1, 2), (2, 1)),
    ((64, 16, 12, 12), 2, None),
    ((1, 2, 70, 65), (2, 3), 1),  # planes of more than 2048 outputs
]


def run_all(x, k, s):
    ym, am = ops.maxpool2d_forward(x, k, s)
    g = np.cos(np.arange(ym.size)).reshape(ym.shape).astype(x.dtype)
    gm = ops.maxpool2d_backward(g, am, x.shape)
    ya = ops.avgpool2d_forward(x, k, s)
    ga = ops.avgpool2d_backward(g, x.shape, k, s)
    return dict(ym=ym, am=am, gm=gm, ya=ya, ga=ga)


@requires_c
@pytest.mark.parametrize("shape,k,s", CONFIGS, ids=str)
def test_pooling_c_equals_reference(rng, dtype, isa, n_threads, shape, k, s):
    x = np.round(rng.standard_normal(shape) * 2).astype(dtype)  # coarse values: many ties
    with using("reference"):
        want = run_all(x, k, s)
    with using("c"):
        got = run_all(x, k, s)
    # the same operations in the same order: identical bits
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
        assert got[key].dtype == want[key].dtype


@requires_c
def test_pooling_bit_identical_for_any_thread_count(rng, dtype):
    x = rng.standard_normal((32, 8, 14, 14)).astype(dtype)
    res = []
    for nt in (1, 2, 3):
        with using("c", n_threads=nt):
            res.append(run_all(x, 3, 2))
    for r in res[1:]:
        for key in r:
            np.testing.assert_array_equal(r[key], res[0][key])


def test_maxpool_first_maximum_and_nan(backend, dtype):
    x = np.zeros((1, 1, 4, 4), dtype)
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = 5  # tie inside the first window: row-major first wins
    x[0, 0, 2, 3] = np.nan
    x[0, 0, 3, 2] = np.nan
    x[0, 0, 2, 2] = np.inf
    y, am = ops.maxpool2d_forward(x, 2)
    assert y[0, 0, 0, 0] == 5 and am[0, 0, 0, 0] == 1
    assert y[0, 0, 0, 1] == 0 and am[0, 0, 0, 1] == 2  # all-equal window: its first element
    assert np.isnan(y[0, 0, 1, 1]) and am[0, 0, 1, 1] == 2 * 4 + 3  # first NaN, before a later NaN
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ops.maxpool2d_forward(np.full((1, 1, 2, 2), np.nan, dtype), 2)
    # NaN first in the window stays the maximum
    z = np.array([[[[np.nan, 1.0], [2.0, 3.0]]]], dtype)
    yz, az = ops.maxpool2d_forward(z, 2)
    assert np.isnan(yz).all() and az.item() == 0
    # matches numpy's max on every window
    w = np.array([[[[1.0, np.nan], [np.inf, -np.inf]]]], dtype)
    assert np.isnan(ops.maxpool2d_forward(w, 2)[0]).all() and np.isnan(np.max(w))


def test_maxpool_overlapping_windows_accumulate(backend, dtype):
    x = np.zeros((1, 1, 5, 5), dtype)
    x[0, 0, 2, 2] = 1.0  # the maximum of all 9 windows of size 3, stride 1
    y, am = ops.maxpool2d_forward(x, 3, 1)
    assert (y == 1).all()
    g = ops.maxpool2d_backward(np.ones_like(y), am, x.shape)
    assert g[0, 0, 2, 2] == 9 and g.sum() == 9
    ga = ops.avgpool2d_backward(np.ones((1, 1, 3, 3), dtype), x.shape, 3, 1)
    # each input gets 1/9 per window covering it
    cover = np.array([1, 2, 3, 2, 1])
    np.testing.assert_allclose(ga[0, 0], np.outer(cover, cover) / 9, rtol=1e-6)


def test_avgpool_values(backend, dtype):
    x = np.arange(2 * 3 * 4 * 6, dtype=dtype).reshape(2, 3, 4, 6)
    y = ops.avgpool2d_forward(x, 2)
    want = x.reshape(2, 3, 2, 2, 3, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(y, want, rtol=1e-6)
    # windows that do not fit are dropped (no padding): H=5 with k=2 gives 2 rows
    assert ops.avgpool2d_forward(np.ones((1, 1, 5, 5), dtype), 2).shape == (1, 1, 2, 2)


def _fd_check(f, grad_fn, x):
    g = grad_fn(x)
    h = 1e-6
    fd = np.empty_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f(x)
        x[i] = old - h
        fm = f(x)
        x[i] = old
        fd[i] = (fp - fm) / (2 * h)
    err = np.linalg.norm(fd - g) / max(np.linalg.norm(fd) + np.linalg.norm(g), 1e-300)
    assert err < 1e-6


@pytest.mark.parametrize("shape,k,s", [((2, 2, 5, 6), 2, None), ((1, 2, 6, 5), 3, 1), ((2, 1, 7, 7), (3, 2), (2, 1))],
                         ids=str)
def test_pooling_reference_gradients_finite_differences(rng, shape, k, s):
    # distinct, well separated values: no window's maximum changes under +-h
    x = rng.permutation(np.prod(shape)).reshape(shape).astype(np.float64) * 0.01
    ny = ops.pool_output_shape(shape, k, s)[0]
    w = rng.standard_normal(ny)
    with using("reference"):
        _fd_check(lambda v: (ops.maxpool2d_forward(v, k, s)[0] * w).sum(),
                  lambda v: ops.maxpool2d_backward(w, ops.maxpool2d_forward(v, k, s)[1], shape), x)
        _fd_check(lambda v: (ops.avgpool2d_forward(v, k, s) * w).sum(),
                  lambda v: ops.avgpool2d_backward(w, shape, k, s), x)


def test_pooling_out_arrays(rng, backend):
    x = rng.standard_normal((2, 3, 6, 6))
    y = np.empty((2, 3, 3, 3))
    am = np.empty((2, 3, 3, 3), np.int32)
    r = ops.maxpool2d_forward(x, 2, out=y, argmax=am)
    assert r[0] is y and r[1] is am
    gx = np.full(x.shape, 7.0)
    assert ops.maxpool2d_backward(y, am, x.shape, out=gx) is gx
    assert ops.avgpool2d_forward(x, 2, out=y) is y
    assert ops.avgpool2d_backward(y, x.shape, 2, out=gx) is gx


def test_pooling_bad_input():
    x = np.ones((1, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="4-D"):
        ops.maxpool2d_forward(np.ones((4, 4), np.float32), 2)
    with pytest.raises(ValueError, match="4-D"):
        ops.avgpool2d_forward(np.ones((1, 4, 4), np.float32), 2)
    for k in (0, 5, (2, 5), -1):
        with pytest.raises(ValueError):
            ops.maxpool2d_forward(x, k)
    with pytest.raises(ValueError):
        ops.maxpool2d_forward(x, 2, stride=0)
    with pytest.raises(TypeError):
        ops.maxpool2d_forward(x, 2.0)
    y, am = ops.maxpool2d_forward(x, 2)
    with pytest.raises(ValueError, match="argmax"):
        ops.maxpool2d_backward(y, am.astype(np.int64), x.shape)
    with pytest.raises(ValueError, match="outside"):
        ops.maxpool2d_backward(y, am + 100, x.shape)
    with pytest.raises(ValueError, match="shape"):
        ops.avgpool2d_backward(y, (1, 1, 6, 6), 2)


# ------------------------------------------------------------------- layers

def test_pool_layers(rng, backend):
    x = rng.standard_normal((4, 3, 8, 6)).astype(np.float32)
    mp = layers.MaxPool2d(2)
    with pytest.raises(RuntimeError, match="before forward"):
        mp.backward(np.ones((4, 3, 4, 3), np.float32))
    y = mp.forward(x)
    assert y.shape == (4, 3, 4, 3) and mp.output_shape((3, 8, 6)) == (3, 4, 3)
    g = mp.backward(np.ones_like(y))
    assert g.shape == x.shape and g.sum() == y.size
    ap = layers.AvgPool2d(3, stride=1)
    ya = ap.forward(x)
    assert ya.shape == (4, 3, 6, 4) and ap.output_shape((3, 8, 6)) == (3, 6, 4)
    np.testing.assert_allclose(ap.backward(np.ones_like(ya)).sum(), ya.size, rtol=1e-5)
    assert repr(mp) == "MaxPool2d(kernel_size=(2, 2), stride=(2, 2))"
    with pytest.raises(ValueError):
        layers.MaxPool2d(0)
    with pytest.raises(ValueError, match="4-D"):
        mp.forward(np.ones((4, 48), np.float32))
    assert mp.params == {} and ap.grads == {}
    # training steps reuse their arrays; inference results are fresh
    y1 = mp.forward(x, training=True)
    g1 = mp.backward(np.ones_like(y1))
    assert mp.forward(x, training=True) is y1 and mp.backward(np.ones_like(y1)) is g1
    assert mp.forward(x) is not mp.forward(x)
    ya1 = ap.forward(x, training=True)
    assert ap.forward(x, training=True) is ya1


def test_flatten_layer(rng):
    f = layers.Flatten()
    with pytest.raises(RuntimeError, match="before forward"):
        f.backward(np.ones((2, 3)))
    x = rng.standard_normal((5, 2, 3, 4))
    y = f.forward(x)
    assert y.shape == (5, 24) and np.shares_memory(y, x)
    np.testing.assert_array_equal(f.backward(y), x)
    assert f.output_shape((2, 3, 4)) == (24,)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(1, 12), w=st.integers(1, 12),
       kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 4), sw=st.integers(1, 4),
       f64=st.booleans())
def test_pooling_hypothesis(n, c, h, w, kh, kw, sh, sw, f64):
    x = np.random.default_rng(h * 13 + w).standard_normal((n, c, h, w)).astype(np.float64 if f64 else np.float32)
    if kh > h or kw > w:
        with pytest.raises(ValueError):
            ops.maxpool2d_forward(x, (kh, kw), (sh, sw))
        return
    with using("reference"):
        want = run_all(x, (kh, kw), (sh, sw))
    assert want["ym"].shape == (n, c, (h - kh) // sh + 1, (w - kw) // sw + 1)
    if HAVE_C:
        with using("c"):
            got = run_all(x, (kh, kw), (sh, sw))
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])


@requires_c
@pytest.mark.parametrize("shape", [(3, 2, 28, 28), (2, 3, 7, 29), (1, 1, 2, 2), (1, 2, 4, 1030),
                                   (1, 1, 5, 2050)], ids=str)
def test_maxpool_2x2_stride2_every_window_pattern(rng, dtype, isa, n_threads, shape):
    """The 2 x 2 / stride 2 path (rows combined first, then column pairs): equal to the
    reference bit for bit on values from {-inf, -1, -0, 0, 1, inf, NaN}, so every tie and
    NaN arrangement in a window occurs, odd widths, and widths beyond its row buffer."""
    vals = np.array([-np.inf, -1.0, -0.0, 0.0, 1.0, np.inf, np.nan])
    x = vals[rng.integers(0, vals.size, shape)].astype(dtype)
    with using("reference"):
        y_ref, a_ref = ops.maxpool2d_forward(x, 2)
    with using("c"):
        y, a = ops.maxpool2d_forward(x, 2)
    np.testing.assert_array_equal(a, a_ref)
    np.testing.assert_array_equal(y.view(np.uint8), y_ref.view(np.uint8))  # -0 vs 0, NaN bits


@requires_c
def test_maxpool_2x2_all_orders_of_four(dtype, isa):
    """Every assignment of the values {0, 1} and NaN to the four window positions."""
    import itertools
    combos = np.array(list(itertools.product([0.0, 1.0, np.nan], repeat=4)))
    x = combos.reshape(-1, 1, 2, 2).astype(dtype)
    with using("reference"):
        y_ref, a_ref = ops.maxpool2d_forward(x, 2)
    with using("c"):
        y, a = ops.maxpool2d_forward(x, 2)
    np.testing.assert_array_equal(a, a_ref)
    np.testing.assert_array_equal(y, y_ref)
