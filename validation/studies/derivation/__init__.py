"""The symbolic derivation and the technique catalogue (theory.report) as a study of the
report."""

from .stage import DerivationConfig, DerivationStudy

__all__ = ["DerivationConfig", "DerivationStudy"]
