"""Seals: the SHA-256 that a cache document carries of its own content and of the files it was
computed from, so that an entry edited by hand (a number, a verdict, a model's weights) is found
and recomputed instead of being read back as measured.

A seal is a checksum against edits and bit rot, not a signature: whoever recomputes it is
trusted. The digest is taken over a canonical form (strict JSON with sorted keys, after one
round trip, so that tuples, integer keys and non-finite numbers read back the same).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .io import atomic_write_text, dumps, loads, with_provenance

#: the key under which a sealed document holds its digest
SEAL = "_sha256"
#: the key under which it holds the digests of the files it used
USES = "_uses"


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def content_digest(doc: dict) -> str:
    """SHA-256 of the canonical JSON of ``doc`` without its seal."""
    body = {k: v for k, v in doc.items() if k != SEAL}
    canonical = dumps(loads(dumps(body)), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def sealed(doc: dict, uses: dict[str, str | os.PathLike] | None = None) -> dict:
    """``doc`` with the digests of the files in ``uses`` (name -> path) and its own seal."""
    out = dict(doc)
    if uses:
        out[USES] = {name: {"path": str(p), "sha256": file_sha256(p)}
                     for name, p in uses.items()}
    out[SEAL] = content_digest(out)
    return out


def seal_problem(doc) -> str | None:
    """Why a document read back from a cache may not be used (None when it may): no seal, a
    seal that does not match its content, or a used file that is gone or changed."""
    if not isinstance(doc, dict) or SEAL not in doc:
        return "carries no seal (written by an older cdverify, or replaced by hand)"
    if doc[SEAL] != content_digest(doc):
        return "differs from its seal (edited after it was written)"
    for name, used in doc.get(USES, {}).items():
        p = Path(used["path"])
        if not p.is_file():
            return f"was computed from {name} {p}, which is gone"
        if file_sha256(p) != used["sha256"]:
            return f"was computed from {name} {p}, which has changed since"
    return None


def write_sealed_json(path: str | os.PathLike, payload: dict, *, config: dict | None = None,
                      seed: int | str | None = None,
                      uses: dict[str, str | os.PathLike] | None = None) -> Path:
    """io.write_json's document (config, seed, versions), sealed with the files it used."""
    doc = sealed(with_provenance(payload, config=config, seed=seed), uses)
    return atomic_write_text(path, dumps(doc, indent=2))
