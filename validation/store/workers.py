"""Independent jobs of a sweep on several worker processes (one torch thread each).

The jobs of a sigma sweep (train a model, then study it) share nothing but the cache, whose
claims already let concurrent processes compute each entry once (store.locks); on 2 cores
two single-threaded workers finish small-model jobs about twice as fast as one process whose
torch threads split tiny matrix products. A report opens one pool for all its stages
(:func:`shared_pool`): the workers' start-up is paid once, and one-core stages run on it
beside the main ones (:func:`submit`). The caller does not wait idle: it takes the jobs no
worker has taken yet (work stealing), on one torch thread, so with ``workers`` workers up to
workers + 1 processes compute.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any


class _Worker:
    """This worker process's stop flag (an Event shared with the pool's owner), if any."""

    stop = None


class _OneTorchThread:
    """A meta-path finder for a worker: when torch is first imported (by a job), its module is
    run as usual and then set to one intra-op thread, before the importer sees it. A worker
    whose jobs never use torch does not import it (about 2.5 s of CPU a worker here: the
    initializer imported it for every pool)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torch":
            return None
        import importlib.util
        import sys

        sys.meta_path.remove(self)  # once: the regular finders take it from here
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenOneThread(spec.loader)
        return spec


class _ThenOneThread:
    """torch's own loader, then torch.set_num_threads(1) on the loaded module."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        self.loader.exec_module(module)
        module.set_num_threads(1)

    def __getattr__(self, name):  # the rest of the loader's interface (resources, ...)
        return getattr(self.loader, name)


def _one_thread(stop=None) -> None:
    """A worker's initializer: one torch thread (set now if torch is loaded, else as soon as a
    job imports it), the pool's stop flag, and SIGINT ignored while no job runs (a Ctrl-C
    reaches the whole process group: an idle worker waiting for work would otherwise die with a
    traceback)."""
    import signal
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    elif not any(isinstance(f, _OneTorchThread) for f in sys.meta_path):
        sys.meta_path.insert(0, _OneTorchThread())
    _Worker.stop = stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _job(fn: Callable[..., Any], *args) -> Any:
    """fn(*args) in a worker, interruptible: SIGINT raises KeyboardInterrupt inside the job
    (which then removes what it half wrote, as the cache does on any exception) and is
    ignored again once it returns. A job that starts after its pool was stopped (already
    handed to the worker's queue, where cancelling no longer reaches it) raises at once."""
    import signal

    # the handler first, then the flag: a stop sets the flag before its SIGINT, so a job
    # either takes the signal or sees the flag
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if _Worker.stop is not None and _Worker.stop.is_set():
            raise KeyboardInterrupt("the pool was stopped before this job started")
        return fn(*args)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Shared:
    """The pool that :func:`shared_pool` opened in this process, if any."""

    pool = None


def _quiet_cpython_107219(args) -> None:
    """threading.excepthook that drops CPython's own InvalidStateError from a broken pool's
    ``terminate_broken`` (gh-107219, fixed in Python 3.12): on 3.11 it still sets the
    exception of a Future that was cancelled (here: a job this process took, see
    :func:`_steal`) and prints a traceback from the executor's thread beside the
    BrokenProcessPool that the caller reports in one line. Anything else is printed as
    before."""
    from concurrent.futures import InvalidStateError

    tb, frames = args.exc_traceback, []
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    if isinstance(args.exc_value, InvalidStateError) and "terminate_broken" in frames:
        return
    _quiet_cpython_107219.previous(args)


def _spawn_pool(workers: int):
    import multiprocessing as mp
    import sys
    import threading
    from concurrent.futures import ProcessPoolExecutor

    if sys.version_info < (3, 12) and threading.excepthook is not _quiet_cpython_107219:
        _quiet_cpython_107219.previous = threading.excepthook
        threading.excepthook = _quiet_cpython_107219
    # spawn, not fork: a forked child inherits torch's thread pools in an undefined state
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_one_thread,
                               initargs=(stop,))
    pool.cdverify_stop = stop
    return pool


def _interrupt(pool) -> None:
    """Stop the pool's jobs: the stop flag (jobs already queued to a worker raise as they
    start), then SIGINT to its workers (each job in flight stops and cleans up, see _job;
    idle workers ignore it), or SIGTERM where the pool is broken. (The executor keeps its
    processes in a private attribute; a pool without it is left to finish the jobs in
    flight.)"""
    import os
    import signal

    stop = getattr(pool, "cdverify_stop", None)
    if stop is not None:
        stop.set()
    # a broken pool (a worker died) is of no more use: its workers are terminated, as the
    # executor itself does unless a cancelled Future stops it half-way (CPython gh-107219,
    # Python < 3.12), which left an idle worker waiting for work and the exit waiting for it
    broken = bool(getattr(pool, "_broken", False))
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            os.kill(proc.pid, signal.SIGTERM if broken else signal.SIGINT)
        except (ProcessLookupError, AttributeError):
            pass


@contextmanager
def shared_pool(workers: int) -> Iterator[None]:
    """Within the block, :func:`map_jobs` calls with workers > 1 and :func:`submit` run on one
    pool of ``workers`` spawned processes (one torch thread each), started once: a report's
    stages pay for the workers' start-up (torch, the studies' imports: about 3 s of CPU a
    process) once instead of once per stage. On an exception (Ctrl-C included) the jobs in
    flight are interrupted and the rest cancelled."""
    if workers < 1:
        raise ValueError(f"workers = {workers}: give a count >= 1")
    if _Shared.pool is not None:  # nested: the outer pool serves
        yield
        return
    pool = _spawn_pool(workers)
    _Shared.pool = pool
    # the owner computes beside its workers (a report's main stages beside its side lane, a
    # study's serial part and stolen jobs beside its jobs): with its cores taken, torch's
    # intra-op threads wait at every barrier for a thread that is not running (a moons
    # training took 17 s on 2 threads beside one busy core, 3.8 s on one)
    try:
        with one_torch_thread():
            yield
    except BaseException:
        _interrupt(pool)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        _Shared.pool = None


def submit(fn: Callable[..., Any], *args) -> Future | None:
    """fn(*args) on the shared pool (:func:`shared_pool`) as a Future, or None where no pool
    is open (the caller then runs it itself). ``fn`` must be a module-level function."""
    if _Shared.pool is None:
        return None
    return _Shared.pool.submit(_job, fn, *args)


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
             progress: bool = True, desc: str = "jobs",
             cost: Callable[..., float] | None = None) -> list[Any]:
    """[fn(*job) for job in jobs], on ``workers`` spawned processes when workers > 1 (``fn``
    must be a module-level function; results come back in the jobs' order), this process
    taking the jobs no worker has taken yet (:func:`_steal`). Inside :func:`shared_pool` the
    jobs run on that pool's processes instead of a new pool.
    ``cost(*job)``: a rough relative cost; the costliest jobs start first (longest processing
    time first: the last job to finish alone is then a cheap one)."""
    return map_jobs_beside(fn, jobs, None, workers=workers, progress=progress, desc=desc,
                           cost=cost)[0]


def map_jobs_beside(fn: Callable[..., Any], jobs: Sequence[tuple],
                    beside: Callable[[], Any] | None, *, workers: int = 1,
                    progress: bool = True, desc: str = "jobs",
                    cost: Callable[..., float] | None = None) -> tuple[list[Any], Any]:
    """(:func:`map_jobs`'s results, beside()): ``beside`` runs in this process while the
    workers run the jobs (serial work of the same study that would otherwise wait for them,
    or leave a core idle at their tail); with one worker, beside() runs first."""
    if workers < 1:
        raise ValueError(f"workers = {workers}: give a count >= 1")
    if cost is not None and workers > 1 and len(jobs) > 1:
        # stable: equal costs keep the jobs' order
        order = sorted(range(len(jobs)), key=lambda i: -cost(*jobs[i]))
        done, value = map_jobs_beside(fn, [jobs[i] for i in order], beside, workers=workers,
                                      progress=progress, desc=desc)
        out: list[Any] = [None] * len(jobs)
        for i, r in zip(order, done, strict=True):
            out[i] = r
        return out, value
    from tqdm import tqdm

    call = beside or (lambda: None)
    if workers == 1 or len(jobs) < 2:
        value = call()
        return [fn(*job) for job in tqdm(jobs, desc=desc, disable=not progress)], value
    own = None if _Shared.pool is not None else _spawn_pool(min(workers, len(jobs)))
    futures = [(_Shared.pool or own).submit(_job, fn, *job) for job in jobs]
    # one bar for the jobs wherever they run: the workers' as they finish (the executor's
    # thread calls back), the ones run here as they return
    bar = tqdm(total=len(jobs), desc=desc, disable=not progress)
    lock = threading.Lock()  # the executor's thread and this one both count

    def count(f: Future | None = None) -> None:
        if f is None or not f.cancelled():
            with lock:
                bar.update(1)

    for f in futures:
        f.add_done_callback(count)
    try:
        with one_torch_thread():
            value = call()
            stolen = _steal(fn, jobs, futures, count)
        return _gather(futures, stolen), value
    except BaseException:  # Ctrl-C, or beside() failed: nothing more starts
        for f in futures:
            f.cancel()
        if own is not None:  # the shared pool's owner interrupts its own jobs
            _interrupt(own)
        raise
    finally:
        bar.close()
        if own is not None:
            own.shutdown(wait=True, cancel_futures=True)


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """One torch thread in this process for the block (restored after): it computes beside
    its workers, which take the other cores (see :func:`shared_pool`)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _failed(f: Future) -> bool:
    return f.done() and not f.cancelled() and f.exception() is not None


def _steal(fn: Callable[..., Any], jobs: Sequence[tuple], futures: list[Future],
           count: Callable[[], None]) -> dict[int, Any]:
    """Work stealing: this process, which would otherwise wait, runs the jobs no worker has
    taken yet (a pending Future is cancelled, then computed here), from the last one (the
    cheapest where the jobs are ordered by cost) back, until none is left or a worker's job
    has failed (its error is raised by :func:`_gather`, not after the rest of the work). A
    shared pool's workers may still be busy with another stage's jobs (a report's side lane):
    its cores are then used, and a stage's tail is shorter. The jobs are the same calls, so
    the results do not depend on where they ran. ``count()`` is called after each. Returns
    {index: result} of the jobs run here."""
    stolen: dict[int, Any] = {}
    for i in reversed(range(len(jobs))):
        if any(_failed(f) for f in futures):
            break
        if futures[i].cancel():
            stolen[i] = fn(*jobs[i])
            count()
    return stolen


def _gather(futures: list[Future], stolen: dict[int, Any]) -> list[Any]:
    """The results in the jobs' order, once all are done (the first failure raised): those
    run here (``stolen``) and the futures' of the others."""
    for i, f in enumerate(futures):
        if i not in stolen:
            f.exception()  # wait in order; a failure is raised below
    return [stolen[i] if i in stolen else f.result() for i, f in enumerate(futures)]
