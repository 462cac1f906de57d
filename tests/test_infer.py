"""Inference plans (fastmlp._infer, csrc/infer.c) against the layer-by-layer forward."""
import numpy as np
import pytest

import fastmlp
from fastmlp import _infer, layers, losses
from conftest import requires_c


def models(dtype):
    yield fastmlp.MLP([784, 100, 10], dtype=dtype, seed=1)
    yield fastmlp.MLP([20, 33, 17, 3], activation="sigmoid", dtype=dtype, seed=2)
    yield fastmlp.MLP([20, 50, 30, 4], activation="tanh", batchnorm=True, dropout=0.3, dtype=dtype, seed=3)
    yield fastmlp.Sequential([layers.Dense(13, 40), layers.LeakyReLU(0.2), layers.Dense(40, 9), layers.ELU(0.7),
                              layers.BatchNorm(9), layers.Dense(9, 5), layers.Softmax(), layers.Dense(5, 2)],
                             dtype=dtype, seed=4)
    yield fastmlp.Sequential([layers.Flatten(), layers.Dropout(0.5), layers.Dense(6, 300), layers.ReLU(),
                              layers.Dense(300, 1)], dtype=dtype, seed=5, input_shape=(6,))


def randomize_batchnorm(model, rng):
    for layer in model.layers:
        if isinstance(layer, layers.BatchNorm):
            d = layer.num_features
            layer.buffers["running_mean"][:] = rng.standard_normal(d)
            layer.buffers["running_var"][:] = rng.random(d) + 0.5
            layer.params["gamma"][:] = rng.random(d) + 0.5
            layer.params["beta"][:] = rng.standard_normal(d)


@requires_c
@pytest.mark.parametrize("n", [1, 2, 7, 256, 300, 700])
def test_plan_matches_the_layers_bit_for_bit(rng, dtype, n, n_threads, c_backend):
    for model in models(dtype):
        randomize_batchnorm(model, rng)
        plan = _infer.build_inference_plan(model)
        assert plan is not None
        X = rng.standard_normal((n,) + model.input_shape).astype(dtype)
        out = plan.forward(X)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, model.forward(X))
        np.testing.assert_array_equal(plan.predict_proba(X), model.predict_proba(X))
        model.loss = losses.BCEWithLogits()
        np.testing.assert_array_equal(plan.predict_proba(X), model.predict_proba(X))


@requires_c
def test_plan_is_the_same_for_any_thread_count(rng, dtype, c_backend):
    model = fastmlp.MLP([50, 300, 10], dtype=dtype, seed=7)
    plan = _infer.build_inference_plan(model)
    X = rng.standard_normal((1000, 50)).astype(dtype)
    results = []
    for nt in (1, 2, 3):
        fastmlp.set_num_threads(nt)
        results.append(plan.predict_proba(X))
    fastmlp._config._num_threads = None
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


@requires_c
def test_plan_follows_parameters_in_place_and_notices_replacements(rng, c_backend):
    model = fastmlp.MLP([8, 16, 3], seed=0)
    X = rng.standard_normal((5, 8)).astype(np.float32)
    plan = _infer.cached_plan(model)
    model.layers[0].params["W"] *= 2  # in place: the plan sees it
    np.testing.assert_array_equal(plan.forward(X), model.forward(X))
    model.load_state_dict({k: v + 1 for k, v in model.state_dict().items()})
    np.testing.assert_array_equal(plan.forward(X), model.forward(X))
    model.layers[0].reset_parameters()  # new arrays: this plan is stale, a new one is built
    assert not plan.valid()
    fresh = _infer.cached_plan(model)
    assert fresh is not plan and fresh.valid()
    np.testing.assert_array_equal(fresh.forward(X), model.forward(X))
    assert _infer.cached_plan(model) is fresh


@requires_c
def test_bad_input_gets_the_models_errors(c_backend):
    model = fastmlp.MLP([4, 5, 3], seed=0)
    plan = _infer.build_inference_plan(model)
    for X in (np.ones((2, 5), np.float32), np.ones(4, np.float32), np.zeros((0, 4), np.float32),
              np.array([[1.0, np.nan, 0, 0]], np.float32), np.array([[np.inf, 0, 0, 0]]),
              np.array([["a", "b", "c", "d"]])):
        with pytest.raises((ValueError, TypeError)) as want:
            model.predict_proba(X)
        with pytest.raises(type(want.value), match=str(want.value)[:30].replace("(", r"\(").replace(")", r"\)")
                           .replace("[", r"\[").replace("]", r"\]")):
            plan.predict_proba(X)
    # converted inputs: lists, ints, float64, non-contiguous
    X = np.arange(24, dtype=np.float64).reshape(6, 4)[::2] / 10
    np.testing.assert_array_equal(plan.forward(X), model.forward(X))
    np.testing.assert_array_equal(plan.forward(X.tolist()), model.forward(np.asarray(X, np.float32)))


@requires_c
def test_no_plan_where_no_native_step(c_backend):
    pooled = fastmlp.Sequential([layers.MaxPool2d(2), layers.Flatten(), layers.Dense(4, 2)],
                                input_shape=(1, 4, 4))
    assert _infer.build_inference_plan(pooled) is None
    assert _infer.cached_plan(pooled) is None


def test_no_plan_on_the_reference_backend(reference_backend):
    assert _infer.build_inference_plan(fastmlp.MLP([4, 5, 3], seed=0)) is None
