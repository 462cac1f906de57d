"""Compiled training: ``Sequential.fit`` without Python per mini-batch.

For a model of built-in layers (Dense with a fused activation, activations,
Softmax, BatchNorm, Dropout), a built-in loss (``SoftmaxCrossEntropy`` on
labels or probabilities, ``MSE``) and a built-in optimizer, ``build`` compiles
the training step into a ``_kernels.TrainPlan`` (csrc/plan.c): one GIL-free
call runs many batches (row gather, forward, loss, backward, penalties,
clipping, the update), over workspaces allocated once per fit. Python regains
control between chunks of about ``CHUNK_SECONDS`` of work, so the progress
bar, callbacks and Ctrl-C still work.

The plan calls the same kernels with the same arguments in the same order as
the Python loop in ``Sequential._fit_loop``: the weights, buffers, optimizer
state and history are the same bits either way (tests/test_plan.py). Counters
the Python objects keep (dropout calls, BatchNorm batches, the optimizer's
step and SGD's first-step flag) are written back after every chunk, so
``state_dict``/``save`` and a later ``fit`` continue exactly. Anything else
(the reference backend, custom layers or losses, pooling, gradient tracking,
callbacks that want every batch) returns None from ``build``: fit then runs
its Python loop.
"""
import signal
import threading
import time

import numpy as np

from . import _config
from . import callbacks as _callbacks
from . import layers as _layers
from . import losses as _losses
from . import ops as _ops
from . import optim as _optim

CHUNK_SECONDS = 0.05
FIRST_CHUNK = 8


class SigintAfterBlock:
    """Ctrl-C inside the block raises KeyboardInterrupt when the block ends.

    An update's native call cannot be interrupted, but the Python bookkeeping
    right after it can: a KeyboardInterrupt landing there would leave the
    optimizer's step count behind the weights. fit wraps each compiled chunk
    (here) and each optimizer step of its Python loop (model.py) in one. Only
    the main thread receives signals, and a handler the user installed is left
    alone."""

    def __enter__(self):
        self.caught = False
        self.previous = None
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self.previous = signal.signal(signal.SIGINT, self._note)
        return self

    def _note(self, signum, frame):
        self.caught = True

    def __exit__(self, exc_type, exc, tb):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        if self.caught and exc_type is None:
            raise KeyboardInterrupt
        return False


_FUSABLE = {_layers.ReLU, _layers.Sigmoid, _layers.Tanh, _layers.LeakyReLU, _layers.ELU}
_OPTIMIZERS = {_optim.SGD: "sgd", _optim.Adagrad: "adagrad", _optim.RMSprop: "rmsprop",
               _optim.Adam: "adam", _optim.AdamW: "adam"}


def _layer_specs(model, d, dtype):
    """One dict per plan step (see _kernels.TrainPlan), or None when a layer is not
    one the plan knows; d is the input's features."""
    specs = []
    for layer, _ in model._plan:
        kind = type(layer)
        if kind is _layers.Dense:
            act = layer.fused_activation
            if act is not None and type(act) not in _FUSABLE:
                return None
            if layer.in_features != d:
                return None
            W, dW = layer.params["W"], layer.grads["W"]
            b, db = layer.params.get("b"), layer.grads.get("b")
            spec = {"op": "dense", "d_in": d, "d_out": layer.out_features, "W": W, "dW": dW, "b": b, "db": db,
                    "act": act.name if act is not None else "identity",
                    "act_param": act.param if act is not None else 0.0,
                    "need_dx": bool(layer.need_input_grad)}
            arrays = [W, dW] + ([b, db] if b is not None else [])
            d = layer.out_features
        elif kind in _FUSABLE or kind is _layers.Softmax:
            spec = {"op": "softmax" if kind is _layers.Softmax else "act", "d_in": d, "d_out": d,
                    "act": layer.name if kind is not _layers.Softmax else "identity",
                    "act_param": layer.param}
            arrays = []
        elif kind is _layers.BatchNorm:
            if layer.num_features != d:
                return None
            p, g, buf = layer.params, layer.grads, layer.buffers
            spec = {"op": "batchnorm", "d_in": d, "d_out": d, "gamma": p["gamma"], "beta": p["beta"],
                    "dgamma": g["gamma"], "dbeta": g["beta"], "running_mean": buf["running_mean"],
                    "running_var": buf["running_var"], "momentum": layer.momentum, "eps": layer.eps}
            arrays = [spec[k] for k in ("gamma", "beta", "dgamma", "dbeta", "running_mean", "running_var")]
        elif kind is _layers.Dropout:
            if layer.p == 0.0:
                continue  # the identity in training too: no mask, no counter
            spec = {"op": "dropout", "d_in": d, "d_out": d, "p": layer.p, "seed": layer._seed,
                    "counter": layer.calls}
            arrays = []
        else:
            return None
        for a in arrays:
            if not (isinstance(a, np.ndarray) and a.dtype == dtype and a.flags.c_contiguous
                    and a.flags.writeable and a.flags.aligned):
                return None
        spec["layer"] = layer
        specs.append(spec)
    return specs


def build(model, X, y, labels, bounds, loss, optimizer, l1, l2, clip_norm, clip_value, batch_cbs,
          track_gradients=False):
    """A Trainer for this fit, or None when fit must run its Python loop."""
    be = _config.backend()
    if getattr(be, "TrainPlan", None) is None or track_gradients or not bounds:
        return None
    if any(type(cb) is not _callbacks.ProgressBar for cb in batch_cbs):
        return None  # a callback may look at the model after every batch
    kind = _OPTIMIZERS.get(type(optimizer))
    if kind is None:
        return None
    dtype = model.dtype
    if X.ndim != 2 or X.dtype != dtype or not X.flags.c_contiguous:
        return None
    specs = _layer_specs(model, X.shape[1], dtype)
    if not specs:
        return None
    n_out = specs[-1]["d_out"]
    if type(loss) is _losses.SoftmaxCrossEntropy and y.ndim == 1:
        if y.dtype != np.int64 or not y.flags.c_contiguous:
            return None
        loss_kind, d_t = "labels", 0
    elif type(loss) in (_losses.SoftmaxCrossEntropy, _losses.MSE) and y.ndim == 2:
        if y.dtype != dtype or not y.flags.c_contiguous or y.shape[1] != n_out:
            return None
        loss_kind, d_t = ("probs" if type(loss) is _losses.SoftmaxCrossEntropy else "mse"), n_out
    else:
        return None
    if labels is not None and (labels.dtype != np.int64 or not labels.flags.c_contiguous):
        return None
    params, grads = model.parameters(), model.gradients()
    try:
        optimizer._prepare(params, grads)  # creates the state, as the first step would
    except Exception:
        return None  # the Python loop reports it
    dense = [s for s in specs if s["op"] == "dense"]
    penalize = False
    for spec in dense:
        layer = spec["layer"]
        spec["l1"], spec["l2"] = layer.l1 + l1, layer.l2 + l2
        penalize = penalize or bool(spec["l1"] or spec["l2"])
    cap = bounds.cap
    plan = be.TrainPlan([{k: v for k, v in s.items() if k != "layer"} for s in specs],
                        dtype == np.float64, cap, X.shape[1], d_t, loss_kind)
    trainer = Trainer(model, plan, specs, kind, X, y, labels, bounds, optimizer, penalize, clip_norm,
                      clip_value)
    trainer._rebuild = lambda: build(model, X, y, labels, bounds, loss, optimizer, l1, l2, clip_norm,
                                     clip_value, batch_cbs, track_gradients)
    return trainer


def _signature(model):
    """What the layer specs were made from: the arrays (by identity) and the
    hyperparameters a callback could change between epochs."""
    sig = []
    for layer, _ in model._plan:
        act = getattr(layer, "fused_activation", None)
        sig.append((type(layer), type(act), getattr(act, "param", None), getattr(layer, "param", None),
                    getattr(layer, "l1", None), getattr(layer, "l2", None), getattr(layer, "p", None),
                    getattr(layer, "_seed", None), getattr(layer, "momentum", None),
                    getattr(layer, "eps", None), getattr(layer, "need_input_grad", None),
                    tuple(id(a) for d in (layer.params, layer.grads, layer.buffers) for a in d.values())))
    return sig


class Trainer:
    """Runs one fit's epochs through a TrainPlan (see build)."""

    def __init__(self, model, plan, specs, kind, X, y, labels, bounds, optimizer, penalize, clip_norm,
                 clip_value):
        self.model, self.plan, self.specs, self.kind = model, plan, specs, kind
        self.X, self.y, self.labels = X, y, labels
        self.optimizer = optimizer
        self.penalize, self.clip_norm, self.clip_value = penalize, clip_norm, clip_value
        self.sizes = bounds.sizes
        self.starts = bounds.starts
        self.losses = np.empty(len(bounds), np.float64)
        self.correct = np.zeros(len(bounds), np.int64)
        self.batch_seconds = None
        self.signature = _signature(model)
        self._rebuild = None

    def _follow_model(self):
        """Rebuild the plan when a callback replaced a layer's arrays or changed a
        layer's hyperparameters since the last epoch (the Python loop would see it)."""
        sig = _signature(self.model)
        if sig == self.signature:
            return
        fresh = self._rebuild() if self._rebuild is not None else None
        if fresh is None:
            raise RuntimeError("the model's layers changed during fit in a way the compiled training "
                               "plan cannot follow; change them between fits")
        self.plan, self.specs = fresh.plan, fresh.specs  # penalize: fixed per fit, as fit's loop
        self.signature = sig

    def _sync_in(self):
        """Optimizer arrays, hyperparameters and counters from the Python objects."""
        opt, plan = self.optimizer, self.plan
        slots = opt._slots() if opt.state is not None else []
        slots = (list(slots) + [None, None, None])[:3]
        plan.set_optimizer(self.model.parameters(), self.model.gradients(), slots, self.kind)
        hyper = {"lr": opt.lr, "step": opt._step, "penalize": self.penalize,
                 "clip_norm": self.clip_norm, "clip_value": self.clip_value}
        if self.kind == "sgd":
            hyper.update(momentum=opt.momentum, dampening=opt.dampening, weight_decay=opt.weight_decay,
                         nesterov=opt.nesterov, first=opt._first)
        elif self.kind == "adagrad":
            hyper.update(eps=opt.eps, weight_decay=opt.weight_decay, lr_decay=opt.lr_decay)
        elif self.kind == "rmsprop":
            hyper.update(alpha=opt.alpha, eps=opt.eps, momentum=opt.momentum, weight_decay=opt.weight_decay,
                         centered=opt.centered)
        else:
            hyper.update(beta1=opt.betas[0], beta2=opt.betas[1], eps=opt.eps, weight_decay=opt.weight_decay,
                         decoupled=opt._decoupled)
        plan.set_hyper(**hyper)
        for i, spec in enumerate(self.specs):
            if spec["op"] == "dropout":
                plan.set_counter(i, spec["layer"].calls)

    def _sync_out(self, forwards):
        """Counters back into the Python objects after `forwards` training forwards."""
        opt, plan = self.optimizer, self.plan
        opt._step = plan.step
        if self.kind == "sgd":
            opt._first = plan.first
        for i, spec in enumerate(self.specs):
            layer = spec["layer"]
            if spec["op"] == "dropout":
                layer.calls = plan.get_counter(i)
            elif spec["op"] == "batchnorm":
                layer.num_batches_tracked += forwards

    def run_epoch(self, order, batch_cbs, check_x=False):
        """One epoch's batches: (loss_sum, correct, failure) as fit's loop computes
        them; failure is (batch, loss) for a non-finite loss, else None. check_x:
        each batch's rows are checked before use, and a batch holding NaN or Inf
        stops the epoch with failure (batch, None), nothing of it computed."""
        with self.model._step_lock:
            self._follow_model()
        model, plan = self.model, self.plan
        n_batches = len(self.sizes)
        if order is not None:
            order = np.ascontiguousarray(order, dtype=np.int64)
        loss_sum = 0.0
        correct = 0
        failure = None
        b = 0
        n_threads = _ops.threads()
        while b < n_batches:
            if self.batch_seconds is None:
                k = FIRST_CHUNK
            else:
                k = int(CHUNK_SECONDS / max(self.batch_seconds, 1e-9))
            k = max(1, min(k, n_batches - b))
            t0 = time.perf_counter()
            with model._step_lock, SigintAfterBlock():
                self._sync_in()
                try:
                    plan.run(self.X, self.y, self.labels, order, self.starts, b, k,
                             self.losses[b:], self.correct[b:], n_threads, check_x)
                finally:  # even on Ctrl-C: the counters follow the batches done
                    done, status = plan.last_done, plan.last_status
                    self._sync_out(done + (status == 1))
            if done:
                self.batch_seconds = (time.perf_counter() - t0) / done
            if batch_cbs:
                for i in range(b, b + done):
                    logs = {"batch": i, "size": int(self.sizes[i]), "loss": float(self.losses[i])}
                    for cb in batch_cbs:
                        cb.on_batch_end(i, logs)
            b += done
            if status:
                failure = (b, float(self.losses[b]) if status == 1 else None)
                break
        if b:
            # fit's loop adds loss * size batch by batch from 0.0; add.accumulate adds in
            # the same order (no pairwise summation), so the sum has the same bits
            # (0.0 + first: as the loop, for a first product of -0.0)
            loss_sum = 0.0 + float(np.add.accumulate(self.losses[:b] * self.sizes[:b])[-1])
            correct = int(self.correct[:b].sum())
        return loss_sum, correct, failure
