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


# ---- optimizers and clipping

def check_param_list(params, name="params"):
    """params as a list of float32/float64 ndarrays that can be updated in place
    (C-contiguous, aligned, writeable, no two sharing memory)."""
    if not isinstance(params, (list, tuple)):
        raise TypeError(f"{name} must be a list of numpy arrays, got {type(params).__name__}")
    params = list(params)
    for i, p in enumerate(params):
        if not isinstance(p, np.ndarray):
            raise TypeError(f"{name}[{i}] must be a numpy array (it is updated in place), "
                            f"got {type(p).__name__}")
        if p.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{name}[{i}] must be a float32 or float64 array, got dtype {p.dtype}")
        if not (p.flags.c_contiguous and p.flags.aligned):
            raise ValueError(f"{name}[{i}] must be C-contiguous and aligned (it is updated in place)")
        if not p.flags.writeable:
            raise ValueError(f"{name}[{i}] is read-only")
    for i in range(len(params)):
        for j in range(i):
            if np.may_share_memory(params[i], params[j]):
                raise ValueError(f"{name}[{j}] and {name}[{i}] share memory")
    return params


def check_grad_list(grads, params, name="grads"):
    """grads as a list aligned with params: same count, each of its param's dtype
    and shape (array-likes and other layouts are converted; a grad overlapping a
    param other than exactly its own is copied)."""
    if not isinstance(grads, (list, tuple)):
        raise TypeError(f"{name} must be a list of arrays, got {type(grads).__name__}")
    if len(grads) != len(params):
        raise ValueError(f"expected one gradient per parameter: got {len(grads)} {name} "
                         f"for {len(params)} params")
    out = []
    for i, (g, p) in enumerate(zip(grads, params)):
        g = check_float_array(g, f"{name}[{i}]", dtype=p.dtype)
        if g.shape != p.shape:
            raise ValueError(f"{name}[{i}] must have the shape of params[{i}], {p.shape}, got {g.shape}")
        for k, q in enumerate(params):
            if np.may_share_memory(g, q) and not (k == i and g.ctypes.data == q.ctypes.data):
                g = g.copy()
                break
        out.append(g)
    return out


def check_state_list(states, params, names, first=0):
    """Optimizer state arrays (slot lists aligned with params, which start at
    position ``first``) match the params in dtype and shape."""
    for slot, name in zip(states, names):
        if slot is None:
            continue
        if len(slot) != len(params):
            raise ValueError(f"the optimizer's state has {len(slot)} positions, got {len(params)} params")
        for i, (s, p) in enumerate(zip(slot, params), first):
            if s.shape != p.shape or s.dtype != p.dtype:
                raise ValueError(
                    f"params[{i}] is {p.dtype} of shape {p.shape} but the optimizer's {name} at "
                    f"position {i} is {s.dtype} of shape {s.shape} (state is kept per position)")


def optim_plan(params, grads, states):
    """The active backend's OptimPlan for checked lists (see _kernels.OptimPlan)."""
    return _config.backend().OptimPlan(list(params), list(grads), list(states))


def _state_slot(states, params, name):
    if states is None:
        return None
    states = check_param_list(states, name)
    check_state_list([states], params, [name])
    return states


def sgd_update(params, grads, momentum_buffers=None, lr=0.01, momentum=0.0, dampening=0.0,
               weight_decay=0.0, nesterov=False, first=False):
    """One SGD step over a list of arrays, in place (see reference.sgd_update).

    momentum_buffers (a list like params) is needed when momentum != 0; with
    first=True they are set to the gradient (torch's first step)."""
    params = check_param_list(params)
    grads = check_grad_list(grads, params)
    args = [_scalar_arg(v, n) for v, n in ((lr, "lr"), (momentum, "momentum"),
                                          (dampening, "dampening"), (weight_decay, "weight_decay"))]
    nesterov, first = _bool_arg(nesterov, "nesterov"), _bool_arg(first, "first")
    if args[1] != 0 and momentum_buffers is None:
        raise ValueError("sgd_update with momentum needs momentum_buffers")
    bufs = _state_slot(momentum_buffers, params, "momentum_buffers")
    _config.backend().sgd_update(params, bufs, grads, *args, nesterov, first, threads())
    return params


def adagrad_update(params, grads, state_sums, clr=0.01, eps=1e-10, weight_decay=0.0):
    """One Adagrad step over a list of arrays, in place (see reference.adagrad_update)."""
    params = check_param_list(params)
    grads = check_grad_list(grads, params)
    sums = _state_slot(state_sums, params, "state_sums")
    if sums is None:
        raise ValueError("adagrad_update needs state_sums")
    _config.backend().adagrad_update(params, sums, grads, _scalar_arg(clr, "clr"),
                                     _scalar_arg(eps, "eps"),
                                     _scalar_arg(weight_decay, "weight_decay"), threads())
    return params


def rmsprop_update(params, grads, square_avgs, momentum_buffers=None, grad_avgs=None, lr=0.01,
                   alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0, centered=False):
    """One RMSprop step over a list of arrays, in place (see reference.rmsprop_update)."""
    params = check_param_list(params)
    grads = check_grad_list(grads, params)
    sq = _state_slot(square_avgs, params, "square_avgs")
    bufs = _state_slot(momentum_buffers, params, "momentum_buffers")
    avgs = _state_slot(grad_avgs, params, "grad_avgs")
    momentum = _scalar_arg(momentum, "momentum")
    centered = _bool_arg(centered, "centered")
    if sq is None or (momentum > 0 and bufs is None) or (centered and avgs is None):
        raise ValueError("rmsprop_update needs square_avgs, momentum_buffers when momentum > 0 "
                         "and grad_avgs when centered")
    _config.backend().rmsprop_update(params, sq, bufs, avgs, grads, _scalar_arg(lr, "lr"),
                                     _scalar_arg(alpha, "alpha"), _scalar_arg(eps, "eps"),
                                     momentum, _scalar_arg(weight_decay, "weight_decay"),
                                     centered, threads())
    return params


def adam_update(params, grads, exp_avgs, exp_avg_sqs, step, lr=0.001, betas=(0.9, 0.999),
                eps=1e-8, weight_decay=0.0, decoupled=False):
    """One Adam (AdamW when decoupled) step, in place; step counts this update
    from 1 (see reference.adam_update)."""
    params = check_param_list(params)
    grads = check_grad_list(grads, params)
    m = _state_slot(exp_avgs, params, "exp_avgs")
    v = _state_slot(exp_avg_sqs, params, "exp_avg_sqs")
    if m is None or v is None:
        raise ValueError("adam_update needs exp_avgs and exp_avg_sqs")
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"step must be an int >= 1, got {step!r}")
    beta1, beta2 = (_scalar_arg(b, "betas") for b in betas)
    _config.backend().adam_update(params, m, v, grads, _scalar_arg(lr, "lr"), beta1, beta2,
                                  _scalar_arg(eps, "eps"), _scalar_arg(weight_decay, "weight_decay"),
                                  _bool_arg(decoupled, "decoupled"), int(step), threads())
    return params


def grad_norm(grads):
    """The global L2 norm of a list of float arrays, as a float (see reference.grad_norm)."""
    grads = [check_float_array(g, f"grads[{i}]") for i, g in enumerate(_as_list(grads))]
    return float(_config.backend().grad_norm(grads, threads()))


def grad_scale(grads, scale):
    """grads *= scale in place, for a list of float arrays."""
    grads = check_param_list(_as_list(grads), "grads")
    _config.backend().grad_scale(grads, _scalar_arg(scale, "scale"), threads())
    return grads


def grad_clamp(grads, lo, hi):
    """grads = clamp(grads, lo, hi) in place, NaN kept, for a list of float arrays."""
    grads = check_param_list(_as_list(grads), "grads")
    _config.backend().grad_clamp(grads, _scalar_arg(lo, "lo"), _scalar_arg(hi, "hi"), threads())
    return grads


def _as_list(arrays):
    if isinstance(arrays, np.ndarray):
        return [arrays]
    if not isinstance(arrays, (list, tuple)):
        raise TypeError(f"expected a list of arrays, got {type(arrays).__name__}")
    return list(arrays)
