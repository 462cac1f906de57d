"""scikit-learn estimators backed by fastmlp: ``MLPClassifier`` and ``MLPRegressor``.

They take scikit-learn's own MLP parameter names where the meaning is the same
and add fastmlp's ``batchnorm``, ``dropout`` and ``n_threads``; they drop into
``Pipeline``, ``GridSearchCV`` and ``cross_val_score``. scikit-learn is an
optional dependency (``pip install fastmlp[sklearn]``).

Differences from scikit-learn's MLP, each deliberate:

- ``solver`` is "sgd" or "adam" (no "lbfgs": fastmlp trains by mini-batches).
- ``alpha`` is scikit-learn's L2 strength: the penalty ``alpha/2 * ||W||^2`` is
  divided by the batch size, as scikit-learn does, and applied to weights only.
- ``learning_rate="invscaling"`` updates the rate once per epoch (scikit-learn:
  per step) from the number of samples seen.
- Two-class problems use a two-unit softmax output rather than one logistic unit
  (the same model family; ``predict_proba`` still has one column per class).
- ``sample_weight`` is not accepted: the losses have no per-sample weights.
"""
import contextlib

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError("fastmlp.sklearn needs scikit-learn >= 1.6: pip install 'fastmlp[sklearn]'") from exc

import fastmlp

__all__ = ["MLPClassifier", "MLPRegressor"]

_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}


@contextlib.contextmanager
def _threads(n_threads):
    if n_threads is None:
        yield
        return
    old = fastmlp._config._num_threads
    fastmlp.set_num_threads(n_threads)
    try:
        yield
    finally:
        fastmlp._config._num_threads = old


class _BaseMLP(BaseEstimator):
    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, batchnorm=False, dropout=0.0,
                 n_threads=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.batchnorm = batchnorm
        self.dropout = dropout
        self.n_threads = n_threads

    # ------------------------------------------------------------- checks
    def _check_params(self):
        hidden = self.hidden_layer_sizes
        hidden = [hidden] if np.isscalar(hidden) else list(hidden)
        if not all(isinstance(h, (int, np.integer)) and not isinstance(h, bool) and h > 0 for h in hidden):
            raise ValueError(f"hidden_layer_sizes must be positive ints, got {self.hidden_layer_sizes!r}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {self.activation!r}")
        if self.solver not in ("sgd", "adam"):
            raise ValueError(f"solver must be 'sgd' or 'adam' (lbfgs is not supported), got {self.solver!r}")
        if self.learning_rate not in ("constant", "invscaling", "adaptive"):
            raise ValueError(f"learning_rate must be 'constant', 'invscaling' or 'adaptive', got {self.learning_rate!r}")
        checks = [("alpha", self.alpha, 0, None), ("learning_rate_init", self.learning_rate_init, 0, None, True),
                  ("max_iter", self.max_iter, 1, None), ("tol", self.tol, 0, None),
                  ("momentum", self.momentum, 0, 1), ("validation_fraction", self.validation_fraction, 0, 1, True),
                  ("beta_1", self.beta_1, 0, 1), ("beta_2", self.beta_2, 0, 1), ("epsilon", self.epsilon, 0, None, True),
                  ("n_iter_no_change", self.n_iter_no_change, 1, None), ("dropout", self.dropout, 0, 1)]
        for name, value, low, high, *strict in checks:
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not np.isfinite(value) or value < low or (strict and value == low) \
                    or (high is not None and value > high):
                raise ValueError(f"{name} is out of range: {value!r}")
        if self.batch_size != "auto" and (isinstance(self.batch_size, bool)
                                          or not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1):
            raise ValueError(f"batch_size must be 'auto' or a positive int, got {self.batch_size!r}")
        return hidden

    # ------------------------------------------------------------ training
    def _make_optimizer(self):
        if self.solver == "sgd":
            return fastmlp.optim.SGD(lr=self.learning_rate_init, momentum=self.momentum,
                                     nesterov=bool(self.nesterovs_momentum and self.momentum > 0))
        return fastmlp.optim.Adam(lr=self.learning_rate_init, betas=(self.beta_1, self.beta_2), eps=self.epsilon)

    def _build(self, n_features, n_outputs, hidden):
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        self.model_ = fastmlp.MLP([n_features, *hidden, n_outputs], activation=_ACTIVATIONS[self.activation],
                                  batchnorm=self.batchnorm, dropout=self.dropout, seed=seed)
        self.optimizer_ = self._make_optimizer()
        self.loss_curve_ = []
        self.validation_scores_ = [] if self.early_stopping else None
        self.best_loss_ = np.inf if not self.early_stopping else None
        self.best_validation_score_ = -np.inf if self.early_stopping else None
        self.t_ = 0
        self._no_improvement = 0

    def _batch(self, n):
        return min(200, n) if self.batch_size == "auto" else min(int(self.batch_size), n)

    def _epochs(self, X, T, max_epochs, incremental):
        """Train epoch by epoch with scikit-learn's stopping rules."""
        X_val = T_val = None
        if self.early_stopping and not incremental:
            rng = check_random_state(self.random_state)
            idx = rng.permutation(len(X))
            n_val = max(1, int(round(self.validation_fraction * len(X))))
            if len(X) - n_val < 1:
                raise ValueError(f"early_stopping needs more than {len(X)} samples to hold out a validation set")
            X_val, T_val = X[idx[:n_val]], T[idx[:n_val]]
            X, T = X[idx[n_val:]], T[idx[n_val:]]
        batch = self._batch(len(X))
        loss_kind = self._loss_name()
        best_state = None
        for _ in range(max_epochs):
            if self.learning_rate == "invscaling" and self.solver == "sgd":
                self.optimizer_.lr = self.learning_rate_init / (self.t_ + 1) ** self.power_t
            history = self.model_.fit(X, T, epochs=1, batch_size=batch, loss=loss_kind, optimizer=self.optimizer_,
                                      l2=self.alpha / batch, shuffle=bool(self.shuffle), verbose=0)
            self.t_ += len(X)
            self.n_iter_ = getattr(self, "n_iter_", 0) + 1
            loss = float(history["loss"][-1])
            self.loss_ = loss
            self.loss_curve_.append(loss)
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {loss:.8f}")
            if incremental:
                continue
            if self.early_stopping:
                score = self._score_arrays(X_val, T_val)
                self.validation_scores_.append(score)
                improved = score > self.best_validation_score_ + self.tol
                if score > self.best_validation_score_:
                    self.best_validation_score_ = score
                    best_state = self.model_.state_dict()
            else:
                improved = loss < self.best_loss_ - self.tol
                self.best_loss_ = min(self.best_loss_, loss)
            self._no_improvement = 0 if improved else self._no_improvement + 1
            if self._no_improvement > self.n_iter_no_change:
                if self.learning_rate == "adaptive" and self.optimizer_.lr > 1e-6:
                    self.optimizer_.lr /= 5.0
                    self._no_improvement = 0
                else:
                    break
        if best_state is not None:
            self.model_.load_state_dict(best_state)

    def _fit(self, X, y, incremental):
        hidden = self._check_params()
        first = not (incremental or self.warm_start) or not hasattr(self, "model_")
        # regressors take 2-D targets; a classifier's column vector y is raveled
        # with scikit-learn's DataConversionWarning
        X, y = validate_data(self, X, y, reset=first, dtype=(np.float32, np.float64),
                             multi_output=self._regression, y_numeric=self._regression)
        T = self._encode_targets(y, first)
        with _threads(self.n_threads):
            if first:
                self._build(X.shape[1], self._n_outputs(T), hidden)
            self._epochs(X.astype(np.float32, copy=False), T, 1 if incremental else self.max_iter, incremental)
        return self

    def fit(self, X, y):
        """Train from scratch (or continue, with warm_start=True) for up to max_iter epochs."""
        return self._fit(X, y, incremental=False)

    def _raw(self, X):
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=(np.float32, np.float64))
        with _threads(self.n_threads):
            return self.model_.forward(X.astype(np.float32, copy=False), training=False)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier (softmax cross-entropy), scikit-learn API.

    Attributes after fit: ``classes_``, ``n_features_in_``, ``loss_``,
    ``loss_curve_``, ``n_iter_``, ``best_loss_`` / ``validation_scores_`` and
    ``best_validation_score_`` (with early_stopping), ``model_`` (the
    :class:`fastmlp.MLP`).
    """

    _regression = False

    def _loss_name(self):
        return "softmax_cross_entropy"

    def _encode_targets(self, y, first):
        check_classification_targets(y)
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"MLPClassifier expects 1-D class labels, got an array of shape {y.shape}")
        if first and not hasattr(self, "_partial_classes"):
            self._encoder = LabelEncoder().fit(y)
            self.classes_ = self._encoder.classes_
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y contains labels not seen before: {unknown.tolist()}; known classes {self.classes_.tolist()}")
        return self._encoder.transform(y).astype(np.int64)

    def _n_outputs(self, T):
        return max(2, len(self.classes_))

    def _score_arrays(self, X, T):
        return float(np.mean(np.argmax(self.model_.forward(X, training=False), axis=1) == T))

    def fit(self, X, y):
        self.__dict__.pop("_partial_classes", None)
        return super().fit(X, y)

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y); the first call must name every class in ``classes``."""
        if not hasattr(self, "model_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self._encoder = LabelEncoder().fit(np.asarray(classes))
            self.classes_ = self._encoder.classes_
            self._partial_classes = True
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes {np.unique(classes).tolist()} differ from those of the first call "
                             f"{self.classes_.tolist()}")
        return self._fit(X, y, incremental=True)

    def predict_proba(self, X):
        check_is_fitted(self, "model_")
        logits = self._raw(X).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        return p[:, : len(self.classes_)] if len(self.classes_) > 1 else np.ones((len(p), 1))

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def predict(self, X):
        check_is_fitted(self, "model_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor (mean squared error), scikit-learn API."""

    _regression = True

    def _loss_name(self):
        return "mse"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _encode_targets(self, y, first):
        y = np.asarray(y, dtype=np.float64)
        if first:
            self._y_1d = y.ndim == 1
        if type_of_target(y) not in ("continuous", "binary", "multiclass", "continuous-multioutput",
                                     "multiclass-multioutput"):
            raise ValueError(f"MLPRegressor expects numeric targets, got {type_of_target(y)}")
        T = y.reshape(len(y), -1).astype(np.float32)
        if not first and T.shape[1] != self.model_.sizes[-1]:
            raise ValueError(f"y has {T.shape[1]} targets, the model was trained with {self.model_.sizes[-1]}")
        return T

    def _n_outputs(self, T):
        return T.shape[1]

    def _score_arrays(self, X, T):
        pred = self.model_.forward(X, training=False)
        ss_res = float(np.sum((T - pred) ** 2))
        ss_tot = float(np.sum((T - T.mean(axis=0)) ** 2))
        return 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0

    def partial_fit(self, X, y):
        """One epoch over (X, y), continuing from the previous call."""
        return self._fit(X, y, incremental=True)

    def predict(self, X):
        out = self._raw(X).astype(np.float64)
        return out.ravel() if self._y_1d else out
