"""Live events to the browsers connected to any server process.

A service that changes what a live page shows writes the events that announce it into
``live_events`` in the same transaction (`LiveEventStore.append`), then wakes this
process's `LiveFeed`. Each process's feed reads the events that follow the last one it
read (at once when woken, else every ``poll_interval`` seconds while a client listens) and
hands them to its clients, so a change committed by one process reaches the clients of
all of them. Event ids come from the database: a client that reconnects, to the same
process or another, gets the events after the last id it saw, replayed from the table
(the last ``history`` events are kept), or a ``reset`` when they are gone.

A ``lines`` event stands for a run's consecutive log lines: a short stretch (a monitor's
batch, a logging handler's) travels inside it, a long one (a log file) is only named, and
a feed reads it only when one of its clients follows that run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from ..domain.live import LINES, LiveEvent, LiveItem, log_topics
from ..domain.logs import LogLine, LogQuery, LogRecord, level_name
from ..storage.live import LiveEventStore
from ..storage.logs import LogStore
from ._broker import LiveBroker, Subscription

__all__ = [
    "LiveFeed",
    "LiveStream",
    "Publisher",
    "line_notices",
    "log_line_event",
]

logger = logging.getLogger(__name__)

_READ_BATCH = 500
_PRUNE_SECONDS = 10.0
_INLINE_LINES = 64


class Publisher(Protocol):
    """What a service wakes once its live events are committed (`LiveFeed`)."""

    def wake(self) -> None:
        """New live events are committed: deliver them now."""


def log_line_event(line: LogLine, topics: tuple[str, ...] | None = None) -> LiveItem:
    """The live event of a stored line (default topics: `log_topics`)."""
    return (
        "log",
        topics or log_topics(line.run_id, line.unit),
        _payload(line.id, line.run_id, line),
    )


def _payload(line_id: int, run_id: int, line: LogLine | LogRecord) -> dict[str, Any]:
    time = line.time if line.time.tzinfo is not None else line.time.replace(tzinfo=UTC)
    return {
        "id": line_id,
        "run_id": run_id,
        "time": time.astimezone(UTC).isoformat(),
        "level": line.level,
        "level_name": level_name(line.level),
        "unit": line.unit,
        "process": line.process,
        "thread": line.thread,
        "logger": line.logger,
        "checkpoint": line.checkpoint,
        "message": line.message,
    }


def line_notices(
    run_id: int, lines: Sequence[tuple[int, LogRecord]], extra: tuple[str, ...] = ()
) -> list[LiveItem]:
    """The ``lines`` events of stored lines of one run, given as ``(id, record)`` in order.

    One event per stretch of consecutive ids; its topics are those its lines carry (the
    run's, each unit's, and *extra*), so that a feed reads the lines only when a client
    follows one of them. A stretch of up to 64 lines travels inside its event.
    """
    items: list[LiveItem] = []
    start = 0
    for end in range(1, len(lines) + 1):
        if end < len(lines) and lines[end][0] == lines[end - 1][0] + 1:
            continue
        stretch = lines[start:end]
        units = dict.fromkeys(record.unit for _, record in stretch if record.unit)
        topics = (f"log:{run_id}", *(f"log:{run_id}:{unit}" for unit in units), *extra)
        data: dict[str, Any] = {
            "run_id": run_id,
            "first": stretch[0][0],
            "last": stretch[-1][0],
            "topics": list(extra),
        }
        if len(stretch) <= _INLINE_LINES:
            data["lines"] = [_payload(line_id, run_id, record) for line_id, record in stretch]
        items.append((LINES, topics, data))
        start = end
    return items


@dataclass(eq=False)
class LiveStream:
    """One client's stream: the events it missed, then the live ones.

    Attributes
    ----------
    start_id
        The id of the last event before the live ones.
    replay
        The events after the id the client gave, up to ``start_id`` (or a ``reset``).
    """

    subscription: Subscription
    start_id: int
    replay: list[LiveEvent]
    seen: int = 0

    async def get(self, timeout: float) -> LiveEvent | None:
        """The next live event, or None after *timeout* seconds.

        Events before ``seen`` are skipped: a client that reconnects to a process that has
        not yet read as far as it had does not get them twice.
        """
        while True:
            event = await self.subscription.get(timeout)
            if event is None or event.id >= self.seen or event.event == "closed":
                return event


class LiveFeed:
    """This process's reader of the live events, and its clients' broker.

    Parameters
    ----------
    sessions
        Opens database sessions (each read is a short transaction of its own).
    history
        Events kept in the table for clients that reconnect.
    queue_size
        Events a client may fall behind before it is reset.
    poll_interval
        Seconds between two reads while clients listen and nothing woke the feed: how
        late the events committed by another process may arrive.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        history: int = 20_000,
        queue_size: int = 10_000,
        poll_interval: float = 0.2,
    ) -> None:
        self._sessions = sessions
        self.broker = LiveBroker(queue_size)
        self.history = history
        self.poll_interval = poll_interval
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._starting: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None
        self._cursor = 0
        self._closed = False
        self._prune_lock = threading.Lock()
        self._pruned_at = 0.0

    # Writers' side (any thread) -------------------------------------------------------

    def wake(self) -> None:
        """New events are committed: read them now (and prune the table now and then)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and self._task is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
                loop.call_soon_threadsafe(wake.set)
        self._maybe_prune()

    @property
    def last_id(self) -> int:
        """The id of the newest event committed by any process."""
        with self._sessions() as session:
            return LiveEventStore(session).last_id()

    def open(self) -> None:
        """Accept streams (the server starts, or starts again after `close`)."""
        self._closed = False

    def close(self) -> None:
        """End every stream (the server stops) and stop reading."""
        self._closed = True
        self.broker.close()
        self.wake()

    # Clients' side (the event loop) ---------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscribe(
        self, topics: Iterable[str], since: int | None = None
    ) -> AsyncIterator[LiveStream]:
        """A stream of the events of *topics*, after event *since* when given."""
        wanted = frozenset(topics)
        await self._follow_from_here()
        # No await between these two lines: every event after start_id goes to the queue.
        subscription = self.broker.subscribe(wanted)
        start = self._cursor
        try:
            replay: list[LiveEvent] = []
            if since is not None and since < start:
                replay = await asyncio.to_thread(self._replay, wanted, since, start)
            yield LiveStream(subscription, start, replay, seen=since or 0)
        finally:
            subscription.close()

    async def _follow_from_here(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._wake, self._starting, self._task = (
                loop,
                asyncio.Event(),
                asyncio.Lock(),
                None,
            )
        assert self._starting is not None
        async with self._starting:
            if self._task is None or self._task.done():
                self._cursor = await asyncio.to_thread(self._newest)
                self._task = loop.create_task(self._follow())

    async def _follow(self) -> None:
        wake = self._wake
        assert wake is not None
        try:
            while not self._closed and self.broker.subscriber_count:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.poll_interval)
                wake.clear()
                try:
                    events, cursor, more = await asyncio.to_thread(self._read_new, self._cursor)
                except Exception:  # the database is away: try again at the next poll
                    logger.exception("Reading the live events failed")
                    continue
                # Publishing and moving the cursor in one step of the loop: a client that
                # subscribes meanwhile gets these events live, not in its replay.
                self.broker.publish(events)
                self._cursor = cursor
                if more:
                    wake.set()
        finally:
            self._task = None

    # Reading (worker threads) -----------------------------------------------------------

    def _newest(self) -> int:
        with self._sessions() as session:
            return LiveEventStore(session).last_id()

    def _read_new(self, cursor: int) -> tuple[list[LiveEvent], int, bool]:
        with self._sessions() as session:
            rows = LiveEventStore(session).after(cursor, limit=_READ_BATCH)
            events: list[LiveEvent] = []
            for row in rows:
                events.extend(_expand(session, row, lambda e: self.broker.wants(e.topics)))
        return events, (rows[-1].id if rows else cursor), len(rows) == _READ_BATCH

    def _replay(self, topics: frozenset[str], since: int, until: int) -> list[LiveEvent]:
        with self._sessions() as session:
            store = LiveEventStore(session)
            first = store.first_id()
            if first is None or first > since + 1:
                return [LiveEvent(until, "reset", (), {"reason": "history", "since": since})]
            events: list[LiveEvent] = []
            cursor = since
            while True:
                rows = store.after(cursor, until=until, limit=_READ_BATCH)
                for row in rows:
                    events.extend(_expand(session, row, lambda e: e.wanted_by(topics)))
                if len(events) > self.broker.queue_size:
                    return [LiveEvent(until, "reset", (), {"reason": "behind", "since": since})]
                if len(rows) < _READ_BATCH:
                    return events
                cursor = rows[-1].id

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        with self._prune_lock:
            if now - self._pruned_at < _PRUNE_SECONDS:
                return
            self._pruned_at = now
        try:
            with self._sessions() as session:
                LiveEventStore(session).prune(self.history)
                session.commit()
        except Exception:  # pruning must never fail a write
            logger.exception("Pruning the live events failed")


def _expand(
    session: Session, event: LiveEvent, wants: Callable[[LiveEvent], bool]
) -> list[LiveEvent]:
    """The event itself, or for a ``lines`` event the lines it names, as the client wants."""
    if not wants(event):
        return []
    if event.event != LINES:
        return [event]
    data = event.data
    run_id, first, last = data["run_id"], data["first"], data["last"]
    payloads = data.get("lines")
    if payloads is None:
        lines = LogStore(session).read_lines(
            LogQuery(run_id=run_id), limit=last - first + 1, ranges=[(first, last)]
        )
        payloads = [_payload(line.id, run_id, line) for line in lines]
    extra = tuple(data.get("topics") or ())
    expanded = []
    for index, payload in enumerate(payloads):
        topics = (*log_topics(run_id, payload["unit"]), *extra)
        # All but the last line carry the id before: a client cut off in the middle of the
        # stretch reconnects before it and gets the stretch again (lines are deduplicated
        # by their own id), never skips the rest of it.
        number = event.id if index == len(payloads) - 1 else event.id - 1
        line_event = LiveEvent(number, "log", topics, payload)
        if wants(line_event):
            expanded.append(line_event)
    return expanded
