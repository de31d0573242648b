"""The registry of studies: each claim of the report is decided by one registered study.

A study declares its config (a frozen dataclass that validates itself), runs from it
(``run(config, folder, models) -> result``, a JSON-able dict, with its files in ``folder``),
states its claims from the results of its stages (``claims``) and builds the report section of
each stage (``section``, the document model of validation.doc). The report and the sweep
iterate over :data:`REGISTRY` in registration order (studies/__init__.py) instead of naming
studies by hand, the way numerics/schemes.py registers schemes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from validation.doc import Section

#: the statuses a claim can take (docs/claims.md gives the rule of each claim)
STATUSES = ("holds", "fails", "refuted at delta", "inconclusive")


@dataclass(frozen=True)
class Claim:
    """One row of the claims table. ``flags``: the sanity checks of its evidence that failed
    (named in the row; see each study's rule for how they bear on the status)."""

    claim: str
    status: str
    section: str
    evidence: str
    flags: tuple[str, ...] = ()

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"claim {self.claim!r}: status {self.status!r} is not one of "
                             f"{', '.join(STATUSES)}")

    def row(self) -> dict:
        """The claims-table row as a dict (results.json)."""
        out = {"claim": self.claim, "status": self.status, "section": self.section,
               "evidence": self.evidence}
        return out | ({"flags": list(self.flags)} if self.flags else {})


def flagged(claim: str, status: str, section: str, evidence: str,
            failed: dict[str, str] | None) -> Claim:
    """A claim whose evidence carries sanity flags: the failed ones (flag -> 'k/n runs') are
    named in the row, and a status that would decide for or against the claim on that evidence
    (holds, refuted at delta) reads inconclusive instead; fails stays fails (every failure the
    flags catch, masking among them, inflates the noisy networks' numbers, so it biases
    towards holds, not against)."""
    failed = dict(failed or {})
    if not failed:
        return Claim(claim, status, section, evidence)
    names = tuple(f"{k} ({v})" for k, v in failed.items())
    if status in ("holds", "refuted at delta"):
        evidence = (f"{status} on these numbers, but their sanity flags failed, so the "
                    f"evidence cannot decide; {evidence}")
        status = "inconclusive"
    return Claim(claim, status, section, evidence, names)


def linear_caveat(rows) -> str:
    """The claim row's caveat where trained models missed their anchor (rows with
    ``beats_linear`` False: no better than logistic regression on the same split by the
    margin), so that the claims table says what the section says; '' where none did."""
    rated = [r for r in rows if "beats_linear" in r]
    weak = [r for r in rated if r["beats_linear"] is False]
    if not weak:
        return ""
    return (f"; {len(weak)} of {len(rated)} models are (nearly) linear classifiers: they do not "
            "beat logistic regression on the same split by "
            f"{weak[0].get('linear_margin', 0.02):g} test accuracy")


class Study(ABC):
    """A registered study (see the module docstring)."""

    name: ClassVar[str]  # registry key; the report's stage names start with it
    title: ClassVar[str]  # the report section's title
    config: ClassVar[type]  # the frozen dataclass of its settings
    version: ClassVar[int] = 1  # bump when the study's code changes what it computes
    #: the keys of this study's table in a sweep TOML and their defaults (the type of each
    #: default is the type a value must have); None: the study has no sweep job
    sweep_defaults: ClassVar[dict[str, Any] | None] = None
    #: the metric of a job's result that the sweep's figure plots against sigma
    sweep_headline: ClassVar[str | None] = None
    #: whether this study's sweep jobs decide a claim against sigma = 0 (the sweep then needs
    #: sigma 0 among its values)
    sweep_decides: ClassVar[bool] = False
    #: whether the report may run this study's stages on its side lane, a worker process
    #: beside the main stages (report.build): one stage on one core, without worker jobs of
    #: its own (a model it shares with another stage is claimed through the cache: one
    #: trains it, the other waits for it and loads it)
    side_lane: ClassVar[bool] = False

    def stage(self, config, index: int = 0) -> str:
        """The report stage (and cache entry) name of a config of this study, the ``index``-th
        of the profile's configs of it."""
        return self.name if index == 0 else f"{self.name}-{index}"

    @abstractmethod
    def run(self, config, folder: Path, models: Path) -> dict:
        """Compute the result (JSON-able), writing its files into ``folder``; trained models
        are cached under ``models``."""

    @abstractmethod
    def claims(self, stages: Mapping[str, dict], results: Mapping[str, dict]) -> list[Claim]:
        """The claims-table rows from this study's stages (stage name -> result, in the
        profile's order; ``results``: every stage's result of the same report, for a claim
        whose evidence another study measured)."""

    @abstractmethod
    def section(self, result: dict, stage: str, results: Mapping[str, dict]) -> Section:
        """The report section of one stage's result; figure paths are relative to the report
        folder, where the stage's files are copied under ``<stage>/``."""

    def sweep_job(self, job: dict, root: Path) -> dict:
        """One sweep job (kind, data, sigma, seed, blocks, epochs, params: this study's table
        without delta), run with its models cached under ``root / "models"``; a JSON-able
        dict of metrics (and the study's ``row`` where a verdict needs it)."""
        raise NotImplementedError(f"study {self.name!r} has no sweep job")

    def sweep_data(self, data: str) -> bool:
        """Whether this study's sweep jobs run on data set ``data``: the 2-D flows' sets and
        digits (nets.data.NAMES) by default."""
        from validation.nets.data import NAMES

        return data in NAMES

    def sweep_check(self, job: dict) -> None:
        """Refuse (ValueError) a job whose settings this study's own config refuses, before
        any job runs; the default accepts (a study whose sweep job builds no config)."""
        return None

    def sweep_verdicts(self, rows: list[dict], sigmas: list[float], params: dict,
                       delta: float) -> dict:
        """The paired verdicts of one (data, blocks) group of this study's jobs, from their
        ``row``s; {} when the study's jobs decide no claim."""
        return {}


class SigmaSweepStudy(Study):
    """A study whose config is a sigma sweep on one data set: the profile's first config is the
    stage ``NAME``, the others ``NAME-DATA``; claims on the others name their data set."""

    def stage(self, config, index: int = 0) -> str:
        return self.name if index == 0 else f"{self.name}-{config.data}"

    def where(self, stage: str, result: dict) -> str:
        """'' for the profile's own data set, ' (DATA)' for another."""
        return "" if stage == self.name else f" ({result['data']})"


#: the order in which the report shows the studies (a study not named here comes after them,
#: in the order registered)
ORDER = ("derivation", "flows", "agreement", "robustness", "rademacher", "lipschitz", "depth",
         "graph", "check", "inspect")

REGISTRY: dict[str, Study] = {}


def register(cls: type[Study]) -> type[Study]:
    """Class decorator: add one instance of the study to the registry (once per name)."""
    for attr in ("name", "title", "config"):
        if not hasattr(cls, attr):
            raise TypeError(f"study {cls.__name__} declares no {attr}")
    if cls.name in REGISTRY:
        raise ValueError(f"a study named {cls.name!r} is registered already")
    REGISTRY[cls.name] = cls()
    rank = {n: i for i, n in enumerate(ORDER)}
    ordered = sorted(REGISTRY.items(), key=lambda kv: rank.get(kv[0], len(ORDER)))
    REGISTRY.clear()
    REGISTRY.update(ordered)  # sorted is stable: unnamed studies keep their order
    return cls


def study(name: str) -> Study:
    """The registered study ``name`` (ValueError listing the registered ones)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"no study named {name!r}; registered: {', '.join(REGISTRY)}") \
            from None


def config_from_mapping(cls: type, values: Mapping[str, Any], where: str):
    """``cls(**values)`` for a config dataclass, refusing an unknown key with the valid ones
    and turning a bad value's TypeError/ValueError into one line naming ``where``."""
    from dataclasses import fields

    valid = [f.name for f in fields(cls) if f.init]
    unknown = [k for k in values if k not in valid]
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; valid: "
                         f"{', '.join(valid)}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None
