"""Per-request dependencies: the factory on a fresh session, and URL building."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request

from ..factory import Factory, ProcessContext

__all__ = ["base_url", "factory_dependency", "process_context"]


def process_context(request: Request) -> ProcessContext:
    """The process context stored on the application at start-up."""
    return request.app.state.process_context


def factory_dependency(request: Request) -> Iterator[Factory]:
    """A `Factory` on a session of its own, closed when the request ends."""
    context = process_context(request)
    session = context.session_maker()
    try:
        yield Factory(context, session)
    finally:
        session.close()


def base_url(request: Request) -> str:
    """The public URL of the server, without a trailing slash."""
    configured = process_context(request).settings.base_url
    return (configured or str(request.base_url)).rstrip("/")
