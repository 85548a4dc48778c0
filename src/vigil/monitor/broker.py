"""Live events from the server's worker threads to its streaming clients, in one process.

`LiveBroker.publish` (called from any thread, after the data is committed) numbers each
event and hands it to every subscriber whose topics it carries; subscribers are read by
the server-sent-events endpoints on the event loop. The last ``history`` events are kept
so that a client reconnecting with the last id it saw gets what it missed; a client too
far behind (its queue full, or its id older than the history) receives a ``reset`` event
and reloads its state. Memory is bounded by ``history`` and ``queue_size`` whatever the
flood: older lines leave the live view but stay in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LiveBroker", "LiveEvent", "Subscription"]


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One numbered event.

    Attributes
    ----------
    id
        Increasing within the process (the SSE ``id``).
    event
        Its kind (``unit``, ``step``, ``log``, ``reset``...).
    topics
        Who wants it (``monitor:<pipeline>``, ``log:<run id>:<unit>``...).
    data
        The JSON payload.
    """

    id: int
    event: str
    topics: tuple[str, ...]
    data: dict[str, Any]


@dataclass(eq=False)
class Subscription:
    """One client's queue of events."""

    topics: frozenset[str]
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[LiveEvent]
    broker: LiveBroker
    reset_pending: bool = False
    dropped: int = 0
    _closed: bool = field(default=False, repr=False)

    def wants(self, event: LiveEvent) -> bool:
        """Whether the event carries one of this subscription's topics."""
        return not self.topics.isdisjoint(event.topics)

    def _put(self, event: LiveEvent) -> None:
        """On the subscriber's loop: queue the event, or ask for a reset when full."""
        if self._closed or self.reset_pending:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += self.queue.qsize()
            while not self.queue.empty():
                self.queue.get_nowait()
            self.reset_pending = True
            self.queue.put_nowait(
                LiveEvent(
                    event.id, "reset", event.topics, {"reason": "behind", "dropped": self.dropped}
                )
            )

    async def get(self, timeout: float) -> LiveEvent | None:
        """The next event, or None after *timeout* seconds (``closed`` when the server stops)."""
        try:
            event = await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None
        if event.event == "reset":
            self.reset_pending = False
        return event

    def close(self) -> None:
        """Stop receiving."""
        self._closed = True
        self.broker.unsubscribe(self)

    def _end(self) -> None:
        """On the subscriber's loop: the server stops; let the stream end."""
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(LiveEvent(0, "closed", (), {}))

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LiveBroker:
    """Numbers events and fans them out to subscriptions (thread-safe).

    Parameters
    ----------
    history
        Events kept for clients that reconnect.
    queue_size
        Events a subscriber may fall behind before it is reset.
    """

    def __init__(
        self, history: int = 20_000, queue_size: int = 10_000, linger: float = 120.0
    ) -> None:
        self._lock = threading.Lock()
        self._history: deque[LiveEvent] = deque(maxlen=history)
        self._subscriptions: set[Subscription] = set()
        self._recent: dict[str, float] = {}
        self._next_id = 1
        self.queue_size = queue_size
        self.linger = linger

    def wants(self, topics: Iterable[str]) -> bool:
        """Whether a client listens to one of *topics*, or did in the last ``linger`` seconds.

        Publishers of bulky events (log lines) skip building those nobody can want; a
        client that reconnects within ``linger`` seconds still finds its events kept.
        """
        wanted = set(topics)
        with self._lock:
            if any(not s.topics.isdisjoint(wanted) for s in self._subscriptions):
                return True
            horizon = time.monotonic() - self.linger
            return any(self._recent.get(topic, 0.0) > horizon for topic in wanted)

    @property
    def last_id(self) -> int:
        """The id of the last event published (0 before any)."""
        return self._next_id - 1

    def publish(
        self, items: Iterable[tuple[str, Iterable[str], dict[str, Any]]]
    ) -> list[LiveEvent]:
        """Publish ``(event, topics, data)`` items in order; the numbered events."""
        published: list[LiveEvent] = []
        with self._lock:
            for kind, topics, data in items:
                event = LiveEvent(self._next_id, kind, tuple(topics), data)
                self._next_id += 1
                self._history.append(event)
                published.append(event)
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            wanted = [e for e in published if subscription.wants(e)]
            if not wanted:
                continue
            try:
                for event in wanted:
                    subscription.loop.call_soon_threadsafe(subscription._put, event)
            except RuntimeError:  # its loop is closed: the client is gone
                self.unsubscribe(subscription)
        return published

    def subscribe(self, topics: Iterable[str], since: int | None = None) -> Subscription:
        """A subscription to *topics*, on the running event loop.

        Parameters
        ----------
        topics
            The topics wanted.
        since
            The last event id the client saw: the events after it are replayed first,
            or a ``reset`` is queued when they are no longer all kept.
        """
        subscription = Subscription(
            topics=frozenset(topics),
            loop=asyncio.get_running_loop(),
            queue=asyncio.Queue(self.queue_size),
            broker=self,
        )
        with self._lock:
            if since is not None and since < self.last_id:
                oldest = self._history[0].id if self._history else self._next_id
                if since + 1 < oldest:
                    subscription._put(
                        LiveEvent(self.last_id, "reset", (), {"reason": "history", "since": since})
                    )
                else:
                    for event in self._history:
                        if event.id > since and subscription.wants(event):
                            subscription._put(event)
            self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a subscription (its topics stay wanted for ``linger`` seconds)."""
        with self._lock:
            self._subscriptions.discard(subscription)
            now = time.monotonic()
            for topic in subscription.topics:
                self._recent[topic] = now
            if len(self._recent) > 10_000:
                horizon = now - self.linger
                self._recent = {t: at for t, at in self._recent.items() if at > horizon}

    def close(self) -> None:
        """End every stream (the server is stopping): each gets a ``closed`` event."""
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            with contextlib.suppress(RuntimeError):
                subscription.loop.call_soon_threadsafe(subscription._end)

    @property
    def subscriber_count(self) -> int:
        """How many clients listen."""
        with self._lock:
            return len(self._subscriptions)
