"""Users and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

__all__ = ["NewToken", "Token", "TokenKey", "User"]


@dataclass(slots=True)
class User:
    """Someone (or a CI robot) who may write."""

    id: int
    name: str
    email: str | None
    is_admin: bool
    created_at: datetime


@dataclass(slots=True)
class Token:
    """An API token as stored: never its secret."""

    id: int
    user_name: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


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
