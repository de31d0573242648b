"""The report's document model (model), its number formatter and formula renderer (numbers),
the Markdown and HTML renderers over the same model (render; Jinja2 templates), checks of what
a reader sees (lint) and the figure writer that applies them (figures). The floor above store:
studies build sections, the report renders them."""

from .figures import FigureLayoutError, save_figure
from .lint import figure_problems, html_problems, markdown_problems
from .model import (
    Code,
    Figure,
    Heading,
    Items,
    Link,
    Math,
    Para,
    Section,
    Strong,
    Table,
    code_spans,
    items,
    para,
    runs,
    strong,
    table,
)
from .numbers import (
    NA,
    estimate,
    formula,
    interval,
    mean_sd,
    num,
    p_value,
    percent,
    relative_gap,
)
from .render import html_inline, md_inline, to_html, to_markdown

__all__ = [
    "NA",
    "Code",
    "Figure",
    "FigureLayoutError",
    "Heading",
    "Items",
    "Link",
    "Math",
    "Para",
    "Section",
    "Strong",
    "Table",
    "code_spans",
    "estimate",
    "figure_problems",
    "formula",
    "html_inline",
    "html_problems",
    "interval",
    "items",
    "markdown_problems",
    "md_inline",
    "mean_sd",
    "num",
    "p_value",
    "para",
    "percent",
    "relative_gap",
    "runs",
    "save_figure",
    "strong",
    "table",
    "to_html",
    "to_markdown",
]
