"""``cdverify check``: the paper's claims on conv ResNets and users' networks (config: the
settings and defaults; measure: what one trained network yields; study: paired verdicts and
anchors; present: CSV and Markdown)."""

# lazy (validation.store.lazy): the command line's parser reads config alone, without torch
from validation.store.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys("CLAIMS RADII CheckConfig Setting parse_techniques".split(), "config"),
    "MASKING_MARGIN": "measure",
    **dict.fromkeys("anchors run_check verdicts".split(), "study"),
}

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

__all__ = ["CLAIMS", "MASKING_MARGIN", "RADII", "CheckConfig", "Setting", "anchors",
           "parse_techniques", "run_check", "verdicts"]
