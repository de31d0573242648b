r"""Empirical Rademacher complexity of trained networks, against the bounds (docs/theory.md
section 5).

R_S(F) = E_eps sup_{f in F} (1/m) sum_i eps_i f(x_i). For the network class the supremum is
approximated from below by projected gradient ascent over the parameters, restricted to norm
balls (each weight matrix and bias no larger than in the trained network, or given radii); the
K sign draws are optimised together, with stacked parameters and ``torch.func.vmap``. The value
is a *lower* estimate of R_S(F) (the ascent may miss the supremum); the linear class, where the
supremum is exact, calibrates the estimator.

Real-valued class: f(x) = logit_1(x) - logit_0(x) (the margin of classes 1 and 0; with more
classes, the one-against-one margin of the first two). The diffused
class U_sigma averages f over the network noise with common random numbers: a fixed set of S
noise draws per point, reused for every parameter value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.func import functional_call, vmap

from validation.nets.models import DiffusionResNet


@dataclass(frozen=True)
class Estimate:
    """Mean over K sign draws of the (approximate) supremum, its standard error, the draws."""

    mean: float
    stderr: float
    per_draw: list[float] = field(repr=False)
    details: dict = field(default_factory=dict)


DTYPES = {"float64": torch.float64, "float32": torch.float32}


def _dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise ValueError(f"dtype {name!r}; valid: {', '.join(DTYPES)}")
    return DTYPES[name]


def rademacher_signs(K: int, m: int, seed: int, dtype: torch.dtype = torch.float64
                     ) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 2, (K, m), generator=g) * 2 - 1).to(dtype)


def _summary(values: torch.Tensor, **details) -> Estimate:
    v = values.detach().cpu().double()
    K = len(v)
    se = float(v.std(unbiased=True) / math.sqrt(K)) if K > 1 else float("nan")
    return Estimate(float(v.mean()), se, v.tolist(), details)


# --- calibration: the linear class {x -> w.x : |w| <= B} --------------------------------------


def linear_class_estimate(x: np.ndarray, radius: float, *, draws: int = 200, steps: int = 100,
                          lr: float = 0.2, seed: int = 0, dtype: str = "float64"
                          ) -> tuple[Estimate, Estimate]:
    """(projected-ascent estimate in ``dtype``, exact per-draw supremum (B/m)|sum eps_i x_i| in
    float64), same signs."""
    dt = _dtype(dtype)
    X = torch.tensor(x, dtype=dt)
    m, d = X.shape
    eps = rademacher_signs(draws, m, seed, dt)
    params = {"w": torch.zeros(draws, d, dtype=dt, requires_grad=True)}
    radii = {"w": radius}
    w = params["w"]
    best = torch.full((draws,), -math.inf, dtype=dt)
    for t in range(steps):  # the same optimiser as for the network class
        obj = (eps * (w @ X.T)).mean(1)
        best = torch.maximum(best, obj.detach())
        obj.sum().backward()
        _ascent_step(params, radii, lr * (1 - t / steps))
        _project(params, radii, "frobenius")
    best = torch.maximum(best, (eps * (w @ X.T)).mean(1).detach())
    X64, eps64 = X.double(), eps.double()
    exact = radius * (eps64 @ X64).norm(dim=1) / m
    return _summary(best, method="projected ascent"), _summary(exact, method="exact")


# --- the network class ------------------------------------------------------------------------


def weight_names(model: DiffusionResNet) -> list[str]:
    """Names of the parameters that are constrained (all of them: weights and biases)."""
    return [n for n, _ in model.named_parameters()]


def trained_radii(model: DiffusionResNet, norm: str = "frobenius") -> dict[str, float]:
    """Per-parameter norms of the trained network (the balls of the class)."""
    out = {}
    for n, p in model.named_parameters():
        if p.ndim == 2 and norm == "spectral":
            out[n] = float(torch.linalg.matrix_norm(p.detach(), ord=2))
        else:
            out[n] = float(p.detach().norm())
    return out


def _ascent_step(params: dict[str, torch.Tensor], radii: dict[str, float], rate: float) -> None:
    """Normalised projected gradient ascent, per parameter and per draw (leading axis K):
    p <- p + rate * radius * g/|g|. Scale-aware and unbiased in direction (Adam's sign-like
    steps converge to a wrong maximiser even for the linear class)."""
    with torch.no_grad():
        for n, p in params.items():
            g = p.grad
            if g is None:
                continue
            gn = g.reshape(g.shape[0], -1).norm(dim=1).clamp_min(torch.finfo(g.dtype).tiny)
            p.add_(rate * radii[n] * g / gn.reshape((-1,) + (1,) * (g.ndim - 1)))
            p.grad = None


def _project(params: dict[str, torch.Tensor], radii: dict[str, float], norm: str) -> None:
    with torch.no_grad():
        for n, p in params.items():
            r = radii[n]
            if p.ndim == 3 and norm == "spectral":  # (K, out, in): clip singular values
                U, S, Vh = torch.linalg.svd(p, full_matrices=False)
                p.copy_(U @ torch.diag_embed(S.clamp(max=r)) @ Vh)
            else:
                flat = p.reshape(p.shape[0], -1)
                scale = torch.clamp(r / flat.norm(dim=1).clamp_min(torch.finfo(p.dtype).tiny),
                                    max=1.0)
                p.mul_(scale.reshape((-1,) + (1,) * (p.ndim - 1)))


def common_noise(model: DiffusionResNet, n_points: int, samples: int, seed: int
                 ) -> list[torch.Tensor] | None:
    """S noise draws per point (common random numbers), one tensor per block, or None."""
    if model.sigma == 0 or samples == 0:
        return None
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(samples * n_points, model.feature_dim, generator=g, dtype=torch.float64)
            for _ in range(model.n_blocks)]


def margin_fn(model: DiffusionResNet, x: torch.Tensor, noise, samples: int):
    """params -> f(x_i) averaged over the fixed noise draws, (m,)."""
    xs = x.repeat(max(samples, 1), 1) if noise is not None else x

    def f(params):
        logits = functional_call(model, params, (xs,), {"noise": noise})
        marg = logits[:, 1] - logits[:, 0]
        return marg.reshape(-1, x.shape[0]).mean(0)
    return f


def stacked_margin_fn(model: DiffusionResNet, x: torch.Tensor, noise, samples: int):
    """stacked params (K, ...) -> f(x_i) of each of the K networks, averaged over the fixed
    noise draws, (K, m): one batched pass (models.stacked_logits) instead of K."""
    from validation.nets.models import stacked_logits

    xs = x.repeat(max(samples, 1), 1) if noise is not None else x

    def f(params):
        logits = stacked_logits(model, params, xs, noise)
        marg = logits[..., 1] - logits[..., 0]
        return marg.reshape(marg.shape[0], -1, x.shape[0]).mean(1)
    return f


def network_estimate(model: DiffusionResNet, x: np.ndarray, *, draws: int = 32,
                     steps: int = 100, lr: float = 0.1, restarts: int = 1,
                     norm: str = "frobenius", radii: dict[str, float] | None = None,
                     noise_samples: int = 8, noise_seed: int = 1, seed: int = 0,
                     batched: bool | str = True, dtype: str = "float64",
                     starts: list[dict[str, torch.Tensor]] | None = None) -> Estimate:
    """Lower estimate of R_S of the architecture's norm-ball class (diffused when sigma > 0).

    The K sign draws are optimised together: ``batched=True`` stacks their parameters and runs
    one batched forward (``stacked_margin_fn``); ``"vmap"`` maps ``functional_call`` with
    torch.func.vmap (the former implementation); ``False`` runs the draws one at a time (the
    baseline of ``benchmarks/bench_rademacher.py``). All three give the same numbers.
    ``dtype="float32"`` halves the cost; the ascent's gap on the linear class is the same to
    1e-6 in float32 (tests), the estimate differs from float64 by rounding only. ``starts``:
    parameter sets (name -> tensor, projected into the balls) the ascent starts from, one
    restart each, before any random restart; default: the model's own weights.
    """
    if batched not in (True, False, "vmap"):
        raise ValueError(f"batched = {batched!r}; valid: True, False, 'vmap'")
    if norm not in ("frobenius", "spectral"):
        raise ValueError(f"unknown norm {norm!r}; valid: frobenius, spectral")
    if model.n_classes < 2:
        raise ValueError(f"the margin class needs 2 classes or more, the model has "
                         f"{model.n_classes}")
    dt = _dtype(dtype)
    if dt != torch.float64:  # a copy of the model in the working precision
        import copy

        model = copy.deepcopy(model).to(dt)
    X = torch.tensor(x, dtype=dt)
    m = X.shape[0]
    radii = radii or trained_radii(model, norm)
    noise = common_noise(model, m, noise_samples, noise_seed)
    noise = None if noise is None else [n.to(dt) for n in noise]
    eps = rademacher_signs(draws, m, seed, dt)
    f = margin_fn(model, X, noise, noise_samples)
    stacked = stacked_margin_fn(model, X, noise, noise_samples)
    base = {n: p.detach() for n, p in model.named_parameters()}
    family = [{n: t.detach().to(dt) for n, t in st.items()} for st in starts] if starts \
        else [base]
    restarts = max(restarts, len(family))
    gen = torch.Generator().manual_seed(seed + 7)

    def run(eps_block: torch.Tensor) -> torch.Tensor:
        k = eps_block.shape[0]
        best = torch.full((k,), -math.inf, dtype=dt)
        if batched is True:
            batched_f = stacked
        elif batched == "vmap":
            batched_f = vmap(f)
        else:  # the per-draw baseline: a plain functional call, no vmap machinery
            def batched_f(params):
                return f({n: p[0] for n, p in params.items()})[None]
        for r in range(restarts):
            params = {}
            for n, p in base.items():
                if r < len(family):  # a start of the family (the model's own weights first)
                    start = family[r][n].expand((k,) + p.shape).clone()
                else:  # random restart inside the ball
                    start = torch.randn((k,) + p.shape, generator=gen,
                                        dtype=torch.float64).to(dt)
                params[n] = start.requires_grad_(True)
            _project(params, radii, norm)
            for t in range(steps):  # step size decays linearly to 0
                obj = (eps_block * batched_f(params)).mean(1)
                best = torch.maximum(best, obj.detach())
                obj.sum().backward()
                _ascent_step(params, radii, lr * (1 - t / steps))
                _project(params, radii, norm)
            with torch.no_grad():
                best = torch.maximum(best, (eps_block * batched_f(params)).mean(1))
        return best

    if batched:
        best = run(eps)
    else:
        best = torch.cat([run(eps[i:i + 1]) for i in range(draws)])
    return _summary(best, draws=draws, steps=steps, restarts=restarts, norm=norm,
                    noise_samples=noise_samples if noise is not None else 0, dtype=dtype)


#: relative change of the estimate, between an ascent and one twice as long, below which the
#: lower estimate counts as converged
CONVERGENCE_TOL = 0.01


def converged_estimate(model: DiffusionResNet, x: np.ndarray, *, steps: int = 100,
                       tol: float = CONVERGENCE_TOL, max_doublings: int = 3,
                       starts: list[dict[str, torch.Tensor]] | None = None, **kw) -> Estimate:
    """The lower estimate run to convergence: the ascent from every start of ``starts`` (the
    same family for every sigma of a seed: their trained weights), then again with twice the
    steps, and so on, each sign draw keeping its best value over all runs, until the mean
    moves by less than ``tol`` (relative) or ``max_doublings`` doublings are spent. The details
    give each run's (steps, mean), ``converged`` and ``opt_gap``: the last doubling's change,
    the remaining optimisation gap's estimate (the ascent only ever lies below the supremum)."""
    runs, best, total = [], None, steps
    for k in range(max_doublings + 1):
        e = network_estimate(model, x, steps=total, starts=starts, **kw)
        draw = torch.tensor(e.per_draw)
        best = draw if best is None else torch.maximum(best, draw)
        runs.append([total, float(best.mean())])  # lists: the same after a JSON round trip
        if k > 0 and abs(runs[-1][1] - runs[-2][1]) <= tol * abs(runs[-2][1]):
            break
        total *= 2
    gap = abs(runs[-1][1] - runs[-2][1]) if len(runs) > 1 else float("nan")
    converged = len(runs) > 1 and gap <= tol * abs(runs[-2][1])
    out = _summary(best, **e.details)
    return Estimate(out.mean, out.stderr, out.per_draw,
                    out.details | {"runs": runs, "converged": converged, "opt_gap": gap,
                                   "starts": len(starts) if starts else 1, "tol": tol})


def sandwich_check(model: DiffusionResNet, x: np.ndarray, *, realisations: int = 4,
                   samples: int = 8, **kw) -> dict:
    """Jensen: R_S(U_sigma) <= E_omega R_S(F_omega), both estimated with the same signs."""
    diffused = network_estimate(model, x, noise_samples=samples, noise_seed=1, **kw)
    singles = [network_estimate(model, x, noise_samples=1, noise_seed=100 + w, **kw)
               for w in range(realisations)]
    right = float(np.mean([s.mean for s in singles]))
    right_se = float(np.sqrt(np.mean([s.stderr**2 for s in singles]) / realisations))
    holds = diffused.mean <= right + 2 * math.hypot(diffused.stderr, right_se)
    return {"R_diffused": diffused.mean, "R_diffused_se": diffused.stderr,
            "E_omega_R_single": right, "E_omega_R_single_se": right_se, "holds": bool(holds)}


def stability_in_draws(model: DiffusionResNet, x: np.ndarray, samples=(2, 8, 32), **kw) -> dict:
    """Increase the noise draws S until the diffused-class estimate is stable (within 2 SE)."""
    rows = []
    for s in samples:
        e = network_estimate(model, x, noise_samples=s, **kw)
        rows.append({"S": s, "mean": e.mean, "stderr": e.stderr})
    last, prev = rows[-1], rows[-2]
    stable = abs(last["mean"] - prev["mean"]) <= 2 * math.hypot(last["stderr"], prev["stderr"])
    return {"rows": rows, "stable": bool(stable)}


def weight_matrices(model: DiffusionResNet) -> list[np.ndarray]:
    """The network's weight matrices in forward order (encoder, blocks, base)."""
    return [p.detach().cpu().numpy() for n, p in model.named_parameters()
            if n.endswith("weight") and p.ndim == 2]


def norm_bounds(model: DiffusionResNet, x: np.ndarray, margin: float = 1.0) -> dict:
    """GRS, BFT and path-norm values from the trained weights, with their assumptions' status."""
    from theory import bounds

    Ws = weight_matrices(model)
    m = x.shape[0]
    B = float(np.linalg.norm(x, axis=1).max())
    caveat = ("the architecture is residual with tanh and biases; the bounds assume a bias-free "
              "layered network with positive-homogeneous activations: values are reference "
              "numbers for the unrolled weight matrices, not certified bounds for this class")
    return {
        "golowich_rakhlin_shamir": bounds.golowich_rakhlin_shamir(
            [float(np.linalg.norm(W)) for W in Ws], B, m),
        "bartlett_foster_telgarsky": bounds.bartlett_foster_telgarsky(Ws, x, margin),
        "path_norm": bounds.path_norm(Ws),
        "assumptions": {k: bounds.ASSUMPTIONS[k] for k in
                        ("golowich_rakhlin_shamir", "bartlett_foster_telgarsky", "path_norm")},
        "status": caveat,
    }


def _shapes_with_radii(model: DiffusionResNet, radii: dict[str, float]) -> dict[str, tuple]:
    """The parameters' shapes; every parameter needs a radius (else a named ValueError)."""
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    missing = sorted(set(shapes) - set(radii))
    if missing:
        raise ValueError(f"radii lack {', '.join(missing)}: give a radius for every parameter")
    return shapes


def sup_norm_bound(model: DiffusionResNet, x: np.ndarray, radii: dict[str, float], *,
                   noise: list[torch.Tensor] | None = None) -> dict:
    r"""An upper bound on R_S of the same class as :func:`residual_upper_bound` (every
    parameter in its Frobenius ball of ``radii``, the margin f = logit_1 - logit_0, the noise
    paths fixed and averaged): R_S(F) = E sup_f (1/m) sum_i eps_i f(x_i) <= sup_f max_i
    |f(x_i)| = D, with D bounded along the forward pass:
    - |z_0| <= sqrt(d) (the encoder ends in a sigmoid) or |x_i| (no encoder);
    - a block moves z by at most h (|W2|_F sqrt(H) + |b2|) (|tanh| <= 1, H hidden units) plus
      its noise increment sigma sqrt(h) |xi| (per point and path; the averaged class is
      bounded by the largest path);
    - |f| = |(w_1 - w_0).z_L + c_1 - c_0| <= sqrt(2) (|W|_F |z_L| + |b|).
    No product over the blocks: it is the trivial bound, and at these radii it is far below
    the peeling bound (whose factor per block is 1 + h a1 a2)."""
    X = np.asarray(x, dtype=float)
    m = X.shape[0]
    _shapes_with_radii(model, radii)
    if isinstance(model.encoder, torch.nn.Identity):
        z = np.linalg.norm(X, axis=1)[None]  # (1, m)
    else:
        z = np.full((1, m), math.sqrt(model.feature_dim))
    h = model.step
    for i in range(model.n_blocks):
        hidden = model.blocks[i][0].out_features
        z = z + h * (radii[f"blocks.{i}.2.weight"] * math.sqrt(hidden)
                     + radii[f"blocks.{i}.2.bias"])
        if model.sigma > 0 and noise is not None:
            xi = noise[i].detach().cpu().numpy().reshape(-1, m, model.feature_dim)
            z = z + model.sigma * math.sqrt(h) * np.linalg.norm(xi, axis=2)  # (S, m)
    z_max = float(z.max())
    bound = math.sqrt(2) * (radii["base.weight"] * z_max + radii["base.bias"])
    return {"bound": bound, "feature_norm": z_max,
            "class": "every parameter (weights and biases) in its Frobenius ball; residual tanh "
                     "blocks, margin logit_1 - logit_0" + (", fixed noise paths"
                                                          if noise is not None else "")}


def residual_upper_bound(model: DiffusionResNet, x: np.ndarray, radii: dict[str, float], *,
                         noise: list[torch.Tensor] | None = None) -> dict:
    r"""An upper bound on R_S of the class actually trained: every parameter of the
    architecture (encoder, residual blocks, base, with their biases) in its Frobenius ball of
    ``radii``, the margin f = logit_1 - logit_0 (docs/theory.md section 5).

    Peeling with the absolute complexity Rbar(F) = E sup_F |(1/m) sum_i eps_i f(x_i)|, over
    the union F_l of all coordinate functions of the features z_l:
    - sums: Rbar(F + G) <= Rbar(F) + Rbar(G); a constant |b| <= beta: beta / sqrt(m);
      a fixed function c (one noise path): |c|_2 / m;
    - an l1-weighted sum: Rbar({sum_j w_j g_j : |w|_1 <= A, g_j in G}) <= A Rbar(G), and a row of
      a matrix in a Frobenius ball of radius r has |w|_1 <= sqrt(columns) r;
    - contraction: G = {w.z + b} is symmetric (the balls are) and tanh is odd and 1-Lipschitz,
      so Rbar(tanh o G) = R(tanh o G) <= R(G) <= Rbar(G) (Ledoux-Talagrand);
      sigmoid(u) = 1/2 + tanh(u/2)/2 adds 1/(2 sqrt(m)) and halves twice;
    - a block z + h (W2 tanh(W1 z + b1) + b2) + sigma sqrt(h) xi:
      Rbar(F_{l+1}) <= Rbar(F_l) + h a2 (a1 Rbar(F_l) + |b1| / sqrt(m)) + h |b2| / sqrt(m)
      (+ sigma sqrt(h) max_k |xi_k|_2 / m for a fixed noise path: the Jensen bound
      R(U_sigma) <= E_omega R(F_omega) then bounds the diffused class);
    - the input coordinates: Massart, Rbar <= max_k |x_k|_2 sqrt(2 log(2 d)) / m.
    The factor per block is 1 + h a1 a2, so the product stays bounded as L grows at fixed T.
    """
    X = np.asarray(x, dtype=float)
    m, d_in = X.shape
    root = math.sqrt(m)
    shapes = _shapes_with_radii(model, radii)

    def a(name: str) -> float:  # the largest l1 norm of a row in the ball
        return math.sqrt(shapes[name][1]) * radii[name]

    r = float(np.linalg.norm(X, axis=0).max()) * math.sqrt(2 * math.log(2 * d_in)) / m
    steps = [{"layer": "input", "bound": r}]
    if not isinstance(model.encoder, torch.nn.Identity):
        r = a("encoder.0.weight") * r + radii["encoder.0.bias"] / root  # the affine map
        r = a("encoder.2.weight") * r + radii["encoder.2.bias"] / root  # tanh: contraction
        r = 0.5 / root + 0.5 * 0.5 * r  # sigmoid(u) = 1/2 + tanh(u/2)/2
        steps.append({"layer": "encoder", "bound": r})
    h = model.step
    for i in range(model.n_blocks):
        inner = a(f"blocks.{i}.0.weight") * r + radii[f"blocks.{i}.0.bias"] / root
        r = r + h * (a(f"blocks.{i}.2.weight") * inner + radii[f"blocks.{i}.2.bias"] / root)
        if model.sigma > 0 and noise is not None:
            xi = noise[i].detach().cpu().numpy().reshape(-1, m, model.feature_dim)
            r += model.sigma * math.sqrt(h) * float(np.linalg.norm(xi, axis=1).max()) / m
        steps.append({"layer": f"block {i}", "bound": r})
    # margin: (w_1 - w_0).z + (c_1 - c_0), |w_1 - w_0|_2 <= sqrt(2) |W|_F
    d = model.feature_dim
    bound = math.sqrt(2 * d) * radii["base.weight"] * r + math.sqrt(2) * radii["base.bias"] / root
    return {"bound": bound, "layers": steps,
            "class": "every parameter (weights and biases) in its Frobenius ball; residual tanh "
                     "blocks, margin logit_1 - logit_0" + (", one fixed noise path"
                                                          if noise is not None else "")}
