"""Reaching a Dask cluster from one text, as ``--dask`` takes it.

- ``local``: a ``distributed.LocalCluster`` on this machine, one worker process per core
  (at most `LOCAL_WORKERS`), started now and closed with the `DaskCluster`;
- ``local:N``: the same with *N* workers;
- a scheduler's address (``tcp://scheduler:8786``, ``tls://...``; ``host:port`` means
  ``tcp://host:port``): a cluster running elsewhere, which stays up when Vigil is done.

A scheduler that does not answer within `CONNECT_TIMEOUT` seconds is a
`DaskConnectionError` naming the address, never a hang; nor is a cluster whose workers
are all paused (out of memory) or gone while Vigil waits for a result: after
`vigil.compute._dask_wait.STALL_GRACE` seconds it is a `DaskStalledError` naming them.
The workers read the repository's files at the paths the client gives: on a cluster they
must see the same file system (a shared disk, or the same mount on every node).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import warnings
from dataclasses import dataclass, field
from typing import Any

from vigil.compute._dask_wait import DaskStalledError
from vigil.compute.errors import ComputeError

__all__ = [
    "CONNECT_TIMEOUT",
    "LOCAL_WORKERS",
    "DaskCluster",
    "DaskConnectionError",
    "DaskStalledError",
    "open_cluster",
]

CONNECT_TIMEOUT = 5.0
"""Seconds a scheduler has to answer before `open_cluster` gives up."""

LOCAL_WORKERS = 4
"""Worker processes of ``local`` at most (one per core below that)."""

_LOCAL = re.compile(r"local(?::(?P<workers>[0-9]{1,4}))?")
_ADDRESS = re.compile(
    r"(?:(?P<scheme>[a-z]+)://)?(?P<host>[^\s/:\[\]]+|\[[0-9A-Fa-f:.]+\]):(?P<port>[0-9]{1,5})"
)
_TCP_SCHEMES = ("tcp", "tls", "ws", "wss")


class DaskConnectionError(ComputeError):
    """A ``--dask`` value that names no reachable cluster."""

    status_code = 503
    code = "dask_unreachable"


@dataclass
class DaskCluster:
    """A client of a Dask cluster, and the local cluster behind it when Vigil started one.

    Closing it closes the client, and the local cluster with its workers.
    """

    spec: str
    client: Any
    local: Any = None
    closed: bool = field(default=False, init=False)

    @property
    def workers(self) -> int:
        """Workers connected now."""
        return len(self.client.scheduler_info(n_workers=-1).get("workers", {}))

    def close(self) -> None:
        """Close the client (and the local cluster)."""
        if self.closed:
            return
        self.closed = True
        self.client.close()
        if self.local is not None:
            self.local.close()

    def __enter__(self) -> DaskCluster:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def open_cluster(
    spec: str,
    *,
    timeout: float = CONNECT_TIMEOUT,
    memory_limit: str | int | None = None,
    processes: bool = True,
) -> DaskCluster:
    """A client of the cluster *spec* names (see the module's text).

    Parameters
    ----------
    spec
        ``local``, ``local:N`` or a scheduler's address.
    timeout
        Seconds to wait for a scheduler.
    memory_limit
        With ``local``: each worker's memory (``"2GiB"``, bytes); default: the machine's
        memory shared between the workers.
    processes
        With ``local``: workers in processes (True) or threads of this one.

    Raises
    ------
    DaskConnectionError
        *spec* is not one of those forms, or the scheduler does not answer.
    """
    text = spec.strip()
    local = _LOCAL.fullmatch(text)
    if local:
        return _local(text, local.group("workers"), memory_limit, processes)
    address = _ADDRESS.fullmatch(text)
    if not address:
        raise DaskConnectionError(
            f"{spec!r} is not a Dask cluster: give local, local:N (N workers) or a"
            " scheduler address such as tcp://scheduler:8786"
        )
    if address.group("scheme") is None:
        text = f"tcp://{text}"
    if (address.group("scheme") or "tcp") in _TCP_SCHEMES:
        # A refused or unknown address fails here at once, before Dask is even imported.
        host, port = address.group("host").strip("[]"), int(address.group("port"))
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError as exc:
            raise DaskConnectionError(
                f"no Dask scheduler answers at {text} ({exc.strerror or exc}): start one"
                " (dask scheduler) or use local"
            ) from None
    from distributed import Client

    try:
        client = _untyped(Client)(text, timeout=timeout, set_as_default=False)
    except Exception as exc:  # every failure to connect means the same to the user
        raise DaskConnectionError(
            f"no Dask scheduler answered at {text} within {timeout:g} s"
            f" ({type(exc).__name__}: {_first_line(exc)}): start one (dask scheduler) or"
            " use local"
        ) from None
    return DaskCluster(text, client)


def _local(
    spec: str, workers: str | None, memory_limit: str | int | None, processes: bool
) -> DaskCluster:
    from distributed import Client, LocalCluster

    count = int(workers) if workers is not None else min(os.cpu_count() or 1, LOCAL_WORKERS)
    if count < 1:
        raise DaskConnectionError(f"{spec!r}: a local cluster needs at least one worker")
    options: dict[str, Any] = {}
    if memory_limit is not None:
        options["memory_limit"] = memory_limit
    with warnings.catch_warnings():
        # Without a dashboard the scheduler still serves its HTTP routes, on another port
        # when 8787 is taken, and says so: not the user's concern.
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        cluster = _untyped(LocalCluster)(
            n_workers=count,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=None,
            silence_logs=logging.ERROR,
            **options,
        )
    try:
        client = _untyped(Client)(cluster, set_as_default=False)
    except BaseException:
        cluster.close()
        raise
    return DaskCluster(spec, client, cluster)


def _untyped(function: Any) -> Any:
    """*function* (distributed's ``Client`` and ``LocalCluster`` are not annotated)."""
    return function


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no answer"
