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


# ---- dense, activations, losses, penalties

ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softmax")
ACTIVATION_DEFAULT_PARAM = {"leaky_relu": 0.01, "elu": 1.0}


def check_activation(name, param=None):
    """(name, param) checked: a known activation name and a finite real param
    (LeakyReLU's negative_slope, ELU's alpha, both >= 0; ignored by the others)."""
    if name is None:
        name = "identity"
    if not isinstance(name, str):
        raise TypeError(f"activation must be a str, got {type(name).__name__}")
    if name not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}; expected one of {ACTIVATIONS}")
    if param is None:
        return name, ACTIVATION_DEFAULT_PARAM.get(name, 0.0)
    param = _scalar_arg(param, "activation parameter")
    if not np.isfinite(param) or (name in ACTIVATION_DEFAULT_PARAM and param < 0):
        raise ValueError(f"activation parameter of {name} must be finite and >= 0, got {param}")
    return name, param


def _out(out, name, shape, dtype, *inputs):
    if out is None:
        return np.empty(shape, dtype), inputs
    check_out(out, name, shape, dtype)
    return out, tuple(None if a is None else unalias(a, out) for a in inputs)


def activation_forward(x, name, param=None, out=None):
    """y = act(x): element-wise for sigmoid, tanh, relu, leaky_relu (param =
    negative_slope, default 0.01), elu (param = alpha, default 1.0) and identity;
    softmax over the last axis. ``out`` (same shape and dtype as x) is written in
    place and returned; it may be x itself."""
    x = check_float_array(x, "x")
    name, param = check_activation(name, param)
    if out is None:
        out = np.empty(x.shape, x.dtype)
    else:
        check_out(out, "out", x.shape, x.dtype)
    be = _config.backend()
    if name == "softmax":
        if x.ndim == 0:
            raise ValueError("softmax needs at least a 1-D input")
        c = x.shape[-1]
        x2 = x.reshape(-1, c)
        be.softmax_forward(out.reshape(-1, c), x2, threads())
    else:
        be.activation_forward(out, x, name, param, threads())  # element-wise: any shape
    return out


def activation_backward(dy, y, name, param=None, out=None):
    """dx = dL/dx of y = act(x) from dL/dy and the forward's output y (same shapes).
    ``out`` may be dy itself."""
    y = check_float_array(y, "y")
    dy = check_float_array(dy, "dy", dtype=y.dtype)
    if dy.shape != y.shape:
        raise ValueError(f"dy must have the shape of y {y.shape}, got {dy.shape}")
    name, param = check_activation(name, param)
    if out is None:
        out = np.empty(y.shape, y.dtype)
    else:
        check_out(out, "out", y.shape, y.dtype)
        y = unalias(y, out)
    be = _config.backend()
    if name == "softmax":
        if y.ndim == 0:
            raise ValueError("softmax needs at least a 1-D input")
        c = y.shape[-1]
        be.softmax_backward(out.reshape(-1, c), dy.reshape(-1, c), y.reshape(-1, c), threads())
    else:
        be.activation_backward(out, dy, y, name, param, threads())
    return out


def _check_dense(x, W, b):
    x = check_float_array(x, "x", ndim=2)
    W = check_float_array(W, "W", ndim=2, dtype=x.dtype)
    if W.shape[0] != x.shape[1]:
        raise ValueError(
            f"dense: W must have shape ({x.shape[1]}, out) to match x of shape {x.shape}, got {W.shape}")
    if b is not None:
        b = check_float_array(b, "b", ndim=1, dtype=x.dtype)
        if b.shape[0] != W.shape[1]:
            raise ValueError(f"dense: b must have shape ({W.shape[1]},) to match W of shape {W.shape}, got {b.shape}")
    return x, W, b


def dense_forward(x, W, b=None, activation=None, act_param=None, out=None):
    """y = act(x @ W + b) with x (N, in), W (in, out), b (out,) or None; the bias and
    an element-wise activation run in the GEMM's epilogue (softmax runs after it)."""
    x, W, b = _check_dense(x, W, b)
    act, param = check_activation(activation, act_param)
    shape = (x.shape[0], W.shape[1])
    if out is None:
        out = np.empty(shape, x.dtype)
    else:
        check_out(out, "out", shape, x.dtype)
        x, W = unalias(x, out), unalias(W, out)
        b = None if b is None else unalias(b, out)
    be = _config.backend()
    if act == "softmax":
        be.dense_forward(out, x, W, b, "identity", 0.0, threads())
        be.softmax_forward(out, out, threads())
    else:
        be.dense_forward(out, x, W, b, act, param, threads())
    return out


def dense_backward(dy, x, W, y=None, activation=None, act_param=None, need_dx=True, bias=True,
                   dx=None, dW=None, db=None, dz=None):
    """Gradients of y = act(x @ W + b) given dy = dL/dy: returns (dx, dW, db).

    With an activation, y (the forward's output) is needed and dz = dL/d(xW+b) is
    formed first (in ``dz`` when given, an (N, out) scratch). dx is None when
    ``need_dx`` is false (a first layer), db is None when ``bias`` is false.
    ``dx``, ``dW``, ``db`` may be given to be overwritten in place.
    """
    x, W, _ = _check_dense(x, W, None)
    n, d_out = x.shape[0], W.shape[1]
    dy = check_float_array(dy, "dy", ndim=2, dtype=x.dtype)
    if dy.shape != (n, d_out):
        raise ValueError(f"dense_backward: dy must have shape {(n, d_out)}, got {dy.shape}")
    act, param = check_activation(activation, act_param)
    need_dx = _bool_arg(need_dx, "need_dx")
    bias = _bool_arg(bias, "bias")
    if act != "identity":
        if y is None:
            raise ValueError(f"dense_backward with activation {act!r} needs the forward output y")
        y = check_float_array(y, "y", ndim=2, dtype=x.dtype)
        if y.shape != (n, d_out):
            raise ValueError(f"dense_backward: y must have shape {(n, d_out)}, got {y.shape}")
        if dz is None:
            dz = np.empty((n, d_out), x.dtype)
        else:
            check_out(dz, "dz", (n, d_out), x.dtype)
    else:
        y, dz = None, None
    outs = []
    if need_dx:
        dx = np.empty(x.shape, x.dtype) if dx is None else check_out(dx, "dx", x.shape, x.dtype)
        outs.append(dx)
    else:
        dx = None
    dW = np.empty(W.shape, x.dtype) if dW is None else check_out(dW, "dW", W.shape, x.dtype)
    outs.append(dW)
    if bias:
        db = np.empty((d_out,), x.dtype) if db is None else check_out(db, "db", (d_out,), x.dtype)
        outs.append(db)
    else:
        db = None
    if dz is not None:
        outs.append(dz)
    for o in outs:
        dy, x, W = unalias(dy, o), unalias(x, o), unalias(W, o)
        if y is not None:
            y = unalias(y, o)
    be = _config.backend()
    if act == "softmax":
        be.softmax_backward(dz, dy, y, threads())
        be.dense_backward(dx, dW, db, None, dz, x, W, None, "identity", 0.0, threads())
    else:
        be.dense_backward(dx, dW, db, dz, dy, x, W, y, act, param, threads())
    return dx, dW, db


def _loss_grad(grad, shape, dtype, need_grad):
    if not _bool_arg(need_grad, "need_grad"):
        return None
    if grad is None:
        return np.empty(shape, dtype)
    return check_out(grad, "grad", shape, dtype)


def _float_target(target, name, output):
    """target as a float array of output's dtype and shape (converted once; integer
    targets, e.g. 0/1 for BCE or counts for MSE, are taken as their float values)."""
    if isinstance(target, np.ndarray) and target.dtype.kind in "iu":
        target = target.astype(output.dtype)
    t = check_float_array(target, name)
    if t.shape != output.shape:
        raise ValueError(f"{name} must have the shape of the output {output.shape}, got shape {t.shape}")
    if t.dtype != output.dtype:
        t = t.astype(output.dtype)
    return t


def softmax_cross_entropy(logits, labels_or_probs, grad=None, need_grad=True):
    """Fused softmax + cross-entropy, mean over the batch: returns (loss, grad).

    logits (N, C); the target is integer labels (N,) in [0, C) or class
    probabilities (N, C). grad = dL/dlogits = (softmax - target)/N (for
    probabilities: (softmax * rowsum(target) - target)/N), None when not need_grad.
    """
    logits = check_float_array(logits, "logits", ndim=2)
    n, c = logits.shape
    t = labels_or_probs
    if not isinstance(t, np.ndarray):
        t = np.asarray(t)
    if t.dtype.kind in "iu":
        if t.shape != (n,):
            raise ValueError(f"labels must have shape ({n},) to match logits of shape {logits.shape}, got shape {t.shape}")
        if t.dtype != np.int64 or not t.flags.c_contiguous:
            t = np.ascontiguousarray(t, dtype=np.int64)
        kind = "labels"
    else:
        if t.dtype.kind == "f" and t.shape != (n, c):
            raise ValueError(
                f"target must be integer labels of shape ({n},) or probabilities of shape ({n}, {c}), "
                f"got {t.dtype} array of shape {t.shape}")
        t = _float_target(t, "target", logits)
        kind = "probs"
    grad = _loss_grad(grad, logits.shape, logits.dtype, need_grad)
    if grad is not None:
        logits, t = unalias(logits, grad), unalias(t, grad)
    be = _config.backend()
    if kind == "labels":
        return be.softmax_cross_entropy(grad, logits, t, threads())
    return be.softmax_cross_entropy_probs(grad, logits, t, threads())


def kl_div(logits, target, grad=None, need_grad=True):
    """KL(target || softmax(logits)), mean over the batch: returns (loss, grad).

    Like PyTorch's ``KLDivLoss(reduction="batchmean")(log_softmax(logits), target)``:
    the model's raw outputs (logits, N x C) against a target distribution (N, C).
    """
    logits = check_float_array(logits, "logits", ndim=2)
    t = _float_target(target, "target", logits)
    grad = _loss_grad(grad, logits.shape, logits.dtype, need_grad)
    if grad is not None:
        logits, t = unalias(logits, grad), unalias(t, grad)
    return _config.backend().kl_div(grad, logits, t, threads())


def mse(output, target, grad=None, need_grad=True):
    """Mean squared error over all elements: returns (loss, grad = 2 (output - target) / size)."""
    output = check_float_array(output, "output")
    t = _float_target(target, "target", output)
    grad = _loss_grad(grad, output.shape, output.dtype, need_grad)
    if grad is not None:
        output, t = unalias(output, grad), unalias(t, grad)
    return _config.backend().mse(grad, output, t, threads())


def bce_with_logits(logits, target, grad=None, need_grad=True):
    """Binary cross-entropy on logits, mean over all elements: returns (loss, grad =
    (sigmoid(logits) - target) / size); stable for any finite logits."""
    logits = check_float_array(logits, "logits")
    t = _float_target(target, "target", logits)
    grad = _loss_grad(grad, logits.shape, logits.dtype, need_grad)
    if grad is not None:
        logits, t = unalias(logits, grad), unalias(t, grad)
    return _config.backend().bce_with_logits(grad, logits, t, threads())


def penalty(grad, w, l1=0.0, l2=0.0):
    """Adds the gradient of l1 * sum|w| + (l2/2) * sum w^2 to ``grad`` in place and
    returns that penalty's value. l1, l2 >= 0 (l2 is PyTorch's weight_decay)."""
    w = check_float_array(w, "w")
    check_out(grad, "grad", w.shape, w.dtype)
    l1 = _scalar_arg(l1, "l1")
    l2 = _scalar_arg(l2, "l2")
    if not (l1 >= 0 and l2 >= 0 and np.isfinite(l1) and np.isfinite(l2)):
        raise ValueError(f"l1 and l2 must be finite and >= 0, got l1={l1}, l2={l2}")
    if l1 == 0 and l2 == 0:
        return 0.0
    w = unalias(w, grad)
    return _config.backend().penalty(grad, w, l1, l2, threads())
