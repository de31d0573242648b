"""The empirical Rademacher complexity of the trained class: the lower estimate by ascent and
the valid upper bounds (estimate), the sigma sweep with its verdict (sweep)."""

from .estimate import (
    network_estimate,
    norm_bounds,
    residual_upper_bound,
    sup_norm_bound,
    trained_radii,
)
from .stage import RademacherStudy
from .sweep import RademacherSweep, claim_verdict, rademacher_row, run_sweep, write_outputs

__all__ = ["RademacherStudy", "RademacherSweep", "claim_verdict", "network_estimate",
           "norm_bounds", "rademacher_row", "residual_upper_bound", "run_sweep", "sup_norm_bound",
           "trained_radii", "write_outputs"]
