"""Layers: forward(x, training=False) -> y and backward(grad_y) -> grad_x.

After ``backward``, ``layer.grads[name]`` holds the gradient of
``layer.params[name]`` (same shape, overwritten by every backward, never
accumulated). ``layer.params[name]`` is the live array: writing into it changes
the layer. Layers with parameters or randomness take ``dtype`` and ``seed``;
inside a ``Sequential`` the model's dtype and seed win (it calls
``_configure``).
"""
import math
import numbers

import numpy as np

from . import _config
from . import ops as _ops
from .init import get_initializer as _get_initializer

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


def _positive_int(value, name, owner):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}: {name} must be a positive int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value}")
    return int(value)


def _penalty_coef(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"Dense: {name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not (value >= 0 and np.isfinite(value)):
        raise ValueError(f"Dense: {name} must be finite and >= 0, got {value}")
    return value


def _buffer(cache, key, shape, dtype):
    """A reusable array of this shape and dtype from ``cache`` (allocated on first use)."""
    a = cache.get(key)
    if a is None or a.shape != shape or a.dtype != dtype:
        a = cache[key] = np.empty(shape, dtype)
    return a


class Dense(Layer):
    """Fully connected layer ``y = x @ W + b``.

    Parameters
    ----------
    in_features, out_features : int
        x is (N, in_features); ``W`` is (in_features, out_features), ``b`` (out_features,).
    bias : bool
        Whether the layer has ``b``.
    init : str or callable
        A name from ``fastmlp.init.INITIALIZERS`` (e.g. "he_normal", "xavier_normal")
        or ``f(shape, rng)``; ``b`` starts at zero.
    l1, l2 : float
        Penalty ``l1 * sum|W| + (l2/2) * sum W^2`` on the weights (not the bias);
        ``add_penalty()`` adds its gradient to ``grads["W"]`` and returns its value.
    dtype, seed
        Parameter dtype and the seed of the initialiser's generator.

    Attributes
    ----------
    fused_activation : activation layer, str or None
        Set by a model: the activation that follows this layer, computed inside the
        GEMM's epilogue (forward returns act(x @ W + b); backward takes dL/d act and
        applies the activation's gradient first). None by default.
    need_input_grad : bool
        When False (a model's first layer), backward skips dx and returns None.
    """

    def __init__(self, in_features, out_features, bias=True, init="he_normal", l1=0.0, l2=0.0,
                 dtype="float32", seed=None):
        super().__init__(dtype, seed)
        self.in_features = _positive_int(in_features, "in_features", "Dense")
        self.out_features = _positive_int(out_features, "out_features", "Dense")
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"Dense: bias must be a bool, got {type(bias).__name__}")
        self.bias = bool(bias)
        self.init = init
        self._init_fn = _get_initializer(init)
        self.l1 = _penalty_coef(l1, "l1")
        self.l2 = _penalty_coef(l2, "l2")
        self.fused_activation = None
        self.need_input_grad = True
        self._x = None
        self._y = None
        self._bufs = {}
        self.reset_parameters()

    def reset_parameters(self):
        rng = np.random.default_rng(self.seed)
        shape = (self.in_features, self.out_features)
        W = np.asarray(self._init_fn(shape, rng))
        if W.shape != shape:
            raise ValueError(f"Dense: initializer returned shape {W.shape}, expected {shape}")
        self.params = {"W": np.ascontiguousarray(W, dtype=self.dtype)}
        self.grads = {"W": np.zeros(shape, self.dtype)}
        if self.bias:
            self.params["b"] = np.zeros(self.out_features, self.dtype)
            self.grads["b"] = np.zeros(self.out_features, self.dtype)
        self._x = self._y = None
        self._bufs = {}

    def _activation(self):
        act = self.fused_activation
        if act is None:
            return "identity", 0.0
        if isinstance(act, str):
            return _ops.check_activation(act)
        return act.name, act.param

    def forward(self, x, training=False):
        x = _ops.check_float_array(x, "x")
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"Dense expected input of shape (N, {self.in_features}), got {x.shape}")
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        act, param = self._activation()
        shape = (x.shape[0], self.out_features)
        if training:
            y = _buffer(self._bufs, "y", shape, self.dtype)
            if np.may_share_memory(x, y):
                x = x.copy()
        else:
            y = np.empty(shape, self.dtype)
        # W and b are the layer's own arrays and x is checked above: straight to the kernel
        be = _config.backend()
        if act == "softmax":
            be.dense_forward(y, x, self.params["W"], self.params.get("b"), "identity", 0.0, _ops.threads())
            be.softmax_forward(y, y, _ops.threads())
        else:
            be.dense_forward(y, x, self.params["W"], self.params.get("b"), act, param, _ops.threads())
        self._x, self._y = x, y
        return y

    def backward(self, grad_y):
        if self._x is None:
            raise RuntimeError("Dense: backward called before forward")
        x = self._x
        n = x.shape[0]
        grad_y = _ops.check_float_array(grad_y, "grad_y", dtype=self.dtype)
        if grad_y.shape != (n, self.out_features):
            raise ValueError(f"Dense expected grad_y of shape ({n}, {self.out_features}), got {grad_y.shape}")
        act, param = self._activation()
        dx = _buffer(self._bufs, "dx", x.shape, self.dtype) if self.need_input_grad else None
        dz = _buffer(self._bufs, "dz", grad_y.shape, self.dtype) if act != "identity" else None
        if dx is not None and np.may_share_memory(grad_y, dx):
            grad_y = grad_y.copy()
        be = _config.backend()
        nt = _ops.threads()
        if act == "softmax":
            be.softmax_backward(dz, grad_y, self._y, nt)
            be.dense_backward(dx, self.grads["W"], self.grads.get("b"), None, dz, x, self.params["W"], None,
                              "identity", 0.0, nt)
        else:
            be.dense_backward(dx, self.grads["W"], self.grads.get("b"), dz, grad_y, x, self.params["W"],
                              self._y, act, param, nt)
        return dx

    def add_penalty(self):
        """Add the L1/L2 penalty's gradient to ``grads["W"]``; returns the penalty's value."""
        if self.l1 == 0 and self.l2 == 0:
            return 0.0
        return _ops.penalty(self.grads["W"], self.params["W"], self.l1, self.l2)

    def penalty(self):
        """The L1/L2 penalty's value ``l1 * sum|W| + (l2/2) * sum W^2`` (nothing changed)."""
        W = self.params["W"].astype(np.float64, copy=False)
        value = 0.0
        if self.l1:
            value += self.l1 * float(np.abs(W).sum())
        if self.l2:
            value += 0.5 * self.l2 * float((W * W).sum())
        return value

    def output_shape(self, input_shape):
        return (self.out_features,)

    def extra_repr(self):
        s = f"{self.in_features}, {self.out_features}"
        if not self.bias:
            s += ", bias=False"
        if self.l1:
            s += f", l1={self.l1}"
        if self.l2:
            s += f", l2={self.l2}"
        return s


class _Activation(Layer):
    """An activation without parameters; ``name``/``param`` are what ops and Dense's
    fused epilogue take. Backward uses the forward's output."""

    name = "identity"

    def __init__(self, param=0.0):
        super().__init__()
        self.param = param
        self._y = None
        self._bufs = {}

    def _configure(self, dtype, seed):
        self.dtype = as_dtype(dtype)
        self.seed = seed

    def forward(self, x, training=False):
        x = _ops.check_float_array(x, "x")
        if training:
            y = _buffer(self._bufs, "y", x.shape, x.dtype)  # x is y is fine: element/row-wise
        else:
            y = np.empty(x.shape, x.dtype)
        be = _config.backend()
        if self.name == "softmax":
            if x.ndim != 2:
                return self._softmax_nd(x, y)
            be.softmax_forward(y, x, _ops.threads())
        else:
            be.activation_forward(y, x, self.name, self.param, _ops.threads())
        self._y = y
        return y

    def _softmax_nd(self, x, y):
        self._y = _ops.activation_forward(x, "softmax", out=y)
        return self._y

    def backward(self, grad_y):
        if self._y is None:
            raise RuntimeError(f"{type(self).__name__}: backward called before forward")
        y = self._y
        grad_y = _ops.check_float_array(grad_y, "grad_y", dtype=y.dtype)
        if grad_y.shape != y.shape:
            raise ValueError(f"{type(self).__name__} expected grad_y of shape {y.shape}, got {grad_y.shape}")
        out = _buffer(self._bufs, "dx", y.shape, y.dtype)
        if self.name == "softmax" and y.ndim != 2:
            return _ops.activation_backward(grad_y, y, "softmax", out=out)
        be = _config.backend()
        if self.name == "softmax":
            be.softmax_backward(out, grad_y, y, _ops.threads())
        else:
            be.activation_backward(out, grad_y, y, self.name, self.param, _ops.threads())
        return out


class ReLU(_Activation):
    """max(x, 0) element-wise (gradient 0 at x = 0)."""
    name = "relu"


class Sigmoid(_Activation):
    """1 / (1 + exp(-x)) element-wise, stable for any finite x."""
    name = "sigmoid"


class Tanh(_Activation):
    """tanh(x) element-wise."""
    name = "tanh"


class Softmax(_Activation):
    """exp(x - max) / sum exp(x - max) over the last axis."""
    name = "softmax"


class LeakyReLU(_Activation):
    """x if x > 0 else negative_slope * x (negative_slope >= 0, as in Keras)."""
    name = "leaky_relu"

    def __init__(self, negative_slope=0.01):
        _, slope = _ops.check_activation("leaky_relu", negative_slope)
        super().__init__(slope)
        self.negative_slope = slope

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class ELU(_Activation):
    """x if x > 0 else alpha * (exp(x) - 1) (alpha >= 0)."""
    name = "elu"

    def __init__(self, alpha=1.0):
        _, a = _ops.check_activation("elu", alpha)
        super().__init__(a)
        self.alpha = a

    def extra_repr(self):
        return f"alpha={self.alpha}"


ACTIVATION_LAYERS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "softmax": Softmax,
                     "leaky_relu": LeakyReLU, "elu": ELU}


# ------------------------------------------ BatchNorm, Dropout, pooling (layers)


def _input(x, dtype):
    """x as a checked float array in the layer's dtype (converted once if it came in another)."""
    x = _ops.check_float_array(x, "x")
    return x if x.dtype == dtype else x.astype(dtype)


class _Workspace:
    """Arrays a layer reuses from one training step to the next (same shape and
    dtype), so a training loop allocates nothing per step."""

    def __init__(self):
        self._arrays = {}

    def get(self, name, shape, dtype):
        a = self._arrays.get(name)
        if a is None or a.shape != tuple(shape) or a.dtype != dtype:
            a = np.empty(shape, dtype)
            self._arrays[name] = a
        return a


class BatchNorm(Layer):
    """Batch normalisation over the features of (N, num_features) inputs.

    Parameters
    ----------
    num_features : int
    momentum : float in [0, 1], default 0.1
        running = (1 - momentum) * running + momentum * batch_statistic.
    eps : float > 0, default 1e-5
        Added to the variance before the square root.

    Training normalises with the batch mean and biased variance and updates the
    buffers ``running_mean`` / ``running_var`` (unbiased variance), exactly as
    torch.nn.BatchNorm1d; inference uses the running statistics. Params ``gamma``
    (ones) and ``beta`` (zeros).
    """

    def __init__(self, num_features, momentum=0.1, eps=1e-5, dtype="float32", seed=None):
        if isinstance(num_features, bool) or not isinstance(num_features, numbers.Integral):
            raise TypeError(f"num_features must be a positive int, got {type(num_features).__name__}")
        if num_features < 1:
            raise ValueError(f"num_features must be a positive int, got {num_features}")
        momentum = _ops._scalar_arg(momentum, "momentum")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"Invalid momentum: {momentum} (expected a number in [0, 1])")
        eps = _ops._scalar_arg(eps, "eps")
        if not (eps > 0 and math.isfinite(eps)):
            raise ValueError(f"Invalid eps: {eps} (expected a positive finite number)")
        super().__init__(dtype, seed)
        self.num_features = int(num_features)
        self.momentum = momentum
        self.eps = eps
        self.reset_parameters()

    def reset_parameters(self):
        d, dt = self.num_features, self.dtype
        self.params = {"gamma": np.ones(d, dt), "beta": np.zeros(d, dt)}
        self.grads = {"gamma": np.zeros(d, dt), "beta": np.zeros(d, dt)}
        self.buffers = {"running_mean": np.zeros(d, dt), "running_var": np.ones(d, dt)}
        self.num_batches_tracked = 0
        self._ws = _Workspace()
        self._cache = None

    def _check(self, x):
        x = _input(x, self.dtype)
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm expected input of shape (N, {self.num_features}), got {x.shape}")
        return x

    def forward(self, x, training=False):
        x = self._check(x)
        p, b = self.params, self.buffers
        if training:
            if x.shape[0] < 2:
                raise ValueError(f"BatchNorm training needs more than 1 sample per feature, "
                                 f"got input of shape {x.shape}")
            self._check_state()
            ws, d = self._ws, x.shape[1]
            y = ws.get("y", x.shape, x.dtype)
            mean, rstd = ws.get("mean", (d,), x.dtype), ws.get("rstd", (d,), x.dtype)
            if np.may_share_memory(x, y):
                x = x.copy()
            # the layer's own arrays (checked above) and a checked x: straight to the kernel
            _config.backend().batchnorm_forward_train(
                y, mean, rstd, b["running_mean"], b["running_var"], x, p["gamma"], p["beta"],
                self.momentum, self.eps, _ops.threads())
            self.num_batches_tracked += 1
        else:
            y = _ops.batchnorm_forward_eval(x, p["gamma"], p["beta"], b["running_mean"], b["running_var"],
                                           self.eps)
            mean = b["running_mean"].copy()
            rstd = (1.0 / np.sqrt(b["running_var"].astype(np.float64) + self.eps)).astype(self.dtype)
        self._cache = (x, mean, rstd, bool(training))
        return y

    def backward(self, grad_y):
        if self._cache is None:
            raise RuntimeError("BatchNorm.backward called before forward")
        x, mean, rstd, training = self._cache
        grad_y = _input(grad_y, self.dtype)
        if grad_y.shape != x.shape:
            raise ValueError(f"BatchNorm.backward expected grad_y of shape {x.shape}, got {grad_y.shape}")
        self._check_state()
        gx = self._ws.get("grad_x", x.shape, x.dtype)
        if np.may_share_memory(grad_y, gx):
            grad_y = grad_y.copy()
        _config.backend().batchnorm_backward(gx, self.grads["gamma"], self.grads["beta"], grad_y, x, mean,
                                             rstd, self.params["gamma"], training, _ops.threads())
        return gx

    def _check_state(self):
        """params, grads and buffers still the layer's own kind of array (a user may
        have replaced one): checked before they reach the kernel directly."""
        shape = (self.num_features,)
        for group in (self.params, self.grads, self.buffers):
            for name in ("gamma", "beta") if group is not self.buffers else ("running_mean", "running_var"):
                a = group.get(name)
                if not (isinstance(a, np.ndarray) and a.dtype == self.dtype and a.shape == shape
                        and a.flags.c_contiguous and a.flags.aligned and a.flags.writeable):
                    raise ValueError(f"BatchNorm: {name} must be a writeable C-contiguous {self.dtype} "
                                     f"array of shape {shape}")

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def extra_repr(self):
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}"


class Dropout(Layer):
    """Inverted dropout: in training each element is zeroed with probability ``p``
    and survivors are scaled by 1 / (1 - p); identity at inference.

    The mask comes from Philox4x32-10 keyed by (seed, call counter, element index):
    every training forward draws a fresh mask (the counter advances), the masks are
    reproducible from ``seed`` and do not depend on the thread count. ``seed=None``
    draws a random seed once.
    """

    def __init__(self, p=0.5, dtype="float32", seed=None):
        p = _ops._scalar_arg(p, "p")
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout probability p must lie in [0, 1), got {p}")
        super().__init__(dtype, seed)
        self.p = p
        self.reset_parameters()

    def reset_parameters(self):
        if self.seed is None:
            self._seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
        else:
            self._seed = int(self.seed) & ((1 << 64) - 1)
        self.calls = 0
        self._ws = _Workspace()
        self._mask = None
        self._forwarded = False

    def forward(self, x, training=False):
        x = _ops.check_float_array(x, "x")
        self._forwarded = True
        if not training or self.p == 0.0:
            self._mask = None
            return x
        y = self._ws.get("y", x.shape, x.dtype)
        mask = self._ws.get("mask", x.shape, np.dtype(np.uint8))
        if np.may_share_memory(x, y):
            x = x.copy()
        # checked x and the layer's own outputs: straight to the kernel
        _config.backend().dropout_forward(y, mask, x, self.p, self._seed, self.calls, _ops.threads())
        self._mask = mask
        self.calls += 1
        return y

    def backward(self, grad_y):
        if not self._forwarded:
            raise RuntimeError("Dropout.backward called before forward")
        grad_y = _ops.check_float_array(grad_y, "grad_y")
        if self._mask is None:
            return grad_y
        if grad_y.shape != self._mask.shape:
            raise ValueError(f"Dropout.backward expected grad_y of shape {self._mask.shape}, got {grad_y.shape}")
        gx = self._ws.get("grad_x", grad_y.shape, grad_y.dtype)
        if np.may_share_memory(grad_y, gx) and grad_y is not gx:
            grad_y = grad_y.copy()
        _config.backend().dropout_backward(gx, grad_y, self._mask, self.p, _ops.threads())
        return gx

    def extra_repr(self):
        return f"p={self.p}"


class _Pool2d(Layer):
    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size = _ops._pair(kernel_size, "kernel_size")
        self.stride = _ops._pair(stride, "stride", allow_none=True) or self.kernel_size
        self._input_shape = None
        self._ws = _Workspace()

    def _outputs(self, x, training, *names):
        """Reused output arrays in training (a step allocates nothing); fresh ones at
        inference, so results the caller keeps are never overwritten."""
        if not training:
            return (None,) * len(names)
        shape, _ = _ops.pool_output_shape(x.shape, self.kernel_size, self.stride)
        return tuple(self._ws.get(n, shape, np.dtype(np.int32) if n == "argmax" else x.dtype) for n in names)

    def _check(self, x):
        x = _ops.check_float_array(x, "x")
        if x.ndim != 4:
            raise ValueError(f"{type(self).__name__} expected a 4-D input (N, C, H, W), got shape {x.shape}")
        return x

    def output_shape(self, input_shape):
        shape, _ = _ops.pool_output_shape((1,) + tuple(input_shape), self.kernel_size, self.stride)
        return shape[1:]

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class MaxPool2d(_Pool2d):
    """Max pooling over (N, C, H, W), no padding, stride defaulting to kernel_size;
    backward routes each window's gradient to its first maximum (accumulating where
    windows overlap). NaN propagates as in numpy's max."""

    def forward(self, x, training=False):
        x = self._check(x)
        out, argmax = self._outputs(x, training, "y", "argmax")
        y, self._argmax = _ops.maxpool2d_forward(x, self.kernel_size, self.stride, out=out, argmax=argmax)
        self._input_shape = x.shape
        self._training = training
        return y

    def backward(self, grad_y):
        if self._input_shape is None:
            raise RuntimeError("MaxPool2d.backward called before forward")
        grad_y = _ops.check_float_array(grad_y, "grad_y")
        out = self._ws.get("grad_x", self._input_shape, grad_y.dtype) if self._training else None
        return _ops.maxpool2d_backward(grad_y, self._argmax, self._input_shape, out=out)


class AvgPool2d(_Pool2d):
    """Average pooling over (N, C, H, W), no padding, stride defaulting to kernel_size;
    backward spreads each window's gradient evenly over it."""

    def forward(self, x, training=False):
        x = self._check(x)
        (out,) = self._outputs(x, training, "y")
        y = _ops.avgpool2d_forward(x, self.kernel_size, self.stride, out=out)
        self._input_shape = x.shape
        self._training = training
        return y

    def backward(self, grad_y):
        if self._input_shape is None:
            raise RuntimeError("AvgPool2d.backward called before forward")
        grad_y = _ops.check_float_array(grad_y, "grad_y")
        out = self._ws.get("grad_x", self._input_shape, grad_y.dtype) if self._training else None
        return _ops.avgpool2d_backward(grad_y, self._input_shape, self.kernel_size, self.stride, out=out)


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...), a view; backward restores the shape."""

    def __init__(self):
        super().__init__()
        self._input_shape = None

    def forward(self, x, training=False):
        x = _ops.check_float_array(x, "x")
        if x.ndim < 1:
            raise ValueError("Flatten expected an input of shape (N, ...), got a 0-D array")
        self._input_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_y):
        if self._input_shape is None:
            raise RuntimeError("Flatten.backward called before forward")
        grad_y = _ops.check_float_array(grad_y, "grad_y")
        return grad_y.reshape(self._input_shape)

    def output_shape(self, input_shape):
        return (int(np.prod(input_shape, dtype=np.int64)),)
