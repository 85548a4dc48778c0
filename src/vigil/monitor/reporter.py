"""Events to the server, per unit and in order, through floods and outages.

The runner calls `EventReporter.emit` for every event (an exposure seen, a step started,
a log line...). Events wait in *lanes*: one for the pipeline's own events (pipelines,
heartbeats, exposures; and every event without a ``processing``), one per processing
(its start and end) and one per unit of a processing. A background thread builds
batches of up to ``batch_size`` events (after ``linger`` seconds to gather more), taking
the pipeline's lane first, then a share of each unit's lane in turn: a unit writing
200,000 lines fills its own lane, and a quiet unit's lines go in the next batch. The
batches are numbered 1, 2, 3... within this reporter's ``source`` (a random id) and
posted to ``/api/monitor/events``; the server applies each ``(source, sequence)`` once,
so a batch sent twice is harmless.

Order is kept where it means something: within a lane; a processing's lane waits for the
pipeline's events emitted before it (its exposure), a unit's lane for its processing's
start, and a processing's later events (its end) for every event its units emitted
before them. Lanes are independent otherwise.

A lane keeps ``high_water`` events in memory; the rest wait in an anonymous file of the
spool folder, in blocks, and come back in order: the pipe of a flooding unit is always
read at full speed and memory stays bounded.

When the server cannot take a batch (unreachable, 5xx, bad token), the batch is written
to the spool (`vigil.client.Spool`, one file per batch) and so is every later batch
until the spool has been replayed, oldest first: order is kept across outages and
restarts. A batch the server refuses (4xx) is moved to ``rejected/`` in the spool with
the reason.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from vigil.client import Spool
from vigil.client.errors import ClientError, JobFileError, RejectedJobError

from .client import EventClient

__all__ = ["EventReporter", "ReporterStats"]

logger = logging.getLogger(__name__)

EVENTS_PATH = "/api/monitor/events"
BLOCK = 2_000
"""Events of a lane written to (and read back from) its file at once."""

Gate = tuple[tuple["_Lane", int], ...]


@dataclass(slots=True)
class ReporterStats:
    """What a reporter did so far."""

    emitted: int = 0
    sent_batches: int = 0
    spooled_batches: int = 0
    replayed_batches: int = 0
    rejected_batches: int = 0
    backlogged: int = 0
    last_error: str | None = None


class _Lane:
    """The events of one unit (or processing, or the pipeline) waiting to be sent, in order.

    Events are ``head`` (in memory), then ``blocks`` (in the backlog file), then ``tail``
    (in memory, until a block is full). ``gates`` holds, by position, what an event waits
    for: other lanes having given a number of events.
    """

    __slots__ = ("blocks", "children", "emitted", "gates", "head", "key", "parent", "tail", "taken")

    def __init__(self, key: Hashable, parent: _Lane | None) -> None:
        self.key = key
        self.parent = parent
        self.head: deque[dict[str, Any]] = deque()
        self.blocks: deque[tuple[int, int, int]] = deque()
        self.tail: list[dict[str, Any]] = []
        self.emitted = 0
        self.taken = 0
        self.gates: dict[int, Gate] = {}
        self.children: list[_Lane] = []

    @property
    def waiting(self) -> int:
        return self.emitted - self.taken

    def ready(self) -> bool:
        """Whether the lane's next event may be sent now."""
        if self.taken == self.emitted:
            return False
        gate = self.gates.get(self.taken) if self.gates else None
        return gate is None or all(lane.taken >= count for lane, count in gate)


class _Backlog:
    """An anonymous file holding lanes' blocks of events (gone when closed, even on a crash)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._file: IO[bytes] | None = None
        self._end = 0

    def write(self, events: list[dict[str, Any]]) -> tuple[int, int, int]:
        if self._file is None:
            self._folder.mkdir(parents=True, exist_ok=True)
            # Open for the reporter's life, closed by `close`.
            self._file = tempfile.TemporaryFile(dir=self._folder, prefix="backlog-")  # noqa: SIM115
        data = orjson.dumps(events)
        offset = self._end
        os.pwrite(self._file.fileno(), data, offset)
        self._end += len(data)
        return offset, len(data), len(events)

    def read(self, block: tuple[int, int, int]) -> list[dict[str, Any]]:
        assert self._file is not None
        offset, size, _ = block
        events: list[dict[str, Any]] = orjson.loads(os.pread(self._file.fileno(), size, offset))
        return events

    def reset_if_empty(self, lanes: dict[Hashable, _Lane]) -> None:
        """Start the file over once no lane has a block in it."""
        if self._file is not None and not any(lane.blocks for lane in lanes.values()):
            self._file.truncate(0)
            self._end = 0

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class EventReporter:
    """Sends events to a Vigil server per unit and in order, spooling them while it is away.

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
        Events of one lane kept in memory; later ones wait in a file until it drains.
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
        self.high_water = max(1, high_water)
        self.on_answer = on_answer
        self.shape = shape or (lambda events: {"events": events})
        self.stats = ReporterStats()
        if client is None and url is not None:
            client = EventClient(
                url, path, token=token, timeout=timeout, retries=2, total_timeout=timeout * 2
            )
        self.client = client
        self._main = _Lane(None, None)
        self._lanes: dict[Hashable, _Lane] = {None: self._main}
        self._backlog = _Backlog(self.spool.path)
        self._turn = 0
        self._sequence = 0
        self._spooling = bool(self.spool.pending()) or client is None
        self._next_replay = 0.0
        self._idle = threading.Event()
        self._idle.set()
        self._wake = threading.Event()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="vigil-reporter", daemon=True)
        self._stopping = False

    # Producer side ------------------------------------------------------------------

    def start(self) -> EventReporter:
        """Start the sending thread."""
        self._thread.start()
        return self

    def _lane(self, event: dict[str, Any]) -> _Lane:
        """The lane of *event*, created (with what it waits for) if new. Under the lock."""
        processing = event.get("processing")
        if processing is None:
            return self._main
        key = (processing, event.get("unit"))
        lane = self._lanes.get(key)
        if lane is None:
            parent = self._main if key[1] is None else self._lane({"processing": processing})
            lane = _Lane(key, parent)
            lane.gates[0] = ((parent, parent.emitted),)
            parent.children.append(lane)
            self._lanes[key] = lane
        elif key[1] is None and lane.children:
            # A processing's end comes after everything its units said before it.
            lane.gates[lane.emitted] = tuple((c, c.emitted) for c in lane.children)
        return lane

    def emit(self, event: dict[str, Any]) -> None:
        """Queue one event (thread-safe, never blocks); ``time`` is added if absent."""
        if "time" not in event:
            event["time"] = datetime.now(UTC).isoformat()
        with self._lock:
            lane = self._lane(event)
            if lane.blocks or lane.tail or len(lane.head) >= self.high_water:
                lane.tail.append(event)
                if len(lane.tail) >= BLOCK:
                    lane.blocks.append(self._backlog.write(lane.tail))
                    self.stats.backlogged += len(lane.tail)
                    lane.tail = []
            else:
                lane.head.append(event)
            lane.emitted += 1
            self._pending += 1
            self.stats.emitted += 1
            if self._pending == 1:
                self._idle.clear()
        if not self._wake.is_set():
            self._wake.set()

    def emit_many(self, events: list[dict[str, Any]]) -> None:
        """Queue events of one lane (one unit's lines read together) at once, in order."""
        if not events:
            return
        now: str | None = None
        for event in events:
            if "time" not in event:
                now = now or datetime.now(UTC).isoformat()
                event["time"] = now
        with self._lock:
            lane = self._lane(events[0])
            room = self.high_water - len(lane.head)
            if lane.blocks or lane.tail or room < len(events):
                start = 0 if (lane.blocks or lane.tail) else max(0, room)
                lane.head.extend(events[:start])
                lane.tail.extend(events[start:])
                while len(lane.tail) >= BLOCK:
                    block, lane.tail = lane.tail[:BLOCK], lane.tail[BLOCK:]
                    lane.blocks.append(self._backlog.write(block))
                    self.stats.backlogged += len(block)
            else:
                lane.head.extend(events)
            lane.emitted += len(events)
            self._pending += len(events)
            self.stats.emitted += len(events)
            if self._pending == len(events):
                self._idle.clear()
        if not self._wake.is_set():
            self._wake.set()

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

    @property
    def waiting(self) -> int:
        """Events emitted and not yet sent or spooled."""
        with self._lock:
            return self._pending

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (within *timeout*; the rest goes to the spool), try once
        more to replay the spool, and stop."""
        if not self.flush(timeout):
            logger.warning("The server is slower than the events: the rest goes to the spool.")
            self._spooling = True
            self._next_replay = time.monotonic() + 3600
            self.flush(timeout + 60)
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._backlog.close()
        if self.client is not None:
            self._replay(budget=None)
            self.client.close()

    # Sending thread -----------------------------------------------------------------

    def _fill(self, lane: _Lane, batch: list[dict[str, Any]], count: int) -> None:
        """Move up to *count* of *lane*'s ready events to *batch*. Under the lock."""
        while count > 0 and lane.ready():
            if not lane.head:
                if lane.blocks:
                    lane.head.extend(self._backlog.read(lane.blocks.popleft()))
                else:
                    lane.head.extend(lane.tail)
                    lane.tail = []
            if lane.gates:
                lane.gates.pop(lane.taken, None)
                batch.append(lane.head.popleft())
                lane.taken += 1
                count -= 1
                continue
            # No gate ahead: take a slice at once.
            n = min(count, len(lane.head))
            head = lane.head
            batch.extend(head.popleft() for _ in range(n))
            lane.taken += n
            count -= n

    def _take(self) -> list[dict[str, Any]]:
        """The next batch: the pipeline's events first, then the processings' (in the order
        they started), then every unit's share in turn."""
        batch: list[dict[str, Any]] = []
        size = self.batch_size
        with self._lock:
            processings = [lane for lane in self._lanes.values() if lane.parent is self._main]
            units = [lane for lane in self._lanes.values() if lane.parent not in (None, self._main)]
            if units:
                self._turn = (self._turn + 1) % len(units)
                units = units[self._turn :] + units[: self._turn]
            while len(batch) < size:
                self._fill(self._main, batch, size - len(batch))
                for lane in processings:
                    self._fill(lane, batch, size - len(batch))
                ready = [lane for lane in units if lane.ready()]
                if not ready or len(batch) >= size:
                    break
                share = max(1, (size - len(batch)) // len(ready))
                for lane in ready:
                    self._fill(lane, batch, min(share, size - len(batch)))
                    if len(batch) >= size:
                        break
            self._forget()
        return batch

    def _forget(self) -> None:
        """Drop the lanes that gave everything and whose followers do not wait on them."""
        emptied = [
            lane
            for lane in self._lanes.values()
            if lane is not self._main and not lane.waiting and not lane.children
        ]
        for lane in emptied:
            del self._lanes[lane.key]
            if lane.parent is not None and lane in lane.parent.children:
                lane.parent.children.remove(lane)
        if emptied:
            self._backlog.reset_if_empty(self._lanes)

    def _loop(self) -> None:
        while True:
            self._wake.wait(0.5 if not self._spooling else self.retry_interval / 4)
            self._wake.clear()
            if self.linger > 0 and not self._stopping:
                with self._lock:
                    full = self._pending >= self.batch_size
                if not full:
                    time.sleep(self.linger)
            while True:
                events = self._take()
                try:
                    if events:
                        self._handle(self._batch(events))
                    if self._spooling and time.monotonic() >= self._next_replay:
                        budget = 1 if self._pending > len(events) else None
                        self._replay(budget=budget)
                except Exception:  # a bug must not stop the reporting of later events
                    logger.exception(
                        "The event reporter failed; its events are in %s", self.spool.path
                    )
                finally:
                    with self._lock:
                        self._pending -= len(events)
                        if self._pending <= 0:
                            self._pending = 0
                            self._idle.set()
                if not events:
                    break
            if self._stopping and self._idle.is_set():
                return

    def _batch(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        self._sequence += 1
        return {
            "identifier": f"{self.source}-{self._sequence:010d}",
            "source": self.source,
            "sequence": self._sequence,
            **self.shape(events),
        }

    def _handle(self, batch: dict[str, Any]) -> None:
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
