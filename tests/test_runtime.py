"""Runtime: threads, OpenMP visibility, fork safety, backend and ISA switches."""
import multiprocessing
import os
import time

import numpy as np
import pytest

import fastmlp
from fastmlp import _config, ops
from conftest import LATE_THREAD_GUARD, PARALLEL_MIN_NS, child_python, requires_c, supported_isas


def run_python(code, **env):
    full_env = dict(os.environ)
    for key, value in env.items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    out = child_python(["-c", code], env=full_env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_show_config_reports_everything():
    info = fastmlp.show_config(file=open(os.devnull, "w"))
    for key in ("version", "backend", "openmp", "num_threads", "isa", "gemm_f32"):
        assert key in info
    assert info["version"] == fastmlp.__version__
    assert info["backend"] == fastmlp.get_backend()


def test_set_num_threads_validates():
    old = _config._num_threads
    try:
        fastmlp.set_num_threads(3)
        assert fastmlp.get_num_threads() == 3
        with pytest.raises(ValueError, match="positive int, got 0"):
            fastmlp.set_num_threads(0)
        with pytest.raises(TypeError, match="positive int, got float"):
            fastmlp.set_num_threads(2.0)
        with pytest.raises(TypeError):
            fastmlp.set_num_threads(True)
        assert fastmlp.get_num_threads() == 3
    finally:
        _config._num_threads = old


@requires_c
def test_omp_num_threads_is_respected():
    assert run_python("import fastmlp; print(fastmlp.get_num_threads())", OMP_NUM_THREADS="1") == "1"
    assert run_python("import fastmlp; print(fastmlp.get_num_threads())", OMP_NUM_THREADS="5") == "5"


@requires_c
def test_threadpoolctl_sees_and_limits_our_openmp():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not _config._kernels.openmp_enabled():
        pytest.skip("serial build: no OpenMP runtime to see")
    old = _config._num_threads
    _config._num_threads = None
    try:
        apis = {(i["user_api"], i["internal_api"]) for i in threadpoolctl.threadpool_info()}
        assert ("openmp", "openmp") in apis
        with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
            assert fastmlp.get_num_threads() == 1
    finally:
        _config._num_threads = old


def _gemm_in_child(queue):
    a = np.ones((400, 400), np.float32)
    queue.put((fastmlp.get_num_threads(), float(ops.gemm(a, a)[0, 0])))


@requires_c
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_after_parallel_region_does_not_hang():
    # libgomp hangs a child forked after a parallel region if the child starts
    # another one; the child must fall back to one thread.
    old = _config._num_threads
    try:
        fastmlp.set_num_threads(2)
        a = np.ones((400, 400), np.float32)
        ops.gemm(a, a)  # runs a parallel region in the parent
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        proc = ctx.Process(target=_gemm_in_child, args=(queue,))
        proc.start()
        proc.join(60)
        assert not proc.is_alive(), "the forked child hung in OpenMP"
        threads, value = queue.get(timeout=5)
        assert threads == 1 and value == 400.0
    finally:
        _config._num_threads = old


def test_backend_switch(rng):
    old = fastmlp.get_backend()
    try:
        fastmlp.set_backend("reference")
        assert fastmlp.get_backend() == "reference"
        a = rng.standard_normal((5, 4))
        np.testing.assert_allclose(ops.gemm(a, a.T), a @ a.T)
        with pytest.raises(ValueError, match="Unknown backend 'cuda'"):
            fastmlp.set_backend("cuda")
        assert fastmlp.get_backend() == "reference"
    finally:
        fastmlp.set_backend(old)


def test_backend_environment_variable():
    assert run_python("import fastmlp; print(fastmlp.get_backend())", FASTMLP_BACKEND="reference") == "reference"


@requires_c
def test_isa_cannot_be_raised_above_the_cpu():
    with pytest.raises(ValueError, match="Unknown ISA"):
        _config.set_isa("sse9")
    best = supported_isas()[-1]
    _config.set_isa("generic")
    assert _config.get_isa() == "generic"
    _config.set_isa(best)
    assert _config.get_isa() == best


def test_spin_default_is_set_unless_user_chose():
    assert run_python("import os, fastmlp; print(os.environ.get('GOMP_SPINCOUNT'))",
                      GOMP_SPINCOUNT=None, OMP_WAIT_POLICY=None) == "20000"
    assert run_python("import os, fastmlp; print(os.environ.get('GOMP_SPINCOUNT'))",
                      GOMP_SPINCOUNT="7") == "7"
    assert run_python("import os, fastmlp; print(os.environ.get('GOMP_SPINCOUNT'))",
                      GOMP_SPINCOUNT=None, OMP_WAIT_POLICY="active") == "None"


@pytest.fixture
def product_in_a_region(rng):
    """A 2-thread GEMM that opens a parallel region unless the late-thread guard
    is backing off (every product goes parallel here); restores the defaults."""
    kernels = _config._kernels
    if not kernels.openmp_enabled():
        pytest.skip("built without OpenMP")
    a = rng.standard_normal((300, 200)).astype(np.float32)
    b = rng.standard_normal((200, 150)).astype(np.float32)
    kernels.set_parallel_min_ns(0.0)
    yield lambda: kernels.gemm(np.empty((300, 150), np.float32), a, b, 1.0, 0.0, False, False, 2)
    kernels.set_late_thread_guard(*LATE_THREAD_GUARD)
    kernels.set_parallel_min_ns(PARALLEL_MIN_NS)


@requires_c
def test_a_late_thread_keeps_work_on_the_calling_thread_for_a_while(product_in_a_region):
    # a team thread that begins late (here: any, with zero thresholds) makes
    # the kernels stay serial for 0.2 s; the results never depend on it
    kernels = _config._kernels
    kernels.set_late_thread_guard(0.0, 0.0, 1)
    before = kernels.late_thread_backoffs()
    first = product_in_a_region()
    assert kernels.late_thread_backoffs() == before + 1
    second = product_in_a_region()  # serial: no region
    assert kernels.late_thread_backoffs() == before + 1
    np.testing.assert_array_equal(second, first)
    kernels.set_late_thread_guard(1e15, 1.0, 1)  # ends the back-off; no thread is late now
    third = product_in_a_region()
    assert kernels.late_thread_backoffs() == before + 1
    np.testing.assert_array_equal(third, first)


@requires_c
def test_the_back_off_waits_for_late_threads_in_several_regions_in_a_row(product_in_a_region):
    # one late region (a vCPU held back for a moment on a quiet VM) is not a
    # busy machine: by default two in a row start a back-off; after it, one
    # late region starts the next, twice as long (0.4 s)
    kernels = _config._kernels
    for streak in (LATE_THREAD_GUARD[2], 3):
        kernels.set_late_thread_guard(0.0, 0.0, streak)  # every region is late
        before = kernels.late_thread_backoffs()
        for _ in range(streak - 1):
            product_in_a_region()
            assert kernels.late_thread_backoffs() == before
        product_in_a_region()
        assert kernels.late_thread_backoffs() == before + 1
    time.sleep(0.3)  # past the 0.2 s back-off
    product_in_a_region()
    began = time.monotonic()
    assert kernels.late_thread_backoffs() == before + 2
    time.sleep(0.25)  # past 0.2 s, within 0.4 s
    product_in_a_region()
    if time.monotonic() - began < 0.39:  # (unless the sleep overran on a loaded machine)
        assert kernels.late_thread_backoffs() == before + 2


def _l2_bytes():
    """One core's L2 as the kernel reports it (runtime.c asks sysconf, which
    reads the same CPUID leaves), or None."""
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index2/size") as f:
            text = f.read().strip()
    except OSError:
        return None
    scale = {"K": 1024, "M": 1024 * 1024}.get(text[-1:], 1)
    return int(text.rstrip("KM")) * scale


@pytest.fixture
def count_regions():
    """counts() -> back-offs since the last count, 0 when no parallel region ran
    (every region counts as late, and the back-off it starts keeps the next ones
    serial until counts() ends it); 2 threads."""
    kernels = _config._kernels
    if not kernels.openmp_enabled():
        pytest.skip("built without OpenMP")
    old = _config._num_threads
    fastmlp.set_num_threads(2)
    kernels.set_parallel_min_ns(PARALLEL_MIN_NS)
    kernels.set_late_thread_guard(0.0, 0.0, 1)
    last = [kernels.late_thread_backoffs()]

    def counts():
        now = kernels.late_thread_backoffs()
        n, last[0] = now - last[0], now
        kernels.set_late_thread_guard(0.0, 0.0, 1)  # ends a back-off
        return n

    try:
        yield counts
    finally:
        kernels.set_late_thread_guard(*LATE_THREAD_GUARD)
        _config._num_threads = old


@requires_c
def test_a_product_splits_from_a_tenth_of_the_work_an_elementwise_kernel_waits_for(rng, count_regions):
    # 2*64*784*30 = 3 MFLOP, ~30 us: two threads, in a layer or on its own;
    # 0.5 MFLOP stays on one. A ReLU over 2**18 values (~80 us by its
    # estimate) stays on one thread below the 200 us bar.
    x = rng.standard_normal((64, 784)).astype(np.float32)
    W = rng.standard_normal((784, 30)).astype(np.float32)
    in_layer = ops.dense_forward(x, W)
    assert count_regions() >= 1
    alone = ops.gemm(x, W)
    assert count_regions() >= 1
    np.testing.assert_array_equal(alone, in_layer)
    small = ops.gemm(x[:10], W)
    assert count_regions() == 0
    np.testing.assert_array_equal(small, in_layer[:10])
    ops.activation_forward(rng.standard_normal(1 << 18).astype(np.float32), "relu")
    assert count_regions() == 0


@requires_c
def test_an_update_that_outgrows_one_core_l2_splits_from_less_work(count_regions):
    # Adam sweeps params, grads and two state arrays: 16 bytes a float32
    # parameter, and its work estimate is ~0.56 ns a parameter. Beyond one
    # core's L2 it splits from ~20 us of work (each thread's part then stays in
    # its own L2 from step to step), within it only from the usual 200 us; the
    # same bits either way.
    def step(n, threads):
        gen = np.random.default_rng(n)
        p = gen.standard_normal(n).astype(np.float32)
        g = gen.standard_normal(n).astype(np.float32)
        fastmlp.set_num_threads(threads)
        opt = fastmlp.optim.Adam(lr=0.01)
        opt.step([p], [g])
        opt.step([p], [g])
        fastmlp.set_num_threads(2)
        return p

    n_big = 300_000  # 4.8 MB swept, ~170 us of work
    split = step(n_big, 2)
    assert count_regions() >= 1
    np.testing.assert_array_equal(step(n_big, 1), split)
    count_regions()
    l2 = _l2_bytes()
    if l2 is None:
        return
    n_within = int(0.75 * l2) // 16
    if 0.56 * n_within > 25_000:  # above the lower bar: only the L2 keeps it serial
        step(n_within, 2)
        assert count_regions() == 0
