"""Events to the server, in order, through outages: batches, retries and an on-disk spool.

The runner calls `EventReporter.emit` for every event (an exposure seen, a step started,
a log line...). A background thread gathers events into batches (up to ``batch_size``
events, or what arrived within ``linger`` seconds) numbered 1, 2, 3... within this
reporter's ``source`` (a random id), and posts them to ``/api/monitor/events``. The
server applies each ``(source, sequence)`` once, so a batch sent twice is harmless.

When the server cannot take a batch (unreachable, 5xx, bad token), the batch is written
to the spool (`vigil.client.Spool`, one file per batch) and so is every later batch
until the spool has been replayed, oldest first: order is kept across outages and
restarts. The same happens when events arrive faster than the server takes them (more
than ``high_water`` waiting), so memory stays bounded. A batch the server refuses (4xx)
is moved to ``rejected/`` in the spool with the reason.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vigil.client import Spool
from vigil.client.errors import ClientError, JobFileError, RejectedJobError

from .client import EventClient

__all__ = ["EventReporter", "ReporterStats"]

logger = logging.getLogger(__name__)

EVENTS_PATH = "/api/monitor/events"


@dataclass(slots=True)
class ReporterStats:
    """What a reporter did so far."""

    emitted: int = 0
    sent_batches: int = 0
    spooled_batches: int = 0
    replayed_batches: int = 0
    rejected_batches: int = 0
    last_error: str | None = None


class EventReporter:
    """Sends events to a Vigil server in order, spooling them while it is unavailable.

    Parameters
    ----------
    url
        Root URL of the server; None keeps every event in the spool.
    token
        API token.
    spool_dir
        The spool folder.
    path
        The endpoint batches are posted to.
    batch_size
        Events per batch, at most.
    linger
        Seconds a batch waits for more events after its first one.
    retry_interval
        Seconds between two attempts to replay the spool after a failure.
    high_water
        Events waiting in memory above which batches go to the spool directly.
    client
        The HTTP client (default: an `EventClient` on *url*).
    on_answer
        Called with each answer of the server (it carries the pipeline's control state).
    shape
        Builds the body of a batch from its events (default ``{"events": events}``); the
        batch's ``identifier``, ``source`` and ``sequence`` are added to it.
    """

    def __init__(
        self,
        url: str | None,
        token: str | None,
        spool_dir: str | Path,
        *,
        path: str = EVENTS_PATH,
        batch_size: int = 500,
        linger: float = 0.02,
        retry_interval: float = 1.0,
        high_water: int = 20_000,
        timeout: float = 5.0,
        client: EventClient | None = None,
        on_answer: Callable[[dict[str, Any]], None] | None = None,
        shape: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None,
    ) -> None:
        self.source = uuid.uuid4().hex
        self.spool = Spool(spool_dir)
        self.batch_size = batch_size
        self.linger = linger
        self.retry_interval = retry_interval
        self.high_water = high_water
        self.on_answer = on_answer
        self.shape = shape or (lambda events: {"events": events})
        self.stats = ReporterStats()
        if client is None and url is not None:
            client = EventClient(
                url, path, token=token, timeout=timeout, retries=2, total_timeout=timeout * 2
            )
        self.client = client
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._sequence = 0
        self._spooling = bool(self.spool.pending()) or client is None
        self._next_replay = 0.0
        self._idle = threading.Event()
        self._idle.set()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="vigil-reporter", daemon=True)
        self._stopping = False

    # Producer side ------------------------------------------------------------------

    def start(self) -> EventReporter:
        """Start the sending thread."""
        self._thread.start()
        return self

    def emit(self, event: dict[str, Any]) -> None:
        """Queue one event (thread-safe, never blocks); ``time`` is added if absent."""
        if "time" not in event:
            event["time"] = datetime.now(UTC).isoformat()
        with self._lock:
            self._pending += 1
            self._idle.clear()
        self.stats.emitted += 1
        self._queue.put(event)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event emitted so far was sent or spooled; False on timeout."""
        return self._idle.wait(timeout)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every event emitted so far reached the server; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._idle.is_set() and not self.spool.pending():
                return True
            time.sleep(0.05)
        return False

    @property
    def spooled(self) -> int:
        """Batches waiting in the spool."""
        return len(self.spool.pending())

    def close(self, timeout: float = 10.0) -> None:
        """Send or spool what is queued, try once more to replay the spool, and stop."""
        self.flush(timeout)
        self._stopping = True
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self.client is not None:
            self._replay(budget=None)
            self.client.close()

    # Sending thread -----------------------------------------------------------------

    def _take(self) -> list[dict[str, Any]] | None:
        """The next events to batch (empty after an idle second; None when stopping)."""
        try:
            first = self._queue.get(timeout=0.5 if not self._spooling else self.retry_interval / 4)
        except queue.Empty:
            return []
        if first is None:
            return None
        events = [first]
        deadline = time.monotonic() + self.linger
        while len(events) < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                item = (
                    self._queue.get_nowait()
                    if remaining <= 0
                    else self._queue.get(timeout=remaining)
                )
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)
                break
            events.append(item)
        return events

    def _loop(self) -> None:
        while True:
            events = self._take()
            if events is None:
                return
            try:
                if events:
                    self._handle(self._batch(events))
                if self._spooling and time.monotonic() >= self._next_replay:
                    budget = 1 if self._queue.qsize() else None
                    self._replay(budget=budget)
            except Exception:  # a bug must not stop the reporting of later events
                logger.exception("The event reporter failed; its events are in %s", self.spool.path)
            finally:
                with self._lock:
                    self._pending -= len(events or [])
                    if self._pending <= 0:
                        self._pending = 0
                        self._idle.set()

    def _batch(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        self._sequence += 1
        return {
            "identifier": f"{self.source}-{self._sequence:010d}",
            "source": self.source,
            "sequence": self._sequence,
            **self.shape(events),
        }

    def _handle(self, batch: dict[str, Any]) -> None:
        if not self._spooling and self._queue.qsize() > self.high_water:
            logger.warning("Events arrive faster than the server takes them: spooling.")
            self._spooling = True
            self._next_replay = 0.0
        if self._spooling:
            self.spool.put(batch)
            self.stats.spooled_batches += 1
            return
        if not self._send(batch):
            self.spool.put(batch)
            self.stats.spooled_batches += 1
            self._spooling = True
            self._next_replay = time.monotonic() + self.retry_interval

    def _send(self, batch: dict[str, Any]) -> bool:
        """Post one batch: True when the server took it (or refused it for good)."""
        assert self.client is not None
        try:
            answer = self.client.post(batch)
        except RejectedJobError as exc:
            self._reject(batch, exc.message)
            return True
        except ClientError as exc:
            if self.stats.last_error != exc.message:
                logger.warning("Events kept in %s: %s", self.spool.path, exc.message)
            self.stats.last_error = exc.message
            return False
        self.stats.sent_batches += 1
        self.stats.last_error = None
        if self.on_answer is not None:
            self.on_answer(answer)
        return True

    def _reject(self, batch: dict[str, Any], reason: str) -> None:
        self.stats.rejected_batches += 1
        logger.error("The server refused batch %s: %s", batch.get("identifier"), reason)
        path = self.spool.put(batch)
        self.spool.reject(path, reason)

    def _replay(self, budget: int | None) -> None:
        """Send spooled batches oldest first; stop at the first the server cannot take."""
        if self.client is None:
            return
        sent = 0
        for path in self.spool.pending():
            if budget is not None and sent >= budget:
                return
            try:
                batch = self.spool.load(path)
            except FileNotFoundError:
                continue
            except JobFileError as exc:
                self.spool.reject(path, exc.message)
                continue
            if not self._send(batch):
                self._next_replay = time.monotonic() + self.retry_interval
                return
            path.unlink(missing_ok=True)
            self.stats.replayed_batches += 1
            sent += 1
        self._spooling = False
