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
# fastmlp and nothing else but pip's own tools. (2) tools/wheel_smoke.py from a folder
# outside the checkout: the installed package is the one imported, the extension and
# OpenMP are there, GEMM vs numpy, the embedded data, `fastmlp train --epochs 1` once
# fastmlp.cli exists (and `fastmlp info` when the CLI has it). (3) tests/ (and examples/) copied
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

say "smoke test: tools/wheel_smoke.py (cwd $work/smoke, CC=$CC)"
mkdir "$work/smoke"
cp "$root/tools/wheel_smoke.py" "$work/smoke/"
# -I: isolated mode, so neither the cwd nor PYTHON* variables put anything on sys.path
(cd "$work/smoke" && FASTMLP_TEST_VENV="$venv" FASTMLP_EXPECT_OPENMP=${FASTMLP_EXPECT_OPENMP:-1} "$vpy" -I wheel_smoke.py)

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
# what the tests reach beside themselves (tests/test_examples.py runs ../examples/*.py):
# copied too, so the examples also run against the installed wheel
for extra in examples; do
    [ ! -d "$root/$extra" ] || cp -r "$root/$extra" "$work/t/$extra"
done
find "$work/t" -name __pycache__ -prune -exec rm -rf {} +
mkdir -p "$work/plugin"
cat > "$work/plugin/_wheelcheck.py" <<EOF
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
# -p _wheelcheck: the plugin above (its folder holds nothing else); no ini file here, so
# pytest's settings come from the command line; rootdir is this folder, not the checkout.
# shellcheck disable=SC2086
PYTHONPATH="$work/plugin" FASTMLP_TEST_VENV="$venv" "$vpy" -m pytest -p _wheelcheck -p no:cacheprovider --rootdir "$work/t" \
    -q -ra $pytest_args tests
