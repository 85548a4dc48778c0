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
    database_errors,
    fail,
    open_database,
    reach_database,
    server_factory,
    server_settings,
    user_errors,
)

__all__ = ["register"]

F = TypeVar("F", bound=Callable[..., Any])

db_app = typer.Typer(name="db", help="Database schema: migrate and inspect.", no_args_is_help=True)
user_app = typer.Typer(
    name="user", help="Users who may write to the server, and their roles.", no_args_is_help=True
)
token_app = typer.Typer(name="token", help="API tokens.", no_args_is_help=True)
metrics_app = typer.Typer(
    name="metrics", help="Metric and specification definitions on the server.", no_args_is_help=True
)
artifacts_app = typer.Typer(name="artifacts", help="Artifact storage.", no_args_is_help=True)
job_app = typer.Typer(name="job", help="Jobs on the server (deletion).", no_args_is_help=True)
metric_app = typer.Typer(
    name="metric", help="One metric on the server (deletion).", no_args_is_help=True
)
audit_app = typer.Typer(
    name="audit", help="The audit log of administrative actions.", no_args_is_help=True
)


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
    current (run ``vigil db upgrade``). A database not up yet is waited for
    (VIGIL_DATABASE_START_TIMEOUT); an artifact folder that cannot be written is refused.
    """
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    from vigil.server.database import create_database_engine
    from vigil.server.main import create_app
    from vigil.server.services.analysis_settings import load_analysis_settings
    from vigil.server.services.artifacts import check_store
    from vigil.server.serving import VigilServer, serve_workers
    from vigil.server.storage import ArtifactContentStore

    settings = server_settings(database_url)
    engine = create_database_engine(settings)
    try:
        open_database(engine, settings, wait=True, create_sqlite=True)
    finally:
        engine.dispose()
    with user_errors():
        check_store(ArtifactContentStore(settings.effective_artifact_url))
        # A bad per-metric settings file stops the start with one line naming it.
        load_analysis_settings(settings.analysis_settings_file)
    typer.echo(f"Vigil on http://{host}:{port}/ (API at /api/, docs at /api/docs)")
    if workers == 1:
        config = uvicorn.Config(create_app(settings), host=host, port=port, log_level=log_level)
        server = VigilServer(config)
        server.run()
        if not server.started:
            raise typer.Exit(STARTUP_FAILURE)
        return
    # Each worker process builds its own app from the environment's settings.
    if database_url is not None:
        os.environ["VIGIL_DATABASE_URL"] = database_url
    config = uvicorn.Config(
        "vigil.server.main:create_app",
        factory=True,
        host=host,
        port=port,
        log_level=log_level,
        workers=workers,
    )
    serve_workers(config, workers)


# db ---------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(
    database_url: str | None = DATABASE_URL,
    revision: str = typer.Option("head", help="Revision to migrate to."),
) -> None:
    """Create or migrate the database schema (Alembic).

    A database not up yet is waited for (VIGIL_DATABASE_START_TIMEOUT); one migrated by
    a newer Vigil is refused, naming the release it needs.
    """
    from alembic.util import CommandError

    from vigil.server import migration
    from vigil.server.database import create_database_engine

    settings = server_settings(database_url)
    engine = create_database_engine(settings)
    try:
        reach_database(engine, settings, wait=True)
        with user_errors(), database_errors(engine):
            before = migration.current_revision(engine)
            try:
                migration.upgrade(engine, revision)
            except CommandError as exc:  # an unknown --revision
                raise fail(f"{exc}; `vigil db current` shows the revisions.") from None
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

    settings = server_settings(database_url)
    engine = create_database_engine(settings)
    try:
        reach_database(engine, settings)
        with user_errors(), database_errors(engine):
            current = migration.current_revision(engine)
            with engine.connect() as connection:
                migration.refuse_newer_schema(connection)
    finally:
        engine.dispose()
    head = migration.head_revision()
    state = "current" if current == head else "out of date: run `vigil db upgrade`"
    typer.echo(f"database: {current or 'empty'}  needed: {head}  ({state})")
    if current != head:
        raise typer.Exit(1)


# users and tokens --------------------------------------------------------------------

_ROLE_HELP = "A role: viewer, submitter, triager, operator or admin (repeat for several)."


def _roles(values: list[str] | None) -> Any:
    """The roles named on the command line (None when none were)."""
    from vigil.server.domain.users import parse_roles

    if not values:
        return None
    try:
        return parse_roles(values)
    except ValueError as exc:
        raise fail(str(exc)) from None


def _show_roles(roles: Any) -> str:
    from vigil.server.domain.users import roles_text

    return roles_text(roles) or "-"


def _when(moment: Any, never: str = "-") -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else never


def _confirm(question: str, yes: bool) -> None:
    """Ask before a deletion unless *yes*; without a terminal, --yes is required."""
    if yes:
        return
    if not typer.confirm(question, default=False):
        raise fail("nothing was deleted.")


@user_app.command("create")
def user_create(
    name: str = typer.Argument(..., help="User name (letters, digits, . _ @ -)."),
    role: list[str] | None = typer.Option(None, "--role", help=_ROLE_HELP),
    admin: bool = typer.Option(False, "--admin", help="Make the user an administrator."),
    email: str | None = typer.Option(None, "--email", help="E-mail address."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Create a user and print its first API token (shown once).

    Without --role or --admin the user is a submitter (what CI needs).
    """
    roles = _roles(role)
    with server_factory(database_url) as factory:
        service = factory.create_user_service()
        user = service.create_user(name, email, roles=roles, is_admin=admin)
        new = service.create_token(user.name)
    typer.echo(f"Created user {user.name} (roles: {_show_roles(user.roles)}).", err=True)
    typer.echo(
        f"API token {new.token.id}, expires {_when(new.token.expires_at)} UTC (shown once;"
        " send it as 'Authorization: Bearer <token>'):",
        err=True,
    )
    typer.echo(new.text)


@user_app.command("list")
def user_list(database_url: str | None = DATABASE_URL) -> None:
    """List users with their roles."""
    with server_factory(database_url) as factory:
        users = factory.create_user_service().list_users()
    typer.echo("name\temail\tcreated\troles")
    for user in users:
        typer.echo(
            f"{user.name}\t{user.email or '-'}\t{user.created_at:%Y-%m-%d}"
            f"\t{_show_roles(user.roles)}"
        )


@user_app.command("roles")
def user_roles(
    name: str = typer.Argument(..., help="The user."),
    set_roles: list[str] | None = typer.Option(
        None, "--set", help="Replace the roles with these (repeat for several)."
    ),
    add: list[str] | None = typer.Option(None, "--add", help="Add a role (repeatable)."),
    remove: list[str] | None = typer.Option(None, "--remove", help="Remove a role (repeatable)."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Show or change a user's roles; a role removed is removed from its tokens at once."""
    with server_factory(database_url) as factory:
        service = factory.create_user_service()
        if set_roles or add or remove:
            user = service.set_roles(
                name,
                roles=_roles(set_roles),
                add=_roles(add) or (),
                remove=_roles(remove) or (),
            )
        else:
            found = [u for u in service.list_users() if u.name == name]
            if not found:
                raise fail(
                    f"No user is called {name!r}; create it with `vigil user create {name}`."
                )
            user = found[0]
    typer.echo(f"{user.name}: {_show_roles(user.roles)}")


@token_app.command("create")
def token_create(
    user: str = typer.Argument(..., help="The user the token belongs to."),
    name: str = typer.Option("default", "--name", help="A label for the token (e.g. 'ci')."),
    role: list[str] | None = typer.Option(
        None, "--role", help="Scope the token to this role of the user (repeatable; default: all)."
    ),
    expires_in: str | None = typer.Option(
        None,
        "--expires-in",
        help=(
            "Lifetime: 12h, 30d, 2w (default VIGIL_TOKEN_DEFAULT_DAYS; at most"
            " VIGIL_TOKEN_MAX_DAYS)."
        ),
    ),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Create an API token for a user and print it (shown once)."""
    from vigil.server.domain.users import parse_duration

    lifetime = None
    if expires_in is not None:
        try:
            lifetime = parse_duration(expires_in)
        except ValueError as exc:
            raise fail(str(exc)) from None
    roles = _roles(role)
    with server_factory(database_url) as factory:
        new = factory.create_user_service().create_token(
            user, name, roles=roles, expires_in=lifetime
        )
    typer.echo(
        f"Token {new.token.id} for {new.token.user_name} (roles: {_show_roles(new.token.roles)},"
        f" expires {_when(new.token.expires_at)} UTC; shown once):",
        err=True,
    )
    typer.echo(new.text)


@token_app.command("list")
def token_list(
    user: str | None = typer.Option(None, "--user", help="Only this user's tokens."),
    all_tokens: bool = typer.Option(False, "--all", help="Include revoked tokens."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """List tokens: id, owner, name, roles, dates (expires 'never': made before expiry)."""
    with server_factory(database_url) as factory:
        tokens = factory.create_user_service().list_tokens(user, include_revoked=all_tokens)
    typer.echo("id\tuser\tname\troles\tcreated\tlast used\texpires\trevoked")
    for t in tokens:
        typer.echo(
            f"{t.id}\t{t.user_name}\t{t.name}\t{_show_roles(t.roles).replace(' ', ',')}"
            f"\t{_when(t.created_at)}\t{_when(t.last_used_at)}"
            f"\t{_when(t.expires_at, 'never')}\t{_when(t.revoked_at)}"
        )


@token_app.command("revoke")
def token_revoke(
    token: str = typer.Argument(..., help="Token id (from `vigil token list`) or the token."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Revoke a token: requests and web sessions made with it are refused from now on."""
    with server_factory(database_url) as factory:
        factory.create_user_service().revoke_token(token)
    typer.echo("Token revoked.")


# deletion and the audit log -------------------------------------------------------------


@job_app.command("delete")
def job_delete(
    job_id: int = typer.Argument(..., help="The job's id."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Delete a job: its measurements, blobs, packages and artifacts (all or nothing).

    Its series are queued for analysis, which moves or dissolves the regressions it was
    part of. Recorded in the audit log.
    """
    from vigil.server.services.auth import cli_actor

    _confirm(f"Delete job {job_id} and everything stored with it?", yes)
    with server_factory(database_url) as factory:
        entry = factory.create_deletion_service().delete_job(job_id, cli_actor())
    s = entry.summary
    typer.echo(
        f"Deleted job {job_id} ({s['identifier']}): {s['measurements']} measurements,"
        f" {s['blobs']} blobs, {s['artifacts']} artifacts; {s['regressions_moved']}"
        f" regressions moved, {s['regressions_removed']} removed; {s['series_reanalysed']}"
        f" series queued for analysis (audit entry {entry.id})."
    )


@metric_app.command("delete")
def metric_delete(
    name: str = typer.Argument(..., help="The metric's name (package.metric)."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Delete a metric: its specifications, series, measurements and regressions (all or
    nothing). Recorded in the audit log."""
    from vigil.server.services.auth import cli_actor

    _confirm(f"Delete the metric {name} with all its measurements?", yes)
    with server_factory(database_url) as factory:
        entry = factory.create_deletion_service().delete_metric(name, cli_actor())
    s = entry.summary
    typer.echo(
        f"Deleted the metric {name}: {s['specifications']} specifications, {s['series']}"
        f" series, {s['measurements']} measurements in {s['jobs']} jobs, {s['regressions']}"
        f" regressions (audit entry {entry.id})."
    )


@audit_app.command("list")
def audit_list(
    limit: int = typer.Option(50, "--limit", min=1, help="How many entries, newest first."),
    action: str | None = typer.Option(None, "--action", help="Only this action (job.delete...)."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """List the audit log: deletions, users, roles and tokens, newest first."""
    import json

    with server_factory(database_url) as factory:
        page = factory.create_audit_service().list(limit=limit, action=action)
    typer.echo("id\ttime\tactor\taction\ttarget\tsummary")
    for e in page.items:
        summary = json.dumps(e.summary, sort_keys=True)
        typer.echo(f"{e.id}\t{_when(e.created_at)}\t{e.actor}\t{e.action}\t{e.target}\t{summary}")


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
    """Remove the temporary files of failed writes; apply VIGIL_ARTIFACT_KEEP_PER_BRANCH.

    Temporary files younger than ten minutes are kept: they may belong to an upload in
    progress.
    """
    with server_factory(database_url) as factory:
        service = factory.create_artifact_service()
        stale = service.remove_stale_temporary()
        keep = factory.settings.artifact_keep_per_branch
        result = service.prune() if keep is not None else None
    typer.echo(f"Removed {stale} temporary files left by failed writes.")
    if result is None:
        typer.echo("VIGIL_ARTIFACT_KEEP_PER_BRANCH is not set: every artifact is kept.")
    else:
        typer.echo(
            f"Removed {result.artifacts_removed} artifacts and {result.files_removed} files."
        )


def register(app: typer.Typer) -> None:
    """Add this area's commands to *app*."""
    app.command("serve")(serve)
    for group in (
        db_app,
        user_app,
        token_app,
        metrics_app,
        artifacts_app,
        job_app,
        metric_app,
        audit_app,
    ):
        app.add_typer(group)
