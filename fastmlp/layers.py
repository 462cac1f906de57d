"""Layers: forward(x, training=False) -> y and backward(grad_y) -> grad_x.

After ``backward``, ``layer.grads[name]`` holds the gradient of
``layer.params[name]`` (same shape, overwritten by every backward, never
accumulated). ``layer.params[name]`` is the live array: writing into it changes
the layer. Layers with parameters or randomness take ``dtype`` and ``seed``;
inside a ``Sequential`` the model's dtype and seed win (it calls
``_configure``).
"""
import numpy as np

DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}


def as_dtype(dtype):
    """The np.dtype for "float32"/"float64" (or their numpy types); anything else is refused."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from exc
    if dt not in DTYPES.values():
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return dt


class Layer:
    """Base class. Subclasses set ``params``/``grads`` (and ``buffers`` for state
    that is saved but not trained, like BatchNorm's running statistics)."""

    def __init__(self, dtype="float32", seed=None):
        self.dtype = as_dtype(dtype)
        self.seed = seed
        self.params = {}
        self.grads = {}
        self.buffers = {}

    def _configure(self, dtype, seed):
        """Adopt a model's dtype and seed: re-create parameters and buffers."""
        self.dtype = as_dtype(dtype)
        self.seed = seed
        self.reset_parameters()

    def reset_parameters(self):
        """(Re)initialise parameters and buffers from ``self.seed`` in ``self.dtype``."""

    def forward(self, x, training=False):
        raise NotImplementedError

    def backward(self, grad_y):
        raise NotImplementedError

    def output_shape(self, input_shape):
        """Shape of one sample's output given one sample's input shape."""
        return tuple(input_shape)

    def extra_repr(self):
        return ""

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"

    def __call__(self, x, training=False):
        return self.forward(x, training=training)


# ----------------------------------------------- Dense and activations (layers)

# ------------------------------------------ BatchNorm, Dropout, pooling (layers)
