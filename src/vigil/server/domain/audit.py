"""The audit log: who did what, when, to what, and what it removed or changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["DATA_REMOVING_ACTIONS", "Actor", "AuditEntry"]

DATA_REMOVING_ACTIONS = ("job.delete", "metric.delete")
"""Actions that remove stored data: caches keyed on data versions count them."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a user (through a token or a session), or the command line."""

    name: str
    user_id: int | None = None


@dataclass(slots=True)
class AuditEntry:
    """One recorded action.

    ``action`` is ``<thing>.<verb>`` (``job.delete``, ``token.revoke``); ``target`` names
    what it acted on; ``summary`` says what was removed or changed (counts, names).
    """

    id: int
    created_at: datetime
    actor: str
    actor_user_id: int | None
    action: str
    target: str
    summary: dict[str, Any] = field(default_factory=dict)
