"""Fan-out of live events to the streaming clients of one server process.

`LiveBroker.publish` (on the event loop) hands each event to every subscription whose
topics it carries. A subscriber that falls ``queue_size`` events behind (a log flood, a
slow browser) has its queue emptied and receives one ``reset`` event, after which it
reloads its state: memory stays bounded whatever the flood, and the lines that leave the
live view stay in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..domain.live import LiveEvent

__all__ = ["LiveBroker", "Subscription"]


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
        return event.wanted_by(self.topics)

    def put(self, event: LiveEvent) -> None:
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

    def end(self) -> None:
        """On the subscriber's loop: the server stops; let the stream end."""
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(LiveEvent(0, "closed", (), {}))


class LiveBroker:
    """Hands events to the subscriptions that want them.

    Parameters
    ----------
    queue_size
        Events a subscriber may fall behind before it is reset.
    """

    def __init__(self, queue_size: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._subscriptions: set[Subscription] = set()
        self.queue_size = queue_size

    def wants(self, topics: Iterable[str]) -> bool:
        """Whether a client listens to one of *topics* (thread-safe)."""
        wanted = frozenset(topics)
        with self._lock:
            return any(not s.topics.isdisjoint(wanted) for s in self._subscriptions)

    def publish(self, events: Iterable[LiveEvent]) -> None:
        """Hand *events*, in order, to the subscriptions that want them (on the loop)."""
        with self._lock:
            subscriptions = list(self._subscriptions)
        for event in events:
            for subscription in subscriptions:
                if subscription.wants(event):
                    subscription.put(event)

    def subscribe(self, topics: Iterable[str]) -> Subscription:
        """A subscription to *topics*, on the running event loop."""
        subscription = Subscription(
            topics=frozenset(topics),
            loop=asyncio.get_running_loop(),
            queue=asyncio.Queue(self.queue_size),
            broker=self,
        )
        with self._lock:
            self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a subscription."""
        with self._lock:
            self._subscriptions.discard(subscription)

    def close(self) -> None:
        """End every stream (the server is stopping): each gets a ``closed`` event."""
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            with contextlib.suppress(RuntimeError):  # its loop is gone already
                subscription.loop.call_soon_threadsafe(subscription.end)

    @property
    def subscriber_count(self) -> int:
        """How many clients listen."""
        with self._lock:
            return len(self._subscriptions)
