"""Input checks (csrc/checks.c): fm_all_finite against reference.all_finite and
np.isfinite, on every ISA path and thread count, and the model's use of it."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastmlp
from fastmlp import _config, ops
from fastmlp import reference as R

from conftest import HAVE_C, requires_c

BLOCK = 16384  # csrc/checks.c's CHECK_BLOCK
SIZES = [0, 1, 7, 8, 9, 31, 257, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 5]
SPECIALS = [np.nan, np.inf, -np.inf]


def _both(x, n_threads):
    out = [R.all_finite(x)]
    if HAVE_C:
        out.append(_config._kernels.all_finite(x, n_threads))
    return out


@requires_c
@pytest.mark.parametrize("size", SIZES)
def test_finite_arrays(size, dtype, n_threads, isa, rng):
    x = (rng.standard_normal(size) * 1e3).astype(dtype)
    assert _both(x, n_threads) == [True, True]


@requires_c
@pytest.mark.parametrize("size", [s for s in SIZES if s > 0])
@pytest.mark.parametrize("special", SPECIALS, ids=["nan", "inf", "-inf"])
def test_one_bad_value_anywhere(size, special, dtype, n_threads, isa, rng):
    x = rng.standard_normal(size).astype(dtype)
    for pos in sorted({0, size // 2, size - 1, min(size - 1, BLOCK - 1), min(size - 1, BLOCK)}):
        y = x.copy()
        y[pos] = special
        assert _both(y, n_threads) == [False, False], pos


@requires_c
def test_extreme_finite_values_are_finite(dtype, n_threads, isa):
    info = np.finfo(dtype)
    x = np.array([0.0, -0.0, info.max, -info.max, info.tiny, info.smallest_subnormal,
                  -info.smallest_subnormal, 1.0], dtype)
    assert _both(x, n_threads) == [True, True]


@requires_c
def test_nan_payloads_and_signs(dtype, isa):
    # any exponent-all-ones pattern is non-finite: signalling and negative NaNs too
    bits = {np.float32: [0x7f800001, 0xffc00000, 0x7fbfffff, 0xff800000],
            np.float64: [0x7ff0000000000001, 0xfff8000000000000, 0xfff0000000000000]}[dtype.type]
    itype = np.uint32 if dtype == np.float32 else np.uint64
    for b in bits:
        x = np.ones(40, dtype)
        x.view(itype)[23] = b
        assert _both(x, 1) == [False, False], hex(b)


@requires_c
@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 3 * BLOCK), where=st.lists(st.integers(0, 10**9), max_size=3),
       f64=st.booleans(), threads=st.sampled_from([1, 3]))
def test_matches_numpy(size, where, f64, threads):
    x = np.linspace(-1, 1, size, dtype=np.float64 if f64 else np.float32)
    for w in where:
        if size:
            x[w % size] = np.inf if w % 2 else np.nan
    expected = bool(np.isfinite(x).all())
    assert R.all_finite(x) == expected
    assert _config._kernels.all_finite(x, threads) == expected


def test_ops_all_finite_checks_and_dispatches(backend):
    assert ops.all_finite(np.zeros((3, 4), np.float32))
    assert not ops.all_finite(np.array([[1.0, np.nan]]))
    assert ops.all_finite(np.zeros((0, 5)))
    assert not ops.all_finite(np.full((6, 4), np.inf)[::2])  # non-contiguous: converted first
    with pytest.raises(TypeError, match="x must be a float32 or float64 array"):
        ops.all_finite(np.array(["a"]))


def test_model_check_names_the_bad_values(backend):
    model = fastmlp.MLP([4, 3, 2], seed=0)
    X = np.ones((50, 4), np.float32)
    X[3, 1], X[7, 2], X[9, 0] = np.nan, np.inf, -np.inf
    with pytest.raises(ValueError, match=r"X contains non-finite values: 1 NaN and 2 Inf"):
        model.fit(X, np.zeros(50, np.int64), verbose=0)
    with pytest.raises(ValueError, match=r"X contains non-finite values: 1 NaN and 2 Inf"):
        model.predict_proba(X)
    # a value finite in float64 that overflows float32
    X64 = np.ones((5, 4))
    X64[2, 2] = 1e300
    with np.errstate(over="ignore"), \
            pytest.raises(ValueError, match=r"X \(converted to float32\) contains non-finite values: 0 NaN and 1 Inf"):
        model.fit(X64, np.zeros(5, np.int64), verbose=0)
    # float16 and strided inputs take the fallback path
    with pytest.raises(ValueError, match="non-finite"):
        model.fit(np.full((5, 4), np.inf, np.float16), np.zeros(5, np.int64), verbose=0)
    Xs = np.ones((10, 8), np.float32)
    Xs[4, 6] = np.nan
    with pytest.raises(ValueError, match="1 NaN and 0 Inf"):
        model.fit(Xs[:, ::2], np.zeros(10, np.int64), verbose=0)
