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


# ---- optimizers and clipping

import math  # noqa: E402

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
