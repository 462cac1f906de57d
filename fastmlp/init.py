"""Initialisers: each is ``f(shape, rng) -> ndarray`` (float64; layers cast to their dtype).

``shape`` is a weight's shape, (fan_in, fan_out) for a Dense ``W`` of shape
(in, out) (a 1-D shape has fan_in = fan_out = its length); ``rng`` is a
``numpy.random.Generator``. Variances are the usual ones:

==================  ==========================================
``zeros``           0
``normal(std)``     N(0, std^2)
``xavier_uniform``  U(-a, a), a = sqrt(6 / (fan_in + fan_out))  (Glorot)
``xavier_normal``   N(0, 2 / (fan_in + fan_out))
``he_uniform``      U(-a, a), a = sqrt(6 / fan_in)             (Kaiming, ReLU gain)
``he_normal``       N(0, 2 / fan_in)
``lecun_normal``    N(0, 1 / fan_in)
==================  ==========================================
"""
import math

import numpy as np

__all__ = ["zeros", "normal", "xavier_uniform", "xavier_normal", "he_uniform", "he_normal",
           "lecun_normal", "get_initializer", "INITIALIZERS"]


def _fans(shape):
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[2:])
    return shape[0] * receptive, shape[1] * receptive


def zeros(shape, rng=None):
    """All zeros."""
    return np.zeros(shape)


def normal(std=0.01):
    """An initialiser drawing N(0, std^2) (``normal(std)(shape, rng)``)."""
    std = float(std)
    if not (std >= 0 and math.isfinite(std)):
        raise ValueError(f"normal: std must be finite and >= 0, got {std}")

    def init(shape, rng):
        return rng.normal(0.0, std, size=shape)

    init.__name__ = f"normal({std})"
    return init


def xavier_uniform(shape, rng):
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)): variance 2 / (fan_in + fan_out)."""
    fan_in, fan_out = _fans(shape)
    a = math.sqrt(6.0 / max(fan_in + fan_out, 1))
    return rng.uniform(-a, a, size=shape)


def xavier_normal(shape, rng):
    """N(0, 2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape)
    return rng.normal(0.0, math.sqrt(2.0 / max(fan_in + fan_out, 1)), size=shape)


def he_uniform(shape, rng):
    """U(-a, a) with a = sqrt(6 / fan_in): variance 2 / fan_in."""
    fan_in, _ = _fans(shape)
    a = math.sqrt(6.0 / max(fan_in, 1))
    return rng.uniform(-a, a, size=shape)


def he_normal(shape, rng):
    """N(0, 2 / fan_in)."""
    fan_in, _ = _fans(shape)
    return rng.normal(0.0, math.sqrt(2.0 / max(fan_in, 1)), size=shape)


def lecun_normal(shape, rng):
    """N(0, 1 / fan_in)."""
    fan_in, _ = _fans(shape)
    return rng.normal(0.0, math.sqrt(1.0 / max(fan_in, 1)), size=shape)


INITIALIZERS = {
    "zeros": zeros,
    "normal": normal(0.01),
    "xavier_uniform": xavier_uniform,
    "glorot_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "glorot_normal": xavier_normal,
    "he_uniform": he_uniform,
    "kaiming_uniform": he_uniform,
    "he_normal": he_normal,
    "kaiming_normal": he_normal,
    "lecun_normal": lecun_normal,
}


def get_initializer(init):
    """The initialiser for a name in INITIALIZERS, or ``init`` itself if callable."""
    if callable(init):
        return init
    if isinstance(init, str) and init in INITIALIZERS:
        return INITIALIZERS[init]
    if isinstance(init, str):
        raise ValueError(f"Unknown initializer {init!r}; expected one of {tuple(INITIALIZERS)} or a callable")
    raise TypeError(f"init must be a name or a callable f(shape, rng), got {type(init).__name__}")
