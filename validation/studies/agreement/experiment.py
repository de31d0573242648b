"""The three-way agreement experiment: a trained network, its semi-discrete operator and the
PDE on a grid, compared at test points, with figures and a summary.

``cdverify validate``, the report's agreement stages and the sweep's agreement jobs are thin
layers over :func:`validate`. Decision agreement is measured where the data are: at the test
features and on the grid cells inside the bounding box of the training features, not over
the PDE's whole domain (which pads the features' noisy paths and is mostly empty of data); the
figures are zoomed to that box.
"""

from __future__ import annotations

import numpy as np

#: relative margin of the data window around the training features' bounding box (figures)
WINDOW_MARGIN = 0.05


def data_box(z: np.ndarray, margin: float = 0.0) -> tuple[tuple[float, float], ...]:
    """The bounding box of features z (N, d), widened by ``margin`` of its width per axis."""
    lo, hi = z.min(axis=0), z.max(axis=0)
    pad = margin * (hi - lo)
    return tuple((float(a - p), float(b + p)) for a, b, p in zip(lo, hi, pad, strict=True))


def region_agreement(net_labels: np.ndarray, pde_labels: np.ndarray, coords,
                     box) -> tuple[float, int]:
    """(share of grid cells whose labels agree, cell count) over the cells whose centres lie
    in ``box``."""
    inside = np.ones(net_labels.shape, bool)
    for c, (a, b) in zip(coords, box, strict=True):
        inside &= (c >= a) & (c <= b)
    n = int(inside.sum())
    return (float((net_labels[inside] == pde_labels[inside]).mean()) if n else float("nan")), n


def validate(cfg, out, *, grid_n: int = 128, test_points: int = 100, model=None,
             cache=None, progress: bool = True, substeps=(1, 2, 4, 8, 16)) -> dict:
    """Train (cached under ``cache`` if given) or use ``model``; agreement study, figures,
    summary.md and agreement.json in ``out``; returns the payload."""
    import time
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import asdict
    from pathlib import Path

    from numerics import Grid, solve
    from numerics.plots import flow_gif, panels
    from validation.doc import to_markdown
    from validation.doc.figures import save_figure
    from validation.nets.cached import cached_model
    from validation.nets.data import make_dataset
    from validation.nets.flow import PDE_SCHEME, interpolate
    from validation.nets.train import evaluate, features, train
    from validation.nets.velocity import feature_box, to_problem
    from validation.store.io import atomic_write_text, write_json

    from .figures import decision_regions, network_labels, network_paths
    from .study import agreement_study

    start = time.perf_counter()
    out = Path(out)
    data = make_dataset(cfg.data, cfg.n, seed=cfg.seed, noise=cfg.noise)
    if test_points > len(data.x_test):  # refused before training: never record an unused value
        raise ValueError(f"--test-points {test_points}: the {cfg.data} test split has "
                         f"{len(data.x_test)} points (n = {cfg.n}); give at most "
                         f"{len(data.x_test)}")
    history = None
    if model is None:
        if cache is not None:
            model, history = cached_model(cache, cfg, data, progress=progress)
        else:
            model, history = train(cfg, data, out=out, progress=progress)
    model = model.cpu()  # the grid studies run in numpy on the CPU
    acc = evaluate(model, data)
    z_train = features(model, data.x_train)
    x_test = data.x_test[:test_points]
    y_test = data.y_test[:test_points]
    z_test = features(model, x_test)
    box = feature_box(model, z_train)
    g = grid_n
    res = agreement_study(model, x_test, z_test, box, grid_n=g, seed=cfg.seed,
                          grid_ns=(g // 4, g // 2, g, 2 * g), substeps=substeps,
                          progress=progress)
    grid = Grid(bounds=box, shape=(g,) * 2)
    prob = to_problem(model, grid)
    times = np.linspace(0, model.t_end, 5)
    # the figures' PDE snapshots (numpy) on a thread while the network labels the grid
    # (torch): this tail of the stage runs alone where the study's threads have ended
    with ThreadPoolExecutor(max_workers=1) as beside:
        snapshots = beside.submit(solve, prob, save_times=list(times), **PDE_SCHEME)
        paths = network_paths(model, z_test[:15], seed=cfg.seed)
        net_grid = network_labels(model, grid, seed=cfg.seed)
        sol = snapshots.result()

    def save(fig, name):
        save_figure(fig, out / name)

    # where the data are: the training features' bounding box (agreement), a little wider
    # for the figures
    dbox = data_box(z_train)
    window = data_box(z_train, WINDOW_MARGIN)
    save(panels(sol, component=1, velocity=prob.velocity_at, trajectories=paths,
                times=times[[0, 2, 4]], window=window, label="u1",
                title=f"{cfg.data}: u(., t) (class 1) and feature paths, sigma = "
                      f"{model.sigma} (the data's feature box)"),
         "flow_panels.png")
    pde_grid = sol.final.argmax(0)
    in_box, cells = region_agreement(net_grid, pde_grid, grid.coords, dbox)
    everywhere = float((net_grid == pde_grid).mean())
    pde_at_test = interpolate(sol.final, grid, z_test)
    net_test = network_labels(model, z_test, seed=cfg.seed)
    at_test = float((net_test == pde_at_test.argmax(1)).mean())
    save(decision_regions(net_grid, pde_grid, grid, points=z_test, labels=y_test,
                          window=window, agreement=(at_test, in_box)), "decision_regions.png")
    flow_gif(sol, out / "flow.gif", component=1, trajectories=paths, window=window,
             label="u1", title=f"{cfg.data}, sigma = {model.sigma}: u(., t) of class 1, PDE "
                               "time t from the output (t = 0) to the input (t = T)")
    payload = {
        "accuracy": acc, "history": history, "feature_box": box, "data_box": dbox,
        "agreement": asdict(res), "table": res.table(),
        "decision_agreement": {"test_points": at_test, "n_test_points": len(z_test),
                               "data_box": in_box, "data_box_cells": cells,
                               "whole_grid": everywhere, "grid_cells": int(net_grid.size),
                               "data_box_share_of_grid": cells / net_grid.size},
        "pde_test_accuracy": float((pde_at_test.argmax(1) == y_test).mean()),
        "wall_time_s": time.perf_counter() - start,
    }
    payload["model"] = {"data": cfg.data, "sigma": model.sigma, "blocks": model.n_blocks,
                        "t_end": model.t_end}
    write_json(out / "agreement.json", payload, config=asdict(cfg), seed=cfg.seed)
    atomic_write_text(out / "summary.md", to_markdown(summary_blocks(payload)))
    return payload


def summary_blocks(payload: dict, heading: bool = True) -> list:
    """The summary of one agreement run (a :func:`validate` payload) as document blocks:
    summary.md, the command line and the report's section."""
    from validation.doc import Heading, num, para, percent, strong, table

    acc, agree, m = payload["accuracy"], payload["decision_agreement"], payload["model"]
    ag = payload["agreement"]
    lin = ("." if acc["beats_linear"] else
           [": ", strong(f"the network does not beat it by {acc['linear_margin']}: a (nearly) "
                         "linear model, the comparisons below are close to degenerate"), "."])
    rows = [[r["gap"], num(r["value"]), num(r["measured order"], 2),
             str(r["expected order"]), r["against"]] for r in payload["table"]]
    head = [Heading(f"Agreement: {m['data']}, sigma = {m['sigma']}, L = {m['blocks']}, T = "
                    f"{m['t_end']}", 1)] if heading else []
    return [*head,
            para(f"Test accuracy (deployed, 64 draws): {num(acc['test_acc'])}; train "
                 f"{num(acc['train_acc'])}. PDE u(., T) argmax accuracy on the same test "
                 f"points: {num(payload['pde_test_accuracy'])}. Linear baseline (logistic "
                 f"regression, same split): test {num(acc['linear_test_acc'])}", lin),
            table(["gap", "value (max over test points)", "measured order", "expected order",
                   "against"], rows),
            para(f"Network standard error (K = {ag['k_study']['K'][-1]}): "
                 f"{num(ag['net_stderr'])}."),
            para("Decision agreement, network (noise-averaged) against argmax u(., T), where "
                 f"the data are: {percent(agree['test_points'])} of the "
                 f"{agree['n_test_points']} test points and {percent(agree['data_box'])} of the "
                 f"{agree['data_box_cells']} grid cells inside the training features' bounding "
                 f"box. Over the whole PDE domain ({agree['grid_cells']} cells, of which the "
                 f"data's box is {percent(agree['data_box_share_of_grid'])}; the rest pads the "
                 f"features' noisy paths and holds no data): {percent(agree['whole_grid'])}."),
            para(f"Wall time {num(payload['wall_time_s'])} s. Figures: flow_panels.png, "
                 "decision_regions.png, flow.gif (zoomed to the data's feature box).")]
