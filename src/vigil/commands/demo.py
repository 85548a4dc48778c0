"""``vigil demo``: six months of realistic CI history in a local server, ready to browse.

The generator (`vigil.demo`) needs only the light install; loading into a database and
serving need the server extra, imported inside the command body so that ``vigil --help``
stays quick.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from vigil.demo import (
    DEFAULT_DAYS,
    DEFAULT_SEED,
    DEFAULT_START,
    DemoHistory,
    generate_artifacts,
)

if TYPE_CHECKING:
    from vigil.server.config import Settings

__all__ = ["register"]

TRUTH_FILE = "injected-changes.json"


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


def _write_truth(history: DemoHistory, folder: Path) -> Path:
    path = folder / TRUTH_FILE
    changes = [change.to_dict() for change in history.injected_changes()]
    path.write_text(json.dumps(changes, indent=1) + "\n")
    return path


def _write_files(console: Console, history: DemoHistory, out: Path) -> None:
    """Write every job as ``<identifier>.verify.json`` and its artifacts beside it."""
    out.mkdir(parents=True, exist_ok=True)
    files = 0
    with _progress(console) as progress:
        task = progress.add_task("Writing jobs", total=len(history))
        for run in history.runs:
            job = history.build_job(run)
            job.write(out / f"{run.identifier}.verify.json")
            for name, content, _ in generate_artifacts(job.to_dict()):
                target = out / "artifacts" / run.identifier / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
                files += 1
            progress.advance(task)
    truth = _write_truth(history, out)
    console.print(
        f"Wrote {len(history)} jobs and {files} artifacts to {escape(str(out))};"
        f" ground truth in {escape(str(truth))}"
    )


def _load(console: Console, history: DemoHistory, folder: Path) -> Settings:
    """Migrate the demo database in *folder* and load *history* into it."""
    try:
        from vigil.demo.loader import demo_settings, load_history, prepare_database
    except ImportError as exc:
        raise _fail(
            f"the server is not installed ({exc.name} is missing): install"
            " 'vigil[server]', or write files with --no-serve --out DIR"
        ) from None
    from vigil.server.exceptions import VigilError

    folder.mkdir(parents=True, exist_ok=True)
    settings = demo_settings(folder)
    before, after = prepare_database(settings)
    url = settings.effective_database_url.render_as_string(hide_password=True)
    if before != after:
        console.print(f"Database {escape(url)} migrated from {before or 'empty'} to {after}")
    with _progress(console) as progress:
        task = progress.add_task("Ingesting jobs", total=len(history))
        try:
            report = load_history(
                settings, history, progress=lambda _outcome: progress.advance(task)
            )
        except VigilError as exc:
            raise _fail(exc.message) from None
    truth = _write_truth(history, folder)
    console.print(
        f"{report.created} jobs stored, {report.existing} already there,"
        f" {report.artifacts} artifacts uploaded in {report.seconds:.1f} s"
        f" ([bold]{escape(url)}[/])"
    )
    console.print(f"Injected changes (the ground truth): {escape(str(truth))}")
    kept = "" if report.token_created else " (kept from an earlier run)"
    console.print(f"User [bold]{report.user}[/], API token{kept}:")
    console.print(f"  {report.token}", highlight=False, soft_wrap=True)
    return settings


demo_app = typer.Typer(
    name="demo",
    invoke_without_command=True,
    no_args_is_help=False,
    help="Realistic demo data: a CI history served by Vigil, or a data repository.",
)
"""``vigil demo``: loads and serves the CI history; subcommands make other demo data."""


@demo_app.callback()
def demo(
    ctx: typer.Context,
    directory: Path = typer.Option(
        Path("var/demo"), "--dir", help="Folder of the demo's SQLite database and artifacts."
    ),
    seed: int = typer.Option(DEFAULT_SEED, min=0, help="Seed of the noise, commits and gaps."),
    days: int = typer.Option(DEFAULT_DAYS, min=1, help="Nights of CI history."),
    start: datetime = typer.Option(
        datetime.combine(DEFAULT_START, datetime.min.time()),
        formats=["%Y-%m-%d"],
        help="First night (fixed by default, so that re-runs reuse the same jobs).",
        show_default=DEFAULT_START.isoformat(),
    ),
    metrics: Path | None = typer.Option(
        None,
        "--metrics",
        help="A verify_metrics package (default: ../shared/conformance/lsst-verify/"
        "verify_metrics beside the repository, else built-in definitions).",
        show_default=False,
    ),
    serve: bool | None = typer.Option(
        None,
        "--serve/--no-serve",
        help="Serve the dashboard and API once loaded (default: serve, unless --out).",
        show_default=False,
    ),
    host: str = typer.Option("127.0.0.1", help="Address to serve on."),
    port: int = typer.Option(8000, help="Port to serve on."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Write the jobs as *.verify.json files (and artifacts) to this folder instead"
        " of loading them into a database.",
        show_default=False,
    ),
) -> None:
    """Load six months of realistic CI history into a local Vigil and serve it.

    Two pipelines (validate_drp on HSC and CFHT data; a deblender on main and on
    pull-request branches) with injected regressions, an improvement, NaN values and
    residual images. Re-running on the same --dir adds nothing twice.
    """
    if ctx.invoked_subcommand is not None:
        return  # e.g. ``vigil demo catalog``: the subcommand does the work
    console = Console()
    if out is not None and serve:
        raise _fail("--out writes files only; there is nothing to serve (use --no-serve)")
    first_night: date = start.date()
    try:
        history = DemoHistory(seed, first_night, days, metrics_path=metrics)
        source = history.definitions.source
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"Demo history: {len(history)} jobs over {days} nights from {first_night}"
        f" (seed {seed}; definitions: {escape(source)})"
    )
    if out is not None:
        _write_files(console, history, out)
        return
    settings = _load(console, history, directory)
    if serve is False:
        return
    import uvicorn

    from vigil.server.main import create_app

    base = f"http://{host}:{port}"
    console.print(f"Serving Vigil on [bold]{base}/[/] (Ctrl+C to stop)")
    console.print(f"  API docs: {base}/api/docs")
    console.print(f"  Jobs:     {base}/api/jobs")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


def register(app: typer.Typer) -> None:
    """Add ``vigil demo`` (and the subcommands other areas put in `demo_app`) to *app*."""
    app.add_typer(demo_app)
