"""Graph diffusion (COIN): the classifier with K diffusion layers (coin) and the study of tau*,
its violation, the continuum limit and the transductive claim (study; docs/graphs.md)."""

# lazy (validation.store.lazy): the command line's parser reads GraphStudy's defaults
# without torch
from validation.store.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys("Coin CoinConfig run_coin transductive_data".split(), "coin"),
    "GraphDiffusionStudy": "stage",
    **dict.fromkeys("GraphStudy run_study write_outputs".split(), "study"),
}

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

__all__ = ["Coin", "CoinConfig", "GraphDiffusionStudy", "GraphStudy", "run_coin", "run_study",
           "transductive_data", "write_outputs"]
