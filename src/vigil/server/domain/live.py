"""Live events: what the streaming clients of the pages receive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["LINES", "LiveEvent", "LiveItem", "log_topics"]

LiveItem = tuple[str, tuple[str, ...], dict[str, Any]]
"""A live event before it is numbered: ``(kind, topics, data)``."""

LINES = "lines"
"""The kind of a stored event that stands for consecutive log lines of a run; its data:
``run_id``, ``first`` and ``last`` (line ids) and ``topics`` (added to each line's)."""


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One numbered event.

    Attributes
    ----------
    id
        Increasing, the same in every server process (the SSE ``id``): a client that
        reconnects with it gets what followed.
    event
        Its kind (``unit``, ``step``, ``log``, ``reset``...).
    topics
        Who wants it (``monitor:<pipeline>``, ``log:<run id>:<unit>``...).
    data
        The JSON payload.
    """

    id: int
    event: str
    topics: tuple[str, ...]
    data: dict[str, Any]

    def wanted_by(self, topics: frozenset[str]) -> bool:
        """Whether the event carries one of *topics*."""
        return not topics.isdisjoint(self.topics)


def log_topics(run_id: int, unit: str | None) -> tuple[str, ...]:
    """The topics of a run's line: ``log:<run>`` and ``log:<run>:<unit>``."""
    return (f"log:{run_id}", f"log:{run_id}:{unit}") if unit else (f"log:{run_id}",)
