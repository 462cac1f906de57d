"""Overfitting: train and validation curves with no regularisation, L2, dropout
and early stopping.

A network [784, 100, 10] (ReLU) trained on only 1000 images for many epochs
memorises them: training accuracy reaches 100 % while validation accuracy
stalls and the validation loss turns back up. L2 (weight decay) and dropout
narrow the gap; early stopping watches the validation loss and restores the
best weights. A further 1000 images, never used for any decision, give the
honest test accuracy of each.

    python examples/06_overfitting.py [--fast] [--out DIR]
"""
import numpy as np

import _common
import fastmlp
from fastmlp import callbacks, optim

SIZES = [784, 100, 10]


def main():
    args = _common.parse_args(__doc__.splitlines()[0], epochs=(int, None, "epochs (default 40, --fast 3)"),
                              l2=(float, 5e-3, "L2 strength for the L2 run (fit(l2=...): adds l2 * W to dW)"),
                              dropout=(float, 0.5, "dropout probability for the dropout run"))
    epochs = args.epochs or (3 if args.fast else 40)
    X_all, y_all, X_val, y_val = _common.load_data(args)
    n = 200 if args.fast else 1000
    X, y = X_all[:n], y_all[:n]
    X_test, y_test = X_all[-n:], y_all[-n:]

    configs = {
        "none": (dict(), dict()),
        f"L2 {args.l2:g}": (dict(), dict(l2=args.l2)),
        f"dropout {args.dropout:g}": (dict(dropout=args.dropout), dict()),
        "early stopping": (dict(), dict(callbacks=[callbacks.EarlyStopping(monitor="val_loss", patience=5,
                                                                           restore_best_weights=True)])),
    }
    curves, rows = {}, []
    for name, (model_kw, fit_kw) in configs.items():
        model = fastmlp.MLP(SIZES, activation="relu", init="he_normal", seed=args.seed, **model_kw)
        history, seconds = _common.fit(model, X, y, epochs=epochs, batch_size=10, optimizer=optim.SGD(lr=0.02),
                                       validation_data=(X_val, y_val), **fit_kw)
        h = history.history
        curves[name] = h
        train = model.evaluate(X, y)
        val = model.evaluate(X_val, y_val)
        test = model.evaluate(X_test, y_test)
        best = int(np.argmin(h["val_loss"]))
        rows.append([name, str(len(h["loss"])), str(best + 1), _common.fmt(train["accuracy"], ".3f"),
                     _common.fmt(val["accuracy"], ".3f"), _common.fmt(train["accuracy"] - val["accuracy"], "+.3f"),
                     _common.fmt(float(h["val_loss"][best]), ".3f"), _common.fmt(val["loss"], ".3f"),
                     _common.fmt(test["accuracy"], ".3f"),
                     _common.fmt(seconds, ".1f")])
    _common.print_table(["regularisation", "epochs run", "best val epoch", "train acc", "val acc", "gap",
                         "best val loss", "final val loss", "test acc", "time (s)"], rows,
                        title=f"{SIZES} ReLU on {n} training images, SGD lr=0.02 batch 10, up to {epochs} epochs")

    plt = _common.pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(2, len(curves), figsize=(3.6 * len(curves), 6.2), sharex=True, sharey="row")
    for c, (name, h) in enumerate(curves.items()):
        ep = np.arange(1, len(h["loss"]) + 1)
        axes[0, c].plot(ep, h["accuracy"], label="train")
        axes[0, c].plot(ep, h["val_accuracy"], label="validation")
        axes[1, c].plot(ep, h["loss"], label="train")
        axes[1, c].plot(ep, h["val_loss"], label="validation")
        axes[0, c].set_title(name)
        axes[0, c].set_ylim(0.5, 1.01)
        axes[1, c].set(xlabel="epoch", yscale="log")
        for ax in axes[:, c]:
            ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("accuracy")
    axes[1, 0].set_ylabel("loss")
    axes[0, 0].legend(fontsize=8)
    _common.save(fig, args, "06_overfitting.png")


if __name__ == "__main__":
    main()
