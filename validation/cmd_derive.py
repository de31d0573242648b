"""`cdverify derive`: the symbolic derivation and catalogue checks as Markdown/LaTeX/JSON."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--assume", default="A1,A2,A3,A4,A5,A6",
                   help="comma-separated axioms to assume (A1..A9), e.g. A1,A2,A3,A5,A6 for an "
                   "ablation without A4 (default: %(default)s)")
    p.add_argument("--technique", default=None,
                   help="print one catalogue entry only (e.g. gaussian, dropout, graph-diffusion)")
    p.add_argument("--dim", type=int, default=2, help="feature dimension d (default 2)")
    p.add_argument("--no-exact", action="store_true", help="skip the exact-solution checks")
    p.add_argument("--latex", metavar="FILE", help="also write a compilable LaTeX document")
    p.add_argument("--json", metavar="FILE", help="also write machine-readable results")


def run(args: argparse.Namespace) -> int:
    from theory.errors import TheoryError
    from theory.report import build_report, dumps_json, to_latex, to_markdown
    from validation.io import atomic_write_text

    try:
        rep = build_report(args.assume, [args.technique] if args.technique else None,
                           dim=args.dim, include_exact=not args.no_exact)
    except TheoryError as exc:
        print(f"cdverify derive: error: {exc}", file=sys.stderr)
        return 2
    print(to_markdown(rep))
    if args.latex:
        atomic_write_text(args.latex, to_latex(rep))
    if args.json:
        atomic_write_text(args.json, dumps_json(rep))
    return 0 if rep.passed else 1
