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
