"""PDE flows of features: named problems with closed-form solutions, solved, plotted and
animated (examples; ``cdverify solve``)."""

from .examples import Example, example, run_example
from .stage import FlowsConfig, FlowsStudy

__all__ = ["Example", "FlowsConfig", "FlowsStudy", "example", "run_example"]
