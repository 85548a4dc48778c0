"""Delivery of the outbox: at least once, with retries and exponential backoff.

A message is leased before it is sent, so no two workers send it at once; it is marked
delivered right after the server (SMTP or HTTP) accepted it. A worker that dies between
the two sends it again when the lease ends: at least once. Each message is queued once
per event and target (its unique ``dedupe_key``), and carries that key (``Message-ID``,
``X-Vigil-Event``, ``X-Vigil-Delivery``) so that a receiver can recognise the rare repeat.
An email is a plain-text part, then (when the payload has one) an HTML part with its
inline images (``Content-ID``, shown with ``cid:``) beside it.

Webhook and Slack messages go only where `resolve_target` allows, checked again before
each attempt, to the address it checked; redirects are not followed. A webhook's body
is signed with its subscription's key: ``X-Vigil-Signature: sha256=<hex>``, the
HMAC-SHA256 of ``<X-Vigil-Timestamp>.<body>``. A failure is stored as a reason without
network detail (``last_error``: ``connection failed``, ``HTTP 500``, ``refused: private
address``), what the subscription's owner sees, and with it (``error_detail``), what
administrators see.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import httpx
from sqlalchemy.orm import Session

from ..config import Settings
from ..domain.regressions import OutboxMessage
from ..storage.regressions import OutboxStore, SubscriptionStore
from .webhook_targets import TargetPolicy, TargetRefusedError, resolve_target

__all__ = [
    "DeliveryError",
    "DeliveryReport",
    "OutboxService",
    "Sender",
    "backoff",
    "signature",
]

logger = logging.getLogger(__name__)

_LEASE = timedelta(minutes=5)


class DeliveryError(Exception):
    """A message could not be delivered this time (the server is down, refused it...).

    ``str(error)`` is the reason without network detail, shown to the owner of the
    subscription; ``detail`` (default: the reason) is for administrators and the log.
    """

    def __init__(self, reason: str, detail: str | None = None, *, final: bool = False) -> None:
        super().__init__(reason)
        self.detail = detail or reason
        #: Not worth another attempt (the subscription is gone).
        self.final = final


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Vigil-Signature`` of *body* sent at *timestamp* (Unix seconds, as text)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _email_body(mail: EmailMessage, payload: Mapping[str, Any]) -> None:
    """The text part first (what text mail readers show), then the HTML part if the
    payload has one, with its inline images (``images``: ``cid`` and base64 ``png``)
    in a ``multipart/related`` beside it, so that ``cid:`` references resolve."""
    mail.set_content(str(payload.get("text", "")))
    html = payload.get("html")
    if not isinstance(html, str) or not html:
        return
    mail.add_alternative(html, subtype="html")
    html_part = mail.get_body(("html",))
    if html_part is None:  # not possible: the HTML alternative was just added
        return
    for image in payload.get("images") or ():
        try:
            data = base64.b64decode(image["png"], validate=True)
            cid = str(image["cid"])
        except (KeyError, TypeError, ValueError, binascii.Error):
            logger.warning("An inline image of an email is malformed; sent without it")
            continue
        html_part.add_related(
            data, "image", "png", cid=f"<{cid}>", disposition="inline", filename="plot.png"
        )


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
    store, subscriptions
        The stores it works on.
    """

    def __init__(
        self,
        session: Session,
        settings: Settings,
        senders: dict[str, Sender] | None = None,
        *,
        store: OutboxStore,
        subscriptions: SubscriptionStore,
    ) -> None:
        self._session = session
        self._settings = settings
        self._store = store
        self._subscriptions = subscriptions
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
            self._failed(message, exc, report)
            return
        try:
            self._store.mark_delivered(message.id, datetime.now(UTC))
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        report.delivered += 1

    def _failed(self, message: OutboxMessage, exc: DeliveryError, report: DeliveryReport) -> None:
        error, detail = str(exc), exc.detail
        attempts = message.attempts + 1
        now = datetime.now(UTC)
        s = self._settings
        give_up = exc.final or attempts >= s.outbox_max_attempts
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
            detail,
        )
        try:
            self._store.mark_attempt_failed(
                message.id, error, next_at, now if give_up else None, detail
            )
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
            raise DeliveryError("no mail server", "no SMTP server is configured (VIGIL_SMTP_HOST)")
        mail = EmailMessage()
        mail["From"] = s.smtp_from
        mail["To"] = message.target
        mail["Subject"] = str(message.payload.get("subject", "Vigil"))
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = f"<{message.event_key.replace(':', '.')}.{message.id}@vigil>"
        mail["X-Vigil-Event"] = message.event_key
        _email_body(mail, message.payload)
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.notification_timeout) as smtp:
                if s.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_user:
                    password = s.smtp_password.get_secret_value() if s.smtp_password else ""
                    smtp.login(s.smtp_user, password)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            detail = f"SMTP {s.smtp_host}:{s.smtp_port}: {exc}"
            raise DeliveryError("address refused by the mail server", detail) from None
        except (OSError, smtplib.SMTPException) as exc:
            reason = (
                "mail server error"
                if isinstance(exc, smtplib.SMTPResponseException)
                else ("connection failed")
            )
            raise DeliveryError(reason, f"SMTP {s.smtp_host}:{s.smtp_port}: {exc}") from None

    def _post(self, message: OutboxMessage) -> None:
        body = json.dumps(message.payload, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "vigil",
            "X-Vigil-Event": message.event_key,
            "X-Vigil-Delivery": message.dedupe_key or str(message.id),
        }
        if message.channel == "webhook":
            secret = (
                None
                if message.subscription_id is None
                else self._subscriptions.secret(message.subscription_id)
            )
            self._session.rollback()
            if secret is None:
                raise DeliveryError(
                    "unsubscribed", "the subscription of this message is gone", final=True
                )
            timestamp = str(int(time.time()))
            headers["X-Vigil-Timestamp"] = timestamp
            headers["X-Vigil-Signature"] = signature(secret, timestamp, body)
        try:
            target = resolve_target(message.target, TargetPolicy.from_settings(self._settings))
        except TargetRefusedError as exc:
            raise DeliveryError(exc.reason, exc.detail) from None
        headers["Host"] = target.host_header
        # The address just checked, not the name: resolving it again could give another.
        # The environment's proxy settings are ignored for the same reason.
        extensions = {"sni_hostname": target.name} if target.connect_url.scheme == "https" else {}
        where = f"{message.target} ({target.address})"
        try:
            with httpx.Client(
                timeout=self._settings.notification_timeout,
                follow_redirects=False,
                trust_env=False,
            ) as client:
                response = client.post(
                    target.connect_url, content=body, headers=headers, extensions=extensions
                )
        except httpx.HTTPError as exc:
            # One reason for refused, unreachable, timed out and garbled alike: told
            # apart, they would say which ports are open, closed or filtered.
            raise DeliveryError("connection failed", f"{where}: {exc!r}") from None
        if not 200 <= response.status_code < 300:
            location = response.headers.get("Location")
            raise DeliveryError(
                f"HTTP {response.status_code}",
                f"{where} answered {response.status_code}"
                + (f" (redirect to {location}, not followed)" if location else "")
                + f": {response.text[:200]}",
            )
