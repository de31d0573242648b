r"""Named example problems for ``cdverify solve``, each with its closed-form solution.

The closed forms come from theory.exact (verified there by substitution) through theory.codegen;
the problems are numerics.Problem instances with the exact values as Dirichlet data where the
box cuts the feature space.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sympy as sp

from numerics import Grid, Problem
from theory import codegen, exact
from theory.errors import TheoryError
from theory.linear_family import LinearDriftForm


@dataclass(frozen=True)
class Example:
    """A named problem with its closed form: a theory.exact.ExactSolution, or a
    theory.linear_family.LinearDriftForm (v = B x, constant A, any dimension)."""

    name: str
    description: str
    bounds: tuple[tuple[float, float], ...]
    t_end: float
    solution: exact.ExactSolution | LinearDriftForm

    @cached_property
    def fields(self) -> dict[str, Callable]:
        if isinstance(self.solution, LinearDriftForm):
            return codegen.linear_drift_callables(self.solution)
        return codegen.solution_callables(self.solution)

    def problem(self, n: int) -> Problem:
        f = self.fields
        g = Grid(bounds=self.bounds, shape=(n,) * len(self.bounds))
        return Problem(grid=g, initial=lambda c: f["u"](c, 0.0), t_end=self.t_end,
                       velocity=f["velocity"](g.coords, 0.0),
                       diffusion=np.array(self.solution.diffusion.tolist()
                                          if isinstance(self.solution, exact.ExactSolution)
                                          else self.solution.A.tolist(), dtype=float),
                       boundary=("dirichlet", lambda *c: f["u"](c[:-1], c[-1])), name=self.name)

    @property
    def exact(self) -> Callable:
        return self.fields["u"]

    @property
    def point_velocity(self) -> Callable[[np.ndarray, float], np.ndarray]:
        vf = self.fields["velocity"]
        return lambda X, t: np.moveaxis(np.asarray(vf(tuple(X.T), t)), 0, -1)


def _subs(sol: exact.ExactSolution, values: dict[str, float]) -> exact.ExactSolution:
    rep = {s: sp.nsimplify(values[s.name]) for s in sol.u.free_symbols | sol.velocity.free_symbols
           | sol.diffusion.free_symbols if s.name in values}
    return exact.ExactSolution(sol.name, sol.x, sol.t, sol.u.subs(rep), sol.velocity.subs(rep),
                               sol.diffusion.subs(rep), description=sol.description)


def _gaussian(B, D, center, width=0.2, name=""):
    return exact.linear_drift_gaussian(sp.Matrix(B), sp.nsimplify(D) * sp.eye(2),
                                       center=sp.Matrix([sp.nsimplify(c) for c in center]),
                                       width=sp.nsimplify(width), name=name)


EXAMPLES: dict[str, Callable[[], Example]] = {
    "rotation": lambda: Example(
        "rotation", "v = (-x2, x1), D = 0.005: a diffused Gaussian rotating in [-1, 1]^2",
        ((-1, 1), (-1, 1)), 1.0,
        _gaussian([[0, -1], [1, 0]], "0.005", ["0.5", "0"], name="rotation")),
    "shear": lambda: Example(
        "shear", "v = (x2, 0), D = 0.005: a Gaussian sheared along x1",
        ((-1.5, 1.5), (-1, 1)), 1.0, _gaussian([[0, 1], [0, 0]], "0.005", ["0", "0.3"],
                                               name="shear")),
    "ornstein-uhlenbeck": lambda: Example(
        "ornstein-uhlenbeck", "v = -x, D = 0.02: Ornstein-Uhlenbeck contraction",
        ((-2, 2), (-2, 2)), 1.0, _gaussian([[-1, 0], [0, -1]], "0.02", ["0.4", "-0.2"],
                                           name="ornstein-uhlenbeck")),
    "advected-gaussian": lambda: Example(
        "advected-gaussian", "v = (1, 0.5), A = 0.01 I: a Gaussian advected and diffused",
        ((-2, 1), (-1.5, 1)), 1.0,
        _subs(exact.brownian_drift("gaussian", 2),
              {"b1": 1.0, "b2": 0.5, "sigma": float(np.sqrt(0.02)), "w": 0.2})),
    "spiral-sink-3d": lambda: Example(
        "spiral-sink-3d", "3-D: v = B x (a spiral about x3 contracting along it), full A: a "
        "Gaussian in [-1, 1]^3", ((-1, 1),) * 3, 1.0,
        LinearDriftForm("spiral-sink-3d", "gaussian",
                        sp.Matrix([[-0.2, -1, 0], [1, -0.2, 0], [0, 0, -0.3]]),
                        sp.Matrix([[0.006, 0.002, 0], [0.002, 0.004, 0.001],
                                   [0, 0.001, 0.005]]),
                        center=(0.4, 0, 0.2), width=0.2)),
    "advected-gaussian-1d": lambda: Example(
        "advected-gaussian-1d", "1-D: v = 1, a = 0.045, Gaussian base",
        ((-2.5, 1.5),), 1.0,
        _subs(exact.brownian_drift("gaussian", 1), {"b1": 1.0, "sigma": 0.3, "w": 0.2})),
}


def example(name: str) -> Example:
    try:
        return EXAMPLES[name]()
    except KeyError:
        raise TheoryError(f"unknown example {name!r}; valid: {', '.join(EXAMPLES)}") from None
