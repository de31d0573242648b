"""Generator extraction and the technique catalogue (docs/theory.md section 3)."""

from __future__ import annotations

import pytest
import sympy as sp
from sympy import stats

from theory.catalogue import TECHNIQUES, check_technique, symbols_for
from theory.errors import TheoryError
from theory.generator import (
    GeneratorResult,
    additive_noise_block,
    extract_generator,
    polynomial_test_functions,
    verify_generator,
)
from theory.noise import from_sympy_stats, gaussian, noise_law, rademacher


@pytest.mark.parametrize("name", list(TECHNIQUES))
@pytest.mark.parametrize("d", [1, 2])
def test_catalogue_entry_matches_theory(name, d):
    rep = check_technique(name, d)
    failed = [(c.name, c.detail) for c in rep.checks if not c.passed]
    assert rep.checks and not failed


# the Gaussian entry with a full 3 x 3 S(x) takes 18 s (slow); the other two run by default
@pytest.mark.parametrize("name", [pytest.param("gaussian", marks=pytest.mark.slow), "dropout",
                                  "multiplicative-noise"])
def test_catalogue_entry_in_three_dimensions(name):
    assert check_technique(name, 3).passed


def test_wrong_generator_is_rejected():
    """Negative control: the plain block's generator presented as Gaussian noise injection."""
    S = symbols_for(2)
    plain = extract_generator(TECHNIQUES["plain"].build(S))
    rep = check_technique("gaussian", 2, generator=plain)
    assert not rep.passed
    assert any("diffusion" in c.name and not c.passed for c in rep.checks)


def test_substitution_check_detects_a_corrupted_generator():
    S = symbols_for(2)
    res = extract_generator(TECHNIQUES["gaussian"].build(S))
    terms = {k: dict(v) for k, v in res.terms.items()}
    terms[0][(1, 0)] = terms[0][(1, 0)] + 1  # wrong velocity
    bad = GeneratorResult(res.block, terms)
    residuals = verify_generator(bad, polynomial_test_functions(S.x, 2))
    assert any(r != 0 for r in residuals)
    assert all(r == 0 for r in verify_generator(res, polynomial_test_functions(S.x, 2)))



def test_the_limit_over_h_is_sympys_limit_on_polynomials_weights_and_divergent_quotients():
    """verify_generator reads lim e / r^2 off the coefficients of a polynomial e in r = sqrt(h)
    (r^2's coefficient where r^0 and r^1 vanish) and leaves the rest to sp.limit: the same
    value as sp.limit on every kind of quotient (control: reading r^2's coefficient without
    checking the lower ones gives a finite value where the limit is infinite)."""
    from theory.generator import ROOT_H, _limit_over_h

    r = ROOT_H
    a, b = sp.symbols("a b", real=True)
    g = sp.Function("g")(a)
    cases = [a * r**2 + b * r**3, (a + b) ** 2 * r**2 - (a**2 + 2 * a * b + b**2) * r**2,
             g * r**2 + r**4, (a**2 + 1) * r + r**2, sp.Integer(2) + r**2, r**3,
             sp.exp(-b * r**2) * (1 + a * r**2) - 1, sp.Integer(0)]
    for e in cases:
        e = sp.expand(e)
        got, want = _limit_over_h(e), sp.limit(e / r**2, r, 0, "+")
        assert got == want or sp.simplify(got - want) == 0, (e, got, want)
    divergent = sp.expand((a**2 + 1) * r + r**2)
    assert _limit_over_h(divergent) == sp.oo
    assert sp.Poly(divergent, r).all_coeffs()[::-1][2] == 1  # the unchecked reading: finite


def test_substitution_check_passes_a_discounted_block_and_sees_a_wrong_zeroth_order_term():
    """A weight exp(-lambda h) is not a polynomial in sqrt(h): the residuals come from
    sp.limit, zero for the extracted generator and not for one without its -lambda term."""
    x = (sp.Symbol("x1", real=True),)
    h, lam = sp.Symbol("h", positive=True), sp.Symbol("lambda", positive=True)
    xi = sp.Symbol("xi1", real=True)
    from theory.generator import Block

    blk = Block(name="discounted", x=x, h=h, increment=sp.Matrix([h * x[0] + sp.sqrt(h) * xi]),
                noises={xi: gaussian()}, weight=sp.exp(-lam * h))
    res = extract_generator(blk)
    tests = polynomial_test_functions(x, 3)
    assert all(r == 0 for r in verify_generator(res, tests))
    terms = {k: dict(v) for k, v in res.terms.items()}
    terms[0].pop((0,))  # the zeroth-order term -lambda dropped
    assert any(r != 0 for r in verify_generator(GeneratorResult(blk, terms), tests))

def test_unscaled_noise_diverges_like_s2_over_2h():
    S = symbols_for(1)
    res = extract_generator(TECHNIQUES["unscaled-noise"].build(S))
    assert res.divergent
    rate, op = res.leading_divergence
    assert sp.simplify(rate * op[(2,)] - S.s**2 / (2 * S.h)) == 0
    with pytest.raises(TheoryError, match="diverges like"):
        _ = res.velocity


def test_only_second_moments_enter_the_limit_but_fourth_moments_enter_the_correction():
    S = symbols_for(1)
    g = extract_generator(TECHNIQUES["gaussian"].build(S))
    r = extract_generator(TECHNIQUES["rademacher"].build(S))
    assert g.limit == r.limit
    assert g.correction[1][(4,)] != r.correction[1][(4,)]  # E xi^4 = 3 vs 1


def test_dropout_diffusion_appears_only_at_order_h():
    S = symbols_for(1)
    res = extract_generator(TECHNIQUES["dropout"].build(S))
    assert res.diffusion == sp.zeros(1, 1)
    power, op = res.correction
    assert power == S.h
    expected = S.g[0] ** 2 / 2 + S.p / (2 * (1 - S.p)) * S.g[0] ** 2
    assert sp.simplify(op[(2,)] - expected) == 0


def test_noise_without_finite_variance_is_refused():
    with pytest.raises(TheoryError, match="finite"):
        from_sympy_stats(stats.Cauchy("c", 0, 1))
    lap = from_sympy_stats(stats.Laplace("l", 0, 1))
    assert lap.variance == 2


def test_unknown_noise_law_lists_valid_names():
    with pytest.raises(TheoryError, match="gaussian, rademacher, uniform"):
        noise_law("student")


def test_non_square_noise_matrix_is_refused():
    x = sp.symbols("x1 x2", real=True)
    h = sp.Symbol("h", positive=True)
    with pytest.raises(TheoryError, match="square"):
        additive_noise_block("bad", x, h, sp.Matrix([0, 0]), sp.Matrix([[1, 0, 0], [0, 1, 0]]),
                             gaussian())


def test_additive_block_with_constant_noise_matrix():
    x = sp.symbols("x1 x2", real=True)
    h = sp.Symbol("h", positive=True)
    S = sp.Matrix([[1, 2], [0, 3]])
    res = extract_generator(additive_noise_block("c", x, h, sp.Matrix(x), S, rademacher()))
    assert res.diffusion == S * S.T / 2
    assert list(res.velocity) == list(x)


def test_quadrature_of_the_one_step_operator_confirms_every_expansion_to_o_h():
    # an independent route with no series: Gauss quadrature of T_h phi at 7 steps h, fitted
    from theory.numeric_generator import technique_comparisons

    comps = technique_comparisons()
    assert len(comps) == 7 and all(c.passed for c in comps), [c.check() for c in comps]
    # the fit is sharp: every O(h) term within 1e-4 relative
    assert all(c.correction_error < 1e-4 * max(1, abs(c.correction_symbolic)) for c in comps)


def test_the_quadrature_section_checks_the_generators_the_catalogue_computed():
    """build_report hands the catalogue's generators to the quadrature comparisons (one
    derivation of each expansion, not two): the comparison of a given generator equals the
    one that derives it again, and a given generator is the one checked (the control: a
    wrong one given for the Gaussian technique fails there)."""
    from theory.catalogue import symbols_for, technique
    from theory.generator import GeneratorResult, extract_generator
    from theory.numeric_generator import technique_comparisons

    S = symbols_for(2)
    res = extract_generator(technique("gaussian").build(S))
    given = technique_comparisons(["gaussian"], generators={"gaussian": res})[0]
    again = technique_comparisons(["gaussian"])[0]
    assert given.passed and given.check() == again.check()
    terms = {k: dict(v) for k, v in res.terms.items()}
    for alpha in ((2, 0), (0, 2), (1, 1)):
        terms[0][alpha] = 2 * terms[0][alpha]
    wrong = GeneratorResult(res.block, terms)
    assert not technique_comparisons(["gaussian"], generators={"gaussian": wrong})[0].passed


@pytest.mark.parametrize("which", ["limit", "correction"])
def test_quadrature_check_fails_on_a_wrong_limit_or_a_truncated_correction(which):
    # negative controls: the dropout expansion with its O(h) term's p/(2(1-p)) g^2 diffusion
    # dropped (a truncated series), or the Gaussian limit with A doubled
    import theory.numeric_generator as ng
    from theory.catalogue import symbols_for, technique
    from theory.generator import GeneratorResult, extract_generator

    S = symbols_for(2)
    name = "dropout" if which == "correction" else "gaussian"
    res = extract_generator(technique(name).build(S))
    terms = {k: dict(v) for k, v in res.terms.items()}
    if which == "correction":
        for alpha in ((2, 0), (0, 2)):
            i = alpha.index(2)
            terms[2][alpha] = terms[2][alpha] - S.p / (2 * (1 - S.p)) * S.g[i] ** 2
    else:
        for alpha in ((2, 0), (0, 2), (1, 1)):
            terms[0][alpha] = 2 * terms[0][alpha]
    bad = GeneratorResult(res.block, terms)
    x1, x2 = S.x
    phi = sp.exp(-(x1**2 + x2**2) / 2) * sp.cos(x1 + x2 / 2)
    good = ng.compare(res, phi, (0.3, -0.2), ng.concrete_functions(S.x), name)
    wrong = ng.compare(bad, phi, (0.3, -0.2), ng.concrete_functions(S.x), name)
    assert good.passed and not wrong.passed


def test_the_divergence_check_fails_on_a_wrong_rate():
    # negative control: the unscaled-noise expansion with its divergent diffusion doubled
    from theory.catalogue import check_technique
    from theory.generator import GeneratorResult

    S = symbols_for(2)
    res = extract_generator(TECHNIQUES["unscaled-noise"].build(S))
    assert check_technique("unscaled-noise", 2).passed
    k = min(res.terms)
    wrong = {**res.terms, k: {a: 2 * c for a, c in res.terms[k].items()}}
    rep = check_technique("unscaled-noise", 2, GeneratorResult(res.block, wrong))
    assert not next(c for c in rep.checks if "diverges" in c.name).passed


def test_expectation_from_the_moments_and_its_refusals():
    """E[.] term by term against closed forms, and against sympy.stats' own integral; a noise
    inside a non-polynomial (sin xi, 1/xi, sqrt(xi)) or a moment beyond the fourth is refused."""
    from theory.generator import expectation

    a, b = sp.symbols("a b")
    xi, eta = sp.symbols("xi eta")
    g = {xi: gaussian(), eta: rademacher()}
    assert sp.expand(expectation((a + b * xi) ** 4, g) - (a**4 + 6 * a**2 * b**2 + 3 * b**4)) == 0
    assert expectation(xi**2 * eta**2 + a * xi * eta + b * eta**3, g) == 1
    # the same sum through sympy.stats' integral over the normal law
    Z = stats.Normal("Z", 0, 1)
    expr = (1 + a * xi + b * xi**2) ** 2
    want = sp.expand(stats.E(expr.subs(xi, Z)))
    assert sp.expand(expectation(expr, {xi: gaussian()}) - want) == 0
    # a wrong moment gives another sum (control: the check above can fail)
    assert sp.expand(expectation(expr, {xi: rademacher()}) - want) != 0
    for bad in (sp.sin(xi), a / xi, sp.sqrt(xi) * a, sp.exp(eta), xi**5):
        with pytest.raises(TheoryError, match=r"polynomial|moments up to"):
            expectation(a + bad, g)
