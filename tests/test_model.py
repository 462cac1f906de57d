"""Sequential/MLP: structure, fit options, diagnostics, divergence, threads, backends."""
import io
import math
import threading
import warnings

import numpy as np
import pytest

import fastmlp

from fastmlp import optim
from fastmlp import callbacks, layers, losses  # noqa: E402
from fastmlp.datasets import load_mnist_sample  # noqa: E402

from conftest import requires_c  # noqa: E402


@pytest.fixture(scope="module")
def mnist():
    X, y, Xt, yt = load_mnist_sample()
    return X[:600], y[:600], Xt[:300], yt[:300]


def _blobs(n=60, d=4, c=3, seed=0):
    r = np.random.default_rng(seed)
    y = r.integers(0, c, n)
    X = (r.standard_normal((n, d)) + 2.5 * np.eye(c, d)[y]).astype(np.float32)
    return X, y


class _Sizes(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.sizes = []
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(f"epoch_begin {epoch}")
        self.sizes.append([])

    def on_batch_end(self, batch, logs=None):
        self.sizes[-1].append(logs["size"])

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(f"epoch_end {epoch}")

    def on_train_end(self, logs=None):
        self.events.append("train_end")


# ------------------------------------------------------------------ structure

def test_mlp_layers():
    m = fastmlp.MLP([8, 6, 5, 3], activation="tanh", batchnorm=True, dropout=0.25, seed=1)
    kinds = [type(layer).__name__ for layer in m.layers]
    assert kinds == ["Dense", "BatchNorm", "Tanh", "Dropout", "Dense", "BatchNorm", "Tanh", "Dropout", "Dense"]
    assert m.sizes == [8, 6, 5, 3] and m.output_shape == (3,) and m.input_shape == (8,)
    assert m.count_params() == 8 * 6 + 6 + 12 + 6 * 5 + 5 + 10 + 5 * 3 + 3
    assert all(p.dtype == np.float32 for p in m.parameters())
    assert [type(layer).__name__ for layer in fastmlp.MLP([4, 3]).layers] == ["Dense"]
    assert [type(layer).__name__ for layer in fastmlp.MLP([4, 5, 3], activation="identity").layers] == ["Dense", "Dense"]
    assert "MLP([8, 6, 5, 3]" in repr(m)
    out = io.StringIO()
    m.summary(file=out)
    assert "total parameters" in out.getvalue()


def test_default_init_and_seed():
    a = fastmlp.MLP([20, 10, 2], activation="sigmoid", seed=3)
    b = fastmlp.MLP([20, 10, 2], activation="sigmoid", seed=3)
    c = fastmlp.MLP([20, 10, 2], activation="sigmoid", seed=4)
    np.testing.assert_array_equal(a.parameters()[0], b.parameters()[0])
    assert not np.array_equal(a.parameters()[0], c.parameters()[0])
    assert a.init == "xavier_normal" and fastmlp.MLP([4, 3], activation="relu").init == "he_normal"
    assert isinstance(fastmlp.MLP([4, 3]).seed, int)


def test_float64_model_converts_inputs_once():
    X, y = _blobs()
    m = fastmlp.MLP([4, 5, 3], dtype="float64", seed=0)
    assert all(p.dtype == np.float64 for p in m.parameters())
    m.fit(X.astype(np.int64), y, epochs=1, verbose=0)  # int X converted at the boundary
    assert m.predict_proba(X).dtype == np.float64


def test_sequential_custom_and_pooling():
    r = np.random.default_rng(0)
    X = r.standard_normal((40, 1, 8, 8)).astype(np.float32)
    y = (X.reshape(40, -1).mean(axis=1) > 0).astype(np.int64)
    m = fastmlp.Sequential([layers.MaxPool2d(2), layers.Flatten(), layers.Dense(16, 8), layers.ReLU(),
                            layers.Dense(8, 2)], seed=0, input_shape=(1, 8, 8))
    h = m.fit(X, y, epochs=3, batch_size=8, verbose=0)
    assert len(h["loss"]) == 3 and m.predict(X).shape == (40,)
    with pytest.raises(ValueError, match=r"\(N, 1, 8, 8\)"):
        m.predict(np.ones((2, 64), np.float32))
    with pytest.raises(TypeError):
        fastmlp.Sequential([layers.Dense(2, 2), "relu"])
    with pytest.raises(ValueError):
        fastmlp.Sequential([])


# ------------------------------------------------------------- gradients

def test_backward_matches_finite_differences():
    """The fused Dense+activation plan and BatchNorm give the true gradient (float64)."""
    r = np.random.default_rng(0)
    X = r.standard_normal((7, 5))
    y = r.integers(0, 3, 7)
    for act, bn in (("sigmoid", False), ("tanh", True), ("elu", True), ("leaky_relu", False)):
        m = fastmlp.MLP([5, 4, 3], activation=act, batchnorm=bn, dtype="float64", seed=2)
        loss = losses.SoftmaxCrossEntropy()

        def f():
            return loss.forward(m.forward(X, training=True), y)

        f()
        m.backward(loss.backward())
        grads = [g.copy() for g in m.gradients()]
        for p, g in zip(m.parameters(), grads):
            num = np.zeros_like(p)
            for i in np.ndindex(p.shape):
                old = p[i]
                p[i] = old + 1e-6
                up = f()
                p[i] = old - 1e-6
                down = f()
                p[i] = old
                num[i] = (up - down) / 2e-6
            np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-8, err_msg=f"{act} bn={bn}")


# -------------------------------------------------------------------- fit

def test_fit_history_and_learning(mnist):
    X, y, Xt, yt = mnist
    m = fastmlp.MLP([784, 30, 10], activation="sigmoid", seed=0)
    h = m.fit(X, y, epochs=3, batch_size=10, optimizer=optim.SGD(lr=1.0), validation_data=(Xt, yt), verbose=0)
    assert isinstance(h, callbacks.History)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"}
    assert h.epoch == [0, 1, 2] and h["lr"] == [1.0, 1.0, 1.0]
    assert h["loss"][2] < h["loss"][0] and h["accuracy"][2] > 0.8
    ev = m.evaluate(Xt, yt)
    assert ev["accuracy"] == pytest.approx(h["val_accuracy"][-1]) and ev["accuracy"] > 0.75
    assert ev["loss"] == pytest.approx(h["val_loss"][-1])
    proba = m.predict_proba(Xt)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(m.predict(Xt), np.argmax(proba, axis=1))
    assert np.mean(m.predict(Xt) == yt) == pytest.approx(ev["accuracy"])


def test_fit_is_reproducible_and_shuffles_per_epoch():
    X, y = _blobs()
    runs = []
    for shuffle in (True, True, False):
        m = fastmlp.MLP([4, 6, 3], seed=5)
        m.fit(X, y, epochs=2, batch_size=7, optimizer=optim.SGD(lr=0.1), shuffle=shuffle, verbose=0)
        runs.append(m.parameters()[0].copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_batches_cover_the_data():
    X, y = _blobs(n=23)
    cb = _Sizes()
    fastmlp.MLP([4, 3], seed=0).fit(X, y, epochs=2, batch_size=5, callbacks=[cb], verbose=0)
    assert cb.sizes == [[5, 5, 5, 5, 3]] * 2
    assert cb.events == ["train_begin", "epoch_begin 0", "epoch_end 0", "epoch_begin 1", "epoch_end 1", "train_end"]
    cb = _Sizes()
    fastmlp.MLP([4, 5, 3], batchnorm=True, seed=0).fit(X[:21], y[:21], batch_size=5, callbacks=[cb], verbose=0)
    assert cb.sizes == [[5, 5, 5, 6]]  # BatchNorm cannot train on one sample: it joins the batch before
    cb = _Sizes()
    fastmlp.MLP([4, 3], seed=0).fit(X, y, batch_size=100, callbacks=[cb], verbose=0)
    assert cb.sizes == [[23]]


def test_full_batch_is_gradient_descent():
    X, y = _blobs(n=12)
    a = fastmlp.MLP([4, 5, 3], activation="tanh", dtype="float64", seed=0)
    b = fastmlp.MLP([4, 5, 3], activation="tanh", dtype="float64", seed=0)
    a.fit(X, y, epochs=3, batch_size=len(X), optimizer=optim.SGD(lr=0.5), verbose=0)
    opt = optim.SGD(lr=0.5)
    for _ in range(3):
        b.train_step(X, y, losses.SoftmaxCrossEntropy(), opt)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p, q, rtol=1e-12)


def test_fit_continues():
    X, y = _blobs()
    m = fastmlp.MLP([4, 6, 3], seed=0)
    opt = optim.Adam(lr=0.01)
    h1 = m.fit(X, y, epochs=2, optimizer=opt, verbose=0)
    h2 = m.fit(X, y, epochs=2, verbose=0)  # same optimizer and loss, continued
    assert m.optimizer is opt and isinstance(m.loss, losses.SoftmaxCrossEntropy)
    assert h2.epoch == [2, 3] and m.epochs_trained == 4
    assert h2["loss"][-1] < h1["loss"][0]
    assert len(m.fit(X, y, epochs=0, verbose=0)) == 0


def test_default_loss_follows_targets():
    X, y = _blobs()
    m = fastmlp.MLP([4, 8, 2], seed=0)
    T = np.c_[X[:, 0] + X[:, 1], X[:, 2] - X[:, 3]].astype(np.float64)
    h = m.fit(X, T, epochs=20, batch_size=10, optimizer=optim.Adam(lr=0.01), verbose=0)
    assert isinstance(m.loss, losses.MSE) and "accuracy" not in h.history
    assert h["loss"][-1] < 0.5 * h["loss"][0]
    assert m.predict(X).shape == (60, 2) and set(m.evaluate(X, T)) == {"loss"}
    r = fastmlp.MLP([4, 8, 1], seed=0)
    r.fit(X, T[:, 0], epochs=1, verbose=0)  # (N,) targets for one output
    assert r.predict(X).shape == (60, 1)


def test_probability_targets_and_bce():
    X, y = _blobs()
    P = np.eye(3)[y] * 0.9 + 0.1 / 3
    m = fastmlp.MLP([4, 6, 3], seed=0)
    h = m.fit(X, P, loss="softmax_cross_entropy", epochs=5, optimizer=optim.Adam(lr=0.01), verbose=0)
    assert "accuracy" in h.history
    b = fastmlp.MLP([4, 6, 1], seed=0)
    target = (y == 0).astype(np.float32)
    b.fit(X, target, loss="bce_with_logits", epochs=30, optimizer=optim.Adam(lr=0.02), verbose=0)
    assert np.mean(b.predict(X).ravel() == target) > 0.9
    assert np.all((b.predict_proba(X) > 0) & (b.predict_proba(X) < 1))


def test_validation_split_uses_the_last_rows():
    X, y = _blobs(n=50)
    m = fastmlp.MLP([4, 3], seed=0)
    cb = _Sizes()
    h = m.fit(X, y, validation_split=0.2, batch_size=50, callbacks=[cb], verbose=0)
    assert cb.sizes == [[40]]
    assert h["val_loss"][0] == pytest.approx(m.evaluate(X[40:], y[40:])["loss"], rel=1e-6)
    assert "val_accuracy" in h.history


def test_clipping_bounds_the_update():
    X, y = _blobs()
    for kw, bound in (({"clip_norm": 1e-3}, lambda d: np.sqrt(sum(float(np.sum(x * x)) for x in d)) <= 1e-3 * 1.001),
                      ({"clip_value": 1e-4}, lambda d: max(float(np.abs(x).max()) for x in d) <= 1e-4 * 1.001)):
        m = fastmlp.MLP([4, 6, 3], seed=0, dtype="float64")
        before = [p.copy() for p in m.parameters()]
        m.fit(X, y, epochs=1, batch_size=len(X), optimizer=optim.SGD(lr=1.0), verbose=0, **kw)
        assert bound([p - q for p, q in zip(m.parameters(), before)])


def test_l1_l2_penalties():
    X, y = _blobs()
    norms = {}
    for name, kw in (("none", {}), ("l2", {"l2": 0.1}), ("l1", {"l1": 0.01})):
        m = fastmlp.MLP([4, 16, 3], seed=0)
        h = m.fit(X, y, epochs=20, batch_size=10, optimizer=optim.SGD(lr=0.1), verbose=0, **kw)
        norms[name] = (float(np.sum(m.parameters()[0] ** 2)), float(np.abs(m.parameters()[0]).sum()), h["loss"][-1])
    assert norms["l2"][0] < norms["none"][0] and norms["l1"][1] < norms["none"][1]
    # the reported loss includes the penalty: a step's loss with l2 is larger than without
    m = fastmlp.MLP([4, 3], seed=0, dtype="float64")
    base = m.evaluate(X, y)["loss"]
    W = m.parameters()[0].copy()
    value = m.train_step(X, y, losses.SoftmaxCrossEntropy(), optim.SGD(lr=1e-12), l2=0.5)
    assert value == pytest.approx(base + 0.25 * np.sum(W * W), rel=1e-9)


def test_per_layer_penalty_adds_to_the_fit_one():
    X, y = _blobs()
    a = fastmlp.Sequential([layers.Dense(4, 3, l2=0.2)], seed=0, dtype="float64")
    b = fastmlp.Sequential([layers.Dense(4, 3)], seed=0, dtype="float64")
    a.fit(X, y, epochs=2, optimizer=optim.SGD(lr=0.1), l2=0.1, verbose=0)
    b.fit(X, y, epochs=2, optimizer=optim.SGD(lr=0.1), l2=0.3, verbose=0)
    np.testing.assert_allclose(a.parameters()[0], b.parameters()[0], rtol=1e-12)


def test_lr_schedules():
    X, y = _blobs()
    opt = optim.SGD(lr=0.1)
    h = fastmlp.MLP([4, 3], seed=0).fit(X, y, epochs=3, optimizer=opt, lr_schedule=optim.StepLR(opt, 1, gamma=0.5),
                                       verbose=0)
    np.testing.assert_allclose(h["lr"], [0.1, 0.05, 0.025])
    opt = optim.SGD(lr=0.1)
    h = fastmlp.MLP([4, 3], seed=0).fit(X, y, epochs=3, optimizer=opt, lr_schedule=lambda e: 0.1 / (1 + e), verbose=0)
    np.testing.assert_allclose(h["lr"], [0.1, 0.05, 0.1 / 3])
    opt = optim.SGD(lr=0.1)
    plateau = optim.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    fastmlp.MLP([4, 3], seed=0).fit(X, y, epochs=3, optimizer=opt, lr_schedule=plateau,
                                    validation_data=(X, y), verbose=0)
    with pytest.raises(ValueError, match="another optimizer"):
        fastmlp.MLP([4, 3]).fit(X, y, optimizer=optim.SGD(lr=0.1), lr_schedule=optim.StepLR(opt, 1), verbose=0)


def test_early_stopping_in_fit():
    X, y = _blobs()
    es = callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0, restore_best_weights=True)
    m = fastmlp.MLP([4, 3], seed=0)
    h = m.fit(X, y, epochs=10, callbacks=[es], verbose=0)
    assert len(h["loss"]) == 2 and es.stopped_epoch == 1


def test_verbose_output(capsys):
    X, y = _blobs()
    m = fastmlp.MLP([4, 3], seed=0)
    m.fit(X, y, epochs=2, verbose=0)
    m.fit(X, y, epochs=2, verbose=1)  # not a terminal: quiet
    assert capsys.readouterr().out == ""
    m.fit(X, y, epochs=2, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("Epoch 1/2 - loss")


# ------------------------------------------------------------- diagnostics

def test_gradient_norms_show_vanishing_gradients(mnist):
    X, y, _, _ = mnist
    m = fastmlp.MLP([784, 30, 30, 30, 10], activation="sigmoid", init="normal", seed=0)
    h = m.fit(X, y, epochs=2, batch_size=10, optimizer=optim.SGD(lr=0.1), track_gradients=True, verbose=0)
    norms = h["grad_norms"]
    assert len(norms) == 2 and all(len(e) == 4 for e in norms)
    assert all(math.isfinite(v) and v > 0 for e in norms for v in e)
    assert norms[0][0] < 0.25 * norms[0][-1]  # the first layer learns far slower than the last


def test_activation_statistics(mnist):
    X, y, _, _ = mnist
    m = fastmlp.MLP([784, 20, 10, 10], activation="sigmoid", seed=0)
    h = m.fit(X, y, epochs=2, batch_size=20, optimizer=optim.SGD(lr=0.5), track_activations=True, verbose=0)
    acts = h["activations"]
    assert len(acts) == 2 and [s["layer"] for s in acts[0]] == ["1:Sigmoid", "3:Sigmoid"]
    s = acts[0][0]
    assert set(s) == {"layer", "mean", "std", "frac_saturated", "hist", "bin_edges"}
    assert s["hist"].sum() == 600 * 20 and len(s["bin_edges"]) == 51
    assert s["bin_edges"][0] == 0.0 and s["bin_edges"][-1] == 1.0 and 0 <= s["frac_saturated"] <= 1
    now = m.activation_stats(X[:100], bins=10)
    assert len(now) == 2 and now[1]["hist"].sum() == 100 * 10 and len(now[1]["bin_edges"]) == 11
    relu = fastmlp.MLP([784, 20, 10], activation="relu", seed=0)
    assert 0 < relu.activation_stats(X[:50])[0]["frac_saturated"] < 1  # dead units at exactly 0


def test_diagnostics_off_by_default():
    X, y = _blobs()
    h = fastmlp.MLP([4, 3], seed=0).fit(X, y, verbose=0)
    assert "grad_norms" not in h.history and "activations" not in h.history


# ---------------------------------------------------------------- divergence

def test_nonfinite_loss_stops_and_keeps_finite_weights():
    X, y = _blobs()
    X = X * 1e3
    m = fastmlp.MLP([4, 32, 3], activation="relu", batchnorm=False, seed=0)
    with pytest.warns(RuntimeWarning, match=r"epoch \d+, batch \d+"):
        h = m.fit(X, y, epochs=50, batch_size=5, optimizer=optim.SGD(lr=1e6), verbose=0)
    assert h.stop_reason and "non-finite" in h.stop_reason
    assert not math.isfinite(h["loss"][-1]) and len(h["loss"]) < 50
    assert all(np.isfinite(p).all() for p in m.parameters())
    assert all(np.isfinite(b).all() for layer in m.layers for b in layer.buffers.values())
    with pytest.raises(FloatingPointError, match="batch"):
        m.fit(X, y, epochs=50, batch_size=5, optimizer=optim.SGD(lr=1e6), verbose=0, on_nonfinite="raise")


def test_nonfinite_with_batchnorm_restores_buffers():
    X, y = _blobs()
    m = fastmlp.MLP([4, 8, 3], batchnorm=True, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(X * 1e30, y, epochs=20, batch_size=6, optimizer=optim.SGD(lr=1e10), verbose=0)
    assert all(np.isfinite(a).all() for a in m.state_dict().values())


# ------------------------------------------------------------------ threads

def test_concurrent_fit_is_refused():
    X, y = _blobs()
    m = fastmlp.MLP([4, 3], seed=0)
    started, release = threading.Event(), threading.Event()

    class _Hold(callbacks.Callback):
        def on_train_begin(self, logs=None):
            started.set()
            release.wait(10)

    t = threading.Thread(target=m.fit, args=(X, y), kwargs=dict(epochs=1, callbacks=[_Hold()], verbose=0))
    t.start()
    assert started.wait(10)
    before = [p.copy() for p in m.parameters()]
    with pytest.raises(RuntimeError, match="another thread"):
        m.fit(X, y, verbose=0)
    for p, q in zip(m.parameters(), before):
        np.testing.assert_array_equal(p, q)
    release.set()
    t.join()
    m.fit(X, y, verbose=0)  # free again


def test_concurrent_predict_is_safe(monkeypatch):
    from fastmlp import model as model_mod

    X, y = _blobs(n=200)
    m = fastmlp.MLP([4, 16, 3], batchnorm=True, dropout=0.3, seed=0)
    m.fit(X, y, epochs=2, verbose=0)
    expected = m.predict_proba(X)
    monkeypatch.setattr(model_mod, "PREDICT_CHUNK", 7)
    np.testing.assert_array_equal(m.predict_proba(X), expected)  # chunked == whole
    results = [None] * 6

    def work(i):
        results[i] = [m.predict_proba(X) for _ in range(5)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        for out in r:
            np.testing.assert_array_equal(out, expected)


# ----------------------------------------------------------------- backends

@requires_c
def test_c_and_reference_backends_agree(mnist):
    X, y, Xt, yt = mnist
    acc = {}
    old = fastmlp.get_backend()
    try:
        for name in ("c", "reference"):
            fastmlp.set_backend(name)
            m = fastmlp.MLP([784, 30, 10], activation="sigmoid", seed=0)
            m.fit(X, y, epochs=3, batch_size=10, optimizer=optim.SGD(lr=1.0), verbose=0)
            acc[name] = m.evaluate(Xt, yt)["accuracy"]
    finally:
        fastmlp.set_backend(old)
    assert abs(acc["c"] - acc["reference"]) <= 0.005 + 1e-12, acc


def test_progress_bar_on_a_terminal(monkeypatch):
    class _TTY(io.StringIO):
        def isatty(self):
            return True

    out = _TTY()
    monkeypatch.setattr("sys.stdout", out)
    X, y = _blobs(n=200)
    fastmlp.MLP([4, 3], seed=0).fit(X, y, epochs=2, batch_size=10, verbose=1)
    text = out.getvalue()
    assert "batch/s" in text and "ETA" in text and "\r" in text and "Epoch 2/2 - loss" in text


@pytest.mark.parametrize("name", ["sgd", "adagrad", "rmsprop", "adam", "adamw"])
def test_fit_accepts_optimizer_names(name):
    X = np.random.default_rng(0).standard_normal((20, 4)).astype(np.float32)
    y = np.arange(20) % 3
    model = fastmlp.MLP([4, 5, 3], seed=0)
    history = model.fit(X, y, epochs=2, batch_size=5, optimizer=name, verbose=0)
    assert np.isfinite(history["loss"]).all()
    assert type(model.optimizer).__name__.lower() == name
