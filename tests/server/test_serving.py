"""``vigil serve``'s uvicorn server: a live page never holds up the server's shutdown."""

from __future__ import annotations

import threading
import time

import uvicorn

from monitor._sse import EventListener
from vigil.server.config import Settings
from vigil.server.main import create_app
from vigil.server.serving import VigilServer

from .test_http import free_port


def test_shutdown_ends_the_live_streams_and_the_lifespan(settings: Settings) -> None:
    app = create_app(settings)
    port = free_port()
    # No graceful-shutdown limit: uvicorn alone would wait for the stream forever.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = VigilServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    context = app.state.process_context
    with EventListener(f"http://127.0.0.1:{port}/api/monitor/stream") as listener:
        assert listener.events[0][0] == "hello"
        assert context.live_feed.broker.subscriber_count == 1
        server.should_exit = True
        thread.join(15)
        assert not thread.is_alive(), "a live stream held the server up"
    # The lifespan ran to its end: the feed is closed and its clients are gone.
    assert context.live_feed.broker.subscriber_count == 0
