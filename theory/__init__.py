"""Symbolic layer (sympy): axioms, generator extraction, exact solutions, bounds.

Every result is verified by substitution; see ``theory.report`` for the collected checks.
"""

from .axioms import AXIOMS, DEFAULT_AXIOMS, Axiom, Derivation, Step, derive, parse_axioms
from .bounds import (
    ASSUMPTIONS,
    bartlett_foster_telgarsky,
    derive_heat_lipschitz,
    golowich_rakhlin_shamir,
    heat_lipschitz_bound,
    linear_rademacher_exact,
    linear_rademacher_upper,
    path_norm,
    spectral_complexity,
)
from .catalogue import TECHNIQUES, Technique, check_technique, technique
from .checks import Check, is_zero
from .errors import CheckFailedError, TheoryError
from .exact import ExactSolution, perturbed, residual, verify
from .generator import Block, GeneratorResult, extract_generator, verify_generator
from .manufactured import manufacture
from .noise import NoiseLaw, noise_law

__all__ = [
    "ASSUMPTIONS",
    "AXIOMS",
    "DEFAULT_AXIOMS",
    "TECHNIQUES",
    "Axiom",
    "Block",
    "Check",
    "CheckFailedError",
    "Derivation",
    "ExactSolution",
    "GeneratorResult",
    "NoiseLaw",
    "Step",
    "Technique",
    "TheoryError",
    "bartlett_foster_telgarsky",
    "check_technique",
    "derive",
    "derive_heat_lipschitz",
    "extract_generator",
    "golowich_rakhlin_shamir",
    "heat_lipschitz_bound",
    "is_zero",
    "linear_rademacher_exact",
    "linear_rademacher_upper",
    "manufacture",
    "noise_law",
    "parse_axioms",
    "path_norm",
    "perturbed",
    "residual",
    "spectral_complexity",
    "technique",
    "verify",
    "verify_generator",
]
