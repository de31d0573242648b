"""The depth study: one row on a small trained model, and the finding's rule with negative
controls (a gap proportional to h holds, a constant gap fails, gaps below the floor decide
nothing)."""

from __future__ import annotations

import numpy as np
import pytest

from validation.studies.depth.study import (
    DepthStudy,
    depth_finding,
    depth_markdown,
    run_depth_study,
)


def _table(gaps, hs=(0.1, 0.05, 0.025, 0.0125), se=1e-3, grid=1e-3):
    return [{"blocks": round(1 / h), "h": h, "gap_mean": g, "mc_se_mean": se,
             "grid_error_mean": grid} for h, g in zip(hs, gaps, strict=True)]


def test_the_finding_rule_and_its_negative_controls():
    order, fitted, _text, status = depth_finding(_table([0.2, 0.1, 0.05, 0.025]))
    assert status == "holds" and order == pytest.approx(1.0) and fitted == [10, 20, 40, 80]
    assert depth_finding(_table([0.2, 0.2, 0.2, 0.2]))[3] == "fails"  # the gap stays open
    assert depth_finding(_table([0.2, 0.15, 0.11, 0.08]))[3] == "inconclusive"  # order ~0.44
    # below 3 SE + grid error the gap is noise: two resolved depths decide nothing
    low = depth_finding(_table([0.2, 0.1, 0.004, 0.002]))
    assert low[3] == "inconclusive" and "only 2 depths" in low[2]
    # a depth whose network failed to train is left out: a tiny gap to a degenerate predictor
    # is no evidence (the digits full run: accuracy 0.49 at L = 80 against 0.91 at L = 20)
    collapsed = _table([0.04, 0.03, 0.006, 0.0007])
    for t, acc in zip(collapsed, (0.90, 0.91, 0.71, 0.49), strict=True):
        t["network_accuracy"] = acc
    res = depth_finding(collapsed)
    assert res[3] == "inconclusive" and "L = 40, 80 left out" in res[2]
    for t in collapsed:
        t["network_accuracy"] = 0.9
    assert depth_finding(collapsed)[3] == "holds"  # control: the same gaps, all trained


def test_a_small_depth_study_runs_and_is_cached(tmp_path):
    spec = DepthStudy(blocks=(2, 4, 8), epochs=3, test_points=10, samples=64, grid=24)
    res = run_depth_study(spec, tmp_path, progress=False)
    assert [t["blocks"] for t in res["table"]] == [2, 4, 8]
    for t in res["table"]:
        assert 0 <= t["gap_mean"] <= t["gap_max"] <= 1 and t["mc_se_max"] > 0
        assert t["h"] == pytest.approx(1 / t["blocks"])
    assert res["status"] in ("holds", "fails", "inconclusive")
    assert "| 8 | 0.125 |" in depth_markdown(res)
    again = run_depth_study(spec, tmp_path, progress=False)  # from the cache: same numbers
    assert again["table"] == res["table"]
    with pytest.raises(ValueError, match="at least 3 depths"):
        DepthStudy(blocks=(10, 20))
    assert np.isfinite(res["table"][0]["grid_error"])
