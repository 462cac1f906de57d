"""Hyperparameter search: random, grid and coarse-to-fine, trials in parallel.

A search calls a user function once per trial with a dict of parameters and
records the score it returns (higher is better unless ``direction="minimize"``)::

    from fastmlp import search

    def objective(params, seed):          # builds and fits a model, returns a validation score
        ...

    space = {"lr": search.loguniform(1e-4, 1e-1), "hidden": search.choice([30, 100])}
    first = search.RandomSearch(objective, space, n_trials=20, seed=0).run()
    second = search.RandomSearch(objective, search.refine(first, space, top_k=5), n_trials=20, seed=1).run()
    print(second.table())

Parameters are sampled in the calling process from ``seed`` and each trial gets
its own seed derived from it, so the results are the same whatever executes the
trials. By default trials run in local processes, each limited to its share of
the cores (trials x threads never exceeds them); any
``concurrent.futures.Executor`` can be passed instead, e.g. a dask.distributed
``Client.get_executor()`` to run the same search on a cluster. Functions sent to
processes must be picklable (defined at module level).
"""
import inspect
import math
import multiprocessing
import os
import time
import traceback
import warnings
from concurrent.futures import ProcessPoolExecutor
from itertools import product

import numpy as np

__all__ = [
    "loguniform", "uniform", "randint", "choice", "RandomSearch", "GridSearch",
    "SearchResult", "refine", "MLPObjective",
]


# -------------------------------------------------------------------- spaces

class _Distribution:
    def sample(self, rng):
        raise NotImplementedError

    def grid(self, n):
        """n representative values, for GridSearch."""
        raise NotImplementedError

    def around(self, values):
        """The same kind of distribution narrowed to cover `values` (for refine)."""
        raise NotImplementedError


def _check_range(name, low, high, positive=False):
    for label, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
            raise ValueError(f"{name}: {label} must be a finite number, got {v!r}")
    if positive and low <= 0:
        raise ValueError(f"{name}: low must be > 0 for a log scale, got {low!r}")
    if not low < high:
        raise ValueError(f"{name}: expected low < high, got low={low!r}, high={high!r}")


class loguniform(_Distribution):
    """Uniform in log space on [low, high]: the course's sampling for learning
    rates and regularisation strengths (each decade equally likely)."""

    def __init__(self, low, high):
        _check_range("loguniform", low, high, positive=True)
        self.low, self.high = float(low), float(high)

    def sample(self, rng):
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))

    def grid(self, n):
        return [float(v) for v in np.geomspace(self.low, self.high, n)]

    def around(self, values):
        lo, hi = min(values), max(values)
        span = max(math.log(hi) - math.log(lo), 0.1 * (math.log(self.high) - math.log(self.low)))
        new_lo = max(self.low, math.exp(math.log(lo) - 0.25 * span))
        new_hi = min(self.high, math.exp(math.log(hi) + 0.25 * span))
        return loguniform(new_lo, new_hi) if new_lo < new_hi else loguniform(self.low, self.high)

    def __repr__(self):
        return f"loguniform({self.low:g}, {self.high:g})"


class uniform(_Distribution):
    """Uniform on [low, high]."""

    def __init__(self, low, high):
        _check_range("uniform", low, high)
        self.low, self.high = float(low), float(high)

    def sample(self, rng):
        return float(rng.uniform(self.low, self.high))

    def grid(self, n):
        return [float(v) for v in np.linspace(self.low, self.high, n)]

    def around(self, values):
        lo, hi = min(values), max(values)
        span = max(hi - lo, 0.1 * (self.high - self.low))
        new_lo, new_hi = max(self.low, lo - 0.25 * span), min(self.high, hi + 0.25 * span)
        return uniform(new_lo, new_hi) if new_lo < new_hi else uniform(self.low, self.high)

    def __repr__(self):
        return f"uniform({self.low:g}, {self.high:g})"


class randint(_Distribution):
    """Integers uniform on [low, high) (numpy's and scipy's convention)."""

    def __init__(self, low, high):
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (low, high)):
            raise ValueError(f"randint: low and high must be integers, got {low!r}, {high!r}")
        _check_range("randint", low, high)
        self.low, self.high = int(low), int(high)

    def sample(self, rng):
        return int(rng.integers(self.low, self.high))

    def grid(self, n):
        return sorted({int(round(v)) for v in np.linspace(self.low, self.high - 1, n)})

    def around(self, values):
        lo, hi = min(values), max(values)
        span = max(hi - lo, 1)
        new_lo = max(self.low, int(math.floor(lo - 0.25 * span)))
        new_hi = min(self.high, int(math.ceil(hi + 0.25 * span)) + 1)
        return randint(new_lo, new_hi) if new_lo < new_hi else randint(self.low, self.high)

    def __repr__(self):
        return f"randint({self.low}, {self.high})"


class choice(_Distribution):
    """One of a list of options, each equally likely."""

    def __init__(self, options):
        options = list(options)
        if not options:
            raise ValueError("choice: expected at least one option, got an empty list")
        self.options = options

    def sample(self, rng):
        return self.options[int(rng.integers(len(self.options)))]

    def grid(self, n):
        return list(self.options)

    def around(self, values):
        kept = [o for o in self.options if any(_same(o, v) for v in values)]
        return choice(kept or self.options)

    def __repr__(self):
        return f"choice({self.options!r})"


def _same(a, b):
    try:
        return bool(a == b)
    except Exception:
        return a is b


def _check_space(space):
    if not isinstance(space, dict) or not space:
        raise ValueError(f"space must be a non-empty dict of name -> distribution, got {space!r}")
    for name, dist in space.items():
        if not isinstance(name, str):
            raise TypeError(f"space keys must be parameter names (str), got {name!r}")
        if not isinstance(dist, (_Distribution, list, tuple)):
            raise TypeError(
                f"space[{name!r}] must be loguniform/uniform/randint/choice or a list of values, "
                f"got {type(dist).__name__}"
            )
        if isinstance(dist, (list, tuple)) and not dist:
            raise ValueError(f"space[{name!r}] is an empty list")


def _as_distribution(value):
    return value if isinstance(value, _Distribution) else choice(value)


# ------------------------------------------------------------------- results

class SearchResult:
    """Trials sorted best first; each is a dict with index, params, score, seed,
    time (seconds), extra (any other values the function returned) and error."""

    def __init__(self, trials, direction):
        self.direction = direction
        sign = -1.0 if direction == "maximize" else 1.0

        def key(t):
            bad = t["error"] is not None or not math.isfinite(t["score"])
            return (bad, sign * t["score"] if not bad else 0.0, t["index"])

        self.trials = sorted(trials, key=key)

    @property
    def best(self):
        ok = [t for t in self.trials if t["error"] is None and math.isfinite(t["score"])]
        if not ok:
            raise ValueError("no trial finished with a finite score")
        return ok[0]

    @property
    def best_params(self):
        return dict(self.best["params"])

    @property
    def best_score(self):
        return self.best["score"]

    def __len__(self):
        return len(self.trials)

    def __iter__(self):
        return iter(self.trials)

    def __getitem__(self, i):
        return self.trials[i]

    def table(self, max_rows=None):
        """The trials as an aligned text table, best first."""
        names = sorted({k for t in self.trials for k in t["params"]})
        header = ["rank", "trial"] + names + ["score", "time (s)"]
        rows = []
        for rank, t in enumerate(self.trials[:max_rows] if max_rows else self.trials, 1):
            cells = [str(rank), str(t["index"])]
            for n in names:
                v = t["params"].get(n, "")
                cells.append(f"{v:.4g}" if isinstance(v, float) else str(v))
            cells.append("error" if t["error"] else f"{t['score']:.4f}")
            cells.append(f"{t['time']:.2f}")
            rows.append(cells)
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
        lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
        lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
        return "\n".join(lines)

    def __repr__(self):
        return f"SearchResult({len(self.trials)} trials, best score {self.best_score!r})"


def refine(result, space, top_k=5):
    """A narrower space for a coarse-to-fine second round: every range shrunk to
    cover the top_k trials' values with a margin (log scale stays log scale),
    every choice reduced to the options those trials used."""
    if not isinstance(result, SearchResult):
        raise TypeError(f"refine expected a SearchResult, got {type(result).__name__}")
    _check_space(space)
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"top_k must be a positive int, got {top_k!r}")
    best = [t for t in result.trials if t["error"] is None and math.isfinite(t["score"])][:top_k]
    if not best:
        raise ValueError("refine needs at least one trial with a finite score")
    narrowed = {}
    for name, dist in space.items():
        dist = _as_distribution(dist)
        values = [t["params"][name] for t in best if name in t["params"]]
        narrowed[name] = dist.around(values) if values else dist
    return narrowed


# ------------------------------------------------------------------ running

def _limit_threads(n_threads):
    # each worker process gets its share of the cores
    os.environ["OMP_NUM_THREADS"] = str(n_threads)
    import fastmlp

    fastmlp.set_num_threads(n_threads)


def _run_trial(fn, params, seed, n_threads):
    """Runs in the worker: (score, extra, seconds, error)."""
    if n_threads is not None:
        _limit_threads(n_threads)
    t0 = time.perf_counter()
    try:
        out = fn(params, seed=seed) if _accepts_seed(fn) else fn(params)
        if isinstance(out, dict):
            if "score" not in out:
                raise ValueError(f"the trial function returned a dict without 'score': {sorted(out)}")
            extra = {k: v for k, v in out.items() if k != "score"}
            score = float(out["score"])
        else:
            extra, score = {}, float(out)
        return score, extra, time.perf_counter() - t0, None
    except Exception:
        return float("nan"), {}, time.perf_counter() - t0, traceback.format_exc(limit=5)


def _accepts_seed(fn):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    return "seed" in sig.parameters or any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())


class _Search:
    def __init__(self, fn, n_jobs=None, executor=None, threads_per_trial=None, direction="maximize",
                 seed=None):
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        if direction not in ("maximize", "minimize"):
            raise ValueError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
        if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1):
            raise ValueError(f"n_jobs must be a positive int or None, got {n_jobs!r}")
        if threads_per_trial is not None and (
            isinstance(threads_per_trial, bool) or not isinstance(threads_per_trial, int) or threads_per_trial < 1
        ):
            raise ValueError(f"threads_per_trial must be a positive int or None, got {threads_per_trial!r}")
        if executor is not None and not hasattr(executor, "submit"):
            raise TypeError(f"executor must be a concurrent.futures.Executor, got {type(executor).__name__}")
        self.fn = fn
        self.n_jobs = n_jobs
        self.executor = executor
        self.threads_per_trial = threads_per_trial
        self.direction = direction
        self.seed = seed

    def _trial_params(self):
        raise NotImplementedError

    def run(self):
        """Run every trial; returns a SearchResult (also kept as ``self.result_``)."""
        params = self._trial_params()
        seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(self.seed).spawn(len(params))]
        outputs = self._execute(params, seeds)
        trials = []
        for i, (p, s, (score, extra, seconds, error)) in enumerate(zip(params, seeds, outputs)):
            trials.append({"index": i, "params": p, "seed": s, "score": score, "time": seconds,
                           "extra": extra, "error": error})
        failed = [t for t in trials if t["error"]]
        if failed and len(failed) == len(trials):
            raise RuntimeError(f"every trial failed; the first error was:\n{failed[0]['error']}")
        if failed:
            warnings.warn(f"{len(failed)} of {len(trials)} trials failed; see result.trials[...]['error']",
                          RuntimeWarning, stacklevel=2)
        self.result_ = SearchResult(trials, self.direction)
        return self.result_

    def _execute(self, params, seeds):
        cores = os.cpu_count() or 1
        if self.executor is not None:
            futures = [self.executor.submit(_run_trial, self.fn, p, s, self.threads_per_trial)
                       for p, s in zip(params, seeds)]
            return [f.result() for f in futures]
        workers = min(self.n_jobs or cores, len(params), cores)
        threads = self.threads_per_trial or max(1, cores // workers)
        if workers <= 1:
            return [_run_trial(self.fn, p, s, threads) for p, s in zip(params, seeds)]
        # spawn, not fork: a child forked after OpenMP ran cannot use threads
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [pool.submit(_run_trial, self.fn, p, s, threads) for p, s in zip(params, seeds)]
            return [f.result() for f in futures]


class RandomSearch(_Search):
    """n_trials parameter sets drawn from `space` (a dict of distributions, or
    lists meaning choice(list)), reproducible from `seed`."""

    def __init__(self, fn, space, n_trials=10, seed=None, **kwargs):
        _check_space(space)
        if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) or n_trials < 1:
            raise ValueError(f"n_trials must be a positive int, got {n_trials!r}")
        super().__init__(fn, seed=seed, **kwargs)
        self.space = {k: _as_distribution(v) for k, v in space.items()}
        self.n_trials = int(n_trials)

    def _trial_params(self):
        rng = np.random.Generator(np.random.Philox(self.seed))
        return [{name: dist.sample(rng) for name, dist in self.space.items()} for _ in range(self.n_trials)]


class GridSearch(_Search):
    """Every combination of the values in `grid` (lists, or distributions
    expanded to `points` values each: geometric for loguniform)."""

    def __init__(self, fn, grid, points=3, seed=None, **kwargs):
        _check_space(grid)
        if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or points < 1:
            raise ValueError(f"points must be a positive int, got {points!r}")
        super().__init__(fn, seed=seed, **kwargs)
        self.grid = {k: (list(v) if isinstance(v, (list, tuple)) else v.grid(int(points))) for k, v in grid.items()}

    def _trial_params(self):
        names = list(self.grid)
        return [dict(zip(names, values)) for values in product(*(self.grid[n] for n in names))]


class MLPObjective:
    """A ready trial function: builds an MLP from the trial's parameters, trains
    it and returns the validation accuracy. Picklable, so it runs in worker
    processes and on dask clusters.

    Parameters a trial may set (others are taken from ``defaults``): ``hidden``
    (int or tuple of widths), ``activation``, ``lr``, ``optimizer`` ("sgd",
    "momentum", "nesterov", "adagrad", "rmsprop", "adam"), ``l2``, ``dropout``,
    ``batchnorm``, ``batch_size``, ``epochs``, ``init``.
    """

    def __init__(self, X, y, X_val, y_val, **defaults):
        self.X, self.y, self.X_val, self.y_val = X, y, X_val, y_val
        self.defaults = dict(hidden=(30,), activation="relu", lr=0.01, optimizer="sgd", l2=0.0,
                             dropout=0.0, batchnorm=False, batch_size=32, epochs=5, init=None)
        unknown = set(defaults) - set(self.defaults)
        if unknown:
            raise ValueError(f"MLPObjective: unknown parameters {sorted(unknown)}; expected some of {sorted(self.defaults)}")
        self.defaults.update(defaults)

    def __call__(self, params, seed=None):
        import fastmlp

        unknown = set(params) - set(self.defaults)
        if unknown:
            raise ValueError(f"MLPObjective: unknown parameters {sorted(unknown)}; expected some of {sorted(self.defaults)}")
        p = dict(self.defaults, **params)
        hidden = (p["hidden"],) if isinstance(p["hidden"], (int, np.integer)) else tuple(p["hidden"])
        n_classes = int(max(np.max(self.y), np.max(self.y_val))) + 1
        kwargs = dict(activation=p["activation"], batchnorm=bool(p["batchnorm"]), dropout=float(p["dropout"]), seed=seed)
        if p["init"] is not None:
            kwargs["init"] = p["init"]
        model = fastmlp.MLP([self.X.shape[1], *hidden, n_classes], **kwargs)
        model.fit(self.X, self.y, epochs=int(p["epochs"]), batch_size=int(p["batch_size"]),
                  optimizer=make_optimizer(p["optimizer"], float(p["lr"])), l2=float(p["l2"]), verbose=0)
        return model.evaluate(self.X_val, self.y_val)["accuracy"]


def make_optimizer(name, lr):
    """An optimizer from its course name: sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw."""
    from . import optim

    makers = {
        "sgd": lambda: optim.SGD(lr=lr),
        "momentum": lambda: optim.SGD(lr=lr, momentum=0.9),
        "nesterov": lambda: optim.SGD(lr=lr, momentum=0.9, nesterov=True),
        "adagrad": lambda: optim.Adagrad(lr=lr),
        "rmsprop": lambda: optim.RMSprop(lr=lr),
        "adam": lambda: optim.Adam(lr=lr),
        "adamw": lambda: optim.AdamW(lr=lr),
    }
    if name not in makers:
        raise ValueError(f"Unknown optimizer {name!r}; expected one of {sorted(makers)}")
    return makers[name]()
