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


# ---- batchnorm, dropout, rng, pooling

_U64 = (1 << 64) - 1


def _u64_arg(value, name):
    """A seed or counter: an int, taken modulo 2**64 (negative seeds wrap, as in C)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return int(value) & _U64


def _prob_arg(p, name="p"):
    p = _scalar_arg(p, name)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{name} must lie in [0, 1), got {p}")
    return p


def _mask_out(mask, shape):
    if mask is None:
        return np.empty(shape, np.uint8)
    return check_out(mask, "mask", shape, np.dtype(np.uint8))


def _out_like(out, name, shape, dtype):
    if out is None:
        return np.empty(shape, dtype)
    return check_out(out, name, shape, dtype)


def _unalias_from(inputs, given_outputs):
    """inputs, each copied if it overlaps an output the caller passed in (outputs
    allocated here overlap nothing, so a call without out= checks nothing)."""
    if not given_outputs:
        return inputs
    checked = []
    for a in inputs:
        for o in given_outputs:
            if np.may_share_memory(a, o):
                a = a.copy()
                break
        checked.append(a)
    return checked


def _check_mask(mask, shape):
    if not isinstance(mask, np.ndarray) or mask.dtype != np.uint8:
        raise TypeError(f"mask must be the uint8 array dropout_forward returned, got "
                        f"{getattr(mask, 'dtype', type(mask).__name__)}")
    if mask.shape != tuple(shape):
        raise ValueError(f"mask must have shape {tuple(shape)}, got {mask.shape}")
    return np.require(mask, np.uint8, ["C", "A"])


def rng_bits(shape, seed, counter=0, out=None):
    """32 random bits (uint32) per element from Philox4x32-10 keyed by (seed, counter):
    element i's bits depend only on (seed, counter, i), never on threads or ISA."""
    seed = _u64_arg(seed, "seed")
    counter = _u64_arg(counter, "counter")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    out = _out_like(out, "out", shape, np.dtype(np.uint32))
    return _config.backend().rng_bits(out, seed, counter, threads())


def rng_uniform(shape, seed, counter=0, dtype=np.float32, out=None):
    """Uniform floats on [0, 1) in steps of 2**-24: (rng_bits >> 8) * 2**-24."""
    seed = _u64_arg(seed, "seed")
    counter = _u64_arg(counter, "counter")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    out = _out_like(out, "out", shape, dtype)
    return _config.backend().rng_uniform(out, seed, counter, threads())


def dropout_forward(x, p, seed=0, counter=0, out=None, mask=None):
    """Inverted dropout: (y, mask) with mask = (uniform >= p) as uint8 and
    y = x * (mask ? 1/(1-p) : 0). The mask depends only on (seed, counter, element
    index): a layer passes a fresh ``counter`` per call for a fresh mask."""
    x = check_float_array(x, "x")
    p = _prob_arg(p)
    seed = _u64_arg(seed, "seed")
    counter = _u64_arg(counter, "counter")
    given = [a for a in (out, mask) if a is not None and a is not x]  # out=x is in place
    out = _out_like(out, "out", x.shape, x.dtype)
    mask = _mask_out(mask, x.shape)
    (x,) = _unalias_from([x], given)
    return _config.backend().dropout_forward(out, mask, x, p, seed, counter, threads())


def dropout_backward(grad_y, mask, p, out=None):
    """grad_x = grad_y * (mask ? 1/(1-p) : 0), with the forward's mask and p."""
    grad_y = check_float_array(grad_y, "grad_y")
    mask = _check_mask(mask, grad_y.shape)
    p = _prob_arg(p)
    given = [] if out is None else [out]
    out = _out_like(out, "out", grad_y.shape, grad_y.dtype)
    grad_y, mask = _unalias_from([grad_y, mask], [o for o in given if o is not grad_y])  # out=grad_y is in place
    return _config.backend().dropout_backward(out, grad_y, mask, p, threads())


def _bn_vectors(d, dtype, **arrays):
    checked = []
    for name, a in arrays.items():
        a = check_float_array(a, name, ndim=1, dtype=dtype)
        if a.shape != (d,):
            raise ValueError(f"{name} must have shape ({d},), got {a.shape}")
        checked.append(a)
    return checked


def _bn_state(d, dtype, running_mean, running_var):
    """The running statistics are updated in place: they must be writeable arrays
    of the right dtype and shape (checked before anything is written)."""
    check_out(running_mean, "running_mean", (d,), dtype)
    check_out(running_var, "running_var", (d,), dtype)


def _bn_eps(eps):
    eps = _scalar_arg(eps, "eps")
    if not eps > 0 or eps == float("inf"):
        raise ValueError(f"eps must be a positive finite number, got {eps}")
    return eps


def batchnorm_forward_train(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5,
                            out=None, mean=None, rstd=None):
    """BatchNorm training forward over the batch axis of x (N, D): returns (y, mean, rstd)
    and updates running_mean / running_var in place (torch.nn.BatchNorm1d numerics:
    biased variance to normalise, unbiased variance in the running estimate)."""
    x = check_float_array(x, "x", ndim=2)
    n, d = x.shape
    if n < 2:
        raise ValueError(f"BatchNorm training needs more than 1 sample per feature, got a batch of {n} "
                         f"(input shape {x.shape})")
    gamma, beta = _bn_vectors(d, x.dtype, gamma=gamma, beta=beta)
    _bn_state(d, x.dtype, running_mean, running_var)
    momentum = _scalar_arg(momentum, "momentum")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
    eps = _bn_eps(eps)
    given = [a for a in (out, mean, rstd) if a is not None] + [running_mean, running_var]
    out = _out_like(out, "out", x.shape, x.dtype)
    mean = _out_like(mean, "mean", (d,), x.dtype)
    rstd = _out_like(rstd, "rstd", (d,), x.dtype)
    x, gamma, beta = _unalias_from([x, gamma, beta], given)
    return _config.backend().batchnorm_forward_train(out, mean, rstd, running_mean, running_var,
                                                     x, gamma, beta, momentum, eps, threads())


def batchnorm_forward_eval(x, gamma, beta, running_mean, running_var, eps=1e-5, out=None):
    """BatchNorm inference forward: y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta."""
    x = check_float_array(x, "x", ndim=2)
    d = x.shape[1]
    gamma, beta, running_mean, running_var = _bn_vectors(
        d, x.dtype, gamma=gamma, beta=beta, running_mean=running_mean, running_var=running_var)
    eps = _bn_eps(eps)
    given = [] if out is None else [out]
    out = _out_like(out, "out", x.shape, x.dtype)
    x, gamma, beta, running_mean, running_var = _unalias_from([x, gamma, beta, running_mean, running_var], given)
    return _config.backend().batchnorm_forward_eval(out, x, gamma, beta, running_mean, running_var,
                                                    eps, threads())


def batchnorm_backward(grad_y, x, mean, rstd, gamma, training=True, grad_x=None, grad_gamma=None,
                       grad_beta=None):
    """BatchNorm backward in closed form: (grad_x, grad_gamma, grad_beta). ``mean`` and
    ``rstd`` are those the forward returned (training) or the running statistics'
    mean and 1/sqrt(running_var + eps) (training=False)."""
    grad_y = check_float_array(grad_y, "grad_y", ndim=2)
    x = check_float_array(x, "x", ndim=2, dtype=grad_y.dtype)
    if x.shape != grad_y.shape:
        raise ValueError(f"grad_y must have the shape of x {x.shape}, got {grad_y.shape}")
    d = x.shape[1]
    mean, rstd, gamma = _bn_vectors(d, x.dtype, mean=mean, rstd=rstd, gamma=gamma)
    training = _bool_arg(training, "training")
    given = [a for a in (grad_x, grad_gamma, grad_beta) if a is not None]
    grad_x = _out_like(grad_x, "grad_x", x.shape, x.dtype)
    grad_gamma = _out_like(grad_gamma, "grad_gamma", (d,), x.dtype)
    grad_beta = _out_like(grad_beta, "grad_beta", (d,), x.dtype)
    ins = _unalias_from([grad_y, x, mean, rstd, gamma], given)
    return _config.backend().batchnorm_backward(grad_x, grad_gamma, grad_beta, *ins, training, threads())


def _pair(value, name, allow_none=False):
    if value is None and allow_none:
        return None
    vals = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(vals) != 2 or any(isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer))
                             for v in vals):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if any(v < 1 for v in vals):
        raise ValueError(f"{name} must be positive, got {value!r}")
    return int(vals[0]), int(vals[1])


def pool_output_shape(input_shape, kernel_size, stride=None):
    """(N, C, Ho, Wo) of a pooling with no padding: Ho = (H - kh) // sh + 1."""
    if len(input_shape) != 4:
        raise ValueError(f"pooling expects a 4-D input (N, C, H, W), got shape {tuple(input_shape)}")
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(stride, "stride", allow_none=True) or (kh, kw)
    n, c, h, w = input_shape
    if kh > h or kw > w:
        raise ValueError(f"kernel_size {(kh, kw)} is larger than the input's (H, W) = {(h, w)}")
    return (n, c, (h - kh) // sh + 1, (w - kw) // sw + 1), (kh, kw, sh, sw)


def _pool_input(x):
    x = check_float_array(x, "x")
    if x.ndim != 4:
        raise ValueError(f"pooling expects a 4-D input (N, C, H, W), got {x.ndim}-D array of shape {x.shape}")
    return x


def maxpool2d_forward(x, kernel_size, stride=None, out=None, argmax=None):
    """Max pooling on (N, C, H, W): returns (y, argmax), argmax the int32 index
    h * W + w of each window's first maximum in its (H, W) plane (NaN wins)."""
    x = _pool_input(x)
    shape, (kh, kw, sh, sw) = pool_output_shape(x.shape, kernel_size, stride)
    given = [a for a in (out, argmax) if a is not None]
    out = _out_like(out, "out", shape, x.dtype)
    argmax = _out_like(argmax, "argmax", shape, np.dtype(np.int32))
    (x,) = _unalias_from([x], given)
    return _config.backend().maxpool2d_forward(out, argmax, x, kh, kw, sh, sw, threads())


def maxpool2d_backward(grad_y, argmax, input_shape, out=None):
    """grad_x (input_shape) = 0 plus each grad_y element added at its window's argmax."""
    grad_y = check_float_array(grad_y, "grad_y", ndim=4)
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) != 4 or input_shape[:2] != grad_y.shape[:2]:
        raise ValueError(f"input_shape must be (N, C, H, W) with (N, C) = {grad_y.shape[:2]}, got {input_shape}")
    if not isinstance(argmax, np.ndarray) or argmax.dtype != np.int32 or argmax.shape != grad_y.shape:
        raise ValueError(f"argmax must be the int32 array of shape {grad_y.shape} maxpool2d_forward returned")
    argmax = np.require(argmax, np.int32, ["C", "A"])
    plane = input_shape[2] * input_shape[3]
    if argmax.size and (argmax.min() < 0 or argmax.max() >= plane):
        raise ValueError(f"argmax holds indices outside the {input_shape[2:]} plane")
    given = [] if out is None else [out]
    out = _out_like(out, "out", input_shape, grad_y.dtype)
    grad_y, argmax = _unalias_from([grad_y, argmax], given)
    return _config.backend().maxpool2d_backward(out, grad_y, argmax, threads())


def avgpool2d_forward(x, kernel_size, stride=None, out=None):
    """Average pooling on (N, C, H, W), no padding."""
    x = _pool_input(x)
    shape, (kh, kw, sh, sw) = pool_output_shape(x.shape, kernel_size, stride)
    given = [] if out is None else [out]
    out = _out_like(out, "out", shape, x.dtype)
    (x,) = _unalias_from([x], given)
    return _config.backend().avgpool2d_forward(out, x, kh, kw, sh, sw, threads())


def avgpool2d_backward(grad_y, input_shape, kernel_size, stride=None, out=None):
    """grad_x (input_shape): each window's grad_y / (kh * kw) added to all its elements."""
    grad_y = check_float_array(grad_y, "grad_y", ndim=4)
    input_shape = tuple(int(s) for s in input_shape)
    shape, (kh, kw, sh, sw) = pool_output_shape(input_shape, kernel_size, stride)
    if grad_y.shape != shape:
        raise ValueError(f"grad_y must have shape {shape}, got {grad_y.shape}")
    given = [] if out is None else [out]
    out = _out_like(out, "out", input_shape, grad_y.dtype)
    (grad_y,) = _unalias_from([grad_y], given)
    return _config.backend().avgpool2d_backward(out, grad_y, kh, kw, sh, sw, threads())
