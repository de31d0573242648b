"""Idempotent, resumable stages: results keyed by the hash of their config, written atomically."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .io import atomic_write_text


def config_key(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cached_json(root: str | Path, stage: str, config: dict, compute: Callable[[], Any]) -> Any:
    """Return the stored result of (stage, config) or compute, store atomically and return it."""
    path = Path(root) / "cache" / f"{stage}-{config_key(config)}.json"
    if path.exists():
        return json.loads(path.read_text())["result"]
    result = compute()
    atomic_write_text(path, json.dumps({"stage": stage, "config": config, "result": result},
                                       default=str))
    return result


def cached_model(root: str | Path, cfg, data=None, progress: bool = True):
    """Train ``cfg`` once; later calls load the stored model (same numbers, no retraining)."""
    from dataclasses import asdict

    from .train import load_model, train

    folder = Path(root) / "cache" / f"model-{config_key(asdict(cfg))}"
    if (folder / "train.json").exists():  # written after model.pt: the model is complete
        model, _ = load_model(folder / "model.pt", cfg.device)
        hist = json.loads((folder / "train.json").read_text())["history"]
        return model, hist
    return train(cfg, data, out=folder, progress=progress)
