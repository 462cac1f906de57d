"""Dropout and its counter-based RNG: Philox4x32-10 known answers, C == reference
bit for bit (every ISA, 1 and 3 threads), drop fraction ~ p, masks reproducible
from (seed, counter) and fresh across calls, backward using the mask exactly."""
import contextlib
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastmlp
from fastmlp import layers, ops, reference
from conftest import HAVE_C, requires_c, supported_isas

SIZES = [1, 7, 15, 16, 17, 63, 64, 65, 127, 1023, 1024, 1025, 4099, 20000]


@contextlib.contextmanager
def using(name, isa=None, n_threads=None):
    old_b, old_t = fastmlp.get_backend(), fastmlp._config._num_threads
    old_isa = fastmlp._config.get_isa() if HAVE_C else None
    fastmlp.set_backend(name)
    if isa is not None:
        fastmlp._config.set_isa(isa)
    if n_threads is not None:
        fastmlp.set_num_threads(n_threads)
    try:
        yield
    finally:
        fastmlp.set_backend(old_b)
        fastmlp._config._num_threads = old_t
        if old_isa is not None:
            fastmlp._config.set_isa(old_isa)


def test_philox_known_answers():
    # Random123's published known-answer vectors for philox4x32_10
    cases = [
        ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
         (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
    ]
    for ctr, key, want in cases:
        got = reference.philox4x32_10(*ctr, *key)
        assert tuple(int(w[0]) for w in got) == want


def test_rng_bits_layout_is_philox_blocks():
    # element i = word (i % 64) // 16 of block (i // 64) * 16 + i % 16
    seed, counter = 0x0123456789ABCDEF, 0xFEDCBA9876543210
    bits = reference.rng_bits(np.empty(200, np.uint32), seed, counter)
    for i in (0, 1, 15, 16, 17, 63, 64, 130, 199):
        block = (i // 64) * 16 + i % 16
        words = reference.philox4x32_10(block, 0, counter & 0xFFFFFFFF, counter >> 32,
                                        seed & 0xFFFFFFFF, seed >> 32)
        assert bits[i] == words[(i % 64) // 16][0]


@requires_c
@pytest.mark.parametrize("n", SIZES)
def test_rng_bits_c_matches_reference_every_isa_and_thread_count(n):
    seed, counter = 2**63 + 12345, 2**40 + 7
    want = reference.rng_bits(np.empty(n, np.uint32), seed, counter)
    for isa in supported_isas():
        for nt in (1, 3):
            with using("c", isa, nt):
                got = ops.rng_bits(n, seed, counter)
            np.testing.assert_array_equal(got, want, err_msg=f"{isa} {nt} threads")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rng_uniform_range_and_backends_agree(dtype, backend):
    u = ops.rng_uniform((50, 41), seed=3, counter=9, dtype=dtype)
    assert u.dtype == dtype and u.shape == (50, 41)
    assert u.min() >= 0.0 and u.max() < 1.0
    bits = reference.rng_bits(np.empty(u.shape, np.uint32), 3, 9)
    np.testing.assert_array_equal(u, (bits >> 8).astype(np.float64) * 2.0**-24)
    assert abs(u.mean() - 0.5) < 0.02


def _inputs(rng, shape, dtype):
    return (rng.standard_normal(shape) * 3).astype(dtype)


@requires_c
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9, 0.999])
@pytest.mark.parametrize("n", SIZES)
def test_dropout_c_matches_reference(rng, dtype, isa, n_threads, n, p):
    x = _inputs(rng, n, dtype)
    dy = _inputs(rng, n, dtype)
    with using("reference"):
        y_ref, m_ref = ops.dropout_forward(x, p, seed=11, counter=5)
        dx_ref = ops.dropout_backward(dy, m_ref, p)
    with using("c"):
        y, m = ops.dropout_forward(x, p, seed=11, counter=5)
        dx = ops.dropout_backward(dy, m, p)
    # one multiplication per element: identical bits
    np.testing.assert_array_equal(m, m_ref)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dx, dx_ref)
    assert y.dtype == dtype and m.dtype == np.uint8


@requires_c
def test_dropout_mask_independent_of_threads_and_isa(rng):
    x = _inputs(rng, (257, 333), np.float32)
    results = []
    for isa in supported_isas():
        for nt in (1, 2, 3):
            with using("c", isa, nt):
                results.append(ops.dropout_forward(x, 0.37, seed=99, counter=123))
    for y, m in results[1:]:
        np.testing.assert_array_equal(m, results[0][1])
        np.testing.assert_array_equal(y, results[0][0])


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5, 0.8, 0.95])
def test_dropout_fraction_close_to_p(p, backend):
    n = 200_000
    _, m = ops.dropout_forward(np.ones(n, np.float32), p, seed=2024, counter=1)
    frac = 1.0 - m.mean()
    assert abs(frac - p) < 5 * np.sqrt(p * (1 - p) / n)


def test_dropout_scale_and_identity_at_p0(rng, dtype, backend):
    x = _inputs(rng, (40, 30), dtype)
    y, m = ops.dropout_forward(x, 0.25, seed=1)
    scale = dtype.type(1 / 0.75)
    np.testing.assert_array_equal(y[m == 1], x[m == 1] * scale)
    assert (y[m == 0] == 0).all()
    y0, m0 = ops.dropout_forward(x, 0.0, seed=1)
    np.testing.assert_array_equal(y0, x)
    assert m0.all()


def test_dropout_masks_reproducible_and_fresh(backend):
    x = np.ones((64, 100), np.float32)
    _, a = ops.dropout_forward(x, 0.5, seed=7, counter=0)
    _, b = ops.dropout_forward(x, 0.5, seed=7, counter=0)
    _, c = ops.dropout_forward(x, 0.5, seed=7, counter=1)
    _, d = ops.dropout_forward(x, 0.5, seed=8, counter=0)
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.4 and (a != d).mean() > 0.4
    # different calls are independent (agreement ~ 1/2 for p = 1/2)
    assert abs((a == c).mean() - 0.5) < 0.02


def test_dropout_out_arrays_written_in_place(rng, backend):
    x = _inputs(rng, (9, 13), np.float64)
    y = np.empty_like(x)
    m = np.empty(x.shape, np.uint8)
    y2, m2 = ops.dropout_forward(x, 0.3, seed=4, out=y, mask=m)
    assert y2 is y and m2 is m
    dx = np.empty_like(x)
    assert ops.dropout_backward(x, m, 0.3, out=dx) is dx
    # in place on x itself (out aliases x)
    x2 = x.copy()
    ops.dropout_forward(x2, 0.3, seed=4, out=x2)
    np.testing.assert_array_equal(x2, y)


def test_dropout_gradient_finite_differences(rng):
    # for a fixed mask the forward is linear: central differences are exact up to rounding
    x = rng.standard_normal(37)
    w = rng.standard_normal(37)
    with using("reference"):
        _, m = ops.dropout_forward(x, 0.4, seed=3, counter=2)
        g = ops.dropout_backward(w, m, 0.4)
        h = 1e-6
        fd = np.empty_like(x)
        for i in range(x.size):
            xp, xm = x.copy(), x.copy()
            xp[i] += h
            xm[i] -= h
            fp = (ops.dropout_forward(xp, 0.4, seed=3, counter=2)[0] * w).sum()
            fm = (ops.dropout_forward(xm, 0.4, seed=3, counter=2)[0] * w).sum()
            fd[i] = (fp - fm) / (2 * h)
    err = np.abs(fd - g).max() / max(np.abs(g).max(), 1e-300)
    assert err < 1e-6


def test_dropout_extreme_inputs_no_warnings(dtype, backend):
    big = np.finfo(dtype).max
    x = np.array([big, -big, np.inf, -np.inf, np.nan, 0.0, 1e-30, -0.0] * 16, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, m = ops.dropout_forward(x, 0.5, seed=0)
        dx = ops.dropout_backward(x, m, 0.5)
    keep = m == 1
    finite = np.isfinite(x)
    # kept finite values are scaled by 2 (max * 2 overflows to inf, as in numpy)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(y[keep & finite], x[keep & finite] * dtype.type(2))
    assert np.isnan(y[~finite & ~keep]).all()  # a multiplication: inf * 0 and nan * 0 are nan
    assert (y[finite & ~keep] == 0).all()
    np.testing.assert_array_equal(dx, y)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan")])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        ops.dropout_forward(np.ones(4, np.float32), p, seed=0)


def test_dropout_backward_rejects_bad_mask():
    g = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError, match="uint8"):
        ops.dropout_backward(g, np.ones((3, 4), bool), 0.5)
    with pytest.raises(ValueError, match="shape"):
        ops.dropout_backward(g, np.ones((4, 3), np.uint8), 0.5)


def test_dropout_seed_and_counter_types():
    with pytest.raises(TypeError, match="seed"):
        ops.dropout_forward(np.ones(4), 0.5, seed=1.5)
    with pytest.raises(TypeError, match="counter"):
        ops.dropout_forward(np.ones(4), 0.5, seed=1, counter="a")
    # seeds beyond 64 bits and negative seeds wrap modulo 2**64
    a = ops.dropout_forward(np.ones(100), 0.5, seed=-1)[1]
    b = ops.dropout_forward(np.ones(100), 0.5, seed=2**64 - 1)[1]
    np.testing.assert_array_equal(a, b)


# -------------------------------------------------------------------- layer

def test_dropout_layer_fresh_masks_reproducible_from_seed(backend):
    x = np.ones((32, 50), np.float32)
    a = layers.Dropout(0.5, seed=123)
    b = layers.Dropout(0.5, seed=123)
    ya1 = a.forward(x, training=True).copy()
    ya2 = a.forward(x, training=True).copy()
    yb1 = b.forward(x, training=True).copy()
    np.testing.assert_array_equal(ya1, yb1)
    assert (ya1 != ya2).any()
    # re-configuring (as Sequential does) restarts the stream
    a._configure("float32", 123)
    np.testing.assert_array_equal(a.forward(x, training=True), ya1)


def test_dropout_layer_eval_identity_and_backward(rng, backend):
    layer = layers.Dropout(0.3, seed=5)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((2, 2), np.float32))
    x = rng.standard_normal((20, 10)).astype(np.float32)
    assert layer.forward(x) is x
    g = rng.standard_normal((20, 10)).astype(np.float32)
    assert layer.backward(g) is g
    y = layer.forward(x, training=True).copy()
    dx = layer.backward(np.ones_like(x))
    np.testing.assert_array_equal(dx != 0, y != 0)
    np.testing.assert_allclose(dx[dx != 0], 1 / 0.7, rtol=1e-6)
    assert layer.params == {} and layer.grads == {}
    assert repr(layer) == "Dropout(p=0.3)"


def test_dropout_layer_reuses_buffers(backend):
    layer = layers.Dropout(0.5, seed=0)
    x = np.ones((8, 8), np.float32)
    y1 = layer.forward(x, training=True)
    y2 = layer.forward(x, training=True)
    assert y1 is y2  # the training step allocates nothing


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 40), min_size=1, max_size=3),
       p=st.floats(0.0, 0.99), seed=st.integers(0, 2**64 - 1), counter=st.integers(0, 2**64 - 1))
def test_dropout_hypothesis_c_equals_reference(shape, p, seed, counter):
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    with using("reference"):
        want = ops.dropout_forward(x, p, seed=seed, counter=counter)
    if HAVE_C:
        with using("c"):
            got = ops.dropout_forward(x, p, seed=seed, counter=counter)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    assert want[1].shape == tuple(shape)


def test_dropout_ties_on_the_top_byte_decided_by_16_more_bits(backend):
    # T = ceil(p 2^24) = 128 * 2^16 + 2^15: an element whose stream byte is 128 is kept
    # iff its refinement bits r >= 2^15, i.e. half of those ties are kept
    p = (128 * 65536 + 32768) / 2**24
    n = 1 << 21
    _, m = ops.dropout_forward(np.ones(n, np.float32), p, seed=77, counter=3)
    b = reference.rng_bits(np.empty(n // 4, np.uint32), 77, 3).astype("<u4").view(np.uint8)
    ties = b == 128
    assert (m[b > 128] == 1).all() and (m[b < 128] == 0).all()
    assert ties.sum() > 5000 and abs(m[ties].mean() - 0.5) < 0.05


def test_dropout_mask_is_uniform_threshold():
    # the reference's tie-only draw equals comparing the full 24-bit uniforms
    for p in (0.0, 0.1, 0.5, 0.73):
        u = reference.dropout_uniform(5000, 9, 4)
        _, m = ops.dropout_forward(np.ones(5000), p, seed=9, counter=4)
        np.testing.assert_array_equal(m, u >= np.ceil(p * 2**24))
        assert u.min() >= 0 and u.max() < 2**24
