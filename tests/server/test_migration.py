"""The schema comes from Alembic migrations, and the server refuses a schema out of date."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import inspect, make_url, text

from vigil.server.config import Settings
from vigil.server.database import create_database_engine
from vigil.server.dbschema import Base
from vigil.server.exceptions import DatabaseSchemaError
from vigil.server.main import create_app
from vigil.server.migration import (
    alembic_config,
    check_schema,
    compared_name,
    current_revision,
    head_revision,
    upgrade,
)


def test_migrations_build_exactly_the_models(db_url: str, tmp_path: Path) -> None:
    if db_url.startswith("sqlite"):
        db_url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    engine = create_database_engine(Settings(), make_url(db_url))
    try:
        if not db_url.startswith("sqlite"):
            # The shared PostgreSQL test database: take it down to nothing first.
            config = alembic_config()
            with engine.begin() as connection:
                config.attributes["connection"] = connection
                command.downgrade(config, "base")
        with engine.connect() as connection:
            # What the migrations keep about themselves stays: Alembic's and Vigil's record.
            assert set(inspect(connection).get_table_names()) <= {"alembic_version", "vigil_schema"}
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with engine.connect() as connection:
            # The log search's FTS5 tables (SQLite) and GIN index (PostgreSQL) are not
            # table definitions: the same hook as the migrations' environment skips them.
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_name": compared_name}
            )
            assert compare_metadata(context, Base.metadata) == []
        check_schema(engine)
    finally:
        engine.dispose()


def test_an_empty_database_is_refused_with_the_command_to_run(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'new.sqlite3'}")
    engine = create_database_engine(settings)
    try:
        with pytest.raises(DatabaseSchemaError, match="vigil db upgrade"):
            check_schema(engine)
    finally:
        engine.dispose()
    with (
        pytest.raises(DatabaseSchemaError, match="vigil db upgrade"),
        TestClient(create_app(settings)),
    ):
        pass


def test_an_out_of_date_database_is_refused(db_url: str) -> None:
    engine = create_database_engine(Settings(), make_url(db_url))
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        with pytest.raises(DatabaseSchemaError, match=r"revision 0001.*vigil db upgrade"):
            check_schema(engine)
    finally:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE alembic_version SET version_num = :head"), {"head": head_revision()}
            )
        engine.dispose()
