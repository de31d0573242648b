r"""Continuum limits of graph Laplacians on random samples of the unit torus [0, 1)^2.

Two studies (docs/graphs.md):

1. Which operator each normalisation converges to. Samples of the density
   p(x) = 1 + a cos(2 pi x_1) cos(2 pi x_2), the Gaussian kernel graph of bandwidth eps, each
   normalised Laplacian applied to f(x) = sin(2 pi x_1) + cos(2 pi x_2) / 2 and rescaled
   (eps^2 / 2 for the normalised ones, N (2 pi)^{d/2} eps^{d+2} / 2 for D - W). The result is
   compared with every candidate operator Op f at the same samples, projected on low Fourier
   modes g_k (the projection averages the pointwise noise; using the same samples on both sides
   removes the sampling error of the projection): residual = min_c |P(-L f) - c P(Op f)| /
   |P(-L f)|. The candidate with the smallest residual at the largest N is the identified limit;
   it is not assumed: the expected map (Hein, Audibert and von Luxburg 2007; Coifman and Lafon
   2006) is only compared with the identification.
2. Graph heat flow against a closed form. Uniform samples, u(t) = exp(-t L_rw / (eps^2/2)) u_0
   for u_0 = cos(2 pi x_1) + sin(4 pi x_2) / 2, against the heat flow of Delta (each Fourier
   mode decays as exp(-|2 pi k|^2 t)), with the standard bandwidth eps = c N^{-1/(d+4)}; the
   error against N and its fitted order with a 95% interval (expected about 2/(d+4) = 1/3).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .errors import NumericsError
from .graph import CUTOFF, NORMALISATIONS, kernel_graph, laplacian

DIM = 2
FD_STEP = 1e-4  # central differences of the analytic candidates: O(1e-8) truncation

# the limit each normalisation is expected to approach (the identification is compared with it)
EXPECTED_LIMIT = {"unnormalised": "weighted", "random-walk": "drift",
                  "symmetric": "conjugated drift", "coifman-lafon": "laplace"}
CANDIDATES = {
    "laplace": "Delta f",
    "drift": "Delta f + 2 grad(log p) . grad f",
    "half drift": "Delta f + grad(log p) . grad f",
    "weighted": "p Delta f + 2 grad p . grad f",
    "conjugated drift": "sqrt(p) (Delta + 2 grad(log p) . grad)(f / sqrt(p))",
}


def _grad(fn: Callable, x: np.ndarray) -> np.ndarray:
    e = np.eye(DIM) * FD_STEP
    return np.stack([(fn(x + e[k]) - fn(x - e[k])) / (2 * FD_STEP) for k in range(DIM)], -1)


def _lap(fn: Callable, x: np.ndarray) -> np.ndarray:
    e = np.eye(DIM) * FD_STEP
    return sum((fn(x + e[k]) - 2 * fn(x) + fn(x - e[k])) / FD_STEP**2 for k in range(DIM))


def torus_density(a: float) -> Callable[[np.ndarray], np.ndarray]:
    """p(x) = 1 + a cos(2 pi x_1) cos(2 pi x_2) on [0, 1)^2 (integral 1; |a| < 1)."""
    if not abs(a) < 1:
        raise NumericsError(f"density amplitude a = {a}: need |a| < 1 for p > 0")
    return lambda x: 1 + a * np.cos(2 * np.pi * x[..., 0]) * np.cos(2 * np.pi * x[..., 1])


def sample_density(p: Callable, bound: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """n samples of p on the unit torus by rejection from the uniform law (p <= bound)."""
    out: list[np.ndarray] = []
    while sum(len(o) for o in out) < n:
        x = rng.random((2 * n, DIM))
        out.append(x[rng.random(2 * n) * bound < p(x)])
    return np.concatenate(out)[:n]


def candidate_operators(p: Callable, f: Callable) -> dict[str, Callable]:
    """The candidate limits (CANDIDATES) applied to f, as functions of the points."""
    lp = lambda x: np.log(p(x))  # noqa: E731
    g = lambda x: f(x) / np.sqrt(p(x))  # noqa: E731

    def drift(fn, x, weight):
        return _lap(fn, x) + weight * (_grad(lp, x) * _grad(fn, x)).sum(-1)

    return {
        "laplace": lambda x: _lap(f, x),
        "drift": lambda x: drift(f, x, 2.0),
        "half drift": lambda x: drift(f, x, 1.0),
        "weighted": lambda x: p(x) * _lap(f, x) + 2 * (_grad(p, x) * _grad(f, x)).sum(-1),
        "conjugated drift": lambda x: np.sqrt(p(x)) * drift(g, x, 2.0),
    }


def _fourier_modes(x: np.ndarray, kmax: int = 2) -> np.ndarray:
    """cos/sin products of frequencies 0..kmax on each axis (the constant left out)."""
    rows = []
    for k1 in range(kmax + 1):
        for k2 in range(kmax + 1):
            if (k1, k2) == (0, 0):
                continue
            for c1 in (np.cos, np.sin):
                for c2 in (np.cos, np.sin):
                    rows.append(c1(2 * np.pi * k1 * x[:, 0]) * c2(2 * np.pi * k2 * x[:, 1]))
    return np.array(rows)


#: the bandwidths of the two studies: eps = c N^-exponent
IDENTIFY_C, IDENTIFY_EXPONENT = 0.35, 0.25
HEAT_FLOW_C = 0.25
HEAT_FLOW_EXPONENT = 1 / (DIM + 4)


def check_sample_sizes(ns: Sequence[int], c: float, exponent: float) -> None:
    """Refuse, before any work, sample sizes whose bandwidth eps = c n^-exponent gives a kernel
    support CUTOFF eps of 1/2 or more (it would wrap around the unit torus), naming the
    smallest size that works."""
    small = [n for n in ns if CUTOFF * c * n ** (-exponent) >= 0.5]
    if small:
        need = math.floor((2 * CUTOFF * c) ** (1 / exponent)) + 1  # the smallest n that fits
        raise NumericsError(f"sample size(s) {small}: the bandwidth eps = {c} n^-{exponent:.4g} "
                            f"gives a kernel support {CUTOFF} eps >= 1/2 on the unit torus; "
                            f"use sample sizes n >= {need}")


def laplacian_scale(normalisation: str, n: int, eps: float) -> float:
    """The factor s with -L f / s -> Op f for the Gaussian kernel exp(-|z|^2 / (2 eps^2)): its
    mass (2 pi)^{d/2} eps^d and second moment eps^2 per axis give (eps^2/2) Delta."""
    if normalisation == "unnormalised":
        return n * (2 * np.pi) ** (DIM / 2) * eps**DIM * eps**2 / 2
    return eps**2 / 2


def _order(ns: Sequence[int], errors: Sequence[Sequence[float]]) -> dict:
    """Least-squares slope of log error on log N over every repetition: the order is -slope,
    with a 95% interval from the slope's standard error."""
    from scipy.stats import linregress, t

    x = np.log(np.repeat(np.asarray(ns, float), [len(e) for e in errors]))
    y = np.log(np.concatenate([np.asarray(e, float) for e in errors]))
    fit = linregress(x, y)
    half = t.ppf(0.975, len(x) - 2) * fit.stderr if len(x) > 2 else float("nan")
    return {"order": float(-fit.slope), "ci95": [float(-fit.slope - half),
                                                 float(-fit.slope + half)]}


def identify_limits(ns: Sequence[int] = (1000, 2000, 4000, 8000), *, a: float = 0.8,
                    c: float = IDENTIFY_C, exponent: float = IDENTIFY_EXPONENT, seed: int = 0,
                    expected: dict[str, str] | None = None, margin: float = 1.25) -> dict:
    """Study 1 (module docstring) with eps = c N^{-exponent}. For each normalisation: the
    residual of every candidate at every N, the identified limit (smallest residual at the
    largest N), its margin (runner-up / best) and fitted order, and the comparison with
    ``expected`` (default EXPECTED_LIMIT): 'matches' (identified = expected, margin >= ``margin``,
    order > 0), 'contradicts' (another candidate wins by the margin) or 'undecided'."""
    if len(ns) < 4:
        raise NumericsError(f"{len(ns)} sample sizes: a fitted order needs at least 4")
    check_sample_sizes(ns, c, exponent)
    expected = dict(EXPECTED_LIMIT if expected is None else expected)
    p = torus_density(a)
    f = lambda x: np.sin(2 * np.pi * x[..., 0]) + 0.5 * np.cos(2 * np.pi * x[..., 1])  # noqa: E731
    ops = candidate_operators(p, f)
    rng = np.random.default_rng(seed)
    resid: dict[str, dict[str, list[float]]] = {m: {k: [] for k in ops} for m in NORMALISATIONS}
    const: dict[str, dict[str, list[float]]] = {m: {k: [] for k in ops} for m in NORMALISATIONS}
    eps_used = []
    for n in ns:
        x = sample_density(p, 1 + abs(a), int(n), rng)
        eps = c * n ** (-exponent)
        eps_used.append(eps)
        W = kernel_graph(x, eps, periodic=True)
        modes = _fourier_modes(x)
        targets = {k: modes @ op(x) / n for k, op in ops.items()}
        for m in NORMALISATIONS:
            lf = -(laplacian(W, m) @ f(x)) / laplacian_scale(m, n, eps)
            proj = modes @ lf / n
            for k, tv in targets.items():
                coef = float(proj @ tv / (tv @ tv))
                resid[m][k].append(float(np.linalg.norm(proj - coef * tv)
                                         / np.linalg.norm(proj)))
                const[m][k].append(coef)
    rows = []
    for m in NORMALISATIONS:
        last = {k: v[-1] for k, v in resid[m].items()}
        ranked = sorted(last, key=last.get)
        best, second = ranked[0], ranked[1]
        mg = last[second] / last[best]
        order = _order(ns, [[r] for r in resid[m][best]])
        if mg >= margin and best == expected[m] and order["order"] > 0:
            status = "matches"
        elif mg >= margin and best != expected[m]:
            status = "contradicts"
        else:
            status = "undecided"
        rows.append({"normalisation": m, "identified": best, "operator": CANDIDATES[best],
                     "expected": expected[m], "margin": mg, "order": order["order"],
                     "constant": const[m][best][-1], "status": status,
                     "residuals": resid[m], "constants": const[m]})
    return {"ns": list(map(int, ns)), "eps": eps_used, "a": a, "rows": rows,
            "bandwidth": f"eps = {c} N^-{exponent}", "candidates": CANDIDATES,
            "rule": f"identified = smallest residual at N = {ns[-1]}; 'matches' needs the "
                    f"expected operator, a margin >= {margin} over the runner-up and a "
                    "positive fitted order"}


def heat_flow_convergence(ns: Sequence[int] = (500, 1000, 2000, 4000), *, reps: int = 3,
                          c: float = HEAT_FLOW_C, t: float = 0.01, diffusivity: float = 1.0,
                          seed: int = 0) -> dict:
    """Study 2 (module docstring): RMS error of the random-walk graph heat flow against the
    closed-form heat flow d_t u = diffusivity Delta u at time t (diffusivity 1 is the limit;
    another value is a negative control), eps = c N^{-1/(d+4)}, ``reps`` sample sets per N."""
    from scipy.sparse.linalg import expm_multiply

    if len(ns) < 4:
        raise NumericsError(f"{len(ns)} sample sizes: a fitted order needs at least 4")
    if reps < 1 or not (t > 0):
        raise NumericsError(f"need reps >= 1 and t > 0; got reps = {reps}, t = {t}")
    check_sample_sizes(ns, c, HEAT_FLOW_EXPONENT)
    modes = ((1.0, (1, 0), np.cos), (0.5, (0, 2), np.sin))  # amplitude, frequency, profile

    def u_exact(x, time, kappa):
        return sum(amp * math.exp(-kappa * (2 * np.pi) ** 2 * (k[0] ** 2 + k[1] ** 2) * time)
                   * fn(2 * np.pi * (k[0] * x[:, 0] + k[1] * x[:, 1]))
                   for amp, k, fn in modes)

    rng = np.random.default_rng(seed)
    errors, eps_used = [], []
    for n in ns:
        eps = c * n ** (-HEAT_FLOW_EXPONENT)
        eps_used.append(eps)
        errs = []
        for _ in range(reps):
            x = rng.random((int(n), DIM))
            L = laplacian(kernel_graph(x, eps, periodic=True), "random-walk")
            u = expm_multiply(-(t / laplacian_scale("random-walk", n, eps)) * L,
                              u_exact(x, 0.0, 1.0))
            errs.append(float(np.sqrt(np.mean((u - u_exact(x, t, diffusivity)) ** 2))))
        errors.append(errs)
    fit = _order(ns, errors)
    return {"ns": list(map(int, ns)), "eps": eps_used, "errors": errors,
            "mean_errors": [float(np.mean(e)) for e in errors], **fit,
            "expected_order": 2 / (DIM + 4), "t": t, "reps": reps, "diffusivity": diffusivity,
            "bandwidth": f"eps = {c} N^-1/{DIM + 4}",
            # converges at the expected rate: the order's interval is above 0 and contains
            # 2/(d+4) (a wrong limit leaves a plateau: a smaller order, interval below it)
            "converges": bool(0 < fit["ci95"][0] <= 2 / (DIM + 4) <= fit["ci95"][1])}
