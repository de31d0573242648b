r"""Benchmark data sets with shaped inputs, generated or read locally (never downloaded):

- ``mnist1d``: MNIST-1D (Greydanus 2020) from the ``mnist1d`` package's procedural generator
  with its default arguments: 4,000 training and 1,000 test signals of length 40, 10 classes,
  inputs of shape 1 x 40 (the generator's own scale, no box). The generator reseeds numpy's
  global RNG; its state is saved and restored around it, and the arrays are cached
  (``$CDVERIFY_DATA``, default ``~/.cache/cdverify/data``) keyed by the generator's arguments.
- ``digits-img``: scikit-learn's 8 x 8 digits as 1 x 8 x 8 images in [0, 1] (pixel / 16), a
  fixed stratified 75 / 25 split (split seed 0).
- ``cifar10:ROOT``: CIFAR-10's python batches (``data_batch_1..5``, ``test_batch``, as the
  official archive unpacks them, in ROOT or ROOT/cifar-10-batches-py, or read from the
  archive itself: ROOT the downloaded ``cifar-10-python.tar.gz`` or a folder holding it and
  nothing unpacked), 3 x 32 x 32 in [0, 1].
- ``image-folder:ROOT``: ROOT/train/CLASS/... and ROOT/test/CLASS/... (ROOT/val/CLASS/...,
  ImageNet's layout, where there is no test folder: the held-out split), torchvision's
  ImageFolder layout and order (classes are the sorted folder names; each class's images are
  found by a sorted walk of its folder, subfolders included, with ImageFolder's extensions),
  read with Pillow, C x H x W in [0, 1] (8-bit values / 255, 16-bit grey / 65535; alpha
  dropped). A folder of grey images alone keeps one channel, where ImageFolder's loader makes
  three equal ones; with any colour image among them every image is read as RGB (grey ones
  with three equal channels, as ImageFolder reads them). Every image must have one size.

Both readers are the toolkit's own, so that they need no torchvision (whose wheels match only
some torch builds; see the README) and so that a folder's pickles cannot run code
(torchvision's CIFAR10 calls ``pickle.load``; this reader admits arrays only). Where torchvision
is installed, the tests check that they return exactly what ``torchvision.datasets.CIFAR10``
and ``ImageFolder`` return on the same folder.

The published splits are kept (MNIST-1D's train / test), so anchors are on the same split as
their publication; the validation split is empty (a fixed schedule, no early stopping).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
from pathlib import Path

import numpy as np

from .data import DataError, Dataset

BENCHMARK_NAMES = ("mnist1d", "digits-img", "cifar10:ROOT", "image-folder:ROOT")

#: published test accuracies on MNIST-1D (Greydanus 2020, table 1), the anchors of its studies
MNIST1D_PUBLISHED = {"logistic regression": 0.32, "MLP": 0.68, "CNN": 0.94, "GRU": 0.91}

#: torchvision's ImageFolder extensions (torchvision.datasets.folder.IMG_EXTENSIONS)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def data_cache_dir() -> Path:
    """Where generated arrays are cached: $CDVERIFY_DATA or ~/.cache/cdverify/data."""
    return Path(os.environ.get("CDVERIFY_DATA", Path.home() / ".cache" / "cdverify" / "data"))


def is_benchmark(name: str) -> bool:
    """Whether ``name`` names a benchmark data set of this module (with or without ROOT)."""
    return name in ("mnist1d", "digits-img") or name.split(":", 1)[0] in ("cifar10",
                                                                         "image-folder")


def _empty_like(x: np.ndarray) -> np.ndarray:
    return np.zeros((0,) + x.shape[1:], dtype=x.dtype)


def _dataset(name: str, x_tr, y_tr, x_te, y_te, *, bounds, seed: int = 0) -> Dataset:
    n_classes = int(max(y_tr.max(), y_te.max())) + 1
    return Dataset(name, x_tr, y_tr, _empty_like(x_tr), np.zeros(0, int), x_te, y_te, n_classes,
                   seed, bounds=bounds)


def mnist1d(*, cache: bool = True) -> Dataset:
    """MNIST-1D with the package's default arguments (see the module docstring)."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise DataError("--data mnist1d needs the mnist1d package: pip install mnist1d "
                        "(a dependency of cdverify: reinstall it)") from None
    args = get_dataset_args()
    key = hashlib.sha256(json.dumps(vars(args), sort_keys=True, default=str).encode()
                         ).hexdigest()[:16]
    path = data_cache_dir() / f"mnist1d-{key}.npz"
    if cache and path.is_file():
        with np.load(path) as f:
            arrays = {k: f[k] for k in ("x", "y", "x_test", "y_test")}
    else:
        state = np.random.get_state()  # noqa: NPY002 (make_dataset reseeds the global RNG)
        try:
            raw = make_dataset(args)
        finally:
            np.random.set_state(state)  # noqa: NPY002
        arrays = {"x": raw["x"], "y": raw["y"], "x_test": raw["x_test"], "y_test": raw["y_test"]}
        if cache:
            from validation.store.io import atomic_write_bytes

            buf = io.BytesIO()
            np.savez(buf, **arrays)
            atomic_write_bytes(path, buf.getvalue())
    f32 = {k: np.asarray(arrays[k], np.float32)[:, None, :] for k in ("x", "x_test")}
    return _dataset("mnist1d", f32["x"], np.asarray(arrays["y"], int), f32["x_test"],
                    np.asarray(arrays["y_test"], int), bounds=None)


def digits_images(split_seed: int = 0) -> Dataset:
    """scikit-learn's digits as 1 x 8 x 8 images in [0, 1], stratified 75 / 25 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    x_tr, x_te, y_tr, y_te = train_test_split(x, d.target.astype(int), test_size=0.25,
                                              stratify=d.target, random_state=split_seed)
    return _dataset("digits-img", x_tr, y_tr, x_te, y_te, bounds=(0.0, 1.0))


class _ArraysOnly(pickle.Unpickler):
    """CIFAR-10's batches are pickles: only dicts, lists, bytes and numpy arrays are let in
    (a pickle from a folder could otherwise run code)."""

    ALLOWED = frozenset({("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray",
                                                             "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")})

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch")


def _cifar_batch(path: Path | str, raw: bytes | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One batch's images (N x 3 x 32 x 32 in [0, 1]) and labels, from the file ``path`` or
    from ``raw``, its bytes as read from the archive (``path`` then names the member)."""
    try:
        with (io.BytesIO(raw) if raw is not None else Path(path).open("rb")) as f:
            blob = _ArraysOnly(f, encoding="bytes").load()
        data = np.asarray(blob[b"data"] if b"data" in blob else blob["data"], dtype=np.uint8)
        labels = np.asarray(blob[b"labels"] if b"labels" in blob else blob["labels"], int)
    except Exception as exc:
        raise DataError(f"{path} is not a CIFAR-10 python batch ({type(exc).__name__}: "
                        f"{str(exc)[:120]}); expected a pickled dict with 'data' (N x 3072 "
                        "uint8) and 'labels'") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(f"{path}: data of shape {data.shape} with {len(labels)} labels; a "
                        "CIFAR-10 batch has N x 3072 uint8 and N labels")
    return data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0, labels


#: the file name of CIFAR-10's python archive as its site serves it
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"


def _cifar_archive(archive: Path, root: str, names: list[str]) -> list[tuple]:
    """The batches ``names`` read from the python archive itself (tar.gz, as downloaded):
    each member's bytes through the same restricted unpickler, nothing extracted to disk."""
    import tarfile

    try:
        with tarfile.open(archive, "r:*") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers()
                       if m.isfile() and Path(m.name).name in names}
            missing = [n for n in names if n not in members]
            if missing:
                raise DataError(f"--data cifar10:{root}: the archive {archive} lacks "
                                f"{', '.join(missing)}; expected CIFAR-10's python archive "
                                f"({CIFAR_ARCHIVE})")
            return [_cifar_batch(f"{archive}:{members[n].name}",
                                 tar.extractfile(members[n]).read()) for n in names]
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"--data cifar10:{root}: {archive} is not a readable tar archive "
                        f"({type(exc).__name__}: {str(exc)[:100]}); give CIFAR-10's python "
                        f"archive ({CIFAR_ARCHIVE}) or the folder it unpacks to") from None


def _cifar_dataset(parts: list[tuple]) -> Dataset:
    """The data set of the five training batches and the test batch, in that order."""
    return _dataset("cifar10", np.concatenate([p[0] for p in parts[:5]]),
                    np.concatenate([p[1] for p in parts[:5]]), parts[5][0], parts[5][1],
                    bounds=(0.0, 1.0))


def cifar10(root: str) -> Dataset:
    """CIFAR-10 from its python batches under ``root`` (see the module docstring): the folder
    the archive unpacks to, the folder holding it, or the archive itself (a .tar.gz file, or
    a folder holding cifar-10-python.tar.gz and nothing unpacked)."""
    base = Path(root)
    if (base / "cifar-10-batches-py").is_dir():
        base = base / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    if base.is_file():  # the archive itself
        return _cifar_dataset(_cifar_archive(base, root, names))
    if (base / CIFAR_ARCHIVE).is_file() and not (base / names[0]).is_file():
        return _cifar_dataset(_cifar_archive(base / CIFAR_ARCHIVE, root, names))
    if not base.is_dir():
        raise DataError(f"--data cifar10:{root}: no folder {base}; give the folder of the "
                        "unpacked python archive (cifar-10-batches-py/ with data_batch_1..5 "
                        "and test_batch) or the folder holding it")
    missing = [n for n in names if not (base / n).is_file()]
    if missing:
        raise DataError(f"--data cifar10:{root}: {base} lacks {', '.join(missing)}; "
                        "expected the unpacked python archive (cifar-10-batches-py/ with "
                        "data_batch_1..5 and test_batch)")
    return _cifar_dataset([_cifar_batch(base / n) for n in names])


#: Pillow modes of grey images with 8-bit values (LA: grey with alpha, dropped)
GREY_8BIT = ("L", "1", "LA")
#: Pillow modes of grey images with 16-bit values (PNG, TIFF), scaled by 65535
GREY_16BIT = ("I;16", "I;16B", "I;16L", "I;16N")


def _pixels(p: Path) -> np.ndarray:
    """One image as C x H x W in [0, 1], C = 1 for grey and 3 for colour: 8-bit values / 255,
    16-bit grey / 65535 (Pillow's convert('L') would clip them at 255), alpha dropped; 32-bit
    integer or float pixels, whose range is unknown, are refused."""
    from PIL import Image

    try:
        with Image.open(p) as im:
            im.load()
            if im.mode in ("I", "F"):
                raise DataError(f"{p} has 32-bit {'integer' if im.mode == 'I' else 'float'} "
                                "pixels (Pillow mode " + repr(im.mode) + ") of unknown range; "
                                "save it as an 8- or 16-bit image")
            if im.mode in GREY_16BIT:
                arr = np.asarray(im, dtype=np.float32) / 65535.0
            else:
                grey = im.mode in GREY_8BIT
                arr = np.asarray(im.convert("L" if grey else "RGB"), dtype=np.float32) / 255.0
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{p} is not a readable image ({type(exc).__name__})") from None
    return np.ascontiguousarray(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))


def _read_split(folder: Path, classes: list[str] | None):
    """The images of one split (C x H x W each, C as read), their labels and classes."""
    found = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if not found:
        raise DataError(f"{folder} has no class folders; expected {folder}/CLASS/IMAGE.png")
    if classes is not None and found != classes:
        raise DataError(f"{folder} has classes {found}, the train folder {classes}; both splits "
                        "need the same class folders")
    xs, ys = [], []
    for c, name in enumerate(found):
        files = _images_of(folder / name)
        if not files:
            raise DataError(f"{folder / name} has no images ({', '.join(IMAGE_SUFFIXES)})")
        for p in files:
            arr = _pixels(p)
            if xs and arr.shape[1:] != xs[0].shape[1:]:
                raise DataError(f"{p} is {arr.shape[1]} x {arr.shape[2]}, the first image "
                                f"{xs[0].shape[1]} x {xs[0].shape[2]}; resize the folder to "
                                "one size")
            xs.append(arr)
            ys.append(c)
    return xs, np.asarray(ys, int), found


def _stacked(images: list[np.ndarray], colour: bool) -> np.ndarray:
    """One array of a split's images; with ``colour`` (any colour image in the data set) a
    grey image gets three equal channels, as ImageFolder's loader gives every image."""
    return np.stack([np.repeat(a, 3, axis=0) if colour and len(a) == 1 else a
                     for a in images])


def _images_of(folder: Path) -> list[Path]:
    """ImageFolder's files of one class: a sorted walk (links followed), sorted names, its
    extensions (case-insensitive)."""
    out = []
    for where, _, names in sorted(os.walk(folder, followlinks=True)):
        out += [Path(where) / n for n in sorted(names) if n.lower().endswith(IMAGE_SUFFIXES)]
    return out


def image_folder(root: str) -> Dataset:
    """ROOT/train/CLASS/* and ROOT/test/CLASS/* (ROOT/val/CLASS/*, ImageNet's layout, where
    there is no test folder) (see the module docstring)."""
    base = Path(root)
    held = "test" if (base / "test").is_dir() or not (base / "val").is_dir() else "val"
    for split in ("train", held):
        if not (base / split).is_dir():
            raise DataError(f"--data image-folder:{root}: no {base / split}/; expected "
                            f"{base}/train/CLASS/IMAGE and {base}/test/CLASS/IMAGE (or "
                            f"{base}/val/CLASS/IMAGE)")
    x_tr, y_tr, classes = _read_split(base / "train", None)
    x_te, y_te, _ = _read_split(base / held, classes)
    colour = any(len(a) == 3 for a in x_tr + x_te)
    x_tr, x_te = _stacked(x_tr, colour), _stacked(x_te, colour)
    if x_te.shape[1:] != x_tr.shape[1:]:
        raise DataError(f"test images are {x_te.shape[1:]}, training images {x_tr.shape[1:]}")
    return _dataset(f"image-folder:{base.name}", x_tr, y_tr, x_te, y_te, bounds=(0.0, 1.0))


def load_benchmark(name: str) -> Dataset:
    """The benchmark data set ``name`` (one of BENCHMARK_NAMES, ROOT a local folder)."""
    kind, _, root = name.partition(":")
    if kind == "mnist1d" and not root:
        return mnist1d()
    if kind == "digits-img" and not root:
        return digits_images()
    if kind in ("cifar10", "image-folder"):
        if not root:
            raise DataError(f"--data {name}: give the folder, {kind}:ROOT")
        return cifar10(root) if kind == "cifar10" else image_folder(root)
    raise DataError(f"unknown data set {name!r}; valid: {', '.join(BENCHMARK_NAMES)}")
