"""Callbacks: hooks into ``Sequential.fit``, and the ``History`` it returns.

A callback subclasses :class:`Callback` and overrides the hooks it needs.
``fit`` calls ``set_model(model)`` and sets ``callback.params`` (``epochs``,
``steps`` per epoch, ``samples``, ``batch_size``, ``verbose``) before
``on_train_begin``. ``logs`` are dicts: after an epoch they hold ``loss``,
``accuracy`` (classification), ``val_loss``/``val_accuracy`` (with validation
data), ``lr`` and ``time``; after a batch they hold ``loss`` and ``size``.
Setting ``model.stop_training = True`` ends training after the current epoch.
"""
import math
import sys
import time
import warnings

import numpy as np


class Callback:
    """Base class: every hook does nothing."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = dict(params)

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    # a callback that overrides on_batch_end is called per batch; others cost nothing per step
    def _wants_batches(self):
        return type(self).on_batch_end is not Callback.on_batch_end


class History(Callback):
    """Per-epoch records of one ``fit``: ``history.history[key]`` is a list with
    one entry per epoch (``history[key]`` works as well); ``history.epoch`` the
    epoch numbers (counted over every ``fit`` of the model, from 0)."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []
        self.stop_reason = None

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key):
        return self.history[key]

    def __contains__(self, key):
        return key in self.history

    def keys(self):
        return self.history.keys()

    def __len__(self):
        return len(self.epoch)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


def _monitor_mode(monitor, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        mode = "max" if "acc" in monitor else "min"
    return mode


class _Monitor(Callback):
    def __init__(self, monitor, mode, min_delta=0.0):
        super().__init__()
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a str, got {type(monitor).__name__}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float, np.number)) \
                or not math.isfinite(min_delta) or min_delta < 0:
            raise ValueError(f"min_delta must be a finite number >= 0, got {min_delta!r}")
        self.monitor = monitor
        self.mode = _monitor_mode(monitor, mode)
        self.min_delta = float(min_delta)
        self._warned = False

    def _reset(self):
        self.best = math.inf if self.mode == "min" else -math.inf

    def _improved(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def _value(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            if not self._warned:
                warnings.warn(f"{type(self).__name__}: '{self.monitor}' is not in the logs "
                              f"(available: {sorted(logs or {})}); pass validation data or another monitor",
                              RuntimeWarning, stacklevel=3)
                self._warned = True
            return None
        return float(value)


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` epochs. With ``restore_best_weights`` the model gets back the
    weights (and buffers) of its best epoch when training ends.
    ``mode``: "min", "max" or "auto" (max for accuracies, min otherwise)."""

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, restore_best_weights=False, mode="auto"):
        super().__init__(monitor, mode, min_delta)
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 0:
            raise ValueError(f"patience must be an int >= 0, got {patience!r}")
        self.patience = int(patience)
        self.restore_best_weights = bool(restore_best_weights)
        self._reset()

    def _reset(self):
        super()._reset()
        self.wait = 0
        self.stopped_epoch = None
        self.best_epoch = None
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        value = self._value(logs)
        if value is None or not math.isfinite(value):
            return
        if self._improved(value):
            self.best = value
            self.best_epoch = epoch
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = self.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)


class ModelCheckpoint(_Monitor):
    """Save the model after every epoch (``save_best_only``: only when
    ``monitor`` improved). ``path`` may hold ``{epoch}`` (1-based) and log keys,
    e.g. ``"model-{epoch:02d}-{val_loss:.3f}.npz"``."""

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto", save_optimizer=True):
        super().__init__(monitor, mode)
        self.path = str(path)
        self.save_best_only = bool(save_best_only)
        self.save_optimizer = bool(save_optimizer)
        self.saved = []
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = self._value(logs)
            if value is None or not math.isfinite(value) or not self._improved(value):
                return
            self.best = value
        scalars = {k: v for k, v in logs.items() if isinstance(v, (int, float, np.number))}
        path = self.path.format(epoch=epoch + 1, **scalars)
        self.model.save(path, include_optimizer=self.save_optimizer)
        self.saved.append(path)


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, on_train_begin=None, on_train_end=None, on_epoch_begin=None, on_epoch_end=None,
                 on_batch_end=None):
        super().__init__()
        for name, fn in [("on_train_begin", on_train_begin), ("on_train_end", on_train_end),
                         ("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                         ("on_batch_end", on_batch_end)]:
            if fn is not None:
                if not callable(fn):
                    raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
                setattr(self, name, fn)

    def _wants_batches(self):
        return "on_batch_end" in self.__dict__


def _fmt_time(seconds):
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def format_logs(logs):
    """"loss 0.1234 - accuracy 0.9650 - ..." for the scalar entries of an epoch's logs."""
    parts = []
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        if key in logs and logs[key] is not None:
            value = logs[key]
            parts.append(f"{key} {value:.4g}" if key == "lr" else f"{key} {value:.4f}")
    if "time" in logs:
        parts.append(f"{logs['time']:.2f}s")
    return " - ".join(parts)


class ProgressBar(Callback):
    """A progress bar per epoch (batches/s, running loss, ETA) and a line of
    metrics when the epoch ends.

    The live bar is drawn only on a terminal (``file.isatty()``); elsewhere it
    is quiet, and with ``epoch_lines=True`` it prints only the per-epoch line.
    ``fit(verbose=1)`` adds a ``ProgressBar()``, ``verbose=2`` a
    ``ProgressBar(epoch_lines=True)``.
    """

    def __init__(self, file=None, width=30, epoch_lines=False, interval=0.1):
        super().__init__()
        self.file = file
        self.width = int(width)
        self.epoch_lines = bool(epoch_lines)
        self.interval = float(interval)

    def _out(self):
        return self.file if self.file is not None else sys.stdout

    def _tty(self):
        out = self._out()
        try:
            return bool(out.isatty())
        except (AttributeError, ValueError):
            return False

    def on_train_begin(self, logs=None):
        self._live = self._tty()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._start = time.perf_counter()
        self._last = 0.0
        self._loss_sum = 0.0
        self._seen = 0

    def _wants_batches(self):
        return self._tty()

    def on_batch_end(self, batch, logs=None):
        if not self._live:
            return
        logs = logs or {}
        size = logs.get("size", 1)
        self._loss_sum += float(logs.get("loss", 0.0)) * size
        self._seen += size
        now = time.perf_counter()
        steps = self.params.get("steps", 0) or 1
        if now - self._last < self.interval and batch + 1 < steps:
            return
        self._last = now
        elapsed = now - self._start
        done = batch + 1
        rate = done / elapsed if elapsed > 0 else math.inf
        eta = (steps - done) / rate if rate > 0 else math.inf
        filled = int(self.width * done / steps)
        bar = "=" * max(filled - 1, 0) + (">" if filled < self.width else "=") + "." * (self.width - filled)
        loss = self._loss_sum / max(self._seen, 1)
        line = (f"\rEpoch {self._epoch - self.params.get('initial_epoch', 0) + 1}/{self.params.get('epochs', '?')} [{bar}] {done}/{steps} "
                f"{rate:.0f} batch/s - loss {loss:.4f} - ETA {_fmt_time(eta)}")
        out = self._out()
        out.write(line)
        out.flush()

    def on_epoch_end(self, epoch, logs=None):
        if not (self._live or self.epoch_lines):
            return
        out = self._out()
        prefix = "\r\x1b[2K" if self._live else ""
        out.write(f"{prefix}Epoch {epoch - self.params.get('initial_epoch', 0) + 1}/{self.params.get('epochs', '?')} - {format_logs(logs or {})}\n")
        out.flush()
