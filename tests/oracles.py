"""Oracles for the numerics tests: theory's exact and manufactured solutions as numpy callables.

Each oracle is (problem factory on a grid, exact u(coords, t)). Built from theory through
theory.codegen, the only sympy -> numpy bridge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp

from numerics import BC, Grid, Problem
from theory import codegen, exact
from theory.manufactured import manufacture


@dataclass(frozen=True)
class Oracle:
    name: str
    bounds: tuple[tuple[float, float], ...]
    t_end: float
    make: Callable[[Grid], Problem]
    exact: Callable[[tuple[np.ndarray, ...], float], np.ndarray]


def _from_solution(name, sol: exact.ExactSolution, bounds, t_end, boundary) -> Oracle:
    f = codegen.solution_callables(sol)
    src = None if sol.source == 0 else (lambda c, t: f["source"](c, t))
    const_v = not sol.velocity.free_symbols
    const_a = not sol.diffusion.free_symbols
    autonomous_v = sol.t not in sol.velocity.free_symbols
    dif = (np.array(sol.diffusion.tolist(), dtype=float) if const_a
           else (lambda c, t: f["diffusion"](c, t)))

    def make(grid: Grid) -> Problem:
        if const_v:
            vel = np.array([float(e) for e in sol.velocity])
        elif autonomous_v:  # a frozen field: the operator is built (and factored) once
            vel = f["velocity"](grid.coords, 0.0)
        else:
            vel = f["velocity"]
        return Problem(grid=grid, initial=lambda c: f["u"](c, 0.0), t_end=t_end, velocity=vel,
                       diffusion=dif, source=src,
                       boundary=boundary(f) if callable(boundary) else boundary, name=name)

    return Oracle(name, bounds, t_end, make, f["u"])


def manufactured_periodic_2d() -> Oracle:
    """u* = sin(2 pi x) cos(2 pi y) e^{-t} + 1/2 with periodic v and a full constant tensor."""
    x = sp.symbols("x1 x2", real=True)
    t = sp.Symbol("t", nonnegative=True)
    u = sp.sin(2 * sp.pi * x[0]) * sp.cos(2 * sp.pi * x[1]) * sp.exp(-t) + sp.Rational(1, 2)
    v = [sp.sin(2 * sp.pi * x[1]) / 2, sp.cos(2 * sp.pi * x[0]) / 2]
    A = [[sp.Rational(3, 100), sp.Rational(1, 100)], [sp.Rational(1, 100), sp.Rational(2, 100)]]
    sol = manufacture(u, v, A, x, t, name="manufactured periodic 2-D")
    return _from_solution(sol.name, sol, ((0, 1), (0, 1)), 0.25, "periodic")


def fourier_1d(v: float = 1.0, a: float = 0.01) -> Oracle:
    sol = exact.fourier_modes(sp.Matrix([sp.nsimplify(v)]), sp.Matrix([[sp.nsimplify(a)]]),
                              [(1, (1,)), (sp.Rational(1, 2), (2,))])
    return _from_solution("Fourier modes 1-D", sol, ((0, 1),), 0.5, "periodic")


def advected_gaussian_1d() -> Oracle:
    """Brownian motion with drift, Gaussian base: exact values as Dirichlet data."""
    sol = exact.brownian_drift("gaussian", 1)
    subs = {sp.Symbol("b1", real=True): 1, sp.Symbol("sigma", positive=True): sp.Rational(3, 10),
            sp.Symbol("w", positive=True): sp.Rational(1, 5)}
    sol = exact.ExactSolution(sol.name, sol.x, sol.t, sol.u.subs(subs),
                              sol.velocity.subs(subs), sol.diffusion.subs(subs))
    return _from_solution("advected diffused Gaussian", sol, ((-2.0, 1.5),), 0.5,
                          lambda f: ("dirichlet", lambda *c: f["u"](c[:-1], c[-1])))


def ornstein_uhlenbeck_2d() -> Oracle:
    th, D = sp.Symbol("theta", positive=True), sp.Symbol("D", positive=True)
    sol = exact.linear_drift_gaussian(-th * sp.eye(2), D * sp.eye(2), width=sp.Rational(3, 10))
    subs = {th: 1, D: sp.Rational(1, 20)}
    sol = exact.ExactSolution(sol.name, sol.x, sol.t, sol.u.subs(subs), sol.velocity.subs(subs),
                              sol.diffusion.subs(subs))
    return _from_solution("Ornstein-Uhlenbeck 2-D", sol, ((-1.5, 1.5), (-1.5, 1.5)), 0.5,
                          lambda f: ("dirichlet", lambda *c: f["u"](c[:-1], c[-1])))


def rotating_gaussian_2d() -> Oracle:
    sol = next(s for s in exact.catalogue() if s.name == "rotating diffused Gaussian")
    subs = {sp.Symbol("D", positive=True): sp.Rational(1, 200),
            sp.Symbol("w", positive=True): sp.Rational(1, 5)}
    sol = exact.ExactSolution(sol.name, sol.x, sol.t, sol.u.subs(subs), sol.velocity,
                              sol.diffusion.subs(subs))
    return _from_solution("rotating diffused Gaussian", sol, ((-1, 1), (-1, 1)), 0.5,
                          lambda f: ("dirichlet", lambda *c: f["u"](c[:-1], c[-1])))


def ornstein_uhlenbeck_1d() -> Oracle:
    """v = -x, A = 1/8 (sigma = 1/2), Gaussian base of width 0.3: non-commuting v and A."""
    sol = exact.ornstein_uhlenbeck("gaussian", 1)
    subs = {sp.Symbol("theta", positive=True): 1, sp.Symbol("sigma", positive=True):
            sp.Rational(1, 2), sp.Symbol("w", positive=True): sp.Rational(3, 10)}
    sol = exact.ExactSolution(sol.name, sol.x, sol.t, sol.u.subs(subs), sol.velocity.subs(subs),
                              sol.diffusion.subs(subs))
    return _from_solution("Ornstein-Uhlenbeck 1-D", sol, ((-6.0, 6.0),), 1.0,
                          lambda f: ("dirichlet", lambda *c: f["u"](c[:-1], c[-1])))


def linear_family_problem(form, grid: Grid, boundary: str | list, t_end: float) -> Problem:
    """(CD) with v = B x and constant A of a theory.linear_family form, its exact values as
    boundary data: 'dirichlet' (u), 'neumann' (outward normal derivative of u), 'outflow',
    'periodic', or a list with one of those per axis."""
    f = codegen.linear_drift_callables(form)
    kinds = [boundary] * grid.dim if isinstance(boundary, str) else list(boundary)

    def side(kind: str, k: int, sign: int):
        if kind == "dirichlet":
            return BC("dirichlet", lambda *c: f["u"](c[:-1], c[-1]))
        if kind == "neumann":  # outward normal: -e_k on the low side, +e_k on the high side
            return BC("neumann", lambda *c: sign * f["grad"](c[:-1], c[-1])[k])
        return BC(kind)

    bcs = [(side(kind, k, -1), side(kind, k, 1)) for k, kind in enumerate(kinds)]
    return Problem(grid=grid, initial=lambda c: f["u"](c, 0.0), t_end=t_end,
                   velocity=f["velocity"](grid.coords, 0.0),
                   diffusion=np.array(form.A.tolist(), dtype=float), boundary=bcs,
                   name=form.name)


def linear_family_exact(form):
    return codegen.linear_drift_callables(form)["u"]


def manufactured_box_2d() -> Oracle:
    """u* = exp(-t) sin(x1 + 1) cos(2 x2) + 1/2 on [-1, 1]^2 with a rotating v, a full A that
    depends on x and t, and u* as Dirichlet data (time-dependent, on every face)."""
    x = sp.symbols("x1 x2", real=True)
    t = sp.Symbol("t", nonnegative=True)
    u = sp.exp(-t) * sp.sin(x[0] + 1) * sp.cos(2 * x[1]) + sp.Rational(1, 2)
    v = [x[1] / 2, -x[0] / 2 + sp.Rational(1, 5)]
    s = 1 + t / 2
    A = [[s * (sp.Rational(2, 100) + x[0] ** 2 / 100), s * x[0] * x[1] / 200],
         [s * x[0] * x[1] / 200, s * (sp.Rational(2, 100) + x[1] ** 2 / 100)]]
    sol = manufacture(u, v, A, x, t, name="manufactured box 2-D, A(x, t) full")
    return _from_solution(sol.name, sol, ((-1, 1), (-1, 1)), 0.5,
                          lambda f: ("dirichlet", lambda *c: f["u"](c[:-1], c[-1])))
