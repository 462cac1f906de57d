"""Optimizers race: SGD, momentum, Nesterov, AdaGrad, RMSprop and Adam.

The same network [784, 100, 10] (ReLU, He initialisation, the same starting
weights and the same batch order for everyone) trained by each optimizer at a
learning rate typical for it. Plain SGD is the slowest per epoch; momentum and
Nesterov, at the same learning rate, accelerate it along consistent directions; the adaptive methods scale
each weight's step by its gradient history and reach a low loss within the
first epochs.

    python examples/04_optimizers.py [--fast] [--out DIR]
"""
import numpy as np

import _common
import fastmlp
from fastmlp import optim


def optimizers():
    return {
        "SGD (lr 0.01)": lambda: optim.SGD(lr=0.01),
        "momentum 0.9 (lr 0.01)": lambda: optim.SGD(lr=0.01, momentum=0.9),
        "Nesterov 0.9 (lr 0.01)": lambda: optim.SGD(lr=0.01, momentum=0.9, nesterov=True),
        "AdaGrad (lr 0.01)": lambda: optim.Adagrad(lr=0.01),
        "RMSprop (lr 0.001)": lambda: optim.RMSprop(lr=0.001),
        "Adam (lr 0.001)": lambda: optim.Adam(lr=0.001),
    }


VALLEY = np.array([1.0, 50.0])  # f(w) = sum(VALLEY * w**2) / 2


def valley_optimizers():
    """Rates for the valley: SGD must stay below 2 / 50 to converge at all."""
    return {
        "SGD (lr 0.035)": lambda: optim.SGD(lr=0.035),
        "momentum 0.9 (lr 0.01)": lambda: optim.SGD(lr=0.01, momentum=0.9),
        "Nesterov 0.9 (lr 0.01)": lambda: optim.SGD(lr=0.01, momentum=0.9, nesterov=True),
        "AdaGrad (lr 0.5)": lambda: optim.Adagrad(lr=0.5),
        "RMSprop (lr 0.05)": lambda: optim.RMSprop(lr=0.05),
        "Adam (lr 0.2)": lambda: optim.Adam(lr=0.2),
    }


def valley_path(optimizer, steps):
    w = np.array([-4.0, 1.0])
    path = [w.copy()]
    for _ in range(steps):
        optimizer.step([w], [VALLEY * w])
        path.append(w.copy())
    return np.array(path)


def main():
    args = _common.parse_args(__doc__.splitlines()[0], epochs=(int, None, "epochs (default 10, --fast 2)"))
    epochs = args.epochs or (2 if args.fast else 10)
    X, y, X_val, y_val = _common.load_data(args)

    steps = 60
    paths = {name: valley_path(make(), steps) for name, make in valley_optimizers().items()}
    checkpoints = [10, 30, 60]
    rows = [[name] + [_common.fmt(float(0.5 * (VALLEY * p[k] ** 2).sum()), ".2e") for k in checkpoints]
            + [f"({p[-1][0]:+.3f}, {p[-1][1]:+.3f})"] for name, p in paths.items()]
    _common.print_table(["optimizer"] + [f"f after {k}" for k in checkpoints] + ["w after 60"], rows,
                        title="Valley f(w) = (w0^2 + 50 w1^2) / 2 from w = (-4, 1), minimum 0 at (0, 0)")

    curves, rows = {}, []
    for name, make in optimizers().items():
        model = fastmlp.MLP([784, 100, 10], activation="relu", init="he_normal", seed=args.seed)
        history, seconds = _common.fit(model, X, y, epochs=epochs, batch_size=32, optimizer=make(),
                                       validation_data=(X_val, y_val))
        loss = history.history["loss"]
        curves[name] = (loss, history.history["val_accuracy"])
        marks = sorted({0, min(2, epochs - 1), epochs - 1})
        rows.append([name] + [_common.fmt(float(loss[i]), ".3f") for i in marks]
                    + [_common.fmt(float(history.history["val_accuracy"][-1]), ".3f"), _common.fmt(seconds, ".1f")])
    _common.print_table(["optimizer"] + [f"loss ep {i + 1}" for i in marks] + ["val acc", "time (s)"], rows,
                        title=f"Training loss and final val accuracy, [784, 100, 10] ReLU, batch 32, {epochs} epochs")

    plt = _common.pyplot()
    if plt is None:
        return
    fig, (ax_v, ax_l, ax_a) = plt.subplots(1, 3, figsize=(16, 4.2))
    g0, g1 = np.meshgrid(np.linspace(-4.5, 1.0, 200), np.linspace(-1.3, 1.3, 200))
    ax_v.contour(g0, g1, 0.5 * (VALLEY[0] * g0 ** 2 + VALLEY[1] * g1 ** 2), levels=np.geomspace(0.01, 60, 12),
                 colors="lightgrey", linewidths=0.8)
    for name, p in paths.items():
        ax_v.plot(p[:, 0], p[:, 1], marker=".", ms=3, lw=1, label=name.split(" (")[0])
    ax_v.set(title=f"valley, {steps} steps", xlabel="w0", ylabel="w1")
    ax_v.legend(fontsize=7)
    for name, (loss, val_acc) in curves.items():
        ep = np.arange(1, len(loss) + 1)
        ax_l.plot(ep, loss, marker="o", ms=3, label=name)
        ax_a.plot(ep, val_acc, marker="o", ms=3, label=name)
    ax_l.set(title="training loss", xlabel="epoch", yscale="log")
    ax_a.set(title="validation accuracy", xlabel="epoch")
    for ax in (ax_l, ax_a):
        ax.grid(alpha=0.3)
    ax_a.legend(fontsize=8)
    _common.save(fig, args, "04_optimizers.png")


if __name__ == "__main__":
    main()
