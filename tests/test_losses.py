"""Losses: the C kernels against the reference (every ISA, 1 and 3 threads
bit-identical), the reference against central differences, extreme logits, the
loss classes and PyTorch's numbers where torch is installed."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastmlp
from fastmlp import losses, ops
from conftest import requires_c

SHAPES = [(1, 1), (1, 10), (10, 10), (7, 13), (33, 17), (64, 100), (5, 2048)]


def with_backend(name, fn):
    old = fastmlp.get_backend()
    fastmlp.set_backend(name)
    try:
        return fn()
    finally:
        fastmlp.set_backend(old)


def probs(rng, shape, dtype):
    t = rng.random(shape) ** 3
    t[t < 0.05] = 0  # zeros exercise 0 log 0
    t[:, 0] += 0.01
    return (t / t.sum(axis=1, keepdims=True)).astype(dtype)


def targets(rng, kind, shape, dtype):
    n, c = shape
    if kind == "labels":
        return rng.integers(0, c, n)
    if kind in ("probs", "kl"):
        return probs(rng, shape, dtype)
    if kind == "bce":
        return (rng.random(shape) < 0.5).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


LOSS_FN = {"labels": ops.softmax_cross_entropy, "probs": ops.softmax_cross_entropy, "kl": ops.kl_div,
           "mse": ops.mse, "bce": ops.bce_with_logits}
KINDS = list(LOSS_FN)


@requires_c
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_reference(rng, dtype, shape, kind, isa, c_backend):
    z = (rng.standard_normal(shape) * 3).astype(dtype)
    t = targets(rng, kind, shape, dtype)
    fn = LOSS_FN[kind]
    loss, grad = fn(z, t)
    loss_ref, grad_ref = with_backend("reference", lambda: fn(z, t))
    assert grad.dtype == dtype and grad.shape == z.shape
    assert loss == pytest.approx(loss_ref, rel=1e-6 if dtype == np.float32 else 1e-12, abs=1e-12)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(grad, grad_ref, rtol=0, atol=8 * eps * np.abs(grad_ref).max())
    loss_only, none = fn(z, t, need_grad=False)
    assert none is None and loss_only == loss


@requires_c
@pytest.mark.parametrize("kind", KINDS)
def test_threads_bit_identical(rng, dtype, kind, c_backend):
    shape = (5003, 10) if kind in ("labels", "probs", "kl") else (3001, 37)
    z = (rng.standard_normal(shape) * 3).astype(dtype)
    t = targets(rng, kind, shape, dtype)
    res = []
    for nt in (1, 3):
        fastmlp.set_num_threads(nt)
        res.append(LOSS_FN[kind](z, t))
    fastmlp._config._num_threads = None
    assert res[0][0] == res[1][0]
    np.testing.assert_array_equal(res[0][1], res[1][1])


@pytest.mark.parametrize("kind", KINDS)
def test_reference_gradient_matches_finite_differences(rng, kind):
    z = rng.standard_normal((4, 5)) * 2
    t = targets(rng, kind, z.shape, np.float64)
    fn = LOSS_FN[kind]
    _, grad = with_backend("reference", lambda: fn(z, t))
    h = 1e-6
    num = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        e = np.zeros_like(z)
        e[i] = h
        fp = with_backend("reference", lambda: fn(z + e, t, need_grad=False))[0]
        fm = with_backend("reference", lambda: fn(z - e, t, need_grad=False))[0]
        num[i] = (fp - fm) / (2 * h)
    assert np.abs(num - grad).max() / np.abs(num).max() < 1e-6


@pytest.mark.parametrize("kind", KINDS)
def test_extreme_logits_finite_and_warning_free(backend, dtype, kind):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, -1e4]], dtype)
    t = targets(np.random.default_rng(0), kind, z.shape, dtype)
    if kind == "labels":
        t = np.array([0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, grad = LOSS_FN[kind](z, t)
    assert np.isfinite(loss) and np.isfinite(grad).all()
    if kind == "labels":
        assert loss == 0 and not grad.any()  # exactly right: softmax is one-hot
        loss, grad = ops.softmax_cross_entropy(z, np.array([1, 0]))
        assert loss == pytest.approx(2e4, rel=1e-6)
        np.testing.assert_array_equal(grad, np.array([[0.5, -0.5, 0], [-0.5, 0.5, 0]], dtype))
    if kind == "bce":
        loss, _ = ops.bce_with_logits(z, (z > 0).astype(dtype))
        assert loss == pytest.approx(np.log(2) / 6)  # only the logit 0 contributes


def test_cross_entropy_with_one_hot_probs_equals_labels(backend, rng):
    z = rng.standard_normal((6, 4))
    y = rng.integers(0, 4, 6)
    a = ops.softmax_cross_entropy(z, y)
    b = ops.softmax_cross_entropy(z, np.eye(4)[y])
    assert a[0] == pytest.approx(b[0], rel=1e-12)
    np.testing.assert_allclose(a[1], b[1], atol=1e-15)
    # KL = cross-entropy - entropy(target): zero entropy for one-hot targets
    assert ops.kl_div(z, np.eye(4)[y])[0] == pytest.approx(a[0], rel=1e-12)


def test_kl_div_of_a_distribution_with_itself_is_zero(backend, rng):
    t = probs(rng, (5, 6), np.float64)
    loss, grad = ops.kl_div(np.log(np.maximum(t, 1e-300)), t)
    assert abs(loss) < 1e-12 and np.abs(grad).max() < 1e-12


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 30), c=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_backends_agree_on_any_shape(n, c, seed):
    if fastmlp._config._kernels is None:
        pytest.skip("the compiled extension is not built")
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, c)) * 5
    for kind, fn in LOSS_FN.items():
        t = targets(rng, kind, (n, c), np.float64)
        a, b = (with_backend(be, lambda: fn(z, t)) for be in ("c", "reference"))
        assert a[0] == pytest.approx(b[0], rel=1e-12, abs=1e-13)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-12, atol=1e-14)


def test_errors(backend):
    z = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="out of range"):
        ops.softmax_cross_entropy(z, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="shape"):
        ops.softmax_cross_entropy(z, np.array([0, 1]))
    with pytest.raises(ValueError, match="shape"):
        ops.softmax_cross_entropy(z, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="shape"):
        ops.kl_div(z, np.zeros((3, 5)))
    with pytest.raises(ValueError, match="shape"):
        ops.bce_with_logits(z, np.zeros(3))
    with pytest.raises(TypeError):
        ops.mse(z, np.array([["a"] * 4] * 3))
    # integer targets are their float values
    assert ops.mse(z, np.ones((3, 4), np.int64))[0] == 1.0


# -------------------------------------------------------------------- classes

@pytest.mark.parametrize("name,cls", [("softmax_cross_entropy", losses.SoftmaxCrossEntropy), ("mse", losses.MSE),
                                      ("bce_with_logits", losses.BCEWithLogits), ("kl_div", losses.KLDiv)])
def test_loss_classes(backend, rng, name, cls):
    loss = losses.get_loss(name)
    assert isinstance(loss, cls) and loss.name == name
    assert losses.get_loss(loss) is loss and isinstance(losses.get_loss(cls), cls)
    with pytest.raises(RuntimeError, match="before forward"):
        cls().backward()
    z = rng.standard_normal((6, 3)).astype(np.float32)
    kind = {"softmax_cross_entropy": "labels", "mse": "mse", "bce_with_logits": "bce", "kl_div": "kl"}[name]
    t = targets(rng, kind, z.shape, np.float32)
    value = loss.forward(z, t)
    assert isinstance(value, float)
    want = LOSS_FN[kind](z, t)
    assert value == want[0]
    g = loss.backward()
    np.testing.assert_array_equal(g, want[1])
    loss.forward(z, t)
    assert loss.backward() is g  # the gradient buffer is reused: nothing allocated per step


def test_column_targets_and_unknown_loss(backend):
    out = np.array([[0.5], [1.5]], np.float32)
    assert losses.MSE().forward(out, np.array([0.0, 1.0], np.float32)) == pytest.approx(0.25)
    assert losses.BCEWithLogits().forward(np.zeros((2, 1), np.float32), np.array([0.0, 1.0])) == pytest.approx(np.log(2))
    with pytest.raises(ValueError, match="hinge"):
        losses.get_loss("hinge")
    with pytest.raises(ValueError, match="shape"):
        losses.MSE().forward(np.zeros((2, 3), np.float32), np.zeros((2, 2), np.float32))


def test_against_torch(backend, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z = rng.standard_normal((8, 5))
    y = rng.integers(0, 5, 8)
    t = probs(rng, (8, 5), np.float64)
    tz, ty, tt = torch.tensor(z, requires_grad=True), torch.tensor(y), torch.tensor(t)
    cases = [
        (ops.softmax_cross_entropy(z, y), F.cross_entropy(tz, ty)),
        (ops.softmax_cross_entropy(z, t), F.cross_entropy(tz, tt)),
        (ops.kl_div(z, t), F.kl_div(F.log_softmax(tz, dim=1), tt, reduction="batchmean")),
        (ops.mse(z, t), F.mse_loss(tz, tt)),
        (ops.bce_with_logits(z, (t > 0.2).astype(float)), F.binary_cross_entropy_with_logits(tz, tt.gt(0.2).double())),
    ]
    for (loss, grad), tl in cases:
        (g,) = torch.autograd.grad(tl, tz)
        assert loss == pytest.approx(tl.item(), rel=1e-12)
        np.testing.assert_allclose(grad, g.numpy(), rtol=1e-10, atol=1e-14)
