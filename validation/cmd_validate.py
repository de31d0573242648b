"""`cdverify validate`: train (or load) a diffusion ResNet and run the three-way agreement."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .cli_types import count, nonnegative, positive
    from .data import NAMES

    p.add_argument("--data", default="moons", choices=NAMES)
    p.add_argument("--sigma", type=nonnegative, default=0.3, help="noise level (0: plain ResNet)")
    p.add_argument("--blocks", type=count, default=10, help="number of residual blocks L")
    p.add_argument("--T", dest="t_end", type=positive, default=1.0, help="depth T (h = T/L)")
    p.add_argument("--epochs", type=count, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weight-decay", type=nonnegative, default=1e-3,
                   help="Adam weight decay: keeps the learned flow (and the PDE box) moderate")
    p.add_argument("--grid", type=count, default=128, help="grid cells per axis for PDE/recursion")
    p.add_argument("--test-points", type=count, default=100, help="test points compared")
    p.add_argument("--model", default=None, help="load model.pt instead of training")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--out", default="out/validate", help="output folder (default %(default)s)")


def validate(cfg, out, *, grid_n: int = 128, test_points: int = 100, model=None,
             cache=None, progress: bool = True) -> dict:
    """Train (cached under ``cache`` if given) or use ``model``; agreement study, figures,
    summary.md and agreement.json in ``out``; returns the payload."""
    import time
    from dataclasses import asdict
    from pathlib import Path

    import numpy as np

    from numerics import Grid, solve
    from numerics.plots import flow_gif, panels

    from .agreement import PDE_SCHEME, agreement_study, interpolate
    from .cache import cached_model
    from .data import make_dataset
    from .io import atomic_write_text, save_figure, write_json
    from .plots import decision_regions, network_paths
    from .train import evaluate, features, train
    from .velocity import feature_box, to_problem

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
                          grid_ns=(g // 4, g // 2, g, 2 * g), progress=progress)
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
             f"{payload['pde_test_accuracy']:.3f}.", "",
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


def run(args: argparse.Namespace) -> int:
    from numerics import NumericsError

    from .data import DataError
    from .models import ModelError
    from .train import TrainConfig, load_model

    try:
        model = None
        if args.model:
            model, cfg = load_model(args.model, args.device)
        else:
            cfg = TrainConfig(data=args.data, sigma=args.sigma, blocks=args.blocks,
                              t_end=args.t_end, epochs=args.epochs, seed=args.seed,
                              weight_decay=args.weight_decay, device=args.device)
        payload = validate(cfg, args.out, grid_n=args.grid, test_points=args.test_points,
                           model=model)
    except (DataError, ModelError, NumericsError, ValueError) as exc:
        print(f"cdverify validate: error: {exc}", file=sys.stderr)
        return 2
    print(payload["summary_md"])
    return 0
