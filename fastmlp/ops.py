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

def check_float_array(x, name, ndim=None, dtype=None, layout=True):
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
    if layout and not (arr.flags.c_contiguous and arr.flags.aligned):
        arr = np.require(arr, arr.dtype, ["C", "A"])
    return arr


def as_c_layout(arr):
    """A checked array made C-contiguous and aligned (the one copy, after the shape checks)."""
    return arr if arr.flags.c_contiguous and arr.flags.aligned else np.require(arr, arr.dtype, ["C", "A"])


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
    if _config._backend_module is _config._kernels is not None:
        # small products: one native call checks and computes the common case
        done = _config._kernels.gemm_fast(a, b, out, alpha, beta, trans_a, trans_b, threads())
        if done is not None:
            return done
    # shapes are checked before any layout copy (a strided view may be huge)
    a = check_float_array(a, "a", ndim=2, layout=False)
    b = check_float_array(b, "b", ndim=2, dtype=a.dtype, layout=False)
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
    a, b = as_c_layout(a), as_c_layout(b)
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
        rows = int(np.prod(x.shape[:-1]))  # not -1: that fails for an empty last axis
        x2 = x.reshape(rows, c)
        be.softmax_forward(out.reshape(rows, c), x2, threads())
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
        rows = int(np.prod(y.shape[:-1]))  # not -1: that fails for an empty last axis
        be.softmax_backward(out.reshape(rows, c), dy.reshape(rows, c), y.reshape(rows, c), threads())
    else:
        be.activation_backward(out, dy, y, name, param, threads())
    return out


def _check_dense(x, W, b):
    # shapes are checked before any layout copy (a strided view may be huge)
    x = check_float_array(x, "x", ndim=2, layout=False)
    W = check_float_array(W, "W", ndim=2, dtype=x.dtype, layout=False)
    if W.shape[0] != x.shape[1]:
        raise ValueError(
            f"dense: W must have shape ({x.shape[1]}, out) to match x of shape {x.shape}, got {W.shape}")
    if b is not None:
        b = check_float_array(b, "b", ndim=1, dtype=x.dtype)
        if b.shape[0] != W.shape[1]:
            raise ValueError(f"dense: b must have shape ({W.shape[1]},) to match W of shape {W.shape}, got {b.shape}")
    return as_c_layout(x), as_c_layout(W), b


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


# ---- input checks

def all_finite(x):
    """True when every element of the float array x is finite (no NaN or Inf),
    in one pass without a temporary the size of x (see reference.all_finite)."""
    x = check_float_array(x, "x")
    return bool(_config.backend().all_finite(x, threads()))
