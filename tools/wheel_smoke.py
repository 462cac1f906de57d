"""Smoke test of an INSTALLED fastmlp (a wheel), run from a folder outside the checkout.

    python tools/wheel_smoke.py          # used by tools/test_wheel.sh and by cibuildwheel

Checks: the imported package is the installed one (FASTMLP_TEST_VENV, when set, names
the venv it must come from; otherwise it must come from site-packages), its version
matches the distribution's metadata, the compiled extension loads (and OpenMP is
there when FASTMLP_EXPECT_OPENMP=1), GEMM against numpy (float32/float64, odd shapes,
transposes, alpha/beta, 1 vs 3 threads bit-identical, C vs reference backend), the
embedded data set, and, once fastmlp.cli exists, the console script:
`fastmlp train --epochs 1` (and `fastmlp info` when the CLI has that command).
Exits non-zero on the first failure. Needs only numpy.
"""
import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
import sysconfig

import numpy as np

import fastmlp


def check_origin():
    where = os.path.realpath(fastmlp.__file__)
    venv = os.environ.get("FASTMLP_TEST_VENV")
    if venv:
        venv = os.path.realpath(venv)
        assert where.startswith(venv + os.sep), f"fastmlp imported from {where}, not from the venv {venv}"
    else:
        assert "site-packages" in where.split(os.sep), f"fastmlp imported from {where}, not an installed copy"
    print("fastmlp from", os.path.dirname(where))
    return os.path.dirname(where)


def check_config():
    info = fastmlp.show_config()
    dist = importlib.metadata.version("fastmlp")
    assert info["version"] == fastmlp.__version__ == dist, (info["version"], fastmlp.__version__, dist)
    assert info["extension"] == "available", info["extension"]
    if os.environ.get("FASTMLP_EXPECT_OPENMP", "") not in ("", "0"):
        assert info["openmp"], "this wheel must be built with OpenMP"


def check_gemm():
    rng = np.random.default_rng(0)
    ops = fastmlp.ops
    for dt, tol in ((np.float32, 2e-5), (np.float64, 1e-13)):
        for m, k, n in ((1, 1, 1), (1, 17, 3), (7, 13, 5), (31, 97, 67), (127, 259, 131)):
            a = rng.standard_normal((m, k)).astype(dt)
            b = rng.standard_normal((k, n)).astype(dt)
            c0 = rng.standard_normal((m, n)).astype(dt)
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            checks = (
                (ops.gemm(a, b), a64 @ b64),
                (ops.gemm(np.ascontiguousarray(a.T), b, trans_a=True), a64 @ b64),
                (ops.gemm(a, np.ascontiguousarray(b.T), trans_b=True), a64 @ b64),
                (ops.gemm(a, b, out=c0.copy(), alpha=0.5, beta=2.0), 0.5 * (a64 @ b64) + 2.0 * c0),
            )
            for got, want in checks:
                assert got.dtype == dt and got.shape == (m, n), (got.dtype, got.shape)
                err = np.max(np.abs(got - want)) / max(1.0, np.max(np.abs(want)) * np.sqrt(k))
                assert err < tol, f"gemm {np.dtype(dt).name} {m}x{k}x{n}: rel err {err:.3g}"
        a = rng.standard_normal((300, 301)).astype(dt)
        b = rng.standard_normal((301, 302)).astype(dt)
        old = fastmlp.get_num_threads()
        fastmlp.set_num_threads(1)
        c1 = ops.gemm(a, b)
        fastmlp.set_num_threads(3)
        c3 = ops.gemm(a, b)
        fastmlp.set_num_threads(old)
        assert np.array_equal(c1, c3), "gemm differs between 1 and 3 threads"
        fastmlp.set_backend("reference")
        try:
            cr = ops.gemm(a, b)
        finally:
            fastmlp.set_backend("c")
        err = np.max(np.abs(cr - c1)) / np.max(np.abs(cr))
        assert err < (1e-5 if dt == np.float32 else 1e-13), f"C vs reference: {err:.3g}"
    print("gemm: ok (float32/float64, odd shapes, transposes, alpha/beta, 1 vs 3 threads, C vs reference)")


def check_data(pkg_dir):
    with np.load(os.path.join(pkg_dir, "_data", "mnist_5k.npz"), allow_pickle=False) as d:
        assert d["images"].shape == (5000, 28, 28) and d["labels"].shape == (5000,)
    if importlib.util.find_spec("fastmlp.datasets") is not None:
        from fastmlp.datasets import load_mnist_sample

        X_train, y_train, X_test, y_test = load_mnist_sample()
        assert X_train.dtype == np.float32 and len(X_train) == len(y_train) and len(X_test) == len(y_test)
    print("embedded data: ok")


def check_cli():
    if importlib.util.find_spec("fastmlp.cli") is None:
        print("fastmlp.cli not there yet: skipping 'fastmlp train --epochs 1'")
        return
    exe = os.path.join(sysconfig.get_path("scripts"), "fastmlp" + (".exe" if os.name == "nt" else ""))
    assert os.path.isfile(exe), f"no console script {exe}"
    helptext = subprocess.run([exe, "--help"], capture_output=True, text=True).stdout
    commands = [["info"]] if re.search(r"\binfo\b", helptext) else []
    commands.append(["train", "--epochs", "1"])
    for args in commands:
        print("+ fastmlp", " ".join(args), flush=True)
        subprocess.run([exe] + args, check=True)
    print("cli: ok")


def main():
    pkg_dir = check_origin()
    check_config()
    check_gemm()
    check_data(pkg_dir)
    check_cli()
    print("smoke test: ok")


if __name__ == "__main__":
    sys.exit(main())
