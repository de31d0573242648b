"""The bottom floor of validation/: atomic output with provenance (io), resumable and
self-healing cache entries (cache) under seals (seal), claims shared by concurrent runs (locks),
worker processes (workers), lazy package exports (lazy) and the memory available
(machine). Imports no network, statistic or study."""

from .cache import (
    ReadOnlyCache,
    cached_json,
    config_key,
    lock_path,
    stage,
    stage_folder,
    writable,
)
from .io import (
    NON_FINITE,
    atomic_write_bytes,
    atomic_write_text,
    copy_file,
    dumps,
    loads,
    package_versions,
    save_figure,
    with_provenance,
    write_json,
)
from .lazy import lazy_exports
from .locks import claim, clean_stale, say
from .machine import available_memory
from .seal import file_sha256, seal_problem, sealed, write_sealed_json
from .workers import interrupt_behind, map_jobs, map_jobs_beside, shared_pool, submit

__all__ = [
    "NON_FINITE",
    "ReadOnlyCache",
    "atomic_write_bytes",
    "atomic_write_text",
    "available_memory",
    "cached_json",
    "claim",
    "clean_stale",
    "config_key",
    "copy_file",
    "dumps",
    "file_sha256",
    "interrupt_behind",
    "lazy_exports",
    "loads",
    "lock_path",
    "map_jobs",
    "map_jobs_beside",
    "package_versions",
    "save_figure",
    "say",
    "seal_problem",
    "sealed",
    "shared_pool",
    "stage",
    "stage_folder",
    "submit",
    "with_provenance",
    "writable",
    "write_json",
    "write_sealed_json",
]
