#!/usr/bin/env bash
# valgrind memcheck on a short training run (C backend, 2 threads, Dense +
# BatchNorm + ReLU + Dropout + Adam, save/load, predict), run twice: N and 2N
# steps. Fails when
#   - memcheck reports an invalid read/write, use of uninitialised values or a
#     bad free whose stack passes through fastmlp's extension, or
#   - the definitely-lost bytes grow with the number of steps.
# Reports elsewhere (the interpreter, numpy) are printed but do not fail.
#
#   tools/valgrind_check.sh [N]      # default N=5 (so 5 and 10 steps)
#   VALGRIND_LOG_DIR=/tmp tools/valgrind_check.sh   # keep the full logs
#
# The extension is rebuilt with debug info (-g, FASTMLP_DEBUG_FLAGS) in a
# scratch copy. valgrind has no AVX-512: the AVX2 path (or generic) is forced.
set -euo pipefail
N=${1:-5}
command -v valgrind >/dev/null || { echo "valgrind not installed (apt-get install -y valgrind)" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$root/setup.py" "$root/pyproject.toml" "$root/csrc" "$root/fastmlp" "$work/"
find "$work/fastmlp" -name '*.so' -delete
cd "$work"
FASTMLP_DEBUG_FLAGS="-g" python3 setup.py build_ext --inplace -q >build.log 2>&1 || { cat build.log; exit 1; }

cat > run.py <<'EOF'
import sys
import numpy as np
import fastmlp
from fastmlp import optim

steps = int(sys.argv[1])
fastmlp.set_backend("c")
fastmlp.set_num_threads(2)
rng = np.random.default_rng(0)
X = rng.standard_normal((16 * steps, 37)).astype(np.float32)
y = rng.integers(0, 5, 16 * steps)
m = fastmlp.MLP([37, 33, 17, 5], batchnorm=True, dropout=0.2, seed=1)
m.fit(X, y, epochs=1, batch_size=16, optimizer=optim.Adam(lr=1e-2), verbose=0)
m.save(sys.argv[2])
p = fastmlp.load(sys.argv[2]).predict(X[:20])
assert p.shape == (20,)
m64 = fastmlp.MLP([37, 9, 5], dtype="float64", seed=2)
m64.fit(X.astype(np.float64), y, epochs=1, batch_size=16, optimizer=optim.SGD(lr=0.1), verbose=0)
print("steps", steps, "done")
EOF

isa=$(PYTHONPATH="$work" python3 -c "import fastmlp; print(fastmlp._config._kernels.isa_best())")
[ "$isa" = avx512 ] && isa=avx2
export FASTMLP_ISA=$isa PYTHONMALLOC=malloc PYTHONPATH="$work"
# the interpreter itself, not a shim script (pyenv) that valgrind would check instead
py=$(python3 -c "import sys; print(sys.executable)")
status=0
declare -A lost
for steps in "$N" $((2 * N)); do
    log="$work/vg_$steps.log"
    valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite --num-callers=30 --fullpath-after= \
        --log-file="$log" "$py" run.py "$steps" "$work/m_$steps.npz" >"$work/out_$steps.txt" 2>&1 \
        || { echo "run with $steps steps failed:"; cat "$work/out_$steps.txt"; tail -30 "$log"; exit 1; }
    lost[$steps]=$(grep -oE "definitely lost: [0-9,]+ bytes" "$log" | tr -dc '0-9' || true)
    lost[$steps]=${lost[$steps]:-0}
    errs=$(grep -oE "ERROR SUMMARY: [0-9,]+ errors" "$log" | tr -dc '0-9')
    # error blocks (invalid read/write, uninitialised, bad free) that pass through our
    # code: a frame in the extension (.so name, csrc/ path, Cython wrapper or fm_ kernel)
    ours=$(awk '/^==[0-9]+== (Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param|Mismatched free|Source and destination overlap)/{blk=1; hit=0; next}
                blk && /_kernels|\/csrc\/|__pyx_| fm_[a-z0-9_]+ \(/{hit=1}
                blk && /^==[0-9]+== $/{ if (hit) n++; blk=0 }
                END{print n+0}' "$log")
    echo "valgrind: $steps steps ($FASTMLP_ISA, 2 threads): $errs errors in all, $ours through fastmlp's extension, definitely lost ${lost[$steps]} bytes"
    grep -E "^==[0-9]+== (Invalid|Conditional|Use of uninit|Mismatched)" "$log" | sort | uniq -c | sed 's/^/    /' || true
    if [ "$ours" -gt 0 ]; then
        status=1
        awk '/^==[0-9]+== (Invalid|Conditional|Use of uninit|Mismatched)/{p=1} p{print} /^==[0-9]+== $/{p=0}' "$log" | head -80
    fi
    [ -z "${VALGRIND_LOG_DIR:-}" ] || cp "$log" "$VALGRIND_LOG_DIR/"
done
if [ "${lost[$((2 * N))]}" -gt "${lost[$N]}" ]; then
    echo "definitely-lost bytes grow with the number of steps: ${lost[$N]} -> ${lost[$((2 * N))]}" >&2
    status=1
fi
[ "$status" -eq 0 ] && echo "valgrind: OK (no invalid access in fastmlp, no leak growing with steps)"
exit "$status"
