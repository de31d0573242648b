"""The depth limit: do trained networks approach their PDE as h = T/L -> 0?

For L = 10, 20, 40, 80 blocks at the same T, a network is trained (same data, seed and
settings), and its expected prediction (Monte Carlo over the noise) at the test points is
compared with u(., T) of (CD) built from its own trained velocity (numerics, on a grid over the
features' box). For a fixed smooth velocity the gap is O(h) (weak order 1 of the
Euler-Maruyama step); training may instead produce rougher velocity fields as L grows and keep
the gap open. Both answers are results: the fitted order of the gap in h says which.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

TRAINED_MARGIN = 0.1  # accuracy below the best depth's by more: a failed training, left out
EXPECTED_ORDER = 1.0  # the weak order of the Euler-Maruyama step for a fixed smooth velocity
#: orders below this count as no approach: at h = 1/80 an order-0.25 gap is still 1/3 of its
#: value at h = 1/10
ORDER_OF_INTEREST = 0.25



@dataclass(frozen=True)
class DepthStudy:
    """``blocks`` L at depth T = 1 on ``data``; gaps at ``test_points`` with ``samples`` noise
    draws; the PDE on a ``grid``^2 grid (its own error: the same solve on half the grid)."""

    data: str = "moons"
    blocks: tuple[int, ...] = (10, 20, 40, 80)
    sigma: float = 0.3
    epochs: int = 100
    seeds: int = 1
    grid: int = 128
    test_points: int = 100
    samples: int = 4096

    def __post_init__(self):
        object.__setattr__(self, "blocks", tuple(int(b) for b in self.blocks))
        if len(self.blocks) < 3 or any(b < 1 for b in self.blocks):
            raise ValueError(f"blocks {self.blocks}: give at least 3 depths >= 1")
        for name in ("epochs", "seeds", "grid", "test_points", "samples"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} = {getattr(self, name)}: give a count >= 1")


def depth_row(model, data, grid_n: int, test_points: int, samples: int, seed: int) -> dict:
    """Network (Monte Carlo) against the PDE of its own velocity at the test points."""
    import numpy as np

    from numerics import Grid
    from validation.nets.flow import interpolate, network_mc, pde_final
    from validation.nets.train import evaluate, features
    from validation.nets.velocity import feature_box

    model = model.cpu()
    x, y = data.x_test[:test_points], data.y_test[:test_points]
    z = features(model, x)
    box = feature_box(model, features(model, data.x_train))
    grid = Grid(bounds=box, shape=(grid_n,) * 2)
    coarse = Grid(bounds=box, shape=(grid_n // 2,) * 2)
    pde = interpolate(pde_final(model, grid), grid, z)
    pde_coarse = interpolate(pde_final(model, coarse), coarse, z)
    net, se = network_mc(model, x, samples, seed=seed)
    acc = evaluate(model, data)
    return {"blocks": model.n_blocks, "h": model.step, "seed": seed,
            "gap_max": float(np.abs(net - pde).max()),
            "gap_mean": float(np.abs(net - pde).mean()),
            "mc_se_max": float(se.max()), "mc_se_mean": float(se.mean()),
            # Richardson-type estimate of the grid's own error at the finer grid (order 2)
            "grid_error": float(np.abs(pde - pde_coarse).max() / 3),
            "grid_error_mean": float(np.abs(pde - pde_coarse).mean() / 3),
            "pde_accuracy": float((pde.argmax(1) == y).mean()),
            "network_accuracy": float((net.argmax(1) == y).mean()),
            "test_acc": acc["test_acc"], "linear_test_acc": acc.get("linear_test_acc")}


def run_depth_study(spec: DepthStudy, cache: str | Path, progress: bool = True) -> dict:
    """Train (cached) and compare for every (L, seed); the gap against h, its fitted order and
    the finding."""
    import numpy as np
    from tqdm import tqdm

    from validation.nets.cached import cached_model, model_file
    from validation.nets.data import make_dataset
    from validation.nets.train import DATA_OVERRIDES, TrainConfig
    from validation.store.cache import cached_json

    # the data set's training settings and grid (digits: weight decay, a finer grid); the
    # epochs stay the study's own
    over = {k: v for k, v in DATA_OVERRIDES.get(spec.data, {}).items() if k != "epochs"}
    grid_n = over.get("grid", spec.grid)
    rows = []
    jobs = [(L, s) for L in spec.blocks for s in range(spec.seeds)]
    for L, seed in tqdm(jobs, desc=f"depth study ({spec.data})", disable=not progress):
        kw = {k: v for k, v in over.items() if k != "grid"}
        cfg = TrainConfig(data=spec.data, sigma=spec.sigma, blocks=L, epochs=spec.epochs,
                          seed=seed, **kw)
        data = make_dataset(cfg.data, cfg.n, seed=seed, noise=cfg.noise)
        model, _ = cached_model(cache, cfg, data, progress=False)
        key = {"train": asdict(cfg), "grid": grid_n, "points": spec.test_points,
               "samples": spec.samples, "v": 2}  # v2: mean errors beside the max
        rows.append(cached_json(cache, "depth", key, lambda model=model, data=data, seed=seed:
                                depth_row(model, data, grid_n, spec.test_points, spec.samples,
                                          seed), uses={"the model": model_file(cache, cfg)}))
    table = []
    for L in spec.blocks:
        rs = [r for r in rows if r["blocks"] == L]
        table.append({k: float(np.mean([r[k] for r in rs])) for k in
                      ("h", "gap_max", "gap_mean", "mc_se_max", "mc_se_mean", "grid_error",
                       "grid_error_mean", "pde_accuracy", "network_accuracy")} | {"blocks": L})
    per_seed = [depth_finding([r for r in rows if r["seed"] == s])[0]
                for s in range(spec.seeds)]
    order, fitted, finding, status, ci = depth_finding(table, per_seed)
    return {"spec": asdict(spec), "rows": rows, "table": table, "order": order,
            "order_per_seed": per_seed, "order_ci95": ci, "fitted_depths": fitted,
            "finding": finding, "status": status}


def _clear_depths(table: list[dict]) -> tuple[list[dict], list]:
    """(the rows fitted, the depths left out as failed trainings): a depth whose network
    trained to an accuracy more than TRAINED_MARGIN below the best depth's is no evidence (its
    PDE matches a degenerate predictor); a gap below 3 mean Monte Carlo standard errors plus the
    mean grid error is the apparatus' own error, not the network's distance to its PDE."""
    best = max((t.get("network_accuracy", 1.0) for t in table), default=1.0)
    failed = [t.get("blocks") for t in table
              if t.get("network_accuracy", 1.0) < best - TRAINED_MARGIN]
    clear = [t for t in table if t["gap_mean"] > 3 * t["mc_se_mean"] + t["grid_error_mean"]
             and t.get("blocks") not in failed]
    return clear, failed


def fitted_order(table: list[dict]) -> tuple[float, float, list[int]]:
    """(order, its standard error, fitted depths): the least-squares slope of log mean gap on
    log h over the clear depths (NaN with fewer than 3)."""
    import numpy as np

    clear, _ = _clear_depths(table)
    if len(clear) < 3:
        return float("nan"), float("nan"), [t.get("blocks") for t in clear]
    x = np.log([t["h"] for t in clear])
    y = np.log([t["gap_mean"] for t in clear])
    slope, icpt = np.polyfit(x, y, 1)
    resid = y - (slope * x + icpt)
    se = float(np.sqrt(resid @ resid / (len(x) - 2) / ((x - x.mean()) @ (x - x.mean()))))
    return float(slope), se, [t.get("blocks") for t in clear]


def order_interval(order: float, se: float, df: int) -> list[float]:
    """The 95% t-interval order ± t_{0.975, df} se (NaN where it cannot be formed)."""
    import math

    if not (math.isfinite(order) and math.isfinite(se) and df >= 1):
        return [float("nan")] * 2
    from scipy.stats import t as student

    half = float(student.ppf(0.975, df)) * se
    return [order - half, order + half]


def decide(order: float, ci: list[float], *, seeds: int = 1, spread: float | None = None
           ) -> tuple[str, str]:
    """(status, finding) from the order's 95% interval (docs/claims.md): the trained networks
    **approach** their PDE (holds) when the interval excludes 0 and reaches the expected order
    EXPECTED_ORDER; the gap **stays open** (fails) when the whole interval lies below the
    smallest order of interest ORDER_OF_INTEREST (an order that small is no approach at the
    depths a network has); undecided (inconclusive) otherwise, with what would decide it."""
    import math

    from validation.doc import interval, num

    if not all(math.isfinite(v) for v in (order, *ci)):
        return "inconclusive", "undecided: no interval for the order"
    shown = f"order {num(order, 2)} in h (95% CI {interval(*ci)})"
    lo, hi = ci
    if lo > 0 and hi >= EXPECTED_ORDER:
        return "holds", (f"trained networks approach their PDE as h -> 0: {shown}, consistent "
                         f"with the order {EXPECTED_ORDER:g} of a fixed smooth velocity")
    if hi < ORDER_OF_INTEREST:
        return "fails", (f"the gap stays open as depth grows: {shown}, below the smallest "
                         f"order of interest {ORDER_OF_INTEREST:g}")
    need = ""
    if seeds >= 2 and spread and spread > 0:
        # seeds whose interval half-width would fall below the distance to the nearer side
        dist = max(min(abs(order), abs(order - ORDER_OF_INTEREST), abs(EXPECTED_ORDER - order)),
                   1e-3)
        from scipy.stats import t as student

        def wide(n):
            return student.ppf(0.975, n - 1) * spread / math.sqrt(n) >= dist

        lo_n, hi_n = seeds, 10_000
        if wide(hi_n):
            need = "; more than 10000 seeds would be needed at this spread"
        else:
            while lo_n < hi_n:  # the half-width falls with n: bisect for the first narrow one
                mid = (lo_n + hi_n) // 2
                lo_n, hi_n = (lo_n, mid) if not wide(mid) else (mid + 1, hi_n)
            need = f"; about {lo_n} seeds would narrow the interval enough to decide"
    else:
        need = "; two or more seeds (a seed-to-seed interval) or more depths would decide"
    side = ("shrinks, but slower than order 1" if lo > 0 else "may shrink or stay open")
    return "inconclusive", f"undecided: the gap {side}: {shown}{need}"


def depth_finding(table: list[dict], per_seed: list[float] | None = None
                  ) -> tuple[float, list[int], str, str, list[float]]:
    """(order, fitted depths, finding, status, 95% interval) from rows with h, gap_mean,
    mc_se_mean and grid_error_mean (the mean gap: the max follows single points near a steep
    decision boundary), fitted where it stands clear of the apparatus' error, at least 3
    depths. With the fitted orders of two or more seeds (``per_seed``) the interval is the
    seeds' t-interval (the seed-to-seed scatter); otherwise the regression's own."""
    import math

    import numpy as np

    order, se, fitted = fitted_order(table)
    _, failed = _clear_depths(table)
    note = (f" (L = {', '.join(map(str, failed))} left out: the network trained to an "
            f"accuracy more than {TRAINED_MARGIN} below the best depth's)" if failed else "")
    early = [t.get("blocks") for t in table if t.get("levels_converge") is False]
    if early:
        note += (f" (L = {', '.join(map(str, early))} left out: its sub-stepped flows do not "
                 "converge at order 1, so the PDE's extrapolation has no error estimate)")
    if not math.isfinite(order):
        return order, fitted, (f"undecided: only {len(fitted)} depths have a trained network "
                               "and a gap clear of the Monte Carlo and grid error (raise "
                               "samples, grid or epochs)" + note), "inconclusive", \
            [float("nan")] * 2
    ok = [o for o in (per_seed or []) if math.isfinite(o)]
    if len(ok) >= 2:
        spread = float(np.std(ok, ddof=1))
        ci = order_interval(float(np.mean(ok)), spread / math.sqrt(len(ok)), len(ok) - 1)
        status, finding = decide(float(np.mean(ok)), ci, seeds=len(ok), spread=spread)
    else:
        ci = order_interval(order, se, len(fitted) - 2)
        status, finding = decide(order, ci)
    return order, fitted, finding + note, status, ci


def depth_blocks(res: dict) -> list:
    """The depth table and the finding as document blocks."""
    from validation.doc import interval, num, para, strong, table

    sp = res["spec"]
    rows = [[str(t["blocks"]), num(t["h"], 4, trim=True), num(t["gap_max"]), num(t["gap_mean"]),
             f"{num(t['mc_se_max'], 2)} / {num(t['mc_se_mean'], 2)}",
             f"{num(t['grid_error'], 2)} / {num(t['grid_error_mean'], 2)}",
             num(t["pde_accuracy"]), num(t["network_accuracy"])] for t in res["table"]]
    ci = res["order_ci95"]
    seeds = ", ".join(num(o, 2) for o in res["order_per_seed"])
    spread = (f" (per seed {seeds}; the seeds' 95% CI {interval(*ci)})"
              if len(res["order_per_seed"]) > 1 else
              f" (95% CI of the fit over the depths {interval(*ci)})")
    return [para(f"Depth study ({sp['data']}, sigma {sp['sigma']}, T = 1, {sp['seeds']} "
                 f"seed(s), {sp['samples']} noise draws): gap |network - PDE| at "
                 f"{sp['test_points']} test points (mean and max over points and classes) "
                 "against h = T/L; each L is its own trained network."),
            table(["L", "h", "gap (max)", "gap (mean)", "MC SE (max / mean)",
                   "grid error (max / mean)", "PDE acc", "network acc"], rows),
            para("Fitted order of the mean gap in h over L = "
                 f"{', '.join(map(str, res['fitted_depths'])) or 'none'}: "
                 f"{num(res['order'], 2)}{spread}. Finding: ", strong(res["finding"]), ".")]


def depth_markdown(res: dict) -> str:
    """The depth table and the finding as Markdown."""
    from validation.doc import to_markdown

    return to_markdown(depth_blocks(res))
