"""Trained models in the cache: train a config once, and let later and concurrent runs load it
(store.cache's claims and atomic writes; a model folder that does not load is retrained)."""

from __future__ import annotations

import shutil
from pathlib import Path

from validation.store.cache import config_key, lock_path
from validation.store.io import loads
from validation.store.locks import claim, say


def _load_trained(folder: Path, device: str):
    """(model, history) from a complete model folder; None (reported, folder removed) if a
    file does not load."""
    from .train import load_model

    try:
        hist = loads((folder / "train.json").read_text())["history"]
        model, _ = load_model(folder / "model.pt", device)
    except FileNotFoundError:
        return None
    except Exception as exc:  # any unloadable file means: retrain
        say(f"cache: the model in {folder} does not load ({type(exc).__name__}: "
            f"{str(exc)[:200]}); retraining")
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return model, hist


def cached_model(root: str | Path, cfg, data=None, progress: bool = True):
    """Train ``cfg`` once; later calls (and concurrent runs) load the stored model."""
    from dataclasses import asdict

    from .train import train

    folder = Path(root) / "cache" / f"model-{config_key(asdict(cfg))}"
    done = folder / "train.json"  # written after model.pt: the model is complete
    found = _load_trained(folder, cfg.device) if done.exists() else None
    if found is not None:
        return found
    with claim(lock_path(folder), done.exists, f"the model {folder.name}"):
        found = _load_trained(folder, cfg.device)  # another run may have trained it meanwhile
        if found is not None:
            return found
        return train(cfg, data, out=folder, progress=progress)
