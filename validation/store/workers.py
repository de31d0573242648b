"""Independent jobs of a sweep on several worker processes (one torch thread each).

The jobs of a sigma sweep (train a model, then study it) share nothing but the cache, whose
claims already let concurrent processes compute each entry once (store.locks); on 2 cores
two single-threaded workers finish small-model jobs about twice as fast as one process whose
torch threads split tiny matrix products.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt that ``exc`` stands for, if any: a SIGINT that arrives while a
    compiled module initialises surfaces as that module's ImportError ("initialization
    failed", pybind11) raised from the interrupt, not as the interrupt itself."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def map_jobs(fn: Callable[..., Any], jobs: Sequence[tuple], *, workers: int = 1,
             progress: bool = True, desc: str = "jobs") -> list[Any]:
    """[fn(*job) for job in jobs], on ``workers`` spawned processes when workers > 1 (``fn``
    must be a module-level function; results come back in the jobs' order)."""
    from tqdm import tqdm

    if workers < 1:
        raise ValueError(f"workers = {workers}: give a count >= 1")
    if workers == 1 or len(jobs) < 2:
        return [fn(*job) for job in tqdm(jobs, desc=desc, disable=not progress)]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: a forked child inherits torch's thread pools in an undefined state
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)),
                             mp_context=mp.get_context("spawn"),
                             initializer=_one_thread) as pool:
        futures = [pool.submit(fn, *job) for job in jobs]
        try:
            for f in tqdm(futures, desc=desc, disable=not progress):
                f.exception()  # wait in order; a failure is raised below
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        return [f.result() for f in futures]
