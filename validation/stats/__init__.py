"""The statistics every verdict is decided with: paired comparisons against the sigma = 0
baseline (paired: t-test, Holm, TOST, sign-flip permutation check), the power of those tests
(power: minimum detectable effect, seeds needed), fitted orders (fit) and a verdict as
report content (present) and the two ends of a bracketed claim side by side (bracket)."""

from .bracket import CERTIFIED_FLOOR, bracket
from .fit import local_orders, slope
from .paired import (
    ALPHA,
    DELTA_ACCURACY,
    DELTA_RELATIVE,
    DELTA_ROBUST_ACCURACY,
    compare_to_baseline,
    holm,
    sign_flip_p,
)
from .power import POWER, minimum_detectable_effect, paired_power, seeds_needed
from .present import evidence, verdict_blocks

__all__ = ["ALPHA", "CERTIFIED_FLOOR", "DELTA_ACCURACY", "DELTA_RELATIVE",
           "DELTA_ROBUST_ACCURACY", "POWER",
           "bracket", "compare_to_baseline", "evidence", "holm", "local_orders",
           "minimum_detectable_effect",
           "paired_power", "seeds_needed", "sign_flip_p", "slope", "verdict_blocks"]
