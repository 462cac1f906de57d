"""Activation functions and their derivatives.

Evaluates each activation layer forward, and backward with an upstream gradient
of ones (which gives the derivative), on a grid of inputs. The table shows the
course's points: sigmoid's slope is at most 0.25 and it saturates (slope < 0.01)
beyond |x| of about 4.6, tanh is zero-centred with slope 1 at 0 but saturates
too, ReLU never saturates for x > 0 but has zero slope for x < 0, and the
outputs of sigmoid and ReLU are not zero-centred (positive mean on N(0, 1)
inputs) while tanh's are.

    python examples/01_activations.py [--fast] [--out DIR]
"""
import numpy as np

import _common
from fastmlp import layers

SATURATED = 0.01  # a slope below this passes almost no gradient


def activations():
    return {
        "sigmoid": layers.Sigmoid(),
        "tanh": layers.Tanh(),
        "relu": layers.ReLU(),
        "leaky_relu(0.01)": layers.LeakyReLU(negative_slope=0.01),
        "elu(1.0)": layers.ELU(alpha=1.0),
    }


def value_and_slope(layer, x):
    y = layer.forward(x)
    return y, layer.backward(np.ones_like(x))


def saturation(x, slope):
    """Where the slope is below SATURATED, described for each side of 0."""
    left = x[(x < 0) & (np.abs(slope) < SATURATED)]
    right = x[(x > 0) & (np.abs(slope) < SATURATED)]
    sides = []
    if left.size:
        sides.append("x < 0" if left.max() > -0.1 else f"x < {left.max():.1f}")
    if right.size:
        sides.append("x > 0" if right.min() < 0.1 else f"x > {right.min():.1f}")
    return " and ".join(sides) if sides else "never"


def main():
    args = _common.parse_args(__doc__.splitlines()[0])
    n = 241 if args.fast else 2401
    x = np.linspace(-8.0, 8.0, n, dtype=np.float32).reshape(1, -1)
    z = np.random.default_rng(args.seed).standard_normal((1, 20_000 if args.fast else 200_000)).astype(np.float32)

    rows, curves = [], {}
    for name, layer in activations().items():
        y, slope = value_and_slope(layer, x)
        y, slope = y.ravel(), slope.ravel()
        curves[name] = (y, slope)
        i0 = np.argmin(np.abs(x.ravel()))
        out_z = layer.forward(z)
        rows.append([
            name,
            f"[{y.min():.3g}, {y.max():.3g}]",
            _common.fmt(float(slope[i0]), ".3f"),
            _common.fmt(float(slope.max()), ".3f"),
            saturation(x.ravel(), slope),
            _common.fmt(float(out_z.mean()), "+.3f"),
            "yes" if abs(float(out_z.mean())) < 0.05 else "no",
        ])
    _common.print_table(
        ["activation", "range on [-8, 8]", "slope at 0", "max slope", f"slope < {SATURATED} for",
         "mean on N(0,1)", "zero-centred"],
        rows, title="Activations: value, derivative (backward of ones), saturation, centring")

    plt = _common.pyplot()
    if plt is None:
        return
    fig, (ax_f, ax_d) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, (y, slope) in curves.items():
        ax_f.plot(x.ravel(), y, label=name)
        ax_d.plot(x.ravel(), slope, label=name)
    ax_f.set(title="activation f(x)", xlabel="x", ylim=(-2, 4))
    ax_d.set(title="derivative f'(x) (backward of ones)", xlabel="x", ylim=(-0.1, 1.15))
    ax_d.axhline(0.25, color="grey", lw=0.6, ls=":")
    for ax in (ax_f, ax_d):
        ax.grid(alpha=0.3)
        ax.axvline(0, color="grey", lw=0.6)
    ax_f.legend()
    _common.save(fig, args, "01_activations.png")


if __name__ == "__main__":
    main()
