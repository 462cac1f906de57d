"""fastmlp against the libraries users would otherwise pick, in one run.

    python benchmarks/peers.py                 # full run, writes the table into RESULTS.md
    python benchmarks/peers.py --quick         # a smoke run (fewer steps and rounds)
    python benchmarks/peers.py --contended     # also: 2 threads while a busy process holds a core

Each measurement runs in its own process (thread settings and peak RSS stay
separate), and the libraries take turns round after round, so a noisy moment on
the shared machine hits every library alike; the table gives medians and the
min-max range. Data: 50,000 x 784 float32 samples (seeded normal noise), 10
classes. Workloads:

  (a) [784, 30, 10], sigmoid, SGD lr 0.1, batch 10: seconds per epoch
  (b) [784, 100, 10], ReLU, Adam, batch 64: seconds per epoch
  (c) [784, 2048, 2048, 10], ReLU, BatchNorm after each hidden dense layer,
      Dropout(0.5), Adam, batch 256: samples per second and effective GFLOP/s
      (6 flops per weight per sample: forward, and backward for inputs and weights)
  (d) single-sample predict_proba latency, [784, 100, 10] (median of 10k calls)
  (e) batch-10,000 inference throughput, same network

Peak RSS during (c): each worker process reads its RSS baseline once numpy and
the library are imported and before the data are made; the table reports the
process's peak RSS (ru_maxrss) minus that baseline, against the bytes (c) must
hold at least (``must_hold_c``): parameters and BatchNorm buffers, one gradient
per parameter, Adam's two moments, one batch's activations (the input batch,
every layer's output, the dropout masks, and two gradient buffers of the widest
layer for the backward pass) and the data (X float32 and int64 labels).

Seconds per epoch are timed over a whole epoch, or over the first `--max-seconds`
of one (then scaled to 50,000 samples) for the slow library/workload pairs.
"""
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

N_SAMPLES, N_FEATURES, N_CLASSES = 50_000, 784, 10
HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "RESULTS.md")
PEAK_GFLOPS_PER_CORE = None  # measured by benchmarks/peak_flops.py when the table is written

WORKLOADS = {
    "a": dict(sizes=[784, 30, 10], activation="sigmoid", optimizer="sgd", lr=0.1, batch=10),
    "b": dict(sizes=[784, 100, 10], activation="relu", optimizer="adam", lr=1e-3, batch=64),
    "c": dict(sizes=[784, 2048, 2048, 10], activation="relu", optimizer="adam", lr=1e-3, batch=256,
              batchnorm=True, dropout=0.5),
}


def peak_rss_kib():
    """This process's peak resident set (KiB). Linux's VmHWM belongs to the
    address space made at exec; ru_maxrss would instead carry over the peak of
    the process that started this one (the driver), hiding everything below it."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def make_data():
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.standard_normal((N_SAMPLES, N_FEATURES), dtype=np.float32)
    y = rng.integers(0, N_CLASSES, N_SAMPLES)
    return X, y


def weights_of(sizes):
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def must_hold_c(itemsize=4):
    """Bytes workload (c) cannot train without, by part (a lower bound)."""
    w = WORKLOADS["c"]
    sizes, batch = w["sizes"], w["batch"]
    hidden = sizes[1:-1]
    trainable = weights_of(sizes) + sum(sizes[1:]) + 2 * sum(hidden)  # W, b, BatchNorm gamma and beta
    # one batch: the input rows, each layer's output (Dense, BatchNorm, ReLU and Dropout
    # per hidden layer, the last Dense), 1-byte dropout masks, and dy/dx of the widest layer
    act_elems = batch * (sizes[0] + 4 * sum(hidden) + sizes[-1] + 2 * max(sizes))
    return {
        "parameters": (trainable + 2 * sum(hidden)) * itemsize,  # + BatchNorm running mean and var
        "gradients": trainable * itemsize,
        "Adam state": 2 * trainable * itemsize,
        "activations": act_elems * itemsize + batch * sum(hidden),
        "data": N_SAMPLES * N_FEATURES * itemsize + N_SAMPLES * 8,
    }


# ------------------------------------------------------------------ workers

def train_fastmlp(backend, w, X, y, max_seconds):
    import fastmlp

    fastmlp.set_backend(backend)
    model = fastmlp.MLP(w["sizes"], activation=w["activation"], batchnorm=w.get("batchnorm", False),
                        dropout=w.get("dropout", 0.0), seed=0)
    opt = (fastmlp.optim.SGD(lr=w["lr"]) if w["optimizer"] == "sgd" else fastmlp.optim.Adam(lr=w["lr"]))
    n = samples_within(lambda n: model.fit(X[:n], y[:n], epochs=1, batch_size=w["batch"], optimizer=opt,
                                           verbose=0, shuffle=True), w["batch"], max_seconds)
    return n


def samples_within(train_on, batch, max_seconds):
    """Train on a prefix sized to take about max_seconds; returns (samples, seconds)."""
    n = min(N_SAMPLES, 20 * batch)
    t0 = time.perf_counter()
    train_on(n)
    probe = time.perf_counter() - t0
    n_full = N_SAMPLES
    if probe * N_SAMPLES / n > max_seconds:
        n_full = max(batch, int(max_seconds / probe * n) // batch * batch)
    t0 = time.perf_counter()
    train_on(n_full)
    return n_full, time.perf_counter() - t0


def train_torch(w, X, y, max_seconds):
    import torch

    torch.manual_seed(0)
    layers = []
    sizes = w["sizes"]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            if w.get("batchnorm"):
                layers.append(torch.nn.BatchNorm1d(b))
            layers.append(torch.nn.Sigmoid() if w["activation"] == "sigmoid" else torch.nn.ReLU())
            if w.get("dropout"):
                layers.append(torch.nn.Dropout(w["dropout"]))
    model = torch.nn.Sequential(*layers)
    opt = (torch.optim.SGD(model.parameters(), lr=w["lr"]) if w["optimizer"] == "sgd"
           else torch.optim.Adam(model.parameters(), lr=w["lr"]))
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def epoch(n):
        model.train()
        perm = torch.randperm(n)
        for i in range(0, n, w["batch"]):
            idx = perm[i:i + w["batch"]]
            opt.zero_grad()
            loss = loss_fn(model(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()

    return samples_within(epoch, w["batch"], max_seconds)


def train_sklearn(w, X, y, max_seconds):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    def epoch(n):
        clf = MLPClassifier(hidden_layer_sizes=tuple(w["sizes"][1:-1]),
                            activation="logistic" if w["activation"] == "sigmoid" else "relu",
                            solver="sgd" if w["optimizer"] == "sgd" else "adam", learning_rate_init=w["lr"],
                            batch_size=w["batch"], max_iter=1, momentum=0.0, alpha=0.0, shuffle=True,
                            random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X[:n], y[:n])

    return samples_within(epoch, w["batch"], max_seconds)


def inference(lib, backend, X):
    """(d) median latency of single-sample predict_proba, (e) batch-10k samples/s."""
    import numpy as np

    sizes = WORKLOADS["b"]["sizes"]
    if lib == "fastmlp":
        import fastmlp

        fastmlp.set_backend(backend)
        model = fastmlp.MLP(sizes, activation="relu", seed=0)
        predict = model.predict_proba
    elif lib == "torch":
        import torch

        model = torch.nn.Sequential(torch.nn.Linear(784, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10)).eval()

        def predict(x):
            with torch.no_grad():
                return torch.softmax(model(torch.from_numpy(x)), dim=1).numpy()
    else:
        from sklearn.neural_network import MLPClassifier

        model = MLPClassifier(hidden_layer_sizes=(100,), max_iter=1).partial_fit(X[:100], np.arange(100) % 10,
                                                                                 classes=np.arange(10))
        predict = model.predict_proba
    one = X[:1]
    for _ in range(200):
        predict(one)
    calls = 10_000 if lib != "sklearn" else 2_000
    lat = []
    for _ in range(calls):
        t0 = time.perf_counter()
        predict(one)
        lat.append(time.perf_counter() - t0)
    batch = X[:10_000]
    predict(batch)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        predict(batch)
        times.append(time.perf_counter() - t0)
    return statistics.median(lat), 10_000 / statistics.median(times)


def worker(spec):
    """Runs in a child process: one library, one workload, one thread count."""
    lib, backend, task, threads, max_seconds = (spec["lib"], spec.get("backend"), spec["task"],
                                                spec["threads"], spec["max_seconds"])
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    if spec.get("isa"):
        os.environ["FASTMLP_ISA"] = spec["isa"]
    import numpy  # noqa: F401  (part of the baseline for every library)

    if lib == "fastmlp":
        import fastmlp

        fastmlp.set_num_threads(threads)
    elif lib == "torch":
        import torch

        torch.set_num_threads(threads)
    # the baseline: the interpreter with numpy and the library imported, before the data exist
    rss_base = peak_rss_kib()
    X, y = make_data()
    rss_data = peak_rss_kib()
    if task in WORKLOADS:
        trainer = {"fastmlp": lambda: train_fastmlp(backend, WORKLOADS[task], X, y, max_seconds),
                   "torch": lambda: train_torch(WORKLOADS[task], X, y, max_seconds),
                   "sklearn": lambda: train_sklearn(WORKLOADS[task], X, y, max_seconds)}[lib]
        n, seconds = trainer()
        out = {"samples": n, "seconds": seconds}
    else:
        latency, throughput = inference(lib, backend, X)
        out = {"latency": latency, "throughput": throughput}
    out["rss_mb"] = peak_rss_kib() / 1024  # peak of the whole run
    out["rss_base_mb"] = rss_base / 1024
    out["rss_data_mb"] = rss_data / 1024
    print(json.dumps(out))


# ------------------------------------------------------------------- driver

def available(module):
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def run_spec(spec, env=None):
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True,
                          env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{spec}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class Busy:
    """A process that keeps one core saturated (pure-Python spin)."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()+3600\nwhile time.time()<t: pass"])
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def libraries(args):
    libs = [("fastmlp (C)", {"lib": "fastmlp", "backend": "c"})]
    notes = []
    # a CPU whose best SIMD path is not the default one: time both; on one that
    # splits 512-bit FMAs (Zen 4), whose AVX-512 GEMM mixes in AVX2 tiles, time
    # the plain AVX2 path too
    import fastmlp

    kernels = fastmlp._config._kernels
    isa = fastmlp._config.get_isa()
    best = kernels.isa_best() if kernels is not None else None
    other = None
    if best and best != isa:
        other = best
    elif isa == "avx512" and kernels.cpu_splits_512bit_fma():
        other = "avx2"
    if other and not os.environ.get("FASTMLP_ISA"):
        libs.append((f"fastmlp (C, FASTMLP_ISA={other})", {"lib": "fastmlp", "backend": "c", "isa": other}))
        notes.append(f"fastmlp (C) runs its default SIMD path here ({isa}); the row below it forces {other}.")
    libs.append(("fastmlp (reference)", {"lib": "fastmlp", "backend": "reference"}))
    for name, mod in (("PyTorch", "torch"), ("scikit-learn", "sklearn")):
        if available(mod):
            libs.append((name, {"lib": mod}))
        else:
            notes.append(f"{name} is not installed: its rows are skipped.")
    return libs, notes


def measure(args):
    libs, notes = libraries(args)
    tasks = ["a", "b", "c", "de"]
    results = {}
    for threads in args.threads:
        for rnd in range(args.rounds):
            for task in tasks:
                for name, base in libs:
                    if task == "c" and name == "scikit-learn":
                        continue  # no BatchNorm/Dropout in MLPClassifier
                    spec = dict(base, task=task, threads=threads, max_seconds=args.max_seconds)
                    res = run_spec(spec)
                    results.setdefault((name, task, threads), []).append(res)
                    print(f"  round {rnd + 1} {threads}thr ({task}) {name}: {fmt_raw(task, res)}", flush=True)
    contended = {}
    if args.contended:
        for rnd in range(args.rounds):
            for task in ["a", "b", "c"]:
                quiet = run_spec(dict(lib="fastmlp", backend="c", task=task, threads=1, max_seconds=args.max_seconds))
                with Busy():
                    busy = run_spec(dict(lib="fastmlp", backend="c", task=task, threads=2,
                                         max_seconds=args.max_seconds))
                contended.setdefault(task, []).append((per_epoch(quiet), per_epoch(busy)))
                print(f"  contended ({task}): quiet 1thr {per_epoch(quiet):.3f} s/epoch, "
                      f"busy 2thr {per_epoch(busy):.3f} s/epoch", flush=True)
    return libs, notes, results, contended


def per_epoch(res):
    return res["seconds"] * N_SAMPLES / res["samples"]


def fmt_raw(task, res):
    if task == "de":
        return f"{res['latency'] * 1e6:.1f} us, {res['throughput']:.0f} samples/s"
    return f"{per_epoch(res):.3f} s/epoch ({res['samples']} samples timed)"


def summarize(values):
    return statistics.median(values), min(values), max(values)


def table(args, libs, notes, results, contended):
    global PEAK_GFLOPS_PER_CORE
    if PEAK_GFLOPS_PER_CORE is None:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import peak_flops

        isa, PEAK_GFLOPS_PER_CORE = peak_flops.measure()
        notes = list(notes) + [f"FP32 peak measured by benchmarks/peak_flops.py: {PEAK_GFLOPS_PER_CORE:.0f} "
                               f"GFLOP/s per core ({isa} FMA loop)"]
    options = (" --quick" if args.quick else
               (f" --rounds {args.rounds}" if args.rounds != 3 else "") +
               (f" --max-seconds {args.max_seconds:g}" if args.max_seconds != 6.0 else ""))
    lines = [f"Command: `python benchmarks/peers.py{options}"
             f"{' --contended' if args.contended else ''}`; {args.rounds} alternating rounds, "
             f"median [min-max]; machine: {os.cpu_count()} cores; "
             f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}.", ""]
    for threads in args.threads:
        lines += [f"**{threads} thread(s)**", "",
                  "| library | (a) s/epoch | (b) s/epoch | (c) samples/s | (c) GFLOP/s (% of peak) "
                  "| (d) latency us | (e) samples/s |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for name, _ in libs:
            cells = []
            for task in ("a", "b"):
                r = results.get((name, task, threads))
                cells.append("-" if not r else "%.3f [%.3f-%.3f]" % summarize([per_epoch(x) for x in r]))
            r = results.get((name, "c", threads))
            if r:
                sps = summarize([x["samples"] / x["seconds"] for x in r])
                gf = sps[0] * 6 * weights_of(WORKLOADS["c"]["sizes"]) / 1e9
                cells.append("%.0f [%.0f-%.0f]" % sps)
                cells.append(f"{gf:.1f} ({100 * gf / (PEAK_GFLOPS_PER_CORE * threads):.0f}%)")
            else:
                cells += ["-", "-"]
            r = results.get((name, "de", threads))
            if r:
                cells.append("%.1f [%.1f-%.1f]" % tuple(v * 1e6 for v in summarize([x["latency"] for x in r])))
                cells.append("%.0f [%.0f-%.0f]" % summarize([x["throughput"] for x in r]))
            else:
                cells += ["-", "-"]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
        ours = {t: results.get(("fastmlp (C)", t, threads)) for t in ("a", "b", "c", "de")}
        torch_r = {t: results.get(("PyTorch", t, threads)) for t in ("a", "b", "c", "de")}
        ref = {t: results.get(("fastmlp (reference)", t, threads)) for t in ("a", "b")}
        ratios = []
        if all(ours.values()) and all(torch_r.values()):
            med = lambda rs, f: statistics.median([f(x) for x in rs])  # noqa: E731
            ratios.append("vs PyTorch: (a) %.1fx, (b) %.1fx, (c) %.1fx, (d) %.1fx, (e) %.1fx" % (
                med(torch_r["a"], per_epoch) / med(ours["a"], per_epoch),
                med(torch_r["b"], per_epoch) / med(ours["b"], per_epoch),
                med(ours["c"], lambda x: x["samples"] / x["seconds"]) / med(torch_r["c"], lambda x: x["samples"] / x["seconds"]),
                med(torch_r["de"], lambda x: x["latency"]) / med(ours["de"], lambda x: x["latency"]),
                med(ours["de"], lambda x: x["throughput"]) / med(torch_r["de"], lambda x: x["throughput"])))
        if all(ref.values()) and ours["a"] and ours["b"]:
            ratios.append("C vs reference backend: (a) %.1fx, (b) %.1fx" % tuple(
                statistics.median([per_epoch(x) for x in ref[t]]) / statistics.median([per_epoch(x) for x in ours[t]])
                for t in ("a", "b")))
        if ours["c"]:
            parts = must_hold_c()
            need = sum(parts.values()) / 2**20
            rss = statistics.median([x["rss_mb"] - x["rss_base_mb"] for x in ours["c"]])
            data = statistics.median([x["rss_data_mb"] - x["rss_base_mb"] for x in ours["c"] if "rss_data_mb" in x]
                                     or [float("nan")])
            detail = ", ".join(f"{k} {v / 2**20:.1f}" for k, v in parts.items())
            ratios.append(f"peak RSS during (c), above the interpreter with numpy and fastmlp imported (taken before "
                          f"the data are made): {rss:.0f} MiB (the data alone: {data:.0f} MiB), against the "
                          f"{need:.0f} MiB (c) must hold ({detail} MiB): {rss / need:.2f}x")
        lines += [f"- {r}" for r in ratios] + [""]
    if contended:
        lines += ["**Busy machine** (a process saturating one core; fastmlp C backend): 2-thread time relative "
                  "to the quiet 1-thread time (target <= 2.5x)", "",
                  "| workload | quiet 1 thread s/epoch | busy 2 threads s/epoch | ratio |", "|---|---:|---:|---:|"]
        for task, pairs in contended.items():
            q = statistics.median(p[0] for p in pairs)
            b = statistics.median(p[1] for p in pairs)
            lines.append(f"| ({task}) | {q:.3f} | {b:.3f} | {b / q:.2f}x |")
        lines.append("")
    lines += [f"Note: {n}" for n in notes]
    return "\n".join(lines)


def write_results(text):
    begin, end = "<!-- peers:begin -->", "<!-- peers:end -->"
    block = f"{begin}\n{text}\n{end}"
    old = open(RESULTS).read() if os.path.exists(RESULTS) else "# Benchmark results\n"
    if begin in old:
        new = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda m: block, old, flags=re.S)
    else:
        new = old.rstrip() + "\n\n## Peers: training and inference (benchmarks/peers.py)\n\n" + block + "\n"
    with open(RESULTS, "w") as f:
        f.write(new)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="1 round, at most 1 s of training per measurement")
    ap.add_argument("--contended", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--max-seconds", type=float, default=6.0)
    ap.add_argument("--no-write", action="store_true", help="print the table without updating RESULTS.md")
    args = ap.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    args.threads = [int(t) for t in args.threads.split(",")]
    if args.quick:
        args.rounds, args.max_seconds = 1, 1.0
    libs, notes, results, contended = measure(args)
    text = table(args, libs, notes, results, contended)
    print("\n" + text)
    if not args.no_write:
        write_results(text)
        print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
