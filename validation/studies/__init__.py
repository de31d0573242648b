"""One package per claim of the report: derivation, flows, agreement, robustness, rademacher,
lipschitz, depth, graph, and check (the claims on a trained conv ResNet). Each holds its
study, its sweep job, its figures and its report section (``stage.py``: the registered
:class:`~registry.Study`); studies import nets, stats, doc and store, never another study, the
sweep, the report or the CLI.

:data:`REGISTRY` lists every study in the order the report shows them (registry.ORDER); the
first use of it imports every study package's stage (which registers it).
"""

from importlib import import_module

from .registry import (
    ORDER,
    STATUSES,
    Claim,
    Study,
    config_from_mapping,
    flagged,
    register,
)

#: the study packages (each registers its study in its stage.py)
PACKAGES = ORDER


def _registered() -> dict:
    """registry.REGISTRY with every study package's stage imported (registered) first."""
    from . import registry

    for package in PACKAGES:
        import_module(f"{__name__}.{package}.stage")
    return registry.REGISTRY


def study(name: str) -> Study:
    """The registered study ``name`` (ValueError listing the registered ones)."""
    _registered()
    from .registry import study as _study

    return _study(name)


def __getattr__(name: str):
    # lazy: a study package's own modules (the command line's parsers read their config
    # defaults) import without registering, and so without importing, every other study
    if name == "REGISTRY":
        return _registered()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ORDER", "PACKAGES", "REGISTRY", "STATUSES", "Claim", "Study", "config_from_mapping",
           "flagged", "register", "study"]
