"""The solver's promises of stability and monotonicity (issue 28): every (limiter, stepper)
pair the registry declares monotone keeps the data's range at its default step, on step, noise
and pulse data in 1-D and 2-D; the step that used to be chosen (the upwind bound) is refused
for a limited scheme, and a forward Euler run at that step does create new extrema (the
control that the check sees an overshoot)."""

from __future__ import annotations

import numpy as np
import pytest

from numerics import Grid, NumericsError, Problem, UnstableTimeStepError, solve
from numerics.schemes import TIME
from numerics.stability import LIMITER_PSI, SSP_COEFFICIENT, explicit_dt_limit

RANGE_TOL = 1e-12  # round-off, relative to the data's range of 1

LIMITERS = tuple(LIMITER_PSI)
STEPPERS = tuple(s for s in SSP_COEFFICIENT if TIME[s].monotone)


def _data(kind: str, g: Grid, rng) -> np.ndarray:
    x = g.coords[0]
    if kind == "step":
        return (x > 0).astype(float) if g.dim == 1 else ((x > 0) & (g.coords[1] > -0.3)) * 1.0
    if kind == "noise":
        return rng.uniform(0, 1, x.shape)
    return np.exp(-sum(c**2 for c in g.coords) / 0.02)


def _problem(dim: int, u0, t_end=0.5) -> Problem:
    n = 96 if dim == 1 else 40
    g = Grid(bounds=((-1, 1),) * dim, shape=(n,) * dim)
    # periodic: the setting of the TVD theory; in 2-D a velocity varying in space, so that
    # the Courant numbers of both directions add up
    vel = np.ones((1, n)) if dim == 1 else np.stack([1 + 0.5 * np.sin(np.pi * g.coords[1]),
                                                     0.7 + 0 * g.coords[0]])
    return Problem(grid=g, initial=u0(g), velocity=vel, diffusion=0.0, t_end=t_end,
                   boundary="periodic")


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("stepper", STEPPERS)
@pytest.mark.parametrize("limiter", LIMITERS)
def test_every_monotone_limiter_stepper_pair_keeps_the_range_at_its_default_step(
        limiter, stepper, dim):
    rng = np.random.default_rng(3)
    for kind in ("step", "noise", "pulse"):
        p = _problem(dim, lambda g, kind=kind: _data(kind, g, rng))
        u = solve(p, convection=limiter, diffusion="central2", stepper=stepper).final[0]
        lo, hi = p.u0.min(), p.u0.max()
        assert u.max() <= hi + RANGE_TOL and u.min() >= lo - RANGE_TOL, (kind, u.min(), u.max())


@pytest.mark.parametrize("limiter", LIMITERS)
def test_the_upwind_step_is_refused_for_a_limited_scheme_and_would_overshoot(limiter):
    from numerics.solve import abs_conv, assemble

    p = _problem(1, lambda g: (g.coords[0] > 0).astype(float))
    upwind = explicit_dt_limit(abs_conv(p, 0.0), "euler")  # the step chosen before
    with pytest.raises(UnstableTimeStepError, match="exceeds the stability limit"):
        solve(p, convection=limiter, stepper="euler", dt=0.9 * upwind)
    # control: forward Euler with the limited operator at that step leaves the range
    disc = assemble(p, 0.0, limiter, "central2")
    u = p.u0.copy()
    h = 0.9 * upwind
    for _ in range(int(p.t_end / h)):
        u = u + h * disc.limited(u, 0.0)
    assert u.max() > 1 + 1e-3 or u.min() < -1e-3


def test_limited_convection_with_a_stepper_that_is_not_ssp_is_refused():
    p = _problem(1, lambda g: (g.coords[0] > 0).astype(float))
    with pytest.raises(NumericsError, match="not strong-stability preserving"):
        solve(p, convection="vanleer", stepper="rk4")


def _imex_problem(diffusion: float) -> Problem:
    g = Grid(bounds=((-1, 1),), shape=(80,))
    return Problem(grid=g, initial=np.exp(-g.coords[0] ** 2 / 0.05), velocity=np.ones((1, 80)),
                   diffusion=diffusion, t_end=1.0, boundary="periodic")


def test_imex_euler_with_central_convection_and_no_diffusion_is_refused():
    # it used to run and return |u| ~ 4e20 (issue 28 item 4)
    with pytest.raises(NumericsError, match="unstable for every dt"):
        solve(_imex_problem(0.0), convection="central4", diffusion="central2",
              stepper="imex-euler")


@pytest.mark.parametrize("convection", ["central2", "central4", "upwind1"])
def test_imex_euler_at_its_default_step_stays_bounded(convection):
    p = _imex_problem(0.01)
    u = solve(p, convection=convection, diffusion="central2", stepper="imex-euler").final[0]
    assert np.all(np.isfinite(u)) and np.abs(u).max() <= 1.0 + 1e-9


def test_imex_euler_above_its_limit_is_refused_before_any_step():
    from numerics.solve import assemble
    from numerics.stability import imex_dt_limit

    p = _imex_problem(0.01)
    disc = assemble(p, 0.0, "central2", "central2")
    limit = imex_dt_limit(disc.conv, p.velocity_at(0.0), p.diffusion_at(0.0), p.grid.spacing)
    assert limit == pytest.approx(2 * 0.01 / 1.0)  # 2 a / v^2
    up = assemble(p, 0.0, "upwind1", "central2")
    dx = p.grid.spacing[0]  # upwind: dx / v + 2 a / v^2, beyond forward Euler's dx / v
    assert imex_dt_limit(up.conv, p.velocity_at(0.0), p.diffusion_at(0.0), p.grid.spacing) \
        == pytest.approx(dx + 2 * 0.01)
    with pytest.raises(UnstableTimeStepError, match="imex-euler"):
        solve(p, convection="central2", stepper="imex-euler", dt=4 * limit)


@pytest.mark.parametrize("convection, a", [("upwind1", 0.01), ("central2", 0.01),
                                           ("upwind1", 0.0), ("central4", 0.02)])
def test_the_imex_limit_is_sharp(convection, a):
    """The spectral radius of IMEX Euler's amplification matrix (I - dt D)^-1 (I + dt C) is
    at most 1 just below the limit and above 1 just beyond it (periodic, constant v)."""
    from numerics.solve import assemble
    from numerics.stability import imex_dt_limit

    g = Grid(bounds=((-1, 1),), shape=(80,))
    p = Problem(grid=g, initial=np.zeros(80), velocity=np.ones((1, 80)), diffusion=a,
                t_end=1.0, boundary="periodic")
    d = assemble(p, 0.0, convection, "central2")
    limit = imex_dt_limit(d.conv, p.velocity_at(0.0), p.diffusion_at(0.0), g.spacing)
    eye = np.eye(80)

    def radius(dt):
        G = np.linalg.solve(eye - dt * d.diff.toarray(), eye + dt * d.conv.toarray())
        return max(abs(np.linalg.eigvals(G)))

    assert radius(0.99 * limit) <= 1 + 1e-9 and radius(1.05 * limit) > 1 + 1e-4


def _growing(factor: float) -> Problem:
    """v(x, t) = (1 + (factor - 1) t / T) (1, 0.5): a velocity that grows ``factor`` times."""
    g = Grid(bounds=((-1, 1), (-1, 1)), shape=(32, 32))
    T = 1.0

    def vel(c, t):
        return (1 + (factor - 1) * t / T) * np.stack([np.ones_like(c[0]), 0.5 * np.ones_like(c[1])])

    return Problem(grid=g, initial=np.exp(-(g.coords[0] ** 2 + g.coords[1] ** 2) / 0.1),
                   velocity=vel, diffusion=0.0, t_end=T, boundary="periodic")


def test_a_growing_velocity_gets_a_step_bounded_over_the_interval():
    """It used to take its step from t = 0 only and return 2e77 while max_courant said 0.89
    (issue 28 item 2); now the step holds at the end of the interval too."""
    p = _growing(4.0)
    sol = solve(p, convection="upwind1", stepper="euler")
    u = sol.final[0]
    assert np.all(np.isfinite(u)) and u.max() <= p.u0.max() + 1e-12 and u.min() >= -1e-12
    assert sol.stats["max_courant"] <= 1.0 + 1e-9


def test_a_given_step_that_the_growth_makes_unstable_stops_with_the_time():
    """A dt stable at t = 0 but not at T is refused up front from the interval's bound; the
    check while stepping names the time where the limit is crossed (called directly)."""
    from numerics.solve import assemble
    from numerics.stability import explicit_dt_limit

    p = _growing(4.0)
    limit0 = explicit_dt_limit(assemble(p, 0.0, "upwind1", "central2").L, "euler")
    with pytest.raises(UnstableTimeStepError, match="exceeds the stability limit"):
        solve(p, convection="upwind1", stepper="euler", dt=0.9 * limit0)
    # control: a velocity constant in time keeps the same dt
    solve(_growing(1.0), convection="upwind1", stepper="euler", dt=0.9 * limit0)


def test_a_velocity_spike_between_the_samples_is_caught_while_stepping():
    """A burst of speed between two of the interval's sample times escapes the up-front bound;
    the per-step check stops the run there, naming the time and the Courant number."""
    g = Grid(bounds=((-1, 1), (-1, 1)), shape=(32, 32))

    def vel(c, t):
        burst = 1 + 20 * np.exp(-((t - 0.0625) / 0.01) ** 2)  # between samples 0 and 0.125
        return burst * np.stack([np.ones_like(c[0]), np.zeros_like(c[1])])

    p = Problem(grid=g, initial=np.exp(-(g.coords[0] ** 2) / 0.1) + 0 * g.coords[1],
                velocity=vel, diffusion=0.0, t_end=1.0, boundary="periodic")
    with pytest.raises(UnstableTimeStepError, match=r"at t = 0\.0[4-8].*grew faster"):
        solve(p, convection="upwind1", stepper="euler")


# --- bad input: one NumericsError naming the value, where it is and the fix, before any work


def _line() -> Grid:
    return Grid(bounds=((0, 1),), shape=(16,))


@pytest.mark.parametrize("make, message", [
    (lambda: Grid(bounds=((0, 1),), shape=(10.5,)), "10.5 is not a whole number of cells"),
    (lambda: Grid(bounds=((0, 1), (0, 1)), shape=(200_000, 200_000)), "capped at"),
    (lambda: Problem(grid=_line(), initial=np.zeros(16), t_end=1.0,
                     velocity=[np.ones((1, 16)), 2 * np.ones((1, 16))],
                     velocity_times=[0.5, 0.0]), "increasing and starting at 0"),
    (lambda: Problem(grid=_line(), initial=np.zeros(16), velocity="fast", t_end=1.0),
     "velocity = 'fast'"),
    (lambda: Problem(grid=_line(), initial=np.where(np.arange(16) == 3, np.nan, 0.0),
                     t_end=1.0), r"not finite \(value nan\) at x = \(0.21875,\)"),
    (lambda: solve(Problem(grid=Grid(bounds=((0, 1),), shape=(64,)), initial=np.zeros(64),
                           diffusion=1e4, t_end=1.0), stepper="euler"),
     "needs about .* steps .* use an implicit stepper"),
])
def test_bad_input_is_one_clear_error_before_any_work(make, message):
    with pytest.raises(NumericsError, match=message):
        make()


@pytest.mark.parametrize("points, velocity, message", [
    (np.array([[np.nan]]), lambda x, t: np.zeros_like(x), "start point 0"),
    (np.array([[0.1]]), lambda x, t: np.zeros((3, 5)), r"returned shape \(3, 5\)"),
    (np.array([[0.1]]), lambda x, t: np.full_like(x, np.nan), "not finite at step 0"),
    # right at the first time, transposed later: named at the step, not by numpy
    (np.array([[0.1]]), lambda x, t: -x if t == 1.0 else -x.T,
     r"returned shape \(1, 10\) for X of shape \(10, 1\) \(step 1, t = 0.99\)"),
    # transposed from the start: named before any path (a one-particle probe passed it)
    (np.array([[0.1]]), lambda x, t: -x.T, r"returned shape \(1, 2\) for X of shape \(2, 1\)"),
    # one number per particle in 2-D: broadcast, it gave both components that number
    (np.array([[0.1, 0.2]]), lambda x, t: -x[:, :1],
     r"returned shape \(2, 1\) for X of shape \(2, 2\)"),
    # a flat array of points: was read as one point in 3-D
    (np.array([0.1, 0.2, 0.3]), lambda x, t: -x, r"points has shape \(3,\); give \(M, d\)"),
])
def test_feynman_kac_refuses_bad_points_and_velocities(points, velocity, message):
    from numerics import feynman_kac

    with pytest.raises(NumericsError, match=message):
        feynman_kac(points, lambda x: x[..., 0], velocity, 0.1, 1.0, n_paths=10)
    # control: a constant velocity of shape (d,) broadcasts and runs
    feynman_kac(np.array([[0.1]]), lambda x: x[..., 0], lambda x, t: np.array([1.0]), 0.1,
                1.0, n_paths=10)


@pytest.mark.parametrize("kw, message", [
    ({"seed": -1}, r"seed = -1; give a non-negative integer"),
    ({"seed": 1.5}, r"seed = 1.5"),
    ({"f": lambda x: x[:, 0, None, None]}, r"f\(X\) returned shape \(10, 1, 1\) for X of "
     r"shape \(10, 1\); it must return \(P,\) or \(P, k\)"),
    ({"f": lambda x: x.sum()}, r"f\(X\) returned shape \(\)"),
    ({"f": lambda x: x[:, 3]}, r"f\(X\) failed on particles of shape \(10, 1\): IndexError"),
])
def test_feynman_kac_refuses_a_bad_seed_or_payoff_as_one_line(kw, message):
    from numerics import feynman_kac

    args = {"f": lambda x: x[:, 0], "seed": 0} | kw
    with pytest.raises(NumericsError, match=message):
        feynman_kac(np.array([[0.1]]), args["f"], lambda x, t: -x, 0.1, 1.0, n_paths=10,
                    seed=args["seed"])
    # control: numpy integers and (P, k) payoffs are accepted
    r = feynman_kac(np.array([[0.1]]), lambda x: np.hstack([x, x**2]), lambda x, t: -x, 0.1,
                    1.0, n_paths=10, seed=np.int64(3))
    assert r.mean.shape == (1, 2)


def test_feynman_kac_meets_the_ornstein_uhlenbeck_second_moment():
    """dX = -X ds + sqrt(2a) dW: E X_T^2 = x^2 e^{-2T} + a (1 - e^{-2T}), within 4 standard
    errors plus Euler's O(h) bias bound at h = 1/200 (|bias| <= 2 h E X^2 here)."""
    from numerics import feynman_kac

    a, T = 0.1, 1.0
    x = np.array([[0.0], [1.0], [2.0]])
    r = feynman_kac(x, lambda X: X[:, 0] ** 2, lambda X, t: -X, a, T, n_paths=20000,
                    n_steps=200, seed=1)
    exact = x[:, 0] ** 2 * np.exp(-2 * T) + a * (1 - np.exp(-2 * T))
    err = np.abs(r.mean[:, 0] - exact)
    assert np.all(err <= 4 * r.stderr[:, 0] + 2 * T / 200 * (x[:, 0] ** 2 + a))
    # control: the wrong sign of the drift (a growing process) is far outside the bound
    bad = feynman_kac(x, lambda X: X[:, 0] ** 2, lambda X, t: X, a, T, n_paths=20000,
                      n_steps=200, seed=1)
    assert np.any(np.abs(bad.mean[:, 0] - exact) > 10 * (4 * bad.stderr[:, 0] + 0.01))


def _anisotropic(ratio: float, angle_deg: float) -> Problem:
    """A = R diag(ratio, 1) R^T / 100 rotated by ``angle_deg``, an indicator datum."""
    th = np.radians(angle_deg)
    R = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    A = R @ np.diag([ratio, 1.0]) @ R.T / 100 / ratio
    g = Grid(bounds=((-1, 1), (-1, 1)), shape=(32, 32))
    u0 = ((np.abs(g.coords[0]) < 0.3) & (np.abs(g.coords[1]) < 0.3)).astype(float)
    return Problem(grid=g, initial=u0, diffusion=A, t_end=0.2, boundary="neumann")


def test_a_rotated_anisotropic_tensor_drops_the_monotone_claim_with_its_ratio():
    """Eigenvalue ratio 100 rotated 30 degrees (a_xy > a_yy): central2 declared monotone had
    thousands of negative off-diagonal entries and backward Euler undershot to -3.5e-2 without
    a word (issue 28 item 3); now the claim is dropped with a warning naming the ratio, and
    the undershoot it warns of is there. Control: an isotropic A keeps the claim and the range."""
    from numerics import NonMonotoneWarning

    with pytest.warns(NonMonotoneWarning, match=r"reaches \d"):
        sol = solve(_anisotropic(100.0, 30.0), diffusion="central2", stepper="backward-euler")
    assert sol.stats["monotone"] is False and sol.stats["mixed_term_ratio"] > 1
    assert sol.final.min() < -1e-3  # what the warning is about
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", NonMonotoneWarning)
        iso = solve(_anisotropic(1.0, 30.0), diffusion="central2", stepper="backward-euler")
    assert iso.stats["monotone"] is True and iso.final.min() >= -RANGE_TOL


def test_the_runtime_guard_stops_a_monotone_run_that_leaves_its_range(monkeypatch):
    """A run the registry declares monotone, with nothing that brings in new values, is
    bounded by its data's range; a step that leaves it (planted: the real schemes never do,
    the matrix test above) stops the run with the step and the time."""
    import importlib

    from numerics import RangeViolationError

    solver = importlib.import_module("numerics.solve")  # the module, not the function

    p = _problem(1, lambda g: (g.coords[0] > 0).astype(float))
    real = solver._advance
    calls = {"n": 0}

    def overshoot(*args, **kw):
        calls["n"] += 1
        u = real(*args, **kw)
        return u + (1e-3 if calls["n"] == 3 else 0.0)

    monkeypatch.setattr(solver, "_advance", overshoot)
    with pytest.raises(RangeViolationError, match="at step 3, t = "):
        solve(p, convection="upwind1", stepper="ssprk3")
    # control: a non-monotone scheme makes no such promise, so the same overshoot passes
    calls["n"] = 0
    solve(p, convection="central2", diffusion="central2", stepper="rk4")


def test_outflow_closures_with_mixed_terms_are_named_as_the_cause():
    """|a_xy| <= min(a_xx, a_yy) everywhere (ratio 0.3) but outflow sides: the extrapolated
    ghost cells give negative entries in boundary cells only, and the warning says so instead
    of blaming the mixed term; the same tensor with Neumann sides keeps the claim (control)."""
    import warnings

    from numerics import NonMonotoneWarning

    g = Grid(bounds=((-1, 1), (-1, 1)), shape=(24, 24))
    A = np.array([[0.01, 0.003], [0.003, 0.01]])
    u0 = np.exp(-(g.coords[0] ** 2 + g.coords[1] ** 2) / 0.1)
    out = Problem(grid=g, initial=u0, diffusion=A, t_end=0.1, boundary="outflow")
    with pytest.warns(NonMonotoneWarning, match=r"boundary closures \(outflow\).*0\.3 <= 1"):
        solve(out, diffusion="central2", stepper="backward-euler")
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonMonotoneWarning)
        sol = solve(Problem(grid=g, initial=u0, diffusion=A, t_end=0.1, boundary="neumann"),
                    diffusion="central2", stepper="backward-euler")
    assert sol.stats["monotone"] is True


@pytest.mark.parametrize("value, message", [
    (lambda *c: np.zeros(3), r"returned shape \(3,\) on a face of shape \(16,\)"),
    (lambda x: 0.0, r"callable as g\(x1, x2, t\)"),
])
def test_a_dirichlet_callable_of_the_wrong_shape_or_signature_is_named(value, message):
    g = Grid(bounds=((0, 1), (0, 1)), shape=(16, 16))
    p = Problem(grid=g, initial=np.zeros((16, 16)), diffusion=0.01, t_end=0.1,
                boundary=("dirichlet", value))
    with pytest.raises(NumericsError, match=message):
        solve(p, stepper="backward-euler")


@pytest.mark.parametrize("kw, message", [
    ({"velocity": lambda x, y, t: x}, r"velocity v must be callable as f\(coords, t\)"),
    ({"diffusion": lambda x, y, z: x}, r"diffusion A must be callable as f\(coords, t\)"),
    ({"initial": lambda x, y: x}, r"initial condition must be callable as f\(coords\)"),
])
def test_a_coefficient_callable_of_the_wrong_signature_is_named(kw, message):
    """velocity(x, y, t) where the API calls velocity(coords, t): one line naming the form,
    not a TypeError from inside the assembly."""
    g = Grid(bounds=((0, 1), (0, 1)), shape=(8, 8))
    args = {"grid": g, "initial": np.zeros((8, 8)), "t_end": 0.1} | kw
    with pytest.raises(NumericsError, match=message):
        solve(Problem(**args), stepper="backward-euler")
    # control: the same coefficients in the API's form are accepted
    good = {"velocity": lambda c, t: np.stack([c[0], c[1]]),
            "diffusion": lambda c, t: 0.01 + 0 * c[0], "initial": lambda c: c[0]}
    key = next(iter(kw))
    solve(Problem(**(args | {key: good[key]})), stepper="backward-euler")


def test_the_wall_time_projection_refuses_from_the_measured_cost_per_step():
    """_refuse_beyond: elapsed + remaining steps x (stepping time / steps done) against the
    limit; 3 steps of 1 s with 97 to go project about 97 s (refused at a 10 s limit, the
    numbers named), while 2 to go stay under it (the control); a non-positive limit is
    refused before any work."""
    import time

    from numerics import WallTimeError
    from numerics.solve import _refuse_beyond

    now = time.perf_counter()
    with pytest.raises(WallTimeError, match=r"about 97 s \(100 steps of 1 s each on 64 cells, "
                                            r"measured over the first 3\)"):
        _refuse_beyond(10.0, now, 3.0, 3, 100, 64)
    _refuse_beyond(10.0, now, 3.0, 3, 5, 64)  # 2 s projected: runs
    prob = Problem(grid=Grid(bounds=((0, 1),), shape=(16,)), initial=lambda c: np.sin(c[0]),
                   velocity=np.array([1.0]), t_end=0.1)
    with pytest.raises(NumericsError, match="max_wall_s = 0"):
        solve(prob, max_wall_s=0)


def test_dirichlet_closures_past_half_the_ratio_are_named_not_promised():
    """In 3-D, mixed pairs (x1, x2) and (x2, x3) with ratio <= 1 (0.5 and 0.25): the interior is
    monotone, but the Dirichlet closures give negative entries in boundary cells. The warning
    names the closures and their faces; it used to add that dirichlet sides keep the promise.
    Controls: one mixed pair with Dirichlet sides, and the two pairs with Neumann sides, keep
    the M-matrix pattern (no warning)."""
    import warnings

    from numerics import NonMonotoneWarning

    g = Grid(bounds=((-1, 1),) * 3, shape=(12,) * 3)
    u0 = np.exp(-(g.coords[0] ** 2 + g.coords[1] ** 2 + g.coords[2] ** 2) / 0.1)
    two = np.array([[0.03, 0.01, 0.0], [0.01, 0.02, 0.005], [0.0, 0.005, 0.025]])
    one = np.array([[0.03, 0.01, 0.0], [0.01, 0.02, 0.0], [0.0, 0.0, 0.025]])

    def run(A, boundary):
        p = Problem(grid=g, initial=u0, diffusion=A, t_end=0.05, boundary=boundary)
        return solve(p, diffusion="central2", stepper="backward-euler")

    with pytest.warns(NonMonotoneWarning, match=r"closures \(dirichlet\).*faces x\d") as rec:
        assert run(two, ("dirichlet", 0.0)).stats["monotone"] is False
    assert not any("keep the promise" in str(w.message) for w in rec)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonMonotoneWarning)
        assert run(one, ("dirichlet", 0.0)).stats["monotone"] is True
        assert run(two, "neumann").stats["monotone"] is True
    # 2-D, one pair: the reflected Dirichlet ghost folds the corner weight a_xy onto the face's
    # neighbour, a_yy - 2 a_xy: ratio 0.5 keeps the pattern, 0.6 does not (Neumann does)
    g2 = Grid(bounds=((-1, 1),) * 2, shape=(16, 16))
    v0 = np.exp(-(g2.coords[0] ** 2 + g2.coords[1] ** 2) / 0.1)
    for ratio, boundary, monotone in ((0.5, ("dirichlet", 0.0), True),
                                      (0.6, ("dirichlet", 0.0), False), (0.6, "neumann", True)):
        A = 0.02 * np.array([[1.0, ratio], [ratio, 1.0]])
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always", NonMonotoneWarning)
            sol = solve(Problem(grid=g2, initial=v0, diffusion=A, t_end=0.05, boundary=boundary),
                        diffusion="central2", stepper="backward-euler")
        assert sol.stats["monotone"] is monotone and bool(rec) is not monotone, (ratio, boundary)
