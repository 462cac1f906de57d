"""The pure-numpy reference of every C kernel.

Each function mirrors a C kernel one-to-one: the same name without ``fm_`` and
the dtype suffix, the same argument order (outputs first, then inputs, then
hyperparameters), sizes taken from the arrays' shapes. It writes into the given
outputs and returns them. It is the fallback backend (``set_backend("reference")``)
and the oracle the tests hold the C kernels to, so it is written as the clearest
numpy, with the math in each docstring. ``n_threads`` is accepted so both
backends are called alike; numpy decides its own threading.
"""
import math

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
    if x.shape[1] == 0:  # no classes: nothing to normalise (max has no identity)
        return y
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
# ---- batchnorm, dropout, rng, pooling

PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85
_U32 = 0xFFFFFFFF


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 (Salmon et al., SC'11) on arrays of counters: four uint32
    words out for each counter (c0, c1, c2, c3) under the key (k0, k1).

    Ten rounds of: (hi0, lo0) = M0 * c0, (hi1, lo1) = M1 * c2 (32x32 -> 64 bit),
    c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0), then the key is bumped by the
    Weyl constants (W0, W1) before the next round.
    """
    c = [np.atleast_1d(np.asarray(v, np.uint64)) & np.uint64(_U32) for v in (c0, c1, c2, c3)]
    k0, k1 = np.uint64(k0 & _U32), np.uint64(k1 & _U32)
    m0, m1, mask = np.uint64(PHILOX_M0), np.uint64(PHILOX_M1), np.uint64(_U32)
    for rnd in range(10):
        if rnd:
            k0 = np.uint64((int(k0) + PHILOX_W0) & _U32)
            k1 = np.uint64((int(k1) + PHILOX_W1) & _U32)
        p0 = m0 * c[0]
        p1 = m1 * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & mask, (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & mask]
    return [v.astype(np.uint32) for v in c]


def rng_bits(out, seed, counter, n_threads=None):
    """out.ravel()[i] = 32 random bits for element i of stream (seed, counter).

    Element i lives in group g = i // 64 at r = i % 64 and takes word r // 16 of
    the Philox4x32-10 block g * 16 + r % 16, with counter (block_lo, block_hi,
    counter_lo, counter_hi) and key (seed_lo, seed_hi) (seed and counter are
    64-bit). So 16 consecutive blocks fill 64 consecutive elements, which lets a
    SIMD kernel store each output word as 16 (or 2x8) contiguous elements, and the
    bits of an element depend on nothing but (seed, counter, i).
    """
    n = out.size
    groups = -(-n // 64)
    block = np.arange(groups * 16, dtype=np.uint64)
    words = philox4x32_10(block & np.uint64(_U32), block >> np.uint64(32),
                          counter & _U32, (counter >> 32) & _U32, seed & _U32, (seed >> 32) & _U32)
    bits = np.stack(words).reshape(4, groups, 16).transpose(1, 0, 2).reshape(-1)
    out.reshape(-1)[...] = bits[:n]
    return out


def rng_uniform(out, seed, counter, n_threads=None):
    """out = (bits >> 8) * 2**-24: uniform on [0, 1) in steps of 2**-24 (exact in
    float32 and float64), from rng_bits(seed, counter)."""
    bits = rng_bits(np.empty(out.shape, np.uint32), seed, counter)
    out[...] = (bits >> np.uint32(8)).astype(np.float64) * 2.0 ** -24
    return out


def _dropout_bytes(n, seed, counter):
    """b_i: byte i % 4 (little-endian) of word i // 4 of rng_bits(seed, counter), int64."""
    words = rng_bits(np.empty(-(-n // 4), np.uint32), seed, counter)
    return words.astype("<u4").view(np.uint8)[:n].astype(np.int64)


def _dropout_low_bits(i, seed, counter):
    """r_i: the high half of word 0 of the Philox block (lo(i), hi(i) | 2**31,
    counter_lo, counter_hi) under the key (seed_lo, seed_hi), for indices i."""
    i = np.asarray(i, np.uint64)
    r = philox4x32_10(i & np.uint64(_U32), (i >> np.uint64(32)) | np.uint64(0x80000000),
                      counter & _U32, (counter >> 32) & _U32, seed & _U32, (seed >> 32) & _U32)[0]
    return (r >> np.uint32(16)).astype(np.int64)


def dropout_uniform(n, seed, counter):
    """The 24-bit uniforms dropout compares with p, as integers u_i = b_i * 2**16 + r_i.

    b_i is byte i % 4 (little-endian) of word i // 4 of rng_bits(seed, counter): one
    Philox word serves 4 elements. r_i is the high half of word 0 of the Philox
    block with counter (lo(i), hi(i) | 2**31, counter_lo, counter_hi) under the same
    key (rng_bits never uses block indices with the top bit set for n < 2**63).
    A kernel needs r_i only when b_i equals the top byte of the threshold (1 element
    in 256): b_i alone decides every other comparison.
    """
    return _dropout_bytes(n, seed, counter) * 65536 + _dropout_low_bits(np.arange(n), seed, counter)


def dropout_forward(y, mask, x, p, seed, counter, n_threads=None):
    """Inverted dropout: keep_i = (u_i >= T) with u = dropout_uniform(seed, counter)
    and T = ceil(p * 2**24) (u * 2**-24 is uniform on [0, 1) in steps of 2**-24);
    mask_i = keep_i (uint8 0/1), y = x * m with m_i = keep_i ? 1/(1-p) : 0.

    r_i is drawn only where b_i ties T's top byte, as the C kernel does. A
    multiplication, as in PyTorch, so NaN/Inf in a dropped element still give
    NaN. The scale 1/(1-p) is rounded once to x's dtype.
    """
    t = int(np.ceil(p * 2.0**24))
    b = _dropout_bytes(x.size, seed, counter)
    keep = b > (t >> 16)
    ties = np.flatnonzero(b == (t >> 16))
    keep[ties] = _dropout_low_bits(ties, seed, counter) >= (t & 0xFFFF)
    mask[...] = keep.reshape(x.shape)
    scale = x.dtype.type(1.0 / (1.0 - p))
    with np.errstate(invalid="ignore", over="ignore"):
        np.multiply(x, np.where(mask != 0, scale, x.dtype.type(0)), out=y)
    return y, mask


def dropout_backward(dx, dy, mask, p, n_threads=None):
    """dx = dy * m with the forward's m_i = mask_i ? 1/(1-p) : 0."""
    scale = dy.dtype.type(1.0 / (1.0 - p))
    with np.errstate(invalid="ignore", over="ignore"):
        np.multiply(dy, np.where(mask != 0, scale, dy.dtype.type(0)), out=dx)
    return dx


def batchnorm_forward_train(y, mean, rstd, running_mean, running_var, x, gamma, beta,
                            momentum, eps, n_threads=None):
    """Batch normalisation over the batch axis of x (N, D), training mode.

    mu = mean_i x_i, var = mean_i (x_i - mu)^2 (biased), both in float64 (the C
    kernel sums shifted by each block's first row, so constant features are exact);
    mean = mu and rstd = 1 / sqrt(var + eps) are kept (in x's dtype) for backward;
    y = (x - mean) * (gamma * rstd) + beta in x's dtype;
    running_mean = (1 - momentum) * running_mean + momentum * mu,
    running_var = (1 - momentum) * running_var + momentum * var * N / (N - 1)
    (unbiased, as torch.nn.BatchNorm1d), computed in float64.
    """
    n = x.shape[0]
    x64 = x.astype(np.float64)
    mu = x64[0] + (x64 - x64[0]).mean(axis=0)  # shifted by the first row: exact for constants
    var = np.square(x64 - mu).mean(axis=0)
    mean[...] = mu
    rstd[...] = 1.0 / np.sqrt(var + eps)
    y[...] = (x - mean) * (gamma * rstd) + beta
    m = momentum
    running_mean[...] = (1.0 - m) * running_mean.astype(np.float64) + m * mu
    running_var[...] = (1.0 - m) * running_var.astype(np.float64) + m * var * (n / (n - 1))
    return y, mean, rstd


def batchnorm_forward_eval(y, x, gamma, beta, running_mean, running_var, eps, n_threads=None):
    """y = (x - running_mean) * (gamma * rstd) + beta with rstd = 1 / sqrt(running_var + eps)
    (rstd in float64, then rounded to x's dtype)."""
    rstd = (1.0 / np.sqrt(running_var.astype(np.float64) + eps)).astype(x.dtype)
    y[...] = (x - running_mean) * (gamma * rstd) + beta
    return y


def batchnorm_backward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, training, n_threads=None):
    """Gradients of y = xhat * gamma + beta, xhat = (x - mean) * rstd, in closed form:

    dbeta = sum_i dy_i, dgamma = sum_i dy_i * xhat_i (sums in float64);
    training (mean, rstd from this batch):
        dx = gamma * rstd * (dy - (dbeta + xhat * dgamma) / N);
    inference (mean, rstd fixed): dx = gamma * rstd * dy.
    """
    n = x.shape[0]
    dy64 = dy.astype(np.float64)
    xhat = (x.astype(np.float64) - mean) * rstd.astype(np.float64)
    db = dy64.sum(axis=0)
    dg = (dy64 * xhat).sum(axis=0)
    a = gamma.astype(np.float64) * rstd
    if training:
        dx[...] = a * (dy64 - (db + xhat * dg) / n)
    else:
        dx[...] = a * dy64
    dgamma[...] = dg
    dbeta[...] = db
    return dx, dgamma, dbeta


def _pool_windows(x, kh, kw, sh, sw):
    """(a, b, view) for each window offset in row-major order: view[n, c, i, j] =
    x[n, c, i * sh + a, j * sw + b]."""
    ho = (x.shape[2] - kh) // sh + 1
    wo = (x.shape[3] - kw) // sw + 1
    for a in range(kh):
        for b in range(kw):
            yield a, b, x[:, :, a:a + sh * (ho - 1) + 1:sh, b:b + sw * (wo - 1) + 1:sw]


def maxpool2d_forward(y, argmax, x, kh, kw, sh, sw, n_threads=None):
    """y[n, c, i, j] = max over the window x[n, c, i*sh : i*sh+kh, j*sw : j*sw+kw];
    argmax = the plane index h * W + w (int32) of its FIRST maximum in row-major
    window order. NaN counts as the maximum (as numpy's max), the first NaN wins."""
    W = x.shape[3]
    ho, wo = y.shape[2], y.shape[3]
    base = (np.arange(ho)[:, None] * sh * W + np.arange(wo)[None, :] * sw).astype(np.int32)
    best = None
    for a, b, v in _pool_windows(x, kh, kw, sh, sw):
        if best is None:
            best = v.copy()
            idx = np.broadcast_to(base, v.shape).copy()
            continue
        take = (v > best) | (np.isnan(v) & ~np.isnan(best))
        best[take] = v[take]
        idx[take] = np.broadcast_to(base + (a * W + b), v.shape)[take]
    y[...] = best
    argmax[...] = idx
    return y, argmax


def maxpool2d_backward(dx, dy, argmax, n_threads=None):
    """dx = 0, then dx[n, c, argmax[n, c, i, j]] += dy[n, c, i, j] over outputs in order
    (windows that overlap accumulate on a shared maximum)."""
    nc = dx.shape[0] * dx.shape[1]
    flat = dx.reshape(nc, dx.shape[2] * dx.shape[3])  # not -1: nc may be 0
    flat[...] = 0
    planes = np.repeat(np.arange(nc), dy.shape[2] * dy.shape[3])
    np.add.at(flat, (planes, argmax.reshape(-1)), dy.reshape(-1))
    return dx


def avgpool2d_forward(y, x, kh, kw, sh, sw, n_threads=None):
    """y[n, c, i, j] = (sum over the window in row-major order, in x's dtype) / (kh * kw)."""
    acc = None
    for _, _, v in _pool_windows(x, kh, kw, sh, sw):
        acc = v.copy() if acc is None else acc + v
    np.divide(acc, x.dtype.type(kh * kw), out=y)
    return y


def avgpool2d_backward(dx, dy, kh, kw, sh, sw, n_threads=None):
    """dx = 0, then every element of each window gets dy / (kh * kw) added."""
    dx[...] = 0
    g = dy / dy.dtype.type(kh * kw)
    for _, _, v in _pool_windows(dx, kh, kw, sh, sw):
        v += g
    return dx
# ---- optimizers and clipping


def _scalars(dtype, *values):
    """Hyperparameters rounded to the arrays' dtype, as torch applies a Python scalar."""
    t = np.dtype(dtype).type
    return [t(v) for v in values]


def _ieee(fn):
    """Run a kernel twin with numpy's floating-point warnings off: like the C
    kernel, it overflows to inf and propagates NaN silently."""
    import functools

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)
    return wrapped


def _lerp(start, end, w):
    """torch.lerp(start, end, w) for a scalar weight already rounded to the dtype:
    start + w * (end - start) when |w| < 0.5, else end - (end - start) * (1 - w)."""
    d = end - start
    if abs(w) < 0.5:
        return start + w * d
    return end - d * (w.dtype.type(1) - w)


@_ieee
def sgd_update(params, momentum_buffers, grads, lr, momentum, dampening, weight_decay,
               nesterov, first, n_threads=None):
    """SGD with momentum (torch.optim.SGD), in place, for each array::

        g = grad + weight_decay * p                        (when weight_decay != 0)
        b = g  (first step)  |  b = momentum * b + (1 - dampening) * g
        g = g + momentum * b  (nesterov)  |  g = b         (when momentum != 0)
        p = p - lr * g

    Products and sums in this order, each rounded to the dtype (lr enters as -lr).
    """
    for i, (p, g) in enumerate(zip(params, grads)):
        wd, mom, omd, neg_lr = _scalars(p.dtype, weight_decay, momentum, 1.0 - dampening, -lr)
        if weight_decay != 0:
            g = g + wd * p
        if momentum != 0:
            b = momentum_buffers[i]
            if first:
                b[...] = g
            else:
                b[...] = b * mom + omd * g
            g = g + mom * b if nesterov else b
        p[...] = p + neg_lr * g
    return params


@_ieee
def adagrad_update(params, state_sums, grads, clr, eps, weight_decay, n_threads=None):
    """Adagrad (torch.optim.Adagrad), in place, with clr = lr / (1 + (step - 1) * lr_decay)::

        g = grad + weight_decay * p                        (when weight_decay != 0)
        s = s + g * g
        p = p + (-clr * g) / (sqrt(s) + eps)
    """
    for p, s, g in zip(params, state_sums, grads):
        wd, neg_clr, e = _scalars(p.dtype, weight_decay, -clr, eps)
        if weight_decay != 0:
            g = g + wd * p
        s[...] = s + g * g
        p[...] = p + (neg_clr * g) / (np.sqrt(s) + e)
    return params


@_ieee
def rmsprop_update(params, square_avgs, momentum_buffers, grad_avgs, grads, lr, alpha, eps,
                   momentum, weight_decay, centered, n_threads=None):
    """RMSprop (torch.optim.RMSprop), in place::

        g = grad + weight_decay * p                        (when weight_decay != 0)
        v = alpha * v + ((1 - alpha) * g) * g
        a = lerp(a, g, 1 - alpha); avg = sqrt(v - a * a) + eps   (centered)
        avg = sqrt(v) + eps                                      (otherwise)
        b = momentum * b + g / avg;  p = p - lr * b        (momentum > 0)
        p = p + (-lr * g) / avg                            (otherwise)
    """
    for i, (p, v, g) in enumerate(zip(params, square_avgs, grads)):
        wd, al, oma, e, mom, neg_lr = _scalars(p.dtype, weight_decay, alpha, 1.0 - alpha, eps,
                                               momentum, -lr)
        if weight_decay != 0:
            g = g + wd * p
        v[...] = v * al + (oma * g) * g
        if centered:
            a = grad_avgs[i]
            a[...] = _lerp(a, g, oma)
            avg = np.sqrt(v - a * a) + e
        else:
            avg = np.sqrt(v) + e
        if momentum > 0:
            b = momentum_buffers[i]
            b[...] = b * mom + g / avg
            p[...] = p + neg_lr * b
        else:
            p[...] = p + (neg_lr * g) / avg
    return params


@_ieee
def adam_update(params, exp_avgs, exp_avg_sqs, grads, lr, beta1, beta2, eps, weight_decay,
                decoupled, step, n_threads=None):
    """Adam, or AdamW when decoupled (torch.optim.Adam/AdamW), in place; step >= 1::

        p = p * (1 - lr * weight_decay)          (AdamW, weight_decay != 0)
        g = grad + weight_decay * p              (Adam, weight_decay != 0)
        m = lerp(m, g, 1 - beta1)
        v = beta2 * v + ((1 - beta2) * g) * g
        p = p + (-(lr / (1 - beta1**step)) * m) / (sqrt(v) / sqrt(1 - beta2**step) + eps)

    The bias corrections are formed in double (Python floats), then rounded.
    """
    bc1 = 1.0 - beta1 ** float(step)
    bc2_sqrt = math.sqrt(1.0 - beta2 ** float(step))
    for p, m, v, g in zip(params, exp_avgs, exp_avg_sqs, grads):
        wd, wd_mul, w, b2, omb2, bc2s, e, neg_step = _scalars(
            p.dtype, weight_decay, 1.0 - lr * weight_decay, 1.0 - beta1, beta2, 1.0 - beta2,
            bc2_sqrt, eps, -(lr / bc1))
        q = p
        if weight_decay != 0:
            if decoupled:
                q = p * wd_mul
            else:
                g = g + wd * p
        m[...] = _lerp(m, g, w)
        v[...] = v * b2 + (omb2 * g) * g
        p[...] = q + (neg_step * m) / (np.sqrt(v) / bc2s + e)
    return params


_NORM_BLOCK = 4096
_LANES = 32
_SUMSQ_MIN = 2.0 ** -968


def _sumsq(arrays, scale):
    """Sum of (x * scale)^2 in double: per block of 4096 elements, 32 interleaved
    lanes (element i to lane i % 32) folded in halves (lane j += lane j + 16,
    then + 8, + 4, + 2, + 1); the block sums added in order."""
    total = 0.0
    for a in arrays:
        x = a.reshape(-1)
        for i0 in range(0, x.size, _NORM_BLOCK):
            blk = x[i0:i0 + _NORM_BLOCK].astype(np.float64) * scale
            pad = (-blk.size) % _LANES
            if pad:
                blk = np.concatenate([blk, np.zeros(pad)])
            with np.errstate(over="ignore", under="ignore"):
                lanes = (blk * blk).reshape(-1, _LANES).sum(axis=0)
                w = _LANES // 2
                while w >= 1:
                    lanes = lanes[:w] + lanes[w:2 * w]
                    w //= 2
            total += float(lanes[0])
    return total


def _group_norm(arrays, is_f64):
    s = _sumsq(arrays, 1.0)
    if not is_f64 or s != s or (not math.isinf(s) and s >= _SUMSQ_MIN):
        return math.sqrt(s)
    # float64 squares overflowed or underflowed: rescale exactly by a power of two
    amax = max((float(np.max(np.abs(a))) for a in arrays if a.size), default=0.0)
    if amax == 0.0 or math.isinf(amax):
        return amax
    e = math.frexp(amax)[1]
    return math.ldexp(math.sqrt(_sumsq(arrays, math.ldexp(1.0, -e))), e)


def grad_norm(grads, n_threads=None):
    """The global L2 norm sqrt(sum of x^2 over every array), accumulated in double.

    The sum is blocked (see _sumsq), so the C kernel gives the same bits for any
    thread count. A float64 sum that overflows or underflows is redone on the
    arrays scaled by the power of two that brings max|x| into [0.5, 1), so a
    finite list never gets an infinite norm. float32 and float64 arrays are
    summed as two groups whose norms combine as hypot(n32, n64).
    """
    g32 = [g for g in grads if g.dtype == np.float32]
    g64 = [g for g in grads if g.dtype != np.float32]
    if not g32:
        return _group_norm(g64, True)
    if not g64:
        return _group_norm(g32, False)
    a, b = _group_norm(g32, False), _group_norm(g64, True)
    return math.nan if (a != a or b != b) else math.hypot(a, b)


@_ieee
def grad_scale(grads, scale, n_threads=None):
    """g = g * scale for every array, in place (scale rounded to the dtype)."""
    for g in grads:
        g *= g.dtype.type(scale)
    return grads


def grad_clamp(grads, lo, hi, n_threads=None):
    """g = min(max(g, lo), hi) for every array, in place; NaN stays NaN."""
    for g in grads:
        tlo, thi = _scalars(g.dtype, lo, hi)
        g[...] = np.where(g < tlo, tlo, g)
        g[...] = np.where(g > thi, thi, g)
    return grads


class OptimPlan:
    """The reference twin of _kernels.OptimPlan: one optimizer's list layout.

    Each method runs the update and returns True, or returns False having
    changed nothing when the arrays do not fit the plan (other param objects,
    shapes, dtypes or layouts, a read-only param, a grad overlapping a param).
    """

    def __init__(self, params, grads, states):
        self.params = list(params)
        self.states = [None if s is None else list(s) for s in states] + [None] * (3 - len(states))
        self._layout = [(p.dtype, p.shape, p.ctypes.data) for p in self.params]

    def _fits(self, params, grads):
        n = len(self.params)
        if len(params) != n or len(grads) != n:
            return False
        for i, (p, g) in enumerate(zip(params, grads)):
            dtype, shape, data = self._layout[i]
            if p is not self.params[i] or p.ctypes.data != data or p.shape != shape:
                return False
            if not (p.flags.c_contiguous and p.flags.aligned and p.flags.writeable):
                return False
            if not isinstance(g, np.ndarray) or g.dtype != dtype or g.shape != shape:
                return False
            if not (g.flags.c_contiguous and g.flags.aligned):
                return False
            for k, q in enumerate(self.params):
                if np.may_share_memory(g, q) and not (k == i and g.ctypes.data == q.ctypes.data):
                    return False
        return True

    def sgd(self, params, grads, lr, momentum, dampening, weight_decay, nesterov, first, n_threads):
        if (momentum != 0 and self.states[0] is None) or not self._fits(params, grads):
            return False
        sgd_update(params, self.states[0], grads, lr, momentum, dampening, weight_decay,
                   nesterov, first, n_threads)
        return True

    def adagrad(self, params, grads, clr, eps, weight_decay, n_threads):
        if self.states[0] is None or not self._fits(params, grads):
            return False
        adagrad_update(params, self.states[0], grads, clr, eps, weight_decay, n_threads)
        return True

    def rmsprop(self, params, grads, lr, alpha, eps, momentum, weight_decay, centered, n_threads):
        if (self.states[0] is None or (momentum > 0 and self.states[1] is None)
                or (centered and self.states[2] is None) or not self._fits(params, grads)):
            return False
        rmsprop_update(params, self.states[0], self.states[1], self.states[2], grads, lr, alpha,
                       eps, momentum, weight_decay, centered, n_threads)
        return True

    def adam(self, params, grads, lr, beta1, beta2, eps, weight_decay, decoupled, step, n_threads):
        if self.states[0] is None or self.states[1] is None or step < 1 or not self._fits(params, grads):
            return False
        adam_update(params, self.states[0], self.states[1], grads, lr, beta1, beta2, eps,
                    weight_decay, decoupled, step, n_threads)
        return True


# ---- input checks

FINITE_BLOCK = 1 << 16


def all_finite(x, n_threads=None):
    """True when every element of x is finite: no x_i is NaN, +Inf or -Inf
    (True for an empty x). Scanned in blocks of FINITE_BLOCK elements, so no
    temporary the size of x is made."""
    flat = x.reshape(-1)
    for i in range(0, flat.size, FINITE_BLOCK):
        if not np.isfinite(flat[i:i + FINITE_BLOCK]).all():
            return False
    return True
