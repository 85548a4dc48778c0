"""Aggregated logs in the database: runs, lines, processes. Stores never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    Integer,
    Table,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from ..dbschema import SqlLogBlock, SqlLogLine, SqlLogProcess, SqlLogRun
from ..domain.logs import FAILED_STATUSES, LogLine, LogProcess, LogQuery, LogRecord, LogRun
from ._log_search import (
    FTS_SQLITE,
    GramNeed,
    SearchTimeoutError,
    TextNeed,
    bounded,
    fts_match,
    like_pattern,
    line_matcher,
    lines_query,
    postgres_regex,
    search_pattern,
)
from ._sql import aware_utc, chunks, sqlite_time, upsert
from ._trigrams import BLOCK_LINES, block_grams, gram_tokens, literal_grams

__all__ = [
    "GramNeed",
    "LogStore",
    "SearchTimeoutError",
    "TextNeed",
    "like_pattern",
    "literal_grams",
    "postgres_regex",
    "search_pattern",
]

_LINES = cast(Table, SqlLogLine.__table__)


_KEYS = ("run_id", "time", "level", "unit", "process", "thread", "logger", "checkpoint", "message")
_INSERT_SQLITE = (
    "INSERT INTO log_lines (run_id, time, level, unit, process, thread, logger, checkpoint,"
    " message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_COPY_POSTGRESQL = (
    "COPY log_lines (id, run_id, time, level, unit, process, thread, logger, checkpoint,"
    " message) FROM STDIN"
)
# Migration 0005 makes the sequence count in steps of BLOCK_LINES: one value, one block.
_RESERVE_POSTGRESQL = (
    "SELECT nextval(pg_get_serial_sequence('log_lines', 'id')) FROM generate_series(1, %s)"
)
_BLOCK_POSTGRESQL = (
    "INSERT INTO log_blocks (id, last_id, run_id, grams) VALUES (%s, %s, %s, %s::integer[])"
)
_BLOCK_SQLITE = "INSERT INTO log_blocks (id, last_id, run_id, grams) VALUES (?, ?, ?, ?)"


def _run(row: SqlLogRun, failed: int = 0) -> LogRun:
    return LogRun(
        id=row.id,
        key=row.key,
        kind=row.kind,
        title=row.title,
        status=row.status,
        started_at=row.started_at,
        updated_at=row.updated_at,
        ended_at=row.ended_at,
        line_count=row.line_count,
        error_count=row.error_count,
        meta=row.meta or {},
        failed_processes=failed,
    )


class LogStore:
    """Queries on ``log_runs``, ``log_lines`` and ``log_processes``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @property
    def _postgres(self) -> bool:
        return self._session.get_bind().dialect.name == "postgresql"

    # Runs -----------------------------------------------------------------------------

    def run_id(self, key: str) -> int | None:
        """The id of the run *key*."""
        return self._session.scalar(select(SqlLogRun.id).where(SqlLogRun.key == key))

    def ensure_run(
        self,
        key: str,
        *,
        kind: str,
        title: str | None,
        meta: dict[str, Any],
        now: datetime,
    ) -> int:
        """The id of the run *key*, created (status ``running``) if new."""
        existing = self.run_id(key)
        if existing is not None:
            return existing
        row = SqlLogRun(
            key=key,
            kind=kind,
            title=title,
            status="running",
            started_at=now,
            updated_at=now,
            ended_at=None,
            line_count=0,
            error_count=0,
            meta=meta,
        )
        self._session.add(row)
        self._session.flush()
        return row.id

    def count_lines(self, run_id: int, lines: int, errors: int, now: datetime) -> None:
        """Add to a run's line and error counts."""
        self._session.execute(
            update(SqlLogRun)
            .where(SqlLogRun.id == run_id)
            .values(
                line_count=SqlLogRun.line_count + lines,
                error_count=SqlLogRun.error_count + errors,
                updated_at=now,
            )
        )

    def end_run(self, run_id: int, status: str, ended_at: datetime) -> None:
        """Record how a run ended."""
        self._session.execute(
            update(SqlLogRun)
            .where(SqlLogRun.id == run_id)
            .values(status=status, ended_at=ended_at, updated_at=ended_at)
        )

    def get_run(self, run_id: int) -> LogRun | None:
        """One run."""
        row = self._session.get(SqlLogRun, run_id)
        if row is None:
            return None
        failed = self._session.scalar(
            select(func.count())
            .select_from(SqlLogProcess)
            .where(SqlLogProcess.run_id == run_id, SqlLogProcess.status.in_(FAILED_STATUSES))
        )
        return _run(row, failed or 0)

    def list_runs(
        self,
        *,
        kind: str | None,
        status: str | None,
        text: str | None,
        limit: int,
        before_id: int | None,
    ) -> list[LogRun]:
        """Runs, most recently active first (by id, newest first)."""
        failed = (
            select(func.count())
            .select_from(SqlLogProcess)
            .where(SqlLogProcess.run_id == SqlLogRun.id, SqlLogProcess.status.in_(FAILED_STATUSES))
            .scalar_subquery()
        )
        stmt = select(SqlLogRun, failed).order_by(SqlLogRun.id.desc()).limit(limit)
        if kind:
            stmt = stmt.where(SqlLogRun.kind == kind)
        if status:
            stmt = stmt.where(SqlLogRun.status == status)
        if text:
            pattern = like_pattern(text)
            stmt = stmt.where(
                or_(
                    SqlLogRun.key.ilike(pattern, escape="\\"),
                    SqlLogRun.title.ilike(pattern, escape="\\"),
                )
            )
        if before_id is not None:
            stmt = stmt.where(SqlLogRun.id < before_id)
        return [_run(row, count or 0) for row, count in self._session.execute(stmt)]

    # Lines ----------------------------------------------------------------------------

    def insert_lines(self, run_id: int, records: Sequence[LogRecord]) -> list[int]:
        """Store *records* of run *run_id* with their search blocks; their ids, in order.

        Lines are the bulk of what the server stores, so they bypass the ORM: one
        ``executemany`` on SQLite, one ``COPY`` on PostgreSQL (into ids reserved a block
        at a time). Every 1,024 lines make a block whose trigrams are indexed.
        """
        if not records:
            return []
        dialect = self._session.get_bind().dialect
        to_db = sqlite_time if dialect.name == "sqlite" else aware_utc
        rows = [
            (
                run_id,
                to_db(r.time),
                r.level,
                r.unit,
                r.process,
                r.thread,
                r.logger,
                r.checkpoint,
                # Neither PostgreSQL nor its COPY can hold U+0000 in text.
                r.message if "\x00" not in r.message else r.message.replace("\x00", "\ufffd"),
            )
            for r in records
        ]
        parts = [rows[i : i + BLOCK_LINES] for i in range(0, len(rows), BLOCK_LINES)]
        if dialect.name == "postgresql":
            firsts = self._insert_postgresql(parts)
        else:
            firsts = self._insert_sqlite(rows)
        ids: list[int] = []
        blocks: list[tuple[int, int, int, list[int]]] = []
        for first, part in zip(firsts, parts, strict=True):
            ids.extend(range(first, first + len(part)))
            blocks.append(
                (first, first + len(part) - 1, run_id, block_grams([r[-1] for r in part]))
            )
        self._insert_blocks(blocks)
        return ids

    def _cursor(self) -> Any:
        return self._session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]

    def _insert_sqlite(self, rows: list[tuple[Any, ...]]) -> list[int]:
        cursor = self._cursor()
        try:
            cursor.executemany(_INSERT_SQLITE, rows)
            last = cursor.execute("SELECT last_insert_rowid()").fetchone()[0]
        finally:
            cursor.close()
        # One writer at a time and one statement: the rowids are consecutive.
        first = last - len(rows) + 1
        return list(range(first, last + 1, BLOCK_LINES))

    def _insert_postgresql(self, parts: list[list[tuple[Any, ...]]]) -> list[int]:
        cursor = self._cursor()
        try:
            cursor.execute(_RESERVE_POSTGRESQL, (len(parts),))
            firsts = [row[0] for row in cursor.fetchall()]
            # COPY adapts values in C: far cheaper per line than any INSERT.
            with cursor.copy(_COPY_POSTGRESQL) as copy:
                for first, part in zip(firsts, parts, strict=True):
                    for line_id, row in enumerate(part, first):
                        copy.write_row((line_id, *row))
        finally:
            cursor.close()
        return firsts

    def _insert_blocks(self, blocks: Sequence[tuple[int, int, int | None, list[int]]]) -> None:
        cursor = self._cursor()
        try:
            if self._postgres:
                cursor.executemany(
                    _BLOCK_POSTGRESQL,
                    [
                        (first, last, run, "{" + ",".join(map(str, grams)) + "}")
                        for first, last, run, grams in blocks
                    ],
                )
            else:
                cursor.executemany(
                    _BLOCK_SQLITE,
                    [(first, last, run, gram_tokens(grams)) for first, last, run, grams in blocks],
                )
        finally:
            cursor.close()

    def search_blocks(
        self,
        needs: Sequence[GramNeed],
        *,
        run_id: int | None,
        after: int | None,
        before: int | None,
        newest_first: bool,
        limit: int,
        deadline: float | None = None,
    ) -> list[tuple[int, int]]:
        """The next *limit* blocks (first and last line id) that may hold lines meeting
        every need, in the order of a scan (newest first or oldest first).

        A block qualifies when, for each need, it holds every trigram of one of its
        alternatives; only those blocks can hold a line containing the texts.

        Raises
        ------
        SearchTimeoutError
            *deadline* (``time.monotonic()``) passed first.
        """
        with bounded(self._session, deadline):
            if self._postgres:
                return self._search_blocks_postgresql(
                    needs,
                    run_id=run_id,
                    after=after,
                    before=before,
                    newest=newest_first,
                    limit=limit,
                )
            where = []
            params: dict[str, Any] = {"match": fts_match(needs), "limit": limit}
            if run_id is not None:
                where.append("(b.run_id = :run OR b.run_id IS NULL)")
                params["run"] = run_id
            if after is not None:
                where.append("b.last_id > :after")
                params["after"] = after
            if before is not None:
                where.append("f.rowid < :before")
                params["before"] = before
            sql = FTS_SQLITE.format(
                where="".join(f" AND {w}" for w in where), order="DESC" if newest_first else "ASC"
            )
            return [(first, last) for first, last in self._session.execute(text(sql), params)]

    def _search_blocks_postgresql(
        self,
        needs: Sequence[GramNeed],
        *,
        run_id: int | None,
        after: int | None,
        before: int | None,
        newest: bool,
        limit: int,
    ) -> list[tuple[int, int]]:
        grams = SqlLogBlock.grams
        conditions = []
        for n, need in enumerate(needs):
            conditions.append(
                or_(
                    *(
                        grams.op("@>")(bindparam(f"g{n}_{a}", codes, type_=ARRAY(Integer)))
                        for a, codes in enumerate(need)
                    )
                )
            )
        if run_id is not None:
            conditions.append(or_(SqlLogBlock.run_id == run_id, SqlLogBlock.run_id.is_(None)))
        if after is not None:
            conditions.append(SqlLogBlock.last_id > after)
        if before is not None:
            conditions.append(SqlLogBlock.id < before)
        stmt = (
            select(SqlLogBlock.id, SqlLogBlock.last_id)
            .where(*conditions)
            .order_by(SqlLogBlock.id.desc() if newest else SqlLogBlock.id.asc())
            .limit(limit)
        )
        # The planner costs the table by its pages, not by the trigram arrays kept out of
        # line (TOAST) that a scan would unpack and test row after row: only the GIN
        # index's bitmap finds the candidate blocks without reading the others.
        self._session.execute(text("SET LOCAL enable_seqscan = off"))
        self._session.execute(text("SET LOCAL enable_indexscan = off"))
        # Not in a `finally`: after an error (a cancelled statement) the transaction takes
        # no more statements, and its rollback undoes what SET LOCAL set.
        blocks = [(first, last) for first, last in self._session.execute(stmt)]
        self._session.execute(text("RESET enable_seqscan"))
        self._session.execute(text("RESET enable_indexscan"))
        return blocks

    def read_lines(
        self,
        query: LogQuery,
        *,
        limit: int,
        texts: Sequence[TextNeed] = (),
        database_regex: tuple[str, bool] | None = None,
        ranges: Sequence[tuple[int, int]] | None = None,
        deadline: float | None = None,
    ) -> list[LogLine]:
        """Up to *limit* lines matching the query's filters, in id order (or reversed).

        Parameters
        ----------
        query
            The filters (and the words of ``query.text``).
        limit
            Lines at most.
        texts
            Texts the lines must contain besides the words.
        database_regex
            A regular expression (RE2's syntax) the database checks too, and whether it
            ignores case: PostgreSQL's ``~`` (as `postgres_regex` spells it, when it can;
            its syntax may still differ: on an error, leave it out), SQLite's calls of RE2.
        ranges
            Only the lines whose id lies in one of these (first, last) ranges.
        deadline
            When (``time.monotonic()``) to stop the statements (see `bounded`).

        Raises
        ------
        SearchTimeoutError
            *deadline* passed first.
        """
        with bounded(self._session, deadline):
            return self._read_lines(
                query, limit=limit, texts=texts, database_regex=database_regex, ranges=ranges
            )

    def _read_lines(
        self,
        query: LogQuery,
        *,
        limit: int,
        texts: Sequence[TextNeed],
        database_regex: tuple[str, bool] | None,
        ranges: Sequence[tuple[int, int]] | None,
    ) -> list[LogLine]:
        if database_regex is not None and not self._postgres:
            # RE2, in SQLite: only the matching rows come out.
            connection = self._session.connection().connection.driver_connection
            function = line_matcher(database_regex[0])
            connection.create_function("vigil_regexp", 2, function, deterministic=True)  # type: ignore[union-attr]
        if ranges is not None and len(ranges) > 1 and not self._postgres:
            # SQLite's planner scans the whole table for a list of ranges (PostgreSQL
            # reads each through the index and merges them): one range at a time.
            lines: list[LogLine] = []
            for one in sorted(ranges, reverse=query.newest_first):
                lines.extend(
                    self._read_lines(
                        query,
                        limit=limit - len(lines),
                        texts=texts,
                        database_regex=database_regex,
                        ranges=[one],
                    )
                )
                if len(lines) >= limit:
                    break
            return lines
        stmt = lines_query(
            query,
            postgres=self._postgres,
            texts=texts,
            database_regex=database_regex,
            ranges=ranges,
        ).limit(limit)
        lines = [
            LogLine(
                id=row.id,
                run_id=row.run_id,
                time=row.time,
                level=row.level,
                message=row.message,
                unit=row.unit,
                process=row.process,
                thread=row.thread,
                logger=row.logger,
                checkpoint=row.checkpoint,
            )
            for row in self._session.execute(stmt)
        ]
        run_ids = {line.run_id for line in lines}
        if run_ids:
            names = {
                run_id: (key, title)
                for run_id, key, title in self._session.execute(
                    select(SqlLogRun.id, SqlLogRun.key, SqlLogRun.title).where(
                        SqlLogRun.id.in_(run_ids)
                    )
                )
            }
            for line in lines:
                line.run_key, line.run_title = names.get(line.run_id, (None, None))
        return lines

    def window_end(self, query: LogQuery, size: int, deadline: float | None = None) -> int | None:
        """The id of the *size*-th line after the query's position (``after``, or
        ``before`` newest first) that its run, unit, level, time... filters keep (not its
        words); None when fewer are left.

        Reading a search's candidates a window at a time bounds the work of each
        statement: the scan's position moves on whatever the lines hold.

        Raises
        ------
        SearchTimeoutError
            *deadline* passed first.
        """
        stmt = lines_query(
            query,
            postgres=self._postgres,
            texts=(),
            database_regex=None,
            ranges=None,
            columns=(SqlLogLine.id,),
            words=False,
        )
        with bounded(self._session, deadline):
            return cast("int | None", self._session.scalar(stmt.offset(size - 1).limit(1)))

    def units_of_run(self, run_id: int) -> list[str]:
        """The units (and processes) that wrote lines in a run."""
        stmt = (
            select(SqlLogLine.unit)
            .where(SqlLogLine.run_id == run_id, SqlLogLine.unit.is_not(None))
            .distinct()
            .order_by(SqlLogLine.unit)
        )
        return [unit for unit in self._session.scalars(stmt) if unit]

    # Processes ------------------------------------------------------------------------

    def upsert_processes(self, rows: list[dict[str, Any]]) -> None:
        """Create or update processes (``run_id``, ``name`` and the columns to set)."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(tuple(sorted(row)), []).append(row)
        table = cast(Table, SqlLogProcess.__table__)
        for group in groups.values():
            upsert(self._session, table, group, ["run_id", "name"])

    def list_processes(
        self,
        *,
        run_id: int | None,
        status: str | None,
        limit: int,
        before_id: int | None,
    ) -> list[LogProcess]:
        """Processes, newest first."""
        stmt = (
            select(SqlLogProcess, SqlLogRun.key, SqlLogRun.title)
            .join(SqlLogRun, SqlLogRun.id == SqlLogProcess.run_id)
            .order_by(SqlLogProcess.id.desc())
            .limit(limit)
        )
        if run_id is not None:
            stmt = stmt.where(SqlLogProcess.run_id == run_id)
        if status == "failed":
            # Killed on a timeout is a failure too.
            stmt = stmt.where(SqlLogProcess.status.in_(FAILED_STATUSES))
        elif status is not None:
            stmt = stmt.where(SqlLogProcess.status == status)
        if before_id is not None:
            stmt = stmt.where(SqlLogProcess.id < before_id)
        return [
            LogProcess(
                id=row.id,
                run_id=row.run_id,
                run_key=key,
                run_title=title,
                name=row.name,
                status=row.status,
                exit_status=row.exit_status,
                exception=row.exception,
                started_at=row.started_at,
                ended_at=row.ended_at,
                last_lines=list(row.last_lines or []),
            )
            for row, key, title in self._session.execute(stmt)
        ]

    # Retention ------------------------------------------------------------------------

    def delete_runs_before(self, cutoff: datetime) -> int:
        """Delete runs last active before *cutoff*, with their lines and processes."""
        ids = list(self._session.scalars(select(SqlLogRun.id).where(SqlLogRun.updated_at < cutoff)))
        self.delete_runs(ids)
        return len(ids)

    def delete_runs(self, ids: Sequence[int]) -> None:
        """Delete runs *ids* with their lines and processes."""
        for part in chunks(list(ids)):
            # Lines first, explicitly: SQLite's cascade walks them one by one otherwise.
            self._session.execute(delete(SqlLogLine).where(SqlLogLine.run_id.in_(part)))
            self._session.execute(delete(SqlLogBlock).where(SqlLogBlock.run_id.in_(part)))
            self._session.execute(delete(SqlLogProcess).where(SqlLogProcess.run_id.in_(part)))
            self._session.execute(delete(SqlLogRun).where(SqlLogRun.id.in_(part)))
        if ids:
            # Blocks of several runs (lines stored before blocks existed) go with their lines.
            lines = exists().where(SqlLogLine.id.between(SqlLogBlock.id, SqlLogBlock.last_id))
            self._session.execute(delete(SqlLogBlock).where(SqlLogBlock.run_id.is_(None), ~lines))
