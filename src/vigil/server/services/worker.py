"""Background work: analyse queued series, announce new regressions and failures, deliver
the outbox.

``vigil worker`` runs `WorkerService.run_once` in a loop; in single-process mode the
server runs it in a thread (`vigil.server.background.BackgroundWorker`). Every step is
safe to run in several processes at once: queue items and outbox messages are leased
before they are worked on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import Settings
from .failure_notices import FailureNoticeService
from .notifications import NotificationService
from .outbox import DeliveryReport, OutboxService
from .regressions import AnalysisReport, RegressionService

__all__ = ["WorkerReport", "WorkerService", "analysed"]

_MAX_ROUNDS = 1000


def analysed(settings: Settings, branch: str | None) -> bool:
    """Whether a job of *branch* changes what the analysis sees: only main-line jobs
    (the default branch, or no branch known) do; a branch's results are judged by the
    gate (``vigil check``)."""
    return branch is None or branch == settings.default_branch


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
    regressions
        Works the analysis queue.
    notifications
        Announces what the analysis found.
    outbox
        Delivers the due messages.
    failures
        Announces failed CI jobs and silent runners (None: not announced).
    """

    def __init__(
        self,
        regressions: RegressionService,
        notifications: NotificationService,
        outbox: OutboxService,
        failures: FailureNoticeService | None = None,
    ) -> None:
        self._regressions = regressions
        self._notifications = notifications
        self._outbox = outbox
        self._failures = failures

    def run_once(
        self, batch: int = 200, pace: Callable[[float], bool] | None = None
    ) -> WorkerReport:
        """Empty the analysis queue, announce what it found and the failures, deliver the
        due messages.

        *pace* is called after each round of *batch* series with the seconds the round
        took; it may wait (to leave the process to requests) and returns whether to go
        on with the queue (False: the rest waits for the next pass).
        """
        report = WorkerReport()
        for _ in range(_MAX_ROUNDS):
            began = time.monotonic()
            step = self._regressions.process_queue(batch)
            report.analysis.add(step)
            if step.series < batch:
                break
            if pace is not None and not pace(time.monotonic() - began):
                break
        report.queued_messages = self._notifications.announce()
        if self._failures is not None:
            report.queued_messages += self._failures.announce_failed_jobs()
            report.queued_messages += self._failures.announce_silences()
        report.delivery = self._outbox.deliver_due()
        return report
