"""Subscriptions to regressions: who is told about which metrics, and where.

Each user manages their own; a webhook subscription gets a signing key, shown once.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from ..config import Settings
from ..database import read_transaction
from ..domain import User
from ..domain.regressions import (
    CHANNELS,
    NOTIFY_ON,
    Subscription,
    SubscriptionDraft,
    compile_metric_pattern,
)
from ..exceptions import NotFoundError, VigilError
from ..storage.subscriptions import OutboxStore, SubscriptionStore
from .webhook_targets import (
    REFUSED_PRIVATE,
    TargetPolicy,
    TargetRefusedError,
    resolve_target,
)

__all__ = [
    "EMAIL_RE",
    "WEBHOOK_KEY_PREFIX",
    "InvalidSubscriptionError",
    "SubscriptionNotFoundError",
    "SubscriptionService",
    "new_secret",
]

WEBHOOK_KEY_PREFIX = "whsec_"
"""How a webhook signing key starts (so that secret scanners recognise one)."""

EMAIL_RE = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
"""What passes for an email address (of a subscription, of a commit's author)."""

_FILTER_MAX = 256


class InvalidSubscriptionError(VigilError):
    """A subscription is not acceptable (bad pattern, channel or target)."""

    status_code = 422
    code = "invalid_subscription"


class SubscriptionNotFoundError(NotFoundError):
    code = "subscription_not_found"


def new_secret() -> str:
    """A fresh webhook signing key: 256 random bits."""
    return WEBHOOK_KEY_PREFIX + secrets.token_urlsafe(32)


class SubscriptionService:
    """Create, list and delete subscriptions; each user manages their own.

    A webhook subscription gets a signing key, returned once by `create` and by
    `rotate_secret`. Each subscription shows its latest delivery; the network detail of
    a failure only to administrators.
    """

    def __init__(
        self, session: Session, settings: Settings, *, store: SubscriptionStore, outbox: OutboxStore
    ) -> None:
        self._session = session
        self._settings = settings
        self._store = store
        self._outbox = outbox

    def create(self, user: User, draft: SubscriptionDraft) -> Subscription:
        """Subscribe *user*; the target of an email subscription defaults to their email.

        Raises
        ------
        InvalidSubscriptionError
            A malformed metric pattern, an unknown channel, a bad address or URL, a URL
            whose host is or resolves to a non-public address the settings do not
            allow; the message says what is wrong.
        """
        target = _validate(draft, user, TargetPolicy.from_settings(self._settings))
        now = datetime.now(UTC)
        secret = new_secret() if draft.channel == "webhook" else None
        try:
            new_id = self._store.add(user.id, draft, target, now, secret)
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        created = self.get(user, new_id)
        created.secret = secret
        return created

    def rotate_secret(self, user: User, subscription_id: int) -> Subscription:
        """Give a webhook subscription a new signing key, returned in the answer only.

        The old key stops at once: deliveries from now on are signed with the new one.

        Raises
        ------
        InvalidSubscriptionError
            The subscription is not a webhook one (only webhooks are signed).
        """
        found = self.get(user, subscription_id)
        if found.channel != "webhook":
            raise InvalidSubscriptionError(
                f"Only webhook subscriptions have a signing key, not {found.channel} ones.",
                field="channel",
            )
        secret = new_secret()
        try:
            self._store.set_secret(subscription_id, secret, datetime.now(UTC))
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        rotated = self.get(user, subscription_id)
        rotated.secret = secret
        return rotated

    def list(self, user: User, *, everyone: bool = False) -> list[Subscription]:
        """The user's subscriptions; an administrator may ask for everyone's."""
        with read_transaction(self._session):
            found = self._store.find(None if everyone and user.is_admin else user.id)
            self._with_deliveries(user, found)
        return found

    def get(self, user: User, subscription_id: int) -> Subscription:
        """One subscription of the user (any, for an administrator)."""
        with read_transaction(self._session):
            found = self._store.get(subscription_id)
            if found is None or (found[1] != user.id and not user.is_admin):
                raise SubscriptionNotFoundError(
                    f"You have no subscription with the id {subscription_id}."
                )
            self._with_deliveries(user, [found[0]])
        return found[0]

    def _with_deliveries(self, user: User, subscriptions: Sequence[Subscription]) -> None:
        latest = self._outbox.latest_deliveries(s.id for s in subscriptions)
        for subscription in subscriptions:
            delivery = latest.get(subscription.id)
            if delivery is not None and not user.is_admin:
                # Which addresses a host resolves to, "connection refused" or "timed out"
                # while connecting: what would map a network from the outside.
                delivery.error_detail = None
            subscription.last_delivery = delivery

    def delete(self, user: User, subscription_id: int) -> None:
        """Remove a subscription of the user (any, for an administrator)."""
        self.get(user, subscription_id)
        try:
            self._store.delete(subscription_id)
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise


def _validate(draft: SubscriptionDraft, user: User, policy: TargetPolicy) -> str:
    if draft.channel not in CHANNELS:
        raise InvalidSubscriptionError(
            f"channel must be one of {', '.join(CHANNELS)}, not {draft.channel!r}.",
            field="channel",
        )
    if draft.notify_on not in NOTIFY_ON:
        raise InvalidSubscriptionError(
            f"notify_on must be one of {', '.join(NOTIFY_ON)}, not {draft.notify_on!r}.",
            field="notify_on",
        )
    for name in ("metric_pattern", "package", "tag", "dataset"):
        value = getattr(draft, name)
        if value is not None:
            value = value.strip() or None
            setattr(draft, name, value)
        if name != "metric_pattern" and value is not None and len(value) > _FILTER_MAX:
            raise InvalidSubscriptionError(
                f"{name} has at most {_FILTER_MAX} characters.", field=name
            )
    if draft.metric_pattern is not None:
        try:
            compile_metric_pattern(draft.metric_pattern)
        except ValueError as exc:
            raise InvalidSubscriptionError(
                f"The metric pattern is malformed: {exc}.", field="metric_pattern"
            ) from None
    target = (draft.target or "").strip()
    if draft.channel == "email":
        target = target or (user.email or "")
        if not target:
            raise InvalidSubscriptionError(
                "An email subscription needs a `target` address (your user has no email).",
                field="target",
            )
        if not EMAIL_RE.match(target) or len(target) > 256:
            raise InvalidSubscriptionError(f"{target!r} is not an email address.", field="target")
        return target
    malformed = InvalidSubscriptionError(
        f"A {draft.channel} subscription needs an http(s) URL as `target`, not {target!r}.",
        field="target",
    )
    try:
        scheme = urlsplit(target).scheme
    except ValueError:  # a broken IPv6 literal
        scheme = ""
    if scheme not in ("http", "https") or len(target) > 2048:
        raise malformed
    try:
        resolve_target(target, policy)
    except TargetRefusedError as exc:
        if exc.reason != REFUSED_PRIVATE:
            raise malformed from None
        # The same answer whether the name does not resolve or resolves to a refused
        # address, and no address named: nothing learnt about the server's network.
        raise InvalidSubscriptionError(
            f"The `target` {target!r} is refused: its host is not or does not resolve to a"
            " public address. An administrator can allow private destinations with"
            " VIGIL_WEBHOOK_ALLOWED_HOSTS.",
            field="target",
        ) from None
    return target
