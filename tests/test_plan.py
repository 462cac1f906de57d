"""The compiled training plan (fastmlp._plan, csrc/plan.c) against fit's Python loop.

Every test trains the same model twice from the same seed on the C backend: once
through the plan, once with the plan switched off (fit's Python loop, the same
kernels called one by one), and asks for the SAME BITS: parameters, buffers,
optimizer state and step counters, dropout/BatchNorm counters, and the history.
"""
import io
import warnings

import numpy as np
import pytest

import fastmlp

from fastmlp import _plan, callbacks, layers, optim  # noqa: E402

from conftest import requires_c

pytestmark = [requires_c, pytest.mark.usefixtures("c_backend")]



def _assert_same(a, b, what):
    """Equal bits, shape and dtype (assert_array_equal's strict= needs numpy 1.24)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (what, a.dtype, a.shape, b.dtype, b.shape)
    np.testing.assert_array_equal(a, b, err_msg=what)

def _data(n=53, d=12, classes=4, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = rng.integers(0, classes, n)
    return X, y


def _fit(make_model, make_opt, use_plan, monkeypatch, X, y, **kw):
    model = make_model()
    opt = make_opt()
    built = []
    real = _plan.build

    def build(*a, **k):
        t = real(*a, **k) if use_plan else None
        built.append(t)
        return t

    with monkeypatch.context() as m:
        m.setattr(_plan, "build", build)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            hist = model.fit(X, y, optimizer=opt, verbose=0, **kw)
    return model, opt, hist, built, [str(x.message) for x in w]


def _counters(model):
    out = []
    for layer in model.layers:
        if isinstance(layer, layers.Dropout):
            out.append(("calls", layer.calls))
        if isinstance(layer, layers.BatchNorm):
            out.append(("batches", layer.num_batches_tracked))
    return out


def _same_history(h1, h2):
    assert set(h1.history) == set(h2.history)
    for key in h1.history:
        if key == "time":
            continue
        a, b = h1.history[key], h2.history[key]
        assert len(a) == len(b), key
        for u, v in zip(a, b):
            if isinstance(u, float):
                assert (u == v) or (np.isnan(u) and np.isnan(v)), (key, a, b)
            elif key != "activations":
                assert u == v, (key, a, b)


def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype
        _assert_same(sa[k], sb[k], k)


def _same_optimizer(o1, o2):
    assert o1._step == o2._step
    assert getattr(o1, "_first", None) == getattr(o2, "_first", None)
    _same_optimizer_state(o1.state_dict(), o2.state_dict())


def _same_optimizer_state(s1, s2):
    assert s1["param_groups"] == s2["param_groups"]
    assert list(s1["state"]) == list(s2["state"])
    for i in s1["state"]:
        for k, v in s1["state"][i].items():
            if isinstance(v, np.ndarray):
                _assert_same(v, s2["state"][i][k], f"{i}.{k}")
            else:
                assert v == s2["state"][i][k]


def _check(make_model, make_opt, monkeypatch, X, y, expect_plan=True, **kw):
    m1, o1, h1, b1, w1 = _fit(make_model, make_opt, True, monkeypatch, X, y, **kw)
    m2, o2, h2, b2, w2 = _fit(make_model, make_opt, False, monkeypatch, X, y, **kw)
    assert (b1[0] is not None) == expect_plan
    _same_state(m1, m2)
    _same_optimizer(o1, o2)
    _same_history(h1, h2)
    assert _counters(m1) == _counters(m2)
    assert w1 == w2
    return m1, h1


OPTIMIZERS = {
    "sgd": lambda: optim.SGD(lr=0.1),
    "sgd_momentum": lambda: optim.SGD(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-3),
    "sgd_nesterov": lambda: optim.SGD(lr=0.05, momentum=0.9, nesterov=True),
    "adagrad": lambda: optim.Adagrad(lr=0.05, lr_decay=0.01, weight_decay=1e-3,
                                     initial_accumulator_value=0.1),
    "rmsprop": lambda: optim.RMSprop(lr=0.01, momentum=0.5),
    "rmsprop_centered": lambda: optim.RMSprop(lr=0.01, centered=True, weight_decay=1e-3),
    "adam": lambda: optim.Adam(lr=0.01, weight_decay=1e-3),
    "adamw": lambda: optim.AdamW(lr=0.01),
}


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh"])
def test_optimizers_and_activations(opt, activation, dtype, n_threads, monkeypatch):
    X, y = _data(dtype=dtype)
    _check(lambda: fastmlp.MLP([12, 9, 7, 4], activation=activation, dtype=dtype.name, seed=3),
           OPTIMIZERS[opt], monkeypatch, X, y, epochs=3, batch_size=8)


@pytest.mark.parametrize("opt", ["sgd", "sgd_momentum", "adam", "rmsprop_centered", "adagrad"])
def test_batchnorm_dropout(opt, dtype, n_threads, monkeypatch):
    X, y = _data(n=61, dtype=dtype)
    # 61 = 7 * 8 + 5: a partial last batch; and batch 6 leaves a remainder of 1 for BN to merge
    for bs in (8, 6):
        _check(lambda: fastmlp.MLP([12, 10, 8, 4], activation="relu", batchnorm=True, dropout=0.3,
                                   dtype=dtype.name, seed=5),
               OPTIMIZERS[opt], monkeypatch, X, y, epochs=2, batch_size=bs)


@pytest.mark.parametrize("clip", [dict(clip_norm=0.05), dict(clip_value=0.01),
                                  dict(clip_norm=0.1, clip_value=0.02), dict(clip_norm=1e6)])
def test_clipping(clip, dtype, monkeypatch):
    X, y = _data(dtype=dtype)
    _check(lambda: fastmlp.MLP([12, 9, 4], activation="tanh", dtype=dtype.name, seed=1),
           OPTIMIZERS["adam"], monkeypatch, X, y, epochs=2, batch_size=7, **clip)


@pytest.mark.parametrize("pen", [dict(l2=1e-2), dict(l1=1e-3), dict(l1=1e-3, l2=1e-2)])
def test_penalties(pen, dtype, n_threads, monkeypatch):
    X, y = _data(dtype=dtype)
    _check(lambda: fastmlp.MLP([12, 9, 4], activation="sigmoid", dtype=dtype.name, seed=1),
           OPTIMIZERS["sgd"], monkeypatch, X, y, epochs=2, batch_size=10, **pen)


def test_layer_penalties_and_custom_stack(dtype, n_threads, monkeypatch):
    X, y = _data(n=40, dtype=dtype)

    def make():
        return fastmlp.Sequential([
            layers.Dropout(0.1),
            layers.Dense(12, 10, l1=1e-3), layers.BatchNorm(10), layers.LeakyReLU(0.05),
            layers.Dense(10, 8, bias=False, l2=1e-2), layers.ELU(0.7), layers.Dropout(0.2),
            layers.Dense(8, 6), layers.Tanh(), layers.Dropout(0.0),
            layers.Dense(6, 4)], dtype=dtype.name, seed=11)

    _check(make, OPTIMIZERS["adamw"], monkeypatch, X, y, epochs=3, batch_size=9, l2=1e-3)


def test_softmax_layer_and_probability_targets(dtype, monkeypatch):
    X, y = _data(dtype=dtype)
    probs = np.random.default_rng(1).dirichlet(np.ones(4), len(X)).astype(dtype)

    def make():
        return fastmlp.Sequential([layers.Dense(12, 8), layers.Sigmoid(), layers.Dense(8, 4),
                                   layers.Softmax()], dtype=dtype.name, seed=2)

    _check(make, OPTIMIZERS["sgd"], monkeypatch, X, y, epochs=2, batch_size=8,
           loss="softmax_cross_entropy")
    _check(make, OPTIMIZERS["rmsprop"], monkeypatch, X, probs, epochs=2, batch_size=8,
           loss="softmax_cross_entropy")


def test_mse_regression(dtype, n_threads, monkeypatch):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((45, 6)).astype(dtype)
    Y = rng.standard_normal((45, 3)).astype(dtype)
    _check(lambda: fastmlp.MLP([6, 8, 3], activation="tanh", dtype=dtype.name, seed=2),
           OPTIMIZERS["adam"], monkeypatch, X, Y, epochs=3, batch_size=4, loss="mse")
    y1 = Y[:, 0].copy()
    _check(lambda: fastmlp.MLP([6, 5, 1], activation="relu", dtype=dtype.name, seed=2),
           OPTIMIZERS["sgd_momentum"], monkeypatch, X, y1, epochs=2, batch_size=7, loss="mse")


def test_no_shuffle_validation_and_full_batch(dtype, monkeypatch):
    X, y = _data(dtype=dtype)
    _check(lambda: fastmlp.MLP([12, 9, 4], activation="relu", dtype=dtype.name, seed=1),
           OPTIMIZERS["adam"], monkeypatch, X, y, epochs=2, batch_size=8, shuffle=False,
           validation_split=0.2)
    _check(lambda: fastmlp.MLP([12, 9, 4], activation="relu", batchnorm=True, dtype=dtype.name, seed=1),
           OPTIMIZERS["sgd"], monkeypatch, X, y, epochs=3, batch_size=len(X))


def test_stochastic_batch_one(monkeypatch):
    X, y = _data(n=20)
    _check(lambda: fastmlp.MLP([12, 9, 4], activation="sigmoid", dropout=0.5, seed=1),
           OPTIMIZERS["sgd"], monkeypatch, X, y, epochs=2, batch_size=1)


def test_many_chunks(monkeypatch):
    # chunk boundaries fall anywhere: one batch per chunk gives the same bits
    monkeypatch.setattr(_plan, "FIRST_CHUNK", 1)
    monkeypatch.setattr(_plan, "CHUNK_SECONDS", 1e-9)
    X, y = _data(n=70)
    _check(lambda: fastmlp.MLP([12, 9, 4], activation="relu", batchnorm=True, dropout=0.25, seed=1),
           OPTIMIZERS["adam"], monkeypatch, X, y, epochs=2, batch_size=6)


def test_schedule_and_resume(dtype, monkeypatch):
    X, y = _data(dtype=dtype)

    def run(use_plan, split):
        model = fastmlp.MLP([12, 9, 4], activation="relu", dropout=0.2, batchnorm=True,
                            dtype=dtype.name, seed=7)
        opt = optim.SGD(lr=0.1, momentum=0.9)
        sched = optim.StepLR(opt, 1, gamma=0.5)
        with monkeypatch.context() as m:
            if not use_plan:
                m.setattr(_plan, "build", lambda *a, **k: None)
            hists = [model.fit(X, y, epochs=e, batch_size=8, optimizer=opt, lr_schedule=sched, verbose=0)
                     for e in split]
        return model, opt, hists

    ref, ref_opt, _ = run(False, [4])
    for split in ([4], [1, 3], [2, 1, 1]):
        model, opt, _ = run(True, split)
        _same_state(model, ref)
        _same_optimizer(opt, ref_opt)
        assert _counters(model) == _counters(ref)


def test_save_load_continue(tmp_path, monkeypatch):
    X, y = _data()

    def run(use_plan):
        with monkeypatch.context() as m:
            if not use_plan:
                m.setattr(_plan, "build", lambda *a, **k: None)
            model = fastmlp.MLP([12, 9, 4], activation="tanh", seed=7)
            model.fit(X, y, epochs=1, batch_size=8, optimizer=optim.Adam(lr=0.01), verbose=0)
            path = model.save(tmp_path / f"m{use_plan}.npz")
            again = fastmlp.load(path)
            again.fit(X, y, epochs=2, batch_size=8, verbose=0)
        return again

    _same_state(run(True), run(False))


def test_nonfinite_loss_stops_identically(dtype, monkeypatch):
    X, y = _data(dtype=dtype)
    X = X * 50
    for opt in (lambda: optim.SGD(lr=1e6), lambda: optim.Adam(lr=1e4)):
        model, hist = _check(lambda: fastmlp.MLP([12, 16, 4], activation="relu", batchnorm=True,
                                                 dtype=dtype.name, seed=1),
                             opt, monkeypatch, X, y, epochs=4, batch_size=4)
        assert all(np.isfinite(a).all() for a in model.parameters())


def test_progress_bar_gets_every_batch(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    seen = []

    class Bar(callbacks.ProgressBar):
        pass

    out = Tty()
    bar = callbacks.ProgressBar(file=out, interval=0.0)
    X, y = _data(n=40)
    model = fastmlp.MLP([12, 9, 4], seed=1)
    real = _plan.build
    monkeypatch.setattr(_plan, "build", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    model.fit(X, y, epochs=1, batch_size=8, callbacks=[bar], verbose=0)
    assert seen[0] is not None
    assert "5/5" in out.getvalue()


def test_fallbacks(monkeypatch):
    X, y = _data()
    seen = []
    real = _plan.build
    monkeypatch.setattr(_plan, "build", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])

    class Every(callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            pass

    class MyDense(layers.Dense):
        pass

    model = fastmlp.MLP([12, 9, 4], seed=1)
    model.fit(X, y, epochs=1, batch_size=8, verbose=0, track_gradients=True)
    model.fit(X, y, epochs=1, batch_size=8, verbose=0, callbacks=[Every()])
    fastmlp.Sequential([MyDense(12, 4)], seed=1).fit(X, y, epochs=1, batch_size=8, verbose=0)
    fastmlp.Sequential([layers.Dense(12, 4)], seed=1).fit(X, y, epochs=1, batch_size=8, verbose=0,
                                                          optimizer=lambda_opt())
    assert seen[:4] == [None, None, None, None]
    fastmlp.MLP([12, 9, 4], seed=1).fit(X, y, epochs=1, batch_size=8, verbose=0, track_activations=True)
    assert seen[4] is not None


def lambda_opt():
    class Custom(optim.SGD):
        pass
    return Custom(lr=0.1)


def test_reference_backend_keeps_python_loop(monkeypatch):
    X, y = _data()
    seen = []
    real = _plan.build
    monkeypatch.setattr(_plan, "build", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    fastmlp.set_backend("reference")
    try:
        fastmlp.MLP([12, 9, 4], seed=1).fit(X, y, epochs=1, batch_size=8, verbose=0)
    finally:
        fastmlp.set_backend("c")
    assert seen == [None]


def test_callbacks_changing_layers_between_epochs(monkeypatch):
    # a callback that schedules dropout and a layer's penalty: the plan follows
    class Change(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.model.layers[2].p = 0.0 if epoch == 1 else 0.1 * (epoch + 1)
            self.model.layers[3].l2 = 1e-3 * epoch

    X, y = _data(n=50)
    _check(lambda: fastmlp.MLP([12, 9, 4], activation="relu", dropout=0.2, seed=3),
           OPTIMIZERS["sgd_momentum"], monkeypatch, X, y, epochs=4, batch_size=8, l1=1e-4,
           callbacks=[Change()])


def test_interrupt_between_chunks_keeps_counters_in_step(monkeypatch):
    # Ctrl-C reaches Python between chunks: every counter matches the batches done
    class Tty(io.StringIO):
        def isatty(self):
            return True

    def interrupt(self, batch, logs=None):
        if batch == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(callbacks.ProgressBar, "on_batch_end", interrupt)
    X, y = _data(n=80)
    model = fastmlp.MLP([12, 9, 4], dropout=0.3, batchnorm=True, seed=1)
    opt = optim.Adam(lr=0.01)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y, epochs=1, batch_size=4, optimizer=opt,
                  callbacks=[callbacks.ProgressBar(file=Tty())], verbose=0)
    done = opt._step
    assert done == _plan.FIRST_CHUNK
    assert _counters(model) == [("batches", done), ("calls", done)]


# ------------------------------------------------ X's NaN/Inf check in the first epoch
# With no callbacks, no progress output and a model small beside X, fit leaves X's
# NaN/Inf check to the plan's first epoch (Sequential._defers_finite_check); a batch
# with a bad row puts back everything fit changed, and fit raises the usual error.

def _wide_data(n=600, d=40, seed=2, dtype=np.float32):
    return _data(n=n, d=d, classes=3, seed=seed, dtype=dtype)


def _deferred_fit_raises(model, X, y, match, monkeypatch, **kw):
    """fit raises `match` from the deferred check; returns the plan's epoch results."""
    epochs = []
    real = _plan.Trainer.run_epoch

    def run_epoch(self, *a, **k):
        epochs.append((k.get("check_x"), real(self, *a, **k)))
        return epochs[-1][1]

    monkeypatch.setattr(_plan.Trainer, "run_epoch", run_epoch)
    with pytest.raises(ValueError, match=match):
        model.fit(X, y, verbose=0, **kw)
    monkeypatch.undo()
    assert epochs and epochs[0][0], "the check was not left to the plan"
    return epochs


def _snapshot(model, opt):
    return (model.state_dict(), [g.copy() for g in model.gradients()], opt.state_dict(), opt._step,
            getattr(opt, "_first", None), opt.lr, _counters(model), repr(model.loss), model.optimizer is opt,
            model.optimizer is None, model.epochs_trained, opt.state is None)


def _same_snapshot(a, b):
    (sa, ga, oa, *rest_a), (sb, gb, ob, *rest_b) = a, b
    assert list(sa) == list(sb)
    for k in sa:
        _assert_same(sa[k], sb[k], k)
    for u, v in zip(ga, gb):
        _assert_same(u, v, "gradient")
    _same_optimizer_state(oa, ob)
    assert rest_a == rest_b


@pytest.mark.parametrize("shuffle", [True, False])
def test_rows_checked_in_the_gather_train_to_the_same_bits(shuffle, dtype, isa, monkeypatch):
    # the gather that checks the rows (one body per ISA) copies them exactly:
    # the same bits as fit's Python loop, which checks X first
    X, y = _wide_data(n=203, dtype=dtype)  # 203 = 12 * 16 + 11: a partial last batch
    checked = []
    real = _plan.Trainer.run_epoch
    monkeypatch.setattr(_plan.Trainer, "run_epoch",
                        lambda self, *a, **k: checked.append(k.get("check_x")) or real(self, *a, **k))
    _check(lambda: fastmlp.MLP([40, 6, 3], activation="tanh", dtype=dtype.name, seed=5),
           OPTIMIZERS["sgd_momentum"], monkeypatch, X, y, epochs=2, batch_size=16, shuffle=shuffle)
    assert checked == [True, False]


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("opt", ["sgd", "sgd_momentum", "adam"])
def test_nonfinite_rows_found_in_the_first_epoch_change_nothing(opt, shuffle, dtype, n_threads, monkeypatch):
    X, y = _wide_data(dtype=dtype)

    def make():
        return fastmlp.MLP([40, 6, 3], activation="relu", batchnorm=True, dropout=0.2, dtype=dtype.name,
                           seed=5)

    model, twin = make(), make()
    o1, o2 = OPTIMIZERS[opt](), OPTIMIZERS[opt]()
    if opt == "adam":  # an optimizer with state from an earlier fit, and one without any
        for m, o in ((model, o1), (twin, o2)):
            m.fit(X, y, epochs=1, batch_size=16, optimizer=o, verbose=0)
    before = _snapshot(model, o1)
    bad = X.copy()
    bad[len(X) - 3, 7] = np.nan  # the last batch without shuffling
    epochs = _deferred_fit_raises(model, bad, y, r"X contains non-finite values: 1 NaN and 0 Inf",
                                  monkeypatch, epochs=3, batch_size=16, optimizer=o1, shuffle=shuffle)
    batch, loss = epochs[0][1][2]
    assert loss is None and (shuffle or batch == -(-len(X) // 16) - 1)
    _same_snapshot(_snapshot(model, o1), before)
    # nothing hidden moved either: training on goes as if the bad fit never happened
    for m, o in ((model, o1), (twin, o2)):
        m.fit(X, y, epochs=2, batch_size=16, optimizer=o, verbose=0, shuffle=shuffle)
    _same_snapshot(_snapshot(model, o1), _snapshot(twin, o2))


def test_deferred_check_names_a_conversion_overflow(monkeypatch):
    X, y = _wide_data(dtype=np.float64)
    X[-1, 0] = 1e300  # finite in float64, inf in the model's float32
    model = fastmlp.MLP([40, 6, 3], seed=5)
    before = model.state_dict()
    with np.errstate(over="ignore"):
        _deferred_fit_raises(model, X, y, r"X \(converted to float32\) contains non-finite values: 0 NaN and 1 Inf",
                             monkeypatch, epochs=1, batch_size=16, shuffle=False)
    assert model.optimizer is None and model.loss is None
    for k, v in model.state_dict().items():
        _assert_same(v, before[k], k)


def test_deferred_check_when_the_loss_fails_before_the_bad_row(monkeypatch):
    # batch 0 overflows the loss (status 1) before the plan reaches the NaN row:
    # still X's error, and nothing changed (not the non-finite loss warning)
    X, y = _wide_data()
    X[:16] = 3e38  # x @ W overflows
    X[-1, 3] = -np.inf
    model = fastmlp.MLP([40, 6, 3], activation="relu", seed=5)
    before = model.state_dict()
    epochs = _deferred_fit_raises(model, X, y, r"X contains non-finite values: 0 NaN and 1 Inf", monkeypatch,
                                  epochs=2, batch_size=16, shuffle=False, optimizer=optim.SGD(lr=0.1))
    assert epochs[0][1][2][0] == 0 and epochs[0][1][2][1] is not None
    for k, v in model.state_dict().items():
        _assert_same(v, before[k], k)


def test_checked_first_when_anything_would_see_the_epoch(monkeypatch, capsys):
    X, y = _wide_data()
    X[-1, 3] = np.nan
    seen = []
    monkeypatch.setattr(_plan, "build", lambda *a, **k: seen.append(1))
    msg = r"X contains non-finite values: 1 NaN and 0 Inf"
    # progress output, a callback, no epoch to check in, and (validation_split)
    # a NaN in rows held out for validation, which no training batch gathers
    for kw in (dict(verbose=2), dict(verbose=0, callbacks=[callbacks.EarlyStopping(monitor="loss")]),
               dict(verbose=0, epochs=0), dict(verbose=0, validation_split=0.1)):
        model = fastmlp.MLP([40, 6, 3], seed=5)
        with pytest.raises(ValueError, match=msg):
            model.fit(X, y, **{"epochs": 1, **kw})
        assert model.optimizer is None
    assert not seen and capsys.readouterr().out == ""
    # a model whose copies would not be small beside X: X is checked first too
    with pytest.raises(ValueError, match=msg):
        fastmlp.MLP([40, 200, 3], seed=5).fit(X, y, verbose=0)
    assert not seen


def test_an_optimizer_of_the_users_own_gets_x_checked_first():
    # an object with step(params, grads) alone: fit's Python loop trains with it,
    # so X is checked before anything, as always
    class Plain:
        def __init__(self):
            self.steps = 0

        def step(self, params, grads):
            self.steps += 1
            for p, g in zip(params, grads):
                p -= 0.1 * g

    X, y = _wide_data()
    model = fastmlp.MLP([40, 6, 3], seed=5)
    opt = Plain()
    model.fit(X, y, epochs=1, batch_size=16, optimizer=opt, verbose=0)
    assert opt.steps == -(-len(X) // 16)
    X[-1, 0] = np.nan
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"X contains non-finite values: 1 NaN and 0 Inf"):
        model.fit(X, y, epochs=1, batch_size=16, optimizer=opt, verbose=0)
    assert opt.steps == -(-len(X) // 16)
    for k, v in model.state_dict().items():
        _assert_same(v, before[k], k)


def test_deferred_check_without_a_plan_checks_before_training(monkeypatch):
    # track_gradients needs fit's Python loop: X is checked once the plan is refused
    X, y = _wide_data()
    X[5, 5] = np.inf
    model = fastmlp.MLP([40, 6, 3], seed=5)
    opt = optim.Adam()
    trained, built = [], []
    real = _plan.build
    monkeypatch.setattr(_plan, "build", lambda *a, **k: built.append(real(*a, **k)) or built[-1])
    monkeypatch.setattr(model, "_forward", lambda *a: trained.append(1))
    with pytest.raises(ValueError, match=r"X contains non-finite values: 0 NaN and 1 Inf"):
        model.fit(X, y, verbose=0, optimizer=opt, track_gradients=True)
    assert built == [None] and not trained
    assert model.optimizer is None and model.loss is None and opt.state is None
