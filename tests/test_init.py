"""Initialisers: shapes, the usual fan-in/fan-out variances (statistically), bounds
of the uniform ones, lookup by name, and Dense's use of them."""
import numpy as np
import pytest

from fastmlp import init, layers

SHAPE = (400, 300)  # 120000 draws: the sample variance is within ~1.3% (3 sigma)
FAN_IN, FAN_OUT = SHAPE
EXPECTED_VAR = {
    "xavier_uniform": 2 / (FAN_IN + FAN_OUT),
    "xavier_normal": 2 / (FAN_IN + FAN_OUT),
    "he_uniform": 2 / FAN_IN,
    "he_normal": 2 / FAN_IN,
    "lecun_normal": 1 / FAN_IN,
}


@pytest.mark.parametrize("name", sorted(EXPECTED_VAR))
def test_variance_and_mean(rng, name):
    w = init.get_initializer(name)(SHAPE, rng)
    assert w.shape == SHAPE
    var = EXPECTED_VAR[name]
    assert w.var() == pytest.approx(var, rel=0.03)
    assert abs(w.mean()) < 5 * np.sqrt(var / w.size)


@pytest.mark.parametrize("name,bound", [("xavier_uniform", np.sqrt(6 / (FAN_IN + FAN_OUT))),
                                        ("he_uniform", np.sqrt(6 / FAN_IN))])
def test_uniform_bounds(rng, name, bound):
    w = init.get_initializer(name)(SHAPE, rng)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound


def test_zeros_and_normal(rng):
    assert not init.zeros((3, 2), rng).any()
    w = init.normal(0.5)(SHAPE, rng)
    assert w.std() == pytest.approx(0.5, rel=0.02)
    with pytest.raises(ValueError):
        init.normal(-1.0)


def test_same_generator_state_same_weights():
    a = init.he_normal((5, 4), np.random.default_rng(3))
    b = init.he_normal((5, 4), np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)


def test_get_initializer():
    assert init.get_initializer("glorot_uniform") is init.xavier_uniform
    assert init.get_initializer("kaiming_normal") is init.he_normal
    f = lambda shape, rng: np.ones(shape)
    assert init.get_initializer(f) is f
    with pytest.raises(ValueError, match="glorot_banana"):
        init.get_initializer("glorot_banana")
    with pytest.raises(TypeError):
        init.get_initializer(3)


@pytest.mark.parametrize("name", sorted(init.INITIALIZERS))
def test_dense_uses_initializer(name):
    d = layers.Dense(300, 200, init=name, seed=0)
    W = d.params["W"]
    assert W.dtype == np.float32 and W.shape == (300, 200)
    want = init.get_initializer(name)((300, 200), np.random.default_rng(0)).astype(np.float32)
    np.testing.assert_array_equal(W, want)
    assert not d.params["b"].any()


def test_dense_custom_initializer_and_errors():
    d = layers.Dense(3, 2, init=lambda shape, rng: np.full(shape, 0.5))
    np.testing.assert_array_equal(d.params["W"], np.full((3, 2), 0.5, np.float32))
    with pytest.raises(ValueError):
        layers.Dense(3, 2, init=lambda shape, rng: np.zeros((2, 3)))
    with pytest.raises(ValueError):
        layers.Dense(3, 2, init="glorot_banana")
