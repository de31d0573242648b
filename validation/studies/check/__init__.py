"""``cdverify check``: the paper's claims on conv ResNets and users' networks (config: the
settings and defaults; measure: what one trained network yields; study: paired verdicts and
anchors; present: CSV and Markdown)."""

from .config import CLAIMS, RADII, CheckConfig, Setting, parse_techniques
from .measure import MASKING_MARGIN
from .study import anchors, run_check, verdicts

__all__ = ["CLAIMS", "MASKING_MARGIN", "RADII", "CheckConfig", "Setting", "anchors",
           "parse_techniques", "run_check", "verdicts"]
