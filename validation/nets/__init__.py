"""What every study uses to get a trained network and to read it as a flow: data sets (data),
the noisy residual network (models), any torch residual stage read as a flow (adapter) and a
user's model and data from the command line (user), training (train) and its cache (cached),
benchmark data, conv ResNets, techniques as block hooks and their training loop (benchmark_data,
convnets, techniques, fit), the velocity of a trained network as a numerics problem
(velocity), the network's three operators, Monte Carlo, semi-discrete and PDE (flow), and the
linear baseline (baseline)."""

# Lazy (PEP 562): a name is imported from its module on first use, so that the command line's
# parsers and refusals, which need only names such as data.NAMES, do not import torch. The
# training functions are not exported here: they share their modules' names (fit, train), and
# importing a submodule binds its name on the package; use validation.nets.fit.fit and
# validation.nets.train.train.
from validation.store.lazy import lazy_exports

#: name -> the submodule that defines it
_EXPORTS = {
    **dict.fromkeys(("BatchStatisticsWarning ResidualStage StageSpec adapt diffusion_resnet_stage "
                     "evaluating").split(), "adapter"),
    "AdapterError": "errors",
    **dict.fromkeys("MARGIN beats_linear linear_baseline".split(), "baseline"),
    **dict.fromkeys("BENCHMARK_NAMES load_benchmark".split(), "benchmark_data"),
    **dict.fromkeys("cached_model".split(), "cached"),
    **dict.fromkeys("FACTORIES ConvResNet build_network conv_stage".split(), "convnets"),
    **dict.fromkeys("NAMES DataError Dataset make_dataset measured_points".split(), "data"),
    **dict.fromkeys("FitConfig".split(), "fit"),
    **dict.fromkeys("PDE_SCHEME interpolate network_mc pde_final semi_discrete".split(), "flow"),
    **dict.fromkeys("DiffusionResNet ModelError".split(), "models"),
    **dict.fromkeys(("TECHNIQUES CommonNoisePredictor ExpectedPredictor injected noisy_logits "
                     "predict_proba").split(), "techniques"),
    **dict.fromkeys(("DATA_OVERRIDES TrainConfig evaluate features load_model resolve_device "
                     "sweep_config").split(), "train"),
    **dict.fromkeys("feature_box to_problem".split(), "velocity"),
}


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

__all__ = [
    "BENCHMARK_NAMES",
    "DATA_OVERRIDES",
    "FACTORIES",
    "MARGIN",
    "NAMES",
    "PDE_SCHEME",
    "TECHNIQUES",
    "AdapterError",
    "BatchStatisticsWarning",
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
    "evaluating",
    "feature_box",
    "features",
    "injected",
    "interpolate",
    "linear_baseline",
    "load_benchmark",
    "load_model",
    "make_dataset",
    "measured_points",
    "network_mc",
    "noisy_logits",
    "pde_final",
    "predict_proba",
    "resolve_device",
    "semi_discrete",
    "sweep_config",
    "to_problem",
]
