"""The report's document model: sections of blocks (paragraphs, tables, lists, figures) whose
inline content is plain text, code, formulas, strong text and links. Studies build it; the
Markdown and HTML renderers (render.py) turn the same model into both formats, so a formula
or a table cell is escaped in one place only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Code:
    """Literal text (a file name, an option, a command) in a monospace font."""

    text: str


@dataclass(frozen=True)
class Math:
    """A formula in sympy's plain-text syntax (``x**2``, ``S11(x1, x2)/2``); rendered by
    :func:`validation.doc.numbers.formula`."""

    text: str


@dataclass(frozen=True)
class Strong:
    content: tuple[Inline, ...]


@dataclass(frozen=True)
class Link:
    text: str
    href: str


Inline = str | Code | Math | Strong | Link
Runs = tuple[Inline, ...]


def runs(*parts: Inline | Iterable[Inline] | None) -> Runs:
    """Inline runs from strings, inline objects and iterables of them (None is skipped)."""
    out: list[Inline] = []
    for p in parts:
        if p is None:
            continue
        if isinstance(p, str | Code | Math | Strong | Link):
            out.append(p)
        else:
            out.extend(runs(*p))
    return tuple(out)


def code_spans(text: str) -> Runs:
    """Runs from text whose `...` spans are code (a title written with Markdown backticks)."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: no code spans, the text as written
        return (str(text),)
    return tuple(Code(p) if i % 2 else p for i, p in enumerate(parts) if p)


def strong(*parts) -> Strong:
    return Strong(runs(*parts))


@dataclass(frozen=True)
class Para:
    content: Runs


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 3


@dataclass(frozen=True)
class Items:
    """A bullet list; each item is a run of inline content."""

    items: tuple[Runs, ...]


@dataclass(frozen=True)
class Table:
    """A table: header cells and rows of cells, each cell a run of inline content; every row
    has as many cells as the header (checked)."""

    header: tuple[str, ...]
    rows: tuple[tuple[Runs, ...], ...]
    caption: str | None = None

    def __post_init__(self):
        bad = [i for i, r in enumerate(self.rows) if len(r) != len(self.header)]
        if bad:
            raise ValueError(f"table row {bad[0]} has {len(self.rows[bad[0]])} cells, the "
                             f"header {len(self.header)}: {self.header}")


@dataclass(frozen=True)
class Figure:
    """An image file (relative to the document's folder) with its caption."""

    path: str
    caption: str


Block = Para | Heading | Items | Table | Figure


@dataclass(frozen=True)
class Section:
    """One section of the report: an anchor, a title and its blocks."""

    anchor: str
    title: str
    blocks: tuple[Block, ...] = field(default_factory=tuple)


def para(*parts) -> Para:
    return Para(runs(*parts))


def items(*entries) -> Items:
    return Items(tuple(runs(e) for e in entries))


def table(header: Iterable[str], rows: Iterable[Iterable], caption: str | None = None) -> Table:
    """A Table whose cells may be strings, inline objects or sequences of them."""
    return Table(tuple(header), tuple(tuple(runs(c) for c in r) for r in rows), caption)
