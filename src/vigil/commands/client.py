"""``vigil`` commands of the client area: ``vigil dispatch``, ``vigil ingest-butler`` and
``vigil import``."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

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
    SubmitClient,
    default_spool_dir,
    dump_job,
    prepare_job,
)
from vigil.client.dispatch import JobSender
from vigil.client.environment import detect_environment
from vigil.client.logs import (
    LogSendReport,
    file_digest,
    flush_logs,
    log_batches,
    read_log,
    send_log,
)
from vigil.client.transport import DEFAULT_BACKOFF, DEFAULT_RETRIES, DEFAULT_TIMEOUT
from vigil.commands.importer import import_command

#: Exit status when a job could not be sent and waits in the spool.
EXIT_SPOOLED = 2

# The options of every command that sends to a server.
UrlOption = Annotated[
    str | None, typer.Option(envvar="VIGIL_URL", help="Root URL of the Vigil server.")
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        envvar="VIGIL_TOKEN",
        help="API token (`vigil token create NAME` on the server).",
        show_default=False,
    ),
]
SpoolOption = Annotated[
    Path | None,
    typer.Option(
        envvar="VIGIL_SPOOL_DIR",
        help="Spool of jobs waiting to be sent (default ~/.cache/vigil/spool).",
        show_default=False,
    ),
]
TimeoutOption = Annotated[float, typer.Option(min=0.001, help="Seconds allowed to one request.")]
RetriesOption = Annotated[
    int, typer.Option(min=0, help="Retries after 5xx answers, timeouts, connection errors.")
]
BackoffOption = Annotated[
    float, typer.Option(min=0.0, help="First wait between retries, in seconds; doubled each time.")
]

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


_LOG_STATUSES = ("succeeded", "failed", "stopped", "running")


@dataclass(frozen=True)
class _LogOptions:
    """What ``--log``, ``--log-run``, ``--log-status`` and ``--env`` ask of the log."""

    path: Path
    run: str | None
    status: str
    env_name: str | None


def _log_run(
    console: Console, options: _LogOptions, job: dict[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """The log's run key and what the server records of the run (``meta``)."""
    env = (job or {}).get("meta", {}).get("env") or detect_environment(
        os.environ, env_name=options.env_name
    )
    meta: dict[str, Any] = {"env": env.get("env_name")}
    if isinstance(env.get("ci_url"), str):
        meta["ci_url"] = env["ci_url"]
    if job is not None:
        meta["job_identifier"] = job["identifier"]
        if job.get("job_id") is not None:
            meta["job_id"] = job["job_id"]
    if options.run:
        return options.run, meta
    if job is not None:
        return f"job/{job['identifier']}", meta
    if env.get("env_name") not in (None, "local") and env.get("ci_id") not in (None, "unknown"):
        return f"{env['env_name']}/{env.get('ci_name') or 'ci'}/{env['ci_id']}", meta
    raise _fail(console, "Outside CI and without a job, the log needs a run key: --log-run KEY.")


def _log_title(env: dict[str, Any], path: Path) -> str:
    if env.get("ci_name") not in (None, "unknown") and env.get("ci_id") not in (None, "unknown"):
        return f"{env['ci_name']} #{env['ci_id']} ({path.name})"
    return path.name


def dispatch_command(
    jobs: Annotated[
        list[Path] | None,
        typer.Argument(
            help="lsst.verify Job JSON files; several are merged into one job.",
            show_default=False,
        ),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
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
    spool_dir: SpoolOption = None,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    retries: RetriesOption = DEFAULT_RETRIES,
    backoff: BackoffOption = DEFAULT_BACKOFF,
    log: Annotated[
        Path | None,
        typer.Option(
            "--log",
            help="A log file to send as the run's log: levels, times and loggers are read"
            " from Python logging and LSST pipeline lines; shown on the server's logs page.",
            show_default=False,
        ),
    ] = None,
    log_run: Annotated[
        str | None,
        typer.Option(
            help="The log's run key (default: job/<identifier> with a job, else the CI run).",
            show_default=False,
        ),
    ] = None,
    log_status: Annotated[
        str,
        typer.Option(
            help="How the log's run ended: succeeded, failed (listed among abnormal"
            " endings, with its last lines), stopped, or running (left open)."
        ),
    ] = "succeeded",
) -> None:
    """Send lsst.verify Job JSON files to a Vigil server (replaces dispatch_verify.py).

    Jobs are merged, enriched with CI, git and package facts, and posted to
    URL/api/jobs. With --log, a log file is sent too as the run's log (by default
    the job's, job/<identifier>). If the server is unavailable the job and the log
    are kept in the spool and sent on the next call (exit status 2). Exit status 1
    means a mistake to fix.
    """
    to_stdout = dry_run and output is None
    # When the job JSON goes to stdout, messages must not mix with it.
    console = Console(stderr=to_stdout, soft_wrap=True, highlight=False)
    if not jobs and not flush and log is None:
        raise _fail(
            console,
            "Give one or more Job JSON files, --log FILE, or --flush to send the spool.",
        )
    if env is not None and env not in ENVIRONMENTS:
        raise _fail(console, f"Unknown --env {env!r}: choose one of {', '.join(ENVIRONMENTS)}.")
    if log is not None and not log.is_file():
        raise _fail(console, f"No log file {log}.")
    if log_status not in _LOG_STATUSES:
        raise _fail(console, f"--log-status must be one of {', '.join(_LOG_STATUSES)}.")

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
            if log is None:
                return
    log_options = None if log is None else _LogOptions(log, log_run, log_status, env)
    if dry_run and log_options is not None:
        key, _ = _log_run(console, log_options, job)
        with _lines(log_options.path) as stream:
            count = sum(1 for _ in read_log(stream))
        console.print(
            f"Would send {count} log records of {escape(str(log_options.path))} as run {key!r}."
        )
        return

    if not url:
        raise _fail(console, "No server given: pass --url URL or set VIGIL_URL.")
    spool = Spool(spool_dir or default_spool_dir())
    log_spool = Spool(spool.path / "logs")
    try:
        client = SubmitClient(url, token, timeout, retries, backoff=backoff, compress=gzip)
    except ValueError as exc:
        raise _fail(console, str(exc)) from None
    with client:
        sender = JobSender(client, spool)
        report = sender.flush()
        _report_flush(console, report)
        if report.error is not None and not isinstance(report.error, ServerUnavailableError):
            raise _fail(console, report.error.message)
        if sender.unavailable is None:
            sender.unavailable = _flush_logs(console, client, log_spool)
        if job is None:
            if log_options is not None:
                if _send_log(console, client, log_spool, log_options, None, sender.unavailable):
                    raise typer.Exit(EXIT_SPOOLED)
                return
            if sender.unavailable:
                console.print(f"[yellow]Server unavailable:[/] {escape(sender.unavailable)}")
                raise typer.Exit(EXIT_SPOOLED)
            if not (report.sent or report.rejected or log_spool.pending()):
                console.print("The spool is empty.")
            return
        try:
            result = sender.send(job)
        except ClientError as exc:
            raise _fail(console, exc.message) from None
        if sender.unavailable is not None:
            console.print(f"[yellow]Server unavailable:[/] {escape(sender.unavailable)}")
        console.print(_describe(result))
        log_spooled = False
        if log_options is not None:
            job_facts = {**job, "job_id": result.job_id}
            log_spooled = _send_log(
                console, client, log_spool, log_options, job_facts, sender.unavailable
            )
    if result.outcome is Outcome.SPOOLED or log_spooled:
        raise typer.Exit(EXIT_SPOOLED)


def _lines(path: Path) -> Any:
    return path.open(encoding="utf-8", errors="replace")


def _flush_logs(console: Console, client: SubmitClient, spool: Spool) -> str | None:
    """Send the log batches left by earlier calls; why the server could not take them."""
    if not spool.pending():
        return None
    sent, refused, error = flush_logs(client, spool)
    if sent:
        console.print(f"spooled log batches [green]sent[/]: {sent}")
    for path in refused:
        console.print(f"[red]rejected[/] spooled log batch moved to {escape(str(path))}")
    if error is not None and not isinstance(error, ServerUnavailableError):
        raise _fail(console, error.message)
    return error.message if error is not None else None


def _send_log(
    console: Console,
    client: SubmitClient,
    spool: Spool,
    options: _LogOptions,
    job: dict[str, Any] | None,
    unavailable: str | None,
) -> bool:
    """Send the log file as its run's log (spool it if the server is down); whether spooled."""
    key, meta = _log_run(console, options, job)
    env = (job or {}).get("meta", {}).get("env") or detect_environment(
        os.environ, env_name=options.env_name
    )
    with _lines(options.path) as stream:
        records = list(read_log(stream))
    batches = log_batches(
        records,
        run=key,
        content_digest=file_digest(options.path),
        kind="ci",
        title=_log_title(env, options.path),
        meta={**meta, "file": options.path.name},
        status=None if options.status == "running" else options.status,
        failure={"name": options.path.name} if options.status == "failed" else None,
    )
    if unavailable is not None:  # the server was found down: do not wait for it again
        for batch in batches:
            spool.put(batch)
        sent = LogSendReport(lines=len(records), reason=unavailable)
        sent.spooled = spool.pending()
    else:
        try:
            sent = send_log(client, batches, spool)
        except ClientError as exc:
            raise _fail(console, exc.message) from None
    if sent.spooled:
        console.print(
            f"[yellow]spooled[/] log of run {escape(key)} ({sent.lines} records) in"
            f" {escape(str(spool.path))}, sent on the next call"
        )
        return True
    page = f"{client.url}/monitor/logs/{sent.run_id}"
    console.print(
        f"[green]log sent[/] {escape(key)} ({sent.lines} records, {sent.stored} new) {escape(page)}"
    )
    return False


def ingest_butler_command(
    repo: Annotated[str, typer.Argument(help="The Gen3 Butler repository (folder or URI).")],
    collections: Annotated[
        list[str],
        typer.Option(
            "--collections",
            help="Collections to read (comma-separated or repeated); every matching dataset"
            " of each is taken.",
        ),
    ],
    where: Annotated[
        str,
        typer.Option(
            help="A Butler query on the dataIds, e.g. \"instrument = 'HSC' AND visit = 1228\".",
            show_default=False,
        ),
    ] = "",
    dataset: Annotated[
        str | None,
        typer.Option(
            help="The jobs' dataset (default: the bundles' dataset identifier).",
            show_default=False,
        ),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Write the jobs as JSON lines (stdout or -o), send nothing."
        ),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Also write the jobs to this file, one per line."),
    ] = None,
    spool_dir: SpoolOption = None,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    retries: RetriesOption = DEFAULT_RETRIES,
    backoff: BackoffOption = DEFAULT_BACKOFF,
) -> None:
    """Send the Gen3 measurements of a Butler repository to a Vigil server.

    Finds lsst.verify metricvalue_* datasets (Measurement YAML) and analysis_tools metric
    bundles (*_metrics) in the collections, makes one job per run collection with each
    measurement's dataId, and sends the jobs with the usual retries; if the server is
    unavailable they wait in the spool (exit status 2). Sending the same datasets again
    stores nothing new. Needs the lsst extra; lsst.verify and analysis_tools are not needed.
    """
    to_stdout = dry_run and output is None
    console = Console(stderr=to_stdout, soft_wrap=True, highlight=False)
    from vigil.lsst import ButlerError, find_measurement_jobs
    from vigil.lsst._butler import split_collections

    if not dry_run and not url:
        raise _fail(console, "No server given: pass --url URL or set VIGIL_URL.")
    names = split_collections(collections)
    try:
        found = find_measurement_jobs(repo, names, where=where, dataset=dataset)
    except ButlerError as exc:
        raise _fail(console, exc.message) from None
    if not found.jobs:
        raise _fail(
            console,
            f"No measurements in {', '.join(names)}"
            + (f" matching {where!r}" if where else "")
            + ": lsst.verify metricvalue_* and analysis_tools *_metrics datasets are read.",
        )
    console.print(
        f"Found {found.measurements} measurements in {found.datasets} datasets of"
        f" {len(found.dataset_types)} dataset types: {len(found.jobs)} job(s), one per run"
    )
    if found.skipped_types:
        console.print(
            f"Left out {len(found.skipped_types)} dataset types without the dimensions --where"
            f" names: {escape(', '.join(found.skipped_types))}",
            style="dim",
        )
    lines = "".join(dump_job(job) + "\n" for job in found.jobs)
    if output is not None:
        output.write_text(lines, encoding="utf-8")
        console.print(f"Wrote {escape(str(output))}")
    if dry_run:
        if to_stdout:
            sys.stdout.write(lines)
        return
    assert url is not None
    spool = Spool(spool_dir or default_spool_dir())
    try:
        client = SubmitClient(url, token, timeout, retries, backoff=backoff)
    except ValueError as exc:
        raise _fail(console, str(exc)) from None
    spooled = False
    with client:
        sender = JobSender(client, spool)
        report = sender.flush()
        _report_flush(console, report)
        if report.error is not None and not isinstance(report.error, ServerUnavailableError):
            raise _fail(console, report.error.message)
        for job in found.jobs:
            run = job["meta"]["butler_run"]
            found_down = sender.unavailable is not None
            try:
                result = sender.send(job)
            except ClientError as exc:
                raise _fail(console, f"run {run}: {exc.message}") from None
            if not found_down and sender.unavailable is not None:
                console.print(f"[yellow]Server unavailable:[/] {escape(sender.unavailable)}")
            spooled = spooled or result.outcome is Outcome.SPOOLED
            console.print(_describe(result, prefix=f"run {escape(run)}: "))
    if spooled:
        raise typer.Exit(EXIT_SPOOLED)


def register(app: typer.Typer) -> None:
    """Add this area's commands to *app*."""
    app.command("dispatch")(dispatch_command)
    app.command("ingest-butler")(ingest_butler_command)
    app.command("import")(import_command)
