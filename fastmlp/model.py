"""Models: ``Sequential`` (a list of layers) and ``MLP`` (the course's network),
with ``fit``/``predict``/``evaluate``, diagnostics, and ``save``/``load``.

Training follows one path for every option: the data are checked and
converted to the model's dtype once, mini-batches are gathered into buffers
allocated once per ``fit``, each Dense layer computes the activation that
follows it in its GEMM epilogue, and one ``optimizer.step`` call updates every
parameter.
"""
import inspect
import json
import math
import numbers
import os
import tempfile
import threading
import time
import warnings
import zipfile

import numpy as np

from . import _config, _infer, _plan
from . import callbacks as _callbacks
from . import layers as _layers
from . import losses as _losses
from . import ops as _ops
from . import optim as _optim
from ._version import __version__

FORMAT_VERSION = 1
PREDICT_CHUNK = 4096
STATS_ROWS = 1000

# MLP activation names -> layer class names (None: no activation layer)
ACTIVATIONS = {"relu": "ReLU", "leaky_relu": "LeakyReLU", "elu": "ELU", "sigmoid": "Sigmoid",
               "tanh": "Tanh", "identity": None, "linear": None}
OPTIMIZERS = {"sgd": "SGD", "adagrad": "Adagrad", "rmsprop": "RMSprop", "adam": "Adam", "adamw": "AdamW"}
_DEFAULT_INIT = {"sigmoid": "xavier_normal", "tanh": "xavier_normal", "identity": "xavier_normal",
                 "linear": "xavier_normal"}


# ------------------------------------------------------------------ checks

def _is_activation(layer):
    return isinstance(layer, _layers._Activation)


def _nonneg_real(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be finite and >= 0, got {value}")
    return value


def _positive_or_none(value, name):
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating)):
        raise TypeError(f"{name} must be a positive number or None, got {type(value).__name__}")
    value = float(value)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive finite number or None, got {value}")
    return value


def _int_arg(value, name, low):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value}")
    return int(value)


def _numeric_array(a, name):
    """a as an ndarray of real numbers (no strings, objects, complex or bools)."""
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers, got {type(a).__name__}") from exc
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers (float or int), got dtype {arr.dtype}")
    return arr


def _all_finite(arr):
    # one pass at memory speed, no temporary the size of the data
    # (np.isfinite(X).all() cost more than an epoch of training; min() and max() read X twice)
    if arr.dtype.kind != "f" or arr.size == 0:
        return True
    if arr.dtype in _ops.FLOAT_DTYPES and arr.flags.c_contiguous and arr.flags.aligned:
        return _ops.all_finite(arr)
    # other float dtypes and layouts: min and max propagate NaN and expose Inf
    return bool(np.isfinite(arr.min()) and np.isfinite(arr.max()))


def _check_finite(arr, name):
    if not _all_finite(arr):
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(arr.size - n_nan - np.isfinite(arr).sum())
        raise ValueError(f"{name} contains non-finite values: {n_nan} NaN and {n_inf} Inf")


class _FitUndo:
    """Copies of what fit changes in its first epoch (the model's attributes, its
    arrays and layer counters, the optimizer's attributes and state), to put back
    when that epoch finds NaN or Inf in X: fit then raises as if it had checked X
    before changing anything (see Sequential._defers_finite_check)."""

    def __init__(self, model, optimizer):
        self.model, self.optimizer = model, optimizer
        self.attrs = {k: getattr(model, k) for k in ("loss", "optimizer", "stop_training", "epochs_trained")}
        arrays = model.parameters() + model.gradients()
        arrays += [b for layer in model.layers for b in layer.buffers.values()]
        self.arrays = [(a, a.copy()) for a in arrays]
        self.layer_attrs = [(layer, dict(vars(layer))) for layer in model.layers]
        self.opt_attrs = dict(vars(optimizer))
        state = optimizer.state
        self.opt_state = None if state is None else [{k: (a, a.copy()) for k, a in s.items()} for s in state]

    def restore(self):
        with self.model._step_lock:  # predict in another thread sees before or after
            for k, v in self.attrs.items():
                setattr(self.model, k, v)
            for a, copy in self.arrays:
                np.copyto(a, copy)
            for obj, attrs in self.layer_attrs + [(self.optimizer, self.opt_attrs)]:
                for k in set(vars(obj)) - set(attrs):
                    delattr(obj, k)
                vars(obj).update(attrs)
            if self.opt_state is not None:  # the same arrays (the optimizer's plan points at them)
                for s in self.opt_state:
                    for a, copy in s.values():
                        np.copyto(a, copy)
                self.optimizer.state = [{k: a for k, (a, _) in s.items()} for s in self.opt_state]


# ----------------------------------------------------------------- Sequential

class Sequential:
    """A stack of layers trained end to end.

    Parameters
    ----------
    layers : list of Layer
    dtype : "float32" or "float64"
        Every layer's parameters and every computation use it; inputs of another
        dtype are converted once per call.
    seed : int, optional
        Seeds every layer (initialisation, dropout masks), the per-epoch shuffle and
        the diagnostics' sample; drawn at random when None (kept in ``model.seed``).
    input_shape : tuple, optional
        One sample's shape; inferred from the first layer when it is Dense or BatchNorm.
    """

    def __init__(self, layers, dtype="float32", seed=None, input_shape=None):
        layers = list(layers)
        if not layers:
            raise ValueError("Sequential needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, _layers.Layer):
                raise TypeError(f"layer {i} must be a fastmlp.layers.Layer, got {type(layer).__name__}")
        self.dtype = _layers.as_dtype(dtype)
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, np.uint32)[0])
        self.seed = _int_arg(seed, "seed", 0)
        self.layers = layers
        for i, layer in enumerate(layers):
            layer._configure(self.dtype, self._layer_seed(i))
        self.input_shape = tuple(input_shape) if input_shape is not None else self._infer_input_shape()
        self.loss = None
        self.optimizer = None
        self.stop_training = False
        self.epochs_trained = 0
        self._fit_lock = threading.Lock()
        self._step_lock = threading.RLock()
        self._build_plan()

    def __getstate__(self):
        # pickling and copy.deepcopy: everything but the locks; the optimizer travels
        # as (class, constructor arguments, state_dict) since it may hold native plans
        state = self.__dict__.copy()
        del state["_fit_lock"], state["_step_lock"]
        opt = state.pop("optimizer")
        state["_optimizer_spec"] = None if opt is None else (type(opt), _init_config(opt), opt.state_dict())
        return state

    def __setstate__(self, state):
        spec = state.pop("_optimizer_spec", None)
        self.__dict__.update(state)
        self.optimizer = None
        if spec is not None:
            cls, config, opt_state = spec
            self.optimizer = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})
            self.optimizer.load_state_dict(opt_state)
        self._fit_lock = threading.Lock()
        self._step_lock = threading.RLock()

    # ------------------------------------------------------------ structure
    def _layer_seed(self, i):
        return int(np.random.SeedSequence([self.seed, i]).generate_state(1, np.uint32)[0])

    def _infer_input_shape(self):
        first = self.layers[0]
        if isinstance(first, _layers.Dense):
            return (first.in_features,)
        if isinstance(first, _layers.BatchNorm):
            return (first.num_features,)
        return None

    def _build_plan(self):
        """Fuse each activation into the Dense layer before it; the plan is the
        layers that run, each with the name its output is recorded under."""
        for layer in self.layers:
            if isinstance(layer, _layers.Dense):
                layer.fused_activation = None
                layer.need_input_grad = True
        plan = []
        i = 0
        while i < len(self.layers):
            layer = self.layers[i]
            nxt = self.layers[i + 1] if i + 1 < len(self.layers) else None
            if isinstance(layer, _layers.Dense) and nxt is not None and _is_activation(nxt) \
                    and not isinstance(nxt, _layers.Softmax):
                layer.fused_activation = nxt
                plan.append((layer, self._name(i + 1)))
                i += 2
                continue
            plan.append((layer, self._name(i) if _is_activation(layer) else None))
            i += 1
        if isinstance(plan[0][0], _layers.Dense):
            plan[0][0].need_input_grad = False
        self._plan = plan
        self._dense = [layer for layer in self.layers if isinstance(layer, _layers.Dense)]
        self._has_batchnorm = any(isinstance(layer, _layers.BatchNorm) for layer in self.layers)

    def _name(self, i):
        return f"{i}:{type(self.layers[i]).__name__}"

    @property
    def output_shape(self):
        shape = self.input_shape
        if shape is None:
            for layer in reversed(self.layers):
                if isinstance(layer, _layers.Dense):
                    return (layer.out_features,)
            return None
        for layer in self.layers:
            shape = tuple(layer.output_shape(shape))
        return shape

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __repr__(self):
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"{type(self).__name__}(dtype={self.dtype.name}, seed={self.seed}){inner}\n"

    def count_params(self):
        return int(sum(p.size for p in self.parameters()))

    def summary(self, file=None):
        """Print one line per layer with its output shape and parameter count."""
        import sys

        out = file if file is not None else sys.stdout
        shape = self.input_shape
        print(f"{'layer':<28}{'output':<16}{'params':>10}", file=out)
        for i, layer in enumerate(self.layers):
            shape = tuple(layer.output_shape(shape)) if shape is not None else None
            n = sum(p.size for p in layer.params.values())
            print(f"{f'{i}: {layer!r}':<28}{str(('N',) + shape) if shape else '?':<16}{n:>10}", file=out)
        print(f"total parameters: {self.count_params()}", file=out)

    # -------------------------------------------------------- parameters
    def parameters(self):
        """The live parameter arrays, layer by layer (the optimizer's order)."""
        return [p for layer in self.layers for p in layer.params.values()]

    def gradients(self):
        """The gradient arrays aligned with ``parameters()`` (valid after backward)."""
        return [layer.grads[k] for layer in self.layers for k in layer.params]

    def _named_arrays(self):
        for i, layer in enumerate(self.layers):
            for k, v in layer.params.items():
                yield f"layers.{i}.{k}", v
            for k, v in layer.buffers.items():
                yield f"layers.{i}.{k}", v

    def state_dict(self):
        """Copies of every parameter and buffer, keyed "layers.<i>.<name>"."""
        return {name: arr.copy() for name, arr in self._named_arrays()}

    def load_state_dict(self, state):
        """Copy arrays into the live parameters and buffers (all checked first)."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict of arrays, got {type(state).__name__}")
        targets = dict(self._named_arrays())
        missing = sorted(set(targets) - set(state))
        extra = sorted(set(state) - set(targets))
        if missing or extra:
            raise ValueError(f"state does not match the model: missing {missing}, unexpected {extra}")
        checked = {}
        for name, target in targets.items():
            arr = state[name]
            if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
                raise TypeError(f"state[{name!r}] must be a numeric array, got "
                                f"{getattr(arr, 'dtype', type(arr).__name__)}")
            if arr.shape != target.shape:
                raise ValueError(f"state[{name!r}] has shape {arr.shape}, the model expects {target.shape}")
            checked[name] = arr
        with self._step_lock:
            for name, target in targets.items():
                np.copyto(target, checked[name], casting="unsafe")

    # ------------------------------------------------------------ inputs
    def _check_X(self, X, name="X", finite=True):
        """X converted to the model's dtype, C-contiguous; finite=False leaves the
        NaN/Inf check to the caller (see _defers_finite_check)."""
        arr = _numeric_array(X, name)
        if arr.ndim < 2:
            raise ValueError(f"{name} must be a 2-D array (N, features), got shape {arr.shape}")
        if self.input_shape is not None and arr.shape[1:] != self.input_shape:
            expected = "(N, " + ", ".join(str(d) for d in self.input_shape) + ")"
            raise ValueError(f"{name}: the model expected input of shape {expected}, got {arr.shape}")
        if arr.shape[0] == 0:
            raise ValueError(f"{name} is empty: shape {arr.shape}")
        converted = np.ascontiguousarray(arr, dtype=self.dtype)
        if finite and not _all_finite(converted):
            self._raise_nonfinite(arr, converted, name)
        return converted

    def _raise_nonfinite(self, arr, converted, name="X"):
        # name the culprit: the data itself, or its conversion (1e300 -> float32 inf)
        _check_finite(arr, name)
        _check_finite(converted, f"{name} (converted to {self.dtype.name})")
        raise ValueError(f"{name} contains non-finite values")  # a check above raised already

    def _n_outputs(self):
        shape = self.output_shape
        return int(np.prod(shape)) if shape else None

    def _check_y(self, y, n, loss, name="y"):
        arr = _numeric_array(y, name)
        if len(arr) != n:
            raise ValueError(f"X and {name} have different lengths: {n} and {len(arr)}")
        n_out = self._n_outputs()
        if isinstance(loss, _losses.SoftmaxCrossEntropy) and arr.ndim == 1:
            if arr.dtype.kind == "f":
                _check_finite(arr, name)
                if np.any(arr != np.round(arr)):
                    raise ValueError(f"{name}: class labels must be integers for {type(loss).__name__}")
            arr = arr.astype(np.int64)
            if n_out is not None and (arr.min() < 0 or arr.max() >= n_out):
                raise ValueError(f"{name}: labels must lie in [0, {n_out}) for a model with {n_out} outputs, "
                                 f"got values in range [{arr.min()}, {arr.max()}]")
            return arr
        _check_finite(arr, name)
        arr = np.ascontiguousarray(arr, dtype=self.dtype)
        if arr.ndim == 1 and n_out == 1:
            arr = arr.reshape(-1, 1)
        if n_out is not None and arr.shape != (n, n_out):
            raise ValueError(f"{name} must have shape ({n}, {n_out}) for {type(loss).__name__}, got {arr.shape}")
        return arr

    def _resolve_loss(self, loss, y):
        if loss is None:
            if self.loss is not None:
                return self.loss
            kind = np.asarray(y).dtype.kind if isinstance(y, np.ndarray) else _numeric_array(y, "y").dtype.kind
            loss = "softmax_cross_entropy" if kind in "iu" else "mse"
        return _losses.get_loss(loss)

    @staticmethod
    def _resolve_optimizer(optimizer, current):
        if optimizer is None:
            return current if current is not None else _optim.Adam()
        if isinstance(optimizer, str):
            key = optimizer.lower()
            if key not in OPTIMIZERS:
                raise ValueError(f"Unknown optimizer {optimizer!r}; expected one of {tuple(OPTIMIZERS)}")
            if key == "sgd":  # SGD has no default lr in the contract; Keras's "sgd" means 0.01
                return _optim.SGD(lr=0.01)
            return getattr(_optim, OPTIMIZERS[key])()
        if not callable(getattr(optimizer, "step", None)):
            raise TypeError(f"optimizer must be a name or an object with step(params, grads), "
                            f"got {type(optimizer).__name__}")
        return optimizer

    # ------------------------------------------------------ forward/backward
    def _forward(self, x, training):
        for layer, _ in self._plan:
            x = layer.forward(x, training=training)
        return x

    def _backward(self, grad):
        for layer, _ in reversed(self._plan):
            grad = layer.backward(grad)
            if grad is None:
                break
        return grad

    def forward(self, x, training=False):
        """The network's raw output for a batch x (converted to the model's dtype)."""
        x = _ops.check_float_array(x, "x")
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        with self._step_lock:
            return self._forward(x, training)

    def backward(self, grad_output):
        """Backpropagate dL/d output of the last forward; fills every layer's grads.
        Returns dL/d input (None when the first layer is Dense, which skips it)."""
        with self._step_lock:
            return self._backward(grad_output)

    def _add_penalties(self, l1, l2):
        total = 0.0
        for layer in self._dense:
            a, b = layer.l1 + l1, layer.l2 + l2
            if a or b:
                total += _ops.penalty(layer.grads["W"], layer.params["W"], a, b)
        return total

    def train_step(self, x, y, loss=None, optimizer=None, l1=0.0, l2=0.0):
        """One forward, backward and update on a batch; returns the loss (with penalties)."""
        loss = self._resolve_loss(loss, y)
        optimizer = self._resolve_optimizer(optimizer, self.optimizer)
        l1, l2 = _nonneg_real(l1, "l1"), _nonneg_real(l2, "l2")
        x = self._check_X(x, "x")
        y = self._check_y(y, len(x), loss)
        if not self._fit_lock.acquire(blocking=False):
            raise RuntimeError("fit is already running on this model in another thread")
        try:
            with self._step_lock:
                out = self._forward(x, True)
                value = loss.forward(out, y)
                self._backward(loss.backward())
                value += self._add_penalties(l1, l2)
                optimizer.step(self.parameters(), self.gradients())
        finally:
            self._fit_lock.release()
        self.loss, self.optimizer = loss, optimizer
        return float(value)

    # --------------------------------------------------------------- fit
    def fit(self, X, y, epochs=1, batch_size=32, loss=None, optimizer=None, l1=0.0, l2=0.0,
            validation_data=None, validation_split=0.0, shuffle=True, clip_norm=None, clip_value=None,
            lr_schedule=None, callbacks=None, verbose=1, track_gradients=False, track_activations=False,
            on_nonfinite="stop"):
        """Train with mini-batch gradient descent; returns a ``History``.

        Parameters
        ----------
        X, y : arrays
            Inputs (N, features) and targets: integer labels (N,) for a
            classification loss, float targets (N, outputs) otherwise.
        epochs : int >= 0
        batch_size : int >= 1
            ``len(X)`` is batch gradient descent, 1 is stochastic. The last batch
            of an epoch holds the remainder (with BatchNorm, a remainder of one
            sample joins the batch before it).
        loss : name or Loss, optional
            Default: the previous fit's loss, else softmax cross-entropy for
            integer labels and MSE for float targets.
        optimizer : name or optimizer, optional
            Default: the previous fit's optimizer (training continues with its
            state), else ``Adam()``.
        l1, l2 : float
            Penalty ``l1 * sum|W| + (l2/2) * sum W^2`` on every Dense weight, added
            to each layer's own.
        validation_data : (X_val, y_val), optional
        validation_split : float in [0, 1)
            Hold out the last fraction of (X, y) as validation data.
        shuffle : bool
            Reshuffle every epoch, seeded by ``(model.seed, epoch)``.
        clip_norm, clip_value : float, optional
            Clip the global gradient norm / every gradient element before the update.
        lr_schedule : schedule or callable, optional
            An ``optim`` schedule bound to this optimizer (stepped after each
            epoch; ``ReduceLROnPlateau`` gets val_loss, else loss), or
            ``f(epoch) -> lr`` called before each epoch.
        callbacks : list of Callback
        verbose : 0, 1 or 2
            0 silent; 1 a progress bar on a terminal; 2 a line per epoch.
        track_gradients : bool
            Record ``history["grad_norms"]``: per epoch, for each Dense layer, the
            mean over batches of the L2 norm of its weight gradient (penalty
            included, before clipping).
        track_activations : bool
            Record ``history["activations"]``: per epoch, ``activation_stats`` on a
            fixed sample of up to 1000 training rows.
        on_nonfinite : "stop" or "raise"
            A NaN/Inf loss stops training with a warning naming the epoch and
            batch (or raises ``FloatingPointError``); the model keeps the weights
            of the last finite step.
        """
        if not self._fit_lock.acquire(blocking=False):
            raise RuntimeError("fit is already running on this model in another thread; "
                               "train a copy (fastmlp.load / load_state_dict) instead")
        try:
            run = self._prepare_fit(X, y, epochs, batch_size, loss, optimizer, l1, l2, validation_data,
                                    validation_split, shuffle, clip_norm, clip_value, lr_schedule,
                                    callbacks, verbose, track_gradients, track_activations, on_nonfinite)
            # a diverging run is detected and reported by the loop itself
            with np.errstate(over="ignore", invalid="ignore"):
                return self._fit_loop(**run)
        finally:
            self._fit_lock.release()

    def _prepare_fit(self, X, y, epochs, batch_size, loss, optimizer, l1, l2, validation_data,
                     validation_split, shuffle, clip_norm, clip_value, lr_schedule, callbacks, verbose,
                     track_gradients, track_activations, on_nonfinite):
        """Every check and conversion of fit, before anything changes."""
        epochs = _int_arg(epochs, "epochs", 0)
        batch_size = _int_arg(batch_size, "batch_size", 1)
        l1, l2 = _nonneg_real(l1, "l1"), _nonneg_real(l2, "l2")
        clip_norm = _positive_or_none(clip_norm, "clip_norm")
        clip_value = _positive_or_none(clip_value, "clip_value")
        if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real) \
                or not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split must be a fraction in [0, 1), got {validation_split!r}")
        if on_nonfinite not in ("stop", "raise"):
            raise ValueError(f"on_nonfinite must be 'stop' or 'raise', got {on_nonfinite!r}")
        if verbose not in (0, 1, 2, True, False):
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, _callbacks.Callback):
                raise TypeError(f"callbacks must be fastmlp.callbacks.Callback instances, got {type(cb).__name__}")
        loss = self._resolve_loss(loss, y)
        optimizer = self._resolve_optimizer(optimizer, self.optimizer)
        if lr_schedule is not None:
            if hasattr(lr_schedule, "step"):
                bound = getattr(lr_schedule, "optimizer", optimizer)
                if bound is not optimizer:
                    raise ValueError("lr_schedule is bound to another optimizer than the one fit uses")
            elif not callable(lr_schedule):
                raise TypeError(f"lr_schedule must be a schedule or a function epoch -> lr, "
                                f"got {type(lr_schedule).__name__}")
        given = X
        X = self._check_X(X, finite=False)
        unchecked = None
        if self._defers_finite_check(X, epochs, callbacks, verbose, optimizer):
            unchecked = (np.asarray(given), X)
        elif not _all_finite(X):
            self._raise_nonfinite(np.asarray(given), X)
        y = self._check_y(y, len(X), loss)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise TypeError("validation_data must be a pair (X_val, y_val)")
            Xv = self._check_X(validation_data[0], "X_val")
            val = (Xv, self._check_y(validation_data[1], len(Xv), loss, "y_val"))
        elif validation_split > 0:
            n_val = int(math.ceil(validation_split * len(X)))
            if not 0 < n_val < len(X):
                raise ValueError(f"validation_split={validation_split} leaves no training or validation "
                                 f"samples out of {len(X)}")
            val = (X[len(X) - n_val:], y[len(X) - n_val:])
            X, y = X[:len(X) - n_val], y[:len(X) - n_val]
            if unchecked is not None and not _all_finite(val[0]):  # no training batch holds these rows
                self._raise_nonfinite(*unchecked)
        batch_size = min(batch_size, len(X))
        if self._has_batchnorm and batch_size < 2 and epochs > 0:
            raise ValueError(f"a model with BatchNorm needs batch_size >= 2 and at least 2 training samples, "
                             f"got batch_size {batch_size}")
        return dict(X=X, y=y, epochs=epochs, batch_size=batch_size, loss=loss, optimizer=optimizer, l1=l1, l2=l2,
                    val=val, shuffle=bool(shuffle), clip_norm=clip_norm, clip_value=clip_value,
                    lr_schedule=lr_schedule, callbacks=callbacks, verbose=int(verbose),
                    track_gradients=bool(track_gradients), track_activations=bool(track_activations),
                    on_nonfinite=on_nonfinite, unchecked=unchecked)

    def _defers_finite_check(self, X, epochs, callbacks, verbose, optimizer):
        """Whether fit can leave X's NaN/Inf check to its first epoch: the compiled
        plan then checks each batch's rows as it gathers them (in registers) instead
        of a pass of its own over X from memory first (in workload (a), 5 ms for the
        pass and ~9 ms of a ~98 ms epoch with the caches it flushed), and a batch
        with NaN/Inf puts back everything fit changed
        (_FitUndo) before fit raises the same error. Only where nothing outside the
        model saw the epoch (no callbacks, no progress output), with an optimizer
        the plan runs, and the copies _FitUndo keeps are small beside X."""
        if epochs < 1 or callbacks or verbose or getattr(_config.backend(), "TrainPlan", None) is None:
            return False
        if type(optimizer) not in _plan._OPTIMIZERS:  # fit's Python loop: nothing checks the rows
            return False
        params = self.parameters()
        held = sum(p.nbytes for p in params) * (2 + len(optimizer._state_names()))  # + gradients, state
        held += sum(b.nbytes for layer in self.layers for b in layer.buffers.values())
        return 8 * held <= X.nbytes

    def _batches(self, n, batch_size):
        """(start, stop) of each batch; with BatchNorm a last batch of one joins the one before."""
        return _Batches(n, batch_size, self._has_batchnorm)

    def _fit_loop(self, X, y, epochs, batch_size, loss, optimizer, l1, l2, val, shuffle, clip_norm, clip_value,
                  lr_schedule, callbacks, verbose, track_gradients, track_activations, on_nonfinite,
                  unchecked=None):
        # unchecked: (X as given, X converted) when X's NaN/Inf check is left to the first epoch
        undo = _FitUndo(self, optimizer) if unchecked is not None else None
        self.loss, self.optimizer = loss, optimizer
        self.stop_training = False
        n = len(X)
        bounds = self._batches(n, batch_size)
        cap = bounds.cap
        classify = isinstance(loss, _losses.SoftmaxCrossEntropy)
        labels = y if (classify and y.ndim == 1) else (np.argmax(y, axis=1) if classify else None)

        # buffers for the whole fit: batches, predictions, snapshots
        xb = np.empty((cap,) + X.shape[1:], X.dtype)
        yb = np.empty((cap,) + y.shape[1:], y.dtype)
        lb = np.empty(cap, np.int64) if labels is not None else None
        pred = np.empty(cap, np.intp) if labels is not None else None
        hit = np.empty(cap, bool) if labels is not None else None
        params = self.parameters()
        grads = self.gradients()  # layers overwrite their gradient arrays in place
        penalize = bool(l1 or l2 or any(layer.l1 or layer.l2 for layer in self._dense))
        buffers = [b for layer in self.layers for b in layer.buffers.values()]
        buf_snap = [np.empty_like(b) for b in buffers]
        epoch_snap = [np.empty_like(a) for a in params + buffers]
        dense_W = [layer.grads["W"] for layer in self._dense]
        sample = None
        if track_activations:
            rows = np.random.default_rng([self.seed, 1 << 30]).choice(n, size=min(n, STATS_ROWS), replace=False)
            sample = X[np.sort(rows)]
        plateau = lr_schedule is not None and hasattr(lr_schedule, "step") and _takes_metric(lr_schedule.step)

        history = _callbacks.History()
        cbs = [history] + callbacks
        if verbose == 1:
            cbs.append(_callbacks.ProgressBar())
        elif verbose == 2:
            cbs.append(_callbacks.ProgressBar(epoch_lines=True))
        params_info = {"epochs": epochs, "steps": len(bounds), "samples": n, "batch_size": batch_size,
                       "verbose": verbose, "initial_epoch": self.epochs_trained}
        for cb in cbs:
            cb.set_model(self)
            cb.set_params(params_info)
        for cb in cbs:
            cb.on_train_begin({})
        batch_cbs = [cb for cb in cbs if cb._wants_batches()]
        # a compiled plan runs each epoch's batches in C when the model allows (fastmlp._plan);
        # trainer None: the Python loop below
        trainer = _plan.build(self, X, y, labels, bounds, loss, optimizer, l1, l2, clip_norm, clip_value,
                              batch_cbs, track_gradients)
        if undo is not None and trainer is None:  # the Python loop checks no rows: X first, as usual
            if not _all_finite(X):
                undo.restore()
                self._raise_nonfinite(*unchecked)
            undo = None

        for _ in range(epochs):
            epoch = self.epochs_trained
            for cb in cbs:
                cb.on_epoch_begin(epoch, {})
            if lr_schedule is not None and not hasattr(lr_schedule, "step"):
                optimizer.lr = float(lr_schedule(epoch))
            lr_used = float(getattr(optimizer, "lr", float("nan")))
            for snap, a in zip(epoch_snap, params + buffers):
                np.copyto(snap, a)
            order = np.random.default_rng([self.seed, epoch]).permutation(n) if shuffle else None
            t0 = time.perf_counter()
            loss_sum = 0.0
            correct = 0
            norm_sums = [0.0] * len(dense_W)
            failure = None
            if trainer is not None:
                loss_sum, correct, failure = trainer.run_epoch(order, batch_cbs, check_x=undo is not None)
                if undo is not None:
                    # a batch with NaN/Inf rows, or a non-finite loss before the epoch reached them
                    if failure and not _all_finite(X):
                        undo.restore()
                        self._raise_nonfinite(*unchecked)
                    undo = None  # every row was checked
                if failure:
                    self._restore_after_failure([], [], params + buffers, epoch_snap)
            for b, (s, e) in enumerate(bounds if trainer is None else ()):
                m = e - s
                if order is not None:
                    idx = order[s:e]
                    xm = X.take(idx, axis=0, out=xb[:m])
                    ym = y.take(idx, axis=0, out=yb[:m])
                    if labels is not None:
                        lm = labels.take(idx, out=lb[:m])
                else:
                    xm, ym = X[s:e], y[s:e]
                    if labels is not None:
                        lm = labels[s:e]
                with self._step_lock:
                    for snap, a in zip(buf_snap, buffers):
                        np.copyto(snap, a)
                    out = self._forward(xm, True)
                    value = loss.forward(out, ym)
                    if not math.isfinite(value):
                        failure = (b, value)
                        self._restore_after_failure(buffers, buf_snap, params + buffers, epoch_snap)
                        break
                    if labels is not None:
                        out.argmax(axis=1, out=pred[:m])
                        np.equal(pred[:m], lm, out=hit[:m])
                        correct += int(np.count_nonzero(hit[:m]))
                    self._backward(loss.backward())
                    if penalize:
                        value += self._add_penalties(l1, l2)
                    if track_gradients:
                        for k, g in enumerate(dense_W):
                            norm_sums[k] += math.sqrt(float(np.vdot(g, g)))
                    if clip_norm is not None:
                        _optim.clip_grad_norm(grads, clip_norm)
                    if clip_value is not None:
                        _optim.clip_grad_value(grads, clip_value)
                    with _plan.SigintAfterBlock():  # the step count follows the weights
                        optimizer.step(params, grads)
                loss_sum += value * m
                if batch_cbs:
                    logs = {"batch": b, "size": m, "loss": value}
                    for cb in batch_cbs:
                        cb.on_batch_end(b, logs)
            seen = bounds[failure[0]][0] if failure else n
            logs = {"loss": loss_sum / seen if not failure else failure[1]}
            if labels is not None:
                logs["accuracy"] = correct / seen if seen else float("nan")
            if val is not None and not failure:
                logs.update({"val_" + k: v for k, v in self._evaluate(val[0], val[1], loss).items()})
            logs["lr"] = lr_used
            logs["time"] = time.perf_counter() - t0
            if track_gradients:
                done = failure[0] if failure else len(bounds)
                logs["grad_norms"] = [s_ / max(done, 1) for s_ in norm_sums]
            if track_activations:
                logs["activations"] = self._activation_stats(sample, 50)
            self.epochs_trained += 1
            if failure:
                b, value = failure
                msg = (f"non-finite loss ({value}) at epoch {epoch + 1}, batch {b + 1} of {len(bounds)}: training "
                       f"stopped; the model keeps the weights of the last finite step (lower the learning "
                       f"rate or clip gradients)")
                history.stop_reason = msg
                history.on_epoch_end(epoch, logs)
                if on_nonfinite == "raise":
                    raise FloatingPointError(msg)
                warnings.warn(msg, RuntimeWarning, stacklevel=3)
                break
            if lr_schedule is not None and hasattr(lr_schedule, "step"):
                if plateau:
                    lr_schedule.step(logs.get("val_loss", logs["loss"]))
                else:
                    lr_schedule.step()
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for cb in cbs:
            cb.on_train_end({})
        return history

    def _restore_after_failure(self, buffers, buf_snap, arrays, epoch_snap):
        for snap, a in zip(buf_snap, buffers):
            np.copyto(a, snap)
        if not all(np.isfinite(a).all() for a in arrays):
            for snap, a in zip(epoch_snap, arrays):
                np.copyto(a, snap)

    # ------------------------------------------------------------ inference
    def _infer(self, X):
        """Outputs for checked X, in chunks (bounded memory, other threads may interleave)."""
        n = len(X)
        out = None
        for s in range(0, n, PREDICT_CHUNK):
            with self._step_lock:
                y = self._forward(X[s:s + PREDICT_CHUNK], False)
                if out is None:
                    if n <= PREDICT_CHUNK:
                        return np.array(y, copy=True) if _shares(y, X) else y
                    out = np.empty((n,) + y.shape[1:], y.dtype)
                out[s:s + len(y)] = y
        return out

    def _classifies(self):
        if self.loss is not None:
            return bool(getattr(self.loss, "classification", False))
        n_out = self._n_outputs()
        return n_out is not None and n_out > 1

    def predict_proba(self, X):
        """Class probabilities: softmax of the outputs (sigmoid after BCEWithLogits)."""
        out = _infer.run(self, X)  # the whole forward in one native call, when possible
        if out is not None:
            return out
        out = self._infer(self._check_X(X))
        if isinstance(self.loss, _losses.BCEWithLogits):
            return _ops.activation_forward(out, "sigmoid")
        return _ops.activation_forward(out, "softmax")

    def predict(self, X):
        """Class labels after a classification loss, the raw outputs otherwise."""
        out = _infer.run(self, X, proba=False)
        if out is None:
            out = self._infer(self._check_X(X))
        if isinstance(self.loss, _losses.BCEWithLogits):
            return (out > 0).astype(np.int64)
        if self._classifies():
            return np.argmax(out, axis=1)
        return out

    def _evaluate(self, X, y, loss):
        out = self._infer(X)
        # a fresh loss object where possible: the training one keeps its gradient buffer
        try:
            fresh = type(loss)()
        except TypeError:
            fresh = loss
        result = {"loss": float(fresh.forward(out, y))}
        if isinstance(loss, _losses.SoftmaxCrossEntropy):
            labels = y if y.ndim == 1 else np.argmax(y, axis=1)
            result["accuracy"] = float(np.mean(np.argmax(out, axis=1) == labels))
        elif isinstance(loss, _losses.BCEWithLogits):
            result["accuracy"] = float(np.mean((out > 0) == (y > 0.5)))
        return result

    def evaluate(self, X, y, loss=None):
        """{"loss": mean loss, "accuracy": ... (classification)} on (X, y); the
        loss is the fit's unless given (penalties not included)."""
        loss = self._resolve_loss(loss, y)
        X = self._check_X(X)
        return self._evaluate(X, self._check_y(y, len(X), loss), loss)

    # ---------------------------------------------------------- diagnostics
    def activation_stats(self, X, bins=50):
        """Statistics of every activation layer's output on X (inference mode).

        A list with one dict per activation layer: ``layer`` (its "<index>:<Class>"
        name), ``mean``, ``std``, ``frac_saturated`` (sigmoid below 0.02 or above
        0.98, tanh beyond +-0.96, ReLU exactly 0, LeakyReLU/ELU negative) and a
        histogram ``hist``/``bin_edges`` (over [0, 1] for sigmoid, [-1, 1] for
        tanh, the data's range otherwise).
        """
        bins = _int_arg(bins, "bins", 1)
        return self._activation_stats(self._check_X(X), bins)

    def _activation_stats(self, X, bins):
        stats = []
        with self._step_lock:
            x = X
            for layer, name in self._plan:
                x = layer.forward(x, training=False)
                if name is not None:
                    act = layer.fused_activation if isinstance(layer, _layers.Dense) else layer
                    stats.append(_describe(name, act, np.asarray(x, np.float64), bins))
        return stats

    # -------------------------------------------------------------- persistence
    def get_config(self):
        """The JSON-able description ``load`` rebuilds the model from."""
        return {"class": "Sequential", "dtype": self.dtype.name, "seed": self.seed,
                "input_shape": list(self.input_shape) if self.input_shape is not None else None,
                "layers": [{"class": type(layer).__name__, "config": _layer_config(layer)} for layer in self.layers]}

    def save(self, path, include_optimizer=True):
        """Write the model to one .npz: a JSON config plus every parameter and buffer
        (and the optimizer's state), atomically (temporary file, then rename)."""
        path = os.fspath(path)
        config = {"format_version": FORMAT_VERSION, "fastmlp_version": __version__,
                  "model": self.get_config(), "epochs_trained": self.epochs_trained,
                  "loss": getattr(self.loss, "name", None) if self.loss is not None else None}
        arrays = dict(self._named_arrays())
        if include_optimizer and self.optimizer is not None and hasattr(self.optimizer, "state_dict"):
            opt_arrays = {}
            config["optimizer"] = {"class": type(self.optimizer).__name__,
                                   "config": _init_config(self.optimizer),
                                   "state": _flatten(self.optimizer.state_dict(), opt_arrays)}
            arrays.update(opt_arrays)
        arrays["config"] = np.array(json.dumps(config))
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".fastmlp-", suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        return path


class _Batches:
    """An epoch's batches, as a sequence of (start, stop) pairs held in one array:
    batch b is rows [starts[b], starts[b + 1]) of the (shuffled) data. Built in
    numpy (a list of 5,000 tuples took milliseconds per fit); with ``merge_single``
    a last batch of one row joins the one before (BatchNorm needs two)."""

    __slots__ = ("starts", "sizes", "cap")

    def __init__(self, n, batch_size, merge_single=False):
        starts = np.arange(0, n + batch_size, batch_size, dtype=np.int64)
        starts[-1] = n
        if n == 0:
            starts = starts[:1]
        elif merge_single and len(starts) > 2 and starts[-1] - starts[-2] == 1:
            starts = np.delete(starts, -2)
        self.starts = starts
        self.sizes = np.diff(starts)
        self.cap = int(self.sizes.max()) if len(self.sizes) else 0

    def __len__(self):
        return len(self.sizes)

    def __getitem__(self, b):
        if not -len(self) <= b < len(self):
            raise IndexError("batch index out of range")
        b %= len(self)
        return int(self.starts[b]), int(self.starts[b + 1])

    def __iter__(self):
        starts = self.starts.tolist()
        return zip(starts[:-1], starts[1:])


def _shares(a, b):
    return a is b or np.may_share_memory(a, b)


def _takes_metric(step):
    try:
        sig = inspect.signature(step)
    except (TypeError, ValueError):
        return False
    return any(p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               for p in sig.parameters.values())


def _describe(name, act, x, bins):
    kind = getattr(act, "name", "")
    if kind == "sigmoid":
        saturated, rng = (x < 0.02) | (x > 0.98), (0.0, 1.0)
    elif kind == "tanh":
        saturated, rng = np.abs(x) > 0.96, (-1.0, 1.0)
    elif kind == "relu":
        saturated, rng = x <= 0, None
    elif kind in ("leaky_relu", "elu"):
        saturated, rng = x < 0, None
    else:
        saturated, rng = np.zeros(x.shape, bool), None
    if rng is None:
        lo, hi = float(x.min()), float(x.max())
        rng = (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)
    hist, edges = np.histogram(x, bins=bins, range=rng)
    return {"layer": name, "mean": float(x.mean()), "std": float(x.std()),
            "frac_saturated": float(saturated.mean()), "hist": hist, "bin_edges": edges}


# ------------------------------------------------------------------------ MLP

class MLP(Sequential):
    """The fully connected network of the course.

    ``sizes = [inputs, hidden..., outputs]``; each hidden layer is
    Dense -> BatchNorm (with ``batchnorm``) -> activation -> Dropout (with
    ``dropout > 0``); the output layer is Dense alone (the loss decides what the
    outputs mean). ``init`` defaults to Xavier for sigmoid/tanh and He otherwise.
    """

    def __init__(self, sizes, activation="relu", batchnorm=False, dropout=0.0, init=None, dtype="float32",
                 seed=None):
        try:
            sizes = [int(s) if isinstance(s, numbers.Integral) and not isinstance(s, bool) else s
                     for s in sizes]
        except TypeError as exc:
            raise TypeError(f"sizes must be a list of ints, got {sizes!r}") from exc
        if len(sizes) < 2 or not all(isinstance(s, int) for s in sizes) or min(sizes) < 1:
            raise ValueError(f"sizes must be at least two positive ints [inputs, ..., outputs], got {sizes!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"Unknown activation {activation!r}; expected one of {tuple(ACTIVATIONS)}")
        if not isinstance(batchnorm, (bool, np.bool_)):
            raise TypeError(f"batchnorm must be a bool, got {type(batchnorm).__name__}")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        _layers.as_dtype(dtype)
        if init is None:
            init = _DEFAULT_INIT.get(activation, "he_normal")
        self.sizes = list(sizes)
        self.activation = activation
        self.batchnorm = bool(batchnorm)
        self.dropout = float(dropout)
        self.init = init
        layers = []
        for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(_layers.Dense(d_in, d_out, init=init))
            if i == len(sizes) - 2:
                break
            if self.batchnorm:
                layers.append(_layers.BatchNorm(d_out))
            if ACTIVATIONS[activation] is not None:
                layers.append(getattr(_layers, ACTIVATIONS[activation])())
            if self.dropout > 0:
                layers.append(_layers.Dropout(self.dropout))
        super().__init__(layers, dtype=dtype, seed=seed)

    def get_config(self):
        return {"class": "MLP", "sizes": self.sizes, "activation": self.activation, "batchnorm": self.batchnorm,
                "dropout": self.dropout, "init": self.init if isinstance(self.init, str) else None,
                "dtype": self.dtype.name, "seed": self.seed}

    def __repr__(self):
        return (f"MLP({self.sizes}, activation={self.activation!r}, batchnorm={self.batchnorm}, "
                f"dropout={self.dropout}, dtype={self.dtype.name}, seed={self.seed})")


# -------------------------------------------------------------- persistence

def _init_config(obj):
    """The constructor arguments of obj that it keeps as attributes and JSON can hold."""
    config = {}
    for name, p in inspect.signature(type(obj).__init__).parameters.items():
        if name in ("self", "dtype", "seed", "params") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if not hasattr(obj, name):
            continue
        value = getattr(obj, name)
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, tuple):
            value = list(value)
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        config[name] = value
    return config


def _layer_config(layer):
    config = _init_config(layer)
    if isinstance(layer, _layers.Dense):
        config["bias"] = "b" in layer.params
    return config


def _flatten(obj, arrays):
    """obj (dicts, lists, arrays, scalars) as JSON, its arrays moved into ``arrays``."""
    if isinstance(obj, np.ndarray):
        key = f"optimizer.{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[_flatten(k, arrays), _flatten(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"__list__" if isinstance(obj, list) else "__tuple__": [_flatten(v, arrays) for v in obj]}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot save optimizer state of type {type(obj).__name__}")


def _unflatten(obj, arrays):
    if isinstance(obj, dict):
        if "__array__" in obj:
            key = obj["__array__"]
            if key not in arrays:
                raise ValueError(f"the file lacks the optimizer array {key!r}")
            return arrays[key]
        if "__dict__" in obj:
            return {_unflatten(k, arrays): _unflatten(v, arrays) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            return [_unflatten(v, arrays) for v in obj["__list__"]]
        if "__tuple__" in obj:
            return tuple(_unflatten(v, arrays) for v in obj["__tuple__"])
        raise ValueError("unrecognised optimizer state in the file")
    return obj


def _read_npz(path):
    try:
        f = np.load(path, allow_pickle=False)
        if not isinstance(f, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not an .npz archive")
        with f:
            return {name: f[name] for name in f.files}
    except FileNotFoundError:
        raise
    except ValueError as exc:
        raise ValueError(f"{path} is not a valid fastmlp model file: {exc}") from exc
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError) as exc:
        raise ValueError(f"{path} is not a valid fastmlp model file: {exc}") from exc


def _build(cfg):
    if not isinstance(cfg, dict):
        raise ValueError("the model config is not a JSON object")
    kind = cfg.get("class")
    if kind == "MLP":
        return MLP(cfg["sizes"], activation=cfg["activation"], batchnorm=cfg["batchnorm"],
                   dropout=cfg["dropout"], init=cfg.get("init"), dtype=cfg["dtype"], seed=cfg["seed"])
    if kind == "Sequential":
        layers = []
        for spec in cfg["layers"]:
            cls = getattr(_layers, spec["class"], None)
            if not (isinstance(cls, type) and issubclass(cls, _layers.Layer)):
                raise ValueError(f"unknown layer class {spec['class']!r} in the file")
            layers.append(cls(**spec["config"]))
        shape = cfg.get("input_shape")
        return Sequential(layers, dtype=cfg["dtype"], seed=cfg["seed"],
                          input_shape=tuple(shape) if shape is not None else None)
    raise ValueError(f"unknown model class {kind!r} in the file")


def load(path):
    """A model saved by ``save``: rebuilt from its config, its arrays checked
    (names, shapes, dtypes) and copied in; the optimizer comes back too when
    saved (``model.optimizer``, so ``fit`` continues where it stopped). Never
    unpickles: a file with objects is refused with ValueError."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such model file: {path!r}")
    arrays = _read_npz(path)
    if "config" not in arrays:
        raise ValueError(f"{path} is not a fastmlp model file: it has no config")
    try:
        config = json.loads(str(arrays.pop("config")))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: the config is not valid JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise ValueError(f"{path}: the config is not a JSON object")
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"{path}: the config has no format_version")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path} was written in format version {version} (by fastmlp "
                         f"{config.get('fastmlp_version')}); this fastmlp {__version__} reads up to "
                         f"version {FORMAT_VERSION}")
    try:
        model = _build(config.get("model"))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: the model config is incomplete or invalid ({exc!r})") from exc
    opt_arrays = {k: arrays.pop(k) for k in list(arrays) if k.startswith("optimizer.")}
    state = {}
    targets = dict(model._named_arrays())
    for name, target in targets.items():
        if name not in arrays:
            raise ValueError(f"{path}: the array {name!r} is missing")
        arr = arrays[name]
        if arr.shape != target.shape:
            raise ValueError(f"{path}: array {name!r} has shape {arr.shape}, the model expects {target.shape}")
        if arr.dtype.kind != "f":
            raise ValueError(f"{path}: array {name!r} has dtype {arr.dtype}, expected float")
        if not np.isfinite(arr).all():
            raise ValueError(f"{path}: array {name!r} holds NaN or Inf")
        state[name] = arr
    extra = sorted(set(arrays) - set(targets))
    if extra:
        raise ValueError(f"{path}: unexpected arrays {extra}")
    model.load_state_dict(state)
    model.epochs_trained = int(config.get("epochs_trained", 0))
    if config.get("loss"):
        try:
            model.loss = _losses.get_loss(config["loss"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: unknown loss {config['loss']!r}") from exc
    opt = config.get("optimizer")
    if opt is not None:
        try:
            cls = getattr(_optim, opt["class"])
            kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in opt["config"].items()}
            optimizer = cls(**kwargs)
            optimizer.load_state_dict(_unflatten(opt["state"], opt_arrays))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: cannot restore the optimizer ({exc!r})") from exc
        model.optimizer = optimizer
    return model
