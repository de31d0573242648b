"""Saving a figure of the report: the layout is checked (lint.figure_problems) on the drawn
figure before it is written, so overlapping titles, labels or legends are named instead of
shipped. With CDVERIFY_CHECK_FIGURES=1 (the tests) a problem raises; otherwise it is named on
stderr and the figure is written."""

from __future__ import annotations

import os
from pathlib import Path

from validation.store.io import save_figure as _save
from validation.store.locks import say

from .lint import figure_problems


class FigureLayoutError(ValueError):
    """A figure whose layout hides part of what it shows."""


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Check the figure's layout, then render it to PNG atomically and close it."""
    problems = figure_problems(fig)
    if problems:
        what = f"figure {Path(path).name}: " + "; ".join(problems[:5]) + (
            f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
        if os.environ.get("CDVERIFY_CHECK_FIGURES") == "1":
            import matplotlib.pyplot as plt

            plt.close(fig)
            raise FigureLayoutError(what)
        say(f"layout: {what}")
    return _save(fig, path, dpi)
