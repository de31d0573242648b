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
    # A4 derived, not stated: the conditions on A's coefficients are in the equation
    assert der.equation.endswith("(derived from A4)") and len(der.constraints) == 3
    assert "a11(x1, x2, t)*a22(x1, x2, t) - a12(x1, x2, t)**2 >= 0" in der.equation
    used = {a for s in der.steps for a in s.axioms}
    assert used == {"A1", "A2", "A3", "A4", "A5", "A6"} and not der.notes


def test_dropping_a4_leaves_an_indefinite_diffusion():
    der = derive("A1,A2,A3,A5,A6")
    assert der.passed
    assert "of any sign" in der.equation and "u_x1x1x1" in der.equation
    assert any("indefinite" in s.conclusion for s in der.steps)
    assert not der.constraints


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
    step, F2 = step_translation(jet, F, ("A7",))
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

    def broken(jet, F, assumed):
        return Step(("A4",), "Comparison principle", "broken", (Check("forced", False),)), []

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



def test_reduced_is_zero_exactly_for_identities_of_each_kind():
    """checks.reduced takes three routes (the expansion, a rational function's cancelled
    quotient, simplify): each gives 0 on an identity of its kind and a non-zero form on the
    identity perturbed by one term (control)."""
    from theory.checks import reduced

    x, y, lam = sp.symbols("x y lambda", real=True)
    polynomial = (x + y) ** 3 - (x**3 + 3 * x**2 * y + 3 * x * y**2 + y**3)
    rational = x / (x + 1) + 1 / (x + 1) - (y**2 + 2 * y) / (y * (y + 2))
    trig = sp.sin(lam) ** 2 + sp.cos(lam) ** 2 - 1
    for identity in (polynomial, rational, trig):
        assert reduced(identity) == 0, identity
        assert reduced(identity + x * y / (y + 3)) != 0, identity


def test_simplified_is_sympys_simplify_remembered_per_expression():
    """checks.simplified gives sp.simplify's form (entrywise for a matrix, of the same class),
    the second time from its memo; expressions equal but for their symbols' assumptions are
    kept apart (control: sqrt(y^2) is y only for a positive y)."""
    from theory.checks import _simplified, simplified

    p, x = sp.symbols("p x", real=True)
    e = -p * (p - 1)
    assert simplified(e) == sp.simplify(e) == p * (1 - p)
    M = sp.Matrix([[e, x**2 + 2 * x + 1]])
    assert simplified(M) == sp.simplify(M) and type(simplified(M)) is type(M)
    hits = _simplified.cache_info().hits
    assert simplified(e) == p * (1 - p) and _simplified.cache_info().hits == hits + 1
    pos, free = sp.Symbol("y", positive=True), sp.Symbol("y")
    assert simplified(sp.sqrt(pos**2)) == pos and simplified(sp.sqrt(free**2)) != free

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


ALL = tuple(f"A{i}" for i in range(1, 10))


def _ablated(k):
    keep = [a for a in ALL if a != k]
    return [a for a in keep if a not in ("A8", "A9")] if k == "A7" else keep


def test_scale_invariance_derives_the_sign_of_its_constant():
    # with A1-A9 the coefficient a22_0 is a free real symbol: a22_0 >= 0 is derived from A4
    der = derive(ALL)
    assert der.passed and [sp.sstr(c) for c in der.constraints] == ["a22_0"]
    assert der.equation.endswith("a22_0 >= 0 (derived from A4)")
    assert not derive(_ablated("A4")).constraints


@pytest.mark.parametrize("k", ALL)
def test_ablating_each_axiom_removes_its_step_and_its_conclusion(k):
    full, der = derive(ALL), derive(_ablated(k))
    assert any(k in s.axioms for s in full.steps)  # the step exists with the axiom ...
    assert not any(k in s.axioms for s in der.steps)  # ... and is gone without it
    F, eq = der.generator, der.equation
    gone = {
        "A1": lambda: eq.startswith("lim (T_{t+h,t} u - u)/h = ") and "d_t u" not in eq,
        "A2": lambda: "no local PDE" in eq and not der.steps,
        "A3": lambda: "no local PDE" in eq and not der.steps,
        "A4": lambda: "semi-definite" not in eq and not der.constraints and "u_x1x1x1" in eq,
        "A5": lambda: "nonlinear" in eq,
        "A6": lambda: F.coeff(C) != 0,
        "A7": lambda: _depends_on(F.coeff(X11), x1),
        "A8": lambda: F.coeff(X12) != 0 or F.coeff(P1) != 0,
        "A9": lambda: _depends_on(F.coeff(X11), t),
    }
    assert gone[k](), eq
    # the conclusion is present with the axiom (the marker tells the two apart)
    F, eq, der = full.generator, full.equation, full
    assert not gone[k]()


def test_every_step_refuses_to_run_without_its_axiom():
    from theory import steps

    jet = steps.make_jet(2)
    F = derive("A1,A2,A3,A4,A5,A6").generator
    F7 = derive("A1,A2,A3,A4,A5,A6,A7").generator  # what A8 and A9 act on
    calls = {"A2": lambda a: steps.step_jet(jet, a), "A1": lambda a: steps.step_semigroup(a),
             "A5": lambda a: steps.step_linearity(jet, (*jet.x, jet.t), a),
             "A6": lambda a: steps.step_constants(jet, F, a),
             "A4": lambda a: steps.step_comparison(jet, F, a),
             "A7": lambda a: steps.step_translation(jet, F, a),
             "A8": lambda a: steps.step_rotation(jet, F7, a),
             "A9": lambda a: steps.step_scale(jet, F7, a)}
    for k, call in calls.items():
        with pytest.raises(TheoryError, match=f"uses {k}"):
            call(tuple(a for a in ALL if a != k))
        call(ALL)  # control: it runs with every axiom


def test_the_comparison_step_fails_on_a_generator_no_comparison_allows():
    # negative controls: diag(0, -1) passes Sylvester's leading minors (0, 0) but not the
    # principal minor -1; an indefinite diag(1, -1) fails too; a degenerate diag(0, 1) passes
    from theory.steps import linear_generator, make_jet, step_comparison

    jet = make_jet(2)
    for A, ok in ((sp.diag(0, -1), False), (sp.diag(1, -1), False), (sp.diag(0, 1), True),
                  (sp.Matrix([[1, 1], [1, 1]]), True), (sp.Matrix([[1, 2], [2, 1]]), False)):
        step, cond = step_comparison(jet, linear_generator(jet, A, sp.zeros(2, 1), 0), ("A4",))
        assert step.passed is ok, (A, cond)


def test_without_a4_the_two_jet_reduction_has_a_dispersive_witness():
    der = derive(_ablated("A4"))
    wit = next(s for s in der.steps if "need not be a function of the 2-jet" in s.title)
    assert wit.passed and "u_x1x1x1" in wit.conclusion
    jet_step = der.steps[0]
    assert "A4" not in jet_step.axioms and "quadratic" in jet_step.title
    with_a4 = derive(ALL).steps[0]
    assert "A4" in with_a4.axioms and any("sandwich" in c.name for c in with_a4.checks)


def test_a8_is_derived_in_three_dimensions():
    der = derive("A1,A2,A3,A4,A5,A6,A7,A8", dim=3)
    assert der.passed and der.dim == 3
    F = der.generator
    x3 = sp.Symbol("X33", real=True)
    assert sp.simplify(F - F.coeff(X11) * (X11 + X22 + x3)) == 0
    with pytest.raises(TheoryError, match="dim >= 2"):
        derive("A1,A2,A3,A4,A5,A6,A7,A8", dim=1)


def test_a1_is_labelled_assumed_not_checked():
    step = next(s for s in derive().steps if "A1" in s.axioms)
    assert not step.checks and step.conclusion.startswith("assumed, not machine-checked")


def test_decision_helpers_never_pass_what_sympy_cannot_decide():
    from theory.checks import (
        decide_nonnegative,
        decide_psd,
        decide_zero,
        decision_check,
        is_nonnegative,
        is_zero,
    )

    a = sp.Symbol("a", real=True)
    g = sp.Function("g", real=True)(a)
    # undecidable for sympy: the sign of a free real symbol, whether g - g^2 vanishes, whether
    # diag(a, 1) is PSD
    assert decide_nonnegative(a) is None and not is_nonnegative(a)
    assert decide_zero(g - g**2) is None and not is_zero(g - g**2)
    assert decide_psd(sp.diag(a, 1)) is None
    cert = psd_certificate(sp.diag(a, 1))
    assert not cert.passed and cert.undecided
    assert not decision_check("x", None).passed and decision_check("x", None).undecided
    # decided both ways
    assert decide_nonnegative(a**2) is True and decide_nonnegative(-a**2 - 1) is False
    assert decide_zero(sp.sin(a) ** 2 + sp.cos(a) ** 2 - 1) is True
    assert decide_zero(a - 2 * a + a + 1) is False and decide_zero(a**2 - a) is False
    assert decide_zero(sp.pi - sp.Rational(355, 113)) is False
    assert decide_psd(sp.diag(0, -1)) is False and decide_psd(sp.diag(0, a**2)) is True
    assert decide_psd(sp.Matrix([[1, 2], [0, 1]])) is False  # not symmetric


def test_psd_certificate_uses_every_principal_minor():
    # Sylvester's leading minors of diag(0, -1) are 0 and 0: semi-definiteness needs them all
    assert not psd_certificate(sp.Matrix([[0, 0], [0, -1]])).passed
    assert psd_certificate(sp.diag(0, 1)).passed


def test_converse_linearity_check_fails_on_a_homogeneous_operator_that_is_not_additive():
    # T q + h q_x1^2 / q_x2 is homogeneous of degree 1 (T(l q) = l T q) but not additive: a check
    # with q2 a multiple of q1 would pass it; two independent cubics do not
    from theory.axioms import linearity_check, one_step
    from theory.catalogue import symbols_for, technique

    block = technique("gaussian").build(symbols_for(2))
    T = one_step(block)
    x1_, x2_ = block.x

    def homogeneous(q):
        return T(q) + block.h * sp.diff(q, x1_) ** 2 / sp.diff(q, x2_)

    assert linearity_check(block).passed
    assert not linearity_check(block, homogeneous).passed


def test_converse_two_jet_check_sees_a_third_order_term():
    # negative control: a generator with a planted d^3/dx1^3 term fails "acts on the 2-jet
    # only", and the cubic test functions of the substitution check see it too
    from theory.axioms import converse_checks
    from theory.catalogue import symbols_for, technique
    from theory.generator import GeneratorResult, extract_generator, verify_generator

    res = extract_generator(technique("gaussian").build(symbols_for(2)))
    planted = dict(res.terms)
    planted[0] = {**res.terms[0], (3, 0): sp.Integer(1)}
    bad = GeneratorResult(res.block, planted)
    assert next(c for c in converse_checks(res) if "2-jet" in c.name).passed
    assert not next(c for c in converse_checks(bad) if "2-jet" in c.name).passed
    x = res.block.x
    assert any(r != 0 for r in verify_generator(bad, [x[0] ** 3]))


def test_noise_laws_need_a_valid_moment_sequence():
    from theory.noise import NoiseLaw, bernoulli

    with pytest.raises(TheoryError, match="not those of any distribution"):
        NoiseLaw("bad", (1, 0, 0, 1, 0))  # variance 0 with a third moment
    with pytest.raises(TheoryError, match="not those of any distribution"):
        NoiseLaw("bad", (1, 0, 1, 0, sp.Rational(1, 2)))  # E xi^4 < (E xi^2)^2
    NoiseLaw("two-point", (1, 0, 1, 0, 1))  # Rademacher: singular Hankel matrix, valid
    bernoulli(0.3)  # floats: a singular Hankel matrix within rounding


def test_invariance_checks_hold_for_every_angle_and_scale_not_at_one_point():
    # negative controls: X11 alone is invariant under the half turn (R = -I) but not under
    # every rotation; t X11 satisfies the scaling identity at mu = 1 but not for every mu
    from theory.steps import make_jet, rotation_invariance_check, scale_invariance_check

    jet = make_jet(2)
    assert rotation_invariance_check(X11 + X22, jet).passed
    assert not rotation_invariance_check(X11, jet).passed
    assert scale_invariance_check(sp.Symbol("a0", real=True) * X11, jet).passed
    assert not scale_invariance_check(t * X11, jet).passed


def test_route_comparisons_see_a_term_missing_on_either_side():
    # the expansion check compares the moment route with the cumulant route: an extra term in
    # either is a mismatch (the comparison looks both ways)
    from theory.catalogue import expansion_check, symbols_for, technique
    from theory.cumulants import operator_difference
    from theory.generator import GeneratorResult, extract_generator

    a, b = {(1, 0): sp.Integer(1)}, {(1, 0): sp.Integer(1), (0, 1): sp.Integer(2)}
    assert operator_difference(a, b) and operator_difference(b, a)
    assert not operator_difference(b, dict(b))
    S = symbols_for(2)
    res = extract_generator(technique("gaussian").build(S))
    assert expansion_check(res, S.x).passed
    extra = {k: dict(v) for k, v in res.terms.items()}
    extra[2][(3, 1)] = sp.Integer(1)  # a term the cumulant route does not have
    assert not expansion_check(GeneratorResult(res.block, extra), S.x).passed
    odd = {**{k: dict(v) for k, v in res.terms.items()}, 1: {(1, 0): sp.Integer(1)}}
    assert not expansion_check(GeneratorResult(res.block, odd), S.x).passed  # a power only here
    fewer = {k: dict(v) for k, v in res.terms.items()}
    fewer.pop(2)  # the O(h) terms the cumulant route has, missing here
    assert not expansion_check(GeneratorResult(res.block, fewer), S.x).passed


def test_the_one_step_operator_is_the_block_it_checks():
    # the converse checks act on T q = E[w q(x + Delta)]: its generator must be the block's L
    # (an operator that forgot the shift is linear too, and would pass the linearity check)
    from theory.axioms import one_step
    from theory.catalogue import symbols_for, technique
    from theory.generator import ROOT_H, extract_generator

    block = technique("gaussian").build(symbols_for(2))
    res = extract_generator(block)
    x1_, x2_ = block.x
    q = x1_**3 + x1_ * x2_**2 + x2_
    Tq = one_step(block)(q)
    lim = sp.limit(sp.expand((Tq - q).subs(block.h, ROOT_H**2)) / ROOT_H**2, ROOT_H, 0)
    assert sp.simplify(lim - res.apply(q)) == 0 and sp.simplify(Tq - q) != 0


def test_the_zeroth_order_witness_fails_on_a_generator_without_the_term():
    # negative control: a generator route that lost the weight's zeroth-order term
    from dataclasses import replace

    from theory.axioms import _witness_zeroth_order
    from theory.generator import GeneratorResult, extract_generator

    assert _witness_zeroth_order().passed

    def lost(block):
        res = extract_generator(replace(block, weight=sp.Integer(1)))
        return GeneratorResult(block, res.terms)

    assert not _witness_zeroth_order(lost).passed


def test_the_linearity_and_constant_checks_fail_where_they_should():
    # negative controls: a quadratic or an affine F is not "linear without constant"; a fixed
    # zeroth-order coefficient (no unknown function to solve for) fails constant preservation
    from theory.steps import is_linear_without_constant, make_jet, step_constants

    jet = make_jet(2)
    assert is_linear_without_constant(X11 + 2 * P1 - C, jet)
    assert not is_linear_without_constant(X11 * P1, jet)
    assert not is_linear_without_constant(X11 + 1, jet)
    assert not is_linear_without_constant(sp.Symbol("k_0") * X11, jet, [sp.Symbol("k_0")])
    assert not step_constants(jet, X11 + 3 * C, ("A6",))[0].passed
    F = X11 + sp.Function("c0", real=True)(x1, x2, t) * C
    assert step_constants(jet, F, ("A6",))[0].passed
