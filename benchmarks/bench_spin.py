"""How long libgomp's idle threads spin, measured where it hurts.

A loop alternates numpy.matmul (OpenBLAS's own threads) with fastmlp's GEMM
(OpenMP threads), both on 2 threads; a second loop runs fastmlp's GEMM back to
back (where spinning helps: the team is woken at once). Each setting runs in a
fresh process, since libgomp reads its settings when it loads.

    python benchmarks/bench_spin.py
"""
import os
import subprocess
import sys

SETTINGS = [
    ("libgomp default (GOMP_SPINCOUNT=300000)", {"GOMP_SPINCOUNT": "300000"}),
    ("GOMP_SPINCOUNT=20000", {"GOMP_SPINCOUNT": "20000"}),
    ("GOMP_SPINCOUNT=5000", {"GOMP_SPINCOUNT": "5000"}),
    ("GOMP_SPINCOUNT=1000", {"GOMP_SPINCOUNT": "1000"}),
    ("OMP_WAIT_POLICY=passive", {"OMP_WAIT_POLICY": "passive"}),
]

CHILD = r"""
import time, numpy as np, fastmlp
fastmlp.set_num_threads(2)
rng = np.random.default_rng(0)
a = rng.standard_normal((192, 192), dtype=np.float32)
x = rng.standard_normal((128, 512), dtype=np.float32)
w = rng.standard_normal((512, 256), dtype=np.float32)
def alternate():
    for _ in range(200):
        np.matmul(a, a)
        fastmlp.ops.gemm(x, w)
def back_to_back():
    for _ in range(200):
        fastmlp.ops.gemm(x, w)
out = []
for fn in (alternate, back_to_back):
    fn()
    ts = []
    for _ in range(7):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    out.append(sorted(ts)[3] / 200 * 1e6)
print(*out)
"""


def main():
    print(f"{'setting':<42} {'alternating numpy/fastmlp':>26} {'fastmlp back to back':>21}  (us per iteration, median)")
    for name, extra in SETTINGS:
        env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
        env.update(extra)
        env["OPENBLAS_NUM_THREADS"] = "2"
        out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
        alt, b2b = map(float, out.stdout.split())
        print(f"{name:<42} {alt:26.1f} {b2b:21.1f}")


if __name__ == "__main__":
    main()
