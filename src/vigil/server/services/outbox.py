"""Delivery of the outbox: at least once, with retries and exponential backoff.

A message is leased before it is sent, so no two workers send it at once; it is marked
delivered right after the server (SMTP or HTTP) accepted it. A worker that dies between
the two sends it again when the lease ends: at least once. Each message is queued once
per event and target (its unique ``dedupe_key``), and carries that key (``Message-ID``,
``X-Vigil-Event``) so that a receiver can recognise the rare repeat.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate

import httpx
from sqlalchemy.orm import Session

from ..config import Settings
from ..domain.regressions import OutboxMessage
from ..storage.regressions import OutboxStore

__all__ = ["DeliveryError", "DeliveryReport", "OutboxService", "Sender", "backoff"]

logger = logging.getLogger(__name__)

_LEASE = timedelta(minutes=5)


class DeliveryError(Exception):
    """A message could not be delivered this time (the server is down, refused it...)."""


Sender = Callable[[OutboxMessage], None]
"""Delivers one message or raises `DeliveryError`."""


@dataclass(slots=True)
class DeliveryReport:
    """What one pass over the outbox did."""

    delivered: int = 0
    retried: int = 0
    given_up: int = 0


def backoff(attempts: int, base: float, maximum: float) -> timedelta:
    """The wait after the *attempts*-th failed attempt: ``base * 2**(attempts-1)``, capped."""
    exponent = min(max(attempts - 1, 0), 30)
    return timedelta(seconds=min(base * 2**exponent, maximum))


class OutboxService:
    """Delivers due messages of the outbox.

    Parameters
    ----------
    session
        The database session (each step commits).
    settings
        SMTP server, timeouts and retry policy.
    senders
        Override the sender of a channel (``email``, ``webhook``, ``slack``).
    """

    def __init__(
        self, session: Session, settings: Settings, senders: dict[str, Sender] | None = None
    ) -> None:
        self._session = session
        self._settings = settings
        self._store = OutboxStore(session)
        self._senders: dict[str, Sender] = {
            "email": self._send_email,
            "webhook": self._post,
            "slack": self._post,
            **(senders or {}),
        }

    def deliver_due(self, limit: int = 100) -> DeliveryReport:
        """Send the messages whose next attempt is due (up to *limit*)."""
        now = datetime.now(UTC)
        try:
            messages = self._store.claim_due(now, now + _LEASE, limit)
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        report = DeliveryReport()
        for message in messages:
            self._deliver(message, report)
        return report

    def _deliver(self, message: OutboxMessage, report: DeliveryReport) -> None:
        sender = self._senders.get(message.channel)
        try:
            if sender is None:
                raise DeliveryError(f"no sender for channel {message.channel!r}")
            sender(message)
        except DeliveryError as exc:
            self._failed(message, str(exc), report)
            return
        try:
            self._store.mark_delivered(message.id, datetime.now(UTC))
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        report.delivered += 1

    def _failed(self, message: OutboxMessage, error: str, report: DeliveryReport) -> None:
        attempts = message.attempts + 1
        now = datetime.now(UTC)
        s = self._settings
        give_up = attempts >= s.outbox_max_attempts
        next_at = (
            None
            if give_up
            else now + backoff(attempts, s.outbox_backoff_seconds, s.outbox_backoff_max_seconds)
        )
        logger.warning(
            "Notification %d (%s to %s) failed, attempt %d: %s",
            message.id,
            message.channel,
            message.target,
            attempts,
            error,
        )
        try:
            self._store.mark_attempt_failed(message.id, error, next_at, now if give_up else None)
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        if give_up:
            report.given_up += 1
        else:
            report.retried += 1

    def pending(self) -> list[OutboxMessage]:
        """Messages not delivered and not given up, oldest first."""
        found = self._store.find(pending_only=True)
        self._session.rollback()
        return found

    def messages(self, limit: int = 1000) -> list[OutboxMessage]:
        """Every message, oldest first."""
        found = self._store.find(limit=limit)
        self._session.rollback()
        return found

    # Senders ----------------------------------------------------------------------------

    def _send_email(self, message: OutboxMessage) -> None:
        s = self._settings
        if not s.smtp_host:
            raise DeliveryError("no SMTP server is configured (VIGIL_SMTP_HOST)")
        mail = EmailMessage()
        mail["From"] = s.smtp_from
        mail["To"] = message.target
        mail["Subject"] = str(message.payload.get("subject", "Vigil"))
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = f"<{message.event_key.replace(':', '.')}.{message.id}@vigil>"
        mail["X-Vigil-Event"] = message.event_key
        mail.set_content(str(message.payload.get("text", "")))
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.notification_timeout) as smtp:
                if s.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_user:
                    password = s.smtp_password.get_secret_value() if s.smtp_password else ""
                    smtp.login(s.smtp_user, password)
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP {s.smtp_host}:{s.smtp_port}: {exc}") from None

    def _post(self, message: OutboxMessage) -> None:
        try:
            response = httpx.post(
                message.target,
                json=message.payload,
                timeout=self._settings.notification_timeout,
                headers={"X-Vigil-Event": message.event_key, "User-Agent": "vigil"},
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{message.target}: {exc}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryError(
                f"{message.target} answered {response.status_code}: {response.text[:200]}"
            )
