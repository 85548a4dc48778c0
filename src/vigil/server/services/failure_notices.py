"""Notices of failed runs: a failed processing, a silent runner, a CI job that failed.

A regression digest tells of a metric that moved; a failure notice tells that a run
did not finish well. Both go through the same outbox to the same subscriptions: one
with no filter, or whose ``package`` or ``dataset`` names the failed run (a monitor
pipeline's QA package, ``<pipeline>`` or ``<pipeline>:<flavor>``; a CI job's metric
packages and dataset). A subscription that filters on metrics or tags only hears of
regressions, not of failures.

Each failure is one event, queued once per target whatever the number of passes that
see it (the outbox's unique ``dedupe_key``):

``failure:processing:<key>``
    A monitor processing ended ``failed``; one notice lists every unit that failed
    (crashed, killed on timeout) or never ended (hung), with its exit status, message
    and last lines. Queued in the transaction that records the end.
``failure:silent:<pipeline>:<last heard>``
    A running pipeline's runner sent nothing (event or heartbeat) for longer than
    ``VIGIL_MONITOR_SILENT_SECONDS``: told once per silence.
``failure:job:<id>``
    A main-line job whose ``meta.env.status`` (or ``meta.status``) is not a success
    (0, ``success``...): told with the suspect commits (those that ran first since the
    last main-line job of its dataset that did not fail), emailed to
    ``VIGIL_STAKEHOLDERS`` and, as a personal email, to the suspect commits' authors
    (``VIGIL_NOTIFY_AUTHORS``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from ..config import Settings
from ..domain import extract_job_facts
from ..domain.regressions import JobRef, Subscription, SuspectCommit
from ..monitor.services._qa_job import qa_package
from ..storage.event_sources import EventSourceStore
from ..storage.regressions import RegressionStore
from ..storage.subscriptions import FailureStore, OutboxStore, SubscriptionStore
from .notifications import dedupe_key, job_json
from .regressions import suspect_commits
from .subscriptions import EMAIL_RE

if TYPE_CHECKING:
    from ..monitor.storage import PipelineStore

__all__ = ["FailedUnit", "FailureNotice", "FailureNoticeService", "ci_failure", "render_notice"]

_JOB_CURSOR = "vigil:failure-notices:jobs"
"""The event source whose sequence is the highest job id looked at."""

_RECHECK = timedelta(seconds=60)
"""Jobs stored this recently are looked at again: a job whose transaction commits after
one with a higher id is not missed (a repeat is deduplicated by the outbox)."""

_JOBS_PER_PASS = 1000
_LOOKBACK = 50
"""How many earlier main-line jobs are looked at to find the last that did not fail."""

_LAST_LINES = 20
_SUCCESS = frozenset({"", "0", "ok", "pass", "passed", "success", "succeeded"})


class FailedUnit(Protocol):
    """What a notice shows of a unit (`vigil.server.monitor.domain.UnitView` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def exit_status(self) -> int | None: ...
    @property
    def message(self) -> str | None: ...
    @property
    def last_lines(self) -> list[str]: ...


@dataclass(slots=True)
class FailureNotice:
    """One failure to tell, rendered per channel by `render_notice`.

    Attributes
    ----------
    kind
        ``processing``, ``silent`` or ``job``.
    event_key
        The event's key (see the module's documentation).
    title
        One line: what failed.
    lines
        The body of the text, one entry per line.
    facts
        The JSON document of the event (the webhook's payload beside ``event``,
        ``kind``, ``event_key`` and ``title``).
    url
        Where the failure is shown (None: nowhere).
    commits
        The suspect commits of a failed job, whose authors are emailed too.
    stakeholders
        Whether ``VIGIL_STAKEHOLDERS`` are emailed too (a failed main-line CI job).
    """

    kind: str
    event_key: str
    title: str
    lines: list[str]
    facts: dict[str, Any]
    url: str | None = None
    commits: list[SuspectCommit] = field(default_factory=list)
    stakeholders: bool = False


@dataclass(frozen=True, slots=True)
class _Scope:
    """What a failure concerns, as subscriptions filter: packages and datasets."""

    packages: frozenset[str]
    datasets: frozenset[str]
    dataset_prefix: str | None = None

    def concerns(self, subscription: Subscription) -> bool:
        s = subscription
        if s.package is None and s.dataset is None:
            return not s.metric_pattern and s.tag is None
        if s.package is not None and s.package not in self.packages:
            return False
        if s.dataset is not None and s.dataset not in self.datasets:
            return self.dataset_prefix is not None and s.dataset.startswith(self.dataset_prefix)
        return True


def ci_failure(meta: Mapping[str, Any]) -> str | None:
    """The CI status of a job's ``meta`` when it is a failure (None: success or unknown).

    Read from ``meta.env.status`` (Vigil's dispatch client, ``dispatch_verify.py``), else
    ``meta.status``: 0 and ``success``-like words are a success, anything else a failure.
    """
    env = meta.get("env")
    for value in (env.get("status") if isinstance(env, Mapping) else None, meta.get("status")):
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            return None if value == 0 else f"{value:g}"
        text = str(value).strip()
        if text.lower() in _SUCCESS:
            return None
        try:
            if float(text) == 0:
                return None
        except ValueError:
            pass
        return text[:64]
    return None


class FailureNoticeService:
    """Queues the notices of failed runs in the outbox.

    `processing_failed` runs in the caller's transaction (the monitor's ingest); the
    background passes (`announce_silences`, `announce_failed_jobs`) own theirs.

    Parameters
    ----------
    session
        The database session.
    settings
        Server settings (email server, authors, silence, default branch, base URL).
    outbox, subscriptions, failures, regressions, cursors
        The stores it works on (*cursors* keeps the highest job id looked at).
    pipelines
        The monitor's pipelines (None: no silence is looked for).
    """

    def __init__(
        self,
        session: Session,
        settings: Settings,
        *,
        outbox: OutboxStore,
        subscriptions: SubscriptionStore,
        failures: FailureStore,
        regressions: RegressionStore,
        cursors: EventSourceStore,
        pipelines: PipelineStore | None = None,
    ) -> None:
        self._session = session
        self._settings = settings
        self._outbox = outbox
        self._subscriptions = subscriptions
        self._failures = failures
        self._regressions = regressions
        self._cursors = cursors
        self._pipelines = pipelines

    # Monitor ------------------------------------------------------------------------------

    def processing_failed(
        self,
        pipeline: str,
        processing_key: str,
        processing_id: int,
        exposure: str,
        flavor: str | None,
        units: Sequence[FailedUnit],
        time: datetime,
    ) -> int:
        """Queue the notice of a failed processing (in the caller's transaction).

        Returns how many messages were queued.
        """
        failed = [u for u in units if u.status not in ("succeeded", "stopped")]
        title = (
            f"{pipeline}: processing of exposure {exposure} failed"
            f" ({len(failed)} of {len(units)} units)"
        )
        lines = [title, ""]
        for unit in failed:
            state = {
                "failed": "failed",
                "killed": "killed (its timeout fired)",
            }.get(unit.status, "hung (never ended)")
            status = "" if unit.exit_status is None else f", exit status {unit.exit_status}"
            lines.append(f"{unit.name}: {state}{status}")
            if unit.message:
                lines.append(f"  {unit.message}")
            lines.extend(f"  | {line}" for line in unit.last_lines[-_LAST_LINES:])
        notice = FailureNotice(
            kind="processing",
            event_key=f"failure:processing:{processing_key}",
            title=title,
            lines=lines,
            url=self._url(f"/monitor/processings/{processing_id}"),
            facts={
                "pipeline": pipeline,
                "processing": processing_key,
                "processing_id": processing_id,
                "exposure": exposure,
                "flavor": flavor,
                "time": time.isoformat(),
                "units": [
                    {
                        "name": u.name,
                        "status": u.status,
                        "exit_status": u.exit_status,
                        "message": u.message,
                        "last_lines": list(u.last_lines[-_LAST_LINES:]),
                    }
                    for u in failed
                ],
            },
        )
        scope = _Scope(
            frozenset({qa_package(pipeline)}),
            frozenset({pipeline, f"{pipeline}:{flavor or 'unknown'}"}),
        )
        return self._queue(notice, scope)

    def announce_silences(self, now: datetime | None = None) -> int:
        """Queue a notice for each running pipeline silent for too long (commits).

        Returns how many messages were queued.
        """
        limit = self._settings.monitor_silent_seconds
        if not limit or self._pipelines is None:
            return 0
        now = now or datetime.now(UTC)
        queued = 0
        try:
            for info in self._pipelines.list_pipelines():
                heard = info.last_seen_at
                if info.desired_state != "running" or heard is None:
                    continue
                if heard.tzinfo is None:
                    heard = heard.replace(tzinfo=UTC)
                silent = (now - heard).total_seconds()
                if silent <= limit:
                    continue
                title = (
                    f"{info.name}: the runner is silent since {heard:%Y-%m-%d %H:%M:%S} UTC"
                    f" ({silent / 60:.0f} min)"
                )
                notice = FailureNotice(
                    kind="silent",
                    event_key=f"failure:silent:{info.name}:{heard.isoformat()}",
                    title=title,
                    lines=[
                        title,
                        "",
                        f"No event or heartbeat for more than {limit:g} s while the pipeline"
                        " should be running: is its runner (vigil monitor run) alive?",
                    ],
                    url=self._url("/monitor"),
                    facts={
                        "pipeline": info.name,
                        "last_seen_at": heard.isoformat(),
                        "silent_seconds": round(silent, 1),
                        "limit_seconds": limit,
                    },
                )
                scope = _Scope(
                    frozenset({qa_package(info.name)}),
                    frozenset({info.name}),
                    dataset_prefix=f"{info.name}:",
                )
                queued += self._queue(notice, scope)
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        return queued

    # CI jobs ------------------------------------------------------------------------------

    def announce_failed_jobs(self, now: datetime | None = None) -> int:
        """Queue a notice for each new main-line job whose CI status is a failure (commits).

        Returns how many messages were queued.
        """
        now = now or datetime.now(UTC)
        queued = 0
        try:
            cursor = self._cursors.last_sequence(_JOB_CURSOR)
            if cursor is None:
                cursor = self._failures.max_job_id() or 0
            jobs = self._failures.main_line_jobs(
                cursor, now - _RECHECK, self._settings.default_branch, _JOBS_PER_PASS
            )
            for job_id, meta in jobs:
                status = ci_failure(meta)
                if status is not None:
                    queued += self._job_failed(job_id, meta, status)
            highest = max([cursor, *(job_id for job_id, _ in jobs)])
            self._cursors.set_last_sequence(_JOB_CURSOR, highest, now)
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        return queued

    def _job_failed(self, job_id: int, meta: Mapping[str, Any], status: str) -> int:
        job = self._regressions.job_refs([job_id]).get(job_id)
        if job is None:
            return 0
        last_good = self._last_good(job, meta)
        commits = suspect_commits(
            last_good,
            self._regressions.jobs_between(
                last_good, job, job.dataset, self._settings.default_branch
            ),
        )
        where = job.dataset or "a job"
        commit = f" @ {job.commit_sha[:10]}" if job.commit_sha else ""
        title = (
            f"CI job {job.id} failed with status {status}"
            f" ({where}, {job.branch or self._settings.default_branch}{commit})"
        )
        lines = [title, ""]
        if job.ci_url:
            lines.append(f"CI run: {job.ci_url}")
        good = f"job {last_good.id}" if last_good is not None else "none found"
        lines.append(f"last main-line job that did not fail: {good}")
        lines.append("suspect commits:")
        lines.extend(
            f"  {c.sha[:10]} {c.author or 'unknown author'}"
            + (f" <{c.author_email}>" if c.author_email else "")
            for c in commits
        )
        if not commits:
            lines.append("  no commit recorded")
        notice = FailureNotice(
            kind="job",
            event_key=f"failure:job:{job.id}",
            title=title,
            lines=lines,
            url=self._url(f"/jobs/{job.id}"),
            commits=commits,
            stakeholders=True,
            facts={
                "job": job_json(job),
                "status": status,
                "last_good_job_id": last_good.id if last_good is not None else None,
                "suspect_commits": [
                    {"sha": c.sha, "author": c.author, "author_email": c.author_email}
                    for c in commits
                ],
            },
        )
        packages = {name.split(".", 1)[0] for name in self._failures.metric_names(job.id)}
        scope = _Scope(frozenset(packages), frozenset({job.dataset} if job.dataset else ()))
        return self._queue(notice, scope)

    def _last_good(self, job: JobRef, meta: Mapping[str, Any]) -> JobRef | None:
        """The newest earlier main-line job of *job*'s dataset and instrument that did not
        fail (None: none within `_LOOKBACK` jobs)."""
        instrument = extract_job_facts(meta).instrument
        before: tuple[datetime, int | None] = (job.time, job.id)
        for _ in range(_LOOKBACK):
            earlier = self._regressions.latest_line_job(
                self._settings.default_branch,
                main_line=True,
                dataset=job.dataset,
                instrument=instrument,
                before=before,
            )
            if earlier is None:
                return None
            earlier_meta = self._regressions.job_metas([earlier.id]).get(earlier.id, {})
            if ci_failure(earlier_meta) is None:
                return earlier
            before = (earlier.time, earlier.id)
        return None

    # Queueing -----------------------------------------------------------------------------

    def _queue(self, notice: FailureNotice, scope: _Scope) -> int:
        """Queue *notice* for every subscription it concerns and, for a job, the
        stakeholders and the authors of its suspect commits, each target once per event;
        return how many messages were queued (none already queued for the event)."""
        email = bool(self._settings.smtp_host)
        targets: dict[tuple[str, str, int | None], bool] = {}
        for subscription in self._subscriptions.find():
            if subscription.channel == "email" and not email:
                continue
            if scope.concerns(subscription):
                own = None if subscription.channel == "email" else subscription.id
                targets[(subscription.channel, subscription.target, own)] = False
        if email and self._settings.notify_authors:
            for commit in notice.commits:
                address = commit.author_email
                if address and EMAIL_RE.match(address):
                    targets.setdefault(("email", address, None), True)
        if email and notice.stakeholders:
            # QAWG-REC-20: a failed main-line run is announced to the key stakeholders.
            for address in self._settings.stakeholders:
                targets.setdefault(("email", address, None), False)
        keys = {target: dedupe_key(notice.event_key, *target) for target in targets}
        queued = self._outbox.queued_keys(keys.values())
        now = datetime.now(UTC)
        rows = []
        for (channel, target, subscription_id), personal in sorted(
            targets.items(), key=lambda item: (item[0][0], item[0][1], item[0][2] or 0)
        ):
            key = keys[(channel, target, subscription_id)]
            if key in queued:
                continue
            rows.append(
                {
                    "dedupe_key": key,
                    "event_key": notice.event_key,
                    "channel": channel,
                    "target": target,
                    "subscription_id": subscription_id,
                    "payload": render_notice(channel, notice, personal=personal),
                    "created_at": now,
                    "attempts": 0,
                    "next_attempt_at": now,
                }
            )
        self._outbox.add(rows)
        return len(rows)

    def _url(self, path: str) -> str | None:
        base = self._settings.base_url
        return None if not base else base.rstrip("/") + path


# Rendering -------------------------------------------------------------------------------


def render_notice(channel: str, notice: FailureNotice, *, personal: bool = False) -> dict[str, Any]:
    """The outbox payload of a failure notice: an email, a Slack message or a JSON document.

    *personal*: the email goes to the author of a suspect commit, and says so.
    """
    lines = list(notice.lines)
    if personal:
        lines[1:1] = ["", "You get this email because a commit of yours is a suspect."]
    if notice.url:
        lines += ["", notice.url]
    if channel == "email":
        text = "\n".join(lines) + "\n"
        link = (
            f'<p><a href="{html.escape(notice.url)}">{html.escape(notice.url)}</a></p>'
            if notice.url
            else ""
        )
        body = html.escape("\n".join(lines[1:]).strip("\n"))
        return {
            "subject": f"[Vigil] FAILED: {notice.title}"[:250],
            "text": text,
            "html": (
                f"<h2>{html.escape(notice.title)}</h2>"
                f'<pre style="font-family: monospace">{body}</pre>{link}'
            ),
        }
    if channel == "slack":
        body = "\n".join(lines[1:]).strip("\n")
        return {
            "text": notice.title,
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": notice.title[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": f"```{body[:2900]}```"}},
            ],
        }
    return {
        "event": "failure",
        "kind": notice.kind,
        "event_key": notice.event_key,
        "title": notice.title,
        "url": notice.url,
        **notice.facts,
    }
