"""``vigil`` commands of the server area: serve, db, user, token, metrics, artifacts.

Every command reads the same settings as ``vigil serve`` (``VIGIL_*`` environment
variables, or ``--database-url``). Server modules are imported inside the command
bodies so that ``vigil --help`` stays quick on a pipeline machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from vigil.commands._database import (
    DATABASE_URL,
    fail,
    server_factory,
    server_settings,
    user_errors,
)

__all__ = ["register"]

F = TypeVar("F", bound=Callable[..., Any])

db_app = typer.Typer(name="db", help="Database schema: migrate and inspect.", no_args_is_help=True)
user_app = typer.Typer(name="user", help="Users who may write to the server.", no_args_is_help=True)
token_app = typer.Typer(name="token", help="API tokens.", no_args_is_help=True)
metrics_app = typer.Typer(
    name="metrics", help="Metric and specification definitions on the server.", no_args_is_help=True
)
artifacts_app = typer.Typer(name="artifacts", help="Artifact storage.", no_args_is_help=True)


# serve ------------------------------------------------------------------------------


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    database_url: str | None = DATABASE_URL,
    log_level: str = typer.Option("info", help="Log level of the server."),
    workers: int = typer.Option(
        1, min=1, help="Server processes; more than one uses every core for ingest and pages."
    ),
) -> None:
    """Start the tracking server (SQLite and a local artifact folder by default).

    A brand-new SQLite database is created and migrated; any other database must be
    current (run ``vigil db upgrade``).
    """
    import uvicorn

    from vigil.server import migration
    from vigil.server.database import create_database_engine
    from vigil.server.main import create_app

    settings = server_settings(database_url)
    engine = create_database_engine(settings)
    try:
        with user_errors():
            if engine.url.get_backend_name() == "sqlite" and migration.is_empty(engine):
                typer.echo(f"Creating the database {engine.url.database}")
                migration.upgrade(engine)
            migration.check_schema(engine)
    finally:
        engine.dispose()
    typer.echo(f"Vigil on http://{host}:{port}/ (API at /api/, docs at /api/docs)")
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
        return
    # Each worker process builds its own app from the environment's settings.
    if database_url is not None:
        os.environ["VIGIL_DATABASE_URL"] = database_url
    uvicorn.run(
        "vigil.server.main:create_app",
        factory=True,
        host=host,
        port=port,
        log_level=log_level,
        workers=workers,
    )


# db ---------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(
    database_url: str | None = DATABASE_URL,
    revision: str = typer.Option("head", help="Revision to migrate to."),
) -> None:
    """Create or migrate the database schema (Alembic)."""
    from vigil.server import migration
    from vigil.server.database import create_database_engine

    engine = create_database_engine(server_settings(database_url))
    try:
        before = migration.current_revision(engine)
        migration.upgrade(engine, revision)
        after = migration.current_revision(engine)
    finally:
        engine.dispose()
    url = engine.url.render_as_string(hide_password=True)
    if before == after:
        typer.echo(f"{url} is at revision {after}; nothing to do.")
    else:
        typer.echo(f"{url} migrated from {before or 'empty'} to {after}.")


@db_app.command("current")
def db_current(database_url: str | None = DATABASE_URL) -> None:
    """Print the schema revision of the database and the one this Vigil needs."""
    from vigil.server import migration
    from vigil.server.database import create_database_engine

    engine = create_database_engine(server_settings(database_url))
    try:
        current = migration.current_revision(engine)
    finally:
        engine.dispose()
    head = migration.head_revision()
    state = "current" if current == head else "out of date: run `vigil db upgrade`"
    typer.echo(f"database: {current or 'empty'}  needed: {head}  ({state})")
    if current != head:
        raise typer.Exit(1)


# users and tokens --------------------------------------------------------------------


@user_app.command("create")
def user_create(
    name: str = typer.Argument(..., help="User name (letters, digits, . _ @ -)."),
    admin: bool = typer.Option(False, "--admin", help="Make the user an administrator."),
    email: str | None = typer.Option(None, "--email", help="E-mail address."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Create a user and print its first API token (shown once)."""
    with server_factory(database_url) as factory:
        service = factory.create_user_service()
        user = service.create_user(name, email, is_admin=admin)
        new = service.create_token(user.name)
    typer.echo(f"Created user {user.name}{' (admin)' if user.is_admin else ''}.", err=True)
    typer.echo("API token (shown once; send it as 'Authorization: Bearer <token>'):", err=True)
    typer.echo(new.text)


@user_app.command("list")
def user_list(database_url: str | None = DATABASE_URL) -> None:
    """List users."""
    with server_factory(database_url) as factory:
        users = factory.create_user_service().list_users()
    for user in users:
        flags = " admin" if user.is_admin else ""
        typer.echo(f"{user.name}\t{user.email or '-'}\t{user.created_at:%Y-%m-%d}{flags}")


@token_app.command("create")
def token_create(
    user: str = typer.Argument(..., help="The user the token belongs to."),
    name: str = typer.Option("default", "--name", help="A label for the token (e.g. 'ci')."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Create an API token for a user and print it (shown once)."""
    with server_factory(database_url) as factory:
        new = factory.create_user_service().create_token(user, name)
    typer.echo(f"Token {new.token.id} for {new.token.user_name} (shown once):", err=True)
    typer.echo(new.text)


@token_app.command("list")
def token_list(
    user: str | None = typer.Option(None, "--user", help="Only this user's tokens."),
    all_tokens: bool = typer.Option(False, "--all", help="Include revoked tokens."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """List tokens (ids, owners, names, dates; never secrets)."""
    with server_factory(database_url) as factory:
        tokens = factory.create_user_service().list_tokens(user, include_revoked=all_tokens)
    typer.echo("id\tuser\tname\tcreated\tlast used\trevoked")
    for t in tokens:
        used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "-"
        revoked = f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "-"
        typer.echo(
            f"{t.id}\t{t.user_name}\t{t.name}\t{t.created_at:%Y-%m-%d %H:%M}\t{used}\t{revoked}"
        )


@token_app.command("revoke")
def token_revoke(
    token: str = typer.Argument(..., help="Token id (from `vigil token list`) or the token."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Revoke a token: requests made with it are refused from now on."""
    with server_factory(database_url) as factory:
        factory.create_user_service().revoke_token(token)
    typer.echo("Token revoked.")


# definitions and artifacts -------------------------------------------------------------


@metrics_app.command("load")
def metrics_load(
    directory: Path = typer.Argument(
        ..., help="A verify_metrics tree (metrics/ and specs/), or a folder of metric YAML."
    ),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Load metric and specification definitions, replacing those of the same name."""
    with server_factory(database_url) as factory:
        result = factory.create_metric_service().load_tree(directory)
    typer.echo(
        f"{result.metrics} metrics ({result.metrics_written} new or changed),"
        f" {result.specifications} specifications"
        f" ({result.specifications_written} new or changed)."
    )


@artifacts_app.command("prune")
def artifacts_prune(database_url: str | None = DATABASE_URL) -> None:
    """Apply VIGIL_ARTIFACT_KEEP_PER_BRANCH to every branch now."""
    with server_factory(database_url) as factory:
        if factory.settings.artifact_keep_per_branch is None:
            raise fail("VIGIL_ARTIFACT_KEEP_PER_BRANCH is not set: every artifact is kept.")
        result = factory.create_artifact_service().prune()
    typer.echo(f"Removed {result.artifacts_removed} artifacts and {result.files_removed} files.")


def register(app: typer.Typer) -> None:
    """Add this area's commands to *app*."""
    app.command("serve")(serve)
    for group in (db_app, user_app, token_app, metrics_app, artifacts_app):
        app.add_typer(group)
