"""fastmlp: fast fully-connected neural networks on the CPU.

C kernels with OpenMP and runtime-dispatched SIMD behind a small numpy API, with a
pure-numpy reference of every kernel as fallback backend and test oracle.
"""
import os as _os

# libgomp reads its settings once, when it is loaded (with our extension, just
# below). Idle OpenMP threads spin for a long time by default, which starves a
# BLAS or another process sharing the cores; keep the spin short unless the
# user's environment says otherwise.
if "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ:
    _os.environ["GOMP_SPINCOUNT"] = "20000"

from ._version import __version__  # noqa: E402
from . import _config  # noqa: E402
from ._config import get_backend, get_num_threads, set_backend, set_num_threads  # noqa: E402
from . import ops, reference  # noqa: E402

_config._init_from_environment()

from . import callbacks, data, datasets, layers  # noqa: E402

# The model needs the layer, loss and optimizer modules; until every one of them is
# part of the tree they are imported on first use (PEP 562).
_LAZY_MODULES = ("losses", "optim", "init", "model", "cli")
_LAZY_NAMES = {"Sequential": "model", "MLP": "model", "load": "model"}


def __getattr__(name):
    import importlib

    if name in _LAZY_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def show_config(file=None):
    """Print (and return as a dict) version, backend, OpenMP, threads and SIMD path."""
    import platform
    import sys

    import numpy as np

    kern = _config._kernels
    info = {
        "version": __version__,
        "backend": get_backend(),
        "extension": "available" if kern is not None else f"missing ({_config._kernels_error})",
        "openmp": bool(kern is not None and kern.openmp_enabled()),
        "num_threads": get_num_threads(),
        "isa": _config.get_isa(),
        "isa_best": kern.isa_best() if kern is not None else "none",
        "gemm_f32": kern.gemm_info(False)["kernel"] if kern is not None else "numpy",
        "gemm_f64": kern.gemm_info(True)["kernel"] if kern is not None else "numpy",
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
    }
    out = file if file is not None else sys.stdout
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key:<{width}} : {value}", file=out)
    return info


__all__ = [
    "__version__",
    "show_config",
    "set_num_threads",
    "get_num_threads",
    "set_backend",
    "get_backend",
    "ops",
    "reference",
    "Sequential",
    "MLP",
    "load",
    "layers",
    "losses",
    "optim",
    "init",
    "callbacks",
    "data",
    "datasets",
]
