"""Send a pipeline's log records to Vigil: a `logging.Handler`, and a log file sender.

Records go through an `EventReporter` to ``POST /api/logs``: batched, retried, kept in an
on-disk spool while the server is unavailable and replayed in order, each batch stored
once. The run is named by *run* (a key of your choosing, e.g. the CI job id); its page is
``/monitor/logs`` on the server.

Examples
--------
>>> import logging
>>> handler = VigilLogHandler("https://vigil.example.org", token, run="ci/1234")  # doctest: +SKIP
>>> logging.getLogger().addHandler(handler)  # doctest: +SKIP
>>> ...
>>> handler.finish("succeeded")  # doctest: +SKIP

The handler never ships its own records: whatever is logged in a thread while the
handler's HTTP client sends a batch (httpx's ``HTTP Request: POST .../api/logs``,
httpcore's connection records) and the records of the sending machinery's own loggers
(`OWN_LOGGERS`) are left to the other handlers, so a handler on the root logger at DEBUG
stores only the pipeline's lines. The pipeline's own HTTP requests are still shipped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vigil.client.logs import read_log

from .client import EventClient
from .reporter import EventReporter

__all__ = ["LOGS_PATH", "OWN_LOGGERS", "VigilLogHandler", "log_shape", "send_log_file"]

LOGS_PATH = "/api/logs"

OWN_LOGGERS = ("vigil.monitor.reporter", "vigil.monitor.client", __name__)
"""Loggers of the sending machinery: their records (and their children's) are never
shipped by `VigilLogHandler`, whichever thread writes them."""

_SENDING = threading.local()


@contextlib.contextmanager
def _sending() -> Iterator[None]:
    """Mark this thread as shipping records: what it logs meanwhile is not shipped."""
    depth = getattr(_SENDING, "depth", 0)
    _SENDING.depth = depth + 1
    try:
        yield
    finally:
        _SENDING.depth = depth


def _is_sending() -> bool:
    return getattr(_SENDING, "depth", 0) > 0


def _is_own(name: str) -> bool:
    return any(name == own or name.startswith(own + ".") for own in OWN_LOGGERS)


class _LogClient(EventClient):
    """The handler's HTTP client: while it sends, its thread's records are not shipped."""

    def post(self, document: Mapping[str, Any]) -> dict[str, Any]:
        with _sending():
            return super().post(document)

    def close(self) -> None:
        with _sending():
            super().close()


def log_shape(run: str, kind: str, title: str | None, meta: dict[str, Any] | None = None) -> Any:
    """The ``shape`` of an `EventReporter` posting to ``/api/logs`` for one run.

    Events of type ``process`` become process endings, ``end`` ends the run, the others
    are records.
    """

    def shape(events: list[dict[str, Any]]) -> dict[str, Any]:
        records = [e for e in events if e.get("type") not in ("process", "end")]
        processes = [e["process"] for e in events if e.get("type") == "process"]
        status = next((e["status"] for e in events if e.get("type") == "end"), None)
        return {
            "run": run,
            "kind": kind,
            "title": title,
            "meta": meta or {},
            "records": records,
            "processes": processes,
            "status": status,
        }

    return shape


def _reporter(
    url: str | None,
    token: str | None,
    run: str,
    kind: str,
    title: str | None,
    spool_dir: str | Path | None,
    meta: dict[str, Any] | None = None,
) -> EventReporter:
    spool = Path(spool_dir) if spool_dir else Path.home() / ".cache" / "vigil" / "log-spool"
    timeout = 5.0
    client = (
        _LogClient(
            url, LOGS_PATH, token=token, timeout=timeout, retries=2, total_timeout=2 * timeout
        )
        if url is not None
        else None
    )
    return EventReporter(
        url,
        token,
        spool,
        path=LOGS_PATH,
        shape=log_shape(run, kind, title, meta),
        linger=0.2,
        timeout=timeout,
        client=client,
    )


class VigilLogHandler(logging.Handler):
    """A logging handler that sends every record to a Vigil server.

    Parameters
    ----------
    url
        Root URL of the server.
    token
        API token (default ``$VIGIL_TOKEN``).
    run
        The run's key; records of one run are shown together.
    kind
        What the run is (``python``, ``ci``...).
    title
        A readable name of the run.
    unit
        The unit (CCD, camera, patch...) this process works on, if any.
    spool_dir
        Where records wait while the server is unavailable.
    level
        The handler's level.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        run: str,
        kind: str = "python",
        title: str | None = None,
        unit: str | None = None,
        spool_dir: str | Path | None = None,
        level: int = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        self.unit = unit
        self.started = datetime.now(UTC)
        token = token if token is not None else os.environ.get("VIGIL_TOKEN")
        self.reporter = _reporter(url, token, run, kind, title, spool_dir).start()
        self._finished = False

    def emit(self, record: logging.LogRecord) -> None:
        """Queue one record (never blocks the pipeline), unless it is the handler's own
        (see the module's notes)."""
        if _is_sending() or _is_own(record.name):
            return
        with _sending():
            self._emit(record)

    def _emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record) if self.formatter else record.getMessage()
            if record.exc_info and not self.formatter:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            self.reporter.emit(
                {
                    "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
                    "level": record.levelno,
                    "message": message,
                    "unit": self.unit,
                    "process": f"{record.processName}-{record.process}",
                    "thread": record.threadName,
                    "logger": record.name,
                }
            )
        except Exception:  # logging must never break the pipeline
            self.handleError(record)

    def finish(
        self,
        status: str = "succeeded",
        *,
        exit_status: int | None = None,
        exception: str | None = None,
    ) -> None:
        """Record how this process ended and end the run; then send what is queued."""
        if self._finished:
            return
        self._finished = True
        self.reporter.emit(
            {
                "type": "process",
                "process": {
                    "name": f"{self.unit or 'main'}-{os.getpid()}",
                    "status": status,
                    "exit_status": exit_status,
                    "exception": exception,
                    "started_at": self.started.isoformat(),
                    "ended_at": datetime.now(UTC).isoformat(),
                },
            }
        )
        self.reporter.emit({"type": "end", "status": status})

    def close(self) -> None:
        """Send (or spool) everything, then close."""
        try:
            with _sending():
                self.reporter.close()
        finally:
            super().close()


def send_log_file(
    path: Path,
    *,
    url: str,
    token: str | None,
    run: str,
    kind: str = "ci",
    title: str | None = None,
    unit: str | None = None,
    status: str | None = None,
    spool_dir: str | Path | None = None,
    timeout: float = 60.0,
) -> tuple[int, bool]:
    """Send a log file's records (`vigil.client.logs.read_log`) as records of *run*;
    ``(records, all delivered)``.

    Levels, times and loggers are read from the lines Python's logging and the LSST
    pipelines write; a traceback and indented lines belong to the record before.
    """
    reporter = _reporter(url, token, run, kind, title or path.name, spool_dir).start()
    count = 0
    with path.open(encoding="utf-8", errors="replace") as stream:
        for record in read_log(stream):
            if unit is not None:
                record["unit"] = unit
            reporter.emit(record)
            count += 1
    if status is not None:
        reporter.emit({"type": "end", "status": status})
    delivered = reporter.drain(timeout)
    reporter.close()
    return count, delivered
