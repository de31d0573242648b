"""Graph diffusion (COIN): the classifier with K diffusion layers (coin) and the study of tau*,
its violation, the continuum limit and the transductive claim (study; docs/graphs.md)."""

from .coin import Coin, CoinConfig, run_coin, transductive_data
from .stage import GraphDiffusionStudy
from .study import GraphStudy, run_study, write_outputs

__all__ = ["Coin", "CoinConfig", "GraphDiffusionStudy", "GraphStudy", "run_coin", "run_study",
           "transductive_data", "write_outputs"]
