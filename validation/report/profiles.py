"""The report's profiles: frozen dataclasses composed of each study's own config (the classes
the command line and the sweep build), validated when constructed.

A profile names, for every registered study, the configs it runs (one stage each); a field
that names no registered study, or a config of the wrong class, is refused when the profile is
built, before any work. The study configs validate their own values.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, replace

from validation.nets.train import data_overrides
from validation.studies import REGISTRY, Study
from validation.studies.agreement import AgreementConfig
from validation.studies.check import CheckConfig, Setting
from validation.studies.depth import DepthStudy
from validation.studies.derivation import DerivationConfig
from validation.studies.flows import FlowsConfig
from validation.studies.graph import GraphStudy
from validation.studies.inspect import InspectConfig
from validation.studies.lipschitz import LipschitzConfig
from validation.studies.rademacher import RademacherSweep
from validation.studies.robustness import RobustnessSweep


@dataclass(frozen=True, kw_only=True)
class Profile:
    """What one ``cdverify report --profile NAME`` runs: per study, the configs of its
    stages (a tuple; empty: the study is not run). ``data``: the profile's own data set, which
    ``--data`` replaces in every config that uses it."""

    name: str
    description: str
    data: str = "moons"
    derivation: tuple[DerivationConfig, ...] = (DerivationConfig(),)
    flows: tuple[FlowsConfig, ...] = (FlowsConfig(),)
    agreement: tuple[AgreementConfig, ...] = ()
    robustness: tuple[RobustnessSweep, ...] = ()
    rademacher: tuple[RademacherSweep, ...] = ()
    lipschitz: tuple[LipschitzConfig, ...] = (LipschitzConfig(),)
    depth: tuple[DepthStudy, ...] = ()
    graph: tuple[GraphStudy, ...] = ()
    check: tuple[CheckConfig, ...] = ()
    inspect: tuple[InspectConfig, ...] = ()

    def __post_init__(self):
        studies = {f.name for f in fields(self)} - {"name", "description", "data"}
        missing = [n for n in studies if n not in REGISTRY]
        if missing:
            raise ValueError(f"profile {self.name!r}: {', '.join(missing)} name(s) no "
                             f"registered study; registered: {', '.join(REGISTRY)}")
        for n in studies:
            configs = getattr(self, n)
            if not isinstance(configs, tuple):
                raise ValueError(f"profile {self.name!r}: {n} must be a tuple of "
                                 f"{REGISTRY[n].config.__name__}")
            bad = [c for c in configs if not isinstance(c, REGISTRY[n].config)]
            if bad:
                raise ValueError(f"profile {self.name!r}: {n} holds a "
                                 f"{type(bad[0]).__name__}; give {REGISTRY[n].config.__name__}")
        stages = [s for _, _, s in self.stages()]
        if len(set(stages)) != len(stages):
            raise ValueError(f"profile {self.name!r}: two configs share a stage name "
                             f"({sorted(s for s in stages if stages.count(s) > 1)[0]})")

    def stages(self) -> Iterator[tuple[Study, object, str]]:
        """(study, config, stage name) in the registry's order."""
        for study in REGISTRY.values():
            for i, config in enumerate(getattr(self, study.name, ())):
                yield study, config, study.stage(config, i)

    def on_data(self, data: str) -> Profile:
        """The same profile with ``data`` wherever it runs its own data set (configs on
        another data set, such as the full profile's digits stages, are kept)."""
        if data == self.data:
            return self

        def swap(c):
            if isinstance(c, AgreementConfig):
                return replace(c, train=replace(c.train, data=data)) \
                    if c.train.data == self.data else c
            return replace(c, data=data) if getattr(c, "data", None) == self.data else c

        return replace(self, data=data, **{s.name: tuple(swap(c) for c in
                                                          getattr(self, s.name, ()))
                                           for s in REGISTRY.values() if hasattr(self, s.name)})

    def on_device(self, device: str) -> Profile:
        """The same profile training on ``device`` (the configs that train)."""
        if device == "cpu":
            return self

        def swap(c):
            if isinstance(c, AgreementConfig):
                return replace(c, train=replace(c.train, device=device))
            return replace(c, device=device) if hasattr(c, "device") else c

        return replace(self, **{s.name: tuple(swap(c) for c in getattr(self, s.name, ()))
                                for s in REGISTRY.values() if hasattr(self, s.name)})


def _with_data(cls, data: str, **kw):
    """``cls`` on ``data`` with the data set's own training settings (train.DATA_OVERRIDES),
    the keywords given here taking precedence over them."""
    return cls(data=data, **{**data_overrides(data), **kw})


# the per-model search sizes of the quick and full robustness studies (smaller than
# RobustnessSweep's defaults: the quick budget; the full profile adds seeds instead)
_SEARCH = {"exhaustive_per_axis": 11, "expected_draws": 16, "random_samples": 50,
           "confirm_draws": 128, "certify_points": 10}

PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile(
        name="smoke",
        description="a pipeline check whose verdicts carry no weight (about 30-40 s)",
        agreement=(AgreementConfig.of("moons", 0.3, epochs=8, grid=40, test_points=30),),
        robustness=(RobustnessSweep(data="moons", sigmas=(0.0, 0.3), seeds=2, epochs=8,
                                    eps_linf=(0.0, 0.1, 0.6), eps_l2=(0.0, 0.15, 0.9),
                                    points=15, K=4, steps=5, square_iters=20),),
        rademacher=(RademacherSweep(data="moons", sigmas=(0.0, 0.3), seeds=2, epochs=8,
                                    points=40, draws=4, steps=10, noise_samples=2,
                                    doublings=1),),
        graph=(GraphStudy(data=("moons",), seeds=3, epochs=40, tau_seeds=2,
                          limit_ns=(200, 400, 800, 1600), identify_ns=(400, 800, 1600, 3200),
                          reps=2, hub_nodes=300),),
        depth=(DepthStudy(data="moons", blocks=(2, 4, 8), epochs=5, test_points=20,
                          samples=256, grid=48),),
        # the conv-ResNet sections' pipeline, on the 8 x 8 digit images
        check=(CheckConfig(model="resnet2d", data="digits-img", settings=(
            Setting("plain"), Setting("paper", 0.3)), seeds=2, epochs=1, blocks=2, width=4,
            passes=2, claims=("training",)),),
        inspect=(InspectConfig(model="resnet2d", data="digits-img", blocks=2, width=4,
                               epochs=1, technique="paper", strength=0.3, points=16, passes=2,
                               jacobian_points=1, agreement_draws=16, agreement_points=4),)),
    Profile(
        name="quick",
        description="the default, 10 paired seeds (2 to 4 min, by the machine)",
        # r = 16 sub-steps fall below the PDE's own error (not fitted) and cost 12 s
        agreement=(AgreementConfig.of("moons", 0.3, epochs=100, grid=128, test_points=80,
                                      substeps=(1, 2, 4, 8)),),
        robustness=(RobustnessSweep(data="moons", sigmas=(0.0, 0.3), seeds=10, epochs=100,
                                    eps_linf=(0.0, 0.05, 0.1, 0.2, 0.4),
                                    eps_l2=(0.0, 0.07, 0.14, 0.28, 0.56), points=30, K=16,
                                    steps=10, workers=2, **_SEARCH),),
        rademacher=(RademacherSweep(data="moons", sigmas=(0.0, 0.3), seeds=10, epochs=100,
                                    points=100, draws=12, steps=40, noise_samples=4,
                                    doublings=1, workers=2),),
        graph=(GraphStudy(data=("moons", "digits"), seeds=10, epochs=100, tau_seeds=2, reps=2,
                          workers=2),)),
    Profile(
        name="full",
        description="30 paired seeds over four sigmas, digits sweeps, the depth study, exact "
                    "solutions (46-55 min), and the claims on trained conv ResNets on "
                    "MNIST-1D (about 20 min more: 40 networks on 2 workers)",
        derivation=(DerivationConfig(exact=True),),
        agreement=tuple(AgreementConfig.of(d, s, epochs=150, grid=128, test_points=100)
                        for d in ("moons", "digits") for s in (0.0, 0.3)),
        robustness=(
            RobustnessSweep(data="moons", sigmas=(0.0, 0.1, 0.3, 0.5), seeds=30, epochs=150,
                            eps_linf=(0.0, 0.02, 0.05, 0.1, 0.2, 0.4),
                            eps_l2=(0.0, 0.03, 0.07, 0.14, 0.28, 0.56), points=60, K=32,
                            steps=15, workers=2, **_SEARCH),
            # digits (64-D input): its own verdicts, with its training settings; l2 up to 2.0:
            # at 0.56 the 64-D attacks still leave 0.13-0.15 robust
            _with_data(RobustnessSweep, "digits", sigmas=(0.0, 0.3), seeds=10,
                       eps_linf=(0.0, 0.02, 0.05, 0.1, 0.2, 0.4),
                       eps_l2=(0.0, 0.03, 0.07, 0.14, 0.28, 0.56, 2.0), points=40, K=32,
                       steps=15, workers=2, **_SEARCH)),
        rademacher=(
            RademacherSweep(data="moons", sigmas=(0.0, 0.1, 0.3, 0.5), seeds=30, epochs=150,
                            points=100, draws=16, steps=60, noise_samples=4, workers=2),
            _with_data(RademacherSweep, "digits", sigmas=(0.0, 0.3), seeds=10, points=100,
                       draws=16, steps=60, noise_samples=4, workers=2)),
        graph=(GraphStudy(seeds=30, tau_seeds=10, limit_ns=(500, 1000, 2000, 4000, 8000),
                          reps=4, workers=2),),
        depth=(DepthStudy(data="moons", seeds=2), DepthStudy(data="digits", seeds=2)),
        # the MNIST-1D check of the closing notes (10 paired seeds, 40 networks, 18 min on 2
        # cores) and the flow of its plain and sigma = 0.3 networks (seed 0)
        check=(CheckConfig(data="mnist1d", settings=(
            Setting("plain"), Setting("paper", 0.1), Setting("paper", 0.3),
            Setting("dropout", 0.1)), seeds=10, attack_points=100,
            claims=("training", "robustness", "lipschitz", "agreement", "rademacher"),
            workers=2),),
        inspect=(InspectConfig(), InspectConfig(technique="paper", strength=0.3))),
)}

#: the --profile help line; the times are measured from a cold cache on 2 CPU cores (README
#: "Timings"; keep them in step)
PROFILE_HELP = "; ".join(f"{p.name}: {p.description}" for p in PROFILES.values()) + \
    ". A rerun on a warm cache takes 2-3 s"


def profile(name: str) -> Profile:
    """The profile ``name`` (ValueError listing the valid ones)."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}") from None
