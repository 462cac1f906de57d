"""Mini-batch size: batch, mini-batch and stochastic gradient descent.

The same network trained with the same learning rate for the same number of
epochs, with the whole training set per update (batch gradient descent), small
mini-batches, and one example per update (stochastic gradient descent). An
epoch of batch descent is the cheapest (one large matrix product per layer)
but makes a single update, so it barely moves; stochastic descent makes one
update per example, costs the most per epoch (per-call overhead, no matrix
reuse) and its steps are noisy; mini-batches get most of both: many updates,
each an efficient matrix product.

    python examples/09_batch_size.py [--fast] [--out DIR]
"""
import numpy as np

import _common
import fastmlp
from fastmlp import optim


def main():
    args = _common.parse_args(__doc__.splitlines()[0], epochs=(int, None, "epochs (default 5, --fast 1)"),
                              lr=(float, 0.05, "SGD learning rate, the same for every batch size"))
    epochs = args.epochs or (1 if args.fast else 5)
    X, y, X_val, y_val = _common.load_data(args)
    n = len(X)
    sizes = [(f"batch ({n})", n), ("mini-batch 256", 256), ("mini-batch 32", 32), ("mini-batch 8", 8),
             ("stochastic (1)", 1)]

    curves, rows = {}, []
    for name, batch_size in sizes:
        model = fastmlp.MLP([784, 100, 10], activation="relu", init="he_normal", seed=args.seed)
        history, seconds = _common.fit(model, X, y, epochs=epochs, batch_size=batch_size,
                                       optimizer=optim.SGD(lr=args.lr), validation_data=(X_val, y_val))
        h = history.history
        updates = epochs * -(-n // batch_size)
        curves[name] = (h, seconds)
        rows.append([name, str(updates), _common.fmt(seconds / epochs, ".3f"),
                     _common.fmt(1e6 * seconds / (epochs * n), ".1f"), _common.fmt(float(h["loss"][-1]), ".3f"),
                     _common.fmt(float(h["val_accuracy"][-1]), ".3f")])
    _common.print_table(["batch size", "updates", "s / epoch", "us / example", "train loss", "val acc"], rows,
                        title=f"SGD lr={args.lr}, [784, 100, 10] ReLU, {n} examples, {epochs} epoch(s) each "
                              f"(fastmlp threads: {fastmlp.get_num_threads()})")

    plt = _common.pyplot()
    if plt is None:
        return
    fig, (ax_e, ax_t) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, (h, seconds) in curves.items():
        ep = np.arange(1, len(h["val_accuracy"]) + 1)
        ax_e.plot(ep, h["val_accuracy"], marker="o", ms=3, label=name)
        ax_t.plot(ep * seconds / len(ep), h["val_accuracy"], marker="o", ms=3, label=name)
    ax_e.set(title="validation accuracy per epoch", xlabel="epoch", ylim=(0, 1))
    ax_t.set(title="validation accuracy against training time", xlabel="seconds", ylim=(0, 1))
    for ax in (ax_e, ax_t):
        ax.grid(alpha=0.3)
    ax_e.legend(fontsize=8)
    _common.save(fig, args, "09_batch_size.png")


if __name__ == "__main__":
    main()
