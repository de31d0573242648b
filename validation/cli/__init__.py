"""The ``cdverify`` command line: one module per subcommand, each a thin layer over a public
function of theory/, numerics/ or validation/.

Each subcommand module provides ``add_arguments(parser)``, ``run(args) -> int`` and ``EXAMPLE``
(one example command for its ``--help``) and is imported only when that subcommand runs, so
that ``cdverify --version`` imports none of them and ``cdverify derive`` does not pay for
importing torch.

Failures the user can act on become one line on stderr: bad input (ValueError and the
packages' errors derived from it) exits 2, a file-system error or a failed computation exits 1,
Ctrl-C exits 130 and says where to resume. ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# name -> (module, help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "derive": ("validation.cli.derive",
               "machine-checked derivation of (CD) from the axioms, and the technique catalogue"),
    "solve": ("validation.cli.solve",
              "solve a named example of (CD) by finite differences; figures, GIF and JSON"),
    "validate": ("validation.cli.validate",
                 "train a diffusion ResNet and measure network vs semi-discrete vs PDE"),
    "rademacher": ("validation.cli.rademacher",
                   "empirical Rademacher complexity vs norm bounds over a sigma sweep"),
    "robustness": ("validation.cli.robustness",
                   "attacks (incl. EOT and exhaustive), certificates and the verdict"),
    "graph": ("validation.cli.graph",
              "graph diffusion (COIN): tau* and its violation, continuum limit, the claim"),
    "report": ("validation.cli.report",
               "the whole verification: every claim with its evidence, one HTML report"),
    "inspect": ("validation.cli.inspect",
                "read any torch residual network's stage as a flow and describe it on data"),
    "check": ("validation.cli.check",
              "the paper's claims on conv ResNets (MNIST-1D, digit images, CIFAR-10) or yours"),
    "sweep": ("validation.cli.sweep",
              "grid of agreement/robustness/rademacher/check jobs, local or on a Dask cluster"),
}

INTERRUPTED = 130  # the shell's status for SIGINT


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Every option's default in its help line; the epilog (the example) kept as written.

    Flags (no value) show none: "--no-library ... (default: True)" read as "left out by
    default", where True is the value of the option's destination (the library is used). A
    help that states its default in words keeps it alone (not "... (default: None)"), and a
    None default is never shown: "(None: reports/<timestamp>) (default: None)" said it twice,
    and a bare "(default: None)" tells nothing (the help says what leaving it out does)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.nargs == 0 or action.default is None or "(default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _version() -> str:
    try:
        return version("cdverify")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand; with ``only`` the options of that
    subcommand alone (the others are listed by name and help, their modules not imported: a
    command pays only for its own imports, and ``--version`` for none)."""
    parser = argparse.ArgumentParser(
        prog="cdverify", formatter_class=_Formatter,
        description=(
            "Check, end to end, that deep residual networks are evolution operators of a "
            "convection-diffusion equation: symbolic derivations, PDE flows of features, and "
            "bound-versus-empirical reports."
        ),
        epilog="example:\n  cdverify report --profile quick\n\n"
               "Run `cdverify COMMAND --help` for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"cdverify {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=help_text, description=help_text)
            continue
        mod = import_module(module)
        p = sub.add_parser(name, help=help_text, description=help_text,
                           formatter_class=_Formatter, epilog=f"example:\n  {mod.EXAMPLE}")
        mod.add_arguments(p)
        p.add_argument("--debug", action="store_true",
                       help="show the full traceback of a failure instead of one line")
        p.set_defaults(_run=mod.run)
    return parser


def _refuse_folders(args: argparse.Namespace) -> str | None:
    """The error line for an --out/--cache that cannot become a writable folder (nothing is
    created), or None. An existing --cache folder that is only readable (a read-only mount of
    a warm cache) is accepted: its complete entries are read, and an entry it lacks is refused
    when it is reached (store.cache.ReadOnlyCache)."""
    from .types import folder_problem

    for option in ("out", "cache"):
        path = getattr(args, option, None)
        problem = None if path is None else folder_problem(path)
        if problem and option == "cache" and Path(path).is_dir() \
                and os.access(path, os.R_OK | os.X_OK):
            continue
        if problem:
            return f"--{option} {path}: {problem}; choose another folder"
    return None


def _interrupted(name: str, exc: KeyboardInterrupt) -> int:
    """The one line of a Ctrl-C (where the run stopped, if known) and exit status 130."""
    where = getattr(exc, "where", None)
    print(f"\n{name}: interrupted{' ' + where if where else ''}; rerun the same command to "
          "resume (finished work is cached)", file=sys.stderr)
    return INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=chosen if chosen in SUBCOMMANDS else "")
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "_run", None)
    if run is None:
        parser.print_help()
        return 0
    name = f"cdverify {args.command}"
    problem = _refuse_folders(args)
    if problem:
        print(f"{name}: error: {problem}", file=sys.stderr)
        return 2
    if args.debug:
        return int(run(args))
    try:
        return int(run(args))
    except KeyboardInterrupt as exc:
        return _interrupted(name, exc)
    except ValueError as exc:  # bad input found by a package's own checks
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        what = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
        print(f"{name}: error: {what}", file=sys.stderr)
        return 1
    except Exception as exc:  # one line; --debug shows the traceback
        from validation.store.workers import interrupt_behind

        behind = interrupt_behind(exc)  # Ctrl-C inside a compiled module's import
        if behind is not None:
            return _interrupted(name, behind)
        print(f"{name}: error: {type(exc).__name__}: {exc} (rerun with --debug for the "
              "traceback)", file=sys.stderr)
        return 1


__all__ = ["SUBCOMMANDS", "build_parser", "main"]
