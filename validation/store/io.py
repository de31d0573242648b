"""Atomic, reproducible output: write to a temporary file in the same folder, then rename."""

from __future__ import annotations

import errno
import json
import os
import platform
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .locks import tmp_tag


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the owner in the name lets locks.clean_stale remove what a killed run left
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{tmp_tag()}-",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
        os.replace(tmp, path)
    except OSError as exc:  # name the file the caller asked for, not the temporary one
        Path(tmp).unlink(missing_ok=True)
        raise _destination_error(exc, path) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _destination_error(exc: OSError, path: Path) -> OSError:
    """``exc`` re-raised naming the destination ``path`` (CPython names a copy's source, and
    an atomic write its temporary file); a full disk also says how much space is free."""
    why = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        try:
            free = shutil.disk_usage(path.parent).free
            why += f" ({free / 1e6:.1f} MB free there; free space or choose another folder)"
        except OSError:
            pass
    return OSError(exc.errno, why, str(path))


def takes_a_file(folder: str | os.PathLike) -> str | None:
    """None when a file can be created in ``folder`` (a probe, removed at once), else why not.
    os.access says yes for root on read-only mounts and pseudo file systems such as /proc,
    where no file can be made."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".cdverify-probe-")
    except OSError as exc:
        return f"cannot take a file: {folder}: {exc.strerror or exc}"
    os.close(fd)
    os.unlink(probe)
    return None


def copy_file(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy ``src`` to ``dst`` (folders made); a failure names the destination, and a full
    disk its free space, not the source (which is a good file: CPython's copy names it)."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(src, dst)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.EACCES) and not Path(src).is_file():
            raise  # the source is what is missing or unreadable: CPython names it rightly
        raise _destination_error(exc, dst) from exc
    return dst


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


#: the key of a JSON document that lists the values written as null because they were not
#: finite numbers: {JSON pointer: "NaN" | "Infinity" | "-Infinity"} (RFC 6901 pointers)
NON_FINITE = "_non_finite"


def _pointer(parts: list) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _strict(obj: Any, parts: list, found: dict) -> Any:
    """obj with every non-finite float replaced by None, recorded in ``found``."""
    import math

    if isinstance(obj, float) and not math.isfinite(obj):
        found[_pointer(parts)] = "NaN" if obj != obj else ("Infinity" if obj > 0 else
                                                           "-Infinity")
        return None
    if isinstance(obj, dict):
        return {k: _strict(v, [*parts, k], found) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_strict(v, [*parts, i], found) for i, v in enumerate(obj)]
    return obj


def dumps(doc: Any, **kw) -> str:
    """Strict JSON (RFC 8259: no bare NaN or Infinity, which jq and JavaScript refuse): a value
    that is not a finite number is written as null, and a dict document lists each such value
    under ``_non_finite`` (its JSON pointer and what it was), so that :func:`loads` restores
    it. Objects JSON does not know are written as their str()."""
    found: dict = {}
    clean = _strict(doc, [], found)
    if found:
        if not isinstance(clean, dict):
            raise ValueError(f"non-finite values at {sorted(found)} in a JSON document that is "
                             "not an object: nowhere to record them")
        clean = {**clean, NON_FINITE: found}
    return json.dumps(clean, allow_nan=False, default=str, **kw)


def loads(text: str) -> Any:
    """A document written by :func:`dumps`, its non-finite values restored (NaN, +-inf)."""
    doc = json.loads(text)
    if not (isinstance(doc, dict) and isinstance(doc.get(NON_FINITE), dict)):
        return doc
    for ptr, what in doc.pop(NON_FINITE).items():
        parts = [p.replace("~1", "/").replace("~0", "~") for p in ptr.split("/")[1:]]
        where = doc
        try:
            for p in parts[:-1]:
                where = where[int(p)] if isinstance(where, list) else where[p]
            last = parts[-1]
            value = {"NaN": float("nan"), "Infinity": float("inf"),
                     "-Infinity": float("-inf")}[what]
            if isinstance(where, list):
                where[int(last)] = value
            else:
                where[last] = value
        except (KeyError, IndexError, ValueError, TypeError):
            raise ValueError(f"{NON_FINITE} names {ptr!r} ({what!r}), which the document does "
                             "not hold") from None
    return doc


def load_failure(exc: BaseException) -> str:
    """Why ``torch.load(..., weights_only=True)`` failed, in one line: torch's own messages run
    over several lines with terminal colour codes; the weights-only unpickler's refusal is
    named for what it most often is, a whole pickled module."""
    import pickle
    import re

    if isinstance(exc, pickle.UnpicklingError):
        return ("it holds objects other than tensors and plain containers, a whole pickled "
                "module (torch.save(model))?, which are not unpickled: unpickling runs code")
    return re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().split("\n")[0][:160]


def package_versions() -> dict[str, str]:
    """Versions of the packages that determine the numbers (for provenance)."""
    out = {"python": platform.python_version()}
    for name in ("cdverify", "numpy", "scipy", "sympy", "torch", "matplotlib"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def with_provenance(payload: dict[str, Any], *, config: dict | None = None,
                    seed: int | str | None = None) -> dict[str, Any]:
    """``payload`` with its config, seed and package versions beside it."""
    return {"config": config or {}, "seed": seed, "versions": package_versions(), **payload}


def write_json(path: str | os.PathLike, payload: dict[str, Any], *, config: dict | None = None,
               seed: int | str | None = None) -> Path:
    """Atomically write payload with config, seed and package versions beside it."""
    return atomic_write_text(path, dumps(with_provenance(payload, config=config, seed=seed),
                                         indent=2))


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Render a matplotlib figure to PNG atomically and close it."""
    import io as _io

    import matplotlib.pyplot as plt

    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())
