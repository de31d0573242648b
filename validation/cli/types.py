"""argparse value types that refuse bad input before any work starts.

argparse turns an ArgumentTypeError into one line, ``argument --NAME: MESSAGE``, and exit
status 2: the option is named, and the message says what a valid value is.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
from pathlib import Path


def _integer(text: str, lowest: int, what: str, below: str) -> int:
    """An integer >= lowest; ``what`` names a valid value, ``below`` what a smaller one is."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; give {what}") from None
    if value < lowest:
        raise argparse.ArgumentTypeError(f"{value} is {below}; give {what}")
    return value


def count(text: str) -> int:
    """An integer >= 1 (seeds, epochs, blocks, points, draws, steps)."""
    return _integer(text, 1, "a count >= 1", "below 1")


def count0(text: str) -> int:
    """An integer >= 0 (a count where 0 switches the step off)."""
    return _integer(text, 0, "a count >= 0 (0: none)", "negative")


def _at_most(value, top, why: str, give: str):
    """``value`` if it is at most ``top``, else the parser's error: above it, why, what to give."""
    if value > top:
        raise argparse.ArgumentTypeError(f"{value:g} is above {top:g}: {why}; give {give}")
    return value


def dimension(text: str) -> int:
    """A feature dimension d of the symbolic derivation: 1 .. theory.axioms.MAX_DIM."""
    from theory.axioms import MAX_DIM  # derive imports sympy anyway

    value = count(text)
    return _at_most(value, MAX_DIM, "the symbolic derivation's cost grows 3-4x per "
                    f"dimension (204 s at d = 4 on one core), so d = {value} would run for hours",
                    f"1 .. {MAX_DIM}")


def seed(text: str) -> int:
    """An integer >= 0 (a seed of numpy's and torch's generators)."""
    return _integer(text, 0, "a seed >= 0", "negative")


def agreement_grid(text: str) -> int:
    """Cells per axis of the agreement's 2-D grid: its study runs at n/4 .. 2n, so n/4 >= 8
    (cubic interpolation and an error estimate need a few cells) and (2n)^2 within the
    solver's MAX_CELLS."""
    from numerics.grid import MAX_CELLS

    n = count(text)
    top = int((MAX_CELLS ** 0.5) // 2)
    if n < 32 or n > top:
        raise argparse.ArgumentTypeError(f"{n} cells per axis: give 32 .. {top} (the grid study "
                                         f"runs at n/4 = {n // 4} .. 2n = {2 * n} per axis)")
    return n


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not finite; give a finite number")
    return value


def nonnegative(text: str) -> float:
    """A finite number >= 0 (noise levels, weight decay)."""
    value = _finite(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; give a number >= 0")
    return value


def positive(text: str) -> float:
    """A finite number > 0 (depths, time steps)."""
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not > 0; give a number > 0")
    return value


def noise_level(text: str) -> float:
    """A noise level sigma: a finite number in [0, MAX_SIGMA] (nets.data.MAX_SIGMA)."""
    from validation.nets.data import MAX_SIGMA

    value = nonnegative(text)
    return _at_most(value, MAX_SIGMA, "the noise sigma sqrt(T) would exceed the unit box of "
                    f"the features {value:g}-fold and the output would be noise",
                    f"0 .. {MAX_SIGMA:g}")


def noise_levels(text: str) -> tuple[float, ...]:
    """Comma-separated noise levels in [0, MAX_SIGMA], increasing, each once."""
    return _increasing(text, _each(text, _items(text, "0,0.1,0.3"), noise_level), "0,0.1,0.3")


def effect(text: str) -> float:
    """A smallest effect of interest delta in (0, 1]: an accuracy difference, or a fraction of
    the baseline's mean; above 1 every verdict would read 'refuted at delta'."""
    return _at_most(positive(text), 1, "delta is an accuracy difference or a fraction of the "
                    "baseline's mean, and no effect can reach it (the verdict would be "
                    "'refuted at delta' on any data)", "0 < delta <= 1")


def _items(text: str, example: str) -> list[str]:
    items = [s.strip() for s in text.split(",")]
    if not items or any(s == "" for s in items):
        raise argparse.ArgumentTypeError(f"{text!r} has an empty item; give values separated "
                                         f"by commas, e.g. {example}")
    return items


def _each(text: str, items: list[str], kind) -> list:
    out = []
    for s in items:
        try:
            out.append(kind(s))
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return out


def _increasing(text: str, values: list, example: str) -> tuple:
    """Each value once, in increasing order: a repeated noise level or radius would count one
    setting twice (n = 2 with sd 0), an unsorted list mislabel a sweep's table."""
    for a, b in itertools.pairwise(values):
        if b == a:
            raise argparse.ArgumentTypeError(f"{text!r}: {a:g} appears twice; give each value "
                                             f"once, e.g. {example}")
        if b < a:
            raise argparse.ArgumentTypeError(f"{text!r}: {b:g} comes after {a:g}; give the "
                                             f"values in increasing order, e.g. {example}")
    return tuple(values)


def nonnegative_list(text: str) -> tuple[float, ...]:
    """Comma-separated finite numbers >= 0 in increasing order, each once, e.g. '0,0.1,0.3'."""
    return _increasing(text, _each(text, _items(text, "0,0.1,0.3"), nonnegative), "0,0.1,0.3")


def positive_list(text: str) -> tuple[float, ...]:
    """Comma-separated finite numbers > 0 in increasing order, each once, e.g. '0.5,1,2'."""
    return _increasing(text, _each(text, _items(text, "0.5,1,2"), positive), "0.5,1,2")


def size_list(text: str) -> tuple[int, ...]:
    """At least 4 increasing comma-separated counts (sample sizes of a convergence study)."""
    values = tuple(_each(text, _items(text, "500,1000,2000,4000"), count))
    if len(values) < 4 or any(b <= a for a, b in itertools.pairwise(values)):
        raise argparse.ArgumentTypeError(f"{text!r}: give at least 4 increasing sizes (a fitted "
                                         "order needs 4 refinements), e.g. 500,1000,2000,4000")
    return values


def substep_list(text: str) -> tuple[int, ...] | str:
    """Sub-step counts of a Feynman-Kac refinement, e.g. '1,2,4,8,16': at least 3, the first 1
    (the network itself), increasing, each dividing the finest (at most 1024); or 'auto'."""
    from validation.stats.fit import substeps_problem

    if text.strip() == "auto":
        return "auto"
    values = tuple(_each(text, _items(text, "1,2,4,8,16"), count))
    problem = substeps_problem(values)
    if problem:
        raise argparse.ArgumentTypeError(f"{text!r}: {problem}")
    return values


def data_list(text: str) -> tuple[str, ...]:
    """Comma-separated names of data sets, e.g. 'moons,digits', each one of data.NAMES."""
    from validation.nets.data import NAMES

    items = _items(text, "moons,digits")
    bad = [s for s in items if s not in NAMES]
    if bad or len(set(items)) != len(items):
        raise argparse.ArgumentTypeError(f"{text!r}: " + (f"unknown {', '.join(bad)}; valid: "
                                         f"{', '.join(NAMES)}" if bad else "a name is repeated"))
    return tuple(items)


def folder_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot become a writable folder, or None. Creates nothing: the nearest
    existing ancestor must be a writable directory, and ``path`` itself, if it exists, a
    directory."""
    from validation.store.io import takes_a_file

    p = Path(path).expanduser().absolute()
    if p.exists():
        if not p.is_dir():
            return "exists and is not a folder"
        return takes_a_file(p) if os.access(p, os.W_OK | os.X_OK) else "is not writable"
    parent = p.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"lies under {parent}, which is a file"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be created: {parent} is not writable"
    return takes_a_file(parent)


def refuse_unwritable_files(args: argparse.Namespace, options: tuple[str, ...]) -> None:
    """ValueError naming the first of ``options`` (file paths, None: not given) that cannot be
    written as a file."""
    for option in options:
        path = getattr(args, option, None)
        problem = None if path is None else file_problem(path)
        if problem:
            raise ValueError(f"--{option} {path}: {problem}")


def file_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be written as a file, or None (creates nothing that stays)."""
    p = Path(path).expanduser().absolute()
    if p.is_dir():
        return "is a folder; give a file name"
    if p.exists() and not os.access(p, os.W_OK):
        return "is not writable"
    return folder_problem(p.parent)


def axiom_list(text: str) -> str:
    """Comma-separated axiom names A1..A9 (case-insensitive), no empty or repeated item;
    returned as the canonical 'A1,A2,...' in numerical order."""
    from theory.axioms import AXIOMS

    items = [s.strip() for s in text.split(",")]
    if any(s == "" for s in items):
        raise argparse.ArgumentTypeError(f"{text!r} has an empty item; give axiom names "
                                         "separated by commas, e.g. A1,A2,A3,A5,A6")
    names = [s.upper() for s in items]
    bad = [s for s in items if s.upper() not in AXIOMS]
    if bad:
        raise argparse.ArgumentTypeError(f"{text!r}: unknown axiom {bad[0]!r}; valid: "
                                         f"{', '.join(AXIOMS)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"{text!r}: {repeated[0]} is given twice")
    return ",".join(sorted(names, key=lambda k: int(k[1:])))
