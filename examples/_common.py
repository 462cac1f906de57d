"""Plumbing shared by the course examples: command line, data, tables, plots.

Every example runs as ``python examples/NN_name.py [--fast] [--out DIR]``:
``--fast`` trains for a few epochs on a small subset (what the test suite runs),
``--out`` is the folder the PNG goes to. Plots need matplotlib (extra ``plot``);
without it the examples still print their numbers.
"""
import argparse
import os
import sys
import time
import warnings

try:
    import fastmlp
except ImportError:  # running from a source checkout that is not installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import fastmlp

from fastmlp import datasets


def parse_args(description, **extra):
    """The common options, plus ``extra`` as name -> (type, default, help)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--fast", action="store_true",
                        help="a few epochs on a small subset (seconds; what the tests run)")
    parser.add_argument("--out", default=".", help="folder for the PNG plot (default: current folder)")
    parser.add_argument("--seed", type=int, default=0, help="seed for data split, weights and shuffles")
    parser.add_argument("--threads", type=int, default=None, help="fastmlp threads (default: all cores)")
    for name, (kind, default, text) in extra.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default, help=text)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.threads is not None:
        fastmlp.set_num_threads(args.threads)
    return args


def load_data(args, n_train=None, fast_train=600, fast_val=300):
    """The embedded MNIST sample: (X_train, y_train, X_val, y_val), 4000/1000 rows
    (``n_train`` keeps the first n training rows); --fast keeps a small subset."""
    X, y, X_val, y_val = datasets.load_mnist_sample(seed=args.seed)
    if n_train is not None:
        X, y = X[:n_train], y[:n_train]
    if args.fast:
        X, y, X_val, y_val = X[:fast_train], y[:fast_train], X_val[:fast_val], y_val[:fast_val]
    return X, y, X_val, y_val


def fit(model, X, y, **kwargs):
    """model.fit, quiet, returning (history, seconds). A run that diverges stops
    with a non-finite last loss in its history (the examples report it), so
    fit's warning about it is not repeated here."""
    kwargs.setdefault("verbose", 0)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="non-finite loss", category=RuntimeWarning)
        history = model.fit(X, y, **kwargs)
    return history, time.perf_counter() - t0


def fmt(value, spec=".4f"):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value != value:
        return "nan"
    return format(value, spec)


def print_table(headers, rows, title=None):
    """An aligned text table: first column left, the others right."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells):
        first = str(cells[0]).ljust(widths[0])
        return "  ".join([first] + [str(c).rjust(w) for c, w in zip(cells[1:], widths[1:])])

    if title:
        print(f"\n{title}")
    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))
    sys.stdout.flush()


def pyplot():
    """matplotlib.pyplot on the Agg backend, or None (with a note) without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        print("\nmatplotlib is not installed (pip install 'fastmlp[plot]'): no plot saved")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, args, name):
    path = os.path.join(args.out, name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"\nplot saved to {path}")
    return path
