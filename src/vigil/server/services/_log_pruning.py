"""When a process last pruned the old log runs of each database."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

__all__ = ["PruneSchedule"]


class PruneSchedule:
    """Lets a process prune each database's old log runs at most once per *every*.

    Held by the process context, so that every request of the process shares it.

    Parameters
    ----------
    every
        The shortest time between two prunings of one database.
    """

    def __init__(self, every: timedelta = timedelta(hours=1)) -> None:
        self.every = every
        self._lock = threading.Lock()
        self._last: dict[str, datetime] = {}

    def due(self, database: str, now: datetime) -> bool:
        """Whether *database* is due for pruning at *now*; when it is, it counts as pruned."""
        with self._lock:
            last = self._last.get(database)
            if last is not None and now - last < self.every:
                return False
            self._last[database] = now
            return True

    def reset(self) -> None:
        """Forget the prunings made: the next one is due at once."""
        with self._lock:
            self._last.clear()
