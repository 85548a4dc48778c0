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
    from vigil.server.config import Settings
    from vigil.server.factory import Factory

__all__ = ["DATABASE_URL", "fail", "server_factory", "server_settings", "user_errors"]

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
def server_factory(database_url: str | None) -> Iterator[Factory]:
    """A factory on a database whose schema is current; user mistakes exit 1."""
    from vigil.server.factory import Factory
    from vigil.server.migration import check_schema

    settings = server_settings(database_url)
    with user_errors(), Factory.standalone(settings) as factory:
        check_schema(factory.session.get_bind())  # type: ignore[arg-type]
        yield factory
