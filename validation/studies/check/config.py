"""The configuration of ``cdverify check``: which network, data, techniques, seeds and claims,
and the defaults a reader can check against their reasons."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

# the adapter's error alone, and the techniques only where used: the command line's parser
# and refusals read this module without importing torch
from validation.nets.errors import AdapterError

CLAIMS = ("training", "robustness", "lipschitz", "agreement", "rademacher")

#: the attack radii of each data set (linf, l2), in the inputs' own units. CIFAR-10: the
#: field's standard 8/255 and 0.5. The 8 x 8 digits (pixels in [0, 1], 17 grey levels): linf
#: 0.1, 1.6 grey levels, and l2 0.5, MNIST's customary l2 1.5 scaled by sqrt(64 / 784) and
#: rounded up. MNIST-1D (unbounded signals, per-coordinate standard deviation 1.0): linf 0.1
#: and l2 0.5, a tenth of a coordinate's spread and ~8% of a signal's l2 norm (6.3).
RADII = {"mnist1d": (0.1, 0.5), "digits-img": (0.1, 0.5), "cifar10": (8 / 255, 0.5),
         "image-folder": (8 / 255, 0.5)}

#: smallest effects of interest: 1 accuracy point (training method), 2 points of robust
#: accuracy, 10% of the plain network's mean input-gradient norm (Lipschitz)
DELTA_TRAINING = 0.01
DELTA_ROBUST = 0.02
DELTA_LIPSCHITZ = 0.10


@dataclass(frozen=True)
class Setting:
    """One technique at one strength: a row of every verdict."""

    technique: str
    strength: float = 0.0

    @property
    def label(self) -> str:
        from validation.nets.techniques import TECHNIQUES

        if self.technique == "plain":
            return "plain"
        return f"{self.technique} {TECHNIQUES[self.technique].parameter}={self.strength:g}"


def parse_techniques(text: str, sigmas=()) -> tuple[Setting, ...]:
    """'enresnet,dropout=0.2' -> settings (each strength its default when not given), after the
    paper's method at every sigma > 0; plain (sigma = 0) is always the first, the baseline."""
    from validation.nets.techniques import TECHNIQUES, check_strength

    out = [Setting("plain")]
    for s in sigmas:
        if s > 0:
            out.append(Setting("paper", float(s)))
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if name not in TECHNIQUES:
            raise AdapterError(f"--techniques: unknown technique {name!r}; valid: "
                               f"{', '.join(TECHNIQUES)}")
        try:
            strength = float(value) if value else TECHNIQUES[name].default
        except ValueError:
            raise AdapterError(f"--techniques {part!r}: {value!r} is not a number") from None
        check_strength(name, strength)
        if name != "plain":
            out.append(Setting(name, strength))
    labels = [s.label for s in out]
    if len(set(labels)) != len(labels):
        raise AdapterError(f"--techniques/--sigmas give a setting twice: {labels}")
    return tuple(out)


@dataclass(frozen=True, kw_only=True)
class CheckConfig:
    """Everything that determines a check's numbers (see docs/claims.md for the designs)."""

    model: str = "resnet1d"  # a built-in factory name or FILE.py:FACTORY / module:FACTORY
    stage: str | None = None  # the residual stage of a user's model
    data: str = "mnist1d"
    settings: tuple[Setting, ...] = (Setting("plain"), Setting("paper", 0.1),
                                     Setting("paper", 0.3), Setting("enresnet", 0.1),
                                     Setting("dropout", 0.1))
    seeds: int = 10
    claims: tuple[str, ...] = CLAIMS
    blocks: int = 4
    width: int = 32
    t_end: float = 1.0
    epochs: int = 20
    lr: float = 1e-2
    batch_size: int = 64
    weight_decay: float = 5e-4
    augment: str | None = None  # None: the data's usual (crop-flip for CIFAR-10, else none)
    passes: int = 16  # passes the deployed predictor averages
    attack_points: int = 200
    attack_passes: int = 8  # common draws of the attacked expected predictor
    pgd_steps: int = 20
    square_iters: int = 200
    apgd_steps: int = 50  # Auto-PGD iterations of the library attacks
    library: bool = True  # the maintained attack library (ART) in the AND, where installed
    certify_points: int = 100  # points certified by randomized smoothing (0: none)
    certify_n0: int = 100
    certify_n: int = 1000  # largest certifiable radius 2.46 s at alpha 0.001 (certify.N)
    certify_alpha: float = 0.001
    smoothing_sigma: float | None = None  # None: eps_l2 / 2 (so 2.46 s covers eps_l2)
    eps_linf: float | None = None  # None: RADII of the data
    eps_l2: float | None = None
    lipschitz_points: int = 200
    fk_points: int = 16
    fk_draws: int = 128
    #: the agreement's levels: counts (1 first) or "auto" (feynman_kac.auto_substeps)
    substeps: tuple[int, ...] | str = "auto"
    device: str = "cpu"
    #: processes for the networks (not part of a network's cache key: every network trains
    #: and is measured on one torch thread wherever it runs, so the numbers do not depend on it)
    workers: int = 1

    def __post_init__(self) -> None:
        if ":" in self.model and not self.stage:
            raise AdapterError(f"model {self.model}: a user's model needs its stage (--stage; "
                               "stage = in a sweep's [check]), the dotted path of its residual "
                               "stage, e.g. layer1")
        if ":" not in self.model and self.stage:
            raise AdapterError(f"stage {self.stage}: the built-in {self.model} has its own "
                               "stage; a stage names a user's model's (FILE.py:FACTORY)")
        if not self.settings or self.settings[0] != Setting("plain"):
            raise AdapterError("the first setting must be plain (sigma = 0), the baseline")
        for name in ("seeds", "blocks", "width", "epochs", "passes", "attack_points",
                     "attack_passes", "pgd_steps", "square_iters", "apgd_steps",
                     "lipschitz_points", "fk_points", "fk_draws", "certify_n0", "certify_n",
                     "workers"):
            if int(getattr(self, name)) < 1:
                raise AdapterError(f"{name} = {getattr(self, name)}; must be >= 1")
        bad = [c for c in self.claims if c not in CLAIMS]
        if bad:
            raise AdapterError(f"--claims: unknown claim {bad[0]!r}; valid: {', '.join(CLAIMS)}")
        if int(self.certify_points) < 0:
            raise AdapterError(f"certify_points = {self.certify_points}; must be >= 0")
        if not 0 < self.certify_alpha < 0.5:
            raise AdapterError(f"certify_alpha = {self.certify_alpha}; must be in (0, 0.5)")
        if self.smoothing_sigma is not None and not (
                self.smoothing_sigma > 0 and math.isfinite(self.smoothing_sigma)):
            raise AdapterError(f"smoothing_sigma = {self.smoothing_sigma}; must be a finite "
                               "number > 0")
        if not (self.t_end > 0 and math.isfinite(self.t_end)):
            raise AdapterError(f"t_end = {self.t_end}; T must be a positive finite number")
        from validation.stats.fit import substeps_problem

        if problem := substeps_problem(self.substeps):
            raise AdapterError(f"substeps = {self.substeps}: {problem}")

    @property
    def radii(self) -> tuple[float, float]:
        """(linf, l2) attack radii: the options where given, else the data set's RADII."""
        lin, l2 = RADII.get(self.data.split(":", 1)[0], RADII["cifar10"])
        return (self.eps_linf if self.eps_linf is not None else lin,
                self.eps_l2 if self.eps_l2 is not None else l2)

    @property
    def smoothing(self) -> float:
        """The input noise s of randomized smoothing: the option, else eps_l2 / 2."""
        return self.smoothing_sigma if self.smoothing_sigma is not None else self.radii[1] / 2

    @property
    def augmentation(self) -> str:
        if self.augment is not None:
            return self.augment
        return "crop-flip" if self.data.startswith("cifar10") else "none"

    def as_dict(self) -> dict:
        d = asdict(self)
        d["settings"] = [s.label for s in self.settings]
        return d
