"""Group commit: the jobs that arrive together are written in one transaction.

Committing is the dearest step of an ingest (a WAL write and its sync on SQLite, a round
trip and a flush on PostgreSQL), and on SQLite two writers of one process also wait on
each other's lock. `GroupCommit` lets the requests of one process combine their writes:
each request queues its prepared job and waits for the writer's turn; whichever request
gets the turn writes every job waiting at that moment, its own included, in one
transaction (each job in a savepoint of its own, so one bad job fails alone), commits
once and hands every waiter its own outcome. A request whose job was written by another
one finds it done when its turn comes and returns at once.

Nothing runs in the background: the writer is always one of the waiting requests, so
no thread outlives a request and there is nothing to start or stop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["GroupCommit", "Pending"]

T = TypeVar("T")


class Pending(Generic[T]):
    """One queued item and its outcome: a result, or the exception its request raises."""

    __slots__ = ("done", "error", "item", "result")

    def __init__(self, item: T) -> None:
        self.item = item
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = False

    def succeed(self, result: Any) -> None:
        """Record the result of the item."""
        self.result, self.done = result, True

    def fail(self, error: BaseException) -> None:
        """Record the exception the item's request raises."""
        self.error, self.done = error, True


class GroupCommit(Generic[T]):
    """Combines the writes of concurrent requests of one process (see the module)."""

    def __init__(self) -> None:
        self._queue_lock = threading.Lock()
        self._writer = threading.Lock()
        self._queue: list[Pending[T]] = []

    def run(self, item: T, write: Callable[[list[Pending[T]]], None]) -> Any:
        """Queue *item*, write it with the others waiting, and return its result.

        *write* receives every waiting item (*item* among them) and records each one's
        outcome (`Pending.succeed` or `Pending.fail`); what it leaves undone fails with
        the exception it raised.

        Raises
        ------
        BaseException
            The exception recorded for *item*.
        """
        (pending,) = self.run_many([item], write)
        if pending.error is not None:
            raise pending.error
        return pending.result

    def run_many(
        self, items: Sequence[T], write: Callable[[list[Pending[T]]], None]
    ) -> list[Pending[T]]:
        """Queue *items*, write them with the others waiting, and return their outcomes.

        The items of one call are written in the same batch (with any others waiting);
        each one's `Pending` holds its result or error, so that one failed item leaves
        the others' outcomes to read.
        """
        pendings = [Pending(item) for item in items]
        with self._queue_lock:
            self._queue.extend(pendings)
        with self._writer:
            if not all(pending.done for pending in pendings):
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                try:
                    write(batch)
                except BaseException as exc:
                    for other in batch:
                        if not other.done:
                            other.fail(exc)
                finally:
                    for other in batch:
                        if not other.done:
                            other.fail(RuntimeError("The job was not written."))
        return pendings
