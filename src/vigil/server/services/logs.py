"""Log aggregation: store the records of any run, search them, list abnormal endings.

A search filters by run, unit, process, thread, level and time with indexed columns,
matches words (case-insensitive) and, optionally, a regular expression in RE2's syntax
(`compile_regex`): RE2 matches in time linear in the length of the line, whatever the
expression, so no expression can stall the server. The texts every match contains (the
words and the expression's literal parts, see `required_texts`) first select the blocks
of lines holding all their trigrams (an index: FTS5 on SQLite, GIN on PostgreSQL), then
are tested in the database (``LIKE``; the expression itself too: PostgreSQL's ``~`` when
it can say the same, RE2 called by SQLite), and every candidate line is finally checked
with RE2, so that the results are RE2's on both databases. Without such texts the lines
are read a window at a time. A scan stops after ``VIGIL_LOG_SEARCH_SECONDS`` with
``truncated`` set and a cursor to continue: between statements, and within one (SQLite's
progress handler, PostgreSQL's ``statement_timeout``) for the statement still running
then.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ..config import Settings
from ..database import read_transaction
from ..domain import Page
from ..domain.logs import (
    LogBatch,
    LogLine,
    LogProcess,
    LogProcessEnd,
    LogQuery,
    LogRecord,
    LogRun,
    LogSearch,
    required_texts,
)
from ..exceptions import NotFoundError
from ..storage.event_sources import EventSourceStore
from ..storage.live import LiveEventStore
from ..storage.logs import (
    GramNeed,
    LogStore,
    SearchTimeoutError,
    TextNeed,
    literal_grams,
)
from ._cursors import int_cursor
from ._log_pruning import PruneSchedule
from ._log_regex import SearchPattern, UnsupportedRegexError, compile_regex, python_flags
from .live import Publisher, line_notices

__all__ = [
    "LogIngestResult",
    "LogRunNotFoundError",
    "LogService",
    "Publisher",
    "SearchPattern",
    "UnsupportedRegexError",
    "compile_regex",
]

logger = logging.getLogger(__name__)


_SCAN_CHUNK = 5000
_WINDOW = 20_000
"""Lines a scan without trigrams reads per statement: tens of milliseconds of matching,
and few enough statements that their own cost stays small."""
_MAX_BLOCKS = 64
_MIN_SEARCH_SECONDS = 0.1
"""A statement of a search is stopped after ``VIGIL_LOG_SEARCH_SECONDS`` but never sooner
than this: each page of a search then moves its cursor on (a window of lines takes
milliseconds), whatever the limit."""


class LogRunNotFoundError(NotFoundError):
    """No log run has the id asked for."""

    code = "log_run_not_found"


@dataclass(slots=True)
class LogIngestResult:
    """What an ingest did."""

    run_id: int
    stored: int
    duplicate: bool


def _process_row(run_id: int, process: LogProcessEnd) -> dict[str, Any]:
    # Columns not given keep what an earlier batch stored (its start time, say).
    row: dict[str, Any] = {
        "run_id": run_id,
        "name": process.name,
        "status": process.status,
        "last_lines": list(process.last_lines),
    }
    for name in ("exit_status", "exception", "started_at", "ended_at"):
        value = getattr(process, name)
        if value is not None:
            row[name] = value
    return row


class LogService:
    """Stores and searches aggregated logs; owns the transaction of each call.

    Parameters
    ----------
    session
        The database session.
    settings
        Limits (search time, retention).
    publish
        Woken once the live events of new lines are committed (None: no live events).
    store, sources, live
        The stores it works on.
    pruning
        When this process last pruned old runs (the process context's); default: a
        schedule of this service alone.
    """

    def __init__(
        self,
        session: Session,
        settings: Settings,
        publish: Publisher | None = None,
        *,
        store: LogStore,
        sources: EventSourceStore,
        live: LiveEventStore,
        pruning: PruneSchedule | None = None,
    ) -> None:
        self._session = session
        self._settings = settings
        self._publish = publish
        self._store = store
        self._sources = sources
        self._live = live
        self._pruning = pruning or PruneSchedule()

    # Ingest ---------------------------------------------------------------------------

    def store_lines(self, run_id: int, records: list[LogRecord], now: datetime) -> list[int]:
        """Insert lines of a run and count them (in the caller's transaction); their ids."""
        if not records:
            return []
        ids = self._store.insert_lines(run_id, records)
        errors = sum(1 for r in records if r.level >= 40)
        self._store.count_lines(run_id, len(records), errors, now)
        return ids

    @property
    def store(self) -> LogStore:
        """The store (for a service that writes logs in its own transaction)."""
        return self._store

    def ingest(self, batch: LogBatch) -> LogIngestResult:
        """Store a batch of records once (a batch sent again is recognised and skipped)."""
        now = datetime.now(UTC)
        try:
            last = self._sources.last_sequence(batch.source)
            if last is not None and batch.sequence <= last:
                run_id = self._store.run_id(batch.run)
                self._session.rollback()
                return LogIngestResult(run_id or 0, 0, True)
            run_id = self._store.ensure_run(
                batch.run, kind=batch.kind, title=batch.title, meta=batch.meta, now=now
            )
            ids = self.store_lines(run_id, batch.records, now)
            self._store.upsert_processes([_process_row(run_id, p) for p in batch.processes])
            if batch.status is not None:
                self._store.end_run(run_id, batch.status, now)
            self._sources.set_last_sequence(batch.source, batch.sequence, now)
            if self._publish is not None and ids:
                lines = list(zip(ids, batch.records, strict=True))
                self._live.append(line_notices(run_id, lines), now)
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        if self._publish is not None and ids:
            self._publish.wake()
        self.maybe_prune(now)
        return LogIngestResult(run_id, len(ids), False)

    # Reading --------------------------------------------------------------------------

    def get_run(self, run_id: int) -> LogRun:
        """One run.

        Raises
        ------
        LogRunNotFoundError
            No such run.
        """
        run = self._store.get_run(run_id)
        self._session.rollback()
        if run is None:
            raise LogRunNotFoundError(f"No log run has the id {run_id}; see /api/logs/runs.")
        return run

    def run_units(self, run_id: int) -> list[str]:
        """The units that wrote lines in a run."""
        units = self._store.units_of_run(run_id)
        self._session.rollback()
        return units

    def list_runs(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        text: str | None = None,
        limit: int,
        cursor: str | None = None,
    ) -> Page[LogRun]:
        """Runs, newest first."""
        runs = self._store.list_runs(
            kind=kind, status=status, text=text, limit=limit + 1, before_id=int_cursor(cursor)
        )
        self._session.rollback()
        next_cursor = str(runs[limit - 1].id) if len(runs) > limit else None
        return Page(runs[:limit], next_cursor)

    def processes(
        self,
        *,
        run_id: int | None = None,
        status: str | None = None,
        limit: int,
        cursor: str | None = None,
    ) -> Page[LogProcess]:
        """Processes (``status="failed"``: those that ended abnormally), newest first."""
        items = self._store.list_processes(
            run_id=run_id, status=status, limit=limit + 1, before_id=int_cursor(cursor)
        )
        self._session.rollback()
        next_cursor = str(items[limit - 1].id) if len(items) > limit else None
        return Page(items[:limit], next_cursor)

    def search(self, query: LogQuery, *, limit: int, cursor: str | None = None) -> LogSearch:
        """Lines matching *query*, a page at a time, within ``VIGIL_LOG_SEARCH_SECONDS``.

        A search that runs out of time answers the lines found so far with ``truncated``
        set and, when it got anywhere, a cursor continuing after the last line it read.

        Raises
        ------
        InvalidRequestError
            The regular expression does not compile, or the cursor is not one of ours.
        UnsupportedRegexError
            The regular expression uses what RE2 does not support.
        """
        position = int_cursor(cursor)
        if position is not None:
            if query.newest_first:
                query.before = position
            else:
                query.after = position
        pattern = compile_regex(query.regex) if query.regex else None
        started = time.monotonic()
        budget = self._settings.log_search_seconds
        deadline = started + budget
        stop_at = started + max(budget, _MIN_SEARCH_SECONDS)
        with read_transaction(self._session):
            if pattern is None and not query.text:
                try:
                    lines = self._store.read_lines(query, limit=limit + 1, deadline=stop_at)
                except SearchTimeoutError:
                    return LogSearch([], None, 0, True)
                if len(lines) > limit:
                    return LogSearch(lines[:limit], str(lines[limit - 1].id), len(lines), False)
                return LogSearch(lines, None, len(lines), False)
            return _Scan(self._store, self._session, query, pattern).run(limit, deadline, stop_at)

    # Retention ------------------------------------------------------------------------

    def prune(self, now: datetime | None = None) -> int:
        """Delete the runs inactive for longer than ``VIGIL_LOG_RETENTION_DAYS``; how many."""
        days = self._settings.log_retention_days
        if days is None:
            return 0
        now = now or datetime.now(UTC)
        try:
            count = self._store.delete_runs_before(now - timedelta(days=days))
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        return count

    def maybe_prune(self, now: datetime) -> None:
        """Prune at most once an hour per database and process."""
        if self._settings.log_retention_days is None:
            return
        if not self._pruning.due(str(self._session.get_bind().engine.url), now):
            return
        try:
            removed = self.prune(now)
        except Exception:  # retention must never break an ingest
            logger.exception("Pruning old log runs failed")
            return
        if removed:
            logger.info(
                "Pruned %d log runs older than %d days", removed, self._settings.log_retention_days
            )


class _Scan:
    """One search: candidate lines read in chunks, in id order, until the page is full.

    The texts every match contains (the words, and the literal parts of the regular
    expression) are tested by the database (``LIKE``), and so is the expression (on
    PostgreSQL with ``~`` when `postgres_regex` can spell it, on SQLite with RE2 called by
    SQLite); each candidate is then checked with RE2. When those texts have trigrams, only
    the blocks holding all of them are read (`LogStore.search_blocks`): a rare text is found
    without reading the other lines. Otherwise the lines are read a window of ``_WINDOW``
    at a time (`LogStore.window_end`), so that every statement has a bounded amount of
    work and the scan's position moves on after each.
    """

    def __init__(
        self,
        store: LogStore,
        session: Session,
        query: LogQuery,
        pattern: SearchPattern | None,
    ) -> None:
        self.store = store
        self.session = session
        self.query = query
        self.pattern = pattern
        self.texts: list[TextNeed] = []
        self.grams: list[GramNeed] = []
        self.database_regex: tuple[str, bool] | None = None
        words = [(word,) for word in (query.text or "").split()]
        needs: list[tuple[str, ...]] = []
        if pattern is not None:
            # The literal texts come from Python's parse of the expression, taken only
            # when Python reads it as RE2 does (RE2's own syntax is left without any).
            flags = python_flags(pattern.pattern)
            ignore_case = flags is not None and bool(flags & re.IGNORECASE)
            if flags is not None:
                needs = required_texts(pattern.pattern)
            self.texts = [(need, ignore_case) for need in needs]
            self.database_regex = (pattern.pattern, ignore_case)
        for need in [*words, *needs]:
            codes = [literal_grams(text) for text in need]
            if all(codes):
                self.grams.append(codes)
        self.found: list[LogLine] = []
        self.scanned = 0

    def run(self, limit: int, deadline: float, stop_at: float) -> LogSearch:
        """Scan until *limit* lines are found, the lines end, or time runs out: checked
        against *deadline* after each chunk, and *stop_at* stopping a statement."""
        query = self.query
        start = self._position()
        blocks_per_read = 1
        try:
            while True:
                if self.grams:
                    blocks = self.store.search_blocks(
                        self.grams,
                        run_id=query.run_id,
                        after=query.after,
                        before=query.before,
                        newest_first=query.newest_first,
                        limit=blocks_per_read,
                        deadline=stop_at,
                    )
                    if not blocks:
                        return LogSearch(self.found, None, self.scanned, False)
                    # Few blocks while a common text fills the page from the first ones,
                    # more at a time while a rare one is looked for.
                    blocks_per_read = min(blocks_per_read * 2, _MAX_BLOCKS)
                    lines = self._read_blocks(blocks, stop_at)
                    page = self._keep(lines, limit)
                    if page is not None:
                        return page
                    if len(lines) == _SCAN_CHUNK:
                        position = lines[-1].id
                    else:
                        position = blocks[-1][0] if query.newest_first else blocks[-1][1]
                else:
                    end = self.store.window_end(query, _WINDOW, stop_at)
                    lines = self._read(None, self._window(end), stop_at, _WINDOW)
                    page = self._keep(lines, limit)
                    if page is not None:
                        return page
                    if end is None:  # fewer than a window were left: all read
                        return LogSearch(self.found, None, self.scanned, False)
                    position = end
                if query.newest_first:
                    query.before = position
                else:
                    query.after = position
                if time.monotonic() > deadline:
                    return LogSearch(self.found, str(position), self.scanned, True)
        except SearchTimeoutError:
            # A statement outlived the search: what the finished ones found, and a cursor
            # after the last line they read (none when no statement finished: the same
            # search again would stop at the same place).
            reached = self._position()
            cursor = str(reached) if reached is not None and reached != start else None
            return LogSearch(self.found, cursor, self.scanned, True)

    def _position(self) -> int | None:
        return self.query.before if self.query.newest_first else self.query.after

    def _window(self, end: int | None) -> LogQuery:
        """The query limited to the lines up to *end* (from the scan's position on)."""
        if end is None:
            return self.query
        window = dataclasses.replace(self.query)
        if window.newest_first:
            window.after = end - 1 if window.after is None else max(window.after, end - 1)
        else:
            window.before = end + 1 if window.before is None else min(window.before, end + 1)
        return window

    def _read_blocks(self, blocks: list[tuple[int, int]], stop_at: float) -> list[LogLine]:
        """Up to a chunk of candidate lines from *blocks* (adjacent ones merged)."""
        ranges: list[tuple[int, int]] = []
        for first, last in sorted(blocks):
            if ranges and first == ranges[-1][1] + 1:
                ranges[-1] = (ranges[-1][0], last)
            else:
                ranges.append((first, last))
        return self._read(ranges, self.query, stop_at, _SCAN_CHUNK)

    def _read(
        self,
        ranges: list[tuple[int, int]] | None,
        query: LogQuery,
        stop_at: float,
        limit: int,
    ) -> list[LogLine]:
        while True:
            try:
                return self.store.read_lines(
                    query,
                    limit=limit,
                    texts=self.texts,
                    database_regex=self.database_regex,
                    ranges=ranges,
                    deadline=stop_at,
                )
            except DBAPIError:
                if self.database_regex is None:
                    raise
                # PostgreSQL's expressions differ from RE2's: filter with RE2 alone instead.
                self.session.rollback()
                self.database_regex = None

    def _keep(self, lines: list[LogLine], limit: int) -> LogSearch | None:
        """Add the matching lines; the page once it is full."""
        self.scanned += len(lines)
        for line in lines:
            if self.pattern is not None and self.pattern.search(line.message) is None:
                continue
            self.found.append(line)
            if len(self.found) > limit:
                page = self.found[:limit]
                return LogSearch(page, str(page[-1].id), self.scanned, False)
        return None
