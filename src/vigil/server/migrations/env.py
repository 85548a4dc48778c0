"""Alembic environment of the Vigil server, configured by `vigil.server.migration`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from vigil.server.config import Settings
from vigil.server.database import create_database_engine
from vigil.server.dbschema import Base
from vigil.server.migration import compared_name

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        include_name=compared_name,
        # SQLite alters tables by copying them: batch mode makes later revisions portable.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against the connection handed in, or against the configured database."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_database_engine(Settings())
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Vigil migrations run online only: use `vigil db upgrade`.")
run_migrations_online()
