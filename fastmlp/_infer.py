"""Inference without a Python call per layer.

``build_inference_plan(model)`` turns a Sequential of Dense (with the activation
after it fused, as the model fuses it), activation, BatchNorm (eval), Dropout
(identity in eval) and Flatten (2-D input) layers into one native chain
(csrc/infer.c): ``plan.forward(X)`` / ``plan.predict_proba(X)`` run every layer
for the whole batch in one GIL-free call, with the model's own kernels, so each
row comes out bit for bit as ``model.forward(X)`` gives it.

The plan points at the layers' parameter and buffer arrays, so it follows
training and ``load_state_dict`` (which write those arrays in place) for free;
``plan.valid()`` turns False when an array was replaced by another object (a
reset, a dtype change), and ``cached_plan(model)`` then builds a new one.

How the model uses it (fastmlp/model.py)::

    out = _infer.run(self, X)                # predict_proba; run(self, X, False): raw outputs
    if out is not None:                      # None: unsupported, use the layers
        return out

Bad X (wrong shape, non-finite values, ...) gets the model's own errors: the
plan takes the fast path only for C-contiguous 2-D arrays of the model's dtype
and otherwise hands X to ``model._check_X`` first.
"""
import weakref

import numpy as np

from . import _config
from . import layers as _layers
from . import losses as _losses

__all__ = ["build_inference_plan", "cached_plan", "run", "InferencePlan"]


def _steps(model):
    """(specs, checks, d_in, d_out) of the model's eval forward, or None."""
    shape = model.input_shape
    if shape is None or len(shape) != 1:
        return None
    width = int(shape[0])
    d_in = width
    specs, checks = [], []
    layers = model.layers
    i = 0
    while i < len(layers):
        layer = layers[i]
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, _layers.Dense):
            if layer.in_features != width:
                return None
            arrays = {"W": layer.params["W"]}
            checks.append((layer, "params", "W", layer.params["W"]))
            if "b" in layer.params:
                arrays["b"] = layer.params["b"]
            checks.append((layer, "params", "b", layer.params.get("b")))
            act, param = "identity", 0.0
            if isinstance(nxt, _layers._Activation) and nxt.name != "softmax":
                act, param = nxt.name, float(nxt.param)
                i += 1
            specs.append(("dense", width, layer.out_features, arrays, act, param))
            width = layer.out_features
        elif isinstance(layer, _layers._Activation):
            if layer.name == "softmax":
                specs.append(("softmax", width, width, {}, "identity", 0.0))
            elif layer.name != "identity":
                specs.append(("act", width, width, {}, layer.name, float(layer.param)))
        elif isinstance(layer, _layers.BatchNorm):
            if layer.num_features != width:
                return None
            p, b = layer.params, layer.buffers
            arrays = {"gamma": p["gamma"], "beta": p["beta"], "mean": b["running_mean"],
                      "var": b["running_var"]}
            checks += [(layer, "params", "gamma", p["gamma"]), (layer, "params", "beta", p["beta"]),
                       (layer, "buffers", "running_mean", b["running_mean"]),
                       (layer, "buffers", "running_var", b["running_var"])]
            specs.append(("batchnorm", width, width, arrays, "identity", float(layer.eps)))
        elif isinstance(layer, (_layers.Dropout, _layers.Flatten)):
            pass  # identity at inference on (N, features)
        else:
            return None
        i += 1
    dtype = model.dtype
    for _, _, _, a in checks:
        if a is None:
            continue
        if not (isinstance(a, np.ndarray) and a.dtype == dtype and a.flags.c_contiguous and a.flags.aligned):
            return None
    return specs, checks, d_in, width


def build_inference_plan(model):
    """An InferencePlan for ``model``, or None when the compiled backend is not
    in use or a layer has no native inference step."""
    kernels = _config._kernels
    if kernels is None or _config.backend() is not kernels or not hasattr(kernels, "InferChain"):
        return None
    found = _steps(model)
    if found is None:
        return None
    specs, checks, d_in, d_out = found
    return InferencePlan(model, specs, checks, d_in, d_out)


class InferencePlan:
    """The model's eval forward as one native call (see the module docstring)."""

    def __init__(self, model, specs, checks, d_in, d_out):
        kernels = _config._kernels
        is_f64 = model.dtype == np.float64
        self.dtype = model.dtype
        self.d_in, self.d_out = d_in, d_out
        self._model = weakref.ref(model)
        self.key = _key(model)
        self._checks = tuple(checks)
        self._kernels = kernels
        self._identity = not specs
        self._forward = kernels.InferChain(specs, is_f64) if specs else None
        self._softmax = kernels.InferChain(specs + [("softmax", d_out, d_out, {}, "identity", 0.0)], is_f64)
        self._sigmoid = kernels.InferChain(specs + [("act", d_out, d_out, {}, "sigmoid", 0.0)], is_f64)

    def valid(self):
        """False once a layer's array was replaced by another object."""
        return _config._backend_module is self._kernels and self._kernels.same_arrays(self._checks)

    def __reduce__(self):  # a plan holds native pointers: pickles as None
        return (type(None), ())

    def _run(self, chain, X):
        model = self._model()
        if not (type(X) is np.ndarray and X.dtype == self.dtype and X.ndim == 2
                and X.shape[1] == self.d_in and X.shape[0] > 0 and X.flags.c_contiguous and X.flags.aligned):
            X = model._check_X(X)
        if chain is None:  # nothing but identities
            model._check_X(X)
            return X.copy()
        out = np.empty((X.shape[0], self.d_out), self.dtype)
        with model._step_lock:
            rc = chain.run(out, X, _config.get_num_threads())
        return out if rc == 0 else self._failed(model, X, rc)

    @staticmethod
    def _failed(model, X, rc):
        if rc == -2:
            model._check_X(X)  # raises the model's message for NaN/Inf
            raise ValueError("X contains non-finite values")
        raise MemoryError("fastmlp: cannot allocate the inference workspace")

    def forward(self, X):
        """The network's raw outputs for X (as ``model.forward(X)``)."""
        return self._run(self._forward, X)

    def predict_proba(self, X):
        """Softmax of the outputs (sigmoid after a BCEWithLogits loss), as
        ``model.predict_proba``."""
        model = self._model()
        chain = self._sigmoid if isinstance(model.loss, _losses.BCEWithLogits) else self._softmax
        return self._run(chain, X)


def run(model, X, proba=True):
    """``model.predict_proba(X)`` (proba) or the raw outputs ``model.predict`` uses,
    through the model's plan; None when the model cannot have one. The common case
    (a current plan, X already an aligned C-contiguous 2-D array of the model's
    dtype) is one native call that checks the plan's arrays and X, allocates the
    output and runs the chain; anything else goes through cached_plan and the
    plan's checked path."""
    d = model.__dict__
    entry = d.get("_infer_plan")
    if type(entry) is InferencePlan and entry.key is d.get("_plan") and _config._backend_module is entry._kernels:
        if proba:
            chain = entry._sigmoid if isinstance(model.loss, _losses.BCEWithLogits) else entry._softmax
        else:
            chain = entry._forward
        if chain is not None:
            out = chain.predict(X, _config._num_threads or _config.get_num_threads(), model._step_lock,
                                entry._checks)
            if out is not None:
                return out if type(out) is not int else entry._failed(model, X, out)
    plan = cached_plan(model)
    if plan is None:
        return None
    return plan.predict_proba(X) if proba else plan.forward(X)


class _NoPlan:
    """What cached_plan remembers for a model that cannot have a plan."""

    def __init__(self, key):
        self.key = key

    def __reduce__(self):  # pickled or deep-copied models rebuild their plan
        return (type(None), ())


def _key(model):
    # the model rebuilds its layer plan (fusions) whenever its structure changes
    return model.__dict__.get("_plan")


def cached_plan(model):
    """The model's plan, built on first use and rebuilt once stale; None when
    the model cannot use one (re-checked when its layers or the backend change).
    Kept in the model's ``_infer_plan`` attribute, which pickles as None."""
    entry = model.__dict__.get("_infer_plan")
    if entry is not None and entry.key is model.__dict__.get("_plan"):
        if type(entry) is _NoPlan:
            if entry.backend is _config._backend_module:
                return None
        elif entry.valid():
            return entry
    plan = build_inference_plan(model)
    entry = plan if plan is not None else _NoPlan(_key(model))
    entry.backend = _config._backend_module
    model._infer_plan = entry
    return plan
