"""Serving the application with uvicorn: ``vigil serve``.

Uvicorn's graceful shutdown waits for the open responses to finish before it stops the
application, and a server-sent-events stream (a live page) never finishes by itself.
`VigilServer` therefore ends the application's live streams first; browsers reconnect to
the next server by themselves. `serve_workers` runs several such servers on one socket.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
from typing import Any

import uvicorn
from starlette.datastructures import State
from uvicorn.config import STARTUP_FAILURE

__all__ = ["VigilServer", "serve_workers"]

logger = logging.getLogger(__name__)

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class VigilServer(uvicorn.Server):
    """Uvicorn's server, which ends the application's live streams when it shuts down."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """End the live streams, then shut down as uvicorn does."""
        context = getattr(_application_state(self.config), "process_context", None)
        if context is not None:
            context.live_feed.close()
        await super().shutdown(sockets)


def _application_state(config: uvicorn.Config) -> State | None:
    """The state of the Vigil application inside the middleware uvicorn wrapped it in."""
    app: Any = config.loaded_app if config.loaded else config.app
    for _ in range(10):
        state = getattr(app, "state", None)
        if isinstance(state, State):
            return state
        app = getattr(app, "app", None)
    return None


def serve_workers(config: uvicorn.Config, workers: int) -> None:
    """Serve *config*'s application with *workers* processes, each a `VigilServer`.

    The processes share one listening socket. A process that dies is replaced; SIGINT or
    SIGTERM stops them all (each ends its streams and its lifespan).

    Parameters
    ----------
    config
        The uvicorn configuration; its application is an import string, built by each
        process.
    workers
        How many processes.
    """
    sock = config.bind_socket()
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    processes = [_start_worker(config, sock) for _ in range(workers)]
    try:
        while not stop.wait(0.5):
            for index, process in enumerate(processes):
                if process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE:  # it would fail the same way again
                    logger.error("Worker %s failed to start; stopping.", process.pid)
                    stop.set()
                    break
                logger.info("Worker %s died; starting another.", process.pid)
                processes[index] = _start_worker(config, sock)
    finally:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()


def _start_worker(config: uvicorn.Config, sock: socket.socket) -> Any:
    process = multiprocessing.get_context("spawn").Process(
        target=_run_worker, args=(config, sock), name="vigil-serve"
    )
    process.start()
    logger.info("Started worker %s", process.pid)
    return process


def _run_worker(config: uvicorn.Config, sock: socket.socket) -> None:
    config.configure_logging()
    VigilServer(config).run(sockets=[sock])
