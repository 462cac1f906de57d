"""save/load: round trips, optimizer state for resuming, atomic writes, refusals."""
import json
import os
import zipfile

import numpy as np
import pytest

import fastmlp

from fastmlp import optim
from fastmlp import layers  # noqa: E402


def _data(n=40):
    r = np.random.default_rng(0)
    y = r.integers(0, 3, n)
    return (r.standard_normal((n, 4)) + np.eye(3, 4)[y]).astype(np.float32), y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_mlp(tmp_path, dtype):
    X, y = _data()
    m = fastmlp.MLP([4, 6, 3], activation="tanh", batchnorm=True, dropout=0.2, dtype=dtype, seed=7)
    m.fit(X, y, epochs=2, batch_size=8, optimizer=optim.SGD(lr=0.1, momentum=0.9), verbose=0)
    path = m.save(str(tmp_path / "m.npz"))
    r = fastmlp.load(path)
    assert type(r) is fastmlp.MLP and r.sizes == m.sizes and r.dtype == m.dtype and r.seed == 7
    assert r.batchnorm and r.dropout == 0.2 and r.activation == "tanh" and r.epochs_trained == 2
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(r.state_dict()[k], v)
    np.testing.assert_array_equal(r.predict_proba(X), m.predict_proba(X))
    assert type(r.loss) is type(m.loss)


def test_file_layout(tmp_path):
    X, y = _data()
    m = fastmlp.MLP([4, 5, 3], seed=0)
    m.fit(X, y, epochs=1, verbose=0)
    path = m.save(str(tmp_path / "m.npz"))
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
    assert {"config.npy", "layers.0.W.npy", "layers.0.b.npy", "layers.2.W.npy"} <= names
    with np.load(path, allow_pickle=False) as f:
        cfg = json.loads(str(f["config"]))
    assert cfg["format_version"] == 1 and cfg["fastmlp_version"] == fastmlp.__version__
    assert cfg["model"]["class"] == "MLP" and cfg["optimizer"]["class"] == "Adam"
    assert not [n for n in os.listdir(tmp_path) if n != "m.npz"]  # no temporary file left


def test_resume_training_matches_uninterrupted(tmp_path):
    X, y = _data()
    a = fastmlp.MLP([4, 6, 3], seed=1)
    a.fit(X, y, epochs=2, batch_size=8, optimizer=optim.Adam(lr=0.01), verbose=0)
    a.save(str(tmp_path / "a.npz"))
    b = fastmlp.load(str(tmp_path / "a.npz"))
    assert type(b.optimizer) is optim.Adam
    a.fit(X, y, epochs=2, batch_size=8, verbose=0)
    b.fit(X, y, epochs=2, batch_size=8, verbose=0)  # optimizer, loss and epoch count come back
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p, q)


def test_sequential_round_trip(tmp_path):
    X, y = _data()
    m = fastmlp.Sequential([layers.Dense(4, 8, init="xavier_uniform", l2=0.01), layers.LeakyReLU(0.1),
                            layers.Dropout(0.1), layers.Dense(8, 3, bias=False)], seed=3, dtype="float64")
    m.fit(X, y, epochs=1, verbose=0)
    m.save(str(tmp_path / "s.npz"), include_optimizer=False)
    r = fastmlp.load(str(tmp_path / "s.npz"))
    assert [type(layer).__name__ for layer in r.layers] == ["Dense", "LeakyReLU", "Dropout", "Dense"]
    assert r.layers[1].negative_slope == 0.1 and r.layers[0].l2 == 0.01 and "b" not in r.layers[3].params
    assert r.optimizer is None
    np.testing.assert_array_equal(r.predict_proba(X), m.predict_proba(X))


def test_untrained_model_round_trip(tmp_path):
    m = fastmlp.MLP([4, 3], seed=0)
    m.save(str(tmp_path / "u.npz"))
    r = fastmlp.load(str(tmp_path / "u.npz"))
    np.testing.assert_array_equal(r.parameters()[0], m.parameters()[0])


def test_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    X, y = _data()
    m = fastmlp.MLP([4, 3], seed=0)
    path = str(tmp_path / "m.npz")
    m.save(path)
    before = open(path, "rb").read()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    m.fit(X, y, epochs=1, verbose=0)
    with pytest.raises(OSError):
        m.save(path)
    assert open(path, "rb").read() == before and os.listdir(tmp_path) == ["m.npz"]


def test_state_dict_round_trip_and_refusals():
    m = fastmlp.MLP([4, 5, 3], batchnorm=True, seed=0)
    sd = m.state_dict()
    assert "layers.1.running_mean" in sd and "layers.0.W" in sd
    sd["layers.0.W"][...] = 1.0
    assert not np.all(m.parameters()[0] == 1.0)  # a copy
    live = m.parameters()[0]
    m.load_state_dict(sd)
    assert m.parameters()[0] is live and np.all(live == 1.0)  # copied into the live array
    with pytest.raises(ValueError, match="shape"):
        m.load_state_dict(dict(sd, **{"layers.0.W": np.ones((2, 2), np.float32)}))
    with pytest.raises(ValueError, match="missing"):
        m.load_state_dict({k: v for k, v in sd.items() if k != "layers.0.b"})
    with pytest.raises(TypeError):
        m.load_state_dict(dict(sd, **{"layers.0.b": np.array(["a"] * 5)}))


def test_pickle_and_deepcopy():
    import copy
    import pickle

    X, y = _data()
    m = fastmlp.MLP([4, 5, 3], batchnorm=True, seed=0)
    m.fit(X, y, epochs=1, verbose=0)
    for other in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        np.testing.assert_array_equal(other.predict_proba(X), m.predict_proba(X))
        other.fit(X, y, epochs=1, verbose=0)  # its own locks and arrays
        assert not np.array_equal(other.parameters()[0], m.parameters()[0])
