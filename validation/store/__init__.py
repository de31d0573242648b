"""The bottom floor of validation/: atomic output with provenance (io), resumable and
self-healing cache entries (cache), claims shared by concurrent runs (locks) and worker
processes (workers). Imports no network, statistic or study."""

from .cache import cached_json, config_key, lock_path, stage
from .io import (
    NON_FINITE,
    atomic_write_bytes,
    atomic_write_text,
    dumps,
    loads,
    package_versions,
    save_figure,
    write_json,
)
from .locks import claim, clean_stale, say
from .workers import map_jobs

__all__ = [
    "NON_FINITE",
    "atomic_write_bytes",
    "atomic_write_text",
    "cached_json",
    "claim",
    "clean_stale",
    "config_key",
    "dumps",
    "loads",
    "lock_path",
    "map_jobs",
    "package_versions",
    "save_figure",
    "say",
    "stage",
    "write_json",
]
