"""fastmlp.datasets: the embedded sample, the IDX reader, and the verified download
(served from a local HTTP server with IDX files written here)."""
import functools
import gzip
import hashlib
import http.server
import os
import struct
import threading

import numpy as np
import pytest

from fastmlp import datasets


def test_load_mnist_sample():
    X, y, Xt, yt = datasets.load_mnist_sample()
    assert X.shape == (4000, 784) and Xt.shape == (1000, 784)
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= X.min() and X.max() <= 1.0 and X.max() == 1.0
    assert set(np.unique(np.r_[y, yt])) == set(range(10))
    np.testing.assert_array_equal(np.bincount(np.r_[y, yt]), np.full(10, 500))
    # shuffled: the file is sorted by label
    assert np.any(np.diff(y) < 0)
    again = datasets.load_mnist_sample()
    np.testing.assert_array_equal(again[1], y)
    other = datasets.load_mnist_sample(seed=1)
    assert not np.array_equal(other[1], y)
    X2, y2, Xt2, yt2 = datasets.load_mnist_sample(test_size=500)
    assert len(X2) == 4500 and len(Xt2) == 500
    with pytest.raises(ValueError):
        datasets.load_mnist_sample(test_size=0)
    with pytest.raises(TypeError):
        datasets.load_mnist_sample(test_size=0.2)


def _idx_bytes(arr):
    arr = np.asarray(arr, np.uint8)
    return bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def _write_mnist(folder, rng, gz=True, n_train=12, n_test=5):
    files = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    digests = {}
    for stem, arr in files.items():
        raw = _idx_bytes(arr)
        name = stem + (".gz" if gz else "")
        blob = gzip.compress(raw) if gz else raw
        with open(os.path.join(folder, name), "wb") as f:
            f.write(blob)
        digests[name] = hashlib.sha256(blob).hexdigest()
    return files, digests


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_load_mnist_from_folder(tmp_path, rng, gz):
    files, _ = _write_mnist(str(tmp_path), rng, gz=gz)
    X, y, Xt, yt = datasets.load_mnist(str(tmp_path))
    assert X.shape == (12, 784) and Xt.shape == (5, 784)
    assert X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(X * 255, files["train-images-idx3-ubyte"].reshape(12, -1), atol=1e-4)
    np.testing.assert_array_equal(yt, files["t10k-labels-idx1-ubyte"])


def test_read_idx_refuses_bad_files(tmp_path):
    bad = tmp_path / "bad-idx1-ubyte"
    bad.write_bytes(b"\x01\x02\x03\x04garbage")
    with pytest.raises(ValueError, match="magic"):
        datasets.read_idx(str(bad))
    short = tmp_path / "short-idx1-ubyte"
    short.write_bytes(_idx_bytes(np.arange(10))[:-3])
    with pytest.raises(ValueError, match="bytes"):
        datasets.read_idx(str(short))
    np.testing.assert_array_equal(datasets.read_idx(str(_write(tmp_path / "ok", _idx_bytes(np.arange(4))))), np.arange(4))


def _write(path, blob):
    path.write_bytes(blob)
    return path


def test_load_mnist_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        datasets.load_mnist(str(tmp_path / "nothing"))


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_download_checks_sha256(server, tmp_path, rng):
    root, url = server
    files, digests = _write_mnist(str(root), rng)
    cache = tmp_path / "cache"
    X, y, Xt, yt = datasets.load_mnist(str(cache), download=True, url=url, sha256=digests)
    np.testing.assert_array_equal(y, files["train-labels-idx1-ubyte"])
    assert sorted(os.listdir(cache)) == sorted(digests)
    # a second call reads the cache (the server may be gone)
    for name in os.listdir(root):
        os.remove(root / name)
    np.testing.assert_array_equal(datasets.load_mnist(str(cache))[3], yt)


def test_download_refuses_wrong_digest(server, tmp_path, rng):
    root, url = server
    _, digests = _write_mnist(str(root), rng)
    wrong = dict(digests, **{"train-images-idx3-ubyte.gz": "0" * 64})
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="SHA-256"):
        datasets.load_mnist(str(cache), download=True, url=url, sha256=wrong)
    assert not (cache / "train-images-idx3-ubyte.gz").exists()
    assert not [n for n in os.listdir(cache) if n.startswith(".download")]


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("FASTMLP_DATA", str(tmp_path))
    assert datasets.default_cache_dir() == str(tmp_path)
    monkeypatch.delenv("FASTMLP_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert datasets.default_cache_dir() == str(tmp_path / "x" / "fastmlp")
    assert set(datasets.MNIST_SHA256) == {s + ".gz" for s in datasets.MNIST_FILES.values()}
