"""The depth limit: do trained networks approach their PDE as h = T/L -> 0?"""

from .any_dim import depth_any, train_adapted
from .stage import DepthLimitStudy
from .study import DepthStudy, depth_finding, depth_markdown, run_depth_study

__all__ = ["DepthLimitStudy", "DepthStudy", "depth_any", "depth_finding", "depth_markdown",
           "run_depth_study", "train_adapted"]
