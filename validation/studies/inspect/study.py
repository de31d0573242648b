"""``cdverify inspect``: a residual stage's flow on data, written as JSON, CSV, figures and a
Markdown summary (the table of :mod:`.flowstats`)."""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

import numpy as np
import torch

from validation.doc.figures import save_figure
from validation.nets.adapter import (
    AdapterError,
    ResidualStage,
    evaluating,
    plain_layers_text,
    weights_text,
)
from validation.store.io import atomic_write_text, write_json

from .flowstats import inspect_stage

COLUMNS = ("block", "mean_speed", "q5", "q50", "q95", "relative_change", "jac_spectral_mean",
           "jac_spectral_max", "log_norm_mean", "log_norm_max", "A_mean_diag", "A_stderr",
           "A_catalogue_diag")


def run_inspect(stage: ResidualStage, x: np.ndarray, y: np.ndarray, out: str | Path, *,
                sigma: float = 0.0, points: int = 256, passes: int = 32,
                jacobian_points: int = 8, seed: int = 0, config: dict | None = None,
                agreement_draws: int = 256, agreement_points: int = 32,
                substeps: tuple[int, ...] | str = "auto") -> dict:
    """Inspect the stage on up to ``points`` inputs; write inspect.json, blocks.csv,
    velocity.png, trajectories.png and summary.md to ``out``; return the result. With
    sigma > 0 the Feynman-Kac agreement (network = semi-discrete = PDE, any dimension) runs on
    the first ``agreement_points`` points with ``agreement_draws`` coupled draws (0: skip) at
    the sub-step counts ``substeps`` (1 first: the network; "auto": chosen by the noiseless
    flows, feynman_kac.auto_substeps).
    Everything is measured on the model in evaluation mode, its own modes restored after."""
    with evaluating(stage.model):
        return _run_inspect(stage, x, y, out, sigma=sigma, points=points, passes=passes,
                            jacobian_points=jacobian_points, seed=seed, config=config,
                            agreement_draws=agreement_draws, agreement_points=agreement_points,
                            substeps=substeps)


def _run_inspect(stage: ResidualStage, x: np.ndarray, y: np.ndarray, out: str | Path, *,
                 sigma: float, points: int, passes: int, jacobian_points: int, seed: int,
                 config: dict | None, agreement_draws: int, agreement_points: int,
                 substeps: tuple[int, ...] | str) -> dict:
    from validation.stats.fit import substeps_problem

    problem = substeps_problem(substeps)
    if problem:  # before any work
        raise AdapterError(f"substeps {substeps}: {problem}")
    out = Path(out)
    dtype = next((p.dtype for p in stage.model.parameters()), torch.float32)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(x), size=min(points, len(x)), replace=False))
    xt = torch.as_tensor(x[idx], dtype=dtype)
    stage.probe(xt)  # refusals before any work: the chain, the feature shape, the head
    if sigma > 0 and agreement_draws > 0:  # the agreement compares class probabilities
        refuse_narrow_output(stage, xt[:2], y)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    res = inspect_stage(stage, xt, sigma=sigma, passes=passes, jacobian_points=jacobian_points,
                        seed=seed)
    res["stage"] = stage.spec.path  # as resolved ('blocks' for a toolkit model.pt)
    if sigma > 0 and agreement_draws > 0:
        from validation.studies.feynman_kac import fk_agreement

        res["agreement"] = fk_agreement(stage, xt[:agreement_points], sigma=sigma,
                                        draws=agreement_draws, substeps=substeps, seed=seed)
    res["seconds"] = time.perf_counter() - t0
    res["labels"] = [int(v) for v in np.asarray(y)[idx][:64]]
    write_json(out / "inspect.json", res, config=config or {}, seed=seed)
    atomic_write_text(out / "blocks.csv", _csv(res["blocks"]))
    _figures(res, out)
    atomic_write_text(out / "summary.md", summary(res, config or {}))
    return res


def refuse_narrow_output(stage: ResidualStage, x: torch.Tensor, y) -> None:
    """Refuse a model whose output has fewer columns than the data has classes, before the
    agreement compares the class probabilities of the network and of the PDE: its logits are
    not what the toolkit reads (a forward returning (features, logits) gave the features,
    whose softmax the agreement then compared, silently)."""
    labels = np.asarray(y)
    if labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        return
    with torch.no_grad():
        width = stage.model(x).reshape(len(x), -1).shape[1]
    classes = int(labels.max()) + 1
    if width < classes:
        raise AdapterError(
            f"the model's output has {width} columns for data with {classes} classes: it "
            "does not return the logits where the toolkit reads them (a tuple (features, "
            "logits)?), and the agreement compares class probabilities: return the logits "
            "alone, first in a tuple, or under the name 'logits' (--sigma 0 reads the flow "
            "without them)")


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS), extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in COLUMNS})
    return buf.getvalue()


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def blocks(res: dict, config: dict, folder: str = "") -> list:
    """The inspection in the document model: the per-block table, what each column means,
    the Feynman-Kac agreement when it ran, and the figures (paths relative to the document;
    ``folder``: the inspection's folder inside it)."""
    from validation.doc import Figure, Heading, para, strong, table

    rows, scales = res["blocks"], res.get("scales", ())
    out: list = [para(
        f"{res['n_blocks']} block{'s' if res['n_blocks'] != 1 else ''} read as z -> z + Delta_l(z) "
        + {"block": "(Delta = block(z) - z: post-activation blocks are read as they compute)",
           "branch": "(Delta = h g_l(z): the branches)",
           "residual": f"(Delta = c f_l(z), {weights_text(res.get('scale', 1), scales)}: "
                       "the forward adds the skip itself, z + c f_l(z), found from its own "
                       "steps)"}[res["reading"]]
        + (f"; {res['distinct_blocks']} distinct module{'s' if res['distinct_blocks'] != 1 else ''}"
           " (weights tied across steps)"
           if res.get("distinct_blocks", res["n_blocks"]) < res["n_blocks"] else "")
        + f", feature shape {res['feature_shape']}, T = {res['t_end']:g}, "
        f"h = {res['h']:.4g}, on {res['points']} points"
        + (f", injected noise sigma = {res['sigma']:g}" if res["sigma"] > 0 else "")
        + (f"; each step with the arguments the forward gives its block there ({res['bound']})"
           if res.get("bound") else "") + "."
        + plain_layers_text(res.get("plain_layers"), res["n_blocks"]))]
    cells = []
    for r in rows:
        a = (f"{_fmt(r.get('A_mean_diag'))} ± {_fmt(r.get('A_stderr'))}"
             if "A_mean_diag" in r else "-")
        cells.append([str(r["block"]), _fmt(r["mean_speed"]), _fmt(r["q5"]), _fmt(r["q50"]),
                      _fmt(r["q95"]), _fmt(r["relative_change"]),
                      f"{_fmt(r['jac_spectral_mean'])} ({_fmt(r['jac_spectral_max'])})",
                      f"{_fmt(r['log_norm_mean'])} ({_fmt(r['log_norm_max'])})", a,
                      _fmt(r.get("A_catalogue_diag"))])
    out.append(table(["block", "mean speed", "5%", "50%", "95%", "rel. change",
                      "norm(Dv)_2 mean (max)", "mu_2(Dv) mean (max)", "A measured",
                      "A catalogue"], cells))
    changes = [r["relative_change"] for r in rows if r["relative_change"] is not None]
    out += [para(f"Implied T (sum over blocks of the mean displacement: the T at which the "
                 f"mean speed is 1): {res['implied_T']:.4g}."),
            para("Columns: speed = |v_l| = |Delta_l| / h over the points (Euclidean norm of the "
                 "flattened feature); rel. change = |v_{l+1}(z_l) - v_l(z_l)| / |v_l(z_l)|, "
                 "small when depth discretises a velocity smooth in time"
                 + (f" (here {min(changes):.3g} to {max(changes):.3g})" if changes else "")
                 + "; norm(Dv)_2 and mu_2(Dv) = lambda_max((J + J^T)/2): the local Lipschitz "
                 "constant and the logarithmic norm of the velocity at the first points "
                 "(mu_2 < 0: trajectories contract); A measured = tr Cov(Delta_l) / (2 h D) "
                 f"over {res['passes']} passes at fixed z_l (per dimension), beside the "
                 "catalogue's sigma^2/2 of Gaussian injection (0 for a deterministic stage).")]
    ag = res.get("agreement")
    if ag:
        from validation.studies.feynman_kac import AUTO_RULE
        # no noiseless differences where the stage is stochastic at evaluation: "-"
        fds = ag.get("feature_differences") or [float("nan")] * len(ag["successive_differences"])
        check = ag.get("feature_check", "made")
        out += [Heading("Network = semi-discrete = PDE (Feynman-Kac, coupled levels)", 3),
                para(strong(ag["verdict"]["status"]), f": {ag['verdict']['evidence']}."),
                table(["r (sub-steps per block)", "h / r", "mean abs(u_r - u_2r)",
                       "MC standard error", "noiseless mean |z_r - z_2r| / |z|"],
                      [[str(r), f"{hr:.4g}", f"{d:.3g}", f"{se:.2g}", _fmt(fd)]
                       for r, hr, d, se, fd in zip(ag["substeps"], ag["h"],
                                                   ag["successive_differences"],
                                                   ag["successive_stderr"], fds,
                                                   strict=False)]),
                para(f"{ag['points']} points, {ag['draws']} draws, "
                     + (f"levels chosen by the noiseless flows ({AUTO_RULE}), "
                        if ag.get("substeps_chosen") else "") + "PDE by Richardson "
                     f"extrapolation of the two finest levels; order fitted on r = "
                     f"{ag['fitted_levels']} (over every resolved level: "
                     f"{ag['order_all_resolved_levels']:.2f}); {ag['seconds']:.1f} s."
                     + ("" if check == "made" else f" The levels' check was {check}."))]
    out += [para(f"Computed in {res['seconds']:.1f} s."),
            Figure(f"{folder}velocity.png", "mean speed |v_l| against depth, with the 5-95% "
                   "band of the points"),
            Figure(f"{folder}trajectories.png", "feature trajectories z_0 .. z_L in the first "
                   "two principal components")]
    return out


def summary(res: dict, config: dict) -> str:
    """The Markdown table of the blocks and what each column means."""
    from validation.doc import Figure, Heading, to_markdown

    # the figures lie beside summary.md; the Markdown names them in its text, not as images
    return to_markdown([Heading(f"The flow of `{res['stage']}` "
                                f"({config.get('model', 'model')})", 1),
                        *[b for b in blocks(res, config) if not isinstance(b, Figure)]])


def _figures(res: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = res["blocks"]
    ls = [r["block"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
    ax.fill_between(ls, [r["q5"] for r in rows], [r["q95"] for r in rows], alpha=0.3,
                    label="5-95% of the points")
    ax.plot(ls, [r["mean_speed"] for r in rows], "o-", label="mean |v_l|")
    ax.set_xlabel("block l")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # blocks: no 0.5
    ax.set_ylabel("|v_l| = |Delta_l| / h")
    ax.set_title("velocity against depth")
    ax.legend(loc="best", fontsize=8)
    save_figure(fig, out / "velocity.png")
    paths = np.asarray(res["pca"]["paths"])
    fig, ax = plt.subplots(figsize=(5.2, 4.4), layout="constrained")
    labels = np.asarray(res["labels"])[: len(paths)]
    cmap = plt.get_cmap("tab10")
    for i, p in enumerate(paths):
        ax.plot(p[:, 0], p[:, 1], "-", lw=0.7, color=cmap(int(labels[i]) % 10), alpha=0.7)
        ax.plot(p[-1, 0], p[-1, 1], ".", color=cmap(int(labels[i]) % 10), ms=3)
    ev = res["pca"]["explained"]
    ax.set_xlabel(f"PC 1 ({100 * ev[0]:.0f}% of the variance)")
    ax.set_ylabel(f"PC 2 ({100 * ev[1]:.0f}%)" if len(ev) > 1 else "PC 2")
    ax.set_title("feature trajectories z_0 .. z_L (dot: z_L)")
    save_figure(fig, out / "trajectories.png")
