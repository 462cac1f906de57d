"""Random search vs grid search with the same budget, then coarse-to-fine.

Both searches tune the learning rate (sampled on a log scale: every decade is
equally likely) and the L2 strength of a [784, 30, 10] network, with the same
number of trials. The grid tries only a few distinct learning rates, each
repeated for every L2 value, although L2 barely matters here; random search
tries a new learning rate in every trial and so finds a better one with the
same budget. fastmlp.search.refine then narrows the ranges around the best
trials for a second, finer round. Trials run in parallel processes.

    python examples/07_hyperparameter_search.py [--fast] [--out DIR] [--jobs N]
"""
import math

import _common
from fastmlp import search


def distinct(result, name):
    return len({t["params"][name] for t in result.trials})


def describe(space):
    return ", ".join(f"{k} ~ {v!r}" for k, v in space.items())


def main():
    args = _common.parse_args(__doc__.splitlines()[0],
                              jobs=(int, None, "parallel trials (default: one per core; --fast 1)"),
                              points=(int, None, "grid points per parameter (default 3, --fast 2)"))
    points = args.points or (2 if args.fast else 3)
    budget = points ** 2
    jobs = args.jobs or (1 if args.fast else None)
    X, y, X_val, y_val = _common.load_data(args)
    objective = search.MLPObjective(X, y, X_val, y_val, hidden=(30,), activation="sigmoid", optimizer="sgd",
                                    batch_size=32, epochs=1 if args.fast else 2)
    space = {"lr": search.loguniform(1e-3, 10.0), "l2": search.loguniform(1e-6, 1e-3)}

    print(f"search space: {describe(space)}; budget {budget} trials each")
    grid = search.GridSearch(objective, space, points=points, seed=args.seed, n_jobs=jobs).run()
    rand = search.RandomSearch(objective, space, n_trials=budget, seed=args.seed, n_jobs=jobs).run()
    fine_space = search.refine(rand, space, top_k=3)
    print(f"refined space: {describe(fine_space)}")
    fine = search.RandomSearch(objective, fine_space, n_trials=budget, seed=args.seed + 1, n_jobs=jobs).run()

    rows = []
    for name, result in (("grid", grid), ("random", rand), ("random, refined", fine)):
        best = result.best
        rows.append([name, str(len(result)), str(distinct(result, "lr")), f"{best['params']['lr']:.4g}",
                     f"{best['params']['l2']:.2g}", _common.fmt(best["score"], ".4f"),
                     _common.fmt(sum(t["time"] for t in result.trials), ".1f")])
    _common.print_table(["search", "trials", "distinct lr", "best lr", "best l2", "best val acc", "trial time (s)"],
                        rows, title="Same budget: grid vs random (validation accuracy, higher is better)")
    print("\nrandom search trials, best first:")
    print(rand.table(max_rows=5))
    print("\nrefined round, best first:")
    print(fine.table(max_rows=5))

    plt = _common.pyplot()
    if plt is None:
        return
    fig, (ax_lr, ax_2d) = plt.subplots(1, 2, figsize=(11, 4.2))
    for (name, result), marker in zip((("grid", grid), ("random", rand), ("refined", fine)), "sox"):
        ok = [t for t in result.trials if t["error"] is None and math.isfinite(t["score"])]
        lrs = [t["params"]["lr"] for t in ok]
        ax_lr.scatter(lrs, [t["score"] for t in ok], marker=marker, label=name)
        ax_2d.scatter(lrs, [t["params"]["l2"] for t in ok], marker=marker, label=name)
    ax_lr.set(title="validation accuracy per trial", xlabel="learning rate", xscale="log", ylabel="val accuracy")
    ax_2d.set(title="where the trials were", xlabel="learning rate", ylabel="L2", xscale="log", yscale="log")
    for ax in (ax_lr, ax_2d):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _common.save(fig, args, "07_hyperparameter_search.png")


if __name__ == "__main__":
    main()
