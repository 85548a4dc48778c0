"""Per-request dependencies: the factory on a fresh session, and URL building."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from ..factory import Factory, ProcessContext

__all__ = ["base_url", "factory_dependency", "process_context"]


def process_context(request: Request) -> ProcessContext:
    """The process context stored on the application at start-up."""
    return cast(ProcessContext, request.app.state.process_context)


async def factory_dependency(request: Request) -> AsyncIterator[Factory]:
    """A `Factory` on a session of its own, closed when the request ends."""
    # Run on the event loop: a session connects only when first used, in the handler's
    # thread, so making one costs no I/O, and a thread hop each way would cost more than
    # the rest of a small request. Services end their transactions; closing a session
    # still in one rolls it back, which is I/O, and is done in a thread.
    context = process_context(request)
    session = context.session_maker()
    try:
        yield Factory(context, session)
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


def base_url(request: Request) -> str:
    """The public URL of the server, without a trailing slash."""
    configured = process_context(request).settings.base_url
    return (configured or str(request.base_url)).rstrip("/")
