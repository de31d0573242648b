"""The graph-diffusion study (COIN): tau* on real graphs and the violation beyond it, the
continuum limit, and the transductive classification claim; tables, figures, claims.

``cdverify graph`` and the report's graph stage are thin layers over :func:`run_study` and
:func:`write_outputs` (docs/graphs.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from validation.stats.paired import DELTA_ACCURACY

# the defaults of the COIN code (citation graphs: K = 20, tau = 0.35 on the self-loop
# normalised adjacency; feature data: kNN Gaussian graph, n_top 8, kappa 4, K = 10, tau = 0.5)
COIN_DEFAULTS = {"citation (self-loop normalised), K = 20": 0.35,
                 "kNN Gaussian, K = 10": 0.5}


@dataclass(frozen=True)
class GraphStudy:
    """Sizes of the three parts. COIN: ``seeds`` paired runs per data set (each seed fixes the
    samples, the labelled set and the initial weights for K = 0 and K = ``K``), and the tau
    sweep ``tau_factors`` x tau* on ``tau_data``; the continuum limit: graph heat flow at the
    sample sizes ``limit_ns`` (``reps`` sample sets each) and the operator identification at
    ``identify_ns``; the hub graph: ``hub_nodes`` nodes of a preferential-attachment graph."""

    data: tuple[str, ...] = ("moons", "circles", "digits")
    seeds: int = 10
    K: int = 10
    tau: float = 0.5
    labels_per_class: int = 10
    epochs: int = 150
    n: int = 600
    tau_data: str = "moons"
    tau_factors: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    tau_seeds: int = 5
    hub_nodes: int = 1000
    limit_ns: tuple[int, ...] = (500, 1000, 2000, 4000)
    identify_ns: tuple[int, ...] = (1000, 2000, 4000, 8000)
    reps: int = 3
    delta: float = DELTA_ACCURACY
    workers: int = 1  # processes for the paired COIN jobs

    def __post_init__(self):
        from validation.nets.data import NAMES

        object.__setattr__(self, "data", tuple(self.data))
        object.__setattr__(self, "tau_factors", tuple(float(f) for f in self.tau_factors))
        object.__setattr__(self, "limit_ns", tuple(int(n) for n in self.limit_ns))
        object.__setattr__(self, "identify_ns", tuple(int(n) for n in self.identify_ns))
        for d in (*self.data, self.tau_data):
            if d not in NAMES:
                raise ValueError(f"unknown data set {d!r}; valid: {', '.join(NAMES)}")
        for name in ("seeds", "K", "labels_per_class", "epochs", "n", "tau_seeds",
                     "hub_nodes", "reps", "workers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} = {getattr(self, name)}: give a count >= 1")
        if len(self.limit_ns) < 4 or len(self.identify_ns) < 4:
            raise ValueError("limit_ns and identify_ns need at least 4 sample sizes each (a "
                             "fitted order over at least 4 refinements)")
        from numerics import graph_limit as gl

        for name, c, exponent in (("limit_ns", gl.HEAT_FLOW_C, gl.HEAT_FLOW_EXPONENT),
                                  ("identify_ns", gl.IDENTIFY_C, gl.IDENTIFY_EXPONENT)):
            try:  # before any work: the bandwidth of the smallest size must fit the torus
                gl.check_sample_sizes(getattr(self, name), c, exponent)
            except ValueError as exc:
                raise ValueError(f"{name} (--{name.replace('_', '-')}): {exc}") from None
        if not (self.tau > 0 and self.delta > 0 and all(f > 0 for f in self.tau_factors)):
            raise ValueError(f"tau = {self.tau}, delta = {self.delta}, tau factors "
                             f"{self.tau_factors}: all must be > 0")


def tau_table(spec: GraphStudy) -> list[dict]:
    """tau* = 1 / max_i (d_i - W_ii) on the kNN Gaussian graph of each data set, the self-loop
    normalised kNN adjacency of the first, and a preferential-attachment graph with hubs, set
    beside the COIN defaults."""
    import numpy as np
    import scipy.sparse as sps

    from numerics.graph import (
        critical_tau,
        degrees,
        knn_gaussian_graph,
        preferential_attachment,
        self_loop_normalised,
    )

    from .coin import CoinConfig, transductive_data

    graphs = [(f"{d}: kNN Gaussian (n_top 8, kappa 4)",
               knn_gaussian_graph(transductive_data(CoinConfig(data=d, n=spec.n))[0]))
              for d in spec.data]
    A = sps.csr_matrix((graphs[0][1] > 0).astype(float))  # the first data set's kNN edges
    graphs.append((f"{spec.data[0]}: kNN adjacency, self-loop normalised",
                   self_loop_normalised(A)))
    graphs.append((f"preferential attachment (n {spec.hub_nodes}, m 2), self-loop normalised",
                   self_loop_normalised(preferential_attachment(spec.hub_nodes, 2, seed=0))))
    rows = []
    for name, W in graphs:
        ts = critical_tau(W)
        excess = degrees(W) - W.diagonal()
        rows.append({"graph": name, "nodes": W.shape[0], "tau_star": ts,
                     "max_excess_degree": float(excess.max()),
                     "max_neighbours": int(np.diff(sps.csr_matrix(W).indptr).max()),
                     **{f"tau {t} ({k})": ("keeps order" if t <= ts else "violates")
                        for k, t in COIN_DEFAULTS.items()}})
    return rows


def hub_violation(spec: GraphStudy, tau: float = 0.35) -> dict:
    """The violation finder on the hub graph at ``tau`` (the citation default) and, as the
    control, at tau* (where no violation may exist)."""
    from numerics.graph import (
        critical_tau,
        order_violation,
        preferential_attachment,
        self_loop_normalised,
    )

    A = preferential_attachment(spec.hub_nodes, 2, seed=0)
    W = self_loop_normalised(A)
    ts = critical_tau(W)
    v = order_violation(W, tau)
    at_star = order_violation(W, ts)
    out = {"tau": tau, "tau_star": ts, "found": v is not None,
           "none_at_tau_star": at_star is None, "graph": W, "adjacency": A}
    if v is not None:
        out.update(node=v.node, u0=v.u0, u1=v.u1, value=float(v.u1[v.node]),
                   degree=int(A[v.node].sum()))
    return out


def coin_pair(spec: GraphStudy, data: str, seed: int) -> list[dict]:
    """One paired job: K = 0 and K = spec.K from the same samples, labels and weights."""
    from numerics.graph import knn_gaussian_graph

    from .coin import CoinConfig, run_coin, transductive_data

    base = CoinConfig(data=data, n=spec.n, K=0, tau=spec.tau, seed=seed, epochs=spec.epochs,
                      labels_per_class=spec.labels_per_class)
    W = knn_gaussian_graph(transductive_data(base)[0], base.n_top, base.kappa)
    out = []
    for K in (0, spec.K):
        r = run_coin(CoinConfig(**{**asdict(base), "K": K}), graph=W)
        out.append({"data": data, "seed": seed, "K": K, **{k: r[k] for k in (
            "accuracy", "min_entry", "tau_star", "samples", "labelled")}})
    return out


def tau_statement(tau: float, runs: list[dict]) -> str:
    """What tau is against the tau* of each run's graph, and whether u^K stayed a probability
    vector: beyond tau* a COIN verdict is a verdict on layers that left the simplex."""
    from validation.doc import num

    ratios = [tau / r["tau_star"] for r in runs]
    lo, hi = min(ratios), max(ratios)
    span = num(lo, 3) if num(lo, 3) == num(hi, 3) else f"{num(lo, 3)} .. {num(hi, 3)}"
    if hi <= 1:
        return f"tau = {span} x tau* of the runs' graphs: u^K stays a probability vector"
    neg = [r["min_entry"] for r in runs if r["min_entry"] < 0]
    return (f"BEYOND tau*: tau = {span} x tau* of the runs' graphs, where a layer need not keep "
            f"u a probability vector; u^K had a negative entry in {len(neg)}/{len(runs)} runs"
            + (f" (smallest {num(min(neg))}; the loss reads it clamped at 1e-8)" if neg else "")
            + ", so this verdict is on layers outside the convection-diffusion reading")


def tau_warnings(spec: GraphStudy) -> list[str]:
    """One line per data set whose seed-0 graph has tau* below ``spec.tau``: computed from the
    samples alone (milliseconds), so ``cdverify graph`` states it before any training. Raises
    ValueError, before any work too, when a class has too few samples for the labels asked."""
    from numerics.graph import critical_tau, knn_gaussian_graph

    from .coin import CoinConfig, transductive_data

    out = []
    for d in spec.data:
        cfg = CoinConfig(data=d, n=spec.n, K=spec.K, tau=spec.tau, seed=0,
                         labels_per_class=spec.labels_per_class)
        ts = critical_tau(knn_gaussian_graph(transductive_data(cfg)[0], cfg.n_top, cfg.kappa))
        if spec.tau > ts:
            out.append(f"--tau {spec.tau:g} is {spec.tau / ts:.3g} x tau* = {ts:.4g} of the {d} "
                       "graph (seed 0): beyond tau* the diffusion layers need not keep u a "
                       "probability vector, and the COIN verdict will say so")
    return out


def tau_runs(spec: GraphStudy, seed: int) -> list[dict]:
    """The tau sweep of one seed on ``tau_data``: K layers at tau = factor x tau* of the
    seed's graph, for every factor."""
    from numerics.graph import critical_tau, knn_gaussian_graph

    from .coin import CoinConfig, run_coin, transductive_data

    cfg0 = CoinConfig(data=spec.tau_data, n=spec.n, K=spec.K, seed=seed, epochs=spec.epochs,
                      labels_per_class=spec.labels_per_class)
    W = knn_gaussian_graph(transductive_data(cfg0)[0], cfg0.n_top, cfg0.kappa)
    ts = critical_tau(W)
    out = []
    for f in spec.tau_factors:
        r = run_coin(CoinConfig(**{**asdict(cfg0), "tau": f * ts}), graph=W)
        out.append({"seed": seed, "factor": f, "tau": f * ts, "tau_star": ts,
                    "accuracy": r["accuracy"], "min_entry": r["min_entry"]})
    return out


def graph_job(kind: str, *args):
    """One job of the graph study's pool: a COIN pair ("pair": spec, data, seed), a seed's
    tau sweep ("tau": spec, seed), the heat-flow convergence ("heat": ns, reps) or the
    identification of the limits ("limits": ns). Every part is a job, so the workers and
    this process (which takes the jobs no worker has taken) share them all."""
    from numerics.graph_limit import heat_flow_convergence, identify_limits

    if kind == "pair":
        return coin_pair(*args)
    if kind == "tau":
        return tau_runs(*args)
    if kind == "heat":
        return heat_flow_convergence(args[0], reps=args[1])
    if kind == "limits":
        return identify_limits(*args)
    raise ValueError(f"unknown graph job {kind!r}")


#: rough relative costs of the graph jobs (a COIN pair = 1): the costliest start first
_JOB_COST = {"pair": 1.0, "tau": 2.0, "heat": 6.0, "limits": 6.0}


def coin_study(spec: GraphStudy, progress: bool = True, beside=None,
               extra: tuple[tuple, ...] = ()) -> tuple[dict, object, list]:
    """Paired K = 0 / K runs per data set and the verdict of "graph diffusion improves the
    accuracy on the unlabelled samples"; the tau sweep on ``tau_data``. Returns (that,
    beside(), the results of ``extra``): ``beside`` runs in this process while the workers
    run the jobs; ``extra``: further :func:`graph_job` jobs run on the same pool."""
    import numpy as np

    from validation.stats.paired import compare_to_baseline
    from validation.store.workers import map_jobs_beside

    pairs = [("pair", spec, d, s) for d in spec.data for s in range(spec.seeds)]
    taus = [("tau", spec, s) for s in range(spec.tau_seeds)]
    done, value = map_jobs_beside(
        graph_job, [*pairs, *taus, *extra], beside, workers=spec.workers, progress=progress,
        desc="graph study jobs", cost=lambda kind, *args: _JOB_COST[kind])
    runs = [r for pair in done[:len(pairs)] for r in pair]
    sweep = [r for rows in done[len(pairs):len(pairs) + len(taus)] for r in rows]
    verdicts = {}
    for d in spec.data:
        by = {K: {r["seed"]: r["accuracy"] for r in runs if r["data"] == d and r["K"] == K}
              for K in (0, spec.K)}
        v = compare_to_baseline(by, lower_is_better=False, delta=spec.delta, label="K",
                                span=1.0)  # accuracies
        v["statistic"] = (f"accuracy on the unlabelled samples ({spec.labels_per_class} labels "
                          f"per class), K = {spec.K} diffusion layers at tau = {spec.tau} "
                          "against the base classifier alone; "
                          + tau_statement(spec.tau, [r for r in runs if r["data"] == d
                                                     and r["K"] == spec.K]))
        verdicts[d] = v
    table = []
    for f in spec.tau_factors:
        rs = [r for r in sweep if r["factor"] == f]
        acc = np.array([r["accuracy"] for r in rs])
        table.append({"factor": f, "accuracy": float(acc.mean()),
                      "accuracy_sd": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                      "min_entry": float(min(r["min_entry"] for r in rs)),
                      "negative_runs": int(sum(r["min_entry"] < 0 for r in rs)), "runs": len(rs)})
    return ({"runs": runs, "verdicts": verdicts, "tau_sweep": sweep, "tau_table": table}, value,
            done[len(pairs) + len(taus):])


def run_study(spec: GraphStudy, progress: bool = True) -> dict:
    """All three parts; the figures' arrays stay under private keys (``write_outputs``)."""
    import time

    from theory.graph import check_random_graphs

    t0 = time.perf_counter()

    def serial() -> dict:
        # the light parts: computed here while the workers start on the jobs (this process
        # then takes the jobs no worker has taken)
        res: dict = {"spec": asdict(spec), "taus": tau_table(spec)}
        brute = check_random_graphs(n_graphs=200, seed=0)
        res["random_graphs"] = {"graphs": brute.n_graphs, "agree": brute.agree}
        res["_hub"] = hub_violation(spec)
        res["hub"] = {k: v for k, v in res["_hub"].items()
                      if k not in ("graph", "adjacency", "u0", "u1")}
        return res

    # the continuum-limit studies are jobs of the same pool as the COIN runs
    coin, res, (res_heat, res_limits) = coin_study(
        spec, progress, beside=serial,
        extra=(("heat", spec.limit_ns, spec.reps), ("limits", spec.identify_ns)))
    res["heat_flow"], res["limits"] = res_heat, res_limits
    res["coin"] = coin
    res["wall_time_s"] = time.perf_counter() - t0
    return res


def claims(res: dict) -> list[dict]:
    """The graph rows of the claims table: the comparison condition, the continuum limit, and
    one classification verdict per data set."""
    from validation.doc import interval, num
    from validation.stats.present import evidence

    hub, rg = res["hub"], res["random_graphs"]
    ok = rg["agree"] == rg["graphs"] and hub["found"] and hub["none_at_tau_star"]
    rows = [{"claim": "Graph diffusion u - tau L u keeps the comparison principle iff tau <= "
                      "tau* = 1 / max_i (d_i - W_ii)",
             "status": "holds" if ok else "fails", "section": "graph",
             "evidence": f"{rg['agree']}/{rg['graphs']} random graphs: order kept at 0.99 tau*, "
                         f"broken at 1.01 tau*; hub graph: tau* = {num(hub['tau_star'])}, "
                         + (f"violation found at tau = {hub['tau']} (node of degree "
                            f"{hub['degree']}, u1 = {num(hub['value'])} < 0)" if hub["found"]
                            else f"no violation found at tau = {hub['tau']}")
                         + ("" if hub["none_at_tau_star"] else "; a violation AT tau*")}]
    hf, lim = res["heat_flow"], res["limits"]
    states = [r["status"] for r in lim["rows"]]
    status = ("fails" if "contradicts" in states or hf["ci95"][1] < hf["expected_order"]
              else "holds" if hf["converges"] and all(s == "matches" for s in states)
              else "inconclusive")
    rows.append({"claim": "Graph heat flow converges to the continuum heat flow, each "
                          "normalisation to its expected operator",
                 "status": status, "section": "graph",
                 "evidence": f"RMS error {num(hf['mean_errors'][0])} -> "
                             f"{num(hf['mean_errors'][-1])} for N {hf['ns'][0]} -> "
                             f"{hf['ns'][-1]}, order {num(hf['order'], 2)} (95% CI "
                             f"{interval(*hf['ci95'])}; expected "
                             f"{num(hf['expected_order'], 2)}); " + "; ".join(
                                 f"{r['normalisation']} -> {r['identified']} ({r['status']})"
                                 for r in lim["rows"])})
    for d, v in res["coin"]["verdicts"].items():
        rows.append({"claim": f"Graph diffusion (COIN) improves transductive classification "
                              f"with few labels: {d}", "status": v["verdict"],
                     "section": "graph",
                     "evidence": evidence(v)})
    return rows


def _figures(res: dict, out: Path) -> list[str]:
    import matplotlib.pyplot as plt
    import numpy as np

    from numerics.graph import degrees
    from validation.doc.figures import save_figure

    hub = res["_hub"]
    W = hub["graph"]
    excess = np.sort(degrees(W) - W.diagonal())[::-1]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    ax = axes[0]
    ax.semilogy(np.arange(1, len(excess) + 1), excess, ".", ms=3, label="d_i - W_ii")
    for t, style in ((hub["tau"], "r--"), (hub["tau_star"], "k:")):
        ax.axhline(1 / t, ls=style[1:], color=style[0], label=f"1/tau, tau = {t:.3g}")
    ax.set(xlabel="node (sorted)", ylabel="d_i - W_ii", title="hub graph: a step keeps order "
           "iff every node lies below 1/tau")
    ax.legend(fontsize=8)
    ax = axes[1]
    if hub["found"]:
        i = hub["node"]
        nb = np.flatnonzero(hub["adjacency"][i].toarray().ravel())
        shown = np.concatenate([[i], nb])
        vals = hub["u1"][shown]
        ax.bar(range(len(shown)), hub["u0"][shown], color="0.8", label="u0 = e_i (>= 0)")
        ax.bar(range(len(shown)), vals, width=0.5,
               color=["tab:red" if v < 0 else "tab:blue" for v in vals],
               label=f"u1 = u0 - tau L u0, tau = {hub['tau']}")
        ax.axhline(0, color="k", lw=0.6)
        ax.set(xlabel=f"node {i} (degree {hub['degree']}) and its neighbours",
               title=f"violation found: u1_i = {hub['value']:.3g} < 0")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, f"no violation at tau = {hub['tau']}", ha="center")
    save_figure(fig, out / "graph_violation.png")

    hf, lim = res["heat_flow"], res["limits"]
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    def n_axis(ax, ns):
        """Log N axis with the sample sizes as its only ticks (no crowded minor labels)."""
        ax.xaxis.set_major_locator(FixedLocator(ns))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)

    fig, axes = plt.subplots(1, 1 + len(lim["rows"]), figsize=(4 * (1 + len(lim["rows"])), 3.8),
                             layout="constrained")
    ax = axes[0]
    ns = np.asarray(hf["ns"], float)
    for n, errs in zip(ns, hf["errors"], strict=True):
        ax.loglog([n] * len(errs), errs, "k.", ms=4)
    ax.loglog(ns, hf["mean_errors"], "o-", label=f"graph heat flow, order {hf['order']:.2f}")
    ax.loglog(ns, hf["mean_errors"][0] * (ns / ns[0]) ** -hf["expected_order"], "k--",
              label=f"N^-{hf['expected_order']:.2f}")
    ax.set(xlabel="N", ylabel="RMS error at t", title="heat flow vs closed form")
    n_axis(ax, list(ns))
    ax.legend(fontsize=7)
    for ax, row in zip(axes[1:], lim["rows"], strict=True):
        for name, r in row["residuals"].items():
            ax.loglog(lim["ns"], r, "o-" if name == row["identified"] else ".--", label=name)
        ax.set(xlabel="N", title=f"{row['normalisation']}: {row['status']}",
               ylabel="relative residual")
        n_axis(ax, list(lim["ns"]))
        ax.legend(fontsize=6)
    save_figure(fig, out / "graph_limit.png")

    coin = res["coin"]
    data = list(coin["verdicts"])
    fig, axes = plt.subplots(1, len(data) + 1, figsize=(3.6 * (len(data) + 1), 3.6),
                             layout="constrained")
    for ax, d in zip(axes, data, strict=False):
        runs = [r for r in coin["runs"] if r["data"] == d]
        Ks = sorted({r["K"] for r in runs})
        for s in sorted({r["seed"] for r in runs}):
            ax.plot(Ks, [next(r["accuracy"] for r in runs if r["seed"] == s and r["K"] == K)
                         for K in Ks], "o-", color="0.6", lw=0.8)
        ax.set(xticks=Ks, xlabel="K (diffusion layers)", ylabel="accuracy (unlabelled)",
               title=f"{d}: {coin['verdicts'][d]['verdict']}")
    ax = axes[-1]
    t = coin["tau_table"]
    ax.errorbar([r["factor"] for r in t], [r["accuracy"] for r in t],
                yerr=[r["accuracy_sd"] for r in t], marker="o", capsize=3)
    ax.axvline(1.0, color="k", ls=":", label="tau = tau*")
    ax.set(xscale="log", xlabel="tau / tau*", ylabel="accuracy", title="tau beyond tau*")
    ax.legend(fontsize=8)
    save_figure(fig, out / "graph_coin.png")
    return ["graph_violation.png", "graph_limit.png", "graph_coin.png"]


def _rate_finding(hf: dict) -> str:
    """What the heat flow's order interval says, in the claim's own three cases: at the
    expected rate (converges), below it (the claim fails), or not decided (the interval
    reaches 0, or lies above the expected order)."""
    lo, hi = hf["ci95"]
    if hf["converges"]:
        return "converges at the expected rate"
    if hi < hf["expected_order"]:
        return "NOT at the expected rate: the interval lies below it"
    if lo <= 0:
        return ("convergence not established: the interval reaches 0 (more sample sets per N, "
                "--reps, or larger N would narrow it)")
    return "converges, faster than the expected rate (the interval lies above it)"


def blocks(res: dict, folder: str = "") -> list:
    """The section: tau* table, violation, continuum tables, COIN verdicts and tau sweep, and
    the figures (named relative to the document; ``folder``: the study's folder in it)."""
    from validation.doc import Figure, interval, mean_sd, num, para, table
    from validation.stats.present import verdict_blocks

    keys = list(COIN_DEFAULTS)
    out = [table(["graph", "nodes", "max (d_i - W_ii)", "tau*",
                  *[f"tau {COIN_DEFAULTS[k]} ({k})" for k in keys]],
                 [[r["graph"], str(r["nodes"]), num(r["max_excess_degree"]), num(r["tau_star"]),
                   *[r[f"tau {COIN_DEFAULTS[k]} ({k})"] for k in keys]] for r in res["taus"]])]
    hub = res["hub"]
    found = (f"u0 = e_i at node {hub['node']} (degree {hub['degree']}) gives u1_i = "
             f"{num(hub['value'])}" if hub["found"] else "none found")
    out.append(para(f"Violation finder on the hub graph at tau = {hub['tau']} (tau* = "
                    f"{num(hub['tau_star'])}): {found}; at tau* none "
                    f"{'exists' if hub['none_at_tau_star'] else 'EXISTS: a defect'}. Random "
                    f"graphs: {res['random_graphs']['agree']}/{res['random_graphs']['graphs']} "
                    "agree with the condition on both sides of tau*."))
    hf = res["heat_flow"]
    out += [para(f"Graph heat flow (random walk, {hf['bandwidth']}, t = {hf['t']}, {hf['reps']} "
                 "sample sets per N) against the closed-form heat flow on the unit torus:"),
            table(["N", "eps", "RMS error (mean)", "per sample set"],
                  [[str(n), num(e, 4), num(m, 4), ", ".join(num(x) for x in errs)]
                   for n, e, m, errs in zip(hf["ns"], hf["eps"], hf["mean_errors"],
                                            hf["errors"], strict=True)]),
            para(f"Fitted order {num(hf['order'])} (95% CI {interval(*hf['ci95'])}), expected "
                 f"{num(hf['expected_order'])}: {_rate_finding(hf)}.")]
    lim = res["limits"]
    out += [para(f"Which operator each normalisation approaches (density p = 1 + {lim['a']} "
                 f"cos cos, {lim['bandwidth']}; {lim['rule']}):"),
            table(["normalisation", "identified", "operator", "expected", "margin", "order",
                   "constant", "status"],
                  [[r["normalisation"], r["identified"], r["operator"], r["expected"],
                    num(r["margin"], 2), num(r["order"], 2), num(r["constant"]), r["status"]]
                   for r in lim["rows"]])]
    coin = res["coin"]
    for d, v in coin["verdicts"].items():
        out += verdict_blocks(v, f"graph diffusion improves transductive classification ({d})")
    sp = res["spec"]
    out += [para(f"tau beyond tau* ({sp['tau_data']}, K = {sp['K']}, {sp['tau_seeds']} seeds): "
                 "accuracy and the smallest entry of u^K (negative: the layers left the "
                 "probability simplex)"),
            table(["tau / tau*", "accuracy", "smallest entry", "runs with a negative entry"],
                  [[str(r["factor"]), mean_sd(r["accuracy"], r["accuracy_sd"]),
                    num(r["min_entry"]), f"{r['negative_runs']}/{r['runs']}"]
                   for r in coin["tau_table"]]),
            Figure(f"{folder}graph_violation.png", "excess degrees of the hub graph against "
                   "1/tau, and the violation found beyond tau*"),
            Figure(f"{folder}graph_limit.png", "graph heat flow against the closed form, and "
                   "the residual of each candidate limit operator per normalisation"),
            Figure(f"{folder}graph_coin.png", "COIN accuracy with and without diffusion per "
                   "seed, and beyond tau*")]
    return out


def markdown(res: dict) -> str:
    """The section as Markdown (graph.md)."""
    from validation.doc import to_markdown

    return to_markdown(blocks(res))


def write_outputs(res: dict, out: str | Path) -> list[str]:
    """graph.md, graph_runs.csv, graph.json and the three figures in ``out``."""
    import csv
    import io

    from validation.store.io import atomic_write_text, write_json

    out = Path(out)
    files = _figures(res, out)
    atomic_write_text(out / "graph.md", "# Graph diffusion\n\n" + markdown(res))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(res["coin"]["runs"][0]))
    w.writeheader()
    w.writerows(res["coin"]["runs"])
    atomic_write_text(out / "graph_runs.csv", buf.getvalue())
    write_json(out / "graph.json", public(res), config=res["spec"],
               seed=f"0..{res['spec']['seeds'] - 1} per data set")
    return ["graph.md", "graph_runs.csv", "graph.json", *files]


def public(res: dict) -> dict:
    """The JSON-serialisable part (without the arrays kept for the figures)."""
    return {k: v for k, v in res.items() if not k.startswith("_")} | {"claims": claims(res)}
