"""Preprocessing in numpy: scalers, one-hot encoding, splitting and PCA.

Every transformer follows scikit-learn's shape: ``fit(X)`` learns from the
data and returns ``self``, ``transform(X)`` applies what was learnt,
``fit_transform(X)`` does both, ``inverse_transform(X)`` undoes it. Inputs are
2-D arrays of real numbers (N samples, D features); float32 and float64 keep
their dtype, anything else numeric becomes float64.
"""
import numbers

import numpy as np


def _check_2d(X, name="X"):
    """X as a 2-D float array (float32/float64 kept), refusing non-numeric, empty or non-finite data."""
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array, got {type(X).__name__}") from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.dtype.kind != "f" or arr.dtype.itemsize < 4:
        arr = arr.astype(np.float64)
    elif arr.dtype.itemsize > 8:
        arr = arr.astype(np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N, D), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or Inf")
    return arr


class _Transformer:
    _fitted_attr = None

    def fit_transform(self, X):
        return self.fit(X).transform(X)

    def _check_fitted(self, X):
        if getattr(self, self._fitted_attr, None) is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit(X) first")
        X = _check_2d(X)
        expected = getattr(self, self._fitted_attr).shape[-1]
        if X.shape[1] != expected:
            raise ValueError(f"{type(self).__name__} expected input of shape (N, {expected}), got {X.shape}")
        return X


class StandardScaler(_Transformer):
    """Centre each feature to mean 0 and scale it to unit variance.

    ``z = (x - mean_) / scale_`` where ``scale_`` is the population standard
    deviation; constant features get ``scale_ = 1`` (they map to 0).
    """
    _fitted_attr = "mean_"

    def __init__(self, with_mean=True, with_std=True):
        self.with_mean = bool(with_mean)
        self.with_std = bool(with_std)
        self.mean_ = None
        self.scale_ = None

    def fit(self, X):
        X = _check_2d(X)
        mean = X.mean(axis=0, dtype=np.float64)
        std = X.std(axis=0, dtype=np.float64)
        std[std == 0] = 1.0
        self.mean_ = mean if self.with_mean else np.zeros_like(mean)
        self.scale_ = std if self.with_std else np.ones_like(std)
        return self

    def transform(self, X):
        X = self._check_fitted(X)
        return ((X - self.mean_) / self.scale_).astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        X = self._check_fitted(X)
        return (X * self.scale_ + self.mean_).astype(X.dtype, copy=False)


class MinMaxScaler(_Transformer):
    """Map each feature's [min, max] seen in fit linearly onto ``feature_range``.

    Constant features map to the lower end of the range.
    """
    _fitted_attr = "data_min_"

    def __init__(self, feature_range=(0.0, 1.0)):
        try:
            lo, hi = (float(v) for v in feature_range)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"feature_range must be a pair (min, max), got {feature_range!r}") from exc
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"feature_range must satisfy min < max, got {feature_range!r}")
        self.feature_range = (lo, hi)
        self.data_min_ = None
        self.data_max_ = None

    def fit(self, X):
        X = _check_2d(X)
        self.data_min_ = X.min(axis=0).astype(np.float64)
        self.data_max_ = X.max(axis=0).astype(np.float64)
        span = self.data_max_ - self.data_min_
        span[span == 0] = 1.0
        lo, hi = self.feature_range
        self.scale_ = (hi - lo) / span
        self.min_ = lo - self.data_min_ * self.scale_
        return self

    def transform(self, X):
        X = self._check_fitted(X)
        return (X * self.scale_ + self.min_).astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        X = self._check_fitted(X)
        return ((X - self.min_) / self.scale_).astype(X.dtype, copy=False)


class PCA(_Transformer):
    """Principal component analysis through the SVD of the centred data.

    ``components_`` (n_components, D) are the right singular vectors with the
    largest singular values (sign fixed so that each component's largest
    absolute entry is positive); ``explained_variance_`` their variances
    ``s**2 / (N - 1)`` and ``explained_variance_ratio_`` their share of the total.
    ``transform(X) = (X - mean_) @ components_.T``.
    """
    _fitted_attr = "components_"

    def __init__(self, n_components=None):
        if n_components is not None and (isinstance(n_components, bool)
                                         or not isinstance(n_components, numbers.Integral)):
            raise TypeError(f"n_components must be a positive int or None, got {n_components!r}")
        if n_components is not None and n_components < 1:
            raise ValueError(f"n_components must be a positive int or None, got {n_components}")
        self.n_components = n_components
        self.components_ = None

    def fit(self, X):
        X = _check_2d(X)
        n, d = X.shape
        k = min(n, d) if self.n_components is None else int(self.n_components)
        if k > min(n, d):
            raise ValueError(f"n_components must be at most min(N, D) = {min(n, d)}, got {k}")
        self.mean_ = X.mean(axis=0, dtype=np.float64)
        _, s, vt = np.linalg.svd(X.astype(np.float64) - self.mean_, full_matrices=False)
        big = np.argmax(np.abs(vt), axis=1)
        signs = np.sign(vt[np.arange(vt.shape[0]), big])
        signs[signs == 0] = 1.0
        vt *= signs[:, None]
        var = s ** 2 / max(n - 1, 1)
        total = var.sum()
        self.components_ = vt[:k]
        self.singular_values_ = s[:k]
        self.explained_variance_ = var[:k]
        self.explained_variance_ratio_ = var[:k] / total if total > 0 else np.zeros(k)
        self.n_components_ = k
        return self

    def transform(self, X):
        X = self._check_fitted(X)
        return ((X - self.mean_) @ self.components_.T).astype(X.dtype, copy=False)

    def inverse_transform(self, Z):
        if self.components_ is None:
            raise RuntimeError("PCA is not fitted yet: call fit(X) first")
        Z = _check_2d(Z, "Z")
        if Z.shape[1] != self.n_components_:
            raise ValueError(f"PCA.inverse_transform expected input of shape (N, {self.n_components_}), got {Z.shape}")
        return (Z @ self.components_ + self.mean_).astype(Z.dtype, copy=False)


def one_hot(labels, num_classes=None, dtype="float32"):
    """Integer labels (N,) -> (N, num_classes) array with a single 1 per row.

    ``num_classes`` defaults to ``max(labels) + 1``; labels must lie in
    [0, num_classes).
    """
    y = np.asarray(labels)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError("labels must be integers")
        y = y.astype(np.int64)
    elif y.dtype.kind not in "iub":
        raise TypeError(f"labels must be integers, got dtype {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D (N,), got shape {y.shape}")
    y = y.astype(np.int64)
    if num_classes is None:
        if y.size == 0:
            raise ValueError("num_classes is required for empty labels")
        num_classes = int(y.max()) + 1
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got values in [{y.min()}, {y.max()}]")
    out = np.zeros((y.size, int(num_classes)), dtype=np.dtype(dtype))
    out[np.arange(y.size), y] = 1
    return out


def train_test_split(*arrays, test_size=0.25, seed=0, shuffle=True, stratify=None):
    """Split arrays (same first dimension) into train and test parts.

    ``test_size`` is a fraction in (0, 1) or a number of samples. Returns
    ``a_train, a_test, b_train, b_test, ...`` in argument order. With
    ``stratify=labels`` each class keeps its proportion in both parts.
    """
    if not arrays:
        raise ValueError("train_test_split needs at least one array")
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0])
    for a in arrays[1:]:
        if len(a) != n:
            raise ValueError(f"arrays have different lengths: {n} and {len(a)}")
    if isinstance(test_size, bool) or not isinstance(test_size, (numbers.Real,)):
        raise TypeError(f"test_size must be a fraction or an int, got {test_size!r}")
    if isinstance(test_size, numbers.Integral):
        n_test = int(test_size)
    else:
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"test_size as a fraction must lie in (0, 1), got {test_size}")
        n_test = int(np.ceil(test_size * n))
    if not 0 < n_test < n:
        raise ValueError(f"test_size must leave both parts non-empty: {n_test} test samples of {n}")
    rng = np.random.default_rng(seed)
    if stratify is not None:
        labels = np.asarray(stratify)
        if len(labels) != n:
            raise ValueError(f"stratify has length {len(labels)}, expected {n}")
        test_idx = []
        classes, inverse = np.unique(labels, return_inverse=True)
        for c in range(len(classes)):
            members = np.flatnonzero(inverse == c)
            if shuffle:
                members = rng.permutation(members)
            take = int(round(len(members) * n_test / n))
            test_idx.append(members[:take])
        test_idx = np.concatenate(test_idx)
        mask = np.zeros(n, bool)
        mask[test_idx] = True
        train_idx = np.flatnonzero(~mask)
        if shuffle:
            train_idx, test_idx = rng.permutation(train_idx), rng.permutation(test_idx)
        else:
            test_idx = np.sort(test_idx)
    else:
        order = rng.permutation(n) if shuffle else np.arange(n)
        train_idx, test_idx = order[: n - n_test], order[n - n_test:]
    out = []
    for a in arrays:
        out.extend([a[train_idx], a[test_idx]])
    return out
