"""The axioms, the derivation of (CD), its ablations and the classical corollary."""

from __future__ import annotations

import pytest
import sympy as sp

from theory.axioms import derive, parse_axioms, psd_certificate
from theory.errors import TheoryError


def _all_checks(der):
    return [c for s in der.steps for c in s.checks]


X11, X12, X22 = (sp.Symbol(n, real=True) for n in ("X11", "X12", "X22"))
P1, P2, C = (sp.Symbol(n, real=True) for n in ("p1", "p2", "c"))
x1, x2, t = (sp.Symbol(n, real=True) for n in ("x1", "x2", "t"))


def _depends_on(F, *symbols):
    return any(f.has(s) for f in F.atoms(sp.Function) for s in symbols) or \
        bool(F.free_symbols & set(symbols))


def test_full_derivation_ends_in_cd_with_psd_diffusion():
    der = derive()
    assert der.passed and len(der.steps) >= 5
    F = der.generator
    # F = tr(A X) + b.p with coefficients of (x, t), no zeroth-order term, read off F itself
    assert F.coeff(C) == 0 and F.coeff(X11) != 0 and F.coeff(P1) != 0
    assert _depends_on(F.coeff(X11), x1) and _depends_on(F.coeff(P2), t)
    assert der.equation.startswith("d_t u = ") and "u_x1x2" in der.equation
    assert der.equation.endswith("positive semi-definite")
    used = {a for s in der.steps for a in s.axioms}
    assert used == {"A1", "A2", "A3", "A4", "A5", "A6"} and not der.notes


def test_dropping_a4_leaves_an_indefinite_diffusion():
    der = derive("A1,A2,A3,A5,A6")
    assert der.passed
    assert der.equation.endswith("of any sign")
    assert any("indefinite" in s.conclusion for s in der.steps)


def test_dropping_a5_leaves_a_nonlinear_degenerate_elliptic_f():
    der = derive("A1,A2,A3,A4,A6,A7")
    assert der.passed
    assert "nonlinear" in der.equation and "degenerate elliptic" in der.equation
    # A6 and A7 act on the coefficients of a linear F: reported as without effect
    assert any("without effect here: A6, A7" in n for n in der.notes)


def test_dropping_a6_keeps_a_zeroth_order_term():
    der = derive("A1,A2,A3,A4,A5")
    assert der.passed
    assert der.generator.coeff(C) != 0 and "u*c0(x1, x2, t)" in der.equation


def test_translation_invariance_removes_x_from_every_coefficient():
    der = derive("A1,A2,A3,A4,A5,A6,A7")
    assert der.passed
    F = der.generator
    assert not _depends_on(F, x1, x2) and _depends_on(F, t)


def test_translation_step_fails_on_an_x_dependence_it_cannot_remove():
    # negative control: an explicit x1 (not a coefficient function) survives the step, and the
    # step's own invariance check says so
    from theory.steps import make_jet, step_translation

    jet = make_jet(2)
    F = sp.Function("a11", real=True)(x1, x2, t) * X11 + x1 * X22
    step, F2 = step_translation(jet, F)
    assert not step.passed and F2.has(x1)
    assert not next(c for c in step.checks if "invariant" in c.name).passed


def test_translation_and_rotation_invariance_give_the_heat_equation():
    der = derive("A1,A2,A3,A4,A5,A6,A7,A8")
    assert der.passed
    F = der.generator
    a = F.coeff(X11)
    assert sp.simplify(F - a * (X11 + X22)) == 0
    assert F.coeff(X12) == 0 and F.coeff(P1) == 0 and _depends_on(a, t)


def test_scale_invariance_makes_the_coefficient_constant_by_dsolve():
    der = derive("A1,A2,A3,A4,A5,A6,A7,A8,A9")
    assert der.passed
    F = der.generator
    a = F.coeff(X11)
    assert sp.simplify(F - a * (X11 + X22)) == 0 and a.is_Symbol and not _depends_on(a, t)
    step = der.steps[-1]
    assert "dsolve" in step.checks[0].name and "t*Derivative" in step.checks[0].detail


def test_scale_step_derives_what_the_scaling_gives(monkeypatch):
    # negative control: with the wrong time rescaling u(mu x, mu t) the same code derives a
    # t-dependent coefficient (a = a0 t), so the conclusion is computed, not asserted
    import theory.steps as steps

    monkeypatch.setattr(steps, "TIME_EXPONENT", 1)
    der = derive("A1,A2,A3,A4,A5,A6,A7,A8,A9")
    a = der.generator.coeff(X11)
    assert _depends_on(a, t) and sp.simplify(a.diff(t) * t - a) == 0


def test_scale_invariance_without_rotations_gives_t_to_the_minus_half_drift():
    der = derive("A1,A2,A3,A4,A5,A6,A7,A9")
    assert der.passed
    b1 = der.generator.coeff(P1)
    assert sp.simplify(b1 * sp.sqrt(t)).is_Symbol  # b = b0 / sqrt(t): scale-invariant drift
    assert not _depends_on(der.generator.coeff(X11), t)


@pytest.mark.parametrize("assume", ["A1,A2,A3,A4,A5,A6,A8", "A1,A2,A3,A4,A5,A6,A9"])
def test_invariances_without_translation_invariance_are_refused(assume):
    with pytest.raises(TheoryError, match="assume A7"):
        derive(assume)


def test_a_failed_step_prints_no_equation(monkeypatch):
    import theory.axioms as axioms
    from theory.checks import Check
    from theory.steps import Step

    def broken(jet, F):
        return Step(("A4",), "Comparison principle", "broken", (Check("forced", False),))

    monkeypatch.setattr(axioms, "step_comparison", broken)
    der = derive()
    assert not der.passed and der.equation.startswith("not derived: the step(s) Comparison")


def test_converse_linearity_check_can_fail():
    from theory.axioms import linearity_check, one_step
    from theory.catalogue import symbols_for, technique

    block = technique("gaussian").build(symbols_for(1))
    assert linearity_check(block).passed
    T = one_step(block)
    def nonlinear(q):  # T plus a curvature-like (quadratic) term
        return T(q) + block.h * sp.diff(q, block.x[0]) ** 2

    check = linearity_check(block, nonlinear)
    assert not check.passed and check.computed != "0"


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


def test_is_zero_tells_zero_from_nonzero():
    from theory.checks import is_zero

    y = sp.Symbol("y", real=True)
    assert is_zero(sp.sin(y) ** 2 + sp.cos(y) ** 2 - 1) and not is_zero(y)
    assert not is_zero(sp.sin(y) ** 2 - sp.cos(y) ** 2)
    assert is_zero(sp.Matrix([[y - y, 0]])) and not is_zero(sp.Matrix([[0, y]]))


def test_psd_certificate_uses_the_noise_gram_form():
    # the certificate of a noise block is the Gram form (1/2) sum Var(xi_j) G_j G_j^T; a wrong
    # diffusion (the Gram form without 1/2) is not certified by it
    from theory.catalogue import symbols_for, technique
    from theory.generator import extract_generator

    block = technique("gaussian").build(symbols_for(2))
    res = extract_generator(block)
    cert = psd_certificate(res.diffusion, block)
    assert cert.passed and cert.detail.startswith("A = (1/2) sum_j Var(xi_j) G_j G_j^T")
    assert not psd_certificate(2 * res.diffusion, block).detail.startswith("A = (1/2) sum_j")
