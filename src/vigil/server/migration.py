"""Alembic, configured from code: upgrade, current revision and the startup schema check."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from .exceptions import DatabaseSchemaError

__all__ = [
    "alembic_config",
    "check_schema",
    "compared_name",
    "current_revision",
    "head_revision",
    "is_empty",
    "upgrade",
]

# Objects of one database only, that the table definitions cannot describe: SQLite's
# full-text table of the log search (with its shadow tables) and PostgreSQL's GIN index.
_SEARCH_TABLE = "log_blocks_fts"
_SEARCH_INDEX = "ix_log_blocks_grams"


def compared_name(name: str | None, type_: str, parent_names: MutableMapping[Any, Any]) -> bool:
    """Whether Alembic compares a database object with the table definitions.

    Alembic's ``include_name`` hook: the log search's FTS5 tables (SQLite) and GIN index
    (PostgreSQL) are made by migration 0005 and are not in the definitions.
    """
    if name is None:
        return True
    if type_ == "table":
        return name != _SEARCH_TABLE and not name.startswith(f"{_SEARCH_TABLE}_")
    return not (type_ == "index" and name == _SEARCH_INDEX)


def alembic_config() -> Config:
    """Alembic configuration pointing at the migrations shipped inside the package."""
    config = Config()
    config.set_main_option("script_location", "vigil.server:migrations")
    return config


def head_revision() -> str:
    """The revision this code needs."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_empty(engine: Engine) -> bool:
    """Whether the database has no table at all (a brand-new database)."""
    with engine.connect() as connection:
        return not inspect(connection).get_table_names()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the migrations up to *revision* on *engine*'s database."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def check_schema(engine: Engine) -> None:
    """Refuse a database whose schema is not the one this code needs.

    Raises
    ------
    DatabaseSchemaError
        With the command that fixes it.
    """
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    url = engine.url.render_as_string(hide_password=True)
    if current is None:
        message = (
            f"The database {url} has no Vigil schema. Run `vigil db upgrade` (with the"
            " same VIGIL_DATABASE_URL) to create it."
        )
    else:
        message = (
            f"The database {url} is at schema revision {current} but this Vigil needs"
            f" {head}. Run `vigil db upgrade` (with the same VIGIL_DATABASE_URL) first."
        )
    raise DatabaseSchemaError(message)
