r"""Any torch residual network read as a flow: the adapter of a user's residual stage.

A residual stage is an ``nn.ModuleList``, ``nn.Sequential`` or ``nn.ModuleDict`` of L blocks
(named by a path such as ``layer1`` or ``encoder.layers[0].blocks``) that keep one
feature shape (d, C x W or C x H x W). Each block is read as it computes,

    z_{l+1} = block_l(z_l) = z_l + Delta_l(z_l),   Delta_l = block_l(z) - z,

so a post-activation block (torchvision's BasicBlock, relu(z + F(z))) is read with its
activation inside Delta. The model's forward must chain the blocks, which the first features
check (:meth:`ResidualStage.check_chain`): block l's output is block l+1's input, or the forward
adds the skip itself, z_{l+1} = z_l + c f_l(z_l) with one c over a list of branches f_l, and the
blocks are then read as Delta_l = c f_l(z) (reading "residual", c found from the forward's own
steps); any other forward is refused, its blocks not being the steps. A block that returns a
tuple (a transformer layer's (hidden, attention)) is read by its first element. The flow calls
block(z), or block(z, *its arguments at step l) where the forward gives a block fixed
values besides the features (a time t_l: a time-dependent velocity; a causal attention mask);
arguments that change with the batch (a mask of the batch's shape, a value computed from the
data) are refused where the block computes otherwise without them.
With T (default 1) and h = T / L the velocity of block l is
v_l = Delta_l / h (docs/theory.md section 1). The stem (what comes before the stage) is found by
a forward pre-hook that captures the input of the first block; the head by a forward hook that
replaces the last block's output: the model runs as its author wrote it.

With ``sigma > 0`` the adapter injects the paper's diffusion after every block,
z -> block(z) + sigma sqrt(h) xi, live at evaluation with seeded common draws: the network is
then the toolkit's noisy network, whose catalogue generator is (v, sigma^2 / 2 I).

The toolkit's own :class:`~validation.nets.models.DiffusionResNet` is read through the same
class with ``reading="branch"``: its blocks are the branches g_l, so Delta_l = h g_l(z), and its
encoder and base are the stem and head (:func:`diffusion_resnet_stage`).

The model is read in the mode it is in. Batch normalisation in training mode normalises by the
batch's own statistics, so a point's velocity then depends on the other points of its batch
(no flow of points at all) and every call moves the running statistics of the user's model:
the adapter warns once (:class:`BatchStatisticsWarning`, also for a norm without running
statistics, which uses the batch's in evaluation too); call ``model.eval()`` first. Dropout
in training mode is meant: it is one of the catalogue's diffusion techniques.
"""

from __future__ import annotations

import inspect
import math
import numbers
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch
from torch import nn

from .errors import AdapterError
from .models import DiffusionResNet


class BatchStatisticsWarning(UserWarning):
    """A stage read while batch normalisation in it uses batch statistics (training mode)."""


_UNMEASURED = object()  # recomputed_in_backward not measured yet


class _Reached(Exception):
    """Raised by the capture hook to stop a forward pass once the stage's input is known."""


@dataclass(frozen=True)
class StageSpec:
    """Where the residual stage is and how to read it."""

    path: str  # dotted attribute path of the stage inside the model, e.g. "layer1"
    t_end: float = 1.0  # T; h = T / L
    # "block": Delta = block(z) - z; "branch": Delta = h * block(z); "residual": Delta =
    # scale * block(z), the forward adding the skip itself (z = z + scale * f(z))
    reading: str = "block"
    scale: float = 1.0
    # "residual" with a weight of its own per step (ReZero after training): c_l, one per
    # block (scale is then c_0); empty: every step has c = scale
    scales: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not (self.t_end > 0 and math.isfinite(self.t_end)):
            raise AdapterError(f"t_end = {self.t_end}; T must be a positive finite number")
        if self.reading not in ("block", "branch", "residual"):
            raise AdapterError(f"reading = {self.reading!r}; use 'block', 'branch' or "
                               "'residual'")
        if not (math.isfinite(self.scale) and self.scale != 0):
            raise AdapterError(f"scale = {self.scale}; must be a finite non-zero number")
        for c in self.scales:
            if not (math.isfinite(c) and c != 0):
                raise AdapterError(f"scales hold {c}; each must be a finite non-zero number")


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """The model in evaluation mode inside the block, every submodule's own mode restored
    after (``model.train(was)`` would set them all alike): measurements read the deployed
    network and leave batch-norm running statistics untouched."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode


def block_input(module: nn.Module, args: tuple, kwargs: dict):
    """The features a block was called with (from a hook's args and kwargs): its first
    positional argument or, called by keyword (block(x=z)), its forward's first parameter
    (else the one tensor among the keywords); None when there is none."""
    if args:
        return args[0]
    try:
        first = next(iter(inspect.signature(module.forward).parameters), None)
    except (TypeError, ValueError):
        first = None
    if first in kwargs:
        return kwargs[first]
    tensors = [v for v in kwargs.values() if isinstance(v, torch.Tensor)]
    return tensors[0] if len(tensors) == 1 else None


def block_output(out):
    """The features a block returned: its output, or the first element of a tuple or list
    (transformer layers return (hidden, attention, ...) and the forward takes [0]); None
    when that is not a tensor."""
    if isinstance(out, tuple | list) and out:
        out = out[0]
    return out if isinstance(out, torch.Tensor) else None


def with_block_output(out, features: torch.Tensor):
    """``out`` with its features (see block_output) replaced: what a forward hook returns to
    put ``features`` in a block's place and leave the rest of its output as it was."""
    if isinstance(out, tuple | list) and out:
        return type(out)([features, *out[1:]])
    return features


def resolve_stage(model: nn.Module, path: str) -> nn.Module:
    """The blocks at a dotted path ("layer1", "features.3", "encoder.layers[0].blocks"; an
    index in brackets is the same as after a dot): a sequence of blocks, an nn.ModuleList,
    an nn.Sequential or an nn.ModuleDict (its blocks in insertion order);
    a list of nn.ModuleLists (layers of sub-blocks, as ViT code writes [attention, MLP]
    pairs) is read as its sub-blocks in order, each a step; one other module is a block the
    forward calls in a loop (its steps are its calls, counted by ResidualStage.check_chain;
    the returned list holds it once and is marked ``looped``). A slice of it, "layer2[1:]" or
    "layer2[1:3]" (Python's, without a step), takes those blocks alone (the same modules):
    a stage whose first block downsamples (torchvision's layer2-4) is a flow from its
    second block on; a slice of a list of layers takes whole layers. A slice with no path,
    "[1:4]", cuts the model itself: a model that is one nn.Sequential (stem, blocks, head)."""
    if not path:
        raise AdapterError("--stage is empty; give the dotted path of the residual stage "
                           "(an nn.ModuleList or nn.Sequential), e.g. layer1")
    cut = None
    if path.endswith("]") and ":" in path[path.rfind("["):]:
        match = re.fullmatch(r"(.*)\[\s*(-?\d*)\s*:\s*(-?\d*)\s*\]", path)
        if match is None:
            raise AdapterError(f"stage {path!r}: a slice of a stage is written PATH[a:b] with "
                               "integers a, b (either may be left out, no step), e.g. "
                               "layer2[1:], or [a:b] alone for the model itself (one "
                               "nn.Sequential)")
        path, cut = match[1], slice(*(int(v) if v else None for v in match.group(2, 3)))
    dotted = re.sub(r"\[\s*(\d+)\s*\]", r".\1", path)  # layers[0] -> layers.0
    if "[" in dotted or "]" in dotted or (path and "" in dotted.split(".")):
        raise AdapterError(f"stage path {path!r}: write attributes with dots and indices as "
                           "a.b.0 or a.b[0] (a slice only at the end: PATH[a:b])")
    obj: object = model
    parts = dotted.split(".") if path else []  # "[a:b]": the model itself, sliced
    for i, part in enumerate(parts):
        try:
            # a module's children by name ("0" too: Sequential, ModuleList, ModuleDict keys)
            obj = (getattr(obj, part) if isinstance(obj, nn.Module) or not part.isdigit()
                   else obj[int(part)])  # type: ignore[index]
        except (AttributeError, IndexError, KeyError, TypeError):
            done = ".".join(parts[:i]) or type(model).__name__
            children = [n for n, _ in obj.named_children()] if isinstance(obj, nn.Module) else []
            raise AdapterError(f"stage path {path!r}: {done} has no {part!r}; its children are "
                               f"{children or 'none'}") from None
    scripted = torch.jit.ScriptModule
    if isinstance(obj, scripted) or (isinstance(obj, nn.Module)
                                     and any(isinstance(b, scripted) for b in obj.children())):
        raise AdapterError(f"stage {path!r}: TorchScript modules (torch.jit.script or trace) "
                           "take no forward hooks, which the flow is read through; read the "
                           "eager model, before scripting")
    if isinstance(obj, nn.ModuleDict):  # the blocks in insertion order (the forward's own
        obj = nn.ModuleList(obj.values())  # order is checked against the calls it makes)
    if not isinstance(obj, nn.ModuleList | nn.Sequential):
        if not isinstance(obj, nn.Module):
            raise AdapterError(f"stage {path!r} is a {type(obj).__name__}, not a module; point "
                               "--stage at an nn.ModuleList, nn.Sequential or nn.ModuleDict of "
                               "residual blocks, or at one block the forward calls in a loop")
        if cut is not None:
            raise AdapterError(f"stage {path!r} is one block ({type(obj).__name__}), which a "
                               "slice cannot cut; drop the slice")
        # one block that the forward calls in a loop (z = block(z), L times: a
        # time-homogeneous flow): its steps are its calls, counted on the first forward
        # (ResidualStage.check_chain), each a step of the one module, as weights tied
        loop = nn.ModuleList([obj])
        loop.looped = True
        return loop
    if cut is not None:
        blocks = list(obj)[cut]
        if not blocks:
            raise AdapterError(f"stage {path}[{cut.start or ''}:{cut.stop or ''}] takes none "
                               f"of the {len(obj)} blocks of {path!r}; give a slice that "
                               "keeps at least one")
        obj = nn.ModuleList(blocks)  # the model's own modules: hooks on them act in its forward
    if len(obj) == 0:
        raise AdapterError(f"stage {path!r} has no blocks")
    if all(type(b) in (nn.ModuleList, nn.ModuleDict) for b in obj):
        # layers of sub-blocks the forward unpacks and calls in turn, each with its skip
        # (for attn, ff in self.layers: x = attn(x) + x; x = ff(x) + x): the steps are the
        # sub-blocks, in order (the forward's order is checked against its calls)
        obj = nn.ModuleList(m for b in obj for m in (b.values() if isinstance(
            b, nn.ModuleDict) else b))
        if len(obj) == 0:
            raise AdapterError(f"stage {path!r} has no blocks")
    return obj


def _skipless(m: nn.Module) -> bool:
    """A torch.nn layer with no skip connection of its own, or a Sequential of such layers
    alone (containers of the user's modules, and Transformer layers, may hold skips)."""
    if isinstance(m, nn.Sequential):
        return len(m) > 0 and all(_skipless(c) for c in m)
    return (type(m).__module__.startswith("torch.nn.modules.")
            and not isinstance(m, nn.ModuleList | nn.ModuleDict)
            and "Transformer" not in type(m).__name__)


#: where the features go in a block's bound call (ResidualStage.bound)
_FEATURES = object()
#: an argument that cannot be bound (_fixed_arguments)
_REFUSED = object()


@dataclass(frozen=True)
class _PerPoint:
    """A bound argument given one row per point, every row the same (t.expand(B)): kept as
    its row, repeated for the points of each call."""

    row: torch.Tensor


def _fixed_arguments(args: tuple, kwargs: dict, z: torch.Tensor,
                     again: tuple | None) -> tuple | None:
    """A block call's arguments with the features ``z`` marked, where every other argument
    is a fixed value, kept as a copy: one that the same call on another batch (``again``:
    its args, kwargs and features) receives unchanged (None, a number, numpy's included, a
    string, a tensor of any shape: a time t_l, a causal attention mask built from the
    sequence length), or a tensor of one equal row per point in both (t.expand(B), kept as
    its row). None where one is not: a tensor of the batch's shape whose rows differ, a
    value computed from the batch's data or shaped by it (a mask of B x heads rows), a
    module, or no call on the other batch to compare with."""
    if again is None:
        return None
    args2, kwargs2, z2 = again

    def row(v, feats):  # one value per point, the same for every point: t.expand(B)
        ok = (isinstance(v, torch.Tensor) and v.dim() >= 1 and len(v) == len(feats) > 1
              and bool((v == v[:1]).all()))
        return v[:1] if ok else None

    def same(v, w) -> bool:  # tensors as _differ compares them (NaN equal to NaN)
        if isinstance(v, torch.Tensor) or isinstance(w, torch.Tensor):
            return (isinstance(v, torch.Tensor) and isinstance(w, torch.Tensor)
                    and not _differ(v, w))
        return v is w or (isinstance(v, numbers.Number | str) and type(v) is type(w)
                          and v == w)

    def keep(v, w):  # the kept value, or _REFUSED
        if v is z:
            return _FEATURES if w is z2 else _REFUSED
        if same(v, w):
            return v.detach().clone() if isinstance(v, torch.Tensor) else v
        r, r2 = row(v, z), row(w, z2)
        if r is not None and r2 is not None and same(r, r2):
            return _PerPoint(r.detach().clone())
        return _REFUSED

    if len(args) != len(args2) or kwargs.keys() != kwargs2.keys():
        return None
    kept = ([keep(v, w) for v, w in zip(args, args2, strict=True)],
            {k: keep(v, kwargs2[k]) for k, v in kwargs.items()})
    if any(v is _REFUSED for v in (*kept[0], *kept[1].values())):
        return None
    return tuple(kept[0]), kept[1]


def plain_layers_text(plain: list[str] | None, n_blocks: int) -> str:
    """The sentence that names a stage's blocks without a skip connection ('' for none)."""
    if not plain:
        return ""
    many = len(plain) > 1
    return (f" Not residual: {', '.join(plain)}, "
            + ("torch.nn layers" if many else "a torch.nn layer")
            + " with no skip connection; " + ("each" if many else "it")
            + f" is read as a step z -> layer(z) like the others, so h = T / {n_blocks} "
            f"counts {'them' if many else 'it'} (point --stage at the residual blocks alone, "
            "or a slice, to read those).")


def refuse_input_changes(model: nn.Module, x: torch.Tensor) -> None:
    """Refuse a forward that changes its input in place (``x.sub_(0.5)`` to normalise, a
    ReLU(inplace=True) first): the tensors the toolkit passes are views of the data set or an
    attack's leaf tensor, so the data would change between measurements, or torch refuses in
    the middle of an attack (an in-place op on a leaf that requires grad, even where it
    leaves the values as they were). Run on copies of x: once as data, once as such a leaf."""
    given = x.detach().clone()
    seen = given.clone()
    try:
        with forked(x):  # a model that draws at evaluation leaves the generator as it was
            model(seen)
            if given.is_floating_point():
                with torch.enable_grad():
                    model(given.clone().requires_grad_(True))
        changed = not torch.equal(seen, given)
    except RuntimeError as exc:
        changed = "in-place" in str(exc)
    except Exception:
        return  # the probe's own calls name what the forward refuses
    if changed:
        raise AdapterError(
            "the model's forward changes its input in place (an in-place op on x, such as "
            "x.sub_(mean) or a ReLU(inplace=True) first): the toolkit's inputs are the data "
            "set's own tensors and an attack's, which would change between measurements; "
            "compute out of place (x = x - mean)")


class ResidualStage:
    """The flow of one residual stage of ``model`` (see the module docstring).

    ``stem`` and ``head`` replace the hooks when given (callables x -> z_0 and z_L -> logits);
    the hooks need one forward pass of the model per call.
    """

    def __init__(self, model: nn.Module, spec: StageSpec | str, *,
                 stem: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 head: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.model = model
        self.spec = StageSpec(spec) if isinstance(spec, str) else spec
        self._given = self.spec  # as the caller gave it: settle() reads the stage anew
        self.stage = resolve_stage(model, self.spec.path)
        self.blocks = list(self.stage)
        #: one block the forward calls in a loop: its steps are counted by check_chain
        self.looped = bool(getattr(self.stage, "looped", False))
        #: per step, the arguments besides the features the forward calls the block with,
        #: where they are fixed numbers (a time t_l, a flag): (args, kwargs, where the
        #: features go); None where the forward calls the blocks on the features alone
        self.bound: list | None = None
        self._stem, self._head = stem, head
        self._norms = [m for b in self.blocks for m in b.modules()
                       if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        self._warned = False
        self._chained = stem is not None  # a given stem: the caller composes the flow
        #: whether the model's forward is random in evaluation mode (randomness of its own,
        #: e.g. dropout called with training=True): measured by probe(); its deployed
        #: predictor then averages passes whatever the technique
        self.random_at_eval = False
        self._recomputed: bool | object | None = _UNMEASURED
        self._trainable: bool | None = None  # weights_trainable, measured once

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    @property
    def distinct(self) -> list[nn.Module]:
        """The stage's blocks, each module once (a block with tied weights appears at several
        steps of ``blocks``; a hook on it fires at each of them)."""
        return list({id(b): b for b in self.blocks}.values())

    @property
    def bound_text(self) -> str:
        """The arguments bound per step, in words ('' for none): 'argument 2 = 0, 0.25, 0.5,
        0.75' or 't = ...' (the values of each step, six at most shown)."""
        if self.bound is None:
            return ""
        names: dict[str, list] = {}
        for step in self.bound:
            args, kwargs = step if step is not None else ((), {})
            given = {f"argument {i + 1}": v for i, v in enumerate(args) if v is not _FEATURES}
            given |= {k: v for k, v in kwargs.items() if v is not _FEATURES}
            for name, v in given.items():
                v = v.row.flatten()[0] if isinstance(v, _PerPoint) else v
                if isinstance(v, torch.Tensor) and v.numel() > 1:  # a mask: its shape
                    text = f"a {' x '.join(map(str, v.shape))} tensor"
                elif isinstance(v, torch.Tensor | numbers.Real) and not isinstance(v, bool):
                    text = f"{float(v):.4g}"
                else:
                    text = repr(v)
                names.setdefault(name, []).append(text)
        return "; ".join(f"{n} = {vs[0]}" if len(set(vs)) == 1 else
                         f"{n} = {', '.join(vs[:6])}{', ...' if len(vs) > 6 else ''}"
                         for n, vs in names.items())

    @property
    def plain_layers(self) -> list[str]:
        """Blocks read as Delta = block(z) - z that cannot hold a skip connection, as
        'Dropout (block 1)': torch.nn layers (a norm, a dropout, an activation, a conv, a
        linear map) or Sequentials of them alone. Each is read as a step like the residual
        blocks, so it counts in h = T / L; a Transformer layer (which adds its own skips)
        and the user's own modules are not listed."""
        if self.spec.reading != "block":
            return []
        return [f"{type(b).__name__} (block {l})" for l, b in enumerate(self.blocks)
                if _skipless(b)]

    @property
    def dropout_in_training(self) -> list[str]:
        """The stage's own dropout modules with p > 0, as 'Dropout(p=0.1) in blocks 0-3':
        live whenever the model trains (every setting of a study, its plain baseline included),
        off in evaluation. Training then adds their diffusion to any technique's generator."""
        return [f"{name}(p={p:g}) in block{'s' if len(ls) > 1 else ''} "
                + ", ".join(map(str, ls)) for (name, p), ls in self._dropouts().items()]

    @property
    def dropout_blocks(self) -> list[int]:
        """The blocks holding a dropout module with p > 0."""
        return sorted({l for ls in self._dropouts().values() for l in ls})

    def _dropouts(self) -> dict[tuple[str, float], list[int]]:
        found: dict[tuple[str, float], list[int]] = {}
        for l, b in enumerate(self.blocks):
            for m in b.modules():
                if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0:
                    key = (type(m).__name__, float(m.p))
                    if l not in found.setdefault(key, []):
                        found[key].append(l)
        return found

    def random_in_training(self, x: torch.Tensor) -> list[int]:
        """The blocks whose output differs between two calls on the same features in training
        mode: randomness of their own (dropout modules, functional dropout, stochastic depth,
        noise layers) that every training step draws, whatever technique is added. Measured
        on a copy of the model at the features of two points of x (evaluation-mode
        trajectory), the global generator restored; [] where the model cannot be copied."""
        with torch.no_grad(), evaluating(self.model):
            z = self.features(x[:2])
            inputs = []
            for l in range(self.n_blocks):
                inputs.append(z)
                z = z + self.delta(l, z)
        twin = self._twin()
        if twin is None:  # a model holding what cannot be copied: not measured
            return []
        blocks = twin.blocks
        found = []
        with torch.no_grad(), forked(x):
            twin.model.train()
            for l, z in enumerate(inputs):  # (a block may change z in place: copies)
                if _differ(self.call_block(l, z.clone(), blocks),
                           self.call_block(l, z.clone(), blocks)):
                    found.append(l)
        return found

    @property
    def settled(self) -> bool:
        """Whether the blocks' reading is settled on the model's forward (the first
        :meth:`features` or :meth:`probe`; a given stem settles it)."""
        return self._chained

    @property
    def step(self) -> float:
        """h = T / L."""
        return self.spec.t_end / self.n_blocks

    # --- stem and head --------------------------------------------------------------------------

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """z_0: the input of the stage's first block for the model input x (the first call
        also checks that the model's forward chains the blocks: :meth:`check_chain`)."""
        if self._stem is not None:
            return self._stem(x)
        if not self._chained:
            self.check_chain(x)
        got: list[torch.Tensor] = []

        def grab(module, args, kwargs):
            got.append(block_input(module, args, kwargs))
            raise _Reached

        handle = self.blocks[0].register_forward_pre_hook(grab, with_kwargs=True)
        try:
            self.model(x)
        except _Reached:
            pass
        except Exception as exc:  # the user's forward refused the data
            raise AdapterError(f"the model's forward failed on input of shape {tuple(x.shape)}"
                               f": {type(exc).__name__}: {exc}") from None
        finally:
            handle.remove()
        if not got:
            raise AdapterError(f"the model's forward never reached the stage {self.spec.path!r}"
                               "; is it the stage the forward uses?")
        if not isinstance(got[0], torch.Tensor):
            raise AdapterError(f"block 0 of stage {self.spec.path!r} is called without the "
                               "features as its first argument (nor by the name of its "
                               "forward's first parameter); the flow reads block(z)")
        return got[0]

    def check_chain(self, x: torch.Tensor) -> None:
        """Refuse a stage whose blocks the model's forward does not chain: in one forward pass
        (evaluation mode, no gradients) blocks 0..L-1 must run in order, each block's output
        being the next block's input. A forward that adds the skip itself, z_{l+1} = z_l +
        c f_l(z_l) (to the features' rounding; one c, or a c_l per step), is read as such
        (reading "residual", Delta_l = c_l f_l); one that transforms the features
        otherwise between blocks is refused: a block alone is then not the step z_l ->
        z_{l+1}, and reading it as one would give a wrong velocity and a wrong head. Inputs
        are copied as a block is entered and outputs as it returns, so a change in place (by
        the block to its input, by the forward to a block's output) does not hide a step.
        The last step, which no block follows, is measured by last_step. A block that
        appears more than once (weights tied: nn.Sequential(*[b] * L)) is one module called
        at each of its steps: calls are matched to steps by order, not by module; a forward
        that calls the blocks more than L times is refused."""
        calls: list[tuple[nn.Module, object, object]] = []
        # the calls with more than the features: (args, kwargs, the features' own tensor)
        extras: list[tuple[tuple, dict, object] | None] = []
        entering: list = []

        def pre(module, args, kwargs):
            z = block_input(module, args, kwargs)
            # copies: a block that changes its input in place, or a forward that changes a
            # block's output in place (z = b(z); z.relu_()), must not hide a step
            entering.append(z.clone() if isinstance(z, torch.Tensor) else z)

        def hook(module, args, kwargs, out):
            o = block_output(out)
            calls.append((module, entering.pop(), o.clone() if o is not None else None))
            extras.append((args, kwargs, block_input(module, args, kwargs))
                          if len(args) + len(kwargs) > 1 else None)

        handles = [b.register_forward_pre_hook(pre, with_kwargs=True) for b in self.distinct]
        handles += [b.register_forward_hook(hook, with_kwargs=True) for b in self.distinct]
        try:
            with torch.no_grad(), evaluating(self.model):
                self.model(x)
        except Exception as exc:  # the user's forward refused the data
            raise AdapterError(f"the model's forward failed on input of shape {tuple(x.shape)}"
                               f": {type(exc).__name__}: {exc}") from None
        finally:
            for h in handles:
                h.remove()
        path = self.spec.path
        if not calls:
            raise AdapterError(f"stage {path!r}: the model's forward does not call it (it never "
                               "reached the stage); is it the stage the forward uses?")
        if self.looped:  # one block the forward calls in a loop: its steps are its calls
            self.blocks = [self.stage[0]] * len(calls)
        L = self.n_blocks
        order = [next(i for i, b in enumerate(self.blocks) if b is m) for m, _, _ in calls[:L]]
        if len(order) < L or any(calls[l][0] is not self.blocks[l] for l in range(L)):
            raise AdapterError(f"the model's forward runs the blocks of stage {path!r} in the "
                               f"order {order}, not 0..{L - 1} once each in turn; "
                               "point --stage at the sequence of blocks the forward runs")
        if len(calls) > L:
            raise AdapterError(f"the model's forward calls the blocks of stage {path!r} "
                               f"{len(calls)} times in one pass, not its {L} blocks once each: "
                               "a stage run twice, or on two inputs, is not the flow of its L "
                               "steps; point --stage at blocks the forward runs once")
        again = self._calls_on_another_batch(x) if any(extras[:L]) else []
        self._bind_or_refuse_arguments(calls[:L], extras[:L], again)
        pairs = [(calls[l][1], calls[l][2], calls[l + 1][1]) for l in range(L - 1)]
        # not tensors of one shape: delta() names the block that changes the shape
        pairs = [(z, o, n) for z, o, n in pairs if all(isinstance(t, torch.Tensor) for t in
                                                       (z, o, n)) and z.shape == o.shape ==
                 n.shape]
        if self.spec.reading == "block" and not all(_close(o, n) for _, o, n in pairs):
            scales = [_scale(z, o, n) for z, o, n in pairs]  # pairs is not empty here
            if None in scales:
                l = next(i for i, (_, o, n) in enumerate(pairs) if not _close(o, n))
                raise AdapterError(
                    f"stage {path!r}: the output of block {l} is not the input of block "
                    f"{l + 1}, nor is that input z + c f(z) (z the input of block {l}, f(z) "
                    "its output, one c for every step): the model's forward changes the "
                    "features between blocks, so a block alone is not the step z -> z + "
                    "Delta(z); make each block return the new features (a module whose "
                    "forward is z + f(z)) or point --stage at such blocks")
            if 0.0 in scales:
                l = scales.index(0.0)
                raise _zero_weight(path, l, f"the input of block {l + 1} equals the input "
                                   f"of block {l}: ")
            self.spec = replace(self.spec, reading="residual", scale=scales[0])
        else:
            scales = []
        if self.spec.reading != "branch":
            self._check_last_step(x, scales)
        self._chained = True

    def _check_last_step(self, x: torch.Tensor, scales: list[float]) -> None:
        """The last block's step, measured (no block follows it to compare with; see
        last_step): a one-block stage is read by it (z -> block(z), or z + c f(z) with c
        measured); a longer stage whose last step has another form than the others' is
        refused; with the skip in the forward, the c_l found between blocks (``scales``) and
        the last one's give one c (equal to 1e-3) or a c_l per step (StageSpec.scales)."""
        path, L = self.spec.path, self.n_blocks
        form = self.last_step(x)
        residual = self.spec.reading == "residual"
        uniform = all(abs(c - scales[0]) <= 1e-3 * abs(scales[0]) for c in scales)
        if form == "unmeasured":
            if not uniform:
                raise AdapterError(
                    f"stage {path!r}: the forward adds each block's output with its own weight"
                    f", z + c_l f_l(z) with c = {', '.join(f'{c:.4g}' for c in scales)} for "
                    f"blocks 0..{L - 2}, and the last block's c could not be measured (the "
                    "model would not run with its last block's input changed in place): make "
                    "each block compute z + c_l f_l(z) itself and point --stage at those "
                    "blocks")
            return  # the last step taken to be of the others' form
        if form is None:
            raise AdapterError(
                f"stage {path!r}: the model's output depends on the features before block "
                f"{L - 1}'s output otherwise than through z + c f(z) (z that block's input, "
                "f(z) its output): the block's input used otherwise, or earlier features (a "
                "skip around the stage, a head that reads several blocks); the stage's end is "
                "then not what the head reads: make each block return the new features and the "
                "head read the last, or point --stage at such blocks")
        if form == 0.0:
            raise _zero_weight(path, L - 1)
        if L == 1:
            if form != "chained" and self.spec.reading == "block":
                self.spec = replace(self.spec, reading="residual", scale=float(form))
            return
        if (form == "chained") == residual:
            said = ("returns the new features (chained)" if form == "chained" else
                    f"is added by the forward as z + c f(z), c = {form:.4g}")
            raise AdapterError(
                f"stage {path!r}: block {L - 1}, the last, {said}, unlike blocks 0..{L - 2}; "
                "a stage is read with one form for every step: point --stage at blocks of one "
                f"form (e.g. {path}[:{L - 1}])")
        if not residual:
            return
        every = [*scales, float(form)]
        if all(abs(c - every[0]) <= 1e-3 * abs(every[0]) for c in every):
            return  # one c: the exact one found between blocks
        for b in self.distinct:  # a module tied across steps runs with one c per call
            cs = {round(c, 6) for blk, c in zip(self.blocks, every, strict=True) if blk is b}
            if len(cs) > 1:
                raise AdapterError(
                    f"stage {path!r}: one module tied across steps is added with weights "
                    f"{sorted(cs)} at its steps; such a stage is not read (the adapter's hooks "
                    "act per module)")
        self.spec = replace(self.spec, scales=tuple(every))

    def last_step(self, x: torch.Tensor):
        """How the model's forward uses the last block's input z and output o, measured on x
        (evaluation mode, no gradients, one random state for every pass; central
        differences, the head linearised). "chained" when, with o held at its value, moving
        the model's input moves nothing: the logits depend on x through o alone. Otherwise
        c when (a) the logits' change from o + e is c times that from z + e added in place
        after the block ran (the forward adds z + c o) and (b) the input's move reaches the
        logits through that later use of z alone (a use computed before the block, as
        tanh(z) + f(z), fails b); None when a or b fails (a forward computing a z + c o with
        a != 1 shows only c / a, which a longer stage's check finds unlike its other c);
        0.0 when o moves nothing (c = 0); "unmeasured" where the passes cannot be made
        (integer inputs, a tensor that cannot change in place, a non-finite output). On a
        float64 copy of the model where it allows one (c to about 1e-10), else on the model
        itself (float32: about 3e-5)."""
        # on a float64 copy where the model allows it: c to ~eps^(2/3) of float64, not float32
        twin = self._twin()
        got = None
        for stage, dtype in ((twin, torch.float64), (self, None)):
            if stage is None:
                continue
            try:
                probe = x[:2]
                if dtype is not None:
                    stage.model.to(dtype)
                    probe = probe.to(dtype) if probe.is_floating_point() else probe
                got = stage._step_responses(probe)
                break
            except Exception:  # a tensor that cannot change in place, a forward that refuses
                continue
        if got is None or not all(torch.isfinite(v).all() for v in got.values()):
            return "unmeasured"
        da, db, dx, dz = got["output"], got["input"], got["x"], got["z"]
        na, nb = float(da.norm()), float(db.norm())
        if na == 0:
            return "unmeasured" if nb == 0 else 0.0
        if float(dx.norm()) == 0:  # with o held, the input moves nothing: o is all that counts
            return "chained"
        # z is used besides o: after the block (z + c o) and nowhere else (dx = dz: the input's
        # move reaches the logits through z after the block alone)
        if nb == 0 or float((dx - dz).norm()) > 2e-2 * float(dx.norm()):
            return None
        c = float(da @ db) / nb**2
        return c if float((da - c * db).norm()) <= 2e-2 * na else None

    def _step_responses(self, probe: torch.Tensor) -> dict[str, torch.Tensor]:
        """The logits' changes (flat, float64; central differences) that last_step reads:
        "output", e added to the last block's output o; "input", e added to its input z in
        place after it ran; "x", the model input moved (o held at its value); "z", z moved in
        place after the block by what that input move did to it (o as it is)."""
        last = self.blocks[-1]
        calls = sum(b is last for b in self.blocks)  # a tied block: its last call is step L-1

        def run(x: torch.Tensor, *, out=None, into=None, hold=None):
            seen, io = [0], []

            def hook(module, args, kwargs, raw):
                seen[0] += 1
                if seen[0] != calls:
                    return None
                z, o = block_input(module, args, kwargs), block_output(raw)
                io.append((z.clone(), o.clone()))
                if into is not None:
                    z.add_(into)  # after the block ran: only a later use of z sees it
                if hold is not None:
                    return with_block_output(raw, hold.clone())
                if out is not None:
                    return with_block_output(raw, o + out)
                return None

            handle = last.register_forward_hook(hook, with_kwargs=True)
            try:
                with torch.no_grad(), evaluating(self.model), forked(x):
                    torch.manual_seed(0)
                    y = self.model(x.clone())
            finally:
                handle.remove()
            return y.double().flatten(), io[0]

        _, (z, o) = run(probe)
        # central differences, steps at eps^(1/3) of their scale: the head's curvature
        # enters at step^2 and rounding at eps / step, both about eps^(2/3) of the change
        scale = max(float(z.abs().max()), float(o.abs().max()))
        g = torch.Generator().manual_seed(0)

        def step(like: torch.Tensor, size: float) -> torch.Tensor:
            return (torch.finfo(like.dtype).eps ** (1 / 3) * size * torch.randn(
                like.shape, generator=g, dtype=torch.float64)).to(like.dtype)

        def change(**moves) -> torch.Tensor:
            plus = run(probe, **moves)[0]
            minus = run(probe, **{k: -v for k, v in moves.items()})[0]
            return (plus - minus) / 2

        if scale == 0 or not probe.is_floating_point():
            raise ValueError("no features to move")
        e = step(o, scale)
        ex = step(probe, max(float(probe.abs().max()), 1e-30))
        (y_up, (z_up, _)), (y_down, (z_down, _)) = (run(probe + ex, hold=o),
                                                    run(probe - ex, hold=o))
        return {"output": change(out=e), "input": change(into=e), "x": (y_up - y_down) / 2,
                "z": change(into=(z_up - z_down) / 2)}

    def _bind_or_refuse_arguments(self, calls, extras, again: list) -> None:
        """Bind or refuse the arguments besides the features that the forward calls a block
        with (a time, a mask, a flag), where block(z) alone computes otherwise. Fixed values
        (those the same call on another batch receives unchanged, ``again``: a time t_l as a
        neural-ODE-style loop passes it, a causal mask; _fixed_arguments) are bound per step,
        so that step l reads block(z, *its arguments): a time-dependent velocity v(z, t_l).
        Arguments that change with the batch (a mask of the batch's shape, a statistic of
        its data) are refused: the flow would read another function than the model runs, or
        a point's velocity would depend on the other points. Both calls start
        from one random state (a block's own randomness draws alike; the model's generators
        are left as they were); arguments that change nothing (mask=None) pass unbound."""
        # every step's fixed arguments, kept once any step needs them (also those that change
        # nothing, t = 0 at step 0): one reading for all steps, each step's values listed
        fixed: list = [None] * len(calls)
        needed = False
        for l, ((module, z0, _), extra) in enumerate(zip(calls, extras, strict=True)):
            if extra is None or not isinstance(z0, torch.Tensor):
                continue
            args, kwargs, z = extra  # z: the tensor passed, z0: its value on entering
            if not isinstance(z, torch.Tensor):
                continue
            fixed[l] = _fixed_arguments(args, kwargs, z, again[l] if l < len(again) else None)
            outs = []
            for call_args, call_kwargs in ((args, kwargs), ((z0.clone(),), {})):
                z.copy_(z0)
                try:
                    # fork_rng restores the state after each call: both start from one state
                    with torch.no_grad(), evaluating(self.model), forked(z0):
                        outs.append(block_output(module(*call_args, **call_kwargs)))
                except Exception:  # delta names a block that needs more than z
                    break
            if len(outs) == 1:  # it needs them (t required): read with them where fixed
                needed |= fixed[l] is not None
                continue
            if len(outs) < 2:
                continue
            a, b = outs
            if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and (
                    a.shape != b.shape or not _close(a, b))):
                continue
            if fixed[l] is not None:
                needed = True
                continue
            names = ([f"argument {i + 1}" for i in range(1, len(args))]
                     + [k for k, v in kwargs.items() if v is not z])
            raise AdapterError(
                f"stage {self.spec.path!r}: the model's forward calls block {l} with "
                f"{', '.join(names)} besides the features, and the block computes "
                "otherwise on the features alone; the flow calls block(z), so it would "
                "read another function than the model runs: wrap each block in a module "
                "that binds those arguments, or read a stage whose blocks take the "
                "features alone (fixed values, such as a time t_l or a causal mask, are "
                "bound per step; these are not fixed: the forward gives other values on "
                f"another batch, the probe's {len(z0)} points against {len(z0) + 1} in "
                "another order)")
        self.bound = fixed if needed else None

    def _calls_on_another_batch(self, x: torch.Tensor) -> list:
        """The (args, kwargs, features) of each block call when the forward runs on another
        batch: the probe in reverse order with a point added (the midpoint of its first and
        last, or its first again for inputs that are not floating point), so another size,
        other rows in each place and other statistics. An argument the blocks receive
        unchanged there is fixed (bound); one that changes with the batch (computed from the
        data, or shaped by the batch) is not (_fixed_arguments)."""
        added = (x[:1] + x[-1:]) / 2 if x.is_floating_point() else x[:1]
        other = torch.cat([x, added]).flip(0)
        seen: list = []

        def pre(module, args, kwargs):
            seen.append((args, kwargs, block_input(module, args, kwargs)))

        handles = [b.register_forward_pre_hook(pre, with_kwargs=True) for b in self.distinct]
        try:
            with torch.no_grad(), evaluating(self.model), forked(other):
                self.model(other)
        except Exception as exc:
            raise AdapterError(f"the model's forward failed on input of shape "
                               f"{tuple(other.shape)} (the probe with one point more, to "
                               "compare the arguments it gives the blocks): "
                               f"{type(exc).__name__}: {exc}") from None
        finally:
            for h in handles:
                h.remove()
        return seen

    def recomputed_in_backward(self, x: torch.Tensor) -> bool | None:
        """Whether a training step runs the stage's blocks again during backward (activation
        checkpointing, torch.utils.checkpoint): one forward and backward of a copy of the model
        in training mode on two points of x, counting calls of the blocks' forward while
        gradients flow back (the model itself, its statistics and every random generator
        untouched). None where the model cannot be copied or run so. The recomputation does
        not run the techniques' hooks (measured, torch 2.13): a technique whose backward needs
        its own draws (dropout's mask, EnResNet's scaled noise) then gets wrong gradients.
        Measured once per stage (it depends on the model's code, not on its weights)."""
        if self._recomputed is not _UNMEASURED:
            return self._recomputed
        self._recomputed = None
        twin = self._twin()
        if twin is None:  # a model holding what cannot be copied: not checked
            return None
        backward = [False, 0]

        def counted(forward):
            def call(*args, **kwargs):
                backward[1] += backward[0]
                return forward(*args, **kwargs)
            return call

        # module hooks do not fire in the recomputation; the module's own forward is called
        for b in twin.distinct:
            b.forward = counted(b.forward)
        try:
            with forked(x), torch.enable_grad():
                out = twin.model.train()(x[:2])
                backward[0] = True
                out.float().sum().backward()
        except Exception:  # the forward's own refusals are probe()'s to name
            return None
        self._recomputed = backward[1] > 0
        return self._recomputed

    def _twin(self, spec: StageSpec | None = None) -> ResidualStage | None:
        """The same stage on a deep copy of the model (for measurements that run it in
        training mode or change it), read as ``spec`` (default: as this one is read), None
        where the model cannot be copied."""
        import copy

        try:
            twin = ResidualStage(copy.deepcopy(self.model), spec or self.spec)
        except Exception:
            return None
        if self.looped:  # the copy's loop has the steps counted here (the same forward)
            twin.blocks = [twin.stage[0]] * self.n_blocks
        twin.bound = self.bound  # fixed numbers: the copy's forward gives the same
        return twin

    def settle(self, x: torch.Tensor) -> None:
        """Read the stage anew on the model's current weights (check_chain from the reading
        the caller gave): a forward that adds z + c_l f_l(z) with c_l a parameter of its own
        (ReZero's alpha) has other c_l after training than before."""
        self.spec, self._chained = self._given, self._stem is not None
        if not self._chained:
            self.check_chain(x)

    def weights_trainable(self, x: torch.Tensor) -> bool:
        """Whether the forward's skip weights c_l (reading "residual") depend on trainable
        parameters outside the blocks (ReZero's alpha in the parent): on a float64 copy of
        the model (where it allows one: c_l to about 1e-12, else the model's dtype, to 1e-3)
        the stage is read, every such parameter moved by 10%, and the stage read again;
        False for other readings (the blocks' own parameters never change c). Measured once
        per stage (it depends on where the forward takes c from, not on the weights' values:
        check's build and fit both ask)."""
        if self.spec.reading != "residual":
            return False
        if self._trainable is None:
            self._trainable = self._measure_trainable(x)
        return self._trainable

    def _measure_trainable(self, x: torch.Tensor) -> bool:
        twin = self._twin(self._given)
        if twin is None:
            return True  # not measurable: taken to move
        tol = 1e-6
        probe = x[:2]
        try:
            twin.model.double()
            probe = probe.double() if probe.is_floating_point() else probe
            twin.settle(probe)
        except Exception:  # a model that refuses float64: its own dtype, a looser tolerance
            twin, tol, probe = self._twin(self._given), 1e-3, x[:2]
            if twin is None:
                return True
            twin.settle(probe)
        before = [twin.c(l) for l in range(twin.n_blocks)]
        inside = {id(p) for b in twin.distinct for p in b.parameters()}
        with torch.no_grad():
            for p in twin.model.parameters():
                if p.requires_grad and id(p) not in inside and p.is_floating_point():
                    p.mul_(1.1).add_(0.01)
        try:
            twin.settle(probe)
        except AdapterError:
            return True
        if twin.spec.reading != "residual":
            return True
        after = [twin.c(l) for l in range(twin.n_blocks)]
        return any(not abs(a - b) <= tol * abs(a) for a, b in zip(before, after, strict=True))

    def probe(self, x: torch.Tensor) -> None:
        """Refuse, before any work, data the model refuses, a forward that does not chain the
        blocks, a block that changes the feature shape and a head that refuses the stage's
        output, on the first two points of x (in evaluation mode, without gradients: a probe
        in training mode would move batch norms' running statistics). Also measures whether
        the forward is random at evaluation (two calls differ): ``random_at_eval``."""
        probe = x[:2]
        with torch.no_grad(), evaluating(self.model):
            refuse_input_changes(self.model, probe)
            z = self.features(probe)
            for l in range(self.n_blocks):
                z = z + self.delta(l, z)  # names the first block that changes the shape
            try:
                self.head(z, probe)
            except Exception as exc:
                raise AdapterError(f"the model's head failed on the stage's output: "
                                   f"{type(exc).__name__}: {exc}") from None
            self.random_at_eval = random_at_evaluation(self.model, probe)

    def head(self, z_last: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The model's output with the stage's output replaced by z_last (x: the model input,
        which the hooks need to run the forward)."""
        if self._head is not None:
            return self._head(z_last)

        # a block tied across steps gets z_last at each of its calls: every step then lands
        # on z_last, so the forward's output is the head's at z_last all the same
        def put(module, args, kwargs, out):
            if self.spec.reading == "residual":  # the forward then computes z + c out
                new = (z_last - block_input(module, args, kwargs)) / self.c(self.n_blocks - 1)
            else:
                new = z_last.clone()  # the rest of the forward may change it in place
            return with_block_output(out, new)

        handle = self.blocks[-1].register_forward_hook(put, with_kwargs=True)
        try:
            return self.model(x)
        finally:
            handle.remove()

    # --- the flow -------------------------------------------------------------------------------

    def call_block(self, l: int, z: torch.Tensor, blocks: list | None = None):
        """Block l on the features z, with the arguments the forward gives it at step l where
        they are bound (``bound``: block(z, t_l)), else block(z); ``blocks``: another list of
        the same steps (a copy's)."""
        block = (blocks or self.blocks)[l]
        if self.bound is None or self.bound[l] is None:
            return block(z)
        args, kwargs = self.bound[l]

        def put(v):
            if v is _FEATURES:
                return z
            if isinstance(v, _PerPoint):
                return v.row.to(z.device).expand(len(z), *v.row.shape[1:])
            return v.to(z.device) if isinstance(v, torch.Tensor) else v

        return block(*(put(v) for v in args), **{k: put(v) for k, v in kwargs.items()})

    def delta(self, l: int, z: torch.Tensor) -> torch.Tensor:
        """Delta_l(z): block(z) - z ("block") or h block(z) ("branch"); shape kept or refused."""
        # batch statistics: training mode, or a norm that keeps no running statistics
        if not self._warned and any(m.training or m.running_mean is None for m in self._norms):
            self._warned = True
            warnings.warn(
                f"stage {self.spec.path!r} is read with batch normalisation using batch "
                "statistics (training mode, or track_running_stats=False): each point's "
                "velocity then depends on the rest of its batch, and in training mode every "
                "call updates the model's running statistics; call model.eval() (with running "
                "statistics) before reading it as a flow", BatchStatisticsWarning, stacklevel=2)
        if not self._chained:
            raise AdapterError("the stage's reading is settled on the model's forward: call "
                               "features(x) or probe(x) with model inputs before delta, "
                               "velocity or flow")
        try:
            # on a copy: a block that changes its input in place (relu_(x), out += x on x)
            # would otherwise change z under the difference block(z) - z
            raw = self.call_block(l, z.clone())
        except TypeError as exc:  # a block that needs more than the features (a mask, a scale)
            raise AdapterError(
                f"block {l} of stage {self.spec.path!r} cannot be called on the features alone "
                f"({exc}): the flow calls each block as block(z); wrap the blocks in modules "
                "that bind their other arguments, or point --stage at such modules") from None
        out = block_output(raw)
        if out is None or out.shape != z.shape:
            shape = tuple(out.shape) if out is not None else type(raw).__name__
            raise AdapterError(f"block {l} of stage {self.spec.path!r} maps features of shape "
                               f"{tuple(z.shape)} to {shape}: a residual stage keeps one "
                               "feature shape (point --stage at the blocks between two "
                               "downsamplings"
                               + (f", e.g. {self.spec.path}[{l + 1}:]" if l == 0 else "")
                               + ")")
        if self.spec.reading == "block":
            return out - z
        return self.step * out if self.spec.reading == "branch" else self.c(l) * out

    def c(self, l: int) -> float:
        """The weight c_l with which the forward adds block l's output (reading
        "residual": one c, or one per step; see StageSpec)."""
        return self.spec.scales[l] if self.spec.scales else self.spec.scale

    def velocity(self, l: int, z: torch.Tensor) -> torch.Tensor:
        """v_l(z) = Delta_l(z) / h."""
        return self.delta(l, z) / self.step

    def drift(self, l: int, z: torch.Tensor, substeps: int = 1) -> torch.Tensor:
        """One Euler sub-step's drift (h / r) v_l(z) = Delta_l(z) / r (r = 1: the block)."""
        d = self.delta(l, z)
        return d if substeps == 1 else d / substeps

    def flow(self, z: torch.Tensor, *, sigma: float = 0.0, substeps: int = 1,
             generator: torch.Generator | None = None,
             noise: list[torch.Tensor] | None = None,
             return_path: bool = False):
        """z_L from z_0: r = ``substeps`` Euler(-Maruyama) steps of size h / r per block with the
        block's velocity v_l (r = 1 and sigma = 0 is the network itself), plus sigma sqrt(h/r)
        xi per step when sigma > 0 (``noise``: the increments xi, one tensor per step)."""
        if substeps < 1:
            raise AdapterError(f"substeps = {substeps}; must be >= 1")
        if sigma < 0 or not math.isfinite(sigma):
            raise AdapterError(f"sigma = {sigma}; must be a finite number >= 0")
        from .stepping import euler_maruyama

        return euler_maruyama(self.drift, self.n_blocks, self.step, z, sigma=sigma,
                              substeps=substeps, generator=generator, noise=noise,
                              path="block" if return_path else None)

    def logits(self, x: torch.Tensor, *, sigma: float = 0.0, substeps: int = 1,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """The model's output with the stage run by :meth:`flow` (noise injected if sigma > 0)."""
        return self.head(self.flow(self.features(x), sigma=sigma, substeps=substeps,
                                   generator=generator), x)

    def trajectory(self, x: torch.Tensor, **kw) -> list[torch.Tensor]:
        """[z_0, ..., z_L] of the network at the input x (one draw when sigma > 0)."""
        return self.flow(self.features(x), return_path=True, **kw)[1]


def forked(x: torch.Tensor):
    """torch.random.fork_rng over the CPU generator and, for a CUDA tensor x, its device's:
    the draws made inside leave both as they were, so passes repeated inside one another's
    fork draw alike on the GPU too (devices=[] forks the CPU's alone)."""
    if x.is_cuda:
        return torch.random.fork_rng(devices=[x.device.index if x.device.index is not None
                                              else torch.cuda.current_device()])
    return torch.random.fork_rng(devices=[])


def random_at_evaluation(model: nn.Module, x: torch.Tensor) -> bool:
    """Whether two calls of ``model`` (as it is, under no_grad) on x differ: randomness of
    its own at evaluation; the global generator restored after."""
    with torch.no_grad(), forked(x):
        return _differ(model(x), model(x))


def _differ(a, b) -> bool:
    """Two outputs of one call repeated differ (NaN equal to NaN; non-tensors never differ)."""
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
        return False
    return a.shape != b.shape or not torch.allclose(a, b, rtol=0.0, atol=0.0, equal_nan=True)


def _zero_weight(path: str, l: int, seen: str = "") -> AdapterError:
    """The refusal of a step added with weight c = 0 (``seen``: how it showed)."""
    return AdapterError(
        f"stage {path!r}: {seen}the forward adds block {l}'s output with weight c = 0 (a "
        "ReZero-style scale at its initial value?), so the blocks do not move the features "
        "and there is no velocity to read; read the stage once c != 0 (after training)")


def weights_text(scale: float, scales=()) -> str:
    """The forward's skip weights in words: "c = 0.25", or "c_l = 0.2, 0.3, 0.1 for blocks
    0..2" where each step has its own (StageSpec.scales)."""
    if scales:
        return (f"c_l = {', '.join(f'{c:.4g}' for c in scales)} for blocks "
                f"0..{len(scales) - 1}")
    return f"c = {scale:.4g}"


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """a = b to 1e-6 of max |a|."""
    return bool((a - b).abs().max() <= 1e-6 * max(float(a.abs().max()), 1e-30))


def _scale(z: torch.Tensor, o: torch.Tensor, n: torch.Tensor) -> float | None:
    """c with n = z + c o (least squares) to the rounding of the features' dtype (16 eps of
    max |z| + max |n|: z + c o is computed at that precision), else None; 0.0 where n = z
    (the output is added with weight 0)."""
    d, o64 = n.double() - z.double(), o.double()
    oo = float((o64 * o64).sum())
    if oo == 0:
        return None
    c = float((d * o64).sum()) / oo
    eps = torch.finfo(n.dtype).eps if n.is_floating_point() else 0.0
    tol = 16 * eps * (float(z.abs().max()) + float(n.abs().max()))
    resid = float((d - c * o64).abs().max())
    return c if resid <= max(tol, 1e-12 * float(d.abs().max())) else None


def diffusion_resnet_stage(model: DiffusionResNet) -> ResidualStage:
    """The toolkit's DiffusionResNet through the adapter: branches g_l, encoder, base."""
    return ResidualStage(model, StageSpec("blocks", model.t_end, "branch"),
                         stem=model.encoder, head=model.base)


def adapt(model: nn.Module, stage: str | None = None, *, t_end: float = 1.0) -> ResidualStage:
    """A ResidualStage for any model: DiffusionResNet is recognised; others need ``stage``."""
    if isinstance(model, DiffusionResNet) and stage in (None, "blocks"):
        return diffusion_resnet_stage(model)
    if stage is None:
        raise AdapterError(f"a {type(model).__name__} needs the dotted path of its residual "
                           "stage (--stage), e.g. layer1")
    return ResidualStage(model, StageSpec(stage, t_end))
