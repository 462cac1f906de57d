"""The one-call fast path of model.predict_proba and predict (_infer.run ->
InferChain.predict): the same bits as the layer-by-layer forward + softmax, for
every kind of X, and it notices replaced arrays, other backends and losses."""
import numpy as np
import pytest

import fastmlp
from fastmlp import _infer, layers, losses, ops
from conftest import requires_c


def layerwise_proba(model, X):
    """softmax (sigmoid after BCEWithLogits) of the layers' own forward."""
    out = model.forward(np.ascontiguousarray(np.asarray(X), dtype=model.dtype))
    name = "sigmoid" if isinstance(model.loss, losses.BCEWithLogits) else "softmax"
    return ops.activation_forward(out, name)


@requires_c
@pytest.mark.parametrize("n", [1, 3, 300])
def test_fast_path_is_bit_identical(rng, dtype, n, n_threads, c_backend):
    model = fastmlp.MLP([784, 100, 10], activation="relu", dtype=dtype, seed=0)
    X = rng.standard_normal((n, 784)).astype(dtype)
    out = model.predict_proba(X)
    assert type(out) is np.ndarray and out.dtype == dtype and out.shape == (n, 10)
    assert out.flags.c_contiguous and out.flags.writeable and not np.shares_memory(out, X)
    np.testing.assert_array_equal(out, layerwise_proba(model, X))
    assert model.predict_proba(X) is not out  # a new array every call
    plan = _infer.cached_plan(model)  # the call above took the one-call path
    fast = plan._softmax.predict(X, 1, model._step_lock, plan._checks)
    np.testing.assert_array_equal(fast, out)
    assert plan._softmax.predict(np.asfortranarray(X) if n > 1 else X.astype(">" + dtype.str[1:]), 1,
                                 model._step_lock, plan._checks) is None


@requires_c
def test_every_kind_of_x_gives_the_same_bits(rng, c_backend):
    model = fastmlp.MLP([12, 9, 4], seed=1)
    X = rng.standard_normal((6, 12)).astype(np.float32)
    expected = layerwise_proba(model, X)
    variants = [X, X.tolist(), X.astype(np.float64), np.asfortranarray(X), X.astype(">f4"),
                np.repeat(X, 2, axis=1)[:, ::2], X[None][0]]
    for v in variants:
        np.testing.assert_array_equal(model.predict_proba(v), expected)
    np.testing.assert_array_equal(model.predict_proba(X[2:3]), expected[2:3])


@requires_c
def test_bad_x_keeps_the_models_errors(c_backend):
    model = fastmlp.MLP([4, 5, 3], seed=0)
    model.predict_proba(np.zeros((1, 4), np.float32))  # the plan exists
    bad = np.zeros((2, 4), np.float32)
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"X contains non-finite values: 1 NaN and 0 Inf"):
        model.predict_proba(bad)
    with pytest.raises(ValueError, match="expected input of shape"):
        model.predict_proba(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="empty"):
        model.predict_proba(np.zeros((0, 4), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        model.predict_proba(np.zeros(4, np.float32))


@requires_c
def test_replaced_arrays_and_dicts_are_noticed(rng, c_backend):
    model = fastmlp.MLP([8, 16, 3], seed=0)
    X = rng.standard_normal((5, 8)).astype(np.float32)
    model.predict_proba(X)
    dense = model.layers[0]
    dense.params["W"] = dense.params["W"] * 3  # a new array in the same dict
    np.testing.assert_array_equal(model.predict_proba(X), layerwise_proba(model, X))
    dense.params = dict(dense.params, b=dense.params["b"] + 1)  # a new dict
    np.testing.assert_array_equal(model.predict_proba(X), layerwise_proba(model, X))
    model.layers[2].params["W"][:] = 0  # in place: followed without a rebuild
    plan = _infer.cached_plan(model)
    np.testing.assert_array_equal(model.predict_proba(X), layerwise_proba(model, X))
    assert _infer.cached_plan(model) is plan


@requires_c
def test_loss_backend_and_threads(rng, c_backend):
    model = fastmlp.MLP([10, 7, 3], seed=2)
    X = rng.standard_normal((4, 10)).astype(np.float32)
    soft = model.predict_proba(X)
    model.loss = losses.BCEWithLogits()
    np.testing.assert_array_equal(model.predict_proba(X), layerwise_proba(model, X))
    model.loss = None
    fastmlp.set_backend("reference")
    try:
        ref = model.predict_proba(X)
    finally:
        fastmlp.set_backend("c")
    np.testing.assert_allclose(ref, soft, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(model.predict_proba(X), soft)
    old = fastmlp._config._num_threads
    try:
        fastmlp.set_num_threads(3)
        np.testing.assert_array_equal(model.predict_proba(X), soft)
    finally:
        fastmlp._config._num_threads = old


@requires_c
def test_no_plan_models_still_work(rng, c_backend):
    model = fastmlp.Sequential([layers.Dense(6, 4), layers.ReLU()], seed=0)
    X = rng.standard_normal((3, 6)).astype(np.float32)
    assert _infer.run(model, X) is not None
    pooled = fastmlp.Sequential([layers.MaxPool2d(2), layers.Flatten(), layers.Dense(4, 2)], seed=0,
                                input_shape=(1, 4, 4))
    Xp = rng.standard_normal((2, 1, 4, 4)).astype(np.float32)
    assert _infer.run(pooled, Xp) is None
    assert pooled.predict_proba(Xp).shape == (2, 2)


@requires_c
def test_predict_takes_the_same_path(rng, dtype, c_backend):
    model = fastmlp.MLP([30, 20, 5], dtype=dtype, seed=3)
    X = rng.standard_normal((9, 30)).astype(dtype)
    out = model.forward(X)
    np.testing.assert_array_equal(_infer.run(model, X, proba=False), out)
    np.testing.assert_array_equal(model.predict(X), np.argmax(out, axis=1))
    np.testing.assert_array_equal(model.predict(X.tolist()), np.argmax(out, axis=1))
    model.loss = losses.MSE()
    np.testing.assert_array_equal(model.predict(X), out)
    model.loss = losses.BCEWithLogits()
    np.testing.assert_array_equal(model.predict(X), (out > 0).astype(np.int64))
    identity = fastmlp.Sequential([layers.Dropout(0.5)], seed=0, input_shape=(3,))
    identity.loss = losses.MSE()  # raw outputs (3 outputs would classify otherwise)
    Xi = rng.standard_normal((4, 3)).astype(np.float32)
    got = identity.predict(Xi)
    np.testing.assert_array_equal(got, Xi)
    assert not np.shares_memory(got, Xi)
