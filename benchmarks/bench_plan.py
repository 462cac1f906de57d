"""Seconds per epoch of issue 6 workload (a): fit through the compiled plan, fit's
Python loop, and a standard PyTorch loop, alternating runs, 1 thread by default.

    python benchmarks/bench_plan.py [--n 50000] [--repeats 3] [--threads 1] [--phases] [--marginal]

[784, 30, 10] sigmoid, softmax cross-entropy, SGD lr 0.1, batch 10, on n x 784
float32 uniform random data with random labels. Reports the median and min-max of
wall time and of the process's CPU time per epoch (on a shared, busy machine the
CPU time is the steadier figure; with one thread it is what a quiet machine's wall
time would be). ``--phases`` adds a per-batch breakdown: each kernel the plan calls
for one batch, timed in a loop through its Python wrapper (which adds ~0.2-0.5 us
per call), so the share each phase takes is visible. ``--marginal`` adds what a fit
pays once (input checks, conversions, plan construction, history): alternating
``fit(epochs=1)`` and ``fit(epochs=3)`` of the plan, the marginal epoch is half
their difference and the fixed cost the one-epoch fit minus the marginal epoch.
"""
import argparse
import statistics
import time

import numpy as np

import fastmlp
from fastmlp import _plan


def fit_epoch(X, y, use_plan, epochs=1):
    model = fastmlp.MLP([784, 30, 10], activation="sigmoid", seed=1)
    real = _plan.build
    if not use_plan:
        _plan.build = lambda *a, **k: None
    try:
        w, c = time.perf_counter(), time.process_time()
        model.fit(X, y, epochs=epochs, batch_size=10, optimizer=fastmlp.optim.SGD(lr=0.1), verbose=0)
        return time.perf_counter() - w, time.process_time() - c
    finally:
        _plan.build = real


def torch_epoch(X, y):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 30), torch.nn.Sigmoid(), torch.nn.Linear(30, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    w, c = time.perf_counter(), time.process_time()
    model.train()
    perm = torch.randperm(len(X))
    for i in range(0, len(X), 10):
        idx = perm[i:i + 10]
        opt.zero_grad()
        loss = loss_fn(model(Xt[idx]), yt[idx])
        loss.backward()
        opt.step()
    return time.perf_counter() - w, time.process_time() - c


def phases(X, y, reps=3000):
    """Per-batch cost of each kernel call the plan makes for workload (a)."""
    from fastmlp import _kernels as K

    f = np.float32
    rng = np.random.default_rng(0)
    W1, b1 = rng.standard_normal((784, 30)).astype(f) * 0.05, np.zeros(30, f)
    W2, b2 = rng.standard_normal((30, 10)).astype(f) * 0.2, np.zeros(10, f)
    dW1, db1, dW2, db2 = (np.empty_like(a) for a in (W1, b1, W2, b2))
    xb, h, dz, o, g, dh = (np.empty(s, f) for s in ((10, 784), (10, 30), (10, 30), (10, 10), (10, 10), (10, 30)))
    lab = np.empty(10, np.int64)
    order = rng.permutation(len(X))
    params, grads = [W1, b1, W2, b2], [dW1, db1, dW2, db2]
    plan = K.OptimPlan(params, grads, [None, None, None])
    steps = [
        ("gather 10 rows (np.take)", lambda i: (np.take(X, order[i:i + 10], axis=0, out=xb),
                                                np.take(y, order[i:i + 10], out=lab))),
        ("dense 784->30 + sigmoid fwd", lambda i: K.dense_forward(h, xb, W1, b1, "sigmoid", 0.0, 1)),
        ("dense 30->10 fwd", lambda i: K.dense_forward(o, h, W2, b2, "identity", 0.0, 1)),
        ("softmax cross-entropy", lambda i: K.softmax_cross_entropy(g, o, lab, 1)),
        ("dense 30->10 bwd (dW, db, dx)", lambda i: K.dense_backward(dh, dW2, db2, None, g, h, W2, o,
                                                                     "identity", 0.0, 1)),
        ("dense 784->30 bwd (dW, db)", lambda i: K.dense_backward(None, dW1, db1, dz, dh, xb, W1, h,
                                                                  "sigmoid", 0.0, 1)),
        ("SGD update (23,860 params)", lambda i: plan.sgd(params, grads, 1e-9, 0.0, 0.0, 0.0, False, False, 1)),
    ]
    n = len(X) - 10
    print(f"\nper-batch phases (median of 5 x {reps} calls, CPU time, us):")
    total = 0.0
    for name, fn in steps:
        runs = []
        for _ in range(5):
            c = time.process_time()
            for r in range(reps):
                fn((r * 10) % n)
            runs.append((time.process_time() - c) / reps * 1e6)
        med = statistics.median(runs)
        total += med
        print(f"  {name:32s} {med:8.2f}")
    print(f"  {'sum':32s} {total:8.2f}   (x 5000 batches = {total * 5000 / 1e6:.3f} s per epoch)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--phases", action="store_true")
    ap.add_argument("--marginal", action="store_true", help="also measure what a fit pays once")
    args = ap.parse_args()
    fastmlp.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    X = rng.random((args.n, 784), dtype=np.float32)
    y = rng.integers(0, 10, args.n)
    runners = {"fastmlp plan": lambda: fit_epoch(X, y, True),
               "fastmlp Python loop": lambda: fit_epoch(X, y, False)}
    if not args.no_torch:
        try:
            import torch

            torch.set_num_threads(args.threads)
            runners["PyTorch"] = lambda: torch_epoch(X, y)
        except ImportError:
            print("PyTorch not installed: skipped")
    results = {k: [] for k in runners}
    for _ in range(args.repeats):
        for name, run in runners.items():
            results[name].append(run())
    scale = 50000 / args.n
    print(f"workload (a) [784, 30, 10] sigmoid SGD(0.1) batch 10, {args.n} x 784 float32, "
          f"{args.threads} thread(s), {args.repeats} alternating runs; seconds per 50,000-sample epoch")
    print(f"{'':22s} {'wall median':>12s} {'(min-max)':>18s} {'CPU median':>12s} {'(min-max)':>18s}")
    med = {}
    for name, runs in results.items():
        wall = [r[0] * scale for r in runs]
        cpu = [r[1] * scale for r in runs]
        med[name] = (statistics.median(wall), statistics.median(cpu))
        print(f"{name:22s} {med[name][0]:12.3f} {f'({min(wall):.3f}-{max(wall):.3f})':>18s} "
              f"{med[name][1]:12.3f} {f'({min(cpu):.3f}-{max(cpu):.3f})':>18s}")
    base = med["fastmlp plan"]
    for name in med:
        if name != "fastmlp plan":
            print(f"plan speed-up over {name}: wall {med[name][0] / base[0]:.2f}x, CPU {med[name][1] / base[1]:.2f}x")
    if args.marginal:
        marginal(X, y, args.repeats, scale)
    if args.phases:
        phases(X, y)


def marginal(X, y, repeats, scale):
    """The per-fit fixed cost of the plan: fit(epochs=1) against fit(epochs=3)."""
    one, three = [], []
    for _ in range(max(repeats, 5)):
        one.append(fit_epoch(X, y, True, 1))
        three.append(fit_epoch(X, y, True, 3))
    print(f"\nper-fit fixed cost (plan, {len(one)} alternating pairs; seconds per 50,000 samples):")
    for k, clock in enumerate(("wall", "CPU")):
        e1 = statistics.median(r[k] for r in one) * scale
        e3 = statistics.median(r[k] for r in three) * scale
        m = (e3 - e1) / 2
        print(f"  {clock:4s}: fit(epochs=1) {e1:.3f}, fit(epochs=3) {e3:.3f}, marginal epoch {m:.3f}, "
              f"paid once per fit {e1 - m:.3f}")


if __name__ == "__main__":
    main()
