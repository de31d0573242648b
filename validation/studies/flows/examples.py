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


#: the most saved times a solve writes (snapshots held in memory, GIF frames rendered)
MAX_FRAMES = 500

#: peak memory of run_example per grid cell, by dimension, besides the snapshots (8 bytes a
#: cell a frame) and a fixed MEMORY_FIXED. Measured (peak RSS over the imports, 12 frames, every
#: stepper; benchmarks/bench_solve_memory.py): 2-D 0.75-0.88 kB a cell at 512^2-1024^2, 3-D
#: 1.37-1.73 kB at 32^3-64^3 (semi-Lagrangian the highest), 1-D 2.1 kB at 10^5 cells (the
#: figures' line plots); rounded up, so the estimate errs on the side of refusing
MEMORY_PER_CELL = {1: 2500, 2: 1000, 3: 2000}
MEMORY_FIXED = 100e6


def memory_estimate(dim: int, n: int, frames: int, stepper: str | None = None) -> float:
    """Bytes that :func:`run_example` needs on ``n`` cells per axis in ``dim`` dimensions with
    ``frames`` saved times: cells x (MEMORY_PER_CELL + 8 frames) + MEMORY_FIXED, and for the
    semi-Lagrangian stepper its interpolation matrices (numerics.solve.MATRIX_BYTES at most)."""
    from numerics.solve import MATRIX_BYTES, matrix_bytes

    cells = float(n) ** dim
    # two matrices: u's closures and the explicit diffusion term's
    extra = (min(MATRIX_BYTES, matrix_bytes(dim, cells, 2))
             if stepper == "semi-lagrangian" else 0.0)
    return cells * (MEMORY_PER_CELL[min(dim, 3)] + 8 * frames) + MEMORY_FIXED + extra


def run_example(name: str, out, *, convection: str = "central2", diffusion: str = "central2",
                stepper: str = "crank-nicolson", n: int | None = None, dt: float | None = None,
                frames: int = 12, progress: bool = True,
                max_wall_s: float | None = None, dt_bound: str = "gershgorin") -> dict:
    """Solve example ``name`` on ``n`` cells per axis (default 96; 32 in 3-D), compare with its
    closed form at ``frames`` times, and write panels.png (2-D) / slices.png (3-D) /
    space_time.png (1-D), flow.gif and solve.json to ``out``; returns the solve.json payload.
    A solve projected to take more than ``max_wall_s`` seconds stops (numerics.WallTimeError)
    before anything is written; ``dt_bound`` is numerics.solve's (explicit RK3/RK4 steps).

    Raises TheoryError for an unknown example and NumericsError for a bad scheme setting, both
    before anything is written."""
    from pathlib import Path

    from numerics import NumericsError, solve
    from numerics.plots import flow_gif, panels, slices, space_time
    from numerics.trajectories import characteristics
    from validation.doc.figures import save_figure
    from validation.store.io import write_json
    from validation.store.machine import available_memory

    ex = example(name)
    n = n if n is not None else (32 if len(ex.bounds) == 3 else 96)
    if frames < 2:
        raise NumericsError(f"frames = {frames}: at least 2 (t = 0 and T) are needed")
    if frames > MAX_FRAMES:
        raise NumericsError(f"frames = {frames}: at most {MAX_FRAMES}; each frame is a stored "
                            "snapshot of the field and a rendered frame of the GIF (about 0.1 s "
                            "each), so a larger count runs for hours; the solver's own steps do "
                            "not depend on it")
    need, have = memory_estimate(len(ex.bounds), n, frames, stepper), available_memory()
    if have is not None and need > have:  # refused from the options, before any allocation
        raise NumericsError(f"n = {n}: {name} on {n}^{len(ex.bounds)} cells with {frames} "
                            f"frames needs about {need / 1e9:.3g} GB, and this machine has "
                            f"{have / 1e9:.3g} GB available; use fewer cells per axis")
    prob = ex.problem(n)
    times = np.linspace(0, ex.t_end, frames)
    sol = solve(prob, convection=convection, diffusion=diffusion, stepper=stepper, dt=dt,
                save_times=list(times), progress=progress, max_wall_s=max_wall_s,
                dt_bound=dt_bound)
    out = Path(out)
    errors = []
    for t, snap in zip(sol.times, sol.snapshots, strict=True):
        e = snap[0] - ex.exact(prob.grid.coords, t)
        errors.append({"t": float(t), "max_error": float(np.abs(e).max()),
                       "rms_error": float(np.sqrt(np.mean(e**2)))})
    traj = None
    label = f"{ex.name}: {convection}/{diffusion}/{stepper}"
    dim = prob.grid.dim
    if dim >= 2:  # characteristics from 12 seeded interior starts, drawn over the flow
        lo = np.array([b[0] for b in prob.grid.bounds])
        hi = np.array([b[1] for b in prob.grid.bounds])
        starts = lo + (hi - lo) * np.random.default_rng(0).uniform(0.2, 0.8, size=(12, dim))
        traj = characteristics(starts, ex.point_velocity, ex.t_end, 200)
        pick = np.linspace(0, ex.t_end, min(4, frames))
    if dim == 2:
        fig, figure = panels(sol, velocity=prob.velocity_at, trajectories=traj, times=pick,
                             title=label), "panels.png"
    elif dim == 3:
        fig, figure = slices(sol, trajectories=traj, times=pick, title=label), "slices.png"
    else:
        fig, figure = space_time(sol, title=f"{ex.name}: space-time").figure, "space_time.png"
    save_figure(fig, out / figure)
    flow_gif(sol, out / "flow.gif", trajectories=traj, title=label)
    files = [figure, "flow.gif"]
    config = {"example": name, "convection": convection, "diffusion": diffusion,
              "stepper": stepper, "n": n, "dt": dt, "frames": frames}
    stats = {k: (float(v) if isinstance(v, np.floating) else v) for k, v in sol.stats.items()}
    payload = {"example": ex.description, "stats": stats, "errors": errors, "files": files}
    write_json(out / "solve.json", payload, config=config, seed=0)
    return payload
