"""Idempotent, resumable and self-healing cache entries, keyed by the hash of their config.

Two kinds: a JSON result (:func:`cached_json`) and a stage folder of files (:func:`stage`);
trained models build on the same claims (nets.cached). Each is built under a claim
(locks.claim), so concurrent runs on one cache compute it once; each is written atomically (a
temporary name, then a rename), so an interrupted run leaves nothing that looks complete. An
entry whose files do not load (unparsable JSON, an unloadable model, a file whose SHA-256
differs from the stage's manifest) or whose result differs from its seal (store.seal: an edited
number or verdict, a changed model it was computed from) is reported with its path, removed and
recomputed.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .io import atomic_write_text, dumps, loads, takes_a_file
from .locks import claim, say, tmp_tag
from .seal import file_sha256, seal_problem, sealed


class ReadOnlyCache(OSError):
    """An entry a run needs is missing from a cache it cannot write to (a read-only mount of a
    warm cache: complete entries are read from it, missing ones cannot be computed there)."""


def writable(folder: Path, what: str) -> None:
    """Raise :class:`ReadOnlyCache` naming ``what`` when nothing can be written in ``folder``
    (the nearest existing one of it and its parents)."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    why = takes_a_file(probe)
    if why is not None:
        raise ReadOnlyCache(errno.EROFS, f"the cache does not hold {what} and {why}; rerun "
                            "with a writable --cache (the complete entries of this one are "
                            "read)", str(folder))


def config_key(config: dict) -> str:
    """16 hex digits of the SHA-256 of the config's canonical JSON."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _read_json(path: Path) -> dict | None:
    """The JSON document at ``path``; None if absent; None (reported, file removed) if it does
    not parse."""
    try:
        return loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        say(f"cache: {path} does not load ({type(exc).__name__}: {exc}); recomputing")
        path.unlink(missing_ok=True)
        return None


def lock_path(path: Path) -> Path:
    """The claim file of a cache entry."""
    return path.with_name(path.name + ".lock")


def _problem(doc: dict) -> str | None:
    """Why a parsed cache document may not be used (None when it may)."""
    return seal_problem(doc) if "result" in doc else "holds no result"


def _usable(path: Path, doc: dict | None) -> bool:
    """Whether a cached JSON document read back may be used; a broken seal is reported and the
    file removed."""
    if doc is None:
        return False
    problem = _problem(doc)
    if problem is not None:
        say(f"cache: {path} {problem}; recomputing it")
        path.unlink(missing_ok=True)
        return False
    return True


def cached_json(root: str | Path, stage: str, config: dict, compute: Callable[[], Any], *,
                uses: Mapping[str, str | os.PathLike] | None = None) -> Any:
    """Return the stored result of (stage, config) or compute, store atomically and return it.

    ``uses``: the files the result is computed from (name -> path, a trained model): their
    SHA-256 are sealed with it, and a stored result whose files have changed is recomputed."""
    path = Path(root) / "cache" / f"{stage}-{config_key(config)}.json"
    doc = _read_json(path)
    if _usable(path, doc):
        return doc["result"]
    writable(path.parent, f"the result {path.name}")
    with claim(lock_path(path), path.exists, f"{stage} {config_key(config)}"):
        doc = _read_json(path)  # another run may have stored it while this one waited
        if _usable(path, doc):
            return doc["result"]
        result = compute()
        atomic_write_text(path, dumps(sealed({"stage": stage, "config": config,
                                              "result": result}, dict(uses or {}))))
    return result


def _manifest(folder: Path) -> dict[str, str]:
    return {str(f.relative_to(folder)): file_sha256(f) for f in sorted(folder.rglob("*"))
            if f.is_file() and f.name != "result.json"}


def _load_stage(folder: Path) -> dict | None:
    """The result of a complete stage folder; None if absent; None (reported, folder removed)
    if result.json does not parse or a file differs from the manifest."""
    done = folder / "result.json"
    if not done.exists():
        return None
    doc = _read_json(done)
    bad = None
    problem = None if doc is None else _problem(doc)
    if doc is None or problem is not None:  # _read_json has said why a file does not parse
        bad = "result.json"
        if problem is not None:
            say(f"cache: {done} {problem}; recomputing the stage {folder.name}")
    else:
        for rel, digest in doc.get("files", {}).items():
            f = folder / rel
            if not f.is_file() or file_sha256(f) != digest:
                bad = rel
                say(f"cache: {f} is missing or differs from the stage's manifest; recomputing "
                    f"the stage {folder.name}")
                break
    if bad is not None:
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return doc["result"]


def stage_folder(cache: Path, name: str, config: dict) -> Path:
    """The folder of stage ``name`` with ``config`` in ``cache`` (complete once it holds
    result.json)."""
    return Path(cache) / f"{name}-{config_key(config)}"


def stage(cache: Path, name: str, config: dict,
          compute: Callable[[Path], dict]) -> tuple[dict, Path, bool]:
    """Run ``compute(folder)`` once per (name, config), across runs and concurrent processes.

    Returns (result, folder, computed): ``computed`` is False when the result was reused. The
    folder is built under a temporary name and renamed when complete, with a manifest of its
    files' SHA-256 in result.json, itself sealed (store.seal); on an exception (Ctrl-C
    included) the temporary folder is removed."""
    cache = Path(cache)
    folder = stage_folder(cache, name, config)
    found = _load_stage(folder)
    if found is not None:
        return found, folder, False
    writable(cache, f"the complete stage {folder.name}")
    with claim(lock_path(folder), (folder / "result.json").exists, f"stage {name}"):
        found = _load_stage(folder)  # another run may have completed it while this one waited
        if found is not None:
            return found, folder, False
        tmp = cache / f".{folder.name}.tmp-{tmp_tag()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            t0 = time.perf_counter()
            result = compute(tmp)
            result["stage_wall_s"] = time.perf_counter() - t0
            atomic_write_text(tmp / "result.json", dumps(sealed(
                {"stage": name, "config": config, "result": result, "files": _manifest(tmp)})))
            shutil.rmtree(folder, ignore_errors=True)
            tmp.rename(folder)  # the stage appears complete or not at all
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    if os.environ.get("CDVERIFY_STOP_AFTER") == name:  # tests: an interrupt after a stage
        raise KeyboardInterrupt(f"stopped after stage {name} (CDVERIFY_STOP_AFTER)")
    return result, folder, True
