"""Waiting for Dask futures while watching the cluster, so that a stuck cluster is an error.

A Dask worker above its memory "pause" fraction (80% of its limit by default) starts no
new task, and the scheduler hands its tasks to nobody else: when every worker is paused,
or the cluster has no worker left, a future waits forever. `results` and `completed`
wait for futures as ``Future.result()`` and ``as_completed`` do, and meanwhile ask the
scheduler, every `POLL_INTERVAL` seconds, what its workers are doing. A cluster that can
make no progress (no worker, or every worker paused and none still finishing a task) for
`STALL_GRACE` seconds in a row has its futures cancelled and is a `DaskStalledError`
naming the workers, their memory and what to do.

Workers that are merely busy never stop a wait: there is no overall time limit. Waits on
the same client share what they saw, so that concurrent or successive waits on a stuck
cluster (the quick look's metrics) fail together, not one grace period each.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from vigil.compute.errors import ComputeError

__all__ = [
    "POLL_INTERVAL",
    "STALL_GRACE",
    "DaskStalledError",
    "DaskWorkerLostError",
    "completed",
    "results",
]

STALL_GRACE = 30.0
"""Seconds a cluster may make no progress (every worker paused, or no worker) before a
wait gives up; read at each wait, so a test may set it lower."""

POLL_INTERVAL = 0.5
"""Seconds between two looks at the scheduler's workers while a wait goes on."""

_SHOWN_WORKERS = 4
"""Paused workers a message names one by one (the others are counted)."""

_CONTINUOUS = 4
"""Two looks at a stuck cluster this many `POLL_INTERVAL` apart or less count as one
stretch: the waits between them would have seen a change."""


class DaskStalledError(ComputeError):
    """A Dask cluster whose workers cannot run the computation: all paused, or none."""

    status_code = 503
    code = "dask_stalled"


class DaskWorkerLostError(DaskStalledError):
    """The workers that ran a task died one after another (Dask's ``KilledWorker``)."""

    code = "dask_workers_lost"


@dataclass
class _Watch:
    """What the waits on one client last saw of its cluster."""

    workers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """The scheduler's workers, at the last look."""
    looked: float = -math.inf
    """When (``time.monotonic()``) the scheduler was last asked."""
    answered: float = -math.inf
    """When it last answered."""
    since: float | None = None
    """Since when the cluster has been stuck (None: it was not at the last look)."""


_watches: weakref.WeakKeyDictionary[Any, _Watch] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def results(client: Any, futures: Sequence[Any], *, grace: float | None = None) -> list[Any]:
    """The results of *futures*, in order, as ``[f.result() for f in futures]`` gives them,
    unless the cluster of *client* makes no progress for *grace* seconds.

    Parameters
    ----------
    client
        The ``distributed.Client`` the futures belong to.
    futures
        Its futures.
    grace
        Seconds of no progress before giving up (default: `STALL_GRACE`).

    Raises
    ------
    DaskStalledError
        Every worker was paused, or there was no worker, for *grace* seconds; the futures
        are then cancelled.
    """
    out = []
    with _workers_lost(futures):
        for future in futures:
            while True:
                try:
                    out.append(future.result(timeout=POLL_INTERVAL))
                    break
                except TimeoutError:
                    if future.done():
                        # Finished meanwhile, or the task's own TimeoutError: result() says.
                        out.append(future.result())
                        break
                    _check(client, futures, grace)
    return out


@contextmanager
def _workers_lost(futures: Sequence[Any]) -> Iterator[None]:
    """Dask's ``KilledWorker`` (the workers running a task died, one after another) as a
    `DaskWorkerLostError`, the other futures cancelled."""
    from distributed.scheduler import KilledWorker

    try:
        yield
    except KilledWorker as exc:
        for future in futures:
            future.cancel()
        raise DaskWorkerLostError(
            f"the Dask workers that ran a task of this query died, one after another"
            f" ({_first_line(exc)}), most often for want of memory: give each worker"
            " more memory (memory_limit, dask worker --memory-limit), or run without --dask"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].split(". ")[0] if text else type(exc).__name__


def completed(client: Any, futures: Sequence[Any], *, grace: float | None = None) -> Iterator[Any]:
    """*futures* as they finish, as ``distributed.as_completed`` yields them, unless the
    cluster of *client* makes no progress for *grace* seconds (see `results`).

    Raises
    ------
    DaskStalledError
        As `results`.
    """
    from distributed import as_completed

    finishing: Any = as_completed  # not annotated
    pending = finishing(futures, loop=client.loop)
    while not pending.is_empty():
        if pending.has_ready():
            future = next(pending)
            if future.status == "error":
                with _workers_lost(futures):
                    future.result()  # its error, as a DaskWorkerLostError if workers died
            yield future
            continue
        _check(client, futures, grace)
        # as often as as_completed itself looks for finished futures
        time.sleep(0.1)


def _check(client: Any, futures: Sequence[Any], grace: float | None) -> None:
    """Look at the cluster (the scheduler at most every `POLL_INTERVAL` seconds); cancel
    *futures* and raise `DaskStalledError` when it has made no progress for *grace*
    seconds."""
    limit = STALL_GRACE if grace is None else grace
    now = time.monotonic()
    with _lock:
        watch = _watches.setdefault(client, _Watch())
        stale = now - watch.looked >= POLL_INTERVAL
        if stale:
            gap, watch.looked = now - watch.answered, now
    if stale:
        workers = client.scheduler_info(n_workers=-1).get("workers", {})
        with _lock:
            watch.workers, watch.answered = workers, time.monotonic()
            if not _stuck(workers):
                watch.since = None
            elif watch.since is None or gap > _CONTINUOUS * POLL_INTERVAL:
                # Nobody looked for a while: it may have moved meanwhile.
                watch.since = now
    with _lock:
        since, workers = watch.since, watch.workers
    if since is None or now - since < limit:
        return
    client.cancel(list(futures))
    raise DaskStalledError(_message(workers, now - since))


def _stuck(workers: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether *workers* (the scheduler's view) can run nothing: none, or all paused and
    none still running a task it had begun."""
    return all(info.get("status") == "paused" and not _executing(info) for info in workers.values())


def _executing(info: Mapping[str, Any]) -> int:
    counts = info.get("metrics", {}).get("task_counts") or {}
    return int(counts.get("executing", 0))


def _message(workers: Mapping[str, Mapping[str, Any]], seconds: float) -> str:
    """What happened to the cluster, with its figures, and what to do."""
    if not workers:
        return (
            f"the Dask cluster has had no workers for {seconds:.0f} s (they died or left,"
            " often for want of memory), so the computation cannot go on: start workers"
            " (dask worker SCHEDULER --memory-limit ...) with more memory, or run without"
            " --dask"
        )
    shown = [_worker_text(address, info) for address, info in sorted(workers.items())]
    if len(shown) > _SHOWN_WORKERS:
        shown = [*shown[:_SHOWN_WORKERS], f"{len(shown) - _SHOWN_WORKERS} more"]
    count = len(workers)
    every = "its only worker is" if count == 1 else f"all {count} of its workers are"
    return (
        f"the Dask cluster has made no progress for {seconds:.0f} s: {every} paused, as Dask"
        f" pauses a worker near its memory limit ({'; '.join(shown)}): give each worker"
        " more memory (LocalCluster memory_limit, dask worker --memory-limit), add workers,"
        " or run without --dask"
    )


def _worker_text(address: str, info: Mapping[str, Any]) -> str:
    from dask.utils import format_bytes

    metrics = info.get("metrics", {})
    used = int(metrics.get("memory") or 0)
    data = int(metrics.get("managed_bytes") or 0)
    limit = int(info.get("memory_limit") or 0)
    if not limit:
        return f"{address}: {format_bytes(used)} in use, no memory limit"
    return (
        f"{address}: {format_bytes(used)} in use of a {format_bytes(limit)} limit,"
        f" {format_bytes(data)} of it data"
    )
