"""Live events: written with the change they announce, read by every server process's
feed, replayed from the database after a reconnection, and a client that falls behind
is reset instead of holding unbounded memory."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import make_url
from sqlalchemy.orm import Session, sessionmaker

from vigil.server.config import Settings
from vigil.server.database import create_database_engine
from vigil.server.domain.live import LiveEvent
from vigil.server.domain.logs import LogBatch, LogRecord
from vigil.server.services._broker import LiveBroker
from vigil.server.services.live import LiveFeed, LiveStream
from vigil.server.services.logs import LogService
from vigil.server.storage.event_sources import EventSourceStore
from vigil.server.storage.live import LiveEventStore
from vigil.server.storage.logs import LogStore

NOW = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions of one server process; each call of the fixture's maker is a process."""
    engine = create_database_engine(Settings(), make_url(db_url))
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def _other_process(db_url: str) -> sessionmaker[Session]:
    return sessionmaker(create_database_engine(Settings(), make_url(db_url)))


def _ingest(sessions: sessionmaker[Session], feed: LiveFeed, run: str, lines: list[str]) -> None:
    records = [LogRecord(time=NOW, level=20, message=m, unit="b0") for m in lines]
    with sessions() as session:
        service = LogService(
            session,
            Settings(),
            feed,
            store=LogStore(session),
            sources=EventSourceStore(session),
            live=LiveEventStore(session),
        )
        service.ingest(LogBatch(source=f"{run}-{lines[0]}", sequence=1, run=run, records=records))


def _announce(sessions: sessionmaker[Session], feed: LiveFeed, n: int) -> None:
    with sessions() as session:
        LiveEventStore(session).append([("unit", ("monitor:ql",), {"n": n})], NOW)
        session.commit()
    feed.wake()


async def _take(stream: LiveStream, count: int, timeout: float = 10) -> list[LiveEvent]:
    events = list(stream.replay)
    deadline = asyncio.get_running_loop().time() + timeout
    while len(events) < count:
        left = deadline - asyncio.get_running_loop().time()
        event = await stream.get(timeout=max(left, 0.01))
        if event is None:
            break
        events.append(event)
    return events


def test_a_flood_resets_a_slow_client_and_memory_stays_bounded() -> None:
    async def scenario() -> tuple[str, int]:
        broker = LiveBroker(queue_size=50)
        subscription = broker.subscribe({"log:7"})
        broker.publish(LiveEvent(n, "log", ("log:7", "log:7:b0"), {"n": n}) for n in range(1000))
        first = await subscription.get(timeout=0.5)
        assert first is not None
        return first.event, subscription.queue.qsize()

    kind, queued = asyncio.run(scenario())
    assert kind == "reset" and queued <= 50


def test_events_committed_by_one_process_reach_the_clients_of_another(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    writer = _other_process(db_url)

    async def scenario() -> tuple[list[str], list[str]]:
        here = LiveFeed(sessions, poll_interval=0.05)
        there = LiveFeed(writer, poll_interval=0.05)
        async with (
            here.subscribe({"monitor:ql", "log:1"}) as mine,
            there.subscribe({"monitor:ql"}) as theirs,
        ):
            await asyncio.to_thread(_announce, writer, there, 1)
            await asyncio.to_thread(_ingest, writer, there, "ci/1", ["first", "second"])
            await asyncio.to_thread(_announce, writer, there, 2)
            received = await _take(mine, 4)
            other = await _take(theirs, 2)
        return (
            [e.data.get("message") or f"unit {e.data['n']}" for e in received],
            [e.event for e in other],
        )

    received, other = asyncio.run(scenario())
    assert received == ["unit 1", "first", "second", "unit 2"]
    # The process that wrote them streams them too; a client of the monitor topic only
    # gets no log lines.
    assert other == ["unit", "unit"]


def test_a_reconnecting_client_gets_what_it_missed_from_any_process(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    writer = _other_process(db_url)
    feed = LiveFeed(writer, history=5)
    for n in range(3):
        _announce(writer, feed, n)
    _ingest(writer, feed, "ci/1", ["a", "b", "c"])
    _announce(writer, feed, 3)
    with writer() as session:
        ids = [e.id for e in LiveEventStore(session).after(0, limit=100)]

    async def replay(since: int, reader: sessionmaker[Session]) -> list[LiveEvent]:
        async with LiveFeed(reader).subscribe({"monitor:ql", "log:1:b0"}, since) as stream:
            return stream.replay

    after_first = asyncio.run(replay(ids[0], sessions))
    assert [e.data.get("n", e.data.get("message")) for e in after_first] == [1, 2, "a", "b", "c", 3]
    # The lines of one stored event carry its id only on the last: a client cut off in the
    # middle reconnects before them, and gets them again rather than never.
    assert [e.id for e in after_first[2:5]] == [ids[3] - 1, ids[3] - 1, ids[3]]
    for n in range(4, 12):
        _announce(writer, feed, n)
    with writer() as session:
        LiveEventStore(session).prune(5)
        session.commit()
    too_old = asyncio.run(replay(ids[0], sessions))
    assert [e.event for e in too_old] == ["reset"]  # no longer kept: reload the state
