"""Process-wide settings: the backend, the thread count and the ISA path.

The thread count is passed into every kernel call (nothing calls
omp_set_num_threads). Until set_num_threads() is called it follows OpenMP's own
default, so OMP_NUM_THREADS and threadpoolctl's limits on our libgomp apply.
"""
import numbers
import os
import warnings

from . import reference

try:
    from . import _kernels
except ImportError as exc:  # no compiled extension: the reference still works
    _kernels = None
    _kernels_error = exc
else:
    _kernels_error = None

BACKENDS = ("c", "reference")
ISAS = ("generic", "avx2", "avx512")

_backend_name = "reference"
_backend_module = reference
_num_threads = None  # None: follow OpenMP's default


def set_backend(name):
    """Select the kernels every layer, loss and optimizer uses: "c" or "reference"."""
    global _backend_name, _backend_module
    if name not in BACKENDS:
        raise ValueError(f"Unknown backend {name!r}; expected one of {BACKENDS}")
    if name == "c":
        if _kernels is None:
            raise RuntimeError(
                f"The C backend is not available (the compiled extension failed to "
                f"import: {_kernels_error}); use set_backend('reference')"
            )
        _backend_module = _kernels
    else:
        _backend_module = reference
    _backend_name = name


def get_backend():
    """The active backend's name: "c" or "reference"."""
    return _backend_name


def backend():
    """The active backend module (fastmlp._kernels or fastmlp.reference)."""
    return _backend_module


def set_num_threads(n):
    """Use n threads in every kernel from now on (n >= 1)."""
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"set_num_threads expected a positive int, got {type(n).__name__}")
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads expected a positive int, got {n}")
    _num_threads = n


def get_num_threads():
    """Threads the kernels use: set_num_threads()'s value, else OpenMP's default."""
    if _num_threads is not None:
        return _num_threads
    if _kernels is not None:
        return _kernels.omp_max_threads()
    return os.cpu_count() or 1


def _after_fork_in_child():
    # libgomp cannot start a parallel region in a child forked after one ran:
    # the child computes serially unless it asks for threads again.
    global _num_threads
    _num_threads = 1


def set_isa(name):
    """Force an instruction-set path for the C kernels (at most what the CPU has)."""
    if name not in ISAS:
        raise ValueError(f"Unknown ISA {name!r}; expected one of {ISAS}")
    if _kernels is None:
        raise RuntimeError("The C backend is not available; there is no ISA to select")
    if not _kernels.isa_set(name):
        raise ValueError(
            f"This CPU cannot run the {name!r} path; the best it supports is "
            f"{_kernels.isa_best()!r}"
        )


def get_isa():
    return _kernels.isa_active() if _kernels is not None else "none"


def _init_from_environment():
    name = os.environ.get("FASTMLP_BACKEND", "").strip().lower()
    if name:
        set_backend(name)
    elif _kernels is not None:
        set_backend("c")
    else:
        warnings.warn(
            f"fastmlp: the compiled extension is unavailable ({_kernels_error}); "
            "running on the numpy reference backend",
            RuntimeWarning,
            stacklevel=3,
        )
    isa = os.environ.get("FASTMLP_ISA", "").strip().lower()
    if isa and _kernels is not None:
        set_isa(isa)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
