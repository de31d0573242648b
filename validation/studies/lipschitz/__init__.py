"""The heat-semigroup Lipschitz bound measured on its extremal datum (heat); the trained
networks' Lipschitz claim is measured by the robustness study."""

from .heat import heat_lipschitz_check, lipschitz_figure
from .stage import LipschitzConfig, LipschitzStudy

__all__ = ["LipschitzConfig", "LipschitzStudy", "heat_lipschitz_check", "lipschitz_figure"]
