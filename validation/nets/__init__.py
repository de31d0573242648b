"""What every study uses to get a trained network and to read it as a flow: data sets (data),
the noisy residual network (models), any torch residual stage read as a flow (adapter) and a
user's model and data from the command line (user), training (train) and its cache (cached),
the velocity of a trained network as a numerics problem (velocity), the network's three
operators, Monte Carlo, semi-discrete and PDE (flow), and the linear baseline (baseline)."""

from .adapter import AdapterError, ResidualStage, StageSpec, adapt, diffusion_resnet_stage
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

__all__ = [
    "DATA_OVERRIDES",
    "MARGIN",
    "NAMES",
    "PDE_SCHEME",
    "AdapterError",
    "DataError",
    "Dataset",
    "DiffusionResNet",
    "ModelError",
    "ResidualStage",
    "StageSpec",
    "TrainConfig",
    "adapt",
    "beats_linear",
    "cached_model",
    "diffusion_resnet_stage",
    "evaluate",
    "feature_box",
    "features",
    "interpolate",
    "linear_baseline",
    "load_model",
    "make_dataset",
    "network_mc",
    "pde_final",
    "resolve_device",
    "semi_discrete",
    "sweep_config",
    "to_problem",
    "train",
]
