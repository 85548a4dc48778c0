"""Users, their roles, API tokens and web sessions."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = [
    "ROLE_GRANTS",
    "NewSession",
    "NewToken",
    "Role",
    "Token",
    "TokenKey",
    "User",
    "WebSession",
    "hash_session_key",
    "parse_duration",
    "parse_roles",
    "role_satisfied",
    "roles_text",
    "sorted_roles",
]


class Role(StrEnum):
    """What a user (and each of its tokens) may do; every write route needs one."""

    VIEWER = "viewer"
    SUBMITTER = "submitter"
    TRIAGER = "triager"
    OPERATOR = "operator"
    ADMIN = "admin"


ROLE_GRANTS: dict[Role, str] = {
    Role.VIEWER: (
        "read when VIGIL_PUBLIC_READ is off; manage one's own email and Slack subscriptions"
        " and one's own tokens"
    ),
    Role.SUBMITTER: (
        "post jobs (native API and SQuaSH's /job), artifacts, logs and monitor runner"
        " events and claims: what CI and runners send"
    ),
    Role.TRIAGER: (
        "change a regression's status and add notes, comment on processings, subscribe webhooks"
    ),
    Role.OPERATOR: (
        "run or stop monitor pipelines and queue exposures (which creates a pipeline by naming it)"
    ),
    Role.ADMIN: (
        "everything: users, roles and anyone's tokens, deleting jobs and metrics, the"
        " audit log, everyone's subscriptions"
    ),
}
"""What each role allows, as the docs and the 403 messages say it."""

_ORDER = {role: i for i, role in enumerate(Role)}


def role_satisfied(held: Iterable[Role], needed: Role) -> bool:
    """Whether a credential holding *held* may do what needs *needed*.

    ``admin`` satisfies every role and any role satisfies ``viewer``; the others are
    independent of each other (a CI token may submit without triaging).
    """
    roles = set(held)
    if Role.ADMIN in roles:
        return True
    if needed is Role.VIEWER:
        return bool(roles)
    return needed in roles


def parse_roles(values: Iterable[str]) -> frozenset[Role]:
    """The roles named in *values* (each may be comma- or space-separated).

    Raises
    ------
    ValueError
        A name is not a role; the message lists the roles.
    """
    found: set[Role] = set()
    for value in values:
        for name in re.split(r"[\s,]+", value.strip()):
            if not name:
                continue
            try:
                found.add(Role(name.lower()))
            except ValueError:
                raise ValueError(
                    f"{name!r} is not a role; the roles are {', '.join(r.value for r in Role)}."
                ) from None
    return frozenset(found)


def roles_text(roles: Iterable[Role]) -> str:
    """Roles as stored and shown: names in the order of `Role`, space-separated."""
    return " ".join(r.value for r in sorted(set(roles), key=_ORDER.__getitem__))


def sorted_roles(roles: Iterable[Role]) -> list[str]:
    """Role names in the order of `Role` (for JSON)."""
    return [r.value for r in sorted(set(roles), key=_ORDER.__getitem__)]


_DURATION_RE = re.compile(r"^\s*(?P<n>[0-9]{1,6})\s*(?P<unit>[hdw]?)\s*$", re.IGNORECASE)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1), "": None}


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``2w`` (or a bare number of days) as a duration.

    Raises
    ------
    ValueError
        Not such a duration, or zero.
    """
    match = _DURATION_RE.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration: write a whole number of hours, days or weeks"
            " such as 12h, 30d or 2w."
        )
    step = _UNITS[match["unit"].lower()] or timedelta(days=1)
    duration = int(match["n"]) * step
    if not duration:
        raise ValueError(f"{text!r} is not a duration longer than zero.")
    return duration


@dataclass(slots=True)
class User:
    """Someone (or a CI robot) who may write.

    ``roles`` are the user's roles; for the user of a request they are those of the
    credential it came with (a token scoped to fewer roles, a session).
    """

    id: int
    name: str
    email: str | None
    roles: frozenset[Role]
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        """Whether the user (or the credential) holds the ``admin`` role."""
        return Role.ADMIN in self.roles

    def has_role(self, role: Role) -> bool:
        """Whether this user may do what needs *role* (`role_satisfied`)."""
        return role_satisfied(self.roles, role)


@dataclass(slots=True)
class Token:
    """An API token as stored: never its secret.

    ``expires_at`` None is a token made before tokens expired (it never does).
    """

    id: int
    user_name: str
    name: str
    roles: frozenset[Role]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    def expired(self, now: datetime) -> bool:
        """Whether the token is past its expiry at *now*."""
        return self.expires_at is not None and now >= self.expires_at


@dataclass(slots=True)
class NewToken:
    """A token just created, with the only copy of its full text."""

    token: Token
    text: str


_TOKEN_RE = re.compile(r"^vgl_(?P<id>[0-9]+)_(?P<secret>[A-Za-z0-9_-]{20,128})$")


@dataclass(frozen=True, slots=True)
class TokenKey:
    """The two parts of a token's text ``vgl_<id>_<secret>``.

    The id locates the row; the secret proves possession and is stored only as its
    SHA-256, which is safe for a 256-bit random secret (no salt or slow hash needed).
    """

    id: int
    secret: str

    @staticmethod
    def new_secret() -> str:
        """A fresh 256-bit secret, URL-safe."""
        return secrets.token_urlsafe(32)

    @staticmethod
    def hash_secret(secret: str) -> str:
        """The stored form of a secret."""
        return hashlib.sha256(secret.encode()).hexdigest()

    @classmethod
    def parse(cls, text: str) -> TokenKey | None:
        """Split a token's text, or None if it is not a Vigil token."""
        match = _TOKEN_RE.match(text.strip())
        if match is None:
            return None
        return cls(int(match["id"]), match["secret"])

    def __str__(self) -> str:
        return f"vgl_{self.id}_{self.secret}"


def hash_session_key(key: str) -> str:
    """The stored form of a session's key (the cookie's value): its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(slots=True)
class WebSession:
    """A web log-in: made from an API token at ``/login``, ended by ``/logout``."""

    id: int
    user_id: int
    token_id: int
    roles: frozenset[Role]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


@dataclass(slots=True)
class NewSession:
    """A session just created, with the only copy of its key (the cookie's value)."""

    session: WebSession
    key: str
