r"""Graph diffusion u <- u - tau L u (L = D - W) and its comparison principle.

The step is explicit Euler for the graph heat equation du/dt = -L u. A linear map preserves
order (A4) iff its matrix is entrywise non-negative, and I - tau L has off-diagonal entries
tau W_ij >= 0 and diagonal entries 1 - tau (d_i - W_ii): A4 holds iff tau max_i (d_i - W_ii) <= 1.
Rows of I - tau L sum to 1 (A6, constants preserved).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from .checks import Check, is_zero
from .errors import TheoryError


def graph_laplacian(W: sp.Matrix) -> sp.Matrix:
    """L = D - W with d_i = sum_j W_ij (self-loops W_ii included in d_i and in W)."""
    n = W.shape[0]
    return sp.diag(*[sum(W.row(i)) for i in range(n)]) - W


def symbolic_weights(n: int) -> tuple[sp.Matrix, sp.Symbol]:
    """Symmetric non-negative symbolic weights W_ij (with self-loops) and tau > 0."""
    if n < 2:
        raise TheoryError(f"a graph needs n >= 2 nodes, got {n}")
    W = sp.Matrix(n, n, lambda i, j: sp.Symbol(f"w{min(i, j) + 1}{max(i, j) + 1}",
                                                nonnegative=True))
    return W, sp.Symbol("tau", positive=True)


def prove_comparison_condition(n: int, laplacian=graph_laplacian) -> list[Check]:
    """For the symbolic graph on n nodes: entries of I - tau L, and row sums (``laplacian``
    replaces L = D - W, for negative controls)."""
    W, tau = symbolic_weights(n)
    L = laplacian(W)
    T = sp.eye(n) - tau * L
    off_ok = all(sp.simplify(T[i, j] - tau * W[i, j]) == 0 and (tau * W[i, j]).is_nonnegative
                 for i in range(n) for j in range(n) if i != j)
    diag_ok = all(is_zero(T[i, i] - (1 - tau * (sum(W.row(i)) - W[i, i]))) for i in range(n))
    rows_ok = is_zero(T * sp.ones(n, 1) - sp.ones(n, 1))
    off = [T[i, j] for i in range(n) for j in range(n) if i != j]
    return [
        Check(f"n = {n}: off-diagonal entries of I - tau L are tau W_ij >= 0", off_ok, "", "A4",
              expected=str([tau * W[i, j] for i in range(n) for j in range(n) if i != j]),
              computed=str(off)),
        Check(f"n = {n}: diagonal entries are 1 - tau (d_i - W_ii): non-negative iff "
              "tau (d_i - W_ii) <= 1", diag_ok, "", "A4",
              expected=str([1 - tau * (sum(W.row(i)) - W[i, i]) for i in range(n)]),
              computed=str([sp.expand(T[i, i]) for i in range(n)])),
        Check(f"n = {n}: rows of I - tau L sum to 1 (constants preserved)", rows_ok, "", "A6",
              expected=str([1] * n), computed=str(list(sp.simplify(T * sp.ones(n, 1))))),
    ]


def critical_tau(W: np.ndarray) -> float:
    """1 / max_i (d_i - W_ii): the largest tau with the comparison principle (inf if no edges);
    numerics.graph computes it (dense or sparse W)."""
    from numerics.errors import NumericsError
    from numerics.graph import critical_tau as tau_star

    try:
        return tau_star(W)
    except NumericsError as e:
        raise TheoryError(str(e)) from e


def order_violation(W: np.ndarray, tau: float) -> np.ndarray | None:
    """A pair witness: g - f = e_i >= 0 with (T g - T f)_i < 0, or None if T preserves order."""
    from numerics.graph import order_violation as find

    v = find(W, tau)
    return None if v is None else v.u0


@dataclass(frozen=True)
class GraphCheck:
    n_graphs: int
    agree: int  # graphs where "condition holds" == "no order violation", at both sides of tau*


def check_random_graphs(n_graphs: int = 200, seed: int = 0) -> GraphCheck:
    """On random weighted graphs: at 0.99 tau* order is preserved, at 1.01 tau* it is violated."""
    rng = np.random.default_rng(seed)
    agree = 0
    for _ in range(n_graphs):
        n = int(rng.integers(2, 9))
        W = rng.random((n, n)) * (rng.random((n, n)) < 0.6)
        W = (W + W.T) / 2
        tc = critical_tau(W)
        if not np.isfinite(tc):
            agree += 1
            continue
        below = order_violation(W, 0.99 * tc) is None
        above = order_violation(W, 1.01 * tc) is not None
        agree += int(below and above)
    return GraphCheck(n_graphs, agree)


def graph_checks(seed: int = 0) -> list[Check]:
    """Symbolic proofs for n = 2, 3 and the numeric check on random graphs."""
    checks = prove_comparison_condition(2) + prove_comparison_condition(3)
    res = check_random_graphs(seed=seed)
    checks.append(Check("random graphs: order kept at 0.99 tau*, broken at 1.01 tau*",
                        res.agree == res.n_graphs, f"{res.agree}/{res.n_graphs} graphs agree",
                        "A4", expected=f"{res.n_graphs}/{res.n_graphs} graphs agree",
                        computed=f"{res.agree}/{res.n_graphs}"))
    return checks
