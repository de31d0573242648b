"""Robustness of the deployed predictor: grid searches that bound robust
accuracy from below or find the ground truth (search; the feature bottleneck of digits in
bottleneck), certificates (certify), the per-model study (study) and the sigma sweep with its
verdict (sweep)."""

from validation.studies.attacks import (
           NORMS,
           AttackError,
           eot_loss,
           fgsm,
           mean_probs,
           pgd,
           project,
           random_search,
)

from .bracket import bracket_2d
from .certify import (
    Certificate,
    certified_accuracy,
    certify_batch,
    certify_smoothed,
    clopper_pearson_lower,
    heat_certified,
    max_certified_radius,
)
from .search import ExpectedPredictor, box_search, exhaustive, exhaustive_expected, grid_search
from .stage import RobustnessStudy
from .study import StudyConfig, robustness_study, sanity_flags
from .sweep import RobustnessSweep, claim_verdicts, robustness_row, run_sweep, write_outputs

__all__ = ["NORMS", "AttackError", "Certificate", "ExpectedPredictor", "RobustnessStudy",
           "RobustnessSweep", "StudyConfig", "box_search", "bracket_2d", "certified_accuracy",
           "certify_batch",
           "certify_smoothed", "claim_verdicts",
           "clopper_pearson_lower", "eot_loss", "exhaustive", "exhaustive_expected", "fgsm",
           "grid_search", "heat_certified", "max_certified_radius", "mean_probs", "pgd",
           "project", "random_search",
           "robustness_row", "robustness_study", "run_sweep", "sanity_flags", "write_outputs"]
