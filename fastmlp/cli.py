"""The ``fastmlp`` command (also ``python -m fastmlp``).

    fastmlp train              an MLP on the embedded MNIST sample (4,000 train / 1,000 test)
    fastmlp train --hidden 100 --activation relu --optimizer adam --lr 1e-3 --epochs 10
    fastmlp info               version, backend, OpenMP, threads and SIMD path

Wrong arguments print a message on stderr and exit with status 2.
"""
import argparse
import sys
import time

OPTIMIZER_CHOICES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
ACTIVATION_CHOICES = ("relu", "leaky_relu", "elu", "sigmoid", "tanh", "identity")


def _int_at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value
    parse.__name__ = f"int>={low}"
    return parse


def _float_in(low, high=None, low_open=False):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        bad = value != value or (value <= low if low_open else value < low) or (high is not None and value >= high)
        if bad:
            lo = "(" if low_open else "["
            hi = f"{high})" if high is not None else "inf)"
            raise argparse.ArgumentTypeError(f"expected a number in {lo}{low}, {hi}, got {text}")
        return value
    parse.__name__ = "number"
    return parse


def _sizes(text):
    try:
        sizes = [int(s) for s in text.replace(" ", ",").split(",") if s]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return sizes


def build_parser():
    parser = argparse.ArgumentParser(prog="fastmlp", description="Fast fully-connected neural networks on the CPU.")
    sub = parser.add_subparsers(dest="command", metavar="{train,info}")
    sub.required = True

    train = sub.add_parser("train", help="train an MLP on MNIST and report its test accuracy",
                           description="Train an MLP (default: the embedded 5,000-digit MNIST sample).")
    arch = train.add_mutually_exclusive_group()
    arch.add_argument("--hidden", type=_sizes, default=[100], metavar="W[,W...]",
                      help="hidden layer widths (default: 100)")
    arch.add_argument("--sizes", type=_sizes, metavar="IN,W...,OUT",
                      help="all layer widths, input and output included (e.g. 784,30,10)")
    train.add_argument("--activation", choices=ACTIVATION_CHOICES, default="relu")
    train.add_argument("--optimizer", choices=OPTIMIZER_CHOICES, default="adam")
    train.add_argument("--lr", type=_float_in(0.0, low_open=True), default=None,
                       help="learning rate (default: 1e-3 for adam/adamw, 0.01 for adagrad/rmsprop, 0.1 otherwise)")
    train.add_argument("--schedule", choices=("none", "cosine", "step"), default="none",
                       help="learning-rate schedule over the epochs: cosine annealing to 0, or /10 every third")
    train.add_argument("--epochs", type=_int_at_least(0), default=10)
    train.add_argument("--batch-size", type=_int_at_least(1), default=32)
    train.add_argument("--batchnorm", action="store_true", help="BatchNorm after each hidden dense layer")
    train.add_argument("--dropout", type=_float_in(0.0, 1.0), default=0.0, help="dropout probability after each hidden layer")
    train.add_argument("--l2", type=_float_in(0.0), default=0.0, help="L2 penalty on the weights")
    train.add_argument("--init", default=None, help="weight initialiser (default: xavier for sigmoid/tanh, he otherwise)")
    train.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    train.add_argument("--backend", choices=("c", "reference"), default=None)
    train.add_argument("--threads", type=_int_at_least(1), default=None)
    train.add_argument("--seed", type=_int_at_least(0), default=0,
                       help="seeds the initialisation, dropout masks and shuffles (the data split is fixed)")
    train.add_argument("--dataset", choices=("sample", "mnist"), default="sample",
                       help="sample: the embedded 5,000 digits; mnist: the 70,000 IDX files in --data-dir")
    train.add_argument("--data-dir", default=None, help="folder of the MNIST IDX files (default: the cache folder)")
    train.add_argument("--download", action="store_true", help="download MNIST into --data-dir when missing")
    train.add_argument("--save", metavar="PATH", default=None, help="save the trained model to PATH (.npz)")
    train.add_argument("--quiet", action="store_true", help="print only the final result")

    sub.add_parser("info", help="show the build and runtime configuration")
    return parser


def _optimizer(name, lr):
    from . import optim

    defaults = {"adam": 1e-3, "adamw": 1e-3, "adagrad": 0.01, "rmsprop": 0.01}
    lr = defaults.get(name, 0.1) if lr is None else lr
    if name == "sgd":
        return optim.SGD(lr=lr)
    if name == "momentum":
        return optim.SGD(lr=lr, momentum=0.9)
    if name == "nesterov":
        return optim.SGD(lr=lr, momentum=0.9, nesterov=True)
    return getattr(optim, {"adagrad": "Adagrad", "rmsprop": "RMSprop", "adam": "Adam", "adamw": "AdamW"}[name])(lr=lr)


def _train(args, out):
    import fastmlp
    from . import datasets

    if args.backend is not None:
        fastmlp.set_backend(args.backend)
    if args.threads is not None:
        fastmlp.set_num_threads(args.threads)
    if args.dataset == "sample":
        X, y, X_test, y_test = datasets.load_mnist_sample()  # the standard split: --seed varies only the model
        source = "embedded MNIST sample"
    else:
        X, y, X_test, y_test = datasets.load_mnist(args.data_dir, download=args.download)
        source = "MNIST"
    n_classes = 10
    sizes = args.sizes if args.sizes is not None else [X.shape[1], *args.hidden, n_classes]
    if sizes[0] != X.shape[1] or sizes[-1] != n_classes:
        raise ValueError(f"--sizes must start with {X.shape[1]} inputs and end with {n_classes} outputs, got {sizes}")
    model = fastmlp.MLP(sizes, activation=args.activation, batchnorm=args.batchnorm, dropout=args.dropout,
                        init=args.init, dtype=args.dtype, seed=args.seed)
    optimizer = _optimizer(args.optimizer, args.lr)
    schedule = None
    if args.schedule == "cosine":
        schedule = fastmlp.optim.CosineAnnealingLR(optimizer, T_max=max(args.epochs, 1))
    elif args.schedule == "step":
        schedule = fastmlp.optim.StepLR(optimizer, step_size=max(args.epochs // 3, 1), gamma=0.1)
    if not args.quiet:
        print(f"fastmlp {fastmlp.__version__} | backend {fastmlp.get_backend()} | threads {fastmlp.get_num_threads()} | "
              f"{source}: {len(X)} train / {len(X_test)} test", file=out)
        extras = [s for s, on in (("batchnorm", args.batchnorm), (f"dropout {args.dropout}", args.dropout),
                                  (f"l2 {args.l2}", args.l2)) if on]
        print(f"MLP {sizes} {args.activation}{' ' + ', '.join(extras) if extras else ''} | "
              f"{type(optimizer).__name__} lr {optimizer.lr}{'' if schedule is None else ' ' + args.schedule} | {args.epochs} epochs, batch {args.batch_size}", file=out)
    verbose = 0 if args.quiet else (1 if _isatty(out) else 2)
    t0 = time.perf_counter()
    history = model.fit(X, y, epochs=args.epochs, batch_size=args.batch_size, optimizer=optimizer, l2=args.l2,
                        lr_schedule=schedule, validation_data=(X_test, y_test), verbose=verbose)
    elapsed = time.perf_counter() - t0
    result = model.evaluate(X_test, y_test)
    train_time = sum(history.history.get("time", []))
    print(f"test accuracy: {result['accuracy']:.4f} (loss {result['loss']:.4f})", file=out)
    print(f"training time: {train_time:.2f}s ({elapsed:.2f}s with evaluation)", file=out)
    if history.stop_reason:
        print(f"note: {history.stop_reason}", file=out)
    if args.save:
        model.save(args.save)
        print(f"saved to {args.save}", file=out)
    return 0


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def main(argv=None):
    """Run the command line; returns the exit status (argparse exits 2 on bad arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    out = sys.stdout
    try:
        if args.command == "info":
            import fastmlp

            fastmlp.show_config(file=out)
            return 0
        return _train(args, out)
    except (ValueError, TypeError, RuntimeError, FileNotFoundError, FloatingPointError) as exc:
        print(f"fastmlp: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fastmlp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
