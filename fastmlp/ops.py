"""The kernels as functions on numpy arrays, dispatched to the active backend.

Everything a kernel may assume is established here, before the backend switch,
so both backends raise identical errors: argument types and dtypes, shapes,
C-contiguous and aligned layout (converted once, never silently per step),
outputs that are writeable and do not overlap the inputs, and the thread count.
"""
import numpy as np

from . import _config

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# -------------------------------------------------------------------- checks

def check_float_array(x, name, ndim=None, dtype=None):
    """x as an aligned C-contiguous float32/float64 ndarray (copied only if needed).

    Lists and other array-likes are accepted; integer, bool, complex, object and
    string data are refused rather than guessed at. ``dtype`` pins the dtype that
    must come (another float dtype is an error, not a silent cast).
    """
    if isinstance(x, np.ndarray):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be a float32 or float64 array, got {type(x).__name__}") from exc
    if arr.dtype not in FLOAT_DTYPES:
        if dtype is None and arr.dtype.kind in "iu" and not isinstance(x, np.ndarray):
            arr = arr.astype(np.float64)
        else:
            expected = "float32 or float64" if dtype is None else np.dtype(dtype).name
            raise TypeError(f"{name} must be a {expected} array, got dtype {arr.dtype}")
    if dtype is not None and arr.dtype != np.dtype(dtype):
        raise TypeError(f"{name} must have dtype {np.dtype(dtype).name}, got {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got {arr.ndim}-D array of shape {arr.shape}")
    if not (arr.flags.c_contiguous and arr.flags.aligned):
        arr = np.require(arr, arr.dtype, ["C", "A"])
    return arr


def check_out(out, name, shape, dtype):
    """A caller-supplied output: exactly the shape and dtype, C-contiguous, aligned,
    writeable (an output cannot be converted, since the caller keeps the original)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype).name}, got {out.dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {out.shape}")
    if not (out.flags.c_contiguous and out.flags.aligned):
        raise ValueError(f"{name} must be C-contiguous and aligned")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    return out


def unalias(x, out):
    """x, copied if it shares memory with out (kernels read inputs while writing)."""
    return x.copy() if np.may_share_memory(x, out) else x


def threads():
    return _config.get_num_threads()


def _bool_arg(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def _scalar_arg(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


# ---------------------------------------------------------------------- GEMM

def gemm(a, b, out=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """out = alpha * op(a) @ op(b) + beta * out, row-major, float32 or float64.

    op(x) is x.T when trans_x. ``a`` and ``b`` must share a dtype; ``out`` (when
    given) has it too and is written in place and returned; with beta == 0 its
    old contents are never read. Without ``out`` a new array is returned.
    """
    a = check_float_array(a, "a", ndim=2)
    b = check_float_array(b, "b", ndim=2, dtype=a.dtype)
    trans_a = _bool_arg(trans_a, "trans_a")
    trans_b = _bool_arg(trans_b, "trans_b")
    alpha = _scalar_arg(alpha, "alpha")
    beta = _scalar_arg(beta, "beta")
    m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
    k_b, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if k != k_b:
        raise ValueError(
            f"gemm: inner dimensions differ: op(a) is {m}x{k}, op(b) is {k_b}x{n} "
            f"(trans_a={trans_a}, trans_b={trans_b})"
        )
    if out is None:
        out = np.empty((m, n), dtype=a.dtype)
        beta = 0.0
    else:
        check_out(out, "out", (m, n), a.dtype)
        a = unalias(a, out)
        b = unalias(b, out)
    return _config.backend().gemm(out, a, b, alpha, beta, trans_a, trans_b, threads())


# ------------------------------------------------------------ kernel families
