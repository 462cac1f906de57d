"""Optimizers, clipping and schedules.

The C kernels against the numpy reference (bit for bit: both round every
product and sum, with FMA contraction off in C) over many steps, every option
combination, odd sizes, every ISA and 1 vs 3 threads; the reference against
sequences computed by hand from the published formulas and against torch.optim
when torch is importable; the course's behaviours on a quadratic; state_dict
resume; schedules; clipping.
"""
import itertools
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastmlp
from fastmlp import _config, ops, optim, reference
from conftest import requires_c

SHAPES = [(1,), (7, 3), (33,), (17, 129), (5, 20011)]  # the last one is split over threads

SGD_CASES = [dict(momentum=m, dampening=d, nesterov=n, weight_decay=w)
             for m, d, n, w in itertools.product((0.0, 0.9), (0.0, 0.3), (False, True), (0.0, 0.01))
             if not (n and (m == 0 or d != 0))]
ADAGRAD_CASES = [dict(weight_decay=w, lr_decay=d, initial_accumulator_value=a)
                 for w, d, a in itertools.product((0.0, 0.01), (0.0, 0.1), (0.0, 0.1))]
RMSPROP_CASES = [dict(momentum=m, centered=c, weight_decay=w, alpha=a)
                 for m, c, w, a in itertools.product((0.0, 0.9), (False, True), (0.0, 0.01), (0.99, 0.3))]
ADAM_CASES = [dict(weight_decay=w, betas=b)
              for w, b in itertools.product((0.0, 0.01), ((0.9, 0.999), (0.3, 0.6)))]

ALL_CASES = ([(optim.SGD, dict(lr=0.05, **kw)) for kw in SGD_CASES]
             + [(optim.Adagrad, dict(lr=0.05, **kw)) for kw in ADAGRAD_CASES]
             + [(optim.RMSprop, dict(lr=0.01, **kw)) for kw in RMSPROP_CASES]
             + [(optim.Adam, dict(lr=0.01, **kw)) for kw in ADAM_CASES]
             + [(optim.AdamW, dict(lr=0.01, **kw)) for kw in ADAM_CASES])


def case_id(case):
    cls, kw = case
    return cls.__name__ + "-" + "-".join(f"{k}={v}" for k, v in kw.items() if k != "lr")


def make_problem(seed, dtype, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def grad_stream(seed, params, steps):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(p.shape).astype(p.dtype) for p in params] for _ in range(steps)]


def run_steps(backend, cls, kw, params, grads_seq):
    old = fastmlp.get_backend()
    fastmlp.set_backend(backend)
    try:
        opt = cls(**kw)
        params = [p.copy() for p in params]
        for grads in grads_seq:
            opt.step(params, grads)
        return params, opt.state_dict()
    finally:
        fastmlp.set_backend(old)


def assert_state_equal(a, b):
    assert a["state"].keys() == b["state"].keys()
    for i in a["state"]:
        assert a["state"][i].keys() == b["state"][i].keys()
        for k in a["state"][i]:
            np.testing.assert_array_equal(a["state"][i][k], b["state"][i][k], err_msg=f"state {i} {k}")


# ------------------------------------------------------ C against the reference

@requires_c
@pytest.mark.parametrize("case", ALL_CASES, ids=case_id)
def test_c_matches_reference_bitwise(case, dtype, isa, n_threads):
    cls, kw = case
    params = make_problem(1, dtype)
    grads_seq = grad_stream(2, params, 6)
    got, got_state = run_steps("c", cls, kw, params, grads_seq)
    want, want_state = run_steps("reference", cls, kw, params, grads_seq)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert_state_equal(got_state, want_state)


@requires_c
@pytest.mark.parametrize("case", [ALL_CASES[3], ALL_CASES[-1]], ids=case_id)
def test_mixed_dtype_list(case, c_backend):
    cls, kw = case
    params = make_problem(3, np.float32, [(5, 3), (4,)]) + make_problem(4, np.float64, [(9,), (2, 2)])
    params = [params[0], params[2], params[1], params[3]]
    grads_seq = grad_stream(5, params, 5)
    got, _ = run_steps("c", cls, kw, params, grads_seq)
    want, _ = run_steps("reference", cls, kw, params, grads_seq)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


@requires_c
@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(0, 300), min_size=1, max_size=5), seed=st.integers(0, 1000),
       f64=st.booleans())
def test_c_matches_reference_any_sizes(sizes, seed, f64):
    dtype = np.float64 if f64 else np.float32
    params = make_problem(seed, dtype, [(s,) for s in sizes])
    grads_seq = grad_stream(seed + 1, params, 3)
    for cls, kw in (ALL_CASES[5], ALL_CASES[-3]):
        got, _ = run_steps("c", cls, kw, params, grads_seq)
        want, _ = run_steps("reference", cls, kw, params, grads_seq)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def test_backend_switch_mid_training_continues(dtype):
    if not _config._kernels:
        pytest.skip("the compiled extension is not built")
    params = make_problem(6, dtype, [(40, 3), (3,)])
    grads_seq = grad_stream(7, params, 8)
    want, _ = run_steps("reference", optim.Adam, dict(lr=0.01), params, grads_seq)
    opt = optim.Adam(lr=0.01)
    ps = [p.copy() for p in params]
    old = fastmlp.get_backend()
    try:
        for k, grads in enumerate(grads_seq):
            fastmlp.set_backend("c" if k % 2 else "reference")
            opt.step(ps, grads)
    finally:
        fastmlp.set_backend(old)
    for g, w in zip(ps, want):
        np.testing.assert_array_equal(g, w)


# ------------------------------------------- the reference against the formulas

def textbook(kind, w, grads, **hp):
    """The published update rules on one float64 scalar, written as in the papers."""
    out = []
    m = v = b = a = 0.0
    s = hp.get("initial_accumulator_value", 0.0)
    for t, g in enumerate(grads, 1):
        if kind == "sgd":
            g = g + hp["weight_decay"] * w
            if hp["momentum"] != 0:  # momentum 0: plain gradient descent
                b = g if t == 1 else hp["momentum"] * b + (1 - hp["dampening"]) * g
                g = g + hp["momentum"] * b if hp["nesterov"] else b
            w = w - hp["lr"] * g
        elif kind == "adagrad":
            g = g + hp["weight_decay"] * w
            s = s + g * g
            w = w - hp["lr"] / (1 + (t - 1) * hp["lr_decay"]) * g / (math.sqrt(s) + hp["eps"])
        elif kind == "rmsprop":
            g = g + hp["weight_decay"] * w
            v = hp["alpha"] * v + (1 - hp["alpha"]) * g * g
            if hp["centered"]:
                a = hp["alpha"] * a + (1 - hp["alpha"]) * g
                den = math.sqrt(v - a * a) + hp["eps"]
            else:
                den = math.sqrt(v) + hp["eps"]
            if hp["momentum"] > 0:
                b = hp["momentum"] * b + g / den
                w = w - hp["lr"] * b
            else:
                w = w - hp["lr"] * g / den
        else:  # adam, adamw
            b1, b2 = hp["betas"]
            if kind == "adamw":
                w = w * (1 - hp["lr"] * hp["weight_decay"])
            else:
                g = g + hp["weight_decay"] * w
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            mhat, vhat = m / (1 - b1 ** t), v / (1 - b2 ** t)
            w = w - hp["lr"] * mhat / (math.sqrt(vhat) + hp["eps"])
        out.append(w)
    return out


KIND = {optim.SGD: "sgd", optim.Adagrad: "adagrad", optim.RMSprop: "rmsprop", optim.Adam: "adam",
        optim.AdamW: "adamw"}


@pytest.mark.parametrize("case", ALL_CASES, ids=case_id)
def test_reference_matches_textbook_formulas(case, reference_backend):
    cls, kw = case
    opt = cls(**kw)
    hp = {**opt.hyperparameters()}
    rng = np.random.default_rng(8)
    grads = list(rng.standard_normal(25))
    want = textbook(KIND[cls], 0.7, grads, **hp)
    w = np.array([0.7])
    for g, expect in zip(grads, want):
        opt.step([w], [np.array([g])])
        assert w[0] == pytest.approx(expect, rel=1e-12, abs=1e-14)


def test_adam_first_step_is_lr_times_sign(reference_backend):
    # with bias correction, the first Adam step is lr * g / (|g| + eps')
    for g in (3.0, -0.25, 1e-3):
        w = np.array([1.0])
        optim.Adam(lr=0.1).step([w], [np.array([g])])
        assert w[0] == pytest.approx(1.0 - 0.1 * math.copysign(1, g), rel=1e-5)


# ------------------------------------------------------------ against torch

def _torch_cases():
    return [(optim.SGD, "SGD", dict(lr=0.05, momentum=0.9, dampening=0.0, nesterov=True, weight_decay=0.01)),
            (optim.SGD, "SGD", dict(lr=0.05, momentum=0.5, dampening=0.3, weight_decay=0.0)),
            (optim.SGD, "SGD", dict(lr=0.05)),
            (optim.Adagrad, "Adagrad", dict(lr=0.05, weight_decay=0.01, lr_decay=0.01,
                                             initial_accumulator_value=0.1)),
            (optim.RMSprop, "RMSprop", dict(lr=0.01, momentum=0.9, weight_decay=0.01)),
            (optim.RMSprop, "RMSprop", dict(lr=0.01, centered=True, alpha=0.9)),
            (optim.Adam, "Adam", dict(lr=0.01, weight_decay=0.01)),
            (optim.Adam, "Adam", dict(lr=0.01, betas=(0.3, 0.6))),
            (optim.AdamW, "AdamW", dict(lr=0.01)),
            (optim.AdamW, "AdamW", dict(lr=0.01, weight_decay=0.1, betas=(0.8, 0.99)))]


@pytest.mark.parametrize("cls,tname,kw", _torch_cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_matches_torch(cls, tname, kw, dtype, backend):
    torch = pytest.importorskip("torch")
    params = make_problem(9, dtype, [(31, 7), (7,)])
    grads_seq = grad_stream(10, params, 40)
    tp = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    topt = getattr(torch.optim, tname)(tp, foreach=False, **kw)
    opt = cls(**kw)
    ps = [p.copy() for p in params]
    for grads in grads_seq:
        for t, g in zip(tp, grads):
            t.grad = torch.tensor(g)
        topt.step()
        opt.step(ps, grads)
    for p, t in zip(ps, tp):
        want = t.detach().numpy()
        # torch fuses some multiply-adds (AVX2 fmadd in add(alpha=)); fastmlp rounds each op
        rtol, atol = (1e-11, 1e-12) if dtype == np.float64 else (2e-4, 2e-5)
        np.testing.assert_allclose(p, want, rtol=rtol, atol=atol)
    # the state matches too
    sd = opt.state_dict()["state"]
    tsd = topt.state_dict()["state"]
    for i in range(len(params)):
        for name, arr in sd[i].items():
            if name == "step":
                if "step" in tsd.get(i, {}):
                    assert arr == int(tsd[i]["step"])
                continue
            rtol, atol = (1e-10, 1e-12) if dtype == np.float64 else (2e-4, 2e-5)
            np.testing.assert_allclose(arr, tsd[i][name].numpy(), rtol=rtol, atol=atol)


# ------------------------------------------------------ the course's behaviours

def quadratic_run(opt, steps, w0=0.0, dtype=np.float64):
    """Minimise w**2 - 10*w + 25 (gradient 2w - 10); the trajectory of w."""
    w = np.array([w0], dtype)
    traj = np.empty(steps)
    for k in range(steps):
        opt.step([w], [2 * w - 10])
        traj[k] = w[0]
    return traj


def test_course_example_sgd_reaches_5(backend, dtype):
    traj = quadratic_run(optim.SGD(lr=0.01), 1000, dtype=dtype)
    # float32 stalls once lr * (2w - 10) is below half an ulp of 5 (w within ~1.2e-5)
    assert traj[-1] == pytest.approx(5.0, abs=1e-6 if dtype == np.float64 else 2e-5)


@pytest.mark.parametrize("opt", [
    optim.SGD(lr=0.01, momentum=0.9), optim.SGD(lr=0.01, momentum=0.9, nesterov=True),
    optim.Adagrad(lr=1.0), optim.RMSprop(lr=0.01), optim.RMSprop(lr=0.01, momentum=0.5, centered=True),
    optim.Adam(lr=0.1), optim.AdamW(lr=0.1, weight_decay=0.0)], ids=repr)
def test_every_optimizer_converges(opt, backend):
    opt.reset()
    traj = quadratic_run(opt, 2000)
    assert np.abs(traj[-100:] - 5.0).max() < 1e-3


def test_momentum_one_without_friction_never_settles(backend):
    undamped = quadratic_run(optim.SGD(lr=0.01, momentum=1.0, dampening=0.0), 3000)
    damped = quadratic_run(optim.SGD(lr=0.01, momentum=0.9), 3000)
    # the undamped ball keeps swinging through the whole basin; friction settles it
    assert np.abs(undamped[-500:] - 5.0).max() > 4.0
    assert np.abs(damped[-500:] - 5.0).max() < 1e-6


def test_adagrad_step_shrinks_rmsprop_does_not(backend):
    # far from the minimum of (w - 1000)^2 the gradient is nearly constant
    def steps(opt):
        w = np.array([0.0])
        moves = []
        for _ in range(1000):
            before = w[0]
            opt.step([w], [2 * (w - 1000.0)])
            moves.append(abs(w[0] - before))
        return np.array(moves)

    ada = steps(optim.Adagrad(lr=0.5))
    rms = steps(optim.RMSprop(lr=0.5, alpha=0.9))
    assert ada[999] < 0.05 * ada[0]                 # ~ lr / sqrt(t)
    assert ada[999] == pytest.approx(0.5 / math.sqrt(1000), rel=0.05)
    assert rms[999] > 0.9 * 0.5 and rms[99] > 0.9 * 0.5   # ~ lr throughout
    assert np.all(np.diff(ada) <= 0)


# ------------------------------------------------------------ state and API

@pytest.mark.parametrize("case", ALL_CASES[::3], ids=case_id)
def test_state_dict_resume_is_bit_identical(case, backend, dtype):
    cls, kw = case
    params = make_problem(11, dtype, [(13, 4), (4,)])
    grads_seq = grad_stream(12, params, 20)
    opt = cls(**kw)
    ps = [p.copy() for p in params]
    for grads in grads_seq[:10]:
        opt.step(ps, grads)
    saved, saved_params = opt.state_dict(), [p.copy() for p in ps]
    for grads in grads_seq[10:]:
        opt.step(ps, grads)
    # the saved dict is a snapshot, untouched by later steps
    resumed = cls(lr=123.0)
    resumed.load_state_dict(saved)
    assert resumed.hyperparameters() == opt.hyperparameters()
    for grads in grads_seq[10:]:
        resumed.step(saved_params, grads)
    for a, b in zip(ps, saved_params):
        np.testing.assert_array_equal(a, b)
    assert_state_equal(opt.state_dict(), resumed.state_dict())


@pytest.mark.parametrize("copier", ["pickle", "deepcopy"])
def test_pickle_and_deepcopy_continue_identically(copier, backend):
    import copy
    import pickle

    params = make_problem(15, np.float32, [(6, 4), (4,)])
    grads_seq = grad_stream(16, params, 6)
    opt = optim.SGD(lr=0.1, momentum=0.9, nesterov=True)
    for grads in grads_seq[:3]:
        opt.step(params, grads)
    twin = pickle.loads(pickle.dumps(opt)) if copier == "pickle" else copy.deepcopy(opt)
    twin_params = [p.copy() for p in params]
    for grads in grads_seq[3:]:
        opt.step(params, grads)
        twin.step(twin_params, grads)
    for a, b in zip(params, twin_params):
        np.testing.assert_array_equal(a, b)
    sched = optim.StepLR(opt, 2)
    assert pickle.loads(pickle.dumps(sched)).step_size == 2


def test_loaded_state_of_wrong_shape_is_refused_at_step(backend):
    opt = optim.RMSprop(momentum=0.9, centered=True)
    params = [np.ones(4), np.ones(2)]
    opt.step(params, [np.ones(4), np.ones(2)])
    sd = opt.state_dict()
    del sd["state"][1]["momentum_buffer"]
    sd["state"][1]["grad_avg"] = np.ones(7)
    fresh = optim.RMSprop()
    fresh.load_state_dict(sd)
    with pytest.raises(ValueError, match="grad_avg at position 1"):
        fresh.step(params, [np.ones(4), np.ones(2)])


def test_state_dict_layout():
    opt = optim.Adam(lr=0.01)
    params = [np.ones((3, 2), np.float32), np.ones(2, np.float32)]
    assert opt.state_dict()["state"] == {}
    opt.step(params, [np.ones_like(p) for p in params])
    sd = opt.state_dict()
    assert set(sd["state"]) == {0, 1}
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"} and sd["state"][0]["step"] == 1
    assert sd["param_groups"][0]["lr"] == 0.01 and sd["param_groups"][0]["params"] == [0, 1]
    sgd = optim.SGD(lr=0.1)
    sgd.step(params, [np.ones_like(p) for p in params])
    assert set(sgd.state_dict()["state"][0]) == {"step"}  # no momentum, no buffer


def test_load_state_dict_refuses_garbage():
    opt = optim.Adam(lr=0.01)
    with pytest.raises(ValueError):
        opt.load_state_dict({"state": {}})
    with pytest.raises(ValueError):
        opt.load_state_dict({"state": {}, "param_groups": [{"lr": 0.1, "momentum": 0.9}]})
    with pytest.raises(ValueError, match="beta"):
        opt.load_state_dict({"state": {}, "param_groups": [{"lr": 0.1, "betas": (1.5, 0.9)}]})
    assert opt.betas == (0.9, 0.999) and opt.lr == 0.01


def test_lr_is_settable_and_checked():
    opt = optim.SGD(lr=0.1)
    opt.lr = 0.0  # a schedule may reach 0
    w = np.array([1.0])
    opt.step([w], [np.array([1.0])])
    assert w[0] == 1.0
    opt.lr = 0.5
    opt.step([w], [np.array([1.0])])
    assert w[0] == 0.5
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="Invalid learning rate"):
            opt.lr = bad
    with pytest.raises(TypeError):
        opt.lr = "0.1"
    assert opt.lr == 0.5


@pytest.mark.parametrize("make", [
    lambda: optim.SGD(lr=0.1, weight_decay=-1), lambda: optim.SGD(lr=0.1, momentum=float("nan")),
    lambda: optim.SGD(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
    lambda: optim.Adam(betas=(0.9,)), lambda: optim.Adam(eps=-1e-8), lambda: optim.Adam(lr=float("inf")),
    lambda: optim.RMSprop(alpha=1.5), lambda: optim.RMSprop(momentum=-0.1),
    lambda: optim.Adagrad(lr_decay=-1), lambda: optim.Adagrad(eps=0.0),
    lambda: optim.AdamW(betas=(0.9, 1.0)),
])
def test_invalid_hyperparameters(make):
    with pytest.raises((ValueError, TypeError)):
        make()


def test_step_refusals_change_nothing(backend):
    params = [np.ones((3, 2)), np.ones(2)]
    opt = optim.SGD(lr=0.1, momentum=0.9)
    opt.step(params, [np.ones((3, 2)), np.ones(2)])
    before = [p.copy() for p in params], opt.state_dict()
    bad_calls = [
        (params, [np.ones((3, 2))]),
        (params, [np.ones((3, 2)), np.ones(3)]),
        (params, [np.ones((3, 2), np.float32), np.ones(2)]),
        (params[:1], [np.ones((3, 2))]),
        ([params[0], params[0][0]], [np.ones((3, 2)), np.ones(2)]),     # params share memory
        ([params[0], [1.0, 2.0]], [np.ones((3, 2)), np.ones(2)]),       # a list is not updatable
        ((p for p in params), [np.ones((3, 2)), np.ones(2)]),
    ]
    for args in bad_calls:
        with pytest.raises((TypeError, ValueError)):
            opt.step(*args)
        for p, b in zip(params, before[0]):
            np.testing.assert_array_equal(p, b)
        assert_state_equal(opt.state_dict(), before[1])


def test_grads_may_be_new_arrays_lists_or_aliases(backend):
    params = [np.full((4, 3), 2.0), np.full(3, 2.0)]
    opt = optim.SGD(lr=0.5)
    opt.step(params, [np.ones((4, 3)), np.ones(3)])
    opt.step(params, [np.ones((4, 3)).tolist(), np.asfortranarray(np.ones((3,)))])
    np.testing.assert_array_equal(params[1], 1.0)
    opt.step(params, params)  # grad is the param itself: p - 0.5 * p
    np.testing.assert_array_equal(params[1], 0.5)
    # a grad that is a view of another param is read before anything is written
    w = np.arange(6.0)
    params2 = [w[:3], w[3:]]
    opt2 = optim.SGD(lr=1.0)
    opt2.step(params2, [w[3:], w[:3]])
    np.testing.assert_array_equal(w, [-3.0, -3.0, -3.0, 3.0, 3.0, 3.0])


def test_plan_is_reused(c_backend):
    params = [np.ones((5, 2), np.float32), np.ones(2, np.float32)]
    grads = [np.ones_like(p) for p in params]
    opt = optim.Adam()
    opt.step(params, grads)
    plan = opt._plan
    for _ in range(3):
        opt.step(params, grads)
        opt.step(list(params), [g.copy() for g in grads])
    assert opt._plan is plan
    params[0] = np.ones((5, 2), np.float32)  # a new array at the same position: same state
    opt.step(params, grads)
    assert opt._plan is not plan and opt._step == 8


def test_hyperparameters_changed_between_steps(backend):
    # state appears when an option that needs it is switched on; never a crash
    params = [np.ones(5), np.ones(3)]
    grads = [np.full(5, 0.5), np.full(3, 0.5)]
    opt = optim.SGD(lr=0.1)
    opt.step(params, grads)
    opt.momentum = 0.9
    opt.step(params, grads)
    opt.step(params, grads)
    np.testing.assert_allclose(params[0], 1 - 0.05 - 0.05 - 0.05 * 1.9)
    rms = optim.RMSprop(lr=0.01)
    rms.step(params, grads)
    rms.momentum, rms.centered = 0.5, True
    rms.step(params, grads)
    assert set(rms.state_dict()["state"][0]) == {"step", "square_avg", "momentum_buffer", "grad_avg"}
    assert np.isfinite(params[0]).all()


def test_layout_change_is_refused():
    opt = optim.Adam()
    opt.step([np.ones(3)], [np.ones(3)])
    with pytest.raises(ValueError, match="position"):
        opt.step([np.ones(3), np.ones(2)], [np.ones(3), np.ones(2)])
    with pytest.raises(ValueError, match="shape"):
        opt.step([np.ones(4)], [np.ones(4)])
    with pytest.raises(ValueError, match="float32"):
        opt.step([np.ones(3, np.float32)], [np.ones(3, np.float32)])
    opt.reset()
    opt.step([np.ones(4)], [np.ones(4)])


def test_extreme_inputs_stay_finite_without_warnings(backend, dtype):
    big = np.finfo(dtype).max / 4
    for opt in (optim.Adam(), optim.AdamW(), optim.RMSprop(), optim.Adagrad(), optim.SGD(lr=0.1, momentum=0.9)):
        params = [np.zeros(17, dtype), np.ones(3, dtype)]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for grads in ([np.zeros(17, dtype), np.zeros(3, dtype)],
                          [np.full(17, 1e-30, dtype), np.full(3, -1e-30, dtype)]):
                opt.step(params, grads)
            if not isinstance(opt, optim.SGD):
                opt.step(params, [np.full(17, big, dtype), np.full(3, -big, dtype)])
        assert all(np.isfinite(p).all() for p in params), opt


def test_nan_gradient_propagates(backend):
    w = np.array([1.0, 2.0])
    optim.Adam().step([w], [np.array([np.nan, 1.0])])
    assert np.isnan(w[0]) and np.isfinite(w[1])


# ------------------------------------------------------------------ ops level

def test_ops_updates_match_reference_functions(backend, dtype):
    p = make_problem(13, dtype, [(6, 5)])
    g = grad_stream(14, p, 1)[0]
    m, v = [np.zeros_like(p[0])], [np.zeros_like(p[0])]
    got = ops.adam_update([p[0].copy()], g, m, v, step=1, lr=0.1)
    want = reference.adam_update([p[0].copy()], [np.zeros_like(p[0])], [np.zeros_like(p[0])], g,
                                 0.1, 0.9, 0.999, 1e-8, 0.0, False, 1)
    np.testing.assert_array_equal(got[0], want[0])
    q = [p[0].copy()]
    ops.sgd_update(q, g, lr=0.5)
    np.testing.assert_array_equal(q[0], p[0] + dtype.type(-0.5) * g[0])
    with pytest.raises(ValueError, match="momentum_buffers"):
        ops.sgd_update(q, g, lr=0.5, momentum=0.9)
    with pytest.raises(ValueError, match="step"):
        ops.adam_update(q, g, m, v, step=0)
    s = [np.zeros_like(p[0])]
    ops.adagrad_update(q, g, s, clr=0.1)
    ops.rmsprop_update(q, g, [np.zeros_like(p[0])], lr=0.1)
    assert np.isfinite(q[0]).all()


# ------------------------------------------------------------------- clipping

def test_grad_norm_deterministic_and_exact(dtype, rng):
    grads = [rng.standard_normal(s).astype(dtype) * 3 for s in [(1,), (4097,), (300, 301), (9,)]]
    want = reference.grad_norm(grads)
    exact = math.sqrt(math.fsum(float(x) ** 2 for g in grads for x in g.ravel()))
    assert want == pytest.approx(exact, rel=1e-13)
    if _config._kernels is None:
        return
    from conftest import supported_isas
    for isa in supported_isas():
        _config.set_isa(isa)
        try:
            for nt in (1, 2, 3, 7):
                assert _config._kernels.grad_norm(grads, nt) == want, (isa, nt)
        finally:
            _config.set_isa(supported_isas()[-1])


@pytest.mark.parametrize("scale", [1e-200, 1e200, 1e300])
def test_grad_norm_float64_never_overflows(scale, backend):
    grads = [np.full(1000, scale), np.full(7, -scale)]
    total = optim.clip_grad_norm(grads, 1.0)
    assert total == pytest.approx(scale * math.sqrt(1007), rel=1e-13)
    assert np.isfinite(grads[0]).all() and np.isfinite(grads[1]).all()
    if scale > 1:
        assert reference.grad_norm(grads) == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_norm_scales_to_max_norm(backend, dtype, n_threads, rng):
    grads = [rng.standard_normal(s).astype(dtype) for s in [(50, 3), (3,), (20001,)]]
    orig = [g.copy() for g in grads]
    total = optim.clip_grad_norm(grads, 2.0)
    assert total == pytest.approx(math.sqrt(sum(float((o.astype(float) ** 2).sum()) for o in orig)), rel=1e-10)
    coef = 2.0 / (total + 1e-6)
    for g, o in zip(grads, orig):
        np.testing.assert_array_equal(g, o * dtype.type(coef))
    # under the limit nothing changes
    again = [g.copy() for g in grads]
    assert optim.clip_grad_norm(grads, 1e9) == pytest.approx(2.0, rel=1e-5)
    for g, a in zip(grads, again):
        np.testing.assert_array_equal(g, a)


def test_clip_grad_norm_nonfinite(backend):
    grads = [np.array([1.0, np.inf, 2.0]), np.array([3.0])]
    with pytest.raises(RuntimeError, match="non-finite"):
        optim.clip_grad_norm(grads, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(grads[0], [1.0, np.inf, 2.0])
    # torch semantics: the factor is max_norm / inf = 0
    total = optim.clip_grad_norm(grads, 1.0)
    assert total == math.inf
    np.testing.assert_array_equal(grads[1], [0.0])
    assert grads[0][0] == 0.0 and np.isnan(grads[0][1])
    nan_grads = [np.array([np.nan, 1.0])]
    assert math.isnan(optim.clip_grad_norm(nan_grads, 1.0))
    assert np.isnan(nan_grads[0]).all()
    with pytest.raises(RuntimeError):
        optim.clip_grad_norm([np.array([np.nan])], 1.0, error_if_nonfinite=True)


def test_clip_grad_value(backend, dtype):
    g = np.array([-3.0, -0.5, 0.0, 0.5, 3.0, np.nan], dtype)
    optim.clip_grad_value([g], 1.0)
    np.testing.assert_array_equal(g, np.array([-1.0, -0.5, 0.0, 0.5, 1.0, np.nan], dtype))
    with pytest.raises(ValueError):
        optim.clip_grad_value([g], -1.0)
    with pytest.raises(ValueError):
        optim.clip_grad_value([g], float("nan"))


def test_clipping_matches_torch(backend, dtype, rng):
    torch = pytest.importorskip("torch")
    grads = [rng.standard_normal(s).astype(dtype) for s in [(30, 7), (7,)]]
    tg = [torch.tensor(g.copy()) for g in grads]
    ps = [torch.zeros_like(t, requires_grad=True) for t in tg]
    for p, t in zip(ps, tg):
        p.grad = t
    tn = torch.nn.utils.clip_grad_norm_(ps, 1.5)
    n = optim.clip_grad_norm(grads, 1.5)
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    assert n == pytest.approx(float(tn), rel=rtol)
    for g, p in zip(grads, ps):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=10 * rtol, atol=0)
    torch.nn.utils.clip_grad_value_(ps, 0.05)
    optim.clip_grad_value(grads, 0.05)
    for g, p in zip(grads, ps):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=10 * rtol, atol=0)


# ------------------------------------------------------------------ schedules

def lr_sequence(sched, n, metrics=None):
    out = [sched.get_last_lr()[0]]
    for k in range(n):
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[k])
        out.append(sched.get_last_lr()[0])
        assert sched.optimizer.lr == out[-1]
    return np.array(out)


def test_schedules_follow_their_formulas():
    lr0 = 0.3
    t = np.arange(41)
    seq = lr_sequence(optim.StepLR(optim.SGD(lr=lr0), step_size=7, gamma=0.5), 40)
    np.testing.assert_allclose(seq, lr0 * 0.5 ** (t // 7), rtol=1e-14)
    seq = lr_sequence(optim.ExponentialLR(optim.SGD(lr=lr0), gamma=0.9), 40)
    np.testing.assert_allclose(seq, lr0 * 0.9 ** t, rtol=1e-13)
    seq = lr_sequence(optim.InverseTimeLR(optim.SGD(lr=lr0), decay=0.25), 40)
    np.testing.assert_array_equal(seq, lr0 / (1 + 0.25 * t))
    seq = lr_sequence(optim.CosineAnnealingLR(optim.SGD(lr=lr0), T_max=10, eta_min=0.01), 40)
    np.testing.assert_allclose(seq, 0.01 + (lr0 - 0.01) * (1 + np.cos(np.pi * t / 10)) / 2,
                               rtol=1e-12, atol=1e-15)
    seq = lr_sequence(optim.CosineAnnealingLR(optim.SGD(lr=lr0), T_max=10), 10)
    assert abs(seq[-1]) < 1e-16  # lr may reach 0


def test_reduce_on_plateau():
    opt = optim.SGD(lr=1.0)
    sched = optim.ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1, min_lr=0.1)
    metrics = [5, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, float("nan"), 3]
    seq = lr_sequence(sched, len(metrics), metrics)
    # traced by hand: 3 bad epochs (> patience 2) halve lr, the next epoch is cooldown,
    # a NaN metric is a bad epoch, and lr stops at min_lr
    want = [1.0] * 5 + [0.5] * 7 + [0.25] * 4 + [0.125] * 4 + [0.1]
    np.testing.assert_array_equal(seq, want)
    with pytest.raises(ValueError):
        optim.ReduceLROnPlateau(opt, factor=1.0)


def test_schedules_match_torch():
    torch = pytest.importorskip("torch")
    from torch.optim import lr_scheduler as L

    def torch_seq(make, n, metrics=None):
        w = torch.zeros(1, requires_grad=True)
        o = torch.optim.SGD([w], lr=0.3)
        s = make(o)
        out = [o.param_groups[0]["lr"]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for k in range(n):
                o.step()
                s.step() if metrics is None else s.step(metrics[k])
                out.append(o.param_groups[0]["lr"])
        return np.array(out)

    pairs = [
        (lambda o: L.StepLR(o, 7, 0.5), lambda o: optim.StepLR(o, 7, 0.5)),
        (lambda o: L.ExponentialLR(o, 0.9), lambda o: optim.ExponentialLR(o, 0.9)),
        (lambda o: L.CosineAnnealingLR(o, 10, 0.01), lambda o: optim.CosineAnnealingLR(o, 10, 0.01)),
        (lambda o: L.CosineAnnealingLR(o, 7), lambda o: optim.CosineAnnealingLR(o, 7)),
    ]
    for tmake, fmake in pairs:
        want = torch_seq(tmake, 45)
        got = lr_sequence(fmake(optim.SGD(lr=0.3)), 45)
        np.testing.assert_array_equal(got, want)
    metrics = list(np.r_[np.linspace(5, 3, 6), np.full(30, 3.0), [np.nan], np.linspace(3, 2.9, 10)])
    for kw in (dict(factor=0.5, patience=2), dict(factor=0.2, patience=0, cooldown=2, min_lr=0.01),
               dict(mode="max", threshold_mode="abs", threshold=0.1, patience=3)):
        want = torch_seq(lambda o: L.ReduceLROnPlateau(o, **kw), len(metrics), metrics)
        got = lr_sequence(optim.ReduceLROnPlateau(optim.SGD(lr=0.3), **kw), len(metrics), metrics)
        np.testing.assert_array_equal(got, want)


def test_scheduler_state_dict_roundtrip():
    opt = optim.SGD(lr=0.3)
    s = optim.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        s.step()
    sd = s.state_dict()
    rest = lr_sequence(s, 5)
    opt2 = optim.SGD(lr=rest[0])
    s2 = optim.CosineAnnealingLR(opt2, T_max=10)
    s2.load_state_dict(sd)
    np.testing.assert_array_equal(lr_sequence(s2, 5), rest)
