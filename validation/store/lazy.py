"""Lazy package exports (PEP 562): a name is imported from its submodule on first use, so that
the command line's parsers and one-line refusals, which need only a config's defaults or a
list of names, do not import torch through a package's ``__init__``."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module


def lazy_exports(package: str, namespace: dict, exports: dict[str, str]
                 ) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the package ``package`` whose globals are ``namespace``:
    ``exports`` maps each public name to the submodule (relative, without the dot) defining
    it. A name once loaded is bound in ``namespace``, so later lookups skip the hook."""

    def __getattr__(name: str):
        if name in exports:
            value = getattr(import_module(f".{exports[name]}", package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
