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
    flat = dx.reshape(nc, -1)
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
