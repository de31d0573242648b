"""The ``cdverify`` command line.

Each subcommand lives in the package that owns its work and is imported lazily, so that
``cdverify derive`` does not pay for importing torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

# name -> (module, help). Each module provides ``add_arguments(parser)`` and ``run(args) -> int``.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "derive": ("validation.cmd_derive",
               "machine-checked derivation of (CD) from the axioms, and the technique catalogue"),
    "solve": ("validation.cmd_solve",
              "solve a named example of (CD) by finite differences; figures, GIF and JSON"),
    "validate": ("validation.cmd_validate",
                 "train a diffusion ResNet and measure network vs semi-discrete vs PDE"),
    "rademacher": ("validation.cmd_rademacher",
                   "empirical Rademacher complexity vs norm bounds over a sigma sweep"),
    "robustness": ("validation.cmd_robustness",
                   "attacks (incl. EOT and exhaustive), certificates and the verdict"),
    "report": ("validation.cmd_report",
               "the whole verification: every claim with its evidence, one HTML report"),
    "sweep": ("validation.cmd_sweep",
              "grid of agreement/robustness/rademacher jobs, local or on a Dask cluster"),
}


def _version() -> str:
    try:
        return version("cdverify")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="cdverify",
        description=(
            "Check, end to end, that deep residual networks are evolution operators of a "
            "convection-diffusion equation: symbolic derivations, PDE flows of features, and "
            "bound-versus-empirical reports."
        ),
    )
    parser.add_argument("--version", action="version", version=f"cdverify {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod = import_module(module)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "_run", None)
    if run is None:
        parser.print_help()
        return 0
    from .cli_types import folder_problem

    for option in ("out", "cache"):  # refused before any work, and nothing is created
        path = getattr(args, option, None)
        problem = None if path is None else folder_problem(path)
        if problem:
            print(f"cdverify {args.command}: error: --{option} {path}: {problem}; choose "
                  "another folder", file=sys.stderr)
            return 2
    return int(run(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
