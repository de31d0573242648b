"""The measured order table: every convection scheme x boundary kind x dimension over theory's
closed-form families (min..max of the regression slopes over the forms of each cell).

    python benchmarks/order_table.py [--out table.json]      # about 11 minutes on one core

Cells whose slopes leave declared order +- 0.25 are flagged: the default test suite runs a Latin
subset of this matrix (tests/test_numerics_boundaries.py); this script measures all of it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_numerics_boundaries import (
    NS,
    ORDER_TOL,
    declared_space_order,
    observed_order,
    space_case,
)

from numerics import CONVECTION, DIFFUSION
from theory.linear_family import family, outflow_family, periodic_family


def measure() -> dict[tuple[str, str, int], list[tuple[str, float, int]]]:
    table = defaultdict(list)
    for d in (2, 3):
        # 3-D with diffusion: the Gaussians; upwind1 and the TVD schemes on n = 16..48 (they
        # reach their asymptotic range later than the central schemes)
        forms = family(d) if d == 2 else [f for f in family(d) if "Gaussian" in f.name]
        for b in ("dirichlet", "neumann"):
            for c in CONVECTION:
                ns = NS[d] if d == 2 or c.startswith("central") else (16, 24, 32, 48)
                for f in forms:
                    table[(c, b, d)].append((f.name, space_case(f, b, c, ns)[0],
                                             declared_space_order(c)))
        ns = (32, 64, 128, 256) if d == 2 else (24, 32, 48, 64)
        for f in outflow_family(d):
            if d == 3 and "Gaussian" in f.name:
                continue
            for c in CONVECTION:
                table[(c, "outflow", d)].append((f.name, space_case(f, "outflow", c, ns)[0],
                                                 declared_space_order(c)))
        ns = (12, 16, 24, 32) if d == 3 else (16, 24, 32, 48)
        for f in periodic_family(d):
            for diff in DIFFUSION:
                slope = observed_order(f, "periodic", ns, convection="central2", diffusion=diff,
                                       stepper="rk4")[0]
                table[(f"diffusion {diff}", "periodic", d)].append(
                    (f.name, slope, DIFFUSION[diff].order))
    return table


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="write the table as JSON here")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    table = measure()
    print(f"| scheme | boundary | dim | forms | slopes | declared | outside +-{ORDER_TOL} |")
    print("|---|---|---|---|---|---|---|")
    for (c, b, d), rows in sorted(table.items()):
        slopes = [s for _, s, _ in rows]
        bad = [f"{n} {s:.2f}" for n, s, o in rows if abs(s - o) > ORDER_TOL]
        print(f"| {c} | {b} | {d}-D | {len(rows)} | {min(slopes):.2f}..{max(slopes):.2f} | "
              f"{rows[0][2]} | {'; '.join(bad) or '-'} |")
    print(f"\n{time.perf_counter() - t0:.0f} s")
    if args.out:
        from validation.store.io import atomic_write_text

        atomic_write_text(args.out, json.dumps({f"{c}|{b}|{d}": rows for (c, b, d), rows
                                                in table.items()}, indent=1))


if __name__ == "__main__":
    main()
