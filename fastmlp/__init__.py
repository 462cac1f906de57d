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

from . import callbacks, data, datasets, init, layers, losses, optim  # noqa: E402
from .model import MLP, Sequential, load  # noqa: E402


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
