"""Atomic, reproducible output: write to a temporary file in the same folder, then rename."""

from __future__ import annotations

import json
import os
import platform
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
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def package_versions() -> dict[str, str]:
    """Versions of the packages that determine the numbers (for provenance)."""
    out = {"python": platform.python_version()}
    for name in ("cdverify", "numpy", "scipy", "sympy", "torch", "matplotlib"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def write_json(path: str | os.PathLike, payload: dict[str, Any], *, config: dict | None = None,
               seed: int | str | None = None) -> Path:
    """Atomically write payload with config, seed and package versions beside it."""
    doc = {"config": config or {}, "seed": seed, "versions": package_versions(), **payload}
    return atomic_write_text(path, json.dumps(doc, indent=2, default=str))


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Render a matplotlib figure to PNG atomically and close it."""
    import io as _io

    import matplotlib.pyplot as plt

    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())
