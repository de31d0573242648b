"""A user's network and data from the command line: ``FILE.py:FACTORY`` or ``module:FACTORY``,
optional weights, and a named data set or an ``.npz`` file.

Every failure is one :class:`~validation.nets.adapter.AdapterError` naming the value and the fix,
raised before any work.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .adapter import AdapterError, evaluating


def load_factory(spec: str) -> nn.Module:
    """Call FACTORY() from FILE.py or an importable module; it must return an nn.Module."""
    if ":" not in spec:
        raise AdapterError(f"--model {spec!r}: expected FILE.py:FACTORY or module:FACTORY "
                           "(a function of no arguments returning the nn.Module), or a "
                           "toolkit model.pt")
    where, name = spec.rsplit(":", 1)
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise AdapterError(f"--model {spec!r}: no file {where}")
        mod_name = f"_cdverify_user_{abs(hash(str(path.resolve())))}"
        try:
            loader = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(loader)  # type: ignore[arg-type]
            sys.modules[mod_name] = module
            loader.loader.exec_module(module)  # type: ignore[union-attr]
        except Exception as exc:
            raise AdapterError(f"--model {spec!r}: importing {where} failed: "
                               f"{type(exc).__name__}: {exc}") from None
    else:
        try:
            module = importlib.import_module(where)
        except Exception as exc:
            raise AdapterError(f"--model {spec!r}: cannot import {where}: "
                               f"{type(exc).__name__}: {exc}") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        found = sorted(n for n in vars(module) if callable(getattr(module, n))
                       and not n.startswith("_"))[:12]
        raise AdapterError(f"--model {spec!r}: {where} has no callable {name!r}; it has "
                           f"{found}")
    try:
        model = factory()
    except Exception as exc:
        raise AdapterError(f"--model {spec!r}: {name}() raised {type(exc).__name__}: "
                           f"{exc}") from None
    if not isinstance(model, nn.Module):
        raise AdapterError(f"--model {spec!r}: {name}() returned a {type(model).__name__}, "
                           "not a torch.nn.Module")
    model = _unwrapped(model)
    model.forward = _Logits(model, spec)  # the toolkit reads logits, whatever else it returns
    return model


def _unwrapped(model: nn.Module) -> nn.Module:
    """The module a wrapper holds, unwrapped in turn: torch.compile's OptimizedModule (the
    eager module has the same weights and takes hooks, through which the flow is read; the
    compiled graph is only its speed) and (Distributed)DataParallel (whose forward on one
    device is the module's own), so that --stage names the model's own paths."""
    while True:
        if type(model).__name__ == "OptimizedModule" and isinstance(
                getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        elif isinstance(model, nn.DataParallel | nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


#: prefixes of a state dict saved from a wrapped model (torch.compile, DataParallel / DDP)
WRAPPER_PREFIXES = ("_orig_mod.", "module.")
#: where checkpoints keep the model's state dict, in the order they are looked up
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net", "network")


def _safetensors(p: Path, path: str) -> dict:
    """The tensors of a .safetensors file (the optional ``safetensors`` extra)."""
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise AdapterError(f"--weights {path!r} is a .safetensors file: install the reader, "
                           "pip install 'cdverify[safetensors]' (or safetensors)") from None
    return load_file(str(p), device="cpu")


def _is_state(obj) -> bool:
    """A state dict: a mapping of names to tensors."""
    return isinstance(obj, dict) and all(isinstance(v, torch.Tensor) for v in obj.values())


def materialise(model: nn.Module, x: torch.Tensor) -> None:
    """Give a model's lazy modules (nn.LazyLinear, ...) their weights: one forward pass on x
    (evaluation mode, no gradients), under the caller's random state, so that a seeded
    caller seeds them too (they draw at their first call, not when built)."""
    if any(isinstance(p, nn.parameter.UninitializedParameter) for p in model.parameters()):
        with torch.no_grad(), evaluating(model):
            model(x)


def seeded_model(spec: str, seed: int, x: torch.Tensor) -> nn.Module:
    """FACTORY() of ``spec`` built under torch.manual_seed(seed), its lazy modules given their
    weights by a pass on x under the same seed (materialise); the global generator is left
    as it was. A forward that fails on x raises its own exception."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = load_factory(spec)
        materialise(model, x)
    return model


def logits_of(out, spec: str = "the model"):
    """The logits among a model's outputs: a tensor itself, a field or attribute named
    'logits' (a NamedTuple, a dataclass; a mapping's key 'logits', as Hugging Face's model
    outputs), else the first element of a tuple or list ((logits, features), (logits, aux));
    anything else is refused in one line. The name comes first: a NamedTuple (features,
    logits) was read by its features."""
    if isinstance(out, torch.Tensor):
        return out
    named = None if isinstance(out, Mapping) else getattr(out, "logits", None)
    if isinstance(named, torch.Tensor):
        return named
    if isinstance(out, tuple | list) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    if isinstance(out, Mapping) and isinstance(out.get("logits"), torch.Tensor):
        return out["logits"]
    what = (f"a mapping with keys {list(out)[:6]}" if isinstance(out, Mapping)
            else f"a {type(out).__name__}")
    raise AdapterError(f"--model {spec}: its forward returns {what}; the toolkit reads the "
                       "logits: return them as a tensor, as the first element of a tuple, or "
                       "under the name 'logits' (a mapping's key, a field or an attribute)")


class _Logits:
    """A user's model's forward with its output reduced to the logits (logits_of), set on the
    instance; it holds the module itself, so a deep copy of the model calls the copy's."""

    def __init__(self, module: nn.Module, spec: str):
        self.module, self.spec = module, spec

    def __call__(self, *args, **kwargs):
        return logits_of(type(self.module).forward(self.module, *args, **kwargs), self.spec)


def load_stage(model: str, stage: str | None = None, *, weights: str | None = None,
               t_end: float = 1.0):
    """The ResidualStage of ``--model`` (FILE.py:FACTORY, module:FACTORY, or a toolkit
    model.pt whose stage is its blocks), with ``weights`` loaded into a factory's model."""
    from .adapter import ResidualStage, StageSpec, adapt

    if model.endswith(".pt"):
        from .models import ModelError
        from .train import load_model

        if not Path(model).is_file():
            raise AdapterError(f"--model {model!r}: no such file")
        try:
            net, cfg = load_model(model, "cpu")
        except ModelError as exc:  # a user's own file: say how to give a user's network
            raise AdapterError(f"--model {model!r}: {exc}. A network of your own is given as "
                               "--model FILE.py:FACTORY (a function returning the module) with "
                               "--weights FILE.pt (its state_dict()) and --stage PATH"
                               ) from None
        # a toolkit model carries its weights, its stage and its T: an option that would set
        # them otherwise is refused, not ignored (a stage read at another T has other h)
        if weights:
            raise AdapterError(f"--weights {weights!r} with --model {model!r}: a toolkit "
                               "model.pt carries its own weights; drop --weights")
        if stage not in (None, "blocks"):
            raise AdapterError(f"--stage {stage!r} with --model {model!r}: a toolkit "
                               "model.pt's residual stage is its blocks; drop --stage")
        if t_end != 1.0 and t_end != cfg.t_end:
            raise AdapterError(f"--T {t_end:g} with --model {model!r}, trained at T = "
                               f"{cfg.t_end:g}: its blocks are read at their own step h = T/L; "
                               "drop --T")
        return adapt(net, stage)
    net = load_factory(model)
    if weights:
        load_weights(net, weights)
    if stage is None:
        raise AdapterError("--stage is needed with a factory: the dotted path of the residual "
                           "stage, e.g. layer1")
    return ResidualStage(net, StageSpec(stage, t_end))


def _state_of(obj, path: str) -> dict:
    """The state dict in what torch.load gave: itself, or the checkpoint entry holding it
    (CHECKPOINT_KEYS in order, else the one entry that is a state dict)."""
    if isinstance(obj, dict) and not _is_state(obj):
        found = [k for k in CHECKPOINT_KEYS if _is_state(obj.get(k))]
        others = [k for k, v in obj.items() if _is_state(v) and v]
        if not found and len(others) != 1:
            raise AdapterError(
                f"--weights {path!r} is a checkpoint with entries {list(obj)[:8]}, "
                + (f"several of them state dicts ({', '.join(others)})" if others else
                   "none of them a state dict (name -> tensor)")
                + ": save model.state_dict() alone")
        obj = obj[found[0] if found else others[0]]
    if not isinstance(obj, dict):
        raise AdapterError(f"--weights {path!r} holds a {type(obj).__name__}, not a state "
                           "dict (name -> tensor): save model.state_dict()")
    return obj


def _own_keys(state: dict, own: dict) -> dict:
    """``state`` with the key prefixes of a wrapped model taken off: each wrapper's in turn
    (torch.compile's '_orig_mod.', DataParallel's 'module.', or both), then one common
    prefix (a LightningModule's attribute, a user's wrapper) where the rest are exactly the
    model's own keys."""
    stripped = True
    while state and stripped:
        stripped = False
        for prefix in WRAPPER_PREFIXES:
            if all(k.startswith(prefix) for k in state) and not any(
                    k.startswith(prefix) for k in own):
                state = {k[len(prefix):]: v for k, v in state.items()}
                stripped = True
    heads = {k.split(".", 1)[0] for k in state}
    if set(state) != set(own) and len(heads) == 1 and all("." in k for k in state) and {
            k.split(".", 1)[1] for k in state} == set(own):
        state = {k.split(".", 1)[1]: v for k, v in state.items()}
    return state


def load_weights(model: nn.Module, path: str) -> None:
    """A state dict loaded strictly: saved as it is, inside a checkpoint (under 'state_dict',
    'model_state_dict' as PyTorch's tutorial saves it, 'model', 'net', or the one entry that
    is a state dict), or from a wrapped model (the wrappers' key prefixes, and one common
    prefix such as a Lightning module's attribute name where the rest are exactly the
    model's keys)."""
    p = Path(path)
    if not p.is_file():
        raise AdapterError(f"--weights {path!r}: no such file")
    try:
        state = (_safetensors(p, path) if p.suffix == ".safetensors" else
                 torch.load(p, map_location="cpu", weights_only=True))
    except AdapterError:
        raise
    except Exception as exc:
        from validation.store.io import load_failure

        raise AdapterError(f"--weights {path!r}: not a torch state dict ({type(exc).__name__}: "
                           f"{load_failure(exc)}); save model.state_dict()") from None
    own = model.state_dict()
    state = _own_keys(_state_of(state, path), own)
    # BatchNorm's step counter, absent from checkpoints of PyTorch before 0.4.1 and of some
    # converters: it only weighs the running statistics when momentum is None, and
    # load_state_dict itself fills it where the checkpoint's metadata is that old
    counters = {k: own[k] for k in own if k not in state and k.endswith("num_batches_tracked")}
    state = {**state, **counters}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    lazy = (nn.parameter.UninitializedParameter, nn.parameter.UninitializedBuffer)
    shapes = [f"{k} {tuple(state[k].shape)} for {tuple(own[k].shape)}" for k in own
              if k in state and isinstance(state[k], torch.Tensor)
              and not isinstance(own[k], lazy)  # a lazy module takes the saved shape
              and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        def some(keys):
            return ", ".join(keys[:3]) + (f", ... ({len(keys)} in all)" if len(keys) > 3 else "")

        why = "; ".join(part for part in (
            f"missing {some(missing)}" if missing else "",
            f"unexpected {some(unexpected)}" if unexpected else "",
            f"other shapes: {some(shapes)}" if shapes else "") if part)
        raise AdapterError(f"--weights {path!r} do not fit the model ({why}): are they the "
                           "weights of this factory's architecture?")
    try:
        model.load_state_dict(state)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0:2]
        raise AdapterError(f"--weights {path!r} do not load into the model: "
                           f"{' '.join(first)}") from None


def load_data(name: str, *, n: int = 1200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the held-out split of a named data set (a 2-D flow's set, digits, or a
    benchmark: mnist1d, digits-img, cifar10:ROOT, image-folder:ROOT), or the arrays x, y of an
    .npz file."""
    from .benchmark_data import is_benchmark, load_benchmark
    from .data import NAMES, DataError, make_dataset

    if name.endswith(".npz"):
        p = Path(name)
        if not p.is_file():
            raise AdapterError(f"--data {name!r}: no such file")
        with np.load(p) as f:
            if "x" not in f:
                raise AdapterError(f"--data {name!r}: the file has {list(f)}, expected an "
                                   "array 'x' (and optionally labels 'y')")
            try:
                x = np.asarray(f["x"], dtype=np.float32)
            except (TypeError, ValueError) as exc:
                raise AdapterError(f"--data {name!r}: x is not numeric ({exc})") from None
            y = np.asarray(f["y"]) if "y" in f else np.zeros(len(x), dtype=int)
        if x.ndim < 2 or len(x) == 0:
            raise AdapterError(f"--data {name!r}: x has shape {x.shape}; expected points along "
                               "the first axis (N x features, or N x C x H x W)")
        bad = ~np.isfinite(x.reshape(len(x), -1)).all(1)
        if bad.any():
            raise AdapterError(f"--data {name!r}: x holds non-finite values in {int(bad.sum())} "
                               f"of its {len(x)} points (the first: point {int(bad.argmax())}); "
                               "drop or impute them")
        if len(y) != len(x):
            raise AdapterError(f"--data {name!r}: {len(y)} labels y for {len(x)} points x")
        return x, y
    if is_benchmark(name):
        try:
            ds = load_benchmark(name)
        except DataError as exc:
            raise AdapterError(str(exc)) from None
        return ds.x_test.astype(np.float32), ds.y_test
    if name not in NAMES:
        raise AdapterError(f"--data {name!r}: not a data set name ({', '.join(NAMES)}, "
                           "mnist1d, digits-img, cifar10:ROOT, image-folder:ROOT) nor an .npz "
                           "file")
    ds = make_dataset(name, n, seed=seed)
    return ds.x_test.astype(np.float32), ds.y_test
