"""``vigil monitor`` (run a pipeline per unit on each new exposure, live) and ``vigil logs``
(send, search and prune aggregated logs).

The runner side needs only the light install; ``vigil monitor demo`` without ``--server``
and ``vigil logs prune`` open a database and need the server extra, imported inside the
command bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from vigil.monitor.config import MonitorConfig
    from vigil.monitor.runner import ProcessingResult

__all__ = ["register"]

monitor_app = typer.Typer(
    name="monitor",
    help="Run a pipeline per unit on each new exposure and follow it live on the server.",
    no_args_is_help=True,
)
logs_app = typer.Typer(
    name="logs", help="Aggregated logs: send a log file, search, prune.", no_args_is_help=True
)

_SERVER = typer.Option(
    None, "--server", help="Root URL of the Vigil server (default: VIGIL_URL).", show_default=False
)
_TOKEN = typer.Option(None, "--token", help="API token (default: VIGIL_TOKEN).", show_default=False)


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


def _load(config_path: Path) -> MonitorConfig:
    from vigil.monitor.config import load_config
    from vigil.monitor.errors import MonitorConfigError

    try:
        return load_config(config_path)
    except MonitorConfigError as exc:
        raise _fail(exc.message) from None


def _describe(console: Console, config: MonitorConfig) -> None:
    source = config.exposures
    where = (
        f"folder {source.watch} ({source.pattern})" if source.kind == "folder" else "the API queue"
    )
    console.print(
        f"[bold]{escape(config.pipeline)}[/]: {len(config.units)} units, at most"
        f" {config.run.max_parallel} at a time; exposures from {escape(where)}"
    )
    for flavor, steps in config.flavors.items():
        names = " → ".join(s.name for s in steps)
        qa = sum(len(s.qa) for s in steps)
        console.print(f"  {escape(flavor)}: {escape(names)} ({qa} QA)")


def _report(console: Console, result: ProcessingResult) -> None:
    failed = [
        unit for unit, outcome in result.units.items() if outcome.status in ("failed", "killed")
    ]
    colour = {"succeeded": "green", "failed": "red"}.get(result.status, "yellow")
    detail = f"; failed: {', '.join(failed)}" if failed else ""
    console.print(
        f"exposure {escape(result.exposure)}: [{colour}]{result.status}[/]"
        f" ({len(result.units)} units{escape(detail)})"
    )


def _run_monitor(
    config: MonitorConfig,
    url: str | None,
    token: str | None,
    spool: Path,
    console: Console,
    max_exposures: int | None,
    stop: asyncio.Event | None = None,
) -> int:
    from vigil.monitor.reporter import EventReporter
    from vigil.monitor.runner import Runner

    reporter = EventReporter(url, token, spool).start()
    runner = Runner(config, reporter, on_processed=lambda r: _report(console, r))

    async def main() -> None:
        done = stop or asyncio.Event()
        loop = asyncio.get_running_loop()

        def interrupt() -> None:
            console.print("Stopping: the running units are terminated.")
            runner.set_state("stopped")
            done.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            # Not possible outside the main thread: Ctrl-C then interrupts as usual.
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, interrupt)
        await runner.run(stop=done, max_exposures=max_exposures)

    try:
        asyncio.run(main())
    finally:
        console.print("Sending the last events…")
        reporter.close(timeout=15)
        left = reporter.spooled
        if left:
            console.print(
                f"[yellow]{left} batch(es) of events wait in {escape(str(spool))}; they are"
                " sent when the monitor runs again.[/]"
            )
    return sum(1 for r in runner.results if r.status == "failed")


@monitor_app.command("run")
def run_command(
    config_path: Path = typer.Option(
        ..., "--config", "-c", help="The monitor configuration (YAML)."
    ),
    server: str | None = _SERVER,
    token: str | None = _TOKEN,
    spool: Path | None = typer.Option(
        None, "--spool", help="Folder for events the server cannot take yet."
    ),
    exposures: int | None = typer.Option(
        None,
        "--exposures",
        min=1,
        help="Stop after this many exposures (default: run until Ctrl-C).",
    ),
) -> None:
    """Watch for new exposures and run the configured units on each, reporting live."""
    config = _load(config_path)
    url = server or config.server.url or os.environ.get("VIGIL_URL")
    token = token or config.server.token or os.environ.get("VIGIL_TOKEN")
    if url is None:
        typer.secho(
            "warning: no server (--server, server.url or VIGIL_URL): events are only spooled.",
            err=True,
            fg=typer.colors.YELLOW,
        )
    elif not url.startswith(("http://", "https://")):
        raise _fail(f"--server {url!r} must start with http:// or https://.")
    spool_dir = spool or config.server.spool or Path.home() / ".cache" / "vigil" / "monitor-spool"
    console = Console()
    _describe(console, config)
    console.print(f"Reporting to {escape(url or '(spool only)')}; Ctrl-C stops.")
    _run_monitor(config, url, token, spool_dir, console, exposures)


@monitor_app.command("check")
def check_command(
    config_path: Path = typer.Option(
        ..., "--config", "-c", help="The monitor configuration (YAML)."
    ),
) -> None:
    """Read a configuration and say what it would run (nothing is started)."""
    _describe(Console(), _load(config_path))


@monitor_app.command("convert")
def convert_command(
    files: list[Path] = typer.Argument(
        ..., help="DESI ql_mapping_<flavor>.json files (and ql_mapping_metrics.json)."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write here (default: stdout)."
    ),
    pipeline: str = typer.Option("desi-quicklook", help="The pipeline's name."),
) -> None:
    """Write a monitor configuration from DESI Quick Look mapping files.

    The steps, QA keys and trends come from the files; fill in ``units``, ``run.command``,
    ``exposures`` and the QA ranges.
    """
    import yaml

    from vigil.monitor.errors import MonitorConfigError
    from vigil.monitor.mapping import convert_mappings

    try:
        converted = convert_mappings(list(files))
    except MonitorConfigError as exc:
        raise _fail(exc.message) from None
    document = {
        "pipeline": pipeline,
        "server": {"url": "http://127.0.0.1:8000"},
        "exposures": {"watch": "/data/spectro/raw", "pattern": "*/*/desi-*.fits.fz"},
        "units": "b0-b9 r0-r9 z0-z9",
        "run": {
            "command": ["desi_quicklook", "-i", "{path}", "-c", "{unit}", "--rawdata-dir", "{dir}"],
            "output": "{workdir}/{night}/{exposure}",
            "workdir": "./quicklook",
            "max_parallel": 10,
        },
        **converted,
    }
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"Wrote {output}")


@monitor_app.command("demo")
def demo_command(
    folder: Path = typer.Option(Path("vigil-monitor-demo"), "--dir", help="Working folder."),
    exposures: int = typer.Option(10, "--exposures", min=1, help="How many exposures to simulate."),
    interval: float = typer.Option(20.0, "--interval", min=0.0, help="Seconds between exposures."),
    step_seconds: float = typer.Option(3.0, "--step-seconds", min=0.0, help="Seconds per step."),
    units: str = typer.Option("b0-b9 r0-r9 z0-z9", "--units", help="The cameras."),
    failure_rate: float = typer.Option(0.03, "--failure-rate", min=0.0, max=1.0),
    seed: int = typer.Option(42, "--seed", help="Determines every simulated value."),
    server: str | None = typer.Option(
        None, "--server", help="Report to this server instead of starting one.", show_default=False
    ),
    token: str | None = _TOKEN,
    port: int = typer.Option(8000, "--port", help="Port of the local server started."),
    keep_serving: bool = typer.Option(
        True, "--keep-serving/--no-keep-serving", help="Keep the local server up at the end."
    ),
) -> None:
    """A live quick-look demo, shown at http://127.0.0.1:PORT/monitor.

    Simulated exposures arrive every --interval seconds; a simulated DESI pipeline runs
    per camera; unless --server is given, a local server (SQLite in DIR/server) shows it.
    """
    from vigil.demo.quicklook import ExposureGenerator, demo_config
    from vigil.monitor.config import parse_config
    from vigil.monitor.errors import MonitorConfigError

    console = Console()
    folder.mkdir(parents=True, exist_ok=True)
    stop_server = None
    if server is None:
        url, token, stop_server = _local_server(folder, port, console)
    else:
        url = server.rstrip("/")
        token = token or os.environ.get("VIGIL_TOKEN")
    document = demo_config(
        folder,
        server_url=url,
        units=units,
        step_seconds=step_seconds,
        seed=seed,
        failure_rate=failure_rate,
    )
    import yaml

    (folder / "monitor.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    try:
        config = parse_config(document, source=str(folder / "monitor.yaml"))
    except MonitorConfigError as exc:
        raise _fail(exc.message) from None
    generator = ExposureGenerator(
        folder / "raw", seed=seed, first_expid=_next_expid(folder / "raw")
    )
    done = threading.Event()

    def produce() -> None:
        for i in range(exposures):
            if i and done.wait(interval):
                return
            path = generator.write_next()
            console.print(f"[dim]new exposure {escape(path.name)}[/]")

    _describe(console, config)
    console.print(
        f"[bold]Live monitor:[/] {url}/monitor  (configuration: {folder / 'monitor.yaml'})"
    )
    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        _run_monitor(config, url, token, folder / "spool", console, exposures)
    finally:
        done.set()
    if stop_server is not None:
        if keep_serving:
            console.print(f"Done. The server is still at {url}/monitor; Ctrl-C stops it.")
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
        console.print(f"The server's data stay in {folder / 'server'}.")
        stop_server()


def _next_expid(raw: Path) -> int:
    names = [p.name for p in raw.glob("*/*")] if raw.is_dir() else []
    numbers = [int(n) for n in names if n.isascii() and n.isdecimal()]
    return max(numbers, default=0) + 1


def _local_server(folder: Path, port: int, console: Console) -> tuple[str, str, Any]:
    """A Vigil server on SQLite in *folder*/server, in this process; its URL, a token and a
    function that stops it."""
    import uvicorn

    from vigil.demo.loader import demo_settings, prepare_database
    from vigil.server.factory import Factory
    from vigil.server.main import create_app

    settings = demo_settings(folder / "server")
    prepare_database(settings)
    with Factory.standalone(settings) as factory:
        users = factory.create_user_service()
        if not any(u.name == "monitor-demo" for u in users.list_users()):
            from vigil.server.domain import Role

            # The runner submits; the visitor's log-in runs and stops the pipeline.
            roles = {Role.SUBMITTER, Role.OPERATOR, Role.TRIAGER}
            users.create_user("monitor-demo", "monitor-demo@localhost", roles=roles)
        token = users.create_token("monitor-demo", "demo").text
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise _fail(f"the local server could not start on port {port} (--port to change it).")
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)

    return f"http://127.0.0.1:{port}", token, stop


# vigil logs ---------------------------------------------------------------------------


@logs_app.command("send")
def logs_send(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A log file."),
    run: str = typer.Option(..., "--run", help="The run's key (e.g. the CI job id)."),
    kind: str = typer.Option("ci", "--kind", help="What the run is: ci, python, ..."),
    title: str | None = typer.Option(None, "--title", help="A readable name of the run."),
    unit: str | None = typer.Option(None, "--unit", help="The unit the lines belong to."),
    status: str | None = typer.Option(
        None, "--status", help="End the run with this status: succeeded, failed, stopped."
    ),
    server: str | None = _SERVER,
    token: str | None = _TOKEN,
) -> None:
    """Send a log file's records to the server (levels, times and loggers read from the
    lines of Python's logging and the LSST pipelines; a traceback stays with its error)."""
    from vigil.monitor.loghandler import send_log_file

    url = server or os.environ.get("VIGIL_URL")
    if not url:
        raise _fail("no server: pass --server URL or set VIGIL_URL.")
    if status is not None and status not in ("succeeded", "failed", "stopped"):
        raise _fail(f"--status {status!r} must be succeeded, failed or stopped.")
    count, delivered = send_log_file(
        file,
        url=url.rstrip("/"),
        token=token or os.environ.get("VIGIL_TOKEN"),
        run=run,
        kind=kind,
        title=title,
        unit=unit,
        status=status,
    )
    if not delivered:
        raise _fail(
            f"{count} records read, but the server did not take them all; they are spooled."
        )
    typer.echo(f"Sent {count} records of {file} as run {run!r}.")


def _window_time(text: str | None, option: str) -> datetime | None:
    """A time of ``--since``/``--until``: ISO 8601 or a day alone (its midnight), UTC
    unless it gives a zone."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise _fail(
            f"{option} {text!r} is not an ISO 8601 time such as 2026-05-02T22:00:00Z,"
            " 2026-05-02T22:00 (UTC) or 2026-05-02."
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@logs_app.command("search")
def logs_search(
    regex: str | None = typer.Option(None, "--regex", "-e", help="A Python regular expression."),
    words: str | None = typer.Option(None, "--words", "-q", help="Words every line contains."),
    run: int | None = typer.Option(None, "--run", help="Only this run (id)."),
    unit: str | None = typer.Option(None, "--unit", help="Only this unit."),
    level: str | None = typer.Option(None, "--level", help="At least this level (WARNING...)."),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Lines at or after this time: ISO 8601 (2026-05-02T22:00Z) or a day; UTC unless"
        " it gives a zone.",
        show_default=False,
    ),
    until: str | None = typer.Option(
        None, "--until", help="Lines before this time (as --since).", show_default=False
    ),
    limit: int = typer.Option(50, "--limit", min=1, help="Lines to show."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines."),
    server: str | None = _SERVER,
    token: str | None = _TOKEN,
) -> None:
    """Search the server's aggregated logs, newest first; each line is labelled by its
    run's title (a processing's exposure) and unit."""
    import httpx

    url = server or os.environ.get("VIGIL_URL")
    if not url:
        raise _fail("no server: pass --server URL or set VIGIL_URL.")
    first = _window_time(since, "--since")
    last = _window_time(until, "--until")
    if first is not None and last is not None and last <= first:
        raise _fail(f"--until {until} must be after --since {since}.")
    params: dict[str, Any] = {"order": "desc", "limit": limit}
    for key, value in (
        ("regex", regex),
        ("q", words),
        ("run", run),
        ("unit", unit),
        ("level", level),
        ("since", first.isoformat() if first else None),
        ("until", last.isoformat() if last else None),
    ):
        if value is not None:
            params[key] = value
    token = token or os.environ.get("VIGIL_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(
            f"{url.rstrip('/')}/api/logs/lines", params=params, headers=headers, timeout=60
        )
    except httpx.HTTPError as exc:
        raise _fail(f"{url} could not be reached ({type(exc).__name__}).") from None
    body = (
        response.json()
        if response.headers.get("content-type", "").startswith("application/json")
        else {}
    )
    if response.status_code >= 400:
        detail = body.get("detail") if isinstance(body, dict) else None
        message = detail.get("message") if isinstance(detail, dict) else response.text[:200]
        raise _fail(str(message))
    console = Console()
    for line in body.get("items", []):
        if as_json:
            typer.echo(json.dumps(line))
            continue
        label = line.get("run_title") or line["run_key"] or ""
        where = " · ".join(x for x in (label, line.get("unit") or "") if x)
        console.print(
            f"[dim]{line['time'][:19]}[/] {line['level_name']:<8} [cyan]{escape(where)}[/]"
            f" {escape(line['message'])}",
            highlight=False,
            # One record a line, whatever the terminal's width: the output is grepped.
            soft_wrap=True,
        )
    if body.get("truncated"):
        typer.secho(
            "(the scan stopped at its time limit; narrow it with --run, --unit or --level)",
            err=True,
            fg=typer.colors.YELLOW,
        )


@logs_app.command("prune")
def logs_prune(
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        help="SQLAlchemy URL (default: VIGIL_DATABASE_URL).",
        show_default=False,
    ),
) -> None:
    """Delete log runs older than VIGIL_LOG_RETENTION_DAYS now."""
    from vigil.server.config import Settings
    from vigil.server.factory import Factory
    from vigil.server.migration import check_schema

    settings = Settings(database_url=database_url) if database_url else Settings()
    if settings.log_retention_days is None:
        raise _fail("VIGIL_LOG_RETENTION_DAYS is not set: every log is kept.")
    with Factory.standalone(settings) as factory:
        check_schema(factory.session.get_bind())  # type: ignore[arg-type]
        removed = factory.create_log_service().prune()
    typer.echo(f"Deleted {removed} log run(s) older than {settings.log_retention_days} days.")


def register(app: typer.Typer) -> None:
    """Add ``vigil monitor`` and ``vigil logs`` to *app*."""
    app.add_typer(monitor_app)
    app.add_typer(logs_app)
