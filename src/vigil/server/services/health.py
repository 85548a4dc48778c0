"""Readiness: whether the database and the artifact store answer now."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import Engine

from ..database import UNAVAILABLE_ERRORS, error_reason, is_unavailable
from ..domain.health import Readiness, ReadinessCheck
from ..exceptions import ArtifactStoreError
from ..migration import current_revision, head_revision
from ..storage.artifacts import ArtifactContentStore
from .artifacts import check_store

__all__ = ["HealthService"]

logger = logging.getLogger(__name__)


class HealthService:
    """Checks the parts every request needs, for ``GET /ready``.

    Parameters
    ----------
    engine
        The server's database engine.
    content
        The artifact store.
    """

    def __init__(self, engine: Engine, content: ArtifactContentStore) -> None:
        self._engine = engine
        self._content = content

    def readiness(self) -> Readiness:
        """Check the database (reachable, schema current) and the artifact store (writable).

        The reasons for a failure go to the server's log; the verdicts say what failed
        without addresses, credentials or paths (``/ready`` needs no token).
        """
        return Readiness(
            checks=(
                _timed("database", self._check_database),
                _timed("artifact_store", self._check_artifact_store),
            )
        )

    def _check_database(self) -> tuple[bool, str]:
        try:
            # Reads Alembic's table: SQLite opens and reads the file, not only a socket.
            current = current_revision(self._engine)
        except UNAVAILABLE_ERRORS as exc:
            if not is_unavailable(exc):
                raise
            logger.warning("Readiness: the database is out of reach: %s", error_reason(exc))
            return False, "The database cannot be reached; the server's log says why."
        head = head_revision()
        if current != head:
            return False, f"The database schema is at revision {current}; this Vigil needs {head}."
        return True, f"Reachable; schema at revision {current}."

    def _check_artifact_store(self) -> tuple[bool, str]:
        try:
            check_store(self._content)
        except ArtifactStoreError as exc:
            logger.warning("Readiness: %s", exc.message)
            return False, "The artifact store cannot be written; the server's log says why."
        return True, "Writable."


def _timed(name: str, check: Callable[[], tuple[bool, str]]) -> ReadinessCheck:
    started = time.perf_counter()
    try:
        ok, message = check()
    except Exception:
        logger.exception("Readiness: the %s check failed", name)
        ok, message = False, "The check failed unexpectedly; the server's log has the error."
    return ReadinessCheck(name, ok, message, round(time.perf_counter() - started, 6))
