"""Background work outside a request: ``vigil worker``'s passes and the server's thread.

Both run `vigil.server.services.worker.WorkerService.run_once`, built by the `Factory`
on a session of their own.
"""

from __future__ import annotations

import logging
import threading

from .database import UNAVAILABLE_ERRORS, is_unavailable, unavailable_error
from .factory import Factory, ProcessContext
from .services.worker import WorkerReport

__all__ = ["BUSY_SHARE", "BUSY_WINDOW", "ROUND", "BackgroundWorker", "run_pass"]

logger = logging.getLogger(__name__)


def run_pass(factory: Factory) -> tuple[WorkerReport, str | None]:
    """One pass of `WorkerService` for ``vigil worker``, surviving a database outage.

    Returns the pass's report and, when the database was out of reach, the one line that
    says so (the pass's transaction is rolled back; the next pass starts afresh). Other
    errors propagate.
    """
    try:
        return factory.create_worker_service().run_once(), None
    except UNAVAILABLE_ERRORS as exc:
        if not is_unavailable(exc):
            raise
        factory.session.rollback()
        engine = factory.session.get_bind()
        return WorkerReport(), unavailable_error(engine, exc).message  # type: ignore[arg-type]


BUSY_WINDOW = 1.0
"""Seconds after a request during which the process counts as busy."""

BUSY_SHARE = 0.25
"""The share of the process's time the analysis takes at most while requests come."""

ROUND = 32
"""Series the thread analyses between two looks at the requests (one chunk)."""


class BackgroundWorker:
    """Runs `WorkerService.run_once` every ``worker_interval`` seconds in a thread.

    The thread shares the process (and Python's interpreter lock) with the requests.
    While requests come (`RequestActivity.busy`) it takes at most `BUSY_SHARE` of the
    time: after each round of `ROUND` series it waits three times as long as the round
    took. The queue keeps each waiting series once, so analysis lags behind a burst of
    jobs and catches up after it, and nothing queued is lost.

    Parameters
    ----------
    context
        The server's process context (engine, settings).
    """

    def __init__(self, context: ProcessContext) -> None:
        self._context = context
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def start_for(cls, context: ProcessContext) -> BackgroundWorker:
        """A started worker when ``background_worker`` is on, else one that does nothing."""
        worker = cls(context)
        if context.settings.background_worker:
            worker.start()
        return worker

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="vigil-worker", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop and wait for the pass in progress to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _pace(self, spent: float) -> bool:
        """Leave the process to the requests while jobs arrive; whether to go on."""
        if self._context.activity.busy(BUSY_WINDOW):
            self._stop.wait(spent * (1 - BUSY_SHARE) / BUSY_SHARE)
        return not self._stop.is_set()

    def _run(self) -> None:
        settings = self._context.settings
        while not self._stop.wait(settings.worker_interval):
            try:
                with self._context.session_maker() as session:
                    service = Factory(self._context, session).create_worker_service()
                    service.run_once(batch=ROUND, pace=self._pace)
            except Exception as exc:
                if isinstance(exc, UNAVAILABLE_ERRORS) and is_unavailable(exc):
                    # An outage: one line a pass, not a traceback every few seconds.
                    message = unavailable_error(self._context.engine, exc).message
                    logger.warning("The background worker's pass stopped: %s", message)
                    continue
                logger.exception("The background worker's pass failed; it tries again later")
