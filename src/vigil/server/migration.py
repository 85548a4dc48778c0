"""Alembic, configured from code: upgrade, current revision and the startup schema check.

Beside Alembic's ``alembic_version``, `upgrade` keeps a one-row table ``vigil_schema``:
the revision and the first Vigil release that has it. A database migrated by a newer
Vigil so tells an older one which release it needs, though the older one has never
heard of the revision.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, Engine, MetaData, String, Table, delete, insert, inspect
from sqlalchemy import select as sql_select

from vigil import __version__

from .exceptions import DatabaseSchemaError

__all__ = [
    "FIRST_VERSIONS",
    "alembic_config",
    "check_schema",
    "compared_name",
    "current_revision",
    "first_version",
    "head_revision",
    "is_empty",
    "is_known",
    "newer_schema_message",
    "refuse_newer_schema",
    "required_version",
    "upgrade",
]

FIRST_VERSIONS: dict[str, str] = {
    "0001": "0.1.0",
    "0002": "0.1.0",
    "0003": "0.1.0",
    "0004": "0.1.0",
    "0005": "0.1.0",
}
"""The first Vigil release that ships each migration revision.

A revision not listed yet is shipped by the running version (`vigil.__version__`): a
release adds its new revisions here with its own version number.
"""

# Read by every later Vigil, written by every earlier one that has this code: its name
# and its two first columns never change.
_VIGIL_SCHEMA = Table(
    "vigil_schema",
    MetaData(),
    Column("revision", String(64), primary_key=True),
    Column("requires_vigil", String(32), nullable=False),
    Column("written_by", String(32), nullable=False),
)

# Objects of one database only, that the table definitions cannot describe: SQLite's
# full-text table of the log search (with its shadow tables) and PostgreSQL's GIN index.
_SEARCH_TABLE = "log_blocks_fts"
_SEARCH_INDEX = "ix_log_blocks_grams"


def compared_name(name: str | None, type_: str, parent_names: MutableMapping[Any, Any]) -> bool:
    """Whether Alembic compares a database object with the table definitions.

    Alembic's ``include_name`` hook: the log search's FTS5 tables (SQLite) and GIN index
    (PostgreSQL) are made by migration 0005 and are not in the definitions; the
    ``vigil_schema`` record is kept by `upgrade`, like Alembic's own table.
    """
    if name is None:
        return True
    if type_ == "table":
        if name == _VIGIL_SCHEMA.name:  # the migrations' own record, like alembic_version
            return False
        return name != _SEARCH_TABLE and not name.startswith(f"{_SEARCH_TABLE}_")
    return not (type_ == "index" and name == _SEARCH_INDEX)


def alembic_config() -> Config:
    """Alembic configuration pointing at the migrations shipped inside the package."""
    config = Config()
    config.set_main_option("script_location", "vigil.server:migrations")
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The revision this code needs."""
    head = _script().get_current_head()
    assert head is not None
    return head


def is_known(revision: str) -> bool:
    """Whether *revision* is one of the migrations this Vigil ships."""
    return any(script.revision == revision for script in _script().walk_revisions())


def first_version(revision: str) -> str:
    """The first Vigil release that has *revision* (see `FIRST_VERSIONS`)."""
    return FIRST_VERSIONS.get(revision, __version__)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def required_version(connection: Connection, revision: str) -> str | None:
    """The Vigil release the database's ``vigil_schema`` says *revision* needs, if any."""
    if not inspect(connection).has_table(_VIGIL_SCHEMA.name):
        return None
    found = connection.execute(
        sql_select(_VIGIL_SCHEMA.c.requires_vigil).where(_VIGIL_SCHEMA.c.revision == revision)
    ).scalar()
    return str(found) if found else None


def newer_schema_message(revision: str, required: str | None) -> str:
    """What to say about a database at *revision*, which this Vigil does not know."""
    if required is None:
        return (
            f"The database schema (revision {revision}) was written by a newer Vigil; this is"
            f" Vigil {__version__}: upgrade Vigil"
        )
    return (
        f"The database schema (revision {revision}) was written by Vigil >= {required};"
        f" this is Vigil {__version__}: upgrade Vigil"
    )


def refuse_newer_schema(connection: Connection) -> None:
    """Refuse a database migrated by a newer Vigil, naming the release it needs.

    Raises
    ------
    DatabaseSchemaError
        The database's revision is not one of this Vigil's migrations.
    """
    current = MigrationContext.configure(connection).get_current_revision()
    if current is None or is_known(current):
        return
    url = connection.engine.url.render_as_string(hide_password=True)
    message = newer_schema_message(current, required_version(connection, current))
    raise DatabaseSchemaError(f"{message} (database {url}).")


def is_empty(engine: Engine) -> bool:
    """Whether the database has no table at all (a brand-new database)."""
    with engine.connect() as connection:
        return not inspect(connection).get_table_names()


def _record(connection: Connection) -> None:
    """Write ``vigil_schema``: the database's revision and the first release that has it."""
    revision = MigrationContext.configure(connection).get_current_revision()
    _VIGIL_SCHEMA.create(connection, checkfirst=True)
    connection.execute(delete(_VIGIL_SCHEMA))
    if revision is not None:
        connection.execute(
            insert(_VIGIL_SCHEMA).values(
                revision=revision, requires_vigil=first_version(revision), written_by=__version__
            )
        )


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the migrations up to *revision* on *engine*'s database.

    Raises
    ------
    DatabaseSchemaError
        The database was migrated by a newer Vigil (see `refuse_newer_schema`).
    """
    config = alembic_config()
    with engine.begin() as connection:
        refuse_newer_schema(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        _record(connection)


def check_schema(engine: Engine) -> None:
    """Refuse a database whose schema is not the one this code needs.

    Raises
    ------
    DatabaseSchemaError
        With the command that fixes it, or the Vigil release a newer schema needs.
    """
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        if current is not None and not is_known(current):
            refuse_newer_schema(connection)
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
