"""A tiny sweep config and a finished run of it, shared by the sweep and report tests."""

from __future__ import annotations

from pathlib import Path

TINY = """
[sweep]
jobs = ["rademacher", "robustness"]
data = ["moons"]
sigma = [0.0, 0.3]
seed = [0, 1]
blocks = [3]
epochs = 4

[rademacher]
points = 30
draws = 3
steps = 5
noise_samples = 2

[robustness]
points = 12
K = 4
pgd_steps = 3
eps = [0.0, 0.6]
eps_l2 = [0.0, 0.9]
"""


def finished_tiny_sweep(folder: Path) -> Path:
    """Run TINY in this process (cached in ``folder``) and write its outputs; the folder."""
    from validation.sweep.run import aggregate, expand, load_config, run_local, write_outputs

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny.toml").write_text(TINY)
    cfg = load_config(folder / "tiny.toml")
    results = run_local(expand(cfg), str(folder), workers=1)
    write_outputs(aggregate(results), results, folder, cfg)
    return folder
