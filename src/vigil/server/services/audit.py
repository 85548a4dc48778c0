"""Reading the audit log (administrators)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..database import read_transaction
from ..domain import Page
from ..domain.audit import AuditEntry
from ..exceptions import InvalidRequestError
from ..storage.audit import AuditStore

__all__ = ["AuditService"]


class AuditService:
    """The audit log, newest first, a page at a time."""

    def __init__(self, session: Session, *, store: AuditStore) -> None:
        self._session = session
        self._store = store

    def list(
        self, *, limit: int, cursor: str | None = None, action: str | None = None
    ) -> Page[AuditEntry]:
        """A page of entries (``cursor``: the previous page's ``next_cursor``).

        Raises
        ------
        InvalidRequestError
            The cursor is not one this server gave out.
        """
        before = None
        if cursor:
            if not cursor.isdigit():
                raise InvalidRequestError(
                    f"The cursor {cursor!r} is not one this server gave out.", field="cursor"
                )
            before = int(cursor)
        with read_transaction(self._session):
            items = self._store.list(limit=limit + 1, before=before, action=action)
        next_cursor = str(items[limit - 1].id) if len(items) > limit else None
        return Page(items=items[:limit], next_cursor=next_cursor)
