"""What the machine can give a command before it starts: the memory available now."""

from __future__ import annotations

import os


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation without swapping: MemAvailable of
    /proc/meminfo on Linux, else free physical pages x page size; None where neither is
    readable (the caller then cannot check and says nothing)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
