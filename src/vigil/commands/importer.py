"""``vigil import``: bulk-load history from job files or a SQuaSH export."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from vigil.client.importer import (
    DEFAULT_BATCH,
    MAX_BATCH,
    ImportReport,
    find_documents,
    import_documents,
    import_files,
)
from vigil.client.transport import DEFAULT_BACKOFF, DEFAULT_RETRIES, SubmitClient

#: Failures listed one by one in the summary; the rest are counted.
SHOWN_FAILURES = 20


def import_command(
    path: Annotated[
        Path,
        typer.Argument(
            help="A folder (read recursively) of *.json / *.jsonl job files, or one file.",
            show_default=False,
        ),
    ],
    url: Annotated[
        str | None, typer.Option(envvar="VIGIL_URL", help="Root URL of the Vigil server.")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="VIGIL_TOKEN",
            help="API token (`vigil token create NAME` on the server).",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Requests sent at once, each on its own connection.")
    ] = 4,
    batch: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_BATCH,
            help="Jobs one request carries (POST /api/jobs/batch); 1 sends each job alone.",
        ),
    ] = DEFAULT_BATCH,
    timeout: Annotated[
        float, typer.Option(min=0.001, help="Seconds allowed to one request.")
    ] = 60.0,
    retries: Annotated[
        int, typer.Option(min=0, help="Retries after 5xx answers, timeouts, connection errors.")
    ] = DEFAULT_RETRIES,
) -> None:
    """Bulk-load history into a Vigil server from lsst.verify Job files or a SQuaSH export.

    Reads every *.json file under PATH (one lsst.verify Job, one SQuaSH /job/<id>
    document, or a JSON array of them) and every *.jsonl file (one document a line),
    and sends them concurrently, --batch jobs a request. Importing again stores nothing
    twice: each job keeps its identifier, squash-<id> for a SQuaSH document, or one
    derived from its path under PATH. A bad file is reported and skipped; the summary
    lists what was stored, what was already there and what failed (exit status 1 if
    anything failed).
    """
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    if not url:
        raise _fail(console, "No server given: pass --url URL or set VIGIL_URL.")
    if not path.exists():
        raise _fail(console, f"No file or folder {path}.")
    files = import_files(path)
    if not files:
        raise _fail(console, f"No *.json or *.jsonl file under {path}.")
    try:
        # Total time of a job's attempts: the retries' backoff on top of each request.
        client = SubmitClient(
            url,
            token,
            timeout,
            retries,
            backoff=DEFAULT_BACKOFF,
            total_timeout=(retries + 1) * timeout + 8 * DEFAULT_BACKOFF,
        )
    except ValueError as exc:
        raise _fail(console, str(exc)) from None
    total = sum(_count(file) for file in files)
    began = time.perf_counter()
    progress = Progress(
        TextColumn("[bold]import[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} jobs/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )

    def advance(report: ImportReport) -> None:
        rate = report.done / max(time.perf_counter() - began, 1e-9)
        progress.update(task, completed=report.done, rate=f"{rate:,.0f}")

    with client, progress:
        task = progress.add_task("import", total=total, rate="0")
        report = import_documents(
            client,
            find_documents(path, files),
            concurrency=concurrency,
            batch=batch,
            on_done=advance,
        )
    elapsed = time.perf_counter() - began
    _summary(console, report, elapsed)
    if report.stopped is not None or report.failed:
        raise typer.Exit(1)


def _count(file: Path) -> int:
    """Documents in *file*, counted cheaply for the progress bar (an array counts one)."""
    if file.suffix != ".jsonl":
        return 1
    try:
        with file.open("rb") as stream:
            return sum(1 for line in stream if line.strip())
    except OSError:
        return 1


def _summary(console: Console, report: ImportReport, elapsed: float) -> None:
    rate = report.done / elapsed if elapsed > 0 else 0.0
    console.print(
        f"[green]stored {report.stored:,}[/] ({report.measurements:,} measurements),"
        f" [cyan]already there {report.already_there:,}[/],"
        f" [{'red' if report.failed else 'green'}]failed {len(report.failed):,}[/]"
        f" in {elapsed:.1f} s ({rate:,.0f} jobs/s)"
    )
    for origin, reason in report.failed[:SHOWN_FAILURES]:
        console.print(f"[red]failed[/] {escape(origin)}: {escape(reason)}")
    if len(report.failed) > SHOWN_FAILURES:
        console.print(f"... and {len(report.failed) - SHOWN_FAILURES:,} more failures")
    if report.stopped is not None:
        console.print(
            f"[red]Error:[/] stopped: {escape(report.stopped)} Run the same command again"
            " to go on: the jobs already stored are skipped."
        )


def _fail(console: Console, message: str) -> typer.Exit:
    console.print(f"[red]Error:[/] {escape(message)}")
    return typer.Exit(1)
