"""What every study uses to get a trained network and to read it as a flow: data sets (data),
the noisy residual network (models), training (train) and its cache (cached), the velocity of
a trained network as a numerics problem (velocity), the network's three operators, Monte
Carlo, semi-discrete and PDE (flow), and the linear baseline (baseline)."""

from .baseline import MARGIN, beats_linear, linear_baseline
from .cached import cached_model
from .data import NAMES, DataError, Dataset, make_dataset
from .flow import PDE_SCHEME, interpolate, network_mc, pde_final, semi_discrete
from .models import DiffusionResNet, ModelError
from .train import (
    DATA_OVERRIDES,
    TrainConfig,
    evaluate,
    features,
    load_model,
    resolve_device,
    sweep_config,
    train,
)
from .velocity import feature_box, to_problem

__all__ = ["DATA_OVERRIDES", "MARGIN", "NAMES", "PDE_SCHEME", "DataError", "Dataset",
           "DiffusionResNet", "ModelError", "TrainConfig", "beats_linear", "cached_model",
           "evaluate", "feature_box", "features", "interpolate", "linear_baseline",
           "load_model", "make_dataset", "network_mc", "pde_final", "resolve_device",
           "semi_discrete", "sweep_config", "to_problem", "train"]
