"""Hyperparameter search: spaces, random/grid/refine, executors, reproducibility."""
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fastmlp import search


def bowl(params, seed=None):
    """Best at lr = 1e-2, width = 64: a log-scale bowl like a real learning-rate sweep."""
    return -(math.log10(params["lr"]) + 2.0) ** 2 - ((params.get("width", 64) - 64) / 64) ** 2


def failing_when_big(params):
    if params["lr"] > 0.05:
        raise RuntimeError("diverged")
    return bowl(params)


SPACE = {"lr": search.loguniform(1e-5, 1.0), "width": search.randint(8, 257), "act": search.choice(["relu", "tanh"])}


def test_distributions_sample_inside_their_ranges():
    rng = np.random.default_rng(0)
    lr = [search.loguniform(1e-4, 1e-1).sample(rng) for _ in range(2000)]
    assert min(lr) >= 1e-4 and max(lr) <= 1e-1
    # log scale: each decade gets about a third of the samples
    decades = np.histogram(np.log10(lr), bins=[-4, -3, -2, -1])[0] / 2000
    np.testing.assert_allclose(decades, 1 / 3, atol=0.05)
    ints = [search.randint(3, 7).sample(rng) for _ in range(500)]
    assert set(ints) == {3, 4, 5, 6}
    u = [search.uniform(-1, 2).sample(rng) for _ in range(500)]
    assert -1 <= min(u) and max(u) <= 2
    assert {search.choice(["a", "b"]).sample(rng) for _ in range(50)} == {"a", "b"}


@pytest.mark.parametrize("make,match", [
    (lambda: search.loguniform(0, 1), "low must be > 0"),
    (lambda: search.loguniform(1, 1), "low < high"),
    (lambda: search.uniform(2, 1), "low < high"),
    (lambda: search.uniform(float("nan"), 1), "finite"),
    (lambda: search.randint(1.5, 3), "integers"),
    (lambda: search.choice([]), "at least one option"),
])
def test_bad_distributions_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_random_search_is_reproducible_and_sorted():
    a = search.RandomSearch(bowl, SPACE, n_trials=12, seed=7, n_jobs=1).run()
    b = search.RandomSearch(bowl, SPACE, n_trials=12, seed=7, n_jobs=1).run()
    c = search.RandomSearch(bowl, SPACE, n_trials=12, seed=8, n_jobs=1).run()
    assert [t["params"] for t in a] == [t["params"] for t in b]
    assert [t["params"] for t in a] != [t["params"] for t in c]
    scores = [t["score"] for t in a]
    assert scores == sorted(scores, reverse=True)
    assert a.best_score == scores[0] and a.best_params == a[0]["params"]
    assert "score" in a.table() and len(a.table().splitlines()) == 13


def test_minimize_direction():
    r = search.RandomSearch(lambda p: -bowl(p), SPACE, n_trials=8, seed=1, n_jobs=1, direction="minimize").run()
    assert [t["score"] for t in r] == sorted(t["score"] for t in r)


def test_grid_search_covers_every_combination():
    grid = {"lr": search.loguniform(1e-4, 1e-0), "width": [32, 64]}
    r = search.GridSearch(bowl, grid, points=5, n_jobs=1).run()
    assert len(r) == 10
    assert sorted({round(math.log10(t["params"]["lr"])) for t in r}) == [-4, -3, -2, -1, 0]
    assert r.best_params == {"lr": pytest.approx(1e-2), "width": 64}


def test_refine_narrows_around_the_best():
    coarse = search.RandomSearch(bowl, SPACE, n_trials=40, seed=3, n_jobs=1).run()
    fine_space = search.refine(coarse, SPACE, top_k=5)
    assert 1e-5 <= fine_space["lr"].low < 1e-2 < fine_space["lr"].high <= 1.0
    assert fine_space["lr"].high / fine_space["lr"].low < 1e5  # narrower than the coarse range
    fine = search.RandomSearch(bowl, fine_space, n_trials=40, seed=4, n_jobs=1).run()
    assert fine.best_score >= coarse.best_score - 0.05
    assert np.median([t["score"] for t in fine]) > np.median([t["score"] for t in coarse])


def test_trials_get_distinct_seeds_and_failures_are_recorded():
    with pytest.warns(RuntimeWarning, match="trials failed"):
        r = search.RandomSearch(failing_when_big, {"lr": search.loguniform(1e-3, 1.0)}, n_trials=10, seed=0,
                                n_jobs=1).run()
    failed = [t for t in r if t["error"]]
    assert failed and all("diverged" in t["error"] for t in failed)
    assert all(t["error"] is None for t in r.trials[: len(r) - len(failed)])  # failures sort last
    assert len({t["seed"] for t in r}) == 10
    with pytest.raises(RuntimeError, match="every trial failed"):
        search.RandomSearch(failing_when_big, {"lr": search.loguniform(0.1, 1.0)}, n_trials=3, n_jobs=1).run()


def test_same_results_with_processes_threads_and_serial():
    serial = search.RandomSearch(bowl, SPACE, n_trials=6, seed=11, n_jobs=1).run()
    procs = search.RandomSearch(bowl, SPACE, n_trials=6, seed=11, n_jobs=2).run()
    with ThreadPoolExecutor(2) as pool:
        threads = search.RandomSearch(bowl, SPACE, n_trials=6, seed=11, executor=pool).run()
    key = lambda r: [(t["index"], t["params"], t["seed"], t["score"]) for t in r]  # noqa: E731
    assert key(serial) == key(procs) == key(threads)


def test_dask_distributed_executor():
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        r = search.RandomSearch(bowl, SPACE, n_trials=6, seed=11, executor=client.get_executor()).run()
    serial = search.RandomSearch(bowl, SPACE, n_trials=6, seed=11, n_jobs=1).run()
    assert [(t["params"], t["score"]) for t in r] == [(t["params"], t["score"]) for t in serial]


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"n_trials": 0}, ValueError, "n_trials"),
    ({"n_jobs": 0}, ValueError, "n_jobs"),
    ({"direction": "up"}, ValueError, "direction"),
    ({"executor": object()}, TypeError, "Executor"),
    ({"threads_per_trial": -1}, ValueError, "threads_per_trial"),
])
def test_bad_search_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        search.RandomSearch(bowl, SPACE, **kwargs)


def test_bad_spaces():
    with pytest.raises(ValueError, match="non-empty dict"):
        search.RandomSearch(bowl, {})
    with pytest.raises(TypeError, match="must be loguniform"):
        search.RandomSearch(bowl, {"lr": 0.1})
    with pytest.raises(TypeError, match="SearchResult"):
        search.refine([], SPACE)


def test_mlp_objective_end_to_end_in_worker_processes():
    from fastmlp.datasets import load_mnist_sample

    X, y, Xv, yv = load_mnist_sample()
    objective = search.MLPObjective(X[:600], y[:600], Xv[:300], yv[:300], hidden=16, epochs=2, batch_size=32)
    space = {"lr": search.loguniform(1e-3, 1e-1), "optimizer": search.choice(["sgd", "adam"])}
    serial = search.RandomSearch(objective, space, n_trials=4, seed=0, n_jobs=1).run()
    parallel = search.RandomSearch(objective, space, n_trials=4, seed=0, n_jobs=2).run()
    assert [(t["params"], t["score"]) for t in serial] == [(t["params"], t["score"]) for t in parallel]
    assert 0.0 <= serial.best_score <= 1.0 and serial.best_score > 0.3
    with pytest.raises(ValueError, match="unknown parameters"):
        objective({"learning_rate": 0.1})
    with pytest.raises(ValueError, match="Unknown optimizer"):
        search.make_optimizer("lbfgs", 0.1)
