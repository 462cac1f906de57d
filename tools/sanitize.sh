#!/usr/bin/env bash
# Build the extension with AddressSanitizer + UndefinedBehaviorSanitizer in a
# scratch copy of the tree and run the test suite (or the tests named as
# arguments) against it. Any sanitizer report fails the run.
#
#   tools/sanitize.sh                      # whole suite
#   tools/sanitize.sh tests/test_gemm.py   # a part
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cp -r "$root/setup.py" "$root/pyproject.toml" "$root/csrc" "$root/fastmlp" "$root/tests" "$work/"
find "$work/fastmlp" -name '*.so' -delete
cd "$work"
export CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1 -g"
export LDFLAGS="-fsanitize=address,undefined"
python3 setup.py build_ext --inplace -q >build.log 2>&1 || { cat build.log; exit 1; }

# Python itself is not built with ASan: preload the runtime, and leave leak
# checking to valgrind (the interpreter's own allocations would drown it).
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export PYTHONPATH="$work"
export FASTMLP_SANITIZED=1
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(tests)
# map paths given relative to the repo onto the scratch copy
for i in "${!tests[@]}"; do tests[$i]="$work/${tests[$i]#"$root"/}"; done
cd "$work/tests"
python3 -m pytest -q -x -p no:cacheprovider "${tests[@]}" 2>&1 | tee "$work/pytest.log"
status=${PIPESTATUS[0]}
if grep -qE "ERROR: AddressSanitizer|runtime error:" "$work/pytest.log"; then
    echo "sanitizer reported errors" >&2
    exit 1
fi
exit "$status"
