"""Plumbing of the experiments: atomic output with provenance (io), resumable and self-healing
caches shared by concurrent runs (cache, locks), the report builder (report) and TOML sweeps
(sweep). Nothing here computes a result of the theory."""

from .cache import cached_json, cached_model, config_key, stage
from .io import atomic_write_bytes, atomic_write_text, package_versions, save_figure, write_json
from .locks import claim, clean_stale

__all__ = ["atomic_write_bytes", "atomic_write_text", "cached_json", "cached_model", "claim",
           "clean_stale", "config_key", "package_versions", "save_figure", "stage", "write_json"]
