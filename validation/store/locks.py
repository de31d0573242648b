"""Claims on cache entries shared by concurrent runs, and removal of what dead runs left.

A claim is a lock file created with O_CREAT | O_EXCL, holding the owner's host, pid and process
start time. Another run that finds it waits until the entry is complete or the lock goes away.
A lock is stale when its owner is on this host and that process no longer runs (the start time
guards against a reused pid); a stale lock is removed, reported, and the entry claimed anew.
Temporary files and folders carry their owner's pid in their names for the same rule.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

HOST = socket.gethostname()
# '.NAME.tmp-HOST-PID' (stage folders) and '.NAME.HOST-PID-<random>.tmp' (atomic writes)
_TMP = re.compile(r"^\..+\.(?:tmp-(?P<h1>\w+)-(?P<p1>\d+)|(?P<h2>\w+)-(?P<p2>\d+)-\w+\.tmp)$")


def tmp_tag() -> str:
    """'HOST-PID' of the calling process (after a fork the pid differs: computed each time)."""
    return re.sub(r"[^A-Za-z0-9]", "_", HOST) + f"-{os.getpid()}"


def say(message: str) -> None:
    """One line on stderr that does not break a tqdm progress bar."""
    try:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)
    except ImportError:  # pragma: no cover - tqdm is a core dependency
        print(message, file=sys.stderr)


def _start_time(pid: int) -> str | None:
    """The process start time in clock ticks since boot (Linux /proc), None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 overall: starttime


def process_alive(pid: int, start: str | None = None) -> bool:
    """Whether process ``pid`` runs on this host (and, if ``start`` is given, is the same
    process that recorded it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        pass
    return start is None or _start_time(pid) in (None, start)


def _owner() -> dict:
    return {"host": HOST, "pid": os.getpid(), "start": _start_time(os.getpid()),
            "since": time.time()}


def _stale(lock: Path) -> bool:
    try:
        owner = json.loads(lock.read_text())
    except FileNotFoundError:
        return False
    except (OSError, ValueError):  # being written right now, or garbage left by a crash
        try:
            return time.time() - lock.stat().st_mtime > 10.0
        except FileNotFoundError:
            return False
    if owner.get("host") != HOST:  # another machine of a shared cache: trust it
        return False
    return not process_alive(int(owner["pid"]), owner.get("start"))


@contextmanager
def claim(lock: str | os.PathLike, done: Callable[[], bool], what: str,
          poll: float = 0.2) -> Iterator[bool]:
    """Hold ``lock`` while the body computes ``what``; yields True once held, or False as soon
    as ``done()`` says another run has completed it (the body must then reuse that result)."""
    lock = Path(lock)
    lock.parent.mkdir(parents=True, exist_ok=True)
    told = False
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if done():
                yield False
                return
            if _stale(lock):
                say(f"cache: removing the stale lock {lock} (its run has ended)")
                lock.unlink(missing_ok=True)
                continue
            if not told:
                say(f"cache: waiting for {what}, which another run is computing ({lock})")
                told = True
            time.sleep(poll)
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump(_owner(), fh)
        break
    try:
        yield True
    finally:
        lock.unlink(missing_ok=True)


def clean_stale(folder: str | os.PathLike) -> list[Path]:
    """Remove temporary files/folders in ``folder`` (recursively) whose owning process on this
    host has ended; returns what was removed."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for path in list(folder.rglob(".*")):
        m = _TMP.match(path.name)
        if not m or not path.exists():
            continue
        host = m.group("h1") or m.group("h2")
        pid = int(m.group("p1") or m.group("p2"))
        if host != re.sub(r"[^A-Za-z0-9]", "_", HOST) or pid == os.getpid() \
                or process_alive(pid):
            continue  # another machine's, ours, or a live run's
        try:  # a read-only cache keeps what it holds: nothing to remove there
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError:
            continue
        removed.append(path)
    if removed:
        say(f"cache: removed {len(removed)} temporary file(s) left by ended runs in {folder}")
    return removed
