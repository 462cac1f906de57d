"""The pure-numpy reference of every C kernel.

Each function mirrors a C kernel one-to-one: the same name without ``fm_`` and
the dtype suffix, the same argument order (outputs first, then inputs, then
hyperparameters), sizes taken from the arrays' shapes. It writes into the given
outputs and returns them. It is the fallback backend (``set_backend("reference")``)
and the oracle the tests hold the C kernels to, so it is written as the clearest
numpy, with the math in each docstring. ``n_threads`` is accepted so both
backends are called alike; numpy decides its own threading.
"""
import numpy as np


# ---------------------------------------------------------------------- GEMM

def gemm(c, a, b, alpha, beta, trans_a, trans_b, n_threads=None):
    """C = alpha * op(A) @ op(B) + beta * C, with op(X) = X.T when trans_x.

    As in BLAS, C is not read when beta == 0 (NaN in C does not propagate), and
    when alpha == 0 or k == 0 the product is not formed: C = beta * C.
    """
    op_a = a.T if trans_a else a
    op_b = b.T if trans_b else b
    k = op_a.shape[1]
    if alpha == 0 or k == 0:
        if beta == 0:
            c[...] = 0
        else:
            c *= c.dtype.type(beta)
        return c
    prod = np.matmul(op_a, op_b)
    if alpha != 1:
        prod *= c.dtype.type(alpha)
    if beta == 0:
        c[...] = prod
    else:
        c *= c.dtype.type(beta)
        c += prod
    return c


# ------------------------------------------------------------ kernel families


# ---- dense, activations, losses, penalties

ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu")


def _sigmoid(x):
    # exp(-|x|) never overflows: 1/(1+e) for x >= 0, e/(1+e) below
    e = np.exp(-np.abs(x))
    r = 1 / (1 + e)
    return np.where(x >= 0, r, e * r)


def _act(x, act, param):
    t = x.dtype.type
    if act == "identity":
        return x
    if act == "sigmoid":
        return _sigmoid(x)
    if act == "tanh":
        return np.tanh(x)
    if act == "relu":
        return np.maximum(x, t(0))
    if act == "leaky_relu":
        return np.where(x > 0, x, x * t(param))
    if act == "elu":
        return np.where(x > 0, x, t(param) * np.expm1(np.minimum(x, t(0))))
    raise ValueError(f"unknown activation {act!r}")


def _act_grad(dy, y, act, param):
    """dL/dx from dL/dy and the activation's output y (never its input)."""
    t = y.dtype.type
    if act == "identity":
        return dy
    if act == "sigmoid":
        return dy * (y * (t(1) - y))
    if act == "tanh":
        return dy * (t(1) - y * y)
    if act == "relu":
        return np.where(y <= 0, t(0), dy)
    if act == "leaky_relu":
        return dy * np.where(y <= 0, t(param), t(1))
    if act == "elu":
        return dy * np.where(y <= 0, y + t(param), t(1))
    raise ValueError(f"unknown activation {act!r}")


def activation_forward(y, x, act, param, n_threads=None):
    """y = act(x) element-wise, for act in ACTIVATIONS.

    sigmoid(x) = 1 / (1 + exp(-x)), formed from e = exp(-|x|) so it never overflows;
    tanh; relu(x) = max(x, 0) (NaN stays NaN); leaky_relu(x) = x if x > 0 else
    param * x; elu(x) = x if x > 0 else param * expm1(x); identity(x) = x.
    """
    y[...] = _act(x, act, param)
    return y


def activation_backward(dx, dy, y, act, param, n_threads=None):
    """dx = dy * act'(x), written with the output y = act(x):

    sigmoid: y (1 - y); tanh: 1 - y^2; relu: 0 where y <= 0 else 1 (so 0 at x = 0);
    leaky_relu: param where y <= 0 else 1; elu: y + param where y <= 0 else 1.
    (leaky_relu and elu need param >= 0 for y <= 0 to mean x <= 0; the layers check it.)
    """
    dx[...] = _act_grad(dy, y, act, param)
    return dx


def softmax_forward(y, x, n_threads=None):
    """y[i] = exp(x[i] - max x[i]) / sum_j exp(x[i, j] - max x[i]), over the last axis of (N, C)."""
    with np.errstate(over="ignore"):  # x - max below -huge is -inf: its exp is exactly 0
        z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    y[...] = e / e.sum(axis=1, keepdims=True)
    return y


def softmax_backward(dx, dy, y, n_threads=None):
    """dx[i] = y[i] * (dy[i] - <dy[i], y[i]>), the softmax Jacobian-vector product."""
    dx[...] = y * (dy - (dy * y).sum(axis=1, keepdims=True))
    return dx


def dense_forward(y, x, W, b, act, param, n_threads=None):
    """y = act(x @ W + b): x (N, in), W (in, out), b (out,) or None; act as in activation_forward."""
    z = np.matmul(x, W)
    if b is not None:
        z += b
    y[...] = _act(z, act, param)
    return y


def dense_backward(dx, dW, db, dz, dy, x, W, y, act, param, n_threads=None):
    """Gradients of y = act(x @ W + b) given dy = dL/dy:

    dz = dy * act'(.) (from the output y; skipped for identity, then dz is dy),
    dx = dz @ W.T, dW = x.T @ dz, db = sum_i dz[i]. dx and db may be None (not
    wanted); dz is a caller-supplied (N, out) scratch, None when act is identity.
    """
    if act != "identity":
        dz[...] = _act_grad(dy, y, act, param)
        g = dz
    else:
        g = dy
    if dx is not None:
        np.matmul(g, W.T, out=dx)
    np.matmul(x.T, g, out=dW)
    if db is not None:
        db[...] = g.sum(axis=0)
    return dx, dW, db


def _log_softmax(z):
    m = z.max(axis=1, keepdims=True)
    with np.errstate(over="ignore"):
        s = z - m
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


def label_error(labels, i, c):
    """The message both backends raise for a label outside [0, C)."""
    return f"labels out of range: labels[{i}] = {int(labels[i])}, expected 0 <= label < {c}"


def softmax_cross_entropy(grad, logits, labels, n_threads=None):
    """Mean cross-entropy of softmax(logits) against integer labels (N,):

    loss = (1/N) sum_i [logsumexp(z_i) - z_i[y_i]], grad = (softmax(z) - onehot(y)) / N.
    grad may be None (loss only). Returns (loss, grad).
    """
    n, c = logits.shape
    bad = np.flatnonzero((labels < 0) | (labels >= c))
    if bad.size:
        raise ValueError(label_error(labels, bad[0], c))
    lp = _log_softmax(logits.astype(np.float64, copy=False))
    rows = np.arange(n)
    loss = float(-lp[rows, labels].sum() / n) if n else 0.0
    if grad is not None:
        p = np.exp(lp)
        p[rows, labels] -= 1
        grad[...] = p / n
    return loss, grad


def softmax_cross_entropy_probs(grad, logits, target, n_threads=None):
    """Mean cross-entropy of softmax(logits) against class probabilities (N, C):

    loss = (1/N) sum_ij t_ij [logsumexp(z_i) - z_ij],
    grad = (softmax(z_i) * sum_j t_ij - t_i) / N  (= (softmax - t)/N when rows of t sum to 1).
    """
    n = logits.shape[0]
    lp = _log_softmax(logits.astype(np.float64, copy=False))
    t = target.astype(np.float64, copy=False)
    loss = float(-(t * lp).sum() / n) if n else 0.0
    if grad is not None:
        grad[...] = (np.exp(lp) * t.sum(axis=1, keepdims=True) - t) / n
    return loss, grad


def kl_div(grad, logits, target, n_threads=None):
    """KL(target || softmax(logits)), batch mean (PyTorch's KLDivLoss(reduction="batchmean")
    applied to log_softmax(logits)):

    loss = (1/N) sum_ij t_ij (log t_ij - log softmax(z)_ij), with 0 log 0 = 0,
    grad = (softmax(z_i) * sum_j t_ij - t_i) / N (the cross-entropy's gradient:
    KL = cross-entropy - entropy(t), and the entropy does not depend on z).
    """
    n = logits.shape[0]
    lp = _log_softmax(logits.astype(np.float64, copy=False))
    t = target.astype(np.float64, copy=False)
    pos = t > 0
    tlogt = np.zeros_like(t)
    tlogt[pos] = t[pos] * np.log(t[pos])
    loss = float((tlogt - t * lp).sum() / n) if n else 0.0
    if grad is not None:
        grad[...] = (np.exp(lp) * t.sum(axis=1, keepdims=True) - t) / n
    return loss, grad


def mse(grad, output, target, n_threads=None):
    """Mean squared error over all elements: loss = mean((o - t)^2), grad = 2 (o - t) / size."""
    d = output.astype(np.float64) - target
    size = d.size
    loss = float((d * d).sum() / size) if size else 0.0
    if grad is not None:
        grad[...] = 2 * d / size
    return loss, grad


def bce_with_logits(grad, logits, target, n_threads=None):
    """Binary cross-entropy on logits, mean over all elements, stable for any finite z:

    loss = mean(max(z, 0) - z t + log1p(exp(-|z|))), grad = (sigmoid(z) - t) / size.
    """
    z = logits.astype(np.float64)
    t = target.astype(np.float64)
    size = z.size
    loss = float((np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))).sum() / size) if size else 0.0
    if grad is not None:
        grad[...] = (_sigmoid(z) - t) / size
    return loss, grad


def penalty(grad, w, l1, l2, n_threads=None):
    """L1/L2 weight penalty: returns l1 * sum|w| + (l2 / 2) * sum w^2 and adds its
    gradient l1 * sign(w) + l2 * w to grad in place (sign(0) = 0)."""
    t = w.dtype.type
    value = 0.0
    if l1 != 0:
        value += l1 * float(np.abs(w).sum(dtype=np.float64))
        grad += t(l1) * np.sign(w)
    if l2 != 0:
        value += 0.5 * l2 * float((w.astype(np.float64) ** 2).sum())
        grad += t(l2) * w
    return value
