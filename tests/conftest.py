import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import fastmlp
from fastmlp import _config

HAVE_C = _config._kernels is not None
ALL_ISAS = ("generic", "avx2", "avx512")
PARALLEL_MIN_NS = 200000.0  # csrc/runtime.c's default
LATE_THREAD_GUARD = (300000.0, 0.25, 2)  # csrc/runtime.c's defaults


def supported_isas():
    """Every ISA path this CPU can run (the default is the best one; all are tested)."""
    if not HAVE_C:
        return []
    return list(ALL_ISAS[: ALL_ISAS.index(_config._kernels.isa_best()) + 1])


requires_c = pytest.mark.skipif(not HAVE_C, reason="the compiled extension is not built")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture(params=[1, 3], ids=lambda n: f"{n}thr")
def n_threads(request):
    old = _config._num_threads
    fastmlp.set_num_threads(request.param)
    if HAVE_C and request.param > 1:
        # small test inputs would stay serial: force the parallel paths (also
        # on a busy machine, where a late thread would make them serial a while)
        _config._kernels.set_parallel_min_ns(0.0)
        _config._kernels.set_late_thread_guard(1e15, 1.0, 1)
    yield request.param
    _config._num_threads = old
    if HAVE_C:
        _config._kernels.set_parallel_min_ns(PARALLEL_MIN_NS)
        _config._kernels.set_late_thread_guard(*LATE_THREAD_GUARD)


@pytest.fixture(params=supported_isas() or ["none"])
def isa(request):
    if request.param == "none":
        pytest.skip("the compiled extension is not built")
    old = _config._kernels.isa_active()
    _config.set_isa(request.param)
    yield request.param
    _config.set_isa(old)


@pytest.fixture(params=["c", "reference"])
def backend(request):
    if request.param == "c" and not HAVE_C:
        pytest.skip("the compiled extension is not built")
    old = fastmlp.get_backend()
    fastmlp.set_backend(request.param)
    yield request.param
    fastmlp.set_backend(old)


@pytest.fixture
def c_backend():
    """Run a test on the C backend, restoring the previous one after."""
    if not HAVE_C:
        pytest.skip("the compiled extension is not built")
    old = fastmlp.get_backend()
    fastmlp.set_backend("c")
    yield
    fastmlp.set_backend(old)


@pytest.fixture
def reference_backend():
    old = fastmlp.get_backend()
    fastmlp.set_backend("reference")
    yield
    fastmlp.set_backend(old)


def tol(dtype, f32=1e-5, f64=1e-12):
    """Relative tolerance for comparing a kernel's result with its reference."""
    return f32 if np.dtype(dtype) == np.float32 else f64


# The folder holding the fastmlp this process imported (an installed wheel, or the
# checkout with an in-place build). Child Pythons get it first on their path and
# start outside the checkout, so they import the very same build (a checkout
# without a compiled extension must not shadow an installed one).
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(fastmlp.__file__)))


def child_python(args, env=None, **kwargs):
    """subprocess.run([python, *args]) importing the same fastmlp as this process."""
    full_env = dict(os.environ if env is None else env)
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, full_env.get("PYTHONPATH")) if p)
    kwargs.setdefault("cwd", tempfile.gettempdir())
    return subprocess.run([sys.executable, *args], env=full_env, **kwargs)


# Kernel tests compare thread counts on small inputs, which would stay serial
# under the production threshold: in these modules every call may go parallel.
KERNEL_TEST_MODULES = {"test_gemm", "test_activations", "test_dense", "test_losses", "test_dropout",
                       "test_batchnorm", "test_pooling", "test_optim"}


@pytest.fixture(autouse=True)
def _parallel_paths_on_small_inputs(request):
    if not HAVE_C or request.module.__name__ not in KERNEL_TEST_MODULES:
        yield
        return
    _config._kernels.set_parallel_min_ns(0.0)
    _config._kernels.set_late_thread_guard(1e15, 1.0, 1)
    yield
    _config._kernels.set_parallel_min_ns(PARALLEL_MIN_NS)
    _config._kernels.set_late_thread_guard(*LATE_THREAD_GUARD)
