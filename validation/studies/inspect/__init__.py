"""Any residual network's flow on data (``cdverify inspect``): velocity against depth, its
smoothness in time, the Jacobian's norms, the measured diffusion, trajectories."""

from .flowstats import inspect_stage, jacobian_norms, measured_diffusion
from .stage import InspectConfig
from .study import blocks, run_inspect, summary

__all__ = ["InspectConfig", "blocks", "inspect_stage", "jacobian_norms", "measured_diffusion",
           "run_inspect", "summary"]
