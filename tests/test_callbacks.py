"""fastmlp.callbacks on their own (a small test double stands in for the model's
state_dict/save/stop_training); their use inside fit is in test_model.py."""
import io
import warnings

import numpy as np
import pytest

from fastmlp import callbacks


class _Model:
    """What callbacks touch on a model."""

    def __init__(self):
        self.w = np.zeros(2)
        self.stop_training = False
        self.saved = []

    def state_dict(self):
        return {"w": self.w.copy()}

    def load_state_dict(self, d):
        self.w[...] = d["w"]

    def save(self, path, include_optimizer=True):
        self.saved.append(path)


def _run(cb, values, key="val_loss", model=None):
    model = model or _Model()
    cb.set_model(model)
    cb.set_params({"epochs": len(values), "steps": 1})
    cb.on_train_begin({})
    for epoch, v in enumerate(values):
        model.w[:] = epoch
        cb.on_epoch_begin(epoch, {})
        cb.on_epoch_end(epoch, {key: v, "loss": 1.0})
        if model.stop_training:
            break
    cb.on_train_end({})
    return model, epoch


def test_history_records_logs():
    h = callbacks.History()
    h.on_epoch_end(0, {"loss": 1.0, "accuracy": 0.5})
    h.on_epoch_end(1, {"loss": 0.5, "accuracy": 0.7})
    assert h["loss"] == [1.0, 0.5] and h.history["accuracy"] == [0.5, 0.7]
    assert h.epoch == [0, 1] and "loss" in h and len(h) == 2 and set(h.keys()) == {"loss", "accuracy"}


def test_early_stopping_patience_and_restore():
    es = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    model, stopped = _run(es, [3.0, 2.0, 2.5, 2.4, 1.0])
    assert stopped == 3 and es.stopped_epoch == 3 and es.best == 2.0 and es.best_epoch == 1
    np.testing.assert_array_equal(model.w, 1.0)  # the best epoch's weights


def test_early_stopping_min_delta_and_mode():
    es = callbacks.EarlyStopping(monitor="val_loss", patience=1, min_delta=0.5)
    _, stopped = _run(es, [3.0, 2.8, 2.0])
    assert stopped == 1
    es = callbacks.EarlyStopping(monitor="val_accuracy", patience=1)
    assert es.mode == "max"
    _, stopped = _run(es, [0.5, 0.6, 0.55, 0.9], key="val_accuracy")
    assert stopped == 2
    es = callbacks.EarlyStopping(patience=0)
    _, stopped = _run(es, [1.0, 2.0])
    assert stopped == 1


def test_early_stopping_missing_monitor_warns_once():
    es = callbacks.EarlyStopping(patience=1)
    with pytest.warns(RuntimeWarning, match="val_loss"):
        _, stopped = _run(es, [1.0, 2.0, 3.0], key="other")
    assert stopped == 2  # never stops


@pytest.mark.parametrize("kwargs", [{"patience": -1}, {"patience": 1.5}, {"min_delta": -0.1}, {"mode": "up"}])
def test_early_stopping_refuses(kwargs):
    with pytest.raises((ValueError, TypeError)):
        callbacks.EarlyStopping(**kwargs)


def test_model_checkpoint(tmp_path):
    cp = callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch:02d}-{val_loss:.1f}.npz"))
    model, _ = _run(cp, [3.0, 2.0, 2.5])
    assert [p.rsplit("/", 1)[-1] for p in model.saved] == ["m-01-3.0.npz", "m-02-2.0.npz", "m-03-2.5.npz"]
    best = callbacks.ModelCheckpoint(str(tmp_path / "best.npz"), save_best_only=True)
    model, _ = _run(best, [3.0, 2.0, 2.5, 1.0])
    assert len(model.saved) == 3


def test_lambda_callback():
    seen = []
    cb = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append((e, logs["loss"])))
    assert not cb._wants_batches()
    _run(cb, [1.0, 2.0])
    assert seen == [(0, 1.0), (1, 1.0)]
    assert callbacks.LambdaCallback(on_batch_end=lambda b, logs: None)._wants_batches()
    with pytest.raises(TypeError):
        callbacks.LambdaCallback(on_epoch_end=3)


class _TTY(io.StringIO):
    def isatty(self):
        return True


def _drive_bar(bar, steps=20):
    bar.set_params({"epochs": 2, "steps": steps, "initial_epoch": 0})
    bar.on_train_begin({})
    for epoch in range(2):
        bar.on_epoch_begin(epoch, {})
        for b in range(steps):
            bar.on_batch_end(b, {"loss": 0.5, "size": 10})
        bar.on_epoch_end(epoch, {"loss": 0.5, "accuracy": 0.9, "time": 0.1, "lr": 0.1})


def test_progress_bar_on_a_terminal():
    out = _TTY()
    bar = callbacks.ProgressBar(file=out, interval=0.0)
    assert bar._wants_batches()
    _drive_bar(bar)
    text = out.getvalue()
    assert "\r" in text and "batch/s" in text and "ETA" in text and "20/20" in text
    assert "Epoch 2/2 - loss 0.5000 - accuracy 0.9000" in text


def test_progress_bar_quiet_off_a_terminal():
    out = io.StringIO()
    bar = callbacks.ProgressBar(file=out)
    assert not bar._wants_batches()
    _drive_bar(bar)
    assert out.getvalue() == ""
    out = io.StringIO()
    _drive_bar(callbacks.ProgressBar(file=out, epoch_lines=True))
    assert out.getvalue().splitlines()[0].startswith("Epoch 1/2 - loss 0.5000") and "\r" not in out.getvalue()


def test_base_callback_hooks_do_nothing():
    cb = callbacks.Callback()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _run(cb, [1.0])
    assert not cb._wants_batches()
