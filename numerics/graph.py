r"""Graphs on samples and graph diffusion u <- u - tau L u (scipy.sparse); docs/graphs.md.

Weights W are symmetric and non-negative (self-loops allowed), d_i = sum_j W_ij, L = D - W.
The explicit step I - tau L has off-diagonal entries tau W_ij >= 0 and diagonal entries
1 - tau (d_i - W_ii), so it preserves order (the comparison principle, axiom A4) iff
tau <= tau* = 1 / max_i (d_i - W_ii) (theory/graph.py proves it symbolically).

Constructions:
- ``knn_gaussian_graph``: w_ij = exp(-(d_ij / d_i^(kappa))^2) for the n_top nearest
  neighbours j of i, d_i^(kappa) the distance to the kappa-th neighbour (a local bandwidth),
  then symmetric normalisation D^{-1/2} W D^{-1/2} and symmetrisation (W + W^T)/2;
- ``self_loop_normalised``: D~^{-1/2} (A + I) D~^{-1/2}, D~ the degrees of A + I (GCN);
- ``preferential_attachment``: a Barabasi-Albert graph (hubs);
- ``kernel_graph``: the Gaussian kernel exp(-|x - y|^2 / (2 eps^2)) (optionally on the unit
  torus), cut off at CUTOFF eps, for continuum limits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sps

from .errors import NumericsError

NORMALISATIONS = ("unnormalised", "random-walk", "symmetric", "coifman-lafon")
CUTOFF = 4.5  # kernel cut-off in bandwidths: exp(-4.5^2/2) = 4e-5 of the peak


def _points(X, what: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or len(X) < 2:
        raise NumericsError(f"{what} must be an (N, d) array of N >= 2 points, got shape "
                            f"{X.shape}")
    if not np.all(np.isfinite(X)):
        raise NumericsError(f"{what} has {int((~np.isfinite(X)).sum())} non-finite entries")
    return X


def _weights(W) -> sps.csr_matrix:
    """W as CSR, checked: square, finite, non-negative, symmetric."""
    W = sps.csr_matrix(W, dtype=float)
    if W.shape[0] != W.shape[1]:
        raise NumericsError(f"W must be a square matrix, got shape {W.shape}")
    if W.nnz and not np.all(np.isfinite(W.data)):
        raise NumericsError("W has non-finite entries")
    if W.nnz and W.data.min() < 0:
        raise NumericsError(f"W must be non-negative (min entry {W.data.min():.3g}): graph "
                            "diffusion needs W >= 0")
    asym = abs(W - W.T)
    if asym.nnz and asym.max() > 1e-12 * max(1.0, abs(W).max()):
        raise NumericsError(f"W is not symmetric (max |W_ij - W_ji| = {asym.max():.3g}); "
                            "pass (W + W^T)/2")
    return W


def knn_gaussian_graph(X, n_top: int = 8, kappa: int = 4) -> sps.csr_matrix:
    """The kNN Gaussian-kernel graph (module docstring), symmetric normalised."""
    from scipy.spatial import cKDTree

    X = _points(X)
    n = len(X)
    if not (1 <= kappa <= n_top < n):
        raise NumericsError(f"need 1 <= kappa <= n_top < N; got kappa = {kappa}, n_top = "
                            f"{n_top}, N = {n}")
    dist, idx = cKDTree(X).query(X, k=n_top + 1)  # column 0 is the point itself
    dist, idx = dist[:, 1:], idx[:, 1:]
    scale = dist[:, kappa - 1:kappa]
    if np.any(scale <= 0):
        raise NumericsError(f"{int((scale <= 0).sum())} points have {kappa} or more exact "
                            "duplicates (zero local bandwidth); remove duplicate samples")
    w = np.exp(-((dist / scale) ** 2))
    W = sps.csr_matrix((w.ravel(), (np.repeat(np.arange(n), n_top), idx.ravel())),
                       shape=(n, n))
    inv = sps.diags(1.0 / np.sqrt(np.asarray(W.sum(axis=1)).ravel()))
    W = inv @ W @ inv
    return sps.csr_matrix((W + W.T) / 2)


def self_loop_normalised(A) -> sps.csr_matrix:
    """D~^{-1/2} (A + I) D~^{-1/2} for a symmetric non-negative adjacency A."""
    A = _weights(A)
    At = A + sps.identity(A.shape[0], format="csr")
    inv = sps.diags(1.0 / np.sqrt(np.asarray(At.sum(axis=1)).ravel()))
    return sps.csr_matrix(inv @ At @ inv)


def preferential_attachment(n: int, m: int = 2, seed: int = 0) -> sps.csr_matrix:
    """Barabasi-Albert adjacency: a clique on m + 1 nodes, then each new node links to m
    distinct nodes drawn with probability proportional to their degree."""
    if not (1 <= m < n):
        raise NumericsError(f"need 1 <= m < n; got m = {m}, n = {n}")
    rng = np.random.default_rng(seed)
    edges = [(i, j) for i in range(m + 1) for j in range(i)]
    ends = [v for e in edges for v in e]  # each node once per edge end: degree-proportional
    for new in range(m + 1, n):
        targets: set[int] = set()
        while len(targets) < m:
            targets.add(ends[int(rng.integers(len(ends)))])
        for t in targets:
            edges.append((new, t))
            ends += [new, t]
    i, j = np.array(edges).T
    A = sps.csr_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    return sps.csr_matrix(A + A.T)


def kernel_graph(X, eps: float, *, periodic: bool = False) -> sps.csr_matrix:
    """W_ij = exp(-|x_i - x_j|^2 / (2 eps^2)) for 0 < |x_i - x_j| < CUTOFF eps (no self-loops);
    ``periodic``: distances on the unit torus [0, 1)^d."""
    from scipy.spatial import cKDTree

    X = _points(X)
    if not (np.isfinite(eps) and eps > 0):
        raise NumericsError(f"bandwidth eps = {eps}; give eps > 0")
    if periodic:
        if X.min() < 0 or X.max() >= 1:
            raise NumericsError("periodic points must lie in [0, 1)^d (wrap them with x % 1)")
        if CUTOFF * eps >= 0.5:
            raise NumericsError(f"eps = {eps}: the kernel support {CUTOFF} eps must be < 1/2 "
                                "on the unit torus")
    tree = cKDTree(X, boxsize=1.0 if periodic else None)
    D = tree.sparse_distance_matrix(tree, CUTOFF * eps, output_type="coo_matrix")
    keep = D.row != D.col
    w = np.exp(-(D.data[keep] ** 2) / (2 * eps**2))
    W = sps.csr_matrix((w, (D.row[keep], D.col[keep])), shape=(len(X), len(X)))
    return sps.csr_matrix((W + W.T) / 2)  # exactly symmetric (the tree pairs both ways)


def degrees(W) -> np.ndarray:
    return np.asarray(sps.csr_matrix(W).sum(axis=1)).ravel()


def laplacian(W, normalisation: str = "unnormalised") -> sps.csr_matrix:
    """L of the named normalisation (positive semi-definite convention, L 1 = 0 except for
    'symmetric'): 'unnormalised' D - W; 'random-walk' I - D^{-1} W; 'symmetric'
    I - D^{-1/2} W D^{-1/2}; 'coifman-lafon' the random walk of W' = D^{-1} W D^{-1} (the
    density-free alpha = 1 normalisation)."""
    if normalisation not in NORMALISATIONS:
        raise NumericsError(f"unknown normalisation {normalisation!r}; valid: "
                            f"{', '.join(NORMALISATIONS)}")
    W = _weights(W)
    d = degrees(W)
    if np.any(d <= 0) and normalisation != "unnormalised":
        raise NumericsError(f"{int((d <= 0).sum())} isolated nodes (degree 0): the "
                            f"{normalisation} Laplacian divides by the degree")
    n = W.shape[0]
    eye = sps.identity(n, format="csr")
    if normalisation == "unnormalised":
        return sps.csr_matrix(sps.diags(d) - W)
    if normalisation == "random-walk":
        return sps.csr_matrix(eye - sps.diags(1 / d) @ W)
    if normalisation == "symmetric":
        s = sps.diags(1 / np.sqrt(d))
        return sps.csr_matrix(eye - s @ W @ s)
    Wp = sps.diags(1 / d) @ W @ sps.diags(1 / d)
    return sps.csr_matrix(eye - sps.diags(1 / degrees(Wp)) @ Wp)


def critical_tau(W) -> float:
    """tau* = 1 / max_i (d_i - W_ii): the largest step with the comparison principle (inf
    without edges)."""
    W = _weights(W)
    m = float(np.max(degrees(W) - W.diagonal()))
    return np.inf if m == 0 else 1.0 / m


def diffusion_step(W, u: np.ndarray, tau: float) -> np.ndarray:
    """u - tau (D - W) u (u of shape (N,) or (N, C)); tau >= 0 (a negative tau is the
    backward, ill-posed step)."""
    W = _weights(W)
    u = np.asarray(u, dtype=float)
    if not (np.isfinite(tau) and tau >= 0):
        raise NumericsError(f"tau = {tau}; give a step tau >= 0 (tau < 0 runs diffusion "
                            "backward)")
    if u.ndim not in (1, 2) or u.shape[0] != W.shape[0]:
        raise NumericsError(f"u has shape {u.shape}; expected ({W.shape[0]},) or "
                            f"({W.shape[0]}, C) for a graph of {W.shape[0]} nodes")
    d = degrees(W)
    return u - tau * ((d[:, None] * u if u.ndim == 2 else d * u) - W @ u)


@dataclass(frozen=True)
class Violation:
    """A non-negative u0 (an indicator e_node) whose step u1 has a negative entry at node."""

    node: int
    tau: float
    tau_star: float
    u0: np.ndarray
    u1: np.ndarray


def order_violation(W, tau: float) -> Violation | None:
    """Search I - tau L for a negative entry. Only the diagonal 1 - tau (d_i - W_ii) can be
    negative, so the search is over nodes; the witness u0 = e_i (non-negative) gives
    (u1)_i = 1 - tau (d_i - W_ii) < 0. None when the step preserves order."""
    W = _weights(W)
    if not (np.isfinite(tau) and tau > 0):
        raise NumericsError(f"tau = {tau}; give a step tau > 0")
    diag = 1 - tau * (degrees(W) - W.diagonal())
    node = int(np.argmin(diag))
    if diag[node] >= 0:
        return None
    u0 = np.zeros(W.shape[0])
    u0[node] = 1.0
    u1 = diffusion_step(W, u0, tau)
    if not u1[node] < 0:  # the step itself, not the formula, must show the violation
        raise NumericsError(f"internal: the diagonal entry {diag[node]:.3g} < 0 but the step "
                            f"gives {u1[node]:.3g} at node {node}")
    return Violation(node, float(tau), critical_tau(W), u0, u1)
