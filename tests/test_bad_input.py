"""The bad-input catalogue: every public entry point fed what it must refuse.

Each case names the entry point, what it is fed, the exception it must raise
and a pattern the message must contain (what was expected and what came). The
cases that touch a model or an optimizer also check that nothing changed.
`len(CASES)` is the count quoted in the README's reliability section.
"""
import io
import os
import pickle
import zipfile

import numpy as np
import pytest

import fastmlp
from fastmlp import layers, losses, ops, optim
from fastmlp.search import RandomSearch, loguniform

F32 = np.float32
rng = np.random.default_rng(0)
X4 = rng.standard_normal((6, 4)).astype(F32)
Y3 = np.array([0, 1, 2, 0, 1, 2])

BAD_DTYPES = {
    "object": np.array([[1.0, None]] * 2, dtype=object),
    "string": np.array([["a", "b"]] * 2),
    "complex": np.ones((2, 2), complex),
    "bool": np.ones((2, 2), bool),
}

CASES = []


def case(name, exc, match):
    def register(fn):
        CASES.append(pytest.param(fn, exc, match, id=name))
        return fn
    return register


# ---------------------------------------------------------------- ops kernels

for dname, arr in BAD_DTYPES.items():
    case(f"ops.gemm a={dname}", TypeError, "float32 or float64")(lambda a=arr: ops.gemm(a, np.ones((2, 2))))
    case(f"ops.activation_forward x={dname}", TypeError, "float32 or float64")(
        lambda a=arr: ops.activation_forward(a, "relu"))
    case(f"ops.dense_forward x={dname}", TypeError, "float32 or float64")(
        lambda a=arr: ops.dense_forward(a, np.ones((2, 3), F32)))
    case(f"ops.dropout_forward x={dname}", TypeError, "float32 or float64")(
        lambda a=arr: ops.dropout_forward(a, 0.5, seed=0))
    case(f"ops.batchnorm_forward_train x={dname}", TypeError, "float32 or float64")(
        lambda a=arr: ops.batchnorm_forward_train(a, np.ones(2), np.zeros(2), np.zeros(2), np.ones(2)))

case("ops.gemm ndim 3", ValueError, "2-D")(lambda: ops.gemm(np.ones((2, 2, 2)), np.ones((2, 2))))
case("ops.gemm inner mismatch", ValueError, "inner dimensions")(lambda: ops.gemm(np.ones((2, 3)), np.ones((4, 2))))
case("ops.gemm mixed dtypes", TypeError, "float32")(lambda: ops.gemm(np.ones((2, 2), F32), np.ones((2, 2))))
case("ops.gemm out read-only", ValueError, "read-only")(
    lambda: ops.gemm(np.ones((2, 2)), np.ones((2, 2)), out=_readonly(np.ones((2, 2)))))
case("ops.gemm out Fortran", ValueError, "contiguous")(
    lambda: ops.gemm(np.ones((2, 3)), np.ones((3, 4)), out=np.asfortranarray(np.ones((2, 4)))))
case("ops.dense_forward W rows mismatch", ValueError, r"\(4, 3\)|4")(
    lambda: ops.dense_forward(X4, np.ones((5, 3), F32)))
case("ops.dense_forward bias length", ValueError, "3")(
    lambda: ops.dense_forward(X4, np.ones((4, 3), F32), np.ones(4, F32)))
case("ops.activation_forward unknown", ValueError, "gelu")(lambda: ops.activation_forward(X4, "gelu"))
case("ops.softmax_cross_entropy label out of range", ValueError, "out of range")(
    lambda: ops.softmax_cross_entropy(X4[:, :3].copy(), np.array([0, 1, 2, 3, 0, 1])))
case("ops.softmax_cross_entropy negative label", ValueError, "out of range")(
    lambda: ops.softmax_cross_entropy(X4[:, :3].copy(), np.array([0, 1, -1, 0, 1, 2])))
case("ops.softmax_cross_entropy length mismatch", ValueError, "shape")(
    lambda: ops.softmax_cross_entropy(X4[:, :3].copy(), np.array([0, 1])))
case("ops.softmax_cross_entropy 1-D float target", ValueError, "shape")(
    lambda: ops.softmax_cross_entropy(X4[:, :3].copy(), np.array([0.5] * 6)))
case("ops.mse shape mismatch", ValueError, "shape")(lambda: ops.mse(X4, X4[:, :3].copy()))
case("ops.dropout_forward p=1", ValueError, r"\[0, 1\)")(lambda: ops.dropout_forward(X4, 1.0, seed=0))
case("ops.dropout_forward p=-0.1", ValueError, r"\[0, 1\)")(lambda: ops.dropout_forward(X4, -0.1, seed=0))
case("ops.batchnorm_forward_train batch of 1", ValueError, "1")(
    lambda: ops.batchnorm_forward_train(X4[:1], np.ones(4, F32), np.zeros(4, F32), np.zeros(4, F32), np.ones(4, F32)))
case("ops.maxpool2d_forward 2-D input", ValueError, "4-D|\\(N, C, H, W\\)")(
    lambda: ops.maxpool2d_forward(X4, 2))
case("ops.maxpool2d_forward kernel > input", ValueError, "")(
    lambda: ops.maxpool2d_forward(np.ones((1, 1, 2, 2), F32), 3))
case("ops.maxpool2d_forward kernel 0", ValueError, "")(lambda: ops.maxpool2d_forward(np.ones((1, 1, 4, 4), F32), 0))


def _readonly(a):
    a.flags.writeable = False
    return a


# --------------------------------------------------------------------- layers

case("Dense wrong feature count", ValueError, r"expected input of shape \(N, 4\), got \(6, 5\)")(
    lambda: layers.Dense(4, 3).forward(np.ones((6, 5), F32)))
case("Dense 1-D input", ValueError, "")(lambda: layers.Dense(4, 3).forward(np.ones(4, F32)))
case("Dense string input", TypeError, "float32 or float64")(lambda: layers.Dense(2, 3).forward(BAD_DTYPES["string"]))
case("Dense backward before forward", RuntimeError, "before forward")(
    lambda: layers.Dense(4, 3).backward(np.ones((6, 3), F32)))
case("Dense in_features 0", ValueError, "")(lambda: layers.Dense(0, 3))
case("Dense unknown init", ValueError, "")(lambda: layers.Dense(4, 3, init="glorot_banana"))
case("Dense negative l2", ValueError, "")(lambda: layers.Dense(4, 3, l2=-1.0))
case("Dropout p=1", ValueError, r"\[0, 1\)")(lambda: layers.Dropout(p=1.0))
case("Dropout p=nan", ValueError, "")(lambda: layers.Dropout(p=float("nan")))
case("BatchNorm training batch of 1", ValueError, "")(
    lambda: layers.BatchNorm(4).forward(np.ones((1, 4), F32), training=True))
case("BatchNorm wrong feature count", ValueError, "")(lambda: layers.BatchNorm(4).forward(np.ones((3, 5), F32)))
case("BatchNorm momentum 2", ValueError, "")(lambda: layers.BatchNorm(4, momentum=2.0))
case("BatchNorm eps 0", ValueError, "")(lambda: layers.BatchNorm(4, eps=0.0))
case("MaxPool2d kernel 0", ValueError, "")(lambda: layers.MaxPool2d(0))
case("LeakyReLU slope string", TypeError, "")(lambda: layers.LeakyReLU("0.1"))
case("layer dtype float16", ValueError, "float32")(lambda: layers.Dense(4, 3, dtype="float16"))

# --------------------------------------------------------------------- losses

case("SoftmaxCrossEntropy label 3 of 3", ValueError, "out of range")(
    lambda: losses.SoftmaxCrossEntropy().forward(np.zeros((2, 3), F32), np.array([0, 3])))
case("SoftmaxCrossEntropy lengths", ValueError, "shape")(
    lambda: losses.SoftmaxCrossEntropy().forward(np.zeros((2, 3), F32), np.array([0, 1, 2])))
case("MSE shapes", ValueError, "shape")(lambda: losses.MSE().forward(np.zeros((2, 3), F32), np.zeros((2, 2), F32)))
case("loss backward before forward", RuntimeError, "")(lambda: losses.MSE().backward())
case("get_loss unknown", ValueError, "hinge")(lambda: losses.get_loss("hinge"))

# ----------------------------------------------------------------- optimizers

case("SGD lr=-1", ValueError, "Invalid learning rate")(lambda: optim.SGD(lr=-1.0))
case("SGD lr=0", ValueError, "Invalid learning rate")(lambda: optim.SGD(lr=0.0))
case("SGD lr=nan", ValueError, "Invalid learning rate")(lambda: optim.SGD(lr=float("nan")))
case("SGD nesterov without momentum", ValueError, "")(lambda: optim.SGD(lr=0.1, nesterov=True))
case("SGD momentum -1", ValueError, "momentum")(lambda: optim.SGD(lr=0.1, momentum=-1.0))
case("Adam beta1=1", ValueError, "beta")(lambda: optim.Adam(betas=(1.0, 0.999)))
case("Adam beta2=-0.1", ValueError, "beta")(lambda: optim.Adam(betas=(0.9, -0.1)))
case("Adam eps=0", ValueError, "epsilon")(lambda: optim.Adam(eps=0.0))
case("AdamW weight_decay=-1", ValueError, "weight_decay|weight decay")(lambda: optim.AdamW(weight_decay=-1.0))
case("RMSprop alpha=-1", ValueError, "alpha")(lambda: optim.RMSprop(alpha=-1.0))
case("Adagrad eps=-1", ValueError, "")(lambda: optim.Adagrad(eps=-1.0))
case("StepLR step_size 0", ValueError, "")(lambda: optim.StepLR(optim.SGD(lr=0.1), step_size=0))
case("clip_grad_norm max_norm -1", ValueError, "")(lambda: optim.clip_grad_norm([np.ones(3, F32)], -1.0))


def _opt_case(name, exc, match, make_args):
    """An optimizer step that must raise and leave params and state untouched."""
    def run():
        params = [np.ones((3, 2), F32), np.ones(2, F32)]
        grads = [np.full((3, 2), 0.5, F32), np.full(2, 0.5, F32)]
        opt = optim.Adam(lr=0.1)
        opt.step(params, grads)  # state exists
        before_p = [p.copy() for p in params]
        before_s = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in _flat(opt.state_dict()).items()}
        bad_params, bad_grads = make_args(params, grads)
        try:
            opt.step(bad_params, bad_grads)
        finally:
            for p, b in zip(params, before_p):
                np.testing.assert_array_equal(p, b)
            after = _flat(opt.state_dict())
            assert after.keys() == before_s.keys()
            for k in after:
                np.testing.assert_array_equal(after[k], before_s[k])
    case(name, exc, match)(run)


def _flat(d, prefix=""):
    out = {}
    for k, v in (d.items() if isinstance(d, dict) else enumerate(d)):
        key = f"{prefix}/{k}"
        if isinstance(v, (dict, list, tuple)):
            out.update(_flat(v, key))
        else:
            out[key] = v
    return out


_opt_case("Adam.step lists of different lengths", ValueError, "", lambda p, g: (p, g[:1]))
_opt_case("Adam.step grad shape mismatch", ValueError, "shape", lambda p, g: (p, [g[0].T.copy(), g[1]]))
_opt_case("Adam.step grad dtype mismatch", TypeError, "dtype|float", lambda p, g: (p, [g[0].astype(np.float64), g[1]]))
_opt_case("Adam.step string grad", TypeError, "", lambda p, g: (p, [BAD_DTYPES["string"], g[1]]))
_opt_case("Adam.step read-only param", ValueError, "read-only|writeable", lambda p, g: ([_readonly(p[0].copy()), p[1]], g))
_opt_case("Adam.step non-contiguous param", ValueError, "contiguous", lambda p, g: ([np.ones((3, 4), F32)[:, ::2], p[1]], g))
_opt_case("Adam.step params changed shape", ValueError, "", lambda p, g: ([np.ones((2, 3), F32), p[1]], [np.ones((2, 3), F32), g[1]]))

# ---------------------------------------------------------------------- model


def _model_case(name, exc, match, action):
    """A model call that must raise and leave weights, buffers and optimizer state unchanged."""
    def run():
        model = fastmlp.MLP([4, 5, 3], activation="tanh", batchnorm=True, dropout=0.2, seed=0)
        model.fit(X4, Y3, epochs=1, batch_size=3, verbose=0)
        before = {k: v.copy() for k, v in model.state_dict().items()} if isinstance(model.state_dict(), dict) else None
        snapshot = [p.copy() for p in model.parameters()]
        try:
            action(model)
        finally:
            for p, s in zip(model.parameters(), snapshot):
                np.testing.assert_array_equal(p, s)
            if before is not None:
                after = model.state_dict()
                for k in before:
                    np.testing.assert_array_equal(after[k], before[k])
    case(name, exc, match)(run)


_model_case("fit NaN in X", ValueError, "NaN", lambda m: m.fit(np.full((6, 4), np.nan, F32), Y3, verbose=0))
_model_case("fit Inf in X", ValueError, "Inf", lambda m: m.fit(np.where(X4 > 0, np.inf, X4), Y3, verbose=0))
_model_case("fit NaN in float y", ValueError, "NaN", lambda m: m.fit(X4, np.full((6, 3), np.nan), loss="mse", verbose=0))
_model_case("fit lengths differ", ValueError, "6|5", lambda m: m.fit(X4, Y3[:5], verbose=0))
_model_case("fit label out of range", ValueError, "range|3", lambda m: m.fit(X4, Y3 + 1, verbose=0))
_model_case("fit negative label", ValueError, "range|-1", lambda m: m.fit(X4, Y3 - 1, verbose=0))
_model_case("fit wrong feature count", ValueError, r"\(N, 4\)", lambda m: m.fit(np.ones((6, 5), F32), Y3, verbose=0))
_model_case("fit string X", TypeError, "", lambda m: m.fit(np.array([["a"] * 4] * 6), Y3, verbose=0))
_model_case("fit object X", TypeError, "", lambda m: m.fit(np.array([[None] * 4] * 6), Y3, verbose=0))
_model_case("fit complex X", TypeError, "", lambda m: m.fit(X4.astype(complex), Y3, verbose=0))
_model_case("fit string y", (TypeError, ValueError), "", lambda m: m.fit(X4, np.array(list("abcabc")), verbose=0))
_model_case("fit empty X", ValueError, "empty", lambda m: m.fit(np.zeros((0, 4), F32), Y3[:0], verbose=0))
_model_case("fit 3-D X", ValueError, "", lambda m: m.fit(np.ones((6, 2, 2), F32), Y3, verbose=0))
_model_case("fit batch_size 0", ValueError, "batch_size", lambda m: m.fit(X4, Y3, batch_size=0, verbose=0))
_model_case("fit batch_size 2.5", TypeError, "batch_size", lambda m: m.fit(X4, Y3, batch_size=2.5, verbose=0))
_model_case("fit epochs -1", ValueError, "epochs", lambda m: m.fit(X4, Y3, epochs=-1, verbose=0))
_model_case("fit l2 -1", ValueError, "l2", lambda m: m.fit(X4, Y3, l2=-1.0, verbose=0))
_model_case("fit clip_norm 0", ValueError, "clip_norm", lambda m: m.fit(X4, Y3, clip_norm=0.0, verbose=0))
_model_case("fit validation_split 1", ValueError, "validation_split", lambda m: m.fit(X4, Y3, validation_split=1.0, verbose=0))
_model_case("fit unknown loss", ValueError, "", lambda m: m.fit(X4, Y3, loss="hinge", verbose=0))
_model_case("fit callbacks not Callback", TypeError, "Callback", lambda m: m.fit(X4, Y3, callbacks=[print], verbose=0))
_model_case("fit bad validation_data", (TypeError, ValueError), "", lambda m: m.fit(X4, Y3, validation_data=X4, verbose=0))
_model_case("predict wrong feature count", ValueError, r"\(N, 4\)", lambda m: m.predict(np.ones((2, 5), F32)))
_model_case("predict NaN", ValueError, "NaN", lambda m: m.predict(np.full((2, 4), np.nan, F32)))
_model_case("predict_proba string", TypeError, "", lambda m: m.predict_proba(np.array([["x"] * 4])))
_model_case("predict empty", ValueError, "empty", lambda m: m.predict(np.zeros((0, 4), F32)))
_model_case("evaluate lengths differ", ValueError, "", lambda m: m.evaluate(X4, Y3[:2]))
_model_case("evaluate label out of range", ValueError, "labels must lie in", lambda m: m.evaluate(X4, Y3 + 5))

case("MLP unknown activation", ValueError, "gelu")(lambda: fastmlp.MLP([4, 3], activation="gelu"))
case("MLP dropout 1", ValueError, "dropout")(lambda: fastmlp.MLP([4, 5, 3], dropout=1.0))
case("MLP one size", ValueError, "sizes")(lambda: fastmlp.MLP([4]))
case("MLP zero width", ValueError, "sizes")(lambda: fastmlp.MLP([4, 0, 3]))
case("MLP dtype int32", (TypeError, ValueError), "float32")(lambda: fastmlp.MLP([4, 3], dtype="int32"))
case("set_num_threads 0", ValueError, "positive")(lambda: fastmlp.set_num_threads(0))
case("set_backend cuda", ValueError, "Unknown backend")(lambda: fastmlp.set_backend("cuda"))

# ---------------------------------------------------------------- model files


def _saved(tmp):
    model = fastmlp.MLP([4, 5, 3], seed=0)
    model.fit(X4, Y3, epochs=1, verbose=0)
    path = os.path.join(tmp, "model.npz")
    model.save(path)
    return path


def _rewrite(path, edit):
    """Rewrite one member of a saved npz through `edit(name, bytes) -> bytes or None (drop)`."""
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            data = edit(n, data)
            if data is not None:
                z.writestr(n, data)


class _Marker:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _load_case(name, exc, match, corrupt):
    def run(tmp_path):
        path = _saved(str(tmp_path))
        corrupt(path, str(tmp_path))
        fastmlp.load(path)
    case(name, exc, match)(run)


_load_case("load missing file", FileNotFoundError, "", lambda p, t: os.remove(p))
_load_case("load truncated file", ValueError, "", lambda p, t: open(p, "r+b").truncate(os.path.getsize(p) // 2))
_load_case("load garbage bytes", ValueError, "", lambda p, t: open(p, "wb").write(b"\x00not a zip" * 100))
_load_case("load .npy instead of .npz", ValueError, "", lambda p, t: np.save(open(p, "wb"), np.ones(3)))
_load_case("load config removed", ValueError, "", lambda p, t: _rewrite(p, lambda n, d: None if "config" in n else d))
_load_case("load config not JSON", ValueError, "", lambda p, t: _rewrite(
    p, lambda n, d: _npy_bytes(np.array("{not json")) if "config" in n else d))
_load_case("load newer format version", ValueError, "version", lambda p, t: _rewrite(
    p, lambda n, d: _bump_version(d) if "config" in n else d))
_load_case("load weight of wrong shape", ValueError, "shape", lambda p, t: _rewrite(
    p, lambda n, d: _npy_bytes(np.ones((2, 2), F32)) if _is_first_weight(n) else d))


def _npy_bytes(arr):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _bump_version(data):
    import json
    import re

    text = str(np.load(io.BytesIO(data), allow_pickle=False))
    cfg = json.loads(text)
    for key in ("format_version", "version", "format"):
        if key in cfg and isinstance(cfg[key], int):
            cfg[key] += 1000
            break
    else:
        text = re.sub(r'("format[^"]*"\s*:\s*)(\d+)', lambda m: m.group(1) + str(int(m.group(2)) + 1000), text)
        return _npy_bytes(np.array(text))
    return _npy_bytes(np.array(json.dumps(cfg)))


def _is_first_weight(name):
    return name.endswith(".npy") and ("W" in name.split("/")[-1] or "weight" in name) and "config" not in name


def test_load_refuses_pickles_without_running_them(tmp_path):
    path = _saved(str(tmp_path))
    marker = tmp_path / "unpickled"
    evil = pickle.dumps(np.array([_Marker(str(marker))], dtype=object))
    _rewrite(path, lambda n, d: (_object_npy(_Marker(str(marker))) if _is_first_weight(n) else d))
    with pytest.raises(ValueError):
        fastmlp.load(path)
    assert not marker.exists(), "load unpickled an object from the file"
    assert evil  # the payload is real: pickle.loads(evil) would create the marker


def _object_npy(obj):
    buf = io.BytesIO()
    np.save(buf, np.array([obj], dtype=object), allow_pickle=True)
    return buf.getvalue()


# --------------------------------------------------------------- search & CLI

case("RandomSearch n_trials 0", ValueError, "n_trials")(lambda: RandomSearch(lambda p: 0.0, {"lr": loguniform(1e-3, 1)}, n_trials=0))
case("loguniform low 0", ValueError, "low")(lambda: loguniform(0, 1))


def _cli_case(name, argv):
    def run(capsys):
        from fastmlp import cli

        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code
        assert code not in (0, None), f"fastmlp {' '.join(argv)} exited {code!r}"
        assert capsys.readouterr().err.strip(), "the CLI must say what was wrong"
        raise ValueError("refused")
    case(name, ValueError, "refused")(run)


_cli_case("cli unknown command", ["fly"])
_cli_case("cli epochs -1", ["train", "--epochs", "-1"])
_cli_case("cli lr abc", ["train", "--lr", "abc"])
_cli_case("cli unknown activation", ["train", "--activation", "gelu"])
_cli_case("cli batch size 0", ["train", "--batch-size", "0"])


# -------------------------------------------------------------------- runner

@pytest.mark.parametrize("fn,exc,match", CASES)
def test_refused(fn, exc, match, request):
    import inspect

    kwargs = {name: request.getfixturevalue(name) for name in inspect.signature(fn).parameters
              if name in ("tmp_path", "capsys")}
    with pytest.raises(exc, match=match or None):
        fn(**kwargs)


def test_catalogue_size():
    # quoted in README.md ("Reliability"); update both together
    assert len(CASES) + 1 >= 131
