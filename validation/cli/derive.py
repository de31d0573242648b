"""`cdverify derive`: the symbolic derivation and catalogue checks as Markdown/LaTeX/JSON."""

from __future__ import annotations

import argparse

EXAMPLE = "cdverify derive --assume A1,A2,A3,A5,A6 --no-exact --json derive.json"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from theory.axioms import DEFAULT_AXIOMS

    from .types import axiom_list, dimension

    p.add_argument("--assume", default=",".join(DEFAULT_AXIOMS), type=axiom_list,
                   help="comma-separated axioms to assume (A1..A9), e.g. A1,A2,A3,A5,A6 for an "
                   "ablation without A4")
    p.add_argument("--technique", default=None,
                   help="print one catalogue entry only (e.g. gaussian, dropout, graph-diffusion;"
                   " None: all)")
    p.add_argument("--dim", type=dimension, default=2,
                   help="feature dimension d (at most theory.axioms.MAX_DIM = 5)")
    p.add_argument("--no-exact", action="store_true", help="skip the exact-solution checks")
    p.add_argument("--latex", metavar="FILE", default=None,
                   help="also write a compilable LaTeX document")
    p.add_argument("--json", metavar="FILE", default=None,
                   help="also write machine-readable results")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from theory.report import build_report, dumps_json, report_plan, to_latex, to_markdown
    from validation.store.io import atomic_write_text

    from .types import refuse_unwritable_files

    refuse_unwritable_files(args, ("latex", "json"))  # before the derivation, not after it

    chosen = [args.technique] if args.technique else None
    plan = report_plan(chosen, include_exact=not args.no_exact)
    # on a terminal only (disable=None): a pipeline's stderr keeps one line per error; every
    # part drawn (mininterval=0: a few parts of a second or more each)
    with tqdm(total=len(plan), desc=f"derive (d = {args.dim})", unit="part", leave=False,
              disable=None, mininterval=0) as bar:
        def done(unit: str) -> None:
            bar.set_postfix_str(unit, refresh=False)
            bar.update()

        rep = build_report(args.assume, chosen, dim=args.dim,
                           include_exact=not args.no_exact, progress=done)
    print(to_markdown(rep))
    if args.latex:
        atomic_write_text(args.latex, to_latex(rep))
    if args.json:
        atomic_write_text(args.json, dumps_json(rep))
    return 0 if rep.passed else 1
