"""Optimizers, gradient clipping and learning-rate schedules.

The update rules, defaults and bias corrections are those of ``torch.optim``
(single-tensor path), operation for operation: in float64 the results agree
with torch to a few ulps (torch fuses some multiply-adds on AVX2; fastmlp
rounds every product and sum, so its C kernels and its numpy reference agree
bit for bit on every ISA and thread count).

``opt.step(params, grads)`` updates a list of float32/float64 numpy arrays in
place with ONE native call for the whole list. The optimizer keeps its state
per parameter position: the first step fixes the layout (count, shapes,
dtypes), later steps must match it. Arguments are checked before anything
changes; a refused step leaves params and state untouched.

Schedules take the optimizer first and set its ``lr`` on ``.step()``, like
torch's (construction counts as step 0 and leaves lr at its initial value).
"""
import math

import numpy as np

from . import _config, ops

__all__ = [
    "Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW",
    "clip_grad_norm", "clip_grad_value",
    "LRScheduler", "StepLR", "ExponentialLR", "InverseTimeLR", "CosineAnnealingLR",
    "ReduceLROnPlateau",
]


def _real(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def _check_lr(lr, allow_zero=False):
    lr = _real(lr, "lr")
    if not math.isfinite(lr) or lr < 0 or (lr == 0 and not allow_zero):
        raise ValueError(f"Invalid learning rate: {lr}")
    return lr


def _check_nonneg(value, what, name):
    value = _real(value, name)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"Invalid {what} value: {value}")
    return value


def _check_eps(eps):
    eps = _real(eps, "eps")
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"Invalid epsilon value: {eps}")
    return eps


def _check_betas(betas):
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    out = []
    for i, b in enumerate(betas):
        b = _real(b, f"betas[{i}]")
        if not (0.0 <= b < 1.0):
            raise ValueError(f"Invalid beta parameter at index {i}: {b} (expected 0 <= beta < 1)")
        out.append(b)
    return tuple(out)


def _threads():
    return _config.get_num_threads()


class Optimizer:
    """Base class: state per parameter position, the plan cache, state_dict.

    Subclasses name their hyperparameters in ``_hyper`` (checked by
    ``_set_hyper``), their state arrays in ``_state_names()`` and implement
    ``step``. ``lr`` is a settable attribute (schedules set it; 0 is allowed
    there, a negative or NaN value is refused).
    """

    _hyper = ()

    def __init__(self, **hyper):
        self._lr = _check_lr(hyper.pop("lr"))
        self._set_hyper(**hyper)
        self.reset()

    # -- hyperparameters
    @property
    def lr(self):
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = _check_lr(value, allow_zero=True)

    def _set_hyper(self, **hyper):
        raise NotImplementedError

    def hyperparameters(self):
        """The hyperparameters as a dict (lr included), torch's param_group."""
        return {"lr": self._lr, **{k: getattr(self, k) for k in self._hyper}}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"

    # -- state
    def _state_names(self):
        return ()

    def __getstate__(self):
        # pickle / deepcopy (scikit-learn clones, joblib): the plan holds raw
        # pointers and the backend module; both are rebuilt on the next step
        d = self.__dict__.copy()
        d["_plan"] = None
        d["_plan_backend"] = None
        return d

    def reset(self):
        """Forget all state (the next step starts afresh and fixes a new layout)."""
        self.state = None      # list (per position) of dict name -> array, or None
        self._step = 0
        self._plan = None
        self._plan_backend = None

    def _slots(self):
        names = self._state_names()
        return [[s[name] for s in self.state] if name in names else None for name in self._slot_order]

    _slot_order = ()

    def _prepare(self, params, grads):
        """The slow path: check everything, create state on the first step, and
        build the plan. Raises before anything is changed."""
        params = ops.check_param_list(params)
        grads = ops.check_grad_list(grads, params)
        names = self._state_names()
        if self.state is not None:
            if len(self.state) != len(params):
                raise ValueError(f"the optimizer's state has {len(self.state)} positions "
                                 f"(state is kept per parameter position), got {len(params)} params")
            for i, (s, p) in enumerate(zip(self.state, params)):
                for name in names:
                    if name in s:
                        ops.check_state_list([[s[name]]], [p], [name], first=i)
        if self.state is None or any(name not in s for s in self.state for name in names):
            state = self.state or [{} for _ in params]
            for s, p in zip(state, params):
                for name in names:
                    if name not in s:
                        s[name] = self._new_state(name, p)
            self.state = state
        self._plan = ops.optim_plan(params, grads, self._slots())
        self._plan_backend = _config.backend()
        return params, grads

    def _new_state(self, name, p):
        return np.zeros_like(p)

    def state_dict(self):
        """{"state": {position: {"step": int, name: array copy, ...}}, "param_groups":
        [hyperparameters with "params": positions]}, torch's layout."""
        state = {}
        if self.state is not None:
            for i, s in enumerate(self.state):
                entry = {"step": self._step}
                entry.update({k: v.copy() for k, v in s.items()})
                state[i] = entry
        group = self.hyperparameters()
        group["params"] = list(range(len(self.state or ())))
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict):
        """Restore hyperparameters and state saved by state_dict() (arrays are copied);
        the next step continues bit-identically."""
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError("state_dict must be a dict with 'state' and 'param_groups'")
        groups = state_dict["param_groups"]
        if not isinstance(groups, (list, tuple)) or len(groups) != 1 or not isinstance(groups[0], dict):
            raise ValueError("state_dict['param_groups'] must hold exactly one group")
        group = dict(groups[0])
        group.pop("params", None)
        unknown = set(group) - {"lr", *self._hyper}
        if unknown:
            raise ValueError(f"unknown hyperparameters for {type(self).__name__}: {sorted(unknown)}")
        hyper = self.hyperparameters()
        hyper.update(group)
        lr = _check_lr(hyper.pop("lr"), allow_zero=True)
        raw = state_dict["state"]
        if not isinstance(raw, dict):
            raise ValueError("state_dict['state'] must be a dict position -> state")
        n = len(raw)
        if set(raw) != set(range(n)):
            raise ValueError(f"state positions must be 0..{n - 1}, got {sorted(raw)}")
        steps = set()
        state = []
        for i in range(n):
            entry = dict(raw[i])
            steps.add(int(entry.pop("step", 0)))
            arrays = {}
            for k, v in entry.items():
                if not isinstance(v, np.ndarray) or v.dtype not in ops.FLOAT_DTYPES:
                    raise ValueError(f"state[{i}][{k!r}] must be a float32 or float64 array")
                arrays[k] = np.array(v, order="C", copy=True)
            state.append(arrays)
        if len(steps) > 1:
            raise ValueError(f"the positions' step counts differ: {sorted(steps)}")
        old = (self._lr, {k: getattr(self, k) for k in self._hyper})
        self._lr = lr
        try:
            self._set_hyper(**hyper)
        except Exception:
            self._lr = old[0]
            self._set_hyper(**old[1])
            raise
        self.reset()
        self.state = state if n else None
        self._step = steps.pop() if steps else 0
        self._after_load()

    def _after_load(self):
        pass

    def step(self, params, grads):
        raise NotImplementedError


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum (torch.optim.SGD)::

        g = grad + weight_decay * p                        (weight_decay != 0)
        b = g                          on the first step  (momentum != 0)
        b = momentum * b + (1 - dampening) * g   afterwards
        g = g + momentum * b   if nesterov, else g = b
        p = p - lr * g

    Parameters
    ----------
    lr : float (> 0)
    momentum : float (>= 0), default 0
    dampening : float, default 0
    nesterov : bool, default False (needs momentum > 0 and dampening == 0)
    weight_decay : float (>= 0), default 0 (L2 penalty added to the gradient)
    """

    _hyper = ("momentum", "dampening", "nesterov", "weight_decay")
    _slot_order = ("momentum_buffer",)

    def __init__(self, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                         weight_decay=weight_decay)

    def _set_hyper(self, momentum, dampening, nesterov, weight_decay):
        momentum = _check_nonneg(momentum, "momentum", "momentum")
        dampening = _real(dampening, "dampening")
        if not math.isfinite(dampening):
            raise ValueError(f"Invalid dampening value: {dampening}")
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be a bool, got {type(nesterov).__name__}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        self.momentum, self.dampening, self.nesterov = momentum, dampening, bool(nesterov)
        self.weight_decay = _check_nonneg(weight_decay, "weight_decay", "weight_decay")

    def _state_names(self):
        return ("momentum_buffer",) if self.momentum != 0 else ()

    def reset(self):
        super().reset()
        self._first = True

    def _after_load(self):
        self._first = not (self.state and all("momentum_buffer" in s for s in self.state))

    def step(self, params, grads):
        """One update of every array in params from grads (lists aligned by position)."""
        if self._plan_backend is not _config._backend_module or not self._plan.sgd(
                params, grads, self._lr, self.momentum, self.dampening, self.weight_decay,
                self.nesterov, self._first, _config._num_threads or 0):
            params, grads = self._prepare(params, grads)
            self._plan.sgd(params, grads, self._lr, self.momentum, self.dampening,
                           self.weight_decay, self.nesterov, self._first, _threads())
        self._first = False
        self._step += 1

    def _prepare(self, params, grads):
        had = self.state is not None and all("momentum_buffer" in s for s in self.state)
        out = super()._prepare(params, grads)
        if not had:
            self._first = True
        return out


class Adagrad(Optimizer):
    r"""Adagrad (torch.optim.Adagrad); ``step`` counts updates from 1::

        clr = lr / (1 + (step - 1) * lr_decay)
        g = grad + weight_decay * p                        (weight_decay != 0)
        s = s + g * g                 (s starts at initial_accumulator_value)
        p = p - clr * g / (sqrt(s) + eps)

    The effective step lr / sqrt(s) shrinks as the accumulator grows.

    Parameters
    ----------
    lr : float (> 0), default 0.01
    eps : float (> 0), default 1e-10
    weight_decay : float (>= 0), default 0
    lr_decay : float (>= 0), default 0
    initial_accumulator_value : float (>= 0), default 0
    """

    _hyper = ("eps", "weight_decay", "lr_decay", "initial_accumulator_value")
    _slot_order = ("sum",)

    def __init__(self, lr=0.01, eps=1e-10, weight_decay=0.0, lr_decay=0.0,
                 initial_accumulator_value=0.0):
        super().__init__(lr=lr, eps=eps, weight_decay=weight_decay, lr_decay=lr_decay,
                         initial_accumulator_value=initial_accumulator_value)

    def _set_hyper(self, eps, weight_decay, lr_decay, initial_accumulator_value):
        self.eps = _check_eps(eps)
        self.weight_decay = _check_nonneg(weight_decay, "weight_decay", "weight_decay")
        self.lr_decay = _check_nonneg(lr_decay, "lr_decay", "lr_decay")
        self.initial_accumulator_value = _check_nonneg(
            initial_accumulator_value, "initial_accumulator_value", "initial_accumulator_value")

    def _state_names(self):
        return ("sum",)

    def _new_state(self, name, p):
        return np.full_like(p, self.initial_accumulator_value)

    def step(self, params, grads):
        """One update of every array in params from grads (lists aligned by position)."""
        step = self._step + 1
        clr = self._lr / (1 + (step - 1) * self.lr_decay)
        if self._plan_backend is not _config._backend_module or not self._plan.adagrad(
                params, grads, clr, self.eps, self.weight_decay, _config._num_threads or 0):
            params, grads = self._prepare(params, grads)
            self._plan.adagrad(params, grads, clr, self.eps, self.weight_decay, _threads())
        self._step = step


class RMSprop(Optimizer):
    r"""RMSprop (torch.optim.RMSprop)::

        g = grad + weight_decay * p                        (weight_decay != 0)
        v = alpha * v + (1 - alpha) * g * g
        avg = sqrt(v) + eps           centered: a = lerp(a, g, 1 - alpha),
                                                avg = sqrt(v - a * a) + eps
        b = momentum * b + g / avg;  p = p - lr * b        (momentum > 0)
        p = p - lr * g / avg                               (otherwise)

    Unlike Adagrad's sum, the moving average forgets old gradients, so the
    step does not shrink over time.

    Parameters
    ----------
    lr : float (> 0), default 0.01
    alpha : float in [0, 1], default 0.99
    eps : float (> 0), default 1e-8
    momentum : float (>= 0), default 0
    weight_decay : float (>= 0), default 0
    centered : bool, default False
    """

    _hyper = ("alpha", "eps", "momentum", "weight_decay", "centered")
    _slot_order = ("square_avg", "momentum_buffer", "grad_avg")

    def __init__(self, lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0,
                 centered=False):
        super().__init__(lr=lr, alpha=alpha, eps=eps, momentum=momentum,
                         weight_decay=weight_decay, centered=centered)

    def _set_hyper(self, alpha, eps, momentum, weight_decay, centered):
        alpha = _real(alpha, "alpha")
        if not (0.0 <= alpha <= 1.0):
            raise ValueError(f"Invalid alpha value: {alpha} (expected 0 <= alpha <= 1)")
        self.alpha = alpha
        self.eps = _check_eps(eps)
        self.momentum = _check_nonneg(momentum, "momentum", "momentum")
        self.weight_decay = _check_nonneg(weight_decay, "weight_decay", "weight_decay")
        if not isinstance(centered, (bool, np.bool_)):
            raise TypeError(f"centered must be a bool, got {type(centered).__name__}")
        self.centered = bool(centered)

    def _state_names(self):
        names = ["square_avg"]
        if self.momentum > 0:
            names.append("momentum_buffer")
        if self.centered:
            names.append("grad_avg")
        return tuple(names)

    def step(self, params, grads):
        """One update of every array in params from grads (lists aligned by position)."""
        if self._plan_backend is not _config._backend_module or not self._plan.rmsprop(
                params, grads, self._lr, self.alpha, self.eps, self.momentum, self.weight_decay,
                self.centered, _config._num_threads or 0):
            params, grads = self._prepare(params, grads)
            self._plan.rmsprop(params, grads, self._lr, self.alpha, self.eps, self.momentum,
                               self.weight_decay, self.centered, _threads())
        self._step += 1


class Adam(Optimizer):
    r"""Adam (torch.optim.Adam); ``step`` counts updates from 1::

        g = grad + weight_decay * p                        (weight_decay != 0)
        m = beta1 * m + (1 - beta1) * g         (as torch: m.lerp_(g, 1 - beta1))
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr / (1 - beta1**step) * m / (sqrt(v) / sqrt(1 - beta2**step) + eps)

    Parameters
    ----------
    lr : float (> 0), default 1e-3
    betas : (float, float) in [0, 1), default (0.9, 0.999)
    eps : float (> 0), default 1e-8
    weight_decay : float (>= 0), default 0 (L2 penalty added to the gradient)
    """

    _hyper = ("betas", "eps", "weight_decay")
    _slot_order = ("exp_avg", "exp_avg_sq")
    _decoupled = False

    def __init__(self, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _set_hyper(self, betas, eps, weight_decay):
        self.betas = _check_betas(betas)
        self.eps = _check_eps(eps)
        self.weight_decay = _check_nonneg(weight_decay, "weight_decay", "weight_decay")

    def _state_names(self):
        return ("exp_avg", "exp_avg_sq")

    def step(self, params, grads):
        """One update of every array in params from grads (lists aligned by position)."""
        step = self._step + 1
        b1, b2 = self.betas
        if self._plan_backend is not _config._backend_module or not self._plan.adam(
                params, grads, self._lr, b1, b2, self.eps, self.weight_decay, self._decoupled,
                step, _config._num_threads or 0):
            params, grads = self._prepare(params, grads)
            self._plan.adam(params, grads, self._lr, b1, b2, self.eps, self.weight_decay,
                            self._decoupled, step, _threads())
        self._step = step


class AdamW(Adam):
    r"""AdamW (torch.optim.AdamW): Adam with decoupled weight decay::

        p = p * (1 - lr * weight_decay)
        m, v as in Adam (from the raw gradient)
        p = p - lr / (1 - beta1**step) * m / (sqrt(v) / sqrt(1 - beta2**step) + eps)

    Parameters as Adam's, with weight_decay defaulting to 0.01.
    """

    _decoupled = True

    def __init__(self, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


# ------------------------------------------------------------------ clipping

def clip_grad_norm(grads, max_norm, error_if_nonfinite=False):
    """Scale grads in place so their global L2 norm is at most max_norm; returns
    the norm before clipping (torch.nn.utils.clip_grad_norm_).

    The norm is taken over all arrays together, in double, as a blocked sum whose
    result does not depend on the thread count; a float64 sum that would
    overflow is rescaled, so finite gradients always give a finite norm. Then,
    as torch does, every gradient is multiplied by
    ``min(1, max_norm / (total_norm + 1e-6))`` (skipped when that is 1).

    Non-finite gradients: with ``error_if_nonfinite=True`` a NaN or infinite
    norm raises RuntimeError and nothing changes. Otherwise torch's semantics
    hold: an infinite norm gives the factor 0, so finite entries become 0 and
    infinite ones NaN (inf * 0); a NaN norm makes every entry NaN. Check the
    returned norm (or pass error_if_nonfinite=True) to skip such a step.
    """
    max_norm = _real(max_norm, "max_norm")
    if not (max_norm >= 0):
        raise ValueError(f"max_norm must be >= 0, got {max_norm}")
    if not isinstance(error_if_nonfinite, (bool, np.bool_)):
        raise TypeError(f"error_if_nonfinite must be a bool, got {type(error_if_nonfinite).__name__}")
    grads = ops.check_param_list(ops._as_list(grads), "grads")
    if not grads:
        return 0.0
    total = ops.grad_norm(grads)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of the gradients is non-finite ({total}), so it cannot be clipped; "
            "pass error_if_nonfinite=False to scale the gradients by it anyway")
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:  # also when coef is NaN
        _config.backend().grad_scale(grads, coef, _threads())
    return total


def clip_grad_value(grads, clip_value):
    """Clamp every gradient entry into [-clip_value, clip_value] in place; NaN
    stays NaN (torch.nn.utils.clip_grad_value_)."""
    clip_value = _real(clip_value, "clip_value")
    if not (clip_value >= 0):
        raise ValueError(f"clip_value must be >= 0, got {clip_value}")
    grads = ops.check_param_list(ops._as_list(grads), "grads")
    if grads:
        _config.backend().grad_clamp(grads, -clip_value, clip_value, _threads())


# ----------------------------------------------------------------- schedules

class LRScheduler:
    """Base class: sets ``optimizer.lr`` on each ``step()``, torch's recursive
    ("chainable") forms, so the lr sequence equals torch's bit for bit.

    Construction is step 0 (lr unchanged); ``last_epoch`` counts steps.
    """

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not a fastmlp optimizer")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0
        self._last_lr = [optimizer.lr]

    def _next_lr(self, lr):
        raise NotImplementedError

    def step(self):
        """Advance one epoch (or batch) and set the optimizer's lr."""
        self.last_epoch += 1
        lr = self._next_lr(self.optimizer.lr)
        self.optimizer.lr = lr
        self._last_lr = [lr]

    def get_last_lr(self):
        """[lr] as set by the last step (a list, as torch's, one optimizer group)."""
        return list(self._last_lr)

    def state_dict(self):
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)

    def __repr__(self):
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr[0]})"


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


class StepLR(LRScheduler):
    """lr = lr0 * gamma ** (epoch // step_size): multiplied by gamma every
    step_size steps."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        self.step_size = _positive_int(step_size, "step_size")
        self.gamma = _check_nonneg(gamma, "gamma", "gamma")
        super().__init__(optimizer)

    def _next_lr(self, lr):
        return lr * self.gamma if self.last_epoch % self.step_size == 0 else lr


class ExponentialLR(LRScheduler):
    """lr = lr0 * gamma ** epoch."""

    def __init__(self, optimizer, gamma):
        self.gamma = _check_nonneg(gamma, "gamma", "gamma")
        super().__init__(optimizer)

    def _next_lr(self, lr):
        return lr * self.gamma


class InverseTimeLR(LRScheduler):
    """lr = lr0 / (1 + decay * epoch) (Keras's InverseTimeDecay with decay_steps=1)."""

    def __init__(self, optimizer, decay):
        self.decay = _check_nonneg(decay, "decay", "decay")
        super().__init__(optimizer)

    def _next_lr(self, lr):
        return self.base_lr / (1.0 + self.decay * self.last_epoch)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (lr0 - eta_min) * (1 + cos(pi * epoch / T_max)) / 2, computed
    with torch's recursive form (so it follows external lr changes as torch does);
    past T_max it rises again (period 2 * T_max), as torch's does."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        self.T_max = _positive_int(T_max, "T_max")
        self.eta_min = _check_nonneg(eta_min, "eta_min", "eta_min")
        super().__init__(optimizer)

    def _next_lr(self, lr):
        t, T, lo = self.last_epoch, self.T_max, self.eta_min
        if (t - 1 - T) % (2 * T) == 0:
            return lr + (self.base_lr - lo) * (1 - math.cos(math.pi / T)) / 2
        return ((1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
                * (lr - lo) + lo)


class ReduceLROnPlateau:
    """Multiply lr by factor when the metric has not improved for more than
    `patience` steps (torch.optim.lr_scheduler.ReduceLROnPlateau semantics).

    ``step(metric)``: improvement means metric < best * (1 - threshold) (mode
    "min", threshold_mode "rel"), metric < best - threshold ("abs"), and the
    mirror images for mode "max". After a reduction, `cooldown` steps are not
    counted; lr never goes below min_lr, and a change smaller than eps is skipped.
    A NaN metric counts as no improvement.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not a fastmlp optimizer")
        factor = _real(factor, "factor")
        if not (0.0 <= factor < 1.0):
            raise ValueError(f"Factor should be < 1.0 (and >= 0), got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 0:
            raise ValueError(f"patience must be an int >= 0, got {patience!r}")
        if isinstance(cooldown, bool) or not isinstance(cooldown, (int, np.integer)) or cooldown < 0:
            raise ValueError(f"cooldown must be an int >= 0, got {cooldown!r}")
        self.optimizer = optimizer
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor = factor
        self.patience, self.cooldown = int(patience), int(cooldown)
        self.threshold = _check_nonneg(threshold, "threshold", "threshold")
        self.min_lr = _check_nonneg(min_lr, "min_lr", "min_lr")
        self.eps = _check_nonneg(eps, "eps", "eps")
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self._last_lr = [optimizer.lr]

    def _is_better(self, a, best):
        if self.mode == "min":
            return a < (best * (1.0 - self.threshold) if self.threshold_mode == "rel"
                        else best - self.threshold)
        return a > (best * (self.threshold + 1.0) if self.threshold_mode == "rel"
                    else best + self.threshold)

    def step(self, metric):
        """Record this epoch's metric (e.g. the validation loss) and maybe reduce lr."""
        current = _real(metric, "metric")
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old = self.optimizer.lr
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [self.optimizer.lr]

    def get_last_lr(self):
        return list(self._last_lr)

    def state_dict(self):
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)
