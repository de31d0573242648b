r"""What a residual stage's flow looks like on data (``cdverify inspect``).

Per block l, at the features z_l of the data (the network's own path, no noise):
- |v_l| = |Delta_l| / h: mean and the 5/50/95% quantiles over the points (|.| the Euclidean
  norm of the flattened feature, so C x H x W features count every entry);
- the relative change |v_{l+1}(z_l) - v_l(z_l)| / |v_l(z_l)| of consecutive blocks at the same
  points: small when depth discretises a field that is smooth in time (Sander et al., NeurIPS
  2022, ask the same of trained ResNets);
- the Jacobian of v_l at the points: its spectral norm |Dv_l|_2 (local Lipschitz constant of the
  velocity) and its logarithmic norm mu_2(Dv_l) = lambda_max((J + J^T)/2) (the rate at which
  nearby trajectories separate, negative when they contract), exact for small features and by
  power iteration on Jacobian-vector products otherwise;
- for a stochastic stage (injected noise sigma, or noise live at evaluation inside the blocks)
  the measured diffusion A_l = Cov(Delta_l) / (2h) over repeated passes at fixed z_l, beside the
  catalogue's generator of the declared technique (Gaussian injection: sigma^2/2 I).
The implied T is sum_l mean |Delta_l|: the T at which the velocities' mean speed is 1.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from validation.nets.adapter import AdapterError, ResidualStage, evaluating

QUANTILES = (0.05, 0.5, 0.95)
#: feature sizes up to this get the exact Jacobian; larger ones power iteration
EXACT_JACOBIAN_MAX = 64


def _flat(z: torch.Tensor) -> torch.Tensor:
    return z.reshape(z.shape[0], -1)


def jacobian_norms(stage: ResidualStage, l: int, z: torch.Tensor, *, iters: int = 30,
                   generator: torch.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(|Dv_l(z_i)|_2, mu_2(Dv_l(z_i))) for each point z_i (a batch of features).

    A Jacobian-vector product is the derivative of a vector-Jacobian product (double
    backward): attention runs on its math kernel here, since the fused CPU kernels of
    scaled_dot_product_attention have no double backward (nor forward-mode AD); the math
    kernel computes the same function. An op whose backward is not differentiable (a custom
    autograd.Function marked once_differentiable, as many fused ops) cuts the double-backward
    graph: J w came out without that op's part (0 for the whole branch, a norm of 0), silently.
    Every point's products now pass the adjoint test w . (J u) = u . (J^T w) (J^T w by one
    plain backward, which such ops support) before the power iteration, or the block is
    refused by name."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    try:
        with sdpa_kernel([SDPBackend.MATH]):
            return _jacobian_norms(stage, l, z, iters=iters, generator=generator)
    except (RuntimeError, NotImplementedError) as exc:
        if not any(k in str(exc).lower() for k in ("derivative", "not implemented")):
            raise
        raise AdapterError(
            f"block {l}: its Jacobian-vector products need a double backward that an op of it "
            f"lacks ({str(exc).splitlines()[0]}); --jacobian-points 0 leaves the Jacobian "
            "norms out") from None


def _jacobian_norms(stage: ResidualStage, l: int, z: torch.Tensor, *, iters: int,
                    generator: torch.Generator | None) -> tuple[np.ndarray, np.ndarray]:
    D = _flat(z).shape[1]
    spec, logn = [], []
    for i in range(z.shape[0]):
        zi = z[i:i + 1].detach()

        def v(u, zi=zi):
            return stage.velocity(l, u.reshape(zi.shape)).reshape(-1)

        if D <= EXACT_JACOBIAN_MAX:
            J = torch.autograd.functional.jacobian(v, zi.reshape(-1)).double()
            spec.append(float(torch.linalg.matrix_norm(J, 2)))
            logn.append(float(torch.linalg.eigvalsh((J + J.T) / 2).max()))
            continue
        x0 = zi.reshape(-1)

        def jvp(w, x0=x0, v=v):
            return torch.autograd.functional.jvp(v, x0, w)[1]

        def vjp(w, x0=x0, v=v):
            return torch.autograd.functional.vjp(v, x0, w)[1]

        _adjoint_test(l, jvp, vjp, D, x0.dtype, generator, stage.step)

        w = torch.randn(D, generator=generator, dtype=x0.dtype)
        w = w / w.norm()
        s = 0.0
        for _ in range(iters):  # power iteration on J^T J
            u = vjp(jvp(w))
            s = float(u.norm()) ** 0.5
            w = u / u.norm().clamp_min(1e-30)
        spec.append(s)
        # largest eigenvalue of the symmetric part S = (J + J^T)/2: power iteration on S + s I
        w = torch.randn(D, generator=generator, dtype=x0.dtype)
        w = w / w.norm()
        lam = 0.0
        for _ in range(iters):
            u = (jvp(w) + vjp(w)) / 2 + s * w
            lam = float(w @ u) - s
            w = u / u.norm().clamp_min(1e-30)
        logn.append(lam)
    return np.array(spec), np.array(logn)


#: relative tolerance of the adjoint test (float32 products agree to about 1e-6)
ADJOINT_RTOL = 1e-3
#: round-off allowance of the adjoint test in units of eps |w| |u| / h: a block read as
#: Delta = block(z) - z has J_v = (J_block - I) / h, formed by a difference of O(|u|)
#: vectors, whose rounding swamps a small J_v. A stage holding a freshly initialised
#: BatchNorm2d (J_block = I / sqrt(1 + 1e-5)) in float32, 128 features, h = 0.2: |a - b| up
#: to 3e-6 = 0.04 of these units, against a relative tolerance of 2.2e-6, refused at random
ADJOINT_ROUNDOFF = 4


def _adjoint_test(l: int, jvp, vjp, D: int, dtype, generator, step: float = 1.0) -> None:
    """Refuse a block whose J u (double backward) disagrees with its J^T w (one backward),
    beyond ADJOINT_RTOL |J^T w| |u| and the rounding of the velocity's products,
    ADJOINT_ROUNDOFF eps |w| |u| / h (an op that drops its part of J w misses by that part,
    O(|J_op| |w| |u|): far above both wherever the part is not itself at round-off)."""
    u = torch.randn(D, generator=generator, dtype=dtype)
    w = torch.randn(D, generator=generator, dtype=dtype)
    back = vjp(w)
    a, b = float(w @ jvp(u)), float(u @ back)
    roundoff = ADJOINT_ROUNDOFF * torch.finfo(dtype).eps * float(w.norm() * u.norm()) / step
    if abs(a - b) > ADJOINT_RTOL * float(back.norm() * u.norm()) + roundoff:
        raise AdapterError(
            f"block {l}: its Jacobian-vector products fail the adjoint test (w . J u = {a:.4g}"
            f" against u . J^T w = {b:.4g}): an op of the block has a backward that is not "
            "itself differentiable (a custom autograd.Function marked once_differentiable, a "
            "fused kernel), so J w drops its part; --jacobian-points 0 leaves the Jacobian "
            "norms out")


def measured_diffusion(stage: ResidualStage, l: int, z: torch.Tensor, *, sigma: float,
                       passes: int, generator: torch.Generator) -> dict:
    """A_l = Cov(Delta_l) / (2h) over ``passes`` evaluations at fixed z (injected noise
    sigma sqrt(h) xi included), averaged over the points; with its Monte Carlo error."""
    h = stage.step
    draws = []
    for _ in range(passes):
        d = stage.delta(l, z)
        if sigma > 0:
            d = d + sigma * math.sqrt(h) * torch.randn(z.shape, generator=generator,
                                                       dtype=z.dtype)
        draws.append(_flat(d).double())
    X = torch.stack(draws)  # (passes, n, D)
    # centred about the first pass before the mean (the shifted-data form): the mean of equal
    # float64 values rounds (sums of 3 x need a bit more), which read a deterministic
    # float64 stage as A = 3e-33 where float32 features (exact in double) gave 0
    Y = X - X[:1]
    Xc = Y - Y.mean(0, keepdim=True)
    D = X.shape[2]
    # per-point trace of the covariance / (2 h d): the mean diffusion coefficient per dimension
    per_point = (Xc**2).sum(0).sum(1) / (passes - 1) / (2 * h * D)
    out = {"mean_diag": float(per_point.mean()),
           "stderr": float(per_point.std() / math.sqrt(len(per_point))) if len(per_point) > 1
           else float("nan"),
           "catalogue_diag": sigma**2 / 2}
    if D <= EXACT_JACOBIAN_MAX:
        cov = torch.einsum("pni,pnj->nij", Xc, Xc).mean(0) / (passes - 1) / (2 * h)
        cat = torch.eye(D, dtype=cov.dtype) * sigma**2 / 2
        out["offdiag_max"] = float((cov - torch.diag(torch.diagonal(cov))).abs().max())
        out["relative_error"] = (float(torch.linalg.matrix_norm(cov - cat) /
                                       torch.linalg.matrix_norm(cat)) if sigma > 0 else None)
    return out


def inspect_stage(stage: ResidualStage, x: torch.Tensor, *, sigma: float = 0.0,
                  passes: int = 32, jacobian_points: int = 8, seed: int = 0) -> dict:
    """The per-block table of the module docstring, on the model inputs x."""
    gen = torch.Generator().manual_seed(seed)
    with evaluating(stage.model):
        with torch.no_grad():
            path = stage.trajectory(x)
        rows = []
        for l in range(stage.n_blocks):
            z = path[l]
            with torch.no_grad():
                v = _flat(stage.velocity(l, z)).double()
                speed = v.norm(dim=1)
                row = {"block": l, "mean_speed": float(speed.mean()),
                       **{f"q{int(100 * q)}": float(torch.quantile(speed, q))
                          for q in QUANTILES},
                       "mean_displacement": float(speed.mean()) * stage.step}
                if l + 1 < stage.n_blocks:
                    nxt = _flat(stage.velocity(l + 1, z)).double()
                    # relative to a speed of 0 (a block that moves nothing: a Dropout in
                    # the stage, identity in evaluation) it is undefined: '-' (it read 3.5e12)
                    moving = speed > 0
                    rel = (nxt - v)[moving].norm(dim=1) / speed[moving]
                    row["relative_change"] = float(rel.mean()) if bool(moving.any()) else None
                else:
                    row["relative_change"] = None
            if jacobian_points > 0:
                pts = z[:jacobian_points].detach()
                spec, logn = jacobian_norms(stage, l, pts, generator=gen)
            else:  # left out: NaN (null in the JSON, "-" in the tables)
                spec = logn = np.full(1, np.nan)
            row |= {"jac_spectral_mean": float(spec.mean()), "jac_spectral_max": float(spec.max()),
                    "log_norm_mean": float(logn.mean()), "log_norm_max": float(logn.max())}
            if passes >= 2:  # a covariance needs two passes
                with torch.no_grad():
                    md = measured_diffusion(stage, l, z[: max(jacobian_points, 32)],
                                            sigma=sigma,
                                            passes=passes, generator=gen)
                row |= {f"A_{k}": val for k, val in md.items()}
            rows.append(row)
        with torch.no_grad():
            proj = _pca_paths([_flat(p).double().numpy() for p in path])
    implied = sum(r["mean_displacement"] for r in rows)
    return {"blocks": rows, "n_blocks": stage.n_blocks, "distinct_blocks": len(stage.distinct),
            "h": stage.step,
            "t_end": stage.spec.t_end, "reading": stage.spec.reading,
            "scale": stage.spec.scale, "scales": list(stage.spec.scales),
            "plain_layers": stage.plain_layers, "bound": stage.bound_text,
            "feature_shape": list(path[0].shape[1:]), "points": int(x.shape[0]),
            "implied_T": implied, "sigma": sigma, "passes": passes, "pca": proj}


def _pca_paths(path: list[np.ndarray], keep: int = 64) -> dict:
    """The first two principal components of every z_l, and each point's path in them."""
    Z = np.concatenate(path[:], axis=0)
    mean = Z.mean(0)
    _, s, vt = np.linalg.svd(Z - mean, full_matrices=False)
    comps = vt[:2]
    var = (s**2) / max((s**2).sum(), 1e-300)
    paths = np.stack([(p[:keep] - mean) @ comps.T for p in path], axis=1)  # (keep, L+1, 2)
    return {"paths": paths.tolist(), "explained": var[:2].tolist()}
