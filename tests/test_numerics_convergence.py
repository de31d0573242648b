"""Observed orders (regression slope over >= 4 refinements) against each scheme's declared order."""

from __future__ import annotations

import numpy as np
import pytest
from oracles import (
    advected_gaussian_1d,
    fourier_1d,
    manufactured_periodic_2d,
    ornstein_uhlenbeck_1d,
    ornstein_uhlenbeck_2d,
    rotating_gaussian_2d,
)

from numerics import CONVECTION, DIFFUSION, TIME, Grid, solve

ORDER_TOL = 0.25  # the tolerance on observed minus declared order


def observed_order(oracle, ns, **kw):
    errs = []
    for n in ns:
        g = Grid(bounds=oracle.bounds, shape=(n,) * len(oracle.bounds))
        sol = solve(oracle.make(g), **kw)
        errs.append(np.abs(sol.final[0] - oracle.exact(g.coords, oracle.t_end)).max())
    slope = np.polyfit(np.log(1.0 / np.asarray(ns)), np.log(errs), 1)[0]
    return slope, errs


# fine enough that first-order upwind is in its asymptotic range
NS_1D = {1: (256, 512, 1024, 2048), 2: (32, 64, 128, 256), 4: (32, 64, 128, 256)}


@pytest.mark.parametrize("name", list(CONVECTION))
def test_convection_spatial_order(name):
    info = CONVECTION[name]
    diff = "central4" if info.order > 2 else "central2"
    stepper = "ssprk3" if name in ("minmod", "vanleer", "upwind1") else "rk4"
    slope, errs = observed_order(fourier_1d(), NS_1D[info.order], convection=name, diffusion=diff,
                                 stepper=stepper)
    assert abs(slope - info.order) <= ORDER_TOL, (slope, errs)


@pytest.mark.parametrize("name", list(DIFFUSION))
def test_diffusion_order_with_mixed_derivative_and_variable_velocity_2d(name):
    info = DIFFUSION[name]
    conv = "central4" if info.order == 4 else "central2"
    slope, errs = observed_order(manufactured_periodic_2d(), (12, 24, 48, 96), convection=conv,
                                 diffusion=name, stepper="rk4")
    assert abs(slope - info.order) <= ORDER_TOL, (slope, errs)


@pytest.mark.parametrize("oracle", [advected_gaussian_1d, ornstein_uhlenbeck_2d,
                                    rotating_gaussian_2d], ids=lambda o: o.__name__)
def test_exact_physical_solutions_second_order(oracle):
    o = oracle()
    ns = (64, 128, 256, 512) if len(o.bounds) == 1 else (24, 48, 96, 192)
    slope, errs = observed_order(o, ns, convection="central2", diffusion="central2",
                                 stepper="crank-nicolson")
    assert abs(slope - 2) <= ORDER_TOL, (slope, errs)


def _time_error(stepper, steps, n=64, **kw):
    o = fourier_1d()
    g = Grid(bounds=o.bounds, shape=(n,))
    p = o.make(g)
    ref = solve(p, stepper="rk4", dt=o.t_end / 4000, **kw).final
    return [np.abs(solve(p, stepper=stepper, dt=o.t_end / s, **kw).final - ref).max()
            for s in steps]


@pytest.mark.parametrize("name", [n for n in TIME if n != "semi-lagrangian"])
def test_time_order_against_same_space_discretisation(name):
    """The reference is the same spatial operator integrated with tiny RK4 steps."""
    info = TIME[name]
    explicit_steps = {1: (160, 320, 640, 1280), 2: (160, 320, 640, 1280),
                      3: (80, 160, 320, 640), 4: (64, 128, 256, 512)}
    steps = explicit_steps[info.order] if info.explicit else (16, 32, 64, 128)
    kw = {"convection": "upwind1", "diffusion": "central2"}
    errs = _time_error(name, steps, **kw)
    slope = np.polyfit(np.log(1.0 / np.asarray(steps)), np.log(errs), 1)[0]
    assert abs(slope - info.order) <= ORDER_TOL, (slope, errs)


def test_semi_lagrangian_time_order_with_non_commuting_convection_and_diffusion():
    """OU (v = -x, constant A): convection and diffusion do not commute; Courant numbers up to
    ~90 (the departure points stay inside: characteristics leave the box). Boundary data in
    semi-Lagrangian steps are tested in test_numerics_boundaries.py."""
    o = ornstein_uhlenbeck_1d()
    g = Grid(bounds=o.bounds, shape=(2048,))
    p = o.make(g)
    steps = (4, 8, 16, 32)
    errs = [np.abs(solve(p, stepper="semi-lagrangian", dt=o.t_end / s).final[0]
                   - o.exact(g.coords, o.t_end)).max() for s in steps]
    slope = np.polyfit(np.log(1.0 / np.asarray(steps)), np.log(errs), 1)[0]
    assert abs(slope - TIME["semi-lagrangian"].order) <= ORDER_TOL, (slope, errs)


def test_semi_lagrangian_feet_are_computed_once_per_step_size_and_velocity_interval(
        monkeypatch):
    """The characteristics' feet of a velocity that is not a callable of t depend on the step
    and the interval only: kept over a solve, each is the uncached computation, and a step
    across the change of a piecewise velocity reads the new field (the control: a key of the
    step alone would hand back the first interval's feet there). A solve gives the same
    numbers as the uncached feet."""
    import importlib  # numerics.solve is the function: the package exports it by that name

    from numerics import Problem
    from numerics.solve import _departure

    g = Grid(bounds=((-1.0, 1.0), (-1.0, 1.0)), shape=(24, 24))
    x, y = g.coords
    rotation = np.stack([-y, x])
    shear = np.stack([0.5 + 0 * x, 0.3 * x])
    p = Problem(grid=g, initial=np.exp(-8 * (x**2 + y**2)), velocity=[rotation, shear],
                velocity_times=[0.0, 0.5], diffusion=0.01, t_end=1.0, boundary="dirichlet")
    cache: dict = {}
    first = _departure(p, 0.0, 0.1, cache)
    assert _departure(p, 0.1, 0.1, cache) is first  # same step, same field: kept
    for t in (0.0, 0.35, 0.45, 0.5, 0.8):  # 0.45 + 0.1 crosses into the second field
        kept = _departure(p, t, 0.1, cache)
        fresh = _departure(p, t, 0.1)
        assert all(np.array_equal(a, b) for a, b in zip(kept, fresh, strict=True)), t
    assert not all(np.array_equal(a, b) for a, b in
                   zip(_departure(p, 0.45, 0.1), first, strict=True))
    # a velocity that is a callable of t is never kept
    moving = Problem(grid=g, initial=np.exp(-8 * (x**2 + y**2)),
                     velocity=lambda c, t: np.stack([-c[1] * (1 + t), c[0] + 0 * t]),
                     diffusion=0.01, t_end=1.0, boundary="dirichlet")
    cache = {}
    _departure(moving, 0.0, 0.1, cache)
    assert cache == {}
    # the whole solve, across the change of field: the numbers of the uncached feet, and of
    # the kept feet's interpolation matrices (none within a memory bound of 0)
    module = importlib.import_module("numerics.solve")
    kept = solve(p, stepper="semi-lagrangian", convection="central2", dt=0.05).final
    feet = _departure(p, 0.0, 0.05, {})
    module._interpolate(p, kept, feet, 0.0)
    assert len(feet.matrices) == 1  # kept feet interpolate by their matrix
    cache = {(0, 0, 0.05): feet}
    later = _departure(p, 0.0, 0.04, cache)  # another step size: its feet hold the matrices
    assert feet.matrices == {} and later.matrices == {} and len(cache) == 2
    module._interpolate(p, kept, later, 0.0)
    assert _departure(p, 0.0, 0.05, cache) is feet and later.matrices == {}  # and back
    monkeypatch.setattr(module, "MATRIX_BYTES", 0)
    unbuilt = solve(p, stepper="semi-lagrangian", convection="central2", dt=0.05).final
    monkeypatch.setattr(module, "_departure",
                        lambda problem, t, dt, cache=None: _departure(problem, t, dt))
    fresh = solve(p, stepper="semi-lagrangian", convection="central2", dt=0.05).final
    assert np.array_equal(kept, fresh) and np.array_equal(unbuilt, fresh)
    feet = _departure(p, 0.0, 0.05, {})
    module._interpolate(p, kept, feet, 0.0)
    assert feet.matrices == {}  # the bound holds: no matrix was built
