"""Weight initialisation: activation statistics layer by layer.

A deep network [784, 100 x 6, 10] with tanh or ReLU gets its weights from zeros,
N(0, 1), N(0, 0.01), Xavier (normal) or He (normal), and
model.activation_stats(X) reports every hidden layer's activation distribution
before any training. Zeros make every unit identical (nothing breaks the
symmetry); N(0, 0.01) shrinks the signal layer after layer towards 0; N(0, 1)
saturates tanh (|a| near 1, zero slope) and blows ReLU up; Xavier keeps tanh's
spread steady and He keeps ReLU's. A few epochs of training show what each
start is worth.

    python examples/03_initialization.py [--fast] [--out DIR]
"""
import numpy as np

import _common
import fastmlp
from fastmlp import init, optim

HIDDEN = [100] * 6


def initialisers():
    """Name -> f(shape, rng), as fastmlp.MLP(init=...) takes them (biases start at 0)."""
    return {
        "zeros": init.zeros,
        "N(0, 1)": init.normal(1.0),
        "N(0, 0.01)": init.normal(0.01),
        "xavier": init.xavier_normal,
        "he": init.he_normal,
    }


def main():
    args = _common.parse_args(__doc__.splitlines()[0], epochs=(int, None, "training epochs (default 2, --fast 1)"))
    epochs = args.epochs or (1 if args.fast else 2)
    X, y, X_val, y_val = _common.load_data(args)
    sample = X[:1000]

    stats, rows = {}, []
    for activation in ("tanh", "relu"):
        for name, initialiser in initialisers().items():
            model = fastmlp.MLP([784, *HIDDEN, 10], activation=activation, init=initialiser, seed=args.seed)
            layer_stats = model.activation_stats(sample)
            stats[activation, name] = layer_stats
            history, _ = _common.fit(model, X, y, epochs=epochs, batch_size=32,
                                     optimizer=optim.SGD(lr=0.01, momentum=0.9))
            losses = history.history.get("loss", [])
            finite = len(losses) == epochs and np.isfinite(losses[-1])
            acc = model.evaluate(X_val, y_val)["accuracy"] if finite else None
            rows.append([f"{activation} / {name}"]
                        + [_common.fmt(float(s["std"]), ".3g") for s in layer_stats]
                        + [_common.fmt(float(layer_stats[-1]["frac_saturated"]), ".2f"),
                           _common.fmt(float(losses[-1]), ".3f") if finite else "diverged", _common.fmt(acc, ".3f")])
    n_layers = len(HIDDEN)
    _common.print_table(
        ["activation / init"] + [f"std a{i + 1}" for i in range(n_layers)]
        + [f"saturated a{n_layers}", "loss", "val acc"],
        rows, title=f"Std of each hidden layer's activations at initialisation, fraction saturated in the last, "
                    f"then loss and val accuracy after {epochs} epoch(s) of SGD+momentum")

    plt = _common.pyplot()
    if plt is None:
        return
    names = list(initialisers())
    fig, axes = plt.subplots(2, len(names), figsize=(3.4 * len(names), 6.4))
    for r, activation in enumerate(("tanh", "relu")):
        for c, name in enumerate(names):
            ax = axes[r, c]
            for i, s in enumerate(stats[activation, name]):
                edges = np.asarray(s["bin_edges"], dtype=float)
                counts = np.asarray(s["hist"], dtype=float)
                ax.stairs(counts / max(counts.sum(), 1.0), edges, label=f"layer {i + 1}",
                          color=plt.cm.viridis(i / max(n_layers - 1, 1)))
            ax.set_title(f"{activation}, {name}", fontsize=9)
            ax.tick_params(labelsize=7)
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 3))
    axes[0, -1].legend(fontsize=7)
    fig.suptitle("Activation histograms per hidden layer at initialisation (fraction of values per bin)")
    _common.save(fig, args, "03_initialization.png")


if __name__ == "__main__":
    main()
