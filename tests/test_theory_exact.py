"""Exact and manufactured solutions: residual 0, and perturbed candidates rejected."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from scipy.stats import norm

from theory import codegen, exact
from theory.errors import TheoryError
from theory.manufactured import manufacture

SOLUTIONS = exact.catalogue()
ERF_RTOL = 1e-10  # scipy's erf and norm.cdf agree to ~1e-12 relative in the far tail


@pytest.mark.parametrize("sol", SOLUTIONS, ids=[s.name for s in SOLUTIONS])
def test_exact_solution_satisfies_cd_and_perturbation_does_not(sol):
    assert exact.verify(sol)
    # the cheap refutation (50-digit evaluation at random rational points) rejects the perturbed
    # candidate and never the true solution
    assert exact.refuted(sol, exact.perturbed(sol))
    assert not exact.refuted(sol, sol.u)


@pytest.mark.slow
@pytest.mark.parametrize("sol", SOLUTIONS, ids=[s.name for s in SOLUTIONS])
def test_perturbed_candidate_residual_does_not_simplify_to_zero(sol):
    # the symbolic form of the negative control (slow: simplify works hard on a non-zero
    # residual, about 9 s for the rotating diffused Gaussian)
    assert sp.simplify(exact.residual(sol, exact.perturbed(sol))) != 0


def test_wrong_sign_convention_is_caught():
    """u = f(x - v t) solves d_t u = -v u_x, not the project's d_t u = v u_x."""
    sol = exact.fourier_modes(sp.Matrix([1]), sp.Matrix([[0]]), [(1, (1,))])
    x, t = sol.x[0], sol.t
    wrong = sp.cos(2 * sp.pi * (x - t))
    assert sp.simplify(exact.residual(sol, wrong)) != 0
    assert exact.verify(sol)


def test_linear_drift_cosine_family():
    sol = exact.linear_drift_cosine(sp.Matrix([[0, 1], [0, 0]]),
                                    sp.Matrix([[sp.Rational(1, 20), 0], [0, sp.Rational(1, 20)]]),
                                    sp.Matrix([1, 2]))
    assert exact.verify(sol) and not exact.verify(sol, exact.perturbed(sol))


def test_manufactured_solution_and_wrong_source():
    x = sp.symbols("x1 x2", real=True)
    t = sp.Symbol("t", nonnegative=True)
    u = sp.sin(x[0]) * sp.cos(x[1]) * sp.exp(-t)
    sol = manufacture(u, [x[1], -x[0]], [[1, sp.Rational(1, 2)], [sp.Rational(1, 2), 1]], x, t)
    assert exact.verify(sol)
    wrong = exact.ExactSolution("w", sol.x, sol.t, sol.u, sol.velocity, sol.diffusion,
                                source=sol.source + t, initial=sol.initial)
    assert not exact.verify(wrong)


def test_verify_checks_the_initial_condition_too():
    # u + 1 solves the same PDE (no zeroth-order term) but not the initial condition
    sol = next(s for s in exact.catalogue() if s.initial is not None)
    assert exact.verify(sol) and sp.simplify(exact.residual(sol, sol.u + 1)) == 0
    assert not exact.verify(sol, sol.u + 1)
    bare = exact.ExactSolution("bare", sol.x, sol.t, sol.u, sol.velocity, sol.diffusion)
    with pytest.raises(TheoryError, match="no initial condition"):
        exact.verify(bare)


@pytest.mark.parametrize("A, minor", [
    ([[1, 2], [2, 1]], "-3"),  # both diagonal entries positive, the determinant negative
    ([[0, 0], [0, -1]], "-1"),  # Sylvester's leading minors (0, 0) would pass it
    ([[-sp.Symbol("a", positive=True), 0], [0, 1]], "-a"),
])
def test_manufacture_refuses_a_diffusion_shown_not_positive_semi_definite(A, minor):
    x = sp.symbols("x1 x2", real=True)
    t = sp.Symbol("t", nonnegative=True)
    with pytest.raises(TheoryError, match=rf"not positive semi-definite \(principal minor "
                                          rf"{minor} < 0\).*axiom A4"):
        manufacture(sp.sin(x[0]) * sp.exp(-t), [0, 0], A, x, t)
    # control: a semi-definite A (a zero direction) and an undecided symbolic one are taken
    for ok in ([[1, 1], [1, 1]], [[sp.Symbol("b", real=True), 0], [0, 1]]):
        assert exact.verify(manufacture(sp.sin(x[0]) * sp.exp(-t), [0, 0], ok, x, t))


def test_manufacture_refuses_non_symmetric_diffusion():
    x = sp.symbols("x1 x2", real=True)
    t = sp.Symbol("t")
    with pytest.raises(TheoryError, match="not symmetric"):
        manufacture(x[0], [0, 0], [[1, 1], [0, 1]], x, t)


def test_codegen_heat_step_matches_scipy():
    sol = exact.heat_step()
    sig = sp.Symbol("sigma", positive=True)
    u = codegen.scalar_field(sol.u.subs(sig, 0.5), sol.x, sol.t)
    xs = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(u([xs], 0.8), norm.cdf(xs / (0.5 * np.sqrt(0.8))),
                               rtol=ERF_RTOL)


def test_codegen_broadcasts_constants():
    sol = exact.rotation(omega=sp.Integer(1), f=sp.Symbol("x1", real=True))
    fields = codegen.solution_callables(sol)
    X, Y = np.meshgrid(np.linspace(0, 1, 3), np.linspace(0, 1, 4), indexing="ij")
    assert fields["diffusion"]([X, Y], 0.0).shape == (2, 2, 3, 4)
    assert fields["velocity"]([X, Y], 0.0).shape == (2, 3, 4)
    np.testing.assert_allclose(fields["velocity"]([X, Y], 0.0)[0], -Y)
