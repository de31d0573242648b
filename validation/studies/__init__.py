"""One package per claim of the report: derivation, flows, agreement, robustness, rademacher,
lipschitz, depth, graph, and check (the claims on a trained conv ResNet). Each holds its
study, its sweep job, its figures and its report section (``stage.py``: the registered
:class:`~registry.Study`); studies import nets, stats, doc and store, never another study, the
sweep, the report or the CLI.

Importing this package registers every study; :data:`REGISTRY` lists them in the order the
report shows them (registry.ORDER).
"""

from importlib import import_module

from .registry import (
    ORDER,
    REGISTRY,
    STATUSES,
    Claim,
    Study,
    config_from_mapping,
    flagged,
    register,
    study,
)

#: the study packages (each registers its study in its stage.py)
PACKAGES = ORDER

for _package in PACKAGES:
    import_module(f"{__name__}.{_package}.stage")

__all__ = ["ORDER", "PACKAGES", "REGISTRY", "STATUSES", "Claim", "Study", "config_from_mapping",
           "flagged", "register", "study"]
