"""Deliberate bugs in theory/, each with the tests that must kill it (tests/test_theory_mutants.py).

A mutant replaces ``old`` (which must occur exactly once in ``module``) by ``new``. The list
covers every module of theory/: signs, factors, dropped terms, wrong moments, wrong constants
in each bound, and conclusions turned into templates (a check that is the literal True, an
equation printed although a step failed, a step that skips its substitution).
"""

from __future__ import annotations

from dataclasses import dataclass

GEN = "tests/test_theory_generator.py"
AX = "tests/test_theory_axioms.py"
BD = "tests/test_theory_bounds.py"
EX = "tests/test_theory_exact.py"
LF = "tests/test_theory_linear_family.py"
CLI = "tests/test_cli_derive.py"
LAYOUT = "tests/test_layout.py"


@dataclass(frozen=True)
class Mutant:
    module: str  # path under theory/
    old: str
    new: str
    description: str
    killers: tuple[str, ...]  # pytest node ids (files or tests) expected to fail


MUTANTS: tuple[Mutant, ...] = (
    # generator.py
    Mutant("generator.py", "fact = math.prod(math.factorial(a) for a in alpha)", "fact = 1",
           "drop the 1/alpha! of the Taylor expansion", (f"{GEN}::test_catalogue_entry_matches_theory",)),
    Mutant("generator.py", "B[i, j] = c if i == j else c / 2", "B[i, j] = c",
           "off-diagonal diffusion read without the factor 1/2",
           (f"{GEN}::test_catalogue_entry_matches_theory",)),
    Mutant("generator.py", "return {k - 2: sp.simplify(c) for k, c in coeffs.items() if k - 2 <= top",
           "return {k - 1: sp.simplify(c) for k, c in coeffs.items() if k - 1 <= top",
           "powers of sqrt(h) shifted by one", (f"{GEN}::test_catalogue_entry_matches_theory",)),
    # noise.py
    Mutant("noise.py", "(1, 0, 1, 0, sp.Rational(9, 5))", "(1, 0, 1, 0, 2)",
           "wrong fourth moment of the uniform law (2 instead of 9/5)",
           (f"{GEN}::test_catalogue_entry_matches_theory",)),
    Mutant("noise.py", 'NoiseLaw("gaussian", (1, 0, 1, 0, 3)', 'NoiseLaw("gaussian", (1, 0, 1, 0, 1)',
           "wrong fourth moment of the Gaussian (1 instead of 3)",
           (f"{GEN}::test_catalogue_entry_matches_theory",)),
    Mutant("noise.py", '(1, q, q, q, q), f"Bernoulli', '(1, q, q**2, q, q), f"Bernoulli',
           "wrong second moment of the Bernoulli mask", (f"{GEN}::test_dropout_diffusion_appears_only_at_order_h",
                                                        f"{GEN}::test_catalogue_entry_matches_theory")),
    # catalogue.py
    Mutant("catalogue.py", "S.p / (2 * (1 - S.p)) * gi**2", "S.p / (1 - S.p) * gi**2",
           "dropout's O(h) diffusion doubled in the expectation", (f"{GEN}::test_catalogue_entry_matches_theory",)),
    Mutant("catalogue.py", "return Expected(velocity=S.g, diffusion=S.S * S.S.T / 2)",
           "return Expected(velocity=S.g, diffusion=S.S * S.S.T)",
           "A = S S^T instead of S S^T / 2 in the expectation", (f"{GEN}::test_catalogue_entry_matches_theory",)),
    Mutant("catalogue.py", "lambda S: Expected(divergence_rate=S.s**2 / (2 * S.h))",
           "lambda S: Expected(divergence_rate=S.s**2 / S.h)",
           "wrong divergence rate of unscaled noise", (f"{GEN}::test_unscaled_noise_diverges_like_s2_over_2h",
                                                       f"{GEN}::test_catalogue_entry_matches_theory")),
    Mutant("catalogue.py", "diffusion=sp.diag(*[S.sigma**2 * xi**2 / 2 for xi in S.x])",
           "diffusion=sp.diag(*[S.sigma**2 * xi / 2 for xi in S.x])",
           "multiplicative noise: x instead of x^2", (f"{GEN}::test_catalogue_entry_matches_theory",)),
    # cumulants.py (the independent route must not agree with a wrong generator by accident)
    Mutant("cumulants.py", "K += sum(k * s**n / sp.factorial(n)", "K += sum(k * s**n / n",
           "cumulant series with 1/n instead of 1/n!", (f"{GEN}::test_catalogue_entry_matches_theory",)),
    # (1/m instead of 1/m! in exp(K) is an equivalent mutant here: K starts at order h for every
    # block with a limit, so K^3 and K^4 lie beyond O(h), and 1/2 = 1/2!)
    Mutant("cumulants.py", "    n = top + 2  # r^n over r^2 = h gives r^top", "    n = top + 1",
           "cumulant route truncated one order early (no O(h) term)", (f"{GEN}::test_catalogue_entry_matches_theory",)),
    # checks.py
    Mutant("checks.py", "    return sp.simplify(expr) == 0\n", "    return True\n",
           "every scalar identity reported as zero", (f"{AX}::test_is_zero_tells_zero_from_nonzero",)),
    # axioms.py
    Mutant("axioms.py", "                 gap == 0, \"expanded with the noise moments\"",
           "                 True, \"expanded with the noise moments\"",
           "converse A5 check turned into the literal True",
           (f"{AX}::test_converse_linearity_check_can_fail",)),
    Mutant("axioms.py", "gram += var * col * col.T / 2", "gram += var * col * col.T",
           "Gram certificate without the 1/2", (f"{AX}::test_psd_certificate_uses_the_noise_gram_form",)),
    Mutant("axioms.py", "    if failed:\n", "    if False:\n",
           "equation printed although a step failed", (f"{AX}::test_a_failed_step_prints_no_equation",)),
    Mutant("axioms.py", "    if unused:\n", "    if False:\n",
           "axioms without effect silently ignored",
           (f"{AX}::test_dropping_a5_leaves_a_nonlinear_degenerate_elliptic_f",)),
    Mutant("axioms.py", "        if k in keys and \"A7\" not in keys:",
           "        if k in keys and \"A7\" not in keys and False:",
           "A8/A9 accepted without A7", (f"{AX}::test_invariances_without_translation_invariance_are_refused",)),
    # steps.py
    Mutant("steps.py", "TIME_EXPONENT = 2", "TIME_EXPONENT = 1",
           "A9 with u(mu x, mu t) instead of u(mu x, mu^2 t)",
           (f"{AX}::test_scale_invariance_makes_the_coefficient_constant_by_dsolve",)),
    Mutant("steps.py", "    F_new = sp.expand(F.subs(replace, simultaneous=True))\n    invariant",
           "    F_new = sp.expand(F)\n    invariant",
           "A7 concludes without rewriting F (coefficients keep their x-dependence)",
           (f"{AX}::test_translation_invariance_removes_x_from_every_coefficient",)),
    Mutant("steps.py", "for angle in (sp.pi / 2, sp.pi):", "for angle in (sp.pi,):",
           "A8 with the half-turn only", (f"{AX}::test_translation_and_rotation_invariance_give_the_heat_equation",)),
    Mutant("steps.py", "    F_new = sp.expand(F.subs(sol))\n    after",
           "    F_new = sp.expand(F)\n    after",
           "A6 concludes without removing the zeroth-order term", (f"{AX}::test_full_derivation_ends_in_cd_with_psd_diffusion",)),
    Mutant("steps.py", "    form = sp.expand((v.T * A * v)[0])", "    form = sp.expand(2 * (v.T * A * v)[0])",
           "comparison step compares with 2 v^T A v", (f"{AX}::test_full_derivation_ends_in_cd_with_psd_diffusion",)),
    Mutant("steps.py", "(1 if i == j else sp.Rational(1, 2))", "(1 if i == j else 1)",
           "coefficients read off F without the 1/2 of X_ij", (f"{AX}::test_full_derivation_ends_in_cd_with_psd_diffusion",)),
    # bounds.py
    Mutant("bounds.py", "return 4 / m**1.5 + 18 * math.log(m)", "return 4 / m**1.5 + 36 * math.log(m)",
           "BFT constant doubled", (f"{BD}::test_every_bound_formula_against_a_hand_computed_value",)),
    Mutant("bounds.py", "math.sqrt(2 * math.log(2) * D)", "math.sqrt(math.log(2) * D)",
           "GRS without the factor 2 under the root", (f"{BD}::test_every_bound_formula_against_a_hand_computed_value",)),
    Mutant("bounds.py", "        v = (np.asarray(W) ** 2) @ v", "        v = np.abs(np.asarray(W)) @ v",
           "l1 instead of l2 path norm", (f"{BD}::test_every_bound_formula_against_a_hand_computed_value",)),
    Mutant("bounds.py", "    unit = sp.simplify(l1 / 2)", "    unit = sp.simplify(l1)",
           "heat bound for f in [0, 1] without the 1/2", (f"{BD}::test_heat_lipschitz_derivation_checks_pass",
                                                         f"{BD}::test_every_bound_formula_against_a_hand_computed_value")),
    Mutant("bounds.py", "return radius * float(np.sqrt((x**2).sum())) / x.shape[0]",
           "return radius * float((x**2).sum()) / x.shape[0]",
           "linear-class upper bound without the square root", (f"{BD}::test_every_bound_formula_against_a_hand_computed_value",)),
    # exact.py, manufactured.py, linear_family.py, codegen.py
    Mutant("exact.py", "    Phi = sp.simplify((M * t).exp() * X)", "    Phi = sp.simplify((-M * t).exp() * X)",
           "characteristics with the wrong sign convention", (f"{EX}::test_exact_solution_satisfies_cd_and_perturbation_does_not",)),
    Mutant("exact.py", "    return sol.u * (1 + sol.t * sol.x[0] / 10) + sol.t / 10",
           "    return sol.u", "the negative control is no perturbation",
           (f"{EX}::test_exact_solution_satisfies_cd_and_perturbation_does_not",)),
    Mutant("exact.py", "            if value.is_number and abs(value) > tiny:\n                return True",
           "            if value.is_number:\n                return True",
           "refutation accepts any value, even 0", (f"{EX}::test_exact_solution_satisfies_cd_and_perturbation_does_not",)),
    Mutant("manufactured.py", "source = sp.diff(u_star, t) - (v.T * grad)[0]", "source = sp.diff(u_star, t) + (v.T * grad)[0]",
           "manufactured source with the wrong transport sign", (f"{EX}::test_manufactured_solution_and_wrong_source",)),
    Mutant("linear_family.py", "        return 2 * self.Phi * self.A * self.Phi.T", "        return self.Phi * self.A * self.Phi.T",
           "covariance rate without the factor 2", (LF,)),
    Mutant("codegen.py", "M[:d, :d], M[:d, d:], M[d:, d:] = -B, 2 * A, B.T", "M[:d, :d], M[:d, d:], M[d:, d:] = -B, A, B.T",
           "Van Loan block without the factor 2", (f"{LF}::test_flow_matrices_solve_their_odes_and_match_quadrature",)),
    # graph.py, scheme_analysis.py
    Mutant("graph.py", "diag_ok = all(is_zero(T[i, i] - (1 - tau * (sum(W.row(i)) - W[i, i])))",
           "diag_ok = all(is_zero(T[i, i] - (1 - tau * sum(W.row(i))))",
           "graph condition forgets the self-loops", (f"{BD}::test_graph_comparison_condition",)),
    Mutant("scheme_analysis.py", 'coeffs = {"center": 1 - C - 2 * r, "upwind": C + r, "downwind": r}',
           'coeffs = {"center": 1 - C - 2 * r, "upwind": r, "downwind": C + r}',
           "upwind scheme that takes the downwind side", (f"{BD}::test_von_neumann_checks_pass",)),
    # report.py, errors.py, __init__.py
    Mutant("report.py", '"expected": c.expected,', '"expected": "",',
           "derive --json without the expected expressions", (f"{CLI}::test_derive_json_has_expected_and_computed_fields",)),
    Mutant("errors.py", "class TheoryError(ValueError):", "class TheoryError(Exception):",
           "theory errors no longer bad input (exit 1 instead of 2)", (f"{CLI}::test_derive_ablation_and_bad_names",)),
    Mutant("__init__.py", "from .axioms import AXIOMS, DEFAULT_AXIOMS, Axiom, Derivation, Step, derive, parse_axioms",
           "from .axioms import AXIOMS, DEFAULT_AXIOMS, Axiom, Derivation, Step, parse_axioms",
           "the public API loses derive", (f"{LAYOUT}::test_every_public_name_is_importable",)),
)
