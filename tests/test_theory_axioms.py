"""The axioms, the derivation of (CD), its ablations and the classical corollary."""

from __future__ import annotations

import pytest
import sympy as sp

from theory.axioms import derive, parse_axioms, psd_certificate
from theory.errors import TheoryError


def _all_checks(der):
    return [c for s in der.steps for c in s.checks]


def test_full_derivation_ends_in_cd_with_psd_diffusion():
    der = derive()
    assert der.passed and len(der.steps) >= 5
    assert "(CD)" in der.equation and "positive semi-definite" in der.equation
    used = {a for s in der.steps for a in s.axioms}
    assert used == {"A1", "A2", "A3", "A4", "A5", "A6"}


def test_dropping_a4_leaves_an_indefinite_diffusion():
    der = derive("A1,A2,A3,A5,A6")
    assert der.passed
    assert "any sign" in der.equation
    assert any("indefinite" in s.conclusion for s in der.steps)


def test_dropping_a5_leaves_a_nonlinear_degenerate_elliptic_f():
    der = derive("A1,A2,A3,A4,A6")
    assert der.passed
    assert "nonlinear" in der.equation and "degenerate elliptic" in der.equation


def test_dropping_a6_keeps_a_zeroth_order_term():
    der = derive("A1,A2,A3,A4,A5")
    assert der.passed
    assert "c0(x,t) u" in der.equation


def test_translation_and_rotation_invariance_give_the_heat_equation():
    der = derive("A1,A2,A3,A4,A5,A6,A7,A8")
    assert der.passed
    assert "Laplacian" in der.equation and "a >= 0" in der.equation
    F = der.generator
    X11, X22, X12 = (sp.Symbol(n, real=True) for n in ("X11", "X22", "X12"))
    a = F.coeff(X11)
    assert sp.simplify(F - a * (X11 + X22)) == 0
    assert F.coeff(X12) == 0


def test_scale_invariance_makes_the_coefficient_constant():
    der = derive("A1,A2,A3,A4,A5,A6,A7,A8,A9")
    assert der.passed and "a0 Laplacian" in der.equation


def test_without_locality_no_pde_follows():
    der = derive("A1,A2,A4,A5,A6")
    assert not der.steps and "no local PDE" in der.equation


def test_unknown_axiom_lists_valid_ones():
    with pytest.raises(TheoryError, match="A1, A2"):
        parse_axioms("A1,A10")


def test_psd_certificate_negative_control():
    assert not psd_certificate(sp.diag(1, -1)).passed
    assert not psd_certificate(sp.Matrix([[1, 2], [0, 1]])).passed  # not symmetric
    s = sp.symbols("s1:5", real=True)
    S = sp.Matrix(2, 2, s)
    assert psd_certificate(S * S.T / 2).passed
