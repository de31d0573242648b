"""theory.linear_family: the closed forms behind the numerics boundary tests, with mutants."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from theory.codegen import flow_matrices, linear_drift_callables
from theory.errors import TheoryError
from theory.linear_family import (
    LinearDriftForm,
    family,
    leaves_box,
    outflow_family,
    periodic_family,
)

ALL = family(2) + family(3) + outflow_family(2) + outflow_family(3) + periodic_family(2) \
    + periodic_family(3)


@pytest.mark.parametrize("form", ALL, ids=lambda f: f.name)
def test_every_closed_form_solves_cd_and_starts_at_f(form):
    assert form.verify()


@pytest.mark.parametrize("form", family(2)[:2] + family(3)[:1], ids=lambda f: f.name)
def test_mutants_are_rejected(form, monkeypatch):
    ell = form.log_form
    S = form.Sigma
    assert not form.verify(ell + S[0, 0] / 10)  # a wrong variance term
    assert not form.verify(ell.subs(S[0, 1], 2 * S[0, 1]))  # a wrong covariance factor
    assert not form.verify(ell + sp.Rational(1, 10))  # right PDE, wrong initial data
    # wrong ODEs: B Phi (equal along exp(Bt) but not the identity the form needs), half rate
    cls = type(form)
    with monkeypatch.context() as m:
        m.setattr(cls, "phi_rate", lambda self: self.B * self.Phi)
        assert not form.verify()
    with monkeypatch.context() as m:
        m.setattr(cls, "sigma_rate", lambda self: self.Phi * self.A * self.Phi.T)
        assert not form.verify()
    assert form.verify()


def test_flow_matrices_solve_their_odes_and_match_quadrature():
    from scipy.integrate import quad_vec
    from scipy.linalg import expm

    rng = np.random.default_rng(3)
    B = rng.normal(size=(3, 3))
    M = rng.normal(size=(3, 3))
    A = M @ M.T
    t, h = 0.7, 1e-5
    P, S = flow_matrices(B, A, t)
    Sq = quad_vec(lambda s: expm(B * s) @ (2 * A) @ expm(B * s).T, 0, t, epsabs=1e-13)[0]
    assert np.allclose(S, Sq, atol=1e-10)
    (Pp, Sp), (Pm, Sm) = flow_matrices(B, A, t + h), flow_matrices(B, A, t - h)
    assert np.allclose((Pp - Pm) / (2 * h), P @ B, atol=1e-6)
    assert np.allclose((Sp - Sm) / (2 * h), 2 * P @ A @ P.T, atol=1e-5)


@pytest.mark.parametrize("form", [family(2)[9], family(3)[3]], ids=lambda f: f.name)
def test_numeric_callables_satisfy_the_pde_by_finite_differences(form):
    c = linear_drift_callables(form)
    A = np.array(form.A.tolist(), dtype=float)
    rng = np.random.default_rng(0)
    x = [rng.uniform(-1, 1, 5) for _ in range(form.dim)]
    t, h = 0.4, 1e-4
    ut = (c["u"](x, t + h) - c["u"](x, t - h)) / (2 * h)
    g = c["grad"](x, t)
    H = np.zeros((form.dim, form.dim, 5))
    for i in range(form.dim):
        e = [xx + (h if j == i else 0) for j, xx in enumerate(x)]
        m = [xx - (h if j == i else 0) for j, xx in enumerate(x)]
        H[:, i] = (c["grad"](e, t) - c["grad"](m, t)) / (2 * h)
    res = ut - (c["velocity"](x, t) * g).sum(0) - np.einsum("ij,ij...->...", A, H)
    assert np.abs(res).max() < 1e-6
    assert np.allclose(c["u"](x, 0.0), np.asarray(
        sp.lambdify(form.x, form.initial, "numpy")(*x), dtype=float))


def test_leaves_box_and_bad_input():
    assert leaves_box(sp.Matrix([[-1, 0.5], [0.2, -1]]))
    assert not leaves_box(sp.Matrix([[-0.2, -0.5], [0.5, -0.2]]))  # a spiral enters the box
    B = sp.eye(2)
    with pytest.raises(TheoryError, match="not positive semi-definite"):
        LinearDriftForm("x", "fourier", B, sp.Matrix([[1, 2], [2, 1]]))
    with pytest.raises(TheoryError, match="not symmetric"):
        LinearDriftForm("x", "fourier", B, sp.Matrix([[1, 0], [1, 1]]))
    with pytest.raises(TheoryError, match="wave vector"):
        LinearDriftForm("x", "fourier", B, sp.zeros(2), wave=(1, 2, 3))
    with pytest.raises(TheoryError, match="unknown family"):
        LinearDriftForm("x", "bessel", B, sp.zeros(2))
