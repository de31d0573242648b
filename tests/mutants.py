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
    Mutant("generator.py", "return {k - 2: simplified(c) for k, c in coeffs.items() if k - 2 <= top",
           "return {k - 1: simplified(c) for k, c in coeffs.items() if k - 1 <= top",
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
    Mutant("checks.py", "    return reduced(expr) == 0\n", "    return True\n",
           "every scalar identity reported as zero", (f"{AX}::test_is_zero_tells_zero_from_nonzero",)),
    Mutant("checks.py", "        return sp.cancel(ex)\n", "        return ex\n",
           "a rational identity left uncancelled (reported non-zero)",
           (f"{AX}::test_reduced_is_zero_exactly_for_identities_of_each_kind",)),
    # axioms.py
    Mutant("axioms.py", "cubics q1, q2)\", gap == 0,",
           "cubics q1, q2)\", True,",
           "converse A5 check turned into the literal True",
           (f"{AX}::test_converse_linearity_check_can_fail",)),
    Mutant("axioms.py", "gram += law.variance * col * col.T / 2", "gram += law.variance * col * col.T",
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
    Mutant("steps.py", "    form = sp.expand((v.T * Q * v)[0])", "    form = sp.expand(2 * (v.T * Q * v)[0])",
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
    Mutant("manufactured.py", "    if decide_psd(A) is False:", "    if decide_psd(A) is None:",
           "manufacture takes a diffusion shown indefinite (and refuses the undecided ones)",
           (f"{EX}::test_manufacture_refuses_a_diffusion_shown_not_positive_semi_definite",)),
    Mutant("linear_family.py", "        return 2 * self.Phi * self.A * self.Phi.T", "        return self.Phi * self.A * self.Phi.T",
           "covariance rate without the factor 2", (LF,)),
    Mutant("codegen.py", "M[:d, :d], M[:d, d:], M[d:, d:] = -B, 2 * A, B.T", "M[:d, :d], M[:d, d:], M[d:, d:] = -B, A, B.T",
           "Van Loan block without the factor 2", (f"{LF}::test_flow_matrices_solve_their_odes_and_match_quadrature",)),
    # graph.py, scheme_analysis.py
    Mutant("graph.py", "diag_ok = all(is_zero(T[i, i] - (1 - tau * (sum(W.row(i)) - W[i, i])))",
           "diag_ok = all(is_zero(T[i, i] - (1 - tau * sum(W.row(i))))",
           "graph condition forgets the self-loops", (f"{BD}::test_graph_comparison_condition",)),
    Mutant("scheme_analysis.py", 'coeffs or {"center": 1 - C - 2 * r, "upwind": C + r, "downwind": r}',
           'coeffs or {"center": 1 - C - 2 * r, "upwind": r, "downwind": C + r}',
           "upwind scheme that takes the downwind side", (f"{BD}::test_von_neumann_checks_pass",)),
    # issue 29: the classes of an independent mutation run (new mutants, not theirs)
    # 1. undecided passes
    Mutant("checks.py", "        return bool(value >= 0)\n    return None\n",
           "        return bool(value >= 0)\n    return True\n",
           "an undecided sign reported as non-negative",
           (f"{AX}::test_decision_helpers_never_pass_what_sympy_cannot_decide",)),
    Mutant("checks.py", "    return True if all(a is True for a in answers) else None",
           "    return True if all(a is not False for a in answers) else None",
           "a PSD question with undecided minors reported as PSD",
           (f"{AX}::test_decision_helpers_never_pass_what_sympy_cannot_decide",)),
    # 8. semi-definiteness from the leading minors only
    Mutant("checks.py", "for idx in itertools.combinations(range(d), k)]",
           "for idx in [tuple(range(k))]]", "Sylvester's leading minors for semi-definiteness",
           (f"{AX}::test_psd_certificate_uses_every_principal_minor",)),
    # 2. a comparison that looks one way
    Mutant("cumulants.py", "    keys = set(a) | set(b)", "    keys = set(a)",
           "operator difference blind to terms only in the second operator",
           (f"{AX}::test_route_comparisons_see_a_term_missing_on_either_side",)),
    Mutant("catalogue.py", "    powers = sorted(set(want) | set(res.terms))",
           "    powers = sorted(set(want))", "expansion check blind to powers only one route has",
           (f"{AX}::test_route_comparisons_see_a_term_missing_on_either_side",)),
    # 3. a step without its axiom
    Mutant("axioms.py", '    if "A6" in keys:', '    if True:',
           "constant preservation applied without A6",
           (f"{AX}::test_ablating_each_axiom_removes_its_step_and_its_conclusion",)),
    Mutant("steps.py", "    missing = [k for k in keys if k not in assumed]\n    if missing:",
           "    missing = [k for k in keys if k not in assumed]\n    if False:",
           "steps run without checking their axioms",
           (f"{AX}::test_every_step_refuses_to_run_without_its_axiom",)),
    Mutant("axioms.py", "        der.steps.append(witness_dispersive(dim))\n", "        pass\n",
           "without A4 the 2-jet reduction claimed with no dispersive witness",
           (f"{AX}::test_without_a4_the_two_jet_reduction_has_a_dispersive_witness",)),
    # A4 stated, not derived
    Mutant("steps.py", "    return Q, increment, conditions", "    return Q, increment, []",
           "the comparison step derives no condition on A",
           (f"{AX}::test_scale_invariance_derives_the_sign_of_its_constant",)),
    Mutant("steps.py", '              "derived conditions are consistent (none is shown negative)", not refuted,',
           '              "derived conditions are consistent (none is shown negative)", True,',
           "the comparison step accepts an F no comparison allows",
           (f"{AX}::test_the_comparison_step_fails_on_a_generator_no_comparison_allows",)),
    # 4. a converse check that degenerates
    Mutant("axioms.py", "    q2 = sp.expand(sum((-1) ** i * (i + 3) ** 2 * m for i, m in enumerate(mons)) - 5)",
           "    q2 = 2 * q1", "linearity checked with q2 a multiple of q1 (homogeneity only)",
           (f"{AX}::test_converse_linearity_check_fails_on_a_homogeneous_operator_that_is_not_additive",)),
    # 5. a truncated series
    Mutant("generator.py", "MAX_ORDER = 4", "MAX_ORDER = 3",
           "expansion truncated at third derivatives (the O(h) term loses its quartic part)",
           (f"{GEN}::test_quadrature_of_the_one_step_operator_confirms_every_expansion_to_o_h",)),
    # 6. true by where it is evaluated
    Mutant("steps.py", "    residual = sp.simplify(scaling_identity(F, jet, mu))",
           "    residual = sp.simplify(scaling_identity(F, jet, mu).subs(mu, 1))",
           "scaling identity checked at mu = 1 only",
           (f"{AX}::test_invariance_checks_hold_for_every_angle_and_scale_not_at_one_point",)),
    Mutant("steps.py", "_rotated(F, jet, plane_rotation(jet.d, i, j, th))",
           "_rotated(F, jet, plane_rotation(jet.d, i, j, sp.pi))",
           "rotation invariance checked at the half turn only",
           (f"{AX}::test_invariance_checks_hold_for_every_angle_and_scale_not_at_one_point",)),
    # 7. a closed form verified on its equation only
    Mutant("exact.py", "    if sol.initial is not None and reduced(u.subs(sol.t, 0) - sol.initial) != 0:",
           "    if False:", "verify() ignores the initial condition",
           (f"{EX}::test_verify_checks_the_initial_condition_too",)),
    # moments and bounds
    Mutant("noise.py", "    if negative:", "    if False:",
           "moment lists no distribution has accepted",
           (f"{AX}::test_noise_laws_need_a_valid_moment_sequence",)),
    Mutant("bounds.py", "              is_zero(mass - 1),", "              True,",
           "maximum principle's mass check that cannot fail",
           (f"{BD}::test_the_maximum_principle_is_checked_and_fails_with_a_zeroth_order_term",)),
    # expected / computed
    Mutant("catalogue.py", "expected=_show(want), computed=_show(got)", 'expected="", computed=""',
           "catalogue checks without their expressions",
           (f"{CLI}::test_derive_json_has_expected_and_computed_fields",)),
    # the quadrature check itself
    Mutant("numeric_generator.py", "        return (abs(self.limit_symbolic - self.limit_numeric) <= self.limit_error\n",
           "        return (True\n", "quadrature check that ignores the limit",
           (f"{GEN}::test_quadrature_check_fails_on_a_wrong_limit_or_a_truncated_correction",)),
    # found by our own exploratory run (12 mutants with no listed killer against the theory
    # test files): 8 survived at first; each now has a negative-control test
    Mutant("axioms.py", "q.subs(shift, simultaneous=True), block.noises)", "q, block.noises)",
           "one-step operator forgets the shift (still linear)",
           (f"{AX}::test_the_one_step_operator_is_the_block_it_checks",)),
    Mutant("axioms.py", "    ok = is_zero(res.zeroth_order + lam)", "    ok = True",
           "zeroth-order witness that cannot fail",
           (f"{AX}::test_the_zeroth_order_witness_fails_on_a_generator_without_the_term",)),
    Mutant("bounds.py", "    return decide_nonnegative(f.subs(x, -y)) is True and "
           "decide_nonnegative(-f.subs(x, y)) is True",
           "    return True", "heat kernel's sign change not decided",
           (f"{BD}::test_the_sign_change_is_decided_for_every_x_not_at_two_points",)),
    Mutant("catalogue.py", "            ok = is_zero(B - exp.divergence_rate * sp.eye(d))",
           "            ok = True", "divergence rate not compared",
           (f"{GEN}::test_the_divergence_check_fails_on_a_wrong_rate",)),
    Mutant("cumulants.py", "    K = sum(t * c for t, c in zip(theta, c0, strict=True))",
           "    K = sp.Integer(0)", "cumulant route without the drift",
           (f"{AX}::test_route_comparisons_see_a_term_missing_on_either_side",)),
    Mutant("generator.py", "        residuals.append(reduced(lim - result.apply(q)))",
           "        residuals.append(sp.Integer(0))", "substitution residuals always 0",
           (f"{AX}::test_converse_two_jet_check_sees_a_third_order_term",)),
    Mutant("generator.py", "    if coeffs is not None and all(sp.expand(c) == 0 for c in coeffs[:2]):",
           "    if coeffs is not None:",
           "lim e / h read off r^2's coefficient where r^0 or r^1 does not vanish",
           (f"{GEN}::test_the_limit_over_h_is_sympys_limit_on_polynomials_weights_and_divergent_quotients",)),
    Mutant("generator.py", "            coeff *= noises[base].moment(int(k))",
           "            coeff *= noises[base].moment(min(int(k), 2))",
           "expectation reads every moment above the second as the variance",
           (f"{GEN}::test_expectation_from_the_moments_and_its_refusals",)),
    Mutant("generator.py", "            if base not in noises or not (k.is_Integer and k >= 0):",
           "            if base not in noises:",
           "expectation takes 1/xi or sqrt(xi) for a moment",
           (f"{GEN}::test_expectation_from_the_moments_and_its_refusals",)),
    Mutant("graph.py", "    rows_ok = is_zero(T * sp.ones(n, 1) - sp.ones(n, 1))",
           "    rows_ok = True", "graph row sums not checked",
           (f"{BD}::test_each_graph_check_fails_on_a_laplacian_with_its_defect",)),
    Mutant("graph.py", "    off_ok = all(sp.simplify(T[i, j] - tau * W[i, j]) == 0 and "
           "(tau * W[i, j]).is_nonnegative", "    off_ok = all(True",
           "graph off-diagonal entries not checked",
           (f"{BD}::test_each_graph_check_fails_on_a_laplacian_with_its_defect",)),
    Mutant("scheme_analysis.py",
           "    cons = is_zero(sp.series(G, th, 0, 2).removeO() - (1 + sp.I * C * th))",
           "    cons = True", "von Neumann consistency not checked",
           (f"{BD}::test_the_von_neumann_consistency_check_fails_on_a_downwind_scheme",)),
    Mutant("steps.py", "    return (not (F.free_symbols & set(free)) and sp.Poly(F, *J).total_degree() <= 1",
           "    return (not (F.free_symbols & set(free)) and True",
           "linearity step does not check the degree",
           (f"{AX}::test_the_linearity_and_constant_checks_fail_where_they_should",)),
    Mutant("steps.py", "                       bool(sol) and after == 0, f\"solve: {sol}\"",
           "                       True, f\"solve: {sol}\"", "constant step check that cannot fail",
           (f"{AX}::test_the_linearity_and_constant_checks_fail_where_they_should",)),
    Mutant("steps.py", "    return all(e % 2 == 0 or any(", "    return all(True or any(",
           "every factored minor treated as implied",
           (f"{AX}::test_full_derivation_ends_in_cd_with_psd_diffusion",)),
    # report.py, errors.py, __init__.py
    Mutant("report.py", '"expected": c.expected,', '"expected": "",',
           "derive --json without the expected expressions", (f"{CLI}::test_derive_json_has_expected_and_computed_fields",)),
    Mutant("errors.py", "class TheoryError(ValueError):", "class TheoryError(Exception):",
           "theory errors no longer bad input (exit 1 instead of 2)", (f"{CLI}::test_derive_ablation_and_bad_names",)),
    Mutant("__init__.py", "from .axioms import AXIOMS, DEFAULT_AXIOMS, Axiom, Derivation, Step, derive, parse_axioms",
           "from .axioms import AXIOMS, DEFAULT_AXIOMS, Axiom, Derivation, Step, parse_axioms",
           "the public API loses derive", (f"{LAYOUT}::test_every_public_name_is_importable",)),
)
