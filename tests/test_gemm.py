"""GEMM: every ISA path against float64 numpy, every transpose, alpha/beta,
edge tiles, and bit-identical results for any thread count."""
import os

import numpy as np
import pytest

import fastmlp
from fastmlp import ops
from conftest import HAVE_C, child_python, requires_c, supported_isas

MLP_SHAPES = [(m, k, n) for m in (10, 64, 256) for k, n in ((784, 30), (784, 100), (30, 10), (2048, 10))]
ODD_SHAPES = [(1, 1, 1), (1, 7, 1), (7, 1, 7), (2, 3, 5), (13, 17, 19), (15, 33, 31), (29, 129, 33),
              (33, 64, 65), (97, 5, 257), (1, 300, 513), (300, 1, 2), (170, 260, 4099)]


def gemm_isas():
    """conftest's ISAs, and on a CPU whose AVX-512 path mixes AVX2 and AVX-512
    tiles (Zen 4, csrc/gemm.h) that path again with AVX-512's own kernels only."""
    isas = supported_isas()
    if "avx512" in isas and fastmlp._config._kernels.cpu_splits_512bit_fma():
        isas.append("avx512-full")
    return isas or ["none"]


@pytest.fixture(params=gemm_isas())
def isa(request):
    if request.param == "none":
        pytest.skip("the compiled extension is not built")
    kernels = fastmlp._config._kernels
    old = kernels.isa_active()
    fastmlp._config.set_isa(request.param.split("-")[0])
    kernels.gemm_set_full_avx512(request.param == "avx512-full")
    yield request.param
    kernels.gemm_set_full_avx512(False)
    fastmlp._config.set_isa(old)


def operands(rng, m, k, n, dtype, trans_a, trans_b):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    return a, b


def expected(a, b, trans_a, trans_b, alpha=1.0, beta=0.0, c=None):
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    prod = (a64.T if trans_a else a64) @ (b64.T if trans_b else b64)
    out = alpha * prod
    if beta != 0:
        out = out + beta * c.astype(np.float64)
    return out


def assert_close(got, want, k, dtype):
    # float32 sums of k products: error grows like sqrt(k) * eps * |a||b|
    eps = np.finfo(dtype).eps
    scale = np.sqrt(max(k, 1)) * 8 * eps * max(1.0, np.abs(want).max())
    np.testing.assert_allclose(got, want, rtol=0, atol=scale)


@requires_c
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)],
                         ids=["NN", "TN", "NT", "TT"])
@pytest.mark.parametrize("m,k,n", ODD_SHAPES + MLP_SHAPES, ids=lambda v: str(v))
def test_gemm_matches_numpy_every_isa(rng, dtype, m, k, n, trans_a, trans_b, c_backend):
    a, b = operands(rng, m, k, n, dtype, trans_a, trans_b)
    want = expected(a, b, trans_a, trans_b)
    for isa in supported_isas():
        fastmlp._config.set_isa(isa)
        try:
            got = ops.gemm(a, b, trans_a=trans_a, trans_b=trans_b)
        finally:
            fastmlp._config.set_isa(supported_isas()[-1])
        assert got.dtype == dtype and got.shape == (m, n)
        assert_close(got, want, k, dtype)


@requires_c
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.5, -2.0), (-1.5, 0.0), (2.0, 0.25)])
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (37, 300, 71), (300, 257, 130)], ids=str)
def test_gemm_alpha_beta(rng, dtype, isa, m, k, n, alpha, beta, c_backend):
    a, b = operands(rng, m, k, n, dtype, False, True)
    c = rng.standard_normal((m, n)).astype(dtype)
    want = expected(a, b, False, True, alpha, beta, c)
    got = ops.gemm(a, b, out=c, alpha=alpha, beta=beta, trans_b=True)
    assert got is c
    assert_close(c, want, k, dtype)


@requires_c
def test_beta_zero_does_not_read_nan_in_c(rng, dtype, isa, c_backend):
    a, b = operands(rng, 45, 300, 70, dtype, False, False)
    c = np.full((45, 70), np.nan, dtype=dtype)
    ops.gemm(a, b, out=c, beta=0.0)
    assert np.isfinite(c).all()
    assert_close(c, expected(a, b, False, False), 300, dtype)


@requires_c
def test_nan_in_inputs_propagates(rng, dtype, c_backend):
    a, b = operands(rng, 20, 40, 50, dtype, False, False)
    a[3, 7] = np.nan
    got = ops.gemm(a, b)
    assert np.isnan(got[3]).all()
    assert np.isfinite(np.delete(got, 3, axis=0)).all()


@pytest.mark.parametrize("alpha,beta", [(0.0, 0.0), (0.0, 2.0)])
def test_alpha_zero_or_k_zero_scales_c_only(rng, dtype, backend, alpha, beta):
    a, b = operands(rng, 6, 9, 5, dtype, False, False)
    a[0, 0] = np.nan  # BLAS semantics: alpha == 0 means op(A)@op(B) is not formed
    c = rng.standard_normal((6, 5)).astype(dtype)
    want = beta * c
    ops.gemm(a, b, out=c, alpha=alpha, beta=beta)
    np.testing.assert_array_equal(c, want)
    empty = ops.gemm(np.zeros((4, 0), dtype), np.zeros((0, 3), dtype))
    np.testing.assert_array_equal(empty, np.zeros((4, 3), dtype))


@requires_c
@pytest.mark.parametrize("m,k,n", [(256, 784, 30), (10, 784, 2048), (300, 1100, 700), (1, 5000, 33)], ids=str)
@pytest.mark.parametrize("trans", ["NN", "TN", "NT"])
def test_bit_identical_for_any_thread_count(rng, dtype, isa, m, k, n, trans, c_backend):
    ta, tb = trans[0] == "T", trans[1] == "T"
    a, b = operands(rng, m, k, n, dtype, ta, tb)
    results = []
    for nt in (1, 2, 3, 8):
        fastmlp.set_num_threads(nt)
        results.append(ops.gemm(a, b, trans_a=ta, trans_b=tb))
    fastmlp._config._num_threads = None
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_reference_backend_matches(rng, dtype, reference_backend):
    a, b = operands(rng, 17, 33, 9, dtype, True, False)
    assert_close(ops.gemm(a, b, trans_a=True), expected(a, b, True, False), 33, dtype)


def test_layout_conversions(rng, backend):
    base = rng.standard_normal((40, 60)).astype(np.float32)
    b = rng.standard_normal((30, 50)).astype(np.float32)
    for a in (base[::2, ::2], np.asfortranarray(base[:20, :30]), base[::-2, ::-2]):
        assert_close(ops.gemm(a, b), expected(np.ascontiguousarray(a), b, False, False), 30, np.float32)


def test_out_aliasing_input_is_safe(rng, backend):
    a = rng.standard_normal((32, 32))
    want = a @ a
    ops.gemm(a, a, out=a)
    assert_close(a, want, 32, np.float64)


def test_out_partly_overlapping_an_input_is_safe(rng, backend):
    buf = rng.standard_normal(2 * 32 * 32)
    a = buf[: 32 * 32].reshape(32, 32)
    b = rng.standard_normal((32, 32))
    want = a @ b
    out = buf[16 : 16 + 32 * 32].reshape(32, 32)
    ops.gemm(a, b, out=out)
    assert_close(out, want, 32, np.float64)


@requires_c
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)],
                         ids=["NN", "TN", "NT", "TT"])
def test_one_call_path_agrees_with_the_checked_path(rng, dtype, trans_a, trans_b):
    # plain arrays and Python scalars take _kernels.gemm_fast; numpy scalars the full checks
    fast = fastmlp._config._kernels.gemm_fast
    a, b = operands(rng, 13, 17, 19, dtype, trans_a, trans_b)
    c0 = rng.standard_normal((13, 19)).astype(dtype)
    c1, c2 = c0.copy(), c0.copy()
    assert fast(a, b, c1, 2, 0.5, trans_a, trans_b, 1) is c1
    assert fast(a, b, c2, np.float64(2), 0.5, trans_a, trans_b, 1) is None
    ops.gemm(a, b, out=c2, alpha=np.float64(2), beta=np.float64(0.5),
             trans_a=np.bool_(trans_a), trans_b=np.bool_(trans_b))
    np.testing.assert_array_equal(c1, c2)
    new = fast(a, b, None, 1.0, 0.5, trans_a, trans_b, 1)
    np.testing.assert_array_equal(new, ops.gemm(a, b, alpha=np.float32(1), trans_a=trans_a, trans_b=trans_b))


@requires_c
def test_one_call_path_leaves_everything_else_to_the_checks(rng):
    fast = fastmlp._config._kernels.gemm_fast
    a, b, c = np.ones((4, 3)), np.ones((3, 5)), np.zeros((4, 5))
    ro = np.zeros((4, 5))
    ro.flags.writeable = False
    declined = [
        (a.astype(np.float32), b, c),           # dtypes differ
        (a.tolist(), b, c),                      # not an ndarray
        (np.asfortranarray(a), b, c),            # layout to convert
        (a.astype(">f8"), b, c),                 # byte order
        (a, np.ones((4, 5)), c),                 # inner dimensions differ
        (a, b, np.zeros((5, 4))),                # out's shape
        (a, b, np.zeros((4, 5), np.float32)),    # out's dtype
        (a, b, ro),                              # out read-only
        (a, b, np.zeros((5, 4)).T),              # out not C-contiguous
        (np.ones((4, 3), np.int64), b, c),       # integers
    ]
    for x, y, out in declined:
        assert fast(x, y, out, 1.0, 0.0, False, False, 1) is None
    assert fast(a, b, c, True, 0.0, False, False, 1) is None      # a bool is no alpha
    assert fast(a, b, c, 1.0, 0.0, 1, False, 1) is None           # an int is no bool
    buf = np.zeros(40)
    assert fast(a, b, buf[:20].reshape(4, 5), 1.0, 0.0, False, False, 1) is not None
    assert fast(buf[8:20].reshape(4, 3), b, buf[:20].reshape(4, 5), 1.0, 0.0, False, False, 1) is None
    assert (c == 0).all()


@pytest.mark.parametrize(
    "args,kwargs,exc,match",
    [
        ((np.ones((2, 3), np.float32), np.ones((4, 5), np.float32)), {}, ValueError, "inner dimensions"),
        ((np.ones((2, 3), np.float32), np.ones((3, 5), np.float64)), {}, TypeError, "dtype float32"),
        ((np.ones(3, np.float32), np.ones((3, 5), np.float32)), {}, ValueError, "2-D"),
        ((np.ones((2, 3), complex), np.ones((3, 5))), {}, TypeError, "complex"),
        ((np.array([["a"]]), np.ones((1, 1))), {}, TypeError, "float32 or float64"),
        ((np.ones((2, 3), bool), np.ones((3, 5))), {}, TypeError, "bool"),
        ((np.ones((2, 3)), np.ones((3, 5))), {"out": np.ones((2, 4))}, ValueError, "shape"),
        ((np.ones((2, 3)), np.ones((3, 5))), {"out": np.ones((2, 5), np.float32)}, TypeError, "dtype"),
        ((np.ones((2, 3)), np.ones((3, 5))), {"out": np.ones((5, 2)).T}, ValueError, "contiguous"),
        ((np.ones((2, 3)), np.ones((3, 5))), {"trans_a": 1}, TypeError, "bool"),
        ((np.ones((2, 3)), np.ones((3, 5))), {"alpha": "x"}, TypeError, "real number"),
    ],
)
def test_bad_input_is_refused(backend, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ops.gemm(*args, **kwargs)


def test_read_only_out_is_refused(backend):
    out = np.zeros((2, 5))
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ops.gemm(np.ones((2, 3)), np.ones((3, 5)), out=out)


@requires_c
@pytest.mark.parametrize("isa_name", supported_isas())
def test_fastmlp_isa_environment_variable(isa_name):
    code = "import fastmlp; print(fastmlp.show_config(file=open('/dev/null','w'))['isa'])"
    env = dict(os.environ, FASTMLP_ISA=isa_name)
    out = child_python(["-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == isa_name


# ---- drivers: packed panels vs the unpacked (small-shape) path

@pytest.fixture(params=["auto", "packed", "unpacked"])
def gemm_path(request):
    """Force each GEMM driver in turn (auto: chosen by shape)."""
    if not HAVE_C:
        pytest.skip("the compiled extension is not built")
    kernels = fastmlp._config._kernels
    old = kernels.gemm_get_path()
    kernels.gemm_set_path(request.param)
    yield request.param
    kernels.gemm_set_path(old)


# Sizes on both sides of every tile width (4/8 generic, 6/8/16 AVX2, 14/16/32
# AVX-512), of the C^T switch and of the automatic choice between drivers
# (A @ B: n = 32 or 128 float32, 16 or 64 float64, m = 96; A^T @ B: n = 32, k = 128), one- and two-row
# products (one-row kernels over column strips, straight and as C^T), the
# course's shapes with their backward products, and rows beyond one run of
# row tiles of the unpacked driver (512 tiles when op(B) exceeds 8 KiB).
SMALL_SHAPES = [(1, 1, 1), (1, 9, 17), (5, 3, 7), (6, 31, 16), (7, 33, 17), (13, 8, 15), (14, 65, 33),
                (15, 64, 31), (29, 2, 47), (10, 784, 30), (784, 10, 30), (10, 30, 784), (64, 100, 37),
                (10, 2048, 10), (65, 257, 9), (3, 129, 70), (100, 31, 4), (33, 7, 2), (5, 20, 128),
                (5, 20, 129), (9, 7, 64), (9, 7, 65), (40, 32, 33), (40, 33, 32), (40, 33, 33),
                (1, 50, 300), (2, 40, 209), (1, 784, 100), (2, 9, 52), (300, 40, 2), (257, 33, 1), (3, 11, 105),
                (3100, 300, 9)]
TRANS = [(False, False), (True, False), (False, True), (True, True)]


@requires_c
@pytest.mark.parametrize("trans_a,trans_b", TRANS, ids=["NN", "TN", "NT", "TT"])
@pytest.mark.parametrize("m,k,n", SMALL_SHAPES, ids=str)
def test_gemm_paths_match_numpy(rng, dtype, isa, gemm_path, m, k, n, trans_a, trans_b):
    a, b = operands(rng, m, k, n, dtype, trans_a, trans_b)
    c = rng.standard_normal((m, n)).astype(dtype)
    for alpha, beta in ((1.0, 0.0), (-0.75, 1.5)):
        want = expected(a, b, trans_a, trans_b, alpha, beta, c)
        got = fastmlp._config._kernels.gemm(c.copy(), a, b, alpha, beta, trans_a, trans_b, 1)
        assert_close(got, want, k, dtype)


@requires_c
@pytest.mark.parametrize("trans", ["NN", "TN", "NT", "TT"])
@pytest.mark.parametrize("m,k,n", [(64, 784, 30), (10, 3000, 70), (700, 40, 13), (9, 200, 600), (256, 100, 10),
                                   (1, 2000, 900), (2, 1500, 700), (3000, 400, 1)], ids=str)
def test_unpacked_path_bit_identical_for_any_thread_count(rng, dtype, isa, gemm_path, m, k, n, trans):
    ta, tb = trans[0] == "T", trans[1] == "T"
    a, b = operands(rng, m, k, n, dtype, ta, tb)
    kernels = fastmlp._config._kernels
    results = [kernels.gemm(np.empty((m, n), dtype), a, b, 1.0, 0.0, ta, tb, nt) for nt in (1, 2, 3)]
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
    assert_close(results[0], expected(a, b, ta, tb), k, dtype)


ACTS = {"none": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "leaky_relu": 4, "elu": 5}


def apply_act(x, act, param):
    if act == "relu":
        return np.maximum(x, 0)
    if act == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if act == "tanh":
        return np.tanh(x)
    if act == "leaky_relu":
        return np.where(x > 0, x, x * param)
    if act == "elu":
        return np.where(x > 0, x, param * np.expm1(x))
    return x


@requires_c
@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("trans", ["NN", "TN", "NT"])
@pytest.mark.parametrize("m,k,n", [(1, 5, 3), (10, 784, 30), (37, 19, 70), (784, 10, 30), (20, 300, 10),
                                   (1, 784, 100), (2, 30, 150), (300, 40, 2)], ids=str)
def test_gemm_epilogue(rng, dtype, isa, gemm_path, n_threads, m, k, n, trans, act):
    ta, tb = trans[0] == "T", trans[1] == "T"
    a, b = operands(rng, m, k, n, dtype, ta, tb)
    bias = rng.standard_normal(n).astype(dtype)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    kernels = fastmlp._config._kernels
    fused = kernels.gemm_epilogue(c0.copy(), a, b, 0.5, 0.25, ta, tb, bias, ACTS[act], 0.1, n_threads)
    plain = kernels.gemm(c0.copy(), a, b, 0.5, 0.25, ta, tb, n_threads)
    pre = plain + bias  # in the GEMM's dtype, as the epilogue adds it
    if act in ("none", "relu", "leaky_relu"):
        # exact operations: the fused result is the unfused one bit for bit
        np.testing.assert_array_equal(fused, apply_act(pre, act, dtype.type(0.1)).astype(dtype))
    want = apply_act(expected(a, b, ta, tb, 0.5, 0.25, c0) + bias.astype(np.float64), act, 0.1)
    assert_close(fused, want, k, dtype)
    no_bias = kernels.gemm_epilogue(c0.copy(), a, b, 0.5, 0.25, ta, tb, None, ACTS[act], 0.1, n_threads)
    assert_close(no_bias, apply_act(expected(a, b, ta, tb, 0.5, 0.25, c0), act, 0.1), k, dtype)


@requires_c
def test_edge_tiles_write_nothing_past_the_output(rng, dtype, isa, gemm_path):
    # a guard zone after C: masked and partial stores of edge tiles stay inside
    for m, k, n in ((7, 13, 9), (15, 5, 31), (30, 40, 3), (1, 70, 1)):
        for ta, tb in TRANS:
            a, b = operands(rng, m, k, n, dtype, ta, tb)
            flat = np.full(m * n + 37, 7.0, dtype)
            out = flat[: m * n].reshape(m, n)
            fastmlp._config._kernels.gemm(out, a, b, 1.0, 0.0, ta, tb, 1)
            assert (flat[m * n:] == 7.0).all()
            assert_close(out, expected(a, b, ta, tb), k, dtype)


@requires_c
def test_a_row_is_the_same_whatever_the_batch(rng, dtype, isa):
    # one- and two-row products take the one-row kernel, small batches the
    # unpacked tiles, big ones packed panels: all slice k alike and sum the same
    # chains, so a row's result does not depend on how many rows come with it
    kernels = fastmlp._config._kernels
    for k, n in ((784, 100), (30, 10), (100, 300), (2048, 10)):
        a, b = operands(rng, 300, k, n, dtype, False, False)
        full = kernels.gemm(np.empty((300, n), dtype), a, b, 1.0, 0.0, False, False, 1)
        for rows in (slice(0, 1), slice(5, 7), slice(2, 5), slice(40, 104), slice(0, 200)):
            part = kernels.gemm(np.empty((rows.stop - rows.start, n), dtype), np.ascontiguousarray(a[rows]), b,
                                1.0, 0.0, False, False, 1)
            np.testing.assert_array_equal(part, full[rows])


@requires_c
@pytest.mark.parametrize("m,k,n,trans_a", [(784, 10, 30, True), (2048, 10, 10, True), (10, 784, 30, False),
                                           (14, 784, 64, False), (256, 10, 30, False), (3, 50, 70, False),
                                           (10, 1000, 9, False), (20, 300, 100, False)], ids=str)
def test_mixed_tiles_give_the_avx2_bits(rng, dtype, m, k, n, trans_a):
    # where the AVX-512 path mixes tiles (Zen 4), small problems take the
    # 14-row AVX-512 tile and the rest AVX2's; every element is the same chain
    # over the same k slices as on the AVX2 path
    kernels = fastmlp._config._kernels
    if "avx512" not in supported_isas() or not kernels.cpu_splits_512bit_fma():
        pytest.skip("this CPU's AVX-512 path does not mix tiles")
    a, b = operands(rng, m, k, n, dtype, trans_a, False)
    old = kernels.isa_active()
    got = {}
    try:
        for name in ("avx2", "avx512"):
            fastmlp._config.set_isa(name)
            assert kernels.gemm_mixes_tiles() == (name == "avx512")
            got[name] = kernels.gemm(np.empty((m, n), dtype), a, b, 1.0, 0.0, trans_a, False, 1)
    finally:
        fastmlp._config.set_isa(old)
    np.testing.assert_array_equal(got["avx512"], got["avx2"])
    assert_close(got["avx512"], expected(a, b, trans_a, False), k, dtype)


@requires_c
@pytest.mark.parametrize("trans", ["NN", "TN", "NT", "TT"])
@pytest.mark.parametrize("m,k,n", [(1, 784, 100), (2, 600, 30), (7, 784, 100), (64, 784, 100), (130, 784, 100),
                                   (37, 1000, 9), (10, 2048, 10), (64, 300, 200), (5, 257, 17)], ids=str)
def test_both_drivers_give_the_same_bits(rng, dtype, isa, m, k, n, trans):
    # with alpha == 1 and beta 0 or 1 the packed and unpacked drivers compute
    # every element as the same FMA chains over the same k slices
    ta, tb = trans[0] == "T", trans[1] == "T"
    a, b = operands(rng, m, k, n, dtype, ta, tb)
    kernels = fastmlp._config._kernels
    old = kernels.gemm_get_path()
    try:
        for beta in (0.0, 1.0):
            c0 = rng.standard_normal((m, n)).astype(dtype)
            got = {}
            for path in ("packed", "unpacked"):
                kernels.gemm_set_path(path)
                got[path] = kernels.gemm(c0.copy(), a, b, 1.0, beta, ta, tb, 1)
            np.testing.assert_array_equal(got["unpacked"], got["packed"])
    finally:
        kernels.gemm_set_path(old)
