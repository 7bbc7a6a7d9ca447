"""Running one function over many items: in local processes or on a ``dask.distributed`` cluster.

``mlarray convert``, ``mlarray stats`` and the training sampler's foreground search share this:
``jobs=N`` local processes (``spawn``, one core each) or a scheduler address, ``Client`` or
``LocalCluster``, through one ``concurrent.futures`` code path. One item's failure, even a worker
that dies, never stops the rest.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import platform
import warnings
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional, TypeVar

from ._errors import MLArrayError

if TYPE_CHECKING:  # pragma: no cover
    import distributed

__all__ = ["executor", "parallel_map", "one_core_per_worker", "worker_malloc_hint", "WorkerSetupWarning",
           "TaskError", "describe_error"]


@contextlib.contextmanager
def executor(jobs: int = 1, scheduler: Any = None) -> Iterator[Optional[cf.Executor]]:
    """A ``concurrent.futures`` executor: a ``dask.distributed`` cluster when ``scheduler`` is given
    (an address such as ``tcp://10.0.0.5:8786``, a ``distributed.Client`` or a ``LocalCluster``),
    else ``jobs`` local processes; ``None`` (run inline) for ``jobs <= 1``.

    Both kinds return standard futures, so callers use one code path (submit / as_completed).
    """
    if scheduler is not None:
        from distributed import Client

        if isinstance(scheduler, Client):
            _warn_about_worker_setup(scheduler)
            yield scheduler.get_executor(pure=False)
            return
        address = getattr(scheduler, "scheduler_address", scheduler)
        client = Client(address, set_as_default=False)
        try:
            _warn_about_worker_setup(client)
            yield client.get_executor(pure=False)
        finally:
            client.close()
    elif jobs and jobs > 1:
        # "spawn", not fork: a forked child inherits Blosc2's compression thread pool mid-state and
        # can deadlock (seen: a pool started after the parent had used Blosc2 hung for good).
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=int(jobs), mp_context=ctx, initializer=one_core_per_worker) as pool:
            yield pool
    else:
        yield None


def one_core_per_worker() -> None:
    """Make this worker process use one core: Blosc2 single-threaded everywhere.

    The pool already runs one process per core, so Blosc2 threads on top only compete. Setting
    ``blosc2.nthreads`` is not enough: C-Blosc2 compresses a frame's chunk-offset index with a
    context of its own (4 threads) for every chunk written to a file, starting and joining those
    threads each time whatever ``cparams.nthreads`` says. With two workers busy, each waited for its
    short-lived threads to be scheduled and lost a fifth of its wall time (``/proc/PID/schedstat``).
    ``BLOSC_NTHREADS``, which C-Blosc2 reads whenever it makes a context, covers those too. A value
    the user set already is kept.
    """
    os.environ.setdefault("BLOSC_NTHREADS", "1")
    import blosc2

    blosc2.set_nthreads(1)


T = TypeVar("T")
R = TypeVar("R")


class WorkerSetupWarning(UserWarning):
    """The cluster's workers are set up in a way known to slow these tasks down."""


def worker_malloc_hint(client: distributed.Client) -> Optional[str]:
    """Advice when dask workers run with glibc's adaptive mmap threshold switched off, else None.

    dask's nanny exports ``MALLOC_TRIM_THRESHOLD_=65536`` (``distributed.nanny.pre-spawn-environ``).
    Setting any glibc malloc variable fixes the mmap threshold at 128 KiB, so every buffer a
    conversion allocates is mapped, page-faulted and unmapped afresh: 1.75x the CPU per file in
    benchmarks/convert_scaling.py. Also exporting ``MALLOC_MMAP_THRESHOLD_`` restores heap reuse.
    """
    try:
        envs = client.run(_malloc_settings)
    except Exception:  # a worker that cannot answer is not worth failing the batch for
        return None
    pinned = [w for w, (libc, trim, mmap) in envs.items() if libc == "glibc" and trim is not None and mmap is None]
    if not pinned:
        return None
    return (f"{len(pinned)} of {len(envs)} dask workers run with MALLOC_TRIM_THRESHOLD_ set and no "
            "MALLOC_MMAP_THRESHOLD_ (dask's default). glibc then maps every buffer over 128 KiB afresh, "
            "which made conversions 1.75x slower in our benchmark. Start the workers with "
            "MALLOC_TRIM_THRESHOLD_=134217728 MALLOC_MMAP_THRESHOLD_=33554432 exported (see docs/cluster.md).")


def _malloc_settings() -> tuple[str, Optional[str], Optional[str]]:
    return (platform.libc_ver()[0], os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("MALLOC_MMAP_THRESHOLD_"))


def _warn_about_worker_setup(client: distributed.Client) -> None:
    hint = worker_malloc_hint(client)
    if hint:
        warnings.warn(hint, WorkerSetupWarning, stacklevel=4)


def parallel_map(func: Callable, items: Iterable, *, jobs: int = 1, scheduler: Any = None,
                 errors: str = "raise", progress: Optional[Callable[[int, int, Any], None]] = None) -> list:
    """``[func(item) for item in items]`` in parallel, results in input order.

    ``errors="raise"`` re-raises the first failure; ``errors="collect"`` puts the exception object
    in place of the result (so one bad file never stops a batch; a worker that dies counts as a
    failure of its item). ``progress(done, total, item)`` is called as items finish.
    """
    items = list(items)
    out: list = [None] * len(items)
    with executor(jobs if len(items) > 1 else 1, scheduler) as ex:
        if ex is None:
            for i, item in enumerate(items):
                out[i] = _call(func, item, errors)
                if progress:
                    progress(i + 1, len(items), item)
            return out
        futures = {ex.submit(_guarded, func, item): i for i, item in enumerate(items)}
        for done, fut in enumerate(cf.as_completed(futures), start=1):
            i = futures[fut]
            try:
                res = fut.result()
                if isinstance(res, _Failed):
                    raise TaskError(res.kind, res.message)
                out[i] = res
            except Exception as exc:  # includes BrokenProcessPool / KilledWorker for this item
                if errors == "raise":
                    for f in futures:
                        f.cancel()
                    raise
                out[i] = exc
            if progress:
                progress(done, len(items), items[i])
    return out


class TaskError(MLArrayError):
    """A task failed in a worker; ``kind`` names the original exception type (an ``MLArrayError``,
    so also a ``RuntimeError``).

    Exceptions travel back from workers as text: not every exception class survives pickling
    (one whose ``__init__`` takes extra arguments fails to unpickle and would break the pool)."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind, self.message = kind, message
        super().__init__(f"{kind}: {message}")

    def __reduce__(self) -> tuple[type[TaskError], tuple[str, str]]:
        return (TaskError, (self.kind, self.message))


class _Failed:
    __slots__ = ("kind", "message")

    def __init__(self, kind: str, message: str) -> None:
        self.kind, self.message = kind, message

    def __reduce__(self) -> tuple[type[_Failed], tuple[str, str]]:
        return (_Failed, (self.kind, self.message))


def _guarded(func: Callable[[T], R], item: T) -> R | _Failed:
    try:
        return func(item)
    except Exception as exc:
        return _Failed(type(exc).__name__, str(exc))


def describe_error(exc: BaseException) -> str:
    """``"Kind: message"`` for an exception from :func:`parallel_map` (local or remote)."""
    return str(exc) if isinstance(exc, TaskError) else f"{type(exc).__name__}: {exc}"


def _call(func: Callable[[T], R], item: T, errors: str) -> R | Exception:
    try:
        return func(item)
    except Exception as exc:
        if errors == "raise":
            raise
        return exc
