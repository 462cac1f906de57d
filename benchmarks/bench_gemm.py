"""GEMM throughput: fastmlp vs numpy.matmul (OpenBLAS), float32, in one run.

For each thread count, a child process alternates fastmlp and numpy calls on the
same operands (so both see the same machine state) and reports medians. numpy is
measured twice: with the environment's OPENBLAS_CORETYPE (Haswell on these
machines: AVX2 kernels; Haswell too when the environment leaves it unset, so
the first pair is always against OpenBLAS's AVX2 kernels) and with it unset
(OpenBLAS picks its own kernels: AVX-512 ones on AVX-512 CPUs).

    python benchmarks/bench_gemm.py                  # table to stdout
    python benchmarks/bench_gemm.py --markdown       # markdown table (for RESULTS.md)
    python benchmarks/bench_gemm.py --small --backward --threads 1 --clock thread
                                                     # the course's small shapes, CPU time
    python benchmarks/bench_gemm.py --threads 2 --isolated --markdown
                                                     # each library in its own processes

With several threads, alternating calls in one process measure each library
partly against the other's idle threads: OpenBLAS's keep spinning for a while
after each call and take the cores fastmlp's threads need. --isolated runs the
two libraries in separate processes that take turns (rounds of --repeat calls),
so neither sees the other's threads.

Shapes: the products an MLP's dense layers run, forward (x @ W), backward for the
weights (x^T @ dy) and for the inputs (dy @ W^T), at batch M in {10, 64, 256} and
(K, N) in {(784, 30), (784, 2048), (2048, 2048), (2048, 10)}, plus 1024^3.
"""
import argparse
import json
import os
import subprocess
import sys
import time

SHAPES = [(m, k, n) for m in (10, 64, 256) for (k, n) in ((784, 30), (784, 2048), (2048, 2048), (2048, 10))]
SHAPES.append((1024, 1024, 1024))
# the course network (batch 10, [784, 30, 10]) and the other small MLP shapes
SMALL_SHAPES = [(10, 784, 30), (10, 30, 10), (64, 784, 100), (256, 784, 100), (64, 784, 30),
                (256, 784, 30), (10, 2048, 10), (64, 2048, 10), (256, 2048, 10)]


def products(m, k, n):
    """(label, a_shape, b_shape, trans_a, trans_b, flops) of the three dense-layer GEMMs."""
    f = 2.0 * m * k * n
    return [
        ("fwd  x@W", (m, k), (k, n), False, False, f),
        ("dW   x^T@dy", (m, k), (m, n), True, False, f),
        ("dX   dy@W^T", (m, n), (k, n), False, True, f),
    ]


def child(n_threads, repeat, include_backward, small=False, clock="wall", only=None):
    # a process timing fastmlp alone gives OpenBLAS (used only to check results)
    # one thread, so no idle OpenBLAS thread spins on a core fastmlp needs
    os.environ["OPENBLAS_NUM_THREADS"] = "1" if only == "ours" else str(n_threads)
    import numpy as np

    import fastmlp

    fastmlp.set_num_threads(n_threads)
    rng = np.random.default_rng(0)
    rows = []
    # thread CPU time leaves out the time a busy machine takes the core away
    # (1 thread only: both libraries then run in this thread)
    timer = time.thread_time if clock == "thread" else time.perf_counter
    for m, k, n in (SMALL_SHAPES if small else SHAPES):
        prods = products(m, k, n) if include_backward else products(m, k, n)[:1]
        for label, sa, sb, ta, tb, flops in prods:
            a = rng.standard_normal(sa, dtype=np.float32)
            b = rng.standard_normal(sb, dtype=np.float32)
            out_shape = (sa[1] if ta else sa[0], sb[0] if tb else sb[1])
            c = np.empty(out_shape, np.float32)
            opa, opb = (a.T if ta else a), (b.T if tb else b)
            ours = lambda: fastmlp.ops.gemm(a, b, out=c, trans_a=ta, trans_b=tb)  # noqa: E731
            theirs = lambda: np.matmul(opa, opb, out=c)  # noqa: E731
            ours()
            np.testing.assert_allclose(c, opa @ opb, rtol=2e-3, atol=2e-3 * np.sqrt(sa[1 - ta]))
            inner = max(1, int(0.02 / max(flops / 150e9, 1e-7)))
            libraries = [(name, fn) for name, fn in (("ours", ours), ("numpy", theirs)) if only in (None, name)]
            samples = {name: [] for name, _ in libraries}
            for _ in range(repeat):
                for name, fn in libraries:
                    t0 = timer()
                    for _ in range(inner):
                        fn()
                    samples[name].append((timer() - t0) / inner)
            med = {name: sorted(v)[len(v) // 2] for name, v in samples.items()}
            rows.append(dict({"shape": f"{m}x{k}x{n}", "product": label},
                             **{name: flops / t / 1e9 for name, t in med.items()}))
    print(json.dumps(rows))


def run_child(n_threads, coretype, repeat, include_backward, small=False, clock="wall", only=None):
    env = dict(os.environ)
    if coretype is None:
        env.pop("OPENBLAS_CORETYPE", None)
    else:
        env["OPENBLAS_CORETYPE"] = coretype
    cmd = [sys.executable, __file__, "--child", str(n_threads), "--repeat", str(repeat)]
    if include_backward:
        cmd.append("--backward")
    if small:
        cmd.append("--small")
    cmd += ["--clock", clock]
    if only:
        cmd += ["--only", only]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_isolated(n_threads, coretype, rounds, repeat, include_backward, small, clock):
    """Per shape, the median over `rounds` of each library's own process's median."""
    per_round = {"ours": [], "numpy": []}
    for _ in range(rounds):
        for name in ("ours", "numpy"):
            per_round[name].append(run_child(n_threads, coretype, repeat, include_backward, small, clock, name))
    rows = []
    for i, row in enumerate(per_round["ours"][0]):
        out = {"shape": row["shape"], "product": row["product"]}
        for name, runs in per_round.items():
            values = sorted(r[i][name] for r in runs)
            out[name] = values[len(values) // 2]
        rows.append(out)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--backward", action="store_true", help="also time x^T@dy and dy@W^T")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--small", action="store_true", help="the course's small shapes instead")
    ap.add_argument("--clock", choices=("wall", "thread"), default="wall",
                    help="thread: CPU time of the calling thread (1 thread runs on a busy machine)")
    ap.add_argument("--isolated", type=int, nargs="?", const=5, default=0, metavar="ROUNDS",
                    help="each library in its own processes, taking turns ROUNDS times (default 5)")
    ap.add_argument("--only", choices=("ours", "numpy"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child(args.child, args.repeat, args.backward, args.small, args.clock, args.only)
        return
    import fastmlp

    cfg = fastmlp.show_config(file=open(os.devnull, "w"))
    env_core = os.environ.get("OPENBLAS_CORETYPE") or "Haswell"
    print(f"fastmlp {cfg['version']}, GEMM path {cfg['gemm_f32']}, OpenMP {cfg['openmp']}; "
          f"numpy {cfg['numpy']}; OPENBLAS_CORETYPE in environment: "
          f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; first numpy column: {env_core}")
    for nt in [int(t) for t in args.threads.split(",")]:
        if args.clock == "thread" and nt != 1:
            print(f"(skipping {nt} threads: --clock thread measures 1 thread only)")
            continue
        if args.isolated:
            env_rows = run_isolated(nt, env_core, args.isolated, args.repeat,
                                    args.backward, args.small, args.clock)
            avx512_rows = run_isolated(nt, None, args.isolated, args.repeat, args.backward, args.small,
                                       args.clock)
        else:
            env_rows = run_child(nt, env_core, args.repeat, args.backward,
                                 args.small, args.clock)
            avx512_rows = run_child(nt, None, args.repeat, args.backward, args.small, args.clock)
        if args.markdown:
            how = (f"each library in its own processes, {args.isolated} rounds of {args.repeat} runs"
                   if args.isolated else f"median of {args.repeat} alternating runs")
            print(f"\n**{nt} thread(s)**, GFLOP/s ({how})\n")
            print("| M x K x N | product | fastmlp | numpy (OPENBLAS_CORETYPE=" + env_core + ") | ratio | "
                  "fastmlp | numpy (OpenBLAS's own kernels) | ratio |")
            print("|---|---|---:|---:|---:|---:|---:|---:|")
        else:
            print(f"\n{nt} thread(s): GFLOP/s, medians of {args.repeat} alternating runs")
            print(f"{'M x K x N':>15} {'product':<12} {'fastmlp':>8} {'np-env':>8} {'ratio':>6} "
                  f"{'fastmlp':>8} {'np-own':>8} {'ratio':>6}")
        # each ratio is taken within one child run (fastmlp and numpy alternating)
        for r_env, r512 in zip(env_rows, avx512_rows):
            cells = (r_env["ours"], r_env["numpy"], r_env["ours"] / r_env["numpy"],
                     r512["ours"], r512["numpy"], r512["ours"] / r512["numpy"])
            if args.markdown:
                print(f"| {r_env['shape']} | {r_env['product']} | " +
                      " | ".join(f"{x:.2f}" if i % 3 == 2 else f"{x:.1f}" for i, x in enumerate(cells)) + " |")
            else:
                print(f"{r_env['shape']:>15} {r_env['product']:<12} " +
                      " ".join(f"{x:6.2f}" if i % 3 == 2 else f"{x:8.1f}" for i, x in enumerate(cells)))

if __name__ == "__main__":
    main()
