"""PDE flows of features: named problems with closed-form solutions, solved, plotted and
animated (examples; ``cdverify solve``)."""

from .examples import Example, example, run_example

__all__ = ["Example", "example", "run_example"]
