"""Build fastmlp's C extension: setuptools + Cython + numpy.

OpenMP is probed by compiling a tiny program (as scikit-learn does); where the
compiler lacks it the build goes on serial with a warning. FASTMLP_NO_OPENMP=1
forces a serial build. SIMD paths need no special flags: each ISA's functions
carry a target attribute (csrc/internal.h) and are picked at run time, so the
wheel runs on any x86-64 and never gets -march=native or -ffast-math.
"""
import glob
import os
import shlex
import shutil
import sys
import tempfile
import textwrap

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        return n > 0 ? 0 : 1;
    }
    """
)


def _openmp_flags(compiler):
    """(compile_args, link_args) that enable OpenMP with this compiler, or None."""
    if compiler.compiler_type == "msvc":
        candidates = [(["/openmp"], [])]
    elif sys.platform == "darwin":
        candidates = [(["-Xpreprocessor", "-fopenmp"], ["-lomp"]), (["-fopenmp"], ["-fopenmp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    for cflags, lflags in candidates:
        tmp = tempfile.mkdtemp()
        try:
            src = os.path.join(tmp, "probe.c")
            with open(src, "w") as f:
                f.write(OPENMP_PROBE)
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
            # link as the extension will be linked (e.g. with a sanitizer runtime)
            env_ldflags = shlex.split(os.environ.get("LDFLAGS", ""))
            compiler.link_executable(objs, "probe", output_dir=tmp,
                                     extra_postargs=lflags + env_ldflags)
            return cflags, lflags
        except Exception:
            continue
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return None


class BuildExt(build_ext):
    # Flags are added here, after cythonize() has built its Extension objects, so
    # nothing we set is dropped; they come after the environment's CFLAGS and win.
    def build_extensions(self):
        compiler = self.compiler
        if compiler.compiler_type == "msvc":
            cflags, lflags = ["/O2"], []
        else:
            # gnu99, not c99: -std=c99 turns off FMA contraction in GCC.
            # -fno-math-errno / -fno-trapping-math change no result (nobody reads
            # errno or FP flags); they let sqrt inline and selects vectorise.
            cflags = ["-O3", "-std=gnu99", "-g0", "-fno-math-errno", "-fno-trapping-math",
                      "-Wno-unused-function", "-Wno-unreachable-code"]
            lflags = []
        omp = None
        if os.environ.get("FASTMLP_NO_OPENMP", "") not in ("", "0"):
            print("fastmlp: FASTMLP_NO_OPENMP set, building without OpenMP (serial)")
        else:
            omp = _openmp_flags(compiler)
            if omp is None:
                print(
                    "\n*** WARNING: fastmlp: this compiler does not support OpenMP; "
                    "building a serial extension (set_num_threads will have no effect). ***\n",
                    file=sys.stderr,
                )
        if omp:
            cflags += omp[0]
            lflags += omp[1]
        # FASTMLP_DEBUG_FLAGS (e.g. "-O1 -g" for tools/sanitize.sh) go last, so they
        # override the -O3 -g0 above; unset in normal builds.
        cflags += shlex.split(os.environ.get("FASTMLP_DEBUG_FLAGS", ""))
        for ext in self.extensions:
            ext.extra_compile_args = list(ext.extra_compile_args or []) + cflags
            ext.extra_link_args = list(ext.extra_link_args or []) + lflags
        super().build_extensions()


extensions = [
    Extension(
        "fastmlp._kernels",
        sources=["fastmlp/_kernels.pyx"] + sorted(glob.glob("csrc/*.c")),
        include_dirs=["csrc", np.get_include()],
        # Built against numpy 2's headers, the extension runs on numpy >= 1.23 (the
        # floor in pyproject.toml's dependencies): pinned here, not left to the
        # default of whichever numpy builds the wheel.
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                       ("NPY_TARGET_VERSION", "NPY_1_23_API_VERSION")],
        depends=sorted(glob.glob("csrc/*.h")) + sorted(glob.glob("fastmlp/*.pxi")),
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "initializedcheck": False,
            "cdivision": True,
            "embedsignature": True,
        },
    ),
    cmdclass={"build_ext": BuildExt},
)
