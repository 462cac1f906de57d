"""Vanishing gradients: per-layer gradient norms as a sigmoid network gets deeper.

Trains sigmoid networks [784, 30, 10], [784, 30, 30, 10] and [784, 30, 30, 30, 10]
with fit(track_gradients=True), which records for each epoch the mean L2 norm of
every Dense layer's weight gradient. With sigmoid (slope at most 0.25) the
gradient shrinks on its way back, so the first layer learns far more slowly than
the last and the gap grows with depth (max/min over the layers about 16 for
three sigmoid layers). The same deep network with ReLU + He initialisation, or
with BatchNorm, keeps the layers' gradients within a small factor (2 to 3) of
each other. Once the network has learned, the picture changes (second table).

    python examples/02_vanishing_gradients.py [--fast] [--out DIR]
"""
import numpy as np

import _common
import fastmlp
from fastmlp import optim

DEEP = [784, 30, 30, 30, 10]
CONFIGS = [
    ("sigmoid [784,30,10]", [784, 30, 10], dict(activation="sigmoid", init="xavier_normal")),
    ("sigmoid [784,30,30,10]", [784, 30, 30, 10], dict(activation="sigmoid", init="xavier_normal")),
    ("sigmoid [784,30,30,30,10]", DEEP, dict(activation="sigmoid", init="xavier_normal")),
    ("relu + he [784,30,30,30,10]", DEEP, dict(activation="relu", init="he_normal")),
    ("sigmoid + batchnorm [784,30,30,30,10]", DEEP, dict(activation="sigmoid", init="xavier_normal", batchnorm=True)),
]


def main():
    args = _common.parse_args(__doc__.splitlines()[0], epochs=(int, None, "epochs per network (default 10, --fast 2)"),
                              lr=(float, 0.1, "SGD learning rate"))
    epochs = args.epochs or (2 if args.fast else 10)
    X, y, X_val, y_val = _common.load_data(args)

    results = []
    for label, sizes, kwargs in CONFIGS:
        model = fastmlp.MLP(sizes, seed=args.seed, **kwargs)
        history, seconds = _common.fit(model, X, y, epochs=epochs, batch_size=10, optimizer=optim.SGD(lr=args.lr),
                                       validation_data=(X_val, y_val), track_gradients=True)
        norms = np.array(history.history["grad_norms"], dtype=float)  # (epochs, Dense layers)
        acc = model.evaluate(X_val, y_val)["accuracy"]
        results.append((label, norms, acc, seconds))

    rows = []
    width = max(len(n[0]) for _, n, _, _ in results)
    for label, norms, acc, seconds in results:
        first = norms[0]
        hidden = first[:-1]
        rows.append([label]
                    + [_common.fmt(v, ".2e") for v in first] + ["" for _ in range(width - len(first))]
                    + [_common.fmt(hidden[0] / hidden[-1], ".3f") if len(hidden) > 1 else "-",
                       _common.fmt(first[0] / first[-1], ".3f"), _common.fmt(first.max() / first.min(), ".1f"),
                       _common.fmt(acc, ".3f"), _common.fmt(seconds, ".1f")])
    _common.print_table(
        ["network"] + [f"|dW{i + 1}|" for i in range(width)]
        + ["first/last hidden", "first/output", "max/min", "val acc", "time (s)"],
        rows, title=f"Mean weight-gradient norm per Dense layer over epoch 1 (SGD lr={args.lr}, batch 10), "
                    f"val accuracy after {epochs} epochs")

    rows = [[label] + [_common.fmt(v, ".2e") for v in norms[-1]] + ["" for _ in range(width - norms.shape[1])]
            + [_common.fmt(norms[-1][0] / norms[-1][-2], ".3f") if norms.shape[1] > 2 else "-"]
            for label, norms, _, _ in results]
    _common.print_table(["network"] + [f"|dW{i + 1}|" for i in range(width)] + ["first/last hidden"], rows,
                        title=f"The same at epoch {epochs}")

    plt = _common.pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.8), sharey=True)
    for ax, (label, norms, acc, _) in zip(axes, results):
        ep = np.arange(1, len(norms) + 1)
        for i in range(norms.shape[1]):
            name = "output" if i == norms.shape[1] - 1 else f"hidden {i + 1}"
            ax.plot(ep, norms[:, i], marker="o", ms=3, label=name)
        ax.set(title=f"{label}\nval acc {acc:.3f}", xlabel="epoch", yscale="log")
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean |dW| per layer")
    axes[-1].legend(fontsize=8)
    _common.save(fig, args, "02_vanishing_gradients.png")


if __name__ == "__main__":
    main()
