"""What the live streams share (the monitor's and the logs'): the process's live feed,
the read check made before a stream starts, and the server-sent events of some topics."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.sse import ServerSentEvent

from ..dependencies import process_context, read_access
from ..factory import Factory
from ..services.live import LiveFeed

__all__ = ["check_read_access", "event_stream", "live_feed"]


def live_feed(request: Request) -> LiveFeed:
    """The process's live event feed (held by its context, closed by the lifespan):
    services wake it after committing live events, streams subscribe to it."""
    return process_context(request).live_feed


def check_read_access(request: Request) -> None:
    """`read_access` for endpoints that must not hold a session: check, then let go."""
    context = process_context(request)
    with context.session_maker() as session:
        from ..dependencies.auth import optional_user

        user = optional_user(request, Factory(context, session))
        read_access(request, user)


async def event_stream(
    request: Request, topics: set[str], start: int | None
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events of *topics*, after event *start* (shared by both streams)."""
    async with live_feed(request).subscribe(topics, start) as stream:
        yield ServerSentEvent(
            event="hello",
            data={"last_event_id": stream.start_id, "process": os.getpid()},
            retry=1000,
        )
        for missed in stream.replay:
            yield ServerSentEvent(id=str(missed.id), event=missed.event, data=missed.data)
        while True:
            event = await stream.get(timeout=3600)
            if event is None:
                continue
            if event.event == "closed":
                return
            yield ServerSentEvent(id=str(event.id), event=event.event, data=event.data)
