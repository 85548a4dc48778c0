"""The digests that tell people about new regressions (subscriptions: `.subscriptions`).

New records are announced once: per job whose analysis found them, every recipient
(subscriber, stakeholder of a requirement, author of a suspect commit) gets one digest
per channel, queued in the outbox in the same transaction that marks the records
announced. A record is one change (with the specifications it makes fail) or one
series' unexplained specification failures, so a digest has one entry per change, not
one per specification.

A suspected record (an early warning on the newest values) is announced only to the
subscriptions that ask for suspicions (``notify_on="suspected"``); when later data
confirm it, it is announced again, to the others (and to stakeholders and authors), but
not again to those told of the suspicion.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from ..config import Settings
from ..domain.regressions import (
    JobRef,
    RegressionDetail,
    RegressionStatus,
    SeriesFacts,
)
from ..storage.analysis_queue import AnalysisQueueStore
from ..storage.metrics import MetricStore, SpecificationStore
from ..storage.regressions import RegressionStore
from ..storage.subscriptions import OutboxStore, SubscriptionStore
from ._email_digest import email_digest, series_label
from ._email_plot import change_plot
from .regressions import RegressionService, line_values
from .subscriptions import (
    EMAIL_RE,
    WEBHOOK_KEY_PREFIX,
    InvalidSubscriptionError,
    SubscriptionNotFoundError,
    SubscriptionService,
    new_secret,
)

__all__ = [
    "WEBHOOK_KEY_PREFIX",
    "InvalidSubscriptionError",
    "NotificationService",
    "SubscriptionNotFoundError",
    "SubscriptionService",
    "dedupe_key",
    "job_json",
    "new_secret",
    "render_digest",
]

logger = logging.getLogger(__name__)

_NOTIFIED_KINDS = ("regression", "change", "spec_failure")


# Announcing ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Recipient:
    details: dict[int, RegressionDetail] = field(default_factory=dict)


def dedupe_key(
    event_key: str, channel: str, target: str, subscription_id: int | None = None
) -> str:
    """The outbox's uniqueness key of one event for one target (and subscription)."""
    text = f"{event_key}\n{channel}\n{target}"
    if subscription_id is not None:
        text += f"\n{subscription_id}"
    return hashlib.sha256(text.encode()).hexdigest()


class NotificationService:
    """Turns newly found regressions into digests in the outbox.

    Parameters
    ----------
    session
        The database session.
    settings
        Server settings.
    regressions
        Reads the details of the regressions a digest tells of.
    store, queue, outbox, subscriptions, metrics, specs
        The stores it works on.
    """

    def __init__(
        self,
        session: Session,
        settings: Settings,
        regressions: RegressionService,
        *,
        store: RegressionStore,
        queue: AnalysisQueueStore,
        outbox: OutboxStore,
        subscriptions: SubscriptionStore,
        metrics: MetricStore,
        specs: SpecificationStore,
    ) -> None:
        self._session = session
        self._settings = settings
        self._store = store
        self._queue = queue
        self._outbox = outbox
        self._subscriptions = subscriptions
        self._metrics = metrics
        self._specs = specs
        self._regressions = regressions

    def announce(self, limit: int = 1000) -> int:
        """Queue the digests of records not announced yet; return how many messages.

        A job's records are announced once all the series it queued are analysed, so
        that its digest is complete.
        """
        pending = self._store.unannounced(limit)
        groups: dict[int | None, list[int]] = defaultdict(list)
        for regression_id, job_id in pending:
            groups[job_id].append(regression_id)
        waiting = self._queue.waiting_job_ids(j for j in groups if j is not None)
        self._session.rollback()
        queued = 0
        for job_id, ids in groups.items():
            if job_id in waiting:
                continue
            try:
                queued += self._announce(job_id, ids)
                self._session.commit()
            except BaseException:
                self._session.rollback()
                raise
        return queued

    def _announce(self, job_id: int | None, ids: list[int]) -> int:
        everything = self._regressions.details(ids)
        suspicions = [d.regression.id for d in everything if d.regression.suspected]
        details = [
            d
            for d in everything
            if d.regression.kind in _NOTIFIED_KINDS
            and d.regression.status == RegressionStatus.OPEN
            and not d.regression.dissolved
        ]
        rows = []
        if details:
            job = self._store.job_refs([job_id]).get(job_id) if job_id is not None else None
            told = self._store.suspicions_announced(
                [d.regression.id for d in details if not d.regression.suspected]
            )
            recipients = self._recipients(details, told)
            now = datetime.now(UTC)
            # The phase is part of the digest: a confirmation is a new event.
            digest_id = hashlib.sha256(
                ",".join(
                    f"{d.regression.id}{'s' if d.regression.suspected else ''}" for d in details
                ).encode()
            ).hexdigest()[:16]
            event_key = f"regressions:job-{job_id}:{digest_id}"
            plots: dict[int, bytes | None] = {}  # each record's plot, drawn once
            for (channel, target, subscription_id), recipient in sorted(
                recipients.items(), key=lambda item: (item[0][0], item[0][1], item[0][2] or 0)
            ):
                payload = render_digest(
                    channel,
                    job,
                    list(recipient.details.values()),
                    base_url=self._settings.base_url,
                    event_key=event_key,
                    plot=lambda d: self._plot(d, plots),
                )
                rows.append(
                    {
                        "dedupe_key": dedupe_key(event_key, channel, target, subscription_id),
                        "event_key": event_key,
                        "channel": channel,
                        "target": target,
                        "subscription_id": subscription_id,
                        "payload": payload,
                        "created_at": now,
                        "attempts": 0,
                        "next_attempt_at": now,
                    }
                )
            self._outbox.add(rows)
        self._store.mark_announced(ids, suspicions)
        return len(rows)

    def _recipients(
        self, details: list[RegressionDetail], told: set[int]
    ) -> dict[tuple[str, str, int | None], _Recipient]:
        """Who gets which records: one digest per email address, and one per webhook or
        Slack subscription (each webhook signs with its own key).

        A suspected record goes to the subscriptions that ask for suspicions only; a
        confirmed one to the others, and to those too unless its suspicion was told
        (*told*: ids of such records). Stakeholders and authors hear of confirmed
        records only.
        """
        recipients: dict[tuple[str, str, int | None], _Recipient] = defaultdict(_Recipient)
        email = bool(self._settings.smtp_host)
        facts = self._facts(details)
        for subscription in self._subscriptions.find():
            if subscription.channel == "email" and not email:
                continue
            early = subscription.notify_on == "suspected"
            for d in details:
                r = d.regression
                if (r.suspected and not early) or (early and r.id in told):
                    continue
                if subscription.matches(facts[d.regression.id]):
                    own = None if subscription.channel == "email" else subscription.id
                    key = (subscription.channel, subscription.target, own)
                    recipients[key].details[d.regression.id] = d
        if not email:
            return recipients
        for d in details:
            if d.regression.suspected:
                continue
            if facts[d.regression.id].requirement:
                for address in self._settings.stakeholders:
                    recipients[("email", address, None)].details[d.regression.id] = d
            if self._settings.notify_authors and d.regression.kind == "regression":
                for commit in d.commits:
                    if commit.author_email and EMAIL_RE.match(commit.author_email):
                        key = ("email", commit.author_email, None)
                        recipients[key].details[d.regression.id] = d
        return recipients

    def _plot(self, d: RegressionDetail, drawn: dict[int, bytes | None]) -> bytes | None:
        """The PNG of a record's series around its change (None: nothing to draw)."""
        r = d.regression
        if r.id not in drawn:
            values = line_values(
                self._store, r.series.id, self._settings.default_branch, r.unit or None
            )
            try:
                drawn[r.id] = change_plot(
                    values,
                    r.first_bad.id,
                    before=r.before,
                    after=r.after,
                    unit=r.unit,
                    label=r.series.metric_name.rsplit(".", 1)[-1],
                )
            except Exception:  # a plot never stops an email: it goes without one
                logger.exception("Could not draw the plot of regression %d", r.id)
                drawn[r.id] = None
        return drawn[r.id]

    def _facts(self, details: list[RegressionDetail]) -> dict[int, SeriesFacts]:
        names = {d.regression.series.metric_name for d in details}
        metrics = self._metrics.get_many(names)
        required = set(self._settings.requirement_tags)
        requirement_metrics = {
            name
            for name in names
            if any(required & set(s.tags) for s in self._specs.list(metric=name))
        }
        facts = {}
        for d in details:
            r = d.regression
            metric = metrics.get(r.series.metric_name)
            facts[r.id] = SeriesFacts(
                metric=r.series.metric_name,
                package=(
                    metric.package
                    if metric is not None and metric.package
                    else r.series.metric_name.split(".", 1)[0]
                ),
                tags=frozenset(metric.tags if metric is not None else ()),
                dataset=r.series.dataset,
                requirement=r.series.metric_name in requirement_metrics,
            )
        return facts


# Rendering -------------------------------------------------------------------------------


def _number(value: float | None) -> str:
    return "?" if value is None else f"{value:.4g}"


def _percent(value: float | None) -> str:
    return "" if value is None else f" ({value * 100:+.1f} %)"


def _line(d: RegressionDetail) -> str:
    r = d.regression
    specs = ", ".join(r.specifications)
    what = "FAILS " + specs if r.kind == "spec_failure" else r.kind.upper()
    if r.suspected:
        what = "SUSPECTED " + what
    change = f"{_number(r.before)} → {_number(r.after)} {r.unit}".rstrip() + _percent(
        r.relative_size
    )
    p = f", p = {r.p_value:.2g}" if r.p_value is not None else ""
    good = f"job {r.last_good.id}" if r.last_good is not None else "none"
    suspects = (
        ", ".join(f"{c.sha[:10]} ({c.author or 'unknown author'})" for c in d.commits)
        or "no commit recorded"
    )
    packages = ", ".join(p.name for p in d.packages) or "none"
    return (
        f"{what}: {series_label(d)}: {change}{p}\n"
        + (f"  now fails {specs}\n" if specs and r.kind != "spec_failure" else "")
        + f"  first bad job {r.first_bad.id}, last good {good}\n"
        f"  suspect commits: {suspects}\n"
        f"  packages changed: {packages}"
    )


def _url(base_url: str | None, path: str) -> str:
    return (base_url or "").rstrip("/") + path


def _title(job: JobRef | None, count: int, suspected: bool = False) -> str:
    noun = "regression" if count == 1 else "regressions"
    if suspected:
        noun = "suspected " + noun
    if job is None:
        return f"{count} {noun} found"
    where = job.dataset or "a job"
    commit = f" @ {job.commit_sha[:10]}" if job.commit_sha else ""
    return f"{count} {noun} after job {job.id} ({where}, {job.branch or 'main'}{commit})"


def render_digest(
    channel: str,
    job: JobRef | None,
    details: list[RegressionDetail],
    *,
    base_url: str | None,
    event_key: str,
    plot: Callable[[RegressionDetail], bytes | None] | None = None,
) -> dict[str, Any]:
    """The outbox payload of one digest: an email, a Slack message or a JSON document.

    An email has a text and an HTML part (see `vigil.server.services._email_digest`);
    *plot* draws a record's inline plot (a PNG or None); without it there is none.
    """
    title = _title(job, len(details), all(d.regression.suspected for d in details))
    if channel == "email":
        return email_digest(title, details, base_url=base_url, plot=plot)
    if channel == "slack":
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}}
        ]
        for d in details[:45]:
            link = _url(base_url, f"/regressions/{d.regression.id}")
            text = _line(d).replace("\n", "\n>")
            blocks.append(
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": f"<{link}|#{d.regression.id}> {text}"[:3000],
                    },
                }
            )
        return {"text": title, "blocks": blocks}
    return {
        "event": "regressions",
        "event_key": event_key,
        "title": title,
        "job": job_json(job),
        "regressions": [_regression_json(d, base_url) for d in details],
    }


def job_json(job: JobRef | None) -> dict[str, Any] | None:
    """A job as the webhook payloads give it (None stays None)."""
    if job is None:
        return None
    return {
        "id": job.id,
        "time": job.time.isoformat(),
        "branch": job.branch,
        "commit_sha": job.commit_sha,
        "author": job.author,
        "dataset": job.dataset,
        "ci_url": job.ci_url,
    }


def _regression_json(d: RegressionDetail, base_url: str | None) -> dict[str, Any]:
    r = d.regression
    return {
        "id": r.id,
        "url": _url(base_url, f"/api/regressions/{r.id}"),
        "kind": r.kind,
        "status": r.status,
        "metric": r.series.metric_name,
        "dataset": r.series.dataset,
        "instrument": r.series.instrument,
        "data_id": r.series.data_id,
        "series_key": r.series.series_key,
        "suspected": r.suspected,
        "specification": r.specification,
        "specifications": list(r.specifications),
        "before": r.before,
        "after": r.after,
        "unit": r.unit,
        "size": r.size,
        "relative_size": r.relative_size,
        "p_value": r.p_value,
        "first_bad_job_id": r.first_bad.id,
        "last_good_job_id": r.last_good.id if r.last_good is not None else None,
        "suspect_commits": [
            {"sha": c.sha, "author": c.author, "author_email": c.author_email} for c in d.commits
        ],
        "packages_changed": [p.name for p in d.packages],
    }
