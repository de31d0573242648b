"""Checks of what a reader sees: a rendered page, a Markdown file and a figure.

Each returns a list of problems (empty: none found), so a test can assert on it and a caller
can print it. They look for the defects a reader meets: a formula whose ``**`` became bold or
shows raw, a raw Markdown backtick (an empty or unrendered code span), a table row with more or
fewer cells than its header (an unescaped ``|``), 'nan' printed as a number; in figures, text
that overlaps other text (titles, labels, tick labels, legends) and legend entries whose artist
drew nothing.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_NAN = re.compile(r"(?<![A-Za-z])nan(?![A-Za-z])")


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tables: list[list[list[str]]] = []  # per table: rows of cell tags
        self.text: list[tuple[str, tuple[str, ...]]] = []
        self.orphans = 0  # <li> outside a list

    def handle_starttag(self, tag, attrs):
        if tag == "li" and not any(t in ("ul", "ol") for t in self.stack[-1:]):
            self.orphans += 1
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self.tables and self.tables[-1]:
            self.tables[-1][-1].append(tag)
        if tag not in ("img", "br", "meta", "hr", "input", "link"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        if data.strip():
            self.text.append((data, tuple(self.stack)))


def html_problems(page: str) -> list[str]:
    """Defects of a rendered HTML page (see the module docstring)."""
    parser = _Page()
    parser.feed(page)
    out = []
    for i, tab in enumerate(parser.tables):
        widths = {len(r) for r in tab if r}
        if len(widths) > 1:
            out.append(f"table {i}: rows with {sorted(widths)} cells (an unescaped '|' or a "
                       "broken row)")
    for text, stack in parser.text:
        if "style" in stack or "script" in stack:
            continue
        where = "/".join(stack[-3:])
        if "**" in text:
            out.append(f"raw '**' in {where}: {text[:80]!r}")
        if "`" in text and "code" not in stack and "pre" not in stack:
            out.append(f"a raw Markdown backtick in {where}: {text[:80]!r}")
        if _NAN.search(text):
            out.append(f"'nan' shown as a value in {where}: {text[:80]!r}")
    if re.search(r"<code[^>]*>[^<]*<b>", page):
        out.append("bold inside a code span: Markdown emphasis applied to a formula")
    if parser.orphans:
        out.append(f"{parser.orphans} list item(s) outside a list")
    return out


def _cells(row: str) -> int:
    """Cells of a Markdown table row, '|' escaped as '\\|' not counting."""
    body = row.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return len(re.split(r"(?<!\\)\|", body))


def markdown_problems(md: str) -> list[str]:
    """Defects of a Markdown document: table rows whose cell count differs from the header's,
    empty code spans, 'nan' shown as a value."""
    out = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and re.fullmatch(
                r"\|(\s*:?-+:?\s*\|)+", lines[i + 1].strip()):
            width = _cells(lines[i])
            j = i + 2
            while j < len(lines) and lines[j].startswith("|"):
                if _cells(lines[j]) != width:
                    out.append(f"line {j + 1}: {_cells(lines[j])} cells, the header {width}")
                j += 1
            i = j
            continue
        i += 1
    if re.search(r"(?<!`)``(?!`)", md.replace("`` ", "").replace(" ``", "")):
        out.append("an empty code span (``)")
    for n, line in enumerate(lines, 1):
        if _NAN.search(re.sub(r"`[^`]*`", "", line)):
            out.append(f"line {n}: 'nan' shown as a value")
    return out


def figure_problems(fig) -> list[str]:
    """Layout defects of a matplotlib figure, found on its drawn state: visible texts (titles,
    axis labels, tick labels, legend texts, annotations) whose boxes overlap, and legend
    entries whose artist has no finite data (a line promised in the legend, never drawn)."""
    import numpy as np
    from matplotlib.lines import Line2D

    # twice: a layout engine places the axes on the first draw from text sizes measured
    # before it, and settles on the second (what savefig then writes)
    fig.canvas.draw()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = []

    def add(t):
        if t is None or not t.get_visible() or not t.get_text().strip():
            return
        box = t.get_window_extent(renderer)
        if box.width > 0 and box.height > 0:
            texts.append((t.get_text(), box))

    for t in [fig._suptitle, *fig.texts]:
        add(t)
    for ax in fig.axes:
        for t in (ax.title, ax._left_title, ax._right_title,
                  ax.xaxis.label, ax.yaxis.label, *ax.texts):
            add(t)
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for loc, t in zip(axis.get_majorticklocs(), axis.get_majorticklabels(),
                              strict=False):
                if lo - 1e-9 * (abs(lo) + abs(hi)) <= loc <= hi + 1e-9 * (abs(lo) + abs(hi)):
                    add(t)
        leg = ax.get_legend()
        if leg is not None:
            for t in leg.get_texts():
                add(t)
    out = []
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            (a, ba), (b, bb) = texts[i], texts[j]
            if a == b and abs(ba.x0 - bb.x0) < 1e-6 and abs(ba.y0 - bb.y0) < 1e-6:
                continue  # the same text drawn twice at one place
            inter = ba.intersection(ba, bb)
            if inter is not None and inter.width > 1 and inter.height > 1:
                out.append(f"text {a[:40]!r} overlaps {b[:40]!r}")
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is None:
            continue
        handles = getattr(leg, "legend_handles", None) or getattr(leg, "legendHandles", [])
        for _h, txt in zip(handles, leg.get_texts(), strict=False):
            label = txt.get_text()
            src = [a for a in ax.get_children()
                   if getattr(a, "get_label", lambda: "")() == label]
            lines = [a for a in src if isinstance(a, Line2D)]
            if lines and not any(np.isfinite(np.asarray(ln.get_ydata(), float)).any()
                                 for ln in lines):
                out.append(f"legend entry {label!r} has no finite data")
    return out
