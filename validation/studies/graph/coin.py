r"""COIN-style transductive classification: a base classifier, then K graph-diffusion layers.

The base classifier f (a linear lift, one residual tanh block, a linear head, softmax) gives
u^0 = f(X) on all N samples; K parameter-free layers u^{k+1} = u^k - tau L u^k with
L = D - W on the kNN Gaussian graph of the samples (numerics.graph.knn_gaussian_graph) diffuse
it; the loss is the cross-entropy of u^K on the labelled samples only. K = 0 is the base
classifier alone. With tau <= tau* every layer keeps u^k a probability vector (non-negative,
rows summing to 1); beyond tau* entries can turn negative, and the loss reads them clamped at
1e-8 (reported: the smallest entry of u^K).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from validation.nets.data import NAMES, make_dataset


@dataclass(frozen=True)
class CoinConfig:
    """One transductive run: ``labels_per_class`` labelled samples drawn with ``seed`` (which
    also seeds the data and the weights, so runs that differ only in K or tau are paired)."""

    data: str = "moons"
    n: int = 600
    K: int = 10
    tau: float = 0.5
    n_top: int = 8
    kappa: int = 4
    labels_per_class: int = 10
    hidden: int = 32
    epochs: int = 150
    lr: float = 0.01
    weight_decay: float = 5e-4
    seed: int = 0

    def __post_init__(self):
        if self.data not in NAMES:
            raise ValueError(f"unknown data set {self.data!r}; valid: {', '.join(NAMES)}")
        for name in ("n", "labels_per_class", "hidden", "epochs", "n_top", "kappa"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} = {getattr(self, name)}: give a count >= 1")
        if self.K < 0 or not (self.tau > 0 and np.isfinite(self.tau)):
            raise ValueError(f"K = {self.K}, tau = {self.tau}: need K >= 0 and tau > 0")


class Coin(nn.Module):
    """u^K = (I - tau L)^K softmax(head(z + tanh(B z))), z = A x.

    The K layers have no parameters, so their product M = (I - tau L)^K is formed once (dense:
    the transductive sets here have at most a few thousand samples) and applied as u^K = M u^0,
    the same numbers as K sparse steps at a fraction of the autograd cost.
    """

    def __init__(self, in_dim: int, n_classes: int, hidden: int, W, K: int, tau: float):
        super().__init__()
        import scipy.sparse as sps

        self.lift = nn.Linear(in_dim, hidden)
        self.block = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, n_classes)
        n = W.shape[0]
        step = sps.identity(n, format="csr") - tau * (
            sps.diags(np.asarray(W.sum(axis=1)).ravel()) - W)
        M = np.eye(n)
        for _ in range(K):
            M = step @ M
        self.register_buffer("M", torch.as_tensor(np.asarray(M)) if K else None)

    def base(self, x: torch.Tensor) -> torch.Tensor:
        z = self.lift(x)
        return torch.softmax(self.head(z + torch.tanh(self.block(z))), dim=1)

    def forward(self, x: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """u^K on all samples, or only on ``rows`` (a mask or index: the training loss needs
        the labelled rows only, M[rows] @ u^0, a tenth of the work or less)."""
        u = self.base(x)
        if self.M is None:
            return u if rows is None else u[rows]
        return self.M @ u if rows is None else self.M[rows] @ u


def transductive_data(cfg: CoinConfig):
    """All samples of the data set (train, validation and test together), their labels and a
    labelled mask with ``labels_per_class`` per class, all from ``cfg.seed``."""
    d = make_dataset(cfg.data, cfg.n, seed=cfg.seed)
    x = np.concatenate([d.x_train, d.x_val, d.x_test])
    y = np.concatenate([d.y_train, d.y_val, d.y_test])
    rng = np.random.default_rng(cfg.seed)
    mask = np.zeros(len(y), bool)
    for c in range(d.n_classes):
        idx = np.flatnonzero(y == c)
        if len(idx) <= cfg.labels_per_class:
            raise ValueError(f"class {c} of {cfg.data} has {len(idx)} samples; fewer labels "
                             f"per class than {cfg.labels_per_class} are needed")
        mask[rng.choice(idx, cfg.labels_per_class, replace=False)] = True
    return x, y, mask, d.n_classes


def run_coin(cfg: CoinConfig, graph=None) -> dict:
    """Train on the labelled samples, evaluate on the unlabelled ones; ``graph`` reuses a
    built kNN graph of the same samples."""
    from numerics.graph import critical_tau, knn_gaussian_graph

    x, y, mask, n_classes = transductive_data(cfg)
    W = graph if graph is not None else knn_gaussian_graph(x, cfg.n_top, cfg.kappa)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = Coin(x.shape[1], n_classes, cfg.hidden, W, cfg.K, cfg.tau).double()
    X, Y = torch.as_tensor(x), torch.as_tensor(y)
    m = torch.as_tensor(mask)
    idx = torch.as_tensor(np.flatnonzero(mask))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                           foreach=True)  # as nets.train: the same bits, less Python
    for _ in range(cfg.epochs):
        opt.zero_grad()
        u = model(X, idx)
        loss = nn.functional.nll_loss(torch.log(u.clamp_min(1e-8)), Y[idx])
        loss.backward()
        opt.step()
    with torch.no_grad():
        u = model(X)
    pred = u.argmax(1)
    return {"config": asdict(cfg), "accuracy": float((pred[~m] == Y[~m]).double().mean()),
            "train_loss": float(loss.detach()), "min_entry": float(u.min()),
            "row_sum_error": float((u.sum(1) - 1).abs().max()),
            "tau_star": critical_tau(W), "labelled": int(mask.sum()), "samples": len(y)}
