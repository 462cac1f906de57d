#!/usr/bin/env bash
# Test a built wheel the way a user gets it: a FRESH venv with only numpy, then the
# wheel, no compiler (CC=false), nothing from the checkout on sys.path.
#
#   tools/test_wheel.sh dist/fastmlp-*.whl                      # newest numpy, smoke + whole test suite
#   tools/test_wheel.sh --numpy 'numpy==1.23.*' --deps minimal dist/fastmlp-*.whl
#   tools/test_wheel.sh --no-tests dist/fastmlp-*.whl           # smoke test only
#
# Options:
#   --numpy SPEC     pip requirement for numpy (default: numpy, i.e. the newest); it is
#                    installed first and held there (a constraint) for everything after
#   --deps full      test dependencies = the wheel's `test` extra (default)
#   --deps minimal   only pytest, pytest-benchmark, hypothesis, threadpoolctl (tests of
#                    the optional integrations skip)
#   --no-tests       stop after the smoke test
#   --pytest-args A  extra arguments for pytest (one string, split on spaces)
#
# Steps: (1) venv + numpy + the wheel (binary only); the venv must then hold numpy and
# fastmlp and nothing else but pip's own tools. (2) smoke test from an empty folder:
# the installed package is the one imported, the extension and OpenMP are there, GEMM
# vs numpy (float32/float64, odd shapes, transposes, alpha/beta, 1 vs 3 threads
# bit-identical), C vs reference backend, the embedded data; `fastmlp train --epochs 1`
# once fastmlp.cli exists (and `fastmlp info` when the CLI has it). (3) tests/ copied
# to a temporary folder and run there against the installed wheel (a pytest plugin
# fails the session if `fastmlp` resolves anywhere but the venv).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
numpy_spec=numpy
deps=full
run_tests=1
pytest_args=""
wheel=""
while [ $# -gt 0 ]; do
    case "$1" in
        --numpy) numpy_spec=$2; shift 2 ;;
        --deps) deps=$2; shift 2 ;;
        --no-tests) run_tests=0; shift ;;
        --pytest-args) pytest_args=$2; shift 2 ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        -*) echo "test_wheel: unknown option $1" >&2; exit 2 ;;
        *) [ -z "$wheel" ] || { echo "test_wheel: one wheel at a time" >&2; exit 2; }; wheel=$1; shift ;;
    esac
done
case "$deps" in full|minimal) ;; *) echo "test_wheel: --deps full|minimal" >&2; exit 2 ;; esac
[ -n "$wheel" ] && [ -f "$wheel" ] || { echo "test_wheel: give a wheel file (got '${wheel}')" >&2; exit 2; }
wheel=$(realpath "$wheel")
py=${PYTHON:-python3}

say() { printf '\n== %s\n' "$*"; }
die() { printf 'test_wheel: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
venv="$work/venv"

# No compiler from here on: anything that tries to build C code fails loudly.
export CC=false CXX=false LDSHARED=false
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONNOUSERSITE=1
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV 2>/dev/null || true

say "fresh venv: $numpy_spec, then $(basename "$wheel")"
"$py" -m venv "$venv"
vpy="$venv/bin/python"
"$vpy" -m pip install --quiet --only-binary=:all: "$numpy_spec"
np_version=$("$vpy" -c "import numpy; print(numpy.__version__)")
echo "numpy==$np_version" > "$work/constraints.txt"
"$vpy" -m pip install --quiet --only-binary=:all: -c "$work/constraints.txt" "$wheel"
"$vpy" -m pip list --format=freeze > "$work/freeze.txt"
cat "$work/freeze.txt"
extra=$(grep -viE '^(numpy|fastmlp|pip|setuptools|wheel)==' "$work/freeze.txt" || true)
[ -z "$extra" ] || die "the venv holds more than numpy and fastmlp: $extra"

say "smoke test (cwd $work/smoke, CC=$CC)"
mkdir "$work/smoke"
cat > "$work/smoke.py" <<'EOF'
import importlib.util
import os
import sys

import numpy as np

import fastmlp

venv = os.path.realpath(os.environ["FASTMLP_TEST_VENV"])
where = os.path.realpath(fastmlp.__file__)
assert where.startswith(venv + os.sep), f"fastmlp imported from {where}, not from the venv {venv}"
print("fastmlp from", os.path.dirname(where))
info = fastmlp.show_config()
assert info["extension"] == "available", info["extension"]
assert info["version"] == os.environ["FASTMLP_TEST_VERSION"], (info["version"], os.environ["FASTMLP_TEST_VERSION"])
if sys.platform.startswith("linux"):
    assert info["openmp"], "the Linux wheel must be built with OpenMP"

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
    fastmlp.set_num_threads(1)
    c1 = ops.gemm(a, b)
    fastmlp.set_num_threads(3)
    c3 = ops.gemm(a, b)
    assert np.array_equal(c1, c3), "gemm differs between 1 and 3 threads"
    fastmlp.set_backend("reference")
    cr = ops.gemm(a, b)
    fastmlp.set_backend("c")
    err = np.max(np.abs(cr - c1)) / np.max(np.abs(cr))
    assert err < (1e-5 if dt == np.float32 else 1e-13), f"C vs reference: {err:.3g}"
print("gemm: ok (float32/float64, odd shapes, transposes, alpha/beta, 1 vs 3 threads, C vs reference)")

data = os.path.join(os.path.dirname(where), "_data", "mnist_5k.npz")
with np.load(data, allow_pickle=False) as d:
    assert d["images"].shape == (5000, 28, 28) and d["labels"].shape == (5000,)
if importlib.util.find_spec("fastmlp.datasets") is not None:
    from fastmlp.datasets import load_mnist_sample
    X_train, y_train, X_test, y_test = load_mnist_sample()
    assert X_train.dtype == np.float32 and len(X_train) + len(X_test) <= 5000
print("embedded data: ok")
print("cli:", "present" if importlib.util.find_spec("fastmlp.cli") is not None else "absent")
EOF
version=$(basename "$wheel" | cut -d- -f2)
(
    cd "$work/smoke"
    FASTMLP_TEST_VENV="$venv" FASTMLP_TEST_VERSION="$version" "$vpy" -I "$work/smoke.py"
    if "$vpy" -I -c "import importlib.util as u, sys; sys.exit(u.find_spec('fastmlp.cli') is None)"; then
        fm="$venv/bin/fastmlp"
        [ -x "$fm" ] || die "no fastmlp console script in the venv"
        if "$fm" --help 2>&1 | grep -qw info; then
            echo "+ fastmlp info"; "$fm" info
        fi
        echo "+ fastmlp train --epochs 1"
        "$fm" train --epochs 1
    else
        echo "fastmlp.cli not there yet: skipping 'fastmlp train --epochs 1'"
    fi
)
echo "smoke test: ok"

[ "$run_tests" = 1 ] || exit 0

say "test dependencies ($deps), numpy held at $np_version"
if [ "$deps" = full ]; then
    "$vpy" -m pip install --quiet -c "$work/constraints.txt" "$wheel[test]"
else
    "$vpy" -m pip install --quiet -c "$work/constraints.txt" pytest pytest-benchmark hypothesis threadpoolctl
fi
"$vpy" -c "import numpy; assert numpy.__version__ == '$np_version', numpy.__version__"

say "test suite against the installed wheel (cwd $work/t)"
mkdir -p "$work/t"
cp -r "$root/tests" "$work/t/tests"
find "$work/t" -name __pycache__ -prune -exec rm -rf {} +
cat > "$work/t/_wheelcheck.py" <<EOF
import os

def pytest_report_header(config):
    import fastmlp
    return f"fastmlp {fastmlp.__version__} from {os.path.dirname(fastmlp.__file__)}"

def pytest_sessionstart(session):
    import fastmlp
    where = os.path.realpath(fastmlp.__file__)
    venv = os.path.realpath("$venv")
    if not where.startswith(venv + os.sep):
        raise RuntimeError(f"tests imported fastmlp from {where}, not from the wheel in {venv}")
EOF
cd "$work/t"
# -p _wheelcheck: the plugin above (found on sys.path via the cwd); no ini file here, so
# pytest's settings come from the command line; rootdir is this folder, not the checkout.
# shellcheck disable=SC2086
FASTMLP_TEST_VENV="$venv" "$vpy" -m pytest -p _wheelcheck -p no:cacheprovider --rootdir "$work/t" \
    -q -ra $pytest_args tests
