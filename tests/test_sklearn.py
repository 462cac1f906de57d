"""fastmlp.sklearn: scikit-learn's estimator checks and the usual compositions."""
import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is not installed (extra 'sklearn')")

from sklearn.datasets import load_digits, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastmlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

FAST = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=60, random_state=0)


@parametrize_with_checks([MLPClassifier(**FAST), MLPRegressor(**FAST)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.3, random_state=0, stratify=y)


def test_classifier_learns_digits_like_sklearn(digits):
    from sklearn.neural_network import MLPClassifier as SkMLP

    Xtr, Xte, ytr, yte = digits
    ours = MLPClassifier(hidden_layer_sizes=(64,), max_iter=40, random_state=0).fit(Xtr, ytr)
    theirs = SkMLP(hidden_layer_sizes=(64,), max_iter=40, random_state=0).fit(Xtr, ytr)
    assert ours.score(Xte, yte) > 0.93
    assert ours.score(Xte, yte) >= theirs.score(Xte, yte) - 0.03
    assert ours.predict_proba(Xte).shape == (len(Xte), 10)
    np.testing.assert_allclose(ours.predict_proba(Xte).sum(axis=1), 1.0, rtol=1e-6)
    assert ours.n_features_in_ == 64 and list(ours.classes_) == list(range(10))
    assert ours.n_iter_ <= 40 and len(ours.loss_curve_) == ours.n_iter_


def test_string_labels_and_pipeline_and_grid_search(digits):
    Xtr, Xte, ytr, yte = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), max_iter=40, random_state=0))
    grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2]}, cv=2).fit(Xtr, names[ytr])
    assert set(grid.predict(Xte)) <= set(names)
    assert grid.score(Xte, names[yte]) > 0.9
    scores = cross_val_score(MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=15,
                                           random_state=0), Xtr, ytr, cv=3)
    assert scores.mean() > 0.85


def test_early_stopping_and_partial_fit(digits):
    Xtr, Xte, ytr, yte = digits
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=200, early_stopping=True, n_iter_no_change=3,
                        random_state=0).fit(Xtr, ytr)
    assert clf.n_iter_ < 200 and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    inc = MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        inc.partial_fit(Xtr[:50], ytr[:50])
    for _ in range(10):
        inc.partial_fit(Xtr, ytr, classes=np.arange(10))
    assert inc.n_iter_ == 10 and inc.score(Xte, yte) > 0.9


def test_regressor(digits):
    X, y = make_regression(n_samples=400, n_features=8, noise=0.1, random_state=0)
    y = y / y.std()
    reg = MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=200, random_state=0).fit(X, y)
    assert reg.predict(X).shape == (400,)
    assert reg.score(X, y) > 0.9
    Y = np.c_[y, -y]
    assert MLPRegressor(**FAST).fit(X, Y).predict(X).shape == (400, 2)


def test_fastmlp_parameters_and_bad_values(digits):
    Xtr, _, ytr, _ = digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), batchnorm=True, dropout=0.2, n_threads=1, max_iter=3)
    assert clf.get_params()["dropout"] == 0.2
    clf.set_params(dropout=0.1).fit(Xtr, ytr)
    for bad, match in [(dict(solver="lbfgs"), "solver"), (dict(activation="gelu"), "activation"),
                       (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes"), (dict(alpha=-1.0), "alpha"),
                       (dict(batch_size=0), "batch_size"), (dict(learning_rate="cyclic"), "learning_rate")]:
        with pytest.raises(ValueError, match=match):
            MLPClassifier(**bad).fit(Xtr, ytr)
