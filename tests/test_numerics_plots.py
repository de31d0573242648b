"""Trajectories, plots and `cdverify solve`."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from PIL import Image

from numerics import Grid, NumericsError, Problem, solve
from numerics.plots import flow_gif, panels, space_time
from numerics.trajectories import characteristics, grid_velocity
from validation.cli import main


def test_characteristics_of_a_rotation_are_exact_circles():
    x0 = np.array([[1.0, 0.0], [0.0, 0.5]])
    traj = characteristics(x0, lambda X, t: np.stack([-X[:, 1], X[:, 0]], axis=1), np.pi / 2, 200)
    np.testing.assert_allclose(traj[-1], [[0.0, 1.0], [-0.5, 0.0]], atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(traj, axis=2), [[1.0, 0.5]] * 201, atol=1e-9)


def test_transport_solution_equals_base_model_along_characteristics():
    """u(x, T) = f(X(T)): the PDE and the feature trajectories tell the same story."""
    g = Grid(bounds=((-2, 2), (-2, 2)), shape=(128, 128))
    v = np.stack([-g.coords[1], g.coords[0]])

    def f(c):
        return np.exp(-((c[0] - 0.5) ** 2 + c[1] ** 2) / 0.2)

    p = Problem(grid=g, initial=f, t_end=1.0, velocity=v, boundary="outflow")
    sol = solve(p, convection="central4", diffusion="central2", stepper="rk4")
    pts = np.array([[0.3, -0.4], [0.0, 0.5], [-0.2, 0.1]])
    X_T = characteristics(pts, grid_velocity(p), 1.0, 100)[-1]
    np.testing.assert_allclose(sol.at(pts)[:, 0], f(X_T.T), atol=2e-3)
    # the wrong time direction (trajectories backwards) disagrees
    X_back = characteristics(pts, lambda X, t: -grid_velocity(p)(X, t), 1.0, 100)[-1]
    assert np.abs(sol.at(pts)[:, 0] - f(X_back.T)).max() > 0.05


def test_plots_render(tmp_path):
    g1 = Grid(bounds=((0, 1),), shape=(32,))
    p1 = Problem(grid=g1, initial=np.sin(2 * np.pi * g1.coords[0]), t_end=0.5, velocity=[1.0],
                 diffusion=0.01)
    s1 = solve(p1, save_times=[0.25])
    assert space_time(s1).get_xlabel().startswith("x")
    g2 = Grid(bounds=((0, 1), (0, 1)), shape=(16, 16))
    p2 = Problem(grid=g2, initial=np.sin(2 * np.pi * g2.coords[0]), t_end=0.5,
                 velocity=[1.0, 0.0], diffusion=0.01)
    s2 = solve(p2, save_times=[0.25])
    fig = panels(s2, velocity=p2.velocity_at, trajectories=np.zeros((11, 2, 2)))
    assert len(fig.axes) == 4  # three panels and a colour bar
    gif = flow_gif(s2, tmp_path / "f.gif")
    assert Image.open(gif).n_frames == 3
    # each frame draws its own snapshot; the layout, fixed on the first frame, keeps the colour
    # bar where it was (beyond the GIF palette's per-frame rounding, < 30 of 255)
    frames = []
    with Image.open(gif) as im:
        for i in range(3):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGB"), dtype=float))
    for a, b in itertools.pairwise(frames):
        moved = np.abs(a - b).max(axis=-1) > 30
        assert moved.mean() > 0.1 and not moved[:, -100:].any()
    with pytest.raises(NumericsError, match="1-D"):
        space_time(s2)


def test_cdverify_solve_writes_outputs(tmp_path, capsys):
    rc = main(["solve", "--example", "ornstein-uhlenbeck", "--n", "64", "--frames", "3",
               "--out", str(tmp_path)])
    assert rc == 0
    doc = json.loads((tmp_path / "solve.json").read_text())
    assert doc["config"]["example"] == "ornstein-uhlenbeck" and "numpy" in doc["versions"]
    assert doc["errors"][0]["max_error"] < 1e-12  # t = 0 is the exact initial condition
    assert 0 < doc["errors"][-1]["max_error"] < 0.05
    assert (tmp_path / "panels.png").stat().st_size > 0 and (tmp_path / "flow.gif").exists()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:  # refused while parsing the options
        main(["solve", "--example", "nope", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "invalid choice: 'nope' (choose from 'rotation'" in capsys.readouterr().err


def test_three_d_slices_and_gif(tmp_path):
    """3-D: the three slices through the maximum, one row per time; the GIF shows x3 = c."""
    import matplotlib.pyplot as plt

    from numerics.plots import slice_index, slices

    g = Grid(bounds=((-1, 1),) * 3, shape=(10, 12, 14))
    c = (0.3, -0.2, 0.1)
    p = Problem(grid=g, initial=lambda x: np.exp(-sum((xi - ci) ** 2 for xi, ci in zip(
        x, c, strict=True)) / 0.1), t_end=0.2, diffusion=0.01, boundary="neumann")
    sol = solve(p, stepper="crank-nicolson", save_times=[0.1])
    idx = slice_index(sol)
    assert np.allclose([g.axes[k][i] for k, i in enumerate(idx)], c, atol=0.2)
    fig = slices(sol, times=[0.0, 0.2])
    assert len(fig.axes) == 7  # 2 rows x 3 planes + colorbar
    titles = [a.get_title() for a in fig.axes[:3]]
    assert titles[0].startswith("t = 0, x3 =") and "x2 =" in titles[1] and "x1 =" in titles[2]
    plt.close(fig)
    assert flow_gif(sol, tmp_path / "f.gif").stat().st_size > 0
    with pytest.raises(NumericsError, match="3-D"):
        slice_index(sol, point=(0.0, 0.0))


def test_cli_solve_three_d_example(tmp_path):
    """`cdverify solve --example spiral-sink-3d`: slices, GIF and the error against the closed
    form (a 12^3 grid is coarse: the check is that it ran, measured, and wrote its files)."""
    out = tmp_path / "s3"
    assert main(["solve", "--example", "spiral-sink-3d", "--n", "12", "--frames", "3",
                 "--out", str(out)]) == 0
    rec = json.loads((out / "solve.json").read_text())
    assert rec["files"] == ["slices.png", "flow.gif"]
    assert 0 < rec["errors"][-1]["max_error"] < 0.2
    assert Image.open(out / "slices.png").size[0] > 500


def test_cli_solve_takes_the_step_bound_and_records_it(tmp_path, capsys):
    """`--dt-bound perron` reaches numerics.solve: RK4 central4 on spiral-sink-3d at 12^3 takes
    at least 1.8x fewer steps than under the default Gershgorin bound, with an error within 5%
    of it, and solve.json names the bound in effect; an unknown bound is refused by argparse
    with the valid choices, before any work."""
    recs = {}
    for bound in ("gershgorin", "perron"):
        out = tmp_path / bound
        assert main(["solve", "--example", "spiral-sink-3d", "--n", "12", "--frames", "2",
                     "--stepper", "rk4", "--convection", "central4", "--diffusion", "central4",
                     "--dt-bound", bound, "--out", str(out)]) == 0
        recs[bound] = json.loads((out / "solve.json").read_text())
    assert recs["perron"]["stats"]["dt_bound"] == "perron"
    assert recs["gershgorin"]["stats"]["dt_bound"] == "gershgorin"
    assert recs["gershgorin"]["stats"]["steps"] >= 1.8 * recs["perron"]["stats"]["steps"]
    errs = {b: r["errors"][-1]["max_error"] for b, r in recs.items()}
    assert errs["perron"] <= 1.05 * errs["gershgorin"], errs
    with pytest.raises(SystemExit):
        main(["solve", "--dt-bound", "lanczos", "--out", str(tmp_path / "x")])
    assert "invalid choice: 'lanczos'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_the_progress_bar_never_passes_t_end(monkeypatch):
    """Nine steps of dt = 1/9 sum to 1.0000000000000002: the bar's count is held at T, so
    tqdm never clamps (its TqdmWarning reached a user's terminal from a 48^2 RK4 solve). The
    bar renders at every update here (mininterval 0). Control: the bare sum passes T."""
    import warnings

    import tqdm

    seen = []

    class Eager(tqdm.tqdm):
        def __init__(self, *a, **kw):
            super().__init__(*a, **{**kw, "mininterval": 0, "miniters": 1})

        def update(self, n=1):
            out = super().update(n)
            seen.append(self.n)
            return out

    monkeypatch.setattr(tqdm, "tqdm", Eager)
    assert sum([1 / 9] * 9) > 1.0
    grid = Grid(bounds=((0.0, 1.0),), shape=(16,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        solve(Problem(grid=grid, initial=np.sin(np.pi * grid.coords[0]), diffusion=0.01,
                      t_end=1.0, boundary=("dirichlet", 0.0)),
              stepper="crank-nicolson", dt=1 / 9, progress=True)
    assert len(seen) == 9 and max(seen) <= 1.0 and seen[-1] == pytest.approx(1.0)
