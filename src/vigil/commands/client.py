"""``vigil`` commands of the client area: ``vigil dispatch``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from vigil.client import (
    ENVIRONMENTS,
    ClientError,
    DispatchResult,
    FlushReport,
    Outcome,
    ServerUnavailableError,
    Spool,
    VigilClient,
    default_spool_dir,
    dump_job,
    prepare_job,
)
from vigil.client.dispatch import spool_job
from vigil.client.transport import DEFAULT_BACKOFF, DEFAULT_RETRIES, DEFAULT_TIMEOUT

#: Exit status when a job could not be sent and waits in the spool.
EXIT_SPOOLED = 2

_STYLE = {
    Outcome.STORED: "green",
    Outcome.ALREADY_STORED: "cyan",
    Outcome.SPOOLED: "yellow",
}


def _describe(result: DispatchResult, prefix: str = "") -> str:
    label = f"[{_STYLE[result.outcome]}]{result.outcome}[/]"
    where = (
        escape(result.url or f"job {result.job_id}")
        if result.outcome is not Outcome.SPOOLED
        else f"in {escape(str(result.spool_path))}, sent on the next call"
    )
    return f"{prefix}{label} {result.identifier} ({result.measurements} measurements) {where}"


def _report_flush(console: Console, report: FlushReport) -> None:
    for result in report.sent:
        console.print(_describe(result, prefix="spooled job "))
    for rejection in report.rejected:
        console.print(
            f"[red]rejected[/] spooled job moved to {escape(str(rejection.path))}: "
            f"{escape(rejection.reason)}"
        )
    if report.remaining:
        console.print(
            f"[yellow]{len(report.remaining)} earlier job(s) still waiting[/] "
            f"in {escape(str(report.remaining[0].parent))}"
        )


def _fail(console: Console, message: str) -> typer.Exit:
    console.print(f"[red]Error:[/] {escape(message)}")
    return typer.Exit(1)


def dispatch_command(
    jobs: Annotated[
        list[Path] | None,
        typer.Argument(
            help="lsst.verify Job JSON files; several are merged into one job.",
            show_default=False,
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(envvar="VIGIL_URL", help="Root URL of the Vigil server."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="VIGIL_TOKEN",
            help="API token (`vigil token create NAME` on the server).",
            show_default=False,
        ),
    ] = None,
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            envvar="VIGIL_ENV",
            help=f"Force the environment instead of detecting it: {', '.join(ENVIRONMENTS)}.",
        ),
    ] = None,
    git_dir: Annotated[
        Path,
        typer.Option(help="Git working tree whose HEAD is recorded in meta.git."),
    ] = Path("."),
    no_git: Annotated[bool, typer.Option("--no-git", help="Do not record git facts.")] = False,
    no_packages: Annotated[
        bool,
        typer.Option(
            "--no-packages", help="Do not record installed Python distributions (meta.packages)."
        ),
    ] = False,
    packages_from: Annotated[
        list[Path] | None,
        typer.Option(
            help="Read package versions from an lsstsw repos.yaml, manifest.txt or "
            "`eups list` output (repeatable).",
            show_default=False,
        ),
    ] = None,
    ignore_blobs: Annotated[
        bool, typer.Option("--ignore-blobs", help="Do not send blobs.")
    ] = False,
    date_created: Annotated[
        str | None,
        typer.Option(help="Creation time of the job, ISO 8601 in UTC; now by default."),
    ] = None,
    gzip: Annotated[bool, typer.Option("--gzip", help="Gzip the request body.")] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Write the final job JSON (stdout or -o) without sending."),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Also write the final job JSON to this file."),
    ] = None,
    flush: Annotated[
        bool, typer.Option("--flush", help="Only send the jobs waiting in the spool.")
    ] = False,
    spool_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="VIGIL_SPOOL_DIR",
            help="Spool of jobs waiting to be sent (default ~/.cache/vigil/spool).",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=0.001, help="Seconds allowed to one request.")
    ] = DEFAULT_TIMEOUT,
    retries: Annotated[
        int, typer.Option(min=0, help="Retries after 5xx answers, timeouts, connection errors.")
    ] = DEFAULT_RETRIES,
    backoff: Annotated[
        float,
        typer.Option(min=0.0, help="First wait between retries, in seconds; doubled each time."),
    ] = DEFAULT_BACKOFF,
) -> None:
    """Send lsst.verify Job JSON files to a Vigil server (replaces dispatch_verify.py).

    Jobs are merged, enriched with CI, git and package facts, and posted to
    URL/api/jobs. If the server is unavailable the job is kept in the spool and sent
    on the next call (exit status 2). Exit status 1 means a mistake to fix.
    """
    to_stdout = dry_run and output is None
    # When the job JSON goes to stdout, messages must not mix with it.
    console = Console(stderr=to_stdout, soft_wrap=True, highlight=False)
    if not jobs and not flush:
        raise _fail(console, "Give one or more Job JSON files, or --flush to send the spool.")
    if env is not None and env not in ENVIRONMENTS:
        raise _fail(console, f"Unknown --env {env!r}: choose one of {', '.join(ENVIRONMENTS)}.")

    job = None
    if jobs:
        try:
            job = prepare_job(
                list(jobs),
                env_name=env,
                date_created=date_created,
                git_dir=None if no_git else git_dir,
                packages=not no_packages,
                packages_from=packages_from or (),
                ignore_blobs=ignore_blobs,
            )
        except ClientError as exc:
            raise _fail(console, exc.message) from None
        text = dump_job(job, indent=2) + "\n"
        if output is not None:
            output.write_text(text, encoding="utf-8")
            console.print(f"Wrote {escape(str(output))}")
        if dry_run:
            if to_stdout:
                sys.stdout.write(text)
            return

    if not url:
        raise _fail(console, "No server given: pass --url URL or set VIGIL_URL.")
    spool = Spool(spool_dir or default_spool_dir())
    try:
        client = VigilClient(url, token, timeout, retries, backoff=backoff, compress=gzip)
    except ValueError as exc:
        raise _fail(console, str(exc)) from None
    with client:
        report = spool.flush(client)
        _report_flush(console, report)
        if report.error is not None and not isinstance(report.error, ServerUnavailableError):
            raise _fail(console, report.error.message)
        unavailable = report.error.message if report.error is not None else None
        if job is None:
            if unavailable:
                console.print(f"[yellow]Server unavailable:[/] {escape(unavailable)}")
                raise typer.Exit(EXIT_SPOOLED)
            if not (report.sent or report.rejected):
                console.print("The spool is empty.")
            return
        # When the flush found the server down, do not wait for it a second time.
        if unavailable is None:
            try:
                result = client.send_job(job)
            except ServerUnavailableError as exc:
                unavailable = exc.message
            except ClientError as exc:
                raise _fail(console, exc.message) from None
        if unavailable is not None:
            console.print(f"[yellow]Server unavailable:[/] {escape(unavailable)}")
            result = spool_job(spool, job, reason=unavailable)
    console.print(_describe(result))
    if result.outcome is Outcome.SPOOLED:
        raise typer.Exit(EXIT_SPOOLED)


def register(app: typer.Typer) -> None:
    """Add this area's commands to *app*."""
    app.command("dispatch")(dispatch_command)
