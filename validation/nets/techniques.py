r"""Network techniques as perturbations of a residual stage, each with the catalogue entry
(theory/catalogue.py) whose generator it has, applied by forward hooks on the stage's blocks:

| technique | block l: z -> | catalogue | generator |
|---|---|---|---|
| ``plain`` | z + Delta_l | plain | (v, 0) |
| ``paper`` | z + Delta_l + sigma sqrt(h) xi | gaussian (S = sigma I) | (v, sigma^2 / 2 I) |
| ``enresnet`` | z + Delta_l + c std(z + Delta_l) xi | unscaled-noise | none: c^2 std^2 / (2h) |
| ``dropout`` | z + m Delta_l / (1 - p), m ~ Bernoulli(1 - p) | dropout | (v, 0) + O(h) |

xi ~ N(0, I) per feature; std(.) is each sample's standard deviation over its features
(EnResNet, Wang et al. 2019, scale their noise by the output's spread and not by sqrt(h), so its
variance per block does not shrink with h and the flow has no diffusion limit). The paper's
noise and EnResNet's are kept at test time and the deployed predictor averages the softmax over
passes; dropout is switched off at test time (its usual deployment), so its predictor is
deterministic. Every draw comes from an explicit generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from .adapter import AdapterError, ResidualStage, block_input, block_output, with_block_output

#: the most bytes one chunk of rows may give a tensor (rows x the larger of an input's and a
#: feature's size): larger tensors are mapped afresh by the allocator at every operation, and
#: the page faults dominated (a conv stage of 16 x 32 x 32 features, 200 points, 16 passes,
#: one thread: 9.6 s at 4096 rows per chunk, 6.2 s of it in the kernel, 3.1 s at 64; MNIST-1D's
#: 32 x 40 features, 1000 points: 1.12 s against 0.65 s at 800). Rows of a few hundred bytes
#: (the 2-D toy models) keep their chunks, and their numbers.
CHUNK_BYTES = 4 * 2**20

Perturb = Callable[[torch.Tensor, torch.Tensor, float, float, torch.Generator | None],
                   torch.Tensor]


@dataclass(frozen=True)
class NetTechnique:
    """One technique: how a block's output is perturbed and what its generator is."""

    name: str
    catalogue: str  # theory.catalogue.TECHNIQUES entry with this block's generator
    parameter: str  # the name of its strength (sigma, c, p)
    default: float  # the strength used when none is given
    kept_at_test: bool  # the deployed predictor keeps the randomness (and averages passes)
    description: str
    perturb: Perturb  # (z_in, z_out, h, strength, generator) -> perturbed z_out
    #: its backward needs its own draws (a mask or a noise that multiplies the features):
    #: a stage recomputed in backward (activation checkpointing) then gets wrong gradients,
    #: the recomputation running without the technique's hook (measured: 11% of the largest
    #: gradient for dropout and EnResNet; additive noise's gradients stay exact)
    draws_in_backward: bool = False

    def generator_text(self, strength: float) -> str:
        """The technique's catalogue generator at this strength, in words."""
        if self.name == "paper":
            return f"v, A = sigma^2/2 I = {strength ** 2 / 2:.4g} I (catalogue: gaussian)"
        if self.name == "enresnet":
            return "no limit: noise variance per block does not scale with h (catalogue: " \
                   "unscaled-noise, diverges like c^2 std^2 / (2h))"
        if self.name == "dropout":
            return "v, A = 0; an O(h) term h p/(2(1-p)) diag(v_i^2) (catalogue: dropout)"
        return "v, A = 0 (catalogue: plain)"


def _normal(like: torch.Tensor, generator) -> torch.Tensor:
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


def _plain(z, out, h, s, g):
    return out


def _paper(z, out, h, s, g):
    return out + s * math.sqrt(h) * _normal(out, g)


def _enresnet(z, out, h, s, g):
    spread = out.flatten(1).std(1).reshape((-1,) + (1,) * (out.dim() - 1))
    return out + s * spread * _normal(out, g)


def _dropout(z, out, h, s, g):
    keep = torch.bernoulli(torch.full_like(out, 1.0 - s), generator=g)
    return z + keep * (out - z) / (1.0 - s)


TECHNIQUES: dict[str, NetTechnique] = {t.name: t for t in [
    NetTechnique("plain", "plain", "sigma", 0.0, False, "z + Delta (no randomness)", _plain),
    NetTechnique("paper", "gaussian", "sigma", 0.1, True,
                 "the paper's method: z + Delta + sigma sqrt(h) xi", _paper),
    NetTechnique("enresnet", "unscaled-noise", "c", 0.1, True,
                 "EnResNet-style: z + Delta + c std(out) xi (no sqrt(h))", _enresnet,
                 draws_in_backward=True),
    NetTechnique("dropout", "dropout", "p", 0.1, False,
                 "dropout on the residual branch: z + m Delta / (1 - p)", _dropout,
                 draws_in_backward=True),
]}


def technique(name: str) -> NetTechnique:
    """Look up a technique; an unknown name lists the valid ones."""
    try:
        return TECHNIQUES[name]
    except KeyError:
        raise AdapterError(f"unknown technique {name!r}; valid: {', '.join(TECHNIQUES)}"
                           ) from None


def check_strength(name: str, strength: float) -> None:
    """Refuse a strength the technique cannot take (one line)."""
    t = technique(name)
    if not (math.isfinite(strength) and strength >= 0):
        raise AdapterError(f"{name}: {t.parameter} = {strength}; must be a finite number >= 0")
    if name == "dropout" and strength >= 1:
        raise AdapterError(f"dropout: p = {strength}; the drop probability must be < 1")
    if name == "plain" and strength != 0:
        raise AdapterError(f"plain: strength {strength}; the plain network has none (use 0)")


@contextmanager
def injected(stage: ResidualStage, name: str, strength: float,
             generator: torch.Generator | None) -> Iterator[None]:
    """While active, every block of ``stage`` is perturbed by technique ``name``: the model's
    own forward then computes the technique's network in one pass."""
    t = technique(name)
    check_strength(name, strength)
    if stage.spec.reading == "branch":
        raise AdapterError(f"technique {name}: the stage is read by branch (its blocks output "
                           "h-scaled branches, not z + Delta); inject on a stage read by block")
    if t.name == "plain" or strength == 0:
        yield
        return
    if not stage.settled:  # a residual reading injects into z + c f(z), not into f(z)
        raise AdapterError(f"technique {name}: the stage's reading is not yet settled on the "
                           "model's forward; call stage.probe(x) with model inputs first")
    h = stage.step
    residual = stage.spec.reading == "residual"
    # each module's c (one per module: the adapter refuses a tied module with several)
    weight = {id(b): stage.c(l) for l, b in enumerate(stage.blocks)}

    def hook(module, args, kwargs, raw):
        z, out = block_input(module, args, kwargs), block_output(raw)
        if residual:  # the forward computes z + c out: perturb that step, give back its out
            c = weight[id(module)]
            return with_block_output(raw, (t.perturb(z, z + c * out, h, strength, generator)
                                           - z) / c)
        return with_block_output(raw, t.perturb(z, out, h, strength, generator))

    # each module once: a block tied across steps is perturbed once per call (per step)
    handles = [b.register_forward_hook(hook, with_kwargs=True) for b in stage.distinct]
    try:
        yield
    finally:
        for hd in handles:
            hd.remove()


def refuse_recomputed_stage(stage: ResidualStage, names, x: torch.Tensor) -> None:
    """Refuse training techniques ``names`` whose backward needs their draws on a stage that
    the model recomputes in backward (ResidualStage.recomputed_in_backward), before work."""
    needing = [n for n in names if technique(n).draws_in_backward]
    if needing and stage.recomputed_in_backward(x):
        raise AdapterError(
            f"stage {stage.spec.path!r} is run again during backward (activation "
            f"checkpointing, torch.utils.checkpoint): {', '.join(needing)} would get wrong "
            "gradients (the recomputation runs without the technique, whose backward needs "
            "its mask or noise); turn the checkpointing off to train with it (it saves "
            "memory and is not part of the network)")


def refuse_trainable_weights(stage: ResidualStage, names, x: torch.Tensor) -> None:
    """Refuse training techniques ``names`` on a stage whose forward adds z + c_l f_l(z) with
    c_l a trainable parameter outside the blocks (ResidualStage.weights_trainable): the
    injection goes through c_l (out -> (perturbed step - z) / c_l), which training moves, so
    the noise would be scaled by c_now / c_read, before any work."""
    if [n for n in names if technique(n).name != "plain"] and stage.weights_trainable(x):
        raise AdapterError(
            f"stage {stage.spec.path!r}: the forward adds the blocks' outputs with weights c_l "
            "that training changes (a learnable scale outside the blocks, as ReZero's alpha): "
            "the techniques inject through c_l, which would be stale as soon as a step moves "
            "it; move the scale into each block (a module computing z + alpha f(z)), or train "
            "this stage without techniques (sigma 0)")


def deployed(name: str, strength: float) -> bool:
    """Whether the deployed predictor of this technique is random (averaged over passes)."""
    return technique(name).kept_at_test and strength > 0


def noisy_logits(stage: ResidualStage, name: str, strength: float):
    """The technique's network as a randomised function ``(x, generator) -> logits``: one pass
    of the model with the technique injected, its draws from ``generator`` (the protocol of
    the attacks and of randomized smoothing's base classifier, studies/attacks.Logits)."""
    check_strength(name, strength)

    def logits(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if not stage.settled:
            stage.probe(x)
        with injected(stage, name, strength, generator):
            return stage.model(x)
    return logits


def deployed_logits(stage: ResidualStage, name: str, strength: float):
    """The deployed network as ``(x, generator) -> logits``: the technique injected where it is
    kept at test time (:func:`deployed`), else the bare model (dropout is off at test)."""
    if deployed(name, strength):
        return noisy_logits(stage, name, strength)
    check_strength(name, strength)
    return lambda x, generator=None: stage.model(x)


class CommonNoisePredictor(torch.nn.Module):
    r"""x -> log of the softmax averaged over ``passes`` common draws of a randomised network
    ``logits(x, generator)``: p(x) = (1/K) sum_k softmax(F(x; xi_k)). The generator is reseeded
    with ``seed`` at every call, so for a batch of a given size the draws are the same each
    call: p is a deterministic, differentiable function of x (what an attack and a gradient
    see). ``passes = 1`` is one pass (a deterministic network). ``module``: the network's
    nn.Module, registered so that .to() and .eval() reach it."""

    def __init__(self, logits, *, passes: int = 16, seed: int = 0, chunk: int = 4096,
                 module: torch.nn.Module | None = None):
        super().__init__()
        if passes < 1:
            raise AdapterError(f"passes = {passes}; must be >= 1")
        self.logits, self.passes, self.seed, self.chunk = logits, passes, seed, chunk
        self.model = module
        if module is not None:
            # evaluation mode once (batch norm's running statistics, dropout off unless the
            # technique injects it): the deployed network; a caller's .train() is its own
            module.eval()

    def row_bytes(self, x: torch.Tensor) -> int:
        """Bytes of one row's largest tensor, for the chunks (here the input's)."""
        return x[:1].numel() * x.element_size()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = torch.Generator(device=x.device).manual_seed(self.seed)
        # the global generator reseeded too (and restored after): randomness a user's model
        # draws of its own at evaluation is then common to every call as well
        with torch.random.fork_rng(devices=[x.device] if x.is_cuda else []):
            torch.manual_seed(self.seed)
            if self.passes == 1:
                return torch.log_softmax(self.logits(x, generator=g), -1)
            n = x.shape[0]
            rows = max(1, min(self.chunk, CHUNK_BYTES // max(1, self.row_bytes(x))))
            rep = x.repeat((self.passes,) + (1,) * (x.dim() - 1))
            outs = [torch.softmax(self.logits(part, generator=g), -1)
                    for part in rep.split(rows)]
        p = torch.cat(outs).reshape(self.passes, n, -1).mean(0)
        return torch.log(p.clamp_min(1e-30))


class ExpectedPredictor(CommonNoisePredictor):
    """The deployed predictor of technique ``name`` on an adapted network: the common-noise
    average over ``passes`` draws when the technique is kept at test time or the model is
    random at evaluation of its own (``stage.random_at_eval``), else one pass. The model is
    put in evaluation mode when the predictor is made."""

    def __init__(self, stage: ResidualStage, name: str, strength: float, *, passes: int = 16,
                 seed: int = 0, chunk: int = 4096):
        if passes < 1:
            raise AdapterError(f"passes = {passes}; must be >= 1")
        random = deployed(name, strength) or stage.random_at_eval
        super().__init__(deployed_logits(stage, name, strength),
                         passes=passes if random else 1, seed=seed,
                         chunk=chunk, module=stage.model)
        self.stage, self.name, self.strength = stage, name, strength
        self._feature_bytes: dict = {}

    def row_bytes(self, x: torch.Tensor) -> int:
        """The larger of an input row's and a feature row's bytes (the stage's features of
        one point, measured once per input shape with the random generators left alone)."""
        key = tuple(x.shape[1:])
        if key not in self._feature_bytes:
            with torch.no_grad(), torch.random.fork_rng(devices=[x.device] if x.is_cuda
                                                        else []):
                z = self.stage.features(x[:1].detach())
            self._feature_bytes[key] = z.numel() * z.element_size()
        return max(super().row_bytes(x), self._feature_bytes[key])


def predict_proba(stage: ResidualStage, x: torch.Tensor, name: str, strength: float, *,
                  passes: int = 16, seed: int = 0, batch: int = 1000) -> torch.Tensor:
    """The deployed predictor's class probabilities at x (no gradient), in batches."""
    f = ExpectedPredictor(stage, name, strength, passes=passes, seed=seed)
    with torch.no_grad():
        return torch.cat([f(part).exp() for part in x.split(batch)])
