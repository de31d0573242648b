"""What every study uses to get a trained network and to read it as a flow: data sets (data),
the noisy residual network (models), any torch residual stage read as a flow (adapter) and a
user's model and data from the command line (user), training (train) and its cache (cached),
benchmark data, conv ResNets, techniques as block hooks and their training loop (benchmark_data,
convnets, techniques, fit), the velocity of a trained network as a numerics problem
(velocity), the network's three operators, Monte Carlo, semi-discrete and PDE (flow), and the
linear baseline (baseline)."""

from .adapter import AdapterError, ResidualStage, StageSpec, adapt, diffusion_resnet_stage
from .baseline import MARGIN, beats_linear, linear_baseline
from .benchmark_data import BENCHMARK_NAMES, load_benchmark
from .cached import cached_model
from .convnets import FACTORIES, ConvResNet, build_network, conv_stage
from .data import NAMES, DataError, Dataset, make_dataset
from .fit import FitConfig, fit
from .flow import PDE_SCHEME, interpolate, network_mc, pde_final, semi_discrete
from .models import DiffusionResNet, ModelError
from .techniques import (
    TECHNIQUES,
    CommonNoisePredictor,
    ExpectedPredictor,
    injected,
    noisy_logits,
    predict_proba,
)
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
    "BENCHMARK_NAMES",
    "DATA_OVERRIDES",
    "FACTORIES",
    "MARGIN",
    "NAMES",
    "PDE_SCHEME",
    "TECHNIQUES",
    "AdapterError",
    "CommonNoisePredictor",
    "ConvResNet",
    "DataError",
    "Dataset",
    "DiffusionResNet",
    "ExpectedPredictor",
    "FitConfig",
    "ModelError",
    "ResidualStage",
    "StageSpec",
    "TrainConfig",
    "adapt",
    "beats_linear",
    "build_network",
    "cached_model",
    "conv_stage",
    "diffusion_resnet_stage",
    "evaluate",
    "feature_box",
    "features",
    "fit",
    "injected",
    "interpolate",
    "linear_baseline",
    "load_benchmark",
    "load_model",
    "make_dataset",
    "network_mc",
    "noisy_logits",
    "pde_final",
    "predict_proba",
    "resolve_device",
    "semi_discrete",
    "sweep_config",
    "to_problem",
    "train",
]
