"""The depth study in any dimension through the adapter (a user's factory(blocks=L))."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from validation.nets.data import make_dataset
from validation.studies.depth import any_dim


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))

    def forward(self, z):
        return z + self.f(z) / 4


def factory(blocks: int = 4) -> nn.Module:
    return nn.Sequential(nn.Identity(), nn.Sequential(*[Block() for _ in range(blocks)]),
                         nn.Linear(2, 2))


def test_the_depth_table_through_the_adapter_and_its_decision():
    ds = make_dataset("moons", 300, seed=0)
    res = any_dim.depth_any(factory, "1", ds, blocks=(2, 4, 8), sigma=0.3, epochs=1,
                            draws=64, test_points=8, substeps=(1, 2, 4))
    assert [r["blocks"] for r in res["table"]] == [2, 4, 8]
    assert [r["h"] for r in res["table"]] == [0.5, 0.25, 0.125]
    assert all(r["mc_se_mean"] > 0 and r["gap_mean"] >= 0 for r in res["table"])
    assert res["status"] in ("holds", "fails", "inconclusive", "refuted at delta")


def test_a_gap_that_does_not_close_with_depth_is_not_an_approach(monkeypatch):
    # negative control: the same gap at every L (order 0) never reads as the O(h) approach
    monkeypatch.setattr(any_dim, "train_adapted", lambda *a, **k: 0.0)
    monkeypatch.setattr(any_dim, "accuracy", lambda *a, **k: 0.9)  # every depth "trained"

    def constant(stage, x, **k):
        return {"gap_network_pde": 0.1, "gap_network_pde_stderr": 1e-4,
                "successive_differences": [1e-4], "order": 1.0}

    import validation.studies.feynman_kac as fk

    monkeypatch.setattr(fk, "fk_agreement", constant)
    ds = make_dataset("moons", 300, seed=0)
    res = any_dim.depth_any(factory, "1", ds, blocks=(2, 4, 8, 16), epochs=1, test_points=8)
    assert abs(res["order"]) < 0.05 and res["status"] != "holds", res["finding"]


def test_a_gap_of_order_h_is_the_approach(monkeypatch):
    # positive control: a planted gap 0.5 h (the weak order of Euler-Maruyama) decides "holds"
    monkeypatch.setattr(any_dim, "train_adapted", lambda *a, **k: 0.0)
    monkeypatch.setattr(any_dim, "accuracy", lambda *a, **k: 0.9)

    def order_one(stage, x, **k):
        return {"gap_network_pde": 0.5 * stage.step, "gap_network_pde_stderr": 1e-5,
                "successive_differences": [1e-5], "order": 1.0}

    import validation.studies.feynman_kac as fk

    monkeypatch.setattr(fk, "fk_agreement", order_one)
    ds = make_dataset("moons", 300, seed=0)
    res = any_dim.depth_any(factory, "1", ds, blocks=(2, 4, 8, 16), epochs=1, test_points=8)
    assert abs(res["order"] - 1) < 1e-6 and res["status"] == "holds", res["finding"]


def test_a_factory_that_ignores_blocks_is_refused():
    ds = make_dataset("moons", 300, seed=0)
    with pytest.raises(ValueError, match="built a stage of 4 blocks"):
        any_dim.depth_any(lambda blocks: factory(), "1", ds, blocks=(2, 4, 8), epochs=1)
    torch.manual_seed(0)


def test_a_depth_whose_levels_do_not_converge_is_left_out_and_named(monkeypatch):
    # the planted O(h) gap at L = 2, 4, 8, 16, but at L = 2 the sub-stepped flows diverge
    # (feature local orders below 0.7): its extrapolated PDE has no error estimate
    monkeypatch.setattr(any_dim, "train_adapted", lambda *a, **k: 0.0)
    monkeypatch.setattr(any_dim, "accuracy", lambda *a, **k: 0.9)

    def order_one(stage, x, **k):
        early = stage.n_blocks == 2
        return {"gap_network_pde": 0.5 * stage.step, "gap_network_pde_stderr": 1e-5,
                "successive_differences": [1e-5], "order": 1.0,
                "feature_local_orders": [-0.8, -0.4] if early else [0.95, 1.0]}

    import validation.studies.feynman_kac as fk

    monkeypatch.setattr(fk, "fk_agreement", order_one)
    ds = make_dataset("moons", 300, seed=0)
    res = any_dim.depth_any(factory, "1", ds, blocks=(2, 4, 8, 16), epochs=1, test_points=8)
    assert res["fitted_blocks"] == [4, 8, 16], res["fitted_blocks"]
    assert [r["levels_converge"] for r in res["table"]] == [False, True, True, True]
    assert "L = 2 left out: its sub-stepped flows do not converge" in res["finding"]
    # control: with every depth's flows converging all four are fitted, nothing named
    monkeypatch.setattr(fk, "fk_agreement", lambda stage, x, **k: order_one(stage, x) | {
        "feature_local_orders": [1.0, 1.0]})
    res = any_dim.depth_any(factory, "1", ds, blocks=(2, 4, 8, 16), epochs=1, test_points=8)
    assert res["fitted_blocks"] == [2, 4, 8, 16] and "left out" not in res["finding"]
