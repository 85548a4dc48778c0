"""The compare page's reads walk the index of a branch's jobs by job time.

Without ``ix_jobs_branch_job_time_id`` (migration 0011) the database sorts every job of
the dataset to find the few latest ones of a branch; with it, it reads them newest first
and stops. These tests ask the database for its plan of the statements the store runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, event, make_url, text

from vigil.server.config import Settings
from vigil.server.database import create_database_engine
from vigil.server.dbschema.jobs import JOB_TIME_INDEX
from vigil.server.domain import JobFacts
from vigil.server.factory import Factory
from vigil.server.migration import alembic_config, upgrade
from vigil.server.storage.compare import CompareStore

AT = datetime(2024, 6, 1, tzinfo=UTC)
FACTS = JobFacts(dataset="rc2", instrument="HSC", branch="main")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_database_engine(Settings(), make_url(db_url))
    yield engine
    engine.dispose()


def job_indexes(engine: Engine) -> set[str]:
    # Asked of the catalogue: SQLAlchemy does not reflect expression indexes on SQLite.
    if engine.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs'"
    else:
        query = "SELECT indexname FROM pg_indexes WHERE tablename = 'jobs'"
    with engine.connect() as connection:
        return {str(name) for name in connection.scalars(text(query))}


def test_the_migration_adds_and_removes_the_indexes(engine: Engine) -> None:
    # ix_jobs_id carries the job columns of a series' points (on PostgreSQL).
    added = {JOB_TIME_INDEX, "ix_jobs_id"}
    assert added <= job_indexes(engine)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0010")
    assert not added & job_indexes(engine)
    upgrade(engine)
    assert added <= job_indexes(engine)


def plan_of(factory: Factory, read: Callable[[CompareStore], Any]) -> str:
    """The database's plan of the last statement *read* runs."""
    engine = factory.session.get_bind()
    assert isinstance(engine, Engine)
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        read(CompareStore(factory.session))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    statement, parameters = seen[-1]
    connection = factory.session.connection()
    if engine.dialect.name == "sqlite":
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        found = "\n".join(str(row[-1]) for row in rows)
    else:
        # The tables are nearly empty: forbid the sequential scan that would win on them,
        # so that the plan shows which index the statement can use.
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        found = "\n".join(str(row[0]) for row in rows)
    factory.session.rollback()
    return found


READS: dict[str, Callable[[CompareStore], Any]] = {
    "recent_jobs": lambda store: store.recent_jobs(
        FACTS, branch="main", at=AT, up_to_job_id=10, limit=40
    ),
    "history": lambda store: store.history(1, branch="main", at=AT, up_to_job_id=10, limit=20),
    "latest_job_id": lambda store: store.latest_job_id("main", dataset="rc2"),
}


@pytest.mark.parametrize("read", sorted(READS))
def test_branch_reads_walk_the_job_time_index_without_sorting(factory: Factory, read: str) -> None:
    plan = plan_of(factory, READS[read])
    assert JOB_TIME_INDEX in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
