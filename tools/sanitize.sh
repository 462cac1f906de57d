#!/usr/bin/env bash
# Build the extension with AddressSanitizer + UndefinedBehaviorSanitizer in a
# scratch copy of the tree and run tests against it. Any sanitizer report fails
# the run. The build is -O1 -g (FASTMLP_DEBUG_FLAGS, which setup.py appends after
# its own -O3 -g0) so reports carry file:line.
#
#   tools/sanitize.sh                      # the CI part: kernels, model, bad input, reliability
#   tools/sanitize.sh --all                # whole suite
#   tools/sanitize.sh tests/test_gemm.py   # the tests named
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cp -r "$root/setup.py" "$root/pyproject.toml" "$root/csrc" "$root/fastmlp" "$root/tests" "$work/"
find "$work/fastmlp" -name '*.so' -delete
cd "$work"
export CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
export LDFLAGS="-fsanitize=address,undefined"
export FASTMLP_DEBUG_FLAGS="-O1 -g"
python3 setup.py build_ext --inplace -q -j "$(nproc)" >build.log 2>&1 || { cat build.log; exit 1; }
# the flags really reached the compiler, after setup.py's -O3 -g0
grep -q -- "-g0 .*-O1 -g" build.log || {
    echo "sanitize.sh: FASTMLP_DEBUG_FLAGS did not reach the compile line" >&2; exit 1; }

# Python itself is not built with ASan: preload the runtime, and leave leak
# checking to valgrind (the interpreter's own allocations would drown it).
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export PYTHONPATH="$work"
export FASTMLP_SANITIZED=1
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
    # representative part (CI): every GEMM/dense path, the model (fit, save/load,
    # fork), the bad-input catalogue and the reliability tests
    tests=(tests/test_gemm.py tests/test_dense.py tests/test_activations.py
           tests/test_model.py tests/test_bad_input.py)
    [ -f "$root/tests/test_reliability.py" ] && tests+=(tests/test_reliability.py)
elif [ "${tests[0]}" = "--all" ]; then
    tests=(tests)
fi
# map paths given relative to the repo onto the scratch copy
for i in "${!tests[@]}"; do tests[$i]="$work/${tests[$i]#"$root"/}"; done
cd "$work/tests"
python3 -m pytest -q -x -p no:cacheprovider "${tests[@]}" 2>&1 | tee "$work/pytest.log"
status=${PIPESTATUS[0]}
if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$work/pytest.log"; then
    echo "sanitizer reported errors" >&2
    exit 1
fi
exit "$status"
