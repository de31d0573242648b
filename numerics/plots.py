r"""Plots of the flows of features (matplotlib only).

- 1-D: space-time diagram of u (x horizontal, PDE time t vertical);
- 2-D: panels of u(., t) with the velocity field (quiver) and feature trajectories overlaid;
- 3-D: the three axis-aligned slices through a point, one row per time;
- an animated GIF of the flow (matplotlib's PillowWriter).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.ticker import MaxNLocator

from .errors import NumericsError
from .grid import Grid
from .solve import Solution


def _trajectory_index(t: float, t_end: float, n_steps: int) -> int:
    """Trajectory step shown with u(., t): features have passed network time T - t."""
    return n_steps if t_end <= 0 else int(np.rint((t_end - t) / t_end * n_steps))


def space_time(sol: Solution, component: int = 0, ax=None, title: str = ""):
    """Space-time diagram of a 1-D solution (needs several saved times)."""
    if sol.grid.dim != 1:
        raise NumericsError(f"space_time needs a 1-D solution, got dimension {sol.grid.dim}")
    if len(sol.times) < 2:
        raise NumericsError("space_time needs at least two saved times (pass save_times)")
    ax = ax or plt.subplots(figsize=(6, 4))[1]
    m = ax.pcolormesh(sol.grid.axes[0], sol.times, sol.snapshots[:, component], shading="auto",
                      cmap="viridis")
    ax.figure.colorbar(m, ax=ax, label="u")
    ax.set(xlabel="x (feature)", ylabel="t (PDE time: output -> input)", title=title)
    return ax


def _window(sol: Solution, window) -> tuple[tuple[float, float], ...]:
    """The plotted region: ``window`` (a box inside the grid, e.g. where the data lie) or the
    whole grid."""
    if window is None:
        return tuple(sol.grid.bounds)
    window = tuple((float(a), float(b)) for a, b in window)
    if len(window) != sol.grid.dim or any(not a < b for a, b in window):
        raise NumericsError(f"window {window}: give one (low, high) pair per axis of the "
                            f"{sol.grid.dim}-D grid, low < high")
    return window


def panels(sol: Solution, *, component: int = 0, velocity=None, trajectories=None,
           times=None, title: str = "", window=None, label: str = "u"):
    """Panels of u(., t) in 2-D with quiver of v(., t) and trajectories up to each time.

    ``velocity(t)`` returns the field (2, nx, ny); ``trajectories`` has shape (S+1, N, 2)
    (network order s = 0..T, see numerics.trajectories); panel at PDE time t shows the
    trajectory segment from the input up to network time T - t. ``window``: the box shown
    (default: the whole grid); the colour scale is the range of u inside it.
    """
    if sol.grid.dim != 2:
        raise NumericsError(f"panels needs a 2-D solution, got dimension {sol.grid.dim}")
    idx = range(len(sol.times)) if times is None else [int(np.argmin(np.abs(sol.times - t)))
                                                       for t in times]
    idx = list(idx)
    win = _window(sol, window)
    fig, axes = plt.subplots(1, len(idx), figsize=(3.6 * len(idx), 3.6), squeeze=False,
                             layout="constrained")
    X, Y = sol.grid.coords
    inside = ((X >= win[0][0]) & (X <= win[0][1]) & (Y >= win[1][0]) & (Y <= win[1][1]))
    shown = sol.snapshots[:, component][:, inside] if inside.any() else \
        sol.snapshots[:, component]
    vmin, vmax = shown.min(), shown.max()
    T = sol.times[-1]
    for ax, i in zip(axes[0], idx, strict=True):
        t = sol.times[i]
        m = ax.pcolormesh(X, Y, sol.snapshots[i, component], shading="auto", cmap="viridis",
                          vmin=vmin, vmax=vmax)
        if velocity is not None:
            v = velocity(t)
            # about 16 arrows across the shown window, whatever its share of the grid
            frac = [(w[1] - w[0]) / (b[1] - b[0]) for w, b in zip(win, sol.grid.bounds,
                                                                  strict=True)]
            sx = max(1, int(X.shape[0] * frac[0]) // 16)
            sy = max(1, int(X.shape[1] * frac[1]) // 16)
            q = inside[::sx, ::sy] if inside.any() else np.ones_like(X[::sx, ::sy], bool)
            ax.quiver(X[::sx, ::sy][q], Y[::sx, ::sy][q], v[0][::sx, ::sy][q],
                      v[1][::sx, ::sy][q], color="white", alpha=0.7)
        if trajectories is not None:
            S = trajectories.shape[0] - 1
            upto = _trajectory_index(t, T, S)
            for p in range(trajectories.shape[1]):
                ax.plot(trajectories[: upto + 1, p, 0], trajectories[: upto + 1, p, 1], "r-",
                        lw=0.8)
                ax.plot(*trajectories[upto, p], "r.", ms=4)
        ax.set(title=f"{label}(., t = {t:.3g})", xlabel="x1", aspect="equal")
        if ax is axes[0][0]:
            ax.set_ylabel("x2")
        ax.set_xlim(win[0])
        ax.set_ylim(win[1])
    fig.colorbar(m, ax=list(axes[0]), shrink=0.8, label=label)
    if title:
        fig.suptitle(title)
    return fig


def slice_index(sol: Solution, point=None, component: int = 0) -> tuple[int, ...]:
    """Grid index of ``point`` (default: where |u(., T)| is largest)."""
    if point is None:
        return tuple(int(i) for i in np.unravel_index(
            int(np.argmax(np.abs(sol.final[component]))), sol.grid.shape))
    if len(point) != sol.grid.dim:
        raise NumericsError(f"slice point {point} has {len(point)} coordinates; the grid is "
                            f"{sol.grid.dim}-D")
    return tuple(int(np.argmin(np.abs(a - p))) for a, p in zip(sol.grid.axes, point,
                                                                strict=True))


def slices(sol: Solution, *, component: int = 0, times=None, point=None, trajectories=None,
           title: str = ""):
    """3-D: u(., t) on the planes x3 = c3, x2 = c2, x1 = c1 through ``point`` (default: the
    maximum of |u(., T)|), one row per time; trajectories (S+1, N, 3) are projected."""
    if sol.grid.dim != 3:
        raise NumericsError(f"slices needs a 3-D solution, got dimension {sol.grid.dim}")
    idx = range(len(sol.times)) if times is None else [int(np.argmin(np.abs(sol.times - t)))
                                                       for t in times]
    idx = list(idx)
    c = slice_index(sol, point, component)
    planes = [((0, 1), 2), ((0, 2), 1), ((1, 2), 0)]  # (shown axes, cut axis)
    fig, axes = plt.subplots(len(idx), 3, figsize=(10, 3.2 * len(idx)), squeeze=False)
    vmin, vmax = sol.snapshots[:, component].min(), sol.snapshots[:, component].max()
    T = sol.times[-1]
    for row, i in zip(axes, idx, strict=True):
        u = sol.snapshots[i, component]
        for ax, ((a, b), cut) in zip(row, planes, strict=True):
            plane = np.take(u, c[cut], axis=cut)
            m = ax.pcolormesh(sol.grid.axes[a], sol.grid.axes[b], plane.T, shading="auto",
                              cmap="viridis", vmin=vmin, vmax=vmax)
            if trajectories is not None:
                upto = _trajectory_index(sol.times[i], T, trajectories.shape[0] - 1)
                ax.plot(trajectories[: upto + 1, :, a], trajectories[: upto + 1, :, b], "r-",
                        lw=0.6)
            ax.set(title=f"t = {sol.times[i]:.3g}, x{cut + 1} = {sol.grid.axes[cut][c[cut]]:.3g}",
                   xlabel=f"x{a + 1}", ylabel=f"x{b + 1}", aspect="equal")
            ax.set_xlim(sol.grid.bounds[a])
            ax.set_ylim(sol.grid.bounds[b])
    fig.colorbar(m, ax=axes.ravel().tolist(), shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def flow_gif(sol: Solution, path: str | Path, *, component: int = 0, trajectories=None,
             fps: int = 6, title: str = "", window=None, label: str = "u") -> Path:
    """Animated GIF of u(., t) over the saved times (2-D: image with axes, a colour bar and
    the caption ``title``; 3-D: the x1-x2 slice through the maximum of |u(., T)|; 1-D:
    curve). ``window``: the box shown (default: the whole grid)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5.2, 4.6), layout="constrained")
    if title:  # wrapped: a GIF is narrow, and savefig cannot widen an animation's frame
        fig.suptitle(textwrap.fill(title, 64), fontsize=9)
    T = sol.times[-1]
    if sol.grid.dim == 3:  # the x3 = const slice: a 2-D solution of the same snapshots
        k = slice_index(sol, component=component)[2]
        sol = Solution(Grid(bounds=sol.grid.bounds[:2], shape=sol.grid.shape[:2]), sol.times,
                       sol.snapshots[..., k], sol.stats)
        trajectories = None if trajectories is None else trajectories[..., :2]
        window = None if window is None else tuple(window)[:2]
    if sol.grid.dim == 2:
        X, Y = sol.grid.coords
        win = _window(sol, window)
        vmin, vmax = sol.snapshots[:, component].min(), sol.snapshots[:, component].max()
        mesh = ax.pcolormesh(X, Y, sol.snapshots[0, component], shading="auto", vmin=vmin,
                             vmax=vmax)
        fig.colorbar(mesh, ax=ax, label=label)
        ax.set(xlabel="x1", ylabel="x2", aspect="equal", xlim=win[0], ylim=win[1])
        ax.xaxis.set_major_locator(MaxNLocator(5))  # a narrow panel: few, readable ticks
        ax.yaxis.set_major_locator(MaxNLocator(5))
        dots = ax.plot([], [], "r.", ms=5)[0]

        def draw(i):
            mesh.set_array(sol.snapshots[i, component].ravel())
            if trajectories is not None:
                S = trajectories.shape[0] - 1
                upto = _trajectory_index(sol.times[i], T, S)
                dots.set_data(trajectories[upto, :, 0], trajectories[upto, :, 1])
            ax.set_title(f"{label}(., t = {sol.times[i]:.3g})", fontsize=9)
            return mesh, dots
    elif sol.grid.dim == 1:
        line = ax.plot(sol.grid.axes[0], sol.snapshots[0, component])[0]
        ax.set_ylim(sol.snapshots[:, component].min() - 0.05,
                    sol.snapshots[:, component].max() + 0.05)
        ax.set(xlabel="x", ylabel=label, xlim=_window(sol, window)[0])

        def draw(i):
            line.set_ydata(sol.snapshots[i, component])
            ax.set_title(f"{label}(., t = {sol.times[i]:.3g})", fontsize=9)
            return (line,)
    else:
        raise NumericsError("flow_gif draws 1-D, 2-D and 3-D solutions only")
    # lay the figure out once, on the first frame (its title included), then freeze it: the
    # constrained layout was half of each frame's time, and a fixed layout keeps the axes from
    # shifting as the title's width changes
    draw(0)
    fig.canvas.draw()
    fig.set_layout_engine("none")
    anim = FuncAnimation(fig, draw, frames=len(sol.times), blit=False)
    tmp = path.with_name(f".{path.name}.tmp.gif")
    anim.save(tmp, writer=PillowWriter(fps=fps))
    plt.close(fig)
    tmp.replace(path)  # atomic: a reader never sees half a GIF
    return path
