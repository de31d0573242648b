r"""The depth study in any dimension, through the adapter: a user's factory ``FACTORY(blocks=L)``
is trained at each depth L (same data, seed, T and injected diffusion sigma), and the gap
between the trained network's noise-averaged prediction and the PDE of its own velocity is
measured by Feynman-Kac (studies/feynman_kac.py: coupled levels, Richardson), so the
features may be C x H x W. The rows have the grid study's fields (the Richardson extrapolation's
own error estimate, the finest levels' difference, stands where the grid's error stood), and the
finding is decided by the same :func:`~validation.studies.depth.study.depth_finding`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from validation.nets import FitConfig, ResidualStage, StageSpec, predict_proba
from validation.nets.data import measured_points
from validation.nets.fit import fit


def _technique(sigma: float) -> str:
    return "paper" if sigma > 0 else "plain"


def train_adapted(stage: ResidualStage, x: np.ndarray, y: np.ndarray, *, sigma: float,
                  epochs: int, seed: int = 0, lr: float = 3e-3, batch: int = 64) -> float:
    """The toolkit's training loop (:func:`validation.nets.fit.fit`: AdamW, one-cycle peak
    ``lr``, no weight decay) on the adapted network with the paper's diffusion sigma sqrt(h)
    after every block, live in training as at evaluation; returns the final epoch's mean loss
    (the loop stops with the epoch and the value when the loss becomes non-finite)."""
    cfg = FitConfig(technique=_technique(sigma), strength=sigma, epochs=epochs, lr=lr,
                    batch_size=batch, weight_decay=0.0, seed=seed)
    return fit(stage, x, y, cfg, progress=False)["train_loss"][-1]


def accuracy(stage: ResidualStage, x: torch.Tensor, y: np.ndarray, *, sigma: float,
             seed: int = 0, draws: int = 16) -> float:
    """Accuracy of the noise-averaged prediction (``draws`` common passes)."""
    probs = predict_proba(stage, x, _technique(sigma), sigma, passes=draws, seed=seed)
    return float((probs.argmax(1).numpy() == np.asarray(y)).mean())


def depth_any(factory: Callable[..., nn.Module], stage_path: str, data, *,
              blocks=(4, 8, 16), sigma: float = 0.3, t_end: float = 1.0, epochs: int = 5,
              seed: int = 0, test_points: int = 32, draws: int = 256,
              substeps="auto") -> dict:
    """Train ``factory(blocks=L)`` for each L and compare with its PDE; the depth table, the
    fitted order of the mean gap in h and the finding (see the module docstring).
    ``substeps``: the Feynman-Kac levels, counts or "auto" (chosen per depth by its noiseless
    flows, feynman_kac.auto_substeps)."""
    from validation.studies.feynman_kac import fk_agreement, levels_converge

    from .study import depth_finding

    rows, t0 = [], time.perf_counter()
    idx = measured_points(data, test_points)  # a sample whatever the split's stored order
    x_test = torch.as_tensor(data.x_test[idx], dtype=torch.float32)
    y_test = data.y_test[idx]
    for L in blocks:
        torch.manual_seed(seed)
        model = factory(blocks=L)
        stage = ResidualStage(model, StageSpec(stage_path, t_end))
        if stage.n_blocks != L:
            raise ValueError(f"factory(blocks={L}) built a stage of {stage.n_blocks} blocks")
        model.to(torch.float32)
        loss = train_adapted(stage, data.x_train, data.y_train, sigma=sigma, epochs=epochs,
                             seed=seed)
        fk = fk_agreement(stage, x_test, sigma=sigma, draws=draws, substeps=substeps,
                          seed=seed)
        acc = accuracy(stage, x_test, y_test, sigma=sigma, seed=seed)
        converge = levels_converge(fk)
        rows.append({"blocks": L, "h": stage.step, "seed": seed, "train_loss": loss,
                     "gap_mean": fk["gap_network_pde"], "mc_se_mean": fk["gap_network_pde_stderr"],
                     # the extrapolation's own error: the finest levels' difference; where
                     # the levels are pre-asymptotic the extrapolation has no error estimate
                     "grid_error_mean": (fk["successive_differences"][-1] if converge
                                         else float("inf")),
                     "levels_converge": converge, "substeps": fk.get("substeps"),
                     "network_accuracy": acc, "weak_order_at_L": fk["order"]})
    order, fitted, finding, status, ci = depth_finding(rows)
    return {"table": rows, "order": order, "order_ci95": ci, "fitted_blocks": fitted,
            "finding": finding, "status": status, "seconds": time.perf_counter() - t0,
            "config": {"stage": stage_path, "blocks": list(blocks), "sigma": sigma,
                       "t_end": t_end, "epochs": epochs, "seed": seed,
                       "test_points": test_points, "draws": draws,
                       "substeps": substeps if isinstance(substeps, str) else list(substeps)}}
