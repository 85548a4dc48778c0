"""Background work: analyse queued series, announce new regressions, deliver the outbox.

``vigil worker`` runs `WorkerService.run_once` in a loop; in single-process mode the
server runs it in a thread (`BackgroundWorker`). Every step is safe to run in several
processes at once: queue items and outbox messages are leased before they are worked on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from ..config import Settings
from ..database import UNAVAILABLE_ERRORS, is_unavailable, unavailable_error
from ..domain.analysis_settings import AnalysisSettings
from ..storage.regressions import AnalysisQueueStore
from .notifications import NotificationService
from .outbox import DeliveryReport, OutboxService, Sender
from .regressions import AnalysisReport, RegressionService

if TYPE_CHECKING:
    from ..factory import Factory, ProcessContext

__all__ = ["BackgroundWorker", "WorkerReport", "WorkerService", "enqueue_analysis", "run_pass"]

logger = logging.getLogger(__name__)

_MAX_ROUNDS = 1000


def enqueue_analysis(
    session: Session,
    settings: Settings,
    job_id: int,
    branch: str | None,
    series_ids: Iterable[int],
) -> None:
    """Queue the series of a newly stored job for analysis (inside the ingest transaction).

    Only main-line jobs (the default branch, or no branch known) change what the
    analysis sees; a branch's results are judged by the gate (``vigil check``).
    """
    if branch is None or branch == settings.default_branch:
        AnalysisQueueStore(session).enqueue(series_ids, job_id, datetime.now(UTC))


@dataclass(slots=True)
class WorkerReport:
    """What one pass of the worker did."""

    analysis: AnalysisReport = field(default_factory=AnalysisReport)
    queued_messages: int = 0
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    @property
    def idle(self) -> bool:
        """Whether the pass found nothing to do."""
        return (
            self.analysis.series == 0
            and self.queued_messages == 0
            and self.delivery.delivered + self.delivery.retried + self.delivery.given_up == 0
        )


class WorkerService:
    """One pass over the background work.

    Parameters
    ----------
    session
        The database session.
    settings
        Server settings.
    senders
        Override the outbox sender of a channel (see `OutboxService`).
    analysis
        Per-metric analysis settings (see `RegressionService`).
    """

    def __init__(
        self,
        session: Session,
        settings: Settings,
        senders: dict[str, Sender] | None = None,
        analysis: AnalysisSettings | None = None,
    ) -> None:
        self._regressions = RegressionService(session, settings, analysis)
        self._notifications = NotificationService(session, settings)
        self._outbox = OutboxService(session, settings, senders)

    def run_once(self, batch: int = 200) -> WorkerReport:
        """Empty the analysis queue, announce what it found, deliver the due messages."""
        report = WorkerReport()
        for _ in range(_MAX_ROUNDS):
            step = self._regressions.process_queue(batch)
            report.analysis.add(step)
            if step.series < batch:
                break
        report.queued_messages = self._notifications.announce()
        report.delivery = self._outbox.deliver_due()
        return report


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


class BackgroundWorker:
    """Runs `WorkerService.run_once` every ``worker_interval`` seconds in a thread.

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

    def _run(self) -> None:
        settings = self._context.settings
        while not self._stop.wait(settings.worker_interval):
            try:
                with self._context.session_maker() as session:
                    WorkerService(session, settings).run_once()
            except Exception as exc:
                if isinstance(exc, UNAVAILABLE_ERRORS) and is_unavailable(exc):
                    # An outage: one line a pass, not a traceback every few seconds.
                    message = unavailable_error(self._context.engine, exc).message
                    logger.warning("The background worker's pass stopped: %s", message)
                    continue
                logger.exception("The background worker's pass failed; it tries again later")
