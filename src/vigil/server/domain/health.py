"""What the readiness check found: one verdict per part the server needs."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Readiness", "ReadinessCheck"]


@dataclass(frozen=True, slots=True)
class ReadinessCheck:
    """One part the server needs (the database, the artifact store) and its state.

    Parameters
    ----------
    name
        ``database`` or ``artifact_store``.
    ok
        Whether the part works now.
    message
        What was found, in a sentence (no credentials, addresses or paths).
    seconds
        How long the check took.
    """

    name: str
    ok: bool
    message: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Readiness:
    """Every check of one readiness probe."""

    checks: tuple[ReadinessCheck, ...]

    @property
    def ready(self) -> bool:
        """Whether every check passed."""
        return all(check.ok for check in self.checks)
