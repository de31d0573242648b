"""Trained models in the cache: train a config once, and let later and concurrent runs load it
(store.cache's claims and atomic writes; a model folder that does not load is retrained)."""

from __future__ import annotations

import shutil
from pathlib import Path

from validation.store.cache import config_key, lock_path, writable
from validation.store.io import loads
from validation.store.locks import claim, say
from validation.store.seal import file_sha256


def _load_trained(folder: Path, device: str):
    """(model, history) from a complete model folder; None (reported, folder removed) if a
    file does not load."""
    from .train import load_model

    try:
        doc = loads((folder / "train.json").read_text())
        hist = doc["history"]
        if doc.get("model_sha256") != file_sha256(folder / "model.pt"):
            say(f"cache: {folder / 'model.pt'} differs from the hash its train.json recorded "
                "(changed after training, or trained by an older cdverify); retraining")
            shutil.rmtree(folder, ignore_errors=True)
            return None
        model, _ = load_model(folder / "model.pt", device)
    except FileNotFoundError:
        return None
    except Exception as exc:  # any unloadable file means: retrain
        say(f"cache: the model in {folder} does not load ({type(exc).__name__}: "
            f"{str(exc)[:200]}); retraining")
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return model, hist


def model_file(root: str | Path, cfg) -> Path:
    """The model.pt of ``cfg`` in the cache under ``root`` (for a result's ``uses``)."""
    from dataclasses import asdict

    return Path(root) / "cache" / f"model-{config_key(asdict(cfg))}" / "model.pt"


def cached_model(root: str | Path, cfg, data=None, progress: bool = True):
    """Train ``cfg`` once; later calls (and concurrent runs) load the stored model, while its
    weights are those trained (the hash in train.json); otherwise it is trained again."""
    from .train import train

    folder = model_file(root, cfg).parent
    done = folder / "train.json"  # written after model.pt: the model is complete
    found = _load_trained(folder, cfg.device) if done.exists() else None
    if found is not None:
        return found
    writable(folder.parent, f"the trained model {folder.name}")
    with claim(lock_path(folder), done.exists, f"the model {folder.name}"):
        found = _load_trained(folder, cfg.device)  # another run may have trained it meanwhile
        if found is not None:
            return found
        return train(cfg, data, out=folder, progress=progress)
