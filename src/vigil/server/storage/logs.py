"""Aggregated logs in the database: runs, lines, processes. Stores never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, and_, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from ..dbschema import SqlLogLine, SqlLogProcess, SqlLogRun
from ..domain.logs import LogLine, LogProcess, LogQuery, LogRecord, LogRun
from ._sql import chunks, upsert

__all__ = ["LogStore", "like_pattern"]

_LINES = cast(Table, SqlLogLine.__table__)

_LINE_COLUMNS = (
    SqlLogLine.id,
    SqlLogLine.run_id,
    SqlLogLine.time,
    SqlLogLine.level,
    SqlLogLine.message,
    SqlLogLine.unit,
    SqlLogLine.process,
    SqlLogLine.thread,
    SqlLogLine.logger,
    SqlLogLine.checkpoint,
)


_KEYS = ("run_id", "time", "level", "unit", "process", "thread", "logger", "checkpoint", "message")
_INSERT_SQLITE = (
    "INSERT INTO log_lines (run_id, time, level, unit, process, thread, logger, checkpoint,"
    " message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_POSTGRESQL = (
    "INSERT INTO log_lines (run_id, time, level, unit, process, thread, logger, checkpoint,"
    " message) SELECT * FROM unnest(%s::integer[], %s::timestamptz[], %s::smallint[],"
    " %s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[], %s::text[])"
    " RETURNING id"
)


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE's wildcards escaped (escape character ``\\``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


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
            .where(SqlLogProcess.run_id == run_id, SqlLogProcess.status == "failed")
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
            .where(SqlLogProcess.run_id == SqlLogRun.id, SqlLogProcess.status == "failed")
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
        """Store *records* of run *run_id*; their ids, in order.

        Lines are the bulk of what the server stores, so they bypass the ORM: one
        ``executemany`` on SQLite, one ``INSERT ... SELECT unnest(...)`` on PostgreSQL.
        """
        if not records:
            return []
        dialect = self._session.get_bind().dialect
        to_db = _LINES.c.time.type.dialect_impl(dialect).bind_processor(dialect)
        rows = [
            (
                run_id,
                to_db(r.time) if to_db else r.time,
                r.level,
                r.unit,
                r.process,
                r.thread,
                r.logger,
                r.checkpoint,
                r.message,
            )
            for r in records
        ]
        if dialect.name == "sqlite":
            return self._insert_sqlite(rows)
        if dialect.name == "postgresql":
            return self._insert_postgresql(rows)
        result = self._session.execute(
            insert(_LINES).returning(_LINES.c.id, sort_by_parameter_order=True),
            [dict(zip(_KEYS, row, strict=True)) for row in rows],
        )
        return list(result.scalars())

    def _insert_sqlite(self, rows: list[tuple[Any, ...]]) -> list[int]:
        cursor = self._session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(_INSERT_SQLITE, rows)
            last = cursor.execute("SELECT last_insert_rowid()").fetchone()[0]
        finally:
            cursor.close()
        # One writer at a time and one statement: the rowids are consecutive.
        return list(range(last - len(rows) + 1, last + 1))

    def _insert_postgresql(self, rows: list[tuple[Any, ...]]) -> list[int]:
        columns = list(zip(*rows, strict=True))
        cursor = self._session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(_INSERT_POSTGRESQL, [list(column) for column in columns])
            ids = sorted(row[0] for row in cursor.fetchall())
        finally:
            cursor.close()
        # The sequence numbers rows in the order the SELECT gives them.
        return ids

    def _lines_query(
        self,
        query: LogQuery,
        *,
        literals: Sequence[str],
        ignore_case: bool,
        database_regex: str | None,
    ) -> Select[*tuple[Any, ...]]:
        # No join: the planner then walks the id index and stops at the limit.
        stmt = select(*_LINE_COLUMNS)
        conditions = []
        if query.run_id is not None:
            conditions.append(SqlLogLine.run_id == query.run_id)
        if query.unit is not None:
            conditions.append(SqlLogLine.unit == query.unit)
        if query.process is not None:
            conditions.append(SqlLogLine.process == query.process)
        if query.thread is not None:
            conditions.append(SqlLogLine.thread == query.thread)
        if query.min_level is not None:
            conditions.append(SqlLogLine.level >= query.min_level)
        if query.since is not None:
            conditions.append(SqlLogLine.time >= query.since)
        if query.until is not None:
            conditions.append(SqlLogLine.time < query.until)
        if query.checkpoints_only:
            conditions.append(SqlLogLine.checkpoint.is_not(None))
        if query.after is not None:
            conditions.append(SqlLogLine.id > query.after)
        if query.before is not None:
            conditions.append(SqlLogLine.id < query.before)
        # SQLite's LIKE ignores ASCII case by itself (its ILIKE would lower() every line);
        # PostgreSQL's needs ILIKE for that.
        for word in (query.text or "").split():
            conditions.append(self._contains(like_pattern(word), ignore_case=True))
        # PostgreSQL's ILIKE costs as much as its ~* (both fold case): one of them is enough.
        if not (ignore_case and database_regex is not None):
            for literal in literals:
                conditions.append(self._contains(like_pattern(literal), ignore_case=ignore_case))
        if database_regex is not None:
            operator = "~*" if ignore_case else "~"
            conditions.append(SqlLogLine.message.op(operator)(database_regex))
        if conditions:
            stmt = stmt.where(and_(*conditions))
        order = SqlLogLine.id.desc() if query.newest_first else SqlLogLine.id.asc()
        return stmt.order_by(order)

    def _contains(self, pattern: str, *, ignore_case: bool) -> Any:
        if not self._postgres:
            return SqlLogLine.message.like(pattern, escape="\\")
        if ignore_case:
            return SqlLogLine.message.ilike(pattern, escape="\\")
        return SqlLogLine.message.like(pattern, escape="\\")

    def read_lines(
        self,
        query: LogQuery,
        *,
        limit: int,
        literals: Sequence[str] = (),
        ignore_case: bool = False,
        database_regex: str | None = None,
    ) -> list[LogLine]:
        """Up to *limit* lines matching the query's filters, in id order (or reversed)."""
        stmt = self._lines_query(
            query, literals=literals, ignore_case=ignore_case, database_regex=database_regex
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
            keys = {
                run_id: key
                for run_id, key in self._session.execute(
                    select(SqlLogRun.id, SqlLogRun.key).where(SqlLogRun.id.in_(run_ids))
                )
            }
            for line in lines:
                line.run_key = keys.get(line.run_id)
        return lines

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
        if status is not None:
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
        for part in chunks(ids):
            # Lines first, explicitly: SQLite's cascade walks them one by one otherwise.
            self._session.execute(delete(SqlLogLine).where(SqlLogLine.run_id.in_(part)))
            self._session.execute(delete(SqlLogProcess).where(SqlLogProcess.run_id.in_(part)))
            self._session.execute(delete(SqlLogRun).where(SqlLogRun.id.in_(part)))
        return len(ids)
