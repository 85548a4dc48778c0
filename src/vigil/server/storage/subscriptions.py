"""Subscriptions, the outbox of their messages, and the jobs failure notices look at."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from ..dbschema import SqlJob, SqlMeasurement, SqlOutboxMessage, SqlSubscription, SqlUser
from ..domain.regressions import (
    Delivery,
    DeliveryStatus,
    OutboxMessage,
    Subscription,
    SubscriptionDraft,
)
from ._sql import chunks, insert_ignore

__all__ = ["FailureStore", "OutboxStore", "SubscriptionStore"]

_OUTBOX = cast(Table, SqlOutboxMessage.__table__)


class SubscriptionStore:
    """Queries on ``subscriptions``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def _select(self) -> Any:
        return select(SqlSubscription, SqlUser.name).join(
            SqlUser, SqlUser.id == SqlSubscription.user_id
        )

    @staticmethod
    def _domain(row: SqlSubscription, user_name: str) -> Subscription:
        return Subscription(
            id=row.id,
            user_name=user_name,
            channel=row.channel,
            target=row.target,
            metric_pattern=row.metric_pattern,
            package=row.package,
            tag=row.tag,
            dataset=row.dataset,
            notify_on=row.notify_on,
            created_at=row.created_at,
            secret_created_at=row.secret_created_at,
        )

    def add(
        self,
        user_id: int,
        draft: SubscriptionDraft,
        target: str,
        now: datetime,
        secret: str | None = None,
    ) -> int:
        """Insert a subscription (with the signing key of a webhook); return its id."""
        result = self._session.execute(
            insert(SqlSubscription).returning(SqlSubscription.id),
            {
                "user_id": user_id,
                "channel": draft.channel,
                "target": target,
                "metric_pattern": draft.metric_pattern,
                "package": draft.package,
                "tag": draft.tag,
                "dataset": draft.dataset,
                "notify_on": draft.notify_on,
                "created_at": now,
                "secret": secret,
                "secret_created_at": now if secret is not None else None,
            },
        )
        return int(result.scalar_one())

    def set_secret(self, subscription_id: int, secret: str, now: datetime) -> None:
        """Replace the signing key of a subscription."""
        s = SqlSubscription
        self._session.execute(
            update(s).where(s.id == subscription_id).values(secret=secret, secret_created_at=now)
        )

    def secret(self, subscription_id: int) -> str | None:
        """The signing key of a subscription (None: none, or no such subscription)."""
        s = SqlSubscription
        found = self._session.scalar(select(s.secret).where(s.id == subscription_id))
        return None if found is None else str(found)

    def get(self, subscription_id: int) -> tuple[Subscription, int] | None:
        """A subscription and the id of its owner."""
        row = self._session.execute(
            self._select().where(SqlSubscription.id == subscription_id)
        ).first()
        if row is None:
            return None
        return self._domain(row[0], row[1]), row[0].user_id

    def find(self, user_id: int | None = None) -> list[Subscription]:
        """Subscriptions of one user (None: everyone's), by id."""
        stmt = self._select().order_by(SqlSubscription.id)
        if user_id is not None:
            stmt = stmt.where(SqlSubscription.user_id == user_id)
        return [self._domain(row, name) for row, name in self._session.execute(stmt)]

    def delete(self, subscription_id: int) -> None:
        """Remove a subscription."""
        self._session.execute(delete(SqlSubscription).where(SqlSubscription.id == subscription_id))


class OutboxStore:
    """Queries on ``outbox``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Queue messages; a row whose ``dedupe_key`` is already queued is skipped."""
        insert_ignore(self._session, _OUTBOX, rows, ["dedupe_key"])

    def queued_keys(self, dedupe_keys: Iterable[str]) -> set[str]:
        """Those of *dedupe_keys* already in the outbox (delivered or not)."""
        o = SqlOutboxMessage
        found: set[str] = set()
        for part in chunks(sorted(set(dedupe_keys))):
            found.update(
                str(k)
                for k in self._session.scalars(select(o.dedupe_key).where(o.dedupe_key.in_(part)))
            )
        return found

    def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[OutboxMessage]:
        """Lease up to *limit* undelivered messages whose next attempt is due.

        A leased message is not handed to another worker until *lease_until*; a worker
        that dies while sending leaves it to be retried then (at least once).
        """
        o = SqlOutboxMessage
        due = (
            select(o.id)
            .where(
                o.delivered_at.is_(None),
                o.failed_at.is_(None),
                or_(o.next_attempt_at.is_(None), o.next_attempt_at <= now),
                or_(o.claimed_until.is_(None), o.claimed_until <= now),
            )
            .order_by(o.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = [int(i) for i in self._session.scalars(due)]
        if not ids:
            return []
        self._session.execute(update(o).where(o.id.in_(ids)).values(claimed_until=lease_until))
        rows = self._session.scalars(select(o).where(o.id.in_(ids)).order_by(o.id))
        return [self._domain(row) for row in rows]

    @staticmethod
    def _domain(row: SqlOutboxMessage) -> OutboxMessage:
        return OutboxMessage(
            id=row.id,
            event_key=row.event_key,
            channel=row.channel,
            target=row.target,
            payload=dict(row.payload or {}),
            attempts=row.attempts,
            created_at=row.created_at,
            next_attempt_at=row.next_attempt_at,
            delivered_at=row.delivered_at,
            failed_at=row.failed_at,
            last_error=row.last_error,
            error_detail=row.error_detail,
            subscription_id=row.subscription_id,
            dedupe_key=row.dedupe_key,
        )

    def mark_delivered(self, message_id: int, now: datetime) -> None:
        """Record a successful delivery."""
        o = SqlOutboxMessage
        self._session.execute(
            update(o)
            .where(o.id == message_id)
            .values(
                delivered_at=now,
                claimed_until=None,
                attempts=o.attempts + 1,
                last_error=None,
                error_detail=None,
            )
        )

    def mark_attempt_failed(
        self,
        message_id: int,
        error: str,
        next_attempt_at: datetime | None,
        failed_at: datetime | None,
        detail: str | None = None,
    ) -> None:
        """Record a failed attempt and when to try again (or that it was given up).

        *error* is the reason without network detail, *detail* the full story.
        """
        o = SqlOutboxMessage
        self._session.execute(
            update(o)
            .where(o.id == message_id)
            .values(
                attempts=o.attempts + 1,
                last_error=error[:2000],
                error_detail=None if detail is None else detail[:2000],
                next_attempt_at=next_attempt_at,
                failed_at=failed_at,
                claimed_until=None,
            )
        )

    def find(self, *, pending_only: bool = False, limit: int = 1000) -> list[OutboxMessage]:
        """Messages by id (the pending ones only if asked)."""
        o = SqlOutboxMessage
        stmt = select(o).order_by(o.id).limit(limit)
        if pending_only:
            stmt = stmt.where(o.delivered_at.is_(None), o.failed_at.is_(None))
        return [self._domain(row) for row in self._session.scalars(stmt)]

    def latest_deliveries(self, subscription_ids: Iterable[int]) -> dict[int, Delivery]:
        """The latest message of each of *subscription_ids* that has one."""
        o = SqlOutboxMessage
        found: dict[int, Delivery] = {}
        for part in chunks(sorted(set(subscription_ids))):
            latest = (
                select(func.max(o.id))
                .where(o.subscription_id.in_(part))
                .group_by(o.subscription_id)
            )
            for row in self._session.scalars(select(o).where(o.id.in_(latest))):
                assert row.subscription_id is not None
                found[row.subscription_id] = Delivery(
                    message_id=row.id,
                    status=(
                        DeliveryStatus.DELIVERED
                        if row.delivered_at is not None
                        else DeliveryStatus.FAILED
                        if row.failed_at is not None
                        else DeliveryStatus.RETRYING
                        if row.attempts
                        else DeliveryStatus.PENDING
                    ),
                    attempts=row.attempts,
                    created_at=row.created_at,
                    delivered_at=row.delivered_at,
                    next_attempt_at=row.next_attempt_at,
                    error=row.last_error,
                    error_detail=row.error_detail,
                )
        return found


class FailureStore:
    """The reads of failure notices on ``jobs`` and ``measurements``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def max_job_id(self) -> int | None:
        """The highest job id (None: no job)."""
        found = self._session.scalar(select(func.max(SqlJob.id)))
        return None if found is None else int(found)

    def main_line_jobs(
        self, after_id: int, since: datetime, default_branch: str, limit: int
    ) -> list[tuple[int, dict[str, Any]]]:
        """Main-line jobs (*default_branch* or no branch) with an id above *after_id* or
        stored at or after *since*, by id, with their ``meta``."""
        j = SqlJob
        stmt = (
            select(j.id, j.meta)
            .where(or_(j.branch.is_(None), j.branch == default_branch))
            .where(or_(j.id > after_id, j.created_at >= since))
            .order_by(j.id)
            .limit(limit)
        )
        return [(int(i), dict(meta or {})) for i, meta in self._session.execute(stmt)]

    def metric_names(self, job_id: int) -> list[str]:
        """The names of the metrics a job measured."""
        m = SqlMeasurement
        stmt = select(m.metric_name).where(m.job_id == job_id).distinct()
        return sorted(str(name) for name in self._session.scalars(stmt))
