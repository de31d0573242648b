"""Markdown and HTML from one document model (model.py).

Markdown: plain text is escaped (``*``, backticks, brackets, a ``|`` inside a table cell, an
underscore that would start emphasis), code and formulas become code spans, so a formula's
``*`` is never read as emphasis and a cell's ``|`` never splits a row. HTML: Jinja2 templates
(package data, autoescape on) over the same blocks; inline content is escaped by markupsafe.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from markupsafe import Markup, escape

from .model import Block, Code, Figure, Heading, Items, Link, Math, Para, Section, Strong, Table
from .model import code_spans as spans  # `...` in a heading: code
from .numbers import formula

# backslash, backtick and asterisk always; '<' where it could open an HTML tag; ']' where it
# could close a link text
_MD_SPECIAL = re.compile(r"([\\`*]|<(?=[A-Za-z/!?])|\](?=[(\[]))")
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _md_text(text: str, in_table: bool) -> str:
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _MD_UNDERSCORE.sub(r"\\_", text)
    if in_table:
        text = text.replace("|", "\\|").replace("\n", " ")
    return text


def _md_code(text: str, in_table: bool) -> str:
    if in_table:
        # GitHub-flavoured Markdown splits cells at '|' even inside code spans
        text = text.replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}" if text else ""


def md_inline(content, in_table: bool = False) -> str:
    """Inline runs as Markdown."""
    out = []
    for r in content:
        if isinstance(r, str):
            out.append(_md_text(r, in_table))
        elif isinstance(r, Code):
            out.append(_md_code(r.text, in_table))
        elif isinstance(r, Math):
            out.append(_md_code(formula(r.text), in_table))
        elif isinstance(r, Strong):
            inner = md_inline(r.content, in_table)
            out.append(f"**{inner}**" if inner else "")
        elif isinstance(r, Link):
            out.append(f"[{_md_text(r.text, in_table)}]({r.href})")
        else:
            raise TypeError(f"not an inline element: {r!r}")
    return "".join(out)


def to_markdown(blocks: Iterable[Block] | Section, heading_level: int = 2) -> str:
    """Blocks (or a section, with its title as a heading) as Markdown."""
    lines: list[str] = []
    if isinstance(blocks, Section):
        lines += [f"{'#' * heading_level} {_md_text(blocks.title, False)}", ""]
        blocks = blocks.blocks
    for b in blocks:
        if isinstance(b, Para):
            lines += [md_inline(b.content), ""]
        elif isinstance(b, Heading):  # `...` in a heading is code, as in a title
            lines += [f"{'#' * min(b.level, 6)} {md_inline(spans(b.text))}", ""]
        elif isinstance(b, Items):
            lines += [f"- {md_inline(i)}" for i in b.items] + [""]
        elif isinstance(b, Table):
            if b.caption:
                lines += [_md_text(b.caption, False), ""]
            lines.append("| " + " | ".join(_md_text(h, True) for h in b.header) + " |")
            lines.append("|" + "---|" * len(b.header))
            lines += ["| " + " | ".join(md_inline(c, True) or " " for c in r) + " |"
                      for r in b.rows]
            lines.append("")
        elif isinstance(b, Figure):
            lines += [f"![{_md_text(b.caption, False)}]({b.path})", "",
                      f"*{_md_text(b.caption, False)}*", ""]
        else:
            raise TypeError(f"not a block: {b!r}")
    return "\n".join(lines).rstrip("\n") + "\n"


def html_inline(content) -> Markup:
    """Inline runs as escaped HTML."""
    out = []
    for r in content:
        if isinstance(r, str):
            out.append(escape(r))
        elif isinstance(r, Code):
            out.append(Markup("<code>{}</code>").format(r.text))
        elif isinstance(r, Math):
            out.append(Markup('<code class="math">{}</code>').format(formula(r.text)))
        elif isinstance(r, Strong):
            out.append(Markup("<b>{}</b>").format(html_inline(r.content)))
        elif isinstance(r, Link):
            out.append(Markup('<a href="{}">{}</a>').format(r.href, r.text))
        else:
            raise TypeError(f"not an inline element: {r!r}")
    return Markup("").join(out)


def data_uri(path: Path) -> str:
    """A file as a data: URI (the page stays self-contained)."""
    mime = {".gif": "image/gif", ".png": "image/png", ".svg": "image/svg+xml"}.get(
        path.suffix, "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


@cache
def environment():
    """The Jinja2 environment of the document templates (autoescape on)."""
    from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined

    env = Environment(loader=ChoiceLoader([PackageLoader("validation.doc", "templates")]),
                      autoescape=True, undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["inline"] = html_inline
    env.filters["spans"] = spans
    env.tests["para"] = lambda b: isinstance(b, Para)
    env.tests["heading"] = lambda b: isinstance(b, Heading)
    env.tests["items"] = lambda b: isinstance(b, Items)
    env.tests["table"] = lambda b: isinstance(b, Table)
    env.tests["figure"] = lambda b: isinstance(b, Figure)
    return env


def to_html(blocks: Iterable[Block] | Section, folder: Path | None = None) -> Markup:
    """Blocks (or a section with its heading) as an HTML fragment; figures are embedded from
    ``folder`` as data URIs (a missing figure is an error, not a broken image)."""
    section = blocks if isinstance(blocks, Section) else None
    blocks = tuple(section.blocks if section else blocks)
    images = {}
    for b in blocks:
        if isinstance(b, Figure):
            path = (folder or Path(".")) / b.path
            if not path.is_file():
                raise FileNotFoundError(f"figure {b.path} of section "
                                        f"{section.title if section else '?'} is missing: "
                                        f"{path}")
            images[b.path] = data_uri(path)
    return Markup(environment().get_template("blocks.html.j2").render(
        section=section, blocks=blocks, images=images))
