"""BatchNorm on and off: convergence speed and the learning rates each tolerates.

A deep sigmoid network [784, 100, 100, 100, 10] trained with plain SGD, once
without and once with BatchNorm after every hidden Dense layer. At the same
learning rate the normalised network converges in far fewer epochs (every
layer sees inputs with a steady mean and spread, and the sigmoids stay in
their steep middle). Then a sweep of learning rates: without BatchNorm only a
narrow range trains, with it a wide range (up to much larger rates) does.

    python examples/05_batchnorm.py [--fast] [--out DIR]
"""
import math

import numpy as np

import _common
import fastmlp
from fastmlp import optim

SIZES = [784, 100, 100, 100, 10]


def run(X, y, X_val, y_val, batchnorm, lr, epochs, seed):
    model = fastmlp.MLP(SIZES, activation="sigmoid", init="xavier_normal", batchnorm=batchnorm, seed=seed)
    history, seconds = _common.fit(model, X, y, epochs=epochs, batch_size=32, optimizer=optim.SGD(lr=lr),
                                   validation_data=(X_val, y_val))
    loss = [float(v) for v in history.history["loss"]]
    diverged = len(loss) < epochs or not all(math.isfinite(v) for v in loss)
    acc = model.evaluate(X_val, y_val)["accuracy"]
    return history, acc, diverged, seconds


def main():
    args = _common.parse_args(__doc__.splitlines()[0],
                              epochs=(int, None, "epochs of the convergence run (default 12, --fast 2)"),
                              sweep_epochs=(int, None, "epochs per learning rate in the sweep (default 3, --fast 1)"))
    epochs = args.epochs or (2 if args.fast else 12)
    sweep_epochs = args.sweep_epochs or (1 if args.fast else 3)
    X, y, X_val, y_val = _common.load_data(args)

    lr = 0.1
    curves = {}
    for bn in (False, True):
        history = run(X, y, X_val, y_val, bn, lr, epochs, args.seed)[0]
        curves[bn] = history.history
    rows = []
    for e in range(epochs):
        rows.append([str(e + 1)] + [_common.fmt(float(curves[bn][key][e]), ".3f") if e < len(curves[bn][key]) else "-"
                                    for bn in (False, True) for key in ("loss", "val_accuracy")])
    _common.print_table(["epoch", "loss (no BN)", "val acc (no BN)", "loss (BN)", "val acc (BN)"], rows,
                        title=f"Convergence at the same learning rate (SGD lr={lr}, batch 32)")

    rates = [0.03, 0.3, 3.0] if args.fast else [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]
    sweep = {False: [], True: []}
    rows = []
    for rate in rates:
        row = [f"{rate:g}"]
        for bn in (False, True):
            _, acc, diverged, _ = run(X, y, X_val, y_val, bn, rate, sweep_epochs, args.seed)
            sweep[bn].append(acc)
            row.append(_common.fmt(acc, ".3f") + (" (diverged)" if diverged else ""))
        rows.append(row)
    _common.print_table(["lr", "val acc (no BN)", "val acc (BN)"], rows,
                        title=f"Learning-rate sweep: val accuracy after {sweep_epochs} epoch(s)")
    for bn in (False, True):
        good = [r for r, a in zip(rates, sweep[bn]) if a >= 0.8]
        span = f"{min(good):g} .. {max(good):g}" if good else "none"
        print(f"{'with' if bn else 'without'} BatchNorm, learning rates reaching 80% val accuracy: {span}")

    plt = _common.pyplot()
    if plt is None:
        return
    fig, (ax_c, ax_s) = plt.subplots(1, 2, figsize=(11, 4.2))
    for bn, style in ((False, "-"), (True, "--")):
        name = "BatchNorm" if bn else "no BatchNorm"
        ep = np.arange(1, len(curves[bn]["loss"]) + 1)
        ax_c.plot(ep, curves[bn]["loss"], style, marker="o", ms=3, label=f"{name}: train loss")
        ax_c.plot(ep, 1.0 - np.asarray(curves[bn]["val_accuracy"]), style, marker="s", ms=3,
                  label=f"{name}: val error")
        ax_s.plot(rates, sweep[bn], style, marker="o", label=name)
    ax_c.set(title=f"convergence at lr={lr}", xlabel="epoch", yscale="log")
    ax_s.set(title=f"val accuracy after {sweep_epochs} epoch(s)", xlabel="learning rate", xscale="log",
             ylim=(0, 1))
    for ax in (ax_c, ax_s):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _common.save(fig, args, "05_batchnorm.png")


if __name__ == "__main__":
    main()
