"""What the commands that open the server's database share: its option, settings, errors.

Server modules are imported inside the functions so that ``vigil --help`` stays quick on
a pipeline machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from vigil.server.config import Settings
    from vigil.server.factory import Factory

__all__ = [
    "DATABASE_URL",
    "database_errors",
    "fail",
    "open_database",
    "reach_database",
    "server_factory",
    "server_settings",
    "user_errors",
]

DATABASE_URL = typer.Option(
    None,
    "--database-url",
    help="SQLAlchemy database URL (default: VIGIL_DATABASE_URL, else SQLite in the data dir).",
    show_default=False,
)
"""The ``--database-url`` option of every command that opens the server's database."""


def server_settings(database_url: str | None) -> Settings:
    """The server's settings (``VIGIL_*``), with *database_url* when given."""
    from vigil.server.config import Settings

    if database_url:
        return Settings(database_url=database_url)
    return Settings()


def fail(message: str) -> typer.Exit:
    """Print ``error: <message>`` on stderr; return the exit (status 1) to raise."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


@contextmanager
def user_errors() -> Iterator[None]:
    """Print user mistakes (Vigil and SDK errors) as one line and exit 1."""
    from vigil.server.exceptions import VigilError
    from vigil.verify import VerifyError

    try:
        yield
    except VigilError as exc:
        raise fail(exc.message) from None
    except (VerifyError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None


@contextmanager
def database_errors(engine: Engine) -> Iterator[None]:
    """Print "cannot reach the database" as one line (URL, password hidden) and exit 1.

    Other database errors are bugs: they keep their traceback.
    """
    from vigil.server.database import UNAVAILABLE_ERRORS, is_unavailable, unavailable_error

    try:
        yield
    except UNAVAILABLE_ERRORS as exc:
        if not is_unavailable(exc):
            raise
        raise fail(unavailable_error(engine, exc).message) from None


def reach_database(engine: Engine, settings: Settings, *, wait: bool = False) -> None:
    """Reach *engine*'s database, or exit 1 with one line naming it and the error.

    With *wait* (the commands that start services: serve, worker, db upgrade), a
    database not up yet is tried again for ``VIGIL_DATABASE_START_TIMEOUT`` seconds, with
    one line on stderr per failed attempt.
    """
    from vigil.server.database import wait_for_database

    def report(line: str) -> None:
        typer.echo(line, err=True)

    with user_errors(), database_errors(engine):
        wait_for_database(engine, settings.database_start_timeout if wait else 0, report=report)


def open_database(
    engine: Engine, settings: Settings, *, wait: bool = False, create_sqlite: bool = False
) -> None:
    """`reach_database`, then refuse a schema that is not current (one line, exit 1).

    With *create_sqlite*, a brand-new SQLite database is migrated first (``vigil serve``).
    """
    from vigil.server import migration

    reach_database(engine, settings, wait=wait)
    with user_errors(), database_errors(engine):
        if (
            create_sqlite
            and engine.url.get_backend_name() == "sqlite"
            and migration.is_empty(engine)
        ):
            typer.echo(f"Creating the database {engine.url.database}")
            migration.upgrade(engine)
        migration.check_schema(engine)


@contextmanager
def server_factory(database_url: str | None, *, wait: bool = False) -> Iterator[Factory]:
    """A factory on a database whose schema is current; user mistakes exit 1.

    A database out of reach, at start (after waiting, with *wait*) or later, is one line
    and exit 1, as are the mistakes.
    """
    from vigil.server.factory import Factory

    settings = server_settings(database_url)
    with user_errors(), Factory.standalone(settings) as factory:
        engine: Engine = factory.session.get_bind()  # type: ignore[assignment]
        open_database(engine, settings, wait=wait)
        with database_errors(engine):
            yield factory
