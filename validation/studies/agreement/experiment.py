"""The three-way agreement experiment: a trained network, its semi-discrete operator and the
PDE on a grid, compared at test points, with figures and a summary.

``cdverify validate``, the report's agreement stages and the sweep's agreement jobs are thin
layers over :func:`validate`.
"""

from __future__ import annotations


def validate(cfg, out, *, grid_n: int = 128, test_points: int = 100, model=None,
             cache=None, progress: bool = True, substeps=(1, 2, 4, 8, 16)) -> dict:
    """Train (cached under ``cache`` if given) or use ``model``; agreement study, figures,
    summary.md and agreement.json in ``out``; returns the payload."""
    import time
    from dataclasses import asdict
    from pathlib import Path

    import numpy as np

    from numerics import Grid, solve
    from numerics.plots import flow_gif, panels
    from validation.nets.cached import cached_model
    from validation.nets.data import make_dataset
    from validation.nets.flow import PDE_SCHEME, interpolate
    from validation.nets.train import evaluate, features, train
    from validation.nets.velocity import feature_box, to_problem
    from validation.store.io import atomic_write_text, save_figure, write_json

    from .figures import decision_regions, network_paths
    from .study import agreement_study

    start = time.perf_counter()
    out = Path(out)
    data = make_dataset(cfg.data, cfg.n, seed=cfg.seed, noise=cfg.noise)
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
    sol = solve(prob, save_times=list(times), **PDE_SCHEME)

    def save(fig, name):
        save_figure(fig, out / name)

    paths = network_paths(model, z_test[:15], seed=cfg.seed)
    save(panels(sol, component=1, velocity=prob.velocity_at, trajectories=paths,
                times=times[[0, 2, 4]],
                title=f"{cfg.data}: u(., t) (class 1) and feature paths, sigma = {model.sigma}"),
         "flow_panels.png")
    fig, agree = decision_regions(model, grid, sol.final, points=z_test, labels=y_test,
                                  seed=cfg.seed)
    save(fig, "decision_regions.png")
    flow_gif(sol, out / "flow.gif", component=1, trajectories=paths)
    pde_at_test = interpolate(sol.final, grid, z_test)
    payload = {
        "accuracy": acc, "history": history, "feature_box": box,
        "agreement": asdict(res), "table": res.table(),
        "decision_region_agreement": agree,
        "pde_test_accuracy": float((pde_at_test.argmax(1) == y_test).mean()),
        "wall_time_s": time.perf_counter() - start,
    }
    write_json(out / "agreement.json", payload, config=asdict(cfg), seed=cfg.seed)
    lines = [f"# Agreement: {cfg.data}, sigma = {model.sigma}, L = {model.n_blocks}, "
             f"T = {model.t_end}", "",
             f"Test accuracy (deployed, 64 draws): {acc['test_acc']:.3f}; train "
             f"{acc['train_acc']:.3f}. PDE u(., T) argmax accuracy on the same test points: "
             f"{payload['pde_test_accuracy']:.3f}. Linear baseline (logistic regression, same "
             f"split): test {acc['linear_test_acc']:.3f}"
             + ("." if acc["beats_linear"] else
                f": **the network does not beat it by {acc['linear_margin']}: a (nearly) linear "
                "model, the comparisons below are close to degenerate**."), "",
             "| gap | value (max over test points) | measured order | expected order | "
             "against |", "|---|---|---|---|---|"]
    for row in res.table():
        mo = row["measured order"]
        val = row["value"]
        lines.append(f"| {row['gap']} | {'n/a' if val is None else f'{val:.3e}'} | "
                     f"{'n/a' if mo is None or mo != mo else f'{mo:.2f}'} | "
                     f"{row['expected order']} | {row['against']} |")
    lines += ["", f"Network standard error (K = {res.k_study['K'][-1]}): {res.net_stderr:.2e}.",
              f"Decision regions agree on {100 * agree:.1f}% of grid cells.",
              f"Wall time {payload['wall_time_s']:.1f} s.", "",
              "Figures: flow_panels.png, decision_regions.png, flow.gif."]
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    payload["summary_md"] = "\n".join(lines)
    return payload
