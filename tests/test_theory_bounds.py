"""Bounds as formulas, against hand computations and numerics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from theory import bounds, graph, scheme_analysis
from theory.errors import TheoryError


def test_heat_lipschitz_derivation_checks_pass():
    hl = bounds.derive_heat_lipschitz()
    assert all(c.passed for c in hl.checks)


def test_heat_bound_attained_by_the_smoothed_step_numerically():
    sigma, T = 0.7, 1.3
    tau = sigma * math.sqrt(T)
    eps = 1e-6
    slope = (norm.cdf(eps / tau) - norm.cdf(-eps / tau)) / (2 * eps)
    assert slope == pytest.approx(bounds.heat_lipschitz_bound(sigma, T), rel=1e-8)
    assert bounds.heat_lipschitz_bound(sigma, T, sup_abs=0.5) == pytest.approx(
        bounds.heat_lipschitz_bound(sigma, T), rel=1e-12)
    assert bounds.heat_lipschitz_bound(0.0, T) == math.inf
    with pytest.raises(TheoryError):
        bounds.heat_lipschitz_bound(-1.0, T)


def test_linear_rademacher_closed_form_equals_brute_force_supremum(rng):
    x = rng.normal(size=(7, 2))
    eps = rng.choice([-1.0, 1.0], size=(5, 7))
    angles = np.linspace(0, 2 * np.pi, 20001)
    W = 1.5 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    brute = (eps @ x @ W.T).max(axis=1) / 7
    np.testing.assert_allclose(bounds.linear_rademacher_exact(x, eps, 1.5), brute, rtol=1e-6)
    assert bounds.linear_rademacher_exact(x, eps, 1.5).mean() <= bounds.linear_rademacher_upper(
        x, 1.5) * 1.5  # Jensen holds in expectation; a 5-draw mean stays well inside 1.5x


def test_norm_bounds_on_a_tiny_network():
    W1 = np.array([[3.0, 0.0], [0.0, 4.0]])
    W2 = np.array([[1.0, 1.0]])
    # Frobenius norms 5 and sqrt 2; D = 2; B = 2; m = 16
    grs = bounds.golowich_rakhlin_shamir([5.0, math.sqrt(2)], 2.0, 16)
    assert grs == pytest.approx(2 * (math.sqrt(4 * math.log(2)) + 1) * 5 * math.sqrt(2) / 4)
    # spectral norms 4 and sqrt 2; (2,1) norms: rows of W1: 3 + 4 = 7, W2: sqrt 2
    rc = bounds.spectral_complexity([W1, W2])
    expected = 4 * math.sqrt(2) * ((7 / 4) ** (2 / 3) + 1.0) ** 1.5
    assert rc == pytest.approx(expected)
    # path norm: paths 1->1->out weight 3*1, 2->2->out 4*1: sqrt(9 + 16) = 5
    assert bounds.path_norm([W1, W2]) == pytest.approx(5.0)


def test_graph_comparison_condition():
    assert all(c.passed for c in graph.graph_checks(seed=1))
    W = np.array([[0.0, 2.0], [2.0, 0.0]])
    assert graph.critical_tau(W) == pytest.approx(0.5)
    assert graph.order_violation(W, 0.5) is None
    assert graph.order_violation(W, 0.51) is not None
    with pytest.raises(TheoryError, match="non-negative"):
        graph.critical_tau(-W)


@pytest.mark.parametrize("analysis", scheme_analysis.analyses(), ids=lambda a: a.scheme)
def test_von_neumann_checks_pass(analysis):
    assert all(c.passed for c in analysis.checks)


def _max_amp(G, vals):
    th = np.linspace(0, 2 * np.pi, 2001)
    import sympy as sp

    f = sp.lambdify(scheme_analysis.th, G.subs(vals), "numpy")
    return np.abs(f(th)).max()


def test_upwind_amplification_numerically_on_both_sides_of_the_limit():
    G = scheme_analysis.upwind_1d().amplification
    C, r = scheme_analysis.C, scheme_analysis.r
    assert _max_amp(G, {C: 0.5, r: 0.25}) <= 1 + 1e-12
    assert _max_amp(G, {C: 0.5, r: 0.3}) > 1


def test_central_amplification_numerically_on_both_sides_of_the_limit():
    G = scheme_analysis.central_1d().amplification
    C, r = scheme_analysis.C, scheme_analysis.r
    assert _max_amp(G, {C: 0.6, r: 0.2}) <= 1 + 1e-12  # C^2 = 0.36 <= 2r = 0.4
    assert _max_amp(G, {C: 0.7, r: 0.2}) > 1  # C^2 = 0.49 > 0.4


def test_every_bound_formula_against_a_hand_computed_value():
    """Literal values worked out by hand (a factor or a constant changed in bounds.py fails)."""
    # heat: sigma 0.5, T 2: 1/(0.5 sqrt(4 pi)) = 1/sqrt(pi); |f| <= 3: 3 sqrt(2/pi)/(0.5 sqrt 2)
    assert bounds.heat_lipschitz_bound(0.5, 2.0) == pytest.approx(0.5641895835, rel=1e-9)
    assert bounds.heat_lipschitz_bound(0.5, 2.0, sup_abs=3.0) == pytest.approx(3.3851375013,
                                                                              rel=1e-9)
    # linear class: x = [[1, 0], [0, 2]], eps = (1, -1): s = (1, -2), |s| = sqrt 5, B = 2, m = 2
    x = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert bounds.linear_rademacher_exact(x, np.array([[1.0, -1.0]]), 2.0)[0] == pytest.approx(
        2.2360679775, rel=1e-9)
    assert bounds.linear_rademacher_upper(x, 2.0) == pytest.approx(2.2360679775, rel=1e-9)
    # GRS: norms (1, 2), B = 3, m = 4: 3 (2 sqrt(ln 2) + 1) * 2 / 2
    assert bounds.golowich_rakhlin_shamir([1.0, 2.0], 3.0, 4) == pytest.approx(7.9953277,
                                                                              rel=1e-7)
    # spectral complexity: W1 = diag(2, 1) (|.|_s 2, rows 2 + 1), W2 = [[3, 4]] (5, 5):
    # 10 ((3/2)^(2/3) + 1)^(3/2)
    W1, W2 = np.diag([2.0, 1.0]), np.array([[3.0, 4.0]])
    assert bounds.spectral_complexity([W1, W2]) == pytest.approx(35.1174119, rel=1e-7)
    # BFT margin bound, same net, X = [[1, 0], [0, 1]] (m = 2, |X|_F = sqrt 2), W = 2, gamma = 1:
    # 4/2^1.5 + 18 ln 2 sqrt(ln 8) sqrt 2 * 35.117406 / 2
    assert bounds.bartlett_foster_telgarsky([W1, W2], np.eye(2), 1.0) == pytest.approx(
        448.1788895, rel=1e-7)
    # path norm: (W1^2) 1 = (4, 1), (W2^2)(4, 1) = 9*4 + 16*1 = 52: sqrt 52
    assert bounds.path_norm([W1, W2]) == pytest.approx(7.2111025509, rel=1e-9)


def test_numeric_heat_bound_is_the_derived_expression():
    # one code path: the numeric bound evaluates the sympy derivation's own expressions
    hl = bounds.derive_heat_lipschitz()
    s, T, _ = hl.symbols
    for sigma, t_end in ((0.3, 1.0), (1.7, 0.2)):
        assert bounds.heat_lipschitz_bound(sigma, t_end) == float(
            hl.unit_interval.subs({s: sigma, T: t_end}))


def test_the_maximum_principle_is_checked_and_fails_with_a_zeroth_order_term():
    import sympy as sp

    from theory.bounds import derive_maximum_principle

    assert all(c.passed for c in derive_maximum_principle())
    killed = derive_maximum_principle(sp.Symbol("lam", positive=True))
    assert not next(c for c in killed if "int k dy = 1" in c.name).passed


def test_the_sign_change_is_decided_for_every_x_not_at_two_points():
    # negative controls: exp(-x^2) never changes sign; x e^{-x^2} changes sign the wrong way;
    # -x (x^2 - 1/4) is > 0 at x = -1 and < 0 at x = 1 but not on all of x < 0
    import sympy as sp

    from theory.bounds import changes_sign_at_zero

    x = sp.Symbol("x", real=True)
    assert changes_sign_at_zero(-x * sp.exp(-(x**2)), x)
    assert not changes_sign_at_zero(sp.exp(-(x**2)), x)
    assert not changes_sign_at_zero(x * sp.exp(-(x**2)), x)
    assert not changes_sign_at_zero(-x * (x**2 - sp.Rational(1, 4)), x)


def test_each_graph_check_fails_on_a_laplacian_with_its_defect():
    # negative controls: L + diag(W_ii) (self-loops counted twice) breaks the row sums and the
    # diagonal; D + W - 2 diag(W) (off-diagonal signs flipped) breaks the off-diagonal entries
    import sympy as sp

    def loops_twice(W):
        return graph.graph_laplacian(W) + sp.diag(*[W[i, i] for i in range(W.shape[0])])

    def flipped(W):
        n = W.shape[0]
        return sp.diag(*[sum(W.row(i)) for i in range(n)]) + W - 2 * sp.diag(
            *[W[i, i] for i in range(n)])

    names = ("off-diagonal", "diagonal", "rows")
    ok = [c.passed for c in graph.prove_comparison_condition(3)]
    a = [c.passed for c in graph.prove_comparison_condition(3, loops_twice)]
    b = [c.passed for c in graph.prove_comparison_condition(3, flipped)]
    assert all(ok), names
    assert a == [True, False, False] and b[0] is False, (a, b)


def test_the_von_neumann_consistency_check_fails_on_a_downwind_scheme():
    # negative control: the transport taken from the wrong side is stable-looking (coefficients
    # still sum to 1) but not consistent with u_t = C u_x: G = 1 - i C theta + O(theta^2)
    from theory.scheme_analysis import C, r, upwind_1d

    wrong = upwind_1d({"center": 1 - C - 2 * r, "upwind": r, "downwind": C + r})
    by_name = {c.name.split(":")[0]: c.passed for c in wrong.checks}
    assert not by_name["consistency"] and all(c.passed for c in upwind_1d().checks)
