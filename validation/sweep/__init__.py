"""TOML sweeps of the studies' jobs (data x sigma x seed x blocks), on local processes or a
Dask cluster; above the studies, below the report (which includes finished sweeps)."""

from .run import SweepError, aggregate, expand, load_config, load_finished, run_job, write_outputs

__all__ = ["SweepError", "aggregate", "expand", "load_config", "load_finished", "run_job",
           "write_outputs"]
