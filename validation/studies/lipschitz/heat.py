r"""The heat-semigroup Lipschitz bound, measured: pure diffusion (v = 0) of a unit step.

For d_t u = (sigma^2/2) u'' and u(., 0) = f with values in [0, 1], Lip u(., T) <=
1/(sigma sqrt(2 pi T)) (theory.bounds, derived there with sympy); the unit step attains it.
:func:`heat_lipschitz_check` solves the step's flow by Crank-Nicolson and compares the
measured Lipschitz constant with the bound; :func:`lipschitz_figure` plots both against sigma.
"""

from __future__ import annotations

import numpy as np

from numerics import Grid, Problem, solve


def heat_lipschitz_check(sigmas=(0.1, 0.3, 0.5), t_end: float = 1.0, cells: int = 1200,
                         half_width: float = 3.0) -> dict:
    """Rows (sigma, measured, bound, ratio) for the unit step on [-half_width, half_width]
    with Neumann sides; ``holds`` if every ratio <= 1.01 and the symbolic derivation passed,
    ``attained`` if every ratio >= 0.95 (the step is the extremal datum)."""
    from theory.bounds import derive_heat_lipschitz, heat_lipschitz_bound

    sym = derive_heat_lipschitz()
    g = Grid(bounds=((-half_width, half_width),), shape=(cells,))
    rows = []
    for sigma in sigmas:
        prob = Problem(grid=g, initial=(g.coords[0] > 0).astype(float), t_end=t_end,
                       diffusion=sigma**2 / 2, boundary="neumann")
        u = solve(prob, convection="upwind1", diffusion="central2", stepper="crank-nicolson",
                  dt=1e-3).final[0]
        lip = float(np.abs(np.diff(u)).max() / g.spacing[0])
        bound = heat_lipschitz_bound(sigma, t_end)
        rows.append({"sigma": float(sigma), "measured": lip, "bound": bound,
                     "ratio": lip / bound})
    symbolic = all(c.passed for c in sym.checks)
    return {"symbolic_passed": symbolic, "rows": rows, "t_end": t_end, "cells": cells,
            "holds": symbolic and all(r["ratio"] <= 1.01 for r in rows),
            "attained": all(r["ratio"] >= 0.95 for r in rows)}


def lipschitz_figure(check: dict):
    """Measured Lip u(., T) and the bound against sigma (log-log); returns the figure."""
    import matplotlib.pyplot as plt

    rows = check["rows"]
    s = [r["sigma"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    fine = np.geomspace(min(s) * 0.8, max(s) * 1.25, 100)
    ax.loglog(fine, 1 / (fine * np.sqrt(2 * np.pi * check["t_end"])), "k-",
              label="bound 1/(sigma sqrt(2 pi T))")
    ax.loglog(s, [r["measured"] for r in rows], "o", ms=8, mfc="none",
              label=f"measured (unit step, CN, {check['cells']} cells)")
    ax.set(xlabel="sigma", ylabel=f"Lip u(., T = {check['t_end']:g})",
           title="Heat-semigroup Lipschitz bound")
    ax.legend(fontsize=8)
    return fig
