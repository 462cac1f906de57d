"""Learning-rate schedules compared.

The same network and starting weights trained by SGD with momentum at a large
initial learning rate, which progresses fast but then hovers, under each
schedule: constant, step decay, exponential decay, inverse-time decay
lr0 / (1 + decay * t), cosine annealing, and reduce-on-plateau (which cuts the
rate when the validation loss stops improving). Decaying the rate lets the
later epochs settle into a much lower training and validation loss. The schedules take the
optimizer as first argument; fit(lr_schedule=...) steps them once per epoch
(reduce-on-plateau with the validation loss).

    python examples/08_lr_schedules.py [--fast] [--out DIR]
"""
import numpy as np

import _common
import fastmlp
from fastmlp import optim

LR0 = 0.2


def schedules(epochs):
    every = max(epochs // 4, 1)
    return {
        "constant": lambda opt: None,  # fit(lr_schedule=None)
        f"step (x0.5 every {every})": lambda opt: optim.StepLR(opt, step_size=every, gamma=0.5),
        "exponential (x0.85)": lambda opt: optim.ExponentialLR(opt, gamma=0.85),
        "inverse time (0.3)": lambda opt: optim.InverseTimeLR(opt, decay=0.3),
        "cosine": lambda opt: optim.CosineAnnealingLR(opt, T_max=epochs, eta_min=0.0),
        "reduce on plateau": lambda opt: optim.ReduceLROnPlateau(opt, factor=0.3, patience=1),
    }


def main():
    args = _common.parse_args(__doc__.splitlines()[0], epochs=(int, None, "epochs (default 12, --fast 3)"))
    epochs = args.epochs or (3 if args.fast else 12)
    X, y, X_val, y_val = _common.load_data(args)

    curves, rows = {}, []
    for name, make in schedules(epochs).items():
        model = fastmlp.MLP([784, 100, 10], activation="relu", init="he_normal", seed=args.seed)
        opt = optim.SGD(lr=LR0, momentum=0.9)
        history, seconds = _common.fit(model, X, y, epochs=epochs, batch_size=32, optimizer=opt,
                                       validation_data=(X_val, y_val), lr_schedule=make(opt))
        h = history.history
        curves[name] = (h["lr"], h)
        rows.append([name, f"{h['lr'][-1]:.3g}", _common.fmt(float(h["loss"][-1]), ".4f"),
                     _common.fmt(float(min(h["val_loss"])), ".4f"), _common.fmt(float(h["val_loss"][-1]), ".4f"),
                     _common.fmt(float(h["val_accuracy"][-1]), ".3f"), _common.fmt(seconds, ".1f")])
    _common.print_table(["schedule", "last lr", "train loss", "best val loss", "final val loss", "val acc",
                         "time (s)"], rows,
                        title=f"SGD momentum 0.9 from lr={LR0}, [784, 100, 10] ReLU, batch 32, {epochs} epochs")

    plt = _common.pyplot()
    if plt is None:
        return
    fig, (ax_lr, ax_tl, ax_vl) = plt.subplots(1, 3, figsize=(15, 4.2))
    for name, (lrs, h) in curves.items():
        ep = np.arange(1, len(h["loss"]) + 1)
        ax_lr.plot(ep, lrs[:len(ep)], marker="o", ms=3, label=name)
        ax_tl.plot(ep, h["loss"], label=name)
        ax_vl.plot(ep, h["val_loss"], label=name)
    ax_lr.set(title="learning rate", xlabel="epoch", yscale="log")
    ax_tl.set(title="training loss", xlabel="epoch", yscale="log")
    ax_vl.set(title="validation loss", xlabel="epoch")
    for ax in (ax_lr, ax_tl, ax_vl):
        ax.grid(alpha=0.3)
    ax_lr.legend(fontsize=8)
    _common.save(fig, args, "08_lr_schedules.png")


if __name__ == "__main__":
    main()
