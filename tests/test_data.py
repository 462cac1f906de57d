"""fastmlp.data: scalers, one_hot, train_test_split and PCA against their definitions."""
import numpy as np
import pytest

from fastmlp import data


@pytest.fixture
def X(rng):
    return rng.standard_normal((50, 6)) * np.arange(1, 7) + np.arange(6)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_standard_scaler(X, dt):
    Xd = X.astype(dt)
    s = data.StandardScaler().fit(Xd)
    Z = s.transform(Xd)
    assert Z.dtype == dt
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(Z.std(axis=0), 1, rtol=1e-5)
    np.testing.assert_allclose(s.inverse_transform(Z), Xd, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(data.StandardScaler().fit_transform(Xd), Z)


def test_standard_scaler_constant_feature():
    X = np.c_[np.ones(5), np.arange(5.0)]
    Z = data.StandardScaler().fit_transform(X)
    assert np.all(Z[:, 0] == 0) and np.all(np.isfinite(Z))


@pytest.mark.parametrize("feature_range", [(0, 1), (-1, 1), (2.5, 3)])
def test_minmax_scaler(X, feature_range):
    s = data.MinMaxScaler(feature_range=feature_range)
    Z = s.fit_transform(X)
    np.testing.assert_allclose(Z.min(axis=0), feature_range[0])
    np.testing.assert_allclose(Z.max(axis=0), feature_range[1])
    np.testing.assert_allclose(s.inverse_transform(Z), X)


def test_minmax_scaler_bad_range():
    with pytest.raises(ValueError, match="min < max"):
        data.MinMaxScaler((1, 0))
    with pytest.raises(TypeError):
        data.MinMaxScaler(3)


def test_scalers_refuse(X):
    s = data.StandardScaler()
    with pytest.raises(RuntimeError, match="not fitted"):
        s.transform(X)
    s.fit(X)
    with pytest.raises(ValueError, match=r"\(N, 6\)"):
        s.transform(X[:, :5])
    with pytest.raises(ValueError, match="NaN"):
        s.fit(np.full((3, 2), np.nan))
    with pytest.raises(TypeError):
        s.fit(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="empty"):
        s.fit(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="2-D"):
        s.fit(np.ones(3))


def test_one_hot():
    out = data.one_hot([2, 0, 1, 2])
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[[2, 0, 1, 2]])
    assert out.dtype == np.float32
    assert data.one_hot(np.array([1]), num_classes=4, dtype="float64").shape == (1, 4)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        data.one_hot([0, 3], num_classes=3)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        data.one_hot([-1, 2], num_classes=3)
    with pytest.raises(TypeError):
        data.one_hot(np.array(["a"]))
    with pytest.raises(ValueError):
        data.one_hot([0.5])


def test_train_test_split(X):
    y = np.arange(len(X))
    Xtr, Xte, ytr, yte = data.train_test_split(X, y, test_size=0.2, seed=1)
    assert len(Xte) == 10 and len(Xtr) == 40
    np.testing.assert_array_equal(Xtr, X[ytr])
    assert sorted(np.r_[ytr, yte].tolist()) == y.tolist()
    again = data.train_test_split(X, y, test_size=0.2, seed=1)
    np.testing.assert_array_equal(again[3], yte)
    _, _, ytr2, yte2 = data.train_test_split(X, y, test_size=7, shuffle=False)
    np.testing.assert_array_equal(yte2, y[-7:])
    with pytest.raises(ValueError, match="lengths"):
        data.train_test_split(X, y[:3])
    with pytest.raises(ValueError):
        data.train_test_split(X, test_size=1.5)
    with pytest.raises(ValueError):
        data.train_test_split(X, test_size=50)


def test_train_test_split_stratified():
    y = np.repeat([0, 1, 2, 3], [40, 40, 10, 10])
    ytr, yte = data.train_test_split(y, test_size=0.2, stratify=y, seed=0)
    np.testing.assert_array_equal(np.bincount(yte), [8, 8, 2, 2])
    np.testing.assert_array_equal(np.bincount(ytr), [32, 32, 8, 8])


def test_pca_matches_covariance_eigenvectors(rng):
    X = rng.standard_normal((200, 5)) @ rng.standard_normal((5, 5))
    p = data.PCA(n_components=3).fit(X)
    cov = np.cov(X, rowvar=False)
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1]
    np.testing.assert_allclose(p.explained_variance_, vals[order[:3]], rtol=1e-10)
    for k in range(3):
        assert abs(abs(vecs[:, order[k]] @ p.components_[k]) - 1) < 1e-8
    Z = p.transform(X)
    assert Z.shape == (200, 3)
    np.testing.assert_allclose(Z.var(axis=0, ddof=1), p.explained_variance_, rtol=1e-10)
    full = data.PCA().fit(X)
    np.testing.assert_allclose(full.explained_variance_ratio_.sum(), 1.0)
    np.testing.assert_allclose(full.inverse_transform(full.transform(X)), X, atol=1e-10)


def test_pca_refuses():
    with pytest.raises(ValueError):
        data.PCA(0)
    with pytest.raises(TypeError):
        data.PCA(1.5)
    with pytest.raises(ValueError, match="at most"):
        data.PCA(10).fit(np.ones((4, 3)))
    with pytest.raises(RuntimeError):
        data.PCA(2).transform(np.ones((4, 3)))
